//! OpenLineage events written by openlineage-python (tests/data/openlineage, with the
//! script that made them and what the pipeline did as `truth.json`): imported from the
//! file and posted to `POST /api/v1/lineage` on a real server.

use crate::graphql::Server;
use crate::support::id;
use lineage_graphql::api::Limits;
use lineage_graphql::server::ServerLimits;
use lineage_importer::openlineage;
use lineage_importer::{Summary, Target, TargetSpec};
use lineage_schema::entity::{Detail, RunStatus};
use lineage_schema::event::{PrincipalRegistered, SchemaField};
use lineage_schema::*;
use lineage_store::{demo, Options, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/openlineage/pipeline.ndjson")
}

fn truth() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/openlineage/truth.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(crate) fn lines() -> Vec<Value> {
    std::fs::read_to_string(fixture())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

pub(crate) fn import_file(store: &Store) -> Summary {
    let spec = TargetSpec {
        actor: id("u-alex"),
        account: "acct-contoso-exp".into(),
        workspace: "ws-churn".into(),
        project: None,
        model_account: None,
    };
    let target = Target::prepare_with(store, &spec, "openlineage", false).unwrap();
    let read = openlineage::read_file(&fixture()).unwrap();
    assert!(read.malformed.is_empty(), "{:?}", read.malformed);
    openlineage::import(store, &target, &read.events, true, &mut |_, _| {}).unwrap()
}

/// The run, experiment, parent, datasets and schemas each run of the pipeline left.
fn assert_matches_truth(store: &Store) {
    let truth = truth();
    let entity = |kind: EntityKind, id: &str| store.entity(&EntityRef::new(kind, id)).unwrap();
    let account: lineage_schema::AccountId = crate::support::id("acct-contoso-exp");
    let run_id_of = |run: &str| openlineage::run_id(&account, run);
    for run in truth["runs"].as_array().unwrap() {
        let run_id = run_id_of(run["run"].as_str().unwrap());
        let found = entity(EntityKind::Run, &run_id).unwrap_or_else(|| panic!("{run_id} imported"));
        let Detail::Run(detail) = &found.detail else {
            panic!("run detail")
        };
        let expected = match run["state"].as_str().unwrap() {
            "COMPLETE" => RunStatus::Completed,
            "FAIL" => RunStatus::Failed,
            "ABORT" => RunStatus::Canceled,
            other => panic!("the fixture has no {other} runs"),
        };
        assert_eq!(detail.status, expected, "{run_id}");
        if let Some(error) = run["error"].as_str() {
            assert_eq!(detail.failure_reason.as_deref(), Some(error));
        }
        let experiment = entity(EntityKind::Experiment, detail.experiment.as_str()).unwrap();
        assert_eq!(
            experiment.name,
            run["job"].as_str().unwrap(),
            "{run_id}: job → experiment"
        );
        let project = entity(EntityKind::Project, &experiment.parent.unwrap().id).unwrap();
        assert_eq!(project.name, "contoso-pipelines", "a project per job namespace");
        assert_eq!(
            detail.parent.as_ref().map(ToString::to_string),
            run["parent"].as_str().map(run_id_of),
            "{run_id}: parent facet"
        );
        assert_eq!(
            detail.revision.as_deref(),
            Some(run["revision"].as_str().unwrap_or(openlineage::UNKNOWN_REVISION))
        );
        let named = |datasets: &BTreeSet<DatasetId>| -> BTreeSet<(String, String, String)> {
            datasets
                .iter()
                .map(|dataset| {
                    let found = entity(EntityKind::Dataset, dataset.as_str()).unwrap();
                    let Detail::Dataset { location, version, .. } = found.detail else {
                        panic!("dataset detail")
                    };
                    let namespace = location.strip_suffix(&format!("/{}", found.name)).unwrap().to_string();
                    (namespace, found.name, version.unwrap())
                })
                .collect()
        };
        let expected = |field: &str| -> BTreeSet<(String, String, String)> {
            run[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d[0].as_str().unwrap().to_string(),
                        d[1].as_str().unwrap().to_string(),
                        d[2].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        assert_eq!(named(&detail.inputs), expected("inputs"), "{run_id}: inputs");
        assert_eq!(named(&detail.outputs), expected("outputs"), "{run_id}: outputs");
    }
    let account = EntityRef::new(EntityKind::ExperimentationAccount, "acct-contoso-exp");
    for dataset in truth["datasets"].as_array().unwrap() {
        let scoped = format!("{}@{}", dataset[1].as_str().unwrap(), dataset[2].as_str().unwrap());
        let found = store
            .find_by_name(Some(&account), EntityKind::Dataset, &scoped)
            .unwrap()
            .unwrap_or_else(|| panic!("{scoped} imported"));
        let Detail::Dataset { schema, .. } = found.detail else {
            panic!("dataset detail")
        };
        let names: Vec<&str> = schema.iter().map(|field: &SchemaField| field.name.as_str()).collect();
        let expected: Vec<&str> = dataset[3]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{scoped}: schema facet");
    }
}

#[test]
fn an_openlineage_file_imports_as_the_pipeline_ran_and_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let summary = import_file(&store);
    assert!(summary.skipped.is_empty(), "{summary}");
    assert_eq!(summary.created("run"), truth()["runs"].as_array().unwrap().len() as u64);
    assert_matches_truth(&store);
    let head = store.head();
    let again = import_file(&store);
    assert_eq!(again.events, 0, "{again}");
    assert_eq!(store.head(), head);
}

#[test]
fn a_bad_line_is_named_and_set_aside_from_the_rest() {
    let scratch = tempfile::tempdir().unwrap();
    let mut events = lines();
    events[5]["run"]["runId"] = json!("not-a-uuid");
    let text: String = events.iter().map(|event| format!("{event}\n")).collect();
    let file = scratch.path().join("broken.ndjson");
    std::fs::write(&file, text).unwrap();
    let read = openlineage::read_file(&file).unwrap();
    assert_eq!(read.events.len(), events.len() - 1, "every other line is an event");
    assert_eq!(read.malformed.len(), 1);
    let error = read.malformed[0].to_string();
    assert!(
        error.contains("broken.ndjson, line 6") && error.contains("not a UUID"),
        "{error}"
    );
    for (mutate, expected) in [
        (json!({ "eventType": "FINISHED" }), "is not one of START"),
        (json!({ "eventTime": "yesterday" }), "not an RFC 3339 time"),
        (json!({ "job": null }), "needs `job`"),
    ] {
        let mut event = events[1].clone();
        for (key, value) in mutate.as_object().unwrap() {
            event[key] = value.clone();
        }
        let reason = openlineage::check(event).unwrap_err();
        assert!(reason.contains(expected), "{reason}");
    }
}

async fn head(server: &Server) -> Value {
    server.data("{ head }", json!({})).await["head"].clone()
}

pub(crate) async fn post(server: &Server, token: &str, query: &str, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .post(format!("{}/api/v1/lineage{query}", server.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_takes_events_as_an_emitter_sends_them_and_honours_access() {
    let mut stranger = String::new();
    let server = Server::start_with(
        |store| {
            demo::fill(store).unwrap();
            store
                .execute(CommandEnvelope::new(
                    id("u-nobody"),
                    Command::RegisterPrincipal(PrincipalRegistered {
                        principal: id("u-nobody"),
                        name: lineage_schema::literal("Nobody"),
                        email: "nobody@example.com".into(),
                    }),
                ))
                .unwrap();
            stranger = lineage_graphql::auth::issue(store, &id("u-nobody"), &id("u-nobody"), "tests")
                .unwrap()
                .secret;
        },
        "u-alex",
        Limits::default(),
        ServerLimits::default(),
    )
    .await;
    let place = "?account=acct-contoso-exp&workspace=ws-churn";
    let events = lines();
    let before = head(&server).await;

    // Refusals change nothing: a bad event in an array, no placement, no token.
    let mut broken = events.clone();
    broken[4]["eventTime"] = json!("not a time");
    let (status, answer) = post(&server, &server.token, place, &Value::Array(broken)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().starts_with("event 5: `eventTime`"),
        "{answer}"
    );
    let (status, answer) = post(&server, &server.token, "", &events[0]).await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("?account="), "{answer}");
    let unauthenticated = server
        .client
        .post(format!("{}/api/v1/lineage{place}", server.url))
        .json(&events[0])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert_eq!(head(&server).await, before, "refused requests store nothing");

    // One event per request, as openlineage-python's HTTP transport sends them.
    let mut appended = 0;
    for event in &events {
        let (status, answer) = post(&server, &server.token, place, event).await;
        assert_eq!(status, 201, "{answer}");
        appended += answer["events"].as_u64().unwrap();
    }
    assert!(appended > 0);
    // Sent again, whole, as an array: nothing new.
    let (status, answer) = post(&server, &server.token, place, &Value::Array(events.clone())).await;
    assert_eq!((status, answer["events"].clone()), (201, json!(0)), "{answer}");

    // Lineage downstream of the raw data reaches the model the training run wrote.
    let truth = truth();
    let datasets = server
        .data(
            "{ entities(kind: DATASET, parent: \"experimentation-account/acct-contoso-exp\", first: 100) { nodes { id name } } }",
            json!({}),
        )
        .await;
    let by_name = |name: &str| {
        datasets["entities"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| node["name"] == name && node["id"].as_str().unwrap().contains("ol-ds"))
            .map(|node| node["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let raw = by_name(truth["datasets"][0][1].as_str().unwrap());
    let model = by_name(truth["datasets"][2][1].as_str().unwrap());
    let walk = server
        .data(
            "query($id: ID!) { lineage(id: $id, direction: DOWNSTREAM) { nodes { id } } }",
            json!({ "id": raw }),
        )
        .await;
    let reached: BTreeSet<&str> = walk["lineage"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    assert!(
        reached.contains(model.as_str()),
        "raw → features → training → model: {reached:?}"
    );

    // A principal that cannot see the account is told it does not exist.
    let (status, answer) = post(&server, &stranger, place, &events[0]).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["code"], "NOT_FOUND");
    server.stop().await;
}
