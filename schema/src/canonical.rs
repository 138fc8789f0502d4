//! RFC 8785 canonical JSON (JCS) of any `Serialize` value, byte for byte what `serde_jcs`
//! writes, at a fraction of its cost: an event's transparency-log entry is made for every
//! event appended and replayed, and `serde_jcs` allocates a UTF-16 copy and a buffer for
//! every key and value of every object.
//!
//! As `serde_jcs` does, every number (integers too) is written as ECMAScript writes the
//! nearest double (`ryu_js`); object members are sorted by their names' UTF-16 code units;
//! strings escape `"`, `\` and control characters (`\b \t \n \f \r`, else `\u00xx`).

use serde::ser::{self, Serialize};
use std::cmp::Ordering;
use std::fmt::Display;

/// Why a value has no canonical JSON.
#[derive(Debug, thiserror::Error)]
#[error("no canonical JSON: {0}")]
pub struct CanonicalError(String);

impl ser::Error for CanonicalError {
    fn custom<T: Display>(message: T) -> Self {
        CanonicalError(message.to_string())
    }
}

type Result<T, E = CanonicalError> = std::result::Result<T, E>;

/// The canonical JSON of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    // What a value that failed part way left on the member stack is no object's.
    MEMBERS.with_borrow_mut(Vec::clear);
    let mut out = Vec::with_capacity(256);
    value.serialize(Writer { out: &mut out })?;
    Ok(out)
}

/// Orders member names as JCS does: by UTF-16 code units. Where the names first differ
/// in two ASCII bytes (always, for the names structs have), those bytes decide: the
/// prefix before them is the same characters in both, so the same code units.
fn utf16_order(a: &str, b: &str) -> Ordering {
    let differ = a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    match differ {
        None => a.len().cmp(&b.len()),
        Some(at) if a.as_bytes()[at].is_ascii() && b.as_bytes()[at].is_ascii() => {
            a.as_bytes()[at].cmp(&b.as_bytes()[at])
        }
        Some(_) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

fn write_number(out: &mut Vec<u8>, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(CanonicalError("a number that is not finite".into()));
    }
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(value).as_bytes());
    Ok(())
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    // Most strings (ids, hex digests, names) need no escape: checked in one pass the
    // compiler vectorizes, then copied whole.
    if bytes.iter().all(|&byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\x08' => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\x0c' => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        out.extend_from_slice(escape);
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes one value at the end of `out`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

/// An object's members, each written as `"name":value` where it ends up if the members
/// come in order, as a struct's fields often do; reordered when the object ends if not.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Where the first member starts, just after the `{`.
    base: usize,
    /// Where this object's members start on the thread's member stack.
    first: usize,
    /// A map's key, between `serialize_key` and `serialize_value`.
    key: Option<String>,
    /// For a struct variant: it is the value of a one-member object naming the variant.
    variant: bool,
}

enum Name {
    Field(&'static str),
    Key(String),
}

impl Name {
    fn as_str(&self) -> &str {
        match self {
            Name::Field(name) => name,
            Name::Key(name) => name,
        }
    }
}

/// A member: its name and where `"name":value` lies, from the object's `base`.
type Member = (Name, usize, usize);

thread_local! {
    /// The members of every object being written on this thread, innermost last: an
    /// object's own lie from its `first` on (nested objects end before their parent goes
    /// on), so no object allocates a list of its own.
    static MEMBERS: std::cell::RefCell<Vec<Member>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Where an object's members wait while they are written back in order.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Self {
        if let Some(variant) = variant {
            out.push(b'{');
            write_string(out, variant);
            out.push(b':');
        }
        out.push(b'{');
        Self {
            base: out.len(),
            out,
            first: MEMBERS.with_borrow(Vec::len),
            key: None,
            variant: variant.is_some(),
        }
    }

    fn member<T: Serialize + ?Sized>(&mut self, name: Name, value: &T) -> Result<()> {
        if self.out.len() > self.base {
            self.out.push(b',');
        }
        let start = self.out.len() - self.base;
        write_string(self.out, name.as_str());
        self.out.push(b':');
        value.serialize(Writer { out: &mut *self.out })?;
        let end = self.out.len() - self.base;
        MEMBERS.with_borrow_mut(|members| members.push((name, start, end)));
        Ok(())
    }

    fn finish(self) -> Result<()> {
        MEMBERS.with_borrow_mut(|members| {
            let own = &mut members[self.first..];
            let in_order = own
                .windows(2)
                .all(|pair| utf16_order(pair[0].0.as_str(), pair[1].0.as_str()) != Ordering::Greater);
            if !in_order {
                own.sort_by(|(a, ..), (b, ..)| utf16_order(a.as_str(), b.as_str()));
                SCRATCH.with_borrow_mut(|written| {
                    written.clear();
                    written.extend_from_slice(&self.out[self.base..]);
                    self.out.truncate(self.base);
                    for (index, (_, start, end)) in own.iter().enumerate() {
                        if index > 0 {
                            self.out.push(b',');
                        }
                        self.out.extend_from_slice(&written[*start..*end]);
                    }
                });
            }
            members.truncate(self.first);
        });
        self.out.push(b'}');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

/// An array's elements, written in order; closed by `close` (twice for a tuple variant).
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    close: &'static [u8],
}

impl<'a> Array<'a> {
    fn open(out: &'a mut Vec<u8>, variant: Option<&'static str>) -> Self {
        if let Some(variant) = variant {
            out.push(b'{');
            write_string(out, variant);
            out.push(b':');
        }
        out.push(b'[');
        let close: &'static [u8] = if variant.is_some() { b"]}" } else { b"]" };
        Self {
            out,
            first: true,
            close,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Writer { out: self.out })
    }

    fn finish(self) -> Result<()> {
        self.out.extend_from_slice(self.close);
        Ok(())
    }
}

macro_rules! numbers {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, value: $type) -> Result<()> {
                // As serde_jcs: every number is the nearest double, as ECMAScript writes it.
                write_number(self.out, value as f64)
            }
        )*
    };
}

