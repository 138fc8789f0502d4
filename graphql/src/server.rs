//! `lineage serve`: the GraphQL API, the query console, health, readiness and metrics on
//! one axum router, with graceful shutdown.

use crate::api::{self, Acting, Limits, LineageSchema};
use crate::metrics::Metrics;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lineage_store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// The page served at `GET /graphql`: self-contained, no network needed.
pub const CONSOLE: &str = include_str!("console.html");

/// Bounds on a request beyond those of the GraphQL schema.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub schema: LineageSchema,
    pub metrics: Arc<Metrics>,
    pub limits: ServerLimits,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(store: Arc<Store>, acting: Acting, limits: Limits, server_limits: ServerLimits) -> Self {
        let schema = api::build(Arc::clone(&store), limits, acting);
        Self {
            store,
            schema,
            metrics: Arc::default(),
            limits: server_limits,
        }
    }
}

/// The whole HTTP surface; tests call it without a socket, `serve` with one.
pub fn app(state: AppState) -> Router {
    let subscriptions = GraphQLSubscription::new(state.schema.clone());
    Router::new()
        .route("/graphql", get(console).post(graphql))
        .route_service("/graphql/ws", subscriptions)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/audit", get(audit_export))
        // async-graphql-axum reads the body itself, past axum's default limit; this layer
        // bounds it for every route (413 when the declared or actual size is over).
        .layer(RequestBodyLimitLayer::new(state.limits.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn console() -> Html<&'static str> {
    Html(CONSOLE)
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    let started = Instant::now();
    let request = request
        .into_inner()
        .data(api::Deadline(started + state.limits.request_timeout));
    let operation = operation_name(&request);
    let mut response = match tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
            format!(
                "the request took longer than {:?} and was stopped",
                state.limits.request_timeout
            ),
            None,
        )])
        .tap_code("LIMIT_EXCEEDED"),
    };
    api::error::classify(&mut response);
    state.metrics.record(&operation, started.elapsed(), response.is_err());
    response.into()
}

/// The operation's name for metrics: the one the request names, or the only named
/// operation of its document, or `anonymous`.
fn operation_name(request: &async_graphql::Request) -> String {
    if let Some(name) = &request.operation_name {
        return name.clone();
    }
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return "invalid".into();
    };
    match document.operations {
        async_graphql::parser::types::DocumentOperations::Single(_) => "anonymous".into(),
        async_graphql::parser::types::DocumentOperations::Multiple(operations) => operations
            .keys()
            .next()
            .map_or_else(|| "anonymous".into(), |name| name.to_string()),
    }
}

/// Sets a code on every error of a response built here.
trait TapCode {
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

/// Filters for `GET /audit`, as query-string parameters.
#[derive(Debug, serde::Deserialize)]
pub struct AuditQuery {
    account: Option<String>,
    actor: Option<String>,
    entity: Option<String>,
    kind: Option<String>,
    r#type: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// `csv` (default) or `ndjson`.
    format: Option<String>,
    limit: Option<usize>,
}

/// The audit trail as a CSV or NDJSON download.
async fn audit_export(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<AuditQuery>,
) -> Response {
    let format = match query.format.as_deref().unwrap_or("csv") {
        "csv" => crate::export::Format::Csv,
        "ndjson" => crate::export::Format::Ndjson,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown format `{other}`: use csv or ndjson\n"),
            )
                .into_response()
        }
    };
    let filter = match crate::export::filter(
        query.account.as_deref(),
        query.actor.as_deref(),
        query.entity.as_deref(),
        query.kind.as_deref(),
        query.r#type.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    ) {
        Ok(filter) => filter,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error:#}\n")).into_response(),
    };
    let store = Arc::clone(&state.store);
    let limit = query.limit.unwrap_or(usize::MAX);
    let body = tokio::task::spawn_blocking(move || {
        let mut body = String::new();
        crate::export::write(&store, &filter, format, limit, &mut |text| {
            body.push_str(text);
            Ok(())
        })
        .map(|_| body)
    })
    .await;
    let content_type = match format {
        crate::export::Format::Csv => "text/csv; charset=utf-8",
        crate::export::Format::Ndjson => "application/x-ndjson",
    };
    match body {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "the export failed\n").into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers: its log is open and its writer running.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.flushed_seq() {
        Ok(_) if state.store.is_open() => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let head = state.store.head().seq;
    let flushed = state.store.flushed_seq().unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(head, flushed),
    )
        .into_response()
}

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub bind: String,
    pub limits: Limits,
    pub server_limits: ServerLimits,
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish and closes the store.
pub async fn serve(
    store: Arc<Store>,
    acting: Acting,
    options: ServeOptions,
    ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    serve_until(store, acting, options, ready, shutdown_signal()).await
}

/// Serves until `stop` completes, then lets in-flight requests finish and closes the store.
pub async fn serve_until(
    store: Arc<Store>,
    acting: Acting,
    options: ServeOptions,
    ready: impl FnOnce(std::net::SocketAddr),
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&options.bind)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", options.bind))?;
    let address = listener.local_addr()?;
    ready(address);
    tracing::info!(%address, head = store.head().seq, "serving GraphQL at /graphql");
    let state = AppState::new(Arc::clone(&store), acting, options.limits, options.server_limits);
    axum::serve(listener, app(state)).with_graceful_shutdown(stop).await?;
    tracing::info!("shutting down: requests drained, closing the store");
    let closing = Arc::clone(&store);
    tokio::task::spawn_blocking(move || closing.close()).await??;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Keeps the websocket protocol list referenced for readers of this module: subscriptions
/// speak graphql-transport-ws (and the older graphql-ws).
pub const WEBSOCKET_PROTOCOLS: [&str; 2] = ALL_WEBSOCKET_PROTOCOLS;
