//! The log on a real PostgreSQL: moving a log there and back unchanged, several nodes
//! appending to one log and reading each other's writes, a competing writer refused,
//! PostgreSQL restarting under load, and a node SIGKILLed under load — no acknowledged
//! write lost or applied twice, every node's projections equal to a replay.

use crate::pg::Postgres;
use crate::support::id;
use lineage_schema::event::{MetricPoint, MetricsLogged};
use lineage_schema::*;
use lineage_store::{demo, Options, Stage, Store, Unit};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn on(url: &str) -> Options {
    Options {
        log_url: Some(url.to_string()),
        ..Options::default()
    }
}

fn lineage(args: &[&str]) -> std::process::Output {
    Process::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args(args)
        .output()
        .expect("the lineage binary runs")
}

fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A metric point on the demo's run `r-churn-1`, with an idempotency key.
pub(crate) fn metric(actor: &str, key: &str, step: i64) -> CommandEnvelope {
    let mut command = CommandEnvelope::new(
        id(actor),
        Command::LogMetrics(MetricsLogged {
            run: id("r-churn-1"),
            points: vec![MetricPoint {
                name: "shared".into(),
                value: step as f64,
                step,
                timestamp: Timestamp::now(),
            }],
        }),
    );
    command.event_id = Some(EventId::new(key).unwrap());
    command
}

/// The events a log holds by idempotency key, read back through a fresh node.
fn keys_in(url: &str) -> BTreeMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &on(url)).unwrap();
    let mut keys = BTreeMap::new();
    for envelope in store.events(0, usize::MAX, &Default::default()).unwrap() {
        if let Some(key) = envelope.event_id {
            *keys.entry(key.to_string()).or_insert(0) += 1;
        }
    }
    keys
}

