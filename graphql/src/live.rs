//! GraphQL over WebSocket (the graphql-transport-ws protocol), held to the rules of a
//! request: every operation looks its token up again, works out access afresh and goes
//! through the principal's budget, in-flight cap and request timeout; every delivered
//! event is checked against the principal's access as it is then; and a watcher closes
//! the socket within [`WATCH_EVERY`] once the token is revoked or the principal loses an
//! account it could read.
//!
//! Close codes (besides the protocol's own 4400, 4408, 4409 and 4429):
//! - 4401: the connection's token was revoked (or never valid); reconnect with a live one.
//! - 4403: the principal lost access it held (a seat, a role, an account); reconnect to
//!   go on with what it may read now.

use crate::api::{self, Acting};
use crate::server::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use lineage_schema::PrincipalId;
use lineage_store::access::Access;
use lineage_store::Store;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often a connection looks whether its token or access changed.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);
/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Operations one connection may have running at once.
const MAX_OPERATIONS: usize = 64;

pub const CLOSE_REVOKED: u16 = 4401;
pub const CLOSE_ACCESS_LOST: u16 = 4403;
const CLOSE_INVALID: u16 = 4400;
/// The protocol's answer to a `connection_init` it will not acknowledge.
const CLOSE_FORBIDDEN: u16 = 4403;
const CLOSE_INIT_TIMEOUT: u16 = 4408;
const CLOSE_DUPLICATE_ID: u16 = 4409;
const CLOSE_TOO_MANY_INITS: u16 = 4429;

/// Who a connection acts as, checked again whenever the store's access may have changed.
/// Resolvers of live connections read access through it, so a delivered event is judged
/// by what the principal may read when it is delivered, not when it subscribed.
#[derive(Debug)]
pub struct Session {
    store: Arc<Store>,
    secret: String,
    principal: PrincipalId,
    /// The access generation last checked and what was found then (None: revoked).
    checked: Mutex<(u64, Option<Arc<Access>>)>,
}

impl Session {
    fn open(store: Arc<Store>, secret: String) -> Option<Session> {
        let principal = store.authenticate(&secret).ok().flatten()?;
        let generation = store.access_generation();
        let access = store.access(&principal).ok()?;
        Some(Session {
            store,
            secret,
            principal,
            checked: Mutex::new((generation, Some(Arc::new(access)))),
        })
    }

    /// The principal's access now, or None once its token is revoked (or its access
    /// cannot be read). Looks again only after events that may change access.
    pub fn current(&self) -> Option<Arc<Access>> {
        let generation = self.store.access_generation();
        let mut checked = self.checked.lock().expect("session lock");
        if checked.0 != generation {
            let still = self.store.authenticate(&self.secret).ok().flatten().as_ref() == Some(&self.principal);
            let access = still.then(|| self.store.access(&self.principal).ok()).flatten();
            *checked = (generation, access.map(Arc::new));
        }
        checked.1.clone()
    }
}

/// The principal's access now, or why the connection must end: its token was revoked, or
/// it lost something it could read at the last look (`baseline`).
fn verdict(session: &Session, baseline: &Access) -> Result<Arc<Access>, (u16, &'static str)> {
    match session.current() {
        None => Err((CLOSE_REVOKED, "the token was revoked")),
        Some(now)
            if !now.readable.is_superset(&baseline.readable)
                || !now.subscriptions.is_superset(&baseline.subscriptions)
                || (baseline.administrator && !now.administrator) =>
        {
            Err((CLOSE_ACCESS_LOST, "access changed; reconnect"))
        }
        Some(now) => Ok(now),
    }
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The bearer secret in `connection_init`'s payload (browsers cannot set headers).
fn secret_in(payload: &Value) -> Option<String> {
    let value = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))?
        .as_str()?;
    crate::auth::bearer(value).map(str::to_string)
}

