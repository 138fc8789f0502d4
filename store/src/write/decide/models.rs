//! Rules for models, their versions, tags and aliases.

use super::check::*;
use crate::error::Result;
use lineage_schema::command::*;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `CreateModel`.
pub(super) fn create_model(check: &Check<'_>, e: ModelCreated) -> Result<Decided> {
    versioned_id(K::Model, e.model.as_str())?;
    check.absent(K::Model, &e.model)?;
    let scope = check.mm_account(&e.account)?;
    check.unique_name(Some(&scope), K::Model, e.name.as_str())?;
    text("description", &e.description)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `RegisterModelVersion`.
pub(super) fn register_model_version(check: &Check<'_>, c: RegisterModelVersion) -> Result<Decided> {
    let (account, registered) = check.seated_peek(K::Model, &c.model, |model| match &model.detail {
        Detail::Model {
            versions_registered, ..
        } => Ok(*versions_registered),
        _ => Err(mismatch(model)),
    })?;
    match &c.source {
        ModelSource::Run { run, artifact_path } => {
            check.run_account(run)?;
            nonempty("artifact path", artifact_path)?;
        }
        ModelSource::Uploaded { location, .. } => nonempty("location", location)?,
    }
    if let Some(earlier) = &c.derived_from {
        check.model_version_in(earlier, &account)?;
    }
    tags(&c.tags)?;
    let event = ModelVersionRegistered {
        model: c.model,
        version: next_version(registered? as usize),
        source: c.source,
        derived_from: c.derived_from,
        tags: c.tags,
    };
    Ok((event.into(), Some(account)))
}

/// `SetModelVersionTags`.
pub(super) fn set_model_version_tags(check: &Check<'_>, e: ModelVersionTagsSet) -> Result<Decided> {
    let model = check.model_version(&ModelVersionRef {
        model: e.model.clone(),
        version: e.version,
    })?;
    let account = check.seat_in_account_of(&model)?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `SetModelTags`.
pub(super) fn set_model_tags(check: &Check<'_>, e: ModelTagsSet) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `RenameModel`: the new name must be free in the model's account.
pub(super) fn rename_model(check: &Check<'_>, e: ModelRenamed) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    if model.name != e.name.as_str() {
        check.unique_name(model.parent.as_ref(), K::Model, e.name.as_str())?;
    }
    Ok((e.into(), Some(account)))
}

/// `DescribeModel`.
pub(super) fn describe_model(check: &Check<'_>, e: ModelDescribed) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    text("description", &e.description)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteModelTag`: the model must hold the tag.
pub(super) fn delete_model_tag(check: &Check<'_>, e: ModelTagDeleted) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    let Detail::Model { tags, .. } = &model.detail else {
        return Err(mismatch(&model));
    };
    if !tags.contains_key(&e.key) {
        return reject(Rejection::invalid(
            "tag",
            format!("model {} has no tag `{}`", e.model, e.key),
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `DeleteModelVersionTag`: the version must hold the tag.
pub(super) fn delete_model_version_tag(check: &Check<'_>, e: ModelVersionTagDeleted) -> Result<Decided> {
    let model = check.model_version(&ModelVersionRef {
        model: e.model.clone(),
        version: e.version,
    })?;
    let account = check.seat_in_account_of(&model)?;
    let Detail::Model { versions, .. } = &model.detail else {
        return Err(mismatch(&model));
    };
    let held = versions
        .iter()
        .any(|version| version.version == e.version && version.tags.contains_key(&e.key));
    if !held {
        return reject(Rejection::invalid(
            "tag",
            format!("version {} of model {} has no tag `{}`", e.version, e.model, e.key),
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `DeleteModel`: its name is freed; its versions go with it.
pub(super) fn delete_model(check: &Check<'_>, e: ModelDeleted) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteModelVersion`: the version must exist.
pub(super) fn delete_model_version(check: &Check<'_>, e: ModelVersionDeleted) -> Result<Decided> {
    let model = check.model_version(&ModelVersionRef {
        model: e.model.clone(),
        version: e.version,
    })?;
    let account = check.seat_in_account_of(&model)?;
    Ok((e.into(), Some(account)))
}

/// `DescribeModelVersion`.
pub(super) fn describe_model_version(check: &Check<'_>, e: ModelVersionDescribed) -> Result<Decided> {
    let model = check.model_version(&ModelVersionRef {
        model: e.model.clone(),
        version: e.version,
    })?;
    let account = check.seat_in_account_of(&model)?;
    text("description", &e.description)?;
    Ok((e.into(), Some(account)))
}

/// `SetModelAlias`.
pub(super) fn set_model_alias(check: &Check<'_>, e: ModelAliasSet) -> Result<Decided> {
    let model = check.model_version(&ModelVersionRef {
        model: e.model.clone(),
        version: e.version,
    })?;
    let account = check.seat_in_account_of(&model)?;
    alias(&e.alias)?;
    Ok((e.into(), Some(account)))
}

/// `RemoveModelAlias`.
pub(super) fn remove_model_alias(check: &Check<'_>, e: ModelAliasRemoved) -> Result<Decided> {
    let model = check.live(K::Model, &e.model)?;
    let account = check.seat_in_account_of(&model)?;
    let Detail::Model { aliases, .. } = &model.detail else {
        return Err(mismatch(&model));
    };
    if !aliases.contains_key(&e.alias) {
        return reject(Rejection::invalid(
            "alias",
            format!("model {} has no alias `{}`", e.model, e.alias),
        ));
    }
    Ok((e.into(), Some(account)))
}
