//! Importing MLflow tracking stores made by MLflow itself (tests/data/mlflow, with the
//! script that made them), compared with what MLflow's own client read back from them
//! (`truth.json`); then the imported lineage through the GraphQL API.

use crate::graphql::Server;
use crate::support::id;
use lineage_graphql::api::Limits;
use lineage_graphql::server::ServerLimits;
use lineage_importer::mlflow;
use lineage_importer::{Summary, Target, TargetSpec};
use lineage_schema::entity::{Detail, Entity, RunStatus};
use lineage_schema::event::ModelSource;
use lineage_schema::*;
use lineage_store::{demo, Options, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub(crate) fn fixture(form: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mlflow").join(form);
    match form {
        "file" => folder.join("mlruns"),
        _ => folder.join("mlflow.db"),
    }
}

fn truth(form: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("data/mlflow/{form}/truth.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The demo story's Contoso accounts and churn workspace, as Alex (who owns them).
fn spec() -> TargetSpec {
    TargetSpec {
        actor: id("u-alex"),
        account: "acct-contoso-exp".into(),
        workspace: "ws-churn".into(),
        project: None,
        model_account: None,
    }
}

pub(crate) fn import(store: &Store, path: &Path, strict: bool) -> lineage_importer::Result<Summary> {
    let target = Target::prepare(store, &spec(), "mlflow")?;
    let tracking = mlflow::read(path)?;
    mlflow::import(store, tracking, &target, strict, &mut |_, _| {})
}

fn entity(store: &Store, kind: EntityKind, id: &str) -> Option<Entity> {
    store.entity(&EntityRef::new(kind, id)).unwrap()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn micros(millis: &Value) -> Option<i64> {
    millis.as_i64().map(|millis| millis * 1000)
}

/// Checks everything `truth.json` says against what the store holds after the import.
fn assert_matches_truth(store: &Store, form: &str) {
    let truth = truth(form);
    let workspace = EntityRef::new(EntityKind::Workspace, "ws-churn");
    let project = store
        .find_by_name(Some(&workspace), EntityKind::Project, "mlflow")
        .unwrap()
        .expect("the import made the project `mlflow`");
    let mut experiments = BTreeMap::new();
    for experiment in truth["experiments"].as_array().unwrap() {
        let name = experiment["name"].as_str().unwrap();
        let found = store
            .find_by_name(Some(&project.reference), EntityKind::Experiment, name)
            .unwrap()
            .unwrap_or_else(|| panic!("{form}: experiment {name} imported"));
        assert_eq!(
            found.deleted,
            experiment["lifecycle_stage"] == "deleted",
            "{form}: {name}"
        );
        let Detail::Experiment { tags, .. } = &found.detail else {
            panic!("experiment detail")
        };
        assert_eq!(*tags, string_map(&experiment["tags"]), "{form}: tags of {name}");
        experiments.insert(
            experiment["id"].as_str().unwrap().to_string(),
            found.reference.id.clone(),
        );
    }
    for run in truth["runs"].as_array().unwrap() {
        let mlflow_id = run["id"].as_str().unwrap();
        let found = entity(store, EntityKind::Run, &mlflow::run_id(mlflow_id))
            .unwrap_or_else(|| panic!("{form}: run {mlflow_id} imported"));
        let Detail::Run(detail) = &found.detail else {
            panic!("run detail")
        };
        let what = format!("{form}: run {}", run["name"]);
        assert_eq!(found.deleted, run["lifecycle_stage"] == "deleted", "{what}");
        assert_eq!(
            detail.experiment.as_str(),
            experiments[run["experiment_id"].as_str().unwrap()],
            "{what}"
        );
        let status = match run["status"].as_str().unwrap() {
            "FINISHED" => RunStatus::Completed,
            "FAILED" => RunStatus::Failed,
            "KILLED" => RunStatus::Canceled,
            "RUNNING" => RunStatus::Running,
            _ => RunStatus::Queued,
        };
        assert_eq!(detail.status, status, "{what}");
        assert_eq!(
            detail.started_at.map(|at| at.micros()),
            micros(&run["start_time"]),
            "{what}"
        );
        if status.is_finished() {
            assert_eq!(
                detail.finished_at.map(|at| at.micros()),
                micros(&run["end_time"]),
                "{what}"
            );
        }
        assert_eq!(detail.params, string_map(&run["params"]), "{what}: params");
        let mut tags = string_map(&run["tags"]);
        tags.entry("mlflow.user".into())
            .or_insert_with(|| run["user"].as_str().unwrap().to_string());
        assert_eq!(detail.tags, tags, "{what}: tags");
        let revision = run["tags"]["mlflow.source.git.commit"]
            .as_str()
            .unwrap_or(mlflow::UNKNOWN_REVISION);
        assert_eq!(detail.revision.as_deref(), Some(revision), "{what}");
        assert_eq!(
            detail.parent.as_ref().map(ToString::to_string),
            run["parent"].as_str().map(mlflow::run_id),
            "{what}: parent"
        );
        // Every point, as many times as MLflow holds it. MLflow's file store reads the step
        // of a point logged with a dataset (a five-field line) as 0, though the line holds
        // it (`FileStore._get_metric_from_line`): for those the step is left out here, and
        // the SQL store's read-back of the same story checks it.
        let file_store_step_unread = |point: &serde_json::Value| what.starts_with("file") && !point[3].is_null();
        let mut history: Vec<(String, u64, Option<i64>, i64)> = store
            .metric_history(&id(&mlflow::run_id(mlflow_id)), None)
            .unwrap()
            .into_iter()
            .map(|point| {
                (
                    point.name,
                    point.value.to_bits(),
                    Some(point.step),
                    point.timestamp.micros(),
                )
            })
            .collect();
        let mut expected = Vec::new();
        for (name, points) in run["metrics"].as_object().unwrap() {
            for point in points.as_array().unwrap() {
                let step = (!file_store_step_unread(point)).then(|| point[1].as_i64().unwrap());
                if step.is_none() {
                    let value = point[0].as_f64().unwrap().to_bits();
                    let at = point[2].as_i64().unwrap() * 1000;
                    if let Some(held) = history
                        .iter_mut()
                        .find(|held| held.0 == *name && held.1 == value && held.3 == at && held.2.is_some())
                    {
                        held.2 = None;
                    }
                }
                expected.push((
                    name.clone(),
                    point[0].as_f64().unwrap().to_bits(),
                    step,
                    point[2].as_i64().unwrap() * 1000,
                ));
            }
        }
        history.sort();
        expected.sort();
        assert_eq!(history, expected, "{what}: every metric point, with its step and time");
        let inputs: BTreeSet<(String, Option<String>)> = detail
            .inputs
            .iter()
            .map(|dataset| {
                let found = entity(store, EntityKind::Dataset, dataset.as_str()).unwrap();
                let Detail::Dataset { version, .. } = found.detail else {
                    panic!("dataset detail")
                };
                (found.name, version)
            })
            .collect();
        let expected: BTreeSet<(String, Option<String>)> = run["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|input| {
                (
                    input["name"].as_str().unwrap().to_string(),
                    input["digest"].as_str().map(str::to_string),
                )
            })
            .collect();
        assert_eq!(inputs, expected, "{what}: dataset inputs");
    }
    let account = EntityRef::new(EntityKind::ModelManagementAccount, "acct-contoso-mm");
    for model in truth["registered_models"].as_array().unwrap() {
        let name = model["name"].as_str().unwrap();
        let found = store
            .find_by_name(Some(&account), EntityKind::Model, name)
            .unwrap()
            .unwrap_or_else(|| panic!("{form}: model {name} imported"));
        let Detail::Model {
            tags,
            versions,
            aliases,
            ..
        } = &found.detail
        else {
            panic!("model detail")
        };
        for (key, value) in string_map(&model["tags"]) {
            assert_eq!(tags.get(&key), Some(&value), "{form}: tag {key} of {name}");
        }
        let by_mlflow_number = |number: i64| {
            versions
                .iter()
                .find(|version| version.tags.get(mlflow::VERSION_TAG) == Some(&number.to_string()))
                .unwrap_or_else(|| panic!("{form}: version {number} of {name} imported"))
        };
        for version in model["versions"].as_array().unwrap() {
            let imported = by_mlflow_number(version["version"].as_i64().unwrap());
            let ModelSource::Run { run, artifact_path } = &imported.source else {
                panic!("{form}: {name} came from a run")
            };
            assert_eq!(run.to_string(), mlflow::run_id(version["run_id"].as_str().unwrap()));
            assert_eq!(artifact_path, version["source"].as_str().unwrap());
            for (key, value) in string_map(&version["tags"]) {
                assert_eq!(imported.tags.get(&key), Some(&value), "{form}: version tag {key}");
            }
        }
        let expected: BTreeMap<String, u32> = model["aliases"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(alias, number)| {
                // MLflow's client answers aliases as numbers from one store, text from the other.
                let number = number
                    .as_i64()
                    .or_else(|| number.as_str().and_then(|text| text.parse().ok()))
                    .unwrap();
                (alias.clone(), by_mlflow_number(number).version)
            })
            .collect();
        assert_eq!(*aliases, expected, "{form}: aliases of {name}");
    }
}

#[test]
fn both_mlflow_store_forms_import_as_mlflow_reads_them_and_a_second_import_adds_nothing() {
    for form in ["file", "sqlite"] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Options::default()).unwrap();
        demo::fill(&store).unwrap();
        let summary = import(&store, &fixture(form), false).unwrap();
        assert!(summary.skipped.is_empty(), "{form}: {summary}");
        let truth = truth(form);
        assert_eq!(
            summary.created("run"),
            truth["runs"].as_array().unwrap().len() as u64,
            "{form}: {summary}"
        );
        assert_eq!(
            summary.deleted.values().sum::<u64>(),
            3,
            "{form}: two runs and an experiment"
        );
        assert_matches_truth(&store, form);

        let head = store.head();
        let again = import(&store, &fixture(form), false).unwrap();
        assert_eq!(again.events, 0, "{form}: {again}");
        assert!(again.created.is_empty() && again.updated.is_empty() && again.deleted.is_empty());
        assert_eq!(store.head(), head, "a second import appends nothing");
        store.close().unwrap();
        lineage_store::Store::verify(dir.path()).unwrap();
    }
}

/// A copy of a fixture store without one run (the killed `elasticity` run).
fn without_a_run(form: &str, into: &Path) -> (PathBuf, String) {
    let truth = truth(form);
    let run = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["name"] == "elasticity")
        .unwrap();
    let run_id = run["id"].as_str().unwrap().to_string();
    if form == "file" {
        crate::support::copy_dir(&fixture("file"), into);
        let experiment = run["experiment_id"].as_str().unwrap();
        std::fs::remove_dir_all(into.join(experiment).join(&run_id)).unwrap();
        (into.to_path_buf(), run_id)
    } else {
        std::fs::create_dir_all(into).unwrap();
        let db = into.join("mlflow.db");
        std::fs::copy(fixture("sqlite"), &db).unwrap();
        let connection = rusqlite::Connection::open(&db).unwrap();
        for table in ["metrics", "latest_metrics", "params", "tags", "runs"] {
            connection
                .execute(&format!("DELETE FROM {table} WHERE run_uuid = ?1"), [&run_id])
                .unwrap();
        }
        (db, run_id)
    }
}

