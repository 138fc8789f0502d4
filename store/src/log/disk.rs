//! The file operations the log makes, behind one trait: the real disk, and a disk that
//! injects faults — failed and short writes, failed syncs, a full disk, bits flipped on
//! read — for the tests that show the store never acknowledges what it did not make
//! durable, reports every fault as a typed error, and recovers once the fault is gone.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

/// What the log asks of the disk. Paths are passed for faults (and messages) to name.
pub trait Disk: Send + Sync + std::fmt::Debug {
    /// Writes all of `bytes` at `offset`.
    fn write_at(&self, file: &File, path: &Path, bytes: &[u8], offset: u64) -> io::Result<()> {
        let _ = path;
        file.write_all_at(bytes, offset)
    }

    /// Makes written data durable (`fdatasync`).
    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        let _ = path;
        file.sync_data()
    }

    /// Makes written data and metadata durable (`fsync`).
    fn sync_all(&self, file: &File, path: &Path) -> io::Result<()> {
        let _ = path;
        file.sync_all()
    }

    /// Reads up to `buffer.len()` bytes at `offset`; fewer only at the end of the file.
    fn read_at(&self, file: &File, path: &Path, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        let _ = path;
        let mut filled = 0;
        while filled < buffer.len() {
            match file.read_at(&mut buffer[filled..], offset + filled as u64)? {
                0 => break,
                read => filled += read,
            }
        }
        Ok(filled)
    }

    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// The machine's own disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealDisk;

impl Disk for RealDisk {}

/// Faults a [`FaultyDisk`] injects; all off by default.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Every write fails (EIO) and writes nothing.
    pub fail_writes: bool,
    /// The next write puts only this many bytes on disk, then fails (EIO).
    pub short_write: Option<usize>,
    /// Writes fail once this many more bytes have been written ("no space left on
    /// device"), after writing what still fits.
    pub space_left: Option<u64>,
    /// Every `fdatasync`/`fsync` fails (EIO), though the bytes were written.
    pub fail_syncs: bool,
    /// Every read of a segment comes back with bits flipped: one in every 512 bytes.
    pub flip_bits_on_read: bool,
    /// Writes wait while this is set (then meet whatever faults are in force), so a test
    /// can line up work behind a group being written.
    pub hold_writes: bool,
    /// As `hold_writes`, for `fdatasync`/`fsync`.
    pub hold_syncs: bool,
}

/// How many operations a hold keeps waiting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub writes: u64,
    pub syncs: u64,
}

/// The real disk with faults switched on and off by the test driving it.
#[derive(Debug, Default)]
pub struct FaultyDisk {
    faults: Mutex<Faults>,
    /// Told when the faults change, for held operations to look again.
    changed: Condvar,
    /// Writes and syncs waiting on `hold_writes` or `hold_syncs` now.
    held: Mutex<Held>,
    /// How many faults it has injected, to show a test really met one.
    injected: Mutex<u64>,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

impl FaultyDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the faults in force.
    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock().expect("faults lock"));
        self.changed.notify_all();
    }

    /// Switches every fault off.
    pub fn heal(&self) {
        *self.faults.lock().expect("faults lock") = Faults::default();
        self.changed.notify_all();
    }

    /// How many writes and syncs are waiting on a hold now.
    pub fn held(&self) -> Held {
        *self.held.lock().expect("held lock")
    }

    /// The faults in force, once `holds` no longer holds the operation back; `count`
    /// picks the operation's tally in [`Held`].
    fn after_hold(&self, holds: fn(&Faults) -> bool, count: fn(&mut Held) -> &mut u64) -> MutexGuard<'_, Faults> {
        let mut faults = self.faults.lock().expect("faults lock");
        if holds(&faults) {
            *count(&mut self.held.lock().expect("held lock")) += 1;
            while holds(&faults) {
                faults = self.changed.wait(faults).expect("faults lock");
            }
            *count(&mut self.held.lock().expect("held lock")) -= 1;
        }
        faults
    }

    pub fn injected(&self) -> u64 {
        *self.injected.lock().expect("injected lock")
    }

    fn count(&self) {
        *self.injected.lock().expect("injected lock") += 1;
    }

    fn flip(&self, bytes: &mut [u8]) {
        // A bit in every 512 bytes past a segment's header: a read that covers many
        // records (from a whole record to the compact one wanted) comes back wrong
        // somewhere in them, and whole records stay between the damage.
        let header = crate::log::segment::HEADER_LEN as usize;
        if bytes.len() > header {
            for at in (header + 16..bytes.len()).step_by(512) {
                bytes[at] ^= 0x10;
            }
            bytes[header + (bytes.len() - header) / 2] ^= 0x10;
        } else if let Some(last) = bytes.last_mut() {
            *last ^= 0x10;
        }
        self.count();
    }
}

impl Disk for FaultyDisk {
    fn write_at(&self, file: &File, path: &Path, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut faults = self.after_hold(|faults| faults.hold_writes, |held| &mut held.writes);
        if faults.fail_writes {
            self.count();
            return Err(eio("write failed"));
        }
        if let Some(keep) = faults.short_write.take() {
            let keep = keep.min(bytes.len());
            file.write_all_at(&bytes[..keep], offset)?;
            self.count();
            return Err(eio(&format!("short write ({keep} of {} bytes)", bytes.len())));
        }
        if let Some(space) = faults.space_left.as_mut() {
            if bytes.len() as u64 > *space {
                let fits = *space as usize;
                file.write_all_at(&bytes[..fits], offset)?;
                *space = 0;
                self.count();
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected fault: no space left on device",
                ));
            }
            *space -= bytes.len() as u64;
        }
        drop(faults);
        RealDisk.write_at(file, path, bytes, offset)
    }

    fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        if self
            .after_hold(|faults| faults.hold_syncs, |held| &mut held.syncs)
            .fail_syncs
        {
            self.count();
            return Err(eio("fdatasync failed"));
        }
        RealDisk.sync_data(file, path)
    }

    fn sync_all(&self, file: &File, path: &Path) -> io::Result<()> {
        if self
            .after_hold(|faults| faults.hold_syncs, |held| &mut held.syncs)
            .fail_syncs
        {
            self.count();
            return Err(eio("fsync failed"));
        }
        RealDisk.sync_all(file, path)
    }

    fn read_at(&self, file: &File, path: &Path, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        let read = RealDisk.read_at(file, path, buffer, offset)?;
        if self.faults.lock().expect("faults lock").flip_bits_on_read && read > 0 {
            self.flip(&mut buffer[..read]);
        }
        Ok(read)
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut bytes = RealDisk.read_all(path)?;
        if self.faults.lock().expect("faults lock").flip_bits_on_read {
            self.flip(&mut bytes);
        }
        Ok(bytes)
    }
}
