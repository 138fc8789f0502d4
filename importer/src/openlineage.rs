//! OpenLineage events (run events, and the job and dataset events of spec 2) turned into
//! Lineage commands: jobs become experiments (in a project per job namespace), runs
//! become runs with their parents, input and output datasets become datasets with their
//! schema, and the run's edges to them.
//!
//! Every event is checked before any is applied. Each event is then one all-or-none
//! batch whose commands carry idempotency keys derived from (run id, event type, event
//! time): the same event sent twice appends nothing the second time.

use crate::error::{Error, Result};
use crate::summary::{Outcome, Summary};
use crate::target::{derived_id, parse, Target};
use lineage_schema::entity::{Detail, RunDetail, RunStatus};
use lineage_schema::event::*;
use lineage_schema::*;
use lineage_store::Store;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// The revision recorded when a job names no source code version.
pub const UNKNOWN_REVISION: &str = "unknown";

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent {
    pub event_type: Option<String>,
    pub event_time: String,
    pub producer: String,
    #[serde(rename = "schemaURL")]
    pub schema_url: String,
    pub run: Option<RawRun>,
    pub job: Option<RawJob>,
    /// A dataset event's dataset (spec 2).
    pub dataset: Option<RawDataset>,
    #[serde(default)]
    pub inputs: Vec<RawDataset>,
    #[serde(default)]
    pub outputs: Vec<RawDataset>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRun {
    pub run_id: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawJob {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawDataset {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Start,
    Running,
    Complete,
    Fail,
    Abort,
    Other,
}

/// An event that passed every check, ready to map.
#[derive(Clone, Debug)]
pub enum Checked {
    Run {
        event_type: EventType,
        /// The event's own text of its type and time, for the idempotency key.
        key: String,
        at: Timestamp,
        run: String,
        job: (String, String),
        job_facets: Map<String, Value>,
        run_facets: Map<String, Value>,
        parent: Option<(String, (String, String))>,
        inputs: Vec<RawDataset>,
        outputs: Vec<RawDataset>,
    },
    Job {
        at: Timestamp,
        job: (String, String),
        inputs: Vec<RawDataset>,
        outputs: Vec<RawDataset>,
    },
    Dataset {
        at: Timestamp,
        dataset: RawDataset,
    },
}

fn uuid_like(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|group| group.chars().all(|c| c.is_ascii_hexdigit()))
}

fn job_of(job: &Option<RawJob>) -> std::result::Result<&RawJob, String> {
    let job = job.as_ref().ok_or("a run event needs `job`")?;
    if job.namespace.trim().is_empty() || job.name.trim().is_empty() {
        return Err("`job.namespace` and `job.name` must not be empty".into());
    }
    Ok(job)
}

fn check_datasets(datasets: &[RawDataset], field: &str) -> std::result::Result<(), String> {
    for (index, dataset) in datasets.iter().enumerate() {
        if dataset.namespace.trim().is_empty() || dataset.name.trim().is_empty() {
            return Err(format!("`{field}[{index}]` needs a `namespace` and a `name`"));
        }
        Name::new(dataset.name.clone()).map_err(|rejection| format!("`{field}[{index}].name`: {rejection}"))?;
    }
    Ok(())
}

/// Checks one event (JSON text or value) against the spec's required fields.
pub fn check(value: Value) -> std::result::Result<Checked, String> {
    let raw: RawEvent = serde_json::from_value(value).map_err(|error| format!("not an OpenLineage event: {error}"))?;
    let at = Timestamp::parse(&raw.event_time)
        .ok_or_else(|| format!("`eventTime` is not an RFC 3339 time: `{}`", raw.event_time))?;
    if raw.producer.trim().is_empty() || raw.schema_url.trim().is_empty() {
        return Err("`producer` and `schemaURL` must not be empty".into());
    }
    check_datasets(&raw.inputs, "inputs")?;
    check_datasets(&raw.outputs, "outputs")?;
    let event_type = match raw.event_type.as_deref() {
        None | Some("OTHER") => EventType::Other,
        Some("START") => EventType::Start,
        Some("RUNNING") => EventType::Running,
        Some("COMPLETE") => EventType::Complete,
        Some("FAIL") => EventType::Fail,
        Some("ABORT") => EventType::Abort,
        Some(other) => {
            return Err(format!(
                "`eventType` `{other}` is not one of START, RUNNING, COMPLETE, FAIL, ABORT, OTHER"
            ))
        }
    };
    if let Some(run) = &raw.run {
        let job = job_of(&raw.job)?;
        if !uuid_like(&run.run_id) {
            return Err(format!("`run.runId` is not a UUID: `{}`", run.run_id));
        }
        Name::new(job.name.clone()).map_err(|rejection| format!("`job.name`: {rejection}"))?;
        let parent = match run.facets.get("parent") {
            None => None,
            Some(parent) => {
                let text = |path: &[&str]| {
                    let mut value = parent;
                    for key in path {
                        value = value.get(key)?;
                    }
                    value.as_str().map(str::to_string)
                };
                let (Some(run_id), Some(namespace), Some(name)) = (
                    text(&["run", "runId"]),
                    text(&["job", "namespace"]),
                    text(&["job", "name"]),
                ) else {
                    return Err("the `parent` run facet needs `run.runId`, `job.namespace` and `job.name`".into());
                };
                if !uuid_like(&run_id) {
                    return Err(format!("the parent's `runId` is not a UUID: `{run_id}`"));
                }
                Some((run_id.to_lowercase(), (namespace, name)))
            }
        };
        return Ok(Checked::Run {
            event_type,
            key: format!("{}|{}", raw.event_type.as_deref().unwrap_or("OTHER"), raw.event_time),
            at,
            run: run.run_id.to_lowercase(),
            job: (job.namespace.clone(), job.name.clone()),
            job_facets: job.facets.clone(),
            run_facets: run.facets.clone(),
            parent,
            inputs: raw.inputs,
            outputs: raw.outputs,
        });
    }
    if let Some(dataset) = raw.dataset {
        check_datasets(std::slice::from_ref(&dataset), "dataset")?;
        return Ok(Checked::Dataset { at, dataset });
    }
    if raw.job.is_some() {
        let job = job_of(&raw.job)?;
        Name::new(job.name.clone()).map_err(|rejection| format!("`job.name`: {rejection}"))?;
        return Ok(Checked::Job {
            at,
            job: (job.namespace.clone(), job.name.clone()),
            inputs: raw.inputs,
            outputs: raw.outputs,
        });
    }
    Err("an event needs a `run` and `job` (run event), a `job` (job event) or a `dataset` (dataset event)".into())
}

/// Reads an NDJSON file of events, checking every line before returning any.
pub fn read_file(path: &Path) -> Result<Vec<Checked>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut events = Vec::new();
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let broken = |reason: String| Error::Line {
            path: path.to_path_buf(),
            line: index + 1,
            reason,
        };
        let value: Value = serde_json::from_str(&line).map_err(|error| broken(format!("not JSON: {error}")))?;
        events.push(check(value).map_err(broken)?);
    }
    Ok(events)
}