#[test]
fn importing_again_after_mlflow_gained_a_run_adds_only_that_run() {
    for form in ["file", "sqlite"] {
        let scratch = tempfile::tempdir().unwrap();
        let (before, run_id) = without_a_run(form, &scratch.path().join("before"));
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Options::default()).unwrap();
        demo::fill(&store).unwrap();
        import(&store, &before, true).unwrap();
        assert!(entity(&store, EntityKind::Run, &mlflow::run_id(&run_id)).is_none());
        let after = import(&store, &fixture(form), true).unwrap();
        assert_eq!(after.created, BTreeMap::from([("run", 1)]), "{form}: {after}");
        assert!(after.updated.is_empty() && after.deleted.is_empty(), "{form}: {after}");
        assert!(entity(&store, EntityKind::Run, &mlflow::run_id(&run_id)).is_some());
        assert_matches_truth(&store, form);
    }
}

#[test]
fn a_malformed_record_is_named_and_skipped_whole_or_stops_a_strict_import() {
    let truth = truth("file");
    let runs = truth["runs"].as_array().unwrap();
    let by_name = |name: &str| runs.iter().find(|run| run["name"] == name).unwrap();
    let (broken_meta, broken_metric) = (by_name("broken-features"), by_name("elasticity"));
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("mlruns");
    crate::support::copy_dir(&fixture("file"), &root);
    let run_dir = |run: &Value| {
        root.join(run["experiment_id"].as_str().unwrap())
            .join(run["id"].as_str().unwrap())
    };
    std::fs::write(run_dir(broken_meta).join("meta.yaml"), "run_id: [unclosed\n").unwrap();
    let metric_file = run_dir(broken_metric).join("metrics/revenue");
    let mut points = std::fs::read_to_string(&metric_file).unwrap();
    points.push_str("1780000009000 not-a-number 9\n");
    std::fs::write(&metric_file, points).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let summary = import(&store, &root, false).unwrap();
    let reasons: Vec<String> = summary.skipped.iter().map(|s| s.why.clone()).collect();
    assert_eq!(summary.skipped.len(), 2, "{summary}");
    assert!(
        reasons
            .iter()
            .any(|why| why.contains("meta.yaml") && why.contains("not YAML")),
        "{summary}"
    );
    assert!(
        reasons
            .iter()
            .any(|why| why.contains("metrics/revenue, line 5") && why.contains("not a number")),
        "{summary}"
    );
    for run in [broken_meta, broken_metric] {
        let id = mlflow::run_id(run["id"].as_str().unwrap());
        assert!(
            entity(&store, EntityKind::Run, &id).is_none(),
            "nothing of {id} is imported"
        );
    }
    assert_eq!(summary.created("run"), runs.len() as u64 - 2, "the rest is imported");

    let strict_dir = tempfile::tempdir().unwrap();
    let strict_store = Store::open(strict_dir.path(), &Options::default()).unwrap();
    demo::fill(&strict_store).unwrap();
    let head = strict_store.head();
    let error = import(&strict_store, &root, true).unwrap_err().to_string();
    assert!(
        error.contains("meta.yaml") || error.contains("metrics/revenue"),
        "{error}"
    );
    assert_eq!(
        strict_store.head().seq,
        head.seq,
        "a strict import stops at once and appends nothing, not even its project and compute target"
    );
}

