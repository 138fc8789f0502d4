//! A child process for the crash test: appends from many threads and reports each
//! acknowledged event on stdout (`ack EVENT_ID SEQ`), until it is killed.
//!
//! Usage: `crash-writer DATA_DIR WRITERS ATTEMPT`

use anyhow::{Context, Result};
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::*;
use lineage_store::{Options, Store};
use std::io::Write;
use std::sync::Arc;

/// Small segments, so kills also land around segment rotation.
pub const SEGMENT_BYTES: u64 = 64 * 1024;

/// The scaffold, with fixed event ids so every restart of the child appends it only once.
fn setup(store: &Store, writers: usize) -> Result<()> {
    let commands = lineage_store::demo::scaffold("u-crash", writers);
    let envelopes = commands
        .into_iter()
        .enumerate()
        .map(|(index, command)| command.with_event_id(id(&format!("setup-{index}"))))
        .collect();
    store.execute_batch(envelopes)?;
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().context("DATA_DIR")?);
    let writers: usize = args.next().context("WRITERS")?.parse()?;
    let attempt: u64 = args.next().context("ATTEMPT")?.parse()?;
    let store = Arc::new(Store::open(
        &dir,
        &Options {
            max_segment_bytes: SEGMENT_BYTES,
            ..Options::default()
        },
    )?);
    setup(&store, writers)?;
    println!("ready");
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || -> Result<()> {
                for step in 0u64.. {
                    let event_id: EventId = id(&format!("a{attempt}-w{writer}-{step}"));
                    // Some appends are batches of two, so whole batches are checked too.
                    let point = |offset: i64| MetricPoint {
                        name: "loss".into(),
                        value: 1.0 / (step as f64 + 1.0),
                        step: step as i64 * 2 + offset,
                        timestamp: Timestamp::now(),
                    };
                    let command = |offset| {
                        CommandEnvelope::new(
                            id("u-crash"),
                            Command::LogMetrics(MetricsLogged {
                                run: id(&format!("r-{writer}")),
                                points: vec![point(offset)],
                            }),
                        )
                    };
                    let appended = if step % 5 == 0 {
                        let second: EventId = id(&format!("a{attempt}-w{writer}-{step}-b"));
                        store.execute_batch(vec![
                            command(0).with_event_id(event_id),
                            command(1).with_event_id(second),
                        ])?
                    } else {
                        vec![store.execute(command(0).with_event_id(event_id))?]
                    };
                    let mut out = std::io::stdout().lock();
                    for appended in appended {
                        writeln!(
                            out,
                            "ack {} {}",
                            appended.event_id.expect("sent with an id"),
                            appended.seq
                        )?;
                    }
                    out.flush()?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer thread")?;
    }
    Ok(())
}
