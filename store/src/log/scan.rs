//! Reading a log directory through: every record checked (checksum, seq, hash chain),
//! a tail cut short by a crash found, and the log's size without reading records.

use super::*;
use lineage_schema::compact::Prior;
use lineage_schema::envelope::ChainFields;
use segment::ChainFrame;

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
    Ok(scan_marking(dir, disk, &mut |_, _| {}, &mut |_| {})?.report)
}

/// As [`scan`], telling `progress` the bytes of the log's files checked so far and in all,
/// and `hashes` each record's hash in order once it is checked.
pub fn scan_reporting(
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
    hashes: &mut dyn FnMut(&Digest),
) -> Result<ScanReport> {
    Ok(scan_marking(dir, &RealDisk, progress, hashes)?.report)
}

/// What the scan that opens a log finds: the report, where every
/// [`cursor::MARK_EVERY`]th record starts, and what the last record leaves for the next.
pub(crate) struct Scanned {
    pub report: ScanReport,
    pub marks: Vec<(u64, Location)>,
    pub prior: Option<Prior>,
}

/// As [`scan_on`], with the marks and the last record's prior; `progress` hears the
/// bytes checked so far and the files' total, last with the two equal, and `hashes` each
/// record's hash once checked.
pub(crate) fn scan_marking(
    dir: &Path,
    disk: &dyn Disk,
    progress: &mut dyn FnMut(u64, u64),
    hashes: &mut dyn FnMut(&Digest),
) -> Result<Scanned> {
    let mut marks = Vec::new();
    let mut prior = None;
    let segments = segment::list(dir).map_err(Error::io("listing the log", dir))?;
    // Sizes for the display only: a file that cannot be measured is read (and fails) below.
    let total: u64 = segments
        .iter()
        .map(|segment| std::fs::metadata(&segment.path).map_or(0, |meta| meta.len()))
        .sum();
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
        let before = report.bytes;
        report.bytes += bytes.len() as u64;
        let mut checked = |offset: u64| progress((before + offset).min(total), total);
        let found = Found {
            report: &mut report,
            marks: &mut marks,
            prior: &mut prior,
            hashes: &mut *hashes,
        };
        let end = scan_segment(segment, &bytes, is_last, found, &mut checked)?;
        report.torn_tail_bytes += bytes.len() as u64 - end;
    }
    progress(total, total);
    Ok(Scanned { report, marks, prior })
}

pub(super) fn corruption(segment: &SegmentFile, seq: u64, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corruption {
        seq,
        segment: segment.path.clone(),
        offset,
        reason: reason.into(),
    }
}

/// What a scan has found so far, which each segment's records add to.
struct Found<'a> {
    report: &'a mut ScanReport,
    marks: &'a mut Vec<(u64, Location)>,
    prior: &'a mut Option<Prior>,
    /// Told each record's hash once it is checked.
    hashes: &'a mut dyn FnMut(&Digest),
}

