//! The `lineage` command line: the commands and their flags (clap), each group run by its own module.
//!
//! One file per command group: `serve`, `import` (and export), `accounting` (audit and
//! bill), `tokens`, `log` (demo, verify, checkpoint, proof, rebuild, events, stats).

mod accounting;
mod import;
mod log;
mod serve;
mod tokens;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lineage_schema::{AccountId, EntityRef};
use lineage_store::{demo, EventFilter, Options, Store};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use accounting::*;
use import::*;
use log::*;
use serve::*;
use tokens::*;

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
    /// Serve the GraphQL API (`/graphql`, with a query console for browsers),
    /// `/healthz`, `/readyz` and `/metrics` until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Fill the store with the demo story: two subscriptions of realistic ML work.
    ///
    /// Safe to repeat: the story's events carry fixed ids, so a second run appends nothing.
    Demo,
    /// Check every record of the log (checksums, positions, hash chain) and name the
    /// first bad position. With `--checkpoint`, also check that the history a checkpoint
    /// saw is still there unchanged. Reads only; changes nothing.
    Verify {
        /// A checkpoint saved earlier (`lineage checkpoint --out FILE`).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The public key to trust for the checkpoint's signature (hex; `lineage key`).
        /// Without it the key named in the checkpoint is used, which shows only that the
        /// file was not altered.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
    },
    /// Print the public key checkpoints are signed with (hex).
    Key,
    /// Issue, list and revoke API tokens. Acts as the store's administrator (made, with
    /// its own token printed once, if the store has none).
    Token {
        #[command(subcommand)]
        token: TokenCommand,
    },
    /// Sign a checkpoint of the log as it stands (size, Merkle root, time) and print it
    /// as JSON, or write it to `--out`. Keep it: `verify --checkpoint` later proves no
    /// history before it was changed.
    Checkpoint {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a Merkle proof as JSON: that an event is in the log, or that the log at one
    /// size is a prefix of the log at a larger size.
    Proof {
        #[command(subcommand)]
        proof: ProofCommand,
    },
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
    /// Export the audit trail — who did what, when, to which entity, with each event's
    /// position and hash — as CSV or NDJSON, filtered.
    Audit(AuditArgs),
    /// Print an account's bill for a month as a table (or CSV): every line with its
    /// quantity, unit price, amount and the log positions of the events behind it, the
    /// total, and who held a seat on which days.
    Bill {
        #[arg(long)]
        account: String,
        /// The calendar month, UTC: `2026-03`.
        #[arg(long)]
        month: String,
        #[arg(long, value_enum, default_value = "table")]
        format: BillFormat,
        /// A JSON price book (prices left out keep their defaults).
        #[arg(long, env = "LINEAGE_PRICE_BOOK")]
        price_book: Option<PathBuf>,
    },
    /// Write events as NDJSON — positions, times, actors, accounts, payloads and hashes —
    /// for backup (`import lineage` restores them) or for reading.
    Export {
        /// Only events of this account, with the principal and subscription records its
        /// history needs (for reading, or `import lineage --replay` into another store; a
        /// restore needs the whole log).
        #[arg(long)]
        account: Option<String>,
        /// Only events after this position (an incremental backup).
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
    /// Bring records from elsewhere into the store.
    Import {
        #[command(subcommand)]
        source: ImportSource,
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
        Command::Serve(args) => run_serve(&cli.data_dir, args),
        Command::Demo => run_demo(&cli.data_dir),
        Command::Verify { checkpoint: None, .. } => run_verify(&cli.data_dir),
        Command::Verify {
            checkpoint: Some(file),
            public_key,
        } => run_verify_checkpoint(&cli.data_dir, &file, public_key.as_deref()),
        Command::Key => {
            if !cli.data_dir.join("log").is_dir() {
                bail!("no Lineage store in {}", cli.data_dir.display());
            }
            println!("{}", Store::public_key(&cli.data_dir)?);
            Ok(())
        }
        Command::Token { token } => run_token(&cli.data_dir, token),
        Command::Checkpoint { out } => run_checkpoint(&cli.data_dir, out.as_deref()),
        Command::Proof { proof } => run_proof(&cli.data_dir, proof),
        Command::Rebuild => run_rebuild(&cli.data_dir),
        Command::Events {
            after,
            limit,
            account,
            stream,
        } => run_events(&cli.data_dir, after, limit, account, stream),
        Command::Audit(args) => run_audit(&cli.data_dir, args),
        Command::Bill {
            account,
            month,
            format,
            price_book: book,
        } => run_bill(&cli.data_dir, &account, &month, format, &price_book(book.as_deref())?),
        Command::Export { account, since } => run_export(&cli.data_dir, account, since),
        Command::Import {
            source: ImportSource::Lineage { file, replay: false },
        } => run_import_lineage(&cli.data_dir, &file),
        Command::Import {
            source: ImportSource::Lineage { file, replay: true },
        } => run_replay_lineage(&cli.data_dir, &file),
        Command::Import {
            source:
                ImportSource::Mlflow {
                    path,
                    target,
                    model_account,
                },
        } => run_import_mlflow(&cli.data_dir, &path, &target, model_account),
        Command::Import {
            source: ImportSource::Openlineage { file, target },
        } => run_import_openlineage(&cli.data_dir, &file, &target),
        Command::Stats => run_stats(&cli.data_dir),
        Command::Bench(args) => crate::bench::run(&args),
    }
}

pub(super) fn open(dir: &Path) -> Result<Store> {
    let mut progress = progress_printer("catching up projections");
    Store::open_with_progress(dir, &Options::default(), &mut progress)
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Existing data directories only: reading commands must not create an empty store.
pub(super) fn open_existing(dir: &Path) -> Result<Store> {
    if !dir.join("log").is_dir() {
        bail!(
            "no Lineage store in {} (run `lineage demo` or pass --data-dir)",
            dir.display()
        );
    }
    open(dir)
}

/// Progress on a terminal for long replays; silent when piped.
pub(super) fn progress_printer(what: &'static str) -> impl FnMut(u64, u64) {
    progress_printer_of(what, "events")
}

/// Progress on a terminal, counting `unit`s: a bar, the count and the percentage.
pub(super) fn progress_printer_of(what: &'static str, unit: &'static str) -> impl FnMut(u64, u64) {
    let terminal = std::io::stderr().is_terminal();
    move |done, total| {
        if terminal && total > 0 {
            let filled = (done * 30 / total) as usize;
            eprint!(
                "\r{what} [{}{}] {done}/{total} {unit} ({}%)",
                "#".repeat(filled),
                " ".repeat(30 - filled),
                done * 100 / total
            );
            if done == total {
                eprintln!();
            }
        }
    }
}
