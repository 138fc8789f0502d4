//! The store's one error type.

use lineage_schema::Rejection;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command was refused; nothing was appended.
    #[error(transparent)]
    Rejected(#[from] Rejection),

    /// A file operation failed. Nothing reported as appended was lost.
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The log holds a record that is not what was written. `seq` is the first bad
    /// position when it is known (the record after the last good one otherwise).
    #[error("log corrupt at seq {seq} ({segment}, byte {offset}): {reason}")]
    Corruption {
        seq: u64,
        segment: PathBuf,
        offset: u64,
        reason: String,
    },

    /// A derived index or projection disagrees with the log; `lineage rebuild` fixes it.
    #[error("derived data out of step with the log: {0}; run `lineage rebuild`")]
    Derived(String),

    #[error("index database: {0}")]
    Sled(#[from] sled::Error),

    /// An earlier write or sync failed; the log refuses appends until it is reopened.
    #[error("the log stopped accepting appends after a failed write: {0}; reopen the store")]
    Poisoned(String),

    /// The store is shutting down or its writer has stopped.
    #[error("the store is closed")]
    Closed,

    /// The log's database cannot be reached or refused the request; nothing was
    /// acknowledged. Worth retrying shortly.
    #[error("{0}")]
    Unavailable(String),

    /// Another node appended first: the writer folds its records in and decides again.
    /// Callers see it only if that kept happening.
    #[error("other nodes kept appending first; try again")]
    Conflict,

    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
}

impl Error {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { context, path, source }
    }

    /// The rejection inside, if the command was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }
}
