//! Compact records read back to the very bytes and hashes of format 1.

use super::*;
use crate::envelope::decode_record;
use crate::samples;
use crate::SCHEMA_VERSION;
use proptest::prelude::*;

/// A chain of the sample events with chosen versions, times, actors and accounts, sealed
/// in order; every compact body is made against the record before it.
fn chain(shapes: &[(u64, i64, bool, bool, bool)]) -> Vec<Envelope> {
    let samples = samples::envelopes();
    let mut prev_hash = Digest::ZERO;
    let mut time = 1_700_000_000_000_000i64;
    shapes
        .iter()
        .enumerate()
        .map(|(index, &(version, step, other_actor, no_account, same_stream))| {
            let mut envelope = samples[index % samples.len()].clone();
            if same_stream {
                envelope.stream = samples[0].stream.clone();
            }
            envelope.seq = index as u64 + 1;
            envelope.version = version;
            time = time.wrapping_add(step);
            envelope.recorded_at = Timestamp::from_micros(time);
            if other_actor {
                envelope.actor = PrincipalId::new("u-grace").unwrap();
            }
            if no_account {
                envelope.account = None;
            }
            envelope.prev_hash = prev_hash;
            let sealed = envelope.seal();
            prev_hash = sealed.hash;
            sealed
        })
        .collect()
}

