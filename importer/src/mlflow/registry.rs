//! One MLflow registered model as Lineage commands: the model, its tags, the versions it
//! lacks (with their source run or upload), and its aliases.

use super::*;

impl Importer<'_> {
    pub(super) fn registered_model(&mut self, model: &RegisteredModel) -> Result<()> {
        let what = format!("registered model {} ({})", model.name, model.origin);
        let Some(account) = self.target.model_account.clone() else {
            return self.skip(what, "the subscription has no model management account to hold models");
        };
        let Ok(name) = Name::new(model.name.clone()) else {
            return self.skip(what, "its name is not a valid Lineage name");
        };
        let account_ref = EntityRef::new(EntityKind::ModelManagementAccount, &account);
        let existing = self
            .store
            .find_by_name(Some(&account_ref), EntityKind::Model, &model.name)?;
        let id: ModelId = match &existing {
            Some(found) => parse(&found.reference.id)?,
            None => parse(&derived_id("mlflow-model", &[account.as_str(), &model.name]))?,
        };
        let created = existing.is_none();
        let (held_tags, held_versions, held_aliases) = match existing.as_ref().map(|entity| &entity.detail) {
            Some(Detail::Model {
                tags,
                versions,
                aliases,
                ..
            }) => (tags.clone(), versions.clone(), aliases.clone()),
            _ => Default::default(),
        };
        let mut batch = Vec::new();
        if created {
            batch.push(self.envelope(
                Command::CreateModel(ModelCreated {
                    model: id.clone(),
                    account,
                    name,
                    description: model.description.clone(),
                }),
                at(model.creation_time),
            ));
        }
        let changed = changed_tags(&model.tags, &held_tags);
        if !changed.is_empty() {
            batch.push(self.envelope(
                Command::SetModelTags(ModelTagsSet {
                    model: id.clone(),
                    tags: changed,
                }),
                None,
            ));
        }
        let numbers = self.model_versions(model, &id, &held_versions, &mut batch)?;
        self.model_aliases(model, &id, &numbers, &held_aliases, &mut batch)?;
        self.append("registered model", what, created_or_updated(created), batch)?;
        Ok(())
    }

    /// The versions the model lacks, registered, and new tags on those it holds. Answers
    /// MLflow's version numbers → Lineage's, for the aliases.
    fn model_versions(
        &mut self,
        model: &RegisteredModel,
        id: &ModelId,
        held_versions: &[lineage_schema::entity::ModelVersion],
        batch: &mut Vec<CommandEnvelope>,
    ) -> Result<BTreeMap<u32, u32>> {
        // MLflow version number → Lineage version number, for versions imported before.
        let mut numbers: BTreeMap<u32, u32> = held_versions
            .iter()
            .filter_map(|version| {
                let mlflow = version.tags.get(VERSION_TAG)?.parse().ok()?;
                Some((mlflow, version.version))
            })
            .collect();
        let mut next = held_versions.len() as u32 + 1;
        for version in &model.versions {
            let source = self.model_source(version)?;
            let held_source = numbers.get(&version.version).and_then(|number| {
                held_versions
                    .iter()
                    .find(|held| held.version == *number)
                    .map(|held| &held.source)
            });
            if let (Some(held), ModelSource::Run { run, .. }) = (held_source, &source) {
                if !matches!(held, ModelSource::Run { run: held_run, .. } if held_run == run) {
                    numbers.remove(&version.version);
                    self.skip(
                        format!("version {} of registered model {}", version.version, model.name),
                        "a version with this number came from another run (another MLflow store imported into the same model)",
                    )?;
                    continue;
                }
            }
            match numbers.get(&version.version) {
                Some(number) => {
                    let held = held_versions
                        .iter()
                        .find(|held| held.version == *number)
                        .map(|held| held.tags.clone())
                        .unwrap_or_default();
                    let changed = changed_tags(&version.tags, &held);
                    if !changed.is_empty() {
                        batch.push(self.envelope(
                            Command::SetModelVersionTags(ModelVersionTagsSet {
                                model: id.clone(),
                                version: *number,
                                tags: changed,
                            }),
                            None,
                        ));
                    }
                }
                None => {
                    let mut version_tags = tags(&version.tags);
                    version_tags.push(Tag {
                        key: VERSION_TAG.into(),
                        value: version.version.to_string(),
                    });
                    batch.push(self.envelope(
                        Command::RegisterModelVersion(RegisterModelVersion {
                            model: id.clone(),
                            source,
                            derived_from: None,
                            tags: version_tags,
                        }),
                        at(version.creation_time),
                    ));
                    numbers.insert(version.version, next);
                    next += 1;
                }
            }
        }
        Ok(numbers)
    }

    /// The aliases as MLflow has them: set where they differ, removed where MLflow has none.
    fn model_aliases(
        &mut self,
        model: &RegisteredModel,
        id: &ModelId,
        numbers: &BTreeMap<u32, u32>,
        held_aliases: &BTreeMap<String, u32>,
        batch: &mut Vec<CommandEnvelope>,
    ) -> Result<()> {
        let mut wanted_aliases = BTreeMap::new();
        for (alias, version) in &model.aliases {
            match numbers.get(version) {
                Some(number) => {
                    wanted_aliases.insert(alias.clone(), *number);
                }
                None => self.skip(
                    format!("alias {alias} of registered model {}", model.name),
                    format!("it names version {version}, which was not imported"),
                )?,
            }
        }
        for (alias, number) in &wanted_aliases {
            if held_aliases.get(alias) != Some(number) {
                batch.push(self.envelope(
                    Command::SetModelAlias(ModelAliasSet {
                        model: id.clone(),
                        alias: alias.clone(),
                        version: *number,
                    }),
                    None,
                ));
            }
        }
        for alias in held_aliases.keys().filter(|alias| !wanted_aliases.contains_key(*alias)) {
            batch.push(self.envelope(
                Command::RemoveModelAlias(ModelAliasRemoved {
                    model: id.clone(),
                    alias: alias.clone(),
                }),
                None,
            ));
        }
        Ok(())
    }

    /// The run that produced a version, when it was imported and is live; otherwise the
    /// version's MLflow source, as an upload.
    fn model_source(&self, version: &ModelVersion) -> Result<ModelSource> {
        if let Some(run) = &version.run_id {
            let id = run_id(run);
            if self.entity(EntityKind::Run, &id)?.is_some_and(|entity| !entity.deleted) {
                return Ok(ModelSource::Run {
                    run: parse(&id)?,
                    artifact_path: if version.source.is_empty() {
                        "model".into()
                    } else {
                        version.source.clone()
                    },
                });
            }
        }
        Ok(ModelSource::Uploaded {
            location: if version.source.is_empty() {
                "mlflow".into()
            } else {
                version.source.clone()
            },
            digest: None,
        })
    }
}
