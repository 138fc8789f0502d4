//! sled as the projections see it: each projection's tree by its logical keys, with the
//! keys kept in entity records (`records`) mapped back onto them, and a filter of the keys
//! sled may hold (`key_filter`) in front.

use crate::derived::key_filter::{KeyFilter, RECORDS};
use crate::derived::overlay::{TreeId, CHECKPOINT_KEY};
use crate::derived::records::{self, SlotChange, SLOT_COUNT};
use crate::error::Result;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A change on its way to sled: its tree, its logical key, its value (`None`: removed).
pub(crate) type Write<'a> = (TreeId, &'a [u8], Option<&'a [u8]>);

/// A logical key and its value, as read from sled.
type StoredEntry = (Vec<u8>, Vec<u8>);

#[derive(Clone, Debug)]
pub(crate) struct Stored {
    trees: Vec<sled::Tree>,
    /// Where entity records are kept; `None` keeps every key in its own tree.
    records: Option<sled::Tree>,
    filter: Arc<KeyFilter>,
}

impl Stored {
    pub(crate) fn new(trees: Vec<sled::Tree>, records: Option<sled::Tree>) -> Self {
        Self {
            trees,
            records,
            filter: Arc::default(),
        }
    }

    /// The projections' trees, tree `i` for projection `i`.
    pub(crate) fn trees(&self) -> &[sled::Tree] {
        &self.trees
    }

    /// Every sled tree holding derived data: the projections' and the records'.
    pub(crate) fn all_trees(&self) -> impl Iterator<Item = &sled::Tree> {
        self.trees.iter().chain(&self.records)
    }

    /// See [`KeyFilter::arm`].
    pub(crate) fn arm_filter(&self) -> Result<()> {
        self.filter.arm(&self.trees, self.records.as_ref())
    }

    /// The slot and record key of a logical key kept in a record.
    fn locate(&self, tree: TreeId, key: &[u8]) -> Option<(usize, Vec<u8>)> {
        self.records.as_ref()?;
        records::locate(tree, key)
    }

    /// Calls `read` with the bytes sled holds for a logical key, lent.
    pub(crate) fn read<R>(&self, tree: TreeId, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        if let (Some((slot, record_key)), Some(records)) = (self.locate(tree, key), &self.records) {
            if !self.filter.may_hold(RECORDS, &record_key) {
                return Ok(read(None));
            }
            let record = records.get(&record_key)?;
            let bytes = record
                .as_deref()
                .map(|record| records::slot(record, slot))
                .transpose()?;
            return Ok(read(bytes.flatten()));
        }
        if !self.filter.may_hold(tree, key) {
            return Ok(read(None));
        }
        Ok(read(self.trees[tree].get(key)?.as_deref()))
    }

