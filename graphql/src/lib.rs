//! Lineage's edge: the `lineage` command line (and, next, the GraphQL server).
//!
//! - [`cli`]: the commands and their output;
//! - [`bench`]: `lineage bench`, the store's throughput and latency measurements.
//!
//! Architecture invariant: this is the only crate that knows about the command line,
//! HTTP and GraphQL; it reaches the log only through `lineage_store::Store`.

pub mod bench;
pub mod cli;
