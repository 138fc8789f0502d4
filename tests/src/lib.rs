//! What the end-to-end tests and the project's test tools share.
//!
//! - [`load`]: load with kills against a real `lineage serve` process.

pub mod load;