/// Checks a request body: one event or an array of them. The error names the event.
pub fn check_body(body: Value) -> std::result::Result<Vec<Checked>, String> {
    match body {
        Value::Array(events) => events
            .into_iter()
            .enumerate()
            .map(|(index, event)| check(event).map_err(|reason| format!("event {index}: {reason}")))
            .collect(),
        event => Ok(vec![check(event)?]),
    }
}

/// Applies checked events in order. With `strict`, the first event the store refuses
/// stops the import with its error; otherwise it is skipped and named in the summary.
pub fn import(
    store: &Store,
    target: &Target,
    events: &[Checked],
    strict: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary> {
    let mut importer = Importer {
        store,
        target,
        summary: Summary::default(),
        projects: BTreeMap::new(),
    };
    for (index, event) in events.iter().enumerate() {
        let what = match event {
            Checked::Run { run, key, .. } => format!("event {} (run {run}, {key})", index + 1),
            Checked::Job { job, .. } => format!("event {} (job {}/{})", index + 1, job.0, job.1),
            Checked::Dataset { dataset, .. } => {
                format!("event {} (dataset {}/{})", index + 1, dataset.namespace, dataset.name)
            }
        };
        match importer.apply(event) {
            Ok(()) => {}
            Err(Error::Store(error)) if error.rejection().is_some() => {
                if strict {
                    return Err(Error::Store(error));
                }
                importer.summary.skip(what, error.to_string());
            }
            Err(error) => return Err(error),
        }
        progress(index as u64 + 1, events.len() as u64);
    }
    Ok(importer.summary)
}

/// A batch under construction: commands with their idempotency keys.
struct Batch {
    key: Option<String>,
    at: Timestamp,
    commands: Vec<Command>,
    /// The kinds of entity the batch creates, counted once it is appended.
    creates: Vec<&'static str>,
}

impl Batch {
    fn envelopes(self, actor: &PrincipalId) -> Result<Vec<CommandEnvelope>> {
        self.commands
            .into_iter()
            .enumerate()
            .map(|(index, command)| {
                let envelope = CommandEnvelope::new(actor.clone(), command).occurred_at(self.at);
                Ok(match &self.key {
                    Some(key) => envelope.with_event_id(
                        EventId::new(format!("{key}-{index}"))
                            .map_err(|rejection| Error::malformed(key, rejection.to_string()))?,
                    ),
                    None => envelope,
                })
            })
            .collect()
    }
}

struct Importer<'a> {
    store: &'a Store,
    target: &'a Target,
    summary: Summary,
    projects: BTreeMap<String, ProjectId>,
}

