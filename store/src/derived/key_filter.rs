//! A Bloom filter over the keys sled holds in the tables the writer mostly asks about keys
//! they do not hold — stream versions (is this stream new?), idempotency keys (was this
//! event sent before?) and names (is this name free in its scope?) — so such a lookup is
//! answered without searching sled. A sled lookup of a missing key costs as much as a hit.
//!
//! It may say a key is there when it is not (then sled is asked, as without it), never the
//! reverse: every key is added before it is written to sled, by each path that writes
//! (a flushed layer, a journal finished on open, a replay), and the keys sled held when
//! the filter was armed were added then. Its size is fixed: with more keys it answers
//! "maybe" more often, never wrongly, and its memory does not grow with the log.

use crate::derived::overlay::TreeId;
use crate::error::Result;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bits in the filter: 1 MiB. At a million keys about one lookup in 300 of a missing key
/// still goes to sled; at ten million, most do.
const BITS: usize = 1 << 23;
/// Bits set per key.
const PROBES: u64 = 4;
/// Past this many keys in sled on open the filter would answer "maybe" for about one
/// missing key in six and more, so arming stops scanning and leaves it open: an open's
/// scan stays bounded however large the store.
const ARM_LIMIT: usize = 2_000_000;

/// The tree id the filter knows entity records by (see [`crate::derived::records`]).
pub(crate) const RECORDS: TreeId = TreeId::MAX;

/// The tables filtered: (tree, table letter). Entity records hold the stream versions
/// (and the entities and their nodes) when the trees keep records; `v` is filtered where
/// they do not.
const FILTERED: [(TreeId, u8); 4] = [
    (0, b'v'),
    (0, b'i'),
    (1, b'n'),
    (RECORDS, crate::derived::records::TABLE),
];

#[derive(Debug)]
pub(crate) struct KeyFilter {
    words: Vec<AtomicU64>,
    /// Until armed with the keys sled already holds, every key may be there.
    armed: AtomicBool,
}

impl Default for KeyFilter {
    fn default() -> Self {
        Self {
            words: (0..BITS / 64).map(|_| AtomicU64::new(0)).collect(),
            armed: AtomicBool::new(false),
        }
    }
}

fn filtered(tree: TreeId, key: &[u8]) -> bool {
    key.first().is_some_and(|table| FILTERED.contains(&(tree, *table)))
}

/// The bit positions of a key: double hashing from one 64-bit hash.
fn positions(tree: TreeId, key: &[u8]) -> impl Iterator<Item = usize> {
    let hash = foldhash::quality::FixedState::with_seed(0x006c_696e_6561_6765).hash_one((tree, key));
    let (first, step) = (hash & 0xffff_ffff, (hash >> 32) | 1);
    (0..PROBES).map(move |probe| (first.wrapping_add(probe.wrapping_mul(step)) % BITS as u64) as usize)
}

impl KeyFilter {
    /// Notes a key about to be written to sled.
    pub(crate) fn add(&self, tree: TreeId, key: &[u8]) {
        if !filtered(tree, key) {
            return;
        }
        for bit in positions(tree, key) {
            self.words[bit / 64].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// False only when sled cannot hold `key`.
    pub(crate) fn may_hold(&self, tree: TreeId, key: &[u8]) -> bool {
        if !filtered(tree, key) || !self.armed.load(Ordering::Acquire) {
            return true;
        }
        positions(tree, key).all(|bit| self.words[bit / 64].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0)
    }

    /// Adds every key sled holds in the filtered tables and starts answering, unless they
    /// are more than [`ARM_LIMIT`] (then every key may be there, as before arming).
    /// Called on open, before anything else reads or writes the trees.
    pub(crate) fn arm(&self, trees: &[sled::Tree], records: Option<&sled::Tree>) -> Result<()> {
        self.arm_up_to(trees, records, ARM_LIMIT)
    }

    fn arm_up_to(&self, trees: &[sled::Tree], records: Option<&sled::Tree>, limit: usize) -> Result<()> {
        let mut added = 0;
        for (tree, table) in FILTERED {
            let in_tree = match tree {
                RECORDS => records,
                tree => trees.get(tree),
            };
            let Some(sled_tree) = in_tree else {
                continue;
            };
            for entry in sled_tree.scan_prefix([table]) {
                let (key, _) = entry?;
                self.add(tree, &key);
                added += 1;
                if added > limit {
                    return Ok(());
                }
            }
        }
        self.armed.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Every key added, or in sled when armed, may be held; keys of other tables are
        /// never filtered; and most keys never added are known absent.
        #[test]
        fn no_key_held_is_ever_called_absent(
            stored in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..24), 0..200),
            added in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..24), 0..200),
        ) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let trees = vec![db.open_tree("index").unwrap(), db.open_tree("state").unwrap()];
            let records = db.open_tree("records").unwrap();
            let with_table = |table: u8, rest: &[u8]| [&[table][..], rest].concat();
            for rest in &stored {
                trees[0].insert(with_table(b'v', rest), b"1").unwrap();
                trees[1].insert(with_table(b'n', rest), b"1").unwrap();
                records.insert(with_table(b'r', rest), b"1").unwrap();
            }
            let filter = KeyFilter::default();
            prop_assert!(filter.may_hold(0, &with_table(b'v', b"unarmed")));
            filter.arm(&trees, Some(&records)).unwrap();
            for rest in &added {
                filter.add(0, &with_table(b'i', rest));
            }
            for rest in &stored {
                prop_assert!(filter.may_hold(0, &with_table(b'v', rest)));
                prop_assert!(filter.may_hold(1, &with_table(b'n', rest)));
                prop_assert!(filter.may_hold(RECORDS, &with_table(b'r', rest)));
            }
            for rest in &added {
                prop_assert!(filter.may_hold(0, &with_table(b'i', rest)));
            }
            // Not filtered: state entities, and a table letter of another tree.
            prop_assert!(filter.may_hold(1, b"e-anything"));
            prop_assert!(filter.may_hold(1, b"v-anything"));
            let strangers = (0..1000u32)
                .map(|index| with_table(b'v', format!("stranger-{index}").as_bytes()))
                .filter(|key| filter.may_hold(0, key))
                .count();
            prop_assert!(strangers < 10, "{strangers} of 1000 keys never added may be held");
            // More keys than it arms with: left open, every key may be there.
            let crowded = KeyFilter::default();
            crowded.arm_up_to(&trees, Some(&records), stored.len().saturating_sub(1)).unwrap();
            prop_assert_eq!(crowded.may_hold(0, &with_table(b'v', b"stranger")), !stored.is_empty());
        }
    }
}
