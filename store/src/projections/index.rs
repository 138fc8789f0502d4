//! The index projection: where every event is and what every stream holds.
//!
//! - `v` stream → version (for optimistic concurrency), then the seq and log position of
//!   the stream's last event (the base its history's next entry is a delta from), then
//!   the history's open chunk: most streams never fill one, so their history costs no
//!   key of its own;
//! - `i` actor + event id → seq (idempotency, per principal: the same key from another
//!   principal is another key; only events whose sender gave an id);
//! - `h` stream + chunk → the seq and log position of each of the stream's events, 256 per
//!   chunk, once the chunk is full (it leaves `v` then), so a history reads no more keys
//!   than it needs; each entry a delta from the one before it (`derived::deltas`: four
//!   bytes, not 24);
//! - `a` seq → log position, for every 32nd seq and every position that starts a run: a sparse
//!   map from which any seq is found by reading forward at most 31 records.

use crate::derived::deltas::{self, Located};
use crate::derived::keys::text_part;
use crate::derived::keys::{entity_part, key, key_of, with_key, Part};
use crate::derived::overlay::{be_u64, TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::Result;
// An anchor every this many seqs: the log reads forward at most that far from one.
use crate::log::Position;
use crate::log::ANCHOR_EVERY;
use lineage_schema::{EntityRef, Envelope, EventId, PrincipalId};

pub(crate) const TREE: TreeId = 0;
/// Events per history chunk.
const CHUNK: u64 = 256;
/// The bytes of a `v` value before its open history chunk: the version, then the seq and
/// position of the stream's last event.
const HEAD: usize = 8 + 8 + Position::LEN;

fn version_key(stream: &EntityRef) -> Vec<u8> {
    key_of(Some(b'v'), &[Part::Entity(stream)])
}

/// Calls `edit` with [`version_key`], built without allocating (see [`with_key`]).
fn with_version_key<R>(stream: &EntityRef, edit: impl FnOnce(&[u8]) -> R) -> R {
    with_key(Some(b'v'), &[Part::Entity(stream)], edit)
}

fn chunk_key(stream: &EntityRef, chunk: u64) -> Vec<u8> {
    key(b'h', &[&entity_part(stream), &(chunk as u32).to_be_bytes()])
}

fn history_prefix(stream: &EntityRef) -> Vec<u8> {
    key(b'h', &[&entity_part(stream)])
}

fn event_key(actor: &PrincipalId, event_id: &EventId) -> Vec<u8> {
    key(b'i', &[&text_part(actor.as_str()), event_id.as_str().as_bytes()])
}

fn anchor_key(seq: u64) -> Vec<u8> {
    key(b'a', &[&seq.to_be_bytes()])
}

/// A stream's version (0: no events); the overlay notes a stream without events, so
/// the first looks at the keys of an entity being created need not ask sled.
pub(crate) fn stream_version(overlay: &Overlay, stream: &EntityRef) -> Result<u64> {
    with_version_key(stream, |key| {
        match overlay.read_bytes(TREE, key, |bytes| bytes.map(be_u64))? {
            Some(version) => Ok(version),
            None => {
                overlay.note_no_events(&key[1..]);
                Ok(0)
            }
        }
    })
}

pub(crate) fn seq_of_event(overlay: &Overlay, actor: &PrincipalId, event_id: &EventId) -> Result<Option<u64>> {
    Ok(overlay
        .get(TREE, &event_key(actor, event_id))?
        .map(|bytes| be_u64(&bytes)))
}

pub(crate) fn seq_of_event_in(view: &Trees, actor: &PrincipalId, event_id: &EventId) -> Result<Option<u64>> {
    Ok(view.get(TREE, &event_key(actor, event_id))?.map(|bytes| be_u64(&bytes)))
}

/// Records what the index knows of an event before it is written: its stream's new
/// version and its idempotency key.
pub(crate) fn apply_envelope(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    // The stream's last entry stays beside its version until this event's position is known.
    with_version_key(&envelope.stream, |key| {
        overlay.edit_bytes(TREE, key, |value| {
            // A new stream's value: room for its head and first entries, so placing the
            // event does not grow it again.
            if value.is_empty() {
                value.reserve(HEAD + 16);
            }
            value.resize(value.len().max(8), 0);
            value[..8].copy_from_slice(&envelope.version.to_be_bytes());
        })
    })?;
    if let Some(event_id) = &envelope.event_id {
        overlay.insert(
            TREE,
            event_key(&envelope.actor, event_id),
            envelope.seq.to_be_bytes().to_vec(),
        );
    }
    Ok(())
}

/// Records where an event was written: appends it to its stream's open history chunk
/// beside the version, as a delta from the stream's last entry, which it then replaces; a
/// chunk this entry fills moves under its own key.
pub(crate) fn apply_position(overlay: &mut Overlay, envelope: &Envelope, position: Position) -> Result<()> {
    let in_chunk = (envelope.version - 1) % CHUNK;
    let entry: Located = (envelope.seq, position);
    let full = with_version_key(&envelope.stream, |key| {
        overlay.edit_bytes(TREE, key, |value| {
            let last = match in_chunk {
                0 => None,
                _ => value.get(8..).and_then(deltas::located_from),
            };
            // The version stays as decided: a group decides all its events before any is placed.
            if value.len() < 8 {
                *value = envelope.version.to_be_bytes().to_vec();
            }
            value.resize(value.len().max(HEAD), 0);
            value[8..HEAD].copy_from_slice(&deltas::located_bytes(entry));
            if in_chunk == 0 {
                value.truncate(HEAD);
            }
            deltas::push_located(value, last, entry);
            // A chunk this entry fills moves under its own key.
            (in_chunk == CHUNK - 1).then(|| value.split_off(HEAD))
        })
    })?;
    if let Some(full) = full {
        overlay.insert(TREE, chunk_key(&envelope.stream, (envelope.version - 1) / CHUNK), full);
    }
    if envelope.seq % ANCHOR_EVERY == 1 || position.starts_run() {
        overlay.insert(TREE, anchor_key(envelope.seq), position.to_bytes().to_vec());
    }
    Ok(())
}

fn decode_position(bytes: &[u8]) -> Result<Position> {
    Position::from_bytes(bytes).ok_or_else(|| crate::error::Error::Derived("a kept log position is cut short".into()))
}

/// The seqs and log positions of a stream's events from version `from` (1-based), at most `limit`.
pub(crate) fn history(view: &Trees, stream: &EntityRef, from: u64, limit: usize) -> Result<Vec<(u64, Position)>> {
    let Some(head) = view.get(TREE, &version_key(stream))? else {
        return Ok(Vec::new());
    };
    let from = from.max(1);
    let first_chunk = (from - 1) / CHUNK;
    // Full chunks lie under keys; the one after them, open, beside the version.
    let open_chunk = be_u64(&head) / CHUNK;
    let skip = ((from - 1) % CHUNK) as usize;
    let mut found = Vec::new();
    if first_chunk < open_chunk {
        let prefix = history_prefix(stream);
        let start = chunk_key(stream, first_chunk);
        for (_, entries) in view.range(TREE, &prefix, &start, usize::MAX)? {
            found.extend(deltas::located(&entries)?);
            if found.len() >= skip + limit {
                break;
            }
        }
    }
    if found.len() < skip + limit && first_chunk <= open_chunk {
        found.extend(deltas::located(head.get(HEAD..).unwrap_or_default())?);
    }
    Ok(found.into_iter().skip(skip).take(limit).collect())
}

/// The nearest anchor at or before `seq`: a position the log can read forward from to it.
pub(crate) fn anchor(view: &Trees, seq: u64) -> Result<Option<(u64, Position)>> {
    view.floor(TREE, b"a", &anchor_key(seq))?
        .map(|(key, value)| Ok((be_u64(&key[1..]), decode_position(&value)?)))
        .transpose()
}
