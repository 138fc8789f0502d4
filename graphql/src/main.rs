//! The `lineage` binary: parses the command line and reports errors in plain words.

/// glibc's allocator contends under many writer threads; mimalloc's per-thread heaps
/// do not (BENCHMARKS.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lineage_graphql::cli::main()
}
