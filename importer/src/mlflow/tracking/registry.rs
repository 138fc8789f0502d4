//! MLflow's model registry as Lineage's models: a registered model is a model of the
//! account's model management account (found by its name), a model version a version of
//! it produced by its run (or uploaded,
//! when it names no run of this tracking URI), numbered by the store as MLflow numbers
//! them; tags and aliases are the model's own. `trace` and `impact` see them at once.

use super::answers::{artifact_uri, pairs};
use super::search;
use super::{codes, page, refused, Fields, Tracking};
use crate::error::Result;
use lineage_schema::command::RegisterModelVersion;
use lineage_schema::entity::{logged_model_at, Detail, Entity, ModelVersion};
use lineage_schema::event::*;
use lineage_schema::*;
use serde_json::{json, Value};

/// A registry filter's comparison: as elsewhere, except that a model or version without
/// the tag is "not equal" to any value — how MLflow's client leaves prompts out
/// (`tag.mlflow.prompt.is_prompt != 'true'`) without leaving out every model.
fn registry_holds(comparison: &search::Comparison, held: Option<String>) -> bool {
    match held {
        None => comparison.op == search::Op::Ne,
        held => comparison.holds(held.map(search::Held::Text).as_ref()),
    }
}

/// A version number as MLflow sends it (a string, or a number).
fn version_number(fields: &Fields<'_>) -> Result<u32> {
    let text = match fields.0.get("version") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => {
            return Err(refused(
                codes::INVALID,
                "Missing value for required parameter 'version'.",
            ))
        }
    };
    text.parse().map_err(|_| {
        refused(
            codes::INVALID,
            format!("Model version must be an integer, not '{text}'."),
        )
    })
}

