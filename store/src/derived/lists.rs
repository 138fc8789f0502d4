//! Lists that only grow, kept in chunks under one prefix: the open chunk under the
//! prefix itself, each full one under the prefix followed by its first item.
//!
//! A hub — an experiment every run executes in, an account every model belongs to — gains
//! an item with nearly every chain. As a key per item, each is a new sled key (a leaf
//! insert, and a split every few); as a chunk, the items a layer gathers reach sled as one
//! rewritten value, and a new key only once a chunk fills. Items are varint-length
//! prefixed, so any bytes can be one; the list keeps whatever order items came in, and
//! whoever pushes makes sure an item is not pushed twice. No list's prefix may begin
//! another list's prefix (each is an entity part, NUL-terminated, then a kind byte or a
//! fixed-width version mark), or reading one would take in the other's chunks.

use crate::derived::deltas::{push_varint, read_varint};
use crate::derived::overlay::{TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};

/// A chunk is full past this many bytes; an item longer than that has a chunk to itself.
const CHUNK_BYTES: usize = 2048;

/// Appends `item` to the list under `prefix`, moving the open chunk under its own key first
/// if the item would overfill it.
pub(crate) fn push(overlay: &mut Overlay, tree: TreeId, prefix: Vec<u8>, item: &[u8]) -> Result<()> {
    let mut encoded = Vec::with_capacity(item.len() + 2);
    push_varint(&mut encoded, item.len() as u64);
    encoded.extend_from_slice(item);
    let open_len = overlay.read_bytes(tree, &prefix, |bytes| bytes.map_or(0, <[u8]>::len))?;
    if open_len > 0 && open_len + encoded.len() > CHUNK_BYTES {
        let full = overlay
            .get(tree, &prefix)?
            .ok_or_else(|| Error::Derived("an open list chunk vanished".into()))?;
        let first = first_item(&full)?;
        let mut full_key = Vec::with_capacity(prefix.len() + first.len());
        full_key.extend_from_slice(&prefix);
        full_key.extend_from_slice(first);
        overlay.insert(tree, full_key, full);
        overlay.insert(tree, prefix, encoded);
        return Ok(());
    }
    overlay.append(tree, &prefix, &encoded)
}

/// Every item of the list under `prefix`, as readers see it: the open chunk's (its key,
/// the prefix, sorts first), then the full chunks' in the order of their first items.
/// Callers that need an order sort.
pub(crate) fn items(view: &Trees, tree: TreeId, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    for (_, chunk) in view.range(tree, prefix, prefix, usize::MAX)? {
        split(&chunk, |item| found.push(item.to_vec()))?;
    }
    Ok(found)
}

/// Calls `each` with every item of one chunk.
fn split(chunk: &[u8], mut each: impl FnMut(&[u8])) -> Result<()> {
    let mut at = 0;
    while at < chunk.len() {
        let len = read_varint(chunk, &mut at)? as usize;
        let item = chunk
            .get(at..at.saturating_add(len))
            .ok_or_else(|| Error::Derived("a kept list's item is cut short".into()))?;
        each(item);
        at += len;
    }
    Ok(())
}

fn first_item(chunk: &[u8]) -> Result<&[u8]> {
    let mut at = 0;
    let len = read_varint(chunk, &mut at)? as usize;
    chunk
        .get(at..at.saturating_add(len))
        .ok_or_else(|| Error::Derived("a kept list's item is cut short".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Whatever the items, however pushes fall into groups, whichever are rolled back
        /// and whenever layers reach sled: every item kept is listed once, in its own list
        /// only, and an open chunk outgrows a chunk's bytes only by holding one item.
        #[test]
        fn every_item_kept_is_listed_once_in_its_list(
            pushed in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..300), 0..60),
            group in 1usize..20,
            rolled_back in proptest::collection::vec(any::<bool>(), 60),
            flushed in proptest::collection::vec(any::<bool>(), 60),
        ) {
            let tree = sled::Config::new().temporary(true).open().unwrap().open_tree("t").unwrap();
            let view = Trees::new(vec![tree], tempfile::tempdir().unwrap().keep().join("journal"));
            let mut overlay = Overlay::new(view.clone());
            let mut kept = Vec::new();
            for (index, item) in pushed.iter().enumerate() {
                let savepoint = overlay.savepoint();
                push(&mut overlay, 0, b"La".to_vec(), item).unwrap();
                push(&mut overlay, 0, b"Lb".to_vec(), &[index as u8]).unwrap();
                if rolled_back[index] {
                    overlay.rollback(savepoint);
                } else {
                    kept.push(item.clone());
                }
                if index % group == group - 1 {
                    overlay.commit_to_layer();
                    if flushed[index] {
                        view.flush_layer(index as u64).unwrap();
                    }
                }
            }
            overlay.commit_to_layer();
            let mut found = items(&view, 0, b"La").unwrap();
            found.sort();
            kept.sort();
            prop_assert_eq!(found, kept.clone());
            prop_assert_eq!(items(&view, 0, b"Lb").unwrap().len(), kept.len());
            for list in [&b"La"[..], b"Lb"] {
                let open = view.get(0, list).unwrap().unwrap_or_default();
                prop_assert!(open.len() <= CHUNK_BYTES || first_item(&open).unwrap().len() + 2 >= open.len());
            }
        }
    }
}
