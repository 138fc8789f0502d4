//! The flush journal: a frozen layer of derived changes, written to one file and synced
//! before it goes into sled key by key, so that a crash halfway through a flush is
//! finished on the next open instead of leaving trees that match no seq.
//!
//! sled applies a batch atomically only by holding a lock that stops every reader in the
//! process for the whole batch; writing key by key keeps readers going, and the journal
//! gives back the atomicity. Its entries are final values, so applying one twice is
//! harmless. Format: bincode of `(through, [(tree, key, value)])`, then the blake3 hash
//! of those bytes; it is written under a temporary name and renamed into place.
//!
//! Once sled holds a journal it goes back to its temporary name rather than away, and the
//! next flush writes over it in place: its pages stay in the page cache, where a new file
//! each flush took fresh pages (on a virtual machine that hands free pages back to its
//! host, a fault on the host for each) and made the flusher's copy its slowest step.

use crate::derived::overlay::TreeId;
use crate::error::{Error, Result};
use lineage_schema::envelope::BINCODE;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The journal's name in the data directory.
pub(crate) const FILE: &str = "derived-journal";

/// One journalled change: a key of a tree and its new value (`None`: removed).
pub(crate) type Entry = (TreeId, Vec<u8>, Option<Vec<u8>>);

/// A journalled change, borrowed from a layer.
pub(crate) type EntryRef<'a> = (TreeId, &'a [u8], Option<&'a [u8]>);

/// An entry as stored: the tree id at a fixed width.
type Stored = (u64, Vec<u8>, Option<Vec<u8>>);

const HASH_LEN: usize = 32;

/// How much of a journal is encoded in memory before it is written out.
const CHUNK: usize = 1 << 20;

thread_local! {
    /// The buffer a thread encodes journals in, kept between flushes: a fresh megabyte
    /// each flush cost the flusher its growth copies and a page fault a page.
    static ENCODED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn temporary(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

fn sync_parent(path: &Path) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(Error::io("syncing the data directory", parent))
}

/// An integer as bincode writes one (variable length), into memory.
fn put_varint(out: &mut Vec<u8>, value: u64) {
    bincode::serde::encode_into_std_write(value, out, BINCODE).expect("writing into memory cannot fail");
}

/// A byte string as bincode writes one: its length, then the bytes.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Writes and syncs a journal of `entries`, which bring the trees up to seq `through`.
/// `count` is how many `entries` there are.
pub(crate) fn write<'a>(
    path: &Path,
    through: u64,
    count: usize,
    entries: impl Iterator<Item = EntryRef<'a>>,
) -> Result<()> {
    let staging = temporary(path);
    let io = || Error::io("writing the flush journal", &staging);
    // Not truncated: the last journal's pages are written over, and its tail cut below.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&staging)
        .map_err(io())?;
    let held = file.metadata().map_err(io())?.len();
    let mut hasher = blake3::Hasher::new();
    let mut written = HASH_LEN as u64;
    ENCODED.with_borrow_mut(|encoded| -> Result<()> {
        encoded.clear();
        encoded.reserve(CHUNK + 64 * 1024);
        let mut write_out = |encoded: &mut Vec<u8>| -> Result<()> {
            hasher.update(encoded);
            file.write_all(encoded).map_err(io())?;
            written += encoded.len() as u64;
            encoded.clear();
            Ok(())
        };
        // The bytes bincode gives `(u64, &[u8], Option<&[u8]>)`, written directly: serde
        // hands a byte slice to bincode one byte at a time.
        put_varint(encoded, through);
        put_varint(encoded, count as u64);
        for (tree, key, value) in entries {
            put_varint(encoded, tree as u64);
            put_bytes(encoded, key);
            match value {
                None => encoded.push(0),
                Some(value) => {
                    encoded.push(1);
                    put_bytes(encoded, value);
                }
            }
            if encoded.len() >= CHUNK {
                write_out(encoded)?;
            }
        }
        write_out(encoded)?;
        // A layer's entries once held the buffer far past a chunk: give that back.
        encoded.shrink_to(CHUNK + 64 * 1024);
        Ok(())
    })?;
    file.write_all(hasher.finalize().as_bytes()).map_err(io())?;
    if held > written {
        // The hash must end the file: a longer journal's tail goes, and the new length
        // is made durable with the data.
        file.set_len(written).and_then(|()| file.sync_all()).map_err(io())?;
    } else {
        file.sync_data().map_err(io())?;
    }
    drop(file);
    std::fs::rename(&staging, path).map_err(Error::io("placing the flush journal", path))?;
    sync_parent(path)
}

