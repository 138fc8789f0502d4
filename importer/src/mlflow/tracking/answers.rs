//! Lineage's entities in MLflow's JSON: experiments, runs with their info, data and
//! inputs, and the values `search` filters and sorts by.

use super::search::{Field, Held};
use super::{millis, Tracking};
use lineage_schema::entity::{Detail, Entity, RunDetail, RunStatus};
use lineage_schema::*;
use serde_json::{json, Value};

/// MLflow's run status for Lineage's.
pub(super) fn status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Completed => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Canceled => "KILLED",
    }
}

fn lifecycle(entity: &Entity) -> &'static str {
    if entity.deleted {
        "deleted"
    } else {
        "active"
    }
}

pub(super) fn pairs<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Value> {
    pairs
        .into_iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect()
}

/// The run's detail; `None` for an entity that is not a run.
pub(super) fn run_detail(entity: &Entity) -> Option<&RunDetail> {
    match &entity.detail {
        Detail::Run(run) => Some(run),
        _ => None,
    }
}

impl Tracking<'_> {
    pub(super) fn experiment_json(&self, entity: &Entity) -> Value {
        let id = ExperimentId::new(entity.reference.id.clone()).map(|id| self.mlflow_experiment_id(&id));
        let tags = match &entity.detail {
            Detail::Experiment { tags, .. } => pairs(tags),
            _ => Vec::new(),
        };
        json!({
            "experiment_id": id.unwrap_or_else(|_| entity.reference.id.to_string()),
            "name": entity.name,
            "artifact_location": format!("mlflow-artifacts:/{}", entity.reference.id),
            "lifecycle_stage": lifecycle(entity),
            "creation_time": millis(entity.created.at),
            "last_update_time": millis(entity.updated.at),
            "tags": tags,
        })
    }

    pub(super) fn run_info(&self, entity: &Entity, run: &RunDetail) -> Value {
        let mut info = json!({
            "run_id": entity.reference.id,
            "run_uuid": entity.reference.id,
            "run_name": run.tags.get("mlflow.runName").cloned().unwrap_or_default(),
            "experiment_id": self.mlflow_experiment_id(&run.experiment),
            "user_id": run.tags.get("mlflow.user").cloned().unwrap_or_else(|| entity.created.actor.to_string()),
            "status": status(run.status),
            "artifact_uri": RunId::new(entity.reference.id.clone())
                .map(|id| artifact_uri(&run.experiment, &id, ""))
                .unwrap_or_default(),
            "lifecycle_stage": lifecycle(entity),
        });
        if let Some(started) = run.started_at.or(run.queued_at) {
            info["start_time"] = json!(millis(started));
        }
        if let Some(finished) = run.finished_at {
            info["end_time"] = json!(millis(finished));
        }
        info
    }

    pub(super) fn run_json(&self, entity: &Entity) -> Value {
        let Some(run) = run_detail(entity) else {
            return Value::Null;
        };
        let metrics: Vec<Value> = run.latest_metrics.values().map(metric_json).collect();
        let view = self.view();
        let datasets: Vec<Value> = run
            .inputs
            .iter()
            .filter_map(|dataset| {
                view.entity(&EntityRef::new(EntityKind::Dataset, dataset))
                    .ok()
                    .flatten()
            })
            .map(|dataset| dataset_input(&dataset, run))
            .collect();
        json!({
            "info": self.run_info(entity, run),
            "data": { "metrics": metrics, "params": pairs(&run.params), "tags": pairs(&run.tags) },
            "inputs": { "dataset_inputs": datasets },
            "outputs": { "model_outputs": model_outputs(entity, run) },
        })
    }

    /// What a run holds for a search key (None: nothing, which no comparison matches).
    pub(super) fn run_value(&self, entity: &Entity, run: &RunDetail, field: Field, key: &str) -> Option<Held> {
        match field {
            Field::Metric => run.latest_metrics.get(key).map(|point| Held::Number(point.value)),
            Field::Param => run.params.get(key).cloned().map(Held::Text),
            Field::Tag => run.tags.get(key).cloned().map(Held::Text),
            Field::Attribute => {
                let info = self.run_info(entity, run);
                let key = match key {
                    "created" | "Created" => "start_time",
                    "run name" | "Run name" | "Run Name" => "run_name",
                    other => other,
                };
                match info.get(key)? {
                    Value::Number(number) => number.as_f64().map(Held::Number),
                    Value::String(text) => Some(Held::Text(text.clone())),
                    _ => None,
                }
            }
            Field::Dataset => None,
        }
    }

    /// What an experiment holds for a search key.
    pub(super) fn experiment_value(&self, entity: &Entity, field: Field, key: &str) -> Option<Held> {
        match field {
            Field::Tag => match &entity.detail {
                Detail::Experiment { tags, .. } => tags.get(key).cloned().map(Held::Text),
                _ => None,
            },
            Field::Attribute => match self.experiment_json(entity).get(key)? {
                Value::Number(number) => number.as_f64().map(Held::Number),
                Value::String(text) => Some(Held::Text(text.clone())),
                _ => None,
            },
            Field::Metric | Field::Param | Field::Dataset => None,
        }
    }
}

/// The logged models a run named as its outputs, with their steps.
fn model_outputs(entity: &Entity, run: &RunDetail) -> Vec<Value> {
    let Ok(id) = RunId::new(entity.reference.id.clone()) else {
        return Vec::new();
    };
    run.logged_models
        .iter()
        .filter_map(|(number, model)| {
            let step = model.output_step?;
            Some(json!({ "model_id": lineage_schema::entity::logged_model_id(&id, *number), "step": step }))
        })
        .collect()
}

/// Where MLflow's clients find a run's artifact `path` (empty: the run's root).
pub(super) fn artifact_uri(experiment: &ExperimentId, run: &RunId, path: &str) -> String {
    let root = format!("mlflow-artifacts:/{experiment}/{run}/artifacts");
    match path.trim_matches('/') {
        "" => root,
        path => format!("{root}/{path}"),
    }
}

pub(super) fn metric_json(point: &lineage_schema::event::MetricPoint) -> Value {
    json!({
        "key": point.name,
        "value": point.value,
        "timestamp": millis(point.timestamp),
        "step": point.step,
    })
}

/// A dataset as MLflow's `DatasetInput`: its name, digest and source, with the run's
/// tags on it (its context).
fn dataset_input(dataset: &Entity, run: &RunDetail) -> Value {
    let (location, digest) = match &dataset.detail {
        Detail::Dataset { location, digest, .. } => (location.clone(), digest.clone().unwrap_or_default()),
        _ => (String::new(), String::new()),
    };
    let tags = DatasetId::new(dataset.reference.id.clone())
        .ok()
        .and_then(|id| run.input_tags.get(&id))
        .map(pairs)
        .unwrap_or_default();
    json!({
        "tags": tags,
        "dataset": {
            "name": dataset.name,
            "digest": digest,
            "source_type": "lineage",
            "source": location,
        },
    })
}
