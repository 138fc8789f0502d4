//! Helpers shared by the end-to-end tests.

use lineage_store::segment::{self, Frame, HEADER_LEN};
use lineage_store::{demo, Options, Store};
use std::path::{Path, PathBuf};

pub(crate) use lineage_schema::literal as id;

/// A closed store holding the demo story, in segments small enough that there are several.
pub(crate) fn demo_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        &Options {
            max_segment_bytes: 4096,
            ..Options::default()
        },
    )
    .unwrap();
    demo::fill(&store).unwrap();
    store.close().unwrap();
    dir
}

/// One record in a segment file: which file, where its frame starts and ends, and where
/// its body starts.
#[derive(Debug, Clone)]
pub(crate) struct RecordSpot {
    pub path: PathBuf,
    pub start: usize,
    pub body: usize,
    pub end: usize,
}

impl RecordSpot {
    /// Writes the checksum the frame's changed bytes give into its head, as a careful
    /// forger would: a short frame's crc (its last 4 head bytes) covers the rest of its
    /// head and the body, a long frame's (bytes 8..12) its format (12..14) and the body.
    pub(crate) fn reseal(&self, bytes: &mut [u8]) {
        let (crc_at, covered_head) = if self.body - self.start == segment::LONG_HEAD_LEN {
            (self.start + 8, self.start + 12..self.body)
        } else {
            (self.body - 4, self.start..self.body - 4)
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[covered_head]);
        crc.update(&bytes[self.body..self.end]);
        bytes[crc_at..crc_at + 4].copy_from_slice(&crc.finalize().to_le_bytes());
    }
}

/// Finds the frame of `seq` in the log of a data directory.
pub(crate) fn find_record(dir: &Path, seq: u64) -> RecordSpot {
    for file in segment::list(&dir.join("log")).unwrap() {
        let bytes = std::fs::read(&file.path).unwrap();
        let mut offset = HEADER_LEN;
        let mut prior = None;
        while let Frame::Record { envelope, next } = segment::read_frame(&bytes, offset, &mut prior) {
            if envelope.seq == seq {
                return RecordSpot {
                    path: file.path,
                    start: offset as usize,
                    body: offset as usize + segment::body_start(&bytes[offset as usize..]).unwrap(),
                    end: next as usize,
                };
            }
            offset = next;
        }
    }
    panic!("seq {seq} not in the log");
}

/// Copies a directory tree (a closed store) so it can be changed without touching the original.
pub(crate) use lineage_tests::files::copy_dir;

/// The corruption a check reported: its first bad seq.
pub(crate) fn corrupt_seq(error: lineage_store::Error) -> u64 {
    match error {
        lineage_store::Error::Corruption { seq, .. } => seq,
        other => panic!("expected corruption, got {other}"),
    }
}
