//! Tests of segment frames: both kinds read back, cut and damaged frames are told apart.

use super::*;
use lineage_schema::samples;

const FRAMINGS: [Framing; 2] = [Framing::Short, Framing::Long];

fn two_records(framing: Framing) -> (Vec<u8>, u64) {
    let envelopes = samples::envelopes();
    let mut bytes = encode_header(1).to_vec();
    framing.encode(SCHEMA_VERSION, &envelopes[0].encode(), &mut bytes);
    let second = bytes.len() as u64;
    framing.encode(SCHEMA_VERSION, &envelopes[1].encode(), &mut bytes);
    (bytes, second)
}

#[test]
fn frames_read_back() {
    for framing in FRAMINGS {
        let (bytes, second) = two_records(framing);
        match read_frame(&bytes, HEADER_LEN, &mut None) {
            Frame::Record { envelope, next } => {
                assert_eq!(envelope.seq, 1);
                assert_eq!(next, second);
            }
            other => panic!("{framing:?}: expected a record, got {other:?}"),
        }
        assert!(is_whole(&bytes, HEADER_LEN) && is_whole(&bytes, second));
        assert_eq!(frame_offsets(&bytes, HEADER_LEN, 10), vec![HEADER_LEN, second]);
    }
}

#[test]
fn a_cut_record_is_truncated_and_a_flipped_byte_is_bad() {
    for framing in FRAMINGS {
        let (bytes, second) = two_records(framing);
        for end in second as usize..bytes.len() {
            assert!(
                matches!(read_frame(&bytes[..end], second, &mut None), Frame::Truncated),
                "{framing:?} cut at {end}"
            );
        }
        for at in HEADER_LEN as usize..second as usize {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            assert!(
                !matches!(read_frame(&flipped, HEADER_LEN, &mut None), Frame::Record { .. }),
                "{framing:?} with byte {at} flipped still reads"
            );
            assert_eq!(
                valid_record_after(&flipped, HEADER_LEN),
                Some(second),
                "{framing:?}, {at}"
            );
        }
        assert_eq!(valid_record_after(&bytes, second), None);
    }
}

/// A short frame's length takes one byte up to 127 and one more per 7 bits, up to the
/// largest record; frames of every kind and size follow one another in one segment.
#[test]
fn short_frames_of_every_length_read_back_beside_long_ones() {
    let lengths = [0, 1, 127, 128, 16_383, 16_384, (1 << 21) - 1, 1 << 21, MAX_RECORD_BYTES];
    let mut bytes = encode_header(1).to_vec();
    let mut expected = Vec::new();
    for (index, &len) in lengths.iter().enumerate() {
        let body: Vec<u8> = (0..len).map(|byte| (byte * 7 + index) as u8).collect();
        let framing = FRAMINGS[index % 2];
        let at = bytes.len() as u64;
        framing.encode(FORMAT_COMPACT, &body, &mut bytes);
        let head = match framing {
            Framing::Long | Framing::Whole => LONG_HEAD_LEN,
            Framing::Short => 1 + [1, 1, 1, 2, 2, 3, 3, 4, 4][index] + 4,
        };
        expected.push((at, head, body));
    }
    let offsets = frame_offsets(&bytes, HEADER_LEN, usize::MAX);
    assert_eq!(offsets, expected.iter().map(|(at, ..)| *at).collect::<Vec<_>>());
    for (at, head, body) in &expected {
        let checked = check(&bytes, *at).unwrap_or_else(|_| panic!("the frame at {at} checks"));
        assert_eq!(checked.schema, FORMAT_COMPACT);
        assert_eq!(checked.body.start - *at as usize, *head, "head at {at}");
        assert_eq!(&bytes[checked.body], &body[..]);
        assert!(!is_whole(&bytes, *at));
    }
    let heads = frame_heads(&bytes);
    assert_eq!(heads.len(), lengths.len());
    assert!(heads.iter().zip(&lengths).all(|((_, _, body), len)| body == len));
}

#[test]
fn a_short_head_out_of_form_is_bad() {
    let frame = |head: &[u8]| {
        let mut bytes = head.to_vec();
        // Right for a 5-byte body of zeros, the one well-formed case.
        let crc = crc32fast::hash(&[head, &[0u8; 5]].concat());
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 200]);
        bytes
    };
    let bad = |bytes: &[u8]| matches!(check(bytes, 0), Err(Unchecked::Bad(_)));
    assert!(check(&frame(&[0xC2, 5]), 0).is_ok(), "the shortest form checks");
    assert!(bad(&frame(&[0xC2, 0x85, 0x00])), "a length with a needless byte");
    assert!(
        bad(&frame(&[0xC2, 0x80, 0x80, 0x80, 0x80, 0x01])),
        "a length of five bytes"
    );
    assert!(bad(&frame(&[0xC2, 0xFF, 0xFF, 0xFF, 0x7F])), "a length past the limit");
    assert!(bad(&frame(&[0xC0, 5])), "format 0");
    assert!(bad(&frame(&[0x00, 5])), "no tag");
    assert!(matches!(check(&[0xC2, 0x85], 0), Err(Unchecked::Truncated)));
    assert!(matches!(check(&[0xC2], 0), Err(Unchecked::Truncated)));
    assert!(matches!(check(&[], 0), Err(Unchecked::Truncated)));
}

#[test]
fn names_sort_in_log_order() {
    assert_eq!(parse_file_name(&file_name(42)), Some(42));
    assert_eq!(parse_file_name("notes.txt"), None);
    assert!(file_name(9) < file_name(10));
}
