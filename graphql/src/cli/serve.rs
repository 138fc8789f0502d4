//! `lineage serve`: its flags, logging, the price book, and the server's start.

use super::*;

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "LINEAGE_BIND", default_value = "127.0.0.1:8080")]
    pub(super) bind: String,
    /// Fill an empty store with the demo story first.
    #[arg(long, env = "LINEAGE_DEMO")]
    pub(super) demo: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LINEAGE_LOG_FORMAT", default_value = "text")]
    pub(super) log_format: String,
    /// The deepest query accepted.
    #[arg(long, env = "LINEAGE_MAX_DEPTH", default_value_t = 16)]
    pub(super) max_depth: usize,
    /// The most complex query accepted (async-graphql's complexity: one per field).
    #[arg(long, env = "LINEAGE_MAX_COMPLEXITY", default_value_t = 5000)]
    pub(super) max_complexity: usize,
    /// The most items a page may hold.
    #[arg(long, env = "LINEAGE_MAX_PAGE", default_value_t = 500)]
    pub(super) max_page: usize,
    /// The largest request body accepted, in bytes.
    #[arg(long, env = "LINEAGE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub(super) max_body_bytes: usize,
    /// The largest artifact an MLflow client may upload, in bytes.
    #[arg(long, env = "LINEAGE_MAX_ARTIFACT_BYTES", default_value_t = 1 << 30)]
    pub(super) max_artifact_bytes: u64,
    /// The longest a request may run, in milliseconds.
    #[arg(long, env = "LINEAGE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub(super) request_timeout_ms: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "LINEAGE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub(super) max_connections: usize,
    /// How long a client may take to send a request's headers, and then its body, in
    /// milliseconds (slow clients are cut off).
    #[arg(long, env = "LINEAGE_CLIENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub(super) client_timeout_ms: u64,
    /// GraphQL requests one principal may have running at once; more wait their turn.
    #[arg(long, env = "LINEAGE_MAX_IN_FLIGHT_PER_PRINCIPAL", default_value_t = 32)]
    pub(super) max_in_flight_per_principal: usize,
    /// Milliseconds of server time one principal's requests may take per second (0: no
    /// limit); past it the principal gets 429 with Retry-After until its budget refills.
    /// The default is half the time of the machine's threads.
    #[arg(long, env = "LINEAGE_PRINCIPAL_BUDGET_MS", default_value_t = crate::budget::default_per_principal().as_millis() as u64)]
    pub(super) principal_budget_ms: u64,
    /// A JSON price book for bills (prices left out keep their defaults).
    #[arg(long, env = "LINEAGE_PRICE_BOOK")]
    pub(super) price_book: Option<PathBuf>,
    /// A witness to ask for cosignatures of the transparency log's checkpoints:
    /// `URL=VKEY`, its submission prefix (c2sp.org/tlog-witness) and its Ed25519
    /// cosignature verifier key. Repeatable; `/tlog/checkpoint` then serves the latest
    /// checkpoint with the cosignatures it got.
    #[arg(long = "witness", env = "LINEAGE_WITNESSES", value_delimiter = ',')]
    pub(super) witnesses: Vec<crate::witness::WitnessAt>,
    /// How much of the derived data to keep in memory, in MiB (sled's cache); reads of a
    /// larger working set go to the page cache.
    #[arg(long, env = "LINEAGE_CACHE_MB", default_value_t = lineage_store::store::DEFAULT_CACHE_BYTES >> 20)]
    pub(super) cache_mb: u64,
    /// How often to look for a new checkpoint to submit to the witnesses, in milliseconds.
    #[arg(long, env = "LINEAGE_WITNESS_EVERY_MS", default_value_t = 10_000)]
    pub(super) witness_every_ms: u64,
}

/// The price book in `path`, or the defaults.
pub(super) fn price_book(path: Option<&Path>) -> Result<lineage_store::billing::PriceBook> {
    let Some(path) = path else {
        return Ok(Default::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the price book {}", path.display()))?;
    lineage_store::billing::PriceBook::from_json(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// Prints a line for whoever started the server; a closed stdout (`serve | head -1`) is
/// no reason to stop serving.
macro_rules! say {
    ($($words:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($words)*);
    }};
}

pub(super) fn init_logging(format: &str) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINEAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: not in files, pipes or journald.
        .with_ansi(std::io::stderr().is_terminal());
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

pub(super) fn run_serve(dir: &Path, log: Option<&str>, args: ServeArgs) -> Result<()> {
    init_logging(&args.log_format)?;
    let options = lineage_store::Options {
        log_url: log.map(str::to_string),
        cache_bytes: args.cache_mb.max(1) << 20,
        ..Default::default()
    };
    let store = std::sync::Arc::new(open_with(dir, &options)?);
    // The store is open, so no other process serves this directory: what uploads left in
    // `artifacts/incoming/` was cut short.
    let removed = lineage_importer::mlflow::tracking::artifacts::remove_interrupted_uploads(dir)
        .context("removing the files of interrupted uploads")?;
    if removed > 0 {
        tracing::info!(removed, "removed the files of uploads a stop cut short");
    }
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
        say!("API tokens (shown only now; send them as `Authorization: Bearer <token>`):");
        for token in &tokens {
            say!("  {:<12} {}", token.principal.as_str(), token.secret);
        }
    } else if args.demo {
        say!("The demo story was already here; make a token with `lineage token create --principal u-alex`.");
    }
    let options = crate::server::ServeOptions {
        prices: price_book(args.price_book.as_deref())?,
        witnessing: crate::witness::Witnessing {
            witnesses: args.witnesses,
            every: std::time::Duration::from_millis(args.witness_every_ms.max(1)),
        },
        bind: args.bind,
        limits: crate::api::Limits {
            max_depth: args.max_depth,
            max_complexity: args.max_complexity,
            max_page: args.max_page,
        },
        server_limits: crate::server::ServerLimits {
            max_body_bytes: args.max_body_bytes,
            max_artifact_bytes: args.max_artifact_bytes,
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
            Some(secret) => say!(
                "Lineage explorer: http://{address}/#token={secret} (signed in as {})",
                DEMO_USERS[0]
            ),
            None => say!("Lineage explorer: http://{address}/ (sign in with an API token)"),
        }
        say!("Lineage is serving GraphQL at http://{address}/graphql");
    }))
}
