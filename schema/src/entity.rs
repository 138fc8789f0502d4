//! The current-state read model: one `Entity` per id, as the state projection keeps it.
//!
//! These types are derived data (rebuildable from the log), so unlike events they may
//! change shape freely between releases.

use crate::event::*;
use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Who changed an entity, when, and at which log position.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Stamp {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: PrincipalId,
}

/// An entity's current state.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Entity {
    pub reference: EntityRef,
    pub name: String,
    /// The scope it lives in (an account's subscription, a project's workspace, …).
    pub parent: Option<EntityRef>,
    pub account: Option<AccountId>,
    /// The stream's version: how many events it has.
    pub version: u64,
    pub created: Stamp,
    pub updated: Stamp,
    /// Deleted, detached or revoked: kept for history, gone from live views.
    pub deleted: bool,
    pub detail: Detail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Canceled,
}

impl RunStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed | RunStatus::Canceled)
    }

    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
        }
    }
}

/// Whether an artifact at `path` is `folder` itself or inside it (`a/b` is under `a`, not
/// under `a/b2`'s `a/b`).
pub fn under(path: &str, folder: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    folder.is_empty() || path == folder || path.strip_prefix(folder).is_some_and(|rest| rest.starts_with('/'))
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RunDetail {
    pub experiment: ExperimentId,
    pub status: RunStatus,
    pub compute_target: ComputeTargetId,
    pub revision: Option<String>,
    pub parent: Option<RunId>,
    pub params: BTreeMap<String, String>,
    /// The last point of each metric by (step, time); the full history is kept apart.
    pub latest_metrics: BTreeMap<String, MetricPoint>,
    pub metric_points: u64,
    pub tags: BTreeMap<String, String>,
    pub artifacts: Vec<Artifact>,
    pub inputs: BTreeSet<DatasetId>,
    /// Tags on inputs (MLflow's `mlflow.data.context`), by dataset.
    pub input_tags: BTreeMap<DatasetId, BTreeMap<String, String>>,
    pub outputs: BTreeSet<DatasetId>,
    pub queued_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub failure_reason: Option<String>,
    /// Models the run logged (MLflow 3's logged models), by their number in the run.
    pub logged_models: BTreeMap<u32, LoggedModel>,
    /// How many models the run has logged, deleted ones included: the next number is one more.
    pub models_logged: u32,
}

/// A model a run logged: its files are the run's artifacts under `models/<id>/`, where the
/// id is `logged_model_id(run, number)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LoggedModel {
    pub name: String,
    pub model_type: String,
    /// `None` while its files are being uploaded.
    pub status: Option<LoggedModelStatus>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The step at which the run named it an output, if it did.
    pub output_step: Option<i64>,
    pub logged: Stamp,
    pub updated: Stamp,
}

/// The id MLflow knows a run's `number`-th logged model by: `m-<run>-<number>`.
pub fn logged_model_id(run: &RunId, number: u32) -> String {
    format!("m-{run}-{number}")
}

/// The run and number a logged model id names, if it is one.
pub fn parse_logged_model_id(id: &str) -> Option<(RunId, u32)> {
    let (run, number) = id.strip_prefix("m-")?.rsplit_once('-')?;
    let number: u32 = number.parse().ok()?;
    let run = RunId::new(run.to_string()).ok()?;
    // One spelling per model: `m-r-01` is not `m-r-1`.
    (logged_model_id(&run, number) == id).then_some((run, number))
}

/// Where a logged model's files are among its run's artifacts.
pub fn logged_model_folder(run: &RunId, number: u32) -> String {
    format!("models/{}", logged_model_id(run, number))
}

/// The id of the logged model of `run` whose folder `path` is, if it is one.
pub fn logged_model_at(run: &RunId, path: &str) -> Option<String> {
    let id = path.strip_prefix("models/")?;
    let (model_run, _) = parse_logged_model_id(id)?;
    (&model_run == run).then(|| id.to_string())
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ModelVersion {
    pub version: u32,
    pub source: ModelSource,
    pub derived_from: Option<ModelVersionRef>,
    pub tags: BTreeMap<String, String>,
    pub description: String,
    pub registered: Stamp,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ManifestVersion {
    pub version: u32,
    pub models: Vec<ModelVersionRef>,
    pub dependencies: Vec<String>,
    pub scoring_script: String,
    pub schema: Option<String>,
    pub sample_data: Option<String>,
    pub added: Stamp,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum BuildStatus {
    Building,
    Succeeded { digest: String },
    Failed { reason: String },
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ImageVersion {
    pub version: u32,
    pub manifest: ManifestVersionRef,
    pub status: BuildStatus,
    pub started: Stamp,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ServiceDetail {
    pub image: ImageVersionRef,
    pub environment: EnvironmentId,
    pub url: String,
    pub replicas: u32,
    /// The latest value of each performance signal.
    pub signals: BTreeMap<String, f64>,
    pub drift_alerts: Vec<DriftAlertRaised>,
}

/// An API token of a principal (never its secret).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token: TokenId,
    pub label: String,
    pub issued: Stamp,
    pub revoked: Option<Stamp>,
}

/// What each kind of entity holds beyond the common fields.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Detail {
    Principal {
        email: String,
        administrator: bool,
        tokens: Vec<TokenInfo>,
        /// Roles by account.
        roles: BTreeMap<AccountId, BTreeSet<Role>>,
        /// May read what spans every account (the transparency log, the export).
        store_auditor: bool,
    },
    Subscription {
        owner: PrincipalId,
    },
    ExperimentationAccount {
        subscription: SubscriptionId,
        region: String,
        seats: BTreeSet<PrincipalId>,
    },
    ModelManagementAccount {
        subscription: SubscriptionId,
        region: String,
        plan: Plan,
    },
    Workspace {
        description: String,
        members: BTreeSet<PrincipalId>,
    },
    Project {
        path: String,
        repository: Option<String>,
    },
    Experiment {
        entry_point: String,
        language: Language,
        source_digest: Digest,
        tags: BTreeMap<String, String>,
    },
    ComputeTarget {
        kind: ComputeKind,
    },
    Dataset {
        location: String,
        version: Option<String>,
        digest: Option<String>,
        schema: Vec<SchemaField>,
    },
    Run(Box<RunDetail>),
    Model {
        description: String,
        versions: Vec<ModelVersion>,
        tags: BTreeMap<String, String>,
        /// Which version each alias (`champion`) names.
        aliases: BTreeMap<String, u32>,
        /// How many versions were ever registered, deleted ones included: numbers are
        /// never reused.
        versions_registered: u32,
    },
    Manifest {
        versions: Vec<ManifestVersion>,
    },
    Image {
        versions: Vec<ImageVersion>,
    },
    Environment {
        kind: EnvironmentKind,
    },
    Service(Box<ServiceDetail>),
}
