//! The stored record around an event: position, stream, version, who, when, and the hash chain.
//!
//! Encoding is bincode 2 with one fixed configuration (varint, little endian, a decode
//! size limit). bincode is not self-describing, so each record also carries the schema
//! version its payload was written with; `decode_record` upcasts old versions.

use crate::event::Event;
use crate::ids::{AccountId, Digest, EntityRef, EventId, PrincipalId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The schema version new records are written with.
pub const SCHEMA_VERSION: u16 = 1;

/// The largest encoded envelope accepted, in bytes. Also bincode's decode limit, so a
/// corrupt length can never make the decoder allocate more.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_RECORD_BYTES>,
>;

/// The one bincode configuration, fixed forever.
pub const BINCODE: Config = bincode::config::standard().with_limit::<MAX_RECORD_BYTES>();

/// Past this capacity a thread's encoding buffer is let go after use.
const SCRATCH_KEPT: usize = 64 * 1024;

/// `value` encoded with [`BINCODE`], in a vector of exactly its size: encoded first into a
/// buffer each thread reuses, so a value costs one allocation, not one per doubling of a
/// growing vector (bincode's `encode_to_vec` starts from an empty one).
pub fn encode_exact<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        // A `Serialize` that encodes something itself finds the buffer taken.
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            return bincode::serde::encode_to_vec(value, BINCODE);
        };
        scratch.clear();
        let encoded = bincode::serde::encode_into_std_write(value, &mut *scratch, BINCODE).map(|_| scratch.to_vec());
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        encoded
    })
}

/// One event in the log.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Global position: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// The entity this event belongs to.
    pub stream: EntityRef,
    /// The stream's version after this event (1 for its first event).
    pub version: u64,
    /// The idempotency key the sender gave, if any: appending an event whose id is
    /// already in the log appends nothing and answers with the original position.
    pub event_id: Option<EventId>,
    /// The store's clock when it appended the event; never decreases along the log.
    pub recorded_at: Timestamp,
    /// When the fact happened, for imported history.
    pub occurred_at: Option<Timestamp>,
    /// The principal that caused it.
    pub actor: PrincipalId,
    /// The account it is billed to and audited under (none for principals and subscriptions).
    pub account: Option<AccountId>,
    pub event: Event,
    /// The previous event's hash (zero for seq 1).
    pub prev_hash: Digest,
    /// blake3 over the encoding of this envelope with `hash` set to zero.
    pub hash: Digest,
}

pub(crate) const HASH_LEN: usize = 32;

/// A sealed envelope with its encoding, ready to be framed and written.
#[derive(Clone, Debug, PartialEq)]
pub struct Sealed {
    pub envelope: Envelope,
    pub body: Vec<u8>,
}

/// The hash a record body's envelope should carry, computed from the body alone (the
/// body with its last 32 bytes, the hash, read as zeros).
pub fn hash_of_body(body: &[u8]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    let tail = body.len().saturating_sub(HASH_LEN);
    hasher.update(&body[..tail]);
    hasher.update(&[0u8; HASH_LEN][..body.len() - tail]);
    Digest(*hasher.finalize().as_bytes())
}

/// Why bytes could not be decoded into an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown schema version {0}")]
    UnknownSchemaVersion(u16),
    #[error("undecodable record: {0}")]
    Malformed(String),
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
}

impl Envelope {
    /// When the fact happened: `occurred_at` if given, else `recorded_at`.
    pub fn effective_time(&self) -> Timestamp {
        self.occurred_at.unwrap_or(self.recorded_at)
    }

    /// The hash this envelope should carry, computed from everything else in it.
    pub fn compute_hash(&self) -> Digest {
        let mut unsealed = self.clone();
        unsealed.hash = Digest::ZERO;
        Digest::of(&unsealed.encode())
    }

    /// Sets `hash` from the other fields.
    pub fn seal(self) -> Self {
        self.seal_encoded().envelope
    }

    /// Sets `hash` and returns the encoding too, encoding only once: `hash` is the last
    /// field and encodes as its 32 raw bytes, so sealing overwrites the encoding's tail.
    pub fn seal_encoded(mut self) -> Sealed {
        self.hash = Digest::ZERO;
        let mut body = self.encode();
        let hash = Digest::of(&body);
        let tail = body.len() - HASH_LEN;
        body[tail..].copy_from_slice(&hash.0);
        self.hash = hash;
        Sealed { envelope: self, body }
    }

