//! One segment file: a header, then length-prefixed, checksummed records; and its scanner.
//!
//! Layout (all integers little endian; `varint` is LEB128, at most 4 bytes, shortest form):
//!
//! ```text
//! header      : magic: 8 bytes | first_seq: u64
//! short frame : tag: u8 = 0xC0 | format | body_len: varint | crc32: u32 | body   (b"LNGSEG03")
//! long frame  : marker: u32 = 0x5247_4e4c ("LNGR") | body_len: u32 | crc32: u32 | format: u16 | body
//! ```
//!
//! `format` 1 is a whole record (the envelope's encoding, hashes included); format 2 a
//! compact one, read against the record before it (`lineage_schema::compact`). A segment's
//! first record is whole, so a segment reads on its own. A short frame's crc covers its
//! tag, length and body; a long frame's, its format and body. A frame says by its first
//! byte which kind it is, so readers need not know which header its segment has; the
//! header is for the writer, and for earlier releases, which refuse a segment whose
//! frames they cannot read rather than take them for a torn tail and cut them off:
//! `LNGSEG01` holds long frames of whole records, `LNGSEG02` long frames of either format
//! (the log keeps appending to such a segment in its own framing until it fills),
//! `LNGSEG03` short frames. The tag or marker lets a scan tell "the tail was cut by a
//! crash" (nothing valid after the bad spot) from "a record in the middle went bad"
//! (a valid record follows it): the first is repaired by cutting, the second refused.

use lineage_schema::compact::{Prior, FORMAT_COMPACT};
use lineage_schema::envelope::{chain_fields, hash_of_body, ChainFields, MAX_RECORD_BYTES};
use lineage_schema::{Digest, Envelope, SCHEMA_VERSION};

use std::path::{Path, PathBuf};

pub const HEADER_LEN: u64 = 16;
/// The header of a segment of short frames, which the log begins every segment with.
pub const HEADER_MAGIC: &[u8; 8] = b"LNGSEG03";
/// The header of a segment of long frames that may hold compact records, as the
/// release before short frames wrote them.
pub const HEADER_MAGIC_LONG: &[u8; 8] = b"LNGSEG02";
/// The header of a segment of whole records only, as earlier releases wrote them: the
/// file log appends whole records to it until it fills.
pub const HEADER_MAGIC_WHOLE: &[u8; 8] = b"LNGSEG01";
pub const RECORD_MAGIC: u32 = 0x5247_4e4c;
/// A long frame's head.
pub const LONG_HEAD_LEN: usize = 14;
/// The longest head a frame of either kind has.
pub const MAX_HEAD_LEN: usize = LONG_HEAD_LEN;
/// A short frame's first byte is this with the record's format in its low bits.
const SHORT_TAG: u8 = 0xC0;
const TAG_MASK: u8 = 0xF0;
/// A body length takes at most this many varint bytes (`MAX_RECORD_BYTES` needs 4).
const MAX_LEN_BYTES: usize = 4;

/// How the log frames the records it appends to a segment, by the segment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `LNGSEG01`: long frames, whole records only.
    Whole,
    /// `LNGSEG02`: long frames, compact records after the first.
    Long,
    /// `LNGSEG03`: short frames, compact records after the first.
    Short,
}

impl Framing {
    /// The framing a segment's header asks for, if it is a segment's header.
    pub fn of_header(header: &[u8]) -> Option<Framing> {
        match header.get(..8)? {
            magic if magic == HEADER_MAGIC => Some(Framing::Short),
            magic if magic == HEADER_MAGIC_LONG => Some(Framing::Long),
            magic if magic == HEADER_MAGIC_WHOLE => Some(Framing::Whole),
            _ => None,
        }
    }

    /// Whether records after a segment's first may be compact.
    pub fn allows_compact(self) -> bool {
        self != Framing::Whole
    }

    /// Appends one framed record of `format` to `out`.
    pub fn encode(self, format: u16, body: &[u8], out: &mut Vec<u8>) {
        match self {
            Framing::Short => encode_frame(format, body, out),
            Framing::Long | Framing::Whole => encode_long_frame(format, body, out),
        }
    }
}

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

/// Appends one record of `format` to `out` in a short frame.
pub fn encode_frame(format: u16, body: &[u8], out: &mut Vec<u8>) {
    assert!(
        body.len() <= MAX_RECORD_BYTES,
        "commands are size-checked before encoding"
    );
    let format = u8::try_from(format)
        .ok()
        .filter(|format| (1..16).contains(format))
        .expect("a short frame's tag holds formats 1 to 15");
    let start = out.len();
    out.push(SHORT_TAG | format);
    let mut len = body.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start..]);
    crc.update(body);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(body);
}

/// Appends one record of `format` to `out` in a long frame (segments begun by earlier
/// releases, which the log fills in their own framing).
pub fn encode_long_frame(format: u16, body: &[u8], out: &mut Vec<u8>) {
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

/// A frame's head, read from its first bytes: which format its record has, how long the
/// head is and how long the body after it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    format: u16,
    len: usize,
    body_len: usize,
}

impl Head {
    /// The head at the front of `bytes` (nothing checked but its form and the length's
    /// limit): `Truncated` when the bytes end inside it.
    #[inline]
    pub(crate) fn read(bytes: &[u8]) -> Result<Head, Unchecked> {
        // Most frames: a short one whose body is under 128 bytes.
        if let [first, len @ 0..0x80, _, _, _, _, ..] = *bytes {
            if is_short_tag(first) {
                return Ok(Head {
                    format: u16::from(first & !TAG_MASK),
                    len: 6,
                    body_len: usize::from(len),
                });
            }
        }
        Self::read_any(bytes)
    }

