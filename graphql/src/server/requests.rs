//! The GraphQL routes: each principal's budget and in-flight cap around a request,
//! queries and mutations over HTTP, and the WebSocket upgrade.

use super::*;

/// A response whose request was refused as a whole (it did not parse, or broke a limit).
#[derive(Clone, Copy, Debug)]
pub struct Refused;

/// Server time a request spent on a blocking thread, outside its future's polls (the
/// MLflow API's reads and decisions run there): charged to its principal as well. Waits
/// for the log are not in it.
#[derive(Clone, Copy, Debug)]
pub struct BlockingTime(pub std::time::Duration);

/// Lets a request in only while its principal has server time left (429 otherwise,
/// before the body is read), and charges it the time it took.
pub(super) async fn within_budget(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let spent = |principal: &lineage_schema::PrincipalId, retry_after: std::time::Duration| {
        let millis = retry_after.as_millis().max(1);
        let body = serde_json::json!({ "errors": [{ "message": crate::budget::spent_message(principal, retry_after), "extensions": { "code": "TOO_MANY_REQUESTS", "retryAfterMs": millis as u64 } }] });
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    };
    budgeted(&state, request, next, IntoResponse::into_response, spent).await
}

/// The budget around one request, its refusals shaped by the API it serves: `denied`
/// for a request without a valid token, `spent` for one past its principal's budget
/// (`Retry-After` is added here).
pub(crate) async fn budgeted(
    state: &AppState,
    request: axum::extract::Request,
    next: axum::middleware::Next,
    denied: impl FnOnce(Denied) -> Response,
    spent: impl FnOnce(&lineage_schema::PrincipalId, std::time::Duration) -> Response,
) -> Response {
    let principal = match authenticate(state, request.headers()) {
        Ok(principal) => principal,
        Err(why) => return denied(why),
    };
    let admitted = match state.budgets.admit(&principal) {
        Ok(admitted) => admitted,
        Err(retry_after) => {
            let mut response = spent(&principal, retry_after);
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    };
    let (response, mut used) = crate::budget::metered(next.run(request)).await;
    if let Some(BlockingTime(blocking)) = response.extensions().get::<BlockingTime>() {
        used += *blocking;
    }
    let status = response.status();
    let refused = response.extensions().get::<Refused>().is_some()
        || (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS);
    if refused {
        used = used.max(crate::budget::REFUSAL_COST);
    }
    state.budgets.settle(&principal, admitted, used);
    response
}

/// GraphQL over WebSocket (graphql-transport-ws; see `live`). The token comes in the
/// upgrade request's `Authorization` header or, from browsers, in `connection_init`'s payload.
pub(super) async fn subscriptions(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::auth::bearer)
        .map(str::to_string);
    upgrade
        .protocols(["graphql-transport-ws"])
        .on_upgrade(move |socket| crate::live::serve(state, socket, from_header))
        .into_response()
}

pub(super) async fn graphql(State(state): State<AppState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let principal = match authenticate(&state, &headers) {
        Ok(principal) => principal,
        Err(denied) => return denied.into_response(),
    };
    let started = Instant::now();
    let Some(_turn) = state.turn(&principal).await else {
        let body = serde_json::json!({ "errors": [{ "message": crate::budget::crowded_message(state.limits.max_in_flight_per_principal), "extensions": { "code": "TOO_MANY_REQUESTS" } }] });
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    };
    let mut request = request.into_inner();
    // Parsed once, here, for the operation's name and for execution.
    let document = state.documents.parse(&request.query);
    let operation = crate::documents::operation_name(request.operation_name.as_deref(), document.as_ref());
    if let Some(document) = document {
        request.set_parsed_query(document);
    }
    let request = request
        .data(api::Deadline(started + state.limits.request_timeout))
        .data(Acting(principal.clone()));
    let request = match state.store.access(&principal) {
        Ok(access) => request.data(api::Viewer(access)),
        Err(error) => {
            tracing::error!(%error, "working out access failed");
            return Denied::Unavailable.into_response();
        }
    };
    let mut response = match tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
            crate::budget::too_long_message(state.limits.request_timeout),
            None,
        )])
        .tap_code("LIMIT_EXCEEDED"),
    };
    api::error::classify(&mut response);
    state.metrics.record(&operation, started.elapsed(), response.is_err());
    let refused = response.is_err() && response.data == async_graphql::Value::Null;
    // The log's database away (or busy): worth trying again shortly, as HTTP says.
    let unavailable = response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from("UNAVAILABLE"))
    });
    let mut response = GraphQLResponse::from(response).into_response();
    if refused {
        response.extensions_mut().insert(Refused);
    }
    if unavailable {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// Sets a code on every error of a response built here.
pub(super) trait TapCode {
    fn tap_code(self, code: &'static str) -> Self;
}

impl TapCode for async_graphql::Response {
    fn tap_code(mut self, code: &'static str) -> Self {
        for error in &mut self.errors {
            error.extensions.get_or_insert_with(Default::default).set("code", code);
        }
        self
    }
}
