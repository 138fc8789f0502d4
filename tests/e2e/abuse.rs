//! Abuse: a real `lineage serve` flooded with oversized bodies, deeply nested and
//! expensive queries, clients that send their headers or body a byte at a time, while
//! one ordinary client keeps asking an ordinary question. Every ordinary question is
//! answered, none waits anywhere near a slow client's deadline, and the server's memory
//! stays bounded. `ABUSE_SECONDS` lengthens the flood (BENCHMARKS.md has a longer run).

use lineage_tests::load::{prepare, ServerProcess};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ORDINARY: &str = "{ trace(service: \"svc-churn\") { image { imageVersion manifest { models { modelVersion run { run datasets } } } } } }";

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

async fn ordinary(client: &reqwest::Client, url: &str, token: &str) -> (bool, Duration) {
    let started = Instant::now();
    let answer: Option<Value> = match client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": ORDINARY }))
        .send()
        .await
    {
        Ok(response) => response.json().await.ok(),
        Err(_) => None,
    };
    let ok = answer.is_some_and(|answer| answer["data"]["trace"]["image"]["imageVersion"].is_string());
    (ok, started.elapsed())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

/// A client that sends a request a byte at a time and never finishes; it counts how
/// often the server cut it off.
async fn slow_client(port: u16, body: bool, stop: Arc<AtomicBool>, cut: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let head = if body {
            "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{\"query\": \""
        } else {
            "POST /graphql HTTP/1.1\r\nhost: x\r\n"
        };
        let mut bytes = head.bytes().collect::<Vec<_>>().into_iter();
        let mut drip = std::iter::repeat(if body { b'x' } else { b'a' });
        if body {
            let _ = stream.write_all(head.as_bytes()).await;
            bytes = Vec::new().into_iter();
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let byte = bytes.next().or_else(|| drip.next()).unwrap();
            if stream.write_all(&[byte]).await.is_err() {
                cut.fetch_add(1, Ordering::Relaxed);
                break;
            }
            // A closed connection shows up as a read of 0 bytes (or a 408 answer).
            let mut buffer = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buffer)).await {
                Ok(Ok(_)) | Ok(Err(_)) => {
                    cut.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_questions_are_answered_through_a_flood_of_abuse() {
    let seconds: u64 = std::env::var("ABUSE_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let token = prepare(dir.path()).unwrap();
    // The abuse comes from another principal, as it would.
    let abuser = {
        let store = lineage_store::Store::open(dir.path(), &lineage_store::Options::default()).unwrap();
        let ada = crate::support::id("u-ada");
        lineage_graphql::auth::issue(&store, &ada, &ada, "abuse")
            .unwrap()
            .secret
    };
    // `ABUSE_LINEAGE` serves with another binary (a release build, for BENCHMARKS.md).
    let binary = std::env::var("ABUSE_LINEAGE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lineage-cli").into());
    let mut server = ServerProcess::new(binary.as_ref(), dir.path()).unwrap();
    server.flags = vec!["--client-timeout-ms".into(), "1000".into()];
    server.start().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    server.wait_ready(&client).await.unwrap();
    let url = format!("http://127.0.0.1:{}/graphql", server.port);
    let pid = server.pid().unwrap();

    let mut calm = Vec::new();
    for _ in 0..40 {
        let (ok, took) = ordinary(&client, &url, &token).await;
        assert!(ok);
        calm.push(took);
    }
    calm.sort();
    let memory_before = resident_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut abusers = Vec::new();
    for body in [false, true] {
        for _ in 0..40 {
            abusers.push(tokio::spawn(slow_client(
                server.port,
                body,
                Arc::clone(&stop),
                Arc::clone(&cut),
            )));
        }
    }
    let nested = format!(
        "{{ run(id: \"r-churn-1\") {} }}",
        "{ entity { asRun ".repeat(60) + "{ id }" + &" } }".repeat(60)
    );
    let expensive = format!(
        "{{ {} }}",
        (0..40)
            .map(|i| format!("w{i}: lineage(id: \"run/r-churn-1\", depth: 64, maxNodes: 10000) {{ nodes {{ id }} edges {{ from to }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let oversized = format!("{{ head }} # {}", "x".repeat(4 << 20));
    // Nested and oversized requests must be refused; expensive ones within the limits may
    // be served (bounded by the complexity limit and the request timeout).
    for (query, refusable) in [(nested, true), (expensive, false), (oversized, true)] {
        // Built once: the flood should cost its senders little, as it would a real one.
        let body = bytes::Bytes::from(json!({ "query": query }).to_string());
        for _ in 0..4 {
            let (client, url, token, stop, refused) = (
                client.clone(),
                url.clone(),
                abuser.clone(),
                Arc::clone(&stop),
                Arc::clone(&refused),
            );
            let body = body.clone();
            abusers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(response) = sent {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        let answered_data = status.is_success() && !text.contains("\"errors\"");
                        assert!(
                            !(refusable && answered_data),
                            "abuse was served: {}",
                            &text[..text.len().min(200)]
                        );
                        if !answered_data {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }

    // The ordinary client runs on a thread of its own, apart from the abusers' runtime.
    let ordinary_client = {
        let (url, token) = (url.clone(), token.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = reqwest::Client::new();
                let mut stormy = Vec::new();
                let mut peak_memory = 0;
                let deadline = Instant::now() + Duration::from_secs(seconds);
                while Instant::now() < deadline {
                    let (ok, took) = ordinary(&client, &url, &token).await;
                    assert!(ok, "an ordinary question went unanswered during the flood");
                    stormy.push(took);
                    peak_memory = peak_memory.max(resident_kib(pid));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (stormy, peak_memory)
            })
        })
    };
    let (mut stormy, peak) = tokio::task::spawn_blocking(move || ordinary_client.join().unwrap())
        .await
        .unwrap();
    let peak_memory = peak.max(memory_before);
    stop.store(true, Ordering::Relaxed);
    for abuser in abusers {
        abuser.await.unwrap();
    }
    stormy.sort();
    println!(
        "ordinary trace over HTTP: p50 {:?} p99 {:?} calm, p50 {:?} p99 {:?} max {:?} under abuse ({} answered); {} abusive requests refused, slow clients cut off {} times; server memory {} MiB before, {} MiB at peak",
        percentile(&calm, 0.5),
        percentile(&calm, 0.99),
        percentile(&stormy, 0.5),
        percentile(&stormy, 0.99),
        stormy.last().unwrap(),
        stormy.len(),
        refused.load(Ordering::Relaxed),
        cut.load(Ordering::Relaxed),
        memory_before / 1024,
        peak_memory / 1024
    );
    assert!(refused.load(Ordering::Relaxed) > 0);
    assert!(cut.load(Ordering::Relaxed) > 0, "slow clients are cut off");
    // Bounds, not speed figures: nothing waited for a slow client's deadline (1 s), and
    // the flood did not grow the server without limit.
    assert!(*stormy.last().unwrap() < Duration::from_secs(1), "{:?}", stormy.last());
    assert!(
        peak_memory < 512 * 1024,
        "server memory reached {} MiB",
        peak_memory / 1024
    );
    server.kill();
}

/// Forty lineage walks in one query: within every limit, but costly to answer.
fn expensive_query() -> String {
    format!(
        "{{ {} }}",
        (0..40)
            .map(|i| format!("w{i}: lineage(id: \"run/r-churn-1\", depth: 64, maxNodes: 10000) {{ nodes {{ id }} edges {{ from to }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

async fn post_as(server: &crate::graphql::Server, token: &str, query: &str) -> reqwest::Response {
    server
        .client
        .post(format!("{}/graphql", server.url))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
}

/// Sends `query` as `token` until it is answered 429 (at most 200 times).
async fn until_throttled(server: &crate::graphql::Server, token: &str, query: &str) -> reqwest::Response {
    for _ in 0..200 {
        let response = post_as(server, token, query).await;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return response;
        }
        assert!(response.status().is_success(), "{}", response.status());
    }
    panic!("200 expensive requests and never a 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_past_its_share_of_server_time_waits_and_others_do_not() {
    let server = crate::graphql::Server::demo_with(
        "admin",
        lineage_graphql::server::ServerLimits {
            principal_budget: Duration::from_millis(40),
            ..Default::default()
        },
    )
    .await;
    let issued = server
        .data(
            "mutation { issueToken(principal: \"u-ada\", label: \"heavy\") { secret } }",
            json!({}),
        )
        .await;
    let heavy = issued["issueToken"]["secret"].as_str().unwrap().to_string();
    // Another principal, with a bucket of its own that nothing has spent (the admin's
    // may be spent by issuing the tokens on a loaded machine).
    let issued = server
        .data(
            "mutation { issueToken(principal: \"u-linus\", label: \"light\") { secret } }",
            json!({}),
        )
        .await;
    let light = issued["issueToken"]["secret"].as_str().unwrap().to_string();
    let expensive = expensive_query();

    let throttled = until_throttled(&server, &heavy, &expensive).await;
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let answer: Value = throttled.json().await.unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS",
        "{answer}"
    );
    let wait_ms = answer["errors"][0]["extensions"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait_ms > 0, "{answer}");

    // Another principal is answered meanwhile.
    let other: Value = post_as(&server, &light, "{ head }").await.json().await.unwrap();
    assert!(other["data"]["head"].as_u64().unwrap() > 0, "{other}");

    // The refusal comes before the body is read: a request whose body never arrives is
    // answered 429 at once, not after the client timeout.
    until_throttled(&server, &heavy, &expensive).await;
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!("POST /graphql HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {heavy}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer))
        .await
        .expect("answered without the body")
        .unwrap();
    assert!(
        buffer[..read].starts_with(b"HTTP/1.1 429"),
        "{}",
        String::from_utf8_lossy(&buffer[..read])
    );

    // Once the bucket has refilled, it is served again.
    let throttled: Value = until_throttled(&server, &heavy, &expensive).await.json().await.unwrap();
    let wait_ms = throttled["errors"][0]["extensions"]["retryAfterMs"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(wait_ms + 50)).await;
    assert_eq!(
        post_as(&server, &heavy, "{ head }").await.status(),
        reqwest::StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_with_too_many_requests_running_is_told_to_retry() {
    let server = crate::graphql::Server::demo_with(
        "u-alex",
        lineage_graphql::server::ServerLimits {
            max_in_flight_per_principal: 1,
            request_timeout: Duration::from_millis(5),
            principal_budget: Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    let expensive = expensive_query();
    let mut waited_out = 0;
    // Twenty sent at once overlap unless a loaded machine happens to run them one after
    // another; a few bursts make the overlap certain without changing what is checked.
    for _burst in 0..5 {
        let answers =
            futures_util::future::join_all((0..20).map(|_| post_as(&server, &server.token, &expensive))).await;
        for response in answers {
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                let answer: Value = response.json().await.unwrap();
                assert_eq!(answer["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS");
                assert!(answer["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("more than 1 requests of this principal are running"));
                waited_out += 1;
            } else {
                assert_eq!(response.status(), reqwest::StatusCode::OK);
            }
        }
        if waited_out > 0 {
            break;
        }
    }
    assert!(
        waited_out > 0,
        "twenty at once with one slot: some must wait out the timeout"
    );
    // The slots are given back: a request alone is served.
    assert_eq!(
        post_as(&server, &server.token, "{ head }").await.status(),
        reqwest::StatusCode::OK
    );
    server.stop().await;
}

/// MLflow's API does its reads and decisions on blocking threads, outside the request's
/// polls: that time is charged to the principal too, so searches that keep those threads
/// busy are throttled like expensive GraphQL queries (429 in MLflow's shape).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow_requests_are_charged_their_blocking_time() {
    let server = crate::graphql::Server::demo_with(
        "u-alex",
        lineage_graphql::server::ServerLimits {
            principal_budget: Duration::from_millis(40),
            ..Default::default()
        },
    )
    .await;
    let api = format!("{}/mlflow/acct-contoso-exp/ws-churn/api/2.0/mlflow", server.url);
    let post = |endpoint: &str, body: Value| {
        server
            .client
            .post(format!("{api}/{endpoint}"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
    };
    let made = post("runs/create", json!({ "experiment_id": "0" })).await.unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    // A small body (cheap to parse in the poll) whose search walks the experiment's runs a
    // thousand times on a blocking thread.
    let heavy = json!({ "experiment_ids": vec!["0"; 1000], "max_results": 1 });
    for sent in 1..=20 {
        let answer = post("runs/search", heavy.clone()).await.unwrap();
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().contains_key("retry-after"));
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error_code"], "REQUEST_LIMIT_EXCEEDED", "{body}");
            assert!(sent > 1, "the first request is admitted");
            server.stop().await;
            return;
        }
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    panic!("20 searches, each far over the principal's share of server time, and never a 429");
}
