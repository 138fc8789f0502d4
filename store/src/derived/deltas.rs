//! Posting lists stored as deltas: each entry a varint difference from the entry before it
//! in its chunk (the first from zero, so a chunk reads on its own), a byte or two where a
//! fixed-width seq took eight.
//!
//! Appending needs the list's last entry, which its owner keeps beside the list's count
//! or version (a key written for every event anyway), so an append never reads the chunk.

use crate::error::{Error, Result};
use crate::log::Position;

pub(crate) use lineage_schema::varint::push as push_varint;

/// Reads the varint at `*at`, moving `*at` past it.
pub(crate) fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    lineage_schema::varint::read(bytes, at).ok_or_else(|| cut("a varint"))
}

fn cut(what: &str) -> Error {
    Error::Derived(format!("{what} in a kept posting list is cut short"))
}

/// Appends `seq` to a list of seqs whose last entry is `last` (0 at a chunk's start).
/// Wrapping, so any order encodes; seqs rise, so each delta is small.
pub(crate) fn push_seq(out: &mut Vec<u8>, last: u64, seq: u64) {
    push_varint(out, seq.wrapping_sub(last));
}

/// The seqs of one chunk written by [`push_seq`].
pub(crate) fn seqs(bytes: &[u8]) -> Result<Vec<u64>> {
    let mut found = Vec::new();
    let (mut at, mut last) = (0, 0u64);
    while at < bytes.len() {
        last = last.wrapping_add(read_varint(bytes, &mut at)?);
        found.push(last);
    }
    Ok(found)
}

/// A seq and the log position of its record: one entry of a stream's history.
pub(crate) type Located = (u64, Position);

/// The two halves of a position (for the file log: segment and offset; for PostgreSQL:
/// seq and a fixed mark).
fn halves(position: Position) -> (u64, u64) {
    let bytes = position.to_bytes();
    let half = |range: std::ops::Range<usize>| u64::from_be_bytes(bytes[range].try_into().expect("eight bytes"));
    (half(0..8), half(8..16))
}

fn from_halves(high: u64, low: u64) -> Position {
    let mut bytes = [0u8; Position::LEN];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    Position::from_bytes(&bytes).expect("sixteen bytes")
}

/// Appends `entry` to a history chunk whose last entry is `last` (None at a chunk's
/// start): the seq's delta, the high half's delta, then the low half's delta while the
/// high half stays (the next record of the same segment), else the low half whole.
pub(crate) fn push_located(out: &mut Vec<u8>, last: Option<Located>, (seq, position): Located) {
    let (last_seq, last_high, last_low) = match last {
        Some((last_seq, last_position)) => {
            let (high, low) = halves(last_position);
            (last_seq, high, low)
        }
        None => (0, 0, 0),
    };
    let (high, low) = halves(position);
    push_varint(out, seq.wrapping_sub(last_seq));
    push_varint(out, high.wrapping_sub(last_high));
    push_varint(
        out,
        if high == last_high {
            low.wrapping_sub(last_low)
        } else {
            low
        },
    );
}

/// The entries of one history chunk written by [`push_located`].
pub(crate) fn located(bytes: &[u8]) -> Result<Vec<Located>> {
    let mut found = Vec::new();
    let (mut at, mut seq, mut high, mut low) = (0, 0u64, 0u64, 0u64);
    while at < bytes.len() {
        seq = seq.wrapping_add(read_varint(bytes, &mut at)?);
        let high_delta = read_varint(bytes, &mut at)?;
        let low_part = read_varint(bytes, &mut at)?;
        high = high.wrapping_add(high_delta);
        low = if high_delta == 0 {
            low.wrapping_add(low_part)
        } else {
            low_part
        };
        found.push((seq, from_halves(high, low)));
    }
    Ok(found)
}

/// A kept entry's fixed form (beside a count or version): seq, then the position.
pub(crate) fn located_bytes((seq, position): Located) -> [u8; 8 + Position::LEN] {
    let mut bytes = [0u8; 8 + Position::LEN];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8..].copy_from_slice(&position.to_bytes());
    bytes
}

/// An entry read back from [`located_bytes`]; None if the bytes are too few.
pub(crate) fn located_from(bytes: &[u8]) -> Option<Located> {
    let seq = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((seq, Position::from_bytes(bytes.get(8..)?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn position(high: u64, low: u64) -> Position {
        from_halves(high, low)
    }

    proptest! {
        #[test]
        fn varints_round_trip(values in proptest::collection::vec(any::<u64>(), 0..40)) {
            let mut bytes = Vec::new();
            for &value in &values {
                push_varint(&mut bytes, value);
            }
            let mut at = 0;
            let back: Vec<u64> = values.iter().map(|_| read_varint(&bytes, &mut at).unwrap()).collect();
            prop_assert_eq!(back, values);
            prop_assert_eq!(at, bytes.len());
        }

        /// Any seqs, rising or not, read back as written.
        #[test]
        fn seq_lists_round_trip(values in proptest::collection::vec(any::<u64>(), 0..40)) {
            let mut bytes = Vec::new();
            let mut last = 0;
            for &seq in &values {
                push_seq(&mut bytes, last, seq);
                last = seq;
            }
            prop_assert_eq!(seqs(&bytes).unwrap(), values);
        }

        /// Any entries read back as written: positions that stay in a segment, move to
        /// another, or go anywhere.
        #[test]
        fn histories_round_trip(entries in proptest::collection::vec((any::<u64>(), 0u64..3, any::<u64>()), 0..40)) {
            let entries: Vec<Located> = entries.into_iter().map(|(seq, high, low)| (seq, position(high, low))).collect();
            let mut bytes = Vec::new();
            let mut last = None;
            for &entry in &entries {
                push_located(&mut bytes, last, entry);
                last = Some(entry);
            }
            prop_assert_eq!(located(&bytes).unwrap(), entries);
        }
    }

    #[test]
    fn neighbours_take_four_bytes_and_a_cut_list_is_an_error() {
        let mut bytes = Vec::new();
        let first = (1_000_000, position(999_424, 60_000_000));
        push_located(&mut bytes, None, first);
        let start = bytes.len();
        push_located(&mut bytes, Some(first), (1_000_003, position(999_424, 60_000_450)));
        assert_eq!(bytes.len() - start, 4, "seq +3, same segment, offset +450");
        assert!(located(&bytes[..bytes.len() - 1]).is_err());
        assert!(seqs(&[0x80]).is_err());
        assert!(read_varint(&[0xff; 11], &mut 0).is_err());
        assert_eq!(located_from(&located_bytes(first)), Some(first));
        assert_eq!(located_from(&[0; 23]), None);
    }
}
