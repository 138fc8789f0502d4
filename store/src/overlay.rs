//! The derived trees as the writer and readers see them: sled, under a layer of
//! acknowledged-but-unflushed changes, under one group's pending changes.
//!
//! sled is written in large, infrequent batches (every few thousand events or once a
//! second), not once per append: every event is already durable in the log, so derived
//! data may lag on disk and is caught up from its checkpoint on open. Batching folds the
//! many updates of a hot key (a run logging metrics) into one sled write.

use crate::error::{Error, Result};
use lineage_schema::envelope::BINCODE;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

/// Which derived tree a key belongs to. Each projection owns exactly one tree.
pub type TreeId = usize;

/// The key under which each tree keeps the last seq applied to it. It sorts after every
/// data key (data keys start with an ASCII letter).
pub const CHECKPOINT_KEY: &[u8] = b"\xffcheckpoint";

type Key = (TreeId, Vec<u8>);
type Changes = BTreeMap<Key, Option<Vec<u8>>>;
/// A key and the pending value it had before a change (`None`: it had none).
type UndoEntry = (Key, Option<Option<Vec<u8>>>);

/// A consistent read view: the unflushed layer over sled. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Trees {
    trees: Vec<sled::Tree>,
    layer: Arc<RwLock<Changes>>,
}

impl Trees {
    pub fn new(trees: Vec<sled::Tree>) -> Self {
        Self {
            trees,
            layer: Arc::new(RwLock::new(BTreeMap::new())),
        }
    }

    pub fn sled_trees(&self) -> &[sled::Tree] {
        &self.trees
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.layer.read().expect("layer lock").get(&(tree, key.to_vec())) {
            return Ok(value.clone());
        }
        Ok(self.trees[tree].get(key)?.map(|value| value.to_vec()))
    }

