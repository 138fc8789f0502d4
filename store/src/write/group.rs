//! Deciding a group: each job's commands (or restored records) decided on top of the ones
//! before it, sealed into the records the writer appends, a refused job's changes undone.

use super::writer::{Append, Appended, BatchFailure, Group, Outcome, Work, Writer};
use crate::error::{Error, Result};
use crate::log::Head;
use crate::projections::index;
use crate::write::decide;
use lineage_schema::envelope::{Sealed, MAX_RECORD_BYTES};
use lineage_schema::{Command, CommandEnvelope, Digest, Envelope, Rejection, Timestamp};

impl Writer {
    /// Decides every job of a group on top of the ones before it: the records to append
    /// and each job's outcome (a refused job's changes are undone).
    pub(super) fn decide_group(&mut self, jobs: &[Append]) -> (Group, Vec<Outcome>) {
        let mut group = Group {
            records: Vec::new(),
            head: self.log.head(),
        };
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            let savepoint = self.overlay.savepoint();
            let sight_mark = self.sight.mark();
            let (records_before, head_before) = (group.records.len(), group.head);
            let mut decided = 0;
            let outcome = match &job.work {
                Work::Commands(commands) => self.prepare(commands, &mut group, &mut decided),
                Work::Records(records) => self.prepare_restored(records, &mut group, &mut decided),
            }
            .map_err(|error| BatchFailure {
                command: Some(decided),
                error,
            });
            if outcome.is_err() {
                // What the sight learnt since an access-changing event of this job rests on
                // changes now undone; without one, everything it knows still holds.
                if self.sight.mark() != sight_mark {
                    self.sight.forget();
                }
                self.overlay.rollback(savepoint);
                group.records.truncate(records_before);
                group.head = head_before;
            } else {
                // Jobs are never rolled back once decided: free their undo entries while
                // the memory is warm for the next job.
                self.overlay.release(savepoint);
            }
            outcomes.push(outcome);
        }
        (group, outcomes)
    }

    /// Checks restored events continue the chain and folds them in; appends nothing yet.
    /// `decided` counts the records taken, so a refusal names the one refused.
    fn prepare_restored(
        &mut self,
        records: &[Envelope],
        group: &mut Group,
        decided: &mut usize,
    ) -> Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(records.len());
        for (index, envelope) in records.iter().enumerate() {
            *decided = index;
            self.answer_in_flight_if_synced();
            let broken = |reason: &str| {
                Error::Rejected(Rejection::invalid(
                    "restore",
                    format!("event {}: {reason}", envelope.seq),
                ))
            };
            if envelope.seq != group.head.seq + 1 {
                return Err(broken(&format!("expected seq {}", group.head.seq + 1)));
            }
            if envelope.prev_hash != group.head.hash || envelope.compute_hash() != envelope.hash {
                return Err(broken("its hashes do not continue the chain"));
            }
            if envelope.recorded_at < group.head.recorded_at {
                return Err(broken("its recorded time goes backwards"));
            }
            let body = envelope.encode();
            if body.len() > MAX_RECORD_BYTES {
                return Err(broken("it is larger than a record may be"));
            }
            crate::projections::tlog::check_fits(envelope, body.len())?;
            for projection in &self.projections {
                projection.apply(&mut self.overlay, envelope)?;
            }
            if crate::projections::access::may_change_access(envelope) {
                self.sight.forget();
            }
            appended.push(Appended {
                seq: envelope.seq,
                stream: envelope.stream.clone(),
                version: envelope.version,
                event_id: envelope.event_id.clone(),
                duplicate: false,
            });
            group.head = Head {
                seq: envelope.seq,
                hash: envelope.hash,
                recorded_at: envelope.recorded_at,
            };
            group.records.push(Sealed {
                envelope: envelope.clone(),
                body,
            });
        }
        Ok(appended)
    }

    /// Answers the group before once it is durable, without waiting for this one to be
    /// decided (a job of many commands takes longer to decide than a sync): looked for
    /// before each command or restored record.
    fn answer_in_flight_if_synced(&mut self) {
        if self.in_flight.is_some() && self.log.append_synced() {
            self.answer_in_flight();
        }
    }

    /// Decides one job's commands on top of the group so far; appends nothing yet.
    /// `decided` counts the commands taken, so a refusal names the one refused.
    fn prepare(
        &mut self,
        commands: &[CommandEnvelope],
        group: &mut Group,
        decided: &mut usize,
    ) -> Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(commands.len());
        for (index, command) in commands.iter().enumerate() {
            *decided = index;
            self.answer_in_flight_if_synced();
            if let Some(event_id) = &command.event_id {
                if let Some(seq) = index::seq_of_event(&self.overlay, &command.actor, event_id)? {
                    appended.push(self.original(seq, command, group)?);
                    continue;
                }
            }
            // Looked up before deciding: a stream found without events lets the
            // decision's and the projections' first looks at a new entity skip sled.
            let commanded = command.command.stream();
            let commanded_version = index::stream_version(&self.overlay, &commanded)?;
            let decision = decide::decide(&self.overlay, &self.sight, command)?;
            let stream = decision.event.stream();
            let version = if stream == commanded {
                commanded_version
            } else {
                index::stream_version(&self.overlay, &stream)?
            } + 1;
            let seq = group.head.seq + 1;
            let recorded_at = Timestamp::now().max(group.head.recorded_at);
            let sealed = Envelope {
                seq,
                stream,
                version,
                event_id: command.event_id.clone(),
                recorded_at,
                occurred_at: command.occurred_at,
                actor: command.actor.clone(),
                account: decision.account,
                event: decision.event,
                prev_hash: group.head.hash,
                hash: Digest::ZERO,
            }
            .seal_encoded();
            let size = sealed.body.len();
            if size > MAX_RECORD_BYTES {
                return Err(Rejection::LimitExceeded {
                    what: format!("the encoded event ({size} bytes)"),
                    limit: MAX_RECORD_BYTES as u64,
                }
                .into());
            }
            crate::projections::tlog::check_fits(&sealed.envelope, size)?;
            for projection in &self.projections {
                projection.apply(&mut self.overlay, &sealed.envelope)?;
            }
            if crate::projections::access::may_change_access(&sealed.envelope) {
                self.sight.forget();
            }
            appended.push(Appended {
                seq,
                stream: sealed.envelope.stream.clone(),
                version,
                event_id: sealed.envelope.event_id.clone(),
                duplicate: false,
            });
            group.head = Head {
                seq,
                hash: sealed.envelope.hash,
                recorded_at,
            };
            group.records.push(sealed);
        }
        Ok(appended)
    }

    /// The position of the event a retried command appended before (in the log or earlier
    /// in this group). A key its principal used for another command is a conflict: answering
    /// it as a duplicate would swallow the new command without a word.
    fn original(&self, seq: u64, command: &CommandEnvelope, group: &Group) -> Result<Appended> {
        let syncing = self.in_flight.iter().flat_map(|in_flight| &in_flight.group.records);
        let envelope = match group
            .records
            .iter()
            .chain(syncing)
            .find(|record| record.envelope.seq == seq)
        {
            Some(record) => record.envelope.clone(),
            // Durable, so the view holds its anchor.
            None => {
                let (_, anchor) = index::anchor(self.overlay.view(), seq)?
                    .ok_or_else(|| Error::Derived(format!("no anchor for seq {seq}")))?;
                self.reader.read_seq(anchor, seq)?
            }
        };
        let same = Command::replaying(envelope.event.clone()) == command.command
            && envelope.occurred_at == command.occurred_at;
        if !same {
            let event_id = command.event_id.as_ref().map(ToString::to_string).unwrap_or_default();
            return Err(Rejection::IdempotencyConflict { event_id }.into());
        }
        Ok(Appended {
            seq,
            stream: envelope.stream,
            version: envelope.version,
            event_id: envelope.event_id,
            duplicate: true,
        })
    }
}
