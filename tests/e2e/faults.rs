//! The store on a disk that fails (`lineage_store::disk::FaultyDisk` under the file log):
//! failed and short writes, failed syncs, a full disk and bits flipped on read. The store
//! acknowledges nothing it did not make durable, reports each fault as a typed error,
//! never takes a failed sync for success when retried, and recovers once the fault is
//! gone and the store is reopened.

use crate::support::id;
use lineage_schema::event::{RunStarted, RunTagsSet, Tag};
use lineage_schema::{Command, CommandEnvelope, EntityKind, EntityRef, EventId};
use lineage_store::disk::FaultyDisk;
use lineage_store::{demo, Error, Options, Store};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

fn open(dir: &Path, disk: &Arc<FaultyDisk>) -> lineage_store::Result<Store> {
    let options = Options {
        disk: Arc::clone(disk) as Arc<dyn lineage_store::disk::Disk>,
        ..Options::default()
    };
    Store::open(dir, &options)
}

/// A small write with an idempotency key: a tag on a demo run.
fn tag(n: u64) -> CommandEnvelope {
    CommandEnvelope::new(
        id("u-alex"),
        Command::SetRunTags(RunTagsSet {
            run: id("r-churn-1"),
            tags: vec![Tag {
                key: format!("fault-{n}"),
                value: n.to_string(),
            }],
        }),
    )
    .with_event_id(EventId::new(format!("fault-{n}")).unwrap())
}

fn seq_of(store: &Store, n: u64) -> Option<u64> {
    store
        .seq_of_event(&id("u-alex"), &EventId::new(format!("fault-{n}")).unwrap())
        .unwrap()
}

fn filled(dir: &Path, disk: &Arc<FaultyDisk>) -> Store {
    let store = open(dir, disk).unwrap();
    demo::fill(&store).unwrap();
    store
}

fn io_kind(error: &Error) -> Option<std::io::ErrorKind> {
    match error {
        Error::Io { source, .. } => Some(source.kind()),
        _ => None,
    }
}

#[test]
fn a_failed_write_acknowledges_nothing_and_the_store_recovers_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    disk.set(|faults| faults.fail_writes = true);
    let error = store.execute(tag(1)).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Io {
                context: "writing records",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(store.head(), head, "nothing acknowledged");
    disk.heal();
    let error = store.execute(tag(2)).unwrap_err();
    assert!(
        matches!(error, Error::Poisoned(_)),
        "appends stop until a reopen: {error}"
    );
    drop(store);
    let store = open(dir.path(), &disk).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(seq_of(&store, 1), None, "the failed write left nothing behind");
    store.execute(tag(1)).unwrap();
    assert_eq!(store.head().seq, head.seq + 1);
    drop(store);
    Store::verify(dir.path()).unwrap();
}

#[test]
fn a_short_write_leaves_no_torn_record_behind() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    disk.set(|faults| faults.short_write = Some(9));
    let error = store.execute(tag(1)).unwrap_err();
    assert!(error.to_string().contains("short write"), "{error}");
    assert_eq!(disk.injected(), 1);
    drop(store);
    let report = Store::verify(dir.path()).unwrap();
    assert_eq!(report.head, head, "the partial record was cut off");
    let store = open(dir.path(), &disk).unwrap();
    store.execute(tag(1)).unwrap();
    assert_eq!(store.head().seq, head.seq + 1);
}

#[test]
fn a_failed_sync_is_never_taken_for_success_when_retried() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    disk.set(|faults| faults.fail_syncs = true);
    let error = store.execute(tag(1)).unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Io {
                context: "syncing records",
                ..
            }
        ),
        "{error}"
    );
    // The group's derived changes were made ready while its records synced: none shows.
    assert_eq!(seq_of(&store, 1), None, "no idempotency key of the failed event");
    let run = store
        .entity(&EntityRef::new(EntityKind::Run, "r-churn-1"))
        .unwrap()
        .unwrap();
    assert!(!format!("{run:?}").contains("fault-1"), "no tag of the failed event");
    let history = store.history(&EntityRef::new(EntityKind::Run, "r-churn-1")).unwrap();
    assert!(
        history.iter().all(|entry| entry.seq <= head.seq),
        "no history entry past the head"
    );
    // The bytes were written, the sync failed: a retry — even once syncs work again —
    // must not answer "done" from what may exist only in the page cache.
    disk.heal();
    let retry = store.execute(tag(1)).unwrap_err();
    assert!(matches!(retry, Error::Poisoned(_)), "{retry}");
    assert_eq!(store.head(), head);
    drop(store);
    let store = open(dir.path(), &disk).unwrap();
    let appended = store.execute(tag(1)).unwrap();
    assert_eq!(seq_of(&store, 1), Some(appended.seq), "recorded exactly once");
    assert_eq!(store.head().seq, head.seq + 1);
}

