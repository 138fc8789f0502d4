//! Projections: folds of the log into sled trees, each tree with its own checkpoint, and
//! the catch-up that brings them level with the log.

pub mod access;
pub mod audit;
pub mod billing;
pub(crate) mod index;
pub mod lineage;
pub(crate) mod merkle;
pub(crate) mod state;
pub(crate) mod tlog;

use crate::derived::overlay::{checkpoint, Trees, CHECKPOINT_KEY};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use crate::log::{Head, LogRead, Position};
use lineage_schema::{Digest, Envelope};

/// A read model derived from the log. Projection `i` owns tree `i` (see `NAMES`).
pub trait Projection: Send + Sync + std::fmt::Debug {
    /// Folds one event in; events arrive in seq order, each exactly once.
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()>;
}

/// The shape of what projections store. Derived data is rebuildable, so when a release
/// changes that shape it bumps this number and opening an older store rebuilds it.
pub const FORMAT: u64 = 14;
const FORMAT_KEY: &[u8] = b"derived-format";

/// Whether `db` holds projections in this release's shape; if not, clears them (they are
/// rebuilt from the log on open) and records the shape. True when it cleared them.
pub fn ensure_format(db: &sled::Db) -> Result<bool> {
    let current = db.get(FORMAT_KEY)?.map(|bytes| crate::derived::overlay::be_u64(&bytes));
    if current == Some(FORMAT) {
        return Ok(false);
    }
    drop_all(db)?;
    db.insert(FORMAT_KEY, FORMAT.to_be_bytes().to_vec())?;
    db.flush()?;
    Ok(true)
}

/// Empties every projection's tree, the entity records and the transparency tree. Dropped
/// whole, not cleared: sled clears a tree one key at a time, which took a quarter of a
/// rebuild.
pub fn drop_all(db: &sled::Db) -> Result<()> {
    for name in NAMES.iter().chain([&RECORDS_NAME, &tlog::TREE_NAME]) {
        db.drop_tree(name)?;
    }
    Ok(())
}

/// The sled tree of each projection, in tree-id order.
pub const NAMES: [&str; 6] = ["index", "state", "lineage", "merkle", "audit", "billing"];

/// The sled tree of entity records, which index, state and lineage share
/// (see [`crate::derived::records`]).
pub const RECORDS_NAME: &str = "records";

#[derive(Debug)]
struct IndexProjection;

impl Projection for IndexProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        index::apply_envelope(overlay, envelope)
    }
}

#[derive(Debug)]
struct StateProjection;

impl Projection for StateProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        state::apply(overlay, envelope)
    }
}

#[derive(Debug)]
struct LineageProjection;

impl Projection for LineageProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        crate::projections::lineage::apply(overlay, envelope)
    }
}

#[derive(Debug)]
struct MerkleProjection;

impl Projection for MerkleProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        crate::projections::merkle::apply(overlay, envelope)
    }
}

#[derive(Debug)]
struct AuditProjection;

impl Projection for AuditProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        crate::projections::audit::apply(overlay, envelope)
    }
}

#[derive(Debug)]
struct BillingProjection;

impl Projection for BillingProjection {
    fn apply(&self, overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
        crate::projections::billing::apply(overlay, envelope)
    }
}

/// Every projection, in tree-id order.
pub fn all() -> Vec<Box<dyn Projection>> {
    vec![
        Box::new(IndexProjection),
        Box::new(StateProjection),
        Box::new(LineageProjection),
        Box::new(MerkleProjection),
        Box::new(AuditProjection),
        Box::new(BillingProjection),
    ]
}

/// Opens every projection's tree.
pub fn open_trees(db: &sled::Db) -> Result<Vec<sled::Tree>> {
    NAMES.iter().map(|name| Ok(db.open_tree(name)?)).collect()
}

/// The derived trees of `db` as projections read and write them, entity records included;
/// a flush cut short is journalled at `journal`.
pub fn open_view(db: &sled::Db, journal: std::path::PathBuf) -> Result<Trees> {
    Ok(Trees::with_records(
        open_trees(db)?,
        db.open_tree(RECORDS_NAME)?,
        journal,
    ))
}

