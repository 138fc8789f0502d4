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

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "LINEAGE_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Fill an empty store with the demo story first.
    #[arg(long, env = "LINEAGE_DEMO")]
    demo: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LINEAGE_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// The deepest query accepted.
    #[arg(long, env = "LINEAGE_MAX_DEPTH", default_value_t = 16)]
    max_depth: usize,
    /// The most complex query accepted (async-graphql's complexity: one per field).
    #[arg(long, env = "LINEAGE_MAX_COMPLEXITY", default_value_t = 5000)]
    max_complexity: usize,
    /// The most items a page may hold.
    #[arg(long, env = "LINEAGE_MAX_PAGE", default_value_t = 500)]
    max_page: usize,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "LINEAGE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// The longest a request may run, in milliseconds.
    #[arg(long, env = "LINEAGE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    request_timeout_ms: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "LINEAGE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// How long a client may take to send a request's headers, and then its body, in
    /// milliseconds (slow clients are cut off).
    #[arg(long, env = "LINEAGE_CLIENT_TIMEOUT_MS", default_value_t = 5_000)]
    client_timeout_ms: u64,
    /// GraphQL requests one principal may have running at once; more wait their turn.
    #[arg(long, env = "LINEAGE_MAX_IN_FLIGHT_PER_PRINCIPAL", default_value_t = 32)]
    max_in_flight_per_principal: usize,
    /// Milliseconds of server time one principal's requests may take per second (0: no
    /// limit); past it the principal gets 429 with Retry-After until its budget refills.
    /// The default is half the time of the machine's threads.
    #[arg(long, env = "LINEAGE_PRINCIPAL_BUDGET_MS", default_value_t = crate::budget::default_per_principal().as_millis() as u64)]
    principal_budget_ms: u64,
    /// A JSON price book for bills (prices left out keep their defaults).
    #[arg(long, env = "LINEAGE_PRICE_BOOK")]
    price_book: Option<PathBuf>,
}

