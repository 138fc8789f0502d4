//! Rules for datasets and their schemas.

use super::check::*;
use crate::error::Result;
use crate::projections::state;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `RegisterDataset`.
pub(super) fn register_dataset(check: &Check<'_>, e: DatasetRegistered) -> Result<Decided> {
    check.absent(K::Dataset, &e.dataset)?;
    let scope = check.exp_account(&e.account)?;
    let scoped = state::scoped_name(e.name.as_str(), e.version.as_deref());
    check.unique_name(Some(&scope), K::Dataset, &scoped)?;
    nonempty("location", &e.location)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `RecordDatasetSchema`.
pub(super) fn record_dataset_schema(check: &Check<'_>, e: DatasetSchemaRecorded) -> Result<Decided> {
    let dataset = check.live(K::Dataset, &e.dataset)?;
    let account = check.seat_in_account_of(&dataset)?;
    limit("schema fields", e.fields.len())?;
    for field in &e.fields {
        nonempty("field name", &field.name)?;
        text("field type", &field.data_type)?;
        text("field description", field.description.as_deref().unwrap_or_default())?;
    }
    Ok((e.into(), Some(account)))
}
