//! The GraphQL input objects, one per command. Each serializes (serde) to exactly the
//! JSON shape of the command's payload, so turning an input into a command is one
//! `serde_json` round trip through the schema crate's own checks (ids, names, digests).

use async_graphql::{Enum, InputObject};
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
pub(super) struct ComputeKindInput {
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
pub(super) struct EnvironmentKindInput {
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
pub(super) struct ModelSourceInput {
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

    RegisterPrincipalInput { principal: String, name: String, email: String }
    /// By an administrator, the owner of the account's subscription, or an owner of the account.
    GrantRoleInput { principal: String, account: String, role: Role }
    RevokeRoleInput { principal: String, account: String, role: Role }
    /// The acting principal becomes the subscription's owner.
    CreateSubscriptionInput { subscription: String, name: String }
    CreateExperimentationAccountInput { account: String, subscription: String, name: String, region: String }
    AssignSeatInput { account: String, principal: String }
    RevokeSeatInput { account: String, principal: String }
    CreateModelManagementAccountInput { account: String, subscription: String, name: String, region: String, plan: PlanInput }
    ChangeModelManagementPlanInput { account: String, plan: PlanInput }
    CreateWorkspaceInput { workspace: String, account: String, name: String, description: String }
    GrantWorkspaceAccessInput { workspace: String, principal: String }
    RevokeWorkspaceAccessInput { workspace: String, principal: String }
    CreateProjectInput { project: String, workspace: String, name: String, path: String, repository: Option<String> }
    /// `source_digest` is blake3 over the experiment's source files, 64 hexadecimal digits.
    CreateExperimentInput { experiment: String, project: String, name: String, entry_point: String, language: Language, source_digest: String }
    ReviseExperimentInput { experiment: String, entry_point: String, source_digest: String }
    AttachComputeTargetInput { target: String, account: String, name: String, kind: ComputeKindInput }
    DetachComputeTargetInput { target: String }
    RegisterDatasetInput { dataset: String, account: String, name: String, location: String, version: Option<String>, digest: Option<String> }
    QueueRunInput { run: String, experiment: String, compute_target: String, parent: Option<String> }
    StartRunInput { run: String, experiment: String, compute_target: String, revision: String, parent: Option<String> }
    LogParamsInput { run: String, params: Vec<KeyValueInput> }
    LogMetricsInput { run: String, points: Vec<MetricPointInput> }
    SetRunTagsInput { run: String, tags: Vec<KeyValueInput> }
    RecordArtifactsInput { run: String, artifacts: Vec<ArtifactInput> }
    RecordRunInputsInput { run: String, datasets: Vec<String> }
    RecordRunOutputsInput { run: String, datasets: Vec<String> }
    CompleteRunInput { run: String }
    FailRunInput { run: String, reason: String }
    CancelRunInput { run: String }
    CreateModelInput { model: String, account: String, name: String, description: String }
    RegisterModelVersionInput { model: String, source: ModelSourceInput, derived_from: Option<ModelVersionRefInput>, tags: Vec<KeyValueInput> }
    SetModelVersionTagsInput { model: String, version: u32, tags: Vec<KeyValueInput> }
    CreateManifestInput { manifest: String, account: String, name: String }
    AddManifestVersionInput { manifest: String, models: Vec<ModelVersionRefInput>, dependencies: Vec<String>, scoring_script: String, schema: Option<String>, sample_data: Option<String> }
    CreateImageInput { image: String, account: String, name: String }
    StartImageBuildInput { image: String, manifest: ManifestVersionRefInput }
    RecordImageBuiltInput { image: String, version: u32, digest: String }
    RecordImageBuildFailedInput { image: String, version: u32, reason: String }
    CreateEnvironmentInput { environment: String, account: String, name: String, kind: EnvironmentKindInput }
    DeleteEnvironmentInput { environment: String }
    DeployServiceInput { service: String, account: String, name: String, image: ImageVersionRefInput, environment: String, url: String, replicas: u32 }
    UpdateServiceInput { service: String, image: ImageVersionRefInput }
    ScaleServiceInput { service: String, replicas: u32 }
    DeleteServiceInput { service: String }
    /// `observed_at` is RFC 3339.
    RecordServiceMetricInput { service: String, name: String, value: f64, observed_at: String }
    /// `observed_at` is RFC 3339.
    RaiseDriftAlertInput { service: String, feature: String, score: f64, threshold: f64, observed_at: String }
    SetExperimentTagsInput { experiment: String, tags: Vec<KeyValueInput> }
    /// The experiment and its runs stay in history and lineage; its name stays taken.
    DeleteExperimentInput { experiment: String }
    RestoreExperimentInput { experiment: String }
    /// The run stays in history and lineage, hidden from live lists.
    DeleteRunInput { run: String }
    RestoreRunInput { run: String }
    SetModelTagsInput { model: String, tags: Vec<KeyValueInput> }
    /// Points `alias` at `version`, moving it from any other version.
    SetModelAliasInput { model: String, alias: String, version: u32 }
    RemoveModelAliasInput { model: String, alias: String }
    SchemaFieldInput { name: String, data_type: String, description: Option<String> }
    /// Replaces the dataset's recorded schema.
    RecordDatasetSchemaInput { dataset: String, fields: Vec<SchemaFieldInput> }
}