/// The journal at `path`, if there is one: the seq it brings the trees up to, and its
/// entries. A journal that fails its hash is an error: the flush it describes may have
/// reached sled in part, and only a rebuild can say what the trees should hold.
pub(crate) fn read(path: &Path) -> Result<Option<(u64, Vec<Entry>)>> {
    // One under its temporary name is either being written (never applied) or one sled
    // already holds, kept to be written over: neither is read.
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(Error::io("reading the flush journal", path)(error)),
    };
    let damaged = |reason: &str| Error::Derived(format!("the flush journal {} is damaged: {reason}", path.display()));
    if bytes.len() < HASH_LEN {
        return Err(damaged("it is shorter than its hash"));
    }
    let (body, hash) = bytes.split_at(bytes.len() - HASH_LEN);
    if blake3::hash(body).as_bytes() != hash {
        return Err(damaged("its hash does not match"));
    }
    let mut rest = body;
    let next = |rest: &mut &[u8]| -> Result<u64> {
        let (value, used): (u64, usize) =
            bincode::serde::decode_from_slice(rest, BINCODE).map_err(|error| damaged(&error.to_string()))?;
        *rest = &rest[used..];
        Ok(value)
    };
    let through = next(&mut rest)?;
    let count = next(&mut rest)?;
    let mut entries = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let ((tree, key, value), used): (Stored, usize) =
            bincode::serde::decode_from_slice(rest, BINCODE).map_err(|error| damaged(&error.to_string()))?;
        rest = &rest[used..];
        entries.push((tree as TreeId, key, value));
    }
    if !rest.is_empty() {
        return Err(damaged("bytes follow its last entry"));
    }
    Ok(Some((through, entries)))
}

/// Takes the journal out of the way once sled holds all of it durably, back to its
/// temporary name for the next flush to write over; synced, so that an old journal is
/// never applied over a newer flush.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match std::fs::rename(path, temporary(path)) {
        Ok(()) => sync_parent(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io("setting the flush journal aside", path)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_reads_back_as_written_and_is_gone_once_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("derived-journal");
        assert!(read(&path).unwrap().is_none());
        // Lengths on each side of bincode's integer widths: what is written by hand reads
        // back through bincode.
        let entries: Vec<Entry> = [0usize, 1, 250, 251, 65_535, 65_536, 70_000]
            .iter()
            .enumerate()
            .map(|(index, &len)| {
                (
                    index as TreeId,
                    vec![index as u8; len],
                    (index % 2 == 0).then(|| vec![7; len / 2]),
                )
            })
            .collect();
        write(
            &path,
            70_000,
            entries.len(),
            entries
                .iter()
                .map(|(tree, key, value)| (*tree, key.as_slice(), value.as_deref())),
        )
        .unwrap();
        assert_eq!(read(&path).unwrap(), Some((70_000, entries)));
        remove(&path).unwrap();
        assert!(read(&path).unwrap().is_none());
    }

    #[test]
    fn a_damaged_journal_is_an_error_and_a_half_written_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("derived-journal");
        write(&path, 7, 1, [(1, &b"k"[..], Some(&b"v"[..]))].into_iter()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(read(&path), Err(Error::Derived(_))));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(temporary(&path), b"half").unwrap();
        assert!(read(&path).unwrap().is_none());
        // It is written over by the next journal, which reads back whole.
        write(&path, 8, 1, [(2, &b"key"[..], None)].into_iter()).unwrap();
        assert_eq!(read(&path).unwrap(), Some((8, vec![(2, b"key".to_vec(), None)])));
    }

    /// A set-aside journal is written over in place: a shorter one after it, or a longer,
    /// holds exactly what a journal written afresh holds.
    #[test]
    fn a_journal_written_over_the_last_one_is_the_same_as_one_written_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("derived-journal");
        let fresh = dir.path().join("fresh-journal");
        let journal = |count: usize, fill: u8| -> Vec<Entry> {
            (0..count)
                .map(|index| (index % 6, vec![fill; 1 + index % 40], Some(vec![fill; index % 300])))
                .collect()
        };
        let put = |path: &Path, through: u64, entries: &[Entry]| {
            let borrowed = entries
                .iter()
                .map(|(tree, key, value)| (*tree, key.as_slice(), value.as_deref()));
            write(path, through, entries.len(), borrowed).unwrap();
        };
        for (through, (count, fill)) in [(4_000, 1), (10, 2), (20_000, 3), (0, 4), (5, 5)]
            .into_iter()
            .enumerate()
        {
            let entries = journal(count, fill);
            put(&path, through as u64, &entries);
            assert_eq!(read(&path).unwrap(), Some((through as u64, entries.clone())));
            put(&fresh, through as u64, &entries);
            assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&fresh).unwrap());
            remove(&path).unwrap();
            remove(&fresh).unwrap();
            std::fs::remove_file(temporary(&fresh)).unwrap();
            assert!(read(&path).unwrap().is_none());
            assert!(temporary(&path).exists(), "set aside to be written over");
        }
    }
}
