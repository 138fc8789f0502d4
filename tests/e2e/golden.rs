//! Golden files: encoded sample events of every variant, committed, must keep decoding
//! to the same values. `UPDATE_GOLDEN=1` writes files for variants that have none; it
//! never rewrites an existing one, because stored events are forever.

use lineage_schema::envelope::decode_record;
use lineage_schema::event::Event;
use lineage_schema::{samples, SCHEMA_VERSION};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/golden")
}

fn file_name(index: usize, name: &str) -> String {
    format!("v{SCHEMA_VERSION}-{index:02}-{name}.bin")
}

#[test]
fn every_event_variant_has_a_golden_file_that_still_decodes() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut missing = Vec::new();
    for (index, envelope) in samples::envelopes().into_iter().enumerate() {
        let path = golden_dir().join(file_name(index, envelope.event.name()));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let decoded = decode_record(SCHEMA_VERSION, &bytes)
                    .unwrap_or_else(|error| panic!("{} no longer decodes: {error}", path.display()));
                assert_eq!(decoded, envelope, "{} decodes to something else", path.display());
                assert_eq!(
                    decoded.compute_hash(),
                    decoded.hash,
                    "{} hash no longer verifies",
                    path.display()
                );
            }
            Err(_) if update => std::fs::write(&path, envelope.encode()).unwrap(),
            Err(_) => missing.push(path.display().to_string()),
        }
    }
    assert!(
        missing.is_empty(),
        "no golden file for {missing:?}; run with UPDATE_GOLDEN=1 once and commit them"
    );
}

#[test]
fn no_golden_file_is_left_without_its_variant() {
    let expected: Vec<String> = Event::NAMES
        .iter()
        .enumerate()
        .map(|(index, name)| file_name(index, name))
        .collect();
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            expected.contains(&name),
            "golden file {name} matches no event variant: variants are never removed or reordered"
        );
    }
}

/// A segment as the log wrote it in long frames — its first record whole (format 1), the
/// rest compact (format 2) — committed once: it must keep reading to the samples, and
/// verify.
#[test]
fn a_golden_segment_of_compact_records_still_reads() {
    let bytes = golden_segment("data/golden-segment", lineage_store::segment::HEADER_MAGIC_LONG);
    // Written when whole records came every 64 seqs: a reader needs no rhythm, only a
    // whole record to start from.
    check_frames(&bytes, lineage_store::segment::LONG_HEAD_LEN, |seq| {
        seq == 1 || seq == 65
    });
}

/// The same samples as the log writes them now, in short frames, committed once.
#[test]
fn a_golden_segment_of_short_frames_still_reads() {
    let bytes = golden_segment("data/golden-segment-short", lineage_store::segment::HEADER_MAGIC);
    check_frames(&bytes, 7, |seq| seq == 1 || lineage_schema::compact::is_full_seq(seq));
    let long = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("data/golden-segment")
            .join(lineage_store::segment::file_name(1)),
    )
    .unwrap();
    assert!(
        bytes.len() < long.len(),
        "short frames take less: {} of {}",
        bytes.len(),
        long.len()
    );
}

/// Checks the frames of a golden segment: one per sample, whole where `whole` says, each
/// head at most `max_head` bytes.
fn check_frames(bytes: &[u8], max_head: usize, whole: impl Fn(u64) -> bool) {
    let heads = lineage_store::segment::frame_heads(bytes);
    assert_eq!(heads.len(), samples::envelopes().len());
    for (seq, &(format, head, _)) in (1u64..).zip(&heads) {
        let expected = if whole(seq) {
            SCHEMA_VERSION
        } else {
            lineage_schema::compact::FORMAT_COMPACT
        };
        assert_eq!(format, expected, "seq {seq}");
        assert!(head <= max_head, "seq {seq}: a head of {head} bytes");
    }
}

/// Reads the golden segment in `dir` (writing it first under `UPDATE_GOLDEN=1` if it is
/// missing), checks its header, that it reads back to the samples and verifies, and that
/// compact records take under half of what whole ones would; returns its bytes.
fn golden_segment(dir: &str, magic: &[u8; 8]) -> Vec<u8> {
    use lineage_store::log::{FileLog, FileLogReader};
    use lineage_store::{EventLog, LogRead};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let path = dir.join(lineage_store::segment::file_name(1));
    if !path.exists() && std::env::var_os("UPDATE_GOLDEN").is_some() {
        let (mut log, _) = FileLog::open(&dir, 1 << 20).unwrap();
        let sealed: Vec<_> = samples::envelopes()
            .into_iter()
            .map(|envelope| envelope.seal_encoded())
            .collect();
        log.append(&sealed).unwrap();
    }
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|_| panic!("no {}; run with UPDATE_GOLDEN=1 once and commit it", path.display()));
    assert_eq!(&bytes[..8], magic);
    let mut read = Vec::new();
    FileLogReader::open(&dir)
        .unwrap()
        .scan_from(1, &mut |envelope, _| {
            read.push(envelope);
            Ok(true)
        })
        .unwrap();
    assert_eq!(read, samples::envelopes());
    let report = lineage_store::log::scan(&dir).unwrap();
    assert_eq!(report.head.hash, samples::envelopes().last().unwrap().hash);
    let whole: usize = samples::envelopes()
        .iter()
        .map(|envelope| 14 + envelope.encode().len())
        .sum();
    assert!(
        bytes.len() * 2 < whole,
        "compact records take under half: {} of {whole} bytes",
        bytes.len()
    );
    bytes
}
