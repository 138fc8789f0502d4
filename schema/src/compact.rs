//! Record format 2: a record stored without its two hashes, its seq, and what it shares
//! with the record before it — under half of format 1's bytes for a one-point metric.
//!
//! A compact record is read against the record before it (its [`Prior`]): its seq is the
//! prior's plus one; its recorded time a delta from the prior's; its stream, actor and
//! account the prior's unless written; its version the prior's plus one on the same
//! stream unless written. Reading rebuilds the format-1 body byte for byte, and the hash
//! is blake3 of that body as ever (the previous hash is the prior's hash), so the chain,
//! both Merkle trees, checkpoints and exports are the same whichever format holds a
//! record. A log therefore writes a format-1 record wherever a reader may start (the
//! first record of a segment, every [`FULL_EVERY`]th seq): each is a full record, its
//! hashes stored, from which the compact ones after it are read.
//!
//! Each compact record keeps the first [`TAG_LEN`] bytes of its hash: a record changed,
//! removed or moved (its checksum recomputed) is named where it is, as a stored previous
//! hash names it in format 1, rather than at the next whole record.
//!
//! Layout of a compact body: a flags byte; the tag; the recorded time's difference from
//! the prior's (zigzag LEB128); then, each only when its flag says it is written, the stream
//! (LEB128 length, bytes), the version (bincode varint), the event id and the occurred
//! time (each LEB128 length, bytes), the actor and the account (the same); the event's
//! encoding takes the rest. Every piece is the bincode encoding format 1 holds.

use crate::envelope::{decode_record, DecodeError, BINCODE, HASH_LEN};
use crate::ids::{AccountId, Digest, EntityRef, EventId, PrincipalId};
use crate::time::Timestamp;
use crate::Envelope;

/// The record format of a compact record (format 1, [`crate::SCHEMA_VERSION`], is whole).
pub const FORMAT_COMPACT: u16 = 2;

/// A full record at every seq `s` with `s % FULL_EVERY == 1` (and a segment's first), so a
/// reader reaches any record from one by reading at most this many records forward. The
/// store's sparse seq index has an entry at the same seqs.
pub const FULL_EVERY: u64 = 32;

/// Whether the record `seq` must be written whole (the first of a segment is, too).
pub fn is_full_seq(seq: u64) -> bool {
    seq % FULL_EVERY == 1
}

/// How many bytes of its hash a compact record keeps.
pub const TAG_LEN: usize = 4;

const STREAM_WRITTEN: u8 = 1;
const VERSION_WRITTEN: u8 = 2;
const EVENT_ID_WRITTEN: u8 = 4;
const OCCURRED_AT_WRITTEN: u8 = 8;
const ACTOR_WRITTEN: u8 = 16;
const ACCOUNT_WRITTEN: u8 = 32;
const KNOWN_FLAGS: u8 = 63;

/// What a compact record takes from the record before it: that record's seq, time, hash,
/// version, and the encodings of its stream, actor and account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prior {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub hash: Digest,
    version: u64,
    stream: Vec<u8>,
    actor: Vec<u8>,
    account: Vec<u8>,
}

fn encoded<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    crate::envelope::encode_exact(value).expect("an envelope's fields always encode")
}

fn malformed(what: &str) -> DecodeError {
    DecodeError::Malformed(format!("compact record: {what}"))
}

impl Prior {
    /// The prior a record leaves for the one after it.
    pub fn after(envelope: &Envelope) -> Prior {
        Prior {
            seq: envelope.seq,
            recorded_at: envelope.recorded_at,
            hash: envelope.hash,
            version: envelope.version,
            stream: encoded(&envelope.stream),
            actor: encoded(&envelope.actor),
            account: encoded(&envelope.account),
        }
    }

