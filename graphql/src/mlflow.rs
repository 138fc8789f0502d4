//! MLflow's REST API over HTTP: `MLFLOW_TRACKING_URI=http://HOST:PORT/mlflow/<account>/<workspace>`
//! (or `…/<workspace>/<project>`) with `MLFLOW_TRACKING_TOKEN=<a Lineage token>`. The
//! client appends `/api/2.0/mlflow/…` (the MLflow UI `/ajax-api/2.0/mlflow/…`); the
//! importer's `mlflow::tracking` answers, as the token's principal. Every refusal has
//! MLflow's shape — `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": …}` — and the
//! HTTP status MLflow's clients expect of that code.

use crate::server::{authenticate, AppState, BlockingTime, Denied};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use lineage_importer::mlflow::tracking::artifacts::Upload;
use lineage_importer::mlflow::tracking::Tracking;
use lineage_importer::{Error, TargetSpec};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Everything under `/mlflow/`: the tracking and registry API (under the API's body
/// limit and body deadline), the artifact proxy (under its own), and, for anything else,
/// ENDPOINT_NOT_FOUND in MLflow's shape.
pub fn routes(state: AppState) -> Router<AppState> {
    let limits = state.limits.clone();
    let budgeted = axum::middleware::from_fn_with_state(state.clone(), within_budget);
    let tracking = || -> MethodRouter<AppState> {
        get(call)
            .post(call)
            .patch(call)
            .delete(call)
            .fallback(wrong_method)
            .route_layer(budgeted.clone())
            .route_layer(tower_http::limit::RequestBodyLimitLayer::new(limits.max_body_bytes))
            .route_layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout))
    };
    let mut router = Router::new();
    for api in ["api", "ajax-api"] {
        router = router
            .route(
                &format!("/{{account}}/{{workspace}}/{api}/2.0/mlflow/{{*endpoint}}"),
                tracking(),
            )
            .route(
                &format!("/{{account}}/{{workspace}}/{{project}}/{api}/2.0/mlflow/{{*endpoint}}"),
                tracking(),
            );
    }
    Router::new().nest("/mlflow", router.merge(artifact_routes(state)).fallback(no_endpoint))
}

async fn no_endpoint(uri: axum::http::Uri) -> Response {
    refusal(
        "ENDPOINT_NOT_FOUND",
        format!("{} is not an endpoint of Lineage's MLflow API (a tracking URI is /mlflow/<account>/<workspace>[/<project>])", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: axum::http::Uri) -> Response {
    let mut response = refusal(
        "ENDPOINT_NOT_FOUND",
        format!("{method} is not served at {}", uri.path()),
    );
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
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

/// Path parameters, refused in MLflow's shape (not axum's plain text) when they do not
/// decode: a path that is not UTF-8 once percent-decoded.
struct PathOf<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for PathOf<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathOf(value)),
            Err(rejection) => Err(refusal("INVALID_PARAMETER_VALUE", rejection.body_text())),
        }
    }
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
    PathOf(path): PathOf<HashMap<String, String>>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let request = match fields(&method, query, &body) {
        Ok(request) => request,
        Err(reason) => return refusal("MALFORMED_REQUEST", reason),
    };
    let endpoint = path.get("endpoint").cloned().unwrap_or_default();
    if method == Method::POST && Tracking::only_appends(&endpoint) {
        return appending(&state, &path, &headers, &endpoint, &request).await;
    }
    let verb = method.as_str().to_string();
    answer(&state, &path, &headers, move |tracking| {
        tracking.call(&verb, &endpoint, &request)
    })
    .await
}

