//! The demo story (the schema crate's `demo`: commands, plain data) appended to a store.

use crate::error::Result;
use crate::store::Store;

pub use lineage_schema::demo::*;

/// Tells the story into a store, all or nothing; returns how many events were new.
pub fn fill(store: &Store) -> Result<usize> {
    let appended = store.execute_batch(story())?;
    Ok(appended.iter().filter(|appended| !appended.duplicate).count())
}
