//! The `lineage` command line: the commands and their flags (clap), each group run by its own module.
//!
//! One file per command group: `serve`, `import` (and export), `accounting` (audit and
//! bill), `tokens`, `log` (demo, verify, checkpoint, proof, rebuild, events, stats).

mod accounting;
pub mod admin;
mod import;
mod log;
mod progress;
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
use progress::*;
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

    /// The event log on PostgreSQL (`postgres://USER[:PASSWORD]@HOST:PORT/DB`) instead of
    /// the data directory's `log/`; the data directory then holds this node's derived
    /// projections, made from that log. Several `serve` nodes may share one.
    #[arg(long = "log", global = true, env = "LINEAGE_LOG_URL", value_name = "URL")]
    log_url: Option<String>,

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
        /// The public key to trust for a JSON checkpoint's signature (hex; `lineage key`).
        /// Without it the key named in the checkpoint is used, which shows only that the
        /// file was not altered.
        #[arg(long, requires = "checkpoint")]
        public_key: Option<String>,
        /// A verifier key to trust for a checkpoint note's signature (`NAME+ID+BASE64`, as
        /// `lineage key --format vkey` prints it; repeatable: each one's signature must
        /// hold). Without one, the data directory's own key is used.
        #[arg(long = "key")]
        verifier_keys: Vec<String>,
        /// A witness whose cosignature a checkpoint note must carry (its verifier key,
        /// `NAME+ID+BASE64` of an Ed25519 cosignature key; repeatable).
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// An auditor's bundle of a bill (`lineage bill --bundle FILE`): checked offline,
        /// without the store — its checkpoint against `--key` (and `--witness`), every
        /// event's inclusion, and every line recomputed from its events.
        #[arg(long, conflicts_with = "checkpoint")]
        bundle: Option<PathBuf>,
        /// With `--bundle`: an export of the log (`lineage export`) to check the bundle
        /// leaves out no event the bill rests on (the export is first checked to be the
        /// log the bundle's checkpoint signs).
        #[arg(long, requires = "bundle")]
        export: Option<PathBuf>,
    },
    /// Print the public key checkpoints are signed with: hex, or as a C2SP verifier key
    /// (`--format vkey`) for standard signed-note verifiers.
    Key {
        #[arg(long, value_enum, default_value_t = KeyFormat::Hex)]
        format: KeyFormat,
        /// Name the log in its checkpoint notes from now on (a schema-less URL such as
        /// `lineage.example.com/prod`; default `lineage.local/` and the key's first bytes).
        /// Auditors need the verifier key printed after it.
        #[arg(long)]
        origin: Option<String>,
    },
    /// Issue, list and revoke API tokens. Acts as the store's administrator (made, with
    /// its own token printed once, if the store has none).
    Token {
        #[command(subcommand)]
        token: TokenCommand,
    },
    /// Sign a checkpoint of the log as it stands and print it, or write it to `--out`:
    /// JSON (size, blake3 Merkle root, time), or a C2SP checkpoint note (`--format note`:
    /// size and the SHA-256 root over the export's lines, which standard transparency-log
    /// tools check). Keep it: `verify --checkpoint` later proves no history before it was
    /// changed.
    Checkpoint {
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = CheckpointFormat::Json)]
        format: CheckpointFormat,
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
        /// Print at most this many events [default: all].
        #[arg(long)]
        limit: Option<usize>,
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
        /// The calendar month, UTC: `2026-03` [default: the latest month with activity in
        /// the account, named on stderr]. A month that has not begun is refused; the
        /// current one is marked as running.
        #[arg(long)]
        month: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: BillFormat,
        /// A JSON price book (prices left out keep their defaults).
        #[arg(long, env = "LINEAGE_PRICE_BOOK")]
        price_book: Option<PathBuf>,
        /// Also write an auditor's bundle to this file: the bill, every event behind its
        /// lines as the transparency log's entries, their inclusion proofs and a signed
        /// checkpoint (`lineage verify --bundle FILE --key VKEY` checks it offline).
        #[arg(long)]
        bundle: Option<PathBuf>,
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

/// The `lineage` program: runs the command line it was given and says how it went — exit
/// code 0 when it did what was asked, 1 with `error: …` on stderr when it could not, 2
/// for a command line it could not read. A reader that stops reading (`lineage events |
/// head -1`) ends it quietly, with 0.
pub fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&args);
    match run(cli, &args, &mut std::io::stdout().lock(), &mut std::io::stderr()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) if is_closed_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", plain_words(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes in one line, each said once: a cause whose words the message
