//! The index projection: stream → version, (stream, version) → seq, event id → seq,
//! and seq → location in the log.

use crate::error::Result;
use crate::keys::{entity_part, key};
use crate::log::Location;
use crate::overlay::{be_u64, Overlay, TreeId};
use lineage_schema::{EntityRef, Envelope, EventId};

pub const TREE: TreeId = 0;

fn version_key(stream: &EntityRef) -> Vec<u8> {
    key(b'v', &[&entity_part(stream)])
}

fn history_key(stream: &EntityRef, version: u64) -> Vec<u8> {
    key(b'h', &[&entity_part(stream), &version.to_be_bytes()])
}

pub fn history_prefix(stream: &EntityRef) -> Vec<u8> {
    key(b'h', &[&entity_part(stream)])
}

fn event_key(event_id: &EventId) -> Vec<u8> {
    key(b'i', &[event_id.as_str().as_bytes()])
}

pub fn location_key(seq: u64) -> Vec<u8> {
    key(b'l', &[&seq.to_be_bytes()])
}

pub fn stream_version(overlay: &Overlay, stream: &EntityRef) -> Result<u64> {
    Ok(overlay.get(TREE, &version_key(stream))?.map(|bytes| be_u64(&bytes)).unwrap_or(0))
}

pub fn seq_of_event(overlay: &Overlay, event_id: &EventId) -> Result<Option<u64>> {
    Ok(overlay.get(TREE, &event_key(event_id))?.map(|bytes| be_u64(&bytes)))
}

/// Records everything about an event the index knows before it is written.
pub fn apply_envelope(overlay: &mut Overlay, envelope: &Envelope) {
    let seq = envelope.seq.to_be_bytes().to_vec();
    overlay.insert(TREE, version_key(&envelope.stream), envelope.version.to_be_bytes().to_vec());
    overlay.insert(TREE, history_key(&envelope.stream, envelope.version), seq.clone());
    overlay.insert(TREE, event_key(&envelope.event_id), seq);
}

/// Records where an event was written.
pub fn apply_location(overlay: &mut Overlay, seq: u64, location: Location) {
    let mut value = location.segment.to_be_bytes().to_vec();
    value.extend_from_slice(&location.offset.to_be_bytes());
    overlay.insert(TREE, location_key(seq), value);
}

pub fn decode_location(bytes: &[u8]) -> Location {
    Location { segment: be_u64(&bytes[..8]), offset: be_u64(&bytes[8..16]) }
}
