//! `FileLog`, the segment-file log: the one writer appending and syncing records, and
//! `FileLogReader`, which finds a record by its position or its seq.

use super::cursor::{Cursor, Marks, Step};
use super::scan::{corruption, scan_marking};
use super::*;

/// The segment-file log.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    segments: Arc<RwLock<Vec<SegmentFile>>>,
    marks: Arc<Marks>,
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
        let (scan, marks) = scan_marking(dir, disk.as_ref())?;
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
            marks: Arc::new(Marks::new(marks)),
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
        // Marked only once durable: a reader never starts at bytes that may be cut off.
        for (record, location) in records.iter().zip(&locations) {
            self.marks.note(record.envelope.seq, Location::from(*location));
        }
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
            marks: Arc::clone(&self.marks),
            disk: Arc::clone(&self.disk),
        })
    }
}

/// Reads a file log while its writer appends.
#[derive(Debug)]
pub struct FileLogReader {
    dir: PathBuf,
    segments: Arc<RwLock<Vec<SegmentFile>>>,
    marks: Arc<Marks>,
    disk: Arc<dyn Disk>,
}

impl FileLogReader {
    /// A reader over a closed log directory (for offline checks).
    pub fn open(dir: &Path) -> Result<Self> {
        let segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            segments: Arc::new(RwLock::new(segments)),
            marks: Arc::default(),
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
            let mut cursor = Cursor::open(self.disk.as_ref(), &segment.path)?;
            let mut offset = self.marks.start(segment.first_seq, seq);
            loop {
                match cursor.step(offset, seq)? {
                    Step::Skipped { next } => offset = next,
                    Step::Record { envelope, next } => {
                        let position = Location {
                            segment: segment.first_seq,
                            offset,
                        };
                        if !visit(*envelope, position.into())? {
                            return Ok(());
                        }
                        offset = next;
                    }
                    // Bytes being appended right now: the rest is not acknowledged yet.
                    Step::End => break,
                    Step::Bad { reason } => return Err(corruption(segment, 0, offset, reason)),
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
