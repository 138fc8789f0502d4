//! The writer thread: group commit. It takes every request waiting, decides each against
//! the state as the earlier ones left it, appends all their events with one `fdatasync`,
//! then commits the derived trees and answers. While a group's records sync, the next
//! group is decided on top of it; neither is seen or answered before it is durable.

use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use crate::log::{EventLog, Head, LogRead};
use crate::projections::index;
use crate::projections::Projection;
use lineage_schema::envelope::Sealed;
use lineage_schema::{CommandEnvelope, EntityRef, Envelope, EventId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::sync::oneshot;

/// Flush derived changes to sled once this many events are layered…
const FLUSH_EVENTS: u64 = 16_384;
/// …or once the oldest layered change is this old, or the writer has been idle this long.
const FLUSH_AFTER: Duration = Duration::from_millis(500);

/// Where a command's event stands in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub stream: EntityRef,
    pub version: u64,
    pub event_id: Option<EventId>,
    /// The event id was already in the log: nothing new was appended.
    pub duplicate: bool,
}

/// A batch that was not appended: why, and which of its commands (its index in the batch)
/// was refused, when one command's refusal sank it.
#[derive(Debug)]
pub struct BatchFailure {
    pub command: Option<usize>,
    pub error: Error,
}

impl From<BatchFailure> for Error {
    fn from(failure: BatchFailure) -> Self {
        failure.error
    }
}

impl From<Error> for BatchFailure {
    fn from(error: Error) -> Self {
        Self { command: None, error }
    }
}

/// What a batch comes to: where its events are, or why none were appended.
pub(crate) type Outcome = std::result::Result<Vec<Appended>, BatchFailure>;

/// What the writer is asked to do.
pub(crate) enum Job {
    /// Append a batch of commands' events, all together or not at all.
    Append {
        commands: Vec<CommandEnvelope>,
        reply: Reply,
    },
    /// Append events restored from an export, exactly as they were (same positions, times
    /// and hashes), after checking that they continue the chain.
    Restore { records: Vec<Envelope>, reply: Reply },
    /// Write every layered derived change to sled.
    Flush { reply: SyncSender<Result<()>> },
    /// Fold in what other writers appended to a shared log: up to the announced seq, or
    /// whatever is there when nothing was announced (announcements can be missed).
    CatchUp { announced: Option<u64> },
}

/// How many times a group is decided again after other nodes appended first, before its
/// requests are told to try again.
const MAX_CONFLICTS: usize = 64;

/// What one job asks to append.
pub(super) enum Work {
    Commands(Vec<CommandEnvelope>),
    Records(Vec<Envelope>),
}

pub(super) struct Append {
    pub(super) work: Work,
    reply: Reply,
}

/// Where an append's outcome goes: a thread blocked on it, or a task awaiting it (which
/// then needs no thread of its own while the group syncs).
pub(crate) enum Reply {
    Blocking(SyncSender<Outcome>),
    Awaited(oneshot::Sender<Outcome>),
}

impl Reply {
    /// Hands over the outcome; one whose asker has gone is dropped.
    fn send(self, outcome: Outcome) {
        match self {
            Reply::Blocking(sender) => drop(sender.send(outcome)),
            Reply::Awaited(sender) => drop(sender.send(outcome)),
        }
    }
}

/// What the writer shares with readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub head: Mutex<Head>,
    pub feed: broadcast::Sender<Arc<Envelope>>,
    pub appended_events: AtomicU64,
    pub groups: AtomicU64,
    /// Bumped after events that can change who may read what are visible to readers.
    pub access_generation: AtomicU64,
    /// The highest seq known to be in the log (a shared log's tail may be ahead of `head`).
    pub log_head: AtomicU64,
}

pub(crate) struct Writer {
    pub log: Box<dyn EventLog>,
    pub reader: Arc<dyn LogRead>,
    pub overlay: Overlay,
    /// Writes layered derived changes to sled in the background.
    pub flusher: crate::derived::flusher::Flusher,
    pub projections: Vec<Box<dyn Projection>>,
    pub shared: Arc<Shared>,
    pub max_group: usize,
    /// Set when derived trees could not be written: their state is unknown until reopen.
    pub broken: Option<String>,
    /// Which accounts principals may read, kept between commands (see `access::Sight`).
    pub sight: crate::projections::access::Sight,
    /// Events whose derived changes are layered but not yet in sled, and since when.
    pub layered_events: u64,
    pub layered_since: Option<Instant>,
    /// Each group's events, once durable, to the transparency tree's builder (which
    /// reads the log for any it is not handed: a full queue drops a group).
    pub tlog_feed: Option<std::sync::mpsc::SyncSender<Vec<Arc<Envelope>>>>,
    /// The group whose records are syncing, answered once they are durable.
    pub in_flight: Option<InFlight>,
}