    /// Where the record body's bytes go: each field's share of the encoding, in field
    /// order (they add up to the body's length).
    pub fn field_sizes(&self) -> [(&'static str, usize); 11] {
        fn size<T: Serialize + ?Sized>(value: &T) -> usize {
            bincode::serde::encode_to_vec(value, BINCODE).map_or(0, |bytes| bytes.len())
        }
        [
            ("seq", size(&self.seq)),
            ("stream", size(&self.stream)),
            ("version", size(&self.version)),
            ("event id", size(&self.event_id)),
            ("recorded at", size(&self.recorded_at)),
            ("occurred at", size(&self.occurred_at)),
            ("actor", size(&self.actor)),
            ("account", size(&self.account)),
            ("event", size(&self.event)),
            ("previous hash", size(&self.prev_hash)),
            ("hash", size(&self.hash)),
        ]
    }

    /// The record body: the bincode encoding of the envelope.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding into a Vec cannot fail for these types: no maps with non-string
        // keys, no `collect_str`; a failure here is a programming error.
        encode_exact(self).expect("an envelope always encodes")
    }
}

/// What a check of the hash chain needs of a record, read without decoding its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainFields {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub prev_hash: Digest,
    pub hash: Digest,
}

/// The envelope's leading fields, through `recorded_at`, in encoding order.
#[derive(Deserialize)]
struct Leading {
    seq: u64,
    _stream: EntityRef,
    _version: u64,
    _event_id: Option<EventId>,
    recorded_at: Timestamp,
}

/// The chain fields of a record body written with `schema_version`: the leading fields
/// decoded, the two hashes read from the body's tail (each encodes as its 32 raw bytes,
/// the hash last). Several times as fast as [`decode_record`], for scans that check the
/// chain and need nothing else.
pub fn chain_fields(schema_version: u16, body: &[u8]) -> Result<ChainFields, DecodeError> {
    if schema_version != SCHEMA_VERSION {
        return Err(DecodeError::UnknownSchemaVersion(schema_version));
    }
    let (leading, used): (Leading, usize) =
        bincode::serde::decode_from_slice(body, BINCODE).map_err(|error| DecodeError::Malformed(error.to_string()))?;
    let (tail, prev_hash, hash) = tail_hashes(body)?;
    if tail < used {
        return Err(DecodeError::Malformed("record shorter than its hashes".into()));
    }
    Ok(ChainFields {
        seq: leading.seq,
        recorded_at: leading.recorded_at,
        prev_hash,
        hash,
    })
}

/// Where a record body's two hashes start, and the previous hash and hash: each encodes
/// as its 32 raw bytes, the hash last, so they are read whole rather than through bincode
/// a byte at a time.
fn tail_hashes(body: &[u8]) -> Result<(usize, Digest, Digest), DecodeError> {
    let tail = body
        .len()
        .checked_sub(2 * HASH_LEN)
        .ok_or_else(|| DecodeError::Malformed("record shorter than its hashes".into()))?;
    let digest = |at: usize| Digest(body[at..at + HASH_LEN].try_into().expect("32 bytes"));
    Ok((tail, digest(tail), digest(tail + HASH_LEN)))
}

/// The envelope's fields before its two hashes, in encoding order.
#[derive(Deserialize)]
struct Unhashed {
    seq: u64,
    stream: EntityRef,
    version: u64,
    event_id: Option<EventId>,
    recorded_at: Timestamp,
    occurred_at: Option<Timestamp>,
    actor: PrincipalId,
    account: Option<AccountId>,
    event: Event,
}

