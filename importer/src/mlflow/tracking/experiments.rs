//! MLflow's experiment endpoints: create, get (by id and by name), search, rename,
//! delete, restore and tags — experiments of the tracking URI's project.

use super::search::{self, Field};
use super::{codes, page, refused, Fields, Tracking};
use crate::error::Result;
use lineage_schema::entity::Entity;
use lineage_schema::event::*;
use lineage_schema::*;
use serde_json::{json, Value};

/// MLflow's `view_type`: which lifecycle stages a search returns.
pub(super) fn wanted_stage(fields: &Fields<'_>, name: &str) -> Result<fn(&Entity) -> bool> {
    let view = match fields.0.get(name) {
        None | Some(Value::Null) => "ACTIVE_ONLY".to_string(),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(1) => "ACTIVE_ONLY".into(),
            Some(2) => "DELETED_ONLY".into(),
            Some(3) => "ALL".into(),
            _ => number.to_string(),
        },
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    match view.as_str() {
        "ACTIVE_ONLY" => Ok(|entity| !entity.deleted),
        "DELETED_ONLY" => Ok(|entity| entity.deleted),
        "ALL" => Ok(|_| true),
        other => Err(refused(
            codes::INVALID,
            format!("Invalid view type '{other}': one of ACTIVE_ONLY, DELETED_ONLY, ALL."),
        )),
    }
}

