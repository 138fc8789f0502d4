//! Hash maps of one group's derived keys, one per tree, looked up by a borrowed key.
//!
//! The writer looks keys up hundreds of times per group; a map keyed by `(tree, key)`
//! needed an owned copy of the key for every lookup, one map per tree needs none.

use super::overlay::{Key, TreeId};
use std::collections::HashMap;

/// foldhash is seeded per map, so keys chosen by callers still cannot be made to collide
/// (std's SipHash was a twentieth of a rebuild).
type Map<V> = HashMap<Vec<u8>, V, foldhash::fast::RandomState>;

/// A map per tree, grown to the highest tree written.
#[derive(Debug)]
pub(crate) struct PerTree<V>(Vec<Map<V>>);

impl<V> Default for PerTree<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> PerTree<V> {
    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Option<&V> {
        self.0.get(tree)?.get(key)
    }

    pub(crate) fn get_mut(&mut self, tree: TreeId, key: &[u8]) -> Option<&mut V> {
        self.0.get_mut(tree)?.get_mut(key)
    }

    pub(crate) fn contains(&self, tree: TreeId, key: &[u8]) -> bool {
        self.0.get(tree).is_some_and(|map| map.contains_key(key))
    }

    pub(crate) fn insert(&mut self, (tree, key): Key, value: V) -> Option<V> {
        if self.0.len() <= tree {
            self.0.resize_with(tree + 1, Map::default);
        }
        self.0[tree].insert(key, value)
    }

    pub(crate) fn remove(&mut self, tree: TreeId, key: &[u8]) -> Option<V> {
        self.0.get_mut(tree)?.remove(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(Map::len).sum()
    }

    /// Empties every map, keeping their capacity for the next group.
    pub(crate) fn clear(&mut self) {
        self.0.iter_mut().for_each(Map::clear);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (TreeId, &Vec<u8>, &V)> {
        (self.0.iter().enumerate()).flat_map(|(tree, map)| map.iter().map(move |(key, value)| (tree, key, value)))
    }

    /// Takes every entry out, keeping the maps' capacity.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (Key, V)> + '_ {
        (self.0.iter_mut().enumerate())
            .flat_map(|(tree, map)| map.drain().map(move |(key, value)| ((tree, key), value)))
    }
}
