//! The state of manifests and images: versions and builds.

use super::*;

pub(super) fn manifest_created(overlay: &mut Overlay, envelope: &Envelope, e: &ManifestCreated) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
            detail: Detail::Manifest { versions: Vec::new() },
        },
    )?;
    Ok(())
}

pub(super) fn manifest_version_added(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ManifestVersionAdded,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Manifest { versions } => {
            versions.push(ManifestVersion {
                version: e.version,
                models: e.models.clone(),
                dependencies: e.dependencies.clone(),
                scoring_script: e.scoring_script.clone(),
                schema: e.schema.clone(),
                sample_data: e.sample_data.clone(),
                added: stamp(envelope),
            });
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn image_created(overlay: &mut Overlay, envelope: &Envelope, e: &ImageCreated) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
            detail: Detail::Image { versions: Vec::new() },
        },
    )?;
    Ok(())
}

pub(super) fn image_build_started(overlay: &mut Overlay, envelope: &Envelope, e: &ImageBuildStarted) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Image { versions } => {
            versions.push(ImageVersion {
                version: e.version,
                manifest: e.manifest.clone(),
                status: BuildStatus::Building,
                started: stamp(envelope),
            });
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn image_built(overlay: &mut Overlay, envelope: &Envelope, e: &ImageBuilt) -> Result<()> {
    set_build_status(
        overlay,
        envelope,
        e.version,
        BuildStatus::Succeeded {
            digest: e.digest.clone(),
        },
    )?;
    Ok(())
}

pub(super) fn image_build_failed(overlay: &mut Overlay, envelope: &Envelope, e: &ImageBuildFailed) -> Result<()> {
    set_build_status(
        overlay,
        envelope,
        e.version,
        BuildStatus::Failed {
            reason: e.reason.clone(),
        },
    )?;
    Ok(())
}
