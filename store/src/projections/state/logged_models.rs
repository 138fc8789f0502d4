//! The state of a run's logged models (MLflow 3's): kept in the run, by number.

use super::*;
use lineage_schema::entity::LoggedModel;

/// Changes the run's logged model `number`, stamping it updated.
fn change_model(
    overlay: &mut Overlay,
    envelope: &Envelope,
    number: u32,
    change: impl FnOnce(&mut LoggedModel),
) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        if let Some(model) = run.logged_models.get_mut(&number) {
            change(model);
            model.updated = stamp(envelope);
        }
        Ok(())
    })
}

pub(super) fn model_logged(overlay: &mut Overlay, envelope: &Envelope, e: &ModelLogged) -> Result<()> {
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        run.models_logged = run.models_logged.max(e.number);
        run.logged_models.insert(
            e.number,
            LoggedModel {
                name: e.name.clone(),
                model_type: e.model_type.clone(),
                status: None,
                params: e
                    .params
                    .iter()
                    .map(|param| (param.key.clone(), param.value.clone()))
                    .collect(),
                tags: e.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())).collect(),
                output_step: None,
                logged: stamp(envelope),
                updated: stamp(envelope),
            },
        );
        Ok(())
    })
}

pub(super) fn finalized(overlay: &mut Overlay, envelope: &Envelope, e: &LoggedModelFinalized) -> Result<()> {
    change_model(overlay, envelope, e.number, |model| model.status = Some(e.status))
}

pub(super) fn tags_set(overlay: &mut Overlay, envelope: &Envelope, e: &LoggedModelTagsSet) -> Result<()> {
    change_model(overlay, envelope, e.number, |model| tags_into(&mut model.tags, &e.tags))
}

pub(super) fn tag_deleted(overlay: &mut Overlay, envelope: &Envelope, e: &LoggedModelTagDeleted) -> Result<()> {
    change_model(overlay, envelope, e.number, |model| {
        model.tags.remove(&e.key);
    })
}

pub(super) fn params_logged(overlay: &mut Overlay, envelope: &Envelope, e: &LoggedModelParamsLogged) -> Result<()> {
    change_model(overlay, envelope, e.number, |model| {
        for param in &e.params {
            model.params.insert(param.key.clone(), param.value.clone());
        }
    })
}

pub(super) fn output_recorded(overlay: &mut Overlay, envelope: &Envelope, e: &ModelOutputRecorded) -> Result<()> {
    change_model(overlay, envelope, e.number, |model| model.output_step = Some(e.step))
}

pub(super) fn deleted(overlay: &mut Overlay, envelope: &Envelope, e: &LoggedModelDeleted) -> Result<()> {
    update(overlay, envelope, |entity| {
        run_detail(entity)?.logged_models.remove(&e.number);
        Ok(())
    })
}
