//! The log as a standard transparency log (C2SP tlog-checkpoint, signed-note, tlog-tiles):
//! each event's entry (its export line, canonical JSON), the RFC 6962 SHA-256 hashing,
//! checkpoints as signed notes, verifier keys, tile paths and entry bundles.
//!
//! Entry `i` is event `seq = i + 1` exactly as `lineage export` prints it, without the
//! newline: RFC 8785 (JCS) JSON of the envelope. An auditor hashes the lines of an export
//! with SHA-256 and gets the leaves the signed root covers; no Lineage decoder is needed.
//! LOG-FORMAT.md says this for auditors.

use crate::envelope::Envelope;
use crate::error::Rejection;
use crate::ids::Digest;
use crate::merkle::Frontier;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Signer, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash, Tile};

/// An entry bundle prefixes each entry with its length as a 16-bit number: no event's
/// entry may be longer.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Tiles hold 2^8 hashes (tlog-tiles fixes the height).
pub const TILE_HEIGHT: u8 = 8;
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// What of an entry a list of items may take; the rest is room for the envelope around
/// them (ids, times, hashes: well under this).
const LIST_BYTES: usize = 48 * 1024;

/// Splits a list (params, tags, metric points) into runs whose JSON fits one event's entry,
/// in order; each run becomes one command of a batch. An item too large on its own stays
/// alone (and its command is refused with the limit named).
pub fn fitting<T: serde::Serialize>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut runs: Vec<Vec<T>> = Vec::new();
    let mut taken = 0;
    for item in items {
        // Plain JSON sizes are within a few bytes of the canonical form's per item.
        let size = serde_json::to_vec(&item).map_or(LIST_BYTES, |json| json.len() + 1);
        match runs.last_mut() {
            Some(run) if taken + size <= LIST_BYTES => run.push(item),
            _ => {
                runs.push(vec![item]);
                taken = 0;
            }
        }
        taken += size;
    }
    runs
}

/// The event's entry: its export line (RFC 8785 canonical JSON), without the newline.
pub fn entry(envelope: &Envelope) -> Vec<u8> {
    // Every value an envelope holds serializes: metric values are finite (decide refuses
    // others), and everything else is text, integers or nested objects.
    crate::canonical::to_vec(envelope).expect("an envelope is canonical JSON")
}

/// The entry's leaf: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Digest {
    Digest(tlog_tiles::record_hash(entry).0)
}

/// An interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest(tlog_tiles::node_hash(Hash(left.0), Hash(right.0)).0)
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Digest {
    Digest(tlog_tiles::EMPTY_HASH.0)
}

/// The root of a SHA-256 frontier.
pub fn root(frontier: &Frontier) -> Digest {
    frontier.root_with(empty_root(), node_hash)
}

/// Adds one entry to a SHA-256 frontier; the perfect subtrees it completes, as
/// [`Frontier::push`] returns them.
pub fn push(frontier: &mut Frontier, entry: &[u8]) -> Vec<(u8, u64, Digest)> {
    frontier.push_leaf(leaf_hash(entry), node_hash)
}

/// A hash as checkpoints and tiles' clients spell it: standard base64.
pub fn base64(digest: &Digest) -> String {
    Hash(digest.0).to_string()
}

/// The origin a store's checkpoints name when it is given none: unique to its key.
pub fn default_origin(key: &VerifyingKey) -> String {
    format!("lineage.local/{}", crate::checkpoint::hex(&key.as_bytes()[..8]))
}

/// The C2SP verifier key (`name+id+base64`) for the store's key under `origin`.
pub fn verifier_key(origin: &str, key: &VerifyingKey) -> String {
    signed_note::new_ed25519_verifier_key(origin, key)
}

/// Signs the checkpoint body of a tree of `size` entries with root `root`: a signed note
/// whose one signature line is the store's key, named by `origin`.
pub fn sign_checkpoint(key: &SigningKey, origin: &str, size: u64, root: &Digest) -> Result<String, Rejection> {
    let body = Checkpoint::new(origin, size, Hash(root.0), "")
        .map_err(|_| Rejection::invalid("origin", format!("`{origin}` cannot name a checkpoint")))?
        .to_bytes();
    let signer = NoteSigner::new(origin, key)?;
    let mut note = Note::new(&body, &[]).map_err(|error| Rejection::invalid("checkpoint", error.to_string()))?;
    note.add_sigs(&[&signer])
        .map_err(|error| Rejection::invalid("origin", error.to_string()))?;
    String::from_utf8(note.to_bytes()).map_err(|_| Rejection::invalid("checkpoint", "not UTF-8"))
}

