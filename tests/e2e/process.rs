//! The real `lineage serve` process: it prints its tokens and address, serves, and on
//! SIGTERM lets requests in flight finish, closes the log cleanly and exits 0.

use lineage_store::{Options, Store};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Reads the child's stdout until it names its address; returns (address, u-alex's token,
/// the explorer's printed address).
fn wait_until_serving(stdout: std::process::ChildStdout) -> (String, String, String) {
    let (mut token, mut explorer) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"u-alex") {
            token = words.get(1).map(|word| word.to_string());
        }
        if let Some(rest) = line.strip_prefix("Lineage explorer: ") {
            explorer = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(url) = line.strip_prefix("Lineage is serving GraphQL at ") {
            return (
                url.to_string(),
                token.expect("the demo tokens come first"),
                explorer.expect("the explorer's address comes first"),
            );
        }
    }
    panic!("the server ended before serving");
}

#[test]
fn sigterm_drains_requests_and_leaves_a_clean_log() {
    let dir = tempfile::tempdir().unwrap();
    // Left by uploads a kill cut short: removed before serving; a multipart upload kept.
    let incoming = dir.path().join("artifacts").join("incoming");
    let multipart = incoming.join(format!("mpu-{}", "0".repeat(32)));
    std::fs::create_dir_all(&multipart).unwrap();
    for file in [
        incoming.join("upload-cut-short"),
        multipart.join("2.partial"),
        multipart.join("1"),
    ] {
        std::fs::write(file, b"bytes").unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
        ])
        .env("LINEAGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, token, explorer) = wait_until_serving(child.stdout.take().unwrap());
    assert!(!incoming.join("upload-cut-short").exists() && !multipart.join("2.partial").exists());
    assert!(
        multipart.join("1").exists(),
        "a multipart upload's received part is kept"
    );
    let (page, fragment) = explorer.split_once('#').expect("the address carries a token");
    assert_eq!(
        fragment,
        format!("token={token}"),
        "the explorer opens signed in as u-alex"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acknowledged = runtime.block_on(async {
        let client = reqwest::Client::new();
        let html = client.get(page).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("<title>Lineage explorer</title>"), "the printed address serves the explorer");
        let mut tasks = Vec::new();
        for writer in 0..4 {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let deadline = Instant::now() + Duration::from_secs(10);
                for step in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let event_id = format!("term-{writer}-{step}");
                    let body = serde_json::json!({
                        "query": "mutation($input: SetRunTagsInput!, $id: String) { setRunTags(input: $input, eventId: $id) { seq } }",
                        "variables": { "input": { "run": "r-churn-1", "tags": [{ "key": "step", "value": step.to_string() }] }, "id": event_id }
                    });
                    let Ok(response) = client.post(&url).bearer_auth(&token).json(&body).send().await else { break };
                    let Ok(answer) = response.json::<serde_json::Value>().await else { break };
                    match answer["data"]["setRunTags"]["seq"].as_u64() {
                        Some(seq) => acknowledged.push((event_id, seq)),
                        None => break,
                    }
                }
                acknowledged
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let mut acknowledged = Vec::new();
        for task in tasks {
            acknowledged.extend(task.await.unwrap());
        }
        acknowledged
    });
    let exit = child.wait().unwrap();
    assert!(exit.success(), "the server exits cleanly on SIGTERM: {exit}");
    assert!(!acknowledged.is_empty(), "no mutation was acknowledged before SIGTERM");
    let report = Store::verify(dir.path()).unwrap();
    assert_eq!(report.torn_tail_bytes, 0, "the log was closed cleanly");
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    for (event_id, seq) in &acknowledged {
        assert_eq!(
            store
                .seq_of_event(&crate::support::id("u-alex"), &crate::support::id(event_id))
                .unwrap(),
            Some(*seq),
            "{event_id} lost"
        );
    }
}

/// Load with kills, CI-sized: clients write and read over HTTP while the server is
/// SIGKILLed and restarted; no acknowledged write is lost (BENCHMARKS.md has a longer run).
#[test]
fn load_with_kills_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let options = lineage_tests::load::LoadOptions {
        binary: env!("CARGO_BIN_EXE_lineage-cli").into(),
        dir: dir.path().join("store"),
        clients: 8,
        duration: Duration::from_secs(8),
        kills: 3,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(lineage_tests::load::run(&options)).unwrap();
    println!("{report}");
    assert_eq!(report.kills, 3);
    assert_eq!(report.lost, 0, "{report}");
    assert!(
        report.mutations_acknowledged > 0 && report.queries_answered > 0,
        "{report}"
    );
}
