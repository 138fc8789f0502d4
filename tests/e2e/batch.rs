//! `executeBatch` over HTTP: every command appends through it as through its own mutation,
//! a batch is all or none and names the command that sank it, and bad batches change
//! nothing.

use crate::graphql::{assert_the_story_traces, code, every_command, field_name, input, Server, BOOTSTRAP_EVENTS};
use lineage_graphql::api::Limits;
use lineage_graphql::server::ServerLimits;
use lineage_schema::CommandEnvelope;
use serde_json::{json, Value};

const EXECUTE_BATCH: &str = "mutation($commands: [BatchedCommand!]!) { executeBatch(commands: $commands) { seq stream version duplicate entity { id version } } }";

/// A command as one element of `executeBatch`'s list.
fn batched(command: &CommandEnvelope) -> Value {
    let mut element = json!({ field_name(&command.command): input(&command.command) });
    if let Some(event_id) = &command.event_id {
        element["eventId"] = json!(event_id.to_string());
    }
    if let Some(at) = command.occurred_at {
        element["occurredAt"] = json!(at.to_string());
    }
    element
}

/// Every command of the schema's list, sent in batches of 16, appends the events the
/// single mutations append, in order, each answered as its mutation answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_appends_through_batches_as_through_its_own_mutation() {
    let server = Server::start(false, "admin", Limits::default(), ServerLimits::default()).await;
    let commands = every_command();
    let mut next_seq = BOOTSTRAP_EVENTS + 1;
    for chunk in commands.chunks(16) {
        let list: Vec<Value> = chunk.iter().map(batched).collect();
        let data = server.data(EXECUTE_BATCH, json!({ "commands": list })).await;
        let results = data["executeBatch"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len());
        for (command, result) in chunk.iter().zip(results) {
            let field = field_name(&command.command);
            assert_eq!(result["seq"], json!(next_seq), "{field}");
            assert_eq!(result["stream"], json!(command.command.stream().to_string()), "{field}");
            assert_eq!(result["duplicate"], json!(false), "{field}");
            next_seq += 1;
        }
    }
    assert_eq!(server.data("{ head }", json!({})).await["head"], json!(next_seq - 1));
    // The batches built what the single mutations build.
    assert_the_story_traces(&server).await;
    server.stop().await;
}

/// A later command sees what an earlier one of the same batch did; a refusal anywhere
/// appends nothing and names the command it is about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_all_or_none_and_names_the_command_refused() {
    let server = Server::demo().await;
    let head = || async { server.data("{ head }", json!({})).await["head"].clone() };
    let before = head().await;
    let workspace = json!({ "createWorkspace": { "workspace": "ws-batch", "account": "acct-contoso-exp", "name": "Batch", "description": "" } });
    let project = json!({ "createProject": { "project": "p-batch", "workspace": "ws-batch", "name": "In the batch", "path": "batch" } });
    let finished = json!({ "completeRun": { "run": "r-churn-1" } });

    let refused = server
        .query(EXECUTE_BATCH, json!({ "commands": [workspace, project, finished] }))
        .await;
    assert_eq!(code(&refused), "INVALID_TRANSITION", "{refused}");
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["command"], json!(2), "{refused}");
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("commands[2] (completeRun): "), "{message}");
    assert_eq!(head().await, before, "a refused batch appends nothing");
    let absent = server
        .data(r#"{ node(id: "workspace/ws-batch") { id } }"#, json!({}))
        .await;
    assert!(absent["node"].is_null(), "{absent}");

    // Without the refused command, the project lands in the workspace made just before it.
    let data = server
        .data(EXECUTE_BATCH, json!({ "commands": [workspace, project] }))
        .await;
    let results = data["executeBatch"].as_array().unwrap();
    let first = results[0]["seq"].as_u64().unwrap();
    assert_eq!(first, before.as_u64().unwrap() + 1);
    assert_eq!(results[1]["seq"], json!(first + 1));
    assert_eq!(results[1]["stream"], "project/p-batch");
    assert_eq!(results[1]["version"], json!(1));
    assert_eq!(results[1]["entity"]["id"], "project/p-batch");
    assert_eq!(head().await, json!(first + 1));

    // The same batch again: the ids exist now; the first command is the one refused.
    let again = server
        .query(EXECUTE_BATCH, json!({ "commands": [workspace, project] }))
        .await;
    assert_eq!(code(&again), "ALREADY_EXISTS", "{again}");
    assert_eq!(again["errors"][0]["extensions"]["command"], json!(0));
    assert_eq!(head().await, json!(first + 1));
    server.stop().await;
}

/// Malformed elements, too many commands and an empty list: typed errors, nothing appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_are_refused_with_typed_errors_and_append_nothing() {
    let server = Server::demo().await;
    let before = server.data("{ head }", json!({})).await["head"].clone();
    let complete = json!({ "completeRun": { "run": "r-churn-1" } });
    let two_fields = json!({ "completeRun": { "run": "r-churn-1" }, "failRun": { "run": "r-churn-1", "reason": "x" } });
    let bad_time = json!({ "completeRun": { "run": "r-churn-1" }, "occurredAt": "yesterday" });
    let bad_id = json!({ "completeRun": { "run": "r churn" } });
    let cases: Vec<(Value, &str, Option<u64>, &str)> = vec![
        (
            json!([complete, {}]),
            "INVALID_INPUT",
            Some(1),
            "give one command field",
        ),
        (
            json!([two_fields]),
            "INVALID_INPUT",
            Some(0),
            "not `completeRun` and `failRun`",
        ),
        (json!([bad_time]), "INVALID_INPUT", Some(0), "is not an RFC 3339 time"),
        (json!([bad_id]), "INVALID_INPUT", Some(0), "completeRun input"),
        (
            Value::Array(vec![complete.clone(); 1001]),
            "LIMIT_EXCEEDED",
            None,
            "exceeds the limit of 1000",
        ),
    ];
    for (commands, expected, command, says) in cases {
        let answer = server.query(EXECUTE_BATCH, json!({ "commands": commands })).await;
        assert_eq!(code(&answer), expected, "{answer}");
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["command"].as_u64(), command, "{answer}");
        assert!(error["message"].as_str().unwrap().contains(says), "{answer}");
    }
    let empty = server.data(EXECUTE_BATCH, json!({ "commands": [] })).await;
    assert_eq!(empty["executeBatch"], json!([]));
    assert_eq!(server.data("{ head }", json!({})).await["head"], before);
    server.stop().await;
}
