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
use std::time::{Duration, Instant};

/// A Go program of tests/tlog, built once per test run; a machine without Go fails with
/// the reason.
fn go_program(name: &'static str) -> PathBuf {
    // The verifier recomputes bills in a file of its own.
    let more: &[&str] = match name {
        "verify" => &["bill.go"],
        _ => &[],
    };
    static BUILT: OnceLock<std::sync::Mutex<Vec<(&'static str, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if let Some((_, path)) = built.iter().find(|(built, _)| *built == name) {
        return path.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = root.join(format!("target/tmp/tlog-{name}"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut sources = vec![root.join(format!("tests/tlog/{name}.go"))];
    sources.extend(more.iter().map(|file| root.join("tests/tlog").join(file)));
    let made = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .args(&sources)
        // Go's sumdb packages come from Debian's golang-golang-x-mod-dev (GOPATH mode):
        // no module download is needed, or possible, here.
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", root.join("target/tmp/go-cache"))
        .output()
        .unwrap_or_else(|error| panic!("cannot run `go` to build tests/tlog/{name}.go ({error}): apt-get install golang golang-golang-x-mod-dev"));
    assert!(
        made.status.success(),
        "building tests/tlog/{name}.go failed (apt-get install golang golang-golang-x-mod-dev):\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
    built.push((name, out.clone()));
    out
}

/// Runs the verifier; its exit status and what it printed.
fn verify(server: &Server, vkey: &str, export: &Path, old: Option<&Path>) -> (bool, String) {
    verify_with(server, vkey, export, old, &[])
}

/// [`verify`] with more of the verifier's flags.
fn verify_with(server: &Server, vkey: &str, export: &Path, old: Option<&Path>, more: &[&str]) -> (bool, String) {
    let mut command = Command::new(go_program("verify"));
    command.args(more);
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
    let (_, body, _) = get(server, "/export").await;
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
        move |store: &Store| forge(store, &forged_key, 20),
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
    // The store's auditors read it too, and only while they are.
    let ada = crate::isolation::token_for(&server, "u-ada").await;
    let as_ada = |path: &'static str| {
        server
            .client
            .get(format!("{}{path}", server.url))
            .bearer_auth(&ada)
            .send()
    };
    assert_eq!(as_ada("/tlog/checkpoint").await.unwrap().status(), 403);
    assert_eq!(as_ada("/export").await.unwrap().status(), 403);
    let principal = serde_json::json!({ "input": { "principal": "u-ada" } });
    server
        .data(&crate::graphql::mutation("designateStoreAuditor"), principal.clone())
        .await;
    for path in [
        "/tlog/checkpoint",
        "/tlog/tile/0/000",
        "/tlog/tile/entries/000",
        "/export",
    ] {
        assert_eq!(as_ada(path).await.unwrap().status(), 200, "{path}");
    }
    server
        .data(&crate::graphql::mutation("dismissStoreAuditor"), principal)
        .await;
    assert_eq!(as_ada("/tlog/checkpoint").await.unwrap().status(), 403);

    // The tree spans every account: another principal, or no token, reads none of it.
    let member = Server::demo_with("u-ada", ServerLimits::default()).await;
    for path in ["/tlog/checkpoint", "/tlog/tile/0/000.p/5", "/tlog/tile/entries/000.p/5"] {
        assert_eq!(get(&member, path).await.0, 403, "{path}");
        let anonymous = member.client.get(format!("{}{path}", member.url)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
}

/// A witness process for one test, stopped when dropped.
struct WitnessProcess(std::process::Child);

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The checkpoint `/tlog/checkpoint` serves once it carries `witness`'s cosignature for at
/// least `size` entries.
async fn cosigned(server: &Server, witness: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, note, _) = get(server, "/tlog/checkpoint").await;
        let at: u64 = note.lines().nth(1).and_then(|line| line.parse().ok()).unwrap_or(0);
        if at >= size && note.contains(&format!("\n— {witness} ")) {
            return note;
        }
        assert!(
            Instant::now() < deadline,
            "no cosignature of {witness} at {size}: {note}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A witness (c2sp.org/tlog-witness, tests/tlog/witness.go) cosigns the server's
/// checkpoints as the log grows — checking each is consistent with the last it cosigned
/// — and auditors (the Go verifier, `lineage verify --witness`) require its cosignature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_each_new_checkpoint_and_auditors_require_it() {
    let seed = [5u8; 32];
    let witness_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let name = "witness.test/w1";
    let witness_vkey = lineage_schema::tlog::Cosigner::verifier_key(name, &witness_key.verifying_key());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let witnessing = lineage_graphql::witness::Witnessing {
        witnesses: vec![format!("http://127.0.0.1:{port}={witness_vkey}").parse().unwrap()],
        every: Duration::from_millis(100),
    };
    let server = Server::start_witnessed(
        |store: &Store| {
            demo::fill(store).unwrap();
        },
        "admin",
        Limits::default(),
        ServerLimits::default(),
        witnessing,
    )
    .await;
    let log_vkey = Store::tlog_verifier_key(server.dir.path(), None).unwrap();
    // Until the witness is up, the server serves its own signature alone.
    let (_, alone, _) = get(&server, "/tlog/checkpoint").await;
    assert!(!alone.contains(name), "{alone}");
    let hex: String = seed.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut child = Command::new(go_program("witness"))
        .args([
            "-listen",
            &format!("127.0.0.1:{port}"),
            "-name",
            name,
            "-seed",
            &hex,
            "-log-vkey",
            &log_vkey,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut said).unwrap();
    assert!(said.starts_with("listening"), "{said}");
    let _witness = WitnessProcess(child);

    let first = cosigned(&server, name, 1).await;
    let first_size: u64 = first.lines().nth(1).unwrap().parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("cosigned.note");
    std::fs::write(&kept, &first).unwrap();

    // The log grows; the next checkpoint is cosigned only after the witness checked it
    // extends the one it cosigned before.
    for step in 0..5 {
        let body = serde_json::json!({ "query": "mutation($step: Int!) { logMetrics(input: { run: \"r-churn-1\", points: [{ name: \"witnessed\", value: 1, step: $step, timestamp: \"2026-03-07T00:00:00Z\" }] }) { seq } }", "variables": { "step": step } });
        let answer: serde_json::Value = server
            .client
            .post(format!("{}/graphql", server.url))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(answer["data"]["logMetrics"]["seq"].is_u64(), "{answer}");
    }
    let later = cosigned(&server, name, first_size + 5).await;
    let export = scratch.path().join("export.ndjson");
    export_to(&server, &export).await;
    let (ok, said) = verify_with(&server, &log_vkey, &export, Some(&kept), &["-witness", &witness_vkey]);
    assert!(
        ok && said.contains(&format!("ok: cosigned by witness {name}")),
        "{said}"
    );
    let stranger = lineage_schema::tlog::Cosigner::verifier_key(
        name,
        &ed25519_dalek::SigningKey::from_bytes(&[6; 32]).verifying_key(),
    );
    let (ok, said) = verify_with(&server, &log_vkey, &export, None, &["-witness", &stranger]);
    assert!(!ok && said.contains("no valid signature of witness.test/w1"), "{said}");

    // Offline, against the log files: the cosignature is required when asked for.
    let note = scratch.path().join("later.note");
    std::fs::write(&note, &later).unwrap();
    let lineage = lineage_on(server.dir.path());
    let note = note.to_str().unwrap();
    lineage(&[
        "verify",
        "--checkpoint",
        note,
        "--key",
        &log_vkey,
        "--witness",
        &witness_vkey,
    ])
    .unwrap();
    let refused = lineage(&[
        "verify",
        "--checkpoint",
        note,
        "--key",
        &log_vkey,
        "--witness",
        &stranger,
    ])
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("no cosignature of witness"),
        "{refused:#}"
    );
    let bare = scratch.path().join("bare.note");
    let without: Vec<&str> = later
        .lines()
        .filter(|line| !line.starts_with(&format!("— {name} ")))
        .collect();
    std::fs::write(&bare, without.join("\n") + "\n").unwrap();
    let refused = lineage(&[
        "verify",
        "--checkpoint",
        bare.to_str().unwrap(),
        "--witness",
        &witness_vkey,
    ])
    .unwrap_err();
    assert!(
        format!("{refused:#}").contains("no cosignature of witness"),
        "{refused:#}"
    );

    // The operator forks the history (the first event changed, every hash recomputed,
    // signed with the same key) and asks the same witness: it refuses to cosign a tree
    // that does not extend the one it cosigned, so auditors requiring it refuse the fork.
    let key = std::fs::read(server.dir.path().join("checkpoint.key")).unwrap();
    let forged_witnessing = lineage_graphql::witness::Witnessing {
        witnesses: vec![format!("http://127.0.0.1:{port}={witness_vkey}").parse().unwrap()],
        every: Duration::from_millis(100),
    };
    let forger = Server::start_witnessed(
        move |store: &Store| forge(store, &key, 40),
        "admin",
        Limits::default(),
        ServerLimits::default(),
        forged_witnessing,
    )
    .await;
    assert_eq!(
        Store::tlog_verifier_key(forger.dir.path(), None).unwrap(),
        log_vkey,
        "the same key"
    );
    // Give the forger's witnessing rounds time to be refused.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, forged_note, _) = get(&forger, "/tlog/checkpoint").await;
    assert!(
        forged_note.contains(&log_vkey.split('+').next().unwrap().to_string()),
        "{forged_note}"
    );
    assert!(
        !forged_note.contains(&format!("— {name} ")),
        "the witness cosigned a fork: {forged_note}"
    );
    let forged_export = scratch.path().join("forged.ndjson");
    export_to(&forger, &forged_export).await;
    let (ok, said) = verify_with(&forger, &log_vkey, &forged_export, None, &["-witness", &witness_vkey]);
    assert!(!ok && said.contains("no valid signature of witness.test/w1"), "{said}");
    drop(forger);

    // Over HTTP, a bill's bundle is proven in the witnessed checkpoint: it checks offline
    // with the witness required.
    let (status, body, _) = get(&server, "/bill/bundle?account=acct-contoso-exp&month=2026-03").await;
    assert_eq!(status, 200, "{body}");
    let bundle = scratch.path().join("bundle.json");
    std::fs::write(&bundle, &body).unwrap();
    let bundle = bundle.to_str().unwrap();
    lineage(&[
        "verify",
        "--bundle",
        bundle,
        "--key",
        &log_vkey,
        "--witness",
        &witness_vkey,
    ])
    .unwrap();
    let (status, _, _) = get(&server, "/bill/bundle?account=acct-contoso-exp&month=March").await;
    assert_eq!(status, 400);
    let member = Server::demo_with("u-linus", ServerLimits::default()).await;
    let (status, body, _) = get(&member, "/bill/bundle?account=acct-contoso-exp&month=2026-03").await;
    assert_eq!(status, 404, "another account's bill is not there for u-linus: {body}");
}

/// A bill's bundle checks offline with only the log's verifier key; changing what it
/// says — a line's amount, an event, a left-out event — or the key is caught.
#[test]
fn a_bills_bundle_checks_offline_and_catches_every_change() {
    let dir = tempfile::tempdir().unwrap();
    demo::fill(&Store::open(dir.path(), &Default::default()).unwrap()).unwrap();
    let lineage = lineage_on(dir.path());
    let scratch = tempfile::tempdir().unwrap();
    let bundle = scratch.path().join("bill.json");
    let bundle = bundle.to_str().unwrap();
    lineage(&[
        "bill",
        "--account",
        "acct-contoso-exp",
        "--month",
        "2026-03",
        "--bundle",
        bundle,
    ])
    .unwrap();
    let vkey = Store::tlog_verifier_key(dir.path(), None).unwrap();
    lineage(&["verify", "--bundle", bundle, "--key", &vkey]).unwrap();
    // The independent verifier recomputes the bill in Go: with a price book that makes
    // every kind of line (seats, plan, models and deployments over the allowance, hours).
    let go = |bundle: &str| {
        let output = Command::new(go_program("verify"))
            .args(["-vkey", &vkey, "-bundle", bundle])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), said)
    };
    let (ok, said) = go(bundle);
    assert!(
        ok && said.contains("lines of the bill follow from the events"),
        "{said}"
    );
    let book = scratch.path().join("prices.json");
    std::fs::write(&book, r#"{ "free_seats": 1, "allowance_per_unit": { "S1": [0, 0] } }"#).unwrap();
    for account in ["acct-contoso-mm", "acct-contoso-exp", "acct-fabrikam-exp"] {
        let file = scratch.path().join(format!("{account}.json"));
        let file = file.to_str().unwrap();
        lineage(&[
            "bill",
            "--account",
            account,
            "--month",
            "2026-03",
            "--price-book",
            book.to_str().unwrap(),
            "--bundle",
            file,
        ])
        .unwrap();
        let (ok, said) = go(file);
        assert!(ok, "{account}: {said}");
    }
    let every: String = ["acct-contoso-mm", "acct-contoso-exp"]
        .iter()
        .map(|account| std::fs::read_to_string(scratch.path().join(format!("{account}.json"))).unwrap())
        .collect();
    for line in [
        "beyond the first 1",
        "model management plan S1",
        "managed models beyond",
        "active deployments beyond",
        "run compute on remote-vm",
    ] {
        assert!(every.contains(line), "no `{line}` line to check");
    }
    let original: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(bundle).unwrap()).unwrap();
    assert!(original["entries"].as_array().unwrap().len() > 5, "{original}");
    assert!(original["bill"]["total"].as_i64().unwrap() > 0, "{original}");

    let tampered = scratch.path().join("tampered.json");
    let tampered = tampered.to_str().unwrap();
    let refused = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut bundle = original.clone();
        change(&mut bundle);
        std::fs::write(tampered, bundle.to_string()).unwrap();
        format!(
            "{:#}",
            lineage(&["verify", "--bundle", tampered, "--key", &vkey]).unwrap_err()
        )
    };
    let said = refused(&|bundle| {
        let amount = bundle["bill"]["lines"][0]["amount"].as_i64().unwrap();
        bundle["bill"]["lines"][0]["amount"] = (amount - 100).into();
    });
    assert!(said.contains("does not follow from its events"), "{said}");
    let said = refused(&|bundle| {
        let entry = bundle["entries"][0]["entry"]
            .as_str()
            .unwrap()
            .replacen("\"actor\":\"", "\"actor\":\"x", 1);
        bundle["entries"][0]["entry"] = entry.into();
    });
    assert!(said.contains("is not in the log the checkpoint signs"), "{said}");
    // Leaving out a seat's assignment makes the seat lines come out otherwise.
    let said = refused(&|bundle| {
        let entries = bundle["entries"].as_array_mut().unwrap();
        let seat = entries
            .iter()
            .position(|entry| entry["entry"].as_str().unwrap().contains("SeatAssigned"))
            .unwrap();
        entries.remove(seat);
    });
    assert!(said.contains("does not follow from its events"), "{said}");
    let stranger = tempfile::tempdir().unwrap();
    let other = Store::tlog_verifier_key(stranger.path(), None).unwrap();
    let said = format!(
        "{:#}",
        lineage(&["verify", "--bundle", bundle, "--key", &other]).unwrap_err()
    );
    assert!(said.contains("does not hold"), "{said}");
    let said = format!("{:#}", lineage(&["verify", "--bundle", bundle]).unwrap_err());
    assert!(said.contains("--key"), "{said}");

    // A bundle that leaves out a seat's events and states the smaller bill they make is
    // self-consistent: only the export shows what it left out.
    let mut shorter = original.clone();
    let principal = "\"principal\":\"u-linus\"";
    shorter["entries"].as_array_mut().unwrap().retain(|entry| {
        !(entry["entry"].as_str().unwrap().contains("Seat") && entry["entry"].as_str().unwrap().contains(principal))
    });
    let left: Vec<lineage_schema::Envelope> = shorter["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| serde_json::from_str(entry["entry"].as_str().unwrap()).unwrap())
        .collect();
    let account = lineage_schema::AccountId::new("acct-contoso-exp").unwrap();
    let kinds = left
        .iter()
        .filter_map(|envelope| match &envelope.event {
            lineage_schema::Event::ComputeTargetAttached(attached) => {
                Some((attached.target.to_string(), attached.kind.label().to_string()))
            }
            _ => None,
        })
        .collect();
    let billed: Vec<_> = left
        .into_iter()
        .filter(|envelope| lineage_store::billing::bills(&envelope.event))
        .collect();
    let month = lineage_store::billing::Month::parse("2026-03").unwrap();
    let smaller = lineage_store::billing::compute(&account, &billed, &kinds, month, &Default::default());
    shorter["bill"] = serde_json::to_value(lineage_store::BundledBill::from(&smaller)).unwrap();
    assert!(
        smaller.total < original["bill"]["total"].as_i64().unwrap(),
        "a smaller bill"
    );
    std::fs::write(tampered, shorter.to_string()).unwrap();
    lineage(&["verify", "--bundle", tampered, "--key", &vkey]).unwrap();
    assert!(go(tampered).0, "without an export the omission cannot show");
    let export = scratch.path().join("export.ndjson");
    // The export's lines are the tree's entries (tested against `/export` above).
    let exported = {
        let reader = Store::open(dir.path(), &Default::default()).unwrap();
        let lines: Vec<String> = reader
            .tlog_entries(1, reader.head().seq)
            .unwrap()
            .into_iter()
            .map(|entry| String::from_utf8(entry).unwrap())
            .collect();
        lines.join("\n") + "\n"
    };
    std::fs::write(&export, exported).unwrap();
    let export = export.to_str().unwrap();
    lineage(&["verify", "--bundle", bundle, "--key", &vkey, "--export", export]).unwrap();
    let said = format!(
        "{:#}",
        lineage(&["verify", "--bundle", tampered, "--key", &vkey, "--export", export]).unwrap_err()
    );
    assert!(
        said.contains("bears on the bill but the bundle leaves it out"),
        "{said}"
    );
    let output = Command::new(go_program("verify"))
        .args(["-vkey", &vkey, "-bundle", tampered, "-export", export])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && said.contains("leaves it out"), "{said}");
}

/// An operator names the log; its checkpoint notes and verifier key say that name.
#[test]
fn the_log_can_be_named_and_checkpoints_say_so() {
    let dir = tempfile::tempdir().unwrap();
    demo::fill(&Store::open(dir.path(), &Default::default()).unwrap()).unwrap();
    let lineage = lineage_on(dir.path());
    let default = Store::tlog_verifier_key(dir.path(), None).unwrap();
    assert!(default.starts_with("lineage.local/"), "{default}");
    for bad in ["has space", "a+b", ""] {
        let refused = format!("{:#}", lineage(&["key", "--origin", bad]).unwrap_err());
        assert!(refused.contains("cannot name a log"), "{bad}: {refused}");
    }
    lineage(&["key", "--origin", "lineage.example.com/prod"]).unwrap();
    let vkey = Store::tlog_verifier_key(dir.path(), None).unwrap();
    assert!(vkey.starts_with("lineage.example.com/prod+"), "{vkey}");
    let note = dir.path().join("named.note");
    lineage(&["checkpoint", "--format", "note", "--out", note.to_str().unwrap()]).unwrap();
    let text = std::fs::read_to_string(&note).unwrap();
    assert!(text.starts_with("lineage.example.com/prod\n"), "{text}");
    assert!(text.contains("\n— lineage.example.com/prod "), "{text}");
    lineage(&["verify", "--checkpoint", note.to_str().unwrap(), "--key", &vkey]).unwrap();
    let refused = format!(
        "{:#}",
        lineage(&["verify", "--checkpoint", note.to_str().unwrap(), "--key", &default]).unwrap_err()
    );
    assert!(refused.contains("does not hold"), "{refused}");
}

/// Fills a store with a forked history, signed with `key`: the demo story with its first
/// event changed (so every hash after it differs), then `more` metric events.
fn forge(store: &Store, key: &[u8], more: usize) {
    std::fs::write(store.dir().join("checkpoint.key"), key).unwrap();
    let mut story = demo::story();
    let lineage_schema::Command::RegisterPrincipal(first) = &mut story[0].command else {
        panic!("the story starts with a principal")
    };
    first.email = "someone-else@example.com".into();
    store.execute_batch(story).unwrap();
    let batch = (0..more)
        .map(|i| metric("u-ada", &format!("fork-{i}"), i as i64))
        .collect();
    store.execute_batch(batch).unwrap();
}

/// Runs `lineage` on the data directory `dir`, as the command line would.
fn lineage_on(dir: &Path) -> impl Fn(&[&str]) -> anyhow::Result<()> {
    let dir = dir.to_str().unwrap().to_string();
    move |args: &[&str]| {
        let mut all = vec!["lineage", "--data-dir", dir.as_str()];
        all.extend_from_slice(args);
        lineage_graphql::cli::run_from(all)
    }
}
