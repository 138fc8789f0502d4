//! Command handling: checks a command against current state and decides the one event it
//! appends, or rejects it. Deciding writes nothing. One file per aggregate holds its
//! rules, one function per command; `check` holds what they share, `policy` who may act
//! where.

mod accounts;
mod check;
mod datasets;
mod images;
mod logged_models;
mod models;
mod policy;
mod runs;
mod services;
#[cfg(test)]
mod tests;
mod workspaces;

use policy::is_administrator;

use crate::error::Result;
use crate::projections::access;
use crate::projections::state::StateRead;
use check::*;
use lineage_schema::*;

/// What a command becomes: its event and the account it is billed and audited under.
#[derive(Debug)]
pub(crate) struct Decision {
    pub event: Event,
    pub account: Option<AccountId>,
}

/// Decides the event a command appends, or why it is refused.
pub(crate) fn decide(state: &dyn StateRead, sight: &access::Sight, envelope: &CommandEnvelope) -> Result<Decision> {
    let check = Check {
        state,
        actor: &envelope.actor,
        sight,
    };
    let registering_self = matches!(&envelope.command, Command::RegisterPrincipal(e) if e.principal == envelope.actor);
    if !registering_self {
        // Looked at where it lies: every command asks, and needs no field of it.
        check
            .live_peek(EntityKind::Principal, &envelope.actor, |_| ())
            .map_err(|_| Rejection::NotPermitted {
                principal: envelope.actor.to_string(),
                action: "act (it is not a registered principal)".into(),
            })?;
    }
    check_expected_version(&check, envelope)?;
    let (event, account) = match envelope.command.clone() {
        Command::RegisterPrincipal(e) => accounts::register_principal(&check, e)?,
        Command::CreateSubscription(e) => accounts::create_subscription(&check, e)?,
        Command::CreateExperimentationAccount(e) => accounts::create_experimentation_account(&check, e)?,
        Command::CreateModelManagementAccount(e) => accounts::create_model_management_account(&check, e)?,
        Command::ChangeModelManagementPlan(e) => accounts::change_model_management_plan(&check, e)?,
        Command::AssignSeat(e) => accounts::assign_seat(&check, e)?,
        Command::RevokeSeat(e) => accounts::revoke_seat(&check, e)?,
        Command::CreateWorkspace(e) => workspaces::create_workspace(&check, e)?,
        Command::GrantWorkspaceAccess(e) => workspaces::grant_workspace_access(&check, e)?,
        Command::RevokeWorkspaceAccess(e) => workspaces::revoke_workspace_access(&check, e)?,
        Command::CreateProject(e) => workspaces::create_project(&check, e)?,
        Command::CreateExperiment(e) => workspaces::create_experiment(&check, e)?,
        Command::ReviseExperiment(e) => workspaces::revise_experiment(&check, e)?,
        Command::AttachComputeTarget(e) => workspaces::attach_compute_target(&check, e)?,
        Command::DetachComputeTarget(e) => workspaces::detach_compute_target(&check, e)?,
        Command::RegisterDataset(e) => datasets::register_dataset(&check, e)?,
        Command::QueueRun(e) => runs::queue_run(&check, e)?,
        Command::StartRun(e) => runs::start_run(&check, e)?,
        Command::LogParams(e) => runs::log_params(&check, e)?,
        Command::LogMetrics(e) => runs::log_metrics(&check, e)?,
        Command::SetRunTags(e) => runs::set_run_tags(&check, e)?,
        Command::RecordArtifacts(e) => runs::record_artifacts(&check, e)?,
        Command::RecordRunInputs(e) => runs::record_run_inputs(&check, e)?,
        Command::RecordRunOutputs(e) => runs::record_run_outputs(&check, e)?,
        Command::CompleteRun(e) => runs::complete_run(&check, e)?,
        Command::FailRun(e) => runs::fail_run(&check, e)?,
        Command::CancelRun(e) => runs::cancel_run(&check, e)?,
        Command::CreateModel(e) => models::create_model(&check, e)?,
        Command::RegisterModelVersion(e) => models::register_model_version(&check, e)?,
        Command::SetModelVersionTags(e) => models::set_model_version_tags(&check, e)?,
        Command::CreateManifest(e) => images::create_manifest(&check, e)?,
        Command::AddManifestVersion(e) => images::add_manifest_version(&check, e)?,
        Command::CreateImage(e) => images::create_image(&check, e)?,
        Command::StartImageBuild(e) => images::start_image_build(&check, e)?,
        Command::RecordImageBuilt(e) => images::record_image_built(&check, e)?,
        Command::RecordImageBuildFailed(e) => images::record_image_build_failed(&check, e)?,
        Command::CreateEnvironment(e) => services::create_environment(&check, e)?,
        Command::DeleteEnvironment(e) => services::delete_environment(&check, e)?,
        Command::DeployService(e) => services::deploy_service(&check, e)?,
        Command::UpdateService(e) => services::update_service(&check, e)?,
        Command::ScaleService(e) => services::scale_service(&check, e)?,
        Command::DeleteService(e) => services::delete_service(&check, e)?,
        Command::RecordServiceMetric(e) => services::record_service_metric(&check, e)?,
        Command::GrantRole(e) => accounts::grant_role(&check, e)?,
        Command::RevokeRole(e) => accounts::revoke_role(&check, e)?,
        Command::RaiseDriftAlert(e) => services::raise_drift_alert(&check, e)?,
        Command::SetExperimentTags(e) => workspaces::set_experiment_tags(&check, e)?,
        Command::DeleteExperiment(e) => workspaces::delete_experiment(&check, e)?,
        Command::RestoreExperiment(e) => workspaces::restore_experiment(&check, e)?,
        Command::DeleteRun(e) => runs::delete_run(&check, e)?,
        Command::RestoreRun(e) => runs::restore_run(&check, e)?,
        Command::SetModelTags(e) => models::set_model_tags(&check, e)?,
        Command::SetModelAlias(e) => models::set_model_alias(&check, e)?,
        Command::RemoveModelAlias(e) => models::remove_model_alias(&check, e)?,
        Command::RecordDatasetSchema(e) => datasets::record_dataset_schema(&check, e)?,
        Command::RenameExperiment(e) => workspaces::rename_experiment(&check, e)?,
        Command::DeleteRunTag(e) => runs::delete_run_tag(&check, e)?,
        Command::DeleteArtifacts(e) => runs::delete_artifacts(&check, e)?,
        Command::RenameModel(e) => models::rename_model(&check, e)?,
        Command::DescribeModel(e) => models::describe_model(&check, e)?,
        Command::DeleteModelTag(e) => models::delete_model_tag(&check, e)?,
        Command::DeleteModelVersionTag(e) => models::delete_model_version_tag(&check, e)?,
        Command::LogModel(e) => logged_models::log_model(&check, e)?,
        Command::FinalizeLoggedModel(e) => logged_models::finalize_logged_model(&check, e)?,
        Command::SetLoggedModelTags(e) => logged_models::set_logged_model_tags(&check, e)?,
        Command::DeleteLoggedModelTag(e) => logged_models::delete_logged_model_tag(&check, e)?,
        Command::LogLoggedModelParams(e) => logged_models::log_logged_model_params(&check, e)?,
        Command::RecordModelOutput(e) => logged_models::record_model_output(&check, e)?,
        Command::DeleteLoggedModel(e) => logged_models::delete_logged_model(&check, e)?,
        Command::DeleteModel(e) => models::delete_model(&check, e)?,
        Command::DeleteModelVersion(e) => models::delete_model_version(&check, e)?,
        Command::DescribeModelVersion(e) => models::describe_model_version(&check, e)?,
        Command::TagRunInput(e) => runs::tag_run_input(&check, e)?,
        Command::IssueToken(e) => accounts::issue_token(&check, e)?,
        Command::RevokeToken(e) => accounts::revoke_token(&check, e)?,
        Command::DesignateAdministrator(e) => accounts::designate_administrator(&check, e)?,
        Command::DesignateStoreAuditor(e) => accounts::designate_store_auditor(&check, e)?,
        Command::DismissStoreAuditor(e) => accounts::dismiss_store_auditor(&check, e)?,
    };
    Ok(Decision { event, account })
}

/// The stream version a command must find, if it names one. The version of a stream the
/// actor may not know of is not compared (the command's own checks refuse it as unknown),
/// and another principal's stream is the private record of its roles and tokens.
fn check_expected_version(check: &Check<'_>, envelope: &CommandEnvelope) -> Result<()> {
    let Some(expected) = envelope.expected_version else {
        return Ok(());
    };
    let stream = envelope.command.stream();
    if stream.kind == EntityKind::Principal {
        if stream.id != check.actor.as_str() && !is_administrator(check, check.actor)? {
            return reject(Rejection::NotPermitted {
                principal: check.actor.to_string(),
                action: "expect a version of another principal's record".into(),
            });
        }
    } else if let Some(entity) = check.find(stream.kind, &stream.id)? {
        if !check.visible(&entity)? {
            return Ok(());
        }
    }
    let actual = check.state.stream_version(&stream)?;
    if actual != expected {
        return reject(Rejection::VersionConflict {
            stream,
            expected,
            actual,
        });
    }
    Ok(())
}
