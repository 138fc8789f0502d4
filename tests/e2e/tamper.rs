//! Tampering with a closed log: `verify` names the first bad position and the store
//! refuses to open it.

use crate::support::{copy_dir, corrupt_seq, demo_store, find_record};
use lineage_store::{Options, Store};
use std::path::Path;

const TARGET: u64 = 40;

fn assert_refused_at(dir: &Path, seq: u64) {
    assert_eq!(corrupt_seq(Store::verify(dir).unwrap_err()), seq, "verify");
    assert_eq!(
        corrupt_seq(Store::open(dir, &Options::default()).unwrap_err()),
        seq,
        "open"
    );
    let message = lineage_graphql::cli::run_from(["lineage", "--data-dir", dir.to_str().unwrap(), "verify"])
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(&format!("first bad position: seq {seq} ")),
        "{message}"
    );
}

fn tampered(change: impl FnOnce(&Path)) -> tempfile::TempDir {
    let original = demo_store();
    assert!(Store::verify(original.path()).is_ok());
    let copy = tempfile::tempdir().unwrap();
    copy_dir(original.path(), copy.path());
    change(copy.path());
    copy
}

#[test]
fn one_changed_byte_is_found() {
    // The demo's 121 records are read in parallel parts (a scan splits more than 64):
    // damage in the first part, the last, and both, is named at its first position.
    let late = 115;
    for damaged in [vec![TARGET], vec![late], vec![TARGET, late]] {
        let dir = tampered(|dir| {
            for &seq in &damaged {
                let spot = find_record(dir, seq);
                let mut bytes = std::fs::read(&spot.path).unwrap();
                bytes[spot.start + 30] ^= 0x01;
                std::fs::write(&spot.path, bytes).unwrap();
            }
        });
        assert_refused_at(dir.path(), damaged[0]);
    }
}

#[test]
fn a_changed_byte_with_a_recomputed_checksum_breaks_the_hash() {
    let dir = tampered(|dir| {
        let spot = find_record(dir, TARGET);
        let mut bytes = std::fs::read(&spot.path).unwrap();
        // Change a byte of the record's event (a compact record: the 4 bytes of hash it
        // keeps name it) and recompute the frame's crc, as a careful forger would.
        assert!(spot.end - spot.body > 8, "{spot:?}");
        bytes[spot.end - 2] ^= 0x01;
        spot.reseal(&mut bytes);
        assert!(
            !matches!(
                lineage_store::segment::read_frame(&bytes, spot.start as u64, &mut None),
                lineage_store::segment::Frame::Bad { ref reason } if reason.contains("checksum")
            ),
            "the checksum agrees with the change"
        );
        std::fs::write(&spot.path, bytes).unwrap();
    });
    assert_refused_at(dir.path(), TARGET);
}

#[test]
fn a_deleted_record_is_found() {
    let dir = tampered(|dir| {
        let spot = find_record(dir, TARGET);
        let mut bytes = std::fs::read(&spot.path).unwrap();
        bytes.drain(spot.start..spot.end);
        std::fs::write(&spot.path, bytes).unwrap();
    });
    assert_refused_at(dir.path(), TARGET);
}

/// A seq at or after `TARGET` whose next record sits in the same segment.
fn pair_in_one_segment(dir: &Path) -> u64 {
    (TARGET..)
        .find(|seq| find_record(dir, *seq).path == find_record(dir, seq + 1).path)
        .unwrap()
}

#[test]
fn two_swapped_records_are_found() {
    let mut first_bad = 0;
    let dir = tampered(|dir| {
        first_bad = pair_in_one_segment(dir);
        let (a, b) = (find_record(dir, first_bad), find_record(dir, first_bad + 1));
        let bytes = std::fs::read(&a.path).unwrap();
        let mut swapped = bytes[..a.start].to_vec();
        swapped.extend_from_slice(&bytes[b.start..b.end]);
        swapped.extend_from_slice(&bytes[a.start..a.end]);
        swapped.extend_from_slice(&bytes[b.end..]);
        std::fs::write(&a.path, swapped).unwrap();
    });
    assert_refused_at(dir.path(), first_bad);
}

#[test]
fn a_removed_segment_is_found() {
    let mut first_missing = 0;
    let dir = tampered(|dir| {
        let spot = find_record(dir, TARGET);
        let name = spot.path.file_name().unwrap().to_str().unwrap();
        first_missing = lineage_store::segment::parse_file_name(name).unwrap();
        std::fs::remove_file(spot.path).unwrap();
    });
    assert_refused_at(dir.path(), first_missing);
}

