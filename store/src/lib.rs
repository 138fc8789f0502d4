//! Lineage's store: the append-only, hash-chained event log and everything derived from it.
//!
//! Layout, along the pipeline (a module uses only those in layers below it):
//! - [`log`]: the source of truth — the `EventLog` and `LogRead` traits, the segment-file
//!   log (`log::segment`) and the file operations under it (`log::disk`, with fault
//!   injection for tests);
//! - `derived`: derived changes on their way to sled — the overlay with savepoints,
//!   the journal and flusher that write layers off the writer thread, key encoding;
//! - [`projections`]: the folds of the log into sled trees and their catch-up — index,
//!   state, lineage (walks, `trace`, `impact`), Merkle tree, audit, billing — and
//!   [`access`], what a principal may read;
//! - `write`: the write path — `decide` (command validation, one event or a typed
//!   rejection) and the group-committing writer thread;
//! - [`store`]: `Store`, the one handle users hold; [`view`]: `View`, the store as one
//!   principal may read it, through which every answer passes; [`demo`]: the schema
//!   crate's demo story appended to a store; [`progress`]: what long opens, rebuilds and
//!   verifies report as they go; [`ahead`]: pages made on one thread while the ones before
//!   are taken on another.
//!
//! Architecture invariant: the log is the source of truth and sled holds only what can be
//! rebuilt from it. sled is written after the log is synced, never before, so derived
//! data never runs ahead of the log.

pub mod ahead;
pub mod demo;
mod derived;
pub mod error;
pub mod log;
pub mod progress;
pub mod projections;
pub mod store;
pub mod view;
mod write;

pub use log::{disk, segment};
pub use projections::{access, audit, billing, lineage};

pub use error::{Error, Result};
pub use log::{EventLog, Head, LogRead, ScanReport};
pub use progress::{Progress, Stage, Unit};
pub use store::{
    check_bundle_complete, BillBundle, BundleCheck, BundledBill, BundledEntry, BundledLine, EventFilter, Options,
    Stats, Store, TableSize,
};
pub use view::View;
pub use write::writer::{Appended, BatchFailure};

#[cfg(test)]
mod progress_tests;
#[cfg(test)]
mod tests;
