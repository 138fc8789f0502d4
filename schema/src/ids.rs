//! Typed identifiers, entity kinds, and references to entities and their versions.

use crate::error::Rejection;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::id_text::{IdText, ToIdText};

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// The longest name accepted, in characters.
pub const MAX_NAME_LEN: usize = 256;

/// Checks an id: 1 to 128 bytes of ASCII letters, digits and `. _ - : @ +`.
///
/// The rule is part of the stored format: ids are checked when old events are decoded,
/// so it may be loosened but never tightened.
pub fn check_id(kind: &'static str, text: &str) -> Result<(), Rejection> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-:@+".contains(c);
    if text.is_empty() || text.len() > MAX_ID_LEN || !text.chars().all(ok_char) {
        return Err(Rejection::InvalidInput {
            field: kind.to_string(),
            reason: format!("`{text}` is not a valid id: use 1 to {MAX_ID_LEN} letters, digits or `._-:@+`"),
        });
    }
    Ok(())
}

/// An id or name written in the source, known to be valid: fixtures, demo data and
/// benchmarks. Panics on an invalid one, which is a programming error there.
pub fn literal<T: TryFrom<String>>(text: &str) -> T
where
    T::Error: fmt::Debug,
{
    T::try_from(text.to_string()).unwrap_or_else(|error| panic!("`{text}` is not valid: {error:?}"))
}

/// An id as given — bare (`r-1`) or as an entity's global id (`run/r-1`), for one of the
/// `kinds` the id may name — without its kind. Another kind's global id is refused,
/// saying which kinds fit.
fn without_kind<'a>(label: &'static str, kinds: &[&str], text: &'a str) -> Result<&'a str, Rejection> {
    let Some((kind, id)) = text.split_once('/') else {
        return Ok(text);
    };
    if kinds.contains(&kind) {
        return Ok(id);
    }
    if EntityKind::from_label(kind).is_some() && !kinds.is_empty() {
        let fits: Vec<String> = kinds.iter().map(|kind| format!("`{kind}/…`")).collect();
        return Err(Rejection::InvalidInput {
            field: label.to_string(),
            reason: format!(
                "`{text}` names {} {kind}, not {} {label}: give the bare id or {}",
                article(kind),
                article(label),
                fits.join(" or ")
            ),
        });
    }
    Ok(text)
}

