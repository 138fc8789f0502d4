//! Byte keys for the derived trees. Every key starts with one ASCII letter naming its table.

use lineage_schema::{EntityKind, EntityRef};

/// `kind code` + id + NUL: sorts entities of one kind together, ids never contain NUL.
pub(crate) fn entity_part(reference: &EntityRef) -> Vec<u8> {
    key_of(None, &[Part::Entity(reference)])
}

/// A piece of a key, written straight into it: keys are built for nearly every read and
/// write the projections make, so a key is one allocation, not one per piece.
pub(crate) enum Part<'a> {
    Bytes(&'a [u8]),
    /// An entity's part (see [`entity_part`]).
    Entity(&'a EntityRef),
    /// Text and its NUL terminator (see [`text_part`]).
    Text(&'a str),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Bytes(bytes) => bytes.len(),
            Part::Entity(reference) => reference.id.len() + 2,
            Part::Text(text) => text.len() + 1,
        }
    }

    fn write(&self, key: &mut Vec<u8>) {
        match self {
            Part::Bytes(bytes) => key.extend_from_slice(bytes),
            Part::Entity(reference) => {
                key.push(reference.kind.code());
                key.extend_from_slice(reference.id.as_bytes());
                key.push(0);
            }
            Part::Text(text) => {
                key.extend_from_slice(text.as_bytes());
                key.push(0);
            }
        }
    }
}

/// A table letter (if any) followed by parts, allocated once at its full size.
pub(crate) fn key_of(table: Option<u8>, parts: &[Part]) -> Vec<u8> {
    let mut key = Vec::with_capacity(usize::from(table.is_some()) + parts.iter().map(Part::len).sum::<usize>());
    key.extend(table);
    for part in parts {
        part.write(&mut key);
    }
    key
}

thread_local! {
    /// The buffer [`with_key`] builds keys in, kept between lookups.
    static LOOKUP: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Calls `look` with the key [`key_of`] would build, built in a buffer the thread keeps:
/// an entity is looked up several times a command, and a key only looked up with need
/// not be allocated each time. Taken out while `look` runs, so a lookup inside `look`
/// builds its own.
pub(crate) fn with_key<R>(table: Option<u8>, parts: &[Part], look: impl FnOnce(&[u8]) -> R) -> R {
    let mut key = LOOKUP.take();
    key.clear();
    key.extend(table);
    for part in parts {
        part.write(&mut key);
    }
    let answer = look(&key);
    LOOKUP.set(key);
    answer
}

/// A table letter followed by parts.
pub(crate) fn key(table: u8, parts: &[&[u8]]) -> Vec<u8> {
    // Sized once: a key grown part by part was reallocated up to three times.
    let mut key = Vec::with_capacity(1 + parts.iter().map(|part| part.len()).sum::<usize>());
    key.push(table);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

pub(crate) fn kind_part(kind: EntityKind) -> [u8; 1] {
    [kind.code()]
}

/// Text with a NUL terminator, so a shorter text is never a prefix of a longer one's key.
pub(crate) fn text_part(text: &str) -> Vec<u8> {
    key_of(None, &[Part::Text(text)])
}

/// Decodes an entity reference from the front of `bytes`; returns it and the rest.
pub(crate) fn parse_entity_part(bytes: &[u8]) -> Option<(EntityRef, &[u8])> {
    let kind = *EntityKind::ALL.get(*bytes.first()? as usize)?;
    let end = bytes[1..].iter().position(|byte| *byte == 0)? + 1;
    let id = std::str::from_utf8(&bytes[1..end]).ok()?;
    Some((EntityRef::new(kind, id), &bytes[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A key built in one allocation is the same bytes as its parts built apart.
        #[test]
        fn a_key_of_parts_is_its_parts_one_after_another(
            table in proptest::option::of(any::<u8>()),
            kind in 0..EntityKind::ALL.len(),
            id in "[a-z0-9-]{1,20}",
            text in "\\PC{0,20}",
            bytes in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let reference = EntityRef::new(EntityKind::ALL[kind], id);
            let built = key_of(table, &[Part::Entity(&reference), Part::Text(&text), Part::Bytes(&bytes)]);
            let by_hand: Vec<u8> = table
                .into_iter()
                .chain([reference.kind.code()])
                .chain(reference.id.bytes())
                .chain([0])
                .chain(text.bytes())
                .chain([0])
                .chain(bytes.iter().copied())
                .collect();
            let apart = [table.into_iter().collect(), entity_part(&reference), text_part(&text), bytes.clone()].concat();
            prop_assert_eq!(&built, &by_hand);
            let parts = [Part::Entity(&reference), Part::Text(&text), Part::Bytes(&bytes)];
            prop_assert_eq!(with_key(table, &parts, <[u8]>::to_vec), built.clone());
            // A lookup inside a lookup builds its own key and leaves the outer one whole.
            let nested = with_key(table, &parts, |outer| {
                let inner = with_key(Some(b'x'), &[Part::Bytes(&bytes)], <[u8]>::to_vec);
                (outer.to_vec(), inner)
            });
            prop_assert_eq!(&nested.0, &built);
            prop_assert_eq!(nested.1, [&[b'x'][..], &bytes].concat());
            prop_assert_eq!(&built, &apart);
            prop_assert_eq!(built.capacity(), built.len());
            prop_assert_eq!(parse_entity_part(&entity_part(&reference)).map(|(parsed, _)| parsed), Some(reference));
        }
    }
}