/// The id of the run an OpenLineage run becomes in `account`: each tenant's runs are its
/// own, so the same OpenLineage run id sent to two accounts makes two runs.
pub fn run_id(account: &AccountId, openlineage_run: &str) -> String {
    let tenant = &blake3::hash(account.as_str().as_bytes()).to_hex()[..8];
    format!("ol-run-{openlineage_run}-{tenant}")
}

impl Importer<'_> {
    fn project(&mut self, namespace: &str) -> Result<ProjectId> {
        if let Some(project) = &self.target.project {
            return Ok(project.clone());
        }
        if let Some(project) = self.projects.get(namespace) {
            return Ok(project.clone());
        }
        let project = self.target.project_named(self.store, namespace, "openlineage")?;
        self.projects.insert(namespace.to_string(), project.clone());
        Ok(project)
    }

    /// The job's experiment: found by name in its project, or created in `batch`.
    fn experiment(&mut self, job: &(String, String), batch: &mut Batch) -> Result<(ExperimentId, bool)> {
        let project = self.project(&job.0)?;
        let project_ref = EntityRef::new(EntityKind::Project, &project);
        if let Some(found) = self
            .store
            .find_by_name(Some(&project_ref), EntityKind::Experiment, &job.1)?
        {
            return Ok((parse(&found.reference.id)?, false));
        }
        let id: ExperimentId = parse(&derived_id("ol-job", &[project.as_str(), &job.1]))?;
        let already = batch
            .commands
            .iter()
            .any(|command| matches!(command, Command::CreateExperiment(created) if created.experiment == id));
        if !already {
            batch.commands.push(Command::CreateExperiment(ExperimentCreated {
                experiment: id.clone(),
                project,
                name: parse(&job.1)?,
                entry_point: job.1.clone(),
                language: Language::Python,
                source_digest: Digest::ZERO,
            }));
            batch.creates.push("experiment");
        }
        Ok((id, !already))
    }

    fn held_run(&self, id: &str) -> Result<Option<RunDetail>> {
        Ok(self
            .store
            .entity(&EntityRef::new(EntityKind::Run, id))?
            .and_then(|entity| match entity.detail {
                Detail::Run(detail) => Some(*detail),
                _ => None,
            }))
    }

    /// The dataset's id, registering it (and its schema) in `batch` when new.
    fn dataset(&mut self, dataset: &RawDataset, batch: &mut Batch) -> Result<DatasetId> {
        let version = dataset
            .facets
            .get("version")
            .and_then(|facet| facet.get("datasetVersion"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let fields: Vec<SchemaField> = dataset
            .facets
            .get("schema")
            .and_then(|facet| facet.get("fields"))
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|field| {
                        Some(SchemaField {
                            name: field.get("name")?.as_str()?.to_string(),
                            data_type: field
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("unknown")
                                .to_string(),
                            description: field.get("description").and_then(Value::as_str).map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let id: DatasetId = parse(&derived_id(
            "ol-ds",
            &[
                self.target.account.as_str(),
                &dataset.namespace,
                &dataset.name,
                version.as_deref().unwrap_or(""),
            ],
        ))?;
        let held = self.store.entity(&EntityRef::new(EntityKind::Dataset, &id))?;
        let registering = batch
            .commands
            .iter()
            .any(|command| matches!(command, Command::RegisterDataset(registered) if registered.dataset == id));
        let held_schema = match held.as_ref().map(|entity| &entity.detail) {
            Some(Detail::Dataset { schema, .. }) => Some(schema.clone()),
            _ => None,
        };
        if held.is_none() && !registering {
            batch.commands.push(Command::RegisterDataset(DatasetRegistered {
                dataset: id.clone(),
                account: self.target.account.clone(),
                name: parse(&dataset.name)?,
                location: format!("{}/{}", dataset.namespace.trim_end_matches('/'), dataset.name),
                version,
                digest: None,
            }));
            batch.creates.push("dataset");
        }
        let recorded_in_batch = batch.commands.iter().any(
            |command| matches!(command, Command::RecordDatasetSchema(recorded) if recorded.dataset == id && recorded.fields == fields),
        );
        if !fields.is_empty() && held_schema.as_ref() != Some(&fields) && !recorded_in_batch {
            batch.commands.push(Command::RecordDatasetSchema(DatasetSchemaRecorded {
                dataset: id.clone(),
                fields,
            }));
        }
        Ok(id)
    }

    fn apply(&mut self, event: &Checked) -> Result<()> {
        match event {
            Checked::Run {
                event_type,
                key,
                at,
                run,
                job,
                job_facets,
                run_facets,
                parent,
                inputs,
                outputs,
            } => {
                let key = derived_id("ol", &[self.target.account.as_str(), run, key]);
                if self
                    .store
                    .seq_of_event(&self.target.actor, &parse(&format!("{key}-0"))?)?
                    .is_some()
                {
                    self.summary.count("run event", Outcome::Unchanged);
                    return Ok(());
                }
                let mut batch = Batch {
                    key: Some(key),
                    at: *at,
                    commands: Vec::new(),
                    creates: Vec::new(),
                };
                let (experiment, _) = self.experiment(job, &mut batch)?;
                let parent_id = match parent {
                    None => None,
                    Some((parent_run, parent_job)) => {
                        let id = run_id(&self.target.account, parent_run);
                        if self.held_run(&id)?.is_none() {
                            let (parent_experiment, _) = self.experiment(parent_job, &mut batch)?;
                            batch.commands.push(Command::StartRun(RunStarted {
                                run: parse(&id)?,
                                experiment: parent_experiment,
                                compute_target: self.target.compute_target.clone(),
                                revision: UNKNOWN_REVISION.into(),
                                parent: None,
                            }));
                            batch.creates.push("run");
                        }
                        Some(parse::<RunId>(&id)?)
                    }
                };
                let id = run_id(&self.target.account, run);
                let run_ref: RunId = parse(&id)?;
                let held = self.held_run(&id)?;
                let mut status = held.as_ref().map(|held| held.status);
                if held.is_none() {
                    let revision = job_facets
                        .get("sourceCodeLocation")
                        .and_then(|facet| facet.get("version"))
                        .and_then(Value::as_str)
                        .filter(|version| !version.trim().is_empty())
                        .unwrap_or(UNKNOWN_REVISION)
                        .to_string();
                    batch.commands.push(Command::StartRun(RunStarted {
                        run: run_ref.clone(),
                        experiment,
                        compute_target: self.target.compute_target.clone(),
                        revision,
                        parent: parent_id,
                    }));
                    status = Some(RunStatus::Running);
                    batch.creates.push("run");
                }
                let mut read = Vec::new();
                for input in inputs {
                    let dataset = self.dataset(input, &mut batch)?;
                    if !held.as_ref().is_some_and(|held| held.inputs.contains(&dataset)) && !read.contains(&dataset) {
                        read.push(dataset);
                    }
                }
                if !read.is_empty() {
                    batch.commands.push(Command::RecordRunInputs(RunInputsRecorded {
                        run: run_ref.clone(),
                        datasets: read,
                    }));
                }
                let mut wrote = Vec::new();
                for output in outputs {
                    let dataset = self.dataset(output, &mut batch)?;
                    if !held.as_ref().is_some_and(|held| held.outputs.contains(&dataset)) && !wrote.contains(&dataset) {
                        wrote.push(dataset);
                    }
                }
                if !wrote.is_empty() {
                    batch.commands.push(Command::RecordRunOutputs(RunOutputsRecorded {
                        run: run_ref.clone(),
                        datasets: wrote,
                    }));
                }
                let unfinished = status.is_some_and(|status| !status.is_finished());
                let finish = match event_type {
                    EventType::Complete if status == Some(RunStatus::Running) => {
                        Some(Command::CompleteRun(RunCompleted { run: run_ref.clone() }))
                    }
                    EventType::Fail if unfinished => Some(Command::FailRun(RunFailed {
                        run: run_ref.clone(),
                        reason: run_facets
                            .get("errorMessage")
                            .and_then(|facet| facet.get("message"))
                            .and_then(Value::as_str)
                            .unwrap_or("failed (OpenLineage FAIL event)")
                            .chars()
                            .take(4096)
                            .collect(),
                    })),
                    EventType::Abort if unfinished => Some(Command::CancelRun(RunCanceled { run: run_ref.clone() })),
                    _ => None,
                };
                if let Some(finish) = finish {
                    batch.commands.push(finish);
                }
                self.append(batch, "run event")
            }
            Checked::Job {
                at,
                job,
                inputs,
                outputs,
            } => {
                let mut batch = Batch {
                    key: None,
                    at: *at,
                    commands: Vec::new(),
                    creates: Vec::new(),
                };
                self.experiment(job, &mut batch)?;
                for dataset in inputs.iter().chain(outputs) {
                    self.dataset(dataset, &mut batch)?;
                }
                self.append(batch, "job event")
            }
            Checked::Dataset { at, dataset } => {
                let mut batch = Batch {
                    key: None,
                    at: *at,
                    commands: Vec::new(),
                    creates: Vec::new(),
                };
                self.dataset(dataset, &mut batch)?;
                self.append(batch, "dataset event")
            }
        }
    }

    fn append(&mut self, batch: Batch, kind: &'static str) -> Result<()> {
        if batch.commands.is_empty() {
            self.summary.count(kind, Outcome::Unchanged);
            return Ok(());
        }
        let creates = batch.creates.clone();
        let appended = self
            .store
            .execute_batch(self.target.batch(batch.envelopes(&self.target.actor)?))?;
        self.target.appended();
        for kind in creates {
            self.summary.count(kind, Outcome::Created);
        }
        self.summary.events += appended.iter().filter(|event| !event.duplicate).count() as u64;
        self.summary.count(kind, Outcome::Updated);
        Ok(())
    }
}
