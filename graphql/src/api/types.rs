//! The GraphQL output types: entities (with typed views of runs, models and services),
//! events, and the small value types they share.

use super::error::from_store;
use super::references::ExperimentObject;
use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use lineage_schema::entity::{Detail, Entity, RunStatus as StoredRunStatus};
use lineage_schema::event::{MetricPoint, ModelSource};
use lineage_schema::{EntityKind, EntityRef, Envelope};

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct Metric {
    pub name: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: String,
}

impl From<&MetricPoint> for Metric {
    fn from(point: &MetricPoint) -> Self {
        Self {
            name: point.name.clone(),
            value: point.value,
            step: point.step,
            timestamp: point.timestamp.to_string(),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ArtifactInfo {
    pub path: String,
    pub size: u64,
    pub digest: String,
}

/// A model a run logged (MLflow 3's logged model); its files are the run's artifacts
/// under `folder`.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct LoggedModelInfo {
    /// The id MLflow knows it by (`m-<run>-<number>`).
    pub id: String,
    pub number: u32,
    pub name: String,
    pub model_type: String,
    /// `READY` or `FAILED` once finalized; none while its files are uploaded.
    pub status: Option<super::inputs::LoggedModelStatus>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    pub folder: String,
    /// The step at which the run named it an output, if it did.
    pub output_step: Option<i64>,
    /// When the store recorded it (logged through MLflow's API, live: also when it happened).
    pub logged_at: String,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Canceled,
}

impl From<StoredRunStatus> for RunStatus {
    fn from(status: StoredRunStatus) -> Self {
        match status {
            StoredRunStatus::Queued => RunStatus::Queued,
            StoredRunStatus::Running => RunStatus::Running,
            StoredRunStatus::Completed => RunStatus::Completed,
            StoredRunStatus::Failed => RunStatus::Failed,
            StoredRunStatus::Canceled => RunStatus::Canceled,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ServiceState {
    Running,
    Deleted,
}

/// Any entity: the fields every kind shares, its kind-specific detail as JSON, and
/// typed views for runs, models and services.
#[derive(Clone, Debug)]
pub(super) struct EntityObject(pub Entity);

#[Object(name = "Entity")]
impl EntityObject {
    /// `kind/id`, e.g. `run/r-churn-1`.
    async fn id(&self) -> ID {
        ID(self.0.reference.to_string())
    }
    async fn kind(&self) -> &str {
        self.0.reference.kind.label()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The scope it lives in.
    async fn parent(&self) -> Option<ID> {
        self.0.parent.as_ref().map(|parent| ID(parent.to_string()))
    }
    /// The account it is billed and audited under.
    async fn account(&self) -> Option<String> {
        self.0.account.as_ref().map(ToString::to_string)
    }
    /// How many events its stream holds.
    async fn version(&self) -> u64 {
        self.0.version
    }
    /// When it was created, as it happened (the event's `occurredAt`, else when it was
    /// recorded): the clock of the audit trail and of `asOf { time }`.
    async fn created_at(&self, ctx: &Context<'_>) -> String {
        happened(ctx, &self.0.created)
    }
    /// When the store recorded its creation (`recordedAt`).
    async fn created_recorded_at(&self) -> String {
        self.0.created.at.to_string()
    }
    async fn created_by(&self) -> String {
        self.0.created.actor.to_string()
    }
    async fn created_seq(&self) -> u64 {
        self.0.created.seq
    }
    /// When it last changed, as it happened (`occurredAt`, else `recordedAt`).
    async fn updated_at(&self, ctx: &Context<'_>) -> String {
        happened(ctx, &self.0.updated)
    }
    /// When the store recorded its last change.
    async fn updated_recorded_at(&self) -> String {
        self.0.updated.at.to_string()
    }
    async fn updated_by(&self) -> String {
        self.0.updated.actor.to_string()
    }
    async fn updated_seq(&self) -> u64 {
        self.0.updated.seq
    }
    /// Deleted, detached or revoked: kept for history.
    async fn deleted(&self) -> bool {
        self.0.deleted
    }
    /// Everything specific to its kind, as JSON.
    async fn detail(&self, ctx: &Context<'_>) -> async_graphql::Json<serde_json::Value> {
        let mut detail = serde_json::to_value(&self.0.detail).unwrap_or_default();
        // A model version's run may sit in an account the viewer cannot read.
        if let Detail::Model { versions, .. } = &self.0.detail {
            let shown = detail
                .pointer_mut("/Model/versions")
                .and_then(serde_json::Value::as_array_mut);
            for (version, shown) in versions.iter().zip(shown.into_iter().flatten()) {
                if let ModelSource::Run { run, .. } = &version.source {
                    if !run_visible(ctx, run) {
                        if let Some(source) = shown.pointer_mut("/source/Run/run") {
                            *source = serde_json::Value::Null;
                        }
                    }
                }
            }
        }
        async_graphql::Json(detail)
    }
    /// The entities of one kind directly inside this one.
    async fn children(&self, ctx: &Context<'_>, kind: super::Kind) -> async_graphql::Result<Vec<EntityObject>> {
        let kind = EntityKind::from(kind);
        let children = super::view(ctx)?
            .children(&self.0.reference, kind)
            .map_err(from_store)?;
        Ok(children.into_iter().map(EntityObject).collect())
    }
    async fn as_run(&self) -> Option<RunObject> {
        matches!(self.0.detail, Detail::Run(_)).then(|| RunObject(self.0.clone()))
    }
    async fn as_model(&self) -> Option<ModelObject> {
        matches!(self.0.detail, Detail::Model { .. }).then(|| ModelObject(self.0.clone()))
    }
    async fn as_service(&self) -> Option<ServiceObject> {
        matches!(self.0.detail, Detail::Service(_)).then(|| ServiceObject(self.0.clone()))
    }
}

pub(super) fn key_values(map: &std::collections::BTreeMap<String, String>) -> Vec<KeyValue> {
    map.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// One execution of an experiment.
#[derive(Clone, Debug)]
pub(super) struct RunObject(pub Entity);

impl RunObject {
    fn detail(&self) -> &lineage_schema::entity::RunDetail {
        match &self.0.detail {
            Detail::Run(run) => run,
            _ => unreachable!("RunObject wraps runs only"),
        }
    }
}

#[Object(name = "Run")]
impl RunObject {
    async fn id(&self) -> ID {
        ID(self.0.reference.to_string())
    }
    async fn entity(&self) -> EntityObject {
        EntityObject(self.0.clone())
    }
    async fn status(&self) -> RunStatus {
        self.detail().status.into()
    }
    /// Its experiment's global id.
    async fn experiment_id(&self) -> ID {
        ID(EntityRef::new(EntityKind::Experiment, &self.detail().experiment).to_string())
    }
    /// The experiment it executed (none if the reader may not see it).
    async fn experiment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ExperimentObject>> {
        let reference = EntityRef::new(EntityKind::Experiment, &self.detail().experiment);
        let found = super::view(ctx)?.entity(&reference).map_err(from_store)?;
        Ok(found.map(ExperimentObject))
    }
    async fn compute_target(&self) -> ID {
        ID(EntityRef::new(EntityKind::ComputeTarget, &self.detail().compute_target).to_string())
    }
    /// The code revision it ran at.
    async fn revision(&self) -> Option<&str> {
        self.detail().revision.as_deref()
    }
    async fn parent(&self) -> Option<ID> {
        self.detail()
            .parent
            .as_ref()
            .map(|parent| ID(EntityRef::new(EntityKind::Run, parent).to_string()))
    }
    async fn params(&self) -> Vec<KeyValue> {
        key_values(&self.detail().params)
    }
    /// The latest point of each metric.
    async fn metrics(&self) -> Vec<Metric> {
        self.detail().latest_metrics.values().map(Metric::from).collect()
    }
    /// Every point of one metric (or of all), in the order logged.
    async fn metric_history(&self, ctx: &Context<'_>, name: Option<String>) -> async_graphql::Result<Vec<Metric>> {
        let run = lineage_schema::RunId::new(self.0.reference.id.clone())
            .map_err(|error| super::error::invalid(error.to_string()))?;
        let points = super::view(ctx)?
            .metric_history(&run, name.as_deref())
            .map_err(from_store)?;
        Ok(points.iter().map(Metric::from).collect())
    }
    async fn tags(&self) -> Vec<KeyValue> {
        key_values(&self.detail().tags)
    }
    async fn artifacts(&self) -> Vec<ArtifactInfo> {
        self.detail()
            .artifacts
            .iter()
            .map(|a| ArtifactInfo {
                path: a.path.clone(),
                size: a.size,
                digest: a.digest.to_hex(),
            })
            .collect()
    }
    /// Models it logged (MLflow 3's logged models), by number.
    async fn logged_models(&self) -> Vec<LoggedModelInfo> {
        let run = lineage_schema::RunId::new(self.0.reference.id.clone()).ok();
        let Some(run) = run else { return Vec::new() };
        self.detail()
            .logged_models
            .iter()
            .map(|(number, model)| LoggedModelInfo {
                id: lineage_schema::entity::logged_model_id(&run, *number),
                number: *number,
                name: model.name.clone(),
                model_type: model.model_type.clone(),
                status: model.status.map(Into::into),
                params: key_values(&model.params),
                tags: key_values(&model.tags),
                folder: lineage_schema::entity::logged_model_folder(&run, *number),
                output_step: model.output_step,
                logged_at: model.logged.at.to_string(),
            })
            .collect()
    }
    /// Datasets it read.
    async fn inputs(&self) -> Vec<ID> {
        self.detail()
            .inputs
            .iter()
            .map(|d| ID(EntityRef::new(EntityKind::Dataset, d).to_string()))
            .collect()
    }
    /// Datasets it wrote.
    async fn outputs(&self) -> Vec<ID> {
        self.detail()
            .outputs
            .iter()
            .map(|d| ID(EntityRef::new(EntityKind::Dataset, d).to_string()))
            .collect()
    }
    async fn queued_at(&self) -> Option<String> {
        self.detail().queued_at.map(|at| at.to_string())
    }
    async fn started_at(&self) -> Option<String> {
        self.detail().started_at.map(|at| at.to_string())
    }
    async fn finished_at(&self) -> Option<String> {
        self.detail().finished_at.map(|at| at.to_string())
    }
    async fn failure_reason(&self) -> Option<&str> {
        self.detail().failure_reason.as_deref()
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub(super) struct ModelVersionInfo {
    /// `model/id@version`
    pub id: ID,
    pub version: u32,
    /// The global id of the run that produced it, if any (and the reader may see it).
    pub run_id: Option<ID>,
    /// Where it was uploaded from, if no run produced it.
    pub uploaded_from: Option<String>,
    /// The run's artifact path holding it, if a run produced it.
    pub artifact_path: Option<String>,
    pub description: String,
    pub derived_from: Option<ID>,
    pub tags: Vec<KeyValue>,
    /// The aliases (`champion`) that name this version.
    pub aliases: Vec<String>,
    /// When it was registered, as it happened (`occurredAt`, else `recordedAt`).
    pub registered_at: String,
    /// When the store recorded its registration.
    pub registered_recorded_at: String,
    pub registered_by: String,
}

/// An alias and the version it names.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ModelAlias {
    pub alias: String,
    pub version: u32,
}

/// A managed model and its versions.
#[derive(Clone, Debug)]
pub(super) struct ModelObject(pub Entity);

#[Object(name = "Model")]
impl ModelObject {
    async fn id(&self) -> ID {
        ID(self.0.reference.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn entity(&self) -> EntityObject {
        EntityObject(self.0.clone())
    }
    /// The model's own tags (each version has its own as well).
    async fn tags(&self) -> Vec<KeyValue> {
        match &self.0.detail {
            Detail::Model { tags, .. } => key_values(tags),
            _ => Vec::new(),
        }
    }
    async fn aliases(&self) -> Vec<ModelAlias> {
        let Detail::Model { aliases, .. } = &self.0.detail else {
            return Vec::new();
        };
        aliases
            .iter()
            .map(|(alias, version)| ModelAlias {
                alias: alias.clone(),
                version: *version,
            })
            .collect()
    }
    async fn versions(&self, ctx: &Context<'_>) -> Vec<ModelVersionInfo> {
        let Detail::Model { versions, aliases, .. } = &self.0.detail else {
            return Vec::new();
        };
        versions
            .iter()
            .map(|version| ModelVersionInfo {
                id: ID(format!("{}@{}", self.0.reference, version.version)),
                version: version.version,
                run_id: match &version.source {
                    ModelSource::Run { run, .. } if run_visible(ctx, run) => {
                        Some(ID(EntityRef::new(EntityKind::Run, run).to_string()))
                    }
                    ModelSource::Run { .. } | ModelSource::Uploaded { .. } => None,
                },
                uploaded_from: match &version.source {
                    ModelSource::Uploaded { location, .. } => Some(location.clone()),
                    ModelSource::Run { .. } => None,
                },
                artifact_path: match &version.source {
                    ModelSource::Run { artifact_path, .. } => Some(artifact_path.clone()),
                    ModelSource::Uploaded { .. } => None,
                },
                description: version.description.clone(),
                derived_from: version.derived_from.as_ref().map(|from| ID(format!("model/{from}"))),
                tags: key_values(&version.tags),
                aliases: aliases
                    .iter()
                    .filter(|(_, named)| **named == version.version)
                    .map(|(alias, _)| alias.clone())
                    .collect(),
                registered_at: happened(ctx, &version.registered),
                registered_recorded_at: version.registered.at.to_string(),
                registered_by: version.registered.actor.to_string(),
            })
            .collect()
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct DriftAlert {
    pub feature: String,
    pub score: f64,
    pub threshold: f64,
    pub observed_at: String,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct Signal {
    pub name: String,
    pub value: f64,
}

/// A web service.
#[derive(Clone, Debug)]
pub(super) struct ServiceObject(pub Entity);

impl ServiceObject {
    fn detail(&self) -> &lineage_schema::entity::ServiceDetail {
        match &self.0.detail {
            Detail::Service(service) => service,
            _ => unreachable!("ServiceObject wraps services only"),
        }
    }
}

#[Object(name = "Service")]
impl ServiceObject {
    async fn id(&self) -> ID {
        ID(self.0.reference.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn entity(&self) -> EntityObject {
        EntityObject(self.0.clone())
    }
    async fn state(&self) -> ServiceState {
        if self.0.deleted {
            ServiceState::Deleted
        } else {
            ServiceState::Running
        }
    }
    /// The image version it runs, `image/id@version`.
    async fn image(&self) -> ID {
        ID(format!("image/{}", self.detail().image))
    }
    async fn environment(&self) -> ID {
        ID(EntityRef::new(EntityKind::Environment, &self.detail().environment).to_string())
    }
    async fn url(&self) -> &str {
        &self.detail().url
    }
    async fn replicas(&self) -> u32 {
        self.detail().replicas
    }
    /// The latest value of each performance signal.
    async fn signals(&self) -> Vec<Signal> {
        self.detail()
            .signals
            .iter()
            .map(|(name, value)| Signal {
                name: name.clone(),
                value: *value,
            })
            .collect()
    }
    async fn drift_alerts(&self) -> Vec<DriftAlert> {
        self.detail()
            .drift_alerts
            .iter()
            .map(|alert| DriftAlert {
                feature: alert.feature.clone(),
                score: alert.score,
                threshold: alert.threshold,
                observed_at: alert.observed_at.to_string(),
            })
            .collect()
    }
}

/// One event of the log, with what an auditor needs to check it.
#[derive(Clone, Debug)]
pub(super) struct EventObject(pub Envelope);

#[Object(name = "Event")]
impl EventObject {
    async fn seq(&self) -> u64 {
        self.0.seq
    }
    /// The entity it belongs to, `kind/id`.
    async fn stream(&self) -> ID {
        ID(self.0.stream.to_string())
    }
    async fn version(&self) -> u64 {
        self.0.version
    }
    async fn event_id(&self) -> Option<String> {
        self.0.event_id.as_ref().map(ToString::to_string)
    }
    /// The event's type, e.g. `RunStarted`.
    async fn r#type(&self) -> &str {
        self.0.event.name()
    }
    async fn recorded_at(&self) -> String {
        self.0.recorded_at.to_string()
    }
    async fn occurred_at(&self) -> Option<String> {
        self.0.occurred_at.map(|at| at.to_string())
    }
    async fn actor(&self) -> String {
        self.0.actor.to_string()
    }
    async fn account(&self) -> Option<String> {
        self.0.account.as_ref().map(ToString::to_string)
    }
    /// The event's fields, as JSON.
    async fn payload(&self) -> async_graphql::Json<serde_json::Value> {
        let value = serde_json::to_value(&self.0.event).unwrap_or_default();
        let inner = value
            .as_object()
            .and_then(|object| object.values().next().cloned())
            .unwrap_or(value);
        async_graphql::Json(inner)
    }
    async fn prev_hash(&self) -> String {
        self.0.prev_hash.to_hex()
    }
    async fn hash(&self) -> String {
        self.0.hash.to_hex()
    }
}

/// Whether the viewer may see a run another entity names (a model version's source run
/// lives in an experimentation account, the model in a model management account).
fn run_visible(ctx: &Context<'_>, run: &lineage_schema::RunId) -> bool {
    super::view(ctx).is_ok_and(|view| view.visible(&EntityRef::new(EntityKind::Run, run)))
}

/// When the event behind `stamp` happened: its `occurredAt` (imported facts carry the
/// time they happened elsewhere), else when it was recorded, the stamp's own time.
fn happened(ctx: &Context<'_>, stamp: &lineage_schema::entity::Stamp) -> String {
    super::store(ctx)
        .event(stamp.seq)
        .ok()
        .flatten()
        .map_or(stamp.at, |event| event.effective_time())
        .to_string()
}