impl Tracking<'_> {
    fn model_account(&self) -> Result<&AccountId> {
        self.target.model_account.as_ref().ok_or_else(|| {
            refused(
                codes::INVALID,
                "The account's subscription has no single model management account to hold registered models (it has none, or several).",
            )
        })
    }

    /// A new model's id: fresh, not derived from the name, since a renamed model keeps
    /// its id and its old name may be taken again.
    fn model_id(&self, name: &str) -> Result<ModelId> {
        crate::target::parse(&super::fresh_id(
            "mlflow-model-",
            &[self.model_account()?.as_str(), name],
        ))
    }

    /// The registered model named `name`.
    fn registered(&self, name: &str) -> Result<Entity> {
        let account = EntityRef::new(EntityKind::ModelManagementAccount, self.model_account()?);
        self.view()
            .find_by_name(Some(&account), EntityKind::Model, name)?
            .filter(|entity| !entity.deleted)
            .ok_or_else(|| refused(codes::NOT_FOUND, format!("Registered Model with name={name} not found")))
    }

    fn model_version_json(&self, model: &Entity, version: &ModelVersion) -> Value {
        let (aliases, updated) = match &model.detail {
            Detail::Model { aliases, .. } => (
                aliases
                    .iter()
                    .filter(|(_, number)| **number == version.version)
                    .map(|(alias, _)| alias.clone())
                    .collect::<Vec<_>>(),
                model.updated.at,
            ),
            _ => (Vec::new(), model.updated.at),
        };
        let (source, run_id, model_id) = match &version.source {
            ModelSource::Run { run, artifact_path } => (
                self.run_source_uri(run, artifact_path),
                run.to_string(),
                logged_model_at(run, artifact_path).unwrap_or_default(),
            ),
            ModelSource::Uploaded { location, .. } => (location.clone(), String::new(), String::new()),
        };
        json!({
            "name": model.name,
            "version": version.version.to_string(),
            "creation_timestamp": super::millis(version.registered.at),
            "last_updated_timestamp": super::millis(updated),
            "current_stage": "None",
            "description": version.description,
            "source": source,
            "run_id": run_id,
            "model_id": model_id,
            "status": "READY",
            "tags": pairs(&version.tags),
            "aliases": aliases,
        })
    }

    fn registered_model_json(&self, model: &Entity) -> Value {
        let Detail::Model {
            description,
            versions,
            tags,
            aliases,
            ..
        } = &model.detail
        else {
            return Value::Null;
        };
        let latest: Vec<Value> = versions
            .last()
            .map(|version| self.model_version_json(model, version))
            .into_iter()
            .collect();
        let aliases: Vec<Value> = aliases
            .iter()
            .map(|(alias, version)| json!({ "alias": alias, "version": version.to_string() }))
            .collect();
        json!({
            "name": model.name,
            "creation_timestamp": super::millis(model.created.at),
            "last_updated_timestamp": super::millis(model.updated.at),
            "description": description,
            "latest_versions": latest,
            "tags": pairs(tags),
            "aliases": aliases,
        })
    }

    fn version_of<'e>(&self, model: &'e Entity, number: u32) -> Result<&'e ModelVersion> {
        match &model.detail {
            Detail::Model { versions, .. } => versions.iter().find(|version| version.version == number),
            _ => None,
        }
        .ok_or_else(|| {
            refused(
                codes::NOT_FOUND,
                format!("Model Version (name={}, version={number}) not found", model.name),
            )
        })
    }

    pub(super) fn create_registered_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let name = fields.text("name")?;
        let model = self.model_id(name)?;
        let mut commands = vec![Command::CreateModel(ModelCreated {
            model: model.clone(),
            account: self.model_account()?.clone(),
            name: Name::new(name).map_err(|rejection| refused(codes::INVALID, rejection.to_string()))?,
            description: fields.optional_text("description").unwrap_or_default().into(),
        })];
        let tags = super::experiments::tag_list(fields.pairs("tags")?);
        if !tags.is_empty() {
            commands.push(Command::SetModelTags(ModelTagsSet { model, tags }));
        }
        self.execute(commands, None).map_err(|error| match error.code() {
            Some("ALREADY_EXISTS" | "DUPLICATE_NAME") => {
                refused(codes::EXISTS, format!("Registered Model (name={name}) already exists."))
            }
            _ => error,
        })?;
        Ok(json!({ "registered_model": self.registered_model_json(&self.registered(name)?) }))
    }

    pub(super) fn get_registered_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        Ok(json!({ "registered_model": self.registered_model_json(&model) }))
    }

    /// The account's registered models, filtered (`name LIKE '…'`, `tags.k = '…'`).
    pub(super) fn search_registered_models(&self, fields: &Fields<'_>) -> Result<Value> {
        let filter = search::parse_filter(fields.optional_text("filter").unwrap_or_default())
            .map_err(|error| refused(codes::INVALID, format!("Invalid filter: {error}")))?;
        let (max, offset) = page(fields, 100)?;
        let account = EntityRef::new(EntityKind::ModelManagementAccount, self.model_account()?);
        let mut found: Vec<Entity> = self
            .view()
            .children(&account, EntityKind::Model)?
            .into_iter()
            .filter(|model| !model.deleted)
            .filter(|model| {
                filter.iter().all(|comparison| {
                    let held = match (comparison.field, &model.detail) {
                        (search::Field::Attribute, _) if comparison.key == "name" => Some(model.name.clone()),
                        (search::Field::Tag, Detail::Model { tags, .. }) => tags.get(&comparison.key).cloned(),
                        _ => None,
                    };
                    registry_holds(comparison, held)
                })
            })
            .collect();
        found.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(super::paged("registered_models", &found, offset, max, |model| {
            self.registered_model_json(model)
        }))
    }

    pub(super) fn set_registered_model_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let tags = super::experiments::tag_list(vec![(
            fields.text("key")?.into(),
            fields.optional_text("value").unwrap_or_default().into(),
        )]);
        let model = ModelId::new(model.reference.id.clone())?;
        self.execute(vec![Command::SetModelTags(ModelTagsSet { model, tags })], None)?;
        Ok(json!({}))
    }

    /// `registered-models/alias`: GET names the version, POST points the alias, DELETE
    /// removes it.
    pub(super) fn alias(&self, verb: &str, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let alias = fields.text("alias")?;
        let id = ModelId::new(model.reference.id.clone())?;
        match verb {
            "POST" => {
                let version = version_number(fields)?;
                self.version_of(&model, version)?;
                let command = Command::SetModelAlias(ModelAliasSet {
                    model: id,
                    alias: alias.into(),
                    version,
                });
                self.execute(vec![command], None)?;
                Ok(json!({}))
            }
            "DELETE" => {
                let command = Command::RemoveModelAlias(ModelAliasRemoved {
                    model: id,
                    alias: alias.into(),
                });
                self.execute(vec![command], None)?;
                Ok(json!({}))
            }
            _ => {
                let number = match &model.detail {
                    Detail::Model { aliases, .. } => aliases.get(alias).copied(),
                    _ => None,
                }
                .ok_or_else(|| refused(codes::NOT_FOUND, format!("Registered model alias {alias} not found.")))?;
                let version = self.version_of(&model, number)?;
                Ok(json!({ "model_version": self.model_version_json(&model, version) }))
            }
        }
    }

    /// The newest version (Lineage's versions have no stages: every one is `None`).
    pub(super) fn get_latest_versions(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let stages = fields.texts("stages");
        let versions: Vec<Value> = match &model.detail {
            Detail::Model { versions, .. }
                if stages.is_empty() || stages.iter().any(|stage| stage.eq_ignore_ascii_case("none")) =>
            {
                versions
                    .last()
                    .map(|version| self.model_version_json(&model, version))
                    .into_iter()
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(json!({ "model_versions": versions }))
    }

    /// A new version: produced by its run when the run is one of this tracking URI's,
    /// otherwise uploaded from its source.
    pub(super) fn create_model_version(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let source = self.version_source(fields)?;
        let id = ModelId::new(model.reference.id.clone())?;
        let command = Command::RegisterModelVersion(RegisterModelVersion {
            model: id,
            source,
            derived_from: None,
            tags: super::experiments::tag_list(fields.pairs("tags")?),
        });
        self.execute(vec![command], None)?;
        let model = self.registered(&model.name)?;
        let newest = match &model.detail {
            Detail::Model { versions, .. } => versions.last(),
            _ => None,
        }
        .ok_or_else(|| refused(codes::NOT_FOUND, "the new version is not there"))?;
        Ok(json!({ "model_version": self.model_version_json(&model, newest) }))
    }

    /// Where a new version comes from: a logged model (`models:/<id>` or `model_id`) is
    /// its run's files under the model's folder; a `run_id` with a location among that
    /// run's artifacts is the run's artifact at that path; anything else is uploaded.
    fn version_source(&self, fields: &Fields<'_>) -> Result<ModelSource> {
        let location = fields.text("source")?;
        let run = fields.optional_text("run_id").filter(|run| !run.is_empty());
        let logged = fields
            .optional_text("model_id")
            .filter(|id| !id.is_empty())
            .or_else(|| {
                location
                    .strip_prefix("models:/")
                    .filter(|id| !id.contains('/') && !id.contains('@'))
            });
        if let Some(id) = logged {
            let (model_run, folder) = self.logged_model_files(id)?;
            if run.is_some_and(|run| run != model_run.as_str()) {
                return Err(refused(
                    codes::INVALID,
                    format!(
                        "Logged model {id} was logged by run {model_run}, not {}.",
                        run.unwrap_or_default()
                    ),
                ));
            }
            return Ok(ModelSource::Run {
                run: model_run,
                artifact_path: folder,
            });
        }
        let Some(run) = run else {
            return Ok(ModelSource::Uploaded {
                location: location.into(),
                digest: None,
            });
        };
        let (run, entity) = self.run_by_id(run)?;
        let root = super::answers::run_detail(&entity).map(|detail| artifact_uri(&detail.experiment, &run, ""));
        let inside = root.and_then(|root| location.strip_prefix(&format!("{root}/")).map(str::to_string));
        Ok(ModelSource::Run {
            artifact_path: inside.unwrap_or_else(|| location.into()),
            run,
        })
    }

    /// Where MLflow's clients read a run-made version's files: the run's artifact path
    /// as an `mlflow-artifacts` URI (a location recorded as given stays as it is).
    fn run_source_uri(&self, run: &RunId, artifact_path: &str) -> String {
        if artifact_path.contains(":/") {
            return artifact_path.to_string();
        }
        let experiment = self
            .view()
            .entity(&EntityRef::new(EntityKind::Run, run))
            .ok()
            .flatten()
            .and_then(|entity| super::answers::run_detail(&entity).map(|detail| detail.experiment.clone()));
        match experiment {
            Some(experiment) => artifact_uri(&experiment, run, artifact_path),
            None => artifact_path.to_string(),
        }
    }

    pub(super) fn get_model_version(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = self.version_of(&model, version_number(fields)?)?;
        Ok(json!({ "model_version": self.model_version_json(&model, version) }))
    }

    pub(super) fn model_version_download_uri(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = self.version_of(&model, version_number(fields)?)?;
        let uri = match &version.source {
            ModelSource::Run { run, artifact_path } => self.run_source_uri(run, artifact_path),
            ModelSource::Uploaded { location, .. } => location.clone(),
        };
        Ok(json!({ "artifact_uri": uri }))
    }

    /// Versions of the account's models, filtered by `name = '…'` or `run_id = '…'`.
    pub(super) fn search_model_versions(&self, fields: &Fields<'_>) -> Result<Value> {
        let filter = search::parse_filter(fields.optional_text("filter").unwrap_or_default())
            .map_err(|error| refused(codes::INVALID, format!("Invalid filter: {error}")))?;
        let (max, offset) = page(fields, 10_000)?;
        let account = EntityRef::new(EntityKind::ModelManagementAccount, self.model_account()?);
        let mut found = Vec::new();
        for model in self
            .view()
            .children(&account, EntityKind::Model)?
            .into_iter()
            .filter(|model| !model.deleted)
        {
            let Detail::Model { versions, .. } = &model.detail else {
                continue;
            };
            for version in versions {
                let answer = self.model_version_json(&model, version);
                let keep = filter.iter().all(|comparison| {
                    let held = match comparison.field {
                        search::Field::Attribute => {
                            answer.get(&comparison.key).and_then(Value::as_str).map(str::to_string)
                        }
                        search::Field::Tag => version.tags.get(&comparison.key).cloned(),
                        _ => None,
                    };
                    registry_holds(comparison, held)
                });
                if keep {
                    found.push(answer);
                }
            }
        }
        Ok(super::paged("model_versions", &found, offset, max, Value::clone))
    }

    pub(super) fn rename_registered_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let new_name = fields.text("new_name")?;
        let command = Command::RenameModel(ModelRenamed {
            model: ModelId::new(model.reference.id.clone())?,
            name: Name::new(new_name).map_err(|rejection| refused(codes::INVALID, rejection.to_string()))?,
        });
        self.execute(vec![command], None).map_err(|error| match error.code() {
            Some("DUPLICATE_NAME") => refused(
                codes::EXISTS,
                format!("Registered Model (name={new_name}) already exists."),
            ),
            _ => error,
        })?;
        Ok(json!({ "registered_model": self.registered_model_json(&self.registered(new_name)?) }))
    }

    pub(super) fn update_registered_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let name = fields.text("name")?;
        let model = self.registered(name)?;
        let command = Command::DescribeModel(ModelDescribed {
            model: ModelId::new(model.reference.id.clone())?,
            description: fields.optional_text("description").unwrap_or_default().into(),
        });
        self.execute(vec![command], None)?;
        Ok(json!({ "registered_model": self.registered_model_json(&self.registered(name)?) }))
    }

    pub(super) fn delete_registered_model_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let key = fields.text("key")?;
        let held = matches!(&model.detail, Detail::Model { tags, .. } if tags.contains_key(key));
        if !held {
            return Err(refused(
                codes::NOT_FOUND,
                format!("No tag with key '{key}' on registered model {}.", model.name),
            ));
        }
        let model = ModelId::new(model.reference.id.clone())?;
        self.execute(
            vec![Command::DeleteModelTag(ModelTagDeleted { model, key: key.into() })],
            None,
        )?;
        Ok(json!({}))
    }

    pub(super) fn delete_model_version_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = version_number(fields)?;
        let key = fields.text("key")?;
        if !self.version_of(&model, version)?.tags.contains_key(key) {
            return Err(refused(
                codes::NOT_FOUND,
                format!(
                    "No tag with key '{key}' on version {version} of registered model {}.",
                    model.name
                ),
            ));
        }
        let model = ModelId::new(model.reference.id.clone())?;
        let command = Command::DeleteModelVersionTag(ModelVersionTagDeleted {
            model,
            version,
            key: key.into(),
        });
        self.execute(vec![command], None)?;
        Ok(json!({}))
    }

    pub(super) fn set_model_version_tag(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = version_number(fields)?;
        self.version_of(&model, version)?;
        let tags = super::experiments::tag_list(vec![(
            fields.text("key")?.into(),
            fields.optional_text("value").unwrap_or_default().into(),
        )]);
        let model = ModelId::new(model.reference.id.clone())?;
        self.execute(
            vec![Command::SetModelVersionTags(ModelVersionTagsSet {
                model,
                version,
                tags,
            })],
            None,
        )?;
        Ok(json!({}))
    }

    /// `registered-models/delete`: the model's name is free again.
    pub(super) fn delete_registered_model(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = ModelId::new(self.registered(fields.text("name")?)?.reference.id)?;
        self.execute(vec![Command::DeleteModel(ModelDeleted { model })], None)?;
        Ok(json!({}))
    }

    /// `model-versions/update`: a new description for the version.
    pub(super) fn update_model_version(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = self.version_of(&model, version_number(fields)?)?.version;
        let description = fields.optional_text("description").unwrap_or_default().to_string();
        let id = ModelId::new(model.reference.id.clone())?;
        let command = Command::DescribeModelVersion(ModelVersionDescribed {
            model: id,
            version,
            description,
        });
        self.execute(vec![command], None)?;
        let model = self.registered(&model.name)?;
        Ok(json!({ "model_version": self.model_version_json(&model, self.version_of(&model, version)?) }))
    }

    /// `model-versions/delete`: its number is not reused; aliases naming it go.
    pub(super) fn delete_model_version(&self, fields: &Fields<'_>) -> Result<Value> {
        let model = self.registered(fields.text("name")?)?;
        let version = self.version_of(&model, version_number(fields)?)?.version;
        let model = ModelId::new(model.reference.id)?;
        self.execute(
            vec![Command::DeleteModelVersion(ModelVersionDeleted { model, version })],
            None,
        )?;
        Ok(json!({}))
    }
}
