//! MLflow 3's logged models as a run's numbered models: created (with the run's next
//! number), finalized, read, searched, tagged, given params, named as the run's outputs
//! and deleted. A logged model's id (`m-<run>-<number>`) names its run, and its files are
//! the run's artifacts under `models/<id>/`, uploaded through the artifact proxy.

use super::answers::{artifact_uri, pairs, run_detail};
use super::experiments::tag_list;
use super::search::{self, Field, Held};
use super::{codes, millis, page, refused, Fields, Tracking};
use crate::error::Result;
use lineage_schema::entity::{logged_model_folder, logged_model_id, parse_logged_model_id, LoggedModel, RunDetail};
use lineage_schema::event::*;
use lineage_schema::*;
use serde_json::{json, Value};

/// A logged model found through its id: the run's id, its number, the run and the model.
struct Found {
    run: RunId,
    number: u32,
    detail: RunDetail,
    model: LoggedModel,
}

fn missing(id: &str) -> crate::error::Error {
    refused(codes::NOT_FOUND, format!("Logged model with ID '{id}' not found."))
}

fn param_list(pairs: Vec<(String, String)>) -> Vec<Param> {
    pairs.into_iter().map(|(key, value)| Param { key, value }).collect()
}

/// MLflow's name for a logged model's status.
fn status_name(status: Option<LoggedModelStatus>) -> &'static str {
    match status {
        None => "LOGGED_MODEL_PENDING",
        Some(LoggedModelStatus::Ready) => "LOGGED_MODEL_READY",
        Some(LoggedModelStatus::Failed) => "LOGGED_MODEL_UPLOAD_FAILED",
    }
}

/// The status a finalize request asks for (by name or by proto number).
fn requested_status(fields: &Fields<'_>) -> Result<LoggedModelStatus> {
    match fields.0.get("status") {
        Some(Value::String(name)) if name == "LOGGED_MODEL_READY" => Ok(LoggedModelStatus::Ready),
        Some(Value::String(name)) if name == "LOGGED_MODEL_UPLOAD_FAILED" => Ok(LoggedModelStatus::Failed),
        Some(Value::Number(number)) if number.as_i64() == Some(2) => Ok(LoggedModelStatus::Ready),
        Some(Value::Number(number)) if number.as_i64() == Some(3) => Ok(LoggedModelStatus::Failed),
        other => Err(refused(
            codes::INVALID,
            format!(
                "Invalid value {} for parameter 'status': a logged model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.",
                other.map_or("(none)".into(), Value::to_string)
            ),
        )),
    }
}

