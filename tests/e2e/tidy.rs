//! Habits as checks: every source file says what it is for, every lint allowed says why,
//! and files stay short enough to read (the few that are not may only shrink).

use std::path::{Path, PathBuf};

/// The longest a source file outside tests may be.
const MAX_LINES: usize = 600;

/// Files already past [`MAX_LINES`], with the length each may not exceed: split them and
/// lower (or remove) their entry; never raise one.
const OVERSIZED: [(&str, usize); 8] = [
    ("graphql/src/api/query.rs", 703),
    ("importer/src/mlflow/mod.rs", 782),
    ("importer/src/openlineage.rs", 622),
    ("store/src/derived/overlay.rs", 696),
    ("store/src/log/mod.rs", 626),
    ("store/src/projections/billing.rs", 671),
    ("store/src/projections/lineage.rs", 648),
    ("store/src/store.rs", 690),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every `.rs` file of the workspace's crates (not build output or fuzz corpora).
fn sources() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = ["schema", "store", "importer", "graphql", "tests"]
        .iter()
        .map(|crate_dir| root().join(crate_dir))
        .collect();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !["target", "corpus", "artifacts", "data", ".results"].contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/")
}

/// Test code may be long (tables of cases); everything else is held to the limit.
fn is_test_code(path: &str) -> bool {
    path.starts_with("tests/e2e/") || path.ends_with("tests.rs") || path.ends_with("_tests.rs")
}

#[test]
fn every_source_file_opens_with_what_it_is_for() {
    let files = sources();
    assert!(files.len() > 80, "the walk finds the sources ({})", files.len());
    let undocumented: Vec<String> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| relative(path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` line first: {undocumented:?}"
    );
}

#[test]
fn every_allowed_lint_says_why() {
    let mut unexplained = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            if !(trimmed.starts_with("#[allow(") || trimmed.starts_with("#![allow(")) {
                continue;
            }
            let said_on_the_line = trimmed.contains("//");
            let said_above = index > 0 && {
                let above = lines[index - 1].trim_start();
                above.starts_with("//") && !above.starts_with("///") && !above.starts_with("//!")
            };
            if !said_on_the_line && !said_above {
                unexplained.push(format!("{}:{}", relative(&path), index + 1));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "lints allowed without a comment saying why: {unexplained:?}"
    );
}

#[test]
fn source_files_stay_short_and_the_long_ones_only_shrink() {
    let mut too_long = Vec::new();
    let mut listed = std::collections::BTreeMap::new();
    for path in sources() {
        let name = relative(&path);
        if is_test_code(&name) {
            continue;
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        match OVERSIZED.iter().find(|(oversized, _)| *oversized == name) {
            Some((_, limit)) => {
                listed.insert(name.clone(), lines);
                if lines > *limit {
                    too_long.push(format!("{name}: {lines} lines, more than its {limit}"));
                }
            }
            None if lines > MAX_LINES => too_long.push(format!("{name}: {lines} lines, over {MAX_LINES}")),
            None => {}
        }
    }
    assert!(too_long.is_empty(), "{too_long:?}");
    for (name, limit) in OVERSIZED {
        let lines = listed.get(name).copied().unwrap_or(0);
        assert!(
            lines > MAX_LINES,
            "{name} is {lines} lines now (limit {limit}): take it off the list of oversized files"
        );
    }
}

/// The store's folders are its pipeline's layers: a module reaches only into layers
/// below its own (`log` ← `derived` ← `projections` ← `write` ← the handle).
#[test]
fn the_stores_layers_point_one_way() {
    let layers = ["log", "derived", "projections", "write"];
    let mut upward = Vec::new();
    for path in sources() {
        let name = relative(&path);
        let Some(rest) = name.strip_prefix("store/src/") else {
            continue;
        };
        let Some(own) = layers.iter().position(|layer| rest.starts_with(&format!("{layer}/"))) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for higher in &layers[own + 1..] {
            if text.contains(&format!("crate::{higher}::")) || text.contains(&format!("crate::{higher};")) {
                upward.push(format!("{name} uses crate::{higher}"));
            }
        }
        for top in ["crate::store::", "crate::demo::", "crate::Store"] {
            if text.contains(top) && !rest.ends_with("tests.rs") {
                upward.push(format!("{name} uses {top}"));
            }
        }
    }
    assert!(upward.is_empty(), "arrows pointing up: {upward:?}");
}

/// The dependencies a crate's manifest lists, normal and dev (the names its code uses).
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut listing = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            listing = line == "[dependencies]" || line == "[dev-dependencies]";
            continue;
        }
        if listing && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.push(name.replace('-', "_"));
        }
    }
    names
}

/// Every dependency a crate lists is named somewhere in its code: one no code mentions
/// is weight in every build.
#[test]
fn every_dependency_is_used() {
    let mut unused = Vec::new();
    for crate_dir in ["schema", "store", "importer", "graphql", "tests"] {
        let manifest = std::fs::read_to_string(root().join(crate_dir).join("Cargo.toml")).unwrap();
        let code: String = sources()
            .into_iter()
            .filter(|path| relative(path).starts_with(&format!("{crate_dir}/")))
            .filter(|path| !relative(path).starts_with("tests/fuzz/"))
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        for name in dependencies(&manifest) {
            let named = code.contains(&format!("{name}::")) || code.contains(&format!("use {name}"));
            if !named {
                unused.push(format!("{crate_dir}: {name}"));
            }
        }
    }
    assert!(unused.is_empty(), "dependencies no code names: {unused:?}");
}
