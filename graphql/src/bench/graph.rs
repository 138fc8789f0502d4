//! `lineage bench --graph`: `trace` latency in-process and over HTTP on a large store,
//! GraphQL requests/s under concurrent load on loopback, and the process's memory.

use anyhow::{bail, Context, Result};
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::literal as name;
use lineage_schema::*;
use lineage_store::{Options, Store};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn act(command: Command) -> CommandEnvelope {
    CommandEnvelope::new(id("u-bench"), command)
}

/// One chain: dataset → run (with `padding` metric events) → model version → manifest
/// version → image version → service.
pub(crate) fn chain(index: usize, padding: usize) -> Vec<CommandEnvelope> {
    let n = |prefix: &str| format!("{prefix}-{index}");
    let mut commands = vec![
        act(Command::RegisterDataset(DatasetRegistered {
            dataset: id(&n("d")),
            account: id("acct"),
            name: name(&n("data")),
            location: format!("/data/{index}"),
            version: None,
            digest: None,
        })),
        act(Command::StartRun(RunStarted {
            run: id(&n("r")),
            experiment: id("e"),
            compute_target: id("ct"),
            revision: format!("rev{index}"),
            parent: None,
        })),
        act(Command::RecordRunInputs(RunInputsRecorded {
            run: id(&n("r")),
            datasets: vec![id(&n("d"))],
        })),
    ];
    for step in 0..padding {
        commands.push(act(Command::LogMetrics(MetricsLogged {
            run: id(&n("r")),
            points: vec![MetricPoint {
                name: "loss".into(),
                value: 1.0 / (step as f64 + 1.0),
                step: step as i64,
                timestamp: Timestamp::now(),
            }],
        })));
    }
    commands.extend([
        act(Command::CompleteRun(RunCompleted { run: id(&n("r")) })),
        act(Command::CreateModel(ModelCreated {
            model: id(&n("m")),
            account: id("mm"),
            name: name(&n("model")),
            description: String::new(),
        })),
        act(Command::RegisterModelVersion(RegisterModelVersion {
            model: id(&n("m")),
            source: ModelSource::Run {
                run: id(&n("r")),
                artifact_path: "model.pkl".into(),
            },
            derived_from: None,
            tags: vec![],
        })),
        act(Command::CreateManifest(ManifestCreated {
            manifest: id(&n("mf")),
            account: id("mm"),
            name: name(&n("manifest")),
        })),
        act(Command::AddManifestVersion(AddManifestVersion {
            manifest: id(&n("mf")),
            models: vec![ModelVersionRef {
                model: id(&n("m")),
                version: 1,
            }],
            dependencies: vec![],
            scoring_script: "score.py".into(),
            schema: None,
            sample_data: None,
        })),
        act(Command::CreateImage(ImageCreated {
            image: id(&n("img")),
            account: id("mm"),
            name: name(&n("image")),
        })),
        act(Command::StartImageBuild(StartImageBuild {
            image: id(&n("img")),
            manifest: ManifestVersionRef {
                manifest: id(&n("mf")),
                version: 1,
            },
        })),
        act(Command::RecordImageBuilt(ImageBuilt {
            image: id(&n("img")),
            version: 1,
            digest: format!("sha256:{index:x}"),
        })),
        act(Command::DeployService(ServiceDeployed {
            service: id(&n("svc")),
            account: id("mm"),
            name: name(&n("service")),
            image: ImageVersionRef {
                image: id(&n("img")),
                version: 1,
            },
            environment: id(if index.is_multiple_of(2) { "env-a" } else { "env-b" }),
            url: format!("http://svc-{index}"),
            replicas: 1,
        })),
    ]);
    commands
}

/// Fills a store with `chains` chains and about `events` events in all.
/// Fills `store` with `chains` lineage chains padded to about `events` events; the rate.
pub(super) fn fill(store: &Store, chains: usize, events: usize) -> Result<f64> {
    store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    let padding = (events / chains.max(1)).saturating_sub(12);
    let started = Instant::now();
    let mut batch = Vec::new();
    for index in 0..chains {
        batch.extend(chain(index, padding));
        if batch.len() >= 2000 || index + 1 == chains {
            store.execute_batch(std::mem::take(&mut batch))?;
        }
        if (index + 1) % 1000 == 0 {
            eprint!("\rfilled {} of {chains} chains, {} events", index + 1, store.head().seq);
        }
    }
    eprintln!();
    let head = store.head().seq;
    let rate = head as f64 / started.elapsed().as_secs_f64();
    println!(
        "filled {chains} chains, {head} events in {:.1?} ({rate:.0} events/s)",
        started.elapsed()
    );
    store.flush()?;
    Ok(rate)
}

/// `trace` in-process for 1 000 services picked at random among `chains`: p50 and p99, ms.
pub(super) fn trace_in_process(store: &Store, chains: usize) -> Result<(f64, f64)> {
    let mut random = 0x9e37_79b9_7f4a_7c15u64;
    let mut samples = Vec::new();
    for _ in 0..1000 {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let service = random as usize % chains.max(1);
        let started = Instant::now();
        let trace = store.lineage().trace(&id(&format!("svc-{service}")), None)?;
        samples.push(started.elapsed());
        if trace.image.is_none() {
            bail!("service svc-{service} has no image");
        }
    }
    Ok(percentiles(samples))
}

