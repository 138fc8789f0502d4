//! Load with kills: many concurrent clients drive mixed mutations and queries at a real
//! `lineage serve` process over HTTP for a bounded time, while the server is SIGKILLed
//! and restarted. Afterwards every mutation that was answered with success must be in
//! the log exactly once, at the position it was answered with; the log must verify and
//! the projections equal a replay of it.

use anyhow::{bail, Context, Result};
use lineage_schema::EventId;
use lineage_store::{Options, Store};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The `lineage` binary to serve with.
    pub binary: PathBuf,
    pub dir: PathBuf,
    pub clients: usize,
    pub duration: Duration,
    /// SIGKILLs, spread evenly over the run.
    pub kills: usize,
}

#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub seconds: f64,
    pub kills: usize,
    /// Requests answered (successfully or with an error the API chose).
    pub answered: u64,
    pub mutations_acknowledged: u64,
    pub queries_answered: u64,
    /// Requests that found no server (it was down) or lost their connection.
    pub unreachable: u64,
    /// Retries (same idempotency key) answered with the original position.
    pub retries_answered: u64,
    /// Requests turned away with 429 (the principal's share of server time was spent);
    /// each is sent again after its `Retry-After`.
    pub throttled: u64,
    /// Acknowledged mutations missing from the log or at another position: must be 0.
    pub lost: u64,
    pub events_in_log: u64,
}

impl LoadReport {
    pub fn answered_per_second(&self) -> f64 {
        self.answered as f64 / self.seconds
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:.1} s, {} kills: {} requests answered ({:.0}/s): {} mutations acknowledged, {} queries answered, {} retries answered with their original position; {} requests found the server down, {} were asked to retry later (429)",
            self.seconds,
            self.kills,
            self.answered,
            self.answered_per_second(),
            self.mutations_acknowledged,
            self.queries_answered,
            self.retries_answered,
            self.unreachable,
            self.throttled
        )?;
        write!(
            f,
            "log: {} events, verified; projections equal a replay; acknowledged writes lost: {}",
            self.events_in_log, self.lost
        )
    }
}

