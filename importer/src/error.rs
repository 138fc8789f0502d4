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

    #[error(transparent)]
    Store(#[from] lineage_store::Error),
}

impl Error {
    pub fn malformed(place: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            place: place.into(),
            reason: reason.into(),
        }
    }
}
