//! The canonical writer against `serde_jcs`, the reference it replaces: every sample
//! event, and arbitrary JSON with awkward text, keys and numbers.

use super::to_vec;
use crate::samples;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

#[test]
fn every_sample_event_is_written_as_serde_jcs_writes_it() {
    for envelope in samples::envelopes() {
        assert_eq!(
            String::from_utf8(to_vec(&envelope).unwrap()).unwrap(),
            serde_jcs::to_string(&envelope).unwrap(),
            "{}",
            envelope.event.name()
        );
    }
}

#[test]
fn numbers_that_are_not_finite_have_no_canonical_json() {
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(to_vec(&value).is_err());
        assert!(serde_jcs::to_vec(&value).is_err());
    }
}

/// Integers are written as digits only while a double holds them exactly; past 2^53 they
/// are the nearest double's text, as serde_jcs writes them.
#[test]
fn integers_on_each_side_of_what_a_double_holds_are_written_as_serde_jcs_writes_them() {
    let exact = 1i64 << 53;
    let signed = [
        0,
        1,
        -1,
        9,
        10,
        -10,
        exact - 1,
        exact,
        exact + 1,
        -exact,
        -exact - 1,
        i64::MIN,
        i64::MAX,
    ];
    for value in signed {
        assert_eq!(to_vec(&value).unwrap(), serde_jcs::to_vec(&value).unwrap(), "{value}");
    }
    for value in [u64::MAX, (exact as u64) + 3, 123_456_789_012_345] {
        assert_eq!(to_vec(&value).unwrap(), serde_jcs::to_vec(&value).unwrap(), "{value}");
    }
    // serde_jcs takes no i128: one is written as the double it is nearest.
    for value in [i128::from(i8::MIN), i128::from(u32::MAX), -(1i128 << 60), i128::MAX] {
        assert_eq!(
            to_vec(&value).unwrap(),
            serde_jcs::to_vec(&(value as f64)).unwrap(),
            "{value}"
        );
    }
}

/// Text that needs escaping, names that sort differently by UTF-16 than by code point
/// (U+FF61 against U+1F600), and plain ASCII.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("/".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{ff61}".to_string()),
        Just("\u{1f600}".to_string()),
        Just("é".to_string()),
        (0u8..0x20).prop_map(|control| char::from(control).to_string()),
        "[a-zA-Z0-9_]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(pieces, 0..6).prop_map(|pieces| pieces.concat())
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<u64>().prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        (-1_000_000i64..1_000_000).prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1e21),
            Just(1e-7),
            Just(5e-324),
            Just(123456789012345680000.0)
        ]
        .prop_filter_map("finite", Number::from_f64),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_is_written_as_serde_jcs_writes_it(value in json()) {
        prop_assert_eq!(
            String::from_utf8(to_vec(&value).unwrap()).unwrap(),
            serde_jcs::to_string(&value).unwrap()
        );
    }
}

proptest! {
    /// Member names order by UTF-16 code units, whatever the characters, also when one
    /// name shares a long prefix with the other.
    #[test]
    fn names_order_by_utf16_code_units(prefix in text(), a in text(), b in text()) {
        let (a, b) = (format!("{prefix}{a}"), format!("{prefix}{b}"));
        prop_assert_eq!(super::utf16_order(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
    }
}

/// A string needing one escape anywhere — first, last, or between, in strings of every
/// length to fifty — is escaped as serde_jcs escapes it; one needing none is copied whole.
#[test]
fn one_escape_anywhere_in_a_string_is_written_as_serde_jcs_writes_it() {
    for len in 0..50 {
        let clean = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"[..len].to_string();
        assert_eq!(
            String::from_utf8(to_vec(&clean).unwrap()).unwrap(),
            format!("\"{clean}\"")
        );
        for at in 0..len {
            for escaped in ['"', '\\', '\n', '\u{1}', '\u{1f}'] {
                let mut text = clean.clone();
                text.replace_range(at..=at, &escaped.to_string());
                assert_eq!(
                    String::from_utf8(to_vec(&text).unwrap()).unwrap(),
                    serde_jcs::to_string(&text).unwrap(),
                    "{text:?}"
                );
            }
        }
    }
}
