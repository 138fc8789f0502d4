//! `lineage serve`: the GraphQL API, the query console, health, readiness and metrics on
//! one axum router, with graceful shutdown.

use crate::api::{self, Acting, Limits, LineageSchema};
use crate::metrics::Metrics;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
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

/// The lineage explorer served at `GET /`: one self-contained page on the GraphQL API.
pub const EXPLORER: &str = include_str!("explorer.html");

/// Bounds on connections and requests beyond those of the GraphQL schema: what keeps
/// oversized, slow and too many clients from starving the rest or growing memory.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (slow clients are cut off).
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body (408 after it).
    pub body_timeout: Duration,
    /// GraphQL requests one principal may have running at once; more wait their turn
    /// (429 after the request timeout), so a flood from one token does not slow others.
    pub max_in_flight_per_principal: usize,
    /// Server time one principal's requests may take per second (0: unlimited); past it,
    /// 429 with `Retry-After` until its budget refills (see `budget`).
    pub principal_budget: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            max_in_flight_per_principal: 32,
            principal_budget: crate::budget::default_per_principal(),
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
    /// Requests each principal has running, so that one cannot crowd out the rest.
    in_flight:
        Arc<std::sync::Mutex<std::collections::HashMap<lineage_schema::PrincipalId, Arc<tokio::sync::Semaphore>>>>,
    pub(crate) documents: crate::documents::Documents,
    pub(crate) budgets: Arc<crate::budget::Budgets>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        limits: Limits,
        server_limits: ServerLimits,
        prices: lineage_store::billing::PriceBook,
    ) -> Self {
        let schema = api::build(Arc::clone(&store), limits, prices);
        let budgets = Arc::new(crate::budget::Budgets::new(server_limits.principal_budget));
        Self {
            budgets,
            store,
            schema,
            metrics: Arc::default(),
            limits: server_limits,
            in_flight: Arc::default(),
            documents: Default::default(),
        }
    }
}

impl AppState {
    /// A turn among the principal's running GraphQL requests (at most
    /// `max_in_flight_per_principal` at once); None after waiting the request timeout.
    pub(crate) async fn turn(
        &self,
        principal: &lineage_schema::PrincipalId,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let turn = {
            let mut running = self.in_flight.lock().expect("in-flight lock");
            let slots = self.limits.max_in_flight_per_principal.max(1);
            Arc::clone(
                running
                    .entry(principal.clone())
                    .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(slots))),
            )
        };
        tokio::time::timeout(self.limits.request_timeout, turn.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

/// The whole HTTP surface; tests call it without a socket, `serve` with one.
pub fn app(state: AppState) -> Router {
    let budgeted = axum::middleware::from_fn_with_state(state.clone(), within_budget);
    Router::new()
        .route("/", get(explorer))
        .route(
            "/graphql",
            get(console).merge(axum::routing::post(graphql).route_layer(budgeted.clone())),
        )
        .route("/graphql/ws", get(subscriptions))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/audit", get(audit_export))
        .route(
            "/api/v1/lineage",
            axum::routing::post(crate::openlineage::receive).route_layer(budgeted),
        )
        // async-graphql-axum reads the body itself, past axum's default limit; this layer
        // bounds it for every route (413 when the declared or actual size is over).
        .layer(RequestBodyLimitLayer::new(state.limits.max_body_bytes))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.limits.body_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn console() -> Html<&'static str> {
    Html(CONSOLE)
}

async fn explorer() -> Html<&'static str> {
    Html(EXPLORER)
}

/// Why a request is turned away before it reaches the API.
#[derive(Debug)]
pub enum Denied {
    /// No token, or one that is unknown or revoked: 401.
    Unauthenticated,
    /// The token index could not be read: 503.
    Unavailable,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthenticated => {
                let body = serde_json::json!({ "errors": [{ "message": "a valid bearer token is required (Authorization: Bearer …)", "extensions": { "code": "UNAUTHENTICATED" } }] });
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    axum::Json(body),
                )
                    .into_response()
            }
            Denied::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot check tokens right now\n",
            )
                .into_response(),
        }
    }
}

/// A response whose request was refused as a whole (it did not parse, or broke a limit).
#[derive(Clone, Copy, Debug)]
pub struct Refused;

