//! Lineage's own format: events as NDJSON with their positions and hashes — written by
//! `export`, restored by `restore` into an empty store (the identical log) or onto the
//! log an incremental export continues, or replayed by `replay` into another store as
//! an account's history.

use crate::error::{Error, Result};
use lineage_schema::Envelope;
use lineage_store::{EventFilter, Store};
use std::io::BufRead;
use std::path::Path;

/// What an export wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exported {
    pub events: u64,
    /// The log's head when the export began: it holds what passed the filter up to here
    /// and nothing after, however much is appended meanwhile (a consistent backup of a
    /// store that is serving).
    pub upto: u64,
}

/// Writes the events after `since` that pass `filter`, one JSON object a line, page by
/// page, up to the head as it stands when it begins. A whole account's export
/// (`filter.account`, `since` 0) also carries, in log order, what its history needs
/// elsewhere: the registrations of the principals who acted in it or were given seats,
/// access or roles there, and the creation of its subscription (see [`replay`]).
pub fn export(
    store: &Store,
    filter: &EventFilter,
    since: u64,
    out: &mut dyn FnMut(&str) -> std::io::Result<()>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    export_upto(store, filter, since, store.head().seq, out, progress)
}

/// As [`export`], up to `upto` (a position the caller took from the head, to announce it
/// before the export begins). `progress` hears how far through the log it is — the
/// records after `since` passed, of those up to `upto` — after each page written. Pages
/// are read and decoded on another thread while the ones before are written out.
pub fn export_upto(
    store: &Store,
    filter: &EventFilter,
    since: u64,
    upto: u64,
    out: &mut dyn FnMut(&str) -> std::io::Result<()>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    let mut needed = match &filter.account {
        Some(_) if since == 0 && filter.stream.is_none() => prerequisites(store, filter, upto)?,
        _ => Vec::new(),
    }
    .into_iter()
    .peekable();
    let mut written = 0;
    let mut write = |page: &[Envelope]| -> Result<()> {
        let mut lines = String::new();
        for envelope in page {
            // Each line is the event's transparency-log entry (LOG-FORMAT.md).
            lines.push_str(&String::from_utf8_lossy(&lineage_schema::tlog::entry(envelope)));
            lines.push('\n');
        }
        written += page.len() as u64;
        out(&lines).map_err(|source| Error::Read {
            path: "the output".into(),
            source,
        })
    };
    let total = upto.saturating_sub(since);
    let mut position = since;
    let mut next = || -> Result<Option<Vec<Envelope>>> {
        let page = events_upto(store, position, filter, upto)?;
        Ok(page.last().map(|last| last.seq).map(|last| {
            position = last;
            page
        }))
    };
    lineage_store::ahead::pages(&mut next, &mut |page: Vec<Envelope>| {
        let reached = page.last().map_or(since, |last| last.seq);
        let mut merged = Vec::with_capacity(page.len());
        for envelope in page {
            while let Some(before) = needed.next_if(|needed| needed.seq < envelope.seq) {
                merged.push(before);
            }
            merged.push(envelope);
        }
        write(&merged)?;
        progress(reached - since, total);
        Ok(true)
    })?;
    write(&needed.collect::<Vec<_>>())?;
    progress(total, total);
    Ok(Exported { events: written, upto })
}

/// A page of the events after `position` that pass `filter`, none past `upto`.
fn events_upto(store: &Store, position: u64, filter: &EventFilter, upto: u64) -> Result<Vec<Envelope>> {
    let mut page = store.events(position, 1000, filter)?;
    page.retain(|envelope| envelope.seq <= upto);
    Ok(page)
}

/// The events outside an account that its history needs: principal registrations and
/// subscription creations, in log order.
fn prerequisites(store: &Store, filter: &EventFilter, upto: u64) -> Result<Vec<Envelope>> {
    use lineage_schema::{EntityKind, EntityRef, Event};
    let mut principals = std::collections::BTreeSet::new();
    let mut subscriptions = std::collections::BTreeSet::new();
    let mut position = 0;
    loop {
        let page = events_upto(store, position, filter, upto)?;
        let Some(last) = page.last() else { break };
        position = last.seq;
        for envelope in page {
            principals.insert(envelope.actor.to_string());
            match &envelope.event {
                Event::ExperimentationAccountCreated(e) => {
                    subscriptions.insert(e.subscription.to_string());
                }
                Event::ModelManagementAccountCreated(e) => {
                    subscriptions.insert(e.subscription.to_string());
                }
                Event::SeatAssigned(e) => {
                    principals.insert(e.principal.to_string());
                }
                Event::WorkspaceAccessGranted(e) => {
                    principals.insert(e.principal.to_string());
                }
                Event::RoleGranted(e) => {
                    principals.insert(e.principal.to_string());
                }
                _ => {}
            }
        }
    }
    let mut needed = Vec::new();
    for subscription in &subscriptions {
        if let Some(created) = store
            .history_page(&EntityRef::new(EntityKind::Subscription, subscription), 1, 1)?
            .into_iter()
            .next()
        {
            principals.insert(created.actor.to_string());
            needed.push(created);
        }
    }
    for principal in &principals {
        if let Some(registered) = store
            .history_page(&EntityRef::new(EntityKind::Principal, principal), 1, 1)?
            .into_iter()
            .next()
        {
            needed.push(registered);
        }
    }
    needed.retain(|envelope| envelope.seq <= upto && !filter.matches(envelope));
    needed.sort_by_key(|envelope| envelope.seq);
    Ok(needed)
}

