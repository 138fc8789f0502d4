//! Map keys as canonical JSON names them: text as it is, a number as its canonical text.

use super::{write_number, CanonicalError, Result};
use serde::ser::{self, Impossible, Serialize};

/// A map key as the member name JSON gives it: text as it is, a number as its canonical
/// text (serde_json's rule, which serde_jcs inherits); anything else has no name.
pub(super) struct KeyWriter;

macro_rules! number_keys {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(
            fn $method(self, value: $type) -> Result<String> {
                let mut text = Vec::new();
                write_number(&mut text, value as f64)?;
                Ok(String::from_utf8(text).expect("numbers are ASCII"))
            }
        )*
    };
}

fn not_a_key<T>(what: &str) -> Result<T> {
    Err(CanonicalError(format!("a map key that is {what}, not text")))
}

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = CanonicalError;
    type SerializeSeq = Impossible<String, CanonicalError>;
    type SerializeTuple = Impossible<String, CanonicalError>;
    type SerializeTupleStruct = Impossible<String, CanonicalError>;
    type SerializeTupleVariant = Impossible<String, CanonicalError>;
    type SerializeMap = Impossible<String, CanonicalError>;
    type SerializeStruct = Impossible<String, CanonicalError>;
    type SerializeStructVariant = Impossible<String, CanonicalError>;

    number_keys!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
    );

    fn serialize_str(self, value: &str) -> Result<String> {
        Ok(value.to_string())
    }

    fn serialize_char(self, value: char) -> Result<String> {
        Ok(value.to_string())
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<String> {
        Ok(variant.to_string())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<String> {
        value.serialize(self)
    }

    fn serialize_bool(self, _value: bool) -> Result<String> {
        not_a_key("a boolean")
    }

    fn serialize_f32(self, _value: f32) -> Result<String> {
        not_a_key("a float")
    }

    fn serialize_f64(self, _value: f64) -> Result<String> {
        not_a_key("a float")
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result<String> {
        not_a_key("bytes")
    }

    fn serialize_none(self) -> Result<String> {
        not_a_key("null")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String> {
        not_a_key("an option")
    }

    fn serialize_unit(self) -> Result<String> {
        not_a_key("null")
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<String> {
        not_a_key("null")
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        not_a_key("an object")
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        not_a_key("an array")
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        not_a_key("an array")
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        not_a_key("an array")
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        not_a_key("an object")
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        not_a_key("an object")
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        not_a_key("an object")
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        not_a_key("an object")
    }
}
