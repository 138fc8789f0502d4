//! `lineage bench --postgres URL`: the log on PostgreSQL beside the file log — acknowledged
//! appends with concurrent writers, how long a second node takes to fold in the first's
//! writes, and `trace` on a node that only reads.

use super::*;
use lineage_store::log::postgres::{create_database, drop_database};
use std::sync::Mutex;

/// A fresh log on the server for one measurement.
struct ScratchLog {
    options: Options,
}

/// Scratch databases made so far, dropped once the bench is done: dropping one makes
/// PostgreSQL checkpoint, which would disturb the measurements after it.
static MADE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn scratch_log(server: &str, label: &str) -> Result<ScratchLog> {
    let name = format!("lineage_bench_{}_{label}", std::process::id());
    let url = create_database(server, &name)?;
    MADE.lock().expect("scratch list").push(name);
    Ok(ScratchLog {
        options: Options {
            log_url: Some(url),
            ..Options::default()
        },
    })
}

/// Drops every scratch database this bench made.
fn drop_scratch(server: &str) {
    for name in MADE.lock().expect("scratch list").drain(..) {
        let _ = drop_database(server, &name);
    }
}

fn row(label: &str, writers: usize, runs: &[Concurrent], events: usize) {
    let rate = median(runs.iter().map(|run| run.events_per_second).collect());
    let p50 = median(runs.iter().map(|run| ms(run.p50)).collect());
    let p99 = median(runs.iter().map(|run| ms(run.p99)).collect());
    let per_group = median(
        runs.iter()
            .map(|run| events as f64 / run.groups.max(1) as f64)
            .collect(),
    );
    println!("| {label} | {writers:>7} | {rate:>8.0} | {p50:>12.3} | {p99:>12.3} | {per_group:>16.1} |");
}

pub(super) fn run(base: &Path, server: &str, args: &BenchArgs) -> Result<()> {
    let measured = measure(base, server, args);
    drop_scratch(server);
    measured
}

fn measure(base: &Path, server: &str, args: &BenchArgs) -> Result<()> {
    let repeat = args.repeat.max(1);
    println!(
        "lineage bench --postgres: {} events per measurement, median of {repeat} runs; files and PostgreSQL alternate",
        args.events
    );
    println!();
    println!("| log | writers | events/s | ack p50 (ms) | ack p99 (ms) | events per group |");
    println!("|---|--------:|---------:|-------------:|-------------:|-----------------:|");
    for &writers in &args.writers {
        let writers = writers.max(1);
        let (mut files, mut postgres) = (Vec::new(), Vec::new());
        for attempt in 0..repeat {
            files.push(concurrent_appends(base, writers, args.events, &Options::default())?);
            let log = scratch_log(server, &format!("w{writers}_{attempt}"))?;
            postgres.push(concurrent_appends(base, writers, args.events, &log.options)?);
        }
        row("files", writers, &files, args.events);
        row("PostgreSQL", writers, &postgres, args.events);
    }
    println!();
    let (p50, p99, events) = tail_lag(base, server, args.events.min(20_000))?;
    println!(
        "| tail lag, 16 writers on one node, read on another ({events} events) | p50 {p50:.2} ms | p99 {p99:.2} ms |"
    );
    let (p50, p99) = trace_on_reader(base, server, args.chains.min(2_000))?;
    println!(
        "| trace on a node that only reads ({} chains) | p50 {p50:.3} ms | p99 {p99:.3} ms |",
        args.chains.min(2_000)
    );
    let gaps = (0..repeat.max(5))
        .map(|round| failover(base, server, round))
        .collect::<Result<Vec<_>>>()?;
    let worst = gaps.iter().copied().fold(0.0, f64::max);
    println!(
        "| failover: a writing node stops, its clients' next writes acknowledged by another node ({} rounds) | median {:.2} ms | worst {worst:.2} ms |",
        gaps.len(),
        median(gaps),
    );
    Ok(())
}