    /// The entries of `tree` from `from` on whose keys start with `prefix`, in key order:
    /// the tree's own, and those kept in records when the prefix may cover their table.
    pub(crate) fn range<'a>(
        &'a self,
        tree: TreeId,
        prefix: &'a [u8],
        from: &'a [u8],
    ) -> impl Iterator<Item = Result<StoredEntry>> + 'a {
        let own = self.trees[tree]
            .range(from..)
            .take_while(move |item| item.as_ref().map_or(true, |(key, _)| key.starts_with(prefix)))
            .map(|item| {
                item.map(|(key, value)| (key.to_vec(), value.to_vec()))
                    .map_err(Into::into)
            });
        // The slots of the table the prefix names, or of the tree when it names none.
        let slots: Vec<usize> = match prefix.first() {
            Some(&letter) => records::slots_of_table(tree, letter).collect(),
            None => records::slots_of_tree(tree).collect(),
        };
        let in_records = self
            .records
            .as_ref()
            .filter(|_| !slots.is_empty())
            .map(|records| {
                records
                    .range(records::first_record_key(slots[0], from)..)
                    .take_while(|item| {
                        item.as_ref()
                            .map_or(true, |(key, _)| key.first() == Some(&records::TABLE))
                    })
                    .flat_map(move |item| -> Vec<Result<StoredEntry>> {
                        let (record_key, record) = match item {
                            Err(error) => return vec![Err(error.into())],
                            Ok(found) => found,
                        };
                        // A record's slots are in their logical keys' order.
                        records::slots(&record)
                            .filter(|found| found.as_ref().map_or(true, |(slot, _)| slots.contains(slot)))
                            .map(|found| {
                                found.map(|(slot, bytes)| (records::logical_key(slot, &record_key), bytes.to_vec()))
                            })
                            .collect()
                    })
                    .skip_while(move |item| item.as_ref().is_ok_and(|(key, _)| key.as_slice() < from))
                    .take_while(move |item| item.as_ref().map_or(true, |(key, _)| key.starts_with(prefix)))
            })
            .into_iter()
            .flatten();
        merge_sorted(own, in_records)
    }

    /// The last entry of `tree` with a key in `[prefix, key]`, of a table kept whole in its
    /// tree, skipping those `deleted` says a layer removes.
    pub(crate) fn floor(
        &self,
        tree: TreeId,
        prefix: &[u8],
        key: &[u8],
        deleted: impl Fn(&[u8]) -> bool,
    ) -> Result<Option<StoredEntry>> {
        debug_assert!(
            prefix
                .first()
                .is_some_and(|&letter| records::slots_of_table(tree, letter).next().is_none()),
            "floor reads tables kept whole in their tree"
        );
        for item in self.trees[tree].range(prefix..=key).rev() {
            let (found, value) = item?;
            if !deleted(&found) {
                return Ok(Some((found.to_vec(), value.to_vec())));
            }
        }
        Ok(None)
    }

    /// Writes changes key by key (records read, merged and written once each), then
    /// `checkpoint` into every tree, and waits until sled has them on disk.
    pub(crate) fn write<'a>(&self, changes: impl Iterator<Item = Write<'a>>, checkpoint: u64) -> Result<()> {
        // By entity part, which orders records as their keys do (the same letter first).
        let mut in_records: BTreeMap<&'a [u8], [SlotChange<'a>; SLOT_COUNT]> = BTreeMap::new();
        for (tree, key, value) in changes {
            if let Some((slot, entity_part)) = self.records.as_ref().and_then(|_| records::locate_part(tree, key)) {
                in_records.entry(entity_part).or_default()[slot] = Some(value);
                continue;
            }
            match value {
                Some(value) => {
                    self.filter.add(tree, key);
                    self.trees[tree].insert(key, value)?
                }
                None => self.trees[tree].remove(key)?,
            };
        }
        if let Some(records) = &self.records {
            for (entity_part, changes) in in_records {
                self.write_record(records, records::record_key(entity_part), &changes)?;
            }
        }
        for tree in self.all_trees() {
            tree.insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes())?;
        }
        self.trees.first().map(sled::Tree::flush).transpose()?;
        Ok(())
    }

    /// Merges a record's changed slots into what sled holds of it; a record every slot of
    /// which changes, or one sled cannot hold, is not read first.
    fn write_record(
        &self,
        records: &sled::Tree,
        record_key: Vec<u8>,
        changes: &[SlotChange; SLOT_COUNT],
    ) -> Result<()> {
        let whole = records::sets_every_slot(&record_key, changes);
        let before = match whole || !self.filter.may_hold(RECORDS, &record_key) {
            true => None,
            false => records.get(&record_key)?,
        };
        match records::merged(before.as_deref(), changes)? {
            Some(record) => {
                self.filter.add(RECORDS, &record_key);
                records.insert(record_key, record)?;
            }
            None if whole || before.is_some() => {
                records.remove(record_key)?;
            }
            None => {}
        }
        Ok(())
    }

    /// Empties every tree (derived data found damaged, to be rebuilt from the log).
    pub(crate) fn clear(&self) -> Result<()> {
        for tree in self.all_trees() {
            tree.clear()?;
        }
        self.trees.first().map(sled::Tree::flush).transpose()?;
        Ok(())
    }
}

/// Two key-ordered sequences with no key in both, as one; an error is passed on first.
fn merge_sorted<'a>(
    first: impl Iterator<Item = Result<StoredEntry>> + 'a,
    second: impl Iterator<Item = Result<StoredEntry>> + 'a,
) -> impl Iterator<Item = Result<StoredEntry>> + 'a {
    let (mut first, mut second) = (first.peekable(), second.peekable());
    std::iter::from_fn(move || {
        let take_first = match (first.peek(), second.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) | (Some(_), None) => true,
            (_, Some(Err(_))) | (None, Some(_)) => false,
            (Some(Ok((a, _))), Some(Ok((b, _)))) => a <= b,
        };
        if take_first {
            first.next()
        } else {
            second.next()
        }
    })
}
