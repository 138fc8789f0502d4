//! Tenant isolation through a real server: an account a principal holds no role in does
//! not exist for it — in refusals, answers, idempotency keys, live sockets and the
//! OpenLineage endpoint. The mutation probes are generated from the command list (one
//! script touching every command) and checked against the schema's mutation fields.

use crate::graphql::{code, field_name, input, mutation, Server};
use crate::rejections::every_command_script;
use crate::support::id;
use futures_util::{SinkExt, StreamExt};
use lineage_graphql::api::Limits;
use lineage_graphql::server::ServerLimits;
use lineage_schema::event::AdministratorDesignated;
use lineage_schema::{Command, CommandEnvelope, EntityKind};
use lineage_store::{demo, Options, Store};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The demo story, then the script touching every command, acted by Alex as the first
/// administrator: every id the script names exists, most of them Contoso's.
fn scripted(store: &Store) {
    demo::fill(store).unwrap();
    let designate = Command::DesignateAdministrator(AdministratorDesignated {
        principal: id("u-alex"),
    });
    store.execute(CommandEnvelope::new(id("u-alex"), designate)).unwrap();
    for command in every_command_script() {
        store.execute(CommandEnvelope::new(id("u-alex"), command)).unwrap();
    }
}

/// Every id of Contoso's (the tenant the probing principal cannot read): its subscription,
/// its accounts and everything in them. Principal ids are a shared directory and not in it.
fn contoso_ids(after: fn(&Store)) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    after(&store);
    let subscription = lineage_schema::EntityRef::new(EntityKind::Subscription, "sub-contoso");
    let mut accounts = BTreeSet::new();
    for kind in [EntityKind::ExperimentationAccount, EntityKind::ModelManagementAccount] {
        for account in store.children(&subscription, kind).unwrap() {
            accounts.insert(account.reference.id.to_string());
        }
    }
    let mut ids: BTreeSet<String> = accounts.iter().cloned().collect();
    ids.insert("sub-contoso".into());
    for kind in EntityKind::ALL {
        if kind == EntityKind::Principal {
            continue;
        }
        for entity in store.entities(kind, None, 10_000).unwrap() {
            if entity
                .account
                .as_ref()
                .is_some_and(|account| accounts.contains(account.as_str()))
            {
                ids.insert(entity.reference.id.to_string());
            }
        }
    }
    ids
}

fn demo_only(store: &Store) {
    demo::fill(store).unwrap();
}

/// The same JSON with every Contoso id swapped for an id nothing has (`nx-N`), and the
/// pairs swapped.
fn with_missing_ids(value: &Value, secret: &BTreeSet<String>, pairs: &mut BTreeMap<String, String>) -> Value {
    match value {
        Value::String(text) if secret.contains(text) => {
            let next = format!("nx-{}", pairs.len() + 1);
            Value::String(pairs.entry(text.clone()).or_insert(next).clone())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), with_missing_ids(value, secret, pairs)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|item| with_missing_ids(item, secret, pairs)).collect()),
        other => other.clone(),
    }
}

/// A message with each swapped id, whichever side of the pair it holds, as `‹N›`.
fn normalized(text: &str, pairs: &BTreeMap<String, String>) -> String {
    let mut text = text.to_string();
    let mut by_length: Vec<(&String, &String)> = pairs.iter().collect();
    by_length.sort_by_key(|(original, _)| std::cmp::Reverse(original.len()));
    for (original, missing) in by_length {
        let placeholder = format!("‹{}›", &missing[3..]);
        for from in [original, missing] {
            text = text
                .replace(&format!("/{from}"), &format!("/{placeholder}"))
                .replace(&format!("{from} "), &format!("{placeholder} "))
                .replace(&format!("\"{from}\""), &format!("\"{placeholder}\""))
                .replace(&format!("`{from}`"), &format!("`{placeholder}`"));
            if text.ends_with(from.as_str()) {
                text = format!("{}{placeholder}", &text[..text.len() - from.len()]);
            }
        }
    }
    text
}

