//! The state of models: versions, tags and aliases.

use super::*;

pub(super) fn model_created(overlay: &mut Overlay, envelope: &Envelope, e: &ModelCreated) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
            detail: Detail::Model {
                description: e.description.clone(),
                versions: Vec::new(),
                tags: Default::default(),
                aliases: Default::default(),
                versions_registered: 0,
            },
        },
    )?;
    Ok(())
}

pub(super) fn model_version_registered(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelVersionRegistered,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model {
            versions,
            versions_registered,
            ..
        } => {
            versions.push(ModelVersion {
                version: e.version,
                source: e.source.clone(),
                derived_from: e.derived_from.clone(),
                tags: e.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())).collect(),
                description: String::new(),
                registered: stamp(envelope),
            });
            *versions_registered = (*versions_registered).max(e.version);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn model_version_tags_set(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelVersionTagsSet,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { versions, .. } => {
            if let Some(version) = versions.iter_mut().find(|version| version.version == e.version) {
                tags_into(&mut version.tags, &e.tags);
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn model_tags_set(overlay: &mut Overlay, envelope: &Envelope, e: &ModelTagsSet) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { tags, .. } => {
            tags_into(tags, &e.tags);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn model_described(overlay: &mut Overlay, envelope: &Envelope, e: &ModelDescribed) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { description, .. } => {
            description.clone_from(&e.description);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

pub(super) fn model_tag_deleted(overlay: &mut Overlay, envelope: &Envelope, e: &ModelTagDeleted) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { tags, .. } => {
            tags.remove(&e.key);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

pub(super) fn model_version_tag_deleted(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelVersionTagDeleted,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { versions, .. } => {
            if let Some(version) = versions.iter_mut().find(|version| version.version == e.version) {
                version.tags.remove(&e.key);
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

pub(super) fn model_alias_set(overlay: &mut Overlay, envelope: &Envelope, e: &ModelAliasSet) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { aliases, .. } => {
            aliases.insert(e.alias.clone(), e.version);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn model_alias_removed(overlay: &mut Overlay, envelope: &Envelope, e: &ModelAliasRemoved) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { aliases, .. } => {
            aliases.remove(&e.alias);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn model_version_deleted(overlay: &mut Overlay, envelope: &Envelope, e: &ModelVersionDeleted) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { versions, aliases, .. } => {
            versions.retain(|version| version.version != e.version);
            aliases.retain(|_, version| *version != e.version);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

pub(super) fn model_version_described(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelVersionDescribed,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Model { versions, .. } => {
            if let Some(version) = versions.iter_mut().find(|version| version.version == e.version) {
                version.description = e.description.clone();
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}
