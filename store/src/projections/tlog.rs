//! The transparency tree: an RFC 6962 SHA-256 Merkle tree over the events' entries (their
//! export lines, see `lineage_schema::tlog`), as C2SP tlog-tiles serves it.
//!
//! It is built beside the writer, not by it: making an entry (canonical JSON) costs more
//! than the rest of deciding and applying an event, so a thread of the store's folds the
//! log into this tree a little behind the head (`catch_up`), and checkpoints wait for it.
//! It takes each group of events from the writer once they are durable, and reads
//! the log only for those it is not handed in order.
//!
//! Its sled tree `tlog`: `f` → the frontier; `s` + level + index → the root of each
//! completed perfect subtree at a level that is a multiple of 8 (the hashes of tiles above
//! level 0). Leaf hashes and entries are recomputed from the log when a tile or proof
//! needs them (at most 256 events read): about one key per 256 events.

use crate::derived::keys::key;
use crate::derived::overlay::{decode, encode};
use crate::error::{Error, Result};
use crate::log::LogRead;
use lineage_schema::merkle::Frontier;
use lineage_schema::tlog::{self, TileAt, MAX_ENTRY_BYTES, TILE_HEIGHT, TILE_WIDTH};
use lineage_schema::{Digest, Envelope, Rejection};
use std::sync::Arc;

/// The sled tree it lives in (cleared with the projections).
pub(crate) const TREE_NAME: &str = "tlog";

/// An event whose encoding is at most this long has an entry well within the limit (JSON
/// is at most six characters a byte, plus the hashes in hex), so it is not measured.
const SURELY_FITS: usize = 10_000;

/// Entries folded in per sled batch while catching up.
const CATCH_UP_BATCH: u64 = 16_384;

fn frontier_key() -> Vec<u8> {
    b"f".to_vec()
}

fn subtree_key(level: u8, index: u64) -> Vec<u8> {
    key(b's', &[&[level], &index.to_be_bytes()])
}

/// The entry of an event the tree can hold: one longer than an entry bundle can carry is
/// refused (the command that would append it is, before anything is appended).
pub(crate) fn entry_of(envelope: &Envelope) -> Result<Vec<u8>> {
    let entry = tlog::entry(envelope);
    if entry.len() > MAX_ENTRY_BYTES {
        return Err(Rejection::LimitExceeded {
            what: format!(
                "the event's log entry ({} bytes of JSON; split the command into smaller ones)",
                entry.len()
            ),
            limit: MAX_ENTRY_BYTES as u64,
        }
        .into());
    }
    Ok(entry)
}

/// Refuses an event whose entry would not fit (measured only when it could be too long).
pub(crate) fn check_fits(envelope: &Envelope, encoded_len: usize) -> Result<()> {
    if encoded_len > SURELY_FITS {
        entry_of(envelope)?;
    }
    Ok(())
}

fn frontier(tree: &sled::Tree) -> Result<Frontier> {
    tree.get(frontier_key())?
        .map(|bytes| decode(&bytes))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Folds the log's events after the tree's last entry, up to `head` (at most one batch),
/// into the tree; its new size. `fed` are events the writer has just appended, in seq
/// order, as it handed them over: when they follow on from the tree's last entry they
/// are folded in as they are, and the log is read only for what they do not cover (a
/// start, a group dropped from a full queue, events another node appended to a shared log).
pub(crate) fn catch_up(tree: &sled::Tree, reader: &dyn LogRead, head: u64, fed: &[Arc<Envelope>]) -> Result<u64> {
    let mut frontier = frontier(tree)?;
    let until = head.min(frontier.size + CATCH_UP_BATCH);
    if frontier.size >= until {
        return Ok(frontier.size);
    }
    let next = frontier.size + 1;
    let mut batch = sled::Batch::default();
    let mut failed = None;
    let mut fold = |envelope: &Envelope| -> bool {
        if envelope.seq != frontier.size + 1 {
            failed = Some(Error::Derived(format!(
                "the transparency tree holds {} entries but seq {} arrived",
                frontier.size, envelope.seq
            )));
            return false;
        }
        let entry = match entry_of(envelope) {
            Ok(entry) => entry,
            Err(error) => {
                failed = Some(Error::Derived(format!("event {}: {error}", envelope.seq)));
                return false;
            }
        };
        for (level, index, root) in tlog::push(&mut frontier, &entry) {
            if level > 0 && level % TILE_HEIGHT == 0 {
                batch.insert(subtree_key(level, index), root.0.to_vec());
            }
        }
        frontier.size < until
    };
    match fed.iter().position(|envelope| envelope.seq == next) {
        Some(first) if fed[first..].windows(2).all(|pair| pair[1].seq == pair[0].seq + 1) => {
            for envelope in &fed[first..] {
                if !fold(envelope) {
                    break;
                }
            }
        }
        _ => reader.scan_from(next, &mut |envelope, _| Ok(fold(&envelope)))?,
    }
    // The frontier and the subtrees it completed land together, or not at all.
    batch.insert(frontier_key(), encode(&frontier));
    tree.apply_batch(batch)?;
    match failed {
        Some(error) => Err(error),
        None => Ok(frontier.size),
    }
}

/// The tree as it stands: its size and root.
pub(crate) fn head(tree: &sled::Tree) -> Result<(u64, Digest)> {
    let frontier = frontier(tree)?;
    Ok((frontier.size, tlog::root(&frontier)))
}

/// Hashes of the tree, from its sled tree or, below level 8, from the log.
pub(crate) struct StoredTlog<'a> {
    pub tree: &'a sled::Tree,
    pub reader: &'a dyn LogRead,
}