    fn read_any(bytes: &[u8]) -> Result<Head, Unchecked> {
        let Some(&first) = bytes.first() else {
            return Err(Unchecked::Truncated);
        };
        let head = if is_short_tag(first) {
            let (body_len, len_bytes) = read_varint(&bytes[1..])?;
            let len = 1 + len_bytes + 4;
            if bytes.len() < len {
                return Err(Unchecked::Truncated);
            }
            Head {
                format: u16::from(first & !TAG_MASK),
                len,
                body_len,
            }
        } else if first == RECORD_MAGIC.to_le_bytes()[0] {
            if bytes.len() < LONG_HEAD_LEN {
                return Err(Unchecked::Truncated);
            }
            if u32_at(bytes, 0) != RECORD_MAGIC {
                return Err(Unchecked::Bad("no record marker".into()));
            }
            Head {
                format: u16::from_le_bytes([bytes[12], bytes[13]]),
                len: LONG_HEAD_LEN,
                body_len: u32_at(bytes, 4) as usize,
            }
        } else {
            return Err(Unchecked::Bad("no record marker".into()));
        };
        if head.body_len > MAX_RECORD_BYTES {
            return Err(Unchecked::Bad(format!(
                "record length {} exceeds the limit",
                head.body_len
            )));
        }
        Ok(head)
    }

    /// The head and body together.
    #[inline]
    pub(crate) fn frame_len(&self) -> usize {
        self.len + self.body_len
    }

    /// The bytes the frame's checksum covers before the body: a short frame's tag and
    /// length, a long frame's format.
    fn checked_head<'b>(&self, frame: &'b [u8]) -> &'b [u8] {
        if self.len == LONG_HEAD_LEN {
            &frame[12..LONG_HEAD_LEN]
        } else {
            &frame[..self.len - 4]
        }
    }

    fn crc(&self, frame: &[u8]) -> u32 {
        let at = if self.len == LONG_HEAD_LEN { 8 } else { self.len - 4 };
        u32_at(frame, at)
    }
}

/// Whether a frame's first byte is a short frame's tag (formats 1 to 15).
fn is_short_tag(byte: u8) -> bool {
    byte & TAG_MASK == SHORT_TAG && byte != SHORT_TAG
}

/// A body length: its value and how many bytes it took.
fn read_varint(bytes: &[u8]) -> Result<(usize, usize), Unchecked> {
    let mut value = 0usize;
    for index in 0..MAX_LEN_BYTES {
        let Some(&byte) = bytes.get(index) else {
            return Err(Unchecked::Truncated);
        };
        value |= usize::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            if byte == 0 && index > 0 {
                return Err(Unchecked::Bad("record length not in its shortest form".into()));
            }
            return Ok((value, index + 1));
        }
    }
    Err(Unchecked::Bad("record length too long".into()))
}

/// Checks the frame starting at `offset`: its tag or marker, length and checksum.
fn check(bytes: &[u8], offset: u64) -> Result<Checked, Unchecked> {
    let start = offset as usize;
    let rest = &bytes[start.min(bytes.len())..];
    let head = Head::read(rest)?;
    if rest.len() < head.frame_len() {
        return Err(Unchecked::Truncated);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(head.checked_head(rest));
    crc.update(&rest[head.len..head.frame_len()]);
    if crc.finalize() != head.crc(rest) {
        return Err(Unchecked::Bad("checksum mismatch".into()));
    }
    Ok(Checked {
        schema: head.format,
        body: start + head.len..start + head.frame_len(),
        next: offset + head.frame_len() as u64,
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
    bytes
        .get(offset as usize..)
        .and_then(|rest| Head::read(rest).ok())
        .is_some_and(|head| head.format == SCHEMA_VERSION)
}

/// The length of the whole frame at the front of `bytes` if its head reads and all of it
/// is there (nothing checked but the head's form), and whether it holds a whole record.
pub(crate) fn frame_len(bytes: &[u8]) -> Option<(u64, bool)> {
    let head = Head::read(bytes).ok()?;
    let len = head.frame_len();
    (len <= bytes.len()).then_some((len as u64, head.format == SCHEMA_VERSION))
}

/// Each frame of a segment's bytes, by its head alone (nothing checked): its record's
/// format, its head's length and its body's; for reports and tests of the framing.
pub fn frame_heads(segment_bytes: &[u8]) -> Vec<(u16, usize, usize)> {
    frame_offsets(segment_bytes, HEADER_LEN, usize::MAX)
        .into_iter()
        .map_while(|at| Head::read(&segment_bytes[at as usize..]).ok())
        .map(|head| (head.format, head.len, head.body_len))
        .collect()
}

/// Where the body of the frame at the front of `bytes` starts, if its head reads.
pub fn body_start(bytes: &[u8]) -> Option<usize> {
    Head::read(bytes).ok().map(|head| head.len)
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
            before.advance_with(body, |_| ()).map(|()| {
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
        let Ok(head) = Head::read(&bytes[at..]) else {
            break;
        };
        at += head.frame_len();
    }
    offsets
}

/// Whether any whole, checksummed record starts after `offset`. Used to tell a torn tail
/// (nothing valid follows) from damage in the middle (something valid follows).
pub fn valid_record_after(bytes: &[u8], offset: u64) -> Option<u64> {
    let marker = RECORD_MAGIC.to_le_bytes()[0];
    let begins_a_frame = |byte: &u8| *byte == marker || is_short_tag(*byte);
    let mut at = offset as usize + 1;
    while at < bytes.len() {
        let found = bytes[at..].iter().position(begins_a_frame)?;
        at += found;
        // Checked by its checksum alone: a compact record needs the ones before it.
        if check(bytes, at as u64).is_ok() {
            return Some(at as u64);
        }
        at += 1;
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
#[path = "segment_tests.rs"]
mod tests;
