//! The Merkle tree over event hashes in log order, RFC 9162 style with blake3: leaf and
//! node hashing, the frontier that grows it one leaf at a time, proof construction from a
//! subtree oracle, and the verification an auditor runs without trusting the server.
//!
//! Leaf `i` (0-based) is the hash of event `seq = i + 1`. `leaf = H(0x00 ‖ event hash)`,
//! `node = H(0x01 ‖ left ‖ right)`, and the root of `n` leaves splits at the largest power
//! of two below `n`, exactly as RFC 9162 §2.1.1 defines MTH.

use crate::ids::Digest;
use serde::{Deserialize, Serialize};

pub fn leaf_hash(event_hash: &Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0]);
    hasher.update(&event_hash.0);
    Digest(*hasher.finalize().as_bytes())
}

pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[1]);
    hasher.update(&left.0);
    hasher.update(&right.0);
    Digest(*hasher.finalize().as_bytes())
}

/// The root of an empty tree: the hash of nothing.
pub fn empty_root() -> Digest {
    Digest(*blake3::hash(b"").as_bytes())
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first.
/// Appending a leaf merges equal-sized subtrees, like binary addition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    pub size: u64,
    /// (level, root) of each perfect subtree, level = log2 of its leaf count.
    pub peaks: Vec<(u8, Digest)>,
}

impl Frontier {
    /// Appends one leaf; returns every perfect subtree completed by it as
    /// (level, index at that level, root), smallest first.
    pub fn push(&mut self, event_hash: &Digest) -> Vec<(u8, u64, Digest)> {
        self.push_leaf(leaf_hash(event_hash), node_hash)
    }

    /// As [`Frontier::push`], for a leaf already hashed and a tree of another hashing
    /// (the transparency tree's SHA-256).
    pub fn push_leaf(&mut self, leaf: Digest, node: fn(&Digest, &Digest) -> Digest) -> Vec<(u8, u64, Digest)> {
        let mut completed = Vec::new();
        let mut level = 0u8;
        let mut hash = leaf;
        let mut index = self.size;
        completed.push((0, index, hash));
        while let Some(&(peak_level, peak)) = self.peaks.last() {
            if peak_level != level {
                break;
            }
            self.peaks.pop();
            hash = node(&peak, &hash);
            level += 1;
            index /= 2;
            completed.push((level, index, hash));
        }
        self.peaks.push((level, hash));
        self.size += 1;
        completed
    }

    /// The tree's root (RFC 9162 MTH).
    pub fn root(&self) -> Digest {
        self.root_with(empty_root(), node_hash)
    }

    /// As [`Frontier::root`], for a tree of another hashing.
    pub fn root_with(&self, empty: Digest, node: fn(&Digest, &Digest) -> Digest) -> Digest {
        let mut peaks = self.peaks.iter().rev();
        let Some((_, last)) = peaks.next() else {
            return empty;
        };
        peaks.fold(*last, |right, (_, left)| node(left, &right))
    }
}

/// Gives the root of any perfect subtree: `level` and the subtree's index at that level
/// (it covers leaves `index << level` .. `(index + 1) << level`).
pub trait Subtrees {
    type Error;
    fn subtree(&mut self, level: u8, index: u64) -> Result<Digest, Self::Error>;
}

/// MTH of leaves `start .. start + n`, where `start` is aligned as RFC 9162's recursion
/// leaves it (a multiple of the largest power of two ≤ n).
fn range_root<S: Subtrees>(tree: &mut S, start: u64, n: u64) -> Result<Digest, S::Error> {
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return tree.subtree(level, start >> level);
    }
    let k = split(n);
    let left = range_root(tree, start, k)?;
    let right = range_root(tree, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root<S: Subtrees>(tree: &mut S, size: u64) -> Result<Digest, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_root(tree, 0, size)
}

/// RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<S: Subtrees>(tree: &mut S, index: u64, size: u64) -> Result<Vec<Digest>, S::Error> {
    assert!(index < size, "callers check the leaf is inside the tree");
    let mut proof = Vec::new();
    let (mut start, mut n, mut m) = (0u64, size, index);
    let mut siblings = Vec::new();
    while n > 1 {
        let k = split(n);
        if m < k {
            siblings.push((start + k, n - k));
            n = k;
        } else {
            siblings.push((start, k));
            start += k;
            n -= k;
            m -= k;
        }
    }
    for (from, len) in siblings.into_iter().rev() {
        proof.push(range_root(tree, from, len)?);
    }
    Ok(proof)
}

