//! The Merkle projection and what is built on it: roots at any size, inclusion and
//! consistency proofs, signed checkpoints, and checking a log against a checkpoint.
//!
//! Keys: `f` → the frontier (the tree's right edge); `s` + level + index → the root of
//! each completed perfect subtree of 256 leaves or more. Smaller subtrees are recomputed
//! from the log when a proof needs them (at most 255 events read), which keeps the
//! projection to a few keys per thousand events.

use crate::derived::keys::key;
use crate::derived::overlay::{TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use crate::log::{self, LogRead};
use crate::progress::{Progress, Reporter, Stage, Unit};
use lineage_schema::merkle::{self, Frontier, Subtrees};
use lineage_schema::{Digest, Envelope, Rejection};
use std::path::Path;

pub(crate) const TREE: TreeId = 3;
/// Subtrees of 2^STORED_LEVEL leaves and more are stored.
const STORED_LEVEL: u8 = 8;

/// The frontier's key.
const FRONTIER_KEY: &[u8] = b"f";

fn subtree_key(level: u8, index: u64) -> Vec<u8> {
    key(b's', &[&[level], &index.to_be_bytes()])
}

/// Adds one event's hash to the tree. The frontier is changed where the group keeps it
/// (every event changes it), not copied out and put back.
pub(crate) fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    let push = |frontier: &mut Frontier| {
        if frontier.size + 1 != envelope.seq {
            return Err(Error::Derived(format!(
                "Merkle tree holds {} leaves but seq {} arrived",
                frontier.size, envelope.seq
            )));
        }
        Ok(frontier.push(&envelope.hash))
    };
    let completed = match overlay.update_value(TREE, FRONTIER_KEY, push)? {
        Some(completed) => completed,
        None => {
            let mut frontier = Frontier::default();
            let completed = push(&mut frontier)?;
            overlay.put_value(TREE, FRONTIER_KEY.to_vec(), frontier);
            completed
        }
    };
    for (level, index, root) in completed {
        if level >= STORED_LEVEL {
            overlay.insert(TREE, subtree_key(level, index), root.0.to_vec());
        }
    }
    Ok(())
}

/// Subtree roots from the projection, or from the log for small ones.
struct StoredTree<'a> {
    view: &'a Trees,
    reader: &'a dyn LogRead,
}

impl Subtrees for StoredTree<'_> {
    type Error = Error;

    fn subtree(&mut self, level: u8, index: u64) -> Result<Digest> {
        if level >= STORED_LEVEL {
            let stored = self.view.get(TREE, &subtree_key(level, index))?;
            let bytes = stored.ok_or_else(|| Error::Derived(format!("Merkle subtree {level}/{index} missing")))?;
            return Ok(Digest(
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Derived("bad Merkle subtree".into()))?,
            ));
        }
        let (first, count) = ((index << level) + 1, 1u64 << level);
        let mut frontier = Frontier::default();
        self.reader.scan_from(first, &mut |envelope, _| {
            frontier.push(&envelope.hash);
            Ok(frontier.size < count)
        })?;
        if frontier.size != count {
            return Err(Error::Derived(format!(
                "the log ends inside Merkle subtree {level}/{index}"
            )));
        }
        Ok(frontier.root())
    }
}

fn check_size(size: u64, head: u64) -> Result<()> {
    if size > head {
        return Err(Rejection::invalid("tree size", format!("the log holds {head} events, fewer than {size}")).into());
    }
    Ok(())
}

/// The root of the first `size` events.
pub(crate) fn root(view: &Trees, reader: &dyn LogRead, size: u64, head: u64) -> Result<Digest> {
    check_size(size, head)?;
    merkle::root(&mut StoredTree { view, reader }, size)
}

/// The audit path of event `seq` in the tree of `size` events.
pub(crate) fn inclusion_proof(
    view: &Trees,
    reader: &dyn LogRead,
    seq: u64,
    size: u64,
    head: u64,
) -> Result<Vec<Digest>> {
    check_size(size, head)?;
    if seq == 0 || seq > size {
        return Err(Rejection::invalid("seq", format!("seq {seq} is not within a tree of {size} events")).into());
    }
    merkle::inclusion_proof(&mut StoredTree { view, reader }, seq - 1, size)
}

/// The proof that the tree of `old` events is a prefix of the tree of `new` events.
pub(crate) fn consistency_proof(
    view: &Trees,
    reader: &dyn LogRead,
    old: u64,
    new: u64,
    head: u64,
) -> Result<Vec<Digest>> {
    check_size(new, head)?;
    if old == 0 || old > new {
        return Err(Rejection::invalid("tree sizes", format!("cannot prove {old} events a prefix of {new}")).into());
    }
    merkle::consistency_proof(&mut StoredTree { view, reader }, old, new)
}