/// Preparing where an import lands appends nothing: the project and compute target it
/// needs go ahead of the import's first batch, so an import with nothing to import (or
/// one that fails) leaves no trace, and the first batch makes them.
#[test]
fn an_import_appends_its_project_and_compute_target_only_with_what_it_imports() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let head = store.head().seq;
    let target = Target::prepare(&store, &spec(), "mlflow").unwrap();
    assert_eq!(store.head().seq, head, "preparing a target appends nothing");
    let project = EntityRef::new(EntityKind::Project, target.project.as_ref().unwrap());
    assert!(store.entity(&project).unwrap().is_none(), "the project is not made yet");

    let events: Vec<lineage_importer::openlineage::Checked> = Vec::new();
    let ol_target = Target::prepare_with(&store, &spec(), "openlineage", false).unwrap();
    let summary = lineage_importer::openlineage::import(&store, &ol_target, &events, true, &mut |_, _| {}).unwrap();
    assert_eq!(summary.events, 0);
    assert_eq!(
        store.head().seq,
        head,
        "an import with nothing to import appends nothing"
    );

    let summary = import(&store, &fixture("file"), false).unwrap();
    assert!(summary.events > 0);
    assert!(
        store.entity(&project).unwrap().is_some(),
        "the first batch made the project"
    );
    let target_ref = EntityRef::new(EntityKind::ComputeTarget, &target.compute_target);
    assert!(store.entity(&target_ref).unwrap().is_some(), "and the compute target");
}

