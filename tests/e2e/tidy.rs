//! Habits as checks: every source file says what it is for, every lint allowed says why,
//! and functions and files stay short enough to read.

use std::path::{Path, PathBuf};

/// The longest a source file outside tests may be.
const MAX_LINES: usize = 600;

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
fn source_files_stay_short() {
    let too_long: Vec<String> = sources()
        .iter()
        .map(|path| relative(path))
        .filter(|name| !is_test_code(name))
        .filter_map(|name| {
            let lines = std::fs::read_to_string(root().join(&name)).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{name}: {lines} lines"))
        })
        .collect();
    assert!(too_long.is_empty(), "files over {MAX_LINES} lines: {too_long:?}");
}

/// The longest a function outside tests and data tables may be, in lines.
const MAX_FUNCTION_LINES: usize = 100;

/// Files that are data written as code (the demo story, sample events): their long
/// functions are tables, not logic.
fn is_data(path: &str) -> bool {
    path.starts_with("schema/src/demo/") || path == "schema/src/samples.rs"
}

/// Each function's name and length, from its `fn` line to the brace that closes it at
/// the same indentation (rustfmt's layout, which `cargo fmt --check` holds).
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = ["pub(crate) ", "pub(super) ", "pub ", "async ", "const ", "unsafe "]
            .iter()
            .fold(trimmed, |rest, prefix| rest.strip_prefix(prefix).unwrap_or(rest));
        let Some(after_fn) = signature.strip_prefix("fn ") else {
            continue;
        };
        if trimmed.ends_with(';') {
            continue;
        }
        let name: String = after_fn
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", &line[..indent]);
        let closing = lines[start + 1..].iter().position(|candidate| *candidate == close);
        if let Some(offset) = closing {
            found.push((name, offset + 2));
        }
    }
    found
}

#[test]
fn functions_stay_short() {
    let sample = "impl A {\n    pub(crate) fn two() -> u8 {\n        2\n    }\n}\nfn decl();\n";
    assert_eq!(
        functions(sample),
        vec![("two".to_string(), 3)],
        "the scanner measures a method"
    );
    let mut too_long = Vec::new();
    let mut counted = 0;
    for path in sources() {
        let name = relative(&path);
        if is_test_code(&name) || is_data(&name) {
            continue;
        }
        for (function, lines) in functions(&std::fs::read_to_string(&path).unwrap()) {
            counted += 1;
            if lines > MAX_FUNCTION_LINES {
                too_long.push(format!("{name}: fn {function} is {lines} lines"));
            }
        }
    }
    assert!(counted > 500, "the scan finds the functions ({counted})");
    assert!(
        too_long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines: {too_long:?}"
    );
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
