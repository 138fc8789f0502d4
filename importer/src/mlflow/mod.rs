//! MLflow tracking stores — the file store (`mlruns/`) and the SQL store in SQLite
//! (`mlflow.db`) — imported as Lineage commands.
//!
//! Each experiment, run and registered model becomes one batch of commands, appended all
//! or none; what the store already holds is compared first, so a second import of the
//! same store appends nothing and an import after MLflow gained runs appends only those.
//! Deletions come last, once model versions have been registered from their runs.

pub mod file_store;
pub mod model;
pub mod sqlite;

use crate::error::{Error, Result};
use crate::summary::{Outcome, Summary};
use crate::target::{derived_id, parse, Target};
use lineage_schema::command::RegisterModelVersion;
use lineage_schema::entity::{Detail, Entity, RunDetail, RunStatus as LineageStatus};
use lineage_schema::event::*;
use lineage_schema::*;
use lineage_store::Store;
use model::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// The most metric points one command carries.
const POINTS_PER_COMMAND: usize = 2_000;
/// The version tag that ties a Lineage model version to its MLflow version number.
pub const VERSION_TAG: &str = "mlflow.version";
/// The revision recorded for runs whose tags name no git commit.
pub const UNKNOWN_REVISION: &str = "unknown";

/// Reads a tracking store in either form: a folder is a file store (`mlruns/`, or a
/// folder holding one), a file a SQLite database.
pub fn read(path: &Path) -> Result<Tracking> {
    if path.is_dir() {
        let nested = path.join("mlruns");
        let root = if nested.is_dir() && !path.join("0").is_dir() {
            nested
        } else {
            path.to_path_buf()
        };
        file_store::read(&root)
    } else if path.is_file() {
        sqlite::read(path)
    } else {
        Err(Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        })
    }
}

