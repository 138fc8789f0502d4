//! The one place where errors get their stable code (`extensions.code` in GraphQL) and,
//! for the REST endpoints, their HTTP status.

use async_graphql::{ErrorExtensions, Response};
use lineage_store::Error;

/// A store error as a GraphQL error: rejections keep their own code; failures of the
/// machinery are `INTERNAL` (or `UNAVAILABLE` while shutting down) and say no more.
pub fn from_store(error: Error) -> async_graphql::Error {
    let code = code_of(&error);
    if code == "INTERNAL" {
        tracing::error!(%error, "request failed inside the store");
    }
    async_graphql::Error::new(error.to_string()).extend_with(|_, extensions| extensions.set("code", code))
}

/// The stable code of a store error: a rejection's own, or what the machinery's failure
/// means to a caller.
pub fn code_of(error: &Error) -> &'static str {
    match error {
        Error::Rejected(rejection) => rejection.code(),
        Error::Closed | Error::Locked(_) | Error::Poisoned(_) | Error::Unavailable(_) | Error::Conflict => {
            "UNAVAILABLE"
        }
        Error::Io { .. } | Error::Corruption { .. } | Error::Derived(_) | Error::Sled(_) => "INTERNAL",
    }
}

/// The HTTP status of a code, for the endpoints that answer with one (GraphQL answers
/// 200 with the code in `extensions`; OpenLineage and the other REST routes use this).
pub fn http_status(code: &str) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match code {
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "NO_SEAT" | "FORBIDDEN" => StatusCode::FORBIDDEN,
        "ALREADY_EXISTS" | "DUPLICATE_NAME" | "INVALID_TRANSITION" | "CONFLICT" => StatusCode::CONFLICT,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "TOO_MANY_REQUESTS" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        "INTERNAL" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// An error the API itself raises.
pub fn coded(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message.into()).extend_with(|_, extensions| extensions.set("code", code))
}

pub fn invalid(message: impl Into<String>) -> async_graphql::Error {
    coded("INVALID_INPUT", message)
}

pub fn not_found(what: impl std::fmt::Display) -> async_graphql::Error {
    coded("NOT_FOUND", format!("{what} does not exist"))
}

/// Gives a code to any error no phase claimed (`api::phases` codes the rest): what is left
/// is a request that names no operation the document holds.
pub fn classify(response: &mut Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
        }
    }
}
