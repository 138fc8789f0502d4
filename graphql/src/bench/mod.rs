//! `lineage bench`: durable append throughput and latency with concurrent writers, batch
//! appends, rebuild (replay) rate and bytes on disk per event, on fresh stores.
//!
//! Each figure is the median of `--repeat` runs; the machines are shared and noisy.

mod bound;
mod bytes;
mod chains;
mod cpu;
pub mod graph;
pub mod peers;
mod scale;
mod shared;

use anyhow::{Context, Result};
use lineage_schema::command::CommandEnvelope;
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::*;
use lineage_store::{Options, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Events appended per concurrency level.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Concurrent writers, comma separated (`0`: no concurrent measurement, only batch
    /// append, rebuild, verify and bytes).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    writers: Vec<usize>,
    /// Commands per batch in the batch-append measurement.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Runs per measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Where to put scratch stores (removed afterwards); default: the system temp dir.
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Measure the lineage graph and the API instead: `trace` latency in-process and
    /// over HTTP, requests/s under load, memory; on a store of `--events` events holding
    /// `--chains` dataset → run → model → manifest → image → service chains.
    #[arg(long)]
    graph: bool,
    /// sled's cache for `--graph`, in MiB (as `serve --cache-mb`).
    #[arg(long, default_value_t = lineage_store::store::DEFAULT_CACHE_BYTES >> 20)]
    cache_mb: u64,
    /// Measure how the figures grow instead: at each of these log sizes (comma
    /// separated, e.g. `10000,100000,1000000`), a store filled with lineage chains (about
    /// 100 events each): its fill rate, `trace` in-process, rebuild rate and bytes per
    /// event, then each figure's change per tenfold growth.
    #[arg(long, value_delimiter = ',', value_name = "EVENTS")]
    scale: Vec<usize>,
    /// Chains for `--graph`.
    #[arg(long, default_value_t = 10_000)]
    chains: usize,
    /// Seconds per load measurement for `--graph`.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Lineage's side of the side-by-side benchmark with MLflow and ML Metadata
    /// (`tests/peers/run.sh`): tracking ingest, lineage and registry workloads, as JSON.
    #[arg(long)]
    peers: bool,
    /// Measure lineage inserts instead: `--chains` chains of 13 commands (dataset → run →
    /// model → manifest → image → service), each one all-or-none batch, from each of
    /// `--writers` concurrent writers in-process (threads, tasks or both: `--clients`),
    /// durable (the commands built before the clock starts); chains/s, the new derived
    /// (sled) keys a chain costs, the groups the chains were synced in (chains and ms a
    /// group), and the CPU a chain costs by thread.
    #[arg(long)]
    insert_chains: bool,
    /// With `--insert-chains`: also over HTTP, as `executeBatch` requests of this many
    /// chains from as many keep-alive connections as writers, beside what the client
    /// reaches against a server that answers at once.
    #[arg(long, value_name = "CHAINS_PER_REQUEST")]
    http: Option<usize>,
    /// With `--insert-chains`: what the in-process writers are, comma separated: `threads`
    /// (each blocks on `execute_batch` until its chain is durable) and `tasks` (each an
    /// async task awaiting `execute_batch_awaited`, all on one thread, as a server's
    /// requests are); each kind is a column, their runs taken in turn.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "threads,tasks")]
    clients: Vec<chains::Clients>,
    /// Measure where the bytes of an event go instead: the log record's frame and each
    /// envelope field, each derived table's keys and values, and sled's own overhead, for
    /// `--events` one-point metric events, a tenth as many 100-point metric batches and a
    /// tenth as many lineage chains.
    #[arg(long)]
    bytes: bool,
    /// Runs for `--peers`' tracking and registry workloads.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// Measure the log on PostgreSQL beside the file log: appends with `--writers`, tail
    /// lag between two nodes, `trace` on a reading node. The address of any database on
    /// the server (`postgres://USER@HOST:PORT/postgres`); scratch databases are made there.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

fn actor() -> PrincipalId {
    id("u-bench")
}

fn setup(store: &Store, runs: usize) -> Result<()> {
    store.execute_batch(lineage_store::demo::scaffold("u-bench", runs))?;
    Ok(())
}

fn metric(run: usize, step: usize) -> CommandEnvelope {
    CommandEnvelope::new(
        actor(),
        Command::LogMetrics(MetricsLogged {
            run: id(&format!("r-{run}")),
            points: vec![MetricPoint {
                name: "loss".into(),
                value: 1.0 / (step as f64 + 1.0),
                step: step as i64,
                timestamp: Timestamp::now(),
            }],
        }),
    )
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(base: &Path, label: &str) -> Result<Self> {
        let dir = base.join(format!("lineage-bench-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Concurrent {
    events_per_second: f64,
    p50: Duration,
    p99: Duration,
    groups: u64,
}

fn concurrent_appends(base: &Path, writers: usize, events: usize, options: &Options) -> Result<Concurrent> {
    let scratch = Scratch::new(base, &format!("w{writers}"))?;
    let store = Arc::new(Store::open(&scratch.0, options)?);
    setup(&store, writers)?;
    let per_writer = events.div_ceil(writers);
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let mut latencies = Vec::with_capacity(per_writer);
                for step in 0..per_writer {
                    let sent = Instant::now();
                    store.execute(metric(writer, step))?;
                    latencies.push(sent.elapsed());
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for thread in threads {
        latencies.extend(thread.join().expect("writer thread")?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let groups = store.groups_since_open();
    store.close()?;
    Ok(Concurrent {
        events_per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        groups,
    })
}

struct Sizes {
    batch_events_per_second: f64,
    rebuild_events_per_second: f64,
    verify_events_per_second: f64,
    verify_bytes_per_second: f64,
    checkpoints: CheckpointChecks,
    hashing_records_per_second: f64,
    history_events_per_second: f64,
    log_bytes_per_event: f64,
    derived_bytes_per_event: f64,
}

fn batch_rebuild_and_sizes(base: &Path, events: usize, batch: usize) -> Result<Sizes> {
    let scratch = Scratch::new(base, "batch")?;
    let store = Store::open(&scratch.0, &Options::default())?;
    setup(&store, 100)?;
    let started = Instant::now();
    let mut appended = 0;
    while appended < events {
        let commands = (0..batch)
            .map(|index| metric((appended + index) % 100, appended + index))
            .collect();
        appended += store.execute_batch(commands)?.len();
    }
    let batch_rate = appended as f64 / started.elapsed().as_secs_f64();
    store.close()?;
    drop(store);
    let stats = {
        let reopened = Store::open(&scratch.0, &Options::default())?;
        reopened.stats()?
    };
    let started = Instant::now();
    let rebuilt = Store::rebuild(&scratch.0, &Options::default(), &mut |_| {})?;
    let rebuild_rate = rebuilt.opened().caught_up as f64 / started.elapsed().as_secs_f64();
    // Ten runs' whole histories: each run's events lie a hundred records apart in the log.
    let started = Instant::now();
    let mut read = 0;
    for run in 0..10 {
        read += rebuilt
            .history(&lineage_schema::EntityRef::new(
                lineage_schema::EntityKind::Run,
                format!("r-{run}"),
            ))?
            .len();
    }
    let history_rate = read as f64 / started.elapsed().as_secs_f64();
    let signed = (rebuilt.checkpoint()?, rebuilt.tlog_checkpoint(None)?);
    rebuilt.close()?;
    drop(rebuilt);
    let started = Instant::now();
    let report = Store::verify(&scratch.0)?;
    let verify_seconds = started.elapsed().as_secs_f64();
    let hashing_rate = bound::hashing_records_per_second(&scratch.0.join("log"))?;
    let checkpoints = checkpoint_checks(&scratch.0, signed)?;
    Ok(Sizes {
        checkpoints,
        verify_bytes_per_second: stats.log_bytes as f64 / verify_seconds,
        hashing_records_per_second: hashing_rate,
        batch_events_per_second: batch_rate,
        rebuild_events_per_second: rebuild_rate,
        history_events_per_second: history_rate,
        verify_events_per_second: report.records as f64 / verify_seconds,
        log_bytes_per_event: stats.log_bytes as f64 / stats.head as f64,
        derived_bytes_per_event: stats.derived_bytes as f64 / stats.head as f64,
    })
}

/// Checking a checkpoint of the whole log offline, records/s: a JSON one, a note.
struct CheckpointChecks {
    json: f64,
    note: f64,
}

/// Times `lineage verify --checkpoint`'s work for each kind of checkpoint in `signed`.
fn checkpoint_checks(dir: &Path, signed: (lineage_schema::checkpoint::Checkpoint, String)) -> Result<CheckpointChecks> {
    let (json, note) = signed;
    let started = Instant::now();
    let check = Store::verify_checkpoint(dir, &json, None)?;
    anyhow::ensure!(check.matches, "the bench's own checkpoint does not hold");
    let json_rate = json.size as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let (opened, check) = Store::verify_tlog_checkpoint_in(dir, None, &note, (&[], &[]), &mut |_| {})?;
    anyhow::ensure!(check.matches, "the bench's own checkpoint note does not hold");
    Ok(CheckpointChecks {
        json: json_rate,
        note: opened.size as f64 / started.elapsed().as_secs_f64(),
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let base = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    if args.peers {
        return crate::bench::peers::run(&base, args.runs, args.chains);
    }
    if !args.scale.is_empty() {
        return scale::run(&base, &args.scale, args.cache_mb);
    }
    if args.bytes {
        return bytes::run(&base, args.events);
    }
    if args.insert_chains {
        let runs = chains::ChainRuns {
            chains: args.chains,
            writers: &args.writers,
            clients: &args.clients,
            repeat: args.repeat,
            http: args.http,
        };
        return chains::run(&base, &runs);
    }
    if args.graph {
        return crate::bench::graph::run(&base, (args.chains, args.events), args.seconds, args.cache_mb);
    }
    if let Some(server) = &args.postgres {
        return shared::run(&base, server, args);
    }
    let repeat = args.repeat.max(1);
    println!(
        "lineage bench: {} events per measurement, median of {repeat} runs, scratch in {}",
        args.events,
        base.display()
    );
    let writer_counts: Vec<usize> = args.writers.iter().copied().filter(|&writers| writers > 0).collect();
    if !writer_counts.is_empty() {
        println!();
        println!("| writers | events/s | ack p50 (ms) | ack p99 (ms) | events per sync |");
        println!("|--------:|---------:|-------------:|-------------:|----------------:|");
    }
    for writers in writer_counts {
        let runs = (0..repeat)
            .map(|_| concurrent_appends(&base, writers, args.events, &Options::default()))
            .collect::<Result<Vec<_>>>()?;
        let rate = median(runs.iter().map(|run| run.events_per_second).collect());
        let p50 = median(runs.iter().map(|run| ms(run.p50)).collect());
        let p99 = median(runs.iter().map(|run| ms(run.p99)).collect());
        let per_sync = median(
            runs.iter()
                .map(|run| args.events as f64 / run.groups.max(1) as f64)
                .collect(),
        );
        println!("| {writers:>7} | {rate:>8.0} | {p50:>12.3} | {p99:>12.3} | {per_sync:>15.1} |");
    }
    let runs = (0..repeat)
        .map(|_| batch_rebuild_and_sizes(&base, args.events, args.batch.max(1)))
        .collect::<Result<Vec<_>>>()?;
    print_sizes(&runs, args.batch);
    Ok(())
}

/// The table of the batch store's figures, each the median of `runs`.
fn print_sizes(runs: &[Sizes], batch: usize) {
    println!();
    println!("| measurement | median |");
    println!("|---|---:|");
    println!(
        "| batch append ({} per batch), events/s | {:.0} |",
        batch,
        median(runs.iter().map(|run| run.batch_events_per_second).collect())
    );
    println!(
        "| rebuild (replay into every projection), events/s | {:.0} |",
        median(runs.iter().map(|run| run.rebuild_events_per_second).collect())
    );
    println!(
        "| history reads (ten runs' events, each a hundred records from the next), events/s | {:.0} |",
        median(runs.iter().map(|run| run.history_events_per_second).collect())
    );
    println!(
        "| verify (checksums + hash chain), events/s | {:.0} |",
        median(runs.iter().map(|run| run.verify_events_per_second).collect())
    );
    println!(
        "| verify, MB of log per second | {:.0} |",
        median(runs.iter().map(|run| run.verify_bytes_per_second / 1e6).collect())
    );
    println!(
        "| verify a JSON checkpoint of the whole log (every record and the blake3 root), records/s | {:.0} |",
        median(runs.iter().map(|run| run.checkpoints.json).collect())
    );
    println!(
        "| verify a checkpoint note of the whole log (every record and the SHA-256 root over the entries), records/s | {:.0} |",
        median(runs.iter().map(|run| run.checkpoints.note).collect())
    );
    println!(
        "| blake3 alone over every record's whole body on both cores (what any verifier must do), records/s | {:.0} |",
        median(runs.iter().map(|run| run.hashing_records_per_second).collect())
    );
    println!(
        "| log bytes per event | {:.1} |",
        median(runs.iter().map(|run| run.log_bytes_per_event).collect())
    );
    println!(
        "| derived (sled) bytes per event | {:.1} |",
        median(runs.iter().map(|run| run.derived_bytes_per_event).collect())
    );
}