/// A tiny HTTP/1.1 client with keep-alive: enough for loopback measurements.
pub(crate) struct Http {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    token: String,
}

impl Http {
    pub(crate) fn connect(address: SocketAddr, token: &str) -> Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            token: token.to_string(),
        })
    }

    pub(crate) fn post(&mut self, body: &str) -> Result<String> {
        // One write: `write!` sends each piece of the format as a packet of its own.
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.token,
            body.len()
        );
        self.writer.write_all(request.as_bytes())?;
        let Some((status, body)) = read_message(&mut self.reader)? else {
            bail!("the server closed the connection");
        };
        if !status.contains(" 200 ") {
            bail!("HTTP answered {status}");
        }
        Ok(String::from_utf8(body)?)
    }
}

/// One HTTP/1.1 message off a connection: its first line and its body (by
/// `Content-Length`); `None` when the connection closed before one began.
pub(crate) fn read_message(reader: &mut impl BufRead) -> Result<Option<(String, Vec<u8>)>> {
    let mut first = String::new();
    if reader.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((first, body)))
}

pub(crate) fn trace_body(service: usize) -> String {
    // One query text with the service as a variable, as a dashboard sends it.
    serde_json::json!({
        "query": "query Trace($service: ID!) { trace(service: $service) { environment image { imageVersion manifest { manifestVersion models { modelVersion run { run revision experiment computeTarget datasets } } } } } }",
        "variables": { "service": format!("service/svc-{service}") },
    })
    .to_string()
}

pub(crate) fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction) as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99))
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// A memory figure of this process from `/proc/self/status` (`VmRSS:`, `VmHWM:`), MiB.
pub(crate) fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// `trace` of each of `services` over one keep-alive HTTP connection: p50 and p99, ms.
pub(super) fn trace_over_http(address: SocketAddr, token: &str, services: &[usize]) -> Result<(f64, f64)> {
    let mut http = Http::connect(address, token)?;
    let mut samples = Vec::new();
    for service in services {
        let started = Instant::now();
        let answer = http.post(&trace_body(*service))?;
        samples.push(started.elapsed());
        if !answer.contains("imageVersion") {
            bail!("unexpected answer: {answer}");
        }
    }
    Ok(percentiles(samples))
}

/// Requests/s of `body(i)` from `clients` connections for `seconds`.
fn load(address: SocketAddr, token: &str, clients: usize, seconds: u64, body: fn(usize) -> String) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let token = token.to_string();
            std::thread::spawn(move || -> Result<u64> {
                let mut http = Http::connect(address, &token)?;
                let mut done = 0;
                while Instant::now() < deadline {
                    http.post(&body(client * 7919 + done as usize))?;
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for thread in threads {
        total += thread.join().expect("load thread")?;
    }
    Ok(total as f64 / seconds as f64)
}

pub fn run(scratch: &Path, (chains, events): (usize, usize), seconds: u64, cache_mb: u64) -> Result<()> {
    let dir = scratch.join(format!("lineage-bench-graph-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = Options {
        cache_bytes: cache_mb.max(1) << 20,
        ..Options::default()
    };
    let store = Arc::new(Store::open(&dir, &options)?);
    fill(&store, chains, events).context("filling the store")?;
    let disk = store.stats()?;
    println!(
        "on disk: {:.1} MiB of log, {:.1} MiB derived",
        disk.log_bytes as f64 / 1048576.0,
        disk.derived_bytes as f64 / 1048576.0
    );

    let mut random = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random as usize % chains
    };
    let services: Vec<usize> = (0..1000).map(|_| next()).collect();
    let (p50, p99) = trace_in_process(&store, chains)?;
    println!("| trace, in-process | p50 {p50:.3} ms | p99 {p99:.3} ms |");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = crate::bench::peers::serve(&runtime, &store)?;
    let (address, token) = (served.address, served.token.clone());
    let (p50, p99) = trace_over_http(address, &token, &services)?;
    println!("| trace, over HTTP (one connection) | p50 {p50:.3} ms | p99 {p99:.3} ms |");
    for clients in [1, 8, 32] {
        let simple = load(address, &token, clients, seconds, |_| {
            "{\"query\":\"{ head }\"}".to_string()
        })?;
        let traces = load(address, &token, clients, seconds, |i| trace_body(i % 1000))?;
        println!("| {clients} clients | `{{ head }}` {simple:.0} requests/s | `trace` {traces:.0} requests/s |");
    }
    println!(
        "| memory (RSS of this process: store, server and load threads; sled cache {cache_mb} MiB) | {:.0} MiB now, {:.0} MiB at peak |",
        rss_mib(),
        status_mib("VmHWM:")
    );
    served.stop(&runtime)?;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
