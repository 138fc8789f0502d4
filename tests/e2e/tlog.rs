//! The log as a C2SP transparency log, checked by an independent verifier: a Go program
//! (tests/tlog/verify.go) built on Go's own sumdb `note` and `tlog` packages (Debian's
//! golang-golang-x-mod-dev), against a real server on a loopback port.

use crate::graphql::Server;
use crate::shared_log::metric;
use lineage_graphql::api::Limits;
use lineage_graphql::server::ServerLimits;
use lineage_store::{demo, Store};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The Go verifier, built once per test run; a machine without Go fails with the reason.
fn verifier() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let out = root.join("target/tmp/tlog-verify");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let built = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(root.join("tests/tlog/verify.go"))
            // Go's sumdb packages come from Debian's golang-golang-x-mod-dev (GOPATH mode):
            // no module download is needed, or possible, here.
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", root.join("target/tmp/go-cache"))
            .output()
            .unwrap_or_else(|error| panic!("cannot run `go` to build the independent verifier ({error}): apt-get install golang golang-golang-x-mod-dev"));
        assert!(
            built.status.success(),
            "building tests/tlog/verify.go failed (apt-get install golang golang-golang-x-mod-dev):\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// Runs the verifier; its exit status and what it printed.
fn verify(server: &Server, vkey: &str, export: &Path, old: Option<&Path>) -> (bool, String) {
    let mut command = Command::new(verifier());
    command
        .args(["-url", &server.url, "-token", &server.token, "-vkey", vkey, "-export"])
        .arg(export);
    if let Some(old) = old {
        command.arg("-old").arg(old);
    }
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The demo story, a checkpoint note signed then (kept in `old`), and `more` metric events
/// after it: past full tiles, and into a second level of tiles.
async fn grown_server(more: usize, old: &Path) -> Server {
    let old = old.to_path_buf();
    Server::start_with(
        move |store: &Store| {
            demo::fill(store).unwrap();
            std::fs::write(&old, store.tlog_checkpoint(None).unwrap()).unwrap();
            let batch = (0..more)
                .map(|i| metric("u-ada", &format!("tlog-{i}"), i as i64))
                .collect();
            store.execute_batch(batch).unwrap();
        },
        "admin",
        Limits::default(),
        ServerLimits::default(),
    )
    .await
}

async fn export_to(server: &Server, path: &Path) -> Vec<String> {
    let body = server
        .client
        .get(format!("{}/export", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(path, &body).unwrap();
    body.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_verifies_the_signature_the_tiles_every_entry_and_consistency() {
    let scratch = tempfile::tempdir().unwrap();
    let old = scratch.path().join("old.note");
    let server = grown_server(600, &old).await;
    let vkey = Store::tlog_verifier_key(server.dir.path(), None).unwrap();
    let export = scratch.path().join("export.ndjson");
    let lines = export_to(&server, &export).await;
    assert!(lines.len() > 700, "{}", lines.len());

    let (ok, said) = verify(&server, &vkey, &export, Some(&old));
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("ok: all {} entries of the export", lines.len())),
        "{said}"
    );
    assert!(said.contains("extends the earlier checkpoint of 121"), "{said}");

    // Each change to what the auditor holds is caught: a changed value, a dropped event,
    // two events swapped.
    let tampered = scratch.path().join("tampered.ndjson");
    let with = |lines: &[String]| std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let mut changed = lines.clone();
    changed[300] = changed[300].replacen("\"step\":", "\"step\":9", 1);
    assert_ne!(changed[300], lines[300], "the line to change is a metric's");
    with(&changed);
    let (ok, said) = verify(&server, &vkey, &tampered, None);
    assert!(!ok && said.contains("entry 300 (seq 301) differs"), "{said}");
    let mut dropped = lines.clone();
    dropped.remove(10);
    with(&dropped);
    let (ok, said) = verify(&server, &vkey, &tampered, None);
    assert!(!ok && said.contains("entry 10 (seq 11) differs"), "{said}");
    let mut swapped = lines.clone();
    swapped.swap(500, 501);
    with(&swapped);
    let (ok, said) = verify(&server, &vkey, &tampered, None);
    assert!(!ok && said.contains("entry 500 (seq 501) differs"), "{said}");

    // Another key's verifier refuses the checkpoint.
    let stranger = tempfile::tempdir().unwrap();
    Store::public_key(stranger.path()).unwrap();
    let other = Store::tlog_verifier_key(stranger.path(), None).unwrap();
    let (ok, said) = verify(&server, &other, &export, None);
    assert!(!ok && said.contains("signature does not verify"), "{said}");
}

/// The operator rewrites the first event and recomputes every hash, then signs the new
/// history with the same key: the signature holds, but a checkpoint the auditor kept
/// shows the new tree does not extend the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_history_fails_against_a_kept_checkpoint() {
    let scratch = tempfile::tempdir().unwrap();
    let old = scratch.path().join("old.note");
    let honest = grown_server(10, &old).await;
    let key = std::fs::read(honest.dir.path().join("checkpoint.key")).unwrap();
    let vkey = Store::tlog_verifier_key(honest.dir.path(), None).unwrap();
    let kept = scratch.path().join("kept.note");
    std::fs::write(&kept, get(&honest, "/tlog/checkpoint").await.1).unwrap();

    let forged_key = key.clone();
    let forger = Server::start_with(
        move |store: &Store| {
            std::fs::write(store_dir(store), &forged_key).unwrap();
            let mut story = demo::story();
            let lineage_schema::Command::RegisterPrincipal(first) = &mut story[0].command else {
                panic!("the story starts with a principal")
            };
            first.email = "someone-else@example.com".into();
            store.execute_batch(story).unwrap();
            let batch = (0..20)
                .map(|i| metric("u-ada", &format!("tlog-{i}"), i as i64))
                .collect();
            store.execute_batch(batch).unwrap();
        },
        "admin",
        Limits::default(),
        ServerLimits::default(),
    )
    .await;
    assert_eq!(
        Store::tlog_verifier_key(forger.dir.path(), None).unwrap(),
        vkey,
        "the same key"
    );
    let export = scratch.path().join("forged.ndjson");
    export_to(&forger, &export).await;
    let (ok, said) = verify(&forger, &vkey, &export, None);
    assert!(ok, "on its own the forged history is well formed: {said}");
    let (ok, said) = verify(&forger, &vkey, &export, Some(&kept));
    assert!(!ok && said.contains("does not extend the earlier one"), "{said}");
}

/// Where the store's key file goes: its data directory (the store is open there).
fn store_dir(store: &Store) -> PathBuf {
    store.dir().join("checkpoint.key")
}

async fn get(server: &Server, path: &str) -> (reqwest::StatusCode, String, reqwest::header::HeaderMap) {
    let response = server
        .client
        .get(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, response.text().await.unwrap_or_default(), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_are_for_administrators_cached_as_the_spec_says_and_refuse_bad_paths() {
    let scratch = tempfile::tempdir().unwrap();
    let server = grown_server(300, &scratch.path().join("old.note")).await;
    let (status, _, headers) = get(&server, "/tlog/tile/0/000").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "private, max-age=31536000, immutable");
    let (status, _, headers) = get(&server, "/tlog/tile/entries/001.p/5").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "private, max-age=60");
    for (path, status) in [
        ("/tlog/tile/0/002", 404),
        ("/tlog/tile/1/000", 404),
        ("/tlog/tile/0/1", 404),
        ("/tlog/tile/0/000.p/0", 404),
        ("/tlog/tile/entries/x001/000", 404),
    ] {
        assert_eq!(get(&server, path).await.0, status, "{path}");
    }
    // The tree spans every account: another principal, or no token, reads none of it.
    let member = Server::demo_with("u-ada", ServerLimits::default()).await;
    for path in ["/tlog/checkpoint", "/tlog/tile/0/000.p/5", "/tlog/tile/entries/000.p/5"] {
        assert_eq!(get(&member, path).await.0, 403, "{path}");
        let anonymous = member.client.get(format!("{}{path}", member.url)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
}
