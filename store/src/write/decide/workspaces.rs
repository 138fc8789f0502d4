//! Rules for workspaces and their sharing, projects, experiments and compute targets.

use super::check::*;
use crate::error::Result;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `CreateWorkspace`.
pub(super) fn create_workspace(check: &Check<'_>, e: WorkspaceCreated) -> Result<Decided> {
    check.absent(K::Workspace, &e.workspace)?;
    let scope = check.exp_account(&e.account)?;
    check.unique_name(Some(&scope), K::Workspace, e.name.as_str())?;
    text("description", &e.description)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `GrantWorkspaceAccess`.
pub(super) fn grant_workspace_access(check: &Check<'_>, e: WorkspaceAccessGranted) -> Result<Decided> {
    let workspace = check.live(K::Workspace, &e.workspace)?;
    let account = check.workspace_access(&workspace)?;
    let Detail::Workspace { members, .. } = &workspace.detail else {
        return Err(mismatch(&workspace));
    };
    if members.contains(&e.principal) {
        return reject(Rejection::transition(
            workspace.reference,
            format!("already shared with {}", e.principal),
            "grant access again",
        ));
    }
    let exp = check.live(K::ExperimentationAccount, &account)?;
    let Detail::ExperimentationAccount { seats, .. } = &exp.detail else {
        return Err(mismatch(&exp));
    };
    if !seats.contains(&e.principal) {
        return reject(Rejection::NoSeat {
            principal: e.principal.to_string(),
            account: account.to_string(),
        });
    }
    Ok((e.into(), Some(account)))
}

/// `RevokeWorkspaceAccess`.
pub(super) fn revoke_workspace_access(check: &Check<'_>, e: WorkspaceAccessRevoked) -> Result<Decided> {
    let workspace = check.live(K::Workspace, &e.workspace)?;
    let account = check.workspace_access(&workspace)?;
    let Detail::Workspace { members, .. } = &workspace.detail else {
        return Err(mismatch(&workspace));
    };
    if !members.contains(&e.principal) {
        return reject(Rejection::transition(
            workspace.reference,
            format!("not shared with {}", e.principal),
            "revoke access",
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `CreateProject`.
pub(super) fn create_project(check: &Check<'_>, e: ProjectCreated) -> Result<Decided> {
    check.absent(K::Project, &e.project)?;
    let workspace = check.live(K::Workspace, &e.workspace)?;
    let account = check.workspace_access(&workspace)?;
    check.unique_name(Some(&workspace.reference), K::Project, e.name.as_str())?;
    nonempty("path", &e.path)?;
    Ok((e.into(), Some(account)))
}

/// `CreateExperiment`.
pub(super) fn create_experiment(check: &Check<'_>, e: ExperimentCreated) -> Result<Decided> {
    check.absent(K::Experiment, &e.experiment)?;
    let project = check.live(K::Project, &e.project)?;
    let account = check.access_via(&project)?;
    check.unique_name(Some(&project.reference), K::Experiment, e.name.as_str())?;
    nonempty("entry point", &e.entry_point)?;
    Ok((e.into(), Some(account)))
}

/// `ReviseExperiment`.
pub(super) fn revise_experiment(check: &Check<'_>, e: ExperimentRevised) -> Result<Decided> {
    let experiment = check.live(K::Experiment, &e.experiment)?;
    let account = check.access_via(&experiment)?;
    nonempty("entry point", &e.entry_point)?;
    Ok((e.into(), Some(account)))
}

/// `AttachComputeTarget`.
pub(super) fn attach_compute_target(check: &Check<'_>, e: ComputeTargetAttached) -> Result<Decided> {
    check.absent(K::ComputeTarget, &e.target)?;
    let scope = check.exp_account(&e.account)?;
    check.unique_name(Some(&scope), K::ComputeTarget, e.name.as_str())?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `DetachComputeTarget`.
pub(super) fn detach_compute_target(check: &Check<'_>, e: ComputeTargetDetached) -> Result<Decided> {
    let target = check.live(K::ComputeTarget, &e.target)?;
    let account = check.seat_in_account_of(&target)?;
    Ok((e.into(), Some(account)))
}

/// `SetExperimentTags`.
pub(super) fn set_experiment_tags(check: &Check<'_>, e: ExperimentTagsSet) -> Result<Decided> {
    let experiment = check.live(K::Experiment, &e.experiment)?;
    let account = check.access_via(&experiment)?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `RenameExperiment`: the new name must be free in the experiment's project (a deleted
/// experiment's name stays taken, so it can be restored).
pub(super) fn rename_experiment(check: &Check<'_>, e: ExperimentRenamed) -> Result<Decided> {
    let experiment = check.live(K::Experiment, &e.experiment)?;
    let account = check.access_via(&experiment)?;
    if experiment.name != e.name.as_str() {
        check.unique_name(experiment.parent.as_ref(), K::Experiment, e.name.as_str())?;
    }
    Ok((e.into(), Some(account)))
}

/// `DeleteExperiment`.
pub(super) fn delete_experiment(check: &Check<'_>, e: ExperimentDeleted) -> Result<Decided> {
    let experiment = check.live(K::Experiment, &e.experiment)?;
    let account = check.access_via(&experiment)?;
    Ok((e.into(), Some(account)))
}

/// `RestoreExperiment`.
pub(super) fn restore_experiment(check: &Check<'_>, e: ExperimentRestored) -> Result<Decided> {
    let experiment = check.deleted(K::Experiment, &e.experiment, "restore it")?;
    let account = check.access_via(&experiment)?;
    Ok((e.into(), Some(account)))
}
