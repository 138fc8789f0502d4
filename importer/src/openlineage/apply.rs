//! One checked OpenLineage event as one all-or-none batch of commands: the experiment
//! of its job, its run and parent, its datasets, and how the run ended.

use super::*;

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

    pub(super) fn apply(&mut self, event: &Checked) -> Result<()> {
        match event {
            Checked::Run(run) => self.apply_run(run),
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

    /// A run event: the experiment of its job, its parent run, the run itself, the
    /// datasets it read and wrote, and how it ended.
    fn apply_run(&mut self, event: &RunEvent) -> Result<()> {
        let RunEvent {
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
        } = event;
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
        let held_inputs = held.as_ref().map(|held| &held.inputs);
        let read = self.new_datasets(inputs, held_inputs, &mut batch)?;
        if !read.is_empty() {
            batch.commands.push(Command::RecordRunInputs(RunInputsRecorded {
                run: run_ref.clone(),
                datasets: read,
            }));
        }
        let held_outputs = held.as_ref().map(|held| &held.outputs);
        let wrote = self.new_datasets(outputs, held_outputs, &mut batch)?;
        if !wrote.is_empty() {
            batch.commands.push(Command::RecordRunOutputs(RunOutputsRecorded {
                run: run_ref.clone(),
                datasets: wrote,
            }));
        }
        if let Some(finish) = finish_command(*event_type, status, &run_ref, run_facets) {
            batch.commands.push(finish);
        }
        self.append(batch, "run event")
    }

    /// The datasets of `named` the run does not hold yet (each once), made if new.
    fn new_datasets(
        &mut self,
        named: &[RawDataset],
        held: Option<&std::collections::BTreeSet<DatasetId>>,
        batch: &mut Batch,
    ) -> Result<Vec<DatasetId>> {
        let mut new = Vec::new();
        for dataset in named {
            let dataset = self.dataset(dataset, batch)?;
            if !held.is_some_and(|held| held.contains(&dataset)) && !new.contains(&dataset) {
                new.push(dataset);
            }
        }
        Ok(new)
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

/// The command that ends a run as a COMPLETE, FAIL or ABORT event says, if the run is
/// still going.
fn finish_command(
    event_type: EventType,
    status: Option<RunStatus>,
    run_ref: &RunId,
    run_facets: &serde_json::Map<String, Value>,
) -> Option<Command> {
    let unfinished = status.is_some_and(|status| !status.is_finished());
    match event_type {
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
    }
}
