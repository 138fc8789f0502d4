//! Reading a segment forward from a known place: the sparse table of where every
//! [`MARK_EVERY`]th record starts, kept in memory, and a cursor that streams a segment's
//! frames in chunks, so a read from seq *n* neither loads the whole segment nor decodes
//! the records before *n* — it passes over them by their lengths, then reads compact
//! records from the last whole one before *n* (at most `FULL_EVERY` records back).

use super::*;
use lineage_schema::compact::Prior;
use segment::Unchecked;

/// How far apart the marks are: a read from any seq skips at most this many records
/// (reading only their frame heads). At ten million events the table holds ten thousand
/// marks, 240 KiB.
pub(crate) const MARK_EVERY: u64 = 1024;

/// Bytes read from a segment at a time.
const CHUNK: usize = 256 * 1024;

/// Where every [`MARK_EVERY`]th record of a file log starts, in seq order; shared by the
/// log, which notes the records it appends, and its readers.
#[derive(Debug, Default)]
pub(crate) struct Marks(RwLock<Vec<(u64, Location)>>);

impl Marks {
    pub(crate) fn new(marks: Vec<(u64, Location)>) -> Marks {
        Marks(RwLock::new(marks))
    }

    /// Whether the record `seq` is one the table marks: always a whole record.
    pub(crate) fn marks(seq: u64) -> bool {
        seq % MARK_EVERY == 1
    }

    /// Notes an appended record (in seq order); only every [`MARK_EVERY`]th is kept.
    pub(crate) fn note(&self, seq: u64, location: Location) {
        if Self::marks(seq) {
            self.0.write().expect("marks lock").push((seq, location));
        }
    }

    /// Where to start reading segment `segment` for the record `seq`, and that record's
    /// seq: the last mark at or before `seq` inside that segment, else the segment's first
    /// record.
    pub(crate) fn start(&self, segment: u64, seq: u64) -> (u64, u64) {
        let marks = self.0.read().expect("marks lock");
        let before = marks.partition_point(|(marked, _)| *marked <= seq);
        Self::last_in(&marks, before, segment)
    }

    /// Where to start reading for the record at `offset` of `segment`: the last mark
    /// before it in that segment, else the segment's first record; and that record's seq.
    pub(crate) fn start_before(&self, segment: u64, offset: u64) -> (u64, u64) {
        let marks = self.0.read().expect("marks lock");
        // Marks are in seq order, which is (segment, offset) order too.
        let before = marks.partition_point(|(_, location)| (location.segment, location.offset) <= (segment, offset));
        Self::last_in(&marks, before, segment)
    }

    /// The mark just before index `before` if it is in `segment` (its offset and seq), else
    /// the segment's first record.
    fn last_in(marks: &[(u64, Location)], before: usize, segment: u64) -> (u64, u64) {
        match before.checked_sub(1).map(|index| marks[index]) {
            Some((marked, location)) if location.segment == segment => (location.offset, marked),
            _ => (HEADER_LEN, segment),
        }
    }
}

/// Which records a cursor passes over: those before a seq, or before an offset.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Below {
    Seq(u64),
    Offset(u64),
}

impl Below {
    fn passes(self, offset: u64, seq: u64) -> bool {
        match self {
            Below::Seq(below) => seq < below,
            Below::Offset(below) => offset < below,
        }
    }
}

/// What a cursor found at an offset.
pub(crate) enum Step {
    /// A record below the one asked for, passed over (or read for the records after it);
    /// the offset to step from next.
    Skipped {
        next: u64,
    },
    /// A whole record.
    Record {
        envelope: Box<Envelope>,
        next: u64,
    },
    /// The segment's bytes end here (or a record being appended right now starts here).
    End,
    Bad {
        reason: String,
    },
}