/// Imports what was read. `progress` hears (done, total) entities. With `strict`, the
/// first record that cannot be imported stops the import with its error; without it,
/// it is skipped and named in the summary.
pub fn import(
    store: &Store,
    tracking: Tracking,
    target: &Target,
    strict: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary> {
    let mut importer = Importer {
        store,
        target,
        strict,
        summary: Summary::default(),
        experiments: BTreeMap::new(),
    };
    for error in tracking.unreadable {
        importer.skip("unreadable record", error.to_string())?;
    }
    let total = (tracking.experiments.len() + tracking.runs.len() + tracking.registered_models.len()) as u64;
    let mut done = 0;
    let mut tick = |done: &mut u64| {
        *done += 1;
        progress(*done, total);
    };
    for experiment in &tracking.experiments {
        importer.experiment(experiment)?;
        tick(&mut done);
    }
    for run in parents_first(&tracking.runs) {
        importer.run(run)?;
        tick(&mut done);
    }
    for model in &tracking.registered_models {
        importer.registered_model(model)?;
        tick(&mut done);
    }
    for run in tracking.runs.iter().filter(|run| run.deleted) {
        importer.delete(
            format!("run {}", run.id),
            EntityRef::new(EntityKind::Run, run_id(&run.id)),
            Command::DeleteRun(RunDeleted {
                run: parse(&run_id(&run.id))?,
            }),
            run.end_time,
        )?;
    }
    for experiment in tracking.experiments.iter().filter(|experiment| experiment.deleted) {
        let Some(id) = importer.experiments.get(&experiment.id).cloned() else {
            continue;
        };
        importer.delete(
            format!("experiment {}", experiment.name),
            EntityRef::new(EntityKind::Experiment, &id),
            Command::DeleteExperiment(ExperimentDeleted { experiment: id }),
            experiment.last_update_time,
        )?;
    }
    Ok(importer.summary)
}

/// Runs ordered so that every parent comes before its children.
fn parents_first(runs: &[Run]) -> Vec<&Run> {
    let by_id: BTreeMap<&str, &Run> = runs.iter().map(|run| (run.id.as_str(), run)).collect();
    let mut placed: HashSet<&str> = HashSet::new();
    let mut ordered = Vec::with_capacity(runs.len());
    for run in runs {
        let mut chain = vec![run];
        let mut current = run;
        while let Some(parent) = current.parent().and_then(|parent| by_id.get(parent)) {
            if placed.contains(parent.id.as_str()) || chain.iter().any(|seen| seen.id == parent.id) {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        for run in chain.into_iter().rev() {
            if placed.insert(run.id.as_str()) {
                ordered.push(run);
            }
        }
    }
    ordered
}

pub fn run_id(mlflow_id: &str) -> String {
    format!("mlflow-run-{mlflow_id}")
}

fn at(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(|millis| Timestamp::from_micros(millis.saturating_mul(1000)))
}

fn tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The tags of `wanted` that `held` lacks or holds with another value.
fn changed_tags(wanted: &[(String, String)], held: &BTreeMap<String, String>) -> Vec<Tag> {
    tags(
        &wanted
            .iter()
            .filter(|(key, value)| held.get(key) != Some(value))
            .cloned()
            .collect::<Vec<_>>(),
    )
}

fn created_or_updated(created: bool) -> Outcome {
    if created {
        Outcome::Created
    } else {
        Outcome::Updated
    }
}

struct Importer<'a> {
    store: &'a Store,
    target: &'a Target,
    strict: bool,
    summary: Summary,
    /// MLflow experiment id → the Lineage experiment it was imported as.
    experiments: BTreeMap<String, ExperimentId>,
}

impl Importer<'_> {
    fn project(&self) -> &ProjectId {
        self.target
            .project
            .as_ref()
            .expect("MLflow imports prepare their target with a project")
    }

    fn skip(&mut self, what: impl Into<String>, why: impl Into<String>) -> Result<()> {
        let (what, why) = (what.into(), why.into());
        if self.strict {
            return Err(Error::malformed(what, why));
        }
        self.summary.skip(what, why);
        Ok(())
    }

    fn envelope(&self, command: Command, at: Option<Timestamp>) -> CommandEnvelope {
        let envelope = CommandEnvelope::new(self.target.actor.clone(), command);
        match at {
            Some(at) => envelope.occurred_at(at),
            None => envelope,
        }
    }

    /// Appends one entity's commands all or none, and counts the outcome (`Updated`
    /// becomes `Unchanged` when there is nothing to append).
    fn append(
        &mut self,
        kind: &'static str,
        what: String,
        outcome: Outcome,
        batch: Vec<CommandEnvelope>,
    ) -> Result<bool> {
        if batch.is_empty() {
            self.summary.count(kind, Outcome::Unchanged);
            return Ok(true);
        }
        match self.store.execute_batch(self.target.batch(batch)) {
            Ok(appended) => {
                self.target.appended();
                self.summary.events += appended.iter().filter(|event| !event.duplicate).count() as u64;
                self.summary.count(kind, outcome);
                Ok(true)
            }
            Err(error) if error.rejection().is_some() => {
                self.skip(what, error.to_string())?;
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn entity(&self, kind: EntityKind, id: &str) -> Result<Option<Entity>> {
        Ok(self.store.entity(&EntityRef::new(kind, id))?)
    }

    fn experiment(&mut self, experiment: &Experiment) -> Result<()> {
        let what = format!("experiment {} ({})", experiment.name, experiment.origin);
        let id = derived_id(
            "mlflow-exp",
            &[
                self.project().as_str(),
                &experiment.id,
                &experiment.creation_time.unwrap_or(0).to_string(),
            ],
        );
        let Ok(name) = Name::new(experiment.name.clone()) else {
            return self.skip(what, "its name is not a valid Lineage name");
        };
        let experiment_id: ExperimentId = parse(&id)?;
        let mut batch = Vec::new();
        let existing = self.entity(EntityKind::Experiment, &id)?;
        let created = existing.is_none();
        let held_tags = match &existing {
            None => {
                batch.push(self.envelope(
                    Command::CreateExperiment(ExperimentCreated {
                        experiment: experiment_id.clone(),
                        project: self.project().clone(),
                        name,
                        entry_point: "(not recorded by MLflow)".into(),
                        language: Language::Python,
                        source_digest: Digest::ZERO,
                    }),
                    at(experiment.creation_time),
                ));
                BTreeMap::new()
            }
            Some(entity) => {
                if entity.deleted && !experiment.deleted {
                    batch.push(self.envelope(
                        Command::RestoreExperiment(ExperimentRestored {
                            experiment: experiment_id.clone(),
                        }),
                        at(experiment.last_update_time),
                    ));
                }
                match &entity.detail {
                    Detail::Experiment { tags, .. } => tags.clone(),
                    _ => BTreeMap::new(),
                }
            }
        };
        let changed = changed_tags(&experiment.tags, &held_tags);
        if !changed.is_empty() {
            batch.push(self.envelope(
                Command::SetExperimentTags(ExperimentTagsSet {
                    experiment: experiment_id.clone(),
                    tags: changed,
                }),
                at(experiment.last_update_time),
            ));
        }
        if self.append("experiment", what, created_or_updated(created), batch)? {
            self.experiments.insert(experiment.id.clone(), experiment_id);
        }
        Ok(())
    }

    fn run(&mut self, run: &Run) -> Result<()> {
        let what = format!("run {} ({})", run.id, run.origin);
        let Some(experiment) = self.experiments.get(&run.experiment_id).cloned() else {
            return self.skip(what, format!("its experiment {} was not imported", run.experiment_id));
        };
        let id = run_id(&run.id);
        let run_ref: RunId = parse(&id)?;
        let parent = match run.parent() {
            None => None,
            Some(parent) => {
                let parent_id = run_id(parent);
                if self.entity(EntityKind::Run, &parent_id)?.is_none() {
                    return self.skip(what, format!("its parent run {parent} was not imported"));
                }
                Some(parse::<RunId>(&parent_id)?)
            }
        };
        let started = at(run.start_time);
        let mut batch = Vec::new();
        let existing = self.entity(EntityKind::Run, &id)?;
        let created = existing.is_none();
        let empty = RunDetail {
            experiment: experiment.clone(),
            status: LineageStatus::Queued,
            compute_target: self.target.compute_target.clone(),
            revision: None,
            parent: parent.clone(),
            params: BTreeMap::new(),
            latest_metrics: BTreeMap::new(),
            metric_points: 0,
            tags: BTreeMap::new(),
            artifacts: Vec::new(),
            inputs: BTreeSet::new(),
            outputs: BTreeSet::new(),
            queued_at: None,
            started_at: None,
            finished_at: None,
            failure_reason: None,
        };
        let held = match &existing {
            None => empty,
            Some(entity) => {
                let Detail::Run(detail) = &entity.detail else {
                    return self.skip(what, "its id names something that is not a run");
                };
                if detail.experiment != experiment {
                    return self.skip(
                        what,
                        format!("it was imported before into experiment {}", detail.experiment),
                    );
                }
                if entity.deleted && !run.deleted {
                    batch.push(self.envelope(Command::RestoreRun(RunRestored { run: run_ref.clone() }), started));
                }
                if entity.deleted && run.deleted {
                    self.summary.count("run", Outcome::Unchanged);
                    return Ok(());
                }
                (**detail).clone()
            }
        };
        let revision = run
            .tag("mlflow.source.git.commit")
            .filter(|commit| !commit.is_empty())
            .unwrap_or(UNKNOWN_REVISION)
            .to_string();
        if existing.is_none() && run.status == RunStatus::Scheduled {
            batch.push(self.envelope(
                Command::QueueRun(RunQueued {
                    run: run_ref.clone(),
                    experiment: experiment.clone(),
                    compute_target: self.target.compute_target.clone(),
                    parent: parent.clone(),
                }),
                started,
            ));
        } else if held.status == LineageStatus::Queued && run.status != RunStatus::Scheduled {
            batch.push(self.envelope(
                Command::StartRun(RunStarted {
                    run: run_ref.clone(),
                    experiment: experiment.clone(),
                    compute_target: held.compute_target.clone(),
                    revision,
                    parent: held.parent.clone(),
                }),
                started,
            ));
        }
        let params: Vec<Param> = run
            .params
            .iter()
            .filter(|(key, _)| !held.params.contains_key(key))
            .map(|(key, value)| Param {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        if !params.is_empty() {
            batch.push(self.envelope(
                Command::LogParams(ParamsLogged {
                    run: run_ref.clone(),
                    params,
                }),
                started,
            ));
        }
        let mut wanted_tags = run.tags.clone();
        if run.tag("mlflow.user").is_none() && !run.user.is_empty() {
            wanted_tags.push(("mlflow.user".into(), run.user.clone()));
        }
        let changed = changed_tags(&wanted_tags, &held.tags);
        if !changed.is_empty() {
            batch.push(self.envelope(
                Command::SetRunTags(RunTagsSet {
                    run: run_ref.clone(),
                    tags: changed,
                }),
                started,
            ));
        }
        self.metrics(run, &run_ref, &held, &mut batch)?;
        self.inputs(run, &run_ref, &held, &mut batch)?;
        let artifacts: Vec<Artifact> = run
            .logged_models
            .iter()
            .map(|model| Artifact {
                path: format!("models:/{}", model.id),
                size: 0,
                digest: Digest::ZERO,
            })
            .filter(|artifact| held.artifacts.iter().all(|held| held.path != artifact.path))
            .collect();
        if !artifacts.is_empty() {
            batch.push(self.envelope(
                Command::RecordArtifacts(ArtifactsRecorded {
                    run: run_ref.clone(),
                    artifacts,
                }),
                started,
            ));
        }
        if !held.status.is_finished() {
            let ended = at(run.end_time);
            let finish = match run.status {
                RunStatus::Finished => Some(Command::CompleteRun(RunCompleted { run: run_ref.clone() })),
                RunStatus::Failed => Some(Command::FailRun(RunFailed {
                    run: run_ref.clone(),
                    reason: "failed (MLflow status FAILED; MLflow records no reason)".into(),
                })),
                RunStatus::Killed => Some(Command::CancelRun(RunCanceled { run: run_ref.clone() })),
                RunStatus::Running | RunStatus::Scheduled => None,
            };
            if let Some(finish) = finish {
                batch.push(self.envelope(finish, ended));
            }
        }
        self.append("run", what, created_or_updated(created), batch)?;
        Ok(())
    }

    /// Metric points the run lacks, in commands of bounded size; points that are not
    /// finite numbers (MLflow keeps NaN) are left out and named in the summary.
    fn metrics(
        &mut self,
        run: &Run,
        run_ref: &RunId,
        held: &RunDetail,
        batch: &mut Vec<CommandEnvelope>,
    ) -> Result<()> {
        let existing: HashSet<(String, i64, i64, u64)> = if held.metric_points == 0 {
            HashSet::new()
        } else {
            self.store
                .metric_history(run_ref, None)?
                .into_iter()
                .map(|point| (point.name, point.step, point.timestamp.micros(), point.value.to_bits()))
                .collect()
        };
        let mut not_finite = 0;
        let mut points = Vec::new();
        for row in &run.metrics {
            if !row.value.is_finite() {
                not_finite += 1;
                continue;
            }
            let timestamp = Timestamp::from_micros(row.timestamp.saturating_mul(1000));
            if existing.contains(&(row.key.clone(), row.step, timestamp.micros(), row.value.to_bits())) {
                continue;
            }
            points.push(MetricPoint {
                name: row.key.clone(),
                value: row.value,
                step: row.step,
                timestamp,
            });
        }
        if not_finite > 0 && held.metric_points == 0 {
            self.skip(
                format!("{not_finite} metric points of run {}", run.id),
                "not finite numbers (NaN or infinity), which Lineage does not record",
            )?;
        }
        for chunk in points.chunks(POINTS_PER_COMMAND) {
            let last = chunk.iter().map(|point| point.timestamp).max();
            batch.push(self.envelope(
                Command::LogMetrics(MetricsLogged {
                    run: run_ref.clone(),
                    points: chunk.to_vec(),
                }),
                last,
            ));
        }
        Ok(())
    }

    /// Registers the run's datasets that Lineage lacks and records the inputs it lacks.
    fn inputs(&mut self, run: &Run, run_ref: &RunId, held: &RunDetail, batch: &mut Vec<CommandEnvelope>) -> Result<()> {
        let mut datasets = Vec::new();
        let account_ref = EntityRef::new(EntityKind::ExperimentationAccount, &self.target.account);
        for input in &run.inputs {
            let dataset = &input.dataset;
            let scoped = format!("{}@{}", dataset.name, dataset.digest);
            let id: DatasetId = match self
                .store
                .find_by_name(Some(&account_ref), EntityKind::Dataset, &scoped)?
            {
                Some(found) => parse(&found.reference.id)?,
                None => {
                    let id: DatasetId = parse(&derived_id(
                        "mlflow-ds",
                        &[self.target.account.as_str(), &dataset.name, &dataset.digest],
                    ))?;
                    let already_in_batch = batch.iter().any(|command| {
                        matches!(&command.command, Command::RegisterDataset(registered) if registered.dataset == id)
                    });
                    if !already_in_batch {
                        let Ok(name) = Name::new(dataset.name.clone()) else {
                            self.skip(
                                format!("dataset {} of run {}", dataset.name, run.id),
                                "its name is not a valid Lineage name",
                            )?;
                            continue;
                        };
                        batch.push(self.envelope(
                            Command::RegisterDataset(DatasetRegistered {
                                dataset: id.clone(),
                                account: self.target.account.clone(),
                                name,
                                location: dataset.location(),
                                version: Some(dataset.digest.clone()),
                                digest: Some(dataset.digest.clone()),
                            }),
                            at(run.start_time),
                        ));
                        let fields = dataset.columns();
                        if !fields.is_empty() {
                            batch.push(self.envelope(
                                Command::RecordDatasetSchema(DatasetSchemaRecorded {
                                    dataset: id.clone(),
                                    fields,
                                }),
                                at(run.start_time),
                            ));
                        }
                    }
                    id
                }
            };
            if !held.inputs.contains(&id) && !datasets.contains(&id) {
                datasets.push(id);
            }
        }
        if !datasets.is_empty() {
            batch.push(self.envelope(
                Command::RecordRunInputs(RunInputsRecorded {
                    run: run_ref.clone(),
                    datasets,
                }),
                at(run.start_time),
            ));
        }
        Ok(())
    }

    fn registered_model(&mut self, model: &RegisteredModel) -> Result<()> {
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
        self.append("registered model", what, created_or_updated(created), batch)?;
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

    /// Deletes what MLflow deleted, if Lineage still holds it live.
    fn delete(&mut self, what: String, reference: EntityRef, command: Command, when: Option<i64>) -> Result<()> {
        match self.store.entity(&reference)? {
            Some(entity) if !entity.deleted => {
                let batch = vec![self.envelope(command, at(when))];
                let kind = if reference.kind == EntityKind::Run {
                    "run"
                } else {
                    "experiment"
                };
                self.append(kind, what, Outcome::Deleted, batch)?;
            }
            _ => {}
        }
        Ok(())
    }
}