/// How many events are committed to sled at a time while catching up.
const CATCH_UP_BATCH: u64 = 65_536;

/// Records handed at a time from the thread reading the log to the one folding it.
const READ_AHEAD: usize = 1_024;

/// Replays the log past the lowest checkpoint into every projection that lacks it.
/// Returns how many events were read. One thread reads, checks and decodes records while
/// this one folds them: on two cores reading is a sixth of a replay.
pub fn catch_up(reader: &dyn LogRead, view: &Trees, head: Head, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
    let checkpoints: Vec<u64> = view.sled_trees().iter().map(checkpoint).collect::<Result<_>>()?;
    let from = checkpoints.iter().copied().min().unwrap_or(0) + 1;
    if from > head.seq {
        return Ok(0);
    }
    let projections = all();
    let mut overlay = Overlay::for_replay(view.clone());
    let mut read = 0;
    // A read that fails ends the fold early with its error, and nothing is committed as
    // if the fold had reached the head.
    scan_ahead(reader, from, head.seq, &mut |envelope, position| {
        for (tree, projection) in projections.iter().enumerate() {
            if checkpoints[tree] < envelope.seq {
                projection.apply(&mut overlay, &envelope)?;
            }
        }
        if checkpoints[index::TREE] < envelope.seq {
            index::apply_position(&mut overlay, &envelope, position)?;
        }
        read += 1;
        if read % CATCH_UP_BATCH == 0 {
            overlay.commit_to_sled(envelope.seq)?;
            progress(envelope.seq, head.seq);
        }
        Ok(true)
    })?;
    overlay.commit_to_sled(head.seq)?;
    progress(head.seq, head.seq);
    Ok(read)
}

type Chunk = Vec<(Envelope, Position)>;

/// Visits records `from` through `last` in order, read, checked and decoded on another
/// thread while `visit` takes the ones before: on two cores, reading is no longer added
/// to what `visit` costs. `visit` answers whether to go on.
pub(crate) fn scan_ahead(
    reader: &dyn LogRead,
    from: u64,
    last: u64,
    visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>,
) -> Result<()> {
    if from > last {
        return Ok(());
    }
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        let reading = scope.spawn(move || read_ahead(reader, from, last, &sender));
        let visited = (|| {
            for (envelope, position) in receiver.into_iter().flatten() {
                if !visit(envelope, position)? {
                    break;
                }
            }
            Ok(())
        })();
        // Dropping the receiver (above, on leaving the loop) stops the reader early.
        reading
            .join()
            .unwrap_or_else(|_| Err(Error::Derived("the thread reading the log panicked".into())))?;
        visited
    })
}

/// Reads records `from` through `last` in chunks; stops when the folding side has gone.
fn read_ahead(reader: &dyn LogRead, from: u64, last: u64, sender: &std::sync::mpsc::SyncSender<Chunk>) -> Result<()> {
    let mut chunk = Vec::with_capacity(READ_AHEAD);
    let mut folding = true;
    reader.scan_from(from, &mut |envelope: Envelope, position: Position| {
        let more = envelope.seq < last;
        chunk.push((envelope, position));
        if chunk.len() == READ_AHEAD || !more {
            folding = sender
                .send(std::mem::replace(&mut chunk, Vec::with_capacity(READ_AHEAD)))
                .is_ok();
        }
        Ok(more && folding)
    })?;
    if folding && !chunk.is_empty() {
        let _ = sender.send(chunk);
    }
    Ok(())
}

/// A digest of every projection's contents (checkpoints aside): equal digests, equal state.
pub fn digest<'a>(trees: impl Iterator<Item = &'a sled::Tree>) -> Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    for tree in trees {
        hasher.update(tree.name().as_ref());
        for item in tree.iter() {
            let (key, value) = item?;
            if key.as_ref() == CHECKPOINT_KEY {
                continue;
            }
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(&key);
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(&value);
        }
    }
    Ok(Digest(*hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_named_tree_has_its_projection() {
        assert_eq!(super::all().len(), super::NAMES.len());
    }
}