#[test]
fn a_full_disk_is_reported_as_such_and_appends_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    // Room for a couple of records, then none.
    disk.set(|faults| faults.space_left = Some(600));
    let mut acknowledged = Vec::new();
    let mut full = None;
    for n in 1..50 {
        match store.execute(tag(n)) {
            Ok(appended) => acknowledged.push((n, appended.seq)),
            Err(error) => {
                full = Some(error);
                break;
            }
        }
    }
    let full = full.expect("the disk filled up");
    assert_eq!(io_kind(&full), Some(std::io::ErrorKind::StorageFull), "{full}");
    assert!(!acknowledged.is_empty(), "what fitted was acknowledged");
    disk.heal();
    drop(store);
    let store = open(dir.path(), &disk).unwrap();
    for (n, seq) in &acknowledged {
        assert_eq!(seq_of(&store, *n), Some(*seq), "acknowledged write {n} survived");
    }
    assert_eq!(store.head().seq, head.seq + acknowledged.len() as u64);
    store.execute(tag(1000)).unwrap();
}

#[test]
fn bits_flipped_on_read_are_caught_and_named_and_reads_recover_when_the_disk_does() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let digest = {
        let store = filled(dir.path(), &disk);
        store.projection_digest().unwrap()
    };
    disk.set(|faults| faults.flip_bits_on_read = true);
    let error = open(dir.path(), &disk).unwrap_err();
    assert!(
        matches!(error, Error::Corruption { .. }),
        "opening checks every record: {error}"
    );
    disk.heal();
    let store = open(dir.path(), &disk).unwrap();
    assert_eq!(store.projection_digest().unwrap(), digest);
    disk.set(|faults| faults.flip_bits_on_read = true);
    let error = store.event(40).unwrap_err();
    assert!(matches!(error, Error::Corruption { .. }), "{error}");
    disk.heal();
    assert_eq!(store.event(40).unwrap().unwrap().seq, 40);
}

/// A tiny deterministic generator for the fault schedule.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// Random faults between writes, reopening whenever the log stops: at the end every
/// acknowledged write is there exactly once, the log verifies and the projections equal
/// a rebuild from the log.
#[test]
fn under_random_faults_every_acknowledged_write_survives_exactly_once() {
    for seed in [7u64, 1_234_567, 987_654_321] {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(FaultyDisk::new());
        let mut store = filled(dir.path(), &disk);
        let mut dice = Dice(seed);
        let mut acknowledged = std::collections::BTreeMap::new();
        for n in 1..=150u64 {
            match dice.roll(12) {
                0 => disk.set(|faults| faults.fail_writes = true),
                1 => disk.set(|faults| faults.fail_syncs = true),
                2 => disk.set(|faults| faults.short_write = Some(dice.roll(40) as usize)),
                3 => disk.set(|faults| faults.space_left = Some(dice.roll(400))),
                _ => disk.heal(),
            }
            // Sometimes a retry of an earlier write, as a client would after an error.
            let n = if dice.roll(4) == 0 { dice.roll(n) + 1 } else { n };
            match store.execute(tag(n)) {
                Ok(appended) => {
                    let first = *acknowledged.entry(n).or_insert(appended.seq);
                    assert_eq!(first, appended.seq, "a retry answers the original position");
                }
                Err(Error::Io { .. }) | Err(Error::Poisoned(_)) => {
                    disk.heal();
                    drop(store);
                    store = open(dir.path(), &disk).unwrap();
                }
                Err(other) => panic!("an untyped failure: {other}"),
            }
        }
        disk.heal();
        drop(store);
        Store::verify(dir.path()).unwrap();
        let store = open(dir.path(), &disk).unwrap();
        for (n, seq) in &acknowledged {
            assert_eq!(seq_of(&store, *n), Some(*seq), "seed {seed}: write {n}");
        }
        let digest = store.projection_digest().unwrap();
        drop(store);
        let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
        assert_eq!(rebuilt.projection_digest().unwrap(), digest, "seed {seed}");
    }
}