/// A log exported from files and imported into PostgreSQL is the same log (same hashes,
/// a checkpoint of the file log verifies against PostgreSQL), and back again.
#[test]
fn a_log_moves_to_postgres_and_back_unchanged() {
    let postgres = Postgres::start();
    let url = postgres.database("moved");
    let (files, node, back) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let dir = |d: &tempfile::TempDir| d.path().to_str().unwrap().to_string();
    succeeded(&lineage(&["--data-dir", &dir(&files), "demo"]));
    let export = files.path().join("export.ndjson");
    let exported = lineage(&["--data-dir", &dir(&files), "export"]);
    std::fs::write(&export, succeeded(&exported)).unwrap();
    let checkpoint = files.path().join("checkpoint.json");
    succeeded(&lineage(&[
        "--data-dir",
        &dir(&files),
        "checkpoint",
        "--out",
        checkpoint.to_str().unwrap(),
    ]));

    succeeded(&lineage(&[
        "--data-dir",
        &dir(&node),
        "--log",
        &url,
        "import",
        "lineage",
        export.to_str().unwrap(),
    ]));
    let on_files = succeeded(&lineage(&["--data-dir", &dir(&files), "verify"]));
    let on_postgres = succeeded(&lineage(&["--data-dir", &dir(&node), "--log", &url, "verify"]));
    let head = |text: &str| text.lines().find(|line| line.starts_with("head:")).unwrap().to_string();
    assert_eq!(head(&on_files), head(&on_postgres), "the same head, hash and all");
    assert!(on_postgres.contains("PostgreSQL"), "{on_postgres}");
    let stats = succeeded(&lineage(&["--data-dir", &dir(&node), "--log", &url, "stats"]));
    assert!(
        stats.contains("bytes in PostgreSQL at postgres://lineage@127.0.0.1"),
        "{stats}"
    );
    let checked = succeeded(&lineage(&[
        "--data-dir",
        &dir(&node),
        "--log",
        &url,
        "verify",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]));
    assert!(checked.contains("are the history the checkpoint"), "{checked}");

    // And back: PostgreSQL's export is byte for byte the file log's, and restores to files.
    let again = succeeded(&lineage(&["--data-dir", &dir(&node), "--log", &url, "export"]));
    assert_eq!(again, std::fs::read_to_string(&export).unwrap());
    let returned = back.path().join("again.ndjson");
    std::fs::write(&returned, &again).unwrap();
    succeeded(&lineage(&[
        "--data-dir",
        &dir(&back),
        "import",
        "lineage",
        returned.to_str().unwrap(),
    ]));
    assert_eq!(
        head(&succeeded(&lineage(&["--data-dir", &dir(&back), "verify"]))),
        head(&on_files)
    );

    // A node's projections cannot be pointed at another log, nor a file store's at
    // PostgreSQL: opening says so.
    let other = postgres.database("other");
    let elsewhere = tempfile::tempdir().unwrap();
    succeeded(&lineage(&["--data-dir", &dir(&elsewhere), "--log", &other, "demo"]));
    let files_on_postgres = lineage(&["--data-dir", &dir(&back), "--log", &url, "stats"]);
    assert!(String::from_utf8_lossy(&files_on_postgres.stderr).contains("derived from another log"));
    let refused = lineage(&["--data-dir", &dir(&node), "--log", &other, "stats"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("derived from another log"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Three nodes on one log: writes on each, from threads at once, all succeed; each node
/// reads the others' writes; the log verifies; every node's projections equal a replay.
#[test]
fn three_nodes_append_to_one_log_and_read_each_others_writes() {
    let postgres = Postgres::start();
    let url = postgres.database("nodes");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Arc<Store>> = dirs
        .iter()
        .map(|dir| Arc::new(Store::open(dir.path(), &on(&url)).unwrap()))
        .collect();
    demo::fill(&nodes[0]).unwrap();
    let filled = nodes[0].head().seq;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for node in &nodes[1..] {
        assert!(
            runtime.block_on(node.reach(filled, Duration::from_secs(10))),
            "a node follows the log"
        );
        assert!(node
            .entity(&EntityRef::new(EntityKind::Run, "r-churn-1"))
            .unwrap()
            .is_some());
    }
    let per_node = 40;
    let writers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let node = Arc::clone(node);
            std::thread::spawn(move || {
                (0..per_node)
                    .map(|i| {
                        node.execute(metric("u-ada", &format!("n{n}-{i}"), (n * 1000 + i) as i64))
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let seqs: Vec<u64> = writers.into_iter().flat_map(|writer| writer.join().unwrap()).collect();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3 * per_node, "every write has a position of its own");
    let last = *unique.last().unwrap();
    assert_eq!(last, filled + 3 * per_node as u64, "no gaps");
    for node in &nodes {
        assert!(runtime.block_on(node.reach(last, Duration::from_secs(10))));
        let run = EntityRef::new(EntityKind::Run, "r-churn-1");
        assert_eq!(
            node.entity(&run).unwrap().unwrap().version,
            nodes[0].entity(&run).unwrap().unwrap().version,
            "every node has folded in every write"
        );
    }
    let keys = keys_in(&url);
    for n in 0..3 {
        for i in 0..per_node {
            assert_eq!(keys.get(&format!("n{n}-{i}")), Some(&1), "n{n}-{i} once");
        }
    }
    let mut reports = Vec::new();
    let report = Store::verify_log(Path::new("/nonexistent"), Some(&url), &mut |progress| {
        reports.push(progress)
    })
    .unwrap();
    assert_eq!(report.head.seq, last);
    // The table's records are counted to its head, the last report at the head.
    assert!(reports.iter().all(|progress| progress.stage == Stage::CheckingLog
        && progress.unit == Unit::Events
        && progress.total == last));
    assert!(
        reports.windows(2).all(|pair| pair[0].done <= pair[1].done),
        "{reports:?}"
    );
    assert_eq!(reports.last().map(|progress| progress.done), Some(last));
    let digests: Vec<Digest> = nodes.iter().map(|node| node.projection_digest().unwrap()).collect();
    drop(nodes);
    let replay = tempfile::tempdir().unwrap();
    let replayed = Store::open(replay.path(), &on(&url))
        .unwrap()
        .projection_digest()
        .unwrap();
    for digest in digests {
        assert_eq!(digest, replayed, "a node's projections equal a replay of the log");
    }
}

/// What the table refuses, whoever writes to it: a row that does not continue the chain,
/// a seq already taken, and any update, delete or truncation.
#[test]
fn a_competing_writer_cannot_fork_or_rewrite_the_log() {
    let postgres = Postgres::start();
    let url = postgres.database("guarded");
    let node = tempfile::tempdir().unwrap();
    let store = Store::open(node.path(), &on(&url)).unwrap();
    demo::fill(&store).unwrap();
    let head = store.head().seq;
    let db = "guarded";
    let row = |seq: u64, prev: &str| {
        format!(
            "SELECT {seq}, stream, version, NULL, account, schema, record, hash, {prev} FROM lineage_log WHERE seq = 5"
        )
    };
    let copy = |seq: u64, prev: &str| format!("INSERT INTO lineage_log {}", row(seq, prev));
    let fork = postgres
        .try_sql(db, &copy(head + 1, "decode(repeat('ab', 32), 'hex')"))
        .unwrap_err();
    assert!(fork.contains("does not continue the chain"), "{fork}");
    // Every row of one statement is checked, not only its first; and none may leave a gap.
    let head_hash = format!("(SELECT hash FROM lineage_log WHERE seq = {head})");
    let bad_hash = "decode(repeat('ab', 32), 'hex')";
    let broken_inside = postgres
        .try_sql(
            db,
            &format!("{} UNION ALL {}", copy(head + 1, &head_hash), row(head + 2, bad_hash)),
        )
        .unwrap_err();
    assert!(
        broken_inside.contains(&format!("event {} does not continue", head + 2)),
        "{broken_inside}"
    );
    let gap_inside = postgres
        .try_sql(
            db,
            &format!("{} UNION ALL {}", copy(head + 1, &head_hash), row(head + 3, bad_hash)),
        )
        .unwrap_err();
    assert!(gap_inside.contains("leave a gap"), "{gap_inside}");
    let gap_at_head = postgres.try_sql(db, &copy(head + 2, &head_hash)).unwrap_err();
    assert!(gap_at_head.contains("does not continue the chain"), "{gap_at_head}");
    let taken = postgres
        .try_sql(
            db,
            &copy(
                head,
                &format!("(SELECT hash FROM lineage_log WHERE seq = {})", head - 1),
            ),
        )
        .unwrap_err();
    assert!(taken.contains("duplicate key"), "{taken}");
    for rewrite in [
        "UPDATE lineage_log SET account = 'x' WHERE seq = 3",
        "DELETE FROM lineage_log WHERE seq = 3",
        "TRUNCATE lineage_log",
    ] {
        let refused = postgres.try_sql(db, rewrite).unwrap_err();
        assert!(refused.contains("append-only"), "{rewrite}: {refused}");
    }
    assert_eq!(postgres.sql(db, "SELECT count(*) FROM lineage_log"), head.to_string());
    // The store goes on, and the log verifies.
    store.execute(metric("u-ada", "after", 1)).unwrap();
    assert_eq!(
        Store::verify_log(node.path(), Some(&url), &mut |_| {})
            .unwrap()
            .head
            .seq,
        head + 1
    );
}

/// PostgreSQL stops under load and comes back: meanwhile appends fail as UNAVAILABLE and
/// acknowledge nothing; a client retrying with its keys ends with each write exactly once.
#[test]
fn postgres_restarting_under_load_loses_nothing_and_doubles_nothing() {
    let postgres = Postgres::start();
    let url = postgres.database("restarted");
    let node = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(node.path(), &on(&url)).unwrap());
    demo::fill(&store).unwrap();
    let writes = 150;
    let client = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let mut unavailable = 0;
            for i in 0..writes {
                let started = Instant::now();
                loop {
                    match store.execute(metric("u-ada", &format!("k{i}"), i)) {
                        Ok(_) => break,
                        Err(lineage_store::Error::Unavailable(_)) => {
                            unavailable += 1;
                            assert!(
                                started.elapsed() < Duration::from_secs(60),
                                "write {i} never went through"
                            );
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(other) => panic!("write {i}: {other}"),
                    }
                }
                std::thread::sleep(Duration::from_millis(4));
            }
            unavailable
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    postgres.stop();
    std::thread::sleep(Duration::from_millis(700));
    postgres.restart();
    let unavailable = client.join().unwrap();
    assert!(unavailable > 0, "the client saw the database away");
    let keys = keys_in(&url);
    for i in 0..writes {
        assert_eq!(
            keys.get(&format!("k{i}")),
            Some(&1),
            "write k{i} is in the log exactly once"
        );
    }
    let digest = store.projection_digest().unwrap();
    drop(store);
    let replay = tempfile::tempdir().unwrap();
    assert_eq!(
        Store::open(replay.path(), &on(&url))
            .unwrap()
            .projection_digest()
            .unwrap(),
        digest
    );
}

/// A `lineage serve` node on the shared log: its child, address and (demo) token.
struct Node {
    child: Child,
    url: String,
    token: Option<String>,
}

fn serve(dir: &Path, log: &str, demo: bool) -> Node {
    let mut args = vec![
        "--data-dir",
        dir.to_str().unwrap(),
        "--log",
        log,
        "serve",
        "--bind",
        "127.0.0.1:0",
    ];
    if demo {
        args.push("--demo");
    }
    let mut child = Process::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut token = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"u-alex") {
            token = words.get(1).map(|word| word.to_string());
        }
        if let Some(url) = line.strip_prefix("Lineage is serving GraphQL at ") {
            return Node {
                child,
                url: url.to_string(),
                token,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the node ended before serving");
}

/// Two `lineage serve` nodes on one log; a client writes through both with idempotency
/// keys, moving to the other node when one fails; one node is SIGKILLed mid-way and
/// started again. Every acknowledged write is in the log exactly once, and both nodes'
/// projections equal a replay.
#[test]
fn a_node_killed_under_load_loses_no_acknowledged_write() {
    let postgres = Postgres::start();
    let log = postgres.database("killed");
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = serve(one.path(), &log, true);
    let token = first.token.clone().expect("the demo's tokens");
    let mut nodes = vec![first, serve(two.path(), &log, false)];
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let send = |url: &str, key: &str, step: usize| -> Option<u64> {
        let body = json!({ "query": "mutation($key: String!, $step: Int!) { logMetrics(input: { run: \"r-churn-1\", points: [{ name: \"killed\", value: 1, step: $step, timestamp: \"2026-03-07T00:00:00Z\" }] }, eventId: $key) { seq } }",
                           "variables": { "key": key, "step": step } });
        let answer: Value = client
            .post(url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .ok()?
            .json()
            .ok()?;
        answer["data"]["logMetrics"]["seq"].as_u64()
    };
    let writes = 120;
    let mut acknowledged = BTreeMap::new();
    let mut failovers = 0;
    for i in 0..writes {
        if i == writes / 2 {
            nodes[0].child.kill().unwrap();
            nodes[0].child.wait().unwrap();
        }
        let key = format!("w{i}");
        let mut attempt = 0;
        let seq = loop {
            let node = &nodes[(i + attempt) % 2];
            if let Some(seq) = send(&node.url, &key, i) {
                break seq;
            }
            failovers += 1;
            attempt += 1;
            assert!(attempt < 40, "write {key} found no node");
            std::thread::sleep(Duration::from_millis(50));
        };
        acknowledged.insert(key, seq);
    }
    assert!(failovers > 0, "the client met the killed node");
    nodes[0] = serve(one.path(), &log, false);
    // Read-your-writes across nodes: a write acknowledged by one node, read on the other
    // as of its seq, is there (the reader waits for its node to fold it in).
    for step in 0..5 {
        let seq = send(&nodes[1].url, &format!("ryw{step}"), step).expect("a write");
        let body = json!({ "query": "query($seq: Int!) { lineage(id: \"run/r-churn-1\", direction: UPSTREAM, depth: 1, asOf: { seq: $seq }) { nodes { id } } }",
                           "variables": { "seq": seq } });
        let answer: Value = client
            .post(&nodes[0].url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(
            answer["errors"].is_null()
                && answer["data"]["lineage"]["nodes"]
                    .as_array()
                    .is_some_and(|n| !n.is_empty()),
            "{answer}"
        );
    }
    let keys = keys_in(&log);
    for key in acknowledged.keys() {
        assert_eq!(keys.get(key), Some(&1), "{key} is in the log exactly once");
    }
    // Both nodes come level with the log (the restarted one catches up) and equal a replay.
    let head = Store::verify_log(one.path(), Some(&log), &mut |_| {}).unwrap().head.seq;
    for node in &nodes {
        let started = Instant::now();
        loop {
            let ready = client
                .get(node.url.replace("/graphql", "/readyz"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            let body = json!({ "query": "{ head }" });
            let known: Value = client
                .post(&node.url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .unwrap()
                .json()
                .unwrap();
            if ready.contains("lag 0\n") && known["data"]["head"] == head {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{ready}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for mut node in nodes {
        let _ = Process::new("kill")
            .args(["-TERM", &node.child.id().to_string()])
            .status();
        node.child.wait().unwrap();
    }
    let replay = tempfile::tempdir().unwrap();
    let replayed = Store::open(replay.path(), &on(&log))
        .unwrap()
        .projection_digest()
        .unwrap();
    for dir in [&one, &two] {
        assert_eq!(
            Store::open(dir.path(), &on(&log)).unwrap().projection_digest().unwrap(),
            replayed
        );
    }
}

/// While PostgreSQL is away a node still answers reads from its projections, and writes
/// with `UNAVAILABLE` and `Retry-After`, acknowledging nothing; once it is back, the same
/// write (same key) goes through, once.
#[test]
fn a_node_says_unavailable_and_when_to_retry_while_postgres_is_away() {
    let postgres = Postgres::start();
    let log = postgres.database("away");
    let dir = tempfile::tempdir().unwrap();
    let mut node = serve(dir.path(), &log, true);
    let token = node.token.clone().expect("the demo's tokens");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let post = |query: &str| {
        client
            .post(&node.url)
            .bearer_auth(&token)
            .json(&json!({ "query": query }))
            .send()
            .unwrap()
    };
    let write = "mutation { logMetrics(input: { run: \"r-churn-1\", points: [{ name: \"away\", value: 1, step: 1, timestamp: \"2026-03-07T00:00:00Z\" }] }, eventId: \"while-away\") { seq } }";
    let head = Store::verify_log(dir.path(), Some(&log), &mut |_| {}).unwrap().head.seq;
    postgres.stop();
    let refused = post(write);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("1".to_string())
    );
    let body: Value = refused.json().unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("PostgreSQL"),
        "{body}"
    );
    let read: Value = post("{ run(id: \"r-churn-1\") { status } }").json().unwrap();
    assert_eq!(read["data"]["run"]["status"], "COMPLETED", "reads go on: {read}");
    postgres.restart();
    let started = Instant::now();
    let seq = loop {
        let answer: Value = post(write).json().unwrap();
        if let Some(seq) = answer["data"]["logMetrics"]["seq"].as_u64() {
            break seq;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{answer}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(seq, head + 1, "nothing was appended while away");
    assert_eq!(keys_in(&log).get("while-away"), Some(&1));
    let _ = node.child.kill();
    let _ = node.child.wait();
}
