//! Lineage's importers: MLflow tracking stores, OpenLineage events and Lineage's own
//! NDJSON export, turned into Lineage's log.
//!
//! - [`mlflow`]: MLflow's file store and SQLite store;
//! - [`openlineage`]: OpenLineage events, from files or `POST /api/v1/lineage`;
//! - [`lineage_format`]: export and restore of Lineage's own log, and an account's
//!   export replayed into another store;
//! - [`target`]: where an import lands (account, workspace, project, compute target);
//! - [`summary`]: what an import did;
//! - [`error`]: the one error type.
//!
//! Architecture invariant: this is the only crate that knows foreign formats; foreign
//! records become commands through `Store::execute_batch`, never hand-made events. A
//! restore of Lineage's own export is the one exception: its events already carry their
//! positions and hashes, which `Store::restore` checks continue the chain.

pub mod error;
pub mod lineage_format;
pub mod mlflow;
pub mod openlineage;
pub mod summary;
pub mod target;

pub use error::{Error, Result};
pub use summary::Summary;
pub use target::{Target, TargetSpec};