/// Two nodes on one log; 16 writers append through the first, which stops mid-way; the
/// time from its stop until every writer has its next write acknowledged by the second
/// node (which first folds in the first node's last writes). No election: the second
/// node could write all along.
fn failover(base: &Path, server: &str, round: usize) -> Result<f64> {
    let log = scratch_log(server, &format!("failover{round}"))?;
    let options = &log.options;
    let (one, two) = (Scratch::new(base, "fo1")?, Scratch::new(base, "fo2")?);
    let first = Arc::new(Store::open(&one.0, options)?);
    let second = Arc::new(Store::open(&two.0, options)?);
    setup(&first, 16)?;
    let stopped: Arc<Mutex<Option<Instant>>> = Arc::default();
    let threads: Vec<_> = (0..16)
        .map(|thread| {
            let (first, second, stopped) = (Arc::clone(&first), Arc::clone(&second), Arc::clone(&stopped));
            std::thread::spawn(move || -> Result<Duration> {
                let mut step = 0;
                while first.execute(metric(thread, step)).is_ok() {
                    step += 1;
                }
                // The node is gone: the same write, to the other node.
                second.execute(metric(thread, step))?;
                let at = stopped.lock().expect("stop time").expect("stopped before failing");
                Ok(at.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    *stopped.lock().expect("stop time") = Some(Instant::now());
    first.close()?;
    let mut worst = Duration::ZERO;
    for thread in threads {
        worst = worst.max(thread.join().expect("writer thread")?);
    }
    Ok(ms(worst))
}

/// Two nodes on one log: 16 writers append on the first; for each event, the time from
/// its acknowledgement there to its arrival in the second node's projections.
fn tail_lag(base: &Path, server: &str, events: usize) -> Result<(f64, f64, usize)> {
    let log = scratch_log(server, "lag")?;
    let options = &log.options;
    let (one, two) = (Scratch::new(base, "lag1")?, Scratch::new(base, "lag2")?);
    let writer = Arc::new(Store::open(&one.0, options)?);
    let reader = Store::open(&two.0, options)?;
    setup(&writer, 16)?;
    let mut feed = reader.subscribe();
    let acknowledged = Arc::new(Mutex::new(Vec::with_capacity(events)));
    let per_writer = events.div_ceil(16);
    let first = writer.head().seq;
    let threads: Vec<_> = (0..16)
        .map(|thread| {
            let (store, acknowledged) = (Arc::clone(&writer), Arc::clone(&acknowledged));
            std::thread::spawn(move || -> Result<()> {
                for step in 0..per_writer {
                    let seq = store.execute(metric(thread, step))?.seq;
                    acknowledged.lock().expect("acks").push((seq, Instant::now()));
                }
                Ok(())
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let total = per_writer * 16;
    let mut arrived = std::collections::HashMap::with_capacity(total);
    runtime.block_on(async {
        while arrived.len() < total {
            match tokio::time::timeout(Duration::from_secs(30), feed.recv()).await {
                Ok(Ok(envelope)) if envelope.seq > first => {
                    arrived.insert(envelope.seq, Instant::now());
                }
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
    });
    for thread in threads {
        thread.join().expect("writer thread")?;
    }
    let mut lags: Vec<Duration> = acknowledged
        .lock()
        .expect("acks")
        .iter()
        .filter_map(|(seq, acked)| arrived.get(seq).map(|at| at.saturating_duration_since(*acked)))
        .collect();
    lags.sort();
    Ok((ms(percentile(&lags, 0.5)), ms(percentile(&lags, 0.99)), lags.len()))
}

/// `trace` latency on a node that appended nothing itself, after the writing node filled
/// the log with `chains` lineage chains.
fn trace_on_reader(base: &Path, server: &str, chains: usize) -> Result<(f64, f64)> {
    let log = scratch_log(server, "trace")?;
    let options = &log.options;
    let (one, two) = (Scratch::new(base, "trace1")?, Scratch::new(base, "trace2")?);
    let writer = Store::open(&one.0, options)?;
    writer.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
    for start in (0..chains).step_by(100) {
        let batch = (start..(start + 100).min(chains))
            .flat_map(|index| crate::bench::graph::chain(index, 0))
            .collect();
        writer.execute_batch(batch)?;
    }
    let head = writer.head().seq;
    writer.close()?;
    let reader = Store::open(&two.0, options)?;
    if reader.head().seq != head {
        anyhow::bail!("the reading node holds {} of {head} events", reader.head().seq);
    }
    let mut samples = Vec::with_capacity(1000);
    for i in 0..1000 {
        let started = Instant::now();
        reader
            .lineage()
            .trace(&id(&format!("svc-{}", (i * 7919) % chains)), None)?;
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok((ms(percentile(&samples, 0.5)), ms(percentile(&samples, 0.99))))
}
