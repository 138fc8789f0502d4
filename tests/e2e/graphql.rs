//! The GraphQL API through a real server on a loopback port.

use crate::support::id;
use futures_util::{SinkExt, StreamExt};
use lineage_graphql::api::Limits;
use lineage_graphql::server::{serve_until, ServeOptions, ServerLimits};
use lineage_schema::event::*;
use lineage_schema::{Command, CommandEnvelope};
use lineage_store::{demo, Options, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A server on 127.0.0.1:0 over a store in a temporary directory.
pub(crate) struct Server {
    pub url: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub client: reqwest::Client,
    /// The bearer secret of the principal the tests act as.
    pub token: String,
}

impl Server {
    pub(crate) async fn start(fill: bool, actor: &str, limits: Limits, server_limits: ServerLimits) -> Server {
        Self::start_with(
            |store| {
                if fill {
                    demo::fill(store).unwrap();
                }
            },
            actor,
            limits,
            server_limits,
        )
        .await
    }

    /// A server over a store that `prepare` filled before it opened its port.
    pub(crate) async fn start_with(
        prepare: impl FnOnce(&Store),
        actor: &str,
        limits: Limits,
        server_limits: ServerLimits,
    ) -> Server {
        Self::start_witnessed(prepare, actor, limits, server_limits, Default::default()).await
    }

    /// As [`Server::start_with`], asking these witnesses to cosign its checkpoints.
    pub(crate) async fn start_witnessed(
        prepare: impl FnOnce(&Store),
        actor: &str,
        limits: Limits,
        server_limits: ServerLimits,
        witnessing: lineage_graphql::witness::Witnessing,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &Options::default()).unwrap());
        prepare(&store);
        // A store `prepare` gave an administrator keeps it; the token comes from that one.
        let token = match lineage_graphql::auth::bootstrap(&store).unwrap() {
            Some(admin) if actor == "admin" => admin.secret,
            _ => {
                let administrator = lineage_graphql::auth::administrator(&store).unwrap();
                lineage_graphql::auth::issue(&store, &administrator, &id(actor), "tests")
                    .unwrap()
                    .secret
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, address) = oneshot::channel();
        let options = ServeOptions {
            bind: "127.0.0.1:0".into(),
            limits,
            server_limits,
            prices: Default::default(),
            witnessing,
        };
        let task = tokio::spawn(serve_until(
            store,
            options,
            move |address| ready.send(address).unwrap(),
            async move {
                let _ = stopped.await;
            },
        ));
        let address = address.await.unwrap();
        Server {
            url: format!("http://{address}"),
            dir,
            stop: Some(stop),
            task: Some(task),
            client: reqwest::Client::new(),
            token,
        }
    }

    pub(crate) async fn demo() -> Server {
        Self::start(true, "u-alex", Limits::default(), ServerLimits::default()).await
    }

    /// The demo store served to `actor` with the default API limits and these server limits.
    pub(crate) async fn demo_with(actor: &str, server_limits: ServerLimits) -> Server {
        Self::start(true, actor, Limits::default(), server_limits).await
    }

    /// Posts a query; returns the whole JSON answer.
    pub(crate) async fn query(&self, query: &str, variables: Value) -> Value {
        self.query_as(&self.token, query, variables).await
    }

    /// Posts a query with another principal's token; returns the whole JSON answer.
    pub(crate) async fn query_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.url))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Posts a query that must succeed; returns its `data`.
    pub(crate) async fn data(&self, query: &str, variables: Value) -> Value {
        let answer = self.query(query, variables).await;
        assert!(answer.get("errors").is_none(), "{query}: {answer}");
        answer["data"].clone()
    }

    /// Stops the server gracefully and waits until the store is closed.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.take().unwrap().await.unwrap().unwrap();
        self.dir
    }
}

pub(crate) fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {answer}"))
}

// The one command → GraphQL translation, shared with the benchmarks.
pub(crate) use lineage_graphql::api::translate::{mutation_field as field_name, mutation_input as input};

/// A mutation document for one field, with all its arguments as variables.
pub(crate) fn mutation(field: &str) -> String {
    let input_type = field[..1].to_uppercase() + &field[1..] + "Input";
    format!("mutation($input: {input_type}!, $eventId: String, $expectedVersion: Int, $occurredAt: String) {{ {field}(input: $input, eventId: $eventId, expectedVersion: $expectedVersion, occurredAt: $occurredAt) {{ seq stream version duplicate entity {{ id version }} }} }}")
}

/// Events the server's first start appends: the administrator registered, designated
/// and given a token.
pub(crate) const BOOTSTRAP_EVENTS: usize = 3;

