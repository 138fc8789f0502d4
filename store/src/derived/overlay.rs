//! The derived trees as the writer and readers see them: sled, under a layer of
//! acknowledged-but-unflushed changes, under one group's pending changes.
//!
//! sled is written in large, infrequent batches (every few thousand events or once a
//! second), not once per append: every event is already durable in the log, so derived
//! data may lag on disk and is caught up from its checkpoint on open. Batching folds the
//! many updates of a hot key (a run logging metrics) into one sled write.

use crate::derived::journal;
use crate::derived::stored::Stored;
use crate::error::{Error, Result};
use lineage_schema::envelope::BINCODE;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Which derived tree a key belongs to. Each projection owns exactly one tree.
pub(crate) type TreeId = usize;

/// The key under which each tree keeps the last seq applied to it. It sorts after every
/// data key (data keys start with an ASCII letter).
pub(crate) const CHECKPOINT_KEY: &[u8] = b"\xffcheckpoint";

pub(crate) type Key = (TreeId, Vec<u8>);

/// Changes by tree: a map per tree, so a lookup borrows the key it is given and compares
/// only keys of its own tree; and the hashes of their keys, so a key a layer does not
/// hold — most that the writer asks for — is known absent without searching the maps.
#[derive(Debug, Default)]
struct Changes(Vec<BTreeMap<Vec<u8>, Option<Vec<u8>>>>, KeyHashes);

/// The hashes of a layer's keys, seeded per layer.
#[derive(Debug, Default)]
struct KeyHashes {
    seen: HashSet<u64, foldhash::fast::RandomState>,
    seed: foldhash::fast::RandomState,
}

impl KeyHashes {
    fn of(&self, tree: TreeId, key: &[u8]) -> u64 {
        self.seed.hash_one((tree, key))
    }
}

impl Changes {
    fn get(&self, tree: TreeId, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        let changes = self.0.get(tree)?;
        if !self.1.seen.contains(&self.1.of(tree, key)) {
            return None;
        }
        changes.get(key)
    }

    fn insert(&mut self, (tree, key): Key, value: Option<Vec<u8>>) {
        if self.0.len() <= tree {
            self.0.resize_with(tree + 1, BTreeMap::new);
        }
        let hash = self.1.of(tree, &key);
        self.1.seen.insert(hash);
        self.0[tree].insert(key, value);
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(BTreeMap::is_empty)
    }

    fn len(&self) -> usize {
        self.0.iter().map(BTreeMap::len).sum()
    }

    /// The changes of `tree` within `bounds`, in key order.
    fn range<'a>(
        &'a self,
        tree: TreeId,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl DoubleEndedIterator<Item = LayeredEntry<'a>> + 'a {
        // Made now: a `BTreeMap` range borrows the map, not the bounds.
        self.0
            .get(tree)
            .map(|changes| changes.range::<[u8], _>(bounds))
            .into_iter()
            .flatten()
    }

    /// Every change, by tree and then key.
    fn iter(&self) -> impl Iterator<Item = (TreeId, &Vec<u8>, &Option<Vec<u8>>)> {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(tree, changes)| changes.iter().map(move |(key, value)| (tree, key, value)))
    }
}

/// A layered key and its value (`None`: the layer deletes it).
type LayeredEntry<'a> = (&'a Vec<u8>, &'a Option<Vec<u8>>);

/// Acknowledged changes not yet in sled: the `recent` ones, over a frozen `flushing` set
/// that the flusher thread is writing to sled. Readers look in `recent`, then `flushing`,
/// then sled; the flusher empties `flushing` only once sled holds all of it.
#[derive(Debug, Default)]
struct Layers {
    recent: Changes,
    flushing: Arc<Changes>,
    /// The seq `flushing` brings its trees up to: their checkpoint once it is in sled.
    flushing_through: u64,
}

