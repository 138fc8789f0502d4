//! The `lineage` command line, run in-process on real data directories.

use lineage_graphql::cli::run_from;
use lineage_store::{Options, Store};

fn lineage(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["lineage", "--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    run_from(all)
}

#[test]
fn demo_then_verify_rebuild_events_and_stats_succeed() {
    let dir = tempfile::tempdir().unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    lineage(dir.path(), &["verify"]).unwrap();
    lineage(dir.path(), &["rebuild"]).unwrap();
    lineage(dir.path(), &["events", "--stream", "run/r-churn-1", "--limit", "3"]).unwrap();
    lineage(dir.path(), &["stats"]).unwrap();
    lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-03"],
    )
    .unwrap();
    lineage(
        dir.path(),
        &[
            "bill",
            "--account",
            "acct-contoso-mm",
            "--month",
            "2026-03",
            "--format",
            "csv",
        ],
    )
    .unwrap();
    let error = lineage(
        dir.path(),
        &["bill", "--account", "acct-contoso-exp", "--month", "2026-13"],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("not a month"), "{error}");
    let error = lineage(dir.path(), &["bill", "--account", "acct-nope", "--month", "2026-03"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
    lineage(
        dir.path(),
        &["audit", "--account", "acct-fabrikam-exp", "--format", "ndjson"],
    )
    .unwrap();
    lineage(
        dir.path(),
        &["audit", "--actor", "u-ada", "--kind", "run", "--limit", "5"],
    )
    .unwrap();
    let error = lineage(dir.path(), &["audit", "--kind", "planet"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown kind"), "{error}");
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    assert_eq!(store.head().seq, lineage_store::demo::story().len() as u64);
}

#[test]
fn reading_commands_on_a_missing_store_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for command in ["verify", "rebuild", "stats", "events"] {
        let error = lineage(&missing, &[command]).unwrap_err().to_string();
        assert!(error.contains("no Lineage"), "{command}: {error}");
    }
    assert!(!missing.exists());
}

#[test]
fn bad_arguments_are_refused_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    let error = lineage(dir.path(), &["events", "--stream", "planet/x"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not `kind/id`"), "{error}");
    let error = lineage(dir.path(), &["events", "--account", "has space"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a valid id"), "{error}");
    assert!(lineage(dir.path(), &["frobnicate"]).is_err());
}

#[test]
fn an_export_restores_to_an_identical_log_whole_or_in_increments() {
    let original = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    lineage(original.path(), &["demo"]).unwrap();
    let (head, digest) = {
        let store = Store::open(original.path(), &Options::default()).unwrap();
        (store.head(), store.projection_digest().unwrap())
    };
    let export = |args: &[&str], file: &str| {
        let mut all = vec!["--data-dir", original.path().to_str().unwrap(), "export"];
        all.extend_from_slice(args);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
            .args(&all)
            .output()
            .unwrap();
        assert!(output.status.success());
        let path = files.path().join(file);
        std::fs::write(&path, output.stdout).unwrap();
        path
    };
    let whole = export(&[], "whole.ndjson");
    let first = export(&[], "first.ndjson");
    let first_lines: Vec<String> = std::fs::read_to_string(&first)
        .unwrap()
        .lines()
        .take(50)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&first, first_lines.concat()).unwrap();
    let rest = export(&["--since", "50"], "rest.ndjson");

    // Whole: the same hashes and the same projections.
    let restored = tempfile::tempdir().unwrap();
    lineage(restored.path(), &["import", "lineage", whole.to_str().unwrap()]).unwrap();
    let store = Store::open(restored.path(), &Options::default()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(store.projection_digest().unwrap(), digest);
    drop(store);

    // In increments: the first fifty events, then the rest.
    let incremental = tempfile::tempdir().unwrap();
    let error = lineage(incremental.path(), &["import", "lineage", rest.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not continue this store's log"), "{error}");
    lineage(incremental.path(), &["import", "lineage", first.to_str().unwrap()]).unwrap();
    lineage(incremental.path(), &["import", "lineage", rest.to_str().unwrap()]).unwrap();
    let store = Store::open(incremental.path(), &Options::default()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(store.projection_digest().unwrap(), digest);
    drop(store);

    // A changed line is named, and nothing is appended.
    let text = std::fs::read_to_string(&whole)
        .unwrap()
        .replacen("Ada Lovelace", "Ada King", 1);
    let tampered = files.path().join("tampered.ndjson");
    std::fs::write(&tampered, text).unwrap();
    let target = tempfile::tempdir().unwrap();
    let error = lineage(target.path(), &["import", "lineage", tampered.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("was changed after it was exported"),
        "{error}"
    );
    assert_eq!(Store::open(target.path(), &Options::default()).unwrap().head().seq, 0);
}

/// One account's export replays into another store as that account's history: the same
/// entities in the same state, the same actors and times, at the new store's positions.
#[test]
fn an_accounts_export_replays_into_another_store_as_its_history() {
    use lineage_schema::{EntityKind, EntityRef};
    let original = tempfile::tempdir().unwrap();
    lineage(original.path(), &["demo"]).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args(["--data-dir", original.path().to_str().unwrap()])
        .args(["export", "--account", "acct-fabrikam-exp"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("fabrikam.ndjson");
    std::fs::write(&file, &output.stdout).unwrap();

    let other = tempfile::tempdir().unwrap();
    lineage(other.path(), &["import", "lineage", file.to_str().unwrap(), "--replay"]).unwrap();
    let head = {
        let source = Store::open(original.path(), &Options::default()).unwrap();
        let target = Store::open(other.path(), &Options::default()).unwrap();
        let mut compared = 0;
        for kind in EntityKind::ALL {
            for entity in source.entities(kind, None, usize::MAX).unwrap() {
                if entity.account.as_ref().map(|a| a.as_str()) != Some("acct-fabrikam-exp") {
                    continue;
                }
                let copy = target.entity(&entity.reference).unwrap().expect("replayed");
                assert_eq!(copy.detail, entity.detail, "{}", entity.reference);
                assert_eq!(copy.name, entity.name);
                assert_eq!(copy.deleted, entity.deleted);
                let facts = |store: &Store| -> Vec<_> {
                    store
                        .history(&entity.reference)
                        .unwrap()
                        .into_iter()
                        .map(|e| (e.effective_time(), e.event, e.actor))
                        .collect()
                };
                assert_eq!(
                    facts(&target),
                    facts(&source),
                    "the same facts, actors and times of {}",
                    entity.reference
                );
                compared += 1;
            }
        }
        assert!(compared >= 5, "the account's entities were compared ({compared})");
        let account = EntityRef::new(EntityKind::ExperimentationAccount, "acct-fabrikam-exp");
        assert!(target.entity(&account).unwrap().is_some());
        target.head()
    };
    lineage(other.path(), &["verify"]).unwrap();
    lineage(other.path(), &["import", "lineage", file.to_str().unwrap(), "--replay"]).unwrap();
    let store = Store::open(other.path(), &Options::default()).unwrap();
    assert_eq!(store.head(), head, "a second replay appends nothing");
    drop(store);

    // A store whose principals or subscriptions contradict the history refuses all of it.
    let clashing = tempfile::tempdir().unwrap();
    lineage(clashing.path(), &["demo"]).unwrap();
    let before = Store::open(clashing.path(), &Options::default()).unwrap().head();
    let error = lineage(
        clashing.path(),
        &["import", "lineage", file.to_str().unwrap(), "--replay"],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("nothing was appended"), "{error}");
    assert_eq!(
        Store::open(clashing.path(), &Options::default()).unwrap().head(),
        before
    );
}

#[test]
fn the_import_commands_report_what_they_did_and_refuse_a_wrong_target() {
    let dir = tempfile::tempdir().unwrap();
    lineage(dir.path(), &["demo"]).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let mlflow = data.join("mlflow/sqlite/mlflow.db");
    let openlineage = data.join("openlineage/pipeline.ndjson");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let target = [
        "--account",
        "acct-contoso-exp",
        "--workspace",
        "ws-churn",
        "--as",
        "u-alex",
    ];
    let first = run(&[&["import", "mlflow", mlflow.to_str().unwrap()][..], &target].concat());
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = String::from_utf8(first.stdout).unwrap();
    assert!(
        text.contains("created:") && text.contains("runs") && text.contains("skipped:   nothing"),
        "{text}"
    );
    let again = run(&[&["import", "mlflow", mlflow.to_str().unwrap()][..], &target].concat());
    let text = String::from_utf8(again.stdout).unwrap();
    assert!(text.contains("events appended: 0"), "{text}");

    let events = run(&[&["import", "openlineage", openlineage.to_str().unwrap()][..], &target].concat());
    assert!(events.status.success(), "{}", String::from_utf8_lossy(&events.stderr));
    assert!(String::from_utf8(events.stdout).unwrap().contains("created:"));

    let wrong = run(&[
        "import",
        "mlflow",
        mlflow.to_str().unwrap(),
        "--account",
        "acct-nowhere",
        "--workspace",
        "ws-churn",
    ]);
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("no experimentation account `acct-nowhere`"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

/// Lineage's side of the side-by-side benchmark runs (tiny sizes) and answers every
/// figure the report reads.
#[test]
fn the_peers_benchmark_answers_every_figure() {
    let scratch = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args(["bench", "--peers", "--runs", "3", "--chains", "20", "--scratch"])
        .arg(scratch.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for path in ["in_process", "http"] {
        for mode in ["batched", "per_point"] {
            let figures = &report[format!("w1_{path}_{mode}")];
            for key in ["runs_per_s", "points_per_s", "write_p50_ms", "write_p99_ms"] {
                assert!(figures[key].as_f64().unwrap() > 0.0, "{path} {mode} {key}");
            }
        }
        assert!(report[format!("registry_{path}")]["lookup_p50_ms"].as_f64().unwrap() > 0.0);
        assert!(report[format!("w1_{path}_disk_mib")].as_f64().unwrap() > 0.0);
    }
    for key in [
        "chains_per_s",
        "trace_in_process_p50_ms",
        "trace_http_p99_ms",
        "disk_mib",
        "peak_rss_mib",
    ] {
        assert!(report["w2"][key].as_f64().unwrap() > 0.0, "w2 {key}");
    }
}

/// Runs `lineage bench` with `args` in a scratch directory; its standard output.
fn bench(args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .arg("bench")
        .args(args)
        .arg("--scratch")
        .arg(scratch.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The figures of a table's rows that start with `start` and hold only figures, pairs
/// like `0.1 / 0.2` split.
fn figures(table: &str, start: &str) -> Vec<Vec<f64>> {
    table
        .lines()
        .filter(|line| line.starts_with(start))
        .filter_map(|line| {
            line.trim_matches('|')
                .split(['|', '/'])
                .map(|cell| cell.trim().parse::<f64>().ok())
                .collect()
        })
        .collect()
}

/// `bench --scale` measures each size on a store of its own and says how each figure
/// changes per tenfold growth.
#[test]
fn the_scale_benchmark_measures_every_size_and_the_growth() {
    let table = bench(&["--scale", "100,1000"]);
    let rows = figures(&table, "| 1");
    assert_eq!(rows.len(), 2, "{table}");
    for row in &rows {
        assert_eq!(row.len(), 9, "{table}");
        assert!(row.iter().all(|figure| *figure > 0.0), "{table}");
    }
    assert!(rows[0][0] >= 100.0 && rows[1][0] >= 1000.0, "{table}");
    let growth = table
        .lines()
        .find(|line| line.starts_with("| change per tenfold growth"))
        .expect("a growth line");
    assert_eq!(growth.matches('×').count(), 8, "{growth}");
}

/// `bench --writers 0` measures batch append, rebuild, verify (alone and with each kind of
/// checkpoint) and the hashing bound under verify without the concurrent appends, each
/// figure a real one.
#[test]
fn the_plain_benchmark_without_writers_measures_the_rest() {
    let table = bench(&["--events", "500", "--writers", "0", "--repeat", "1"]);
    assert!(!table.contains("| writers |"), "{table}");
    for measurement in [
        "| batch append",
        "| rebuild",
        "| verify (checksums",
        "| verify, MB of log",
        "| verify a JSON checkpoint",
        "| verify a checkpoint note",
        "| blake3 alone",
        "| log bytes",
        "| derived (sled)",
    ] {
        let row = table
            .lines()
            .find(|line| line.starts_with(measurement))
            .expect(measurement);
        let figure: f64 = row
            .trim_matches('|')
            .split('|')
            .next_back()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(figure > 0.0, "{row}");
    }
}

/// `bench` with arguments given as one line of words.
fn bench_words(words: &str) -> String {
    bench(&words.split_whitespace().collect::<Vec<_>>())
}

/// The figures of the row of `section` that starts with `label`.
fn labelled_row(section: &str, label: &str) -> Vec<f64> {
    let row = section
        .lines()
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no row {label}: {section}"));
    row.trim_matches('|')
        .split('|')
        .skip(1)
        .map(|cell| cell.trim().parse().unwrap())
        .collect()
}

/// `bench --insert-chains` measures chains/s for each writer count, with the writers as
/// threads and as tasks by default, or as the kinds asked for.
#[test]
fn the_chain_insert_benchmark_measures_each_writer_count() {
    let table = bench(&["--insert-chains", "--chains", "60", "--writers", "1,4", "--repeat", "1"]);
    assert!(
        table.contains("| writers | in-process, threads, chains/s | in-process, tasks, chains/s |"),
        "{table}"
    );
    let rows = figures(&table, "| ");
    assert_eq!(rows.len(), 2, "{table}");
    for (row, writers) in rows.iter().zip([1.0, 4.0]) {
        assert_eq!(row.len(), 3, "{table}");
        assert_eq!(row[0], writers, "{table}");
        assert!(row[1] > 0.0 && row[2] > 0.0, "{table}");
    }
    // Each of a chain's six entities has at least its record (its version, state and
    // lineage node as one key) and a name; the lists hubs gain an item on (children,
    // edges into a full node) do not cost a key per item.
    let keys: f64 = table
        .lines()
        .find_map(|line| line.strip_prefix("New derived keys (sled keys) per chain: "))
        .unwrap_or_else(|| panic!("keys per chain: {table}"))
        .trim()
        .parse()
        .unwrap();
    assert!((6.0..=20.0).contains(&keys), "{table}");
    // CPU per chain by thread for each writer count: the parts add up to the total, and
    // the process did spend some.
    let cpu_table = table
        .split("CPU per chain by thread")
        .nth(1)
        .unwrap_or_else(|| panic!("CPU: {table}"));
    for writers in [
        "| 1 writer, threads |",
        "| 1 writer, tasks |",
        "| 4 writers, threads |",
        "| 4 writers, tasks |",
    ] {
        let cpu = labelled_row(cpu_table, writers);
        assert_eq!(cpu.len(), 7, "{table}");
        let (parts, total) = (&cpu[..6], cpu[6]);
        assert!(total > 0.0 && parts.iter().all(|part| *part >= 0.0), "{table}");
        assert!((parts.iter().sum::<f64>() - total).abs() <= 0.006, "{table}");
    }
    // The synced groups: a group holds at least one chain and at most as many as there
    // are writers, and took some time.
    let groups = table
        .split("Synced groups")
        .nth(1)
        .unwrap_or_else(|| panic!("groups: {table}"));
    let groups = groups.split("CPU per chain").next().unwrap_or_default();
    for (writers, count) in [
        ("| 1 writer, threads |", 1.0),
        ("| 1 writer, tasks |", 1.0),
        ("| 4 writers, threads |", 4.0),
        ("| 4 writers, tasks |", 4.0),
    ] {
        let cells = labelled_row(groups, writers);
        assert_eq!(cells.len(), 2, "{table}");
        assert!((1.0..=count).contains(&cells[0]) && cells[1] > 0.0, "{table}");
    }
    // One kind alone: its column and its CPU rows only.
    let table = bench_words("--insert-chains --chains 20 --writers 3 --repeat 1 --clients tasks");
    assert!(table.contains("| writers | in-process, tasks, chains/s |\n"), "{table}");
    let rows = figures(&table, "| ");
    assert_eq!(rows, [vec![3.0, rows[0][1]]], "{table}");
    assert!(rows[0][1] > 0.0, "{table}");
    assert!(table.contains("| 3 writers, tasks |"), "{table}");
    assert!(!table.contains("threads |"), "{table}");
    // A kind asked for twice is measured once.
    let table = bench_words("--insert-chains --chains 10 --writers 2 --repeat 1 --clients tasks,threads,tasks");
    assert!(
        table.contains("| writers | in-process, tasks, chains/s | in-process, threads, chains/s |\n"),
        "{table}"
    );
    // No writers, or no chains, is refused with what was asked; as is a kind it does not
    // know, naming the ones it does.
    for (args, said) in [
        (&["--writers", "4,0"][..], "writer count to be at least 1"),
        (&["--chains", "0"][..], "at least one chain"),
    ] {
        let scratch = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
            .args(["bench", "--insert-chains", "--repeat", "1"])
            .args(args)
            .arg("--scratch")
            .arg(scratch.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(said), "{args:?}: {stderr}");
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lineage-cli"))
        .args(["bench", "--insert-chains", "--clients", "fibers"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("fibers") && said.contains("threads, tasks"), "{said}");
}

/// `--http`: the same chains over HTTP as `executeBatch` requests (any refused request
/// fails the run), beside the client's limit against a server that answers at once.
#[test]
fn the_chain_insert_benchmark_measures_over_http_and_the_clients_limit() {
    let table = bench(&[
        "--insert-chains",
        "--chains",
        "30",
        "--writers",
        "2",
        "--repeat",
        "1",
        "--http",
        "4",
    ]);
    assert!(table.contains("over HTTP, 4 chains a request"), "{table}");
    let rows = figures(&table, "| ");
    assert_eq!(rows.len(), 1, "{table}");
    let row = &rows[0];
    assert_eq!(row.len(), 5, "{table}");
    assert_eq!(row[0], 2.0, "{table}");
    assert!(row[1..].iter().all(|rate| *rate > 0.0), "{table}");
    assert!(row[4] > row[3], "the client alone outruns the server: {table}");
}

/// `bench --bytes` accounts for every byte of a record: the frame head and the body add
/// up to the record as stored, a long frame's head and the envelope's fields to the same
/// record whole, and the stored one is the smaller, for each workload.
#[test]
fn the_bytes_benchmark_accounts_for_every_byte_of_a_record() {
    let report = bench(&["--bytes", "--events", "300"]);
    let value = |line: &str| -> f64 {
        let cell = line.trim_matches('|').split('|').next_back().unwrap();
        cell.trim().trim_matches('*').parse().unwrap()
    };
    let sections: Vec<&str> = report.split("\n\n| where").skip(1).collect();
    assert_eq!(sections.len(), 3, "{report}");
    for section in sections {
        let row = |label: &str| value(section.lines().find(|line| line.contains(label)).unwrap());
        let (stored, frame_head, body) = (row("**log record, as stored**"), row("| frame head"), row("| body:"));
        assert!(
            (stored - frame_head - body).abs() < 0.1,
            "{stored} against {frame_head} + {body}: {section}"
        );
        let whole = row("the same record whole");
        let fields: f64 = section
            .lines()
            .filter(|line| line.contains("whole record's field:"))
            .map(value)
            .sum();
        let long_head = lineage_store::segment::LONG_HEAD_LEN as f64;
        assert!(
            (whole - long_head - fields).abs() < 1.0,
            "{whole} against {long_head} + {fields}: {section}"
        );
        // Short frames: a tag, a length of one or two bytes (bodies under 16 KiB), a crc.
        assert!((6.0..=7.0).contains(&frame_head), "{section}");
        assert!(stored < whole, "{section}");
        assert!(
            section.contains("derived keys and values") && section.contains("**log + derived**"),
            "{section}"
        );
    }
    assert_eq!(report.matches("per metric point").count(), 1, "{report}");
}

/// README's "Configure" table is the command line's own list of flags: made from it, and
/// checked against it (`UPDATE_README=1` writes it back).
#[test]
fn readme_configure_table_is_the_command_lines_own() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- configure:begin -->\n", "<!-- configure:end -->");
    let start = readme.find(begin).expect("README marks the Configure table") + begin.len();
    let stop = readme[start..].find(end).expect("…and its end") + start;
    let table = lineage_graphql::cli::configuration_table();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..start], &readme[stop..])).unwrap();
        return;
    }
    assert_eq!(
        readme[start..stop],
        table,
        "run with UPDATE_README=1 and commit README.md"
    );
}
