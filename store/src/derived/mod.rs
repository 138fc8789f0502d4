//! Derived data on its way to sled: the overlay readers and the writer look through
//! (`overlay`) with a filter of keys sled may hold (`key_filter`), one group's pending changes over it (`pending`, in maps per tree: `per_tree`), the journal and flusher
//! that move layered changes into sled off the writer's thread, the key encoding every
//! projection shares (`keys`), posting lists as deltas (`deltas`), and lists that only
//! grow kept in chunks (`lists`), and how sled holds it (`stored`): the keys three
//! projections keep about one entity in one record (`records`).

pub(crate) mod deltas;
pub(crate) mod flusher;
pub(crate) mod journal;
pub(crate) mod key_filter;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod overlay;
pub(crate) mod pending;
pub(crate) mod per_tree;
pub(crate) mod records;
pub(crate) mod stored;

/// Opens a sled directory in a test, waiting for a handle dropped just before to let go of
/// its lock: sled's flushing thread releases it a moment later (the store's own open
/// waits the same way).
#[cfg(test)]
pub(crate) fn open_sled_waiting(path: &std::path::Path) -> sled::Db {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return db,
            Err(error) if error.to_string().contains("lock") && started.elapsed().as_secs() < 10 => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(error) => panic!("opening sled at {}: {error}", path.display()),
        }
    }
}
