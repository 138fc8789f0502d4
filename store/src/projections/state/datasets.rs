//! The state of datasets and their schemas.

use super::*;

pub(super) fn dataset_registered(overlay: &mut Overlay, envelope: &Envelope, e: &DatasetRegistered) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: Some(scoped_name(e.name.as_str(), e.version.as_deref())),
            parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
            detail: Detail::Dataset {
                location: e.location.clone(),
                version: e.version.clone(),
                digest: e.digest.clone(),
                schema: Vec::new(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn dataset_schema_recorded(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &DatasetSchemaRecorded,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Dataset { schema, .. } => {
            schema.clone_from(&e.fields);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}