/// Writes `chain` as a log would (the first whole, the rest compact) and reads it back.
fn round_trip(chain: &[Envelope]) -> Vec<(Vec<u8>, Envelope)> {
    let mut written = Vec::new();
    let mut prior: Option<Prior> = None;
    for envelope in chain {
        let body = envelope.encode();
        let next = Prior::after(envelope);
        match &prior {
            Some(before) => written.push((FORMAT_COMPACT, compact(envelope, &body, before, &next))),
            None => written.push((SCHEMA_VERSION, body)),
        }
        prior = Some(next);
    }
    let mut reading: Option<Prior> = None;
    written
        .into_iter()
        .map(|(format, stored)| {
            let whole = Prior::read(&mut reading, format, &stored).unwrap();
            let envelope = decode_record(SCHEMA_VERSION, &whole).unwrap();
            assert_eq!(
                reading,
                Some(Prior::after(&envelope)),
                "the prior read is the prior written"
            );
            (whole.into_owned(), envelope)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever changes from record to record — stream, version (next or not), time (up,
    /// down, far), actor, account — a compact record reads back as the format-1 body
    /// byte for byte, with the same hashes.
    #[test]
    fn compact_records_read_back_as_their_full_encoding(
        shapes in proptest::collection::vec(
            (prop_oneof![Just(1u64), Just(2), 0u64..300, Just(u64::MAX), 70_000u64..80_000], any::<i64>(), any::<bool>(), any::<bool>(), any::<bool>()),
            1..40,
        ),
    ) {
        let chain = chain(&shapes);
        for ((whole, envelope), original) in round_trip(&chain).iter().zip(&chain) {
            prop_assert_eq!(whole, &original.encode());
            prop_assert_eq!(envelope, original);
        }
    }

    #[test]
    fn bincode_varints_agree_with_bincode(value in any::<u64>(), signed in any::<i64>()) {
        let mut mine = Vec::new();
        push_bincode_varint(&mut mine, value);
        prop_assert_eq!(&mine, &bincode::serde::encode_to_vec(value, BINCODE).unwrap());
        prop_assert_eq!(mine.len(), bincode_varint_len(value));
        let mut mine = Vec::new();
        push_bincode_varint(&mut mine, zigzag(signed));
        prop_assert_eq!(mine, bincode::serde::encode_to_vec(signed, BINCODE).unwrap());
        prop_assert_eq!(unzigzag(zigzag(signed)), signed);
    }
}

#[test]
fn a_metric_on_the_same_run_keeps_only_its_event_and_a_time_step() {
    let run_metrics: Vec<(u64, i64, bool, bool, bool)> =
        (1..=3).map(|version| (version, 1_000, false, false, true)).collect();
    let chain = chain(&run_metrics);
    let next = Prior::after(&chain[1]);
    let body = chain[1].encode();
    let stored = compact(&chain[1], &body, &Prior::after(&chain[0]), &next);
    let event = bincode::serde::encode_to_vec(&chain[1].event, BINCODE).unwrap();
    let event_id = chain[1].event_id.is_some() as usize
        * (1 + bincode::serde::encode_to_vec(&chain[1].event_id, BINCODE)
            .unwrap()
            .len());
    let occurred = chain[1].occurred_at.is_some() as usize
        * (1 + bincode::serde::encode_to_vec(chain[1].occurred_at, BINCODE)
            .unwrap()
            .len());
    assert_eq!(
        stored.len(),
        1 + TAG_LEN + 2 + event_id + occurred + event.len(),
        "flags, tag, time step, optional ids, event"
    );
    assert!(stored.len() + 64 < body.len());
}

#[test]
fn damaged_compact_records_are_errors_not_panics() {
    let chain = chain(&[(1, 5, false, false, false), (1, 5, true, true, false)]);
    let before = Prior::after(&chain[0]);
    let stored = compact(&chain[1], &chain[1].encode(), &before, &Prior::after(&chain[1]));
    assert!(
        Prior::read(&mut None, FORMAT_COMPACT, &stored).is_err(),
        "no full record before it"
    );
    assert!(
        Prior::read(&mut Some(before.clone()), 9, &stored).is_err(),
        "unknown format"
    );
    assert!(before.clone().advance(&[]).is_err());
    assert!(before.clone().advance(&[0x80]).is_err(), "unknown flag");
    for cut in 1..stored.len() {
        // Any cut either fails or yields another body, never a panic; most fail.
        let _ = before.clone().advance(&stored[..cut]);
    }
    let mut changed = stored.clone();
    *changed.last_mut().unwrap() ^= 1;
    assert!(
        before.clone().advance(&changed).is_err(),
        "a changed event breaks the tag"
    );
    assert!(Prior::after(&chain[0]).advance(&stored).is_ok());
    let mut long_piece = stored.clone();
    long_piece[1 + TAG_LEN + 1] = 0x7f;
    let _ = before.clone().advance(&long_piece);
    assert!(Prior::after_full(&[1, 2, 3]).is_err());
}

#[test]
fn full_bodies_give_the_same_prior_as_their_envelopes() {
    for envelope in samples::envelopes() {
        assert_eq!(Prior::after_full(&envelope.encode()).unwrap(), Prior::after(&envelope));
    }
}

/// `advance_with` lends the very body `advance` returns, record after record from one
/// reused buffer, also when a look advances another prior on the same thread; a record
/// that does not read leaves the prior as it was.
#[test]
fn a_lent_body_is_the_returned_one() {
    let shapes: Vec<_> = (0..40u64)
        .map(|index| (index + 1, 1_000, index % 3 == 0, index % 5 == 0, false))
        .collect();
    let chain = chain(&shapes);
    let compacts: Vec<Vec<u8>> = chain
        .windows(2)
        .map(|pair| {
            compact(
                &pair[1],
                &pair[1].encode(),
                &Prior::after(&pair[0]),
                &Prior::after(&pair[1]),
            )
        })
        .collect();
    let (mut owned, mut lent, mut nested) = (
        Prior::after(&chain[0]),
        Prior::after(&chain[0]),
        Prior::after(&chain[0]),
    );
    for (index, stored) in compacts.iter().enumerate() {
        let expected = owned.advance(stored).unwrap();
        assert_eq!(expected, chain[index + 1].encode());
        let inner = lent
            .advance_with(stored, |body| {
                assert_eq!(body, &expected[..]);
                nested.advance_with(stored, |inner| inner.to_vec()).unwrap()
            })
            .unwrap();
        assert_eq!(inner, expected, "a nested look gets its own buffer");
        assert_eq!((&lent, &nested), (&owned, &owned));
    }
    let before = lent.clone();
    let mut changed = compacts[0].clone();
    *changed.last_mut().unwrap() ^= 1;
    assert!(lent.advance_with(&changed, |_| ()).is_err());
    assert_eq!(lent, before, "a record that does not read leaves the prior as it was");
}
