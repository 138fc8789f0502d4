//! The event payload structs, one per fact. They are written inside `payloads!`, which
//! also exports `event_fields!` (which asks `tracking_fields!` of those in `tracking`): the
//! GraphQL input objects are built from these fields.

use super::values::*;
use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

payloads! {
    $ event_fields else tracking_fields;

    // --- Principals, subscriptions and accounts -------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct PrincipalRegistered {
        pub principal: PrincipalId,
        pub name: Name,
        pub email: String,
    }

    /// The acting principal becomes the subscription's owner.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct SubscriptionCreated {
        pub subscription: SubscriptionId,
        pub name: Name,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentationAccountCreated {
        pub account: AccountId,
        pub subscription: SubscriptionId,
        pub name: Name,
        pub region: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct SeatAssigned {
        pub account: AccountId,
        pub principal: PrincipalId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct SeatRevoked {
        pub account: AccountId,
        pub principal: PrincipalId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelManagementAccountCreated {
        pub account: AccountId,
        pub subscription: SubscriptionId,
        pub name: Name,
        pub region: String,
        pub plan: Plan,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelManagementPlanChanged {
        pub account: AccountId,
        pub plan: Plan,
    }

    // --- Workspaces, projects, experiments ------------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct WorkspaceCreated {
        pub workspace: WorkspaceId,
        pub account: AccountId,
        pub name: Name,
        pub description: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct WorkspaceAccessGranted {
        pub workspace: WorkspaceId,
        pub principal: PrincipalId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct WorkspaceAccessRevoked {
        pub workspace: WorkspaceId,
        pub principal: PrincipalId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ProjectCreated {
        pub project: ProjectId,
        pub workspace: WorkspaceId,
        pub name: Name,
        /// The project's folder.
        pub path: String,
        /// The git repository the folder is, if any.
        pub repository: Option<String>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentCreated {
        pub experiment: ExperimentId,
        pub project: ProjectId,
        pub name: Name,
        pub entry_point: String,
        pub language: Language,
        /// blake3 over the experiment's source files, 64 hexadecimal digits.
        pub source_digest: Digest,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentRevised {
        pub experiment: ExperimentId,
        pub entry_point: String,
        pub source_digest: Digest,
    }

    // --- Compute targets and datasets ------------------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ComputeTargetAttached {
        pub target: ComputeTargetId,
        pub account: AccountId,
        pub name: Name,
        pub kind: ComputeKind,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ComputeTargetDetached {
        pub target: ComputeTargetId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct DatasetRegistered {
        pub dataset: DatasetId,
        pub account: AccountId,
        pub name: Name,
        pub location: String,
        pub version: Option<String>,
        /// A content digest in the source's own notation (`sha256:…`, a blake3 hex, …).
        pub digest: Option<String>,
    }

    // --- Runs -------------------------------------------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunQueued {
        pub run: RunId,
        pub experiment: ExperimentId,
        pub compute_target: ComputeTargetId,
        pub parent: Option<RunId>,
    }

    /// A run started on a compute target at a code revision. A run may start without
    /// having been queued (imported runs usually do).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunStarted {
        pub run: RunId,
        pub experiment: ExperimentId,
        pub compute_target: ComputeTargetId,
        /// The code revision (a git commit, or the experiment's source digest).
        pub revision: String,
        pub parent: Option<RunId>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ParamsLogged {
        pub run: RunId,
        pub params: Vec<Param>,
    }

    #[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
    pub struct MetricsLogged {
        pub run: RunId,
        pub points: Vec<MetricPoint>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunTagsSet {
        pub run: RunId,
        pub tags: Vec<Tag>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ArtifactsRecorded {
        pub run: RunId,
        pub artifacts: Vec<Artifact>,
    }

    /// The run read these datasets.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunInputsRecorded {
        pub run: RunId,
        pub datasets: Vec<DatasetId>,
    }

    /// The run wrote these datasets.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunOutputsRecorded {
        pub run: RunId,
        pub datasets: Vec<DatasetId>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunCompleted {
        pub run: RunId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunFailed {
        pub run: RunId,
        pub reason: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunCanceled {
        pub run: RunId,
    }

    // --- Models, manifests, images ----------------------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelCreated {
        pub model: ModelId,
        pub account: AccountId,
        pub name: Name,
        pub description: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelVersionRegistered {
        pub model: ModelId,
        pub version: u32,
        pub source: ModelSource,
        /// The earlier version this one retrains, if any.
        pub derived_from: Option<ModelVersionRef>,
        pub tags: Vec<Tag>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelVersionTagsSet {
        pub model: ModelId,
        pub version: u32,
        pub tags: Vec<Tag>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ManifestCreated {
        pub manifest: ManifestId,
        pub account: AccountId,
        pub name: Name,
    }

    /// A manifest version: the recipe for an image.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ManifestVersionAdded {
        pub manifest: ManifestId,
        pub version: u32,
        pub models: Vec<ModelVersionRef>,
        /// Package dependencies (`scikit-learn==1.5.0`, a conda file path, …).
        pub dependencies: Vec<String>,
        pub scoring_script: String,
        /// The service's input/output schema, as the user supplied it.
        pub schema: Option<String>,
        pub sample_data: Option<String>,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ImageCreated {
        pub image: ImageId,
        pub account: AccountId,
        pub name: Name,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ImageBuildStarted {
        pub image: ImageId,
        pub version: u32,
        pub manifest: ManifestVersionRef,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ImageBuilt {
        pub image: ImageId,
        pub version: u32,
        /// The container registry digest (`sha256:…`).
        pub digest: String,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ImageBuildFailed {
        pub image: ImageId,
        pub version: u32,
        pub reason: String,
    }

    // --- Environments and services -----------------------------------------------------------

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct EnvironmentCreated {
        pub environment: EnvironmentId,
        pub account: AccountId,
        pub name: Name,
        pub kind: EnvironmentKind,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct EnvironmentDeleted {
        pub environment: EnvironmentId,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ServiceDeployed {
        pub service: ServiceId,
        pub account: AccountId,
        pub name: Name,
        pub image: ImageVersionRef,
        pub environment: EnvironmentId,
        pub url: String,
        pub replicas: u32,
    }

    /// The service now runs another image version (it stopped running the previous one).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ServiceUpdated {
        pub service: ServiceId,
        pub image: ImageVersionRef,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ServiceScaled {
        pub service: ServiceId,
        pub replicas: u32,
    }

    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ServiceDeleted {
        pub service: ServiceId,
    }

    /// A performance signal observed on a service (latency, error rate, accuracy, …).
    #[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
    pub struct ServiceMetricRecorded {
        pub service: ServiceId,
        pub name: String,
        pub value: f64,
        /// When it was observed (RFC 3339 in the API).
        pub observed_at: Timestamp,
    }

    /// Data drift on one input feature crossed its threshold.
    #[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
    pub struct DriftAlertRaised {
        pub service: ServiceId,
        pub feature: String,
        pub score: f64,
        pub threshold: f64,
        /// When it was observed (RFC 3339 in the API).
        pub observed_at: Timestamp,
    }

    // --- Access ---------------------------------------------------------------------------------

    /// An API token was issued to a principal. Only the blake3 hash of its secret is
    /// recorded; the secret is shown once to whoever asked for it and kept nowhere.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct TokenIssued {
        pub principal: PrincipalId,
        pub token: TokenId,
        pub hash: Digest,
        pub label: String,
    }

    /// A token stopped working.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct TokenRevoked {
        pub principal: PrincipalId,
        pub token: TokenId,
    }

    /// A principal became an administrator of the whole store.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct AdministratorDesignated {
        pub principal: PrincipalId,
    }


    /// A principal was given a role in an account.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RoleGranted {
        pub principal: PrincipalId,
        pub account: AccountId,
        pub role: Role,
    }

    /// A principal lost a role in an account.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RoleRevoked {
        pub principal: PrincipalId,
        pub account: AccountId,
        pub role: Role,
    }

    // --- Added in format 1, later: deletion, tags, aliases, schemas --------------------------

    /// Tags were set on an experiment (a key set again takes the new value).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentTagsSet {
        pub experiment: ExperimentId,
        pub tags: Vec<Tag>,
    }

    /// An experiment was deleted: it and its runs are kept for history and lineage, and its
    /// name stays taken so that it can be restored.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentDeleted {
        pub experiment: ExperimentId,
    }

    /// A deleted experiment was restored.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentRestored {
        pub experiment: ExperimentId,
    }

    /// A run was deleted: it is kept for history and lineage, hidden from live views.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunDeleted {
        pub run: RunId,
    }

    /// A deleted run was restored.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunRestored {
        pub run: RunId,
    }

    /// Tags were set on a model (not on one of its versions).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelTagsSet {
        pub model: ModelId,
        pub tags: Vec<Tag>,
    }

    /// An alias (`champion`) now names this version of the model, moving from any other.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelAliasSet {
        pub model: ModelId,
        pub alias: String,
        pub version: u32,
    }

    /// An alias no longer names any version of the model.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelAliasRemoved {
        pub model: ModelId,
        pub alias: String,
    }


    /// A dataset's schema was recorded (replacing any earlier one).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct DatasetSchemaRecorded {
        pub dataset: DatasetId,
        pub fields: Vec<SchemaField>,
    }

    // --- Added in format 1, later: what MLflow clients do ---------------------------------

    /// An experiment got a new name; its id, runs and history stay.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ExperimentRenamed {
        pub experiment: ExperimentId,
        pub name: Name,
    }

    /// A tag was taken off a run.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunTagDeleted {
        pub run: RunId,
        pub key: String,
    }

    /// A model got a new name in its account; its id, versions and history stay.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelRenamed {
        pub model: ModelId,
        pub name: Name,
    }

    /// A model's description was replaced.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelDescribed {
        pub model: ModelId,
        pub description: String,
    }

    /// A tag was taken off a model (not off one of its versions).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelTagDeleted {
        pub model: ModelId,
        pub key: String,
    }

    /// A tag was taken off one version of a model.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelVersionTagDeleted {
        pub model: ModelId,
        pub version: u32,
        pub key: String,
    }

    /// A run's artifacts at these paths, and under them, were deleted; the events that
    /// recorded them, with their digests, stay in history.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ArtifactsDeleted {
        pub run: RunId,
        pub paths: Vec<String>,
    }

    /// A registered model was deleted: its name is free again; its history, and the
    /// lineage of what used its versions, stay.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelDeleted {
        pub model: ModelId,
    }

    /// One version of a model was deleted (its number is not reused; aliases naming it go).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelVersionDeleted {
        pub model: ModelId,
        pub version: u32,
    }

    /// A model version's description was replaced.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelVersionDescribed {
        pub model: ModelId,
        pub version: u32,
        pub description: String,
    }

    /// A principal became an auditor of the whole store: it may read the transparency log
    /// (`/tlog/…`) and the export, which span every account, and change nothing.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct StoreAuditorDesignated {
        pub principal: PrincipalId,
    }

    /// A principal stopped being an auditor of the whole store.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct StoreAuditorDismissed {
        pub principal: PrincipalId,
    }
}
