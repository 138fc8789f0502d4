//! Property-based fuzzing of everything that reads bytes from outside: the record
//! decoder and segment recovery, the OpenLineage and MLflow readers, and the GraphQL
//! endpoint's request handling. Inputs are random bytes and mutations of real ones
//! (golden records, the fixtures); the property is always the same — a typed error or a
//! sound result, never a panic, a hang or a 5xx. `FUZZ_CASES` runs longer (BENCHMARKS.md
//! says how long each ran); CI runs a few seconds a target.

use lineage_importer::openlineage;
use lineage_store::segment;
use proptest::prelude::*;
use std::path::Path;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A valid segment: the header, then every golden record, whole (record format 1).
fn golden_segment() -> Vec<u8> {
    let mut bytes = segment::encode_header(1).to_vec();
    for envelope in lineage_schema::samples::envelopes() {
        segment::encode_frame(lineage_schema::SCHEMA_VERSION, &envelope.encode(), &mut bytes);
    }
    bytes
}

/// The same records as a log writes them: the first whole, the rest compact (format 2).
fn compact_segment() -> Vec<u8> {
    use lineage_schema::compact::{compact, Prior, FORMAT_COMPACT};
    let mut bytes = segment::encode_header(1).to_vec();
    let mut prior: Option<Prior> = None;
    for envelope in lineage_schema::samples::envelopes() {
        let next = Prior::after(&envelope);
        match &prior {
            Some(before) => segment::encode_frame(
                FORMAT_COMPACT,
                &compact(&envelope, &envelope.encode(), before, &next),
                &mut bytes,
            ),
            None => segment::encode_frame(lineage_schema::SCHEMA_VERSION, &envelope.encode(), &mut bytes),
        }
        prior = Some(next);
    }
    bytes
}

/// Opening a log whose one segment is `bytes`: the records before the damage (a torn
/// tail cut) or a typed error naming a position, never a panic; a log that opened
/// verifies to the same head.
fn recovers(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    std::fs::create_dir_all(&log).unwrap();
    std::fs::write(log.join(segment::file_name(1)), bytes).unwrap();
    match lineage_store::log::FileLog::open(&log, 1 << 20) {
        Ok((opened, _)) => {
            let head = lineage_store::EventLog::head(&opened);
            drop(opened);
            let scan = lineage_store::log::scan(&log).unwrap();
            prop_assert_eq!(scan.head, head);
            prop_assert_eq!(scan.torn_tail_bytes, 0, "the torn tail was cut");
        }
        Err(lineage_store::Error::Corruption { .. }) => {}
        Err(lineage_store::Error::Io { .. }) => {}
        Err(other) => prop_assert!(false, "an unexpected error: {other}"),
    }
    Ok(())
}

/// Mutations of a valid input: flipped bytes, cut tails, spliced garbage.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        prop::collection::vec((0..len.max(1), any::<u8>()), 0..8),
        0..=len,
        prop::collection::vec(any::<u8>(), 0..64),
        0..=len,
    )
        .prop_map(move |(flips, cut, garbage, at)| {
            let mut bytes = base.clone();
            for (index, value) in flips {
                if index < bytes.len() {
                    bytes[index] ^= value;
                }
            }
            let at = at.min(bytes.len());
            bytes.splice(at..at, garbage);
            bytes.truncate(cut.max(segment::HEADER_LEN as usize).min(bytes.len()));
            bytes
        })
}

