//! Lineage's importers: MLflow tracking stores, OpenLineage events and Lineage's own
//! NDJSON export, turned into Lineage's log.
//!
//! - [`lineage_format`]: export and restore of Lineage's own log;
//! - [`error`]: the one error type.
//!
//! Architecture invariant: this is the only crate that knows foreign formats; foreign
//! records become commands through `Store::execute_batch`, never hand-made events. A
//! restore of Lineage's own export is the one exception: its events already carry their
//! positions and hashes, which `Store::restore` checks continue the chain.

pub mod error;
pub mod lineage_format;

pub use error::{Error, Result};
