//! `FileLog`, the segment-file log: the one writer appending and syncing records, and
//! `FileLogReader`, which finds a record by its position or its seq.

use super::cursor::{Below, Cursor, Marks, Step};
use super::scan::{corruption, scan_marking};
use super::*;
use lineage_schema::compact::{self, Prior, FORMAT_COMPACT};
use lineage_schema::SCHEMA_VERSION;
use segment::Framing;

/// The segment-file log.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    segments: Arc<RwLock<Vec<SegmentFile>>>,
    marks: Arc<Marks>,
    /// Shared with the sync thread, which makes what the writer wrote durable.
    current: Arc<File>,
    current_first_seq: u64,
    current_len: u64,
    head: Head,
    /// What the last record leaves for the next, which is compact unless it starts a
    /// segment or falls on a whole seq.
    prior: Option<Prior>,
    /// How the current segment frames records: a segment an earlier release began is
    /// filled in its own framing (whole records in long frames, or any in long frames).
    framing: Framing,
    max_segment_bytes: u64,
    poisoned: Option<String>,
    disk: Arc<dyn Disk>,
    /// Syncs what an append wrote while the writer decides the next group.
    syncer: super::sync::Syncer,
    /// The append written but not yet known durable.
    in_flight: Option<InFlight>,
    /// Where a record's compact body is made before it is framed, kept between records.
    scratch: Vec<u8>,
}

/// An append written and syncing: what to mark once it is durable, and what to go back
/// to if it is not.
#[derive(Debug)]
struct InFlight {
    marks: Vec<Mark>,
    before: Before,
}

/// A seq and where its record lies, for readers to start from.
type Mark = (u64, Location);

/// Where the log stood before an append, to go back to when it fails.
#[derive(Debug)]
struct Before {
    head: Head,
    segment: u64,
    len: u64,
    prior: Option<Prior>,
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
        Self::open_reporting(dir, max_segment_bytes, disk, &mut |_, _| {})
    }

    /// As [`FileLog::open_on`], telling `progress` how many bytes of the log's files the
    /// opening scan has checked, and of how many.
    pub fn open_reporting(
        dir: &Path,
        max_segment_bytes: u64,
        disk: Arc<dyn Disk>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(FileLog, OpenReport)> {
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
        let scanned = scan_marking(dir, disk.as_ref(), progress, &mut |_| {})?;
        let scan = scanned.report;
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
        let mut header = [0u8; HEADER_LEN as usize];
        let read = disk
            .read_at(&file, &last.path, &mut header, 0)
            .map_err(Error::io("reading a segment header", &last.path))?;
        let framing = Framing::of_header(&header[..read]).unwrap_or(Framing::Short);
        let log = FileLog {
            dir: dir.to_path_buf(),
            current_first_seq: last.first_seq,
            segments: Arc::new(RwLock::new(segments)),
            marks: Arc::new(Marks::new(scanned.marks)),
            current: Arc::new(file),
            current_len: len,
            head: scan.head,
            prior: scanned.prior,
            framing,
            max_segment_bytes,
            poisoned: None,
            syncer: super::sync::Syncer::start(Arc::clone(&disk))?,
            disk,
            in_flight: None,
            scratch: Vec::new(),
        };
        Ok((log, OpenReport { scan, cut_bytes }))
    }

    fn rotate(&mut self) -> Result<()> {
        let segment = create_segment(&self.dir, self.head.seq + 1, self.disk.as_ref())?;
        self.current = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&segment.path)
                .map_err(Error::io("opening a segment", &segment.path))?,
        );
        self.current_first_seq = segment.first_seq;
        self.current_len = HEADER_LEN;
        self.framing = Framing::Short;
        self.segments.write().expect("segment list lock").push(segment);
        Ok(())
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join(segment::file_name(self.current_first_seq))
    }

    /// Writes `bytes` at the end of the current segment and syncs it.
    fn write_durably(&mut self, bytes: &[u8]) -> Result<()> {
        self.write(bytes)?;
        let path = self.current_path();
        self.disk
            .sync_data(&self.current, &path)
            .map_err(Error::io("syncing records", &path))
    }

    /// Writes `bytes` at the end of the current segment, not yet durable.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.current_path();
        self.disk
            .write_at(&self.current, &path, bytes, self.current_len)
            .map_err(Error::io("writing records", &path))?;
        self.current_len += bytes.len() as u64;
        Ok(())
    }

    /// Stops accepting appends after one failed, and goes back to where the log stood.
    fn fail(&mut self, before: Before, error: &Error) {
        // What failed to sync may or may not be on disk, and a retried fsync can report
        // success for pages the kernel already dropped: stop accepting appends until a
        // reopen has rescanned the files. Cutting the unacknowledged bytes off now is
        // best effort, for a retry after reopening to find a clean tail.
        self.poisoned = Some(error.to_string());
        let keep = if self.current_first_seq == before.segment {
            before.len
        } else {
            HEADER_LEN
        };
        let _ = self.current.set_len(keep);
        self.current_len = keep;
        self.head = before.head;
        self.prior = before.prior;
    }

    /// Writes records (syncing only a segment they fill): their positions, and the seqs
    /// and locations to mark once they are durable.
    fn write_unpoisoned(&mut self, records: &[Sealed]) -> Result<(Vec<Position>, Vec<Mark>)> {
        let mut locations = Vec::with_capacity(records.len());
        let mut pending = Vec::new();
        let mut head = self.head;
        let mut prior = self.prior.clone();
        for Sealed { envelope: record, body } in records {
            assert_eq!(record.seq, head.seq + 1, "appends continue the log");
            assert_eq!(record.prev_hash, head.hash, "appends continue the chain");
            let next = Prior::after(record);
            let starts_segment = self.current_len + pending.len() as u64 == HEADER_LEN;
            let compact_here = self.framing.allows_compact() && !starts_segment;
            // Framed straight onto the group's bytes; taken back if it overfills the segment.
            let mut start = pending.len();
            let prior_here = prior.as_ref().filter(|_| compact_here);
            frame(
                self.framing,
                record,
                body,
                prior_here,
                &next,
                &mut self.scratch,
                &mut pending,
            );
            let segment_len = self.current_len + start as u64;
            if segment_len > HEADER_LEN && segment_len + (pending.len() - start) as u64 > self.max_segment_bytes {
                pending.truncate(start);
                self.write_durably(&std::mem::take(&mut pending))?;
                self.head = head;
                self.prior = prior.clone();
                self.rotate()?;
                // A segment's first record is whole.
                start = 0;
                frame(self.framing, record, body, None, &next, &mut self.scratch, &mut pending);
            }
            locations.push(
                Location {
                    segment: self.current_first_seq,
                    offset: self.current_len + start as u64,
                }
                .into(),
            );
            head = Head {
                seq: record.seq,
                hash: record.hash,
                recorded_at: record.recorded_at,
            };
            prior = Some(next);
        }
        self.write(&pending)?;
        self.head = head;
        self.prior = prior;
        let marks = records
            .iter()
            .zip(&locations)
            .map(|(record, location)| (record.envelope.seq, Location::from(*location)))
            .collect();
        Ok((locations, marks))
    }
}