#[test]
fn a_malformed_database_row_is_named_by_table_and_key() {
    let truth = truth("sqlite");
    let run = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["name"] == "elasticity")
        .unwrap();
    let run_id = run["id"].as_str().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("mlflow.db");
    std::fs::copy(fixture("sqlite"), &db).unwrap();
    {
        let connection = rusqlite::Connection::open(&db).unwrap();
        connection.execute_batch("PRAGMA ignore_check_constraints = 1").unwrap();
        connection
            .execute("UPDATE runs SET status = 'EXPLODED' WHERE run_uuid = ?1", [run_id])
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let summary = import(&store, &db, false).unwrap();
    assert_eq!(summary.skipped.len(), 1, "{summary}");
    let why = &summary.skipped[0].why;
    assert!(
        why.contains("mlflow.db, table runs, run_uuid") && why.contains(run_id) && why.contains("EXPLODED"),
        "{why}"
    );
    assert!(entity(&store, EntityKind::Run, &mlflow::run_id(run_id)).is_none());
}

#[test]
fn an_unknown_account_or_workspace_is_refused_before_anything_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let head = store.head();
    for (actor, account, workspace, expected) in [
        (
            "u-alex",
            "acct-nowhere",
            "ws-churn",
            "no experimentation account `acct-nowhere`",
        ),
        ("u-alex", "acct-contoso-exp", "ws-nowhere", "no workspace `ws-nowhere`"),
        // An account the actor cannot read is refused as one that does not exist…
        (
            "u-alex",
            "acct-fabrikam-exp",
            "ws-churn",
            "no experimentation account `acct-fabrikam-exp`",
        ),
        // …and a workspace of another account is named as such only to one who reads both.
        (
            "u-margaret",
            "acct-fabrikam-exp",
            "ws-churn",
            "belongs to another account",
        ),
        ("u-grace", "acct-fabrikam-exp", "ws-churn", "no workspace `ws-churn`"),
    ] {
        let spec = TargetSpec {
            actor: id(actor),
            account: account.into(),
            workspace: workspace.into(),
            ..spec()
        };
        let error = Target::prepare(&store, &spec, "mlflow").unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
    assert_eq!(store.head(), head);
}