impl StoredTlog<'_> {
    /// The entries of events `seq = first + 1 ..= first + count` (leaf indexes from `first`).
    pub(crate) fn entries(&self, first: u64, count: u64) -> Result<Vec<Vec<u8>>> {
        let mut entries = Vec::with_capacity(count as usize);
        if count == 0 {
            return Ok(entries);
        }
        self.reader.scan_from(first + 1, &mut |envelope, _| {
            entries.push(tlog::entry(&envelope));
            Ok((entries.len() as u64) < count)
        })?;
        if entries.len() as u64 != count {
            return Err(Error::Derived(format!("the log ends before leaf {}", first + count)));
        }
        Ok(entries)
    }

    fn leaves(&self, first: u64, count: u64) -> Result<Vec<Digest>> {
        Ok(self
            .entries(first, count)?
            .iter()
            .map(|entry| tlog::leaf_hash(entry))
            .collect())
    }

    fn stored(&self, level: u8, index: u64) -> Result<Digest> {
        let bytes = self
            .tree
            .get(subtree_key(level, index))?
            .ok_or_else(|| Error::Derived(format!("transparency subtree {level}/{index} missing")))?;
        Ok(Digest(bytes.as_ref().try_into().map_err(|_| {
            Error::Derived("a transparency subtree is not 32 bytes".into())
        })?))
    }

    /// The root of the perfect subtree at `level` and `index` (leaves `index << level` ..).
    pub(crate) fn subtree(&self, level: u8, index: u64) -> Result<Digest> {
        let base = level - level % TILE_HEIGHT;
        let span = 1u64 << (level - base);
        let mut hashes = if base == 0 {
            self.leaves(index << level, span)?
        } else {
            (0..span)
                .map(|offset| self.stored(base, (index << (level - base)) + offset))
                .collect::<Result<Vec<_>>>()?
        };
        while hashes.len() > 1 {
            hashes = hashes
                .chunks(2)
                .map(|pair| tlog::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(hashes[0])
    }

    /// A tile's bytes: concatenated hashes, or an entry bundle. `size` is the tree's size;
    /// a tile reaching past it is not there.
    pub(crate) fn tile(&self, at: TileAt, size: u64) -> Result<Vec<u8>> {
        let level = u32::from(at.level.unwrap_or(0)) * u32::from(TILE_HEIGHT);
        let end = u128::from(at.index) * u128::from(TILE_WIDTH) + u128::from(at.width);
        if level >= 64 || end << level > u128::from(size) {
            return Err(beyond(at, size));
        }
        let first = at.index * TILE_WIDTH;
        match at.level {
            None => Ok(tlog::bundle(&self.entries(first, at.width)?)),
            Some(0) => Ok(self.leaves(first, at.width)?.iter().flat_map(|hash| hash.0).collect()),
            Some(_) => Ok((first..first + at.width)
                .map(|index| self.stored(level as u8, index))
                .collect::<Result<Vec<_>>>()?
                .iter()
                .flat_map(|hash| hash.0)
                .collect()),
        }
    }
}

fn beyond(at: TileAt, size: u64) -> Error {
    Rejection::invalid(
        "tile",
        format!("tile/{} is not in the tree of {size} entries", at.path()),
    )
    .into()
}

impl tlog_tiles::HashReader for StoredTlog<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&index| {
                let (level, n) = tlog_tiles::split_stored_hash_index(index);
                self.subtree(level, n)
                    .map(|digest| tlog_tiles::Hash(digest.0))
                    .map_err(|error| tlog_tiles::Error::InvalidInput(error.to_string()))
            })
            .collect()
    }
}

/// The root of the transparency tree over the first `size` records `reader` holds, read
/// straight from the log (for checking a checkpoint without the projections).
pub(crate) fn root_of_prefix(reader: &dyn LogRead, size: u64, progress: &mut dyn FnMut(u64)) -> Result<Digest> {
    let mut frontier = Frontier::default();
    crate::projections::scan_ahead(reader, 1, size, &mut |envelope, _| {
        tlog::push(&mut frontier, &tlog::entry(&envelope));
        progress(frontier.size);
        Ok(frontier.size < size)
    })?;
    Ok(tlog::root(&frontier))
}
