//! Crash test: a child process appends from many threads and is SIGKILLed at random
//! moments; after every kill, every acknowledged event is still there, exactly once,
//! with no partial record, a verifying chain and projections equal to a replay.

use crate::support::{copy_dir, id};
use lineage_schema::EventId;
use lineage_store::{Options, Store};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILLS: usize = 60;
const MIN_KILLS: usize = 50;
const TIME_LIMIT: Duration = Duration::from_secs(150);
const WRITERS: &str = "16";

/// A small xorshift generator: the seed is printed, so a failure can be replayed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Runs the child for a random while, kills it, and returns the acks it printed.
fn run_and_kill(dir: &std::path::Path, attempt: usize, random: &mut Random) -> Vec<(EventId, u64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
        .args([dir.to_str().unwrap(), WRITERS, &attempt.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crash-writer");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut words = line.split(' ');
            if words.next() == Some("ack") {
                if let (Some(event_id), Some(seq)) = (words.next(), words.next().and_then(|seq| seq.parse().ok())) {
                    acks.push((id(event_id), seq));
                }
            }
        }
        acks
    });
    // Mostly kill while appending; sometimes while still opening.
    std::thread::sleep(Duration::from_millis(random.below(150)));
    child.kill().expect("SIGKILL the child");
    child.wait().unwrap();
    reader.join().unwrap()
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut random = Random(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut kills = 0;
    let mut total_acks = 0;
    let mut earlier: Vec<(EventId, u64)> = Vec::new();
    while kills < KILLS && started.elapsed() < TIME_LIMIT {
        let acks = run_and_kill(dir.path(), kills, &mut random);
        kills += 1;
        total_acks += acks.len();

        let store = Store::open(dir.path(), &Options::default())
            .unwrap_or_else(|error| panic!("reopen after kill {kills}: {error}"));
        assert_eq!(store.opened().log.scan.records, store.head().seq);
        for (event_id, seq) in acks.iter().chain(earlier.iter().rev().take(200)) {
            assert_eq!(
                store.seq_of_event(&crate::support::id("u-crash"), event_id).unwrap(),
                Some(*seq),
                "acknowledged {event_id} lost after kill {kills} (seed {seed})"
            );
            let envelope = store.event(*seq).unwrap().unwrap();
            assert_eq!(envelope.event_id.as_ref(), Some(event_id));
        }
        earlier.extend(acks);
        if kills % 10 == 0 || kills == KILLS {
            check_projections_equal_a_replay(&store, dir.path());
        }
        drop(store);
        let report = Store::verify(dir.path()).unwrap();
        assert_eq!(report.torn_tail_bytes, 0, "a partial record survived reopening");
    }
    assert!(kills >= MIN_KILLS, "only {kills} kills in {TIME_LIMIT:?}");
    assert!(total_acks > 0, "the child never acknowledged anything");
    eprintln!(
        "{kills} kills, {total_acks} acknowledged events checked, log at {}",
        Store::verify(dir.path()).unwrap().head.seq
    );
}

fn check_projections_equal_a_replay(store: &Store, dir: &std::path::Path) {
    let incremental = store.projection_digest().unwrap();
    store.close().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    let rebuilt = Store::rebuild(copy.path(), &Options::default(), &mut |_| {}).unwrap();
    assert_eq!(
        rebuilt.projection_digest().unwrap(),
        incremental,
        "projections differ from a replay"
    );
}
