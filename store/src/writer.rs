//! The writer thread: group commit. It takes every request waiting, decides each against
//! the state as the earlier ones left it, appends all their events with one `fdatasync`,
//! then commits the derived trees and answers.

use crate::decide;
use crate::error::{Error, Result};
use crate::index;
use crate::log::{EventLog, Head, LogRead};
use crate::overlay::Overlay;
use crate::projection::Projection;
use lineage_schema::envelope::MAX_RECORD_BYTES;
use lineage_schema::{CommandEnvelope, Digest, EntityRef, Envelope, EventId, Rejection, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Where a command's event stands in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub stream: EntityRef,
    pub version: u64,
    pub event_id: EventId,
    /// The event id was already in the log: nothing new was appended.
    pub duplicate: bool,
}

/// A batch of commands to append all together or not at all.
pub(crate) struct Job {
    pub commands: Vec<CommandEnvelope>,
    pub reply: SyncSender<Result<Vec<Appended>>>,
}

/// What the writer shares with readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub head: Mutex<Head>,
    pub feed: broadcast::Sender<Arc<Envelope>>,
    pub appended_events: AtomicU64,
    pub groups: AtomicU64,
}

pub(crate) struct Writer {
    pub log: Box<dyn EventLog>,
    pub reader: Arc<dyn LogRead>,
    pub overlay: Overlay,
    pub projections: Vec<Box<dyn Projection>>,
    pub shared: Arc<Shared>,
    pub max_group: usize,
    /// Set when derived trees could not be written: their state is unknown until reopen.
    pub broken: Option<String>,
}

/// A group being prepared: the events decided so far and the head they lead to.
struct Group {
    records: Vec<Envelope>,
    head: Head,
}

impl Writer {
    pub fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut group = vec![first];
            let mut commands = group[0].commands.len();
            while commands < self.max_group {
                match jobs.try_recv() {
                    Ok(job) => {
                        commands += job.commands.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        if let Some(reason) = &self.broken {
            for job in jobs {
                let _ = job.reply.send(Err(Error::Poisoned(reason.clone())));
            }
            return;
        }
        let mut group = Group { records: Vec::new(), head: self.log.head() };
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let savepoint = self.overlay.savepoint();
            let (records_before, head_before) = (group.records.len(), group.head);
            let outcome = self.prepare(&job.commands, &mut group);
            if outcome.is_err() {
                self.overlay.rollback(savepoint);
                group.records.truncate(records_before);
                group.head = head_before;
            }
            outcomes.push((job.reply, outcome));
        }
        if group.records.is_empty() {
            self.overlay.discard();
            for (reply, outcome) in outcomes {
                let _ = reply.send(outcome);
            }
            return;
        }
        match self.log.append(&group.records) {
            Ok(locations) => {
                for (record, location) in group.records.iter().zip(locations) {
                    index::apply_location(&mut self.overlay, record.seq, location);
                }
                if let Err(error) = self.overlay.commit(group.head.seq) {
                    // The events are durable, so they are acknowledged; but the derived
                    // trees may lag them, and deciding on stale state could break invariants.
                    self.broken = Some(error.to_string());
                }
                *self.shared.head.lock().expect("head lock") = group.head;
                self.shared.appended_events.fetch_add(group.records.len() as u64, Ordering::Relaxed);
                self.shared.groups.fetch_add(1, Ordering::Relaxed);
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome);
                }
                for record in group.records {
                    let _ = self.shared.feed.send(Arc::new(record));
                }
            }
            Err(error) => {
                self.overlay.discard();
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome.and_then(|_| Err(copy_error(&error))));
                }
            }
        }
    }

    /// Decides one job's commands on top of the group so far; appends nothing yet.
    fn prepare(&mut self, commands: &[CommandEnvelope], group: &mut Group) -> Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(commands.len());
        for command in commands {
            if let Some(event_id) = &command.event_id {
                if let Some(seq) = index::seq_of_event(&self.overlay, event_id)? {
                    appended.push(self.original(seq, group)?);
                    continue;
                }
            }
            decide::check_expected_version(&self.overlay, command)?;
            let decision = decide::decide(&self.overlay, command)?;
            let stream = decision.event.stream();
            let version = index::stream_version(&self.overlay, &stream)? + 1;
            let seq = group.head.seq + 1;
            let recorded_at = Timestamp::now().max(group.head.recorded_at);
            let event_id = match &command.event_id {
                Some(event_id) => event_id.clone(),
                None => generated_event_id(seq, recorded_at),
            };
            let envelope = Envelope {
                seq,
                stream,
                version,
                event_id,
                recorded_at,
                occurred_at: command.occurred_at,
                actor: command.actor.clone(),
                account: decision.account,
                event: decision.event,
                prev_hash: group.head.hash,
                hash: Digest::ZERO,
            }
            .seal();
            let size = envelope.encode().len();
            if size > MAX_RECORD_BYTES {
                return Err(Rejection::LimitExceeded { what: format!("the encoded event ({size} bytes)"), limit: MAX_RECORD_BYTES as u64 }.into());
            }
            for projection in &self.projections {
                projection.apply(&mut self.overlay, &envelope)?;
            }
            appended.push(Appended { seq, stream: envelope.stream.clone(), version, event_id: envelope.event_id.clone(), duplicate: false });
            group.head = Head { seq, hash: envelope.hash, recorded_at };
            group.records.push(envelope);
        }
        Ok(appended)
    }

    /// The position of an event that is already in the log (or earlier in this group).
    fn original(&self, seq: u64, group: &Group) -> Result<Appended> {
        let envelope = match group.records.iter().find(|record| record.seq == seq) {
            Some(record) => record.clone(),
            None => {
                let location = self.overlay.get(index::TREE, &index::location_key(seq))?
                    .ok_or_else(|| Error::Derived(format!("no location for seq {seq}")))?;
                self.reader.read_at(index::decode_location(&location))?
            }
        };
        Ok(Appended { seq, stream: envelope.stream, version: envelope.version, event_id: envelope.event_id, duplicate: true })
    }
}

fn generated_event_id(seq: u64, at: Timestamp) -> EventId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    EventId::random(format!("{seq}:{}:{nanos}:{count}:{}", at.micros(), std::process::id()).as_bytes())
}

/// The same failure, for every request of a group that failed together.
fn copy_error(error: &Error) -> Error {
    match error {
        Error::Io { context, path, source } => Error::Io { context, path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) },
        Error::Poisoned(reason) => Error::Poisoned(reason.clone()),
        other => Error::Poisoned(other.to_string()),
    }
}
