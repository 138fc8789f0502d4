//! What the end-to-end tests and the project's test tools share.
//!
//! - [`load`]: load with kills against a real `lineage serve` process;
//! - [`files`]: copying and listing file trees;
//! - [`fuzz`]: the fuzz targets, shared by `tests/fuzz` (cargo-fuzz) and the e2e tests.

pub mod files;
pub mod fuzz;
pub mod load;