/// A checkpoint whose signature was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Digest,
    /// The names of the log's keys whose signatures verified.
    pub signed_by: Vec<String>,
    /// The witnesses whose cosignatures verified.
    pub cosigned_by: Vec<String>,
}

/// Checks a signed checkpoint note against the log's verifier keys (each signature by
/// one must hold, and at least one must be there) and the witnesses' keys (each one's
/// cosignature must be there and hold); its body must be a C2SP checkpoint.
pub fn open_checkpoint(
    note: &str,
    verifier_keys: &[String],
    witnesses: &[String],
) -> Result<OpenCheckpoint, Rejection> {
    let mut verifiers: Vec<Box<dyn Verifier>> = Vec::new();
    let mut log_keys = Vec::new();
    for vkey in verifier_keys {
        let verifier = StandardVerifier::new(vkey).map_err(|error| {
            Rejection::invalid(
                "verifier key",
                format!("`{vkey}` is not a verifier key ({error}): one looks like NAME+1234abcd+BASE64, as `lineage key --format vkey` prints it"),
            )
        })?;
        log_keys.push((verifier.name().to_string(), verifier.key_id()));
        verifiers.push(Box::new(verifier));
    }
    let mut cosigners = Vec::new();
    for vkey in witnesses {
        let cosigner = Cosigner::parse(vkey)?;
        cosigners.push((cosigner.name.clone(), cosigner.id));
        verifiers.push(Box::new(cosigner));
    }
    let note = Note::from_bytes(note.as_bytes())
        .map_err(|error| Rejection::invalid("checkpoint", format!("not a signed note: {error}")))?;
    let (verified, _) = note
        .verify(&VerifierList::new(verifiers))
        .map_err(|error| Rejection::invalid("checkpoint", format!("its signature does not hold: {error}")))?;
    let held = |key: &(String, u32)| {
        verified
            .iter()
            .any(|signature| signature.name() == key.0 && signature.id() == key.1)
    };
    if !log_keys.iter().any(held) {
        return Err(Rejection::invalid("checkpoint", "it is not signed by the log's key"));
    }
    if let Some((missing, _)) = cosigners.iter().find(|key| !held(key)) {
        return Err(Rejection::invalid(
            "checkpoint",
            format!("it carries no cosignature of witness {missing}"),
        ));
    }
    let checkpoint = Checkpoint::from_bytes(note.text())
        .map_err(|_| Rejection::invalid("checkpoint", "its text is not a C2SP checkpoint"))?;
    Ok(OpenCheckpoint {
        origin: checkpoint.origin().to_string(),
        size: checkpoint.size(),
        root: Digest(checkpoint.hash().0),
        signed_by: verified
            .iter()
            .filter(|signature| {
                log_keys
                    .iter()
                    .any(|key| key.0 == signature.name() && key.1 == signature.id())
            })
            .map(|signature| signature.name().to_string())
            .collect(),
        cosigned_by: cosigners.into_iter().map(|(name, _)| name).collect(),
    })
}

/// A witness's key for Ed25519 cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`),
/// read from its verifier key: `name+id+base64(0x04 ‖ public key)`.
#[derive(Clone, Debug)]
pub struct Cosigner {
    name: String,
    id: u32,
    key: VerifyingKey,
}

/// The algorithm byte of Ed25519 cosignature keys.
const COSIGNATURE_V1: u8 = 0x04;

impl Cosigner {
    pub fn parse(vkey: &str) -> Result<Cosigner, Rejection> {
        let refused = |why: &str| {
            Rejection::invalid(
                "witness key",
                format!("`{vkey}` is not a witness's verifier key ({why}): one looks like NAME+1234abcd+BASE64 of an Ed25519 cosignature key (type 4)"),
            )
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(refused("three parts joined by `+` are needed"));
        };
        let id = u32::from_str_radix(id, 16)
            .ok()
            .filter(|_| id.len() == 8)
            .ok_or_else(|| refused("its id is not 8 hex digits"))?;
        let key = STANDARD.decode(key).map_err(|_| refused("its key is not base64"))?;
        if !signed_note::is_key_name_valid(name) {
            return Err(refused("its name"));
        }
        let Some((&COSIGNATURE_V1, public)) = key.split_first() else {
            return Err(refused("it is not an Ed25519 cosignature key, type 4"));
        };
        let public: [u8; 32] = public.try_into().map_err(|_| refused("its key is not 32 bytes"))?;
        if signed_note::key_id(name, &key) != id {
            return Err(refused("its id does not match its name and key"));
        }
        Ok(Cosigner {
            name: name.to_string(),
            id,
            key: VerifyingKey::from_bytes(&public).map_err(|_| refused("its key is not an Ed25519 point"))?,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key of a cosigner (for tests and for printing).
    pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
        let public = [&[COSIGNATURE_V1][..], key.as_bytes()].concat();
        format!(
            "{name}+{:08x}+{}",
            signed_note::key_id(name, &public),
            STANDARD.encode(&public)
        )
    }

    /// What a cosignature signs over a checkpoint body at `time` (POSIX seconds).
    pub fn signed_message(body: &[u8], time: u64) -> Vec<u8> {
        [format!("cosignature/v1\ntime {time}\n").as_bytes(), body].concat()
    }
}

impl Verifier for Cosigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        // A timestamped signature: 8 bytes of POSIX time, big-endian, then Ed25519's 64.
        let (Some(time), Some(signature)) = (sig.get(..8), sig.get(8..)) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        let time = u64::from_be_bytes(time.try_into().expect("8 bytes"));
        time != 0
            && time < 1 << 63
            && self
                .key
                .verify_strict(&Cosigner::signed_message(msg, time), &signature)
                .is_ok()
    }
}