proptest! {
    #![proptest_config(cases(400))]

    /// The record decoder reads any bytes at any offset without panicking.
    #[test]
    fn the_record_decoder_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), offset in 0u64..600) {
        let _ = segment::read_frame(&bytes, offset, &mut None);
        let prior = lineage_schema::compact::Prior::after(&lineage_schema::samples::envelopes()[0]);
        let _ = segment::read_frame(&bytes, offset, &mut Some(prior.clone()));
        let _ = segment::valid_record_after(&bytes, offset);
        let _ = lineage_schema::envelope::decode_record(1, &bytes);
        let _ = prior.clone().advance(&bytes);
    }

    /// A segment with any damage opens to the records before the damage (a torn tail is
    /// cut) or is refused with a typed error naming a position — never a panic — and a
    /// log that opened verifies.
    #[test]
    fn segment_recovery_takes_any_damage(bytes in mutated(golden_segment())) {
        recovers(&bytes)?;
    }

    /// The same for a segment of compact records, read one after another.
    #[test]
    fn compact_segment_recovery_takes_any_damage(bytes in mutated(compact_segment())) {
        recovers(&bytes)?;
    }

    /// Any JSON value, and any mutation of a real event, is checked without panicking;
    /// what passes the check has a run, job, or dataset to map.
    #[test]
    fn the_openlineage_reader_takes_any_event(text in mutated(fixture_event()), index in 0usize..18) {
        let _ = openlineage::check_body(serde_json::from_slice(&text).unwrap_or(serde_json::Value::Null));
        let mut event: serde_json::Value = serde_json::from_slice(&fixture_lines()[index % fixture_lines().len()]).unwrap();
        // Drop or retype one field of a real event.
        let keys: Vec<String> = event.as_object().unwrap().keys().cloned().collect();
        let key = &keys[index % keys.len()];
        event[key] = match index % 3 { 0 => serde_json::Value::Null, 1 => serde_json::json!(42), _ => serde_json::json!([]) };
        let _ = openlineage::check(event);
    }

    /// MLflow's file store with any file damaged: read without panicking, the damage
    /// named in `unreadable` or an error.
    #[test]
    fn the_mlflow_file_store_reader_takes_any_damage(choice in 0usize..10_000, bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("mlruns");
        crate::support::copy_dir(&crate::import::fixture("file"), &root);
        let files = lineage_tests::files::files_under(&root);
        let victim = &files[choice % files.len()];
        std::fs::write(victim, &bytes).unwrap();
        let _ = lineage_importer::mlflow::read(&root);
    }

    /// Any bytes as an MLflow database: an error, not a panic.
    #[test]
    fn the_mlflow_database_reader_takes_any_file(bytes in mutated(std::fs::read(crate::import::fixture("sqlite")).unwrap()[..8192].to_vec())) {
        let scratch = tempfile::tempdir().unwrap();
        let db = scratch.path().join("mlflow.db");
        std::fs::write(&db, &bytes).unwrap();
        let _ = lineage_importer::mlflow::read(&db);
    }
}

fn fixture_lines() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/openlineage/pipeline.ndjson");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.as_bytes().to_vec())
        .collect()
}

fn fixture_event() -> Vec<u8> {
    fixture_lines()[2].clone()
}

/// The demo server with no budget (every fuzzed request must reach its handler, not a
/// 429), the number of cases (`FUZZ_CASES`, default 300) and a runner for them.
async fn fuzzed_server() -> (crate::graphql::Server, u32, proptest::test_runner::TestRunner) {
    let server = crate::graphql::Server::demo_with(
        "u-alex",
        lineage_graphql::server::ServerLimits {
            principal_budget: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    let runs: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(300);
    let runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: runs,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    (server, runs, runner)
}

/// Requests a GraphQL endpoint may meet: random bytes, broken JSON, wrong types, odd
/// queries; every one is answered with a status below 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_endpoint_answers_any_request_without_a_server_error() {
    let (server, runs, mut runner) = fuzzed_server().await;
    let fragments = [
        "{",
        "}",
        "(",
        ")",
        "query",
        "mutation",
        "subscription",
        "trace",
        "lineage",
        "run",
        "node",
        "entities",
        "id:",
        "\"svc-churn\"",
        "\"run/r-churn-1\"",
        "depth:",
        "-1",
        "99999999999",
        "...",
        "on",
        "Run",
        "fragment",
        "$x",
        "@include(if: true)",
        "__schema",
        "__type(name: \"Query\")",
        "first:",
        "after:",
        "asOf:",
        "{ seq: 0 }",
        "\\u0000",
        "é",
        "\"",
        "#",
        ",",
        "alias:",
        "setRunTags",
        "input:",
        "[",
        "]",
        "null",
        "true",
    ];
    let strategy = (
        prop::collection::vec(prop::sample::select(fragments.to_vec()), 0..30),
        prop::collection::vec(any::<u8>(), 0..64),
        0u8..4,
    );
    let client = &server.client;
    let url = format!("{}/graphql", server.url);
    for _ in 0..runs {
        use proptest::strategy::ValueTree;
        let (words, bytes, shape) = strategy.new_tree(&mut runner).unwrap().current();
        let query = words.join(" ");
        let body = match shape {
            0 => serde_json::json!({ "query": query }).to_string().into_bytes(),
            1 => serde_json::json!({ "query": query, "variables": String::from_utf8_lossy(&bytes) })
                .to_string()
                .into_bytes(),
            2 => bytes,
            _ => serde_json::json!([{ "query": query }, { "query": 7 }])
                .to_string()
                .into_bytes(),
        };
        let response = client
            .post(&url)
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().as_u16() < 500,
            "{} for {}",
            response.status(),
            String::from_utf8_lossy(&body)
        );
    }
    server.stop().await;
}

