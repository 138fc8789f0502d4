//! The importers' one error type.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line that is not what the format says, named by file and line.
    #[error("{path}, line {line}: {reason}")]
    Line { path: PathBuf, line: usize, reason: String },

    /// A record (a file, a database row, an event) that is not what the format says,
    /// named by where it is.
    #[error("{place}: {reason}")]
    Malformed { place: String, reason: String },

    /// The SQLite database could not be read at all.
    #[error("cannot read the MLflow database {path}: {source}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// Where the import was asked to go does not exist or does not fit (an unknown
    /// account, a workspace of another account, no model management account).
    #[error("{0}")]
    Target(String),

    /// A request of MLflow's tracking API refused in MLflow's terms: `code` is MLflow's
    /// error code (`RESOURCE_DOES_NOT_EXIST`, `INVALID_PARAMETER_VALUE`, …).
    #[error("{message}")]
    Refused { code: &'static str, message: String },

    #[error(transparent)]
    Store(#[from] lineage_store::Error),
}

impl From<lineage_schema::Rejection> for Error {
    fn from(rejection: lineage_schema::Rejection) -> Self {
        Error::Store(rejection.into())
    }
}

impl Error {
    /// The code of the store's rejection behind this error, if a rejection it is.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Error::Store(error) => error.rejection().map(|rejection| rejection.code()),
            _ => None,
        }
    }

    pub fn malformed(place: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            place: place.into(),
            reason: reason.into(),
        }
    }
}
