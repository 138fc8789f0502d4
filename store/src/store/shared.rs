//! Which log a store opens — the data directory's files or PostgreSQL — and, for a shared
//! log, following what other nodes append.

use super::*;

/// The log `options` name: the data directory's files, or PostgreSQL (whose id the
/// projections in `db` are then tied to).
/// `progress` hears how far the file log's opening scan is.
pub(super) fn open_log(
    dir: &Path,
    db: &sled::Db,
    options: &Options,
    progress: Reporter,
) -> Result<(Box<dyn EventLog>, OpenReport)> {
    let Some(url) = &options.log_url else {
        let checking = Progress::of(Stage::CheckingLog, Unit::Bytes);
        let (file_log, report) = FileLog::open_reporting(
            &log_dir(dir),
            options.max_segment_bytes,
            Arc::clone(&options.disk),
            &mut |done, total| progress(checking(done, total)),
        )?;
        return Ok((Box::new(file_log), report));
    };
    let pg = log::postgres::PgLog::open(url)?;
    const LOG_ID: &[u8] = b"postgres-log-id";
    match db.get(LOG_ID)? {
        Some(known) if known.as_ref() != pg.log_id().as_bytes() => {
            return Err(Error::Derived(format!(
                "the projections in {} were derived from another log (id {}), not {} (id {}); move `derived/` away to derive them from this one",
                dir.display(),
                String::from_utf8_lossy(&known),
                log::postgres::redacted(url),
                pg.log_id()
            )))
        }
        Some(_) => {}
        None if projections::open_trees(db)?
            .iter()
            .map(crate::derived::overlay::checkpoint)
            .collect::<Result<Vec<u64>>>()?
            .into_iter()
            .any(|seq| seq > 0) =>
        {
            return Err(Error::Derived(format!(
                "the projections in {} were derived from another log (its own files), not {}; use another data directory, or move `derived/` away",
                dir.display(),
                log::postgres::redacted(url)
            )))
        }
        None => {
            db.insert(LOG_ID, pg.log_id().as_bytes())?;
            db.flush()?;
        }
    }
    let head = pg.head();
    let report = OpenReport {
        scan: ScanReport {
            head,
            records: head.seq,
            segments: 0,
            bytes: 0,
            torn_tail_bytes: 0,
        },
        cut_bytes: 0,
    };
    Ok((Box::new(pg), report))
}

/// How often a node looks at a shared log for others' appends when it hears of none.
const TAIL_TICK: Duration = Duration::from_millis(500);

/// Follows a shared log: on each announced append (or each tick without one) the writer
/// is asked to fold in what others appended. Ends once the store closes.
pub(super) fn follow(
    url: &str,
    jobs: Arc<Mutex<Option<mpsc::SyncSender<Job>>>>,
    shared: Arc<Shared>,
    dir: &Path,
) -> Result<()> {
    let link = log::postgres::PgLink::new(url)?;
    std::thread::Builder::new()
        .name("lineage-tail".into())
        .spawn(move || loop {
            let (asking, known) = (Arc::clone(&jobs), Arc::clone(&shared));
            let heard = link.listen(TAIL_TICK, move |seq| {
                if let Some(seq) = seq {
                    known.log_head.fetch_max(seq, Ordering::Relaxed);
                }
                let Some(writer) = asking.lock().expect("jobs lock").clone() else {
                    return false;
                };
                if seq.is_some_and(|seq| seq <= known.head.lock().expect("head lock").seq) {
                    // This node's own append (or one it has folded in already).
                    return true;
                }
                // A full queue means the writer is busy; it folds in at its next conflict
                // or tick.
                let _ = writer.try_send(Job::CatchUp { announced: seq });
                true
            });
            if jobs.lock().expect("jobs lock").is_none() {
                return;
            }
            if heard.is_err() {
                // The database is away: listen again shortly.
                std::thread::sleep(TAIL_TICK);
            }
        })
        .map_err(Error::io("starting the log follower", dir))?;
    Ok(())
}
