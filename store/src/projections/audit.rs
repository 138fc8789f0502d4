//! The audit projection: every event indexed by account and by actor (by entity, the
//! index's stream histories serve), and a sparse map from time to position; and the
//! filtered, paged reads auditors make over them.
//!
//! Keys: `a` account + chunk → the seqs of the account's events, 512 per chunk, each a
//! delta from the one before (`derived::deltas`: a byte or two each); `p` actor + chunk →
//! the same for the actor; `n` account or actor → how many events it has (to find the last
//! chunk) and the last seq (the next delta's base); `t` seq → recorded time, for every
//! 64th event (times never decrease along the log, so a time bound becomes a position
//! bound).

use crate::derived::deltas;
use crate::derived::keys::{key, text_part, with_key, Part};
use crate::derived::overlay::{be_u64, TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::Result;
use lineage_schema::{AccountId, EntityKind, EntityRef, Envelope, PrincipalId, Timestamp};

pub const TREE: TreeId = 4;
const CHUNK: u64 = 512;
const TIME_EVERY: u64 = 64;

/// Calls `edit` with the key of a list's count and last seq (see [`with_key`]: every
/// event posts twice, so its keys are not allocated each time).
fn with_count_key<R>(table: u8, name: &str, edit: impl FnOnce(&[u8]) -> R) -> R {
    with_key(Some(b'n'), &[Part::Bytes(&[table]), Part::Text(name)], edit)
}

/// Calls `edit` with the key of a list's chunk.
fn with_chunk_key<R>(table: u8, name: &str, chunk: u64, edit: impl FnOnce(&[u8]) -> R) -> R {
    with_key(
        Some(table),
        &[Part::Text(name), Part::Bytes(&chunk.to_be_bytes())],
        edit,
    )
}

/// Appends `seq` to the chunked posting list `table`/`name` of `tree`.
pub(crate) fn post(overlay: &mut Overlay, tree: TreeId, table: u8, name: &str, seq: u64) -> Result<()> {
    // The count and last seq are rewritten in place: every event posts to its account's
    // list and its actor's, so a group edits its own copy of them where it lies.
    let (count, last) = with_count_key(table, name, |key| {
        overlay.edit_bytes(tree, key, |kept| {
            let count = kept.get(..8).map_or(0, be_u64);
            let last = match kept.get(8..16) {
                Some(last) if !count.is_multiple_of(CHUNK) => be_u64(last),
                _ => 0,
            };
            kept.clear();
            kept.extend_from_slice(&(count + 1).to_be_bytes());
            kept.extend_from_slice(&seq.to_be_bytes());
            (count, last)
        })
    })?;
    let mut delta = Vec::with_capacity(4);
    deltas::push_seq(&mut delta, last, seq);
    with_chunk_key(table, name, count / CHUNK, |key| overlay.append(tree, key, &delta))
}

/// Indexes one event.
pub fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    if let Some(account) = &envelope.account {
        post(overlay, TREE, b'a', account.as_str(), envelope.seq)?;
    }
    post(overlay, TREE, b'p', envelope.actor.as_str(), envelope.seq)?;
    if envelope.seq % TIME_EVERY == 1 {
        overlay.insert(
            TREE,
            key(b't', &[&envelope.seq.to_be_bytes()]),
            envelope.recorded_at.micros().to_be_bytes().to_vec(),
        );
    }
    Ok(())
}

/// What an audit read wants. Every given filter must match.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub account: Option<AccountId>,
    pub actor: Option<PrincipalId>,
    pub entity: Option<EntityRef>,
    /// Only events on entities of this kind.
    pub kind: Option<EntityKind>,
    /// Recorded at or after.
    pub from: Option<Timestamp>,
    /// Recorded before.
    pub to: Option<Timestamp>,
    /// Only events of this type (`RunStarted`).
    pub event_type: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, envelope: &Envelope) -> bool {
        self.account
            .as_ref()
            .is_none_or(|account| envelope.account.as_ref() == Some(account))
            && self.actor.as_ref().is_none_or(|actor| &envelope.actor == actor)
            && self.entity.as_ref().is_none_or(|entity| &envelope.stream == entity)
            && self.kind.is_none_or(|kind| envelope.stream.kind == kind)
            && self.from.is_none_or(|from| envelope.recorded_at >= from)
            && self.to.is_none_or(|to| envelope.recorded_at < to)
            && self
                .event_type
                .as_deref()
                .is_none_or(|name| envelope.event.name() == name)
    }
}

/// The seqs after `after` an account's or actor's events sit at, in order (all of them
/// when `limit` is reached by the caller's filtering it reads on).
pub fn postings(view: &Trees, table: u8, name: &str, after: u64) -> Result<Vec<u64>> {
    postings_in(view, TREE, table, name, after)
}

/// The seqs after `after` of the posting list `table`/`name` of `tree`.
pub(crate) fn postings_in(view: &Trees, tree: TreeId, table: u8, name: &str, after: u64) -> Result<Vec<u64>> {
    let prefix = key(table, &[&text_part(name)]);
    let mut seqs = Vec::new();
    for (_, chunk) in view.range(tree, &prefix, &prefix, usize::MAX)? {
        seqs.extend(deltas::seqs(&chunk)?.into_iter().filter(|seq| *seq > after));
    }
    Ok(seqs)
}

/// The first position recorded at or after `time` could be at (a lower bound).
pub fn first_seq_at(view: &Trees, time: Timestamp) -> Result<u64> {
    let mut best = 0;
    for (key, value) in view.range(TREE, b"t", b"t", usize::MAX)? {
        if i64::from_be_bytes(value[..8].try_into().expect("eight bytes")) >= time.micros() {
            break;
        }
        best = be_u64(&key[1..]);
    }
    Ok(best.saturating_sub(1))
}