/// A token for `principal`, issued by the administrator the server acts as.
pub(crate) async fn token_for(server: &Server, principal: &str) -> String {
    let issued = server
        .data(
            "mutation($p: String!) { issueToken(principal: $p, label: \"isolation\") { secret } }",
            json!({ "p": principal }),
        )
        .await;
    issued["issueToken"]["secret"].as_str().unwrap().to_string()
}

/// The refusal a mutation answered: its code and its message.
fn refusal(answer: &Value) -> (String, String) {
    let error = &answer["errors"][0];
    (
        error["extensions"]["code"].as_str().unwrap_or("(none)").to_string(),
        error["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// Commands whose every id is a principal or a new id: they name nothing of a tenant's,
/// and their rules are tested on their own below.
const NAMING_NO_TENANT: [&str; 7] = [
    "RegisterPrincipal",
    "CreateSubscription",
    "IssueToken",
    "RevokeToken",
    "DesignateAdministrator",
    "DesignateStoreAuditor",
    "DismissStoreAuditor",
];

/// Every mutation, sent by Grace (Fabrikam only) with Contoso's ids and again with ids
/// that do not exist, is refused alike: the same code and the same message up to the id.
/// An id that is taken may answer ALREADY_EXISTS — for the command's own new id only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_refuses_another_tenants_ids_as_it_refuses_unknown_ones() {
    // Hundreds of requests back to back from one principal: on a loaded machine their
    // time on a server thread can reach the principal's share, and a 429 would stand in
    // for the answer compared. Budgets are tested on their own below.
    let unbudgeted = ServerLimits {
        principal_budget: Duration::ZERO,
        ..ServerLimits::default()
    };
    let server = Server::start_with(scripted, "u-alex", Limits::default(), unbudgeted).await;
    let grace = token_for(&server, "u-grace").await;
    let secret = contoso_ids(scripted);
    let head = server.data("{ head }", json!({})).await["head"].clone();

    let script = every_command_script();
    let fields = server
        .data("{ __type(name: \"Mutation\") { fields { name } } }", json!({}))
        .await;
    let served: BTreeSet<String> = fields["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap().to_string())
        .collect();
    let mut probed: BTreeSet<String> = script.iter().map(field_name).collect();
    // `executeBatch` is probed with every command below, each as a batch of one.
    probed.insert("executeBatch".into());
    assert_eq!(probed, served, "the script reaches every mutation of the schema");

    let mut compared = 0;
    let mut naming_none = BTreeSet::new();
    for command in &script {
        if NAMING_NO_TENANT.contains(&command.name()) {
            naming_none.insert(command.name());
            continue;
        }
        let field = field_name(command);
        let theirs = input(command);
        let mut pairs = BTreeMap::new();
        let missing = with_missing_ids(&theirs, &secret, &mut pairs);
        assert!(!pairs.is_empty(), "{field} names a Contoso id");
        let tenant = server
            .query_as(&grace, &mutation(&field), json!({ "input": theirs }))
            .await;
        let unknown = server
            .query_as(&grace, &mutation(&field), json!({ "input": missing }))
            .await;
        assert!(
            tenant["data"].is_null() || tenant["data"][&field].is_null(),
            "{field}: {tenant}"
        );
        let (tenant_code, tenant_message) = refusal(&tenant);
        let (unknown_code, unknown_message) = refusal(&unknown);
        if tenant_code == "ALREADY_EXISTS" {
            // The command's own new id is taken; that is all the refusal says.
            let own = command.stream();
            assert!(secret.contains(own.id.as_str()), "{field}: {tenant}");
            assert_eq!(tenant_message, format!("{own} already exists"), "{field}");
        } else {
            assert_eq!(
                (tenant_code.clone(), normalized(&tenant_message, &pairs)),
                (unknown_code, normalized(&unknown_message, &pairs)),
                "{field}: Contoso's ids answered {tenant}, unknown ids {unknown}"
            );
        }
        // The same command as a batch of one is refused as it is alone.
        for (single, sent) in [(&tenant, &theirs), (&unknown, &missing)] {
            let batch = server
                .query_as(
                    &grace,
                    "mutation($commands: [BatchedCommand!]!) { executeBatch(commands: $commands) { seq stream version entity { id } } }",
                    json!({ "commands": [{ &field: sent }] }),
                )
                .await;
            assert!(batch["data"].is_null(), "{field}: {batch}");
            let (code, message) = refusal(single);
            assert_eq!(
                refusal(&batch),
                (code, format!("commands[0] ({field}): {message}")),
                "{field}: alone {single}, in a batch {batch}"
            );
        }
        // Nothing of Contoso's beyond what was sent comes back.
        let answer = tenant.to_string();
        for id in secret.iter().filter(|id| !pairs.contains_key(*id)) {
            assert!(
                !answer.contains(&format!("\"{id}\"")) && !answer.contains(&format!("/{id}")),
                "{field} revealed {id}: {answer}"
            );
        }
        compared += 1;
    }
    assert_eq!(
        naming_none,
        NAMING_NO_TENANT.into_iter().collect::<BTreeSet<_>>(),
        "only commands about principals and new subscriptions name nothing of a tenant"
    );
    assert!(compared >= 50, "{compared} mutations compared");
    assert_eq!(
        server.data("{ head }", json!({})).await["head"],
        head,
        "no probe appended"
    );
    server.stop().await;
}

/// Every query root field that takes an id, asked by Grace about Contoso's entities and
/// about ids that do not exist, answers the same (up to the ids asked about).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_answers_for_another_tenants_ids_as_for_unknown_ones() {
    let server = Server::start(true, "u-grace", Limits::default(), ServerLimits::default()).await;
    let secret = contoso_ids(demo_only);
    let probes = [
        r#"{ node(id: "service/svc-churn") { id } }"#,
        r#"{ entities(kind: RUN, parent: "experiment/e-train") { edges { node { id } } } }"#,
        r#"{ run(id: "r-churn-1") { id } }"#,
        r#"{ runs(experiment: "e-train") { edges { node { id } } } }"#,
        r#"{ model(id: "m-churn") { id } }"#,
        r#"{ service(id: "svc-churn") { id } }"#,
        r#"{ lineage(id: "service/svc-churn") { nodes { id } truncated } }"#,
        r#"{ lineage(id: "model/m-churn@2", direction: BOTH) { nodes { id } } }"#,
        r#"{ trace(service: "svc-churn") { service } }"#,
        r#"{ impact(id: "dataset/d-usage") { services } }"#,
        r#"{ history(id: "service/svc-churn") { edges { node { seq } } } }"#,
        r#"{ events(account: "acct-contoso-exp") { edges { node { seq } } } }"#,
        r#"{ events(stream: "run/r-churn-1") { edges { node { seq } } } }"#,
        r#"{ audit(account: "acct-contoso-exp") { edges { node { seq } } } }"#,
        r#"{ audit(entity: "run/r-churn-1") { edges { node { seq } } } }"#,
        r#"{ auditTrail(entity: "service/svc-churn") { edges { node { seq } } } }"#,
        r#"{ bill(account: "acct-contoso-exp", month: "2026-03") { total } }"#,
        r#"{ bill(account: "acct-contoso-mm", month: "2026-03") { total } }"#,
    ];
    for query in probes {
        let mut pairs = BTreeMap::new();
        let mut missing = query.to_string();
        for id in secret.iter().rev() {
            for (before, after) in [("\"", "\""), ("/", "\""), ("/", "@")] {
                let from = format!("{before}{id}{after}");
                if missing.contains(&from) {
                    let next = format!("nx-{}", pairs.len() + 1);
                    let replacement = pairs.entry(id.clone()).or_insert(next).clone();
                    missing = missing.replace(&from, &format!("{before}{replacement}{after}"));
                }
            }
        }
        assert!(!pairs.is_empty(), "{query} names a Contoso id");
        let tenant = server.query(query, json!({})).await;
        let unknown = server.query(&missing, json!({})).await;
        assert_eq!(
            normalized(&tenant.to_string(), &pairs),
            normalized(&unknown.to_string(), &pairs),
            "{query}"
        );
    }
    server.stop().await;
}

/// A subscription owner grants and revokes roles of a principal it cannot read: the
/// answers carry no record of that principal. Registering principals is for
/// administrators and subscription owners; names are unique only within their scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutation_answers_show_only_what_the_caller_may_read() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let grace = token_for(&server, "u-grace").await;
    let ada = token_for(&server, "u-ada").await;
    let grant = "mutation { grantRole(input: { principal: \"u-ada\", account: \"acct-fabrikam-exp\", role: READER }) { seq stream version entity { id detail } } }";
    let answer = server.query_as(&grace, grant, json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert_eq!(answer["data"]["grantRole"]["stream"], "principal/u-ada");
    assert!(
        answer["data"]["grantRole"]["entity"].is_null(),
        "Ada's record shown to Grace: {answer}"
    );
    assert!(
        answer["data"]["grantRole"]["version"].is_null(),
        "the size of Ada's record shown to Grace: {answer}"
    );
    let revoke = "mutation { revokeRole(input: { principal: \"u-ada\", account: \"acct-fabrikam-exp\", role: READER }) { entity { id detail } } }";
    let answer = server.query_as(&grace, revoke, json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert!(answer["data"]["revokeRole"]["entity"].is_null(), "{answer}");

    // Ada owns no subscription: she may not register principals, whatever the id.
    let register = |principal: &str, name: &str| {
        format!("mutation {{ registerPrincipal(input: {{ principal: \"{principal}\", name: \"{name}\", email: \"\" }}) {{ stream entity {{ id }} }} }}")
    };
    for principal in ["u-alex", "u-nobody"] {
        let answer = server.query_as(&ada, &register(principal, "Someone"), json!({})).await;
        assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
    }
    // Grace owns Fabrikam: she registers a colleague under a name Contoso uses too.
    let answer = server
        .query_as(&grace, &register("u-ada-2", "Ada Lovelace"), json!({}))
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    assert!(answer["data"]["registerPrincipal"]["entity"].is_null(), "{answer}");
    let answer = server.query_as(&grace,
        "mutation { createSubscription(input: { subscription: \"sub-grace-2\", name: \"Contoso ML\" }) { entity { id name } } }",
        json!({}),
    )
    .await;
    assert!(
        answer["errors"].is_null(),
        "a name taken elsewhere is free here: {answer}"
    );
    assert_eq!(answer["data"]["createSubscription"]["entity"]["name"], "Contoso ML");
    let again = server
        .query_as(
            &grace,
            "mutation { createSubscription(input: { subscription: \"sub-grace-3\", name: \"Contoso ML\" }) { seq } }",
            json!({}),
        )
        .await;
    assert_eq!(
        code(&again),
        "DUPLICATE_NAME",
        "unique within its owner's scope: {again}"
    );

    // Tokens of another principal: refused alike whether it exists or not.
    for principal in ["u-alex", "u-nobody"] {
        let answer = server
            .query_as(
                &grace,
                &format!("mutation {{ issueToken(principal: \"{principal}\") {{ secret }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(code(&answer), "FORBIDDEN", "{answer}");
        assert!(answer["data"].is_null(), "{answer}");
    }
    server.stop().await;
}

/// A model management account's reader sees its models but not the runs behind them
/// (they are in an experimentation account it cannot read), and a walk counts only
/// what it may see against `maxNodes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_leave_out_what_the_caller_may_not_read() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    server
        .data(
            "mutation { grantRole(input: { principal: \"u-grace\", account: \"acct-contoso-mm\", role: READER }) { seq } }",
            json!({}),
        )
        .await;
    let grace = token_for(&server, "u-grace").await;
    let model = server
        .query_as(
            &grace,
            r#"{ model(id: "m-churn") { versions { id runId run { id } } entity { detail } } }"#,
            json!({}),
        )
        .await;
    let versions = model["data"]["model"]["versions"].as_array().unwrap();
    assert!(!versions.is_empty(), "{model}");
    assert!(
        versions
            .iter()
            .all(|version| version["run"].is_null() && version["runId"].is_null()),
        "{model}"
    );
    let detail = model["data"]["model"]["entity"]["detail"].to_string();
    assert!(
        !detail.contains("r-churn"),
        "the detail names a run Grace cannot read: {detail}"
    );
    let admin_view = server
        .data(r#"{ model(id: "m-churn") { versions { run { id } } } }"#, json!({}))
        .await;
    assert!(
        admin_view["model"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|version| !version["run"].is_null()),
        "the model's versions do come from runs: {admin_view}"
    );

    let walk = |max: usize| {
        format!(r#"{{ lineage(id: "service/svc-churn", depth: 10, maxNodes: {max}) {{ nodes {{ id }} truncated }} }}"#)
    };
    let everything = server.data(&walk(1000), json!({})).await;
    let seen = server.query_as(&grace, &walk(1000), json!({})).await;
    let seen_nodes = seen["data"]["lineage"]["nodes"].as_array().unwrap().len();
    let all_nodes = everything["lineage"]["nodes"].as_array().unwrap().len();
    assert!(
        seen_nodes < all_nodes,
        "Grace sees part of the graph ({seen_nodes} of {all_nodes})"
    );
    let exact = server.query_as(&grace, &walk(seen_nodes), json!({})).await;
    assert_eq!(
        exact["data"]["lineage"]["truncated"], false,
        "hidden nodes counted: {exact}"
    );
    assert_eq!(exact["data"]["lineage"]["nodes"].as_array().unwrap().len(), seen_nodes);
    let short = server.query_as(&grace, &walk(seen_nodes - 1), json!({})).await;
    assert_eq!(short["data"]["lineage"]["truncated"], true, "{short}");
    server.stop().await;
}

/// Event ids identify a command of one principal: another principal's use of the same key
/// is another key; the same principal reusing a key for another command is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_ids_belong_to_the_principal_that_sent_them() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let alex = token_for(&server, "u-alex").await;
    let grace = token_for(&server, "u-grace").await;
    let tags = |run: &str, value: &str| json!({ "input": { "run": run, "tags": [{ "key": "k", "value": value }] }, "eventId": "shared-key" });
    let set_tags = mutation("setRunTags");

    let first = server.query_as(&alex, &set_tags, tags("r-churn-1", "alex")).await;
    assert!(first["errors"].is_null(), "{first}");
    let first = &first["data"]["setRunTags"];
    assert_eq!(first["duplicate"], false);

    // Grace's write with Alex's key is hers, appended, and shows nothing of his.
    let hers = server.query_as(&grace, &set_tags, tags("r-fraud-1", "grace")).await;
    assert!(hers["errors"].is_null(), "{hers}");
    let hers = &hers["data"]["setRunTags"];
    assert_eq!(
        hers["duplicate"], false,
        "a victim's key swallowed Grace's write: {hers}"
    );
    assert_eq!(hers["stream"], "run/r-fraud-1");
    assert!(hers["seq"].as_u64() > first["seq"].as_u64());

    // The demo's own keys (demo-1 …) are its actors' and tell Grace nothing.
    for key in ["demo-1", "demo-20", "demo-60"] {
        let answer = server
            .query_as(
                &grace,
                &set_tags,
                json!({ "input": { "run": "r-fraud-1", "tags": [{ "key": key, "value": "v" }] }, "eventId": key }),
            )
            .await;
        assert!(answer["errors"].is_null(), "{answer}");
        assert_eq!(answer["data"]["setRunTags"]["duplicate"], false, "{key}: {answer}");
        assert_eq!(
            answer["data"]["setRunTags"]["stream"], "run/r-fraud-1",
            "{key}: {answer}"
        );
    }

    // Alex retrying: the original position, once.
    let retry = server.query_as(&alex, &set_tags, tags("r-churn-1", "alex")).await;
    assert_eq!(retry["data"]["setRunTags"]["duplicate"], true, "{retry}");
    assert_eq!(retry["data"]["setRunTags"]["seq"], first["seq"]);

    // Alex reusing the key for another command: refused, nothing appended.
    let head = server.data("{ head }", json!({})).await["head"].clone();
    for variables in [tags("r-churn-1", "changed"), tags("r-churn-2", "alex")] {
        let conflict = server.query_as(&alex, &set_tags, variables).await;
        assert_eq!(code(&conflict), "CONFLICT", "{conflict}");
        assert_eq!(
            conflict["errors"][0]["message"],
            "event id shared-key was used for another command"
        );
    }
    let other_kind = server
        .query_as(
            &alex,
            &mutation("scaleService"),
            json!({ "input": { "service": "svc-churn", "replicas": 3 }, "eventId": "shared-key" }),
        )
        .await;
    assert_eq!(code(&other_kind), "CONFLICT", "{other_kind}");
    assert_eq!(
        server.data("{ head }", json!({})).await["head"],
        head,
        "conflicts append nothing"
    );
    server.stop().await;
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the server's GraphQL endpoint, with the token in the upgrade request's
/// header when one is given.
async fn connect(server: &Server, header_token: Option<&str>) -> Socket {
    let url = format!("{}/graphql/ws", server.url.replace("http://", "ws://"));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    let headers = request.headers_mut();
    headers.insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    if let Some(token) = header_token {
        headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// A live socket as `token` (sent in `connection_init`), acknowledged, with a
/// subscription to every event it may read.
async fn subscribed(server: &Server, token: &str) -> Socket {
    let mut socket = connect(server, None).await;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    let subscribe = json!({ "id": "feed", "type": "subscribe", "payload": { "query": "subscription { events { seq stream account } }" } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    // Let the subscription reach the feed before anything is appended.
    tokio::time::sleep(Duration::from_millis(200)).await;
    socket
}

/// Reads until the socket closes; returns the close code and every `next` payload's
/// event seen before it. Fails if it stays open past `within`.
async fn until_closed(socket: &mut Socket, within: Duration) -> (u16, Vec<Value>) {
    let deadline = Instant::now() + within;
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the socket stayed open past {within:?}; it delivered {events:?}"));
        match message {
            Some(Ok(Message::Close(frame))) => return (frame.map_or(0, |frame| u16::from(frame.code)), events),
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["type"] == "next" {
                    events.push(message["payload"]["data"]["events"].clone());
                }
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return (0, events),
        }
    }
}

/// Revoking a token, a seat or a role reaches sockets already open: the subscription
/// delivers nothing of the lost account after the revocation, and the socket closes with
/// its documented code within a second; an operation sent after it gets no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_open_sockets() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let alex = token_for(&server, "u-alex").await;
    let contoso_write =
        |value: &str| json!({ "input": { "run": "r-churn-1", "tags": [{ "key": "after", "value": value }] } });

    // 1. The token: Ada's socket closes with 4401 once the token is revoked.
    let ada_token = {
        let issued = server
            .data(
                "mutation { issueToken(principal: \"u-ada\", label: \"live\") { token secret } }",
                json!({}),
            )
            .await;
        (
            issued["issueToken"]["token"].as_str().unwrap().to_string(),
            issued["issueToken"]["secret"].as_str().unwrap().to_string(),
        )
    };
    let mut socket = subscribed(&server, &ada_token.1).await;
    let revoked = server
        .data(
            "mutation($t: String!) { revokeToken(principal: \"u-ada\", token: $t) { seq } }",
            json!({ "t": ada_token.0 }),
        )
        .await;
    let revoked_at = revoked["revokeToken"]["seq"].as_u64().unwrap();
    server
        .query_as(&alex, &mutation("setRunTags"), contoso_write("token"))
        .await;
    // An operation sent after the revocation is not answered: the socket closes instead.
    let late = json!({ "id": "late", "type": "subscribe", "payload": { "query": "mutation { issueToken(principal: \"u-ada\") { secret } }" } });
    let _ = socket.send(Message::Text(late.to_string().into())).await;
    let (code, events) = until_closed(&mut socket, Duration::from_secs(1)).await;
    assert_eq!(code, lineage_graphql::live::CLOSE_REVOKED);
    assert!(
        events.iter().all(|event| event["seq"].as_u64() < Some(revoked_at)),
        "events after the revocation were delivered: {events:?}"
    );

    // 2. The seat: Ada's seat in Contoso's experimentation account goes (she keeps her
    //    token); the socket ends with 4403 and delivers nothing of Contoso after.
    let ada = token_for(&server, "u-ada").await;
    let mut socket = subscribed(&server, &ada).await;
    let revoked = server
        .query_as(
            &alex,
            "mutation { revokeSeat(input: { account: \"acct-contoso-exp\", principal: \"u-ada\" }) { seq } }",
            json!({}),
        )
        .await;
    let revoked_at = revoked["data"]["revokeSeat"]["seq"].as_u64().expect("seat revoked");
    server
        .query_as(&alex, &mutation("setRunTags"), contoso_write("seat"))
        .await;
    let late =
        json!({ "id": "late", "type": "subscribe", "payload": { "query": "{ run(id: \"r-churn-1\") { id } }" } });
    let _ = socket.send(Message::Text(late.to_string().into())).await;
    let (code, events) = until_closed(&mut socket, Duration::from_secs(1)).await;
    assert_eq!(code, lineage_graphql::live::CLOSE_ACCESS_LOST);
    assert!(
        events.iter().all(|event| event["seq"].as_u64() <= Some(revoked_at)),
        "Contoso events after the seat went were delivered: {events:?}"
    );

    // 3. The role: Grace, connected before she is made a reader of Contoso's account,
    //    gets its events while she holds the role and loses them with it.
    let grace = token_for(&server, "u-grace").await;
    let mut socket = subscribed(&server, &grace).await;
    server
        .data(
            "mutation { grantRole(input: { principal: \"u-grace\", account: \"acct-contoso-exp\", role: READER }) { seq } }",
            json!({}),
        )
        .await;
    // Past one look of the connection's watcher, so the role is part of what it holds.
    tokio::time::sleep(lineage_graphql::live::WATCH_EVERY * 2).await;
    server
        .query_as(&alex, &mutation("setRunTags"), contoso_write("before"))
        .await;
    let revoked = server
        .data(
            "mutation { revokeRole(input: { principal: \"u-grace\", account: \"acct-contoso-exp\", role: READER }) { seq } }",
            json!({}),
        )
        .await;
    let revoked_at = revoked["revokeRole"]["seq"].as_u64().unwrap();
    server
        .query_as(&alex, &mutation("setRunTags"), contoso_write("role"))
        .await;
    let (code, events) = until_closed(&mut socket, Duration::from_secs(1)).await;
    assert_eq!(code, lineage_graphql::live::CLOSE_ACCESS_LOST);
    assert!(
        events.iter().any(|event| event["account"] == "acct-contoso-exp"),
        "while she read it, Contoso's events came: {events:?}"
    );
    assert!(
        events
            .iter()
            .filter(|event| event["account"] == "acct-contoso-exp")
            .all(|event| event["seq"].as_u64() < Some(revoked_at)),
        "Contoso events after the role went were delivered: {events:?}"
    );
    server.stop().await;
}

/// Operations over a socket meet the same per-principal limits as HTTP requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_operations_go_through_the_principals_budget() {
    let limits = ServerLimits {
        principal_budget: Duration::from_millis(1),
        ..ServerLimits::default()
    };
    let server = Server::start(true, "u-alex", Limits::default(), limits).await;
    let mut socket = connect(&server, Some(&server.token)).await;
    socket
        .send(Message::Text(json!({ "type": "connection_init" }).to_string().into()))
        .await
        .unwrap();
    socket.next().await.unwrap().unwrap();
    // A budget of 1 ms of server time per second: a burst of lineage walks runs dry.
    let heavy = "{ lineage(id: \"dataset/d-transactions\", direction: BOTH, depth: 20) { nodes { id } } }";
    for n in 0..40 {
        let subscribe = json!({ "id": format!("q{n}"), "type": "subscribe", "payload": { "query": heavy } });
        socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    }
    let mut refused = 0;
    let mut answered = 0;
    while answered + refused < 40 {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("every operation is answered")
            .unwrap()
            .unwrap();
        let message: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        match message["type"].as_str() {
            Some("next") => answered += 1,
            Some("error") => {
                assert_eq!(
                    message["payload"][0]["extensions"]["code"], "TOO_MANY_REQUESTS",
                    "{message}"
                );
                refused += 1;
            }
            _ => {}
        }
    }
    assert!(answered >= 1, "the first operations run");
    assert!(
        refused >= 1,
        "a socket's operations spend the principal's budget ({answered} answered)"
    );
    server.stop().await;
}

/// The same OpenLineage event sent by two tenants is each one's own; a tenant naming
/// another's workspace is answered as for one that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlineage_events_of_two_tenants_stay_apart() {
    let server = Server::start(true, "admin", Limits::default(), ServerLimits::default()).await;
    let alex = token_for(&server, "u-alex").await;
    let grace = token_for(&server, "u-grace").await;
    let events = crate::openlineage::lines();
    let contoso = "?account=acct-contoso-exp&workspace=ws-churn";
    let fabrikam = "?account=acct-fabrikam-exp&workspace=ws-fraud";
    let body = Value::Array(events.clone());
    let (status, first) = crate::openlineage::post(&server, &alex, contoso, &body).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = crate::openlineage::post(&server, &grace, fabrikam, &body).await;
    assert_eq!(status, 201, "{second}");
    // Grace's events are not taken for Alex's: each tenant stores the whole pipeline.
    assert_eq!(second["created"], first["created"], "{second}");
    assert_eq!(second["unchanged"], first["unchanged"], "{second}");
    assert_eq!(second["events"], first["events"], "{second}");
    let runs = |token: String| {
        let server = &server;
        async move {
            let answer = server
                .query_as(
                    &token,
                    r#"{ runs(first: 500) { edges { node { id entity { account } } } } }"#,
                    json!({}),
                )
                .await;
            answer["data"]["runs"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|edge| edge["node"]["id"].as_str().unwrap().contains("ol-run-"))
                .map(|edge| edge["node"]["entity"]["account"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let alex_runs = runs(alex.clone()).await;
    let grace_runs = runs(grace.clone()).await;
    assert!(!grace_runs.is_empty());
    assert_eq!(alex_runs.len(), grace_runs.len());
    assert!(
        grace_runs.iter().all(|account| account == "acct-fabrikam-exp"),
        "{grace_runs:?}"
    );
    assert!(
        alex_runs.iter().all(|account| account == "acct-contoso-exp"),
        "{alex_runs:?}"
    );

    // Grace aiming at Contoso's workspace, or at one that does not exist: the same answer.
    let (theirs, their_answer) = crate::openlineage::post(
        &server,
        &grace,
        "?account=acct-fabrikam-exp&workspace=ws-churn",
        &events[0],
    )
    .await;
    let (missing, missing_answer) = crate::openlineage::post(
        &server,
        &grace,
        "?account=acct-fabrikam-exp&workspace=ws-nx",
        &events[0],
    )
    .await;
    assert_eq!(theirs, missing);
    assert_eq!(
        their_answer["error"].as_str().unwrap().replace("ws-churn", "‹w›"),
        missing_answer["error"].as_str().unwrap().replace("ws-nx", "‹w›"),
    );
    let (theirs, their_answer) = crate::openlineage::post(&server, &grace, contoso, &events[0]).await;
    let (missing, missing_answer) =
        crate::openlineage::post(&server, &grace, "?account=acct-nx&workspace=ws-churn", &events[0]).await;
    assert_eq!((theirs, missing), (404, 404));
    assert_eq!(
        their_answer["error"]
            .as_str()
            .unwrap()
            .replace("acct-contoso-exp", "‹a›"),
        missing_answer["error"].as_str().unwrap().replace("acct-nx", "‹a›"),
    );
    server.stop().await;
}
