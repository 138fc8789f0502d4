//! `lineage bench --scale 10000,100000,1000000`: how the fill (batch append) rate,
//! lineage inserts from concurrent writers, `trace` in-process and over HTTP, rebuild and
//! bytes per event change as the log grows, one store per size.

use super::*;

/// Chains inserted at each size by concurrent writers: 65 000 events, enough that the
/// derived layer is flushed to sled several times while they go in.
const INSERTED_CHAINS: usize = 5000;

/// What one size gave.
struct Point {
    events: u64,
    fill: f64,
    chains: f64,
    trace_p50: f64,
    trace_p99: f64,
    http_p50: f64,
    http_p99: f64,
    rebuild: f64,
    bytes_per_event: f64,
}

fn measure(base: &Path, events: usize, cache_mb: u64) -> Result<Point> {
    let scratch = Scratch::new(base, &format!("scale{events}"))?;
    let options = Options {
        cache_bytes: cache_mb.max(1) << 20,
        ..Options::default()
    };
    // About a hundred events a chain: lineage and metrics, as a tracking store holds them.
    let chains = (events / 100).max(1);
    let store = Arc::new(Store::open(&scratch.0, &options)?);
    let fill = graph::fill(&store, chains, events)?;
    let stats = store.stats()?;
    let (trace_p50, trace_p99) = graph::trace_in_process(&store, chains)?;
    let services: Vec<usize> = (0..1000).map(|index| index * 7919 % chains).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = crate::bench::peers::serve(&runtime, &store)?;
    let (http_p50, http_p99) = graph::trace_over_http(served.address, &served.token, &services)?;
    served.stop(&runtime)?;
    store.close()?;
    drop(store);
    let started = Instant::now();
    let rebuilt = Store::rebuild(&scratch.0, &options, &mut |_| {})?;
    let rebuild = rebuilt.opened().caught_up as f64 / started.elapsed().as_secs_f64();
    // Appends on a store of this size: whole chains (13 commands, one batch each) from
    // 16 writers, as many teams' pipelines registering at once.
    let rebuilt = Arc::new(rebuilt);
    let inserts = chains::insert(
        &rebuilt,
        chains::deal(chains, INSERTED_CHAINS, 16),
        chains::Clients::Threads,
    )?;
    rebuilt.close()?;
    Ok(Point {
        events: stats.head,
        fill,
        chains: inserts,
        trace_p50,
        trace_p99,
        http_p50,
        http_p99,
        rebuild,
        bytes_per_event: (stats.log_bytes + stats.derived_bytes) as f64 / stats.head.max(1) as f64,
    })
}

/// How much a figure changes per tenfold growth of the log, between the first and the
/// last size: 1.00 is flat.
fn per_decade(first: f64, last: f64, decades: f64) -> f64 {
    if first <= 0.0 || decades <= 0.0 {
        return 1.0;
    }
    (last / first).powf(1.0 / decades)
}

pub(super) fn run(base: &Path, sizes: &[usize], cache_mb: u64) -> Result<()> {
    let mut points = Vec::new();
    for &events in sizes {
        points.push(measure(base, events.max(100), cache_mb)?);
    }
    println!();
    println!("| events | fill (batch append), events/s | chains/s, 16 writers | trace p50 / p99 (ms) | trace over HTTP p50 / p99 (ms) | rebuild, events/s | log + derived bytes per event |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for point in &points {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} / {:.3} | {:.3} / {:.3} | {:.0} | {:.1} |",
            point.events,
            point.fill,
            point.chains,
            point.trace_p50,
            point.trace_p99,
            point.http_p50,
            point.http_p99,
            point.rebuild,
            point.bytes_per_event
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let decades = (last.events as f64 / first.events as f64).log10();
        let growth = |figure: fn(&Point) -> f64| per_decade(figure(first), figure(last), decades);
        println!(
            "| change per tenfold growth | ×{:.2} | ×{:.2} | ×{:.2} / ×{:.2} | ×{:.2} / ×{:.2} | ×{:.2} | ×{:.2} |",
            growth(|point| point.fill),
            growth(|point| point.chains),
            growth(|point| point.trace_p50),
            growth(|point| point.trace_p99),
            growth(|point| point.http_p50),
            growth(|point| point.http_p99),
            growth(|point| point.rebuild),
            growth(|point| point.bytes_per_event)
        );
    }
    Ok(())
}
