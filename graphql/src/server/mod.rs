//! `lineage serve`: the GraphQL API, the query console, health, readiness and metrics on
//! one axum router, with graceful shutdown.
//!
//! `auth`: tokens; `requests`: the GraphQL routes with budgets and caps; `ops`: audit
//! export, health, readiness, metrics; `listen`: serving connections.

mod admin;
mod assets;
mod auth;
mod listen;
mod ops;
mod requests;
mod tlog;

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

pub use auth::{authenticate, Denied};
pub use listen::{serve, serve_until, ServeOptions};
use ops::*;
pub(crate) use requests::budgeted;
use requests::*;
pub use requests::{BlockingTime, Refused};

/// The page served at `GET /graphql`: GraphiQL, loading only `/assets/graphiql/`.
pub const CONSOLE: &str = include_str!("../console.html");

/// Bounds on connections and requests beyond those of the GraphQL schema: what keeps
/// oversized, slow and too many clients from starving the rest or growing memory.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub max_body_bytes: usize,
    /// The largest artifact an MLflow client may upload (streamed to disk, not held).
    pub max_artifact_bytes: u64,
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
            max_artifact_bytes: 1 << 30,
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
    /// MLflow tracking URIs' targets, reused for a second.
    pub(crate) tracking_targets: Arc<lineage_importer::mlflow::tracking::Targets>,
    /// The latest checkpoint note with its witnesses' cosignatures, once there is one.
    pub(crate) cosigned: crate::witness::Cosigned,
    /// What bills are priced with.
    pub(crate) prices: Arc<lineage_store::billing::PriceBook>,
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
        let schema = api::build(Arc::clone(&store), limits, prices.clone());
        let budgets = Arc::new(crate::budget::Budgets::new(server_limits.principal_budget));
        Self {
            budgets,
            store,
            schema,
            metrics: Arc::default(),
            limits: server_limits,
            in_flight: Arc::default(),
            documents: Default::default(),
            tracking_targets: Arc::default(),
            cosigned: Arc::default(),
            prices: Arc::new(prices),
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
        .route("/assets/graphiql/{file}", get(assets::graphiql))
        .route("/assets/dagre/{file}", get(assets::dagre))
        .route("/assets/explorer/{file}", get(assets::explorer))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/audit", get(audit_export))
        .route("/export", get(ops::export))
        .route("/tlog/checkpoint", get(tlog::checkpoint))
        .route("/tlog/tile/{*path}", get(tlog::tile))
        .route("/bill/bundle", get(tlog::bill_bundle))
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
        // MLflow's routes bound their own bodies: the API's by the same limit and deadline,
        // artifacts streamed to and from disk by their size bound and a per-chunk timeout.
        .merge(crate::mlflow::routes(state.clone()))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn console() -> Html<&'static str> {
    Html(CONSOLE)
}

/// The lineage explorer: a page on the GraphQL API, its modules under `/assets/explorer/`.
async fn explorer() -> Html<&'static str> {
    Html(assets::explorer_page())
}
