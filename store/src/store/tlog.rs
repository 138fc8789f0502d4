//! The store as a C2SP transparency log: the thread that builds its tree beside the
//! writer, signed checkpoint notes, tiles and entry bundles, proofs in the standard
//! hashing, and checking a checkpoint note against the log.

use super::proofs::{check_root_in_log, signing_key};
use super::*;
use crate::projections::tlog::StoredTlog;
use lineage_schema::tlog::{self, OpenCheckpoint, TileAt};
use std::sync::atomic::AtomicBool;

/// How long a checkpoint or proof waits for the tree to reach the size it needs.
const REACH_WAIT: Duration = Duration::from_secs(30);
/// How often the builder looks for new events when it has none.
const IDLE_LOOK: Duration = Duration::from_millis(5);
/// Groups of events the writer may hand the builder ahead of it; past that, the builder
/// reads them from the log.
pub(super) const FED_GROUPS: usize = 64;

/// The transparency tree's sled tree and the thread that folds the log into it.
#[derive(Debug)]
pub(super) struct Builder {
    tree: sled::Tree,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Why the tree stopped growing, if it did (an entry it cannot hold).
    failure: Arc<Mutex<Option<String>>>,
}

impl Builder {
    pub(super) fn start(
        db: &sled::Db,
        reader: Arc<dyn LogRead>,
        shared: Arc<Shared>,
        fed_groups: std::sync::mpsc::Receiver<Vec<Arc<Envelope>>>,
        dir: &Path,
    ) -> Result<Builder> {
        let tree = db.open_tree(projections::tlog::TREE_NAME)?;
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let thread = {
            let (tree, stop, failure) = (tree.clone(), Arc::clone(&stop), Arc::clone(&failure));
            std::thread::Builder::new()
                .name("lineage-tlog".into())
                .spawn(move || {
                    let mut fed = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        // Events as the writer appended them: most need not be read back.
                        fed.clear();
                        while let Ok(group) = fed_groups.try_recv() {
                            fed.extend(group);
                        }
                        // Read after the groups: the writer moves the head before it sends
                        // one, so every event taken is within it.
                        let head = shared.head.lock().expect("head lock").seq;
                        match projections::tlog::catch_up(&tree, reader.as_ref(), head, &fed) {
                            Ok(size) if size >= head => std::thread::sleep(IDLE_LOOK),
                            Ok(_) => {}
                            Err(error @ Error::Derived(_)) => {
                                *failure.lock().expect("failure lock") = Some(error.to_string());
                                return;
                            }
                            // A log that cannot be read now (PostgreSQL away) is read later.
                            Err(_) => std::thread::sleep(IDLE_LOOK * 20),
                        }
                    }
                })
                .map_err(Error::io("starting the transparency tree's builder", dir))?
        };
        Ok(Builder {
            tree,
            stop,
            thread: Mutex::new(Some(thread)),
            failure,
        })
    }

    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.lock().expect("tlog thread lock").take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    fn stored_tlog(&self) -> StoredTlog<'_> {
        StoredTlog {
            tree: &self.tlog.tree,
            reader: self.reader.as_ref(),
        }
    }

    /// The transparency tree as it stands (a little behind the log's head while the
    /// builder catches up): its size and root.
    pub fn tlog_head(&self) -> Result<(u64, Digest)> {
        projections::tlog::head(&self.tlog.tree)
    }

    /// Waits until the tree holds at least `size` entries.
    fn tlog_reach(&self, size: u64) -> Result<(u64, Digest)> {
        let deadline = std::time::Instant::now() + REACH_WAIT;
        loop {
            let (held, root) = self.tlog_head()?;
            if held >= size {
                return Ok((held, root));
            }
            if let Some(failure) = self.tlog.failure.lock().expect("failure lock").clone() {
                return Err(Error::Derived(format!(
                    "the transparency tree stopped at {held} entries: {failure}"
                )));
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::Unavailable(format!(
                    "the transparency tree holds {held} of {size} entries yet; try again shortly"
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A C2SP checkpoint of the transparency tree as it stands, signed with the data
    /// directory's key under `origin` (or the store's default origin).
    pub fn tlog_checkpoint(&self, origin: Option<&str>) -> Result<String> {
        // The tree as far as the log reached when asked; a little more is as good.
        let (size, root) = self.tlog_reach(self.head().seq)?;
        let key = signing_key(&self.dir)?;
        let origin = match origin {
            Some(origin) => origin.to_string(),
            None => store_origin(&self.dir, &key.verifying_key())?,
        };
        Ok(tlog::sign_checkpoint(&key, &origin, size, &root)?)
    }

    /// The C2SP verifier key of the data directory's key, under `origin` (or the default).
    pub fn tlog_verifier_key(dir: &Path, origin: Option<&str>) -> Result<String> {
        let key = signing_key(dir)?.verifying_key();
        let origin = match origin {
            Some(origin) => origin.to_string(),
            None => store_origin(dir, &key)?,
        };
        Ok(tlog::verifier_key(&origin, &key))
    }

    /// Names the log in its checkpoints from now on (`checkpoint.origin` in the data
    /// directory): a schema-less URL such as `lineage.example.com/prod`. Auditors'
    /// verifier keys name it too, so they need the new one.
    pub fn set_tlog_origin(dir: &Path, origin: &str) -> Result<()> {
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+') || origin.len() > 200 {
            return Err(Rejection::invalid(
                "origin",
                format!("`{origin}` cannot name a log: a schema-less URL like lineage.example.com/prod, without spaces or `+`"),
            )
            .into());
        }
        let path = dir.join(ORIGIN_FILE);
        std::fs::write(&path, format!("{origin}\n")).map_err(Error::io("writing the log's origin", &path))
    }

    /// A tile or entry bundle of the tree as it stands, per tlog-tiles; one reaching past
    /// the tree is refused.
    pub fn tlog_tile(&self, at: TileAt) -> Result<Vec<u8>> {
        // A tile the log already covers is served once the tree has caught up with it.
        let level = u32::from(at.level.unwrap_or(0)) * u32::from(tlog::TILE_HEIGHT);
        let needed = (u128::from(at.index) * u128::from(tlog::TILE_WIDTH) + u128::from(at.width))
            .checked_shl(level)
            .and_then(|needed| u64::try_from(needed).ok())
            .unwrap_or(u64::MAX);
        let size = self.reach_within_log(needed)?;
        self.stored_tlog().tile(at, size)
    }

    /// The entries of events `first_seq ..= last_seq`, as the tree holds them.
    pub fn tlog_entries(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Vec<u8>>> {
        if first_seq == 0 || last_seq < first_seq || last_seq > self.head().seq {
            return Ok(Vec::new());
        }
        self.stored_tlog().entries(first_seq - 1, last_seq - first_seq + 1)
    }

    /// The root of the transparency tree of the first `size` entries.
    pub fn tlog_root(&self, size: u64) -> Result<Digest> {
        let held = self.reach_within_log(size)?;
        if size > held {
            return Err(
                Rejection::invalid("tree size", format!("the tree holds {held} entries, fewer than {size}")).into(),
            );
        }
        let root = tlog_tiles::tree_hash(size, &self.stored_tlog()).map_err(tlog_error)?;
        Ok(Digest(root.0))
    }

    /// The RFC 6962 audit path of event `seq` in the transparency tree of `size` entries.
    pub fn tlog_record_proof(&self, seq: u64, size: u64) -> Result<Vec<Digest>> {
        let held = self.reach_within_log(size)?;
        if size > held || seq == 0 || seq > size {
            return Err(Rejection::invalid(
                "seq",
                format!("seq {seq} is not in a tree of {size} of the {held} entries"),
            )
            .into());
        }
        let proof = tlog_tiles::prove_record(size, seq - 1, &self.stored_tlog()).map_err(tlog_error)?;
        Ok(proof.into_iter().map(|hash| Digest(hash.0)).collect())
    }

    /// The RFC 6962 proof that the transparency tree of `old` entries is a prefix of the
    /// one of `new` entries.
    pub fn tlog_tree_proof(&self, old: u64, new: u64) -> Result<Vec<Digest>> {
        let held = self.reach_within_log(new)?;
        if new > held || old == 0 || old > new {
            return Err(Rejection::invalid(
                "tree sizes",
                format!("cannot prove {old} entries a prefix of {new} (the tree holds {held})"),
            )
            .into());
        }
        let proof = tlog_tiles::prove_tree(new, old, &self.stored_tlog()).map_err(tlog_error)?;
        Ok(proof.into_iter().map(|hash| Digest(hash.0)).collect())
    }

    /// Checks a C2SP checkpoint note offline: its signature against the verifier keys
    /// given (or the data directory's own key) and the cosignatures of the witnesses
    /// given, every record of the log, and that the
    /// first `size` entries still have the checkpoint's root; `progress` hears how far
    /// the log's check and the root's recomputing are.
    pub fn verify_tlog_checkpoint_in(
        dir: &Path,
        log_url: Option<&str>,
        note: &str,
        (verifier_keys, witnesses): (&[String], &[String]),
        progress: Reporter,
    ) -> Result<(OpenCheckpoint, crate::projections::merkle::CheckpointCheck)> {
        let own;
        let keys = if verifier_keys.is_empty() {
            own = [Self::tlog_verifier_key(dir, None)?];
            &own[..]
        } else {
            verifier_keys
        };
        let opened = tlog::open_checkpoint(note, keys, witnesses)?;
        let check = check_root_in_log(
            dir,
            log_url,
            opened.size,
            &opened.root,
            crate::projections::merkle::Root::Tlog,
            progress,
        )?;
        Ok((opened, check))
    }
}

impl Store {
    /// Waits for the tree to hold `size` entries if the log does; the size it holds.
    fn reach_within_log(&self, size: u64) -> Result<u64> {
        Ok(self.tlog_reach(size.min(self.head().seq))?.0)
    }
}

/// Where a data directory keeps the name its checkpoints give the log.
const ORIGIN_FILE: &str = "checkpoint.origin";

/// The origin the data directory's checkpoints name: its own, or the default for its key.
fn store_origin(dir: &Path, key: &ed25519_dalek::VerifyingKey) -> Result<String> {
    let path = dir.join(ORIGIN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Ok(tlog::default_origin(key)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(tlog::default_origin(key)),
        Err(error) => Err(Error::io("reading the log's origin", &path)(error)),
    }
}

fn tlog_error(error: tlog_tiles::Error) -> Error {
    Error::Derived(format!("the transparency tree: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events handed over as the writer sent them fold into the tree the log gives —
    /// without reading the log when they follow on, from the log where they leave a gap.
    #[test]
    fn fed_events_build_the_tree_the_log_builds() {
        let (dir, empty_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = Store::open(dir.path(), &Options::default()).unwrap();
        crate::demo::fill(&store).unwrap();
        let head = store.head().seq;
        let mut sent = Vec::new();
        store
            .reader
            .scan_from(1, &mut |envelope, _| {
                sent.push(Arc::new(envelope));
                Ok(true)
            })
            .unwrap();
        assert_eq!(sent.len() as u64, head);
        let empty = Store::open(empty_dir.path(), &Options::default()).unwrap();
        let scratch = sled::Config::new().temporary(true).open().unwrap();
        let built = |name: &str, reader: &dyn LogRead, feeds: &[&[Arc<Envelope>]]| {
            let tree = scratch.open_tree(name).unwrap();
            for fed in feeds {
                projections::tlog::catch_up(&tree, reader, head, fed).unwrap();
            }
            projections::tlog::head(&tree).unwrap()
        };
        let from_log = built("log", store.reader.as_ref(), &[&[]]);
        assert_eq!(from_log.0, head);
        // All of it fed: an empty log is never asked.
        assert_eq!(built("fed", empty.reader.as_ref(), &[&sent]), from_log);
        // In parts, each repeating some of the last: what the tree holds is skipped.
        let (first, rest) = sent.split_at(40);
        assert_eq!(built("parts", empty.reader.as_ref(), &[first, &sent[30..]]), from_log);
        assert!(!rest.is_empty());
        // With a gap (a group dropped from a full queue): read from the log.
        let gapped: Vec<Arc<Envelope>> = sent.iter().filter(|envelope| envelope.seq != 50).cloned().collect();
        assert_eq!(built("gap", store.reader.as_ref(), &[&gapped]), from_log);
        assert_eq!(built("gap, no log", empty.reader.as_ref(), &[&gapped]).0, 0);
        store.close().unwrap();
        empty.close().unwrap();
    }
}
