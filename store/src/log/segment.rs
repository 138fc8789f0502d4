//! One segment file: a header, then length-prefixed, checksummed records; and its scanner.
//!
//! Layout (all integers little endian):
//!
//! ```text
//! header  : b"LNGSEG02" (b"LNGSEG01": whole records only) | first_seq: u64
//! record  : magic: u32 = 0x5247_4e4c ("LNGR") | body_len: u32 | crc32: u32 | format: u16 | body
//! ```
//!
//! `format` 1 is a whole record (the envelope's encoding, hashes included); format 2 a
//! compact one, read against the record before it (`lineage_schema::compact`). A segment's
//! first record is whole, so a segment reads on its own. The crc covers `format` and `body`. The magic lets a scan tell "the tail was cut by a
//! crash" (nothing valid after the bad spot) from "a record in the middle went bad"
//! (a valid record follows it): the first is repaired by cutting, the second refused.

use lineage_schema::compact::{Prior, FORMAT_COMPACT};
use lineage_schema::envelope::{chain_fields, hash_of_body, ChainFields, MAX_RECORD_BYTES};
use lineage_schema::{Digest, Envelope, SCHEMA_VERSION};

use std::path::{Path, PathBuf};

pub const HEADER_LEN: u64 = 16;
/// The header of a segment that may hold compact records. A release that knows only
/// whole records refuses such a segment as not one of its own, rather than take the
/// compact records at its end for a torn tail and cut them off.
pub const HEADER_MAGIC: &[u8; 8] = b"LNGSEG02";
/// The header of a segment of whole records only, as earlier releases wrote them: the
/// file log appends whole records to it until it fills.
pub const HEADER_MAGIC_WHOLE: &[u8; 8] = b"LNGSEG01";
pub const RECORD_MAGIC: u32 = 0x5247_4e4c;
pub const FRAME_HEAD_LEN: usize = 14;

/// A segment's file name: its first seq, zero-padded so names sort in log order.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// The first seq a segment file name stands for, if it is one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

pub fn encode_header(first_seq: u64) -> [u8; HEADER_LEN as usize] {
    encode_header_as(HEADER_MAGIC, first_seq)
}

/// A segment header with either magic (an earlier release's, for tests of upgrades).
pub fn encode_header_as(magic: &[u8; 8], first_seq: u64) -> [u8; HEADER_LEN as usize] {
    let mut header = [0; HEADER_LEN as usize];
    header[..8].copy_from_slice(magic);
    header[8..].copy_from_slice(&first_seq.to_le_bytes());
    header
}

/// Whether a segment starting with these bytes may hold compact records.
pub fn holds_compact(header: &[u8]) -> bool {
    header.get(..8) == Some(&HEADER_MAGIC[..])
}

/// Appends one framed record of `format` to `out`.
pub fn encode_frame(format: u16, body: &[u8], out: &mut Vec<u8>) {
    assert!(
        body.len() <= MAX_RECORD_BYTES,
        "commands are size-checked before encoding"
    );
    let schema = format.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&schema);
    crc.update(body);
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&schema);
    out.extend_from_slice(body);
}