    /// The prior a format-1 body leaves, read from its leading fields (its event is not
    /// decoded).
    pub fn after_full(body: &[u8]) -> Result<Prior, DecodeError> {
        let mut at = 0;
        let (seq, _) = take::<u64>(body, &mut at)?;
        let (_, stream) = take::<EntityRef>(body, &mut at)?;
        let (version, _) = take::<u64>(body, &mut at)?;
        take::<Option<EventId>>(body, &mut at)?;
        let (recorded_at, _) = take::<Timestamp>(body, &mut at)?;
        take::<Option<Timestamp>>(body, &mut at)?;
        let (_, actor) = take::<PrincipalId>(body, &mut at)?;
        let (_, account) = take::<Option<AccountId>>(body, &mut at)?;
        let tail = body
            .len()
            .checked_sub(HASH_LEN)
            .filter(|&tail| tail >= at + HASH_LEN)
            .ok_or_else(|| DecodeError::Malformed("record shorter than its hashes".into()))?;
        Ok(Prior {
            seq,
            recorded_at,
            hash: Digest(body[tail..].try_into().expect("32 bytes")),
            version,
            stream: body[stream].to_vec(),
            actor: body[actor].to_vec(),
            account: body[account].to_vec(),
        })
    }

    /// Reads the compact body that follows this prior: returns the record's format-1 body
    /// (hashes included) and becomes the record's own prior.
    pub fn advance(&mut self, compact: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut body = Vec::new();
        self.advance_into(compact, &mut body)?;
        Ok(body)
    }

    /// The largest buffer [`Prior::advance_with`] keeps between records.
    const KEPT_BODY_CAPACITY: usize = 64 * 1024;

    /// As [`Prior::advance`], lending the format-1 body to `look` from a buffer this
    /// thread reuses: a scan that only hashes or decodes each record allocates no body
    /// per record.
    pub fn advance_with<R>(&mut self, compact: &[u8], look: impl FnOnce(&[u8]) -> R) -> Result<R, DecodeError> {
        thread_local! {
            static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BODY.with(|body| match body.try_borrow_mut() {
            Ok(mut body) => {
                self.advance_into(compact, &mut body)?;
                let answer = look(&body);
                // Kept for ordinary records, not for the largest one this thread ever read.
                if body.capacity() > Self::KEPT_BODY_CAPACITY {
                    *body = Vec::new();
                }
                Ok(answer)
            }
            // A `look` that advances another prior on this thread: a buffer of its own.
            Err(_) => {
                let body = self.advance(compact)?;
                Ok(look(&body))
            }
        })
    }

    /// Reads the compact body that follows this prior into `body` (emptied first) and
    /// becomes the record's own prior; on an error the prior is unchanged.
    fn advance_into(&mut self, compact: &[u8], body: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut at = 0;
        let flags = *compact.first().ok_or_else(|| malformed("empty"))?;
        at += 1;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(malformed("unknown flags"));
        }
        let tag = compact.get(at..at + TAG_LEN).ok_or_else(|| malformed("cut short"))?;
        at += TAG_LEN;
        let delta = unzigzag(read_leb(compact, &mut at)?);
        let recorded_at = Timestamp::from_micros(self.recorded_at.micros().wrapping_add(delta));
        let stream = written(compact, &mut at, flags & STREAM_WRITTEN != 0)?;
        let version = if flags & VERSION_WRITTEN != 0 {
            let (version, used): (u64, usize) = bincode::serde::decode_from_slice(&compact[at..], BINCODE)
                .map_err(|error| malformed(&error.to_string()))?;
            at += used;
            version
        } else if stream.is_none() {
            self.version.wrapping_add(1)
        } else {
            return Err(malformed("a new stream without its version"));
        };
        let event_id = written(compact, &mut at, flags & EVENT_ID_WRITTEN != 0)?;
        let occurred_at = written(compact, &mut at, flags & OCCURRED_AT_WRITTEN != 0)?;
        let actor = written(compact, &mut at, flags & ACTOR_WRITTEN != 0)?;
        let account = written(compact, &mut at, flags & ACCOUNT_WRITTEN != 0)?;
        let event = &compact[at..];

        let seq = self.seq.wrapping_add(1);
        body.clear();
        body.reserve(compact.len() + 96 + self.stream.len() + self.actor.len());
        push_bincode_varint(body, seq);
        body.extend_from_slice(stream.unwrap_or(&self.stream));
        push_bincode_varint(body, version);
        body.extend_from_slice(event_id.unwrap_or(&[0]));
        push_bincode_varint(body, zigzag(recorded_at.micros()));
        body.extend_from_slice(occurred_at.unwrap_or(&[0]));
        body.extend_from_slice(actor.unwrap_or(&self.actor));
        body.extend_from_slice(account.unwrap_or(&self.account));
        body.extend_from_slice(event);
        body.extend_from_slice(&self.hash.0);
        let unhashed = body.len();
        body.extend_from_slice(&[0; HASH_LEN]);
        let hash = Digest::of(body);
        if hash.0[..TAG_LEN] != *tag {
            return Err(DecodeError::Malformed(
                "record hash does not match its contents: it, or the record before it, was changed, removed or moved"
                    .into(),
            ));
        }
        body[unhashed..].copy_from_slice(&hash.0);

        self.seq = seq;
        self.recorded_at = recorded_at;
        self.hash = hash;
        self.version = version;
        for (kept, piece) in [
            (&mut self.stream, stream),
            (&mut self.actor, actor),
            (&mut self.account, account),
        ] {
            if let Some(piece) = piece {
                kept.clear();
                kept.extend_from_slice(piece);
            }
        }
        Ok(())
    }

