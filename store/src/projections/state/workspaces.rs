//! The state of workspaces, projects, experiments and compute targets.

use super::*;

pub(super) fn workspace_created(overlay: &mut Overlay, envelope: &Envelope, e: &WorkspaceCreated) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
            detail: Detail::Workspace {
                description: e.description.clone(),
                members: [envelope.actor.clone()].into(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn workspace_access_granted(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &WorkspaceAccessGranted,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Workspace { members, .. } => {
            members.insert(e.principal.clone());
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn workspace_access_revoked(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &WorkspaceAccessRevoked,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Workspace { members, .. } => {
            members.remove(&e.principal);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn project_created(overlay: &mut Overlay, envelope: &Envelope, e: &ProjectCreated) -> Result<()> {
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(EntityRef::new(EntityKind::Workspace, &e.workspace)),
            detail: Detail::Project {
                path: e.path.clone(),
                repository: e.repository.clone(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn experiment_created(overlay: &mut Overlay, envelope: &Envelope, e: &ExperimentCreated) -> Result<()> {
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(EntityRef::new(EntityKind::Project, &e.project)),
            detail: Detail::Experiment {
                entry_point: e.entry_point.clone(),
                language: e.language,
                source_digest: e.source_digest,
                tags: Default::default(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn experiment_revised(overlay: &mut Overlay, envelope: &Envelope, e: &ExperimentRevised) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Experiment {
            entry_point,
            source_digest,
            ..
        } => {
            *entry_point = e.entry_point.clone();
            *source_digest = e.source_digest;
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn compute_target_attached(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ComputeTargetAttached,
) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
            detail: Detail::ComputeTarget { kind: e.kind.clone() },
        },
    )?;
    Ok(())
}

pub(super) fn experiment_tags_set(overlay: &mut Overlay, envelope: &Envelope, e: &ExperimentTagsSet) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Experiment { tags, .. } => {
            tags_into(tags, &e.tags);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}