/// Appends `tail` to the last segment, as a crash in the middle of a write would leave it.
fn with_torn_tail(tail: impl FnOnce(&[u8]) -> Vec<u8>) -> (tempfile::TempDir, u64, usize) {
    let dir = demo_store();
    let head = Store::verify(dir.path()).unwrap().head.seq;
    let last = find_record(dir.path(), head);
    let mut bytes = std::fs::read(&last.path).unwrap();
    let torn = tail(&bytes[last.start..last.end]);
    bytes.extend_from_slice(&torn);
    std::fs::write(&last.path, bytes).unwrap();
    (dir, head, torn.len())
}

fn assert_tail_cut(dir: &Path, head: u64, torn: usize) {
    let report = Store::verify(dir).unwrap();
    assert_eq!((report.head.seq, report.torn_tail_bytes as usize), (head, torn));
    let store = Store::open(dir, &Options::default()).unwrap();
    assert_eq!(store.head().seq, head);
    assert_eq!(store.opened().log.cut_bytes as usize, torn);
    drop(store);
    assert_eq!(Store::verify(dir).unwrap().torn_tail_bytes, 0);
}

#[test]
fn a_record_cut_short_by_a_crash_is_cut_off_and_everything_before_it_kept() {
    let (dir, head, torn) = with_torn_tail(|frame| frame[..frame.len() - 7].to_vec());
    assert_tail_cut(dir.path(), head, torn);
}

#[test]
fn garbage_after_the_last_record_is_cut_off() {
    let (dir, head, torn) = with_torn_tail(|_| vec![0xAB; 100]);
    assert_tail_cut(dir.path(), head, torn);
}

#[test]
fn a_log_shorter_than_its_derived_data_is_refused_until_rebuilt() {
    let dir = demo_store();
    let head = Store::verify(dir.path()).unwrap().head.seq;
    let last = find_record(dir.path(), head);
    let bytes = std::fs::read(&last.path).unwrap();
    std::fs::write(&last.path, &bytes[..last.start]).unwrap();
    let error = Store::open(dir.path(), &Options::default()).unwrap_err().to_string();
    assert!(error.contains("lineage rebuild"), "{error}");
    let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
    assert_eq!(rebuilt.head().seq, head - 1);
}

/// A store whose demo story has its first event changed and every hash recomputed:
/// a consistent chain with a different history.
fn rewritten_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    let mut story = lineage_store::demo::story();
    let lineage_schema::Command::RegisterPrincipal(first) = &mut story[0].command else {
        panic!("the story starts with a principal")
    };
    first.email = "someone-else@example.com".into();
    store.execute_batch(story).unwrap();
    dir
}

#[test]
fn a_saved_checkpoint_catches_a_rewritten_history_and_a_changed_byte() {
    let honest = demo_store();
    let dir = honest.path().to_str().unwrap().to_string();
    let checkpoint = honest.path().join("saved-checkpoint.json");
    let key = Store::public_key(honest.path()).unwrap();
    let lineage = |args: &[&str]| {
        let mut all = vec!["lineage", "--data-dir", dir.as_str()];
        all.extend_from_slice(args);
        lineage_graphql::cli::run_from(all)
    };
    lineage(&["checkpoint", "--out", checkpoint.to_str().unwrap()]).unwrap();
    lineage(&[
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--public-key",
        &key,
    ])
    .unwrap();

    // Swap in a rewritten (but internally consistent) log.
    let rewritten = rewritten_store();
    std::fs::remove_dir_all(honest.path().join("log")).unwrap();
    copy_dir(&rewritten.path().join("log"), &honest.path().join("log"));
    let error = lineage(&[
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--public-key",
        &key,
    ])
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("history was rewritten: the first "), "{error}");

    // A checkpoint signed by someone else is refused when a key is trusted.
    let other = tempfile::tempdir().unwrap();
    let error = lineage(&[
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--public-key",
        &Store::public_key(other.path()).unwrap(),
    ])
    .unwrap_err()
    .to_string();
    assert!(error.contains("signature does not hold"), "{error}");

    // A changed byte is named by its position, not taken for a rewritten history.
    let spot = find_record(honest.path(), TARGET);
    let mut bytes = std::fs::read(&spot.path).unwrap();
    bytes[spot.start + 30] ^= 1;
    std::fs::write(&spot.path, bytes).unwrap();
    let error = lineage(&["verify", "--checkpoint", checkpoint.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("first bad position: seq {TARGET} ")),
        "{error}"
    );
}