/// The price book in `path`, or the defaults.
fn price_book(path: Option<&Path>) -> Result<lineage_store::billing::PriceBook> {
    let Some(path) = path else {
        return Ok(Default::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the price book {}", path.display()))?;
    lineage_store::billing::PriceBook::from_json(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

fn init_logging(format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        "json" => builder.json().try_init(),
        "text" => builder.try_init(),
        other => bail!("unknown log format `{other}`: use `text` or `json`"),
    };
    // A second server in one process (tests) keeps the first subscriber.
    let _ = installed;
    Ok(())
}

/// The demo's people, who get tokens when the demo story is first told.
const DEMO_USERS: [&str; 5] = ["u-alex", "u-ada", "u-linus", "u-margaret", "u-grace"];

fn run_serve(dir: &Path, args: ServeArgs) -> Result<()> {
    init_logging(&args.log_format)?;
    let store = std::sync::Arc::new(open(dir)?);
    let mut tokens = Vec::new();
    let mut demo_told = false;
    if args.demo {
        let appended = demo::fill(&store).context("the demo story was refused")?;
        tracing::info!(appended, "demo story in place");
        demo_told = appended > 0;
    }
    if let Some(token) = crate::auth::bootstrap(&store)? {
        tokens.push(token);
    }
    if demo_told {
        let admin = crate::auth::administrator(&store)?;
        for user in DEMO_USERS {
            tokens.push(crate::auth::issue(
                &store,
                &admin,
                &lineage_schema::PrincipalId::new(user)?,
                "demo",
            )?);
        }
    }
    if !tokens.is_empty() {
        println!("API tokens (shown only now; send them as `Authorization: Bearer <token>`):");
        for token in &tokens {
            println!("  {:<12} {}", token.principal.as_str(), token.secret);
        }
    } else if args.demo {
        println!("The demo story was already here; make a token with `lineage token create --principal u-alex`.");
    }
    let options = crate::server::ServeOptions {
        prices: price_book(args.price_book.as_deref())?,
        bind: args.bind,
        limits: crate::api::Limits {
            max_depth: args.max_depth,
            max_complexity: args.max_complexity,
            max_page: args.max_page,
        },
        server_limits: crate::server::ServerLimits {
            max_body_bytes: args.max_body_bytes,
            request_timeout: std::time::Duration::from_millis(args.request_timeout_ms),
            max_connections: args.max_connections,
            header_timeout: std::time::Duration::from_millis(args.client_timeout_ms),
            body_timeout: std::time::Duration::from_millis(args.client_timeout_ms),
            max_in_flight_per_principal: args.max_in_flight_per_principal,
            principal_budget: std::time::Duration::from_millis(args.principal_budget_ms),
        },
    };
    // The demo's first user, signed in through the address's fragment (which browsers
    // never send to the server), so the printed address opens on the demo's lineage.
    let explorer_token = tokens
        .iter()
        .find(|token| token.principal.as_str() == DEMO_USERS[0])
        .map(|token| token.secret.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(crate::server::serve(store, options, |address| {
        match &explorer_token {
            Some(secret) => println!(
                "Lineage explorer: http://{address}/#token={secret} (signed in as {})",
                DEMO_USERS[0]
            ),
            None => println!("Lineage explorer: http://{address}/ (sign in with an API token)"),
        }
        println!("Lineage is serving GraphQL at http://{address}/graphql");
    }))
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    /// Only events billed and audited under this account.
    #[arg(long)]
    account: Option<String>,
    /// Only events this principal caused.
    #[arg(long)]
    actor: Option<String>,
    /// Only events of this entity, `kind/id`.
    #[arg(long)]
    entity: Option<String>,
    /// Only events on entities of this kind (`run`, `service`, …).
    #[arg(long)]
    kind: Option<String>,
    /// Only events of this type (`RunStarted`, …).
    #[arg(long = "type")]
    event_type: Option<String>,
    /// Recorded at or after this time (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Recorded before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    format: crate::export::Format,
    /// Export at most this many events.
    #[arg(long, default_value_t = usize::MAX)]
    limit: usize,
}

fn run_audit(dir: &Path, args: AuditArgs) -> Result<()> {
    let filter = crate::export::filter(
        args.account.as_deref(),
        args.actor.as_deref(),
        args.entity.as_deref(),
        args.kind.as_deref(),
        args.event_type.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
    )?;
    let store = open_existing(dir)?;
    // The command line runs on the store's own machine, with its files: it sees everything.
    crate::export::write(&store, &filter, &|_| true, args.format, args.limit, &mut |text| {
        print!("{text}");
        Ok(())
    })?;
    std::io::stdout().flush()?;
    Ok(())
}

/// Where imported records land, and as whom.
#[derive(Debug, clap::Args)]
struct ImportTarget {
    /// The experimentation account runs, experiments and datasets go to.
    #[arg(long)]
    account: String,
    /// The workspace (in that account) experiments go to.
    #[arg(long)]
    workspace: String,
    /// The project experiments go to, made if missing [default: the workspace's project
    /// named after the source, made if missing].
    #[arg(long)]
    project: Option<String>,
    /// The principal the import acts as, recorded on every event [default: the store's
    /// administrator].
    #[arg(long = "as", value_name = "PRINCIPAL")]
    actor: Option<String>,
    /// Stop at the first record that cannot be imported (by default it is skipped, named
    /// in the summary, and the rest is imported).
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// Import an MLflow tracking store: a file store (an `mlruns/` folder, its model
    /// registry included) or a SQLite database (`mlflow.db`). Experiments, runs (params,
    /// metric histories, tags, dataset inputs, logged models), registered models with
    /// their versions, tags and aliases. Importing again adds only what is new.
    Mlflow {
        /// The `mlruns` folder (or the folder holding it), or the `mlflow.db` file.
        path: PathBuf,
        #[command(flatten)]
        target: ImportTarget,
        /// The model management account registered models go to [default: the only one
        /// in the account's subscription].
        #[arg(long)]
        model_account: Option<String>,
    },
    /// Import OpenLineage events (NDJSON, one event a line, as emitters write them):
    /// jobs become experiments in a project per job namespace (or in --project), runs
    /// become runs with their parents, datasets become datasets with their schema and
    /// version. Every line is checked before anything is appended; an event already
    /// imported (same run, type and time) appends nothing.
    Openlineage {
        file: PathBuf,
        #[command(flatten)]
        target: ImportTarget,
    },
    /// Restore an export of this kind of store (`lineage export`): into an empty store, or
    /// onto one whose log the export continues (an incremental backup). Every line is
    /// checked — JSON, positions, hash chain — before anything is appended.
    Lineage {
        file: PathBuf,
        /// Replay the export into this store instead — for one account's export
        /// (`export --account`) into another store: each event is recorded again by the
        /// same actor with the time it happened, at this store's next positions, all of
        /// it or none. Principals and subscriptions already here are kept.
        #[arg(long)]
        replay: bool,
    },
}

fn run_export(dir: &Path, account: Option<String>, since: u64) -> Result<()> {
    let filter = EventFilter {
        account: account.map(AccountId::new).transpose()?,
        stream: None,
    };
    let store = open_existing(dir)?;
    lineage_importer::lineage_format::export(&store, &filter, since, &mut |lines| {
        print!("{lines}");
        Ok(())
    })?;
    std::io::stdout().flush()?;
    Ok(())
}

fn run_import_lineage(dir: &Path, file: &Path) -> Result<()> {
    let store = open(dir)?;
    let restored = lineage_importer::lineage_format::restore(&store, file, &mut progress_printer("restoring"))?;
    store.close()?;
    println!(
        "restored {} events; the log ends at seq {} with hash {}",
        restored.events, restored.head.seq, restored.head.hash
    );
    Ok(())
}

fn import_target(
    store: &Store,
    target: &ImportTarget,
    model_account: Option<String>,
    source: &str,
) -> Result<lineage_importer::Target> {
    let actor = match &target.actor {
        Some(actor) => lineage_schema::PrincipalId::new(actor.clone())?,
        None => crate::auth::administrator(store)?,
    };
    let spec = lineage_importer::TargetSpec {
        actor,
        account: target.account.clone(),
        workspace: target.workspace.clone(),
        project: target.project.clone(),
        model_account,
    };
    // MLflow's experiments share one project; OpenLineage's jobs get one per namespace.
    Ok(lineage_importer::Target::prepare_with(
        store,
        &spec,
        source,
        source == "mlflow",
    )?)
}

fn run_import_mlflow(dir: &Path, path: &Path, target: &ImportTarget, model_account: Option<String>) -> Result<()> {
    let tracking = lineage_importer::mlflow::read(path)?;
    let store = open_existing(dir)?;
    let resolved = import_target(&store, target, model_account, "mlflow")?;
    let summary = lineage_importer::mlflow::import(
        &store,
        tracking,
        &resolved,
        target.strict,
        &mut progress_printer_of("importing", "records"),
    )?;
    store.close()?;
    print!("Imported {} into {}:\n{summary}", path.display(), dir.display());
    Ok(())
}

fn run_import_openlineage(dir: &Path, file: &Path, target: &ImportTarget) -> Result<()> {
    let events = lineage_importer::openlineage::read_file(file)?;
    let store = open_existing(dir)?;
    let resolved = import_target(&store, target, None, "openlineage")?;
    let summary = lineage_importer::openlineage::import(
        &store,
        &resolved,
        &events,
        target.strict,
        &mut progress_printer_of("importing", "events"),
    )?;
    store.close()?;
    print!("Imported {} into {}:\n{summary}", file.display(), dir.display());
    Ok(())
}

fn run_replay_lineage(dir: &Path, file: &Path) -> Result<()> {
    let store = open(dir)?;
    let replayed = lineage_importer::lineage_format::replay(&store, file)?;
    let head = store.head();
    store.close()?;
    println!(
        "replayed {} events ({} already here); the log ends at seq {} with hash {}",
        replayed.appended, replayed.already_here, head.seq, head.hash
    );
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BillFormat {
    Table,
    Csv,
}

fn money(cents: i64) -> String {
    format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.abs() / 100,
        cents.abs() % 100
    )
}

fn run_bill(
    dir: &Path,
    account: &str,
    month: &str,
    format: BillFormat,
    prices: &lineage_store::billing::PriceBook,
) -> Result<()> {
    let account = AccountId::new(account)?;
    let month = lineage_store::billing::Month::parse(month)
        .with_context(|| format!("`{month}` is not a month like 2026-03"))?;
    let store = open_existing(dir)?;
    let bill = store.bill(&account, month, prices)?;
    let events = |seqs: &[u64]| seqs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    match format {
        BillFormat::Csv => {
            println!("description,quantity,unit_price,amount,events");
            for line in &bill.lines {
                println!(
                    "\"{}\",{},{},{},{}",
                    line.description,
                    line.quantity,
                    money(line.unit_price),
                    money(line.amount),
                    events(&line.events)
                );
            }
            println!("\"total\",,,{},", money(bill.total));
        }
        BillFormat::Table => {
            println!("Bill for account {} — {} ({})", bill.account, bill.month, bill.currency);
            println!();
            println!(
                "{:<50} {:>20} {:>12} {:>12}  events",
                "line", "quantity", "unit price", "amount"
            );
            for line in &bill.lines {
                println!(
                    "{:<50} {:>20} {:>12} {:>12}  {}",
                    line.description,
                    line.quantity,
                    money(line.unit_price),
                    money(line.amount),
                    events(&line.events)
                );
            }
            println!("{:<50} {:>20} {:>12} {:>12}", "total", "", "", money(bill.total));
            if !bill.seats.is_empty() {
                println!();
                println!("seats held (days of the month):");
                for seat in &bill.seats {
                    println!(
                        "  {:<16} {} days: {}",
                        seat.principal.as_str(),
                        seat.days.len(),
                        seat.days.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token to a principal and print its secret (shown only now).
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secrets), of one principal or all.
    List {
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a token: the next request with it is refused.
    Revoke {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        token: String,
    },
}

fn run_token(dir: &Path, command: TokenCommand) -> Result<()> {
    let store = open_existing(dir)?;
    let admin = crate::auth::administrator(&store)?;
    match command {
        TokenCommand::Create { principal, label } => {
            let issued = crate::auth::issue(&store, &admin, &lineage_schema::PrincipalId::new(principal)?, &label)?;
            println!(
                "token {} for {} (the secret is shown only now):\n{}",
                issued.token, issued.principal, issued.secret
            );
        }
        TokenCommand::List { principal } => {
            let mut after: Option<String> = None;
            println!(
                "{:<16} {:<20} {:<28} {:<28} label",
                "principal", "token", "issued", "revoked"
            );
            loop {
                let page = store.entities(lineage_schema::EntityKind::Principal, after.as_deref(), 500)?;
                let Some(last) = page.last() else { break };
                after = Some(last.reference.id.clone());
                for entity in page
                    .iter()
                    .filter(|entity| principal.as_deref().is_none_or(|p| entity.reference.id == p))
                {
                    if let lineage_schema::entity::Detail::Principal { tokens, .. } = &entity.detail {
                        for token in tokens {
                            let revoked = token
                                .revoked
                                .as_ref()
                                .map(|stamp| stamp.at.to_string())
                                .unwrap_or_else(|| "-".into());
                            println!(
                                "{:<16} {:<20} {:<28} {:<28} {}",
                                entity.reference.id,
                                token.token,
                                token.issued.at.to_string(),
                                revoked,
                                token.label
                            );
                        }
                    }
                }
            }
        }
        TokenCommand::Revoke { principal, token } => {
            let command = lineage_schema::CommandEnvelope::new(
                admin,
                lineage_schema::Command::RevokeToken(lineage_schema::event::TokenRevoked {
                    principal: lineage_schema::PrincipalId::new(principal)?,
                    token: lineage_schema::TokenId::new(token)?,
                }),
            );
            let appended = store.execute(command)?;
            println!("revoked (log position {})", appended.seq);
        }
    }
    store.close()?;
    Ok(())
}

#[derive(Debug, Subcommand)]
enum ProofCommand {
    /// Event `--seq` is leaf `seq - 1` of the tree of `--size` events (default: all).
    Inclusion {
        #[arg(long)]
        seq: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// The tree of `--from` events is a prefix of the tree of `--to` events (default: all).
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
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
    progress_printer_of(what, "events")
}

/// Progress on a terminal, counting `unit`s: a bar, the count and the percentage.
fn progress_printer_of(what: &'static str, unit: &'static str) -> impl FnMut(u64, u64) {
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

fn run_verify_checkpoint(dir: &Path, file: &Path, public_key: Option<&str>) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let checkpoint: lineage_schema::checkpoint::Checkpoint =
        serde_json::from_str(&text).with_context(|| format!("{} is not a Lineage checkpoint", file.display()))?;
    run_verify(dir)?;
    let check = match Store::verify_checkpoint(dir, &checkpoint, public_key) {
        Ok(check) => check,
        Err(lineage_store::Error::Rejected(rejection)) => bail!("the checkpoint does not hold: {rejection}"),
        Err(other) => return Err(other.into()),
    };
    if !check.matches {
        bail!(
            "history was rewritten: the first {} events have root {}, but the checkpoint of {} saw {}",
            checkpoint.size,
            check.root,
            checkpoint.time,
            checkpoint.root
        );
    }
    println!(
        "ok: the first {} events are the history the checkpoint of {} saw (root {})",
        checkpoint.size, checkpoint.time, checkpoint.root
    );
    Ok(())
}

fn run_checkpoint(dir: &Path, out: Option<&Path>) -> Result<()> {
    let store = open_existing(dir)?;
    let checkpoint = store.checkpoint()?;
    let json = serde_json::to_string_pretty(&checkpoint)?;
    match out {
        Some(path) => {
            std::fs::write(path, format!("{json}\n")).with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "checkpoint of {} events (root {}) written to {}",
                checkpoint.size,
                checkpoint.root,
                path.display()
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}

fn hexes(proof: &[lineage_schema::Digest]) -> Vec<String> {
    proof.iter().map(|digest| digest.to_hex()).collect()
}

fn run_proof(dir: &Path, proof: ProofCommand) -> Result<()> {
    let store = open_existing(dir)?;
    let head = store.head().seq;
    let answer = match proof {
        ProofCommand::Inclusion { seq, size } => {
            let size = size.unwrap_or(head);
            let path = store.inclusion_proof(seq, size)?;
            let event = store.event(seq)?.context("no such event")?;
            serde_json::json!({ "seq": seq, "treeSize": size, "eventHash": event.hash, "root": store.merkle_root(size)?, "path": hexes(&path) })
        }
        ProofCommand::Consistency { from, to } => {
            let to = to.unwrap_or(head);
            let path = store.consistency_proof(from, to)?;
            serde_json::json!({ "from": from, "to": to, "fromRoot": store.merkle_root(from)?, "toRoot": store.merkle_root(to)?, "path": hexes(&path) })
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
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
