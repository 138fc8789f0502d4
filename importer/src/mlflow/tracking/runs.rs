//! MLflow's run endpoints: create, get, update (finish), delete, restore, tags, params,
//! metrics one by one and batched, dataset inputs, metric history and search.

use super::answers::run_detail;
use super::experiments::{order_list, tag_list, wanted_stage};
use super::search;
use super::{codes, page, refused, Fields, Tracking};
use crate::error::Result;
use lineage_schema::entity::{Entity, RunDetail, RunStatus};
use lineage_schema::event::*;
use lineage_schema::*;
use serde_json::{json, Value};

/// MLflow's limits on one `log-batch`.
const MAX_METRICS_PER_BATCH: usize = 1000;
const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
const MAX_ENTITIES_PER_BATCH: usize = 1000;

/// The revision recorded for a run whose tags name no git commit.
const UNKNOWN_REVISION: &str = "unknown";

impl Tracking<'_> {
    /// The run, if it is one of this tracking URI's experiments'.
    fn run(&self, fields: &Fields<'_>) -> Result<(RunId, Entity)> {
        let id = fields
            .optional_text("run_id")
            .filter(|id| !id.is_empty())
            .or_else(|| fields.optional_text("run_uuid"))
            .ok_or_else(|| refused(codes::INVALID, "Missing value for required parameter 'run_id'."))?;
        self.run_by_id(id)
    }

    /// The run with this id, if it is one of this tracking URI's experiments'.
    pub(super) fn run_by_id(&self, id: &str) -> Result<(RunId, Entity)> {
        let missing = || refused(codes::NOT_FOUND, format!("Run with id={id} not found"));
        let run = RunId::new(id).map_err(|_| missing())?;
        let entity = self
            .view()
            .entity(&EntityRef::new(EntityKind::Run, &run))?
            .ok_or_else(missing)?;
        let project = EntityRef::new(EntityKind::Project, self.project()?);
        let experiment = run_detail(&entity).map(|detail| EntityRef::new(EntityKind::Experiment, &detail.experiment));
        let in_project = experiment
            .and_then(|experiment| self.view().entity(&experiment).ok().flatten())
            .is_some_and(|experiment| experiment.parent.as_ref() == Some(&project));
        if !in_project {
            return Err(missing());
        }
        Ok((run, entity))
    }

    fn reread(&self, run: &RunId) -> Result<Entity> {
        self.view()
            .entity(&EntityRef::new(EntityKind::Run, run))?
            .ok_or_else(|| refused(codes::NOT_FOUND, format!("Run with id={run} not found")))
    }

    pub(super) fn create_run(&self, fields: &Fields<'_>) -> Result<Value> {
        let experiment = self.experiment(fields.optional_text("experiment_id").unwrap_or("0"))?;
        if experiment.deleted {
            return Err(refused(
                codes::INVALID,
                format!(
                    "The experiment {} must be in the 'active' state.",
                    experiment.reference.id
                ),
            ));
        }
        let experiment = ExperimentId::new(experiment.reference.id.clone())?;
        let run: RunId = crate::target::parse(&crate::mlflow::run_id(&super::fresh_id("", &[experiment.as_str()])))?;
        let mut tags = fields.pairs("tags")?;
        let tag = |tags: &[(String, String)], key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        if let Some(name) = fields.optional_text("run_name").filter(|name| !name.is_empty()) {
            tags.retain(|(key, _)| key != "mlflow.runName");
            tags.push(("mlflow.runName".into(), name.into()));
        }
        if let Some(user) = fields.optional_text("user_id").filter(|user| !user.is_empty()) {
            if tag(&tags, "mlflow.user").is_none() {
                tags.push(("mlflow.user".into(), user.into()));
            }
        }
        let parent = match tag(&tags, "mlflow.parentRunId") {
            None => None,
            Some(parent) => Some(self.run(&Fields(&json!({ "run_id": parent })))?.0),
        };
        let revision = tag(&tags, "mlflow.source.git.commit")
            .filter(|commit| !commit.is_empty())
            .unwrap_or_else(|| UNKNOWN_REVISION.into());
        let mut commands = vec![Command::StartRun(RunStarted {
            run: run.clone(),
            experiment,
            compute_target: self.target.compute_target.clone(),
            revision,
            parent,
        })];
        if !tags.is_empty() {
            commands.push(Command::SetRunTags(RunTagsSet {
                run: run.clone(),
                tags: tag_list(tags),
            }));
        }
        let started = fields.integer("start_time")?.map(Timestamp::from_millis);
        self.execute(commands, started)?;
        Ok(json!({ "run": self.run_json(&self.reread(&run)?) }))
    }

    pub(super) fn get_run(&self, fields: &Fields<'_>) -> Result<Value> {
        let (_, entity) = self.run(fields)?;
        Ok(json!({ "run": self.run_json(&entity) }))
    }

    pub(super) fn update_run(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, entity) = self.run(fields)?;
        let detail = run_detail(&entity).ok_or_else(|| refused(codes::NOT_FOUND, "not a run"))?;
        let mut commands = Vec::new();
        if let Some(name) = fields.optional_text("run_name").filter(|name| !name.is_empty()) {
            if detail.tags.get("mlflow.runName").map(String::as_str) != Some(name) {
                commands.push(Command::SetRunTags(RunTagsSet {
                    run: run.clone(),
                    tags: tag_list(vec![("mlflow.runName".into(), name.into())]),
                }));
            }
        }
        if let Some(finish) = finish(fields.optional_text("status"), &run, detail)? {
            commands.push(finish);
        }
        let ended = fields.integer("end_time")?.map(Timestamp::from_millis);
        self.execute(commands, ended)?;
        let entity = self.reread(&run)?;
        let detail = run_detail(&entity).ok_or_else(|| refused(codes::NOT_FOUND, "not a run"))?;
        Ok(json!({ "run_info": self.run_info(&entity, detail) }))
    }

    pub(super) fn delete_run(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, _) = self.run(fields)?;
        self.execute(vec![Command::DeleteRun(RunDeleted { run })], None)?;
        Ok(json!({}))
    }

    pub(super) fn restore_run(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, _) = self.run(fields)?;
        self.execute(vec![Command::RestoreRun(RunRestored { run })], None)?;
        Ok(json!({}))
    }

    pub(super) fn set_tag(&self, fields: &Fields<'_>) -> Result<Vec<Command>> {
        let (run, _) = self.run(fields)?;
        let tags = tag_list(vec![(
            fields.text("key")?.to_string(),
            fields.optional_text("value").unwrap_or_default().to_string(),
        )]);
        Ok(vec![Command::SetRunTags(RunTagsSet { run, tags })])
    }

    pub(super) fn delete_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, entity) = self.run(fields)?;
        let key = fields.text("key")?;
        if !run_detail(&entity).is_some_and(|detail| detail.tags.contains_key(key)) {
            return Err(refused(
                codes::NOT_FOUND,
                format!("No tag with name: {key} in run with id {run}"),
            ));
        }
        self.execute(
            vec![Command::DeleteRunTag(RunTagDeleted { run, key: key.into() })],
            None,
        )?;
        Ok(json!({}))
    }

    pub(super) fn log_param(&self, fields: &Fields<'_>) -> Result<Vec<Command>> {
        let (run, _) = self.run(fields)?;
        let params = vec![Param {
            key: fields.text("key")?.into(),
            value: fields.optional_text("value").unwrap_or_default().into(),
        }];
        Ok(vec![Command::LogParams(ParamsLogged { run, params })])
    }

    pub(super) fn log_metric(&self, fields: &Fields<'_>) -> Result<Vec<Command>> {
        let (run, _) = self.run(fields)?;
        let points = vec![metric_point(fields)?];
        Ok(vec![Command::LogMetrics(MetricsLogged { run, points })])
    }

    /// Params, metrics and tags in one all-or-none batch, within MLflow's limits: params
    /// never change, metrics add points, tags take the last value given.
    pub(super) fn log_batch(&self, fields: &Fields<'_>) -> Result<Vec<Command>> {
        let (run, _) = self.run(fields)?;
        let (metrics, params, tags) = (fields.list("metrics"), fields.list("params"), fields.list("tags"));
        for (what, count, most) in [
            ("metrics", metrics.len(), MAX_METRICS_PER_BATCH),
            ("params", params.len(), MAX_PARAMS_TAGS_PER_BATCH),
            ("tags", tags.len(), MAX_PARAMS_TAGS_PER_BATCH),
            (
                "metrics, params and tags",
                metrics.len() + params.len() + tags.len(),
                MAX_ENTITIES_PER_BATCH,
            ),
        ] {
            if count > most {
                return Err(refused(
                    codes::INVALID,
                    format!("A batch logging request can contain at most {most} {what}. Got {count}."),
                ));
            }
        }
        let params: Vec<Param> = fields
            .pairs("params")?
            .into_iter()
            .map(|(key, value)| Param { key, value })
            .collect();
        for (index, param) in params.iter().enumerate() {
            if params[..index]
                .iter()
                .any(|earlier| earlier.key == param.key && earlier.value != param.value)
            {
                return Err(refused(
                    codes::INVALID,
                    format!(
                        "Duplicate parameter keys with different values in the batch: '{}'",
                        param.key
                    ),
                ));
            }
        }
        let points = metrics
            .iter()
            .map(|metric| metric_point(&Fields(metric)))
            .collect::<Result<Vec<_>>>()?;
        // One command per run of items that fits an event's entry, all in one batch.
        let mut commands = Vec::new();
        for params in lineage_schema::tlog::fitting(params) {
            commands.push(Command::LogParams(ParamsLogged {
                run: run.clone(),
                params,
            }));
        }
        for points in lineage_schema::tlog::fitting(points) {
            commands.push(Command::LogMetrics(MetricsLogged {
                run: run.clone(),
                points,
            }));
        }
        for tags in lineage_schema::tlog::fitting(tag_list(fields.pairs("tags")?)) {
            commands.push(Command::SetRunTags(RunTagsSet { run: run.clone(), tags }));
        }
        Ok(commands)
    }

    /// Datasets the run read: each registered in the account (by name and digest) if new.
    pub(super) fn log_inputs(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, entity) = self.run(fields)?;
        let account = entity
            .account
            .clone()
            .ok_or_else(|| refused(codes::NOT_FOUND, format!("Run with id={run} not found")))?;
        let mut commands = Vec::new();
        let mut datasets = Vec::new();
        let mut tagged = Vec::new();
        for input in fields.list("datasets") {
            let dataset = Fields(input.get("dataset").unwrap_or(&Value::Null));
            let name = dataset.text("name")?;
            let digest = dataset.text("digest")?;
            let id: DatasetId = crate::target::parse(&crate::target::derived_id(
                "mlflow-dataset",
                &[account.as_str(), name, digest],
            ))?;
            if self.view().entity(&EntityRef::new(EntityKind::Dataset, &id))?.is_none() && !datasets.contains(&id) {
                commands.push(Command::RegisterDataset(DatasetRegistered {
                    dataset: id.clone(),
                    account: account.clone(),
                    name: Name::new(name).map_err(|rejection| refused(codes::INVALID, rejection.to_string()))?,
                    location: dataset.optional_text("source").unwrap_or_default().into(),
                    version: Some(digest.into()),
                    digest: Some(digest.into()),
                }));
            }
            let tags = super::experiments::tag_list(Fields(input).pairs("tags")?);
            if !tags.is_empty() {
                tagged.push(Command::TagRunInput(RunInputTagged {
                    run: run.clone(),
                    dataset: id.clone(),
                    tags,
                }));
            }
            if !datasets.contains(&id) {
                datasets.push(id);
            }
        }
        if !datasets.is_empty() {
            commands.push(Command::RecordRunInputs(RunInputsRecorded { run, datasets }));
        }
        // The context (`mlflow.data.context`) and other input tags, once the run reads them.
        commands.extend(tagged);
        self.execute(commands, None)?;
        Ok(json!({}))
    }

    pub(super) fn metric_history(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, _) = self.run(fields)?;
        let key = fields.text("metric_key")?;
        let (max, offset) = page(fields, 25_000)?;
        let points = self.view().metric_history(&run, Some(key))?;
        Ok(super::paged(
            "metrics",
            &points,
            offset,
            max,
            super::answers::metric_json,
        ))
    }

    /// One metric of up to 100 runs, sampled to at most `max_results` steps per run (the
    /// first and last step always among them) between `start_step` and `end_step`, as
    /// MLflow's charts ask for it.
    pub(super) fn metric_history_bulk_interval(&self, fields: &Fields<'_>) -> Result<Value> {
        let runs = fields.texts("run_ids");
        if runs.is_empty() || runs.len() > 100 {
            return Err(refused(
                codes::INVALID,
                format!("'run_ids' must name 1 to 100 runs, not {}.", runs.len()),
            ));
        }
        let key = fields.text("metric_key")?;
        let most = fields.integer("max_results")?.unwrap_or(320);
        if !(1..=1000).contains(&most) {
            return Err(refused(
                codes::INVALID,
                format!("'max_results' must be between 1 and 1000, not {most}."),
            ));
        }
        let (start, end) = (fields.integer("start_step")?, fields.integer("end_step")?);
        let mut metrics = Vec::new();
        for id in runs {
            let (run, _) = self.run_by_id(id)?;
            let points: Vec<MetricPoint> = self
                .view()
                .metric_history(&run, Some(key))?
                .into_iter()
                .filter(|point| {
                    start.is_none_or(|start| point.step >= start) && end.is_none_or(|end| point.step <= end)
                })
                .collect();
            let steps: Vec<i64> = points
                .iter()
                .map(|point| point.step)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let chosen = sampled(&steps, most as usize);
            for point in points.iter().filter(|point| chosen.contains(&point.step)) {
                let mut metric = super::answers::metric_json(point);
                metric["run_id"] = json!(run.to_string());
                metrics.push(metric);
            }
        }
        Ok(json!({ "metrics": metrics }))
    }

    pub(super) fn search_runs(&self, fields: &Fields<'_>) -> Result<Value> {
        let keep = wanted_stage(fields, "run_view_type")?;
        let filter = search::parse_filter(fields.optional_text("filter").unwrap_or_default())
            .map_err(|error| refused(codes::INVALID, format!("Invalid filter: {error}")))?;
        let orders = order_list(fields)?;
        let (max, offset) = page(fields, 1000)?;
        let mut found = Vec::new();
        for experiment in fields.list("experiment_ids").iter().filter_map(Value::as_str) {
            let experiment = self.experiment(experiment)?;
            let runs = self.view().children(&experiment.reference, EntityKind::Run)?;
            found.extend(runs.into_iter().filter(&keep));
        }
        let mut found: Vec<(Entity, RunDetail)> = found
            .into_iter()
            .filter_map(|entity| run_detail(&entity).cloned().map(|detail| (entity, detail)))
            .filter(|(entity, detail)| {
                filter.iter().all(|comparison| match comparison.field {
                    search::Field::Dataset => self.dataset_matches(detail, comparison),
                    field => comparison.holds(self.run_value(entity, detail, field, &comparison.key).as_ref()),
                })
            })
            .collect();
        found.sort_by(|(left, left_run), (right, right_run)| {
            let value = |entity, run, order: &search::OrderBy| self.run_value(entity, run, order.field, &order.key);
            orders
                .iter()
                .map(|order| {
                    search::compare(
                        value(left, left_run, order).as_ref(),
                        value(right, right_run, order).as_ref(),
                        order.ascending,
                    )
                })
                .find(|ordering| ordering.is_ne())
                .unwrap_or_else(|| {
                    // MLflow's default: newest first, then by id.
                    let start = |run: &RunDetail| run.started_at.or(run.queued_at);
                    start(right_run)
                        .cmp(&start(left_run))
                        .then(left.reference.id.cmp(&right.reference.id))
                })
        });
        Ok(super::paged("runs", &found, offset, max, |(entity, _)| {
            self.run_json(entity)
        }))
    }

    /// A `datasets.name`/`datasets.digest` comparison: some dataset the run read matches.
    fn dataset_matches(&self, run: &RunDetail, comparison: &search::Comparison) -> bool {
        let view = self.view();
        run.inputs.iter().any(|dataset| {
            let Ok(Some(entity)) = view.entity(&EntityRef::new(EntityKind::Dataset, dataset)) else {
                return false;
            };
            let held = match (comparison.key.as_str(), &entity.detail) {
                ("name", _) => Some(entity.name.clone()),
                ("digest", lineage_schema::entity::Detail::Dataset { digest, .. }) => digest.clone(),
                ("context", _) => run
                    .input_tags
                    .get(dataset)
                    .and_then(|tags| tags.get("mlflow.data.context"))
                    .cloned(),
                _ => None,
            };
            comparison.holds(held.map(search::Held::Text).as_ref())
        })
    }
}