/// What sits at one offset of a segment.
#[derive(Debug)]
pub enum Frame {
    /// A whole record; `next` is the offset just past it.
    Record { envelope: Box<Envelope>, next: u64 },
    /// The bytes end before the record does.
    Truncated,
    /// The bytes are not a valid record.
    Bad { reason: String },
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

/// A whole, checksummed frame: its format and where its body lies.
struct Checked {
    schema: u16,
    body: std::ops::Range<usize>,
    next: u64,
}

/// Why a frame did not check: the bytes end before it does, or they are not a frame.
pub(crate) enum Unchecked {
    Truncated,
    Bad(String),
}

impl From<Unchecked> for Frame {
    fn from(unchecked: Unchecked) -> Frame {
        match unchecked {
            Unchecked::Truncated => Frame::Truncated,
            Unchecked::Bad(reason) => Frame::Bad { reason },
        }
    }
}

impl From<Unchecked> for ChainFrame {
    fn from(unchecked: Unchecked) -> ChainFrame {
        match unchecked {
            Unchecked::Truncated => ChainFrame::Truncated,
            Unchecked::Bad(reason) => ChainFrame::Bad { reason },
        }
    }
}

/// Checks the frame starting at `offset`: its marker, length and checksum.
fn check(bytes: &[u8], offset: u64) -> Result<Checked, Unchecked> {
    let start = offset as usize;
    let rest = &bytes[start.min(bytes.len())..];
    if rest.len() < FRAME_HEAD_LEN {
        return Err(Unchecked::Truncated);
    }
    if u32_at(rest, 0) != RECORD_MAGIC {
        return Err(Unchecked::Bad("no record marker".into()));
    }
    let body_len = u32_at(rest, 4) as usize;
    if body_len > MAX_RECORD_BYTES {
        return Err(Unchecked::Bad(format!("record length {body_len} exceeds the limit")));
    }
    if rest.len() < FRAME_HEAD_LEN + body_len {
        return Err(Unchecked::Truncated);
    }
    let crc = u32_at(rest, 8);
    if crc32fast::hash(&rest[12..FRAME_HEAD_LEN + body_len]) != crc {
        return Err(Unchecked::Bad("checksum mismatch".into()));
    }
    Ok(Checked {
        schema: u16::from_le_bytes([rest[12], rest[13]]),
        body: start + FRAME_HEAD_LEN..start + FRAME_HEAD_LEN + body_len,
        next: offset + (FRAME_HEAD_LEN + body_len) as u64,
    })
}

/// Reads the frame starting at `offset` of a segment's bytes; `prior` is what the record
/// before it left (None before a whole record), and becomes what this one leaves.
pub fn read_frame(bytes: &[u8], offset: u64, prior: &mut Option<Prior>) -> Frame {
    let checked = match check(bytes, offset) {
        Ok(checked) => checked,
        Err(unchecked) => return unchecked.into(),
    };
    match Prior::decode(prior, checked.schema, &bytes[checked.body]) {
        Ok(envelope) => Frame::Record {
            envelope: Box::new(envelope),
            next: checked.next,
        },
        Err(error) => Frame::Bad {
            reason: error.to_string(),
        },
    }
}

/// Checks the frame at `offset` and moves `prior` past its record without decoding the
/// event (see [`read_frame`]); returns where the next frame starts, or what stopped it
/// (cut short, or not a valid record).
pub(crate) fn pass_frame(bytes: &[u8], offset: u64, prior: &mut Option<Prior>) -> Result<u64, Unchecked> {
    let checked = check(bytes, offset)?;
    Prior::pass(prior, checked.schema, &bytes[checked.body]).map_err(|error| Unchecked::Bad(error.to_string()))?;
    Ok(checked.next)
}

/// Whether the frame at `offset` holds a whole record (by its format field alone).
pub fn is_whole(bytes: &[u8], offset: u64) -> bool {
    let at = offset as usize + FRAME_HEAD_LEN - 2;
    bytes.get(at..at + 2) == Some(&SCHEMA_VERSION.to_le_bytes()[..])
}

/// What a scan of the chain finds at one offset: as [`Frame`], with a record's chain
/// fields and the hash of its body instead of the decoded record.
#[derive(Debug)]
pub enum ChainFrame {
    Record {
        fields: ChainFields,
        /// The hash the body's contents give (to compare with `fields.hash`).
        hash: Digest,
        next: u64,
    },
    Truncated,
    Bad {
        reason: String,
    },
}

/// Reads the frame at `offset` for a check of the chain: checksum, chain fields and the
/// body's own hash, without decoding its event. `prior` as for [`read_frame`]; a compact
/// record's hashes are its prior's and the one computed from it, so they always agree
/// and a change shows at the next whole record, whose stored previous hash it breaks.
pub fn read_chain_frame(bytes: &[u8], offset: u64, prior: &mut Option<Prior>) -> ChainFrame {
    let checked = match check(bytes, offset) {
        Ok(checked) => checked,
        Err(unchecked) => return unchecked.into(),
    };
    let body = &bytes[checked.body];
    let read = match (checked.schema, prior.as_mut()) {
        (FORMAT_COMPACT, Some(before)) => {
            let prev_hash = before.hash;
            before.advance(body).map(|_| {
                let fields = ChainFields {
                    seq: before.seq,
                    recorded_at: before.recorded_at,
                    prev_hash,
                    hash: before.hash,
                };
                (fields, before.hash)
            })
        }
        (format, _) => chain_fields(format, body).and_then(|fields| {
            *prior = Some(Prior::after_full(body)?);
            Ok((fields, hash_of_body(body)))
        }),
    };
    match read {
        Ok((fields, hash)) => ChainFrame::Record {
            fields,
            hash,
            next: checked.next,
        },
        Err(error) => ChainFrame::Bad {
            reason: error.to_string(),
        },
    }
}

/// Where the frames from `offset` start, at most `limit` of them, by their lengths alone
/// (nothing checked): the last one listed may be cut short or damaged. The offsets are
/// the ones a frame-by-frame read would visit, so frames can be read apart and in
/// parallel, then checked in order.
pub fn frame_offsets(bytes: &[u8], offset: u64, limit: usize) -> Vec<u64> {
    let mut offsets = Vec::with_capacity(limit.min(1 << 16));
    let mut at = offset as usize;
    while at < bytes.len() && offsets.len() < limit {
        offsets.push(at as u64);
        let Some(head) = bytes.get(at..at + FRAME_HEAD_LEN) else {
            break;
        };
        let body_len = u32_at(head, 4) as usize;
        if body_len > MAX_RECORD_BYTES {
            break;
        }
        at += FRAME_HEAD_LEN + body_len;
    }
    offsets
}

/// Whether any whole, checksummed record starts after `offset`. Used to tell a torn tail
/// (nothing valid follows) from damage in the middle (something valid follows).
pub fn valid_record_after(bytes: &[u8], offset: u64) -> Option<u64> {
    let marker = RECORD_MAGIC.to_le_bytes();
    let mut at = offset as usize + 1;
    while at + FRAME_HEAD_LEN <= bytes.len() {
        match bytes[at..].windows(4).position(|window| window == marker) {
            None => return None,
            Some(found) => {
                at += found;
                // Checked by its checksum alone: a compact record needs the ones before it.
                if check(bytes, at as u64).is_ok() {
                    return Some(at as u64);
                }
                at += 1;
            }
        }
    }
    None
}

/// A segment file found in the log directory.
#[derive(Clone, Debug)]
pub struct SegmentFile {
    pub first_seq: u64,
    pub path: PathBuf,
}

/// Lists the segment files of a directory in log order; other files are ignored.
pub fn list(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_file_name) {
            segments.push(SegmentFile {
                first_seq,
                path: entry.path(),
            });
        }
    }
    segments.sort_by_key(|segment| segment.first_seq);
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_schema::samples;

    fn two_records() -> (Vec<u8>, u64) {
        let envelopes = samples::envelopes();
        let mut bytes = encode_header(1).to_vec();
        encode_frame(SCHEMA_VERSION, &envelopes[0].encode(), &mut bytes);
        let second = bytes.len() as u64;
        encode_frame(SCHEMA_VERSION, &envelopes[1].encode(), &mut bytes);
        (bytes, second)
    }

    #[test]
    fn frames_read_back() {
        let (bytes, second) = two_records();
        match read_frame(&bytes, HEADER_LEN, &mut None) {
            Frame::Record { envelope, next } => {
                assert_eq!(envelope.seq, 1);
                assert_eq!(next, second);
            }
            other => panic!("expected a record, got {other:?}"),
        }
    }

    #[test]
    fn a_cut_record_is_truncated_and_a_flipped_byte_is_bad() {
        let (bytes, second) = two_records();
        assert!(matches!(
            read_frame(&bytes[..bytes.len() - 1], second, &mut None),
            Frame::Truncated
        ));
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN as usize + 20] ^= 1;
        assert!(matches!(read_frame(&flipped, HEADER_LEN, &mut None), Frame::Bad { .. }));
        assert_eq!(valid_record_after(&flipped, HEADER_LEN), Some(second));
        assert_eq!(valid_record_after(&bytes, second), None);
    }

    #[test]
    fn names_sort_in_log_order() {
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("notes.txt"), None);
        assert!(file_name(9) < file_name(10));
    }
}
