//! End-to-end tests across Lineage's crates: real data directories, real processes.
//!
//! One test binary, a module per area.

mod abuse;
mod batch;
mod browser;
mod cli;
mod crash;
mod explorer;
mod export;
mod faults;
mod fuzz;
mod golden;
mod graphql;
mod import;
mod isolation;
mod mlflow;
mod model;
mod openlineage;
mod operate;
mod pg;
mod process;
mod rejections;
mod shared_log;
mod support;
mod tamper;
mod tidy;
mod tlog;