/// A group written to the log and syncing: its derived changes are staged in the overlay.
pub(crate) struct InFlight {
    pub(super) group: Group,
    jobs: Vec<Append>,
    outcomes: Vec<Outcome>,
}

/// A group being prepared: the events decided so far and the head they lead to.
pub(super) struct Group {
    pub(super) records: Vec<Sealed>,
    pub(super) head: Head,
}

impl Writer {
    pub(crate) fn run(mut self, jobs: Receiver<Job>) {
        loop {
            // A group syncing is answered before waiting for more work; while work keeps
            // coming, the next group is decided during its sync.
            let waiting = if self.in_flight.is_some() {
                jobs.try_recv().ok()
            } else {
                None
            };
            let received = match waiting {
                Some(job) => Ok(job),
                None => {
                    self.answer_in_flight();
                    jobs.recv_timeout(FLUSH_AFTER)
                }
            };
            let first = match received {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.flush_if(self.layered_events > 0);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut group = Vec::new();
            let mut commands = 0;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Append { commands: batch, reply } => {
                        commands += batch.len();
                        group.push(Append {
                            work: Work::Commands(batch),
                            reply,
                        });
                    }
                    Job::Restore { records, reply } => {
                        commands += records.len();
                        group.push(Append {
                            work: Work::Records(records),
                            reply,
                        });
                    }
                    Job::Flush { reply } => {
                        self.commit_group(std::mem::take(&mut group));
                        self.answer_in_flight();
                        let _ = reply.send(self.flush());
                    }
                    Job::CatchUp { announced } => {
                        self.commit_group(std::mem::take(&mut group));
                        self.answer_in_flight();
                        // Most announcements are this node's own appends: nothing to read.
                        if announced.is_none_or(|seq| seq > self.log.head().seq) {
                            self.absorb_or_break();
                        }
                    }
                }
                if commands < self.max_group {
                    next = jobs.try_recv().ok();
                }
            }
            self.commit_group(group);
            let due = self.layered_events >= FLUSH_EVENTS
                || self.layered_since.is_some_and(|since| since.elapsed() >= FLUSH_AFTER);
            self.flush_if(due);
        }
        self.answer_in_flight();
        let _ = self.flush();
    }

    /// Hands what is layered to the flusher when `due` (waiting for the flush before it).
    fn flush_if(&mut self, due: bool) {
        if !due || self.broken.is_some() {
            return;
        }
        let head = self.shared.head.lock().expect("head lock").seq;
        // What is frozen now may reach sled, new streams' keys with it.
        self.overlay.forget_fresh();
        // A failure marks the writer broken; appends then say why.
        if let Err(error) = self.flusher.begin(head) {
            self.broken = Some(error.to_string());
        }
        self.layered_events = 0;
        self.layered_since = None;
    }

    /// Writes everything layered to sled before returning.
    fn flush(&mut self) -> Result<()> {
        if let Some(reason) = &self.broken {
            return Err(Error::Poisoned(reason.clone()));
        }
        self.flush_if(true);
        if let Err(error) = self.flusher.wait() {
            self.broken = Some(error.to_string());
        }
        match &self.broken {
            Some(reason) => Err(Error::Poisoned(reason.clone())),
            None => Ok(()),
        }
    }

    fn commit_group(&mut self, jobs: Vec<Append>) {
        if jobs.is_empty() {
            return;
        }
        if let Some(reason) = &self.broken {
            let reason = reason.clone();
            self.answer_in_flight();
            for job in jobs {
                job.reply.send(Err(Error::Poisoned(reason.clone()).into()));
            }
            return;
        }
        let mut attempt = 0;
        loop {
            let (group, outcomes) = self.decide_group(&jobs);
            // Decided on top of the group syncing, so answered only once that is durable.
            if let Err(error) = self.finish_in_flight() {
                for job in jobs {
                    job.reply.send(Err(copy_error(&error).into()));
                }
                return;
            }
            if group.records.is_empty() {
                self.overlay.discard();
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    job.reply.send(outcome);
                }
                return;
            }
            match self.log.begin_append(&group.records) {
                Ok(positions) => {
                    self.stage(&group, positions);
                    self.in_flight = Some(InFlight { group, jobs, outcomes });
                    return;
                }
                // Another node appended first: fold its records in, decide again.
                Err(Error::Conflict) if attempt < MAX_CONFLICTS => {
                    attempt += 1;
                    self.sight.forget();
                    self.overlay.discard();
                    if let Err(error) = self.absorb() {
                        for job in jobs {
                            job.reply.send(Err(copy_error(&error).into()));
                        }
                        return;
                    }
                }
                Err(error) => {
                    self.sight.forget();
                    self.overlay.discard();
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        job.reply.send(outcome.and_then(|_| Err(copy_error(&error).into())));
                    }
                    return;
                }
            }
        }
    }

    /// [`Writer::finish_in_flight`] where nothing else waits on the outcome: the group's
    /// requests are told either way.
    pub(super) fn answer_in_flight(&mut self) {
        let _ = self.finish_in_flight();
    }

    /// Waits for the group in flight to be durable, then shows and answers it. When it
    /// is not, nothing of it shows, nor of what was decided on top of it: its requests are
    /// told why, and so is the caller (for the requests decided on top).
    fn finish_in_flight(&mut self) -> Result<()> {
        let Some(InFlight { group, jobs, outcomes }) = self.in_flight.take() else {
            return Ok(());
        };
        match self.log.finish_append() {
            Ok(()) => {
                self.overlay.commit_staged();
                self.publish(
                    group.head,
                    group.records.into_iter().map(|record| record.envelope).collect(),
                );
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    job.reply.send(outcome);
                }
                Ok(())
            }
            Err(error) => {
                self.sight.forget();
                self.overlay.drop_staged();
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    job.reply.send(outcome.and_then(|_| Err(copy_error(&error).into())));
                }
                Err(error)
            }
        }
    }

    /// Once a group's records are written: their positions placed, and the group's derived
    /// changes set aside (encoded) until the records are durable.
    fn stage(&mut self, group: &Group, positions: Vec<crate::log::Position>) {
        for (record, position) in group.records.iter().zip(positions) {
            if let Err(error) = index::apply_position(&mut self.overlay, &record.envelope, position) {
                // The events become durable, so they are acknowledged; but the derived
                // trees may lag them, and deciding on stale state could break invariants.
                self.broken = Some(error.to_string());
            }
        }
        self.overlay.stage();
    }

    /// Tells readers about `records`, now at `head`, whose changes are in the layer.
    fn publish(&mut self, head: Head, records: Vec<Envelope>) {
        if records.iter().any(crate::projections::access::may_change_access) {
            self.shared.access_generation.fetch_add(1, Ordering::Release);
        }
        self.layered_events += records.len() as u64;
        self.layered_since.get_or_insert_with(Instant::now);
        *self.shared.head.lock().expect("head lock") = head;
        self.shared
            .appended_events
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.shared.groups.fetch_add(1, Ordering::Relaxed);
        self.shared.log_head.fetch_max(head.seq, Ordering::Relaxed);
        // Publish before acknowledging: whoever holds an ack and reads the feed
        // has already been sent the event.
        let records: Vec<Arc<Envelope>> = records.into_iter().map(Arc::new).collect();
        for record in &records {
            let _ = self.shared.feed.send(Arc::clone(record));
        }
        if let Some(tlog) = &self.tlog_feed {
            let _ = tlog.try_send(records);
        }
    }

    /// Folds in what other writers appended to a shared log since this one's head.
    fn absorb(&mut self) -> Result<()> {
        let newer = self.log.newer()?;
        let Some((last, _)) = newer.last() else {
            return Ok(());
        };
        let head = Head {
            seq: last.seq,
            hash: last.hash,
            recorded_at: last.recorded_at,
        };
        let mut records = Vec::with_capacity(newer.len());
        for (envelope, position) in newer {
            let applied = self
                .projections
                .iter()
                .try_for_each(|projection| projection.apply(&mut self.overlay, &envelope))
                .and_then(|()| index::apply_position(&mut self.overlay, &envelope, position));
            if let Err(error) = applied {
                // The log moved past what the derived trees hold: stop until reopened.
                self.broken = Some(error.to_string());
                return Err(error);
            }
            if crate::projections::access::may_change_access(&envelope) {
                self.sight.forget();
            }
            records.push(envelope);
        }
        self.overlay.commit_to_layer();
        self.publish(head, records);
        Ok(())
    }

    /// [`Writer::absorb`] between groups; a failure is kept for the next appends to say.
    fn absorb_or_break(&mut self) {
        if self.broken.is_some() {
            return;
        }
        match self.absorb() {
            Ok(()) => {}
            // The database is away: the next catch-up tries again.
            Err(Error::Unavailable(_)) => {}
            Err(error) => self.broken = Some(error.to_string()),
        }
    }
}

/// The same failure, for every request of a group that failed together.
fn copy_error(error: &Error) -> Error {
    match error {
        Error::Io { context, path, source } => Error::Io {
            context,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Poisoned(reason) => Error::Poisoned(reason.clone()),
        Error::Unavailable(reason) => Error::Unavailable(reason.clone()),
        Error::Conflict => Error::Conflict,
        other => Error::Poisoned(other.to_string()),
    }
}
