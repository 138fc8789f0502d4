//! The operator's routes: the audit export, the online backup, health, readiness and metrics.

use super::*;

/// Filters for `GET /audit`, as query-string parameters.
#[derive(Debug, serde::Deserialize)]
pub(super) struct AuditQuery {
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
pub(super) async fn audit_export(
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
            return plain(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &format!("unknown format `{other}`: use csv or ndjson"),
            )
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
        Err(error) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &crate::cli::plain_words(&error),
            )
        }
    };
    let store = Arc::clone(&state.store);
    let limit = query.limit.unwrap_or(usize::MAX);
    let body = tokio::task::spawn_blocking(move || {
        let mut body = String::new();
        crate::export::write(
            &store,
            &filter,
            &|event| access.can_audit(event),
            (format, limit),
            &mut |text| {
                body.push_str(text);
                Ok(())
            },
            &mut |_, _| {},
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
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "the export failed"),
    }
}

/// What `GET /export` takes: the export's filters, as `lineage export` takes them.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ExportQuery {
    since: Option<u64>,
    account: Option<String>,
}

/// An online backup, for the store's administrators and auditors: the log after `since` (of `account`, if given),
/// streamed as Lineage's NDJSON export up to the head as the request found it, which the
/// `Lineage-Export-Upto` header names (the next incremental export's `since`).
pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ExportQuery>,
) -> Response {
    if let Err(refused) = super::tlog::store_wide_reader(&state, &headers, "the export") {
        return *refused;
    }
    let account = match query.account.map(lineage_schema::AccountId::new).transpose() {
        Ok(account) => account,
        Err(rejection) => return plain(StatusCode::BAD_REQUEST, "INVALID_INPUT", &rejection.to_string()),
    };
    let filter = lineage_store::EventFilter { account, stream: None };
    let since = query.since.unwrap_or(0);
    let upto = state.store.head().seq;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<String>>(4);
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let mut send = |lines: &str| {
            sender
                .blocking_send(Ok(lines.to_string()))
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        };
        if let Err(error) =
            lineage_importer::lineage_format::export_upto(&store, &filter, since, upto, &mut send, &mut |_, _| {})
        {
            // Cut the body short: a client sees an unfinished transfer, not a whole file.
            let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::HeaderName::from_static("lineage-export-upto"), upto.to_string()),
        ],
        body,
    )
        .into_response()
}

/// A refusal in the API's JSON shape: a message and its code, as GraphQL's errors carry them.
pub(super) fn plain(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the store answers: its log is open and its writer running.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.flushed_seq() {
        // A node on a shared log says how far behind the log it is; not the head itself,
        // which would tell anyone without a token how much every tenant writes.
        Ok(_) if state.store.is_open() => {
            (StatusCode::OK, format!("ready\nlag {}\n", state.store.lag())).into_response()
        }
        _ => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "not ready: the store is not open",
        ),
    }
}

pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Request counts and the log's size are the whole store's business: administrators only.
    match authenticate(&state, &headers)
        .and_then(|principal| state.store.access(&principal).map_err(|_| Denied::Unavailable))
    {
        Ok(access) if access.administrator => {}
        Ok(_) => return plain(StatusCode::FORBIDDEN, "FORBIDDEN", "metrics are for administrators"),
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
