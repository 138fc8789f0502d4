//! Rules for runs: queued, started, logging params, metrics, tags, artifacts, inputs and
//! outputs, finished, deleted and restored.

use super::check::*;
use super::policy::parent_of;
use crate::error::Result;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `QueueRun`.
pub(super) fn queue_run(check: &Check<'_>, e: RunQueued) -> Result<Decided> {
    check.absent(K::Run, &e.run)?;
    let account = new_run_checks(check, &e.experiment, &e.compute_target, e.parent.as_ref())?;
    Ok((e.into(), Some(account)))
}

/// `StartRun`.
pub(super) fn start_run(check: &Check<'_>, e: RunStarted) -> Result<Decided> {
    nonempty("revision", &e.revision)?;
    let account = match check.find(K::Run, &e.run)? {
        None => new_run_checks(check, &e.experiment, &e.compute_target, e.parent.as_ref())?,
        Some(existing) if !check.visible(&existing)? => {
            return reject(Rejection::AlreadyExists {
                entity: existing.reference,
            })
        }
        Some(existing) => {
            let account = check.run_account(&e.run)?;
            let status = run_status(&existing)?;
            if status != RunStatus::Queued {
                return reject(Rejection::transition(existing.reference, status.label(), "start it"));
            }
            let Detail::Run(run) = &existing.detail else {
                return Err(mismatch(&existing));
            };
            if run.experiment != e.experiment || run.parent != e.parent {
                return reject(Rejection::invalid(
                    "run",
                    format!("run {} was queued for another experiment or parent", e.run),
                ));
            }
            check.compute_target(&e.compute_target, &account)?;
            account
        }
    };
    Ok((e.into(), Some(account)))
}

/// `LogParams`: params cannot change once logged.
pub(super) fn log_params(check: &Check<'_>, e: ParamsLogged) -> Result<Decided> {
    let (entity, account) = check.run(&e.run)?;
    let Detail::Run(run) = &entity.detail else {
        return Err(mismatch(&entity));
    };
    immutable_params(&e.params, &run.params, &format!("run {}", e.run))?;
    Ok((e.into(), Some(account)))
}

/// `LogMetrics`.
pub(super) fn log_metrics(check: &Check<'_>, e: MetricsLogged) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    limit("metric points", e.points.len())?;
    if e.points.is_empty() {
        return reject(Rejection::invalid("points", "log at least one metric point"));
    }
    e.points.iter().try_for_each(|point| {
        nonempty("metric name", &point.name)?;
        finite(&format!("metric `{}`", point.name), point.value)
    })?;
    Ok((e.into(), Some(account)))
}

