//! `lineage-load`: load with kills against a real `lineage serve`, then the check that no
//! acknowledged write was lost. See BENCHMARKS.md for figures.
//!
//! Usage: `cargo run --release -p lineage-tests --bin lineage-load -- [--clients 64]
//! [--seconds 60] [--kills 10] [--lineage PATH] [--data-dir DIR]`

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Drives mixed mutations and queries from many clients at a `lineage serve` it
/// SIGKILLs and restarts, then checks every acknowledged write is in the log once.
#[derive(Debug, Parser)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long the load runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// SIGKILLs, spread evenly over the run.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// The `lineage` binary [default: `lineage-cli` beside this one].
    #[arg(long)]
    lineage: Option<PathBuf>,
    /// Where the store goes [default: a fresh temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match args.lineage {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no folder beside this binary")?
            .join("lineage-cli"),
    };
    let scratch = tempfile::tempdir()?;
    let dir = args.data_dir.unwrap_or_else(|| scratch.path().join("store"));
    let options = lineage_tests::load::LoadOptions {
        binary,
        dir,
        clients: args.clients,
        duration: Duration::from_secs(args.seconds),
        kills: args.kills,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(lineage_tests::load::run(&options))?;
    println!("{report}");
    anyhow::ensure!(report.lost == 0, "acknowledged writes were lost");
    Ok(())
}
