//! MLflow's REST API over HTTP: `MLFLOW_TRACKING_URI=http://HOST:PORT/mlflow/<account>/<workspace>`
//! (or `…/<workspace>/<project>`) with `MLFLOW_TRACKING_TOKEN=<a Lineage token>`. The
//! client appends `/api/2.0/mlflow/…` (the MLflow UI `/ajax-api/2.0/mlflow/…`); the
//! importer's `mlflow::tracking` answers, as the token's principal. Every refusal has
//! MLflow's shape — `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": …}` — and the
//! HTTP status MLflow's clients expect of that code.

use crate::server::{authenticate, AppState, Denied};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use lineage_importer::mlflow::tracking::Tracking;
use lineage_importer::{Error, TargetSpec};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The routes under `/mlflow/`.
pub fn routes(state: AppState) -> Router<AppState> {
    let budgeted = axum::middleware::from_fn_with_state(state, within_budget);
    let tracking = || -> MethodRouter<AppState> { get(call).post(call).route_layer(budgeted.clone()) };
    let mut router = Router::new();
    for api in ["api", "ajax-api"] {
        router = router
            .route(
                &format!("/mlflow/{{account}}/{{workspace}}/{api}/2.0/mlflow/{{*endpoint}}"),
                tracking(),
            )
            .route(
                &format!("/mlflow/{{account}}/{{workspace}}/{{project}}/{api}/2.0/mlflow/{{*endpoint}}"),
                tracking(),
            );
    }
    router
}

/// MLflow's HTTP status for one of its error codes (its `ERROR_CODE_TO_HTTP_STATUS`).
fn status_of(code: &str) -> StatusCode {
    match code {
        "RESOURCE_DOES_NOT_EXIST" | "ENDPOINT_NOT_FOUND" => StatusCode::NOT_FOUND,
        "PERMISSION_DENIED" => StatusCode::FORBIDDEN,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "RESOURCE_CONFLICT" => StatusCode::CONFLICT,
        "REQUEST_LIMIT_EXCEEDED" => StatusCode::TOO_MANY_REQUESTS,
        "TEMPORARILY_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "INTERNAL_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// MLflow's error code for a Lineage one (`Rejection::code`, `api::error::code_of`).
fn mlflow_code(code: &str) -> &'static str {
    match code {
        "NOT_FOUND" => "RESOURCE_DOES_NOT_EXIST",
        "ALREADY_EXISTS" | "DUPLICATE_NAME" => "RESOURCE_ALREADY_EXISTS",
        "NO_SEAT" | "FORBIDDEN" => "PERMISSION_DENIED",
        "CONFLICT" => "RESOURCE_CONFLICT",
        "UNAUTHENTICATED" => "UNAUTHENTICATED",
        "TOO_MANY_REQUESTS" => "REQUEST_LIMIT_EXCEEDED",
        "UNAVAILABLE" => "TEMPORARILY_UNAVAILABLE",
        "INTERNAL" => "INTERNAL_ERROR",
        // A transition the run cannot make is the caller's mistake: 400, which MLflow's
        // client does not retry (its INVALID_STATE is a 500, which it would).
        "INVALID_TRANSITION" => "BAD_REQUEST",
        _ => "INVALID_PARAMETER_VALUE",
    }
}

/// An answer in MLflow's error shape.
pub fn refusal(code: &str, message: impl Into<String>) -> Response {
    (
        status_of(code),
        Json(json!({ "error_code": code, "message": message.into() })),
    )
        .into_response()
}

fn from_error(error: Error) -> Response {
    match error {
        Error::Refused { code, message } => refusal(code, message),
        Error::Target(message) => refusal("RESOURCE_DOES_NOT_EXIST", message),
        Error::Store(error) => {
            let code = crate::api::error::code_of(&error);
            if code == "INTERNAL" {
                tracing::error!(%error, "MLflow request failed inside the store");
                return refusal("INTERNAL_ERROR", "the request failed inside the store");
            }
            refusal(mlflow_code(code), error.to_string())
        }
        error @ (Error::Malformed { .. } | Error::Line { .. }) => refusal("INVALID_PARAMETER_VALUE", error.to_string()),
        error => {
            tracing::error!(%error, "MLflow request failed");
            refusal("INTERNAL_ERROR", "the request failed")
        }
    }
}

/// The request's fields: the query string's for a GET (a repeated key becomes a list),
/// the JSON body's otherwise.
fn fields(method: &Method, query: Vec<(String, String)>, body: &Bytes) -> Result<Value, String> {
    if method == Method::GET {
        let mut fields = Map::new();
        for (key, value) in query {
            match fields.get_mut(&key) {
                Some(Value::Array(values)) => values.push(Value::String(value)),
                Some(single) => *single = json!([single.take(), value]),
                None => {
                    fields.insert(key, Value::String(value));
                }
            }
        }
        return Ok(Value::Object(fields));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(error) => Err(format!("the request body is not JSON: {error}")),
    }
}

async fn call(
    State(state): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match authenticate(&state, &headers) {
        Ok(principal) => principal,
        Err(denied) => return denied_response(denied),
    };
    let request = match fields(&method, query, &body) {
        Ok(request) => request,
        Err(reason) => return refusal("MALFORMED_REQUEST", reason),
    };
    let spec = TargetSpec {
        actor: principal,
        account: path.get("account").cloned().unwrap_or_default(),
        workspace: path.get("workspace").cloned().unwrap_or_default(),
        project: path.get("project").cloned(),
        model_account: None,
    };
    let endpoint = path.get("endpoint").cloned().unwrap_or_default();
    let store = Arc::clone(&state.store);
    // Appending waits for a disk sync: keep it off the async workers.
    let answered = tokio::task::spawn_blocking(move || Tracking::open(&store, &spec)?.call(&endpoint, &request)).await;
    match answered {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err(error)) => from_error(error),
        Err(_) => refusal("INTERNAL_ERROR", "the request was interrupted"),
    }
}

fn denied_response(denied: Denied) -> Response {
    let mut response = match denied {
        Denied::Unauthenticated => refusal(
            "UNAUTHENTICATED",
            "a valid bearer token is required: set MLFLOW_TRACKING_TOKEN to a Lineage token",
        ),
        Denied::Unavailable => refusal("TEMPORARILY_UNAVAILABLE", "the store cannot check tokens right now"),
    };
    if response.status() == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// Each principal's budget of server time, as for GraphQL, refused in MLflow's shape
/// (429 with `Retry-After`, which MLflow's client waits out and retries).
async fn within_budget(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let principal = match authenticate(&state, request.headers()) {
        Ok(principal) => principal,
        Err(denied) => return denied_response(denied),
    };
    let admitted = match state.budgets.admit(&principal) {
        Ok(admitted) => admitted,
        Err(retry_after) => {
            let mut response = refusal(
                "REQUEST_LIMIT_EXCEEDED",
                crate::budget::spent_message(&principal, retry_after),
            );
            if let Ok(value) = header::HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    };
    let (response, mut spent) = crate::budget::metered(next.run(request)).await;
    if response.status().is_client_error() {
        spent = spent.max(crate::budget::REFUSAL_COST);
    }
    state.budgets.settle(&principal, admitted, spent);
    response
}
