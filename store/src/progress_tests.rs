//! What opens, rebuilds and checks report as they go: every stage in order, counts that
//! never go back, and a last report that reaches the total.

use crate::{demo, Options, Progress, Stage, Store, Unit};
use std::path::Path;

/// Small segments, so the log's check crosses several files.
fn options() -> Options {
    Options {
        max_segment_bytes: 2048,
        ..Options::default()
    }
}

fn filled(dir: &Path) -> u64 {
    let store = Store::open(dir, &options()).unwrap();
    demo::fill(&store).unwrap();
    let head = store.head().seq;
    store.close().unwrap();
    head
}

fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum()
}

/// The reports of one stage: each of it, counting `unit`, its total fixed, its count
/// rising, the last at the total.
fn stage_holds(reports: &[Progress], stage: Stage, unit: Unit, total: u64) {
    let of_stage: Vec<&Progress> = reports.iter().filter(|report| report.stage == stage).collect();
    assert!(!of_stage.is_empty(), "{stage:?} reported");
    assert!(of_stage
        .iter()
        .all(|report| report.unit == unit && report.total == total));
    assert!(
        of_stage.windows(2).all(|pair| pair[0].done <= pair[1].done),
        "{of_stage:?}"
    );
    assert_eq!(of_stage.last().unwrap().done, total);
}

/// The stages in the order their first reports came, each once.
fn stages(reports: &[Progress]) -> Vec<Stage> {
    let mut seen: Vec<Stage> = reports.iter().map(|report| report.stage).collect();
    seen.dedup();
    seen
}

#[test]
fn a_rebuild_reports_the_log_checked_then_the_projections_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path());
    let mut reports = Vec::new();
    let store = Store::rebuild(dir.path(), &options(), &mut |report| reports.push(report)).unwrap();
    assert_eq!(stages(&reports), [Stage::CheckingLog, Stage::CatchingUp]);
    let checked = reports
        .iter()
        .filter(|report| report.stage == Stage::CheckingLog)
        .count();
    assert!(checked > 2, "one report a segment at least: {checked}");
    stage_holds(&reports, Stage::CheckingLog, Unit::Bytes, log_bytes(dir.path()));
    stage_holds(&reports, Stage::CatchingUp, Unit::Events, head);
    assert_eq!(store.opened().caught_up, head);
}

#[test]
fn an_open_level_with_the_log_reports_only_its_check() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let mut reports = Vec::new();
    Store::open_with_progress(dir.path(), &options(), &mut |report| reports.push(report)).unwrap();
    assert_eq!(stages(&reports), [Stage::CheckingLog]);
    stage_holds(&reports, Stage::CheckingLog, Unit::Bytes, log_bytes(dir.path()));
}

#[test]
fn verify_reports_every_byte_of_the_log_checked() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let mut reports = Vec::new();
    let report = Store::verify_log(dir.path(), None, &mut |progress| reports.push(progress)).unwrap();
    assert_eq!(stages(&reports), [Stage::CheckingLog]);
    stage_holds(&reports, Stage::CheckingLog, Unit::Bytes, report.bytes);
}

/// A checkpoint of each kind, signed over the whole log.
fn checkpoints(dir: &Path) -> (lineage_schema::checkpoint::Checkpoint, String) {
    let store = Store::open(dir, &options()).unwrap();
    let signed = (store.checkpoint().unwrap(), store.tlog_checkpoint(None).unwrap());
    store.close().unwrap();
    signed
}

#[test]
fn a_json_checkpoint_is_checked_in_the_one_pass_over_the_log() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let (checkpoint, _) = checkpoints(dir.path());
    let mut reports = Vec::new();
    let check = Store::verify_checkpoint_in(dir.path(), None, &checkpoint, None, &mut |progress| {
        reports.push(progress)
    })
    .unwrap();
    assert!(check.matches);
    assert_eq!(check.root, checkpoint.root);
    assert_eq!(stages(&reports), [Stage::CheckingLog]);
    stage_holds(&reports, Stage::CheckingLog, Unit::Bytes, log_bytes(dir.path()));
}

#[test]
fn a_checkpoint_note_reports_the_log_checked_then_its_root_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let head = filled(dir.path());
    let (_, note) = checkpoints(dir.path());
    let mut reports = Vec::new();
    let (opened, check) = Store::verify_tlog_checkpoint_in(dir.path(), None, &note, (&[], &[]), &mut |progress| {
        reports.push(progress)
    })
    .unwrap();
    assert!(check.matches);
    assert_eq!(opened.size, head);
    assert_eq!(stages(&reports), [Stage::CheckingLog, Stage::RecomputingRoot]);
    stage_holds(&reports, Stage::CheckingLog, Unit::Bytes, log_bytes(dir.path()));
    stage_holds(&reports, Stage::RecomputingRoot, Unit::Events, head);
}

/// A JSON checkpoint of fewer events than the log holds: the root at its size, not the head's.
#[test]
fn a_json_checkpoint_of_an_earlier_size_is_checked_against_the_root_at_that_size() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let (checkpoint, _) = checkpoints(dir.path());
    {
        let store = Store::open(dir.path(), &options()).unwrap();
        demo::fill(&store).unwrap();
        store.execute_batch(demo::scaffold("u-later", 3)).unwrap();
        assert!(store.head().seq > checkpoint.size);
        store.close().unwrap();
    }
    let check = Store::verify_checkpoint_in(dir.path(), None, &checkpoint, None, &mut |_| {}).unwrap();
    assert!(check.matches, "{} against {}", check.root, checkpoint.root);
}

#[test]
fn a_check_that_finds_damage_reports_no_stage_done() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    segments.sort();
    let first = &segments[0];
    let mut bytes = std::fs::read(first).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(first, bytes).unwrap();
    let mut reports = Vec::new();
    let error = Store::verify_log(dir.path(), None, &mut |progress| reports.push(progress)).unwrap_err();
    assert!(matches!(error, crate::Error::Corruption { .. }), "{error}");
    assert!(reports.iter().all(|report| report.done < report.total), "{reports:?}");
}
