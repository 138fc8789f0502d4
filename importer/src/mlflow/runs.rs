//! One MLflow run as Lineage commands: queued or started, params, tags, metric points in
//! bounded commands, dataset inputs, logged models as artifacts, and how it ended — only
//! what the store does not hold yet.

use super::*;

impl Importer<'_> {
    pub(super) fn run(&mut self, run: &Run) -> Result<()> {
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
            input_tags: BTreeMap::new(),
            outputs: BTreeSet::new(),
            queued_at: None,
            started_at: None,
            finished_at: None,
            failure_reason: None,
            logged_models: Default::default(),
            models_logged: 0,
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
        self.lifecycle_params_and_tags(run, &run_ref, &held, created, &mut batch);
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
            if let Some(finish) = finish_command(run, &run_ref) {
                batch.push(self.envelope(finish, at(run.end_time)));
            }
        }
        self.append("run", what, created_or_updated(created), batch)?;
        Ok(())
    }

    /// Queueing or starting the run, and the params and tags it lacks.
    /// (`held` is the run as the store has it, or as it starts out when new: its
    /// experiment and parent are the ones to record.)
    fn lifecycle_params_and_tags(
        &self,
        run: &Run,
        run_ref: &RunId,
        held: &RunDetail,
        created: bool,
        batch: &mut Vec<CommandEnvelope>,
    ) {
        let started = at(run.start_time);
        let revision = run
            .tag("mlflow.source.git.commit")
            .filter(|commit| !commit.is_empty())
            .unwrap_or(UNKNOWN_REVISION)
            .to_string();
        if created && run.status == RunStatus::Scheduled {
            batch.push(self.envelope(
                Command::QueueRun(RunQueued {
                    run: run_ref.clone(),
                    experiment: held.experiment.clone(),
                    compute_target: self.target.compute_target.clone(),
                    parent: held.parent.clone(),
                }),
                started,
            ));
        } else if held.status == LineageStatus::Queued && run.status != RunStatus::Scheduled {
            batch.push(self.envelope(
                Command::StartRun(RunStarted {
                    run: run_ref.clone(),
                    experiment: held.experiment.clone(),
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
        for params in lineage_schema::tlog::fitting(params) {
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
        for tags in lineage_schema::tlog::fitting(changed) {
            batch.push(self.envelope(
                Command::SetRunTags(RunTagsSet {
                    run: run_ref.clone(),
                    tags,
                }),
                started,
            ));
        }
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
        for chunk in lineage_schema::tlog::fitting(points) {
            let last = chunk.iter().map(|point| point.timestamp).max();
            batch.push(self.envelope(
                Command::LogMetrics(MetricsLogged {
                    run: run_ref.clone(),
                    points: chunk,
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
}

/// The command that ends a run as MLflow's status says it ended, if it did.
fn finish_command(run: &Run, run_ref: &RunId) -> Option<Command> {
    match run.status {
        RunStatus::Finished => Some(Command::CompleteRun(RunCompleted { run: run_ref.clone() })),
        RunStatus::Failed => Some(Command::FailRun(RunFailed {
            run: run_ref.clone(),
            reason: "failed (MLflow status FAILED; MLflow records no reason)".into(),
        })),
        RunStatus::Killed => Some(Command::CancelRun(RunCanceled { run: run_ref.clone() })),
        RunStatus::Running | RunStatus::Scheduled => None,
    }
}
