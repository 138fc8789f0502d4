//! Fuzz targets: each takes arbitrary bytes and feeds them to one reader of outside
//! input, checking that it answers with a sound result or a typed error — never a panic,
//! a hang or a 5xx. `tests/fuzz` runs them under cargo-fuzz (coverage-guided); the e2e
//! tests replay the committed corpus through them and fuzz them with proptest.

use crate::files::{copy_dir, files_under};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A fuzz target: takes any bytes, panics when a property fails.
pub type Target = fn(&[u8]);

/// The targets by name, as `tests/fuzz/corpus/<name>/` holds their inputs.
pub const TARGETS: [(&str, Target); 6] = [
    ("record", record),
    ("segment", segment),
    ("openlineage", openlineage),
    ("mlflow_file_store", mlflow_file_store),
    ("mlflow_sqlite", mlflow_sqlite),
    ("graphql", graphql),
];

/// The project's `tests/` folder, where the fixtures are.
fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for the life of the process.
fn scratch() -> &'static Path {
    static SCRATCH: OnceLock<tempfile::TempDir> = OnceLock::new();
    SCRATCH
        .get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
        .path()
}

/// The record decoder at any offset of any bytes (the first 8 bytes choose the offset).
pub fn record(data: &[u8]) {
    let (offset, bytes) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (u64::from_le_bytes(*head) % 1024, rest),
        None => (0, data),
    };
    let _ = lineage_store::segment::read_frame(bytes, offset, &mut None);
    let prior = lineage_schema::compact::Prior::after(&lineage_schema::samples::envelopes()[0]);
    let _ = lineage_store::segment::read_frame(bytes, offset, &mut Some(prior.clone()));
    let _ = lineage_store::segment::valid_record_after(bytes, offset);
    let _ = lineage_schema::envelope::decode_record(1, bytes);
    let _ = prior.clone().advance(bytes);
}

/// A first segment holding `data` after a valid header: opening cuts a torn tail or
/// refuses damage with a typed error, and a log that opened verifies to the same head.
pub fn segment(data: &[u8]) {
    use lineage_store::segment as seg;
    let dir = tempfile::tempdir_in(scratch()).expect("a log directory");
    let mut bytes = seg::encode_header(1).to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(dir.path().join(seg::file_name(1)), &bytes).expect("the segment is written");
    match lineage_store::log::FileLog::open(dir.path(), 1 << 20) {
        Ok((opened, _)) => {
            let head = lineage_store::EventLog::head(&opened);
            drop(opened);
            let scan = lineage_store::log::scan(dir.path()).expect("an opened log verifies");
            assert_eq!(scan.head, head);
            assert_eq!(scan.torn_tail_bytes, 0, "the torn tail was cut");
        }
        Err(lineage_store::Error::Corruption { .. } | lineage_store::Error::Io { .. }) => {}
        Err(other) => panic!("an unexpected error: {other}"),
    }
}

/// OpenLineage events: any bytes as a request body, and as one event.
pub fn openlineage(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = lineage_importer::openlineage::check_body(value.clone());
    let _ = lineage_importer::openlineage::check(value);
}

/// The real MLflow file store, copied once per process, with one of its files replaced
/// by `data` (the first byte chooses which); restored afterwards.
pub fn mlflow_file_store(data: &[u8]) {
    static STORE: OnceLock<(PathBuf, Vec<PathBuf>)> = OnceLock::new();
    let (root, files) = STORE.get_or_init(|| {
        let root = scratch().join("mlruns");
        copy_dir(&tests_dir().join("data/mlflow/file/mlruns"), &root);
        let files = files_under(&root);
        (root, files)
    });
    let Some((choice, content)) = data.split_first() else {
        return;
    };
    let victim = &files[*choice as usize % files.len()];
    let original = std::fs::read(victim).expect("the fixture file");
    std::fs::write(victim, content).expect("the fixture file is replaced");
    let _ = lineage_importer::mlflow::read(root);
    std::fs::write(victim, original).expect("the fixture file is restored");
}

/// Any bytes as an MLflow SQLite database.
pub fn mlflow_sqlite(data: &[u8]) {
    let dir = tempfile::tempdir_in(scratch()).expect("a database directory");
    let path = dir.path().join("mlflow.db");
    std::fs::write(&path, data).expect("the database is written");
    let _ = lineage_importer::mlflow::read(&path);
}

struct Endpoint {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    token: String,
}

