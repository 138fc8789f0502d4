//! `POST /api/v1/lineage`: OpenLineage events over HTTP, as Marquez accepts them — one
//! event or an array — from any emitter pointed at Lineage. The bearer token's principal
//! acts; `?account=…&workspace=…` (and optionally `&project=…`) say where events land.

use crate::api::error::http_status;
use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lineage_importer::openlineage;
use lineage_importer::{Error, Target, TargetSpec};
use serde_json::json;
use std::sync::Arc;

/// Where the events land.
#[derive(Debug, serde::Deserialize)]
pub struct Placement {
    account: Option<String>,
    workspace: Option<String>,
    project: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into(), "code": code }))).into_response()
}

pub async fn receive(
    State(state): State<AppState>,
    Query(placement): Query<Placement>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let principal = match crate::server::authenticate(&state, &headers) {
        Ok(principal) => principal,
        Err(denied) => return denied.into_response(),
    };
    let (Some(account), Some(workspace)) = (placement.account, placement.workspace) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "say where the events go: POST /api/v1/lineage?account=ACCOUNT&workspace=WORKSPACE (optionally &project=PROJECT)",
        );
    };
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                format!("the body is not JSON: {error}"),
            )
        }
    };
    let events = match openlineage::check_body(body) {
        Ok(events) => events,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, "INVALID_INPUT", reason),
    };
    // Where the events land is resolved through the principal's access (an account or
    // workspace it may not read is answered as one that does not exist).
    let spec = TargetSpec {
        actor: principal,
        account,
        workspace,
        project: placement.project,
        model_account: None,
    };
    let store = Arc::clone(&state.store);
    let applied = tokio::task::spawn_blocking(move || {
        let target = Target::prepare_with(&store, &spec, "openlineage", false)?;
        openlineage::import(&store, &target, &events, true, &mut |_, _| {})
    })
    .await;
    match applied {
        Ok(Ok(summary)) => (
            StatusCode::CREATED,
            Json(json!({
                "events": summary.events,
                "created": summary.created,
                "unchanged": summary.unchanged,
            })),
        )
            .into_response(),
        Ok(Err(Error::Target(reason))) => refuse(StatusCode::NOT_FOUND, "NOT_FOUND", reason),
        Ok(Err(Error::Store(error))) => match error.rejection() {
            Some(rejection) => refuse(http_status(rejection.code()), rejection.code(), rejection.to_string()),
            None => {
                tracing::error!(%error, "OpenLineage import failed");
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the store cannot take events right now",
                )
            }
        },
        Ok(Err(error)) => refuse(StatusCode::BAD_REQUEST, "INVALID_INPUT", error.to_string()),
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the import was interrupted",
        ),
    }
}