impl Tracking<'_> {
    /// Answers `logged-models…` (`rest` is what follows `logged-models/`, if anything).
    pub(super) fn logged_models(&self, verb: &str, rest: Option<&str>, fields: &Fields<'_>) -> Result<Value> {
        let parts: Vec<&str> = rest.map(|rest| rest.split('/').collect()).unwrap_or_default();
        match (verb, parts.as_slice()) {
            ("POST", []) => self.create_logged_model(fields),
            ("POST", ["search"]) => self.search_logged_models(fields),
            ("GET", [id]) => Ok(json!({ "model": self.logged_model_json(&self.find_logged(id)?) })),
            ("PATCH", [id]) => self.finalize_logged_model(id, fields),
            ("DELETE", [id]) => self.change_logged(id, |run, number| {
                Command::DeleteLoggedModel(LoggedModelDeleted { run, number })
            }),
            ("PATCH", [id, "tags"]) => {
                let tags = tag_list(fields.pairs("tags")?);
                self.change_logged(id, |run, number| {
                    Command::SetLoggedModelTags(LoggedModelTagsSet { run, number, tags })
                })
            }
            ("DELETE", [id, "tags", key]) => {
                let key = key.to_string();
                self.change_logged(id, |run, number| {
                    Command::DeleteLoggedModelTag(LoggedModelTagDeleted { run, number, key })
                })
            }
            ("POST", [id, "params"]) => {
                let params = param_list(fields.pairs("params")?);
                self.change_logged(id, |run, number| {
                    Command::LogLoggedModelParams(LoggedModelParamsLogged { run, number, params })
                })
            }
            ("GET", [id, "artifacts", "directories"]) => {
                let found = self.find_logged(id)?;
                let folder = logged_model_folder(&found.run, found.number);
                let within = fields.optional_text("artifact_directory_path").unwrap_or_default();
                let path = format!("{}/{}/artifacts/{folder}/{within}", found.detail.experiment, found.run);
                self.list_artifacts(path.trim_end_matches('/'))
            }
            _ => Err(refused(
                codes::ENDPOINT,
                format!(
                    "Lineage's MLflow API has no endpoint `{verb} logged-models/{}`.",
                    rest.unwrap_or_default()
                ),
            )),
        }
    }

    /// The logged model an id names, if its run is one of this tracking URI's.
    fn find_logged(&self, id: &str) -> Result<Found> {
        let (run, number) = parse_logged_model_id(id).ok_or_else(|| missing(id))?;
        let (_, entity) = self.run_by_id(run.as_str()).map_err(|_| missing(id))?;
        let detail = run_detail(&entity).cloned().ok_or_else(|| missing(id))?;
        let model = detail.logged_models.get(&number).cloned().ok_or_else(|| missing(id))?;
        Ok(Found {
            run,
            number,
            detail,
            model,
        })
    }

    /// The run that logged model `id` and the folder of its files there.
    pub(super) fn logged_model_files(&self, id: &str) -> Result<(RunId, String)> {
        let found = self.find_logged(id)?;
        let folder = logged_model_folder(&found.run, found.number);
        Ok((found.run, folder))
    }

    /// Appends the command `change` makes for the logged model `id`, and answers it anew.
    fn change_logged(&self, id: &str, change: impl FnOnce(RunId, u32) -> Command) -> Result<Value> {
        let found = self.find_logged(id)?;
        self.execute(vec![change(found.run.clone(), found.number)], None)?;
        let model = self.find_logged(id).ok().map(|found| self.logged_model_json(&found));
        Ok(model.map_or_else(|| json!({}), |model| json!({ "model": model })))
    }

    fn create_logged_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let run_id = fields
            .optional_text("source_run_id")
            .filter(|run| !run.is_empty())
            .ok_or_else(|| {
                refused(
                    codes::INVALID,
                    "Lineage keeps a logged model with the run that logged it: 'source_run_id' is required.",
                )
            })?;
        let (run, entity) = self.run_by_id(run_id)?;
        let detail = run_detail(&entity).cloned().ok_or_else(|| missing(run_id))?;
        if let Some(experiment) = fields.optional_text("experiment_id") {
            if self.experiment_id(experiment)? != detail.experiment {
                return Err(refused(
                    codes::INVALID,
                    format!("Run {run} is not in experiment {experiment}."),
                ));
            }
        }
        let number = detail.models_logged + 1;
        let command = Command::LogModel(ModelLogged {
            run: run.clone(),
            number,
            name: fields.optional_text("name").unwrap_or("model").to_string(),
            model_type: fields.optional_text("model_type").unwrap_or_default().to_string(),
            params: param_list(fields.pairs("params")?),
            tags: tag_list(fields.pairs("tags")?),
        });
        self.execute(vec![command], None)?;
        let found = self.find_logged(&logged_model_id(&run, number))?;
        Ok(json!({ "model": self.logged_model_json(&found) }))
    }

    fn finalize_logged_model(&self, id: &str, fields: &Fields<'_>) -> Result<Value> {
        let status = requested_status(fields)?;
        self.change_logged(id, |run, number| {
            Command::FinalizeLoggedModel(LoggedModelFinalized { run, number, status })
        })
    }

    /// `runs/outputs`: the run names models it logged as outputs, each at a step.
    pub(super) fn log_outputs(&self, fields: &Fields<'_>) -> Result<Value> {
        let (run, _) = self.run_by_id(fields.text("run_id")?)?;
        let mut commands = Vec::new();
        for output in fields.list("models") {
            let output = Fields(output);
            let id = output.text("model_id")?;
            let found = self.find_logged(id)?;
            if found.run != run {
                return Err(refused(
                    codes::INVALID,
                    format!("Logged model {id} was logged by run {}: Lineage records a model as an output of the run that logged it.", found.run),
                ));
            }
            commands.push(Command::RecordModelOutput(ModelOutputRecorded {
                run: run.clone(),
                number: found.number,
                step: output.integer("step")?.unwrap_or(0),
            }));
        }
        self.execute(commands, None)?;
        Ok(json!({}))
    }

    /// Logged models of the experiments asked for, filtered and ordered with MLflow's
    /// grammar over their attributes, params and tags.
    fn search_logged_models(&self, fields: &Fields<'_>) -> Result<Value> {
        let filter = search::parse_filter(fields.optional_text("filter").unwrap_or_default())
            .map_err(|error| refused(codes::INVALID, format!("Invalid filter: {error}")))?;
        if let Some(comparison) = filter
            .iter()
            .find(|comparison| matches!(comparison.field, Field::Metric | Field::Dataset))
        {
            return Err(refused(
                codes::INVALID,
                format!(
                    "Invalid filter: logged models are not searched by metrics or datasets (`{}`).",
                    comparison.key
                ),
            ));
        }
        let orders = model_orders(fields.list("order_by"))?;
        let (max, offset) = page(fields, 100)?;
        let mut found = Vec::new();
        for experiment in fields.texts("experiment_ids") {
            let experiment = self.experiment(experiment)?;
            for entity in self.view().children(&experiment.reference, EntityKind::Run)? {
                let (Some(detail), Ok(run)) = (run_detail(&entity), RunId::new(entity.reference.id.clone())) else {
                    continue;
                };
                for (number, model) in &detail.logged_models {
                    found.push(Found {
                        run: run.clone(),
                        number: *number,
                        detail: detail.clone(),
                        model: model.clone(),
                    });
                }
            }
        }
        found.retain(|model| {
            filter
                .iter()
                .all(|comparison| comparison.holds(logged_value(model, comparison.field, &comparison.key).as_ref()))
        });
        found.sort_by(|left, right| {
            orders
                .iter()
                .map(|order| {
                    search::compare(
                        logged_value(left, order.field, &order.key).as_ref(),
                        logged_value(right, order.field, &order.key).as_ref(),
                        order.ascending,
                    )
                })
                .find(|ordering| ordering.is_ne())
                // MLflow's default: newest first.
                .unwrap_or_else(|| right.model.logged.seq.cmp(&left.model.logged.seq))
        });
        Ok(super::paged("models", &found, offset, max, |model| {
            self.logged_model_json(model)
        }))
    }

    fn logged_model_json(&self, found: &Found) -> Value {
        let id = logged_model_id(&found.run, found.number);
        let folder = logged_model_folder(&found.run, found.number);
        json!({
            "info": {
                "model_id": id,
                "experiment_id": self.mlflow_experiment_id(&found.detail.experiment),
                "name": found.model.name,
                "creation_timestamp_ms": millis(found.model.logged.at),
                "last_updated_timestamp_ms": millis(found.model.updated.at),
                "artifact_uri": artifact_uri(&found.detail.experiment, &found.run, &folder),
                "status": status_name(found.model.status),
                "model_type": found.model.model_type,
                "source_run_id": found.run.as_str(),
                "tags": pairs(&found.model.tags),
            },
            "data": { "params": pairs(&found.model.params) },
        })
    }
}