    /// Reads a record of either format after this prior (none before a full record) and
    /// becomes its prior: the record's format-1 body (a whole record's own bytes).
    pub fn read<'a>(
        prior: &mut Option<Prior>,
        format: u16,
        body: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>, DecodeError> {
        match (format, prior.as_mut()) {
            (FORMAT_COMPACT, Some(prior)) => prior.advance(body).map(std::borrow::Cow::Owned),
            (FORMAT_COMPACT, None) => Err(malformed("no full record before it")),
            (crate::SCHEMA_VERSION, _) => {
                *prior = Some(Prior::after_full(body)?);
                Ok(std::borrow::Cow::Borrowed(body))
            }
            (other, _) => Err(DecodeError::UnknownSchemaVersion(other)),
        }
    }

    /// Moves past a record of either format without decoding its event: what a reader
    /// does with the records between a whole one and the one it wants.
    pub fn pass(prior: &mut Option<Prior>, format: u16, body: &[u8]) -> Result<(), DecodeError> {
        Self::look(prior, format, body, |_| ())
    }

    /// Decodes a record of either format after this prior, as [`Prior::read`].
    pub fn decode(prior: &mut Option<Prior>, format: u16, body: &[u8]) -> Result<Envelope, DecodeError> {
        Self::look(prior, format, body, |whole| decode_record(crate::SCHEMA_VERSION, whole))?
    }

    /// As [`Prior::read`], lending the record's format-1 body to `look`.
    fn look<R>(
        prior: &mut Option<Prior>,
        format: u16,
        body: &[u8],
        look: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, DecodeError> {
        match (format, prior.as_mut()) {
            (FORMAT_COMPACT, Some(prior)) => prior.advance_with(body, look),
            _ => Self::read(prior, format, body).map(|whole| look(&whole)),
        }
    }
}

/// Decodes one bincode value at `*at`; returns it and the bytes it took.
fn take<T: serde::de::DeserializeOwned>(
    body: &[u8],
    at: &mut usize,
) -> Result<(T, std::ops::Range<usize>), DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice(&body[*at..], BINCODE)
        .map_err(|error| DecodeError::Malformed(error.to_string()))?;
    let range = *at..*at + used;
    *at += used;
    Ok((value, range))
}

/// A length-prefixed piece at `*at` if `present`.
fn written<'a>(bytes: &'a [u8], at: &mut usize, present: bool) -> Result<Option<&'a [u8]>, DecodeError> {
    if !present {
        return Ok(None);
    }
    let len = usize::try_from(read_leb(bytes, at)?).map_err(|_| malformed("a piece's length"))?;
    let piece = bytes
        .get(*at..at.saturating_add(len))
        .ok_or_else(|| malformed("a piece runs past the record"))?;
    *at += len;
    Ok(Some(piece))
}

