//! Lineage's store: the append-only, hash-chained event log and everything derived from it.
//!
//! Layout:
//! - [`segment`] and [`log`]: the segment-file log behind the `EventLog` trait;
//! - [`disk`]: the file operations the log makes — the real disk, and one that injects faults;
//! - [`writer`]: group commit — decide, append with one `fdatasync`, commit derived trees;
//! - [`decide`]: command validation, one event per command or a typed rejection;
//! - [`overlay`]: pending writes over the sled trees, with savepoints;
//! - `flusher` and [`journal`]: write layered derived changes to sled off the writer
//!   thread, key by key, journalled so a crash mid-flush is finished on open;
//! - [`projection`], [`index`], [`state`], [`lineage`]: the derived trees, their catch-up,
//!   the lineage graph's walks, `trace` and `impact`;
//! - [`merkle`]: the Merkle tree over event hashes, proofs and signed checkpoints;
//! - [`audit`]: events by account, actor and time, for the audit trail;
//! - [`access`]: what a principal may read;
//! - [`billing`]: bills per account and month, priced by a price book;
//! - [`store`]: `Store`, the one handle users hold.
//!
//! Architecture invariant: the log is the source of truth and sled holds only what can be
//! rebuilt from it. sled is written after the log is synced, never before, so derived
//! data never runs ahead of the log.

pub mod access;
pub mod audit;
pub mod billing;
pub mod decide;
pub mod demo;
pub mod disk;
pub mod error;
mod flusher;
pub mod index;
pub mod journal;
pub mod keys;
pub mod lineage;
pub mod log;
pub mod merkle;
pub mod overlay;
pub mod projection;
pub mod segment;
pub mod state;
pub mod store;
pub mod writer;

pub use error::{Error, Result};
pub use log::{EventLog, Head, LogRead, ScanReport};
pub use store::{EventFilter, Options, Stats, Store};
pub use writer::Appended;

#[cfg(test)]
mod tests;