/// Any bytes as the body of `POST /graphql`, to a real server on a loopback port over a
/// store holding the demo story: answered below 500.
pub fn graphql(data: &[u8]) {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| {
        let dir = scratch().join("graphql-store");
        let store = std::sync::Arc::new(
            lineage_store::Store::open(&dir, &lineage_store::Options::default()).expect("the store opens"),
        );
        lineage_store::demo::fill(&store).expect("the demo story");
        let admin = lineage_graphql::auth::bootstrap(&store)
            .expect("bootstrap")
            .expect("an administrator");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let (ready, address) = std::sync::mpsc::channel();
        let options = lineage_graphql::server::ServeOptions {
            bind: "127.0.0.1:0".into(),
            limits: Default::default(),
            // Every input must reach the handler, not a 429.
            server_limits: lineage_graphql::server::ServerLimits {
                principal_budget: std::time::Duration::ZERO,
                ..Default::default()
            },
            prices: Default::default(),
            witnessing: Default::default(),
        };
        runtime.spawn(lineage_graphql::server::serve_until(
            store,
            options,
            move |address| ready.send(address).expect("the address is taken"),
            std::future::pending(),
        ));
        let address = address.recv().expect("the server listens");
        Endpoint {
            runtime,
            client: reqwest::Client::new(),
            url: format!("http://{address}/graphql"),
            token: admin.secret,
        }
    });
    let status = endpoint.runtime.block_on(async {
        endpoint
            .client
            .post(&endpoint.url)
            .bearer_auth(&endpoint.token)
            .header("content-type", "application/json")
            .body(data.to_vec())
            .send()
            .await
            .expect("the server answers")
            .status()
    });
    assert!(status.as_u16() < 500, "{status} for {}", String::from_utf8_lossy(data));
}

/// Starting inputs for `target`, made from the project's real data: golden records, the
/// OpenLineage and MLflow fixtures, ordinary GraphQL requests.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let golden = || {
        let mut bodies: Vec<(PathBuf, Vec<u8>)> = files_under(&tests_dir().join("data/golden"))
            .into_iter()
            .map(|path| {
                let body = std::fs::read(&path).expect("a golden record");
                (path, body)
            })
            .collect();
        bodies.sort();
        bodies.into_iter().map(|(_, body)| body).collect::<Vec<_>>()
    };
    // Short frames as the log writes them, and every third long, as earlier releases did.
    let frame = |(index, body): (usize, &Vec<u8>)| {
        let mut framed = Vec::new();
        let framing = if index % 3 == 2 {
            lineage_store::segment::Framing::Long
        } else {
            lineage_store::segment::Framing::Short
        };
        framing.encode(lineage_schema::SCHEMA_VERSION, body, &mut framed);
        framed
    };
    match target {
        "record" => golden()
            .iter()
            .enumerate()
            .step_by(4)
            .map(|seed| [&[0u8; 8][..], &frame(seed)].concat())
            .collect(),
        "segment" => {
            let frames: Vec<u8> = golden().iter().enumerate().flat_map(frame).collect();
            vec![frames.clone(), frames[..frames.len() / 2].to_vec()]
        }
        "openlineage" => {
            let text = std::fs::read_to_string(tests_dir().join("data/openlineage/pipeline.ndjson")).expect("events");
            let lines: Vec<&str> = text.lines().collect();
            let mut seeds: Vec<Vec<u8>> = lines.iter().step_by(3).map(|line| line.as_bytes().to_vec()).collect();
            seeds.push(format!("[{},{}]", lines[0], lines[1]).into_bytes());
            seeds
        }
        "mlflow_file_store" => {
            let files = files_under(&tests_dir().join("data/mlflow/file/mlruns"));
            files
                .iter()
                .enumerate()
                .step_by(7)
                .map(|(index, path)| [&[index as u8][..], &std::fs::read(path).expect("a fixture file")].concat())
                .collect()
        }
        "mlflow_sqlite" => vec![std::fs::read(tests_dir().join("fuzz/seeds/mlflow-small.db")).expect("the small database")],
        "graphql" => [
            r#"{"query":"query Trace($service: ID!) { trace(service: $service) { environment image { imageVersion manifest { models { modelVersion run { run revision datasets } } } } } }","variables":{"service":"service/svc-churn"}}"#,
            r#"{"query":"{ lineage(id: "run/r-churn-1", depth: 3) { nodes { id kind } edges { from to kind } truncated } }"}"#,
            r#"{"query":"mutation($input: ScaleServiceInput!) { scaleService(input: $input) { seq } }","variables":{"input":{"service":"svc-churn","replicas":2}}}"#,
            r#"[{"query":"{ head }"},{"query":"{ entities(kind: RUN, first: 3) { edges { cursor } } }"}]"#,
            r#"{"query":"{ head "}"#,
        ]
        .iter()
        .map(|body| body.as_bytes().to_vec())
        .collect(),
        other => panic!("no fuzz target `{other}`"),
    }
}

/// Every input committed for `target` under `tests/fuzz/corpus/`.
pub fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = tests_dir().join("fuzz/corpus").join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = files_under(&dir)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a corpus file");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    inputs
}
