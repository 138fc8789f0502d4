//! What the store proves about its log: every record checked, Merkle roots, inclusion
//! and consistency proofs, and checkpoints signed with the store's own key.

use super::*;

impl Store {
    /// The Merkle root over the first `size` events.
    pub fn merkle_root(&self, size: u64) -> Result<Digest> {
        crate::projections::merkle::root(&self.view, self.reader.as_ref(), size, self.head().seq)
    }

    /// The audit path proving event `seq` is in the tree of `size` events.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Digest>> {
        crate::projections::merkle::inclusion_proof(&self.view, self.reader.as_ref(), seq, size, self.head().seq)
    }

    /// The proof that the tree of `old` events is a prefix of the tree of `new` events.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Digest>> {
        crate::projections::merkle::consistency_proof(&self.view, self.reader.as_ref(), old, new, self.head().seq)
    }

    /// A checkpoint of the log as it stands, signed with the data directory's key.
    pub fn checkpoint(&self) -> Result<lineage_schema::checkpoint::Checkpoint> {
        let head = self.head();
        let root = self.merkle_root(head.seq)?;
        let key = signing_key(&self.dir)?;
        Ok(lineage_schema::checkpoint::Checkpoint::sign(
            &key,
            head.seq,
            root,
            Timestamp::now(),
        ))
    }

    /// The public half of the checkpoint key, hex (made on first use).
    pub fn public_key(dir: &Path) -> Result<String> {
        Ok(lineage_schema::checkpoint::hex(
            signing_key(dir)?.verifying_key().as_bytes(),
        ))
    }

    /// Checks every record of the log in `dir` — checksum, seq and hash chain — without
    /// changing anything; the error names the first bad position.
    pub fn verify(dir: &Path) -> Result<ScanReport> {
        log::scan(&log_dir(dir))
    }

    /// As [`Store::verify`], for the log `log_url` names (PostgreSQL) when given,
    /// telling `progress` how far it is: bytes of the files, or the table's records.
    pub fn verify_log(dir: &Path, log_url: Option<&str>, progress: Reporter) -> Result<ScanReport> {
        match log_url {
            Some(url) => {
                let checking = Progress::of(Stage::CheckingLog, Unit::Events);
                log::postgres::PgLogReader::connect(url)?
                    .verify(&mut |done, total| progress(checking(done, total)), &mut |_| {})
            }
            None => {
                let checking = Progress::of(Stage::CheckingLog, Unit::Bytes);
                log::scan_reporting(
                    &log_dir(dir),
                    &mut |done, total| progress(checking(done, total)),
                    &mut |_| {},
                )
            }
        }
    }

    /// Checks the log in `dir` offline against a checkpoint saved earlier: every record,
    /// the signature (against `trusted_key` if given), and that the first `size` events
    /// still have the checkpoint's root.
    pub fn verify_checkpoint(
        dir: &Path,
        checkpoint: &lineage_schema::checkpoint::Checkpoint,
        trusted_key: Option<&str>,
    ) -> Result<crate::projections::merkle::CheckpointCheck> {
        Self::verify_checkpoint_in(dir, None, checkpoint, trusted_key, &mut |_| {})
    }

    /// As [`Store::verify_checkpoint`], against the PostgreSQL log `log_url` when given,
    /// telling `progress` how far the log's check and the root's recomputing are.
    pub fn verify_checkpoint_in(
        dir: &Path,
        log_url: Option<&str>,
        checkpoint: &lineage_schema::checkpoint::Checkpoint,
        trusted_key: Option<&str>,
        progress: Reporter,
    ) -> Result<crate::projections::merkle::CheckpointCheck> {
        if let Some(key) = trusted_key.filter(|key| lineage_schema::checkpoint::unhex::<32>(key).is_none()) {
            return Err(Rejection::invalid(
                "public key",
                format!("`{key}` is not a public key: one is 64 hex digits, as `lineage key` prints it"),
            )
            .into());
        }
        if !checkpoint.signature_holds(trusted_key) {
            return Err(Rejection::invalid("checkpoint", "its signature does not hold for the key").into());
        }
        check_root_in_log(
            dir,
            log_url,
            checkpoint.size,
            &checkpoint.root,
            crate::projections::merkle::Root::Merkle,
            progress,
        )
    }
}

/// Recomputes the root at `size` from the log alone (checking every record) and compares.
pub(super) fn check_root_in_log(
    dir: &Path,
    log_url: Option<&str>,
    size: u64,
    expected: &Digest,
    root: crate::projections::merkle::Root,
    progress: Reporter,
) -> Result<crate::projections::merkle::CheckpointCheck> {
    let (log, root) = match log_url {
        Some(url) => crate::projections::merkle::root_from_postgres(url, size, root, progress)?,
        None => crate::projections::merkle::root_from_log(&log_dir(dir), size, root, progress)?,
    };
    let Some(root) = root else {
        return Err(Rejection::invalid(
            "checkpoint",
            format!(
                "it covers {size} events but the log holds only {}: history was removed",
                log.head.seq
            ),
        )
        .into());
    };
    Ok(crate::projections::merkle::CheckpointCheck {
        matches: root == *expected,
        log,
        root,
    })
}

/// The data directory's checkpoint key: 32 random bytes in `checkpoint.key`, readable
/// only by its owner, made the first time a checkpoint is signed.
pub(super) fn signing_key(dir: &Path) -> Result<ed25519_dalek::SigningKey> {
    let path = dir.join("checkpoint.key");
    if !path.exists() {
        let mut seed = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut seed))
            .map_err(Error::io("reading randomness for the checkpoint key", "/dev/urandom"))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .map_err(Error::io("creating the checkpoint key", &path))?;
        std::io::Write::write_all(&mut file, &seed).map_err(Error::io("writing the checkpoint key", &path))?;
        file.sync_all()
            .map_err(Error::io("syncing the checkpoint key", &path))?;
    }
    let bytes = std::fs::read(&path).map_err(Error::io("reading the checkpoint key", &path))?;
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::Derived(format!("{} is not a 32-byte key", path.display())))?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}