/// Signs notes with the store's ed25519 key (the library's own signer takes the key only
/// as text).
struct NoteSigner<'a> {
    name: &'a str,
    id: u32,
    key: &'a SigningKey,
}

impl<'a> NoteSigner<'a> {
    fn new(name: &'a str, key: &'a SigningKey) -> Result<Self, Rejection> {
        if !signed_note::is_key_name_valid(name) {
            return Err(Rejection::invalid(
                "origin",
                format!("`{name}` cannot name a key: no spaces or `+`"),
            ));
        }
        let public = [&[1u8][..], key.verifying_key().as_bytes()].concat();
        Ok(NoteSigner {
            name,
            id: signed_note::key_id(name, &public),
            key,
        })
    }
}

impl Signer for NoteSigner<'_> {
    fn name(&self) -> &str {
        self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_vec())
    }
}

/// Which tile a tlog-tiles path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileAt {
    /// The tree level of the tile (0 for leaf hashes), or `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// How many hashes or entries it holds (256 for a full tile).
    pub width: u64,
}

impl TileAt {
    /// Reads `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]` (the part after `tile/`).
    pub fn parse(path: &str) -> Option<TileAt> {
        let (level, rest) = path.split_once('/')?;
        if let Some((_, width)) = rest.split_once(".p/") {
            // The library takes a width of 0 for a tile and then panics on it.
            if width.is_empty() || width.starts_with('0') {
                return None;
            }
        }
        let library_level = if level == "entries" { "data" } else { level };
        // The library reads Go's sumdb paths, which also name the height.
        let tile = Tile::from_path(&format!("tile/{TILE_HEIGHT}/{library_level}/{rest}")).ok()?;
        Some(TileAt {
            level: (!tile.is_data()).then_some(tile.level()),
            index: tile.level_index(),
            width: u64::from(tile.width()),
        })
    }

    /// The path of this tile after `tile/`.
    pub fn path(&self) -> String {
        let tile = Tile::new(
            TILE_HEIGHT,
            self.level.unwrap_or(0),
            self.index,
            self.width as u32,
            self.level.is_none(),
        );
        let go_path = tile.path();
        let rest = go_path
            .strip_prefix(&format!("tile/{TILE_HEIGHT}/"))
            .expect("the library's tile paths start with the height");
        rest.replacen("data/", "entries/", 1)
    }
}

