//! Entity records: what three projections keep about one entity — its stream version and
//! open history (index `v`), its state (state `e`), its own lineage node (lineage `n`)
//! and, for a model, manifest or image, its first version's node — stored in sled under
//! one key, so a new entity costs sled one insert, not three or four.
//!
//! Only the storage changes: projections, the overlay, layers and the journal still see
//! the keys apart (their *logical* keys); [`crate::derived::overlay::Trees`] maps them
//! onto a record where it reads from and writes to sled. sled splits a leaf every sixteen
//! keys and each insert walks and rewrites a page, so its cost is per key, not per byte.
//! Later versions' nodes keep keys of their own, so no record grows with its versions.
//!
//! A record's key is `r` and the entity's part (`keys::entity_part`); a logical key is its
//! table letter, the same part and the slot's suffix (an entity's node 0, its first
//! version's node 1 and version 1, as the lineage projection writes them). The record
//! holds each present slot in slot order: the slot's number, its length (LEB128), its
//! bytes.

use crate::derived::overlay::TreeId;
use crate::error::{Error, Result};
use lineage_schema::EntityKind;

/// The letter record keys start with.
pub(crate) const TABLE: u8 = b'r';

/// The slots of a record: (tree, table letter), in slot order.
pub(crate) const SLOTS: [(TreeId, u8); 4] = [(0, b'v'), (1, b'e'), (2, b'n'), (2, b'n')];

/// How many slots a record has.
pub(crate) const SLOT_COUNT: usize = SLOTS.len();

/// The lineage slot of an entity's own node, whose logical key ends with 0.
const NODE_SLOT: usize = 2;

/// The lineage slot of the node of an entity's first version (key: 1, then version 1).
const FIRST_VERSION_SLOT: usize = 3;

/// A slot's change in a write: `None` leaves it as it is, `Some(None)` removes it.
pub(crate) type SlotChange<'a> = Option<Option<&'a [u8]>>;

/// What follows the entity part in a slot's logical key.
fn suffix(slot: usize) -> &'static [u8] {
    match slot {
        NODE_SLOT => &[0],
        FIRST_VERSION_SLOT => &[1, 0, 0, 0, 1],
        _ => &[],
    }
}

/// The length of the entity part `bytes` begins with: its kind code, the id and the NUL
/// that ends it.
fn entity_part_len(bytes: &[u8]) -> Option<usize> {
    Some(bytes.get(1..)?.iter().position(|byte| *byte == 0)? + 2)
}

/// Where a logical key is stored: its slot and its record's key, when it is kept in a
/// record.
pub(crate) fn locate(tree: TreeId, key: &[u8]) -> Option<(usize, Vec<u8>)> {
    locate_part(tree, key).map(|(slot, part)| (slot, record_key(part)))
}

/// As [`locate`], with the entity part of `key` its record's key is made from, lent: a
/// flush groups thousands of slots by record and needs the key once a record.
pub(crate) fn locate_part(tree: TreeId, key: &[u8]) -> Option<(usize, &[u8])> {
    let (&letter, rest) = key.split_first()?;
    let mut slots = slots_of_table(tree, letter).peekable();
    slots.peek()?;
    let part = entity_part_len(rest)?;
    let slot = slots.find(|&slot| &rest[part..] == suffix(slot))?;
    Some((slot, &rest[..part]))
}

/// The key of the record an entity part (`keys::entity_part`) is kept under.
pub(crate) fn record_key(entity_part: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(entity_part.len() + 1);
    key.push(TABLE);
    key.extend_from_slice(entity_part);
    key
}

/// The logical key of `slot` in the record under `record_key`.
pub(crate) fn logical_key(slot: usize, record_key: &[u8]) -> Vec<u8> {
    let suffix = suffix(slot);
    let mut key = Vec::with_capacity(record_key.len() + suffix.len());
    key.push(SLOTS[slot].1);
    key.extend_from_slice(&record_key[1..]);
    key.extend_from_slice(suffix);
    key
}

/// The slots kept in `tree`'s table starting with `letter`, in slot order (which is
/// their logical keys' order within a record).
pub(crate) fn slots_of_table(tree: TreeId, letter: u8) -> impl Iterator<Item = usize> {
    (0..SLOT_COUNT).filter(move |&slot| SLOTS[slot] == (tree, letter))
}

/// The slots kept for `tree`, in slot order.
pub(crate) fn slots_of_tree(tree: TreeId) -> impl Iterator<Item = usize> {
    (0..SLOT_COUNT).filter(move |&slot| SLOTS[slot].0 == tree)
}

