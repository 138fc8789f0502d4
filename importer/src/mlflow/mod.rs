//! MLflow tracking stores — the file store (`mlruns/`) and the SQL store in SQLite
//! (`mlflow.db`) — imported as Lineage commands.
//!
//! Each experiment, run and registered model becomes one batch of commands, appended all
//! or none; what the store already holds is compared first, so a second import of the
//! same store appends nothing and an import after MLflow gained runs appends only those.
//! Deletions come last, once model versions have been registered from their runs.

pub mod file_store;
pub mod model;
mod registry;
mod runs;
pub mod sqlite;
pub mod tracking;

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

/// The version tag that ties a Lineage model version to its MLflow version number.
pub const VERSION_TAG: &str = "mlflow.version";
/// The revision recorded for runs whose tags name no git commit.
pub const UNKNOWN_REVISION: &str = "unknown";

/// Reads a tracking store in either form: a folder is a file store (`mlruns/`, or a
/// folder holding one), a file a SQLite database.
pub fn read(path: &Path) -> Result<Tracking> {
    let tracking = if path.is_dir() {
        let nested = path.join("mlruns");
        let root = if nested.is_dir() && !path.join("0").is_dir() {
            nested
        } else {
            path.to_path_buf()
        };
        if !file_store::looks_like_one(&root) {
            return Err(Error::Malformed {
                place: path.display().to_string(),
                reason: "this is not an MLflow store: no experiment folder (one with a meta.yaml) and no model registry (models/) in it; name the `mlruns` folder or the `mlflow.db` file".into(),
            });
        }
        file_store::read(&root)?
    } else if path.is_file() {
        sqlite::read(path)?
    } else {
        return Err(Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    };
    if tracking.experiments.is_empty()
        && tracking.runs.is_empty()
        && tracking.registered_models.is_empty()
        && tracking.unreadable.is_empty()
    {
        return Err(Error::Malformed {
            place: path.display().to_string(),
            reason: "this MLflow store holds no experiments, runs or registered models: there is nothing to import"
                .into(),
        });
    }
    Ok(tracking)
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
