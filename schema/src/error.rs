//! `Rejection`: why a command was refused. A rejected command appends nothing.

use crate::ids::{EntityKind, EntityRef};
use serde::{Deserialize, Serialize};

pub type Result<T, E = Rejection> = std::result::Result<T, E>;

/// Why a command was refused. Each case names what the caller can fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    #[error("{entity} does not exist")]
    NotFound { entity: EntityRef },

    #[error("{entity} already exists")]
    AlreadyExists { entity: EntityRef },

    #[error("a {kind} named `{name}` already exists in {scope}")]
    DuplicateName {
        kind: EntityKind,
        name: String,
        scope: String,
    },

    #[error("{entity}: cannot {action} ({state})")]
    InvalidTransition {
        entity: EntityRef,
        state: String,
        action: String,
    },

    #[error("{principal} holds no seat in account {account}")]
    NoSeat { principal: String, account: String },

    #[error("{principal} may not {action}")]
    NotPermitted { principal: String, action: String },

    #[error("version conflict on {stream}: expected version {expected}, but it is at {actual}")]
    VersionConflict {
        stream: EntityRef,
        expected: u64,
        actual: u64,
    },

    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded { what: String, limit: u64 },

    #[error("event id {event_id} was used for another command")]
    IdempotencyConflict { event_id: String },
}

impl Rejection {
    /// A stable machine-readable code for each case (used by the API's error codes).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidInput { .. } => "INVALID_INPUT",
            Rejection::NotFound { .. } => "NOT_FOUND",
            Rejection::AlreadyExists { .. } => "ALREADY_EXISTS",
            Rejection::DuplicateName { .. } => "DUPLICATE_NAME",
            Rejection::InvalidTransition { .. } => "INVALID_TRANSITION",
            Rejection::NoSeat { .. } => "NO_SEAT",
            Rejection::NotPermitted { .. } => "FORBIDDEN",
            Rejection::VersionConflict { .. } => "CONFLICT",
            Rejection::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            Rejection::IdempotencyConflict { .. } => "CONFLICT",
        }
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Rejection::InvalidInput {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub fn not_found(entity: EntityRef) -> Self {
        Rejection::NotFound { entity }
    }

    pub fn transition(entity: EntityRef, state: impl Into<String>, action: &str) -> Self {
        Rejection::InvalidTransition {
            entity,
            state: state.into(),
            action: action.to_string(),
        }
    }
}
