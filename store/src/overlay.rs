//! Pending writes over the sled trees: what a group of appends will change, readable
//! before it is committed, with savepoints so one rejected command undoes only its own.

use crate::error::{Error, Result};
use lineage_schema::envelope::BINCODE;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

/// Which derived tree a key belongs to. Each projection owns exactly one tree.
pub type TreeId = usize;

/// The key under which each tree keeps the last seq applied to it. It sorts after every
/// data key (data keys start with an ASCII letter).
pub const CHECKPOINT_KEY: &[u8] = b"\xffcheckpoint";

type Key = (TreeId, Vec<u8>);

/// Reads through to sled; writes stay pending until `commit`.
#[derive(Debug)]
pub struct Overlay {
    trees: Vec<sled::Tree>,
    pending: HashMap<Key, Option<Vec<u8>>>,
    undo: Vec<(Key, Option<Option<Vec<u8>>>)>,
}

/// A point an `Overlay` can be rolled back to.
#[derive(Clone, Copy, Debug)]
pub struct Savepoint(usize);

impl Overlay {
    pub fn new(trees: Vec<sled::Tree>) -> Self {
        Self { trees, pending: HashMap::new(), undo: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(value) = self.pending.get(&(tree, key.to_vec())) {
            return Ok(value.clone());
        }
        Ok(self.trees[tree].get(key)?.map(|value| value.to_vec()))
    }

    pub fn contains(&self, tree: TreeId, key: &[u8]) -> Result<bool> {
        Ok(self.get(tree, key)?.is_some())
    }

    fn write(&mut self, tree: TreeId, key: Vec<u8>, value: Option<Vec<u8>>) {
        let slot = (tree, key);
        let previous = self.pending.insert(slot.clone(), value);
        self.undo.push((slot, previous));
    }

    pub fn insert(&mut self, tree: TreeId, key: Vec<u8>, value: Vec<u8>) {
        self.write(tree, key, Some(value));
    }

    pub fn remove(&mut self, tree: TreeId, key: Vec<u8>) {
        self.write(tree, key, None);
    }

    pub fn get_value<T: DeserializeOwned>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>> {
        self.get(tree, key)?.map(|bytes| decode(&bytes)).transpose()
    }

    pub fn put_value<T: Serialize>(&mut self, tree: TreeId, key: Vec<u8>, value: &T) {
        self.insert(tree, key, encode(value));
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint(self.undo.len())
    }

    /// Undoes every write made since `savepoint`.
    pub fn rollback(&mut self, savepoint: Savepoint) {
        while self.undo.len() > savepoint.0 {
            let (slot, previous) = self.undo.pop().expect("undo entries above the savepoint");
            match previous {
                Some(value) => self.pending.insert(slot, value),
                None => self.pending.remove(&slot),
            };
        }
    }

    /// Writes every pending change, each tree in one atomic batch together with its
    /// checkpoint, so a tree's data and checkpoint never disagree.
    pub fn commit(&mut self, checkpoint: u64) -> Result<()> {
        let mut batches: Vec<sled::Batch> = self.trees.iter().map(|_| sled::Batch::default()).collect();
        for ((tree, key), value) in self.pending.drain() {
            match value {
                Some(value) => batches[tree].insert(key, value),
                None => batches[tree].remove(key),
            }
        }
        self.undo.clear();
        for (tree, mut batch) in self.trees.iter().zip(batches) {
            batch.insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes());
            tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// Forgets every pending change.
    pub fn discard(&mut self) {
        self.pending.clear();
        self.undo.clear();
    }
}

/// The seq a tree has applied up to.
pub fn checkpoint(tree: &sled::Tree) -> Result<u64> {
    Ok(tree.get(CHECKPOINT_KEY)?.map(|bytes| be_u64(&bytes)).unwrap_or(0))
}

pub fn be_u64(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let len = bytes.len().min(8);
    buffer[8 - len..].copy_from_slice(&bytes[bytes.len() - len..]);
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

    #[test]
    fn rollback_undoes_only_later_writes() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert("a", "sled").unwrap();
        let mut overlay = Overlay::new(vec![tree.clone()]);
        overlay.insert(0, b"b".to_vec(), b"1".to_vec());
        let savepoint = overlay.savepoint();
        overlay.insert(0, b"b".to_vec(), b"2".to_vec());
        overlay.remove(0, b"a".to_vec());
        assert_eq!(overlay.get(0, b"a").unwrap(), None);
        overlay.rollback(savepoint);
        assert_eq!(overlay.get(0, b"a").unwrap(), Some(b"sled".to_vec()));
        assert_eq!(overlay.get(0, b"b").unwrap(), Some(b"1".to_vec()));
        overlay.commit(7).unwrap();
        assert_eq!(tree.get("b").unwrap().unwrap().as_ref(), b"1");
        assert_eq!(checkpoint(&tree).unwrap(), 7);
    }
}