/// The JSON `work` answers with the tracking API of the request's placement, or the
/// refusal in MLflow's shape. Appending waits for a disk sync: `work` runs off the async
/// workers.
async fn answer(
    state: &AppState,
    path: &HashMap<String, String>,
    headers: &axum::http::HeaderMap,
    work: impl FnOnce(&Tracking<'_>) -> lineage_importer::Result<Value> + Send + 'static,
) -> Response {
    let spec = match placement(state, path, headers) {
        Ok(spec) => spec,
        Err(denied) => return denied_response(denied),
    };
    let (outcome, spent) = with_tracking(state, spec, work).await;
    let response = match outcome {
        Ok(answer) => Json(answer).into_response(),
        Err(refused) => refused,
    };
    charged(response, spent)
}

/// A request to an endpoint that only appends (`runs/log-metric`, the busiest), answered
/// without the blocking pool: its reads are a few lookups, done here, and the append is
/// awaited, so no thread is held while the group syncs and the request changes threads
/// twice (to the writer and back) instead of four times. The time spent here is metered
/// by the budget as the handler's polls.
async fn appending(
    state: &AppState,
    path: &HashMap<String, String>,
    headers: &axum::http::HeaderMap,
    endpoint: &str,
    request: &Value,
) -> Response {
    let spec = match placement(state, path, headers) {
        Ok(spec) => spec,
        Err(denied) => return denied_response(denied),
    };
    let decided = Tracking::open_reusing(&state.store, &spec, &state.tracking_targets).and_then(|tracking| {
        tracking
            .decide_appending(endpoint, request)
            .expect("the endpoint only appends")
    });
    let mut pending = match decided {
        Ok(pending) => pending,
        Err(error) => return from_error(error),
    };
    match state.store.execute_batch_awaited(pending.batch()).await {
        Ok(_) => {
            pending.appended();
            Json(json!({})).into_response()
        }
        Err(error) => from_error(Error::Store(error)),
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
    let spent = |principal: &lineage_schema::PrincipalId, retry_after: std::time::Duration| {
        refusal(
            "REQUEST_LIMIT_EXCEEDED",
            crate::budget::spent_message(principal, retry_after),
        )
    };
    crate::server::budgeted(&state, request, next, denied_response, spent).await
}

/// The artifact proxy's routes (`mlflow-artifacts`), outside the API's body limit: uploads
/// stream to disk under `max_artifact_bytes`, downloads stream from it.
fn artifact_routes(state: AppState) -> Router<AppState> {
    let budgeted = axum::middleware::from_fn_with_state(state, within_budget);
    let files = || -> MethodRouter<AppState> {
        get(download)
            .put(upload)
            .delete(delete_artifacts)
            .fallback(wrong_method)
            .route_layer(budgeted.clone())
    };
    let listing = || -> MethodRouter<AppState> { get(list).fallback(wrong_method).route_layer(budgeted.clone()) };
    let multipart = || -> MethodRouter<AppState> {
        axum::routing::post(multipart_step)
            .fallback(wrong_method)
            .route_layer(budgeted.clone())
    };
    // A part names its upload by an id only its creator was given; no principal is sent.
    let mut router = Router::new().route(
        &format!("{PARTS}/{{upload}}/{{number}}"),
        axum::routing::put(upload_part).fallback(wrong_method),
    );
    for prefix in ["/{account}/{workspace}", "/{account}/{workspace}/{project}"] {
        router = router
            .route(
                &format!("{prefix}/api/2.0/mlflow-artifacts/mpu/{{step}}/{{*path}}"),
                multipart(),
            )
            .route(&format!("{prefix}/api/2.0/mlflow-artifacts/artifacts"), listing())
            .route(
                &format!("{prefix}/api/2.0/mlflow-artifacts/artifacts/{{*path}}"),
                files(),
            );
    }
    router
}

/// Where the parts of multipart uploads are sent, under `/mlflow`.
const PARTS: &str = "/mpu-parts";

/// `mpu/create`, `mpu/complete` or `mpu/abort` of a multipart upload to `path`.
async fn multipart_step(
    State(state): State<AppState>,
    PathOf(path): PathOf<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let request = match fields(&Method::POST, Vec::new(), &body) {
        Ok(request) => request,
        Err(reason) => return refusal("MALFORMED_REQUEST", reason),
    };
    let step = path.get("step").cloned().unwrap_or_default();
    let wanted = path.get("path").cloned().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let parts_url = format!("http://{host}/mlflow{PARTS}");
    let limit = state.limits.max_artifact_bytes;
    answer(&state, &path, &headers, move |tracking| match step.as_str() {
        "create" => tracking.create_multipart(&wanted, &request, &parts_url),
        "complete" => tracking.complete_multipart(&wanted, &request, limit),
        "abort" => tracking.abort_multipart(&wanted, &request),
        other => Err(lineage_importer::Error::Refused {
            code: lineage_importer::mlflow::tracking::codes::ENDPOINT,
            message: format!("mpu/{other} is not a step of a multipart upload (create, complete, abort)"),
        }),
    })
    .await
}

/// One part of a multipart upload, streamed to disk under the artifact size limit; the
/// answer's ETag is the part's blake3 digest.
async fn upload_part(
    State(state): State<AppState>,
    PathOf((upload, number)): PathOf<(String, u32)>,
    body: axum::body::Body,
) -> Response {
    use lineage_importer::mlflow::tracking::multipart::{begin_part, Part};
    let data_dir = state.store.dir().to_path_buf();
    let limit = state.limits.max_artifact_bytes;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Piece>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let part = begin_part(&data_dir, &upload, number, limit)?;
        received(&mut receiver, part, Part::write, Part::abandon)?.finish()
    });
    pump(body, state.limits.body_timeout, sender).await;
    match writer.await {
        Ok(Ok(etag)) => ([(header::ETAG, format!("\"{etag}\""))], Json(json!({}))).into_response(),
        Ok(Err(error)) => from_error(error),
        Err(_) => refusal("INTERNAL_ERROR", "the part was interrupted"),
    }
}