    pub fn get_value<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>> {
        self.get(tree, key)?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Up to `limit` entries with keys in `[from, …)` that start with `prefix`, in key order.
    pub fn range(&self, tree: TreeId, prefix: &[u8], from: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let layer = self.layer.read().expect("layer lock");
        let mut layered = layer
            .range((tree, from.to_vec())..)
            .take_while(|((t, key), _)| *t == tree && key.starts_with(prefix))
            .peekable();
        let mut stored = self.trees[tree]
            .range(from..)
            .take_while(|item| item.as_ref().map_or(true, |(key, _)| key.starts_with(prefix)))
            .peekable();
        let mut found = Vec::new();
        while found.len() < limit {
            let next_stored = match stored.peek() {
                Some(Ok((key, _))) => Some(key.to_vec()),
                Some(Err(_)) => return Err(stored.next().expect("peeked").expect_err("an error").into()),
                None => None,
            };
            let next_layered = layered.peek().map(|((_, key), _)| key.clone());
            let (key, value) = match (next_stored, next_layered) {
                (None, None) => break,
                (Some(s), Some(l)) if l <= s => {
                    if l == s {
                        stored.next();
                    }
                    let ((_, key), value) = layered.next().expect("peeked");
                    (key.clone(), value.clone())
                }
                (Some(_), _) => {
                    let (key, value) = stored.next().expect("peeked")?;
                    (key.to_vec(), Some(value.to_vec()))
                }
                (None, Some(_)) => {
                    let ((_, key), value) = layered.next().expect("peeked");
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
        let mut stored = None;
        for item in self.trees[tree].range(prefix..=key).rev() {
            let (found, value) = item?;
            // Skip what the layer deletes; what it replaces is compared below.
            if !matches!(layer.get(&(tree, found.to_vec())), Some(None)) {
                stored = Some((found.to_vec(), value.to_vec()));
                break;
            }
        }
        let layered = layer
            .range((tree, prefix.to_vec())..=(tree, key.to_vec()))
            .rev()
            .find_map(|((_, key), value)| value.as_ref().map(|value| (key.clone(), value.clone())));
        Ok(match (stored, layered) {
            (Some(s), Some(l)) => Some(if l.0 >= s.0 { l } else { s }),
            (s, l) => s.or(l),
        })
    }

    pub fn layer_is_empty(&self) -> bool {
        self.layer.read().expect("layer lock").is_empty()
    }

    /// Writes the layer to sled, each tree in one atomic batch with its checkpoint, then
    /// empties it. Only the writer thread changes the layer, so nothing slips in between.
    pub fn flush_layer(&self, checkpoint: u64) -> Result<()> {
        let batches = {
            let layer = self.layer.read().expect("layer lock");
            batches(
                self.trees.len(),
                layer
                    .iter()
                    .map(|((tree, key), value)| (*tree, key.clone(), value.clone())),
            )
        };
        self.apply(batches, checkpoint)?;
        self.layer.write().expect("layer lock").clear();
        Ok(())
    }

    fn apply(&self, batches: Vec<sled::Batch>, checkpoint: u64) -> Result<()> {
        for (tree, mut batch) in self.trees.iter().zip(batches) {
            batch.insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes());
            tree.apply_batch(batch)?;
        }
        Ok(())
    }
}

fn batches(trees: usize, changes: impl Iterator<Item = (TreeId, Vec<u8>, Option<Vec<u8>>)>) -> Vec<sled::Batch> {
    let mut batches: Vec<sled::Batch> = (0..trees).map(|_| sled::Batch::default()).collect();
    for (tree, key, value) in changes {
        match value {
            Some(value) => batches[tree].insert(key, value),
            None => batches[tree].remove(key),
        }
    }
    batches
}

/// One group's pending changes over a `Trees` view, with savepoints so one rejected
/// command undoes only its own changes.
#[derive(Debug)]
pub struct Overlay {
    view: Trees,
    pending: HashMap<Key, Option<Vec<u8>>>,
    /// Previous pending values, for rollback; `None` when savepoints are not needed.
    undo: Option<Vec<UndoEntry>>,
    /// Decoded values by key, so hot entities (a run logging metrics, its experiment,
    /// project and workspace) are not decoded again for every command.
    decoded: RefCell<HashMap<Key, Box<dyn Any + Send>>>,
}

/// Past this many decoded values the cache starts over, bounding its memory.
const DECODED_CAPACITY: usize = 65_536;

/// A point an `Overlay` can be rolled back to.
#[derive(Clone, Copy, Debug)]
pub struct Savepoint(usize);

impl Overlay {
    /// An overlay whose changes can be rolled back to a savepoint.
    pub fn new(view: Trees) -> Self {
        Self {
            view,
            pending: HashMap::new(),
            undo: Some(Vec::new()),
            decoded: RefCell::default(),
        }
    }

    /// An overlay for replays, which never roll back.
    pub fn for_replay(view: Trees) -> Self {
        Self {
            view,
            pending: HashMap::new(),
            undo: None,
            decoded: RefCell::default(),
        }
    }

    pub fn view(&self) -> &Trees {
        &self.view
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.pending.get(&(tree, key.to_vec())) {
            return Ok(value.clone());
        }
        self.view.get(tree, key)
    }

    pub fn contains(&self, tree: TreeId, key: &[u8]) -> Result<bool> {
        Ok(self.get(tree, key)?.is_some())
    }

    fn write(&mut self, tree: TreeId, key: Vec<u8>, value: Option<Vec<u8>>) {
        let slot = (tree, key);
        self.decoded.get_mut().remove(&slot);
        match &mut self.undo {
            Some(undo) => {
                let previous = self.pending.insert(slot.clone(), value);
                undo.push((slot, previous));
            }
            None => {
                self.pending.insert(slot, value);
            }
        }
    }

    pub fn insert(&mut self, tree: TreeId, key: Vec<u8>, value: Vec<u8>) {
        self.write(tree, key, Some(value));
    }

    pub fn remove(&mut self, tree: TreeId, key: Vec<u8>) {
        self.write(tree, key, None);
    }

    pub fn get_value<T: DeserializeOwned + Clone + Send + 'static>(
        &self,
        tree: TreeId,
        key: &[u8],
    ) -> Result<Option<T>> {
        let slot = (tree, key.to_vec());
        if let Some(value) = self
            .decoded
            .borrow()
            .get(&slot)
            .and_then(|value| value.downcast_ref::<T>())
        {
            return Ok(Some(value.clone()));
        }
        let value: Option<T> = self.get(tree, key)?.map(|bytes| decode(&bytes)).transpose()?;
        if let Some(value) = &value {
            self.remember(slot, value.clone());
        }
        Ok(value)
    }

    pub fn put_value<T: Serialize + Clone + Send + 'static>(&mut self, tree: TreeId, key: Vec<u8>, value: &T) {
        self.insert(tree, key.clone(), encode(value));
        self.remember((tree, key), value.clone());
    }

    fn remember<T: Send + 'static>(&self, slot: Key, value: T) {
        let mut decoded = self.decoded.borrow_mut();
        if decoded.len() >= DECODED_CAPACITY {
            decoded.clear();
        }
        decoded.insert(slot, Box::new(value));
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint(self.undo.as_ref().map_or(0, Vec::len))
    }