/// `a` or `an`, as `word` wants.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal, [$($kind:literal),*]) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(IdText);

        impl Serialize for $name {
            // As the string it holds, lent: `into = "String"` cloned it for every value
            // written (ids are in every event and entity).
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            // Read as an `IdText`, which keeps a short id inline without a `String` first.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = IdText::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            /// Checks and wraps an id, given bare or as the global id of its kind
            /// (`run/r-1` for a run id: one form of id everywhere).
            pub fn new(text: impl ToIdText) -> Result<Self, Rejection> {
                let text = text.to_id_text();
                let bare = without_kind($label, &[$($kind),*], &text)?;
                check_id($label, bare)?;
                if bare.len() == text.len() {
                    Ok(Self(text))
                } else {
                    Ok(Self(IdText::new(bare)))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Rejection;
            fn try_from(text: String) -> Result<Self, Rejection> {
                Self::new(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.into()
            }
        }

        impl ToIdText for $name {
            fn to_id_text(self) -> IdText {
                self.0
            }
        }

        impl ToIdText for &$name {
            fn to_id_text(self) -> IdText {
                self.0.clone()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(/// A user or service principal that acts.
    PrincipalId, "principal", ["principal"]);
id_type!(/// A subscription: the root of ownership.
    SubscriptionId, "subscription", ["subscription"]);
id_type!(/// An experimentation account or a model management account.
    AccountId, "account", ["experimentation-account", "model-management-account"]);
id_type!(/// A workspace inside an experimentation account.
    WorkspaceId, "workspace", ["workspace"]);
id_type!(/// A project inside a workspace.
    ProjectId, "project", ["project"]);
id_type!(/// An experiment inside a project.
    ExperimentId, "experiment", ["experiment"]);
id_type!(/// A compute target attached to an experimentation account.
    ComputeTargetId, "compute target", ["compute-target"]);
id_type!(/// One execution of an experiment.
    RunId, "run", ["run"]);
id_type!(/// A dataset or data source that runs read and write.
    DatasetId, "dataset", ["dataset"]);
id_type!(/// A managed model (its versions are numbered inside it).
    ModelId, "model", ["model"]);
id_type!(/// A manifest (its versions are numbered inside it).
    ManifestId, "manifest", ["manifest"]);
id_type!(/// A container image (its versions are numbered inside it).
    ImageId, "image", ["image"]);
id_type!(/// An environment that services run in.
    EnvironmentId, "environment", ["environment"]);
id_type!(/// A web service.
    ServiceId, "service", ["service"]);
id_type!(/// An idempotency key: appending the same event id twice stores it once.
    EventId, "event id", []);
id_type!(/// An API token (its id; the secret itself is never stored).
    TokenId, "token", []);

/// A checked human-readable name: 1 to 256 characters, no control characters,
/// no leading or trailing white space.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Name {
    pub fn new(text: impl Into<String>) -> Result<Self, Rejection> {
        let text = text.into();
        let count = text.chars().count();
        let reason = if count == 0 {
            Some("must not be empty".to_string())
        } else if count > MAX_NAME_LEN {
            Some(format!("is longer than {MAX_NAME_LEN} characters"))
        } else if text.chars().any(char::is_control) {
            Some("must not contain control characters".to_string())
        } else if text.trim() != text {
            Some("must not start or end with white space".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Rejection::InvalidInput {
                field: "name".into(),
                reason: format!("name `{}` {reason}", text.escape_debug()),
            }),
            None => Ok(Self(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = Rejection;
    fn try_from(text: String) -> Result<Self, Rejection> {
        Self::new(text)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A blake3 digest: event hashes, artifact and source digests.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub const ZERO: Digest = Digest([0; 32]);

    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(text: &str) -> Result<Self, Rejection> {
        blake3::Hash::from_hex(text)
            .map(|hash| Self(*hash.as_bytes()))
            .map_err(|_| Rejection::InvalidInput {
                field: "digest".into(),
                reason: format!("`{text}` is not 64 hexadecimal digits"),
            })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..12])
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // Hex on the stack: every transparency-log entry writes two or more digests.
            serializer.serialize_str(blake3::Hash::from_bytes(self.0).to_hex().as_str())
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Digest::from_hex(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Digest)
        }
    }
}

/// Every kind of entity Lineage knows. The order is stable: it is part of stored keys.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum EntityKind {
    Principal,
    Subscription,
    ExperimentationAccount,
    ModelManagementAccount,
    Workspace,
    Project,
    Experiment,
    ComputeTarget,
    Run,
    Dataset,
    Model,
    Manifest,
    Image,
    Environment,
    Service,
}

impl EntityKind {
    pub const ALL: [EntityKind; 15] = [
        EntityKind::Principal,
        EntityKind::Subscription,
        EntityKind::ExperimentationAccount,
        EntityKind::ModelManagementAccount,
        EntityKind::Workspace,
        EntityKind::Project,
        EntityKind::Experiment,
        EntityKind::ComputeTarget,
        EntityKind::Run,
        EntityKind::Dataset,
        EntityKind::Model,
        EntityKind::Manifest,
        EntityKind::Image,
        EntityKind::Environment,
        EntityKind::Service,
    ];

    /// The short lowercase label used in stream names and on the command line.
    pub fn label(self) -> &'static str {
        match self {
            EntityKind::Principal => "principal",
            EntityKind::Subscription => "subscription",
            EntityKind::ExperimentationAccount => "experimentation-account",
            EntityKind::ModelManagementAccount => "model-management-account",
            EntityKind::Workspace => "workspace",
            EntityKind::Project => "project",
            EntityKind::Experiment => "experiment",
            EntityKind::ComputeTarget => "compute-target",
            EntityKind::Run => "run",
            EntityKind::Dataset => "dataset",
            EntityKind::Model => "model",
            EntityKind::Manifest => "manifest",
            EntityKind::Image => "image",
            EntityKind::Environment => "environment",
            EntityKind::Service => "service",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.label() == label)
    }

    /// One byte for keys, stable forever.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0) as u8
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A reference to one entity; also the name of its event stream (`run/r-17`).
///
/// Binary encodings store the kind and the id; human-readable ones (JSON) the text
/// `kind/id`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: IdText,
}

/// The binary shape of an `EntityRef`, fixed forever (it is inside every envelope).
#[derive(Deserialize)]
struct StoredEntityRef {
    kind: EntityKind,
    id: IdText,
}

/// The same shape, written from a lent id.
#[derive(Serialize)]
struct LentEntityRef<'a> {
    kind: EntityKind,
    id: &'a str,
}

impl Serialize for EntityRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            // `kind/id` on the stack: every transparency-log entry writes two or more.
            let mut text = [0u8; 32 + MAX_ID_LEN];
            let label = self.kind.label().as_bytes();
            let id = self.id.as_bytes();
            let len = label.len() + 1 + id.len();
            if len > text.len() {
                return serializer.serialize_str(&self.to_string());
            }
            text[..label.len()].copy_from_slice(label);
            text[label.len()] = b'/';
            text[label.len() + 1..len].copy_from_slice(id);
            match std::str::from_utf8(&text[..len]) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.serialize_str(&self.to_string()),
            }
        } else {
            LentEntityRef {
                kind: self.kind,
                id: &self.id,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for EntityRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            EntityRef::parse(&text).map_err(serde::de::Error::custom)
        } else {
            let stored = StoredEntityRef::deserialize(deserializer)?;
            Ok(EntityRef {
                kind: stored.kind,
                id: stored.id,
            })
        }
    }
}

