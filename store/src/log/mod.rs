//! The event log: a directory of append-only segment files behind the `EventLog` trait.
//!
//! `FileLog` is the one writer. An append is durable when it returns: the records are
//! written and `fdatasync`ed (and the directory fsynced when a segment is created).
//! Opening scans every record — checksum, seq, hash chain — so a log that was edited,
//! reordered or truncated in the middle is refused; a tail cut short by a crash is cut off.

mod cursor;
pub mod disk;
mod file;
pub mod postgres;
mod scan;
pub mod segment;
mod sync;

pub use file::*;
pub use scan::*;

/// How far apart the positions kept for finding a seq may be: `read_seq` reads forward
/// at most this many records from an anchor (the index keeps one every this many seqs).
/// The same seqs as the whole records of the file log, so every anchor is a whole record.
pub const ANCHOR_EVERY: u64 = lineage_schema::compact::FULL_EVERY;

use crate::error::{Error, Result};
use crate::log::disk::{Disk, RealDisk};
use lineage_schema::envelope::Sealed;
use lineage_schema::{Digest, Envelope, Timestamp};
use segment::{Frame, SegmentFile, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The default segment size bound. A segment is closed once the next record would pass it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Where a record is, as its log knows it. Opaque to everyone else: the index keeps it
/// and hands it back to the log that gave it. Sixteen bytes, room for any backend's cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position([u8; Position::LEN]);

impl Position {
    pub const LEN: usize = 16;

    pub fn to_bytes(self) -> [u8; Position::LEN] {
        self.0
    }

    /// A position read back from where it was kept; None if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Position> {
        Some(Position(bytes.get(..Position::LEN)?.try_into().ok()?))
    }

    /// Whether a forward read must start here or later: `read_seq` cannot reach this
    /// record from an anchor before it (for the file log: it opens a segment), so the
    /// index keeps this position as an anchor.
    pub fn starts_run(self) -> bool {
        !postgres::is_postgres(self) && Location::from(self).offset == HEADER_LEN
    }
}

/// Where the file log keeps a record: its segment (named by its first seq) and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: u64,
    pub offset: u64,
}

impl From<Location> for Position {
    fn from(location: Location) -> Position {
        let mut bytes = [0u8; Position::LEN];
        bytes[..8].copy_from_slice(&location.segment.to_be_bytes());
        bytes[8..].copy_from_slice(&location.offset.to_be_bytes());
        Position(bytes)
    }
}

impl From<Position> for Location {
    fn from(position: Position) -> Location {
        let half =
            |range: std::ops::Range<usize>| u64::from_be_bytes(position.0[range].try_into().expect("eight bytes"));
        Location {
            segment: half(0..8),
            offset: half(8..16),
        }
    }
}

/// The last record of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Digest,
    pub recorded_at: Timestamp,
}

impl Head {
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: Digest::ZERO,
        recorded_at: Timestamp::EPOCH,
    };
}

/// Reading the log, from any thread.
pub trait LogRead: Send + Sync {
    /// Calls `visit` for every record from `seq` on, in order, up to the head when called.
    fn scan_from(&self, seq: u64, visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>) -> Result<()>;
    /// The record at a position.
    fn read_at(&self, position: Position) -> Result<Envelope>;
    /// The records at rising positions (a stream's history), in order: a file log reads
    /// them forward in one pass per segment instead of from a mark each.
    fn read_many(&self, positions: &[Position]) -> Result<Vec<Envelope>> {
        positions.iter().map(|&position| self.read_at(position)).collect()
    }
    /// The record `seq`, reading forward from `anchor`, the position of an earlier-or-equal
    /// seq at most [`ANCHOR_EVERY`] records back, with no position that `starts_run`
    /// between them.
    fn read_seq(&self, anchor: Position, seq: u64) -> Result<Envelope>;
}

/// The seq at the front of a record body, without decoding the rest (bincode varint:
/// one byte below 251, else a marker byte and a little-endian u16, u32 or u64).
fn peek_seq(body: &[u8]) -> Option<u64> {
    let tail = |len: usize| {
        body.get(1..1 + len).map(|bytes| {
            let mut buffer = [0u8; 8];
            buffer[..len].copy_from_slice(bytes);
            u64::from_le_bytes(buffer)
        })
    };
    match *body.first()? {
        small @ 0..=250 => Some(u64::from(small)),
        251 => tail(2),
        252 => tail(4),
        253 => tail(8),
        _ => None,
    }
}

/// The append side of the log; one writer at a time.
pub trait EventLog: Send {
    fn head(&self) -> Head;
    /// Appends records that continue the chain (seq = head + 1, …; `prev_hash` = head's
    /// hash). Durable when it returns `Ok`.
    fn append(&mut self, records: &[Sealed]) -> Result<Vec<Position>>;
    /// Starts an append: the records written and their positions, durable once
    /// [`EventLog::finish_append`] says so, which must come before the next append. In
    /// between, the head is past them, so the next group can be decided and sealed on top.
    /// By default the whole append, durable when it returns.
    fn begin_append(&mut self, records: &[Sealed]) -> Result<Vec<Position>> {
        self.append(records)
    }
    /// Whether the append begun last is known durable already (without waiting): then
    /// [`EventLog::finish_append`] says `Ok` at once.
    fn append_synced(&mut self) -> bool {
        true
    }
    /// Waits until the append begun last is durable (`Ok`), or says why it is not: the
    /// log then goes back to where it stood before it and refuses further appends.
    fn finish_append(&mut self) -> Result<()> {
        Ok(())
    }
    /// A reader that sees everything appended so far and from now on.
    fn reader(&self) -> Arc<dyn LogRead>;
    /// Records other writers appended after this one's head (a shared log; a file log has
    /// none), checked; the head moves past them.
    fn newer(&mut self) -> Result<Vec<(Envelope, Position)>> {
        Ok(Vec::new())
    }
}