/// A segment read forward in chunks.
pub(crate) struct Cursor<'a> {
    disk: &'a dyn Disk,
    file: File,
    path: &'a Path,
    buffer: Vec<u8>,
    /// The segment offset of `buffer[0]`.
    start: u64,
    at_end: bool,
    chunk: usize,
    /// The seq of the record the next step reads.
    seq: u64,
    /// What the record before it left, if it was read (a compact record needs it).
    prior: Option<Prior>,
    /// The last whole record passed over, and its seq: where reading starts again when a
    /// compact record is wanted.
    last_whole: Option<(u64, u64)>,
    /// Reading forward from `last_whole` to the record wanted: nothing is passed over.
    rolling: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor whose first step reads the record `seq`, a whole one (a segment's first
    /// record or a mark).
    pub(crate) fn open(disk: &'a dyn Disk, path: &'a Path, seq: u64) -> Result<Cursor<'a>> {
        let file = File::open(path).map_err(Error::io("opening a segment", path))?;
        Ok(Cursor {
            disk,
            file,
            path,
            buffer: Vec::new(),
            start: 0,
            at_end: false,
            chunk: CHUNK,
            seq,
            prior: None,
            last_whole: None,
            rolling: false,
        })
    }

    /// Reads this many bytes at a time (less than a scan's chunk, for a single record).
    pub(crate) fn reading(mut self, chunk: usize) -> Self {
        self.chunk = chunk;
        self
    }

    /// The frame at `offset`; records `below` are passed over without checking or decoding
    /// them, except the compact ones the record wanted is read from.
    pub(crate) fn step(&mut self, offset: u64, below: Below) -> Result<Step> {
        loop {
            if offset < self.start || offset > self.start + self.buffer.len() as u64 {
                self.buffer.clear();
                self.start = offset;
                self.at_end = false;
            }
            let local = (offset - self.start) as usize;
            let rest = &self.buffer[local..];
            let complete = segment::frame_len(rest);
            if let Some((len, whole)) = complete {
                if !self.rolling && self.prior.is_none() && below.passes(offset, self.seq) {
                    if whole {
                        self.last_whole = Some((offset, self.seq));
                    }
                    self.seq += 1;
                    return Ok(Step::Skipped { next: offset + len });
                }
                if self.prior.is_none() && !whole {
                    if let Some((whole_at, seq)) = self.last_whole.take() {
                        self.seq = seq;
                        self.rolling = true;
                        return Ok(Step::Skipped { next: whole_at });
                    }
                }
            }
            let whole = match complete {
                Some((_, whole)) => whole,
                None => segment::is_whole(&self.buffer, local as u64),
            };
            if below.passes(offset, self.seq) {
                // Read only for the records after it: the chain moves on, the event stays
                // undecoded.
                match segment::pass_frame(&self.buffer, local as u64, &mut self.prior) {
                    Ok(next) => {
                        if whole {
                            self.last_whole = Some((offset, self.seq));
                        }
                        if self.prior.as_ref().map(|prior| prior.seq) != Some(self.seq) {
                            return Ok(Step::Bad {
                                reason: format!("found another seq where seq {} belongs", self.seq),
                            });
                        }
                        self.seq += 1;
                        return Ok(Step::Skipped {
                            next: self.start + next,
                        });
                    }
                    Err(Unchecked::Truncated) if self.at_end => return Ok(Step::End),
                    Err(Unchecked::Truncated) => {
                        self.refill(offset)?;
                        continue;
                    }
                    Err(Unchecked::Bad(reason)) => return Ok(Step::Bad { reason }),
                }
            }
            match segment::read_frame(&self.buffer, local as u64, &mut self.prior) {
                Frame::Record { envelope, next } => {
                    if whole {
                        self.last_whole = Some((offset, self.seq));
                    }
                    if envelope.seq != self.seq {
                        return Ok(Step::Bad {
                            reason: format!("found seq {} where seq {} belongs", envelope.seq, self.seq),
                        });
                    }
                    self.seq += 1;
                    let next = self.start + next;
                    if below.passes(offset, envelope.seq) {
                        return Ok(Step::Skipped { next });
                    }
                    self.rolling = false;
                    return Ok(Step::Record { envelope, next });
                }
                Frame::Bad { reason } => return Ok(Step::Bad { reason }),
                Frame::Truncated if self.at_end => return Ok(Step::End),
                Frame::Truncated => self.refill(offset)?,
            }
        }
    }

    /// Lets the next steps pass over records unread again (reading forward from the last
    /// whole record when a compact one is wanted): cheaper than reading every record
    /// when the next one wanted is far ahead.
    pub(crate) fn forget(&mut self) {
        self.prior = None;
    }

    /// Drops the bytes before `offset` and reads the next chunk after the buffer's end.
    fn refill(&mut self, offset: u64) -> Result<()> {
        self.buffer.drain(..(offset - self.start) as usize);
        self.start = offset;
        let held = self.buffer.len();
        self.buffer.resize(held + self.chunk, 0);
        let read = self
            .disk
            .read_at(&self.file, self.path, &mut self.buffer[held..], offset + held as u64)
            .map_err(Error::io("reading a segment", self.path))?;
        self.buffer.truncate(held + read);
        self.at_end = read == 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_schema::samples;
    use proptest::prelude::*;

    /// `count` records continuing one chain, cycling through the sample events.
    fn records(count: usize) -> Vec<Sealed> {
        let samples = samples::envelopes();
        let mut prev_hash = Digest::ZERO;
        (0..count)
            .map(|index| {
                let mut envelope = samples[index % samples.len()].clone();
                envelope.seq = index as u64 + 1;
                envelope.recorded_at = samples[0].recorded_at;
                envelope.prev_hash = prev_hash;
                let sealed = envelope.seal_encoded();
                prev_hash = sealed.envelope.hash;
                sealed
            })
            .collect()
    }

    fn seqs_from(reader: &dyn LogRead, from: u64, stop_after: Option<u64>) -> Vec<u64> {
        let mut seen = Vec::new();
        reader
            .scan_from(from, &mut |envelope, position| {
                // Every seventh: a read by position walks from a mark (on a closed
                // directory's reader, from the segment's start).
                if envelope.seq % 7 == from % 7 {
                    assert_eq!(
                        reader.read_at(position).unwrap(),
                        envelope,
                        "a visited position reads back"
                    );
                }
                seen.push(envelope.seq);
                Ok(stop_after.is_none_or(|last| envelope.seq < last))
            })
            .unwrap();
        seen
    }

    /// What a segment file holds: its header's magic, and each frame's record format and
    /// head length.
    fn frames(path: &Path) -> (Vec<u8>, Vec<(u16, usize)>) {
        let bytes = std::fs::read(path).unwrap();
        let heads = segment::frame_heads(&bytes);
        let framed: usize = heads.iter().map(|(_, head, body)| head + body).sum();
        assert_eq!(
            HEADER_LEN as usize + framed,
            bytes.len(),
            "frames fill {}",
            path.display()
        );
        (
            bytes[..8].to_vec(),
            heads.into_iter().map(|(format, head, _)| (format, head)).collect(),
        )
    }

    /// A log an earlier release wrote opens and continues: records framed as its current
    /// segment's header says until that segment fills, compact records in short frames in
    /// the segments after it; everything reads and verifies.
    fn an_earlier_log_continues(magic: &[u8; 8], framing: segment::Framing) -> Vec<SegmentFile> {
        let dir = tempfile::tempdir().unwrap();
        let records = records(300);
        let mut bytes = segment::encode_header_as(magic, 1).to_vec();
        let mut prior = None;
        for sealed in &records[..100] {
            let next = Prior::after(&sealed.envelope);
            let compact_here = framing.allows_compact() && !lineage_schema::compact::is_full_seq(sealed.envelope.seq);
            match prior.as_ref().filter(|_| compact_here) {
                Some(before) => segment::encode_long_frame(
                    lineage_schema::compact::FORMAT_COMPACT,
                    &lineage_schema::compact::compact(&sealed.envelope, &sealed.body, before, &next),
                    &mut bytes,
                ),
                None => segment::encode_long_frame(lineage_schema::SCHEMA_VERSION, &sealed.body, &mut bytes),
            }
            prior = Some(next);
        }
        std::fs::write(dir.path().join(segment::file_name(1)), &bytes).unwrap();
        let (mut log, _) = FileLog::open(dir.path(), bytes.len() as u64 + 4096).unwrap();
        assert_eq!(log.head().seq, 100);
        for group in records[100..].chunks(7) {
            log.append(group).unwrap();
        }
        let segments = segment::list(dir.path()).unwrap();
        assert!(segments.len() >= 2, "the old segment filled");
        let (first_magic, first) = frames(&segments[0].path);
        assert_eq!(first_magic, magic);
        assert!(first.len() > 100, "appended to the old segment");
        assert!(
            first.iter().all(|&(_, head)| head == segment::LONG_HEAD_LEN),
            "the old segment's records are all in long frames"
        );
        for (seq, &(format, _)) in (1u64..).zip(&first) {
            let whole = !framing.allows_compact() || seq == 1 || lineage_schema::compact::is_full_seq(seq);
            assert_eq!(format == lineage_schema::SCHEMA_VERSION, whole, "seq {seq}");
        }
        for later in &segments[1..] {
            let (later_magic, frames) = frames(&later.path);
            assert_eq!(later_magic, segment::HEADER_MAGIC);
            assert!(frames.iter().all(|&(_, head)| head < segment::LONG_HEAD_LEN));
            assert_eq!(frames[0].0, lineage_schema::SCHEMA_VERSION, "a segment begins whole");
            assert!(frames
                .iter()
                .any(|&(format, _)| format == lineage_schema::compact::FORMAT_COMPACT));
        }
        let reader = log.reader();
        assert_eq!(seqs_from(reader.as_ref(), 1, None), (1..=300).collect::<Vec<_>>());
        assert_eq!(seqs_from(reader.as_ref(), 150, None), (150..=300).collect::<Vec<_>>());
        assert_eq!(
            seqs_from(reader.as_ref(), 40, Some(120)),
            (40..=120).collect::<Vec<_>>()
        );
        drop(log);
        let report = scan(dir.path()).unwrap();
        assert_eq!((report.head.seq, report.head.hash), (300, records[299].envelope.hash));
        let reader = FileLogReader::open(dir.path()).unwrap();
        assert_eq!(seqs_from(&reader, 1, None), (1..=300).collect::<Vec<_>>());
        segments
    }

    #[test]
    fn a_log_of_whole_records_continues_with_compact_ones() {
        an_earlier_log_continues(segment::HEADER_MAGIC_WHOLE, segment::Framing::Whole);
    }

    #[test]
    fn a_log_of_long_frames_continues_with_short_ones() {
        an_earlier_log_continues(segment::HEADER_MAGIC_LONG, segment::Framing::Long);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// A read from any seq — on the live log, on a reopened one (marks from its scan)
        /// and on a reader of a closed directory (no marks) — visits exactly the records
        /// from that seq on, across segments, and stops when asked.
        #[test]
        fn a_read_from_any_seq_visits_exactly_the_records_from_it(
            count in 1usize..2600,
            segment_kib in 2u64..96,
            group in 1usize..300,
            starts in proptest::collection::vec(0u64..2700, 6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let records = records(count);
            let (mut log, _) = FileLog::open(dir.path(), segment_kib * 1024).unwrap();
            for chunk in records.chunks(group) {
                log.append(chunk).unwrap();
            }
            let live = log.reader();
            let head = count as u64;
            let check = |reader: &dyn LogRead| {
                for &from in &starts {
                    let expected: Vec<u64> = (from.max(1)..=head).collect();
                    assert_eq!(seqs_from(reader, from, None), expected, "reading from {from}");
                    let stop = from.max(1) + 3;
                    let stopped: Vec<u64> = (from.max(1)..=head.min(stop)).collect();
                    assert_eq!(seqs_from(reader, from, Some(stop)), stopped, "reading from {from}, stopping at {stop}");
                    // Records by rising positions, near and far apart, across segments.
                    let mut visited = Vec::new();
                    reader.scan_from(from, &mut |envelope, position| {
                        visited.push((envelope, position));
                        Ok(true)
                    }).unwrap();
                    let step = 1 + (from as usize % 90);
                    let picked: Vec<_> = visited.iter().step_by(step).collect();
                    let positions: Vec<Position> = picked.iter().map(|(_, position)| *position).collect();
                    let envelopes: Vec<Envelope> = picked.iter().map(|(envelope, _)| envelope.clone()).collect();
                    assert_eq!(reader.read_many(&positions).unwrap(), envelopes, "every {step}th from {from}");
                }
            };
            check(live.as_ref());
            drop(log);
            let (reopened, _) = FileLog::open(dir.path(), segment_kib * 1024).unwrap();
            check(reopened.reader().as_ref());
            check(&FileLogReader::open(dir.path()).unwrap());
        }
    }
}
