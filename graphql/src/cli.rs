//! The command line: `demo`, `verify`, `rebuild`, `events`, `stats`, `bench`.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lineage_schema::{AccountId, EntityRef};
use lineage_store::{demo, EventFilter, Options, Store};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Lineage: an event-sourced metadata and lineage store for machine-learning work.
///
/// Every action on subscriptions, accounts, workspaces, projects, experiments, runs,
/// models, manifests, images and services is appended to one hash-chained event log;
/// current state is derived from it.
#[derive(Debug, Parser)]
#[command(name = "lineage", version, propagate_version = true)]
pub struct Cli {
    /// The data directory: the event log (`log/`) and derived indexes (`derived/`).
    #[arg(long, global = true, env = "LINEAGE_DATA_DIR", default_value = "./lineage-data")]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill the store with the demo story: two subscriptions of realistic ML work.
    ///
    /// Safe to repeat: the story's events carry fixed ids, so a second run appends nothing.
    Demo,
    /// Check every record of the log (checksums, positions, hash chain) and name the
    /// first bad position. Reads only; changes nothing.
    Verify,
    /// Recreate every derived index and projection from the log.
    Rebuild,
    /// Print events as JSON lines, oldest first.
    Events {
        /// Print events after this position (0: from the start).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Print at most this many events.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Only events billed and audited under this account.
        #[arg(long)]
        account: Option<String>,
        /// Only events of this entity, as `kind/id` (e.g. `run/r-churn-1`).
        #[arg(long)]
        stream: Option<String>,
    },
    /// Print numbers about the store: events, bytes on disk, entities by kind.
    Stats,
    /// Measure append throughput and latency, batch appends, rebuild rate and bytes per
    /// event on fresh stores under a scratch directory.
    Bench(crate::bench::BenchArgs),
}

/// Parses `args` (the program name first) and runs the command, as `main` does.
pub fn run_from<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run(Cli::try_parse_from(args)?)
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo => run_demo(&cli.data_dir),
        Command::Verify => run_verify(&cli.data_dir),
        Command::Rebuild => run_rebuild(&cli.data_dir),
        Command::Events {
            after,
            limit,
            account,
            stream,
        } => run_events(&cli.data_dir, after, limit, account, stream),
        Command::Stats => run_stats(&cli.data_dir),
        Command::Bench(args) => crate::bench::run(&args),
    }
}

fn open(dir: &Path) -> Result<Store> {
    let mut progress = progress_printer("catching up projections");
    Store::open_with_progress(dir, &Options::default(), &mut progress)
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Existing data directories only: reading commands must not create an empty store.
fn open_existing(dir: &Path) -> Result<Store> {
    if !dir.join("log").is_dir() {
        bail!(
            "no Lineage store in {} (run `lineage demo` or pass --data-dir)",
            dir.display()
        );
    }
    open(dir)
}

/// Progress on a terminal for long replays; silent when piped.
fn progress_printer(what: &'static str) -> impl FnMut(u64, u64) {
    let terminal = std::io::stderr().is_terminal();
    move |done, total| {
        if terminal && total > 0 {
            eprint!("\r{what}: {done}/{total} events ({}%)", done * 100 / total);
            if done == total {
                eprintln!();
            }
        }
    }
}

fn run_demo(dir: &Path) -> Result<()> {
    let store = open(dir)?;
    let appended = demo::fill(&store).context("the demo story was refused")?;
    let head = store.head().seq;
    store.close()?;
    if appended == 0 {
        println!(
            "The demo story is already in {} (log at seq {head}); nothing appended.",
            dir.display()
        );
    } else {
        println!(
            "Appended the demo story to {}: {appended} events, log now at seq {head}.",
            dir.display()
        );
    }
    Ok(())
}

fn run_verify(dir: &Path) -> Result<()> {
    if !dir.join("log").is_dir() {
        bail!("no Lineage log in {}", dir.display());
    }
    match Store::verify(dir) {
        Ok(report) => {
            println!(
                "ok: {} events in {} segments ({} bytes), chain intact",
                report.records, report.segments, report.bytes
            );
            println!("head: seq {} hash {}", report.head.seq, report.head.hash);
            if report.torn_tail_bytes > 0 {
                println!(
                    "note: {} bytes of an unacknowledged, torn last record will be cut off when the store next opens",
                    report.torn_tail_bytes
                );
            }
            Ok(())
        }
        Err(lineage_store::Error::Corruption {
            seq,
            segment,
            offset,
            reason,
        }) => {
            bail!(
                "first bad position: seq {seq} ({}, byte {offset}): {reason}",
                segment.display()
            )
        }
        Err(other) => Err(other.into()),
    }
}

fn run_rebuild(dir: &Path) -> Result<()> {
    if !dir.join("log").is_dir() {
        bail!("no Lineage log in {}", dir.display());
    }
    let started = std::time::Instant::now();
    let store = Store::rebuild(dir, &Options::default(), &mut progress_printer("rebuilding"))
        .with_context(|| format!("cannot rebuild {}", dir.display()))?;
    let events = store.opened().caught_up;
    store.close()?;
    println!("rebuilt derived data from {events} events in {:.2?}", started.elapsed());
    Ok(())
}

fn run_events(dir: &Path, after: u64, limit: usize, account: Option<String>, stream: Option<String>) -> Result<()> {
    let filter = EventFilter {
        account: account.map(AccountId::new).transpose()?,
        stream: stream.as_deref().map(EntityRef::parse).transpose()?,
    };
    let store = open_existing(dir)?;
    let mut position = after;
    let mut remaining = limit;
    // Page through the log so a large limit does not hold every event in memory.
    while remaining > 0 {
        let page = store.events(position, remaining.min(1000), &filter)?;
        let Some(last) = page.last() else { break };
        position = last.seq;
        remaining -= page.len();
        let mut lines = String::new();
        for envelope in &page {
            lines.push_str(&serde_json::to_string(envelope)?);
            lines.push('\n');
        }
        print!("{lines}");
    }
    std::io::stdout().flush()?;
    Ok(())
}

fn run_stats(dir: &Path) -> Result<()> {
    let store = open_existing(dir)?;
    let stats = store.stats()?;
    println!("events        {}", stats.head);
    println!("log           {} bytes in {} segments", stats.log_bytes, stats.segments);
    println!("derived       {} bytes", stats.derived_bytes);
    if let Some(per_event) = stats.log_bytes.checked_div(stats.head) {
        println!("per event     {per_event} bytes of log");
    }
    println!("entities:");
    for (kind, count) in stats.entities.iter().filter(|(_, count)| *count > 0) {
        println!("  {:<26} {count}", kind.label());
    }
    Ok(())
}
