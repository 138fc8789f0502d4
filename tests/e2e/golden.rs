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
