//! Lineage's importers: MLflow tracking stores, OpenLineage events and Lineage's own
//! NDJSON export, turned into Lineage commands (never hand-made events), so every
//! imported fact passes the same validation and lands in the same log.
//!
//! Architecture invariant: this is the only crate that knows foreign formats; it talks
//! to the log only through `lineage_store::Store::execute_batch`.
