//! Signed checkpoints: a log's size and Merkle root at a moment, signed with the store's
//! ed25519 key, in a small text-friendly form an auditor keeps and checks later.

use crate::ids::Digest;
use crate::time::Timestamp;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a checkpoint's signature covers, and its origin line.
pub const ORIGIN: &str = "lineage checkpoint v1";

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// How many events the tree covers (seq 1 ..= size).
    pub size: u64,
    /// The Merkle root over those events' hashes.
    pub root: Digest,
    pub time: Timestamp,
    /// The signer's ed25519 public key, hex.
    pub public_key: String,
    /// The ed25519 signature over `message()`, hex.
    pub signature: String,
}

impl Checkpoint {
    /// The signed text: origin, size, root and time, one per line.
    pub fn message(size: u64, root: &Digest, time: Timestamp) -> String {
        format!("{ORIGIN}\n{size}\n{}\n{time}\n", root.to_hex())
    }

    pub fn sign(key: &SigningKey, size: u64, root: Digest, time: Timestamp) -> Self {
        let signature = key.sign(Self::message(size, &root, time).as_bytes());
        Self {
            size,
            root,
            time,
            public_key: hex(key.verifying_key().as_bytes()),
            signature: hex(&signature.to_bytes()),
        }
    }

    /// Whether the signature is valid for `trusted` (hex), or, when none is given, for
    /// the key the checkpoint names (which proves only that it was not altered since).
    pub fn signature_holds(&self, trusted: Option<&str>) -> bool {
        let key_hex = trusted.unwrap_or(&self.public_key);
        let (Some(key), Some(signature)) = (unhex::<32>(key_hex), unhex::<64>(&self.signature)) else {
            return false;
        };
        let Ok(key) = VerifyingKey::from_bytes(&key) else {
            return false;
        };
        key.verify(
            Self::message(self.size, &self.root, self.time).as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .is_ok()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let checkpoint = Checkpoint::sign(&key, 42, Digest::of(b"root"), Timestamp::from_micros(1));
        assert!(checkpoint.signature_holds(None));
        assert!(checkpoint.signature_holds(Some(&hex(key.verifying_key().as_bytes()))));
        let mut changed = checkpoint.clone();
        changed.size = 41;
        assert!(!changed.signature_holds(None));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(!checkpoint.signature_holds(Some(&hex(other.verifying_key().as_bytes()))));
        assert_eq!(unhex::<2>("0aff"), Some([10, 255]));
        assert_eq!(unhex::<2>("zz00"), None);
    }
}
