//! The store as a C2SP transparency log: signed checkpoint notes, tiles and entry bundles,
//! proofs in the standard hashing, and checking a checkpoint note against the log.

use super::proofs::{check_root_in_log, signing_key};
use super::*;
use crate::projections::tlog::StoredTlog;
use lineage_schema::tlog::{self, OpenCheckpoint, TileAt};

impl Store {
    fn stored_tlog(&self) -> StoredTlog<'_> {
        StoredTlog {
            view: &self.view,
            reader: self.reader.as_ref(),
        }
    }

    /// The transparency tree as it stands: its size and root.
    pub fn tlog_head(&self) -> Result<(u64, Digest)> {
        crate::projections::tlog::head(&self.view)
    }

    /// A C2SP checkpoint of the transparency tree as it stands, signed with the data
    /// directory's key under `origin` (or the store's default origin).
    pub fn tlog_checkpoint(&self, origin: Option<&str>) -> Result<String> {
        let (size, root) = self.tlog_head()?;
        let key = signing_key(&self.dir)?;
        let origin = match origin {
            Some(origin) => origin.to_string(),
            None => tlog::default_origin(&key.verifying_key()),
        };
        Ok(tlog::sign_checkpoint(&key, &origin, size, &root)?)
    }

    /// The C2SP verifier key of the data directory's key, under `origin` (or the default).
    pub fn tlog_verifier_key(dir: &Path, origin: Option<&str>) -> Result<String> {
        let key = signing_key(dir)?.verifying_key();
        let origin = match origin {
            Some(origin) => origin.to_string(),
            None => tlog::default_origin(&key),
        };
        Ok(tlog::verifier_key(&origin, &key))
    }

    /// A tile or entry bundle of the tree as it stands, per tlog-tiles; one reaching past
    /// the tree is refused.
    pub fn tlog_tile(&self, at: TileAt) -> Result<Vec<u8>> {
        let (size, _) = self.tlog_head()?;
        self.stored_tlog().tile(at, size)
    }

    /// The entries of events `first_seq ..= last_seq`, as the tree holds them.
    pub fn tlog_entries(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Vec<u8>>> {
        if first_seq == 0 || last_seq < first_seq {
            return Ok(Vec::new());
        }
        self.stored_tlog().entries(first_seq - 1, last_seq - first_seq + 1)
    }

    /// The root of the transparency tree of the first `size` entries.
    pub fn tlog_root(&self, size: u64) -> Result<Digest> {
        let (held, _) = self.tlog_head()?;
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
        let (held, _) = self.tlog_head()?;
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
        let (held, _) = self.tlog_head()?;
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
    /// first `size` entries still have the checkpoint's root.
    pub fn verify_tlog_checkpoint_in(
        dir: &Path,
        log_url: Option<&str>,
        note: &str,
        verifier_keys: &[String],
        witnesses: &[String],
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
            crate::projections::tlog::root_of_prefix,
        )?;
        Ok((opened, check))
    }
}

fn tlog_error(error: tlog_tiles::Error) -> Error {
    Error::Derived(format!("the transparency tree: {error}"))
}