impl Layers {
    /// The layered value of a key: `Some(None)` when a layer deletes it.
    fn get(&self, tree: TreeId, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.recent.get(tree, key).or_else(|| self.flushing.get(tree, key))
    }

    /// Layered entries of `tree` from `from` on (both layers, `recent` winning), in key
    /// order, or in reverse order up to `to` when `to` is given.
    fn entries<'a>(
        &'a self,
        tree: TreeId,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> Box<dyn Iterator<Item = LayeredEntry<'a>> + 'a> {
        match to {
            None => {
                let bounds = (Bound::Included(from), Bound::Unbounded);
                let recent = self.recent.range(tree, bounds);
                let flushing = self.flushing.range(tree, bounds);
                Box::new(merge(recent, flushing, false))
            }
            Some(to) => {
                let bounds = (Bound::Included(from), Bound::Included(to));
                let recent = self.recent.range(tree, bounds).rev();
                let flushing = self.flushing.range(tree, bounds).rev();
                Box::new(merge(recent, flushing, true))
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.recent.is_empty() && self.flushing.is_empty()
    }
}

/// Two key-ordered sequences as one; on equal keys the first's entry wins.
fn merge<'a, K: Ord + 'a, V: 'a>(
    first: impl Iterator<Item = (&'a K, V)>,
    second: impl Iterator<Item = (&'a K, V)>,
    descending: bool,
) -> impl Iterator<Item = (&'a K, V)> {
    let (mut first, mut second) = (first.peekable(), second.peekable());
    std::iter::from_fn(move || {
        let order = match (first.peek(), second.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) if descending => b.cmp(a),
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => first.next(),
            std::cmp::Ordering::Greater => second.next(),
            std::cmp::Ordering::Equal => {
                second.next();
                first.next()
            }
        }
    })
}

/// A consistent read view: the unflushed layers over sled. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Trees {
    stored: Stored,
    layer: Arc<RwLock<Layers>>,
    /// Where a flush in progress is journalled (see [`crate::derived::journal`]).
    journal: PathBuf,
}

impl Trees {
    /// The trees, each key in its own tree (no entity records): for tests of the layers.
    #[cfg(test)]
    pub fn new(trees: Vec<sled::Tree>, journal: PathBuf) -> Self {
        Self::stored(Stored::new(trees, None), journal)
    }

    /// The trees, with the keys entity records hold kept in `records`
    /// (see [`crate::derived::records`]).
    pub fn with_records(trees: Vec<sled::Tree>, records: sled::Tree, journal: PathBuf) -> Self {
        Self::stored(Stored::new(trees, Some(records)), journal)
    }

    fn stored(stored: Stored, journal: PathBuf) -> Self {
        Self {
            stored,
            layer: Arc::default(),
            journal,
        }
    }

    /// Lets lookups of keys sled cannot hold skip sled (see
    /// [`crate::derived::key_filter::KeyFilter`]): called once on open, after a cut-short
    /// flush is finished and before anything is read or written.
    pub fn arm_key_filter(&self) -> Result<()> {
        self.stored.arm_filter()
    }

    /// Finishes a flush that a crash cut short, from its journal; a damaged journal
    /// empties the trees, to be rebuilt from the log. True when there was a journal.
    pub fn recover_journal(&self) -> Result<bool> {
        match journal::read(&self.journal) {
            Ok(None) => return Ok(false),
            Ok(Some((through, entries))) => {
                let checkpoints: Vec<u64> = self.sled_trees().iter().map(checkpoint).collect::<Result<_>>()?;
                // A journal older than the trees (its removal was lost) has nothing to add.
                if checkpoints.iter().all(|&at| at <= through) {
                    self.stored.write(
                        entries
                            .iter()
                            .map(|(tree, key, value)| (*tree, key.as_slice(), value.as_deref())),
                        through,
                    )?;
                }
            }
            Err(Error::Derived(_)) => self.stored.clear()?,
            Err(other) => return Err(other),
        }
        journal::remove(&self.journal)?;
        Ok(true)
    }