/// At most `most` of `steps` (sorted, distinct), evenly spread, the first and last kept
/// (only the last when one is asked for).
fn sampled(steps: &[i64], most: usize) -> std::collections::BTreeSet<i64> {
    if steps.len() <= most {
        return steps.iter().copied().collect();
    }
    let last = steps.len() - 1;
    if most == 1 {
        return [steps[last]].into_iter().collect();
    }
    let mut chosen: std::collections::BTreeSet<i64> =
        (0..most - 1).map(|index| steps[index * last / (most - 1)]).collect();
    chosen.insert(steps[last]);
    chosen
}

/// One metric point from `{key, value, timestamp, step}`.
fn metric_point(fields: &Fields<'_>) -> Result<MetricPoint> {
    Ok(MetricPoint {
        name: fields.text("key")?.into(),
        value: fields.float("value")?,
        step: fields.integer("step")?.unwrap_or(0),
        timestamp: fields
            .integer("timestamp")?
            .map(Timestamp::from_millis)
            .unwrap_or_else(Timestamp::now),
    })
}

/// The command that ends a run as `status` says; nothing when the run is already so (or
/// the status keeps it going).
fn finish(status: Option<&str>, run: &RunId, detail: &RunDetail) -> Result<Option<Command>> {
    let wanted = match status {
        None | Some("") | Some("RUNNING") | Some("SCHEDULED") => return Ok(None),
        Some("FINISHED") => RunStatus::Completed,
        Some("FAILED") => RunStatus::Failed,
        Some("KILLED") => RunStatus::Canceled,
        Some(other) => {
            return Err(refused(
                codes::INVALID,
                format!("Invalid run status '{other}': one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED."),
            ))
        }
    };
    if detail.status == wanted {
        return Ok(None);
    }
    let run = run.clone();
    Ok(Some(match wanted {
        RunStatus::Completed => Command::CompleteRun(RunCompleted { run }),
        RunStatus::Failed => Command::FailRun(RunFailed {
            run,
            reason: "failed (MLflow status FAILED; MLflow records no reason)".into(),
        }),
        _ => Command::CancelRun(RunCanceled { run }),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sampling_keeps_the_ends_and_spreads_the_rest() {
        let steps: Vec<i64> = (0..100).collect();
        let chosen = super::sampled(&steps, 5);
        assert_eq!(chosen.into_iter().collect::<Vec<_>>(), vec![0, 24, 49, 74, 99]);
        assert_eq!(super::sampled(&steps[..3], 5).len(), 3);
        assert_eq!(super::sampled(&steps, 1).into_iter().collect::<Vec<_>>(), vec![99]);
    }
}
