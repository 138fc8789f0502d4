//! The text of ids: short ids kept inline, long ones shared, so copying an id into an
//! event, a reference or an entity never allocates.

use smol_str::SmolStr;

/// An id's text. Ids are copied into every event, reference, entity and key lookup, so
/// their text is kept inline when it is short (up to 23 bytes) and shared when it is
/// longer: a copy never allocates, where a `String`'s did each time.
pub type IdText = SmolStr;

/// What an id's text is made from: text, copied (inline when short), or an id or
/// [`IdText`], shared.
pub trait ToIdText {
    fn to_id_text(self) -> IdText;
}

impl ToIdText for &str {
    fn to_id_text(self) -> IdText {
        IdText::new(self)
    }
}

impl ToIdText for String {
    fn to_id_text(self) -> IdText {
        IdText::from(self)
    }
}

impl ToIdText for &String {
    fn to_id_text(self) -> IdText {
        IdText::new(self)
    }
}

impl ToIdText for std::borrow::Cow<'_, str> {
    fn to_id_text(self) -> IdText {
        IdText::from(self)
    }
}

impl ToIdText for IdText {
    fn to_id_text(self) -> IdText {
        self
    }
}

impl ToIdText for &IdText {
    fn to_id_text(self) -> IdText {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::envelope::BINCODE;
    use crate::{EntityKind, EntityRef, RunId, MAX_ID_LEN};

    #[test]
    fn ids_of_every_length_read_back_as_written_and_bad_ones_are_refused_when_read() {
        // Each side of where the text stops being kept inline (23 bytes), and the longest.
        for len in [1, 22, 23, 24, MAX_ID_LEN] {
            let text = "r".repeat(len);
            let id = RunId::new(text.as_str()).unwrap();
            assert_eq!(id.as_str(), text);
            let encoded = bincode::serde::encode_to_vec(&id, BINCODE).unwrap();
            let (decoded, _): (RunId, usize) = bincode::serde::decode_from_slice(&encoded, BINCODE).unwrap();
            assert_eq!(decoded, id);
            assert_eq!(
                serde_json::from_str::<RunId>(&serde_json::to_string(&id).unwrap()).unwrap(),
                id
            );
            let reference = EntityRef::new(EntityKind::ComputeTarget, &id);
            assert_eq!(
                serde_json::to_string(&reference).unwrap(),
                format!("\"compute-target/{text}\"")
            );
            assert_eq!(reference.id.as_str(), text);
        }
        let bad = bincode::serde::encode_to_vec("has space", BINCODE).unwrap();
        assert!(bincode::serde::decode_from_slice::<RunId, _>(&bad, BINCODE).is_err());
        let long = bincode::serde::encode_to_vec("r".repeat(MAX_ID_LEN + 1), BINCODE).unwrap();
        assert!(bincode::serde::decode_from_slice::<RunId, _>(&long, BINCODE).is_err());
    }

    #[test]
    fn a_long_id_is_shared_not_copied() {
        let id = RunId::new("0123456789abcdef0123456789abcdef").unwrap();
        let reference = EntityRef::new(EntityKind::Run, &id);
        assert_eq!(reference.id.as_ptr(), id.as_str().as_ptr());
        assert_eq!(id.clone().as_str().as_ptr(), id.as_str().as_ptr());
    }
}
