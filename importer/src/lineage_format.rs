//! Lineage's own format: events as NDJSON with their positions and hashes — written by
//! `export`, restored by `restore` into an empty store (the identical log) or onto the
//! log an incremental export continues.

use crate::error::{Error, Result};
use lineage_schema::Envelope;
use lineage_store::{EventFilter, Store};
use std::io::BufRead;
use std::path::Path;

/// Writes the events after `since` that pass `filter`, one JSON object a line, page by page.
pub fn export(
    store: &Store,
    filter: &EventFilter,
    since: u64,
    out: &mut dyn FnMut(&str) -> std::io::Result<()>,
) -> Result<u64> {
    let mut position = since;
    let mut written = 0;
    loop {
        let page = store.events(position, 1000, filter)?;
        let Some(last) = page.last() else { break };
        position = last.seq;
        let mut lines = String::new();
        for envelope in &page {
            lines.push_str(&serde_json::to_string(envelope).expect("envelopes always serialize"));
            lines.push('\n');
        }
        out(&lines).map_err(|source| Error::Read {
            path: "the output".into(),
            source,
        })?;
        written += page.len() as u64;
    }
    Ok(written)
}

/// Reads an export line by line, handing each event and its line number to `visit`.
fn read(file: &Path, visit: &mut dyn FnMut(usize, Envelope) -> Result<()>) -> Result<()> {
    let handle = std::fs::File::open(file).map_err(|source| Error::Read {
        path: file.to_path_buf(),
        source,
    })?;
    for (index, line) in std::io::BufReader::new(handle).lines().enumerate() {
        let line = line.map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let envelope = serde_json::from_str(&line).map_err(|error| Error::Line {
            path: file.to_path_buf(),
            line: index + 1,
            reason: format!("not an exported event: {error}"),
        })?;
        visit(index + 1, envelope)?;
    }
    Ok(())
}

/// What a restore did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub events: u64,
    pub head: lineage_store::Head,
}

/// Restores an export onto `store`: every line is checked first — JSON, position, hash
/// chain from the store's head — and only then appended, a thousand at a time.
pub fn restore(store: &Store, file: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Restored> {
    let head = store.head();
    let (mut seq, mut hash, mut count) = (head.seq, head.hash, 0u64);
    read(file, &mut |line, envelope| {
        let broken = |reason: String| Error::Line {
            path: file.to_path_buf(),
            line,
            reason,
        };
        if envelope.seq != seq + 1 || envelope.prev_hash != hash {
            return Err(broken(format!(
                "event {} does not continue this store's log (which ends at seq {seq}); restore into an empty store, or import the export that comes before it",
                envelope.seq
            )));
        }
        if envelope.compute_hash() != envelope.hash {
            return Err(broken(format!(
                "event {} was changed after it was exported (its hash does not match)",
                envelope.seq
            )));
        }
        (seq, hash, count) = (envelope.seq, envelope.hash, count + 1);
        Ok(())
    })?;
    let mut batch = Vec::new();
    let mut restored = 0u64;
    read(file, &mut |_, envelope| {
        batch.push(envelope);
        if batch.len() == 1000 {
            restored += store.restore(std::mem::take(&mut batch))?.len() as u64;
            progress(restored, count);
        }
        Ok(())
    })?;
    restored += store.restore(batch)?.len() as u64;
    progress(restored, count);
    Ok(Restored {
        events: restored,
        head: store.head(),
    })
}
