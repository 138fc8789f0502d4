//! Making written records durable on a thread of their own: the writer hands the sync of a
//! group's records over and prepares what it will show once they are durable (their
//! derived changes, encoded) instead of waiting in `fdatasync`.

use super::Disk;
use crate::error::{Error, Result};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// How written records become durable: already, or by a sync running elsewhere.
#[derive(Debug)]
#[must_use = "an append is durable only once waited for"]
pub enum Durable {
    Done(Result<()>),
    Syncing(Receiver<Result<()>>),
}

impl Durable {
    /// Already durable.
    pub fn done() -> Self {
        Durable::Done(Ok(()))
    }

    /// Waits until the records are durable, or the sync failed.
    pub fn wait(self) -> Result<()> {
        match self {
            Durable::Done(outcome) => outcome,
            Durable::Syncing(outcome) => outcome
                .recv()
                .unwrap_or_else(|_| Err(Error::Poisoned("the log's sync thread stopped".into()))),
        }
    }
}

type SyncJob = (File, PathBuf, SyncSender<Result<()>>);

/// The thread that syncs a file log's segment files, one job at a time.
#[derive(Debug)]
pub(crate) struct Syncer {
    jobs: SyncSender<SyncJob>,
}

impl Syncer {
    pub(crate) fn start(disk: Arc<dyn Disk>) -> Result<Self> {
        let (jobs, received) = sync_channel::<SyncJob>(1);
        std::thread::Builder::new()
            .name("lineage-log-sync".into())
            .spawn(move || {
                for (file, path, done) in received {
                    let synced = disk
                        .sync_data(&file, &path)
                        .map_err(Error::io("syncing records", &path));
                    let _ = done.send(synced);
                }
            })
            .map_err(|error| Error::Poisoned(format!("starting the log's sync thread failed: {error}")))?;
        Ok(Self { jobs })
    }

    /// Starts making `file` (at `path`) durable; `sync_here` does it on this thread when
    /// the handle cannot be shared or the thread is gone.
    pub(crate) fn sync(&self, file: &File, path: PathBuf, sync_here: impl FnOnce() -> Result<()>) -> Durable {
        let Ok(file) = file.try_clone() else {
            return Durable::Done(sync_here());
        };
        let (done, outcome) = sync_channel(1);
        match self.jobs.send((file, path, done)) {
            Ok(()) => Durable::Syncing(outcome),
            Err(_) => Durable::Done(sync_here()),
        }
    }
}
