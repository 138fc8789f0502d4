//! `mlflow-null`: an MLflow tracking server that answers every call at once with the
//! smallest reply MLflow's client accepts, storing nothing — the ceiling of a client or
//! load generator in BENCHMARKS.md's side-by-side table (tests/peers/mlflow_api.sh).
//!
//! Usage: `mlflow-null --bind 127.0.0.1:18765`

use anyhow::Result;
use axum::http::Uri;
use axum::Json;
use clap::Parser;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:18765")]
    bind: String,
}

/// The reply to one endpoint (the path after `/api/2.0/mlflow/`): what MLflow's client
/// reads back from it, or nothing.
fn reply(endpoint: &str) -> Value {
    let info = json!({ "run_id": "r", "run_uuid": "r", "experiment_id": "1", "status": "RUNNING", "lifecycle_stage": "active", "artifact_uri": "" });
    let version = json!({ "name": "m", "version": "1", "status": "READY", "current_stage": "None" });
    match endpoint {
        "experiments/create" => json!({ "experiment_id": "1" }),
        "runs/create" => json!({ "run": { "info": info, "data": {} } }),
        "runs/update" => json!({ "run_info": info }),
        "registered-models/create" => json!({ "registered_model": { "name": "m" } }),
        "model-versions/create" | "model-versions/get" | "registered-models/alias" => {
            json!({ "model_version": version })
        }
        _ => json!({}),
    }
}

// The body is read (and dropped): a request left unread makes the server close the
// connection, which would cost the load generator a reconnect each time.
async fn answer(uri: Uri, _body: axum::body::Bytes) -> Json<Value> {
    let endpoint = uri.path().split("/api/2.0/mlflow/").nth(1).unwrap_or_default();
    Json(reply(endpoint))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "OK" }))
        .fallback(answer);
    axum::serve(listener, app).await?;
    Ok(())
}