/// Waits (up to a minute) until `ready` holds.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A new run, and a tag on it that only a store holding the run accepts.
fn run_then_tag() -> (CommandEnvelope, CommandEnvelope) {
    let start = CommandEnvelope::new(
        id("u-ada"),
        Command::StartRun(RunStarted {
            run: id("r-pipelined"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            revision: "4f1c2aa".into(),
            parent: None,
        }),
    );
    let tag = CommandEnvelope::new(
        id("u-ada"),
        Command::SetRunTags(RunTagsSet {
            run: id("r-pipelined"),
            tags: vec![Tag {
                key: "stage".into(),
                value: "after the start".into(),
            }],
        }),
    );
    (start, tag)
}

/// Runs the start of `r-pipelined` as one group, held in its sync, and the tag on it as
/// the next, handed to the writer while the first is being written (so it is decided on
/// top of the first while that syncs); `syncs_fail` then says how the held sync ends.
/// Checks that nothing of either shows while the first is not durable; returns both
/// outcomes.
fn pipelined(
    store: &Store,
    disk: &FaultyDisk,
    syncs_fail: bool,
) -> (
    lineage_store::Result<lineage_store::Appended>,
    lineage_store::Result<Vec<lineage_store::Appended>>,
) {
    let (start, tag) = run_then_tag();
    let head = store.head();
    let run = EntityRef::new(EntityKind::Run, "r-pipelined");
    disk.set(|faults| {
        faults.hold_writes = true;
        faults.hold_syncs = true;
    });
    std::thread::scope(|scope| {
        let first = scope.spawn(|| store.execute(start));
        wait_until("the first group is being written", || disk.held().writes == 1);
        // One poll hands the second group's job to the writer's queue.
        let mut second = Box::pin(store.execute_batch_located(vec![tag]));
        let polled = second.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending(), "the second group waits behind the first");
        disk.set(|faults| faults.hold_writes = false);
        wait_until("the first group is syncing", || {
            disk.held() == lineage_store::disk::Held { writes: 0, syncs: 1 }
        });
        assert_eq!(store.head(), head, "nothing is acknowledged before it is durable");
        assert_eq!(store.entity(&run).unwrap(), None, "nothing shows before it is durable");
        disk.set(|faults| {
            faults.fail_syncs = syncs_fail;
            faults.hold_syncs = false;
        });
        let first = first.join().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let second = runtime.block_on(second).map_err(Error::from);
        (first, second)
    })
}

/// A group decided while the one before it syncs is answered only once that one is
/// durable: when its sync fails, the group decided on top of it fails with it (the same
/// error: it was decided, not refused for the log being stopped), and nothing of either
/// shows, then or after reopening.
#[test]
fn a_group_decided_on_top_of_one_whose_sync_fails_fails_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    let run = EntityRef::new(EntityKind::Run, "r-pipelined");
    let (first, second) = pipelined(&store, &disk, true);
    for outcome in [first.map(|_| ()), second.map(|_| ())] {
        let error = outcome.unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Io {
                    context: "syncing records",
                    ..
                }
            ),
            "both fail with the sync's error: {error}"
        );
    }
    assert_eq!(store.head(), head);
    assert_eq!(store.entity(&run).unwrap(), None, "nothing of the failed groups shows");
    assert_eq!(store.history(&run).unwrap(), Vec::new());
    disk.heal();
    drop(store);
    let report = Store::verify(dir.path()).unwrap();
    assert_eq!(report.head, head, "nothing of either is in the log");
    let store = open(dir.path(), &disk).unwrap();
    assert_eq!(store.entity(&run).unwrap(), None);
    let (start, tag) = run_then_tag();
    store.execute_batch(vec![start, tag]).unwrap();
    assert_eq!(store.head().seq, head.seq + 2);
}

/// The same two groups with the sync succeeding: the second, decided on the first's
/// changes before they were durable (a tag on the run it starts), is accepted and
/// follows it in the log, and both survive reopening.
#[test]
fn a_group_decided_while_the_one_before_syncs_builds_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FaultyDisk::new());
    let store = filled(dir.path(), &disk);
    let head = store.head();
    let run = EntityRef::new(EntityKind::Run, "r-pipelined");
    let (first, second) = pipelined(&store, &disk, false);
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.seq, head.seq + 1);
    assert_eq!(second[0].seq, head.seq + 2);
    assert_eq!(store.head().seq, head.seq + 2);
    let history: Vec<u64> = store.history(&run).unwrap().iter().map(|event| event.seq).collect();
    assert_eq!(history, vec![head.seq + 1, head.seq + 2]);
    drop(store);
    let store = open(dir.path(), &disk).unwrap();
    let tagged = format!("{:?}", store.entity(&run).unwrap().expect("the run survives"));
    assert!(tagged.contains("after the start"), "{tagged}");
}