/// After an import, the API answers lineage questions about MLflow's models: a service
/// deployed from the champion version traces back to its MLflow run and datasets, and
/// the training dataset's impact reaches every version trained on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_models_trace_to_their_runs_and_datasets_over_graphql() {
    let truth = truth("sqlite");
    let server = Server::start_with(
        |store| {
            demo::fill(store).unwrap();
            import(store, &fixture("sqlite"), true).unwrap();
        },
        "u-alex",
        Limits::default(),
        ServerLimits::default(),
    )
    .await;
    let model = truth["registered_models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|model| model["name"] == "usage-forecaster")
        .unwrap();
    let source_run = model["versions"][0]["run_id"].as_str().unwrap();
    let data = server
        .data(
            "{ models(name: \"usage-forecaster\") { nodes { id versions { id version runId } } } }",
            json!({}),
        )
        .await;
    let imported = &data["models"]["nodes"][0];
    let model_id = imported["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("model/")
        .to_string();
    let version = &imported["versions"][0];
    assert_eq!(version["runId"], json!(format!("run/{}", mlflow::run_id(source_run))));

    let mutation = |field: &str, input: Value| {
        let query = format!(
            "mutation($input: {}Input!) {{ {field}(input: $input) {{ seq }} }}",
            field[..1].to_uppercase() + &field[1..]
        );
        (query, json!({ "input": input }))
    };
    for (field, input) in [
        (
            "createManifest",
            json!({ "manifest": "mf-usage", "account": "acct-contoso-mm", "name": "usage" }),
        ),
        (
            "addManifestVersion",
            json!({ "manifest": "mf-usage", "models": [{ "model": model_id, "version": version["version"] }], "dependencies": [], "scoringScript": "score.py" }),
        ),
        (
            "createImage",
            json!({ "image": "img-usage", "account": "acct-contoso-mm", "name": "usage" }),
        ),
        (
            "startImageBuild",
            json!({ "image": "img-usage", "manifest": { "manifest": "mf-usage", "version": 1 } }),
        ),
        (
            "recordImageBuilt",
            json!({ "image": "img-usage", "version": 1, "digest": "sha256:0a1b" }),
        ),
        (
            "deployService",
            json!({ "service": "svc-usage", "account": "acct-contoso-mm", "name": "usage", "image": { "image": "img-usage", "version": 1 }, "environment": "env-prod", "url": "https://usage.contoso.example", "replicas": 1 }),
        ),
    ] {
        let (query, variables) = mutation(field, input);
        server.data(&query, variables).await;
    }
    let trace = server
        .data(
            "{ trace(service: \"svc-usage\") { image { manifest { models { modelVersion run { run revision datasets } } } } } }",
            json!({}),
        )
        .await;
    let link = &trace["trace"]["image"]["manifest"]["models"][0];
    assert_eq!(link["modelVersion"], version["id"]);
    assert_eq!(link["run"]["run"], json!(format!("run/{}", mlflow::run_id(source_run))));
    let truth_run = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["id"] == source_run)
        .unwrap();
    assert_eq!(link["run"]["revision"], truth_run["tags"]["mlflow.source.git.commit"]);
    let dataset_names = |ids: &Value| -> BTreeSet<String> {
        ids.as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_string())
            .collect()
    };
    let traced = dataset_names(&link["run"]["datasets"]);
    assert_eq!(traced.len(), truth_run["inputs"].as_array().unwrap().len());

    let walk = server
        .data(
            "query($id: ID!) { lineage(id: $id, direction: UPSTREAM) { nodes { id } } }",
            json!({ "id": version["id"] }),
        )
        .await;
    let reached: BTreeSet<String> = walk["lineage"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reached.contains(&format!("run/{}", mlflow::run_id(source_run))),
        "{reached:?}"
    );
    assert!(
        traced.is_subset(&reached),
        "the walk reaches the run's datasets: {reached:?}"
    );

    // Every version trained on `customers` (by a run that read it) is in its impact.
    let customers = server
        .data(
            "{ entities(kind: DATASET, parent: \"experimentation-account/acct-contoso-exp\", first: 100) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let customers_id = customers["entities"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|node| node["name"] == "customers" && node["id"].as_str().unwrap().contains("mlflow-ds"))
        .map(|node| node["id"].clone())
        .expect("the customers dataset was imported");
    let impact = server
        .data(
            "query($id: ID!) { impact(id: $id) { modelVersions services } }",
            json!({ "id": customers_id }),
        )
        .await;
    let impacted = dataset_names(&impact["impact"]["modelVersions"]);
    let readers: BTreeSet<&str> = truth["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| {
            run["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|input| input["name"] == "customers")
        })
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    let versions = server
        .data(
            "{ models(account: \"acct-contoso-mm\") { nodes { versions { id runId } } } }",
            json!({}),
        )
        .await;
    let trained_on_customers: BTreeSet<String> = versions["models"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|model| model["versions"].as_array().unwrap().clone())
        .filter(|version| {
            version["runId"]
                .as_str()
                .and_then(|run| run.strip_prefix("run/mlflow-run-"))
                .is_some_and(|run| readers.contains(run))
        })
        .map(|version| version["id"].as_str().unwrap().to_string())
        .collect();
    let registered_from_readers: usize = truth["registered_models"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|model| model["versions"].as_array().unwrap())
        .filter(|version| readers.contains(version["run_id"].as_str().unwrap()))
        .count();
    assert_eq!(trained_on_customers.len(), registered_from_readers);
    assert!(
        trained_on_customers.is_subset(&impacted),
        "{trained_on_customers:?} within {impacted:?}"
    );
    assert!(
        dataset_names(&impact["impact"]["services"]).contains("service/svc-usage"),
        "the service deployed from it is impacted too"
    );
    server.stop().await;
}