/// Whether `changes` set every slot the record's entity can have: then what sled holds of
/// it need not be read. Only models, manifests and images have versions.
pub(crate) fn sets_every_slot(record_key: &[u8], changes: &[SlotChange; SLOT_COUNT]) -> bool {
    let versioned = [EntityKind::Model, EntityKind::Manifest, EntityKind::Image]
        .iter()
        .any(|kind| record_key.get(1) == Some(&kind.code()));
    changes
        .iter()
        .enumerate()
        .all(|(slot, change)| change.is_some() || (slot == FIRST_VERSION_SLOT && !versioned))
}

/// Where record keys from which logical keys `>= from` (in the slot's table) are found
/// begin: no record before it maps to one of them.
pub(crate) fn first_record_key(slot: usize, from: &[u8]) -> Vec<u8> {
    match from.split_first() {
        Some((&letter, rest)) if letter == SLOTS[slot].1 => {
            // A node's key is its entity's part and a suffix: a record sorts as its part.
            let part = entity_part_len(rest).map_or(rest, |len| &rest[..len]);
            record_key(part)
        }
        Some((&letter, _)) if letter > SLOTS[slot].1 => vec![TABLE + 1],
        _ => vec![TABLE],
    }
}

fn damaged() -> Error {
    Error::Derived("an entity record is cut short or out of form".into())
}

/// Each present slot of a record and its bytes, in slot order.
pub(crate) fn slots(record: &[u8]) -> impl Iterator<Item = Result<(usize, &[u8])>> {
    let mut rest = record;
    std::iter::from_fn(move || {
        let (&slot, after) = rest.split_first()?;
        let parsed = read_len(after).and_then(|(len, after)| {
            let bytes = after.get(..len)?;
            rest = &after[len..];
            (usize::from(slot) < SLOT_COUNT).then_some((usize::from(slot), bytes))
        });
        if parsed.is_none() {
            rest = &[];
        }
        Some(parsed.ok_or_else(damaged))
    })
}

