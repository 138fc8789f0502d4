//! Operating a live store through the real binary: the CLI beside `lineage serve` (its
//! administration socket), Unix manners (closed pipes, exit codes, plain logs), and
//! imports that change nothing unless they import.

use lineage_schema::{Command as StoreCommand, CommandEnvelope, PrincipalId};
use lineage_store::{demo, Options, Store};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lineage-cli");

/// What one run of the CLI did.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn lineage(dir: &Path, args: &[&str]) -> Ran {
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    Ran {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The demo story plus `tags` more events, so some outputs outgrow a pipe's buffer.
fn demo_store(dir: &Path, tags: usize) {
    let store = Store::open(dir, &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let batch: Vec<CommandEnvelope> = (0..tags)
        .map(|step| {
            CommandEnvelope::new(
                PrincipalId::new("u-alex").unwrap(),
                StoreCommand::SetRunTags(lineage_schema::event::RunTagsSet {
                    run: lineage_schema::RunId::new("r-churn-1").unwrap(),
                    tags: vec![lineage_schema::event::Tag {
                        key: "step".into(),
                        value: step.to_string(),
                    }],
                }),
            )
        })
        .collect();
    if !batch.is_empty() {
        store.execute_batch(batch).unwrap();
    }
    store.close().unwrap();
}

/// `lineage serve` on the directory, until dropped; its log goes to `log`.
struct Serving {
    child: Child,
}

impl Serving {
    fn start(dir: &Path, log: &Path) -> Serving {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let serving = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("Lineage is serving GraphQL at "));
        assert!(serving, "the server ended before serving");
        Serving { child }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// Runs a command whose reader takes one line and goes away; returns whether it exited
/// 0 and what it said on stderr.
fn read_one_line_then_close(dir: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty(), "{args:?} printed something");
    // Dropping the reader closes the pipe while the command still has pages to print.
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (child.wait().unwrap().success(), stderr)
}

#[test]
fn the_cli_beside_a_live_server_answers_as_on_a_stopped_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_store(&data, 3000);
    let same_either_way: &[&[&str]] = &[
        &["events", "--stream", "run/r-churn-1"],
        &["audit", "--account", "acct-contoso-exp", "--format", "ndjson"],
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-03"],
        &["export"],
        &["export", "--since", "100"],
        &["proof", "inclusion", "--seq", "5"],
        &["key"],
        &["token", "list"],
    ];
    // The first administrator is made by the first command that acts as it, not by the server.
    assert!(lineage(&data, &["token", "list"]).ok);
    let head: u64 = lineage(&data, &["stats"])
        .stdout
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let stopped: Vec<Ran> = same_either_way.iter().map(|args| lineage(&data, args)).collect();
    for (args, ran) in same_either_way.iter().zip(&stopped) {
        assert!(
            ran.ok && !ran.stdout.is_empty(),
            "{args:?} on a stopped store: {}",
            ran.stderr
        );
    }
    let log = dir.path().join("serve.log");
    let server = Serving::start(&data, &log);
    for (args, before) in same_either_way.iter().zip(&stopped) {
        let live = lineage(&data, args);
        assert!(live.ok, "{args:?} beside the server: {}", live.stderr);
        assert!(live.stdout == before.stdout, "{args:?}: the same output either way");
    }
    let exported = lineage(&data, &["export"]);
    assert!(
        exported.stderr.contains(&format!(
            "up to seq {head} (the next incremental export: --since {head})"
        )),
        "an online export says where it is consistent to: {}",
        exported.stderr
    );

    // Managing commands act through the server.
    let made = lineage(&data, &["token", "create", "--principal", "u-ada", "--label", "beside"]);
    assert!(made.ok, "{made:?}");
    let token = made.stdout.split_whitespace().nth(1).unwrap().to_string();
    assert!(lineage(&data, &["token", "list"]).stdout.contains(&token));
    let revoked = lineage(&data, &["token", "revoke", "--principal", "u-ada", "--token", &token]);
    assert!(revoked.ok && revoked.stdout.starts_with("revoked"), "{revoked:?}");
    let stats = lineage(&data, &["stats"]);
    assert!(
        stats.ok && stats.stdout.starts_with(&format!("events        {}", head + 2)),
        "a token issued and revoked through the server: {stats:?}"
    );
    // An import through the server, its file named relative to the CLI's folder.
    let events = dir.path().join("events.ndjson");
    std::fs::copy(crate::openlineage::fixture(), &events).unwrap();
    let imported = Command::new(BIN)
        .current_dir(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "import",
            "openlineage",
            "events.ndjson",
            "--account",
            "acct-contoso-exp",
            "--workspace",
            "ws-churn",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.status.success() && said.contains("events.ndjson into") && said.contains("created:"),
        "{said}"
    );
    let grown = lineage(&data, &["stats"]);
    assert!(
        !grown.stdout.starts_with(&format!("events        {}", head + 2)),
        "the import appended"
    );
    let checkpoint = dir.path().join("checkpoint.json");
    let written = lineage(&data, &["checkpoint", "--out", checkpoint.to_str().unwrap()]);
    assert!(written.ok && checkpoint.is_file(), "{written:?}");
    let verified = lineage(&data, &["verify", "--checkpoint", checkpoint.to_str().unwrap()]);
    assert!(verified.ok, "{verified:?}");

    // What cannot run beside it says what to do.
    let rebuild = lineage(&data, &["rebuild"]);
    assert!(
        !rebuild.ok && rebuild.stderr.contains("stop `lineage serve` first"),
        "{rebuild:?}"
    );

    // A reader that goes away ends a long command quietly, on the server's side too.
    for args in [&["events"][..], &["export"], &["audit"]] {
        let (ok, stderr) = read_one_line_then_close(&data, args);
        assert!(ok && stderr.is_empty(), "{args:?} beside the server: {stderr}");
    }
    assert!(
        lineage(&data, &["events", "--limit", "1"]).ok,
        "the server still answers"
    );
    drop(server);
    for args in [&["events"][..], &["export"], &["audit"]] {
        let (ok, stderr) = read_one_line_then_close(&data, args);
        assert!(ok && stderr.is_empty(), "{args:?} on a stopped store: {stderr}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.is_empty() && !logged.contains('\u{1b}'),
        "no colours in a log file: {logged}"
    );
    assert!(!data.join("admin.sock").exists(), "the socket goes with the server");
}

#[test]
fn events_prints_every_event_by_default() {
    let dir = tempfile::tempdir().unwrap();
    demo_store(dir.path(), 1500);
    let ran = lineage(dir.path(), &["events"]);
    assert!(ran.ok, "{ran:?}");
    let head = ran.stdout.lines().count();
    assert!(head > 1500, "all {head} events, not the first thousand");
}

#[test]
fn imports_that_would_import_nothing_fail_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_store(&data, 0);
    let head = || lineage(&data, &["events"]).stdout.lines().count();
    assert!(
        lineage(&data, &["token", "list"]).ok,
        "the administrator imports act as is made"
    );
    let before = head();
    let empty = dir.path().join("empty");
    let not_mlflow = dir.path().join("photos");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(not_mlflow.join("2026")).unwrap();
    std::fs::write(not_mlflow.join("notes.txt"), "hello").unwrap();
    let empty_store = dir.path().join("mlruns");
    std::fs::create_dir_all(empty_store.join(".trash")).unwrap();
    let garbage = not_mlflow.join("notes.txt");
    let place = ["--account", "acct-contoso-exp", "--workspace", "ws-churn"];
    let cases = [
        (empty.clone(), "this is not an MLflow store"),
        (not_mlflow.clone(), "this is not an MLflow store"),
        (empty_store, "holds no experiments, runs or registered models"),
        (garbage, "cannot read the MLflow database"),
        (dir.path().join("missing"), "no such file or folder"),
    ];
    for (path, expected) in cases {
        let mut args = vec!["import", "mlflow", path.to_str().unwrap()];
        args.extend(place);
        let ran = lineage(&data, &args);
        assert!(!ran.ok && ran.stderr.contains(expected), "{path:?}: {ran:?}");
        assert_eq!(ran.stderr.matches(expected).count(), 1, "said once: {}", ran.stderr);
    }
    let fixture = crate::import::fixture("file");
    let unknown = lineage(
        &data,
        &[
            "import",
            "mlflow",
            fixture.to_str().unwrap(),
            "--account",
            "acct-nope",
            "--workspace",
            "ws-churn",
        ],
    );
    assert!(
        !unknown.ok && unknown.stderr.contains("no experimentation account `acct-nope`"),
        "{unknown:?}"
    );
    let foreign = lineage(
        &data,
        &[
            "import",
            "mlflow",
            fixture.to_str().unwrap(),
            "--account",
            "acct-contoso-exp",
            "--workspace",
            "ws-fraud",
        ],
    );
    assert!(!foreign.ok, "{foreign:?}");
    assert_eq!(head(), before, "nothing appended by any of them");

    // OpenLineage: a malformed line is skipped and named, the rest imports; --strict stops.
    let events = std::fs::read_to_string(crate::openlineage::fixture()).unwrap();
    let mut lines: Vec<&str> = events.lines().collect();
    lines.insert(2, "{ not json");
    let broken = dir.path().join("broken.ndjson");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    let mut strict = vec!["import", "openlineage", broken.to_str().unwrap(), "--strict"];
    strict.extend(place);
    let stopped = lineage(&data, &strict);
    assert!(
        !stopped.ok && stopped.stderr.contains("broken.ndjson, line 3: not JSON"),
        "{stopped:?}"
    );
    assert_eq!(head(), before, "--strict stopped before appending");
    let only_bad = dir.path().join("bad.ndjson");
    std::fs::write(&only_bad, "{ not json\n").unwrap();
    let mut nothing = vec!["import", "openlineage", only_bad.to_str().unwrap()];
    nothing.extend(place);
    let refused = lineage(&data, &nothing);
    assert!(
        !refused.ok && refused.stderr.contains("nothing to import"),
        "{refused:?}"
    );
    assert_eq!(head(), before);
    let mut lenient = vec!["import", "openlineage", broken.to_str().unwrap()];
    lenient.extend(place);
    let imported = lineage(&data, &lenient);
    assert!(imported.ok, "{imported:?}");
    assert!(
        imported.stdout.contains("a malformed line") && imported.stdout.contains("line 3: not JSON"),
        "the summary names the skipped line: {}",
        imported.stdout
    );
    assert!(head() > before, "the rest was imported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_take_an_online_backup_over_http() {
    let server = crate::graphql::Server::demo_with("admin", Default::default()).await;
    let get = |token: Option<String>, query: &'static str| {
        let mut request = server.client.get(format!("{}/export{query}", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let whole = get(Some(server.token.clone()), "").await.unwrap();
    assert_eq!(whole.status(), 200);
    let upto: u64 = whole.headers()["lineage-export-upto"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let whole = whole.text().await.unwrap();
    assert_eq!(
        whole.lines().count() as u64,
        upto,
        "every event up to the head it names"
    );
    let rest = get(Some(server.token.clone()), "?since=100")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(rest.lines().count() as u64, upto - 100);
    assert!(whole.ends_with(&rest), "an incremental export is the whole one's tail");
    let seq_of = |line: &str| serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_u64();
    assert_eq!(rest.lines().next().and_then(seq_of), Some(101));

    let alex = crate::isolation::token_for(&server, "u-alex").await;
    let refused = get(Some(alex), "").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(get(None, "").await.unwrap().status(), 401);
    server.stop().await;
}

#[test]
fn bills_say_what_their_quantities_and_prices_count() {
    let dir = tempfile::tempdir().unwrap();
    demo_store(dir.path(), 0);
    let csv = lineage(
        dir.path(),
        &[
            "bill",
            "--account",
            "acct-contoso-exp",
            "--month",
            "2026-03",
            "--format",
            "csv",
        ],
    );
    assert!(csv.ok, "{csv:?}");
    let mut rows = csv.stdout.lines();
    assert_eq!(
        rows.next(),
        Some("description,quantity,unit,unit_price,price_per,days_in_month,amount,events")
    );
    let seats = rows.next().unwrap();
    assert!(
        seats.starts_with("\"seats beyond the first 2 (pro-rated by day)\",6,seat-days,50.00,seat-month,31,9.68,"),
        "a numeric quantity, its unit, and the month's price with the month's days: {seats}"
    );
    for row in rows.filter(|row| row.starts_with("\"run compute")) {
        let cells: Vec<&str> = row.split(',').collect();
        assert!(cells[1].parse::<f64>().is_ok(), "numeric hours: {row}");
        assert_eq!((cells[2], cells[4], cells[5]), ("hours", "hour", ""), "{row}");
    }
    let table = lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-03"],
    );
    assert!(table.stdout.contains("6 seat-days (6/31 month)") && table.stdout.contains("50.00 per seat-month"));

    let latest = lineage(dir.path(), &["bill", "--account", "acct-contoso-exp"]);
    assert!(latest.ok, "{latest:?}");
    assert!(latest
        .stdout
        .starts_with("Bill for account acct-contoso-exp — 2026-03 (USD)\n"));
    assert!(latest
        .stderr
        .contains("no --month given: the bill for 2026-03, the latest month with activity"));
    let future = lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2999-01"],
    );
    assert!(
        !future.ok && future.stderr.contains("2999-01 has not begun"),
        "{future:?}"
    );
    let this_month = lineage_store::billing::Month::containing(lineage_schema::Timestamp::now()).to_string();
    let running = lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", &this_month],
    );
    assert!(running.stdout.contains("month running: the bill so far"), "{running:?}");
    let unknown = lineage(dir.path(), &["bill", "--account", "acct-nope"]);
    assert!(
        !unknown.ok && unknown.stderr.contains("acct-nope does not exist"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_in_plain_words_without_cli_flags() {
    let server = crate::graphql::Server::demo().await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = server.client.get(format!("{}{path}", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let token = server.token.clone();
    for (path, token, status, code) in [
        ("/audit?format=xml", Some(token.as_str()), 400, "INVALID_INPUT"),
        ("/audit?from=yesterday", Some(token.as_str()), 400, "INVALID_INPUT"),
        ("/metrics", Some(token.as_str()), 403, "FORBIDDEN"),
        ("/export", Some(token.as_str()), 403, "FORBIDDEN"),
        ("/audit", None, 401, "UNAUTHENTICATED"),
        ("/export", Some("lin_not-a-token"), 401, "UNAUTHENTICATED"),
    ] {
        let answer = get(path, token).await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{path}");
        let body: serde_json::Value = answer
            .json()
            .await
            .unwrap_or_else(|error| panic!("{path}: not JSON: {error}"));
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{path}: {body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .is_some_and(|text| !text.is_empty()));
    }
    // An id the API cannot take is named by what it is, not by a command-line flag.
    let posted = server
        .client
        .post(format!(
            "{}/api/v1/lineage?account=has%20space&workspace=ws-churn",
            server.url
        ))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!posted.contains("--"), "{posted}");
    server.stop().await;
}

#[test]
fn the_cli_refuses_unknown_accounts_and_malformed_keys_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    demo_store(dir.path(), 0);
    let audit = lineage(dir.path(), &["audit", "--account", "acct-nope"]);
    let bill = lineage(dir.path(), &["bill", "--account", "acct-nope", "--month", "2026-03"]);
    assert!(!audit.ok && !bill.ok);
    assert_eq!(
        audit.stderr, bill.stderr,
        "audit refuses an unknown account as bill does"
    );
    let checkpoint = dir.path().join("checkpoint.json");
    assert!(lineage(dir.path(), &["checkpoint", "--out", checkpoint.to_str().unwrap()]).ok);
    let bad_key = lineage(
        dir.path(),
        &[
            "verify",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--public-key",
            "not-hex",
        ],
    );
    assert!(
        !bad_key.ok && bad_key.stderr.contains("`not-hex` is not a public key"),
        "{bad_key:?}"
    );
    let usage = Command::new(BIN).args(["bill", "--bogus"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "a command line it cannot read exits 2");
}