/// RFC 9162 §2.1.4.1: the proof that the tree of `old` leaves is a prefix of the tree of
/// `new` leaves.
pub fn consistency_proof<S: Subtrees>(tree: &mut S, old: u64, new: u64) -> Result<Vec<Digest>, S::Error> {
    assert!(0 < old && old <= new, "callers check the sizes");
    let mut parts = Vec::new();
    let (mut start, mut n, mut m, mut whole) = (0u64, new, old, true);
    loop {
        if m == n {
            if !whole {
                parts.push((start, n));
            }
            break;
        }
        let k = split(n);
        if m <= k {
            parts.push((start + k, n - k));
            n = k;
        } else {
            parts.push((start, k));
            start += k;
            n -= k;
            m -= k;
            whole = false;
        }
    }
    let mut proof = Vec::with_capacity(parts.len());
    for (from, len) in parts.into_iter().rev() {
        proof.push(range_root(tree, from, len)?);
    }
    Ok(proof)
}

/// RFC 9162 §2.1.3.2: whether `proof` shows the event with `event_hash` at leaf `index` of
/// the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, event_hash: &Digest, proof: &[Digest], root: &Digest) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf_hash(event_hash);
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `old` leaves with root `old_root`
/// is a prefix of the tree of `new` leaves with root `new_root`.
pub fn verify_consistency(old: u64, new: u64, old_root: &Digest, new_root: &Digest, proof: &[Digest]) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Digest> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree held in memory, computing subtrees from its leaves.
    struct Leaves(Vec<Digest>);

    impl Subtrees for Leaves {
        type Error = ();
        fn subtree(&mut self, level: u8, index: u64) -> Result<Digest, ()> {
            let (start, n) = ((index << level) as usize, 1usize << level);
            Ok(reference_root(&self.0[start..start + n]))
        }
    }

    /// MTH straight from RFC 9162's definition.
    fn reference_root(events: &[Digest]) -> Digest {
        match events.len() {
            0 => empty_root(),
            1 => leaf_hash(&events[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&events[..k]), &reference_root(&events[k..]))
            }
        }
    }

    fn events(n: usize) -> Vec<Digest> {
        (0..n).map(|i| Digest::of(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn the_frontier_root_is_rfc_9162_mth_at_every_size() {
        let events = events(70);
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        for (i, event) in events.iter().enumerate() {
            frontier.push(event);
            assert_eq!(frontier.root(), reference_root(&events[..=i]), "size {}", i + 1);
            assert_eq!(
                root(&mut Leaves(events.clone()), i as u64 + 1).unwrap(),
                frontier.root()
            );
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_when_anything_is_off() {
        let events = events(37);
        let mut tree = Leaves(events.clone());
        for size in 1..=37u64 {
            let root = root(&mut tree, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&mut tree, index, size).unwrap();
                assert!(
                    verify_inclusion(index, size, &events[index as usize], &proof, &root),
                    "{index} in {size}"
                );
                assert!(!verify_inclusion(index, size, &Digest::of(b"forged"), &proof, &root));
                if size > 1 {
                    assert!(!verify_inclusion(
                        (index + 1) % size,
                        size,
                        &events[index as usize],
                        &proof,
                        &root
                    ));
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_catch_a_rewritten_prefix() {
        let events = events(33);
        let mut tree = Leaves(events.clone());
        let mut rewritten = events.clone();
        rewritten[4] = Digest::of(b"rewritten");
        let mut forged = Leaves(rewritten);
        for new in 1..=33u64 {
            let new_root = root(&mut tree, new).unwrap();
            for old in 1..=new {
                let old_root = root(&mut tree, old).unwrap();
                let proof = consistency_proof(&mut tree, old, new).unwrap();
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &proof),
                    "{old} → {new}"
                );
                if old > 4 {
                    // A log rewritten at leaf 4 cannot prove itself consistent with the honest old root.
                    let forged_root = root(&mut forged, new).unwrap();
                    let forged_proof = consistency_proof(&mut forged, old, new).unwrap();
                    assert!(
                        !verify_consistency(old, new, &old_root, &forged_root, &forged_proof),
                        "{old} → {new}"
                    );
                }
            }
        }
    }
}