/// Checks one segment's records against the chain so far; returns where its valid
/// records end, telling `checked` how far it is after each window of records. Damage is
/// an error, except a torn tail in the last segment.
fn scan_segment(
    segment: &SegmentFile,
    bytes: &[u8],
    is_last: bool,
    found: Found,
    checked: &mut dyn FnMut(u64),
) -> Result<u64> {
    let Found {
        report,
        marks,
        prior,
        hashes,
    } = found;
    // A segment starts with a whole record: nothing carries over from the one before.
    *prior = None;
    let head = &mut report.head;
    let expected_first = head.seq + 1;
    if bytes.len() < HEADER_LEN as usize {
        // A segment whose creation was cut short holds nothing acknowledged.
        return if is_last {
            Ok(0)
        } else {
            Err(corruption(segment, expected_first, 0, "segment header cut short"))
        };
    }
    if segment::Framing::of_header(bytes).is_none() {
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
        let offsets = segment::frame_offsets(bytes, offset, WINDOW);
        let (frames, after) = read_chain_frames(bytes, &offsets, prior.take());
        *prior = after;
        for (&at, frame) in offsets.iter().zip(frames) {
            offset = at;
            let seq = head.seq + 1;
            match frame {
                ChainFrame::Record { fields, hash, next } => {
                    check_chain(&fields, hash, head).map_err(|reason| corruption(segment, seq, offset, reason))?;
                    hashes(&fields.hash);
                    *head = Head {
                        seq: fields.seq,
                        hash: fields.hash,
                        recorded_at: fields.recorded_at,
                    };
                    report.records += 1;
                    if cursor::Marks::marks(fields.seq) {
                        let location = Location {
                            segment: segment.first_seq,
                            offset,
                        };
                        marks.push((fields.seq, location));
                    }
                    offset = next;
                }
                ChainFrame::Truncated if is_last => return Ok(offset),
                ChainFrame::Truncated => {
                    return Err(corruption(
                        segment,
                        seq,
                        offset,
                        "record cut short inside a closed segment",
                    ))
                }
                ChainFrame::Bad { reason } => {
                    if is_last && segment::valid_record_after(bytes, offset).is_none() {
                        return Ok(offset);
                    }
                    return Err(corruption(segment, seq, offset, reason));
                }
            }
        }
        checked(offset);
    }
    Ok(offset)
}

/// Frames read per window of a scan: a few megabytes of results at most.
const WINDOW: usize = 16_384;

/// Reads the frames at `offsets` — checksum, chain fields, the body's hash — spread over
/// the machine's cores (hashing is most of a scan), in order; `prior` is what the record
/// before the first left. Compact records read one after another from a whole one, so
/// the parts begin at whole records. Returns what the last record read leaves.
fn read_chain_frames(bytes: &[u8], offsets: &[u64], prior: Option<Prior>) -> (Vec<ChainFrame>, Option<Prior>) {
    // Asked once: on Linux the answer reads the cgroup's files.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 4));
    let read = |part: &[u64], mut prior: Option<Prior>| -> (Vec<ChainFrame>, Option<Prior>) {
        let frames = part
            .iter()
            .map(|&at| segment::read_chain_frame(bytes, at, &mut prior))
            .collect();
        (frames, prior)
    };
    if threads == 1 || offsets.len() < 64 {
        return read(offsets, prior);
    }
    let parts = whole_starts(bytes, offsets, threads);
    std::thread::scope(|scope| {
        let mut parts = parts.windows(2).map(|bounds| &offsets[bounds[0]..bounds[1]]);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|rest| scope.spawn(move || read(rest, None))).collect();
        let (mut frames, mut last) = read(first, prior);
        for other in others {
            let (more, after) = other.join().expect("a scan thread does not panic");
            frames.extend(more);
            last = after;
        }
        (frames, last)
    })
}

/// Where to cut `offsets` into about `parts` parts, each after the first starting at a
/// whole record: the indexes of the cuts, from 0 to `offsets.len()`.
fn whole_starts(bytes: &[u8], offsets: &[u64], parts: usize) -> Vec<usize> {
    let size = offsets.len().div_ceil(parts).max(1);
    let mut cuts = vec![0];
    for ideal in (1..parts).map(|part| part * size) {
        let from = ideal.max(*cuts.last().expect("one cut") + 1);
        if let Some(found) = (from..offsets.len()).find(|&index| segment::is_whole(bytes, offsets[index])) {
            cuts.push(found);
        }
    }
    cuts.dedup();
    cuts.push(offsets.len());
    cuts
}

fn check_chain(fields: &ChainFields, hash: Digest, head: &Head) -> std::result::Result<(), String> {
    if fields.seq != head.seq + 1 {
        return Err(format!("found seq {} where seq {} belongs", fields.seq, head.seq + 1));
    }
    if fields.prev_hash != head.hash {
        return Err("previous-hash link broken: an earlier record was changed, removed or moved".into());
    }
    if hash != fields.hash {
        return Err("record hash does not match its contents".into());
    }
    if fields.recorded_at < head.recorded_at {
        return Err("recorded time goes backwards".into());
    }
    Ok(())
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