/// Past this capacity the compact-body buffer is let go after a record.
const SCRATCH_KEPT: usize = 64 * 1024;

/// Appends the framed record to `out`: compact after `prior`, whole where a reader may
/// start (no prior, or a whole seq). A compact body is made in `scratch` first.
fn frame(
    framing: Framing,
    record: &Envelope,
    body: &[u8],
    prior: Option<&Prior>,
    next: &Prior,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    match prior {
        Some(prior) if !compact::is_full_seq(record.seq) => {
            scratch.clear();
            compact::compact_into(record, body, prior, next, scratch);
            framing.encode(FORMAT_COMPACT, scratch, out);
            // A large record's buffer is not kept (records may be megabytes).
            if scratch.capacity() > SCRATCH_KEPT {
                *scratch = Vec::new();
            }
        }
        _ => framing.encode(SCHEMA_VERSION, body, out),
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
        let positions = self.begin_append(records)?;
        self.finish_append()?;
        Ok(positions)
    }

    fn begin_append(&mut self, records: &[Sealed]) -> Result<Vec<Position>> {
        assert!(self.in_flight.is_none(), "one append in flight at a time");
        if let Some(reason) = &self.poisoned {
            return Err(Error::Poisoned(reason.clone()));
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let before = Before {
            head: self.head,
            segment: self.current_first_seq,
            len: self.current_len,
            prior: self.prior.clone(),
        };
        match self.write_unpoisoned(records) {
            Ok((positions, marks)) => {
                self.syncer.start_sync(&self.current, self.current_path());
                self.in_flight = Some(InFlight { marks, before });
                Ok(positions)
            }
            Err(error) => {
                self.fail(before, &error);
                Err(error)
            }
        }
    }

    fn append_synced(&mut self) -> bool {
        self.in_flight.is_some() && self.syncer.synced()
    }

    fn finish_append(&mut self) -> Result<()> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(());
        };
        match self.syncer.wait() {
            Ok(()) => {
                // Marked only once durable: a reader never starts at bytes that may be cut off.
                for (seq, location) in in_flight.marks {
                    self.marks.note(seq, location);
                }
                Ok(())
            }
            Err(error) => {
                self.fail(in_flight.before, &error);
                Err(error)
            }
        }
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

impl FileLogReader {
    fn segment_file(&self, first_seq: u64) -> SegmentFile {
        SegmentFile {
            first_seq,
            path: self.dir.join(segment::file_name(first_seq)),
        }
    }

    /// The first record a cursor over `segment` reaches that `below` does not pass over.
    fn read_one(
        &self,
        segment: &SegmentFile,
        (offset, seq): (u64, u64),
        below: Below,
        looked_for: u64,
    ) -> Result<(Envelope, u64)> {
        // Enough for the records between two whole ones, usually in one read.
        let mut cursor = Cursor::open(self.disk.as_ref(), &segment.path, seq)?.reading(32 * 1024);
        let mut offset = offset;
        loop {
            match cursor.step(offset, below)? {
                Step::Skipped { next } => offset = next,
                Step::Record { envelope, .. } => return Ok((*envelope, offset)),
                Step::End => return Err(corruption(segment, looked_for, offset, "record missing below the head")),
                Step::Bad { reason } => return Err(corruption(segment, looked_for, offset, reason)),
            }
        }
    }
}

impl LogRead for FileLogReader {
    fn scan_from(&self, seq: u64, visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>) -> Result<()> {
        let segments = self.segments.read().expect("segment list lock").clone();
        let start = segments
            .partition_point(|segment| segment.first_seq <= seq)
            .saturating_sub(1);
        for segment in &segments[start..] {
            let (mut offset, first) = self.marks.start(segment.first_seq, seq);
            let mut cursor = Cursor::open(self.disk.as_ref(), &segment.path, first)?;
            loop {
                match cursor.step(offset, Below::Seq(seq))? {
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
        let segment = self.segment_file(anchor.segment);
        // An anchor is a whole record, so its seq leads its body.
        let file = File::open(&segment.path).map_err(Error::io("opening a segment", &segment.path))?;
        let mut head = [0u8; segment::MAX_HEAD_LEN + 9];
        let read = self
            .disk
            .read_at(&file, &segment.path, &mut head, anchor.offset)
            .map_err(Error::io("reading a record", &segment.path))?;
        let head = &head[..read];
        let anchor_seq = segment::body_start(head)
            .and_then(|start| peek_seq(&head[start.min(head.len())..]))
            .filter(|&found| found <= seq && seq - found <= ANCHOR_EVERY)
            .ok_or_else(|| corruption(&segment, seq, anchor.offset, "seq not within reach of its anchor"))?;
        let (envelope, _) = self.read_one(&segment, (anchor.offset, anchor_seq), Below::Seq(seq), seq)?;
        Ok(envelope)
    }

    fn read_at(&self, position: Position) -> Result<Envelope> {
        let location = Location::from(position);
        let segment = self.segment_file(location.segment);
        let start = self.marks.start_before(location.segment, location.offset);
        let (envelope, found_at) = self.read_one(&segment, start, Below::Offset(location.offset), 0)?;
        if found_at != location.offset {
            return Err(corruption(
                &segment,
                0,
                location.offset,
                "no record starts at this position",
            ));
        }
        Ok(envelope)
    }

    fn read_many(&self, positions: &[Position]) -> Result<Vec<Envelope>> {
        let mut found = Vec::with_capacity(positions.len());
        let locations: Vec<Location> = positions.iter().map(|&position| Location::from(position)).collect();
        for run in locations.chunk_by(|one, next| one.segment == next.segment && one.offset < next.offset) {
            let segment = self.segment_file(run[0].segment);
            let (mut offset, seq) = self.marks.start_before(segment.first_seq, run[0].offset);
            let mut cursor = Cursor::open(self.disk.as_ref(), &segment.path, seq)?;
            for wanted in run {
                // Far ahead (more records than lie between two whole ones, about): pass
                // over them unread rather than read each.
                if wanted.offset.saturating_sub(offset) > 2048 {
                    cursor.forget();
                }
                loop {
                    match cursor.step(offset, Below::Offset(wanted.offset))? {
                        Step::Skipped { next } => offset = next,
                        Step::Record { envelope, next } if offset == wanted.offset => {
                            found.push(*envelope);
                            offset = next;
                            break;
                        }
                        Step::Record { .. } => {
                            return Err(corruption(
                                &segment,
                                0,
                                wanted.offset,
                                "no record starts at this position",
                            ))
                        }
                        Step::End => return Err(corruption(&segment, 0, offset, "record missing below the head")),
                        Step::Bad { reason } => return Err(corruption(&segment, 0, offset, reason)),
                    }
                }
            }
        }
        Ok(found)
    }
}