/// Reads an export line by line, handing each event and its line number to `visit`.
fn read(file: &Path, visit: &mut dyn FnMut(usize, Envelope) -> Result<()>) -> Result<()> {
    let handle = std::fs::File::open(file).map_err(|source| Error::Read {
        path: file.to_path_buf(),
        source,
    })?;
    for (index, line) in std::io::BufReader::new(handle).lines().enumerate() {
        let line = line.map_err(|source| Error::Read {
            path: file.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let envelope = serde_json::from_str(&line).map_err(|error| Error::Line {
            path: file.to_path_buf(),
            line: index + 1,
            reason: format!("not an exported event: {error}"),
        })?;
        visit(index + 1, envelope)?;
    }
    Ok(())
}

/// What a restore did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub events: u64,
    pub head: lineage_store::Head,
}

/// Restores an export onto `store`: every line is checked first — JSON, position, hash
/// chain from the store's head — and only then appended, a thousand at a time.
pub fn restore(store: &Store, file: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<Restored> {
    let head = store.head();
    let (mut seq, mut hash, mut count) = (head.seq, head.hash, 0u64);
    read(file, &mut |line, envelope| {
        let broken = |reason: String| Error::Line {
            path: file.to_path_buf(),
            line,
            reason,
        };
        if envelope.seq != seq + 1 || envelope.prev_hash != hash {
            return Err(broken(format!(
                "event {} does not continue this store's log (which ends at seq {seq}); restore into an empty store, or import the export that comes before it",
                envelope.seq
            )));
        }
        if envelope.compute_hash() != envelope.hash {
            return Err(broken(format!(
                "event {} was changed after it was exported (its hash does not match)",
                envelope.seq
            )));
        }
        (seq, hash, count) = (envelope.seq, envelope.hash, count + 1);
        Ok(())
    })?;
    let mut batch = Vec::new();
    let mut restored = 0u64;
    read(file, &mut |_, envelope| {
        batch.push(envelope);
        if batch.len() == 1000 {
            restored += store.restore(std::mem::take(&mut batch))?.len() as u64;
            progress(restored, count);
        }
        Ok(())
    })?;
    restored += store.restore(batch)?.len() as u64;
    progress(restored, count);
    Ok(Restored {
        events: restored,
        head: store.head(),
    })
}

/// What a replay did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Events appended to this store.
    pub appended: u64,
    /// Events whose facts this store already held (principals and subscriptions that
    /// exist here, events replayed before).
    pub already_here: u64,
}

/// Replays an export — typically one account's (`export --account`) — into a store
/// whose log it does not continue: each event becomes the command that records it
/// again, by the same actor and with the time it happened, at this store's next
/// positions. Every line is checked (JSON, its hash) first; then all of it is appended
/// or none. Principals and subscriptions this store already has are kept as they are;
/// a second replay of the same export appends nothing.
pub fn replay(store: &Store, file: &Path) -> Result<Replayed> {
    use lineage_schema::{Command, CommandEnvelope, EntityKind, EntityRef, Event, EventId};
    let mut envelopes = Vec::new();
    read(file, &mut |line, envelope| {
        if envelope.compute_hash() != envelope.hash {
            return Err(Error::Line {
                path: file.to_path_buf(),
                line,
                reason: format!(
                    "event {} was changed after it was exported (its hash does not match)",
                    envelope.seq
                ),
            });
        }
        envelopes.push(envelope);
        Ok(())
    })?;
    let mut commands = Vec::new();
    let mut already_here = 0;
    for envelope in envelopes {
        let existing = match &envelope.event {
            Event::PrincipalRegistered(e) => Some(EntityRef::new(EntityKind::Principal, &e.principal)),
            Event::SubscriptionCreated(e) => Some(EntityRef::new(EntityKind::Subscription, &e.subscription)),
            _ => None,
        };
        let event_id = EventId::new(format!("replay-{}", &envelope.hash.to_hex()[..40]))
            .expect("hex digits make a valid event id");
        let here = match existing {
            Some(reference) => store.entity(&reference)?.is_some(),
            None => store.seq_of_event(&envelope.actor, &event_id)?.is_some(),
        };
        if here {
            already_here += 1;
            continue;
        }
        commands.push(
            CommandEnvelope::new(envelope.actor.clone(), Command::replaying(envelope.event))
                .with_event_id(event_id)
                .occurred_at(envelope.occurred_at.unwrap_or(envelope.recorded_at)),
        );
    }
    let appended = match store.execute_batch(commands) {
        Ok(appended) => appended.iter().filter(|event| !event.duplicate).count() as u64,
        Err(error) => match error.rejection() {
            Some(rejection) => {
                return Err(Error::malformed(
                    file.display().to_string(),
                    format!("this store refused the history, so nothing was appended: {rejection}"),
                ))
            }
            None => return Err(error.into()),
        },
    };
    Ok(Replayed { appended, already_here })
}
