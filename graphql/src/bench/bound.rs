//! The least any verifier of the hash chain must do: blake3 over every record's whole
//! (format-1) body, on both cores, with nothing else — the bound `verify` is measured
//! against, beside the log's bytes read per second.

use anyhow::Result;
use lineage_schema::envelope::hash_of_body;
use lineage_store::log::FileLogReader;
use lineage_store::LogRead;
use std::path::Path;
use std::time::Instant;

/// Records per second that hashing alone reaches over the log in `log_dir`, on two threads.
pub(super) fn hashing_records_per_second(log_dir: &Path) -> Result<f64> {
    let reader = FileLogReader::open(log_dir)?;
    let mut bodies = Vec::new();
    reader.scan_from(1, &mut |envelope, _| {
        bodies.push(envelope.encode());
        Ok(true)
    })?;
    let started = Instant::now();
    let (first, second) = bodies.split_at(bodies.len() / 2);
    let wrong = std::thread::scope(|scope| {
        let other = scope.spawn(|| count_wrong(second));
        count_wrong(first) + other.join().expect("hashing thread")
    });
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(wrong == 0, "{wrong} records' hashes differ from their bodies'");
    Ok(bodies.len() as f64 / elapsed)
}

/// How many bodies do not carry the hash of their own bytes (a body's last 32 bytes).
fn count_wrong(bodies: &[Vec<u8>]) -> usize {
    bodies
        .iter()
        .filter(|body| hash_of_body(body).0[..] != body[body.len() - 32..])
        .count()
}