    /// The projections' sled trees, tree `i` for projection `i`.
    pub fn sled_trees(&self) -> &[sled::Tree] {
        self.stored.trees()
    }

    /// Every sled tree holding derived data: the projections' and the entity records'.
    pub fn all_sled_trees(&self) -> impl Iterator<Item = &sled::Tree> {
        self.stored.all_trees()
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(tree, key, |bytes| bytes.map(<[u8]>::to_vec))
    }

    /// Calls `read` with the bytes of a key (`None` when it has none), lent from the layer
    /// or from sled. `read` runs under the layer's read lock, so it must not read the
    /// trees again.
    pub fn read<R>(&self, tree: TreeId, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        {
            let layer = self.layer.read().expect("layer lock");
            if let Some(value) = layer.get(tree, key) {
                return Ok(read(value.as_deref()));
            }
        }
        self.stored.read(tree, key, read)
    }

    /// As [`Trees::read`] over the unflushed layers alone; when they do not hold the key,
    /// `read` is handed back uncalled.
    pub fn read_layered<R, F: FnOnce(Option<&[u8]>) -> R>(
        &self,
        tree: TreeId,
        key: &[u8],
        read: F,
    ) -> std::result::Result<R, F> {
        let layer = self.layer.read().expect("layer lock");
        match layer.get(tree, key) {
            Some(value) => Ok(read(value.as_deref())),
            None => Err(read),
        }
    }

    /// The decoded value of a key, decoded from where it lies (no copy of its bytes).
    pub fn get_value<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>> {
        self.read(tree, key, |bytes| bytes.map(decode).transpose())?
    }

    /// Up to `limit` entries with keys in `[from, …)` that start with `prefix`, in key order.
    pub fn range(&self, tree: TreeId, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let layer = self.layer.read().expect("layer lock");
        let mut layered = layer
            .entries(tree, from, None)
            .take_while(|(key, _)| key.starts_with(prefix))
            .peekable();
        let mut stored = self.stored.range(tree, prefix, from).peekable();
        let mut found = Vec::new();
        while found.len() < limit {
            let next_stored = match stored.peek() {
                Some(Ok((key, _))) => Some(key.clone()),
                Some(Err(_)) => return Err(stored.next().expect("peeked").expect_err("an error")),
                None => None,
            };
            let next_layered = layered.peek().map(|(key, _)| (*key).clone());
            let (key, value) = match (next_stored, next_layered) {
                (None, None) => break,
                (Some(s), Some(l)) if l <= s => {
                    if l == s {
                        stored.next();
                    }
                    let (key, value) = layered.next().expect("peeked");
                    (key.clone(), value.clone())
                }
                (Some(_), _) => {
                    let (key, value) = stored.next().expect("peeked")?;
                    (key, Some(value))
                }
                (None, Some(_)) => {
                    let (key, value) = layered.next().expect("peeked");
                    (key.clone(), value.clone())
                }
            };
            if let Some(value) = value {
                found.push((key, value));
            }
        }
        Ok(found)
    }

    /// The entry with the greatest key `<= key` among keys starting with `prefix`.
    pub fn floor(&self, tree: TreeId, prefix: &[u8], key: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let layer = self.layer.read().expect("layer lock");
        // Skip what a layer deletes; what it replaces is compared below.
        let stored = self
            .stored
            .floor(tree, prefix, key, |found| matches!(layer.get(tree, found), Some(None)))?;
        let layered = layer
            .entries(tree, prefix, Some(key))
            .find_map(|(key, value)| value.as_ref().map(|value| (key.clone(), value.clone())));
        Ok(match (stored, layered) {
            (Some(s), Some(l)) => Some(if l.0 >= s.0 { l } else { s }),
            (s, l) => s.or(l),
        })
    }