/// The compact body of `envelope` (whose format-1 body is `body`) after `prior`; `next`
/// is `Prior::after(envelope)`, whose encodings it reuses.
pub fn compact(envelope: &Envelope, body: &[u8], prior: &Prior, next: &Prior) -> Vec<u8> {
    let mut out = Vec::new();
    compact_into(envelope, body, prior, next, &mut out);
    out
}

/// As [`compact`], appended to `out` (a buffer the log keeps, so a record costs no
/// allocation of its own).
pub fn compact_into(envelope: &Envelope, body: &[u8], prior: &Prior, next: &Prior, out: &mut Vec<u8>) {
    // Pieces are the encodings format 1 holds: an option's tag included.
    let event_id = envelope.event_id.is_some().then(|| encoded(&envelope.event_id));
    let occurred_at = envelope.occurred_at.is_some().then(|| encoded(&envelope.occurred_at));
    let leading = bincode_varint_len(envelope.seq)
        + next.stream.len()
        + bincode_varint_len(envelope.version)
        + event_id.as_ref().map_or(1, Vec::len)
        + bincode_varint_len(zigzag(envelope.recorded_at.micros()))
        + occurred_at.as_ref().map_or(1, Vec::len)
        + next.actor.len()
        + next.account.len();
    let event = &body[leading..body.len() - 2 * HASH_LEN];
    let stream_written = next.stream != prior.stream;
    let version_written = stream_written || envelope.version != prior.version.wrapping_add(1);
    let mut flags = 0;
    for (written, flag) in [
        (stream_written, STREAM_WRITTEN),
        (version_written, VERSION_WRITTEN),
        (event_id.is_some(), EVENT_ID_WRITTEN),
        (occurred_at.is_some(), OCCURRED_AT_WRITTEN),
        (next.actor != prior.actor, ACTOR_WRITTEN),
        (next.account != prior.account, ACCOUNT_WRITTEN),
    ] {
        if written {
            flags |= flag;
        }
    }
    out.reserve(event.len() + 16);
    out.push(flags);
    out.extend_from_slice(&envelope.hash.0[..TAG_LEN]);
    push_leb(
        out,
        zigzag(envelope.recorded_at.micros().wrapping_sub(prior.recorded_at.micros())),
    );
    let piece = |out: &mut Vec<u8>, bytes: &[u8], flag: u8| {
        if flags & flag != 0 {
            push_leb(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    };
    piece(out, &next.stream, STREAM_WRITTEN);
    if version_written {
        push_bincode_varint(out, envelope.version);
    }
    piece(out, event_id.as_deref().unwrap_or_default(), EVENT_ID_WRITTEN);
    piece(out, occurred_at.as_deref().unwrap_or_default(), OCCURRED_AT_WRITTEN);
    piece(out, &next.actor, ACTOR_WRITTEN);
    piece(out, &next.account, ACCOUNT_WRITTEN);
    out.extend_from_slice(event);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn push_leb(out: &mut Vec<u8>, value: u64) {
    crate::varint::push(out, value);
}

fn read_leb(bytes: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    crate::varint::read(bytes, at).ok_or_else(|| malformed("a number cut short or past 64 bits"))
}

/// bincode's varint for an unsigned integer: one byte below 251, else a marker and the
/// little-endian u16, u32 or u64.
fn push_bincode_varint(out: &mut Vec<u8>, value: u64) {
    if value < 251 {
        out.push(value as u8);
    } else if let Ok(small) = u16::try_from(value) {
        out.push(251);
        out.extend_from_slice(&small.to_le_bytes());
    } else if let Ok(medium) = u32::try_from(value) {
        out.push(252);
        out.extend_from_slice(&medium.to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn bincode_varint_len(value: u64) -> usize {
    match value {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[cfg(test)]
#[path = "compact_tests.rs"]
mod tests;