/// The bytes of `slot` in a record, if it holds it.
pub(crate) fn slot(record: &[u8], wanted: usize) -> Result<Option<&[u8]>> {
    for found in slots(record) {
        let (slot, bytes) = found?;
        if slot == wanted {
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

/// `record` (`None`: none yet) with `changes` made; `None` when no slot is left.
pub(crate) fn merged(record: Option<&[u8]>, changes: &[SlotChange; SLOT_COUNT]) -> Result<Option<Vec<u8>>> {
    let mut kept: [Option<&[u8]>; SLOT_COUNT] = [None; SLOT_COUNT];
    if let Some(record) = record {
        for found in slots(record) {
            let (slot, bytes) = found?;
            kept[slot] = Some(bytes);
        }
    }
    for (slot, change) in changes.iter().enumerate() {
        if let Some(change) = change {
            kept[slot] = *change;
        }
    }
    if kept.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(kept.iter().flatten().map(|bytes| bytes.len() + 4).sum());
    for (slot, bytes) in kept.iter().enumerate() {
        if let Some(bytes) = bytes {
            out.push(slot as u8);
            write_len(&mut out, bytes.len());
            out.extend_from_slice(bytes);
        }
    }
    Ok(Some(out))
}

fn write_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

fn read_len(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut len = 0usize;
    for (index, &byte) in bytes.iter().enumerate().take(5) {
        len |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((len, &bytes[index + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::keys::{key_of, Part};
    use lineage_schema::{EntityKind, EntityRef};
    use proptest::prelude::*;

    /// A slot's logical key, built as the projections build it.
    fn logical(slot: usize, entity: &EntityRef) -> Vec<u8> {
        let (_, letter) = SLOTS[slot];
        match slot {
            NODE_SLOT => key_of(Some(letter), &[Part::Entity(entity), Part::Bytes(&[0])]),
            FIRST_VERSION_SLOT => version_node(entity, 1),
            _ => key_of(Some(letter), &[Part::Entity(entity)]),
        }
    }

    fn version_node(entity: &EntityRef, version: u32) -> Vec<u8> {
        key_of(
            Some(b'n'),
            &[
                Part::Entity(entity),
                Part::Bytes(&[1]),
                Part::Bytes(&version.to_be_bytes()),
            ],
        )
    }

    #[test]
    fn a_record_is_written_without_reading_it_only_when_every_slot_its_kind_has_changes() {
        let record_of = |kind| locate(1, &logical(1, &EntityRef::new(kind, "x-1"))).unwrap().1;
        let three: [SlotChange; SLOT_COUNT] = [Some(None), Some(Some(b"e")), Some(Some(b"n")), None];
        let four: [SlotChange; SLOT_COUNT] = [Some(None), Some(Some(b"e")), Some(Some(b"n")), Some(Some(b"1"))];
        assert!(
            sets_every_slot(&record_of(EntityKind::Run), &three),
            "a run has no versions"
        );
        for kind in [EntityKind::Model, EntityKind::Manifest, EntityKind::Image] {
            assert!(
                !sets_every_slot(&record_of(kind), &three),
                "{kind:?}: its first version's node may be held"
            );
            assert!(sets_every_slot(&record_of(kind), &four));
        }
        assert!(!sets_every_slot(
            &record_of(EntityKind::Run),
            &[None, Some(None), Some(None), None]
        ));
    }

    proptest! {
        /// Every slot's logical key is found in its record and maps back to itself; keys
        /// of other tables, trees, and later versions' nodes stay where they are.
        #[test]
        fn logical_keys_map_onto_records_and_back(
            kind in 0..EntityKind::ALL.len(),
            id in "[a-z0-9-]{0,20}",
            version in 2..=u32::MAX,
        ) {
            let entity = EntityRef::new(EntityKind::ALL[kind], id);
            let mut record_keys = Vec::new();
            for (slot, (tree, _)) in SLOTS.iter().enumerate() {
                let key = logical(slot, &entity);
                let (found, record) = locate(*tree, &key).expect("a slot's key is kept in a record");
                prop_assert_eq!(found, slot);
                prop_assert_eq!(logical_key(slot, &record), key.clone());
                prop_assert!(first_record_key(slot, &key) <= record);
                record_keys.push(record);
            }
            prop_assert!(record_keys.windows(2).all(|pair| pair[0] == pair[1]));
            prop_assert_eq!(locate(2, &version_node(&entity, version)), None);
            prop_assert_eq!(locate(2, &version_node(&entity, 0)), None);
            // Within a record, slots are in their logical keys' order.
            let lineage: Vec<usize> = slots_of_tree(2).collect();
            prop_assert!(lineage.windows(2).all(|pair| logical(pair[0], &entity) < logical(pair[1], &entity)));
            prop_assert!(logical(FIRST_VERSION_SLOT, &entity) < version_node(&entity, version));
            prop_assert_eq!(locate(0, &logical(1, &entity)), None);
            prop_assert_eq!(locate(1, &key_of(Some(b'c'), &[Part::Entity(&entity)])), None);
        }

        /// A record merged from changes holds what the changes leave, slot by slot.
        #[test]
        fn merged_records_hold_each_slot_as_changed(
            before in proptest::array::uniform4(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300))),
            changes in proptest::array::uniform4(proptest::option::of(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)))),
        ) {
            let before_lent: [SlotChange; SLOT_COUNT] = std::array::from_fn(|slot| Some(before[slot].as_deref()));
            let record = merged(None, &before_lent).unwrap();
            let changes_lent: [SlotChange; SLOT_COUNT] = std::array::from_fn(|slot| changes[slot].as_ref().map(|change| change.as_deref()));
            let after = merged(record.as_deref(), &changes_lent).unwrap();
            for slot in 0..SLOT_COUNT {
                let expected = match &changes[slot] {
                    Some(change) => change.as_deref(),
                    None => before[slot].as_deref(),
                };
                let held = after.as_deref().map(|record| super::slot(record, slot).unwrap()).unwrap_or(None);
                prop_assert_eq!(held, expected);
            }
            prop_assert_eq!(after.is_none(), (0..SLOT_COUNT).all(|slot| match &changes[slot] {
                Some(change) => change.is_none(),
                None => before[slot].is_none(),
            }));
        }

        /// A record cut short or with a slot out of range is refused, never misread.
        #[test]
        fn a_damaged_record_is_refused(bytes in proptest::collection::vec(any::<u8>(), 1..40), cut in 0usize..40) {
            let record = merged(None, &[Some(Some(&bytes)), None, Some(Some(b"node")), None]).unwrap().unwrap();
            let cut = cut % record.len();
            if cut > 0 {
                let short = &record[..cut];
                let read: Result<Vec<_>> = slots(short).collect();
                // Cut at a slot's end it is a shorter record; anywhere else it is refused.
                if let Ok(read) = read {
                    prop_assert!(read.len() < 2);
                }
            }
            let mut odd = record.clone();
            odd[0] = 7;
            prop_assert!(slot(&odd, 2).is_err());
        }
    }
}
