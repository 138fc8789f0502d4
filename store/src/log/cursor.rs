//! Reading a segment forward from a known place: the sparse table of where every
//! [`MARK_EVERY`]th record starts, kept in memory, and a cursor that streams a segment's
//! frames in chunks, so a read from seq *n* neither loads the whole segment nor decodes
//! the records before *n*.

use super::*;

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

    /// Whether the record `seq` is one the table marks.
    pub(crate) fn marks(seq: u64) -> bool {
        seq.is_multiple_of(MARK_EVERY)
    }

    /// Notes an appended record (in seq order); only every [`MARK_EVERY`]th is kept.
    pub(crate) fn note(&self, seq: u64, location: Location) {
        if Self::marks(seq) {
            self.0.write().expect("marks lock").push((seq, location));
        }
    }

    /// Where to start reading segment `segment` for the record `seq`: the last mark at or
    /// before `seq` inside that segment, else the segment's first record.
    pub(crate) fn start(&self, segment: u64, seq: u64) -> u64 {
        let marks = self.0.read().expect("marks lock");
        let before = marks.partition_point(|(marked, _)| *marked <= seq);
        match before.checked_sub(1).map(|index| marks[index]) {
            Some((_, location)) if location.segment == segment => location.offset,
            _ => HEADER_LEN,
        }
    }
}

/// What a cursor found at an offset.
pub(crate) enum Step {
    /// A record below the seq asked for, passed over unread; the next frame's offset.
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
}

impl<'a> Cursor<'a> {
    pub(crate) fn open(disk: &'a dyn Disk, path: &'a Path) -> Result<Cursor<'a>> {
        let file = File::open(path).map_err(Error::io("opening a segment", path))?;
        Ok(Cursor {
            disk,
            file,
            path,
            buffer: Vec::new(),
            start: 0,
            at_end: false,
        })
    }

    /// The frame at `offset`; records below `below` are skipped without checking or
    /// decoding them.
    pub(crate) fn step(&mut self, offset: u64, below: u64) -> Result<Step> {
        loop {
            if offset < self.start || offset > self.start + self.buffer.len() as u64 {
                self.buffer.clear();
                self.start = offset;
                self.at_end = false;
            }
            let local = offset - self.start;
            let rest = &self.buffer[local as usize..];
            if let Some(next) = skippable(rest, below) {
                if next <= rest.len() as u64 {
                    return Ok(Step::Skipped { next: offset + next });
                }
            }
            match segment::read_frame(&self.buffer, local) {
                Frame::Record { envelope, next } => {
                    return Ok(Step::Record {
                        envelope,
                        next: self.start + next,
                    })
                }
                Frame::Bad { reason } => return Ok(Step::Bad { reason }),
                Frame::Truncated if self.at_end => return Ok(Step::End),
                Frame::Truncated => self.refill(offset)?,
            }
        }
    }

    /// Drops the bytes before `offset` and reads the next chunk after the buffer's end.
    fn refill(&mut self, offset: u64) -> Result<()> {
        self.buffer.drain(..(offset - self.start) as usize);
        self.start = offset;
        let held = self.buffer.len();
        self.buffer.resize(held + CHUNK, 0);
        let read = self
            .disk
            .read_at(&self.file, self.path, &mut self.buffer[held..], offset + held as u64)
            .map_err(Error::io("reading a segment", self.path))?;
        self.buffer.truncate(held + read);
        self.at_end = read == 0;
        Ok(())
    }
}

/// The length of the frame at the front of `bytes` if it holds a record below `below`
/// (read from its head and its body's leading seq alone).
fn skippable(bytes: &[u8], below: u64) -> Option<u64> {
    let head = bytes.get(..segment::FRAME_HEAD_LEN)?;
    if u32::from_le_bytes(head[..4].try_into().ok()?) != segment::RECORD_MAGIC {
        return None;
    }
    let body_len = u32::from_le_bytes(head[4..8].try_into().ok()?) as u64;
    let seq = peek_seq(&bytes[segment::FRAME_HEAD_LEN..])?;
    (seq < below).then_some(segment::FRAME_HEAD_LEN as u64 + body_len)
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
                assert_eq!(
                    reader.read_at(position).unwrap(),
                    envelope,
                    "a visited position reads back"
                );
                seen.push(envelope.seq);
                Ok(stop_after.is_none_or(|last| envelope.seq < last))
            })
            .unwrap();
        seen
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