/// Who asks, and where: the tracking URI's placement and the principal, or the refusal.
fn placement(
    state: &AppState,
    path: &HashMap<String, String>,
    headers: &axum::http::HeaderMap,
) -> Result<TargetSpec, Denied> {
    let principal = authenticate(state, headers)?;
    Ok(TargetSpec {
        actor: principal,
        account: path.get("account").cloned().unwrap_or_default(),
        workspace: path.get("workspace").cloned().unwrap_or_default(),
        project: path.get("project").cloned(),
        model_account: None,
    })
}

/// Runs `work` on the blocking pool with the tracking API of `spec`.
fn with_tracking<T: Send + 'static>(
    state: &AppState,
    spec: TargetSpec,
    work: impl FnOnce(&Tracking<'_>) -> lineage_importer::Result<T> + Send + 'static,
) -> impl std::future::Future<Output = (Result<T, Response>, BlockingTime)> + Send + 'static {
    let store = Arc::clone(&state.store);
    let targets = Arc::clone(&state.tracking_targets);
    async move {
        let done = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let outcome = Tracking::open_reusing(&store, &spec, &targets).map(|tracking| {
                let outcome = work(&tracking);
                (outcome, tracking.waited_for_log())
            });
            let (outcome, waited) = match outcome {
                Ok((outcome, waited)) => (outcome, waited),
                Err(error) => (Err(error), std::time::Duration::ZERO),
            };
            (outcome, BlockingTime(started.elapsed().saturating_sub(waited)))
        })
        .await;
        match done {
            Ok((Ok(answer), spent)) => (Ok(answer), spent),
            Ok((Err(error), spent)) => (Err(from_error(error)), spent),
            Err(_) => (
                Err(refusal("INTERNAL_ERROR", "the request was interrupted")),
                BlockingTime(std::time::Duration::ZERO),
            ),
        }
    }
}

/// `response`, carrying the blocking time its principal is charged for.
fn charged(mut response: Response, spent: BlockingTime) -> Response {
    response.extensions_mut().insert(spent);
    response
}

async fn list(
    State(state): State<AppState>,
    PathOf(path): PathOf<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let wanted = query.get("path").cloned().unwrap_or_default();
    answer(&state, &path, &headers, move |tracking| {
        tracking.list_artifacts(&wanted)
    })
    .await
}

