//! Rules for manifests and images: versions and builds.

use super::check::*;
use crate::error::Result;
use lineage_schema::command::*;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `CreateManifest`.
pub(super) fn create_manifest(check: &Check<'_>, e: ManifestCreated) -> Result<Decided> {
    versioned_id(K::Manifest, e.manifest.as_str())?;
    check.absent(K::Manifest, &e.manifest)?;
    let scope = check.mm_account(&e.account)?;
    check.unique_name(Some(&scope), K::Manifest, e.name.as_str())?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `AddManifestVersion`.
pub(super) fn add_manifest_version(check: &Check<'_>, c: AddManifestVersion) -> Result<Decided> {
    let (account, versions) = check.seated_peek(K::Manifest, &c.manifest, |manifest| match &manifest.detail {
        Detail::Manifest { versions } => Ok(versions.len()),
        _ => Err(mismatch(manifest)),
    })?;
    if c.models.is_empty() {
        return reject(Rejection::invalid(
            "models",
            "a manifest version includes at least one model version",
        ));
    }
    limit("models", c.models.len())?;
    for reference in &c.models {
        check.model_version_in(reference, &account)?;
    }
    limit("dependencies", c.dependencies.len())?;
    nonempty("scoring script", &c.scoring_script)?;
    text("schema", c.schema.as_deref().unwrap_or_default())?;
    text("sample data", c.sample_data.as_deref().unwrap_or_default())?;
    let event = ManifestVersionAdded {
        manifest: c.manifest,
        version: next_version(versions?),
        models: c.models,
        dependencies: c.dependencies,
        scoring_script: c.scoring_script,
        schema: c.schema,
        sample_data: c.sample_data,
    };
    Ok((event.into(), Some(account)))
}

/// `CreateImage`.
pub(super) fn create_image(check: &Check<'_>, e: ImageCreated) -> Result<Decided> {
    versioned_id(K::Image, e.image.as_str())?;
    check.absent(K::Image, &e.image)?;
    let scope = check.mm_account(&e.account)?;
    check.unique_name(Some(&scope), K::Image, e.name.as_str())?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `StartImageBuild`.
pub(super) fn start_image_build(check: &Check<'_>, c: StartImageBuild) -> Result<Decided> {
    let (account, image_versions) = check.seated_peek(K::Image, &c.image, |image| match &image.detail {
        Detail::Image { versions } => Ok(versions.len()),
        _ => Err(mismatch(image)),
    })?;
    let (same, has_version) = check.live_peek(K::Manifest, &c.manifest.manifest, |manifest| {
        let has_version = match &manifest.detail {
            Detail::Manifest { versions } => Ok(versions.iter().any(|version| version.version == c.manifest.version)),
            _ => Err(mismatch(manifest)),
        };
        (manifest.account.as_ref() == Some(&account), has_version)
    })?;
    in_account(&EntityRef::new(K::Manifest, &c.manifest.manifest), same)?;
    if !has_version? {
        return no_version(K::Manifest, &c.manifest.manifest, c.manifest.version);
    }
    let event = ImageBuildStarted {
        image: c.image,
        version: next_version(image_versions?),
        manifest: c.manifest,
    };
    Ok((event.into(), Some(account)))
}

/// `RecordImageBuilt`.
pub(super) fn record_image_built(check: &Check<'_>, e: ImageBuilt) -> Result<Decided> {
    let account = building_checks(check, &e.image, e.version)?;
    nonempty("digest", &e.digest)?;
    Ok((e.into(), Some(account)))
}

/// `RecordImageBuildFailed`.
pub(super) fn record_image_build_failed(check: &Check<'_>, e: ImageBuildFailed) -> Result<Decided> {
    let account = building_checks(check, &e.image, e.version)?;
    text("reason", &e.reason)?;
    Ok((e.into(), Some(account)))
}

fn building_checks(check: &Check<'_>, image: &ImageId, number: u32) -> Result<AccountId> {
    let (account, status) = check.seated_peek(EntityKind::Image, image, |entity| match &entity.detail {
        Detail::Image { versions } => Ok(versions
            .iter()
            .find(|version| version.version == number)
            .map(|version| version.status.clone())),
        _ => Err(mismatch(entity)),
    })?;
    match status? {
        None => no_version(EntityKind::Image, image, number),
        Some(status) if status != BuildStatus::Building => {
            let state = match status {
                BuildStatus::Succeeded { .. } => format!("version {number} already built"),
                _ => format!("version {number} already failed"),
            };
            reject(Rejection::transition(
                EntityRef::new(EntityKind::Image, image),
                state,
                "record the build's outcome again",
            ))
        }
        Some(_) => Ok(account),
    }
}