/// Requests MLflow's clients (or anyone) may send the MLflow API: every endpoint, every
/// method, fields of the wrong type or missing, random bodies and paths — every one is
/// answered below 500, and every refusal in MLflow's shape (`error_code`, `message`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mlflow_api_answers_any_request_without_a_server_error() {
    let (server, runs, mut runner) = fuzzed_server().await;
    let endpoints = [
        "experiments/create",
        "experiments/get",
        "experiments/get-by-name",
        "experiments/search",
        "experiments/update",
        "experiments/delete",
        "experiments/restore",
        "experiments/set-experiment-tag",
        "runs/create",
        "runs/get",
        "runs/update",
        "runs/delete",
        "runs/restore",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/log-parameter",
        "runs/log-metric",
        "runs/log-batch",
        "runs/log-inputs",
        "runs/search",
        "metrics/get-history",
        "metrics/get-history-bulk-interval",
        "registered-models/create",
        "registered-models/get",
        "registered-models/search",
        "registered-models/alias",
        "model-versions/create",
        "model-versions/get",
        "model-versions/search",
        "model-versions/update",
        "model-versions/delete",
        "model-versions/transition-stage",
        "registered-models/rename",
        "registered-models/update",
        "registered-models/delete",
        "logged-models",
        "logged-models/search",
        "logged-models/m-r-churn-1-1",
        "logged-models/m-r-churn-1-1/tags",
        "logged-models/m-r-churn-1-1/tags/k",
        "logged-models/m-r-churn-1-1/params",
        "logged-models/m-r-churn-1-1/artifacts/directories",
        "runs/outputs",
        "mpu/create/e-train/r-churn-1/artifacts/model",
        "mpu/complete/e-train/r-churn-1/artifacts/model",
        "mpu/abort/e-train/r-churn-1/artifacts",
        "no/such-endpoint",
    ];
    let fields = [
        "name",
        "experiment_id",
        "experiment_name",
        "run_id",
        "key",
        "value",
        "step",
        "timestamp",
        "status",
        "filter",
        "order_by",
        "max_results",
        "page_token",
        "metrics",
        "params",
        "tags",
        "datasets",
        "new_name",
        "source",
        "version",
        "alias",
        "run_ids",
        "metric_key",
        "view_type",
        "source_run_id",
        "model_id",
        "models",
        "description",
        "path",
        "num_parts",
        "upload_id",
        "parts",
    ];
    let values = [
        serde_json::json!("0"),
        serde_json::json!(""),
        serde_json::json!("r-churn-1"),
        serde_json::json!("metrics.acc > 'x' and"),
        serde_json::json!("params.a = 'b'"),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!([{ "key": "k" }]),
        serde_json::json!({ "key": 1 }),
        serde_json::json!("NaN"),
        serde_json::json!("../../x"),
        serde_json::json!("é\u{0}"),
        serde_json::json!(["metrics.acc DESC", 3]),
        serde_json::json!(50001),
    ];
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    let strategy = (
        prop::sample::select(endpoints.to_vec()),
        prop::sample::select(methods.to_vec()),
        prop::collection::vec(
            (
                prop::sample::select(fields.to_vec()),
                prop::sample::select(values.to_vec()),
            ),
            0..6,
        ),
        prop::collection::vec(any::<u8>(), 0..48),
        0u8..4,
    );
    let client = &server.client;
    let base = format!("{}/mlflow/acct-contoso-exp/ws-churn", server.url);
    for _ in 0..runs {
        use proptest::strategy::ValueTree;
        let (endpoint, method, pairs, bytes, shape) = strategy.new_tree(&mut runner).unwrap().current();
        let object: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(field, value)| (field.to_string(), value.clone()))
            .collect();
        let (url, body) = match shape {
            // The multipart steps live beside the artifacts, under mlflow-artifacts.
            0 if endpoint.starts_with("mpu/") => (
                format!("{base}/api/2.0/mlflow-artifacts/{endpoint}"),
                serde_json::Value::Object(object).to_string().into_bytes(),
            ),
            0 => (
                format!("{base}/api/2.0/mlflow/{endpoint}"),
                serde_json::Value::Object(object).to_string().into_bytes(),
            ),
            1 => (format!("{base}/ajax-api/2.0/mlflow/{endpoint}"), bytes),
            2 => (
                format!(
                    "{base}/api/2.0/mlflow-artifacts/artifacts/{}",
                    String::from_utf8_lossy(&bytes).replace(['?', '#'], "")
                ),
                bytes.clone(),
            ),
            _ => {
                let query: Vec<String> = pairs
                    .iter()
                    .map(|(field, value)| format!("{field}={}", value.to_string().replace(['&', '#'], "")))
                    .collect();
                (
                    format!("{base}/api/2.0/mlflow/{endpoint}?{}", query.join("&")),
                    Vec::new(),
                )
            }
        };
        let Ok(request) = client
            .request(method.clone(), &url)
            .bearer_auth(&server.token)
            .body(body.clone())
            .build()
        else {
            continue;
        };
        let response = client.execute(request).await.unwrap();
        let status = response.status();
        let answer = response.bytes().await.unwrap();
        let what = format!("{method} {url} {}", String::from_utf8_lossy(&body));
        assert!(
            status.as_u16() < 500,
            "{status} for {what}: {}",
            String::from_utf8_lossy(&answer)
        );
        if status.is_client_error() {
            let refusal: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_else(|_| {
                panic!(
                    "{status} without MLflow's shape for {what}: {}",
                    String::from_utf8_lossy(&answer)
                )
            });
            assert!(
                refusal["error_code"].is_string() && refusal["message"].is_string(),
                "{what}: {refusal}"
            );
        }
    }
    server.stop().await;
}

/// The coverage-guided fuzzers' corpus (`tests/fuzz/corpus/`, minimised) and the seeds it
/// grew from, each through its target: the regression test for whatever a fuzzer finds.
/// `UPDATE_CORPUS=1` writes the seeds into the corpus first.
#[test]
fn the_fuzz_corpus_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, run) in lineage_tests::fuzz::TARGETS {
        let seeds = lineage_tests::fuzz::seeds(target);
        if std::env::var_os("UPDATE_CORPUS").is_some() {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for seed in &seeds {
                let name = blake3::hash(seed).to_hex();
                std::fs::write(dir.join(format!("seed-{}", &name[..16])), seed).unwrap();
            }
        }
        let mut corpus = lineage_tests::fuzz::corpus(target);
        assert!(!corpus.is_empty(), "{target}: no corpus in {}", root.display());
        corpus.extend(seeds.into_iter().map(|seed| (Path::new("a seed").to_path_buf(), seed)));
        for (path, bytes) in &corpus {
            let outcome = std::panic::catch_unwind(|| run(bytes));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}