/// already holds is not repeated ("cannot read x: no such file", not "…: no such file:
/// no such file").
pub fn plain_words(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let words = cause.to_string();
        if !text.contains(&words) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&words);
        }
    }
    text
}

/// README's "Configure" table, made from the command line's own definitions: every flag
/// of `serve` and the global ones, with its environment variable, default and meaning.
pub fn configuration_table() -> String {
    use clap::CommandFactory;
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve is a command").clone();
    let mut table = String::from("| flag | environment variable | default | what it sets |\n|---|---|---|---|\n");
    for arg in cli.get_arguments().chain(serve.get_arguments()) {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_default();
        // The one default that depends on the machine is said in words.
        let default = if long == "principal-budget-ms" {
            "half the machine's threads' time".to_string()
        } else {
            arg.get_default_values()
                .iter()
                .map(|value| format!("`{}`", value.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let help = arg.get_help().map(|help| help.to_string()).unwrap_or_default();
        table.push_str(&format!(
            "| `--{long}` | {env} | {default} | {} |\n",
            help.replace('\n', " ")
        ));
    }
    table
}

/// Whether `error` is the reader of the output having gone away.
fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses `args` (the program name first) and runs the command, as `main` does.
pub fn run_from<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let cli = Cli::try_parse_from(&args)?;
    run(cli, &args, &mut std::io::stdout().lock(), &mut std::io::stderr())
}

/// Runs a parsed command line, printing its output to `out` and notes about it to
/// `notes`. `args` are the words it was parsed from: a command the server holding the
/// data directory must run is sent there as they are (see `admin`).
pub fn run(cli: Cli, args: &[std::ffi::OsString], out: &mut dyn Write, notes: &mut dyn Write) -> Result<()> {
    let dir = cli.data_dir.as_path();
    let log = cli.log_url.as_deref();
    if let Some(url) = log.filter(|url| !url.starts_with("postgres://") && !url.starts_with("postgresql://")) {
        bail!("--log takes a PostgreSQL address, postgres://USER@HOST:PORT/DB, not `{url}`");
    }
    match cli.command {
        Command::Serve(serve) => run_serve(dir, log, serve),
        Command::Verify {
            bundle: Some(file),
            verifier_keys,
            witnesses,
            export,
            ..
        } => run_verify_bundle(&file, (&verifier_keys, &witnesses), export.as_deref(), out),
        Command::Verify {
            checkpoint: None,
            verifier_keys,
            witnesses,
            ..
        } if !verifier_keys.is_empty() || !witnesses.is_empty() => {
            bail!("--key and --witness go with --checkpoint NOTE or --bundle FILE")
        }
        Command::Verify { checkpoint: None, .. } => run_verify(dir, log, out),
        Command::Verify {
            checkpoint: Some(file),
            public_key,
            verifier_keys,
            witnesses,
            bundle: None,
            ..
        } => run_verify_checkpoint(
            dir,
            log,
            &file,
            public_key.as_deref(),
            (&verifier_keys, &witnesses),
            out,
        ),
        Command::Key { format, origin } => {
            if !dir.join("log").is_dir() && log.is_none() {
                bail!("no Lineage store in {}", dir.display());
            }
            if let Some(origin) = origin {
                Store::set_tlog_origin(dir, &origin)?;
                writeln!(notes, "checkpoint notes now name the log {origin}")?;
            }
            match format {
                KeyFormat::Hex => writeln!(out, "{}", Store::public_key(dir)?)?,
                KeyFormat::Vkey => writeln!(out, "{}", Store::tlog_verifier_key(dir, None)?)?,
            }
            Ok(())
        }
        Command::Rebuild => run_rebuild(dir, log, out),
        Command::Bench(bench) => crate::bench::run(&bench),
        command => {
            // A server holding the directory runs the command on its open store.
            if let Some(server) = admin::connect(dir) {
                return admin::ask(server, &explicit(args, &command), out, notes);
            }
            let creates = matches!(
                command,
                Command::Demo
                    | Command::Import {
                        source: ImportSource::Lineage { .. }
                    }
            );
            let store = match open_store(dir, log, creates) {
                Ok(store) => store,
                Err(error) if is_locked(&error) => return Err(admin::unanswered(dir)),
                Err(error) => return Err(error),
            };
            run_on(&store, command, out, notes)?;
            store.close()?;
            Ok(())
        }
    }
}

/// Runs a command that works on an open store: the CLI's own, or the server's for a CLI
/// beside it. Serve, verify, key, rebuild and bench are not among them.
fn run_on(store: &Store, command: Command, out: &mut dyn Write, notes: &mut dyn Write) -> Result<()> {
    match command {
        Command::Demo => run_demo(store, out),
        Command::Token { token } => run_token(store, token, out),
        Command::Checkpoint { out: file, format } => run_checkpoint(store, file.as_deref(), format, out),
        Command::Proof { proof } => run_proof(store, proof, out),
        Command::Events {
            after,
            limit,
            account,
            stream,
        } => run_events(store, after, limit, account, stream, out),
        Command::Audit(args) => run_audit(store, args, out),
        Command::Bill {
            account,
            month,
            format,
            price_book: book,
            bundle,
        } => run_bill(
            store,
            (&account, month.as_deref()),
            format,
            &price_book(book.as_deref())?,
            bundle.as_deref(),
            out,
            notes,
        ),
        Command::Export { account, since } => run_export(store, account, since, out, notes),
        Command::Import {
            source: ImportSource::Lineage { file, replay: false },
        } => run_import_lineage(store, &file, out),
        Command::Import {
            source: ImportSource::Lineage { file, replay: true },
        } => run_replay_lineage(store, &file, out),
        Command::Import {
            source:
                ImportSource::Mlflow {
                    path,
                    target,
                    model_account,
                },
        } => run_import_mlflow(store, &path, &target, model_account, out),
        Command::Import {
            source: ImportSource::Openlineage { file, target },
        } => run_import_openlineage(store, &file, &target, out),
        Command::Stats => run_stats(store, out),
        Command::Serve(_) | Command::Verify { .. } | Command::Key { .. } | Command::Rebuild | Command::Bench(_) => {
            bail!("this command does not run on an open store")
        }
    }
}

/// `args` with what the command took from this process's environment made explicit,
/// for a server that has an environment of its own.
/// How `lineage key` prints the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyFormat {
    /// The ed25519 public key, 64 hex digits.
    Hex,
    /// A C2SP signed-note verifier key: `NAME+ID+BASE64`.
    Vkey,
}

/// What `lineage checkpoint` signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckpointFormat {
    /// Lineage's own JSON checkpoint over the blake3 tree.
    Json,
    /// A C2SP tlog-checkpoint signed note over the SHA-256 transparency tree.
    Note,
}