/// The demo story acted by one principal (the server acts as one), plus the commands
/// the story does not use, so every mutation runs.
pub(crate) fn every_command() -> Vec<CommandEnvelope> {
    let mut commands = demo::story();
    let extra = [
        Command::ChangeModelManagementPlan(ModelManagementPlanChanged {
            account: id("acct-contoso-mm"),
            plan: Plan {
                tier: Tier::S2,
                units: 2,
            },
        }),
        Command::DesignateStoreAuditor(StoreAuditorDesignated {
            principal: id("u-linus"),
        }),
        Command::DismissStoreAuditor(StoreAuditorDismissed {
            principal: id("u-linus"),
        }),
        Command::QueueRun(RunQueued {
            run: id("r-later"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            parent: None,
        }),
        Command::CancelRun(RunCanceled { run: id("r-later") }),
        Command::DetachComputeTarget(ComputeTargetDetached {
            target: id("ct-docker"),
        }),
        Command::RevokeWorkspaceAccess(WorkspaceAccessRevoked {
            workspace: id("ws-churn"),
            principal: id("u-margaret"),
        }),
        Command::DeleteEnvironment(EnvironmentDeleted {
            environment: id("env-staging"),
        }),
        Command::SetExperimentTags(ExperimentTagsSet {
            experiment: id("e-train"),
            tags: vec![Tag {
                key: "team".into(),
                value: "growth".into(),
            }],
        }),
        Command::DeleteRun(RunDeleted { run: id("r-later") }),
        Command::RestoreRun(RunRestored { run: id("r-later") }),
        Command::DeleteExperiment(ExperimentDeleted {
            experiment: id("e-train"),
        }),
        Command::RestoreExperiment(ExperimentRestored {
            experiment: id("e-train"),
        }),
        Command::SetModelTags(ModelTagsSet {
            model: id("m-churn"),
            tags: vec![Tag {
                key: "domain".into(),
                value: "churn".into(),
            }],
        }),
        Command::SetModelAlias(ModelAliasSet {
            model: id("m-churn"),
            alias: "champion".into(),
            version: 2,
        }),
        Command::RemoveModelAlias(ModelAliasRemoved {
            model: id("m-churn"),
            alias: "champion".into(),
        }),
        Command::RecordDatasetSchema(DatasetSchemaRecorded {
            dataset: id("d-usage"),
            fields: vec![SchemaField {
                name: "minutes".into(),
                data_type: "double".into(),
                description: Some("minutes used in the month".into()),
            }],
        }),
        Command::RenameExperiment(ExperimentRenamed {
            experiment: id("e-train"),
            name: id("training, renamed"),
        }),
        Command::SetRunTags(RunTagsSet {
            run: id("r-later"),
            tags: vec![Tag {
                key: "stage".into(),
                value: "review".into(),
            }],
        }),
        Command::DeleteRunTag(RunTagDeleted {
            run: id("r-later"),
            key: "stage".into(),
        }),
        Command::RecordArtifacts(ArtifactsRecorded {
            run: id("r-later"),
            artifacts: vec![Artifact {
                path: "scratch/notes.txt".into(),
                size: 5,
                digest: lineage_schema::Digest::of(b"notes"),
            }],
        }),
        Command::DeleteArtifacts(ArtifactsDeleted {
            run: id("r-later"),
            paths: vec!["scratch".into()],
        }),
        Command::LogModel(ModelLogged {
            run: id("r-later"),
            number: 1,
            name: "model".into(),
            model_type: "sklearn".into(),
            params: vec![Param {
                key: "alpha".into(),
                value: "0.5".into(),
            }],
            tags: vec![],
        }),
        Command::FinalizeLoggedModel(LoggedModelFinalized {
            run: id("r-later"),
            number: 1,
            status: LoggedModelStatus::Ready,
        }),
        Command::SetLoggedModelTags(LoggedModelTagsSet {
            run: id("r-later"),
            number: 1,
            tags: vec![Tag {
                key: "stage".into(),
                value: "candidate".into(),
            }],
        }),
        Command::DeleteLoggedModelTag(LoggedModelTagDeleted {
            run: id("r-later"),
            number: 1,
            key: "stage".into(),
        }),
        Command::LogLoggedModelParams(LoggedModelParamsLogged {
            run: id("r-later"),
            number: 1,
            params: vec![Param {
                key: "l1_ratio".into(),
                value: "0.1".into(),
            }],
        }),
        Command::RecordModelOutput(ModelOutputRecorded {
            run: id("r-later"),
            number: 1,
            step: 3,
        }),
        Command::DeleteLoggedModel(LoggedModelDeleted {
            run: id("r-later"),
            number: 1,
        }),
        Command::DescribeModelVersion(ModelVersionDescribed {
            model: id("m-churn"),
            version: 1,
            description: "Trained on October's usage".into(),
        }),
        Command::DeleteModelVersion(ModelVersionDeleted {
            model: id("m-churn"),
            version: 2,
        }),
        Command::CreateModel(ModelCreated {
            model: id("m-retired"),
            account: id("acct-contoso-mm"),
            name: id("retired"),
            description: String::new(),
        }),
        Command::DeleteModel(ModelDeleted { model: id("m-retired") }),
        Command::RecordRunInputs(RunInputsRecorded {
            run: id("r-later"),
            datasets: vec![id("d-usage")],
        }),
        Command::TagRunInput(RunInputTagged {
            run: id("r-later"),
            dataset: id("d-usage"),
            tags: vec![Tag {
                key: "mlflow.data.context".into(),
                value: "training".into(),
            }],
        }),
        Command::RenameModel(ModelRenamed {
            model: id("m-churn"),
            name: id("churn model, renamed"),
        }),
        Command::DescribeModel(ModelDescribed {
            model: id("m-churn"),
            description: "Predicts churn".into(),
        }),
        Command::DeleteModelTag(ModelTagDeleted {
            model: id("m-churn"),
            key: "domain".into(),
        }),
        Command::SetModelVersionTags(ModelVersionTagsSet {
            model: id("m-churn"),
            version: 1,
            tags: vec![Tag {
                key: "review".into(),
                value: "pending".into(),
            }],
        }),
        Command::DeleteModelVersionTag(ModelVersionTagDeleted {
            model: id("m-churn"),
            version: 1,
            key: "review".into(),
        }),
    ];
    commands.extend(
        extra
            .into_iter()
            .map(|command| CommandEnvelope::new(id("u-alex"), command)),
    );
    for command in &mut commands {
        command.actor = id("u-alex");
    }
    // Alex registers first, so he may register everyone else.
    let alex = commands
        .iter()
        .position(|c| matches!(&c.command, Command::RegisterPrincipal(p) if p.principal.as_str() == "u-alex"))
        .unwrap();
    let first = commands.remove(alex);
    commands.insert(0, first);
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_appends_through_http_and_the_result_matches_the_store() {
    let server = Server::start(false, "admin", Limits::default(), ServerLimits::default()).await;
    let mut seen = BTreeSet::new();
    for (index, command) in every_command().into_iter().enumerate() {
        let field = field_name(&command.command);
        let variables = json!({ "input": input(&command.command), "eventId": command.event_id.as_ref().map(|id| id.to_string()), "occurredAt": command.occurred_at.map(|at| at.to_string()) });
        let data = server.data(&mutation(&field), variables).await;
        let result = &data[&field];
        assert_eq!(result["seq"], json!(index + 1 + BOOTSTRAP_EVENTS), "{field}");
        assert_eq!(result["stream"], json!(command.command.stream().to_string()));
        assert_eq!(result["duplicate"], json!(false));
        seen.insert(field);
    }

    // The access mutations: a token for Ada, a second administrator, and Ada's token revoked.
    let issued = server
        .data(
            "mutation { issueToken(principal: \"u-ada\", label: \"laptop\") { token secret } }",
            json!({}),
        )
        .await;
    let (token, secret) = (
        issued["issueToken"]["token"].as_str().unwrap(),
        issued["issueToken"]["secret"].as_str().unwrap(),
    );
    let as_ada = || {
        server
            .client
            .post(format!("{}/graphql", server.url))
            .bearer_auth(secret)
            .json(&json!({ "query": "{ head }" }))
            .send()
    };
    assert_eq!(as_ada().await.unwrap().status(), reqwest::StatusCode::OK);
    server
        .data(
            "mutation { designateAdministrator(principal: \"u-grace\") { seq } }",
            json!({}),
        )
        .await;
    server
        .data(
            &format!("mutation {{ revokeToken(principal: \"u-ada\", token: \"{token}\") {{ seq }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        as_ada().await.unwrap().status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "a revoked token is refused at once"
    );
    let role = json!({ "principal": "u-linus", "account": "acct-contoso-mm", "role": "AUDITOR" });
    server.data(&mutation("grantRole"), json!({ "input": role })).await;
    server.data(&mutation("revokeRole"), json!({ "input": role })).await;
    // The same two in one batch (every command through `executeBatch`: batch.rs).
    let both = server
        .data(
            "mutation($commands: [BatchedCommand!]!) { executeBatch(commands: $commands) { stream } }",
            json!({ "commands": [{ "grantRole": role }, { "revokeRole": role }] }),
        )
        .await;
    assert_eq!(
        both["executeBatch"],
        json!([{ "stream": "principal/u-linus" }, { "stream": "principal/u-linus" }])
    );
    seen.extend(
        [
            "issueToken",
            "designateAdministrator",
            "revokeToken",
            "grantRole",
            "revokeRole",
            "executeBatch",
        ]
        .map(String::from),
    );

    let fields = server
        .data("{ __type(name: \"Mutation\") { fields { name } } }", json!({}))
        .await;
    let declared: BTreeSet<String> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, declared, "every mutation in the schema was exercised");

    // Every mutation left an audit entry naming the principal whose token it came with.
    let sent = every_command().len() + 7;
    let audit = server
        .data(
            "{ audit(actor: \"admin\", first: 500) { edges { node { seq actor } } } }",
            json!({}),
        )
        .await;
    let entries = audit["audit"]["edges"].as_array().unwrap();
    assert_eq!(entries.len(), sent + BOOTSTRAP_EVENTS);
    assert!(entries.iter().all(|entry| entry["node"]["actor"] == "admin"));

    assert_the_story_traces(&server).await;
    server.stop().await;
}

/// The demo story's lineage is whole: its service traces back to the run that trained it.
pub(crate) async fn assert_the_story_traces(server: &Server) {
    let trace = server.data(r#"{ trace(service: "service/svc-churn") { image { imageVersion manifest { models { modelVersion run { run revision } } } } } }"#, json!({})).await;
    assert_eq!(trace["trace"]["image"]["imageVersion"], "image/img-churn@3");
    assert_eq!(
        trace["trace"]["image"]["manifest"]["models"][0]["run"]["run"],
        "run/r-churn-3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_answer_with_stable_error_codes_and_append_nothing() {
    let server = Server::demo().await;
    let head = server.data("{ head }", json!({})).await["head"].clone();
    let cases = [
        ("completeRun", json!({ "run": "r-churn-1" }), None, "INVALID_TRANSITION"),
        ("completeRun", json!({ "run": "r-nope" }), None, "NOT_FOUND"),
        (
            "scaleService",
            json!({ "service": "svc-churn", "replicas": 2 }),
            Some(1),
            "CONFLICT",
        ),
        (
            "scaleService",
            json!({ "service": "svc-churn", "replicas": "two" }),
            None,
            "INVALID_INPUT",
        ),
        (
            "scaleService",
            json!({ "service": "svc churn", "replicas": 2 }),
            None,
            "INVALID_INPUT",
        ),
        (
            "createWorkspace",
            json!({ "workspace": "ws-x", "account": "acct-contoso-exp", "name": "Customer churn", "description": "" }),
            None,
            "DUPLICATE_NAME",
        ),
        (
            "logMetrics",
            json!({ "run": "r-churn-1", "points": [] }),
            None,
            "INVALID_INPUT",
        ),
    ];
    for (field, input, expected_version, expected) in cases {
        let answer = server
            .query(
                &mutation(field),
                json!({ "input": input, "expectedVersion": expected_version }),
            )
            .await;
        assert_eq!(code(&answer), expected, "{field} {input}: {answer}");
    }
    assert_eq!(
        server.data("{ head }", json!({})).await["head"],
        head,
        "refused mutations appended"
    );
    let answer = server.query("{ nosuchfield }", json!({})).await;
    assert_eq!(code(&answer), "GRAPHQL_VALIDATION_FAILED");
    let answer = server.query("{ node(id: \"planet/x\") { id } }", json!({})).await;
    assert_eq!(code(&answer), "INVALID_INPUT");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_runs_and_events_cover_everything_once() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = server.data("query($after: String) { entities(kind: RUN, first: 3, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }", json!({ "after": after })).await;
        let page = &data["entities"];
        ids.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|edge| edge["node"]["id"].as_str().unwrap().to_string()),
        );
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "pages are in id order without repeats");
    assert_eq!(ids.len(), 8);

    let mut seqs = Vec::new();
    let mut after = 0u64;
    loop {
        let data = server.data("query($after: Int!) { events(after: $after, first: 50) { edges { node { seq } } pageInfo { hasNextPage } } }", json!({ "after": after })).await;
        let edges = data["events"]["edges"].as_array().unwrap().clone();
        seqs.extend(edges.iter().map(|edge| edge["node"]["seq"].as_u64().unwrap()));
        after = *seqs.last().unwrap();
        if !data["events"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
    }
    let head = server.data("{ head }", json!({})).await["head"].as_u64().unwrap();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());

    let failed = server
        .data(
            "{ runs(status: FAILED) { edges { node { id failureReason } } } }",
            json!({}),
        )
        .await;
    assert_eq!(failed["runs"]["edges"].as_array().unwrap().len(), 1);
    let good = server.data("{ runs(metric: { name: \"auc\", min: 0.85 }, experiment: \"experiment/e-sweep\") { edges { node { id } } } }", json!({})).await;
    assert_eq!(good["runs"]["edges"][0]["node"]["id"], "run/r-sweep-2");
    let prod = server
        .data(
            "{ services(environment: \"environment/env-prod\", state: RUNNING) { edges { node { id image } } } }",
            json!({}),
        )
        .await;
    assert_eq!(prod["services"]["edges"][0]["node"]["image"], "image/img-churn@3");
    let tagged = server
        .data(
            "{ models(tag: { key: \"stage\", value: \"archived\" }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(tagged["models"]["edges"][0]["node"]["id"], "model/m-churn");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_trace_impact_and_history_answer_over_http() {
    let server = Server::demo().await;
    let before = server
        .data(
            r#"{ trace(service: "svc-churn", asOf: { time: "2026-03-05T00:00:00Z" }) { image { imageVersion } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(before["trace"]["image"]["imageVersion"], "image/img-churn@1");
    let impact = server
        .data(
            r#"{ impact(id: "dataset/d-customers-v2") { modelVersions imageVersions services } }"#,
            json!({}),
        )
        .await;
    assert_eq!(impact["impact"]["modelVersions"], json!(["model/m-churn@2"]));
    assert_eq!(impact["impact"]["services"], json!(["service/svc-churn"]));
    let graph = server.data(r#"{ lineage(id: "service/svc-churn", direction: UPSTREAM, depth: 2, edgeKinds: [RUNS, BUILT_FROM]) { nodes { id depth } edges { from kind to } truncated } }"#, json!({})).await;
    let nodes: Vec<&str> = graph["lineage"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["service/svc-churn", "image/img-churn@3", "manifest/mf-churn@2"]);
    let history = server.data(r#"{ history(id: "service/svc-churn", first: 2) { edges { node { type version } } pageInfo { hasNextPage } } }"#, json!({})).await;
    assert_eq!(history["history"]["edges"][0]["node"]["type"], "ServiceDeployed");
    assert_eq!(history["history"]["pageInfo"]["hasNextPage"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_answers_over_graphql_and_exports_as_csv_and_ndjson() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let scaled = server.data("{ audit(account: \"acct-contoso-mm\", type: \"ServiceScaled\") { edges { node { seq actor stream hash payload } } } }", json!({})).await;
    let entries = scaled["audit"]["edges"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["node"]["actor"], "u-alex");
    assert_eq!(entries[0]["node"]["payload"]["replicas"], 5);
    let trail = server
        .data(
            "{ auditTrail(entity: \"service/svc-churn\", first: 100) { edges { node { seq } } } }",
            json!({}),
        )
        .await;
    let history = server
        .data(
            "{ history(id: \"service/svc-churn\", first: 100) { edges { node { seq } } } }",
            json!({}),
        )
        .await;
    assert_eq!(trail["auditTrail"]["edges"], history["history"]["edges"]);

    let get = |query: &str| {
        server
            .client
            .get(format!("{}/audit?{query}", server.url))
            .bearer_auth(&server.token)
            .send()
    };
    let csv = get("entity=service/svc-churn").await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], lineage_graphql::export::CSV_HEADER.trim_end());
    assert_eq!(lines.len(), 1 + trail["auditTrail"]["edges"].as_array().unwrap().len());
    let ndjson = get("account=acct-fabrikam-exp&format=ndjson")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in ndjson.lines() {
        let envelope: lineage_schema::Envelope = serde_json::from_str(line).unwrap();
        assert_eq!(envelope.account.as_ref().map(|a| a.as_str()), Some("acct-fabrikam-exp"));
        assert_eq!(envelope.compute_hash(), envelope.hash, "an exported event verifies");
    }
    assert!(ndjson.lines().count() > 5);
    let bad = get("format=xml").await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let bad = get("from=yesterday").await.unwrap();
    assert!(bad.text().await.unwrap().contains("not an RFC 3339 time"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_over_http_verify_against_a_checkpoint() {
    use lineage_schema::merkle::{verify_consistency, verify_inclusion};
    use lineage_schema::Digest;
    let server = Server::demo().await;
    let hex = |value: &Value| Digest::from_hex(value.as_str().unwrap()).unwrap();
    let path = |value: &Value| value.as_array().unwrap().iter().map(hex).collect::<Vec<_>>();
    let checkpoint = server
        .data("{ checkpoint { size root publicKey signature } }", json!({}))
        .await["checkpoint"]
        .clone();
    let size = checkpoint["size"].as_u64().unwrap();
    let root = hex(&checkpoint["root"]);
    for seq in [1, 40, size] {
        let proof = server
            .data(
                "query($seq: Int!) { inclusionProof(seq: $seq) { treeSize eventHash root path } }",
                json!({ "seq": seq }),
            )
            .await["inclusionProof"]
            .clone();
        assert_eq!(hex(&proof["root"]), root);
        assert!(
            verify_inclusion(seq - 1, size, &hex(&proof["eventHash"]), &path(&proof["path"]), &root),
            "seq {seq}"
        );
    }
    // The log grows; the old checkpoint stays provably a prefix of it.
    server
        .data(
            &mutation("scaleService"),
            json!({ "input": { "service": "svc-churn", "replicas": 2 } }),
        )
        .await;
    let proof = server
        .data(
            "query($from: Int!) { consistencyProof(from: $from) { to toRoot fromRoot path } }",
            json!({ "from": size }),
        )
        .await["consistencyProof"]
        .clone();
    assert_eq!(hex(&proof["fromRoot"]), root);
    assert!(verify_consistency(
        size,
        proof["to"].as_u64().unwrap(),
        &root,
        &hex(&proof["toRoot"]),
        &path(&proof["path"])
    ));
    let answer = server
        .query("{ inclusionProof(seq: 100000) { root } }", json!({}))
        .await;
    assert_eq!(code(&answer), "INVALID_INPUT");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_receives_events_appended_by_a_concurrent_mutation() {
    let server = Server::demo().await;
    let ws_url = format!("{}/graphql/ws", server.url.replace("http://", "ws://"));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url).unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {}", server.token).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use tokio_tungstenite::tungstenite::Message;
    socket
        .send(Message::Text(json!({ "type": "connection_init" }).to_string().into()))
        .await
        .unwrap();
    let ack: Value = serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { events(stream: \"service/svc-churn\") { seq type stream } }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    // Give the subscription a moment to register before the mutation runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = server
        .data(
            &mutation("setRunTags"),
            json!({ "input": { "run": "r-churn-1", "tags": [{ "key": "k", "value": "v" }] } }),
        )
        .await;
    let mine = server
        .data(
            &mutation("scaleService"),
            json!({ "input": { "service": "svc-churn", "replicas": 6 } }),
        )
        .await;
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(message["type"], "next");
    let event = &message["payload"]["data"]["events"];
    assert_eq!(
        event["seq"], mine["scaleService"]["seq"],
        "the filtered subscription skipped {other}"
    );
    assert_eq!(event["type"], "ServiceScaled");
    drop(socket);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_rejects_an_abusive_request_with_a_clear_message() {
    let tight = Limits {
        max_depth: 6,
        max_complexity: 60,
        max_page: 20,
    };
    let server = Server::start(
        true,
        "u-alex",
        tight,
        ServerLimits {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            ..ServerLimits::default()
        },
    )
    .await;
    let deep = "{ run(id: \"r-churn-1\") { entity { asRun { entity { asRun { entity { asRun { id } } } } } } } }";
    let answer = server.query(deep, json!({})).await;
    assert_eq!(code(&answer), "LIMIT_EXCEEDED", "{answer}");
    assert!(answer["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));
    let wide = format!(
        "{{ {} }}",
        (0..80).map(|i| format!("h{i}: head")).collect::<Vec<_>>().join(" ")
    );
    assert_eq!(code(&server.query(&wide, json!({})).await), "LIMIT_EXCEEDED");
    let answer = server
        .query("{ entities(kind: RUN, first: 1000) { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(code(&answer), "LIMIT_EXCEEDED");
    assert!(answer["errors"][0]["message"].as_str().unwrap().contains("at most 20"));
    let answer = server
        .query(
            "{ lineage(id: \"run/r-churn-1\", depth: 1000) { truncated } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&answer), "LIMIT_EXCEEDED");
    let huge = "x".repeat(128 * 1024);
    let response = server
        .client
        .post(format!("{}/graphql", server.url))
        .bearer_auth(&server.token)
        .json(&json!({ "query": format!("{{ head }} # {huge}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await;

    let slow = Server::start(
        true,
        "u-alex",
        Limits::default(),
        ServerLimits {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_nanos(1),
            ..ServerLimits::default()
        },
    )
    .await;
    let answer = slow
        .query("{ events(first: 500) { edges { node { payload } } } }", json!({}))
        .await;
    assert_eq!(code(&answer), "LIMIT_EXCEEDED", "{answer}");
    slow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_metrics_and_the_console_are_served() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let get = |path: &str| {
        server
            .client
            .get(format!("{}{path}", server.url))
            .bearer_auth(&server.token)
            .send()
    };
    assert_eq!(get("/healthz").await.unwrap().text().await.unwrap(), "ok\n");
    assert_eq!(get("/readyz").await.unwrap().status(), reqwest::StatusCode::OK);
    server.data("query Heads { head }", json!({})).await;
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("lineage_graphql_requests_total{operation=\"Heads\"} 1"),
        "{metrics}"
    );
    let head = server.data("{ head }", json!({})).await["head"].as_u64().unwrap();
    assert!(metrics.contains(&format!("lineage_log_head_seq {head}")));
    let console = get("/graphql").await.unwrap().text().await.unwrap();
    assert!(console.contains("<div id=\"graphiql\""), "GraphiQL's page");
    let loaded: Vec<&str> = console
        .split(['"', '\''])
        .filter(|word| word.ends_with(".js") || word.ends_with(".css"))
        .collect();
    assert_eq!(loaded.len(), 4, "{loaded:?}");
    for asset in loaded {
        assert!(
            asset.starts_with("/assets/graphiql/"),
            "the console loads nothing from elsewhere: {asset}"
        );
        let served = get(asset).await.unwrap();
        assert_eq!(served.status(), reqwest::StatusCode::OK, "{asset}");
        assert!(served.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
    }
    assert_eq!(
        get("/assets/graphiql/other.js").await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND
    );
    // The explorer's page loads its style, dagre and its modules from here only; its own
    // files are checked again on each load (they change with the binary) and answered
    // 304 while unchanged.
    let page = get("/").await.unwrap().text().await.unwrap();
    let loaded: Vec<&str> = page
        .split(['"', '\''])
        .filter(|word| word.ends_with(".js") || word.ends_with(".css"))
        .collect();
    assert_eq!(
        loaded,
        [
            "/assets/explorer/explorer.css",
            "/assets/dagre/dagre.min.js",
            "/assets/explorer/page.js"
        ]
    );
    let dagre = get("/assets/dagre/dagre.min.js").await.unwrap();
    assert!(dagre.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(dagre.text().await.unwrap().contains("graphlib"));
    let module = get("/assets/explorer/page.js").await.unwrap();
    assert_eq!(module.status(), reqwest::StatusCode::OK);
    assert_eq!(module.headers()["cache-control"], "no-cache");
    assert!(module.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let tag = module.headers()["etag"].to_str().unwrap().to_string();
    let imports: Vec<String> = module
        .text()
        .await
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("import "))
        .map(|line| line.split('"').nth(1).unwrap().trim_start_matches("./").to_string())
        .collect();
    assert!(imports.len() >= 4, "{imports:?}");
    for import in imports {
        let served = get(&format!("/assets/explorer/{import}")).await.unwrap();
        assert_eq!(served.status(), reqwest::StatusCode::OK, "{import}");
    }
    let again = server
        .client
        .get(format!("{}/assets/explorer/page.js", server.url))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::NOT_MODIFIED);
    assert_eq!(
        get("/assets/explorer/../../Cargo.toml").await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_loses_no_acknowledged_mutation() {
    let server = Server::demo().await;
    let url = format!("{}/graphql", server.url);
    let mut clients = Vec::new();
    for client in 0..8 {
        let (url, token) = (url.clone(), server.token.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            for step in 0..2000 {
                let event_id = format!("load-{client}-{step}");
                let body = json!({ "query": mutation("logMetrics"), "variables": {
                    "input": { "run": "r-churn-1", "points": [{ "name": "load", "value": step, "step": step, "timestamp": "2026-03-02T10:00:00Z" }] },
                    "eventId": event_id } });
                let Ok(response) = http.post(&url).bearer_auth(&token).json(&body).send().await else { break };
                let Ok(answer) = response.json::<Value>().await else { break };
                if let Some(seq) = answer["data"]["logMetrics"]["seq"].as_u64() {
                    acknowledged.push((event_id, seq));
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let dir = server.stop().await;
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "no mutation was acknowledged before the shutdown"
    );
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    for (event_id, seq) in &acknowledged {
        assert_eq!(
            store.seq_of_event(&id("u-alex"), &id(event_id)).unwrap(),
            Some(*seq),
            "acknowledged {event_id} lost"
        );
    }
    assert_eq!(store.opened().log.cut_bytes, 0, "the log was left with a torn tail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_refused_except_health_checks() {
    let server = Server::demo().await;
    let post = |token: Option<&str>| {
        let request = server
            .client
            .post(format!("{}/graphql", server.url))
            .json(&json!({ "query": "{ head }" }));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    for token in [None, Some("lin_not-a-token"), Some("")] {
        let response = post(token).await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    for path in ["/metrics", "/audit"] {
        let response = server.client.get(format!("{}{path}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/healthz", "/readyz", "/graphql"] {
        let response = server.client.get(format!("{}{path}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path} needs no token");
    }
    // The actor is the token's principal, whatever the request says.
    let appended = server
        .data(
            &mutation("scaleService"),
            json!({ "input": { "service": "svc-churn", "replicas": 3 } }),
        )
        .await;
    let seq = appended["scaleService"]["seq"].as_u64().unwrap();
    let event = server
        .data(
            "query($after: Int!) { events(after: $after, first: 1) { edges { node { actor } } } }",
            json!({ "after": seq - 1 }),
        )
        .await;
    assert_eq!(event["events"]["edges"][0]["node"]["actor"], "u-alex");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_authenticate_subscriptions_in_connection_init() {
    use tokio_tungstenite::tungstenite::Message;
    let server = Server::demo().await;
    let connect = || async {
        let url = format!("{}/graphql/ws", server.url.replace("http://", "ws://"));
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    let mut socket = connect().await;
    socket
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", server.token) } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ack: Value = serde_json::from_str(socket.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");

    let mut refused = connect().await;
    refused
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": {} }).to_string().into(),
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), refused.next())
        .await
        .unwrap();
    let acked = matches!(&answer, Some(Ok(Message::Text(text))) if text.contains("connection_ack"));
    assert!(!acked, "a connection without a token is not acknowledged: {answer:?}");
    server.stop().await;
}

/// A principal with access only to Fabrikam walks every root field of the schema with
/// arguments naming Contoso's entities, and learns nothing of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_learns_nothing_of_an_account_where_it_holds_no_role() {
    let server = Server::start(true, "u-grace", Limits::default(), ServerLimits::default()).await;
    // Every Contoso id that must not appear in any answer's data.
    let secret: Vec<String> = {
        let store = Store::open(tempfile::tempdir().unwrap().path(), &Options::default()).unwrap();
        demo::fill(&store).unwrap();
        let mut ids = Vec::new();
        for kind in lineage_schema::EntityKind::ALL {
            for entity in store.entities(kind, None, 1000).unwrap() {
                if entity
                    .account
                    .as_ref()
                    .is_some_and(|account| account.as_str().contains("contoso"))
                {
                    ids.push(entity.reference.id.to_string());
                }
            }
        }
        ids.extend(["sub-contoso".to_string(), "u-alex".to_string(), "Contoso".to_string()]);
        ids
    };
    let probes: Vec<(&str, String)> = vec![
        ("node", r#"{ node(id: "service/svc-churn") { id name } }"#.into()),
        ("entities", r#"{ a: entities(kind: RUN) { edges { node { id account } } } b: entities(kind: RUN, parent: "experiment/e-train") { edges { node { id } } } c: entities(kind: SUBSCRIPTION) { edges { node { id name } } } d: entities(kind: PRINCIPAL) { edges { node { id } } } }"#.into()),
        ("run", r#"{ run(id: "r-churn-1") { id metrics { name } } }"#.into()),
        ("runs", r#"{ a: runs { edges { node { id } } } b: runs(experiment: "e-train") { edges { node { id } } } c: runs(account: "acct-contoso-exp", tag: { key: "k", value: "v" }) { edges { node { id } } } }"#.into()),
        ("experiment", r#"{ a: experiment(id: "e-train") { id name runs { id } } b: run(id: "r-churn-1") { experiment { name } } }"#.into()),
        ("model", r#"{ model(id: "m-churn") { id versions { id runId run { id params { key } } } } }"#.into()),
        ("models", r#"{ models { edges { node { id } } } }"#.into()),
        ("service", r#"{ service(id: "svc-churn") { id url } }"#.into()),
        ("services", r#"{ services { edges { node { id } } } }"#.into()),
        ("lineage", r#"{ a: lineage(id: "service/svc-churn") { nodes { id } } b: lineage(id: "dataset/d-transactions", direction: BOTH, depth: 10) { nodes { id } edges { from to } } }"#.into()),
        ("trace", r#"{ a: trace(service: "svc-churn") { service } b: trace(service: "svc-fraud") { image { imageVersion manifest { models { run { run datasets } } } } } }"#.into()),
        ("impact", r#"{ a: impact(id: "dataset/d-customers-v1") { services } b: impact(id: "dataset/d-transactions") { modelVersions services } }"#.into()),
        ("history", r#"{ history(id: "service/svc-churn") { edges { node { seq } } } }"#.into()),
        ("events", r#"{ a: events(first: 500) { edges { node { seq stream account actor payload } } } b: events(account: "acct-contoso-exp") { edges { node { seq } } } }"#.into()),
        ("checkpoint", r#"{ checkpoint { size root } }"#.into()),
        ("inclusionProof", r#"{ inclusionProof(seq: 30) { eventHash } }"#.into()),
        ("consistencyProof", r#"{ consistencyProof(from: 10) { path } }"#.into()),
        ("audit", r#"{ a: audit(first: 500) { edges { node { seq stream payload } } } b: audit(account: "acct-contoso-exp") { edges { node { seq } } } }"#.into()),
        ("auditTrail", r#"{ auditTrail(entity: "service/svc-churn") { edges { node { seq } } } }"#.into()),
        ("head", r#"{ head }"#.into()),
        ("bill", r#"{ bill(account: "acct-contoso-exp", month: "2026-03") { total lines { description } seats { principal } } }"#.into()),
    ];
    let fields = server
        .data("{ __type(name: \"Query\") { fields { name } } }", json!({}))
        .await;
    let roots: BTreeSet<String> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap().to_string())
        .collect();
    let probed: BTreeSet<String> = probes.iter().map(|(field, _)| field.to_string()).collect();
    assert_eq!(probed, roots, "every root field is probed");
    for (field, query) in &probes {
        let answer = server.query(query, json!({})).await;
        let data = answer["data"].to_string();
        for id in &secret {
            assert!(
                !data.contains(&format!("\"{id}")) && !data.contains(&format!("/{id}")),
                "{field} revealed {id}: {data}"
            );
        }
        for error in answer["errors"].as_array().into_iter().flatten() {
            let code = error["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                code == "NOT_FOUND" || code == "INVALID_INPUT",
                "{field} answered {code}: {error}"
            );
        }
    }
    // Fabrikam is there for Grace, whole.
    let own = server
        .data(
            r#"{ trace(service: "svc-fraud") { image { manifest { models { run { run datasets } } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        own["trace"]["image"]["manifest"]["models"][0]["run"]["run"],
        "run/r-fraud-1"
    );
    // Writes into Contoso are NOT_FOUND too, never a hint.
    for (field, input) in [
        ("scaleService", json!({ "service": "svc-churn", "replicas": 2 })),
        (
            "createWorkspace",
            json!({ "workspace": "ws-x", "account": "acct-contoso-exp", "name": "X", "description": "" }),
        ),
        (
            "createModel",
            json!({ "model": "m-x", "account": "acct-contoso-mm", "name": "X", "description": "" }),
        ),
    ] {
        let answer = server.query(&mutation(field), json!({ "input": input })).await;
        assert_eq!(code(&answer), "NOT_FOUND", "{field}: {answer}");
    }
    let export = server
        .client
        .get(format!("{}/audit?format=ndjson", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in &secret {
        assert!(!export.contains(&format!("\"{id}")), "the audit export revealed {id}");
    }
    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), reqwest::StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_adds_up_and_every_line_names_its_events() {
    let server = Server::demo().await;
    let bill = server.data(r#"{ bill(account: "acct-contoso-exp", month: "2026-03") { currency total running lines { description quantity unit unitPrice pricePer daysInMonth amount events } seats { principal days } } }"#, json!({})).await["bill"].clone();
    let lines = bill["lines"].as_array().unwrap();
    let sum: i64 = lines.iter().map(|line| line["amount"].as_i64().unwrap()).sum();
    assert_eq!(bill["total"].as_i64().unwrap(), sum);
    assert!(
        lines.iter().all(|line| !line["events"].as_array().unwrap().is_empty()),
        "every line names its events"
    );
    let seats = lines
        .iter()
        .find(|line| line["description"].as_str().unwrap().starts_with("seats"))
        .unwrap();
    assert_eq!(bill["running"], false, "March is over");
    assert_eq!(
        (
            &seats["quantity"],
            &seats["unit"],
            &seats["pricePer"],
            &seats["daysInMonth"]
        ),
        (&json!("6"), &json!("seat-days"), &json!("seat-month"), &json!(31)),
        "the seat line's unit price is a month's, billed for 6/31 of it"
    );
    // The events behind the seat line are the seat assignments and the revocation.
    for seq in seats["events"].as_array().unwrap() {
        let event = server
            .data(
                "query($after: Int!) { events(after: $after, first: 1) { edges { node { type } } } }",
                json!({ "after": seq.as_u64().unwrap() - 1 }),
            )
            .await;
        let kind = event["events"]["edges"][0]["node"]["type"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(kind == "SeatAssigned" || kind == "SeatRevoked", "{kind}");
    }
    assert_eq!(bill["seats"].as_array().unwrap().len(), 3);
    let answer = server
        .query(
            r#"{ bill(account: "acct-contoso-exp", month: "March") { total } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&answer), "INVALID_INPUT");
    server.stop().await;
}

/// An auditor's token on the demo story reads the audit trail and the bill of its account,
/// and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_its_accounts_audit_trail_and_bill_and_nothing_else() {
    let admin = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    admin
        .data(
            &mutation("registerPrincipal"),
            json!({ "input": { "principal": "u-audrey", "name": "Audrey Auditor", "email": "audrey@audit.example" } }),
        )
        .await;
    admin
        .data(
            &mutation("grantRole"),
            json!({ "input": { "principal": "u-audrey", "account": "acct-contoso-exp", "role": "AUDITOR" } }),
        )
        .await;
    let issued = admin
        .data(
            "mutation { issueToken(principal: \"u-audrey\", label: \"audit 2026\") { secret } }",
            json!({}),
        )
        .await;
    let auditor = Server {
        token: issued["issueToken"]["secret"].as_str().unwrap().to_string(),
        ..admin
    };

    let trail = auditor
        .data(
            "{ audit(account: \"acct-contoso-exp\", first: 500) { edges { node { seq actor hash } } } }",
            json!({}),
        )
        .await;
    assert!(trail["audit"]["edges"].as_array().unwrap().len() > 20);
    let all = auditor
        .data("{ audit(first: 500) { edges { node { account } } } }", json!({}))
        .await;
    assert!(all["audit"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|entry| entry["node"]["account"] == "acct-contoso-exp" || entry["node"]["account"].is_null()));
    let bill = auditor
        .data(
            "{ bill(account: \"acct-contoso-exp\", month: \"2026-03\") { total lines { events } } }",
            json!({}),
        )
        .await;
    assert!(bill["bill"]["total"].as_i64().unwrap() > 0);

    assert_eq!(
        code(
            &auditor
                .query(
                    "{ bill(account: \"acct-fabrikam-exp\", month: \"2026-03\") { total } }",
                    json!({})
                )
                .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            &auditor
                .query(
                    "{ bill(account: \"acct-contoso-mm\", month: \"2026-03\") { total } }",
                    json!({})
                )
                .await
        ),
        "NOT_FOUND"
    );
    let other = auditor
        .data(
            "{ audit(account: \"acct-fabrikam-exp\") { edges { node { seq } } } }",
            json!({}),
        )
        .await;
    assert!(other["audit"]["edges"].as_array().unwrap().is_empty());
    // It changes nothing.
    let answer = auditor.query(&mutation("createWorkspace"), json!({ "input": { "workspace": "ws-audit", "account": "acct-contoso-exp", "name": "Audit", "description": "" } })).await;
    assert_eq!(code(&answer), "NO_SEAT");
    auditor.stop().await;
}

/// One meaning per clock: `createdAt`, `updatedAt` and `registeredAt` are when the facts
/// happened — the audit trail's clock beside them —, and the store's own clock is there
/// too, named `…RecordedAt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_times_use_the_audit_trails_clock_and_name_the_other() {
    let server = Server::demo().await;
    let answer = server
        .data(
            r#"{ node(id: "run/r-churn-1") { createdAt createdRecordedAt updatedAt updatedRecordedAt }
                auditTrail(entity: "run/r-churn-1", first: 1) { nodes { occurredAt recordedAt } }
                model(id: "model/m-churn") { versions { registeredAt registeredRecordedAt } } }"#,
            json!({}),
        )
        .await;
    let node = &answer["node"];
    let first = &answer["auditTrail"]["nodes"][0];
    assert_eq!(node["createdAt"], first["occurredAt"], "{answer}");
    assert_eq!(node["createdRecordedAt"], first["recordedAt"], "{answer}");
    assert!(
        node["createdAt"].as_str().unwrap().starts_with("2026-03"),
        "the story's time: {answer}"
    );
    assert_ne!(
        node["createdAt"], node["createdRecordedAt"],
        "the demo is recorded now, happened in March"
    );
    assert_ne!(node["updatedAt"], node["updatedRecordedAt"]);
    let version = &answer["model"]["versions"][0];
    assert!(
        version["registeredAt"].as_str().unwrap().starts_with("2026-0"),
        "{version}"
    );
    assert_ne!(version["registeredAt"], version["registeredRecordedAt"]);
    server.stop().await;
}

/// One form of id everywhere: an argument that takes an entity takes its global id
/// `kind/id` or, where the kind is implied, the bare id; a wrong kind says which fit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_taken_bare_or_global_and_a_wrong_kind_says_what_fits() {
    let server = Server::demo().await;
    let pairs = [
        (
            r#"{ audit(account: "acct-contoso-exp", first: 5) { nodes { seq } } }"#,
            r#"{ audit(account: "experimentation-account/acct-contoso-exp", first: 5) { nodes { seq } } }"#,
        ),
        (
            r#"{ bill(account: "acct-contoso-exp", month: "2026-03") { total } }"#,
            r#"{ bill(account: "experimentation-account/acct-contoso-exp", month: "2026-03") { total } }"#,
        ),
        (
            r#"{ trace(service: "svc-churn") { service environment } }"#,
            r#"{ trace(service: "service/svc-churn") { service environment } }"#,
        ),
        (
            r#"{ run(id: "r-churn-1") { id } }"#,
            r#"{ run(id: "run/r-churn-1") { id } }"#,
        ),
    ];
    for (bare, global) in pairs {
        let (bare, global) = (server.data(bare, json!({})).await, server.data(global, json!({})).await);
        assert_eq!(bare, global);
    }
    let tagged = server
        .data(
            r#"mutation { setRunTags(input: { run: "run/r-churn-1", tags: [{ key: "form", value: "global" }] }) { seq } }"#,
            json!({}),
        )
        .await;
    assert!(tagged["setRunTags"]["seq"].is_u64(), "{tagged}");
    for (query, expected) in [
        (
            r#"{ audit(account: "model/m-churn", first: 1) { nodes { seq } } }"#,
            "`model/m-churn` names a model, not an account: give the bare id or `experimentation-account/…` or `model-management-account/…`",
        ),
        (
            r#"{ run(id: "model/m-churn") { id } }"#,
            "`model/m-churn` names a model, not the run asked for",
        ),
        (
            r#"{ trace(service: "run/r-churn-1") { service } }"#,
            "`run/r-churn-1` names a run, not a service",
        ),
    ] {
        let answer = server.query(query, json!({})).await;
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{query}: {answer}");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{answer}");
    }
    server.stop().await;
}

/// References followed in one query: a model version's run with its params, metrics and
/// experiment, the experiment's runs; runs filtered by account, tag and name and ordered
/// by a metric; a filter naming what no run has is an error, not an empty list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_resolve_in_one_query_and_runs_sort_by_a_metric() {
    let server = Server::demo().await;
    let model = server
        .data(
            r#"{ model(id: "m-churn") { versions { runId run { id params { key value } metrics { name value }
                 experiment { id name entryPoint runs { id } } } } } }"#,
            json!({}),
        )
        .await;
    let version = &model["model"]["versions"][0];
    let run = &version["run"];
    assert_eq!(run["id"], version["runId"], "{model}");
    assert!(!run["params"].as_array().unwrap().is_empty(), "{model}");
    assert!(!run["metrics"].as_array().unwrap().is_empty(), "{model}");
    let runs_of_experiment: Vec<&Value> = run["experiment"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| &run["id"])
        .collect();
    assert!(
        runs_of_experiment.contains(&&run["id"]),
        "the run is among its experiment's runs: {model}"
    );
    let experiment = server
        .data(
            r#"{ experiment(id: "experiment/e-train") { name runs { id experimentId } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(experiment["experiment"]["name"], "train");
    assert!(experiment["experiment"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|run| run["experimentId"] == "experiment/e-train"));

    let sorted = server
        .data(
            r#"{ runs(account: "acct-contoso-exp", orderBy: { metric: "auc", descending: true }) { edges { node { id metrics { name value } } } } }"#,
            json!({}),
        )
        .await;
    let auc: Vec<f64> = sorted["runs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|edge| {
            edge["node"]["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|metric| metric["name"] == "auc")
                .and_then(|metric| metric["value"].as_f64())
        })
        .collect();
    assert!(
        auc.len() > 1 && auc.windows(2).all(|pair| pair[0] >= pair[1]),
        "highest auc first: {auc:?}"
    );
    let elsewhere = server
        .data(
            r#"{ runs(account: "acct-fabrikam-exp") { edges { node { id } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(elsewhere["runs"]["edges"], json!([]), "alex sees no run of Fabrikam's");
    server
        .data(r#"mutation { setRunTags(input: { run: "r-churn-1", tags: [{ key: "team", value: "retention" }] }) { seq } }"#, json!({}))
        .await;
    let tagged = server
        .data(
            r#"{ runs(tag: { key: "team", value: "retention" }) { edges { node { id } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(tagged["runs"]["edges"], json!([{ "node": { "id": "run/r-churn-1" } }]));
    for (query, expected) in [
        (
            r#"{ runs(metric: { name: "acuracy", min: 0.5 }) { edges { node { id } } } }"#,
            "no run here has a metric named `acuracy`",
        ),
        (
            r#"{ runs(param: { key: "lr", value: "1" }) { edges { node { id } } } }"#,
            "no run here has a param named `lr`",
        ),
        (
            r#"{ runs(orderBy: { metric: "nope" }) { edges { node { id } } } }"#,
            "no run here has a metric named `nope`",
        ),
    ] {
        let answer = server.query(query, json!({})).await;
        assert_eq!(answer["errors"][0]["message"], expected, "{answer}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_names_its_nodes() {
    let server = Server::demo().await;
    let traced = server
        .data(
            r#"{ trace(service: "svc-churn") { service image { manifest { models { modelVersion run { run experiment } } } } names { id name } } }"#,
            json!({}),
        )
        .await;
    let names: std::collections::BTreeMap<String, String> = traced["trace"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (
                node["id"].as_str().unwrap().to_string(),
                node["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let model = &traced["trace"]["image"]["manifest"]["models"][0];
    for id in [
        &traced["trace"]["service"],
        &model["modelVersion"],
        &model["run"]["run"],
        &model["run"]["experiment"],
    ] {
        let id = id.as_str().unwrap();
        assert!(
            names.get(id).is_some_and(|name| !name.is_empty()),
            "{id} is named: {names:?}"
        );
    }
    assert_eq!(names["experiment/e-train"], "train");
    server.stop().await;
}
