//! Making written records durable on a thread of their own: the writer hands over the
//! `fdatasync` of a group's records and decides the next group meanwhile, instead of
//! waiting in the kernel.

use super::Disk;
use crate::error::{Error, Result};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

/// A file to make durable, and the path its errors name.
type SyncJob = (Arc<File>, PathBuf);

/// The thread that syncs a file log's segment files, one at a time, in the order asked.
#[derive(Debug)]
pub(crate) struct Syncer {
    jobs: SyncSender<SyncJob>,
    outcomes: Receiver<Result<()>>,
    /// A sync was started and not yet waited for.
    syncing: bool,
    /// How the sync started last ended, when a look found it ended.
    ended: Option<Result<()>>,
}

impl Syncer {
    pub(crate) fn start(disk: Arc<dyn Disk>) -> Result<Self> {
        let (jobs, received) = sync_channel::<SyncJob>(1);
        let (answer, outcomes) = sync_channel(1);
        std::thread::Builder::new()
            .name("lineage-log-sync".into())
            .spawn(move || {
                for (file, path) in received {
                    let synced = disk
                        .sync_data(&file, &path)
                        .map_err(Error::io("syncing records", &path));
                    if answer.send(synced).is_err() {
                        break;
                    }
                }
            })
            .map_err(|error| Error::Poisoned(format!("starting the log's sync thread failed: {error}")))?;
        Ok(Self {
            jobs,
            outcomes,
            syncing: false,
            ended: None,
        })
    }

    /// Starts making what was written to `file` (at `path`) durable.
    pub(crate) fn start_sync(&mut self, file: &Arc<File>, path: PathBuf) {
        assert!(!self.syncing, "one sync at a time");
        // A send fails only when the thread is gone; `wait` then says so.
        let _ = self.jobs.send((Arc::clone(file), path));
        self.syncing = true;
    }

    /// Whether the sync started last has ended well, without waiting for it.
    pub(crate) fn synced(&mut self) -> bool {
        if self.syncing && self.ended.is_none() {
            self.ended = match self.outcomes.try_recv() {
                Ok(outcome) => Some(outcome),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(Err(stopped())),
            };
        }
        matches!(self.ended, Some(Ok(())))
    }

    /// Waits for the sync started last: `Ok` once the file's data is durable.
    pub(crate) fn wait(&mut self) -> Result<()> {
        assert!(self.syncing, "a sync to wait for");
        self.syncing = false;
        match self.ended.take() {
            Some(outcome) => outcome,
            None => self.outcomes.recv().unwrap_or_else(|_| Err(stopped())),
        }
    }
}

fn stopped() -> Error {
    Error::Poisoned("the log's sync thread stopped".into())
}