/// An entry bundle: each entry after its length, a big-endian 16-bit number.
pub fn bundle(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|entry| entry.len() + 2).sum());
    for entry in entries {
        let length = u16::try_from(entry.len()).expect("entries are refused above MAX_ENTRY_BYTES");
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_read_and_write_as_tlog_tiles_spells_them() {
        for (path, level, index, width) in [
            ("0/000", Some(0), 0, 256),
            ("1/x001/x234/067.p/8", Some(1), 1_234_067, 8),
            ("entries/123.p/255", None, 123, 255),
            ("2/999", Some(2), 999, 256),
        ] {
            let tile = TileAt::parse(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(tile, TileAt { level, index, width });
            assert_eq!(tile.path(), path);
        }
        for bad in [
            "0/1",
            "0/001.p/256",
            "0/001.p/0",
            "x/001",
            "entries",
            "0/x000/001",
            "8/data/000",
        ] {
            assert_eq!(TileAt::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_verifier_key_only() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let origin = default_origin(&key.verifying_key());
        let root = leaf_hash(b"entry");
        let note = sign_checkpoint(&key, &origin, 1, &root).unwrap();
        assert!(note.starts_with(&format!("{origin}\n1\n")), "{note}");
        let vkey = verifier_key(&origin, &key.verifying_key());
        let opened = open_checkpoint(&note, std::slice::from_ref(&vkey), &[]).unwrap();
        assert_eq!(
            (opened.size, opened.root, opened.origin.as_str()),
            (1, root, origin.as_str())
        );
        let other = SigningKey::from_bytes(&[8; 32]);
        let stranger = verifier_key(&origin, &other.verifying_key());
        assert!(open_checkpoint(&note, &[stranger], &[]).is_err());
        let altered = note.replacen("\n1\n", "\n2\n", 1);
        assert!(open_checkpoint(&altered, &[vkey], &[]).is_err());
    }

    /// A cosignature made as c2sp.org/tlog-cosignature says verifies with the witness's
    /// key, and is required when the witness is named.
    #[test]
    fn a_witness_cosignature_is_checked_and_required() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let origin = default_origin(&key.verifying_key());
        let vkey = verifier_key(&origin, &key.verifying_key());
        let note = sign_checkpoint(&key, &origin, 3, &leaf_hash(b"x")).unwrap();
        let witness = SigningKey::from_bytes(&[9; 32]);
        let witness_vkey = Cosigner::verifier_key("witness.example/w1", &witness.verifying_key());
        let body = note.split("\n\n").next().unwrap().to_string() + "\n";
        let time: u64 = 1_700_000_000;
        let signature = witness.sign(&Cosigner::signed_message(body.as_bytes(), time));
        let cosigner = Cosigner::parse(&witness_vkey).unwrap();
        let line = format!(
            "— witness.example/w1 {}\n",
            STANDARD.encode(
                [
                    &cosigner.id.to_be_bytes()[..],
                    &time.to_be_bytes(),
                    &signature.to_bytes()
                ]
                .concat()
            )
        );
        let cosigned = note.clone() + &line;
        let opened = open_checkpoint(
            &cosigned,
            std::slice::from_ref(&vkey),
            std::slice::from_ref(&witness_vkey),
        )
        .unwrap();
        assert_eq!(opened.cosigned_by, vec!["witness.example/w1".to_string()]);
        let missing =
            open_checkpoint(&note, std::slice::from_ref(&vkey), std::slice::from_ref(&witness_vkey)).unwrap_err();
        assert!(missing.to_string().contains("no cosignature of witness"), "{missing}");
        let forged = cosigned.replace(&line[line.len() - 6..], "AAAAA\n");
        assert!(open_checkpoint(
            &forged,
            std::slice::from_ref(&vkey),
            std::slice::from_ref(&witness_vkey)
        )
        .is_err());
        // The log's own key is still needed: a witness's cosignature alone is not enough.
        let only_witness = body.clone() + "\n" + &line;
        assert!(open_checkpoint(&only_witness, &[vkey], &[witness_vkey]).is_err());
        assert!(
            Cosigner::parse(&verifier_key("w", &witness.verifying_key())).is_err(),
            "a type-1 key is not a cosigner's"
        );
    }

    #[test]
    fn the_sha256_frontier_matches_rfc6962() {
        let mut frontier = Frontier::default();
        assert_eq!(root(&frontier), empty_root());
        let entries: Vec<Vec<u8>> = (0..7).map(|i| format!("entry {i}").into_bytes()).collect();
        for entry in &entries {
            push(&mut frontier, entry);
        }
        // MTH of 7 leaves: (((0,1),(2,3)),((4,5),6)).
        let leaf: Vec<Digest> = entries.iter().map(|entry| leaf_hash(entry)).collect();
        let n = node_hash;
        let expected = n(
            &n(&n(&leaf[0], &leaf[1]), &n(&leaf[2], &leaf[3])),
            &n(&n(&leaf[4], &leaf[5]), &leaf[6]),
        );
        assert_eq!(root(&frontier), expected);
    }

    #[test]
    fn long_lists_split_into_runs_that_fit_an_entry_in_order() {
        let items: Vec<String> = (0..3000).map(|i| format!("{i:0>40}")).collect();
        let runs = fitting(items.clone());
        assert!(runs.len() > 1);
        assert!(runs
            .iter()
            .all(|run| serde_json::to_vec(run).unwrap().len() <= LIST_BYTES + 1));
        assert_eq!(runs.concat(), items);
        assert_eq!(fitting(vec!["x".repeat(100_000)]).len(), 1);
        assert!(fitting(Vec::<u8>::new()).is_empty());
    }

    #[test]
    fn bundles_prefix_each_entry_with_its_length() {
        assert_eq!(bundle(&[b"ab".to_vec(), Vec::new()]), vec![0, 2, b'a', b'b', 0, 0]);
    }
}
