//! `lineage bench --insert-chains`: lineage chains (dataset → run → model → manifest →
//! image → service, 13 commands) inserted by concurrent writers in-process, each chain
//! one all-or-none batch, acknowledged only once synced; chains/s per writer count, with
//! the writers as blocking threads, as async tasks on one thread, or both. With
//! `--http N`, the same chains over HTTP too: `executeBatch` requests of N chains from as
//! many keep-alive connections as writers, beside the client's own limit (a server that
//! answers at once). Then the CPU a chain costs, by thread.

use super::*;
use crate::api::translate::{mutation_field, mutation_input};
use crate::bench::graph::{read_message, Http};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};

/// Chains `first..first + chains` dealt out to `writers` writers, each chain one batch:
/// built before a measurement's clock starts, as the HTTP measurement's request bodies
/// are, so what is timed is the store taking them, not the bench making them.
pub(super) struct Dealt(Vec<Vec<Vec<CommandEnvelope>>>);

pub(super) fn deal(first: usize, chains: usize, writers: usize) -> Dealt {
    let writers = writers.clamp(1, chains.max(1));
    Dealt(
        (0..writers)
            .map(|writer| {
                (first + writer..first + chains)
                    .step_by(writers)
                    .map(|index| graph::chain(index, 0))
                    .collect()
            })
            .collect(),
    )
}

/// What the concurrent writers are: each its own thread blocked on `execute_batch` until
/// its chain is durable, or each an async task awaiting `execute_batch_awaited`, all on
/// one thread (as the server's requests are): the writer then wakes one thread a group
/// rather than one a chain, and the bench's threads stop taking turns on the two cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Clients {
    Threads,
    Tasks,
}

impl Clients {
    fn label(self) -> &'static str {
        match self {
            Clients::Threads => "threads",
            Clients::Tasks => "tasks",
        }
    }
}

/// Inserts dealt chains, each writer's from its own thread or task; chains/s.
pub(super) fn insert(store: &Arc<Store>, dealt: Dealt, clients: Clients) -> Result<f64> {
    match clients {
        Clients::Threads => insert_from_threads(store, dealt),
        Clients::Tasks => insert_from_tasks(store, dealt),
    }
}