/// Decodes a record body written with `schema_version`, upcasting older versions.
pub fn decode_record(schema_version: u16, body: &[u8]) -> Result<Envelope, DecodeError> {
    match schema_version {
        SCHEMA_VERSION => {
            // Decoding the hashes through bincode was a sixth of decoding a small record.
            let (tail, prev_hash, hash) = tail_hashes(body)?;
            let (fields, used): (Unhashed, usize) = bincode::serde::decode_from_slice(&body[..tail], BINCODE)
                .map_err(|error| DecodeError::Malformed(error.to_string()))?;
            if used != tail {
                return Err(DecodeError::TrailingBytes(tail - used));
            }
            Ok(Envelope {
                seq: fields.seq,
                stream: fields.stream,
                version: fields.version,
                event_id: fields.event_id,
                recorded_at: fields.recorded_at,
                occurred_at: fields.occurred_at,
                actor: fields.actor,
                account: fields.account,
                event: fields.event,
                prev_hash,
                hash,
            })
        }
        other => Err(DecodeError::UnknownSchemaVersion(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;

    /// The exact-size encoding is bincode's, for every sample envelope, for values larger
    /// than the buffer a thread keeps, and for an encoding nested in another's `Serialize`.
    #[test]
    fn encoding_exactly_gives_bincodes_bytes() {
        struct Nested(Vec<u8>);
        impl Serialize for Nested {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let inner = encode_exact(&self.0).expect("encodes");
                serializer.serialize_bytes(&inner)
            }
        }
        for envelope in samples::envelopes() {
            let exact = encode_exact(&envelope).unwrap();
            assert_eq!(exact, bincode::serde::encode_to_vec(&envelope, BINCODE).unwrap());
            assert_eq!(exact.capacity(), exact.len());
        }
        let large = vec![7u8; 3 * SCRATCH_KEPT];
        assert_eq!(
            encode_exact(&large).unwrap(),
            bincode::serde::encode_to_vec(&large, BINCODE).unwrap()
        );
        let nested = Nested(vec![1, 2, 3]);
        assert_eq!(
            encode_exact(&nested).unwrap(),
            bincode::serde::encode_to_vec(&nested, BINCODE).unwrap()
        );
    }

    #[test]
    fn chain_fields_agree_with_the_whole_decoding() {
        for envelope in samples::envelopes() {
            let sealed = envelope.seal_encoded();
            let fields = chain_fields(SCHEMA_VERSION, &sealed.body).unwrap();
            let whole = &sealed.envelope;
            assert_eq!(
                fields,
                ChainFields {
                    seq: whole.seq,
                    recorded_at: whole.recorded_at,
                    prev_hash: whole.prev_hash,
                    hash: whole.hash,
                }
            );
        }
        assert!(chain_fields(SCHEMA_VERSION, &[1, 2]).is_err());
        assert!(chain_fields(SCHEMA_VERSION + 1, &[]).is_err());
    }

    #[test]
    fn decoding_agrees_with_bincode_whole_and_refuses_what_it_refuses() {
        for envelope in samples::envelopes() {
            let sealed = envelope.seal_encoded();
            let (whole, _): (Envelope, usize) = bincode::serde::decode_from_slice(&sealed.body, BINCODE).unwrap();
            assert_eq!(decode_record(SCHEMA_VERSION, &sealed.body).unwrap(), whole);
            let mut longer = sealed.body.clone();
            longer.push(0);
            assert!(decode_record(SCHEMA_VERSION, &longer).is_err(), "a byte too many");
            for cut in [1, 33, 64, sealed.body.len()] {
                let shorter = &sealed.body[..sealed.body.len() - cut];
                assert!(decode_record(SCHEMA_VERSION, shorter).is_err(), "{cut} bytes too few");
            }
        }
    }

    #[test]
    fn the_field_sizes_add_up_to_the_body() {
        for envelope in samples::envelopes() {
            let total: usize = envelope.field_sizes().iter().map(|(_, size)| size).sum();
            assert_eq!(total, envelope.encode().len(), "{:?}", envelope.event);
        }
    }

    #[test]
    fn every_sample_round_trips() {
        for envelope in samples::envelopes() {
            let body = envelope.encode();
            assert_eq!(decode_record(SCHEMA_VERSION, &body).unwrap(), envelope);
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let envelope = samples::envelopes().remove(0);
        let mut changed = envelope.clone();
        changed.seq += 1;
        assert_ne!(changed.compute_hash(), envelope.hash);
        let mut changed = envelope.clone();
        changed.prev_hash = Digest::of(b"other");
        assert_ne!(changed.compute_hash(), envelope.hash);
        assert_eq!(envelope.compute_hash(), envelope.hash);
    }

    #[test]
    fn the_hash_is_the_encodings_tail_so_bodies_verify_without_reencoding() {
        for envelope in samples::envelopes() {
            let body = envelope.encode();
            assert_eq!(&body[body.len() - 32..], &envelope.hash.0);
            assert_eq!(hash_of_body(&body), envelope.hash);
            let sealed = envelope.clone().seal_encoded();
            assert_eq!(sealed.body, body);
            assert_eq!(sealed.envelope, envelope);
        }
    }

    #[test]
    fn unknown_schema_version_and_garbage_are_errors() {
        let body = samples::envelopes().remove(0).encode();
        assert_eq!(decode_record(99, &body), Err(DecodeError::UnknownSchemaVersion(99)));
        assert!(decode_record(SCHEMA_VERSION, &body[..body.len() / 2]).is_err());
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(
            decode_record(SCHEMA_VERSION, &longer),
            Err(DecodeError::TrailingBytes(1))
        );
    }
}

#[cfg(test)]
mod json_tests {
    use crate::samples;

    #[test]
    fn json_round_trips_every_sample() {
        for envelope in samples::envelopes() {
            let json = serde_json::to_string(&envelope).unwrap();
            let back: crate::Envelope = serde_json::from_str(&json).unwrap();
            assert_eq!(back, envelope, "{json}");
        }
    }
}
