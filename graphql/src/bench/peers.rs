//! `lineage bench --peers`: Lineage's side of the side-by-side benchmark with MLflow and
//! ML Metadata (`tests/peers/`), the same workloads, answered as JSON for the report:
//! W1 tracking ingest (batched and one call per metric point, in-process and over
//! GraphQL/HTTP), W2 lineage (10 000 chains, then `trace` of 1 000 random services),
//! the registry (model versions from runs; a version's source run), memory and disk.

use crate::api::Limits;
use crate::bench::graph::{chain, percentiles, trace_body, Http};
use crate::server::{serve_until, ServeOptions, ServerLimits};
use anyhow::{bail, Result};
use lineage_schema::command::RegisterModelVersion;
use lineage_schema::entity::Detail;
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::*;
use lineage_store::{Options, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PARAMS: usize = 10;
const TAGS: usize = 5;
const POINTS: usize = 100;

fn act(command: Command) -> CommandEnvelope {
    CommandEnvelope::new(id("u-bench"), command)
}

/// Peak resident memory of this process so far (VmHWM), MiB.
fn peak_rss_mib() -> f64 {
    crate::bench::graph::status_mib("VmHWM:")
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(path),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The commands of one tracked run: start, params, tags, metric points (in one command
/// or one per point), complete.
fn run_commands(run: &str, per_point: bool) -> Vec<Command> {
    let run_id: RunId = id(run);
    let mut commands = vec![Command::StartRun(RunStarted {
        run: run_id.clone(),
        experiment: id("e"),
        compute_target: id("ct"),
        revision: "rev".into(),
        parent: None,
    })];
    commands.push(Command::LogParams(ParamsLogged {
        run: run_id.clone(),
        params: (0..PARAMS)
            .map(|i| Param {
                key: format!("param_{i}"),
                value: format!("{}", i * 7),
            })
            .collect(),
    }));
    commands.push(Command::SetRunTags(RunTagsSet {
        run: run_id.clone(),
        tags: (0..TAGS)
            .map(|i| Tag {
                key: format!("tag_{i}"),
                value: format!("value {i}"),
            })
            .collect(),
    }));
    let point = |step: usize| MetricPoint {
        name: "loss".into(),
        value: 1.0 / (step as f64 + 1.0),
        step: step as i64,
        timestamp: Timestamp::now(),
    };
    if per_point {
        for step in 0..POINTS {
            commands.push(Command::LogMetrics(MetricsLogged {
                run: run_id.clone(),
                points: vec![point(step)],
            }));
        }
    } else {
        commands.push(Command::LogMetrics(MetricsLogged {
            run: run_id.clone(),
            points: (0..POINTS).map(point).collect(),
        }));
    }
    commands.push(Command::CompleteRun(RunCompleted { run: run_id }));
    commands
}

/// The GraphQL request of a command: the mutation field and its input, as the API takes them.
fn mutation_body(command: &Command) -> String {
    let field = crate::api::translate::mutation_field(command);
    let input_type = command.name().to_string() + "Input";
    let input = crate::api::translate::mutation_input(command);
    json!({
        "query": format!("mutation($input: {input_type}!) {{ {field}(input: $input) {{ seq }} }}"),
        "variables": { "input": input },
    })
    .to_string()
}

/// W1 over one path (in-process or HTTP): runs/s, points/s and write latencies.
fn ingest(runs: usize, per_point: bool, prefix: &str, write: &mut dyn FnMut(Command) -> Result<()>) -> Result<Value> {
    let mut latencies = Vec::new();
    let started = Instant::now();
    for run in 0..runs {
        for command in run_commands(&format!("{prefix}-{run}"), per_point) {
            let sent = Instant::now();
            write(command)?;
            latencies.push(sent.elapsed());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    Ok(json!({
        "runs_per_s": runs as f64 / seconds,
        "points_per_s": (runs * POINTS) as f64 / seconds,
        "write_p50_ms": p50, "write_p99_ms": p99, "seconds": seconds,
    }))
}

/// The registry workload's figures: versions registered per second, register and lookup
/// latencies.
fn registry_figures(runs: usize, seconds: f64, registered: Vec<Duration>, lookups: Vec<Duration>) -> Value {
    let (p50, p99) = percentiles(registered);
    let (lookup_p50, lookup_p99) = percentiles(lookups);
    json!({ "versions_per_s": runs as f64 / seconds, "register_p50_ms": p50, "register_p99_ms": p99,
            "lookup_p50_ms": lookup_p50, "lookup_p99_ms": lookup_p99 })
}

/// A server on a loopback port over a bench store, with a token for `u-bench`.
pub(crate) struct Served {
    pub(crate) address: std::net::SocketAddr,
    pub(crate) token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

pub(crate) fn serve(runtime: &tokio::runtime::Runtime, store: &Arc<Store>) -> Result<Served> {
    let (ready, address) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        bind: "127.0.0.1:0".into(),
        limits: Limits::default(),
        // The benches measure capacity: one principal may use all of it.
        server_limits: ServerLimits {
            principal_budget: Duration::ZERO,
            ..ServerLimits::default()
        },
        prices: Default::default(),
        witnessing: Default::default(),
    };
    let task = runtime.spawn(serve_until(
        Arc::clone(store),
        options,
        move |address| ready.send(address).expect("bench listens"),
        async move {
            let _ = stopped.await;
        },
    ));
    let address = address.recv()?;
    let token = crate::auth::issue(store, &id("u-bench"), &id("u-bench"), "bench")?.secret;
    Ok(Served {
        address,
        token,
        stop: Some(stop),
        task,
    })
}

impl Served {
    /// Stops the server, which closes the store.
    pub(crate) fn stop(mut self, runtime: &tokio::runtime::Runtime) -> Result<()> {
        let _ = self.stop.take().expect("stopped once").send(());
        runtime.block_on(self.task)??;
        Ok(())
    }
}

fn checked(answer: String) -> Result<String> {
    if answer.contains("\"errors\"") {
        bail!("the API refused a bench request: {answer}");
    }
    Ok(answer)
}

pub fn run(scratch: &Path, runs: usize, chains: usize) -> Result<()> {
    let base = scratch.join(format!("lineage-bench-peers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut report = serde_json::Map::new();

    w1_in_process(&base, runs, &mut report)?;
    w1_http(&base, &runtime, runs, &mut report)?;
    w2(&base, &runtime, chains, &mut report)?;
    let _ = std::fs::remove_dir_all(&base);
    report.insert("runs".into(), json!(runs));
    report.insert("chains".into(), json!(chains));
    println!("{}", serde_json::to_string_pretty(&Value::Object(report))?);
    Ok(())
}

type Report = serde_json::Map<String, Value>;

/// W1 and the registry, in-process.
fn w1_in_process(base: &Path, runs: usize, report: &mut Report) -> Result<()> {
    let dir = base.join("w1-in-process");
    let store = Arc::new(Store::open(&dir, &Options::default())?);
    store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    let mut write = |command: Command| -> Result<()> {
        store.execute(act(command))?;
        Ok(())
    };
    report.insert("w1_in_process_batched".into(), ingest(runs, false, "rb", &mut write)?);
    report.insert("w1_in_process_per_point".into(), ingest(runs, true, "rp", &mut write)?);
    store.execute(act(Command::CreateModel(ModelCreated {
        model: id("m-reg"),
        account: id("mm"),
        name: id("registry"),
        description: String::new(),
    })))?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for run in 0..runs {
        let sent = Instant::now();
        store.execute(act(Command::RegisterModelVersion(RegisterModelVersion {
            model: id("m-reg"),
            source: ModelSource::Run {
                run: id(&format!("rb-{run}")),
                artifact_path: "model".into(),
            },
            derived_from: None,
            tags: vec![],
        })))?;
        latencies.push(sent.elapsed());
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut lookups = Vec::new();
    for version in 1..=runs as u32 {
        let sent = Instant::now();
        let model = store
            .entity(&EntityRef::new(EntityKind::Model, "m-reg"))?
            .expect("the model");
        let Detail::Model { versions, .. } = &model.detail else {
            bail!("not a model")
        };
        let Some(ModelSource::Run { run, .. }) = versions.iter().find(|v| v.version == version).map(|v| &v.source)
        else {
            bail!("version {version} has no run")
        };
        store.entity(&EntityRef::new(EntityKind::Run, run))?.expect("the run");
        lookups.push(sent.elapsed());
    }
    report.insert(
        "registry_in_process".into(),
        registry_figures(runs, seconds, latencies, lookups),
    );
    store.flush()?;
    report.insert(
        "w1_in_process_disk_mib".into(),
        json!(dir_bytes(&dir) as f64 / 1048576.0),
    );
    report.insert("w1_in_process_peak_rss_mib".into(), json!(peak_rss_mib()));
    drop(store);

    Ok(())
}

/// W1 and the registry over GraphQL/HTTP, one connection, one request at a time.
fn w1_http(base: &Path, runtime: &tokio::runtime::Runtime, runs: usize, report: &mut Report) -> Result<()> {
    let dir = base.join("w1-http");
    let store = Arc::new(Store::open(&dir, &Options::default())?);
    store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    let served = serve(runtime, &store)?;
    let mut http = Http::connect(served.address, &served.token)?;
    let mut write = |command: Command| -> Result<()> {
        checked(http.post(&mutation_body(&command))?)?;
        Ok(())
    };
    report.insert("w1_http_batched".into(), ingest(runs, false, "hb", &mut write)?);
    report.insert("w1_http_per_point".into(), ingest(runs, true, "hp", &mut write)?);
    write(Command::CreateModel(ModelCreated {
        model: id("m-reg"),
        account: id("mm"),
        name: id("registry"),
        description: String::new(),
    }))?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    for run in 0..runs {
        let body = json!({
            "query": "mutation($input: RegisterModelVersionInput!) { registerModelVersion(input: $input) { seq } }",
            "variables": { "input": { "model": "m-reg", "source": { "run": format!("hb-{run}"), "artifactPath": "model" }, "tags": [] } },
        });
        let sent = Instant::now();
        checked(http.post(&body.to_string())?)?;
        latencies.push(sent.elapsed());
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut lookups = Vec::new();
    for version in 1..=runs {
        let sent = Instant::now();
        let walk = checked(http.post(&json!({ "query": format!("{{ lineage(id: \"model/m-reg@{version}\", depth: 1, nodeKinds: [\"run\"]) {{ nodes {{ id kind }} }} }}") }).to_string())?)?;
        let answer: Value = serde_json::from_str(&walk)?;
        let Some(run) = answer["data"]["lineage"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|node| node["kind"] == "run"))
            .and_then(|node| node["id"].as_str())
        else {
            bail!("no source run for version {version}: {walk}")
        };
        checked(
            http.post(
                &json!({ "query": format!("{{ run(id: \"{run}\") {{ status startedAt params {{ key value }} }} }}") })
                    .to_string(),
            )?,
        )?;
        lookups.push(sent.elapsed());
    }
    report.insert(
        "registry_http".into(),
        registry_figures(runs, seconds, latencies, lookups),
    );
    drop(http);
    served.stop(runtime)?;
    report.insert("w1_http_disk_mib".into(), json!(dir_bytes(&dir) as f64 / 1048576.0));
    report.insert("w1_http_peak_rss_mib".into(), json!(peak_rss_mib()));
    drop(store);

    Ok(())
}

/// W2: chains, inserted one at a time (each chain all or none), then traced in-process
/// and over HTTP.
fn w2(base: &Path, runtime: &tokio::runtime::Runtime, chains: usize, report: &mut Report) -> Result<()> {
    let dir = base.join("w2");
    let store = Arc::new(Store::open(&dir, &Options::default())?);
    store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    let started = Instant::now();
    for index in 0..chains {
        store.execute_batch(chain(index, 0))?;
    }
    // Until derived data is in sled too: the traces below then run on a quiet store.
    store.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    let mut random = 0x9e37_79b9_7f4a_7c15u64;
    let services: Vec<usize> = (0..1000)
        .map(|_| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random as usize % chains
        })
        .collect();
    let mut samples = Vec::new();
    for service in &services {
        let sent = Instant::now();
        let trace = store.lineage().trace(&id(&format!("svc-{service}")), None)?;
        samples.push(sent.elapsed());
        if trace.image.is_none() {
            bail!("service {service} has no image");
        }
    }
    let (in_p50, in_p99) = percentiles(samples);
    let served = serve(runtime, &store)?;
    let mut http = Http::connect(served.address, &served.token)?;
    let mut samples = Vec::new();
    for service in &services {
        let sent = Instant::now();
        let answer = checked(http.post(&trace_body(*service))?)?;
        samples.push(sent.elapsed());
        if !answer.contains("datasets") {
            bail!("unexpected trace: {answer}");
        }
    }
    let (http_p50, http_p99) = percentiles(samples);
    drop(http);
    // Stopping the server closes the store, which writes what it held to disk.
    served.stop(runtime)?;
    report.insert(
        "w2".into(),
        json!({ "chains_per_s": chains as f64 / seconds, "insert_seconds": seconds,
                "trace_in_process_p50_ms": in_p50, "trace_in_process_p99_ms": in_p99,
                "trace_http_p50_ms": http_p50, "trace_http_p99_ms": http_p99,
                "disk_mib": dir_bytes(&dir) as f64 / 1048576.0, "peak_rss_mib": peak_rss_mib() }),
    );
    drop(store);
    Ok(())
}
