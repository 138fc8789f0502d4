//! The event log: a directory of append-only segment files behind the `EventLog` trait.
//!
//! `FileLog` is the one writer. An append is durable when it returns: the records are
//! written and `fdatasync`ed (and the directory fsynced when a segment is created).
//! Opening scans every record — checksum, seq, hash chain — so a log that was edited,
//! reordered or truncated in the middle is refused; a tail cut short by a crash is cut off.

pub mod disk;
pub mod segment;

/// How far apart the positions kept for finding a seq may be: `read_seq` reads forward
/// at most this many records from an anchor (the index keeps one every this many seqs).
pub const ANCHOR_EVERY: u64 = 64;

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
        Location::from(self).offset == HEADER_LEN
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
    /// A reader that sees everything appended so far and from now on.
    fn reader(&self) -> Arc<dyn LogRead>;
}

/// What a full scan of the log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanReport {
    pub head: Head,
    pub records: u64,
    pub segments: usize,
    pub bytes: u64,
    /// Bytes past the last whole record of the last segment: a tail cut by a crash.
    pub torn_tail_bytes: u64,
}

/// Scans and checks every record of the log in `dir` without changing anything.
pub fn scan(dir: &Path) -> Result<ScanReport> {
    scan_on(dir, &RealDisk)
}

/// As [`scan`], reading through `disk`.
pub fn scan_on(dir: &Path, disk: &dyn Disk) -> Result<ScanReport> {
    let segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
    let mut report = ScanReport {
        head: Head::EMPTY,
        records: 0,
        segments: segments.len(),
        bytes: 0,
        torn_tail_bytes: 0,
    };
    for (index, segment) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        let bytes = disk
            .read_all(&segment.path)
            .map_err(Error::io("reading a segment", &segment.path))?;
        report.bytes += bytes.len() as u64;
        let end = scan_segment(segment, &bytes, is_last, &mut report.head, &mut report.records)?;
        report.torn_tail_bytes += bytes.len() as u64 - end;
    }
    Ok(report)
}

fn corruption(segment: &SegmentFile, seq: u64, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corruption {
        seq,
        segment: segment.path.clone(),
        offset,
        reason: reason.into(),
    }
}

/// Checks one segment's records against the chain so far; returns where its valid
/// records end. Damage is an error, except a torn tail in the last segment.
fn scan_segment(segment: &SegmentFile, bytes: &[u8], is_last: bool, head: &mut Head, records: &mut u64) -> Result<u64> {
    let expected_first = head.seq + 1;
    if bytes.len() < HEADER_LEN as usize {
        // A segment whose creation was cut short holds nothing acknowledged.
        return if is_last {
            Ok(0)
        } else {
            Err(corruption(segment, expected_first, 0, "segment header cut short"))
        };
    }
    if &bytes[..8] != segment::HEADER_MAGIC {
        return Err(corruption(
            segment,
            expected_first,
            0,
            "not a segment file (bad header)",
        ));
    }
    let header_seq = u64::from_le_bytes(bytes[8..16].try_into().expect("eight bytes"));
    if header_seq != segment.first_seq || segment.first_seq != expected_first {
        return Err(corruption(
            segment,
            expected_first,
            0,
            format!(
                "segment starts at seq {header_seq} (named {}), expected {expected_first}",
                segment.first_seq
            ),
        ));
    }
    let mut offset = HEADER_LEN;
    while (offset as usize) < bytes.len() {
        let seq = head.seq + 1;
        match segment::read_frame(bytes, offset) {
            Frame::Record { envelope, next } => {
                let hash = lineage_schema::envelope::hash_of_body(&bytes[segment::body_of(offset, next)]);
                check_chain(&envelope, hash, head).map_err(|reason| corruption(segment, seq, offset, reason))?;
                *head = Head {
                    seq: envelope.seq,
                    hash: envelope.hash,
                    recorded_at: envelope.recorded_at,
                };
                *records += 1;
                offset = next;
            }
            Frame::Truncated if is_last => return Ok(offset),
            Frame::Truncated => {
                return Err(corruption(
                    segment,
                    seq,
                    offset,
                    "record cut short inside a closed segment",
                ))
            }
            Frame::Bad { reason } => {
                if is_last && segment::valid_record_after(bytes, offset).is_none() {
                    return Ok(offset);
                }
                return Err(corruption(segment, seq, offset, reason));
            }
        }
    }
    Ok(offset)
}