/// A logged-model search's `order_by`: objects of `field_name` and `ascending`.
fn model_orders(list: &[Value]) -> Result<Vec<search::OrderBy>> {
    list.iter()
        .map(|order| {
            let order = Fields(order);
            let name = order.text("field_name")?;
            let mut parsed = search::parse_order(name)
                .map_err(|error| refused(codes::INVALID, format!("Invalid order_by field '{name}': {error}")))?;
            parsed.ascending = order.0.get("ascending").and_then(Value::as_bool).unwrap_or(true);
            Ok(parsed)
        })
        .collect()
}

/// What a logged model holds for a search key.
fn logged_value(found: &Found, field: Field, key: &str) -> Option<Held> {
    match field {
        Field::Param => found.model.params.get(key).cloned().map(Held::Text),
        Field::Tag => found.model.tags.get(key).cloned().map(Held::Text),
        Field::Attribute => match key {
            "name" => Some(Held::Text(found.model.name.clone())),
            "model_id" => Some(Held::Text(logged_model_id(&found.run, found.number))),
            "model_type" => Some(Held::Text(found.model.model_type.clone())),
            "status" => Some(Held::Text(status_name(found.model.status).into())),
            "source_run_id" => Some(Held::Text(found.run.to_string())),
            "creation_timestamp" | "creation_time" => Some(Held::Number(millis(found.model.logged.at) as f64)),
            "last_updated_timestamp" => Some(Held::Number(millis(found.model.updated.at) as f64)),
            _ => None,
        },
        Field::Metric | Field::Dataset => None,
    }
}