/// A subscription with two model management accounts: an import must be told which one
/// holds its models, but MLflow's tracking API still tracks, and only its registry says
/// why it cannot hold registered models.
#[test]
fn a_second_model_management_account_stops_the_registry_not_tracking() {
    use lineage_importer::mlflow::tracking::Tracking;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let owner = store
        .entity(&EntityRef::new(EntityKind::Subscription, "sub-contoso"))
        .unwrap()
        .unwrap()
        .created
        .actor;
    store
        .execute(CommandEnvelope::new(
            owner,
            Command::CreateModelManagementAccount(event::ModelManagementAccountCreated {
                account: id("acct-contoso-mm-2"),
                subscription: id("sub-contoso"),
                name: id("contoso-serving-2"),
                region: "eastus2".into(),
                plan: event::Plan {
                    tier: event::Tier::S1,
                    units: 1,
                },
            }),
        ))
        .unwrap();
    let error = Target::prepare(&store, &spec(), "mlflow").unwrap_err().to_string();
    assert!(error.contains("--model-account"), "{error}");
    let tracking = Tracking::open(&store, &spec()).unwrap();
    let made = tracking
        .call("POST", "experiments/create", &json!({ "name": "tracked anyway" }))
        .unwrap();
    assert!(
        made["experiment_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{made}"
    );
    let refused = tracking
        .call("POST", "registered-models/create", &json!({ "name": "nowhere" }))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("no single model management account"), "{refused}");
}