fn check_chain(envelope: &Envelope, hash: Digest, head: &Head) -> std::result::Result<(), String> {
    if envelope.seq != head.seq + 1 {
        return Err(format!("found seq {} where seq {} belongs", envelope.seq, head.seq + 1));
    }
    if envelope.prev_hash != head.hash {
        return Err("previous-hash link broken: an earlier record was changed, removed or moved".into());
    }
    if hash != envelope.hash {
        return Err("record hash does not match its contents".into());
    }
    if envelope.recorded_at < head.recorded_at {
        return Err("recorded time goes backwards".into());
    }
    Ok(())
}

/// The segment-file log.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    segments: Arc<RwLock<Vec<SegmentFile>>>,
    current: File,
    current_first_seq: u64,
    current_len: u64,
    head: Head,
    max_segment_bytes: u64,
    poisoned: Option<String>,
    disk: Arc<dyn Disk>,
}

/// What opening the log did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    pub scan: ScanReport,
    /// Bytes of a torn tail that were cut off.
    pub cut_bytes: u64,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::io("syncing the log directory", dir))
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir`, checking every record and cutting a torn tail.
    pub fn open(dir: &Path, max_segment_bytes: u64) -> Result<(FileLog, OpenReport)> {
        Self::open_on(dir, max_segment_bytes, Arc::new(RealDisk))
    }

    /// As [`FileLog::open`], with every file operation going through `disk`.
    pub fn open_on(dir: &Path, max_segment_bytes: u64, disk: Arc<dyn Disk>) -> Result<(FileLog, OpenReport)> {
        assert!(
            max_segment_bytes > HEADER_LEN,
            "a segment must hold more than its header"
        );
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(Error::io("creating the log directory", dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let scan = scan_on(dir, disk.as_ref())?;
        let mut segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
        let cut_bytes = scan.torn_tail_bytes;
        if segments.is_empty() {
            segments.push(create_segment(dir, 1, disk.as_ref())?);
        }
        let last = segments.last().expect("at least one segment").clone();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&last.path)
            .map_err(Error::io("opening a segment", &last.path))?;
        let mut len = file
            .metadata()
            .map_err(Error::io("reading segment size", &last.path))?
            .len();
        if cut_bytes > 0 || len < HEADER_LEN {
            len = len.saturating_sub(cut_bytes).max(HEADER_LEN);
            if len == HEADER_LEN {
                disk.write_at(&file, &last.path, &segment::encode_header(last.first_seq), 0)
                    .map_err(Error::io("rewriting a segment header", &last.path))?;
            }
            file.set_len(len)
                .map_err(Error::io("cutting a torn tail", &last.path))?;
            disk.sync_all(&file, &last.path)
                .map_err(Error::io("syncing a repaired segment", &last.path))?;
        }
        let log = FileLog {
            dir: dir.to_path_buf(),
            current_first_seq: last.first_seq,
            segments: Arc::new(RwLock::new(segments)),
            current: file,
            current_len: len,
            head: scan.head,
            max_segment_bytes,
            poisoned: None,
            disk,
        };
        Ok((log, OpenReport { scan, cut_bytes }))
    }

    fn rotate(&mut self) -> Result<()> {
        let segment = create_segment(&self.dir, self.head.seq + 1, self.disk.as_ref())?;
        self.current = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&segment.path)
            .map_err(Error::io("opening a segment", &segment.path))?;
        self.current_first_seq = segment.first_seq;
        self.current_len = HEADER_LEN;
        self.segments.write().expect("segment list lock").push(segment);
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(segment::file_name(self.current_first_seq))
    }

    /// Writes `bytes` at the end of the current segment and syncs it.
    fn write_durably(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.current_path();
        self.disk
            .write_at(&self.current, &path, bytes, self.current_len)
            .map_err(Error::io("writing records", &path))?;
        self.disk
            .sync_data(&self.current, &path)
            .map_err(Error::io("syncing records", &path))?;
        self.current_len += bytes.len() as u64;
        Ok(())
    }

    fn append_unpoisoned(&mut self, records: &[Sealed]) -> Result<Vec<Position>> {
        let mut locations = Vec::with_capacity(records.len());
        let mut pending = Vec::new();
        let mut head = self.head;
        for Sealed { envelope: record, body } in records {
            assert_eq!(record.seq, head.seq + 1, "appends continue the log");
            assert_eq!(record.prev_hash, head.hash, "appends continue the chain");
            let mut frame = Vec::with_capacity(segment::FRAME_HEAD_LEN + body.len());
            segment::encode_frame(body, &mut frame);
            let segment_len = self.current_len + pending.len() as u64;
            if segment_len > HEADER_LEN && segment_len + frame.len() as u64 > self.max_segment_bytes {
                self.write_durably(&std::mem::take(&mut pending))?;
                self.head = head;
                self.rotate()?;
            }
            locations.push(
                Location {
                    segment: self.current_first_seq,
                    offset: self.current_len + pending.len() as u64,
                }
                .into(),
            );
            pending.extend_from_slice(&frame);
            head = Head {
                seq: record.seq,
                hash: record.hash,
                recorded_at: record.recorded_at,
            };
        }
        self.write_durably(&pending)?;
        self.head = head;
        Ok(locations)
    }
}

fn create_segment(dir: &Path, first_seq: u64, disk: &dyn Disk) -> Result<SegmentFile> {
    let path = dir.join(segment::file_name(first_seq));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(Error::io("creating a segment", &path))?;
    disk.write_at(&file, &path, &segment::encode_header(first_seq), 0)
        .map_err(Error::io("writing a segment header", &path))?;
    disk.sync_all(&file, &path)
        .map_err(Error::io("syncing a new segment", &path))?;
    sync_dir(dir)?;
    Ok(SegmentFile { first_seq, path })
}

impl EventLog for FileLog {
    fn head(&self) -> Head {
        self.head
    }

    fn append(&mut self, records: &[Sealed]) -> Result<Vec<Position>> {
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (head_before, segment_before, len_before) = (self.head, self.current_first_seq, self.current_len);
        self.append_unpoisoned(records).inspect_err(|error| {
            // What failed to sync may or may not be on disk, and a retried fsync can report
            // success for pages the kernel already dropped: stop accepting appends until a
            // reopen has rescanned the files. Cutting the unacknowledged bytes off now is
            // best effort, for a retry after reopening to find a clean tail.
            self.poisoned = Some(error.to_string());
            let keep = if self.current_first_seq == segment_before {
                len_before
            } else {
                HEADER_LEN
            };
            let _ = self.current.set_len(keep);
            self.head = head_before;
        })
    }

    fn reader(&self) -> Arc<dyn LogRead> {
        Arc::new(FileLogReader {
            dir: self.dir.clone(),
            segments: Arc::clone(&self.segments),
            disk: Arc::clone(&self.disk),
        })
    }
}

/// Reads a file log while its writer appends.
#[derive(Debug)]
pub struct FileLogReader {
    dir: PathBuf,
    segments: Arc<RwLock<Vec<SegmentFile>>>,
    disk: Arc<dyn Disk>,
}

impl FileLogReader {
    /// A reader over a closed log directory (for offline checks).
    pub fn open(dir: &Path) -> Result<Self> {
        let segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            segments: Arc::new(RwLock::new(segments)),
            disk: Arc::new(RealDisk),
        })
    }
}

impl LogRead for FileLogReader {
    fn scan_from(&self, seq: u64, visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>) -> Result<()> {
        let segments = self.segments.read().expect("segment list lock").clone();
        let start = segments
            .partition_point(|segment| segment.first_seq <= seq)
            .saturating_sub(1);
        for segment in &segments[start..] {
            let bytes = self
                .disk
                .read_all(&segment.path)
                .map_err(Error::io("reading a segment", &segment.path))?;
            let mut offset = HEADER_LEN;
            while (offset as usize) < bytes.len() {
                match segment::read_frame(&bytes, offset) {
                    Frame::Record { envelope, next } => {
                        if envelope.seq >= seq
                            && !visit(
                                *envelope,
                                Location {
                                    segment: segment.first_seq,
                                    offset,
                                }
                                .into(),
                            )?
                        {
                            return Ok(());
                        }
                        offset = next;
                    }
                    // Bytes being appended right now: the rest is not acknowledged yet.
                    Frame::Truncated => break,
                    Frame::Bad { reason } => return Err(corruption(segment, 0, offset, reason)),
                }
            }
        }
        Ok(())
    }

    fn read_seq(&self, anchor: Position, seq: u64) -> Result<Envelope> {
        let anchor = Location::from(anchor);
        let path = self.dir.join(segment::file_name(anchor.segment));
        let file = File::open(&path).map_err(Error::io("opening a segment", &path))?;
        let bad = |offset, reason: &str| {
            corruption(
                &SegmentFile {
                    first_seq: anchor.segment,
                    path: path.clone(),
                },
                seq,
                offset,
                reason,
            )
        };
        let mut offset = anchor.offset;
        for _ in 0..=ANCHOR_EVERY {
            let mut head = [0u8; segment::FRAME_HEAD_LEN + 9];
            let read = self
                .disk
                .read_at(&file, &path, &mut head, offset)
                .map_err(Error::io("reading a record", &path))?;
            if read < segment::FRAME_HEAD_LEN + 1 {
                return Err(bad(offset, "record missing below the head"));
            }
            let body_len = u32::from_le_bytes(head[4..8].try_into().expect("four bytes")) as u64;
            match peek_seq(&head[segment::FRAME_HEAD_LEN..read]) {
                Some(found) if found == seq => {
                    return self.read_at(
                        Location {
                            segment: anchor.segment,
                            offset,
                        }
                        .into(),
                    )
                }
                Some(found) if found < seq => offset += segment::FRAME_HEAD_LEN as u64 + body_len,
                _ => return Err(bad(offset, "record sequence does not lead to the seq looked for")),
            }
        }
        Err(bad(offset, "seq not within reach of its anchor"))
    }

    fn read_at(&self, position: Position) -> Result<Envelope> {
        let location = Location::from(position);
        let path = self.dir.join(segment::file_name(location.segment));
        let file = File::open(&path).map_err(Error::io("opening a segment", &path))?;
        let mut head = [0u8; segment::FRAME_HEAD_LEN];
        let read = self
            .disk
            .read_at(&file, &path, &mut head, location.offset)
            .map_err(Error::io("reading a record", &path))?;
        let body_len = u32::from_le_bytes(head[4..8].try_into().expect("four bytes")) as usize;
        let body_len = body_len.min(lineage_schema::envelope::MAX_RECORD_BYTES);
        let mut frame = vec![0u8; segment::FRAME_HEAD_LEN + body_len];
        let read = if read == head.len() {
            self.disk
                .read_at(&file, &path, &mut frame, location.offset)
                .map_err(Error::io("reading a record", &path))?
        } else {
            read
        };
        frame.truncate(read);
        match segment::read_frame(&frame, 0) {
            Frame::Record { envelope, .. } => Ok(*envelope),
            Frame::Truncated => Err(corruption(
                &SegmentFile {
                    first_seq: location.segment,
                    path,
                },
                0,
                location.offset,
                "record cut short",
            )),
            Frame::Bad { reason } => Err(corruption(
                &SegmentFile {
                    first_seq: location.segment,
                    path,
                },
                0,
                location.offset,
                reason,
            )),
        }
    }
}

/// The log's size on disk and its number of segments, without reading records.
pub fn scan_sizes(dir: &Path) -> Result<(u64, usize)> {
    let segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
    let mut bytes = 0;
    for segment in &segments {
        bytes += std::fs::metadata(&segment.path)
            .map_err(Error::io("reading segment size", &segment.path))?
            .len();
    }
    Ok((bytes, segments.len()))
}
