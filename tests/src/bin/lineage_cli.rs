//! The `lineage` command line, built inside the test crate so end-to-end tests can run
//! it as a real process (signals, exit codes) via `CARGO_BIN_EXE_lineage-cli`.

fn main() -> std::process::ExitCode {
    lineage_graphql::cli::main()
}