/// Serves one upgraded connection; `from_header` is the secret of the upgrade request's
/// `Authorization` header, if it had one.
pub async fn serve(state: AppState, socket: WebSocket, from_header: Option<String>) {
    let (mut sink, mut incoming) = socket.split();
    let (outgoing, mut to_send) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = to_send.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let session = match initialise(&state, &mut incoming, &outgoing, from_header).await {
        Some(session) => Arc::new(session),
        None => {
            drop(outgoing);
            let _ = writer.await;
            return;
        }
    };
    let _ = outgoing.send(text(json!({ "type": "connection_ack" }))).await;
    // What the principal could read at the last look: losing any of it ends the
    // connection; what it gains since is held to the same rule from then on.
    let mut baseline = session.current().unwrap_or_default();
    let mut operations: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut watch = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            _ = watch.tick() => {
                operations.retain(|_, task| !task.is_finished());
                match verdict(&session, &baseline) {
                    Ok(now) => baseline = now,
                    Err((code, reason)) => {
                        let _ = outgoing.send(close(code, reason)).await;
                        break;
                    }
                }
            }
            message = incoming.next() => {
                let Some(Ok(message)) = message else { break };
                let text = match message {
                    Message::Text(text) => text.to_string(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                    let _ = outgoing.send(close(CLOSE_INVALID, "messages are JSON objects")).await;
                    break;
                };
                match message["type"].as_str() {
                    Some("ping") => { let _ = outgoing.send(self::text(json!({ "type": "pong" }))).await; }
                    Some("pong") => {}
                    Some("connection_init") => {
                        let _ = outgoing.send(close(CLOSE_TOO_MANY_INITS, "too many initialisation requests")).await;
                        break;
                    }
                    Some("complete") => {
                        if let Some(task) = message["id"].as_str().and_then(|id| operations.remove(id)) {
                            task.abort();
                        }
                    }
                    Some("subscribe") => {
                        let Some(id) = message["id"].as_str().map(str::to_string) else {
                            let _ = outgoing.send(close(CLOSE_INVALID, "subscribe needs an id")).await;
                            break;
                        };
                        operations.retain(|_, task| !task.is_finished());
                        if operations.contains_key(&id) {
                            let _ = outgoing.send(close(CLOSE_DUPLICATE_ID, "subscriber for this id already exists")).await;
                            break;
                        }
                        // Every operation is checked as a new request would be.
                        if let Err((code, reason)) = verdict(&session, &baseline) {
                            let _ = outgoing.send(close(code, reason)).await;
                            break;
                        }
                        if operations.len() >= MAX_OPERATIONS {
                            let _ = outgoing.send(refusal(&id, "TOO_MANY_REQUESTS", format!("at most {MAX_OPERATIONS} operations may run on one connection"))).await;
                            continue;
                        }
                        let task = tokio::spawn(operation(state.clone(), Arc::clone(&session), id.clone(), message["payload"].clone(), outgoing.clone()));
                        operations.insert(id, task);
                    }
                    _ => {
                        let _ = outgoing.send(close(CLOSE_INVALID, "unknown message type")).await;
                        break;
                    }
                }
            }
        }
    }
    for (_, task) in operations {
        task.abort();
    }
    drop(outgoing);
    let _ = writer.await;
}

/// Waits for `connection_init` and authenticates it (the header's token, or the
/// payload's); refusals close the socket with the protocol's codes.
async fn initialise(
    state: &AppState,
    incoming: &mut futures_util::stream::SplitStream<WebSocket>,
    outgoing: &mpsc::Sender<Message>,
    mut from_header: Option<String>,
) -> Option<Session> {
    let deadline = Instant::now() + INIT_TIMEOUT;
    loop {
        let Ok(message) = tokio::time::timeout_at(deadline.into(), incoming.next()).await else {
            let _ = outgoing
                .send(close(CLOSE_INIT_TIMEOUT, "connection initialisation timeout"))
                .await;
            return None;
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        };
        let message: Value = serde_json::from_str(&text).unwrap_or_default();
        if message["type"] != "connection_init" {
            let code = if message["type"] == "subscribe" {
                CLOSE_REVOKED
            } else {
                CLOSE_INVALID
            };
            let _ = outgoing.send(close(code, "send connection_init first")).await;
            return None;
        }
        let secret = from_header.take().or_else(|| secret_in(&message["payload"]));
        let session = secret.and_then(|secret| Session::open(Arc::clone(&state.store), secret));
        if session.is_none() {
            let _ = outgoing
                .send(close(CLOSE_FORBIDDEN, "a valid bearer token is required"))
                .await;
        }
        return session;
    }
}

/// An `error` message for one operation, with the code HTTP answers would carry.
fn refusal(id: &str, code: &str, message: String) -> Message {
    text(json!({ "id": id, "type": "error", "payload": [{ "message": message, "extensions": { "code": code } }] }))
}

