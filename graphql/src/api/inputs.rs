//! The GraphQL input objects, one per command, built from the schema crate's payload
//! structs field for field. Each serializes (serde) to exactly the JSON shape of the
//! command's payload, so turning an input into a command is one `serde_json` round trip
//! through the schema crate's own checks (ids, names, digests).

use async_graphql::{Enum, InputObject, InputType};
use lineage_schema::{event, ids};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

macro_rules! inputs {
    ($($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? })*) => {
        $(
            $(#[$doc])*
            #[derive(InputObject, Serialize, Clone, Debug)]
            pub(crate) struct $name { $(pub(crate) $field: $ty,)* }
        )*
    };
}

// The schema crate's enum seen by GraphQL: `remote` derives the conversions both
// ways, so a variant added there and not here (or the reverse) does not compile.
#[derive(Enum, Serialize, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "lineage_schema::event::Tier")]
pub enum Tier {
    DevTest,
    S1,
    S2,
    S3,
}

/// What a principal may do in an account.
// The schema crate's enum seen by GraphQL: `remote` derives the conversions both
// ways, so a variant added there and not here (or the reverse) does not compile.
#[derive(Enum, Serialize, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "lineage_schema::event::Role")]
pub enum Role {
    Owner,
    Contributor,
    Reader,
    Auditor,
    BillingReader,
}

// The schema crate's enum seen by GraphQL: `remote` derives the conversions both
// ways, so a variant added there and not here (or the reverse) does not compile.
#[derive(Enum, Serialize, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "lineage_schema::event::Language")]
pub enum Language {
    Python,
    PySpark,
}

/// How a logged model's upload ended.
// The schema crate's enum seen by GraphQL: `remote` derives the conversions both
// ways, so a variant added there and not here (or the reverse) does not compile.
#[derive(Enum, Serialize, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "lineage_schema::event::LoggedModelStatus")]
pub enum LoggedModelStatus {
    Ready,
    Failed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ComputeKindName {
    Local,
    Docker,
    RemoteVm,
    SparkCluster,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EnvironmentKindName {
    Local,
    Vm,
    Kubernetes,
}

/// Where runs execute: `LOCAL`; `DOCKER` with `image`; `REMOTE_VM` with `address`;
/// `SPARK_CLUSTER` with `master`.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct ComputeKindInput {
    pub kind: ComputeKindName,
    pub image: Option<String>,
    pub address: Option<String>,
    pub master: Option<String>,
}

/// Serializes one externally tagged variant with a single field (`{"Docker": {"image": …}}`).
fn variant<S: Serializer>(serializer: S, name: &str, field: &str, value: &Option<String>) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(name, &json!({ field: value }))?;
    map.end()
}

impl Serialize for ComputeKindInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.kind {
            ComputeKindName::Local => serializer.serialize_str("Local"),
            ComputeKindName::Docker => variant(serializer, "Docker", "image", &self.image),
            ComputeKindName::RemoteVm => variant(serializer, "RemoteVm", "address", &self.address),
            ComputeKindName::SparkCluster => variant(serializer, "SparkCluster", "master", &self.master),
        }
    }
}

/// Where services run: `LOCAL`; `VM` with `address`; `KUBERNETES` with `cluster`.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct EnvironmentKindInput {
    pub kind: EnvironmentKindName,
    pub address: Option<String>,
    pub cluster: Option<String>,
}

impl Serialize for EnvironmentKindInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.kind {
            EnvironmentKindName::Local => serializer.serialize_str("Local"),
            EnvironmentKindName::Vm => variant(serializer, "Vm", "address", &self.address),
            EnvironmentKindName::Kubernetes => variant(serializer, "Kubernetes", "cluster", &self.cluster),
        }
    }
}

/// Where a model version came from: a `run` (with the `artifactPath` of the model file in
/// it), or, with no run, the location it was `uploadedFrom` (and its blake3 `digest`).
#[derive(InputObject, Clone, Debug)]
pub(crate) struct ModelSourceInput {
    pub run: Option<String>,
    pub artifact_path: Option<String>,
    pub uploaded_from: Option<String>,
    pub digest: Option<String>,
}

impl Serialize for ModelSourceInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value: Value = match &self.run {
            Some(run) => json!({ "Run": { "run": run, "artifact_path": self.artifact_path } }),
            None => json!({ "Uploaded": { "location": self.uploaded_from, "digest": self.digest } }),
        };
        value.serialize(serializer)
    }
}

