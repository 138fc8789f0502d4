//! The `lineage` command line, built inside the test crate so end-to-end tests can run
//! it as a real process (signals, exit codes) via `CARGO_BIN_EXE_lineage-cli`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    match lineage_graphql::cli::run(lineage_graphql::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
