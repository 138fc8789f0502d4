//! `lineage bench --bytes`: where the bytes of an event go — the record's frame and each
//! envelope field, each derived table's keys and values, and sled's own overhead — for
//! one-point metric events, 100-point metric batches and lineage chains.

use super::*;
use lineage_store::TableSize;
use std::collections::BTreeMap;

type Tables = BTreeMap<(&'static str, char), TableSize>;

/// One workload: its name and the commands of its `n`th step.
struct Workload {
    name: &'static str,
    /// Steps per `--events` event.
    steps_per_event: f64,
    /// Metric points per event, if the events log metrics.
    points: usize,
    commands: fn(usize) -> Vec<CommandEnvelope>,
}

fn points(step: usize, count: usize) -> Vec<MetricPoint> {
    (0..count)
        .map(|index| MetricPoint {
            name: "loss".into(),
            value: 1.0 / (index as f64 + 1.0),
            step: (step * count + index) as i64,
            timestamp: Timestamp::now(),
        })
        .collect()
}

fn log_points(step: usize, count: usize) -> Vec<CommandEnvelope> {
    let command = Command::LogMetrics(MetricsLogged {
        run: id("r-0"),
        points: points(step, count),
    });
    vec![CommandEnvelope::new(actor(), command)]
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "one-point metric events",
        steps_per_event: 1.0,
        points: 1,
        commands: |step| log_points(step, 1),
    },
    Workload {
        name: "100-point metric batches",
        steps_per_event: 0.1,
        points: 100,
        commands: |step| log_points(step, 100),
    },
    Workload {
        name: "lineage chains (13 events each)",
        steps_per_event: 0.1,
        points: 0,
        // Chains numbered past the setup's run `r-0`.
        commands: |step| graph::chain(step + 1, 0),
    },
];

fn measure(base: &Path, workload: &Workload, events: usize) -> Result<()> {
    let scratch = Scratch::new(base, "bytes")?;
    let store = Store::open(&scratch.0, &Options::default())?;
    setup(&store, 1)?;
    store.flush()?;
    let (before, tables_before) = (store.stats()?, store.table_sizes()?);
    let mut fields: BTreeMap<usize, (&'static str, u64)> = BTreeMap::new();
    let mut body_bytes = 0u64;
    for step in 0..((events as f64 * workload.steps_per_event) as usize).max(1) {
        let commands = (workload.commands)(step);
        let from = store.head().seq;
        if commands.len() == 1 {
            store.execute(commands.into_iter().next().expect("one command"))?;
        } else {
            store.execute_batch(commands)?;
        }
        for envelope in store.events(from, usize::MAX, &Default::default())? {
            for (index, (name, size)) in envelope.field_sizes().into_iter().enumerate() {
                fields.entry(index).or_insert((name, 0)).1 += size as u64;
                body_bytes += size as u64;
            }
        }
    }
    store.flush()?;
    let (after, tables_after) = (store.stats()?, store.table_sizes()?);
    store.close()?;
    let events = (after.head - before.head).max(1) as f64;
    let per_event = |bytes: u64| bytes as f64 / events;
    let log = per_event(after.log_bytes - before.log_bytes);
    let sled = (after.derived_bytes as f64 - before.derived_bytes as f64) / events;
    println!();
    println!("{} — {} events", workload.name, events as u64);
    println!();
    println!("| where | bytes per event |");
    println!("|---|---:|");
    println!("| **log record, as stored** | **{log:.1}** |");
    let frame_head = per_event(frame_head_bytes(&scratch.0.join("log"), before.head)?);
    println!("| frame head (tag and format, length, checksum) | {frame_head:.1} |");
    println!(
        "| body: compact records (flags, 4 bytes of the hash, time step, what differs from the record before, the event) and a whole one every 32 seqs | {:.1} |",
        log - frame_head
    );
    println!(
        "| *the same record whole (format 1) in a long frame, as the first releases wrote it* | *{:.1}* |",
        lineage_store::segment::LONG_HEAD_LEN as f64 + per_event(body_bytes)
    );
    for (name, bytes) in fields.values() {
        println!("| *whole record's field: {name}* | *{:.1}* |", per_event(*bytes));
    }
    derived_rows(&tables_before, &tables_after, events);
    println!("| **derived on disk (sled, with its own overhead)** | **{sled:.1}** |");
    println!("| **log + derived** | **{:.1}** |", log + sled);
    if workload.points > 1 {
        println!(
            "| **log + derived, per metric point** | **{:.1}** |",
            (log + sled) / workload.points as f64
        );
    }
    Ok(())
}

/// The bytes of the frame heads of the records after seq `after`, from the segment files.
fn frame_head_bytes(log: &Path, after: u64) -> Result<u64> {
    let mut heads = Vec::new();
    for segment in lineage_store::segment::list(log)? {
        heads.extend(lineage_store::segment::frame_heads(&std::fs::read(&segment.path)?));
    }
    Ok(heads.iter().skip(after as usize).map(|&(_, head, _)| head as u64).sum())
}

/// A row per derived table that grew: its keys' and values' bytes per event.
fn derived_rows(before: &Tables, after: &Tables, events: f64) {
    let mut total = 0.0;
    for (&(tree, table), size) in after {
        let was = before.get(&(tree, table)).copied().unwrap_or_default();
        let bytes = (size.key_bytes + size.value_bytes) as f64 - (was.key_bytes + was.value_bytes) as f64;
        let keys = size.keys as f64 - was.keys as f64;
        if bytes.abs() < 0.05 * events && keys.abs() < 0.001 * events {
            continue;
        }
        total += bytes;
        println!(
            "| derived `{tree}` table `{table}`: {:.3} keys per event | {:.1} |",
            keys / events,
            bytes / events
        );
    }
    println!(
        "| **derived keys and values (before sled)** | **{:.1}** |",
        total / events
    );
}

/// Each workload with `events` one-point metric events, a tenth as many 100-point
/// batches and a tenth as many chains.
pub(super) fn run(base: &Path, events: usize) -> Result<()> {
    println!("lineage bench --bytes: where the bytes of an event go");
    for workload in &WORKLOADS {
        measure(base, workload, events)?;
    }
    Ok(())
}
