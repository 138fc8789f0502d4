//! The `lineage` binary: parses the command line and reports errors in plain words.

use clap::Parser;

/// glibc's allocator contends under many writer threads; mimalloc's per-thread heaps
/// do not (BENCHMARKS.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = lineage_graphql::cli::Cli::parse();
    match lineage_graphql::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
