//! The log as a C2SP transparency log over HTTP: `GET /tlog/checkpoint` (a signed note)
//! and `GET /tlog/tile/…` (tlog-tiles hash tiles and entry bundles), for the store's
//! administrators and auditors: the tree spans every tenant's events (SECURITY.md); and a
//! bill's bundle, for those who may audit the account.

use super::*;
use lineage_schema::tlog::TileAt;

/// Tiles never change once full: a year's cache. A partial tile is replaced by a wider one
/// as the log grows, so clients look again soon.
const FULL_TILE_CACHE: &str = "private, max-age=31536000, immutable";
const PARTIAL_TILE_CACHE: &str = "private, max-age=60";

/// Whether the request carries a token of the store's administrators or auditors; if
/// not, the refusal.
pub(super) fn store_wide_reader(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), Box<Response>> {
    match authenticate(state, headers)
        .and_then(|principal| state.store.access(&principal).map_err(|_| Denied::Unavailable))
    {
        Ok(access) if access.administrator || access.store_auditor => Ok(()),
        Ok(_) => Err(Box::new(plain(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!("{what} spans every account: it is for the store's administrators and auditors"),
        ))),
        Err(denied) => Err(Box::new(denied.into_response())),
    }
}

/// The transparency tree's checkpoint as it stands, signed.
pub(super) async fn checkpoint(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = store_wide_reader(&state, &headers, "the transparency log") {
        return *refused;
    }
    // With witnesses, the latest checkpoint they were asked to cosign, with what they gave.
    let witnessed = state.cosigned.lock().expect("cosigned lock").clone();
    let store = Arc::clone(&state.store);
    let signed = match witnessed {
        Some(note) => Ok(Ok(note)),
        None => tokio::task::spawn_blocking(move || store.tlog_checkpoint(None)).await,
    };
    match signed {
        Ok(Ok(note)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            note,
        )
            .into_response(),
        Ok(Err(error)) => store_error(&error),
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "signing the checkpoint failed",
        ),
    }
}

/// A hash tile (`/tlog/tile/<L>/<N>[.p/<W>]`) or entry bundle
/// (`/tlog/tile/entries/<N>[.p/<W>]`).
pub(super) async fn tile(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    if let Err(refused) = store_wide_reader(&state, &headers, "the transparency log") {
        return *refused;
    }
    let Some(at) = TileAt::parse(&path) else {
        return plain(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("`tile/{path}` is not a tile path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>], N in three-digit groups (x001/234)"),
        );
    };
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.tlog_tile(at)).await {
        Ok(Ok(bytes)) => {
            let cache = if at.width == lineage_schema::tlog::TILE_WIDTH {
                FULL_TILE_CACHE
            } else {
                PARTIAL_TILE_CACHE
            };
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CACHE_CONTROL, cache),
                ],
                bytes,
            )
                .into_response()
        }
        // A tile past the tree is not there (yet).
        Ok(Err(lineage_store::Error::Rejected(rejection))) => {
            plain(StatusCode::NOT_FOUND, "NOT_FOUND", &rejection.to_string())
        }
        Ok(Err(error)) => store_error(&error),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "reading the tile failed"),
    }
}

/// `GET /bill/bundle?account=A&month=YYYY-MM`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct BundleQuery {
    account: String,
    month: String,
}

/// An auditor's bundle of a bill (LOG-FORMAT.md), for the account's owners and auditors
/// and its subscription's owner; proven in the witnessed checkpoint when there is one.
pub(super) async fn bill_bundle(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<BundleQuery>,
) -> Response {
    let access = match authenticate(&state, &headers)
        .and_then(|principal| state.store.access(&principal).map_err(|_| Denied::Unavailable))
    {
        Ok(access) => access,
        Err(denied) => return denied.into_response(),
    };
    let account = match lineage_schema::AccountId::new(&query.account) {
        Ok(account) => account,
        Err(rejection) => return plain(StatusCode::BAD_REQUEST, "INVALID_INPUT", &rejection.to_string()),
    };
    let Some(month) = lineage_store::billing::Month::parse(&query.month) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            &format!("`{}` is not a month like 2026-03", query.month),
        );
    };
    let witnessed = state.cosigned.lock().expect("cosigned lock").clone();
    let (store, prices) = (Arc::clone(&state.store), Arc::clone(&state.prices));
    let made =
        tokio::task::spawn_blocking(move || store.view(&access).bill_bundle(&account, month, &prices, witnessed)).await;
    match made {
        Ok(Ok(bundle)) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            serde_json::to_string_pretty(&bundle).unwrap_or_default(),
        )
            .into_response(),
        Ok(Err(lineage_store::Error::Rejected(rejection))) => {
            let status = if rejection.code() == "NOT_FOUND" {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            plain(status, rejection.code(), &rejection.to_string())
        }
        Ok(Err(error)) => store_error(&error),
        Err(_) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "making the bundle failed",
        ),
    }
}

fn store_error(error: &lineage_store::Error) -> Response {
    tracing::error!(%error, "transparency log");
    match error {
        lineage_store::Error::Unavailable(_) => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", &error.to_string())
        }
        _ => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the transparency log could not be read",
        ),
    }
}