/// Lets a request in only while its principal has server time left (429 otherwise,
/// before the body is read), and charges it the time it took.
async fn within_budget(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let principal = match authenticate(&state, request.headers()) {
        Ok(principal) => principal,
        Err(denied) => return denied.into_response(),
    };
    let admitted = match state.budgets.admit(&principal) {
        Ok(admitted) => admitted,
        Err(retry_after) => {
            let millis = retry_after.as_millis().max(1);
            let body = serde_json::json!({ "errors": [{ "message": format!("{principal} has used its share of the server's time; retry in {millis} ms"), "extensions": { "code": "TOO_MANY_REQUESTS", "retryAfterMs": millis as u64 } }] });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.as_secs().max(1).to_string())],
                axum::Json(body),
            )
                .into_response();
        }
    };
    let (response, mut spent) = crate::budget::metered(next.run(request)).await;
    let status = response.status();
    let refused = response.extensions().get::<Refused>().is_some()
        || (status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS);
    if refused {
        spent = spent.max(crate::budget::REFUSAL_COST);
    }
    state.budgets.settle(&principal, admitted, spent);
    response
}

/// The principal behind a request's bearer token.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<lineage_schema::PrincipalId, Denied> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::auth::bearer);
    let principal = match secret {
        Some(secret) => state.store.authenticate(secret).map_err(|error| {
            tracing::error!(%error, "token lookup failed");
            Denied::Unavailable
        })?,
        None => None,
    };
    principal.ok_or(Denied::Unauthenticated)
}

/// GraphQL over WebSocket (graphql-transport-ws; see `live`). The token comes in the
/// upgrade request's `Authorization` header or, from browsers, in `connection_init`'s payload.
async fn subscriptions(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
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

async fn graphql(State(state): State<AppState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let principal = match authenticate(&state, &headers) {
        Ok(principal) => principal,
        Err(denied) => return denied.into_response(),
    };
    let started = Instant::now();
    let Some(_turn) = state.turn(&principal).await else {
        let body = serde_json::json!({ "errors": [{ "message": format!("more than {} requests of this principal are running; retry later", state.limits.max_in_flight_per_principal), "extensions": { "code": "TOO_MANY_REQUESTS" } }] });
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
    let refused = response.is_err() && response.data == async_graphql::Value::Null;
    let mut response = GraphQLResponse::from(response).into_response();
    if refused {
        response.extensions_mut().insert(Refused);
    }
    response
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
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<AuditQuery>,
) -> Response {
    let access = match authenticate(&state, &headers)
        .and_then(|principal| state.store.access(&principal).map_err(|_| Denied::Unavailable))
    {
        Ok(access) => access,
        Err(denied) => return denied.into_response(),
    };
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
        crate::export::write(
            &store,
            &filter,
            &|event| access.can_audit(event),
            format,
            limit,
            &mut |text| {
                body.push_str(text);
                Ok(())
            },
        )
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

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Request counts and the log's size are the whole store's business: administrators only.
    match authenticate(&state, &headers)
        .and_then(|principal| state.store.access(&principal).map_err(|_| Denied::Unavailable))
    {
        Ok(access) if access.administrator => {}
        Ok(_) => return (StatusCode::FORBIDDEN, "metrics are for administrators\n").into_response(),
        Err(denied) => return denied.into_response(),
    }
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
    /// What bills are priced with.
    pub prices: lineage_store::billing::PriceBook,
}

/// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish and closes the store.
pub async fn serve(
    store: Arc<Store>,
    options: ServeOptions,
    ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    serve_until(store, options, ready, shutdown_signal()).await
}

/// Serves until `stop` completes, then lets in-flight requests finish and closes the store.
pub async fn serve_until(
    store: Arc<Store>,
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
    let state = AppState::new(
        Arc::clone(&store),
        options.limits,
        options.server_limits,
        options.prices,
    );
    serve_connections(listener, app(state.clone()), &state.limits, stop).await;
    tracing::info!("shutting down: requests drained, closing the store");
    let closing = Arc::clone(&store);
    tokio::task::spawn_blocking(move || closing.close()).await??;
    Ok(())
}

/// Accepts connections until `stop`, each served by hyper with a deadline for its
/// headers, at most `max_connections` at once; then lets open ones finish (up to 30 s).
async fn serve_connections(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &ServerLimits,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut stop => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s of shutting down; closing anyway");
        }
    }
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
