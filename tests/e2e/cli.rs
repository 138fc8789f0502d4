//! The `lineage` command line, run in-process on real data directories.

use lineage_graphql::cli::run_from;
use lineage_store::{Options, Store};

fn lineage(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["lineage", "--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    run_from(all)
}

#[test]
fn demo_then_verify_rebuild_events_and_stats_succeed() {
    let dir = tempfile::tempdir().unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    lineage(dir.path(), &["verify"]).unwrap();
    lineage(dir.path(), &["rebuild"]).unwrap();
    lineage(dir.path(), &["events", "--stream", "run/r-churn-1", "--limit", "3"]).unwrap();
    lineage(dir.path(), &["stats"]).unwrap();
    lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-03"],
    )
    .unwrap();
    lineage(
        dir.path(),
        &[
            "bill",
            "--account",
            "acct-contoso-mm",
            "--month",
            "2026-03",
            "--format",
            "csv",
        ],
    )
    .unwrap();
    let error = lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-13"],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("not a month"), "{error}");
    let error = lineage(dir.path(), &["bill", "--account", "acct-nope", "--month", "2026-03"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
    lineage(
        dir.path(),
        &["audit", "--account", "acct-fabrikam-exp", "--format", "ndjson"],
    )
    .unwrap();
    lineage(
        dir.path(),
        &["audit", "--actor", "u-ada", "--kind", "run", "--limit", "5"],
    )
    .unwrap();
    let error = lineage(dir.path(), &["audit", "--kind", "planet"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown kind"), "{error}");
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(store.head().seq, lineage_store::demo::story().len() as u64);
}

#[test]
fn reading_commands_on_a_missing_store_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for command in ["verify", "rebuild", "stats", "events"] {
        let error = lineage(&missing, &[command]).unwrap_err().to_string();
        assert!(error.contains("no Lineage"), "{command}: {error}");
    }
    assert!(!missing.exists());
}

#[test]
fn bad_arguments_are_refused_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    let error = lineage(dir.path(), &["events", "--stream", "planet/x"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not `kind/id`"), "{error}");
    let error = lineage(dir.path(), &["events", "--account", "has space"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a valid id"), "{error}");
    assert!(lineage(dir.path(), &["frobnicate"]).is_err());
}