async fn delete_artifacts(
    State(state): State<AppState>,
    PathOf(path): PathOf<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let wanted = path.get("path").cloned().unwrap_or_default();
    answer(&state, &path, &headers, move |tracking| {
        tracking.delete_artifacts(&wanted)
    })
    .await
}

async fn download(
    State(state): State<AppState>,
    PathOf(path): PathOf<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let spec = match placement(&state, &path, &headers) {
        Ok(spec) => spec,
        Err(denied) => return denied_response(denied),
    };
    let wanted = path.get("path").cloned().unwrap_or_default();
    let (found, spent) = with_tracking(&state, spec, move |tracking| tracking.artifact_file(&wanted)).await;
    let (file, size) = match found {
        Ok(found) => found,
        Err(refused) => return charged(refused, spent),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut reader = match std::fs::File::open(&file) {
            Ok(reader) => reader,
            Err(error) => return drop(sender.blocking_send(Err(error))),
        };
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => return,
                Ok(read) => {
                    if sender
                        .blocking_send(Ok(Bytes::copy_from_slice(&buffer[..read])))
                        .is_err()
                    {
                        return;
                    }
                }
                Err(error) => return drop(sender.blocking_send(Err(error))),
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let response = (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response();
    charged(response, spent)
}

/// What the body reader hands the writer: bytes, then the end (a stream that stops
/// without it was cut short, and what was written is dropped).
enum Piece {
    Bytes(Bytes),
    End,
}

/// Hands `body` to a writer as pieces, then the end; stops early when the body breaks,
/// falls silent for `idle`, or the writer stops listening (it refused the path or the
/// size, and its answer says why).
async fn pump(body: axum::body::Body, idle: std::time::Duration, sender: tokio::sync::mpsc::Sender<Piece>) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(bytes))) => {
                if sender.send(Piece::Bytes(bytes)).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = sender.send(Piece::End).await;
                return;
            }
            Ok(Some(Err(_))) | Err(_) => return,
        }
    }
}

/// On the writer's side: writes each piece into `sink`, and hands it back whole once the
/// end arrives; on a refused write or a body cut short, `sink` is abandoned (nothing kept).
fn received<S>(
    receiver: &mut tokio::sync::mpsc::Receiver<Piece>,
    mut sink: S,
    write: fn(&mut S, &[u8]) -> lineage_importer::Result<()>,
    abandon: fn(S),
) -> lineage_importer::Result<S> {
    loop {
        match receiver.blocking_recv() {
            Some(Piece::Bytes(bytes)) => {
                if let Err(error) = write(&mut sink, &bytes) {
                    abandon(sink);
                    return Err(error);
                }
            }
            Some(Piece::End) => return Ok(sink),
            None => {
                abandon(sink);
                return Err(lineage_importer::Error::Refused {
                    code: "BAD_REQUEST",
                    message: "the upload was cut short".into(),
                });
            }
        }
    }
}

async fn upload(
    State(state): State<AppState>,
    PathOf(path): PathOf<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let spec = match placement(&state, &path, &headers) {
        Ok(spec) => spec,
        Err(denied) => return denied_response(denied),
    };
    let wanted = path.get("path").cloned().unwrap_or_default();
    let limit = state.limits.max_artifact_bytes;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Piece>(8);
    let writer = tokio::spawn(with_tracking(&state, spec, move |tracking| {
        let upload = tracking.begin_upload(&wanted, limit)?;
        let upload = received(&mut receiver, upload, Upload::write, Upload::abandon)?;
        tracking.finish_upload(upload)
    }));
    pump(body, state.limits.body_timeout, sender).await;
    // An upload's blocking thread mostly waits for the body to arrive; its time is not
    // charged (the artifact size limit and the body timeout bound it instead).
    match writer.await {
        Ok((Ok(answer), _)) => (StatusCode::OK, Json(answer)).into_response(),
        Ok((Err(refused), _)) => refused,
        Err(_) => refusal("INTERNAL_ERROR", "the upload was interrupted"),
    }
}