impl Tracking<'_> {
    /// The experiment, if it is one of this tracking URI's (another project's is, to
    /// MLflow, not there).
    pub(super) fn experiment(&self, mlflow_id: &str) -> Result<Entity> {
        let missing = || refused(codes::NOT_FOUND, format!("No Experiment with id={mlflow_id} exists"));
        if mlflow_id == "0" {
            self.ensure_default_experiment()?;
        }
        let id = self.experiment_id(mlflow_id)?;
        let project = EntityRef::new(EntityKind::Project, self.project()?);
        match self.view().entity(&EntityRef::new(EntityKind::Experiment, &id))? {
            Some(entity) if entity.parent.as_ref() == Some(&project) => Ok(entity),
            _ => Err(missing()),
        }
    }

    /// MLflow always has experiment `0`, "Default"; Lineage makes it when first named.
    fn ensure_default_experiment(&self) -> Result<()> {
        let id = self.default_experiment()?;
        if self
            .view()
            .entity(&EntityRef::new(EntityKind::Experiment, &id))?
            .is_some()
        {
            return Ok(());
        }
        let command = Command::CreateExperiment(ExperimentCreated {
            experiment: id.clone(),
            project: self.project()?.clone(),
            name: Name::new("Default")?,
            entry_point: "(not recorded by MLflow)".into(),
            language: Language::Python,
            source_digest: Digest::ZERO,
        });
        // Two first requests at once both try: the second finds the id taken, and fine.
        let key = EventId::new(crate::target::derived_id("mlflow-default-made", &[id.as_str()]))?;
        let envelope = CommandEnvelope::new(self.target.actor.clone(), command)
            .with_event_id(key)
            .expecting(0);
        match self.store.execute_batch(self.target.batch(vec![envelope])) {
            Ok(_) => {
                self.target.appended();
                Ok(())
            }
            Err(error) if error.rejection().is_some_and(|r| r.code() == "ALREADY_EXISTS") => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    pub(super) fn create_experiment(&self, fields: &Fields<'_>) -> Result<Value> {
        let name = fields.text("name")?;
        let project = self.project()?.clone();
        let id: ExperimentId = crate::target::parse(&super::fresh_id("mlflow-exp-", &[project.as_str(), name]))?;
        let mut commands = vec![Command::CreateExperiment(ExperimentCreated {
            experiment: id.clone(),
            project,
            name: Name::new(name).map_err(|rejection| refused(codes::INVALID, rejection.to_string()))?,
            entry_point: "(not recorded by MLflow)".into(),
            language: Language::Python,
            source_digest: Digest::ZERO,
        })];
        let tags = tag_list(fields.pairs("tags")?);
        if !tags.is_empty() {
            commands.push(Command::SetExperimentTags(ExperimentTagsSet {
                experiment: id.clone(),
                tags,
            }));
        }
        self.execute(commands, None).map_err(|error| match error.code() {
            Some("DUPLICATE_NAME") => refused(codes::EXISTS, format!("Experiment '{name}' already exists.")),
            _ => error,
        })?;
        Ok(json!({ "experiment_id": id.to_string() }))
    }

    pub(super) fn get_experiment(&self, fields: &Fields<'_>) -> Result<Value> {
        let entity = self.experiment(fields.text("experiment_id")?)?;
        Ok(json!({ "experiment": self.experiment_json(&entity) }))
    }

    pub(super) fn get_experiment_by_name(&self, fields: &Fields<'_>) -> Result<Value> {
        let name = fields.text("experiment_name")?;
        if name == "Default" {
            self.ensure_default_experiment()?;
        }
        let project = EntityRef::new(EntityKind::Project, self.project()?);
        let found = match self.view().find_by_name(Some(&project), EntityKind::Experiment, name) {
            Ok(found) => found,
            // The project is made with the first experiment: until then, none is there.
            Err(error) if error.rejection().is_some_and(|r| r.code() == "NOT_FOUND") => None,
            Err(error) => return Err(error.into()),
        };
        match found {
            Some(entity) => Ok(json!({ "experiment": self.experiment_json(&entity) })),
            None => Err(refused(
                codes::NOT_FOUND,
                format!("Could not find experiment with name '{name}'"),
            )),
        }
    }

    /// This tracking URI's experiments (none while its project is not made yet).
    pub(super) fn experiments(&self) -> Result<Vec<Entity>> {
        let project = EntityRef::new(EntityKind::Project, self.project()?);
        match self.view().children(&project, EntityKind::Experiment) {
            Ok(experiments) => Ok(experiments),
            Err(error) if error.rejection().is_some_and(|r| r.code() == "NOT_FOUND") => Ok(Vec::new()),
            Err(error) => Err(error.into()),
        }
    }

    pub(super) fn search_experiments(&self, fields: &Fields<'_>) -> Result<Value> {
        let keep = wanted_stage(fields, "view_type")?;
        let filter = search::parse_filter(fields.optional_text("filter").unwrap_or_default())
            .map_err(|error| refused(codes::INVALID, format!("Invalid filter: {error}")))?;
        let orders = order_list(fields)?;
        let (max, offset) = page(fields, 1000)?;
        let mut found: Vec<Entity> = self
            .experiments()?
            .into_iter()
            .filter(keep)
            .filter(|entity| {
                filter.iter().all(|comparison| {
                    comparison.holds(
                        self.experiment_value(entity, comparison.field, &comparison.key)
                            .as_ref(),
                    )
                })
            })
            .collect();
        found.sort_by(|left, right| {
            orders
                .iter()
                .map(|order| {
                    search::compare(
                        self.experiment_value(left, order.field, &order.key).as_ref(),
                        self.experiment_value(right, order.field, &order.key).as_ref(),
                        order.ascending,
                    )
                })
                .find(|ordering| ordering.is_ne())
                .unwrap_or_else(|| right.created.seq.cmp(&left.created.seq))
        });
        Ok(super::paged("experiments", &found, offset, max, |entity| {
            self.experiment_json(entity)
        }))
    }

    pub(super) fn update_experiment(&self, fields: &Fields<'_>) -> Result<Value> {
        let entity = self.experiment(fields.text("experiment_id")?)?;
        let name = fields.text("new_name")?;
        let command = Command::RenameExperiment(ExperimentRenamed {
            experiment: ExperimentId::new(entity.reference.id.clone())?,
            name: Name::new(name).map_err(|rejection| refused(codes::INVALID, rejection.to_string()))?,
        });
        self.execute(vec![command], None).map_err(|error| match error.code() {
            Some("DUPLICATE_NAME") => refused(codes::EXISTS, format!("Experiment '{name}' already exists.")),
            _ => error,
        })?;
        Ok(json!({}))
    }

    pub(super) fn delete_experiment(&self, fields: &Fields<'_>) -> Result<Value> {
        let entity = self.experiment(fields.text("experiment_id")?)?;
        let experiment = ExperimentId::new(entity.reference.id.clone())?;
        self.execute(vec![Command::DeleteExperiment(ExperimentDeleted { experiment })], None)?;
        Ok(json!({}))
    }

    pub(super) fn restore_experiment(&self, fields: &Fields<'_>) -> Result<Value> {
        let entity = self.experiment(fields.text("experiment_id")?)?;
        let experiment = ExperimentId::new(entity.reference.id.clone())?;
        self.execute(
            vec![Command::RestoreExperiment(ExperimentRestored { experiment })],
            None,
        )?;
        Ok(json!({}))
    }

    pub(super) fn set_experiment_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let entity = self.experiment(fields.text("experiment_id")?)?;
        let tags = tag_list(vec![(
            fields.text("key")?.to_string(),
            fields.optional_text("value").unwrap_or_default().to_string(),
        )]);
        let experiment = ExperimentId::new(entity.reference.id.clone())?;
        self.execute(
            vec![Command::SetExperimentTags(ExperimentTagsSet { experiment, tags })],
            None,
        )?;
        Ok(json!({}))
    }
}

pub(super) fn tag_list(pairs: Vec<(String, String)>) -> Vec<Tag> {
    pairs.into_iter().map(|(key, value)| Tag { key, value }).collect()
}

/// The request's `order_by`, parsed.
pub(super) fn order_list(fields: &Fields<'_>) -> Result<Vec<search::OrderBy>> {
    let texts: Vec<&str> = match fields.0.get("order_by") {
        Some(Value::String(text)) => vec![text.as_str()],
        _ => fields.list("order_by").iter().filter_map(Value::as_str).collect(),
    };
    texts
        .into_iter()
        .map(|text| {
            search::parse_order(text)
                .map_err(|error| refused(codes::INVALID, format!("Invalid order_by clause '{text}': {error}")))
        })
        .collect::<Result<_>>()
        .map(|orders: Vec<search::OrderBy>| {
            orders
                .into_iter()
                .filter(|order| order.field != Field::Dataset)
                .collect()
        })
}
