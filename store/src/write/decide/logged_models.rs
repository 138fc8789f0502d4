//! Rules for a run's logged models (MLflow 3's): logged with the run's next number,
//! finalized, tagged, given params, named as outputs, deleted.

use super::check::*;
use crate::error::Result;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;

/// The run (live, in the actor's sight, writable), its account and its details.
fn run_of(check: &Check<'_>, run: &RunId) -> Result<(RunDetail, AccountId)> {
    let (entity, account) = check.run(run)?;
    match entity.detail {
        Detail::Run(detail) => Ok((*detail, account)),
        _ => Err(mismatch(&entity)),
    }
}

/// The run's logged model `number`, which must exist (and not be deleted).
fn logged<'a>(run_id: &RunId, run: &'a RunDetail, number: u32) -> Result<&'a LoggedModel> {
    match run.logged_models.get(&number) {
        Some(model) => Ok(model),
        None => reject(Rejection::invalid(
            "logged model",
            format!("run {run_id} has no logged model {}", logged_model_id(run_id, number)),
        )),
    }
}

/// `LogModel`: numbered one more than the models the run has logged.
pub(super) fn log_model(check: &Check<'_>, e: ModelLogged) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    let next = run.models_logged + 1;
    if e.number != next {
        return reject(Rejection::invalid(
            "number",
            format!("the next model run {} logs is number {next}, not {}", e.run, e.number),
        ));
    }
    nonempty("name", &e.name)?;
    text("name", &e.name)?;
    text("model type", &e.model_type)?;
    immutable_params(&e.params, &Default::default(), "the model")?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `FinalizeLoggedModel`.
pub(super) fn finalize_logged_model(check: &Check<'_>, e: LoggedModelFinalized) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    logged(&e.run, &run, e.number)?;
    Ok((e.into(), Some(account)))
}

/// `SetLoggedModelTags`.
pub(super) fn set_logged_model_tags(check: &Check<'_>, e: LoggedModelTagsSet) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    logged(&e.run, &run, e.number)?;
    tags(&e.tags)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteLoggedModelTag`: the model must hold the tag.
pub(super) fn delete_logged_model_tag(check: &Check<'_>, e: LoggedModelTagDeleted) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    if !logged(&e.run, &run, e.number)?.tags.contains_key(&e.key) {
        return reject(Rejection::invalid(
            "tag",
            format!(
                "logged model {} has no tag `{}`",
                logged_model_id(&e.run, e.number),
                e.key
            ),
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `LogLoggedModelParams`: params cannot change once logged.
pub(super) fn log_logged_model_params(check: &Check<'_>, e: LoggedModelParamsLogged) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    let model = logged(&e.run, &run, e.number)?;
    let owner = format!("logged model {}", logged_model_id(&e.run, e.number));
    immutable_params(&e.params, &model.params, &owner)?;
    Ok((e.into(), Some(account)))
}

/// `RecordModelOutput`: a run names as outputs the models it logged.
pub(super) fn record_model_output(check: &Check<'_>, e: ModelOutputRecorded) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    logged(&e.run, &run, e.number)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteLoggedModel`.
pub(super) fn delete_logged_model(check: &Check<'_>, e: LoggedModelDeleted) -> Result<Decided> {
    let (run, account) = run_of(check, &e.run)?;
    logged(&e.run, &run, e.number)?;
    Ok((e.into(), Some(account)))
}
