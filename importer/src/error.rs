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

    #[error(transparent)]
    Store(#[from] lineage_store::Error),
}