inputs! {
    PlanInput { tier: Tier, units: u32 }
    KeyValueInput { key: String, value: String }
    /// `timestamp` is RFC 3339.
    MetricPointInput { name: String, value: f64, step: i64, timestamp: String }
    /// `digest` is blake3, 64 hexadecimal digits.
    ArtifactInput { path: String, size: u64, digest: String }
    ModelVersionRefInput { model: String, version: u32 }
    ManifestVersionRefInput { manifest: String, version: u32 }
    ImageVersionRefInput { image: String, version: u32 }
    SchemaFieldInput { name: String, data_type: String, description: Option<String> }
}

/// The GraphQL input type that stands for a schema-crate type in a command's fields: ids,
/// names, digests and times are strings (checked when the input becomes the command).
pub(crate) trait AsInput {
    type Input: InputType + Serialize + Clone + std::fmt::Debug;
}

macro_rules! as_input {
    ($($schema:ty => $input:ty),* $(,)?) => {
        $(impl AsInput for $schema { type Input = $input; })*
    };
}

as_input! {
    String => String, u32 => u32, u64 => u64, i64 => i64, f64 => f64,
    ids::AccountId => String, ids::ComputeTargetId => String, ids::DatasetId => String,
    ids::EnvironmentId => String, ids::ExperimentId => String, ids::ImageId => String,
    ids::ManifestId => String, ids::ModelId => String, ids::Name => String,
    ids::PrincipalId => String, ids::ProjectId => String, ids::RunId => String,
    ids::ServiceId => String, ids::SubscriptionId => String, ids::WorkspaceId => String,
    ids::Digest => String, lineage_schema::Timestamp => String,
    event::Tier => Tier, event::Role => Role, event::Language => Language,
    event::LoggedModelStatus => LoggedModelStatus,
    event::Plan => PlanInput, event::Param => KeyValueInput, event::Tag => KeyValueInput,
    event::MetricPoint => MetricPointInput, event::Artifact => ArtifactInput,
    event::SchemaField => SchemaFieldInput, event::ModelSource => ModelSourceInput,
    event::ComputeKind => ComputeKindInput, event::EnvironmentKind => EnvironmentKindInput,
    ids::ModelVersionRef => ModelVersionRefInput, ids::ManifestVersionRef => ManifestVersionRefInput,
    ids::ImageVersionRef => ImageVersionRefInput,
}

impl<T: AsInput> AsInput for Option<T> {
    type Input = Option<T::Input>;
}

impl<T: AsInput> AsInput for Vec<T> {
    type Input = Vec<T::Input>;
}

/// One command's input object, its fields those of the command's payload struct (handed
/// over by the schema crate's `event_fields!`/`command_fields!`), each as its `AsInput`.
macro_rules! command_input {
    ($command:ident $doc:expr, { $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* }) => {
        pastey::paste! {
            #[doc = $doc]
            #[derive(InputObject, Serialize, Clone, Debug)]
            pub(crate) struct [<$command Input>] {
                $( $(#[$field_meta])* pub(crate) $field: <$ty as AsInput>::Input, )*
            }
        }
    };
}

/// An input object per command of the schema crate's list; the access commands have
/// hand-made mutations and no input object.
macro_rules! command_inputs {
    (
        same: { $($variant:ident($payload:ident)),* $(,)? }
        access: { $($access:ident($access_payload:ident)),* $(,)? }
        numbered: { $($numbered:ident => $kind:ident . $field:ident),* $(,)? }
    ) => {
        $( lineage_schema::event_fields!($payload, command_input! {
            $variant concat!("The `", stringify!($variant), "` command: the fields of the `", stringify!($payload), "` event it records."),
        }); )*
        $( lineage_schema::command_fields!($numbered, command_input! {
            $numbered concat!("The `", stringify!($numbered), "` command; the store numbers the new version."),
        }); )*
    };
}

/// The payloads' field types are named as the schema crate names them, so the inputs are
/// made where those names are in scope (and the GraphQL enums of the same names are not).
mod commands {
    use super::AsInput;
    use async_graphql::InputObject;
    use lineage_schema::event::*;
    use lineage_schema::ids::*;
    use lineage_schema::Timestamp;
    use serde::Serialize;

    lineage_schema::for_each_command!(command_inputs);
}

pub(crate) use commands::*;