/// `SetRunTags`.
pub(super) fn set_run_tags(check: &Check<'_>, e: RunTagsSet) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteRunTag`: the run must hold the tag.
pub(super) fn delete_run_tag(check: &Check<'_>, e: RunTagDeleted) -> Result<Decided> {
    let (entity, account) = check.run(&e.run)?;
    let Detail::Run(run) = &entity.detail else {
        return Err(mismatch(&entity));
    };
    if !run.tags.contains_key(&e.key) {
        return reject(Rejection::invalid(
            "tag",
            format!("run {} has no tag `{}`", e.run, e.key),
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `RecordArtifacts`.
pub(super) fn record_artifacts(check: &Check<'_>, e: ArtifactsRecorded) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    limit("artifacts", e.artifacts.len())?;
    e.artifacts
        .iter()
        .try_for_each(|artifact| nonempty("artifact path", &artifact.path))?;
    Ok((e.into(), Some(account)))
}

/// `DeleteArtifacts`: every path must name at least one of the run's artifacts.
pub(super) fn delete_artifacts(check: &Check<'_>, e: ArtifactsDeleted) -> Result<Decided> {
    let (entity, account) = check.run(&e.run)?;
    limit("paths", e.paths.len())?;
    let Detail::Run(run) = &entity.detail else {
        return Err(mismatch(&entity));
    };
    if e.paths.is_empty() {
        return reject(Rejection::invalid("paths", "name at least one artifact path"));
    }
    for path in &e.paths {
        if !run
            .artifacts
            .iter()
            .any(|artifact| lineage_schema::entity::under(&artifact.path, path))
        {
            return reject(Rejection::invalid(
                "artifact path",
                format!("run {} has no artifact at `{path}`", e.run),
            ));
        }
    }
    Ok((e.into(), Some(account)))
}

/// `RecordRunInputs`.
pub(super) fn record_run_inputs(check: &Check<'_>, e: RunInputsRecorded) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    check.datasets(&e.datasets, &account)?;
    Ok((e.into(), Some(account)))
}

/// `TagRunInput`: the dataset must be one the run read.
pub(super) fn tag_run_input(check: &Check<'_>, e: RunInputTagged) -> Result<Decided> {
    let (entity, account) = check.run(&e.run)?;
    let Detail::Run(run) = &entity.detail else {
        return Err(mismatch(&entity));
    };
    if !run.inputs.contains(&e.dataset) {
        return reject(Rejection::invalid(
            "dataset",
            format!("run {} did not read dataset {}", e.run, e.dataset),
        ));
    }
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `RecordRunOutputs`.
pub(super) fn record_run_outputs(check: &Check<'_>, e: RunOutputsRecorded) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    check.datasets(&e.datasets, &account)?;
    Ok((e.into(), Some(account)))
}

/// `CompleteRun`.
pub(super) fn complete_run(check: &Check<'_>, e: RunCompleted) -> Result<Decided> {
    let account = finish_checks(check, &e.run, "complete it", &[RunStatus::Running])?;
    Ok((e.into(), Some(account)))
}

/// `FailRun`.
pub(super) fn fail_run(check: &Check<'_>, e: RunFailed) -> Result<Decided> {
    text("reason", &e.reason)?;
    let account = finish_checks(check, &e.run, "fail it", &[RunStatus::Queued, RunStatus::Running])?;
    Ok((e.into(), Some(account)))
}

/// `CancelRun`.
pub(super) fn cancel_run(check: &Check<'_>, e: RunCanceled) -> Result<Decided> {
    let account = finish_checks(check, &e.run, "cancel it", &[RunStatus::Queued, RunStatus::Running])?;
    Ok((e.into(), Some(account)))
}

/// `DeleteRun`.
pub(super) fn delete_run(check: &Check<'_>, e: RunDeleted) -> Result<Decided> {
    let account = check.run_account(&e.run)?;
    Ok((e.into(), Some(account)))
}

/// `RestoreRun`.
pub(super) fn restore_run(check: &Check<'_>, e: RunRestored) -> Result<Decided> {
    let run = check.deleted(K::Run, &e.run, "restore it")?;
    let account = check.access_via(&run)?;
    Ok((e.into(), Some(account)))
}

fn run_status(entity: &Entity) -> Result<RunStatus> {
    match &entity.detail {
        Detail::Run(run) => Ok(run.status),
        _ => Err(mismatch(entity)),
    }
}

fn new_run_checks(
    check: &Check<'_>,
    experiment: &ExperimentId,
    target: &ComputeTargetId,
    parent: Option<&RunId>,
) -> Result<AccountId> {
    let experiment_parent = check.live_peek(EntityKind::Experiment, experiment, parent_of)?;
    let account = check.access_from(experiment_parent)?;
    check.compute_target(target, &account)?;
    if let Some(parent) = parent {
        let (parent, _) = check.run(parent)?;
        check.same_account(&parent, &account)?;
    }
    Ok(account)
}

fn finish_checks(check: &Check<'_>, run: &RunId, action: &str, from: &[RunStatus]) -> Result<AccountId> {
    let (status, parent) = check.live_peek(EntityKind::Run, run, |entity| (run_status(entity), parent_of(entity)))?;
    let account = check.access_from(parent)?;
    let status = status?;
    if !from.contains(&status) {
        return reject(Rejection::transition(
            EntityRef::new(EntityKind::Run, run),
            status.label(),
            action,
        ));
    }
    Ok(account)
}
