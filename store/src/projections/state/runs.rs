//! The state of runs: status, params, metrics, tags, artifacts, inputs and outputs.

use super::*;

pub(super) fn run_queued(overlay: &mut Overlay, envelope: &Envelope, e: &RunQueued) -> Result<()> {
    let at = envelope.effective_time();
    let started = RunStarted {
        run: e.run.clone(),
        experiment: e.experiment.clone(),
        compute_target: e.compute_target.clone(),
        revision: String::new(),
        parent: e.parent.clone(),
    };
    let mut detail = new_run(&started, Some(e), at);
    detail.status = RunStatus::Queued;
    detail.revision = None;
    detail.started_at = None;
    create(
        overlay,
        envelope,
        New {
            name: e.run.to_string(),
            scoped_name: None,
            parent: Some(experiment_ref(&e.experiment)),
            detail: Detail::Run(Box::new(detail)),
        },
    )?;
    Ok(())
}

pub(super) fn run_started(overlay: &mut Overlay, envelope: &Envelope, e: &RunStarted) -> Result<()> {
    let at = envelope.effective_time();
    if load(overlay, &envelope.stream)?.is_some() {
        update(overlay, envelope, |entity| {
            let run = run_detail(entity)?;
            run.status = RunStatus::Running;
            run.revision = Some(e.revision.clone());
            run.compute_target = e.compute_target.clone();
            run.started_at = Some(at);
            Ok(())
        })?;
    } else {
        create(
            overlay,
            envelope,
            New {
                name: e.run.to_string(),
                scoped_name: None,
                parent: Some(experiment_ref(&e.experiment)),
                detail: Detail::Run(Box::new(new_run(e, None, at))),
            },
        )?;
    }
    Ok(())
}

pub(super) fn params_logged(overlay: &mut Overlay, envelope: &Envelope, e: &ParamsLogged) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        for param in &e.params {
            run.params.insert(param.key.clone(), param.value.clone());
        }
        Ok(())
    })?;
    Ok(())
}

pub(super) fn metrics_logged(overlay: &mut Overlay, envelope: &Envelope, e: &MetricsLogged) -> Result<()> {
    // The full history stays in the log, read through the run's stream.
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        run.metric_points += e.points.len() as u64;
        for point in &e.points {
            let newer = run
                .latest_metrics
                .get(&point.name)
                .is_none_or(|latest| (point.step, point.timestamp) >= (latest.step, latest.timestamp));
            if newer {
                run.latest_metrics.insert(point.name.clone(), point.clone());
            }
        }
        Ok(())
    })?;
    Ok(())
}

pub(super) fn run_tags_set(overlay: &mut Overlay, envelope: &Envelope, e: &RunTagsSet) -> Result<()> {
    update(overlay, envelope, |entity| {
        tags_into(&mut run_detail(entity)?.tags, &e.tags);
        Ok(())
    })?;
    Ok(())
}

pub(super) fn run_tag_deleted(overlay: &mut Overlay, envelope: &Envelope, e: &RunTagDeleted) -> Result<()> {
    update(overlay, envelope, |entity| {
        run_detail(entity)?.tags.remove(&e.key);
        Ok(())
    })
}

pub(super) fn artifacts_deleted(overlay: &mut Overlay, envelope: &Envelope, e: &ArtifactsDeleted) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        run.artifacts.retain(|artifact| {
            !e.paths
                .iter()
                .any(|path| lineage_schema::entity::under(&artifact.path, path))
        });
        Ok(())
    })
}

pub(super) fn artifacts_recorded(overlay: &mut Overlay, envelope: &Envelope, e: &ArtifactsRecorded) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        for artifact in &e.artifacts {
            run.artifacts.retain(|known| known.path != artifact.path);
            run.artifacts.push(artifact.clone());
        }
        Ok(())
    })?;
    Ok(())
}

pub(super) fn run_inputs_recorded(overlay: &mut Overlay, envelope: &Envelope, e: &RunInputsRecorded) -> Result<()> {
    update(overlay, envelope, |entity| {
        run_detail(entity)?.inputs.extend(e.datasets.iter().cloned());
        Ok(())
    })?;
    Ok(())
}

pub(super) fn run_outputs_recorded(overlay: &mut Overlay, envelope: &Envelope, e: &RunOutputsRecorded) -> Result<()> {
    update(overlay, envelope, |entity| {
        run_detail(entity)?.outputs.extend(e.datasets.iter().cloned());
        Ok(())
    })?;
    Ok(())
}

pub(super) fn run_failed(overlay: &mut Overlay, envelope: &Envelope, e: &RunFailed) -> Result<()> {
    finish_run(overlay, envelope, RunStatus::Failed, Some(e.reason.clone()))?;
    Ok(())
}

pub(super) fn run_input_tagged(overlay: &mut Overlay, envelope: &Envelope, e: &RunInputTagged) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        tags_into(run.input_tags.entry(e.dataset.clone()).or_default(), &e.tags);
        Ok(())
    })
}
