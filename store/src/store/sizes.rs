//! Where the derived bytes go: every derived table's keys and the bytes of their keys and
//! values, as stored in sled (before sled's own page and log overhead).

use super::*;
use std::collections::BTreeMap;

/// One derived table (a tree and the letter its keys start with) as it stands in sled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableSize {
    pub keys: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

impl Store {
    /// Every derived table's size, by tree name and table letter, as flushed to sled so
    /// far (call [`Store::flush`] first for the whole log). Reads every key: for
    /// measurements, not for serving.
    pub fn table_sizes(&self) -> Result<BTreeMap<(&'static str, char), TableSize>> {
        let mut sizes: BTreeMap<(&'static str, char), TableSize> = BTreeMap::new();
        let names = projections::NAMES.iter().chain([&projections::RECORDS_NAME]);
        for (tree, name) in self.view.all_sled_trees().zip(names) {
            for item in tree.iter() {
                let (key, value) = item?;
                if key.as_ref() == crate::derived::overlay::CHECKPOINT_KEY {
                    continue;
                }
                let table = key.first().map_or('?', |&letter| letter as char);
                let size = sizes.entry((name, table)).or_default();
                size.keys += 1;
                size.key_bytes += key.len() as u64;
                size.value_bytes += value.len() as u64;
            }
        }
        Ok(sizes)
    }
}