macro_rules! integers {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, value: $type) -> Result<()> {
                write_integer(self.out, i128::from(value))
            }
        )*
    };
}

/// An integer as the nearest double is written: one a double holds exactly (every seq,
/// version and count) is its digits, as ECMAScript writes any integer below 10²¹;
/// others go through the double.
fn write_integer(out: &mut Vec<u8>, value: i128) -> Result<()> {
    const EXACT: u128 = 1 << 53;
    if value.unsigned_abs() > EXACT {
        return write_number(out, value as f64);
    }
    if value < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 16];
    let mut rest = value.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    Ok(())
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = CanonicalError;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    integers!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
    );
    numbers!(serialize_u128(u128), serialize_f32(f32), serialize_f64(f64));

    fn serialize_bool(self, value: bool) -> Result<()> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<()> {
        write_string(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<()> {
        write_string(self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<()> {
        let mut array = Array::open(self.out, None);
        for byte in value {
            array.element(byte)?;
        }
        array.finish()
    }

    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.out.push(b'{');
        write_string(self.out, variant);
        self.out.push(b':');
        value.serialize(Writer { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        Ok(Array::open(self.out, None))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Array<'a>> {
        Ok(Array::open(self.out, None))
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Array<'a>> {
        Ok(Array::open(self.out, None))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>> {
        Ok(Array::open(self.out, Some(variant)))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>> {
        Ok(Object::new(self.out, None))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Object<'a>> {
        Ok(Object::new(self.out, None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>> {
        Ok(Object::new(self.out, Some(variant)))
    }
}

macro_rules! array_impls {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(
            impl ser::$trait for Array<'_> {
                type Ok = ();
                type Error = CanonicalError;

                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                    self.element(value)
                }

                fn end(self) -> Result<()> {
                    self.finish()
                }
            }
        )*
    };
}

array_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = CanonicalError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(KeyWriter)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| CanonicalError("a map value without its key".into()))?;
        self.member(Name::Key(key), value)
    }

    fn end(self) -> Result<()> {
        self.finish()
    }
}

macro_rules! struct_impls {
    ($($trait:ident),* $(,)?) => {
        $(
            impl ser::$trait for Object<'_> {
                type Ok = ();
                type Error = CanonicalError;

                fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<()> {
                    self.member(Name::Field(name), value)
                }

                fn end(self) -> Result<()> {
                    self.finish()
                }
            }
        )*
    };
}

struct_impls!(SerializeStruct, SerializeStructVariant);

#[path = "canonical_key.rs"]
mod key;
use key::KeyWriter;

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