/// Runs one operation: queries and mutations answer once (`next`, then `complete`);
/// subscriptions deliver until they end or the client completes them.
async fn operation(
    state: AppState,
    session: Arc<Session>,
    id: String,
    payload: Value,
    outgoing: mpsc::Sender<Message>,
) {
    let Some(access) = session.current() else { return };
    let principal = session.principal.clone();
    let request: async_graphql::Request = match serde_json::from_value(payload) {
        Ok(request) => request,
        Err(error) => {
            let _ = outgoing
                .send(refusal(
                    &id,
                    "INVALID_INPUT",
                    format!("the payload is not a GraphQL request: {error}"),
                ))
                .await;
            return;
        }
    };
    let document = state.documents.parse(&request.query);
    let subscribing = crate::documents::is_subscription(request.operation_name.as_deref(), document.as_ref());
    let mut request = request
        .data(Acting(principal.clone()))
        .data(api::Viewer(Access::clone(&access)))
        .data(Arc::clone(&session));
    if let Some(document) = document {
        request.set_parsed_query(document);
    }
    if subscribing {
        subscription(&state, &principal, &id, request, &outgoing).await;
    } else {
        single(&state, &principal, &id, request, &outgoing).await;
    }
    let _ = outgoing.send(text(json!({ "id": id, "type": "complete" }))).await;
}

/// A query or mutation over the socket, under the same budget, cap and timeout as HTTP.
async fn single(
    state: &AppState,
    principal: &PrincipalId,
    id: &str,
    request: async_graphql::Request,
    outgoing: &mpsc::Sender<Message>,
) {
    let started = Instant::now();
    let admitted = match state.budgets.admit(principal) {
        Ok(admitted) => admitted,
        Err(retry_after) => {
            let message = crate::budget::spent_message(principal, retry_after);
            let _ = outgoing.send(refusal(id, "TOO_MANY_REQUESTS", message)).await;
            return;
        }
    };
    let Some(_turn) = state.turn(principal).await else {
        state.budgets.settle(principal, admitted, crate::budget::REFUSAL_COST);
        let message = crate::budget::crowded_message(state.limits.max_in_flight_per_principal);
        let _ = outgoing.send(refusal(id, "TOO_MANY_REQUESTS", message)).await;
        return;
    };
    let request = request.data(api::Deadline(started + state.limits.request_timeout));
    let execution = tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request));
    let (answer, spent) = crate::budget::metered(execution).await;
    let mut response = match answer {
        Ok(response) => response,
        Err(_) => {
            state.budgets.settle(principal, admitted, spent);
            let message = crate::budget::too_long_message(state.limits.request_timeout);
            let _ = outgoing.send(refusal(id, "LIMIT_EXCEEDED", message)).await;
            return;
        }
    };
    api::error::classify(&mut response);
    let refused = response.is_err() && response.data == async_graphql::Value::Null;
    let spent = if refused {
        spent.max(crate::budget::REFUSAL_COST)
    } else {
        spent
    };
    state.budgets.settle(principal, admitted, spent);
    let _ = outgoing
        .send(text(json!({ "id": id, "type": "next", "payload": response })))
        .await;
}

/// A subscription: each event it delivers is charged to the principal's budget and
/// waits its turn under the in-flight cap, as a request would.
async fn subscription(
    state: &AppState,
    principal: &PrincipalId,
    id: &str,
    request: async_graphql::Request,
    outgoing: &mpsc::Sender<Message>,
) {
    let mut stream = state.schema.execute_stream(request);
    loop {
        // Waiting for the next event costs nothing; working it out is metered.
        let (item, spent) = crate::budget::metered(stream.next()).await;
        let Some(mut response) = item else { return };
        match state.budgets.admit(principal) {
            Ok(admitted) => state.budgets.settle(principal, admitted, spent),
            // Out of server time: slow down (a subscriber that falls far behind skips
            // what it missed, as the feed says).
            Err(retry_after) => tokio::time::sleep(retry_after).await,
        }
        let Some(_turn) = state.turn(principal).await else {
            continue;
        };
        api::error::classify(&mut response);
        let message = text(json!({ "id": id, "type": "next", "payload": response }));
        if outgoing.send(message).await.is_err() {
            return;
        }
    }
}