/// The demo story and a token for u-alex, made in-process before the server starts.
pub fn prepare(dir: &Path) -> Result<String> {
    let store = Store::open(dir, &Options::default())?;
    lineage_store::demo::fill(&store)?;
    lineage_graphql::auth::bootstrap(&store)?;
    let alex = lineage_schema::literal("u-alex");
    let token = lineage_graphql::auth::issue(&store, &lineage_schema::literal("admin"), &alex, "load")?;
    store.close()?;
    Ok(token.secret)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `lineage serve` child process on a fixed loopback port, restartable.
#[derive(Debug)]
pub struct ServerProcess {
    binary: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// More `serve` flags.
    pub flags: Vec<String>,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn new(binary: &Path, dir: &Path) -> Result<Self> {
        Ok(Self {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            port: free_port()?,
            flags: Vec::new(),
            child: None,
        })
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn start(&mut self) -> Result<()> {
        let child = Command::new(&self.binary)
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .args(&self.flags)
            .env("LINEAGE_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the server")?;
        self.child = Some(child);
        Ok(())
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) -> Result<()> {
        let started = Instant::now();
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", self.port);
            if let Ok(response) = client.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                bail!("the server exited while starting: {status}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the server did not become ready within a minute");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL, and reap the child.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The requests clients send: a mutation (with its idempotency key) or a query.
fn request(client_index: usize, step: u64) -> (Option<String>, Value) {
    let key = format!("load-{client_index}-{step}");
    match step % 10 {
        0..=3 => (
            Some(key.clone()),
            json!({ "query": "mutation($input: SetRunTagsInput!, $id: String) { setRunTags(input: $input, eventId: $id) { seq duplicate } }",
                    "variables": { "input": { "run": if step.is_multiple_of(2) { "r-churn-1" } else { "r-churn-3" }, "tags": [{ "key": format!("client-{client_index}"), "value": step.to_string() }] }, "id": key } }),
        ),
        4 | 5 => (
            Some(key.clone()),
            json!({ "query": "mutation($input: LogMetricsInput!, $id: String) { logMetrics(input: $input, eventId: $id) { seq duplicate } }",
                    "variables": { "input": { "run": "r-sweep-1", "points": [{ "name": format!("load-{client_index}"), "value": step as f64, "step": step as i64, "timestamp": "2026-03-02T09:00:00Z" }] }, "id": key } }),
        ),
        6 => (
            Some(key.clone()),
            json!({ "query": "mutation($input: RecordServiceMetricInput!, $id: String) { recordServiceMetric(input: $input, eventId: $id) { seq duplicate } }",
                    "variables": { "input": { "service": "svc-churn", "name": "load_latency_ms", "value": (step % 97) as f64, "observedAt": "2026-03-08T00:00:00Z" }, "id": key } }),
        ),
        7 => (
            None,
            json!({ "query": "{ trace(service: \"svc-churn\") { image { imageVersion manifest { models { modelVersion run { run datasets } } } } } }" }),
        ),
        8 => (
            None,
            json!({ "query": "{ run(id: \"r-churn-1\") { status tags { key value } } }" }),
        ),
        _ => (
            None,
            json!({ "query": "{ head events(after: 100, first: 20) { nodes { seq type } } }" }),
        ),
    }
}

struct Tally {
    acknowledged: Mutex<Vec<(String, u64)>>,
    answered: AtomicU64,
    queries: AtomicU64,
    unreachable: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

/// The field a mutation answers with (its first key under `data`).
fn mutation_result(answer: &Value) -> Option<(u64, bool)> {
    let result = answer["data"].as_object()?.values().next()?;
    Some((result["seq"].as_u64()?, result["duplicate"].as_bool()?))
}

async fn client_loop(
    index: usize,
    url: String,
    token: String,
    deadline: Instant,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut step = 0u64;
    // A mutation whose answer was lost to a kill is sent again with the same key.
    let mut retry: Option<(Option<String>, Value)> = None;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        let (key, body, retrying) = match retry.take() {
            Some((key, body)) => (key, body, true),
            None => {
                step += 1;
                let (key, body) = request(index, step);
                (key, body, false)
            }
        };
        let sent = client.post(&url).bearer_auth(&token).json(&body).send().await;
        if let Ok(response) = &sent {
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                // Nothing was done: wait as asked and send the same request again.
                tally.throttled.fetch_add(1, Ordering::Relaxed);
                let seconds = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(1);
                retry = Some((key, body));
                tokio::time::sleep(Duration::from_secs(seconds.min(2))).await;
                continue;
            }
        }
        let answer: Option<Value> = match sent {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let Some(answer) = answer else {
            tally.unreachable.fetch_add(1, Ordering::Relaxed);
            if key.is_some() {
                retry = Some((key, body));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        tally.answered.fetch_add(1, Ordering::Relaxed);
        if let Some(errors) = answer.get("errors") {
            bail!("client {index}: the API refused a valid request: {errors}");
        }
        match key {
            Some(key) => {
                let (seq, duplicate) =
                    mutation_result(&answer).with_context(|| format!("client {index}: no position in {answer}"))?;
                if retrying && duplicate {
                    tally.retries.fetch_add(1, Ordering::Relaxed);
                }
                tally.acknowledged.lock().expect("tally lock").push((key, seq));
            }
            None => {
                tally.queries.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Runs the load with kills and checks the store afterwards.
pub async fn run(options: &LoadOptions) -> Result<LoadReport> {
    let token = prepare(&options.dir)?;
    let mut server = ServerProcess::new(&options.binary, &options.dir)?;
    let http = reqwest::Client::new();
    server.start()?;
    server.wait_ready(&http).await?;
    let url = format!("http://127.0.0.1:{}/graphql", server.port);
    let tally = Arc::new(Tally {
        acknowledged: Mutex::new(Vec::new()),
        answered: AtomicU64::new(0),
        queries: AtomicU64::new(0),
        unreachable: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
    });
    let started = Instant::now();
    let deadline = started + options.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..options.clients)
        .map(|index| {
            tokio::spawn(client_loop(
                index,
                url.clone(),
                token.clone(),
                deadline,
                Arc::clone(&tally),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let gap = options.duration / (options.kills as u32 + 1);
    let mut kills = 0;
    for _ in 0..options.kills {
        tokio::time::sleep(gap).await;
        server.kill();
        kills += 1;
        server.start()?;
        server.wait_ready(&http).await?;
    }
    let mut failure = None;
    for client in clients {
        if let Err(error) = client.await? {
            stop.store(true, Ordering::Relaxed);
            failure.get_or_insert(error);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    server.kill();
    if let Some(error) = failure {
        return Err(error);
    }

    let (acknowledged, lost, events_in_log) = check_log(&options.dir, &tally)?;
    Ok(LoadReport {
        seconds,
        kills,
        answered: tally.answered.load(Ordering::Relaxed),
        mutations_acknowledged: acknowledged,
        queries_answered: tally.queries.load(Ordering::Relaxed),
        unreachable: tally.unreachable.load(Ordering::Relaxed),
        retries_answered: tally.retries.load(Ordering::Relaxed),
        throttled: tally.throttled.load(Ordering::Relaxed),
        lost,
        events_in_log,
    })
}

/// The check after the load: every acknowledged mutation in the log, exactly once, where
/// it was said; no event id twice; the projections equal to a replay. Answers how many
/// mutations were acknowledged, how many of them are lost, and the log's length.
fn check_log(dir: &std::path::Path, tally: &Tally) -> Result<(u64, u64, u64)> {
    Store::verify(dir).context("the log does not verify")?;
    let store = Store::open(dir, &Options::default())?;
    let mut acknowledged = std::collections::BTreeMap::new();
    for (key, seq) in std::mem::take(&mut *tally.acknowledged.lock().expect("tally lock")) {
        if let Some(earlier) = acknowledged.insert(key.clone(), seq) {
            if earlier != seq {
                bail!("{key} was acknowledged at seq {earlier}, then at {seq}");
            }
        }
    }
    let mut lost = 0;
    for (key, seq) in &acknowledged {
        let found = store.seq_of_event(&lineage_schema::literal("u-alex"), &EventId::new(key.clone())?)?;
        if found != Some(*seq) {
            lost += 1;
            eprintln!("acknowledged {key} at seq {seq}, found {found:?}");
        }
    }
    let mut keys = std::collections::HashSet::new();
    let mut after = 0;
    loop {
        let page = store.events(after, 5000, &lineage_store::EventFilter::default())?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for envelope in &page {
            if let Some(key) = &envelope.event_id {
                if !keys.insert(key.to_string()) {
                    bail!("event id {key} is in the log twice");
                }
            }
        }
    }
    let digest = store.projection_digest()?;
    let events_in_log = store.head().seq;
    drop(store);
    let rebuilt = Store::rebuild(dir, &Options::default(), &mut |_| {})?;
    if rebuilt.projection_digest()? != digest {
        bail!("the projections differ from a replay of the log");
    }
    Ok((acknowledged.len() as u64, lost, events_in_log))
}
