//! Lineage's edge: the GraphQL server and the `lineage` command line.
//!
//! - [`api`]: the GraphQL schema — queries, mutations, subscriptions, error codes, limits;
//! - [`auth`]: bearer tokens — issuing them and finding a request's principal;
//! - [`server`]: the axum router (`/graphql`, the console page, `/healthz`, `/readyz`,
//!   `/metrics`) and `serve` with graceful shutdown;
//! - [`metrics`]: request counts and latencies in the Prometheus text format;
//! - [`export`]: audit exports as CSV and NDJSON;
//! - [`openlineage`]: `POST /api/v1/lineage`, OpenLineage events over HTTP;
//! - [`mlflow`]: MLflow's REST API at `/mlflow/<account>/<workspace>/api/2.0/mlflow/…`;
//! - [`cli`]: the commands and their output;
//! - [`bench`] (with `bench::graph` and `bench::peers`): `lineage bench`, throughput and latency
//!   measurements, and Lineage's side of the benchmark beside MLflow and ML Metadata.
//!
//! Architecture invariant: this is the only crate that knows about the command line,
//! HTTP and GraphQL; it reaches the log only through `lineage_store::Store`.

pub mod api;
pub mod auth;
pub mod bench;
pub mod budget;
pub mod cli;
pub mod documents;
pub mod export;
pub mod live;
pub mod metrics;
pub mod mlflow;
pub mod openlineage;
pub mod server;
pub mod witness;