    pub fn layer_is_empty(&self) -> bool {
        self.layer.read().expect("layer lock").is_empty()
    }

    /// Freezes the recent changes, which bring the trees up to seq `through`, for writing
    /// to sled; false when there are none. What was frozen before must have been written
    /// (`write_frozen`) first.
    pub fn freeze(&self, through: u64) -> bool {
        let mut layer = self.layer.write().expect("layer lock");
        assert!(layer.flushing.is_empty(), "one frozen layer at a time");
        if layer.recent.is_empty() {
            return false;
        }
        let recent = std::mem::take(&mut layer.recent);
        layer.flushing = Arc::new(recent);
        layer.flushing_through = through;
        true
    }

    /// Writes the frozen changes to sled with the checkpoint they bring the trees to, then
    /// lets them go. On failure they stay layered, so reads stay right.
    pub fn write_frozen(&self) -> Result<()> {
        let (frozen, checkpoint) = {
            let layer = self.layer.read().expect("layer lock");
            (Arc::clone(&layer.flushing), layer.flushing_through)
        };
        if frozen.is_empty() {
            return Ok(());
        }
        let entries = || {
            frozen
                .iter()
                .map(|(tree, key, value)| (tree, key.as_slice(), value.as_deref()))
        };
        self.write_journalled(frozen.len(), entries, checkpoint)?;
        self.layer.write().expect("layer lock").flushing = Arc::default();
        Ok(())
    }

    /// Writes changes to sled key by key (readers meanwhile see them in a layer, or in a
    /// replay's overlay), journalled first: a crash part way leaves a journal that the
    /// next open finishes, so no tree — nor an entity record, which three trees share — is
    /// left ahead of the checkpoint it was written with.
    fn write_journalled<'a, I: Iterator<Item = journal::EntryRef<'a>>>(
        &self,
        count: usize,
        entries: impl Fn() -> I,
        checkpoint: u64,
    ) -> Result<()> {
        journal::write(&self.journal, checkpoint, count, entries())?;
        self.stored.write(entries(), checkpoint)?;
        journal::remove(&self.journal)
    }

    /// Writes every layered change to sled now, on this thread.
    #[cfg(test)]
    pub fn flush_layer(&self, checkpoint: u64) -> Result<()> {
        self.write_frozen()?;
        if self.freeze(checkpoint) {
            self.write_frozen()?;
        }
        Ok(())
    }

    /// Adds one group's changes to the recent layer, where readers see them.
    pub(super) fn add_to_layer(&self, changes: impl Iterator<Item = (Key, Option<Vec<u8>>)>) {
        let mut layer = self.layer.write().expect("layer lock");
        for (key, value) in changes {
            layer.recent.insert(key, value);
        }
    }

    /// Writes replayed changes straight to sled with `checkpoint`, journalled as a flush is
    /// (replays only: the layer must be empty, or older layered values would shadow these).
    pub(super) fn write_replayed(&self, changes: &[(Key, Option<Vec<u8>>)], checkpoint: u64) -> Result<()> {
        assert!(
            self.layer_is_empty(),
            "replays write to sled only when nothing is layered"
        );
        let entries = || {
            changes
                .iter()
                .map(|((tree, key), value)| (*tree, key.as_slice(), value.as_deref()))
        };
        self.write_journalled(changes.len(), entries, checkpoint)
    }
}

/// The seq a tree has applied up to.
pub(crate) fn checkpoint(tree: &sled::Tree) -> Result<u64> {
    Ok(tree.get(CHECKPOINT_KEY)?.map(|bytes| be_u64(&bytes)).unwrap_or(0))
}

pub(crate) fn be_u64(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[8 - len..].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(buffer)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    lineage_schema::envelope::encode_exact(value).expect("derived values always encode")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::serde::decode_from_slice(bytes, BINCODE)
        .map(|(value, _)| value)
        .map_err(|error| Error::Derived(format!("undecodable derived value: {error}")))
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
