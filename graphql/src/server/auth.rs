//! Who a request is: its bearer token looked up, or why it is turned away.

use super::*;

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
            Denied::Unavailable => super::ops::plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the store cannot check tokens right now",
            ),
        }
    }
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