impl EntityRef {
    /// An entity's reference; its id copied as it is (ids are made into references for
    /// nearly every lookup, and `Display` formatting cost a growing `String` each time).
    /// A typed id or an [`IdText`] is shared, never copied onto the heap.
    pub fn new(kind: EntityKind, id: impl ToIdText) -> Self {
        Self {
            kind,
            id: id.to_id_text(),
        }
    }

    /// Parses `kind/id`, as printed by `Display`.
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let invalid = || Rejection::InvalidInput {
            field: "stream".into(),
            reason: format!("`{text}` is not `kind/id` (e.g. `run/r-17`)"),
        };
        let (kind, id) = text.split_once('/').ok_or_else(invalid)?;
        let kind = EntityKind::from_label(kind).ok_or_else(invalid)?;
        check_id("id", id)?;
        Ok(Self::new(kind, id))
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

impl fmt::Debug for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! version_ref {
    ($(#[$doc:meta])* $name:ident, $field:ident: $id:ty) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
        pub struct $name {
            pub $field: $id,
            pub version: u32,
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}@{}", self.$field, self.version)
            }
        }
    };
}

version_ref!(/// One version of a model.
    ModelVersionRef, model: ModelId);
version_ref!(/// One version of a manifest.
    ManifestVersionRef, manifest: ManifestId);
version_ref!(/// One version of an image.
    ImageVersionRef, image: ImageId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_taken_bare_or_as_its_kinds_global_id() {
        assert_eq!(RunId::new("run/r-1").unwrap(), RunId::new("r-1").unwrap());
        assert_eq!(
            AccountId::new("experimentation-account/acct-1").unwrap().as_str(),
            "acct-1"
        );
        assert_eq!(
            AccountId::new("model-management-account/acct-1").unwrap().as_str(),
            "acct-1"
        );
        let wrong = AccountId::new("model/m-1").unwrap_err().to_string();
        assert!(
            wrong.contains("`model/m-1` names a model, not an account")
                && wrong.contains("`experimentation-account/…` or `model-management-account/…`"),
            "{wrong}"
        );
        assert!(EventId::new("run/r-1").is_err(), "keys have no kind");
    }

    #[test]
    fn ids_are_checked() {
        assert!(RunId::new("r-17").is_ok());
        assert!(RunId::new("").is_err());
        assert!(RunId::new("a/b").is_err());
        assert!(RunId::new("x".repeat(129)).is_err());
        assert!(serde_json::from_str::<RunId>("\"has space\"").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(Name::new("Churn model").is_ok());
        assert!(Name::new(" padded").is_err());
        assert!(Name::new("line\nbreak").is_err());
        assert!(Name::new("").is_err());
    }

    #[test]
    fn entity_refs_round_trip_through_text() {
        for kind in EntityKind::ALL {
            let reference = EntityRef::new(kind, "x-1");
            assert_eq!(EntityRef::parse(&reference.to_string()).unwrap(), reference);
        }
        assert!(EntityRef::parse("nonsense").is_err());
        assert!(EntityRef::parse("planet/x").is_err());
    }

    #[test]
    fn entity_refs_are_text_in_json() {
        let reference = EntityRef::new(EntityKind::Service, "svc-1");
        assert_eq!(serde_json::to_string(&reference).unwrap(), "\"service/svc-1\"");
        assert_eq!(
            serde_json::from_str::<EntityRef>("\"service/svc-1\"").unwrap(),
            reference
        );
        assert!(serde_json::from_str::<EntityRef>("\"planet/x\"").is_err());
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let digest = Digest::of(b"model.pkl");
        assert_eq!(Digest::from_hex(&digest.to_hex()).unwrap(), digest);
        assert!(Digest::from_hex("zz").is_err());
    }
}
