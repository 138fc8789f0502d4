//! `lineage bench --scale 10000,100000,1000000`: how the fill (append) rate, `trace`,
//! rebuild and bytes per event change as the log grows, one store per size.

use super::*;

/// What one size gave.
struct Point {
    events: u64,
    fill: f64,
    trace_p50: f64,
    trace_p99: f64,
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
    let store = Store::open(&scratch.0, &options)?;
    let fill = graph::fill(&store, chains, events)?;
    let (trace_p50, trace_p99) = graph::trace_in_process(&store, chains)?;
    let stats = store.stats()?;
    store.close()?;
    drop(store);
    let started = Instant::now();
    let rebuilt = Store::rebuild(&scratch.0, &options, &mut |_, _| {})?;
    let rebuild = rebuilt.opened().caught_up as f64 / started.elapsed().as_secs_f64();
    rebuilt.close()?;
    Ok(Point {
        events: stats.head,
        fill,
        trace_p50,
        trace_p99,
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
    println!("| events | fill (batch append), events/s | trace p50 (ms) | trace p99 (ms) | rebuild, events/s | log + derived bytes per event |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for point in &points {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.0} | {:.1} |",
            point.events, point.fill, point.trace_p50, point.trace_p99, point.rebuild, point.bytes_per_event
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let decades = (last.events as f64 / first.events as f64).log10();
        println!(
            "| change per tenfold growth | ×{:.2} | ×{:.2} | ×{:.2} | ×{:.2} | ×{:.2} |",
            per_decade(first.fill, last.fill, decades),
            per_decade(first.trace_p50, last.trace_p50, decades),
            per_decade(first.trace_p99, last.trace_p99, decades),
            per_decade(first.rebuild, last.rebuild, decades),
            per_decade(first.bytes_per_event, last.bytes_per_event, decades)
        );
    }
    Ok(())
}