    /// Undoes every change made since `savepoint`.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        // Rollbacks are rare (a refused command); forgetting every decoded value is simplest.
        self.decoded.get_mut().clear();
        let undo = self.undo.as_mut().expect("rollback needs an overlay made with `new`");
        while undo.len() > savepoint.0 {
            let (slot, previous) = undo.pop().expect("undo entries above the savepoint");
            match previous {
                Some(value) => self.pending.insert(slot, value),
                None => self.pending.remove(&slot),
            };
        }
    }

    /// Moves the pending changes into the view's unflushed layer, where readers see them.
    pub fn commit_to_layer(&mut self) {
        let mut layer = self.view.layer.write().expect("layer lock");
        for (key, value) in self.pending.drain() {
            layer.insert(key, value);
        }
        drop(layer);
        self.clear_undo();
    }

    /// Writes the pending changes straight to sled with `checkpoint` (replays only: the
    /// layer must be empty, or older layered values would shadow these).
    pub fn commit_to_sled(&mut self, checkpoint: u64) -> Result<()> {
        assert!(
            self.view.layer_is_empty(),
            "replays write to sled only when nothing is layered"
        );
        let batches = batches(
            self.view.trees.len(),
            self.pending.drain().map(|((tree, key), value)| (tree, key, value)),
        );
        self.clear_undo();
        self.view.apply(batches, checkpoint)
    }

    /// Forgets every pending change.
    pub fn discard(&mut self) {
        self.decoded.get_mut().clear();
        self.pending.clear();
        self.clear_undo();
    }

    fn clear_undo(&mut self) {
        if let Some(undo) = &mut self.undo {
            undo.clear();
        }
    }
}

/// The seq a tree has applied up to.
pub fn checkpoint(tree: &sled::Tree) -> Result<u64> {
    Ok(tree.get(CHECKPOINT_KEY)?.map(|bytes| be_u64(&bytes)).unwrap_or(0))
}

pub fn be_u64(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[8 - len..].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(buffer)
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, BINCODE).expect("derived values always encode")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::serde::decode_from_slice(bytes, BINCODE)
        .map(|(value, _)| value)
        .map_err(|error| Error::Derived(format!("undecodable derived value: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        sled::Config::new()
            .temporary(true)
            .open()
            .unwrap()
            .open_tree("t")
            .unwrap()
    }

    #[test]
    fn rollback_undoes_only_later_changes() {
        let tree = tree();
        tree.insert("a", "sled").unwrap();
        let mut overlay = Overlay::new(Trees::new(vec![tree.clone()]));
        overlay.insert(0, b"b".to_vec(), b"1".to_vec());
        let savepoint = overlay.savepoint();
        overlay.insert(0, b"b".to_vec(), b"2".to_vec());
        overlay.remove(0, b"a".to_vec());
        assert_eq!(overlay.get(0, b"a").unwrap(), None);
        overlay.rollback(savepoint);
        assert_eq!(overlay.get(0, b"a").unwrap(), Some(b"sled".to_vec()));
        assert_eq!(overlay.get(0, b"b").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn layered_changes_are_read_before_flush_and_stored_after() {
        let tree = tree();
        tree.insert("k1", "old").unwrap();
        tree.insert("k3", "gone soon").unwrap();
        let view = Trees::new(vec![tree.clone()]);
        let mut overlay = Overlay::new(view.clone());
        overlay.insert(0, b"k1".to_vec(), b"new".to_vec());
        overlay.insert(0, b"k2".to_vec(), b"added".to_vec());
        overlay.remove(0, b"k3".to_vec());
        overlay.commit_to_layer();
        let keys = |found: Vec<(Vec<u8>, Vec<u8>)>| {
            found
                .into_iter()
                .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
                .collect::<Vec<_>>()
        };
        let merged = keys(view.range(0, b"k", b"k", 10).unwrap());
        assert_eq!(merged, [("k1".into(), "new".into()), ("k2".into(), "added".into())]);
        assert_eq!(tree.get("k1").unwrap().unwrap().as_ref(), b"old");
        assert_eq!(view.floor(0, b"k", b"k9").unwrap().unwrap().0, b"k2");
        view.flush_layer(9).unwrap();
        assert!(view.layer_is_empty());
        assert_eq!(keys(view.range(0, b"k", b"k", 10).unwrap()), merged);
        assert_eq!(checkpoint(&tree).unwrap(), 9);
    }
}