/// What checking a log against a checkpoint found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointCheck {
    /// Every record verified (checksums, seq, chain) up to the log's head.
    pub log: log::ScanReport,
    /// The root the log gives at the checkpoint's size.
    pub root: Digest,
    pub matches: bool,
}

/// Which tree a checkpoint's root is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    /// The blake3 tree over the events' hashes (JSON checkpoints).
    Merkle,
    /// The SHA-256 tree over the export's lines (C2SP checkpoint notes).
    Tlog,
}

impl Root {
    /// The root over the first `size` records `reader` holds, telling `progress` how
    /// many it has taken in.
    fn of_prefix(self, reader: &dyn LogRead, size: u64, progress: &mut dyn FnMut(u64)) -> Result<Digest> {
        match self {
            Root::Merkle => root_of_prefix(reader, size, progress),
            Root::Tlog => crate::projections::tlog::root_of_prefix(reader, size, progress),
        }
    }
}

/// The blake3 tree over the first `size` hashes a check hands it, when that is the tree
/// asked for: built in the check's own pass.
struct Leaves {
    frontier: Frontier,
    size: u64,
    wanted: bool,
}

impl Leaves {
    fn new(root: Root, size: u64) -> Leaves {
        Leaves {
            frontier: Frontier::default(),
            size,
            wanted: root == Root::Merkle,
        }
    }

    fn take(&mut self, hash: &Digest) {
        if self.wanted && self.frontier.size < self.size {
            self.frontier.push(hash);
        }
    }
}

/// Recomputes, from the log files alone, the root at `size` (and checks every record),
/// telling `progress` how far each stage is. The blake3 tree is built from the hashes
/// the check computes, in the same pass; the other needs each event decoded, after.
pub(crate) fn root_from_log(
    log_dir: &Path,
    size: u64,
    root: Root,
    progress: Reporter,
) -> Result<(log::ScanReport, Option<Digest>)> {
    let checking = Progress::of(Stage::CheckingLog, Unit::Bytes);
    let mut leaves = Leaves::new(root, size);
    let report = log::scan_reporting(
        log_dir,
        &mut |done, total| progress(checking(done, total)),
        &mut |hash| leaves.take(hash),
    )?;
    if report.head.seq < size {
        return Ok((report, None));
    }
    let digest = match root {
        Root::Merkle => leaves.frontier.root(),
        Root::Tlog => recompute(&log::FileLogReader::open(log_dir)?, size, root, progress)?,
    };
    Ok((report, Some(digest)))
}

/// As [`root_from_log`], from the PostgreSQL log at `url`.
pub(crate) fn root_from_postgres(
    url: &str,
    size: u64,
    root: Root,
    progress: Reporter,
) -> Result<(log::ScanReport, Option<Digest>)> {
    let reader = log::postgres::PgLogReader::connect(url)?;
    let checking = Progress::of(Stage::CheckingLog, Unit::Events);
    let mut leaves = Leaves::new(root, size);
    let report = reader.verify(&mut |done, total| progress(checking(done, total)), &mut |hash| {
        leaves.take(hash)
    })?;
    if report.head.seq < size {
        return Ok((report, None));
    }
    let digest = match root {
        Root::Merkle => leaves.frontier.root(),
        Root::Tlog => recompute(&reader, size, root, progress)?,
    };
    Ok((report, Some(digest)))
}

/// `root` at `size`, reported every so many records and once done.
fn recompute(reader: &dyn LogRead, size: u64, root: Root, progress: Reporter) -> Result<Digest> {
    let recomputing = Progress::of(Stage::RecomputingRoot, Unit::Events);
    let digest = root.of_prefix(reader, size, &mut |done| {
        if done.is_multiple_of(REPORT_EVERY) {
            progress(recomputing(done, size));
        }
    })?;
    progress(recomputing(size, size));
    Ok(digest)
}

/// Records between two reports of a root being recomputed.
const REPORT_EVERY: u64 = 16_384;

/// The root of the tree of the first `size` records `reader` holds.
pub(crate) fn root_of_prefix(reader: &dyn LogRead, size: u64, progress: &mut dyn FnMut(u64)) -> Result<Digest> {
    let mut frontier = Frontier::default();
    super::scan_ahead(reader, 1, size, &mut |envelope, _| {
        frontier.push(&envelope.hash);
        progress(frontier.size);
        Ok(frontier.size < size)
    })?;
    Ok(frontier.root())
}