fn explicit(args: &[std::ffi::OsString], command: &Command) -> Vec<std::ffi::OsString> {
    let mut args = args.to_vec();
    if let Command::Bill {
        price_book: Some(book), ..
    } = command
    {
        if !args
            .iter()
            .any(|arg| arg.to_str().is_some_and(|arg| arg.starts_with("--price-book")))
        {
            args.extend(["--price-book".into(), book.clone().into_os_string()]);
        }
    }
    args
}

/// Whether opening failed because another process holds the data directory.
fn is_locked(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(lineage_store::Error::Locked(_))))
}

/// Opens the store in `dir`; only commands that `create` one may find none there.
fn open_store(dir: &Path, log: Option<&str>, create: bool) -> Result<Store> {
    if create {
        open(dir, log)
    } else {
        open_existing(dir, log)
    }
}

/// How a store is opened: with its log on PostgreSQL when `log` names one.
pub(super) fn options(log: Option<&str>) -> Options {
    Options {
        log_url: log.map(str::to_string),
        ..Options::default()
    }
}

pub(super) fn open(dir: &Path, log: Option<&str>) -> Result<Store> {
    open_with(dir, &options(log))
}

/// [`open`] with options of the caller's.
pub(super) fn open_with(dir: &Path, options: &Options) -> Result<Store> {
    let log = options.log_url.as_deref();
    let mut progress = progress_printer("catching up projections");
    let store = Store::open_with_progress(dir, options, &mut progress).with_context(|| match log {
        Some(url) => format!(
            "cannot open the store in {} on the log at {}",
            dir.display(),
            lineage_store::log::postgres::redacted(url)
        ),
        None => format!("cannot open the store in {}", dir.display()),
    })?;
    if let Some(aside) = &store.opened().derived_set_aside {
        eprintln!(
            "note: the derived data could not be read (damaged by a crash); it was moved to {} and rebuilt from the log",
            aside.display()
        );
    }
    Ok(store)
}

/// Existing data directories only: reading commands must not create an empty store.
pub(super) fn open_existing(dir: &Path, log: Option<&str>) -> Result<Store> {
    // On PostgreSQL the log is elsewhere: a node's empty directory is derived from it.
    if log.is_none() && !dir.join("log").is_dir() {
        bail!(
            "no Lineage store in {} (run `lineage demo` or pass --data-dir)",
            dir.display()
        );
    }
    open(dir, log)
}