fn insert_from_tasks(store: &Arc<Store>, dealt: Dealt) -> Result<f64> {
    let chains: usize = dealt.0.iter().map(Vec::len).sum();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = dealt
            .0
            .into_iter()
            .map(|batches| {
                let store = Arc::clone(store);
                tokio::spawn(async move {
                    for batch in batches {
                        store.execute_batch_awaited(batch).await?;
                    }
                    Result::<()>::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("chain writer task")?;
        }
        Result::<()>::Ok(())
    })?;
    Ok(chains as f64 / started.elapsed().as_secs_f64())
}

fn insert_from_threads(store: &Arc<Store>, dealt: Dealt) -> Result<f64> {
    let chains: usize = dealt.0.iter().map(Vec::len).sum();
    let started = Instant::now();
    let threads: Vec<_> = dealt
        .0
        .into_iter()
        .map(|batches| {
            let store = Arc::clone(store);
            std::thread::spawn(move || -> Result<()> {
                for batch in batches {
                    store.execute_batch(batch)?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("chain writer")?;
    }
    Ok(chains as f64 / started.elapsed().as_secs_f64())
}

/// How to measure: chains per measurement, writer (and connection) counts, runs, and
/// over HTTP with how many chains a request, if at all.
pub(super) struct ChainRuns<'a> {
    pub chains: usize,
    pub writers: &'a [usize],
    pub clients: &'a [Clients],
    pub repeat: usize,
    pub http: Option<usize>,
}

pub(super) fn run(base: &Path, runs: &ChainRuns) -> Result<()> {
    let ChainRuns { chains, repeat, .. } = *runs;
    if runs.writers.contains(&0) {
        anyhow::bail!(
            "--insert-chains needs every writer count to be at least 1 (--writers {:?})",
            runs.writers
        );
    }
    if chains == 0 {
        anyhow::bail!("--insert-chains needs at least one chain (--chains 0)");
    }
    // Each kind once, in the order asked for.
    let mut clients: Vec<Clients> = Vec::new();
    for &kind in runs.clients {
        if !clients.contains(&kind) {
            clients.push(kind);
        }
    }
    if clients.is_empty() {
        clients.push(Clients::Threads);
    }
    let clients = clients.as_slice();
    println!("lineage bench --insert-chains: {chains} chains of 13 commands per measurement, median of {repeat} runs");
    println!();
    let columns_in_process: Vec<String> = clients
        .iter()
        .map(|clients| format!("in-process, {}, chains/s", clients.label()))
        .collect();
    match runs.http {
        None => println!("| writers | {} |", columns_in_process.join(" | ")),
        Some(per_request) => println!(
            "| writers or connections | {} | over HTTP, {per_request} chains a request, chains/s | the client's limit (a server that answers at once), chains/s |",
            columns_in_process.join(" | ")
        ),
    }
    let columns = clients.len() + 1 + 2 * usize::from(runs.http.is_some());
    println!("|{}", "--------:|".repeat(columns));
    let bodies = runs.http.map(|per_request| batch_bodies(chains, per_request));
    // What the flusher pays for: sled takes microseconds a new key, whatever its size.
    let mut keys_per_chain = 0.0;
    // CPU per chain by thread and the synced groups, per writer count and kind of
    // writer, each run's.
    let mut cpu: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    let mut groups: Vec<(String, Vec<Groups>)> = Vec::new();
    for &count in runs.writers {
        let mut measured: Vec<Vec<InProcess>> = clients.iter().map(|_| Vec::new()).collect();
        let mut http_rates = Vec::new();
        // One run of each kind in turn, the order reversed every other round: kinds
        // compared from the same moments of a noisy machine, neither always first.
        for round in 0..repeat.max(1) {
            let mut order: Vec<(usize, Clients)> = clients.iter().copied().enumerate().collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for (index, kind) in order {
                let run = in_process(base, chains, count, kind)?;
                keys_per_chain = run.keys_per_chain;
                measured[index].push(run);
            }
            if let Some(bodies) = &bodies {
                http_rates.push(on_fresh_store(base, &format!("http{count}"), |store| {
                    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
                    let served = crate::bench::peers::serve(&runtime, store)?;
                    let rate = over_http(served.address, &served.token, bodies, chains, count);
                    served.stop(&runtime)?;
                    rate
                })?);
            }
        }
        let mut row: Vec<String> = measured
            .iter()
            .map(|runs| format!("{:>8.0}", median(runs.iter().map(|run| run.rate).collect())))
            .collect();
        if let (Some(per_request), Some(bodies)) = (runs.http, &bodies) {
            row.push(format!("{:>8.0}", median(http_rates)));
            let limit = client_limit(bodies, chains, per_request, count)?;
            row.push(format!("{limit:>8.0}"));
        }
        println!("| {count:>7} | {} |", row.join(" | "));
        let writers = if count == 1 { "writer" } else { "writers" };
        for (&kind, runs) in clients.iter().zip(measured) {
            let label = format!("{count} {writers}, {}", kind.label());
            cpu.push((label.clone(), runs.iter().filter_map(|run| run.cpu.clone()).collect()));
            groups.push((label, runs.iter().map(|run| run.groups).collect()));
        }
    }
    println!();
    println!("New derived keys (sled keys) per chain: {keys_per_chain:.1}");
    print_groups(&groups);
    print_cpu(&cpu);
    Ok(())
}

/// One in-process measurement: its rate, CPU a chain by thread (where `/proc` says), the
/// new sled keys a chain and the groups it was synced in.
struct InProcess {
    rate: f64,
    cpu: Option<Vec<f64>>,
    keys_per_chain: f64,
    groups: Groups,
}

/// The groups a measurement's chains were synced in: chains a group, and the time a group
/// took. With the writer bound by neither core, a rate is the first over the second: a
/// group waits for the sync before it, so more writers in flight fill groups further.
#[derive(Clone, Copy)]
struct Groups {
    chains: f64,
    ms: f64,
}

fn in_process(base: &Path, chains: usize, count: usize, kind: Clients) -> Result<InProcess> {
    on_fresh_store(base, &format!("chains{count}"), |store| {
        let keys_before = store.flush().and_then(|()| store.derived_keys())?;
        let groups_before = store.groups_since_open();
        let dealt = deal(0, chains, count);
        let cpu_before = cpu::sample();
        let rate = insert(store, dealt, kind)?;
        // The flush the chains leave to do is theirs too.
        store.flush()?;
        let cpu = cpu_before
            .zip(cpu::sample())
            .map(|(before, after)| cpu::per_unit(&before, &after, chains));
        let keys_after = store.derived_keys()?;
        let synced = (store.groups_since_open() - groups_before).max(1) as f64;
        Ok(InProcess {
            rate,
            cpu,
            keys_per_chain: (keys_after - keys_before) as f64 / chains as f64,
            groups: Groups {
                chains: chains as f64 / synced,
                ms: chains as f64 / rate * 1000.0 / synced,
            },
        })
    })
}

/// Chains a synced group and milliseconds a group, each the median of the runs'.
fn print_groups(groups: &[(String, Vec<Groups>)]) {
    println!();
    println!("Synced groups (one log sync each), medians of the runs:");
    println!();
    println!("| writers | chains a group | ms a group |");
    println!("|---|---:|---:|");
    for (writers, runs) in groups {
        let chains = median(runs.iter().map(|run| run.chains).collect());
        let ms = median(runs.iter().map(|run| run.ms).collect());
        println!("| {writers} | {chains:.1} | {ms:.2} |");
    }
}

/// CPU per chain by thread, each figure the median of the runs'; what two cores allow
/// is 2 000 ms ÷ the total per chain.
fn print_cpu(cpu: &[(String, Vec<Vec<f64>>)]) {
    if cpu.iter().all(|(_, runs)| runs.is_empty()) {
        println!("CPU per chain by thread: not measured (no /proc here)");
        return;
    }
    println!();
    println!("CPU per chain by thread, ms (from /proc, 10 ms ticks; in-process runs, their final flush included):");
    println!();
    let labels: Vec<&str> = cpu::SHOWN.iter().map(|(_, label)| *label).collect();
    println!(
        "| writers | {} | the rest (the bench's writers, threads ended) | total |",
        labels.join(" | ")
    );
    println!("|---|{}", "---:|".repeat(labels.len() + 2));
    for (writers, runs) in cpu.iter().filter(|(_, runs)| !runs.is_empty()) {
        let figures: Vec<String> = (0..labels.len() + 2)
            .map(|column| format!("{:.3}", median(runs.iter().map(|run| run[column]).collect())))
            .collect();
        println!("| {writers} | {} |", figures.join(" | "));
    }
}

/// `measure` on a fresh store holding the scaffold the chains hang from.
fn on_fresh_store<T>(base: &Path, label: &str, measure: impl FnOnce(&Arc<Store>) -> Result<T>) -> Result<T> {
    let scratch = Scratch::new(base, label)?;
    let store = Arc::new(Store::open(&scratch.0, &Options::default())?);
    store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    let measured = measure(&store)?;
    store.close()?;
    Ok(measured)
}

/// The request bodies: `executeBatch` with `per_request` chains each, answered with seqs.
fn batch_bodies(chains: usize, per_request: usize) -> Vec<String> {
    let per_request = per_request.max(1);
    (0..chains)
        .step_by(per_request)
        .map(|first| {
            let commands: Vec<Value> = (first..(first + per_request).min(chains))
                .flat_map(|index| graph::chain(index, 0))
                .map(|command| json!({ mutation_field(&command.command): mutation_input(&command.command) }))
                .collect();
            json!({
                "query": "mutation($commands: [BatchedCommand!]!) { executeBatch(commands: $commands) { seq } }",
                "variables": { "commands": commands },
            })
            .to_string()
        })
        .collect()
}

/// Chains/s of `bodies` (`chains` in all) sent from `connections` keep-alive connections,
/// each taking every `connections`-th body; an answer with errors stops the measurement.
fn over_http(address: SocketAddr, token: &str, bodies: &[String], chains: usize, connections: usize) -> Result<f64> {
    let connections = connections.clamp(1, bodies.len().max(1));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..connections)
            .map(|connection| {
                scope.spawn(move || -> Result<()> {
                    let mut http = Http::connect(address, token)?;
                    for body in bodies.iter().skip(connection).step_by(connections) {
                        let answer = http.post(body)?;
                        if answer.contains("\"errors\"") {
                            anyhow::bail!("executeBatch refused a chain: {answer}");
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        threads
            .into_iter()
            .try_for_each(|thread| thread.join().expect("HTTP client thread"))
    })?;
    Ok(chains as f64 / started.elapsed().as_secs_f64())
}

/// The same requests to a server that answers each at once with an answer of the size
/// the real one has: what the client and loopback can do, so a rate over HTTP is not
/// taken for the server's alone.
fn client_limit(bodies: &[String], chains: usize, per_request: usize, connections: usize) -> Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let seqs: Vec<String> = (0..per_request * 13)
        .map(|seq| format!("{{\"seq\":{}}}", 1000 + seq))
        .collect();
    let answer = format!("{{\"data\":{{\"executeBatch\":[{}]}}}}", seqs.join(","));
    let accepting = std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { break };
            let answer = answer.clone();
            std::thread::spawn(move || answer_at_once(stream, &answer));
        }
    });
    let rate = over_http(address, "bench", bodies, chains, connections);
    let _ = accepting.join();
    rate
}

/// Reads requests off one connection and answers each with `answer`, until it closes.
fn answer_at_once(stream: std::net::TcpStream, answer: &str) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while read_message(&mut reader)?.is_some() {
        // One write, as a server sends it: pieces would meet Nagle's wait for an ACK.
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        writer.write_all(response.as_bytes())?;
    }
    Ok(())
}
