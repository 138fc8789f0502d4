//! Byte keys for the derived trees. Every key starts with one ASCII letter naming its table.

use lineage_schema::{EntityKind, EntityRef};

/// `kind code` + id + NUL: sorts entities of one kind together, ids never contain NUL.
pub(crate) fn entity_part(reference: &EntityRef) -> Vec<u8> {
    let mut key = Vec::with_capacity(reference.id.len() + 2);
    key.push(reference.kind.code());
    key.extend_from_slice(reference.id.as_bytes());
    key.push(0);
    key
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
    let mut part = text.as_bytes().to_vec();
    part.push(0);
    part
}

/// Decodes an entity reference from the front of `bytes`; returns it and the rest.
pub(crate) fn parse_entity_part(bytes: &[u8]) -> Option<(EntityRef, &[u8])> {
    let kind = *EntityKind::ALL.get(*bytes.first()? as usize)?;
    let end = bytes[1..].iter().position(|byte| *byte == 0)? + 1;
    let id = std::str::from_utf8(&bytes[1..end]).ok()?;
    Some((EntityRef::new(kind, id), &bytes[end + 1..]))
}
