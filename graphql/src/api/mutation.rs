//! The mutation root: one mutation per command. Each takes the command's fields as a
//! JSON object (`input`), an optional expected stream version and idempotency key, and
//! answers with the log position and the entity as it now stands.

use super::error::{from_store, invalid};
use super::types::EntityObject;
use super::{store, Acting};
use async_graphql::{Context, Json, Object, SimpleObject, ID};
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::{Command, CommandEnvelope, EventId, Timestamp};

#[derive(Debug)]
pub struct Mutation;

/// Where a mutation's event landed.
#[derive(SimpleObject, Clone, Debug)]
pub struct MutationResult {
    /// The event's position in the log.
    pub seq: u64,
    /// The entity it changed, `kind/id`.
    pub stream: ID,
    /// The entity's version after it.
    pub version: u64,
    pub event_id: Option<String>,
    /// The event id was already in the log: nothing new was appended.
    pub duplicate: bool,
    /// The entity as it stands now.
    pub entity: Option<EntityObject>,
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, input: Json<serde_json::Value>) -> async_graphql::Result<T> {
    serde_json::from_value(input.0).map_err(|error| invalid(format!("{name} input: {error}")))
}

async fn execute(
    ctx: &Context<'_>,
    command: Command,
    expected_version: Option<u64>,
    event_id: Option<String>,
    occurred_at: Option<String>,
) -> async_graphql::Result<MutationResult> {
    let mut envelope = CommandEnvelope::new(ctx.data_unchecked::<Acting>().0.clone(), command);
    envelope.expected_version = expected_version;
    envelope.event_id = event_id
        .map(EventId::new)
        .transpose()
        .map_err(|rejection| invalid(rejection.to_string()))?;
    envelope.occurred_at = occurred_at
        .map(|text| {
            Timestamp::parse(&text).ok_or_else(|| invalid(format!("occurredAt `{text}` is not an RFC 3339 time")))
        })
        .transpose()?;
    let store = store(ctx).clone();
    // Appending waits for a disk sync: keep it off the async workers.
    let appended = tokio::task::spawn_blocking(move || store.execute(envelope))
        .await
        .map_err(|_| super::error::coded("INTERNAL", "the append was interrupted"))?
        .map_err(from_store)?;
    let entity = store_entity(ctx, &appended.stream)?;
    Ok(MutationResult {
        seq: appended.seq,
        stream: ID(appended.stream.to_string()),
        version: appended.version,
        event_id: appended.event_id.map(|id| id.to_string()),
        duplicate: appended.duplicate,
        entity,
    })
}

fn store_entity(ctx: &Context<'_>, stream: &lineage_schema::EntityRef) -> async_graphql::Result<Option<EntityObject>> {
    Ok(store(ctx).entity(stream).map_err(from_store)?.map(EntityObject))
}

macro_rules! mutations {
    ($($field:ident => $variant:ident($payload:ident)),* $(,)?) => {
        #[Object]
        impl Mutation {
            $(
                #[doc = concat!("Appends `", stringify!($payload), "`. `input` holds the fields of `", stringify!($payload), "` as a JSON object.")]
                async fn $field(
                    &self,
                    ctx: &Context<'_>,
                    input: Json<serde_json::Value>,
                    #[graphql(desc = "The stream version the caller saw (0: the entity must not exist yet).")] expected_version: Option<u64>,
                    #[graphql(desc = "An idempotency key: a retry with the same key appends nothing.")] event_id: Option<String>,
                    #[graphql(desc = "When the fact happened, if not now (RFC 3339).")] occurred_at: Option<String>,
                ) -> async_graphql::Result<MutationResult> {
                    let payload: $payload = decode(stringify!($field), input)?;
                    execute(ctx, Command::$variant(payload), expected_version, event_id, occurred_at).await
                }
            )*
        }
    };
}

mutations! {
    register_principal => RegisterPrincipal(PrincipalRegistered),
    create_subscription => CreateSubscription(SubscriptionCreated),
    create_experimentation_account => CreateExperimentationAccount(ExperimentationAccountCreated),
    assign_seat => AssignSeat(SeatAssigned),
    revoke_seat => RevokeSeat(SeatRevoked),
    create_model_management_account => CreateModelManagementAccount(ModelManagementAccountCreated),
    change_model_management_plan => ChangeModelManagementPlan(ModelManagementPlanChanged),
    create_workspace => CreateWorkspace(WorkspaceCreated),
    grant_workspace_access => GrantWorkspaceAccess(WorkspaceAccessGranted),
    revoke_workspace_access => RevokeWorkspaceAccess(WorkspaceAccessRevoked),
    create_project => CreateProject(ProjectCreated),
    create_experiment => CreateExperiment(ExperimentCreated),
    revise_experiment => ReviseExperiment(ExperimentRevised),
    attach_compute_target => AttachComputeTarget(ComputeTargetAttached),
    detach_compute_target => DetachComputeTarget(ComputeTargetDetached),
    register_dataset => RegisterDataset(DatasetRegistered),
    queue_run => QueueRun(RunQueued),
    start_run => StartRun(RunStarted),
    log_params => LogParams(ParamsLogged),
    log_metrics => LogMetrics(MetricsLogged),
    set_run_tags => SetRunTags(RunTagsSet),
    record_artifacts => RecordArtifacts(ArtifactsRecorded),
    record_run_inputs => RecordRunInputs(RunInputsRecorded),
    record_run_outputs => RecordRunOutputs(RunOutputsRecorded),
    complete_run => CompleteRun(RunCompleted),
    fail_run => FailRun(RunFailed),
    cancel_run => CancelRun(RunCanceled),
    create_model => CreateModel(ModelCreated),
    register_model_version => RegisterModelVersion(RegisterModelVersion),
    set_model_version_tags => SetModelVersionTags(ModelVersionTagsSet),
    create_manifest => CreateManifest(ManifestCreated),
    add_manifest_version => AddManifestVersion(AddManifestVersion),
    create_image => CreateImage(ImageCreated),
    start_image_build => StartImageBuild(StartImageBuild),
    record_image_built => RecordImageBuilt(ImageBuilt),
    record_image_build_failed => RecordImageBuildFailed(ImageBuildFailed),
    create_environment => CreateEnvironment(EnvironmentCreated),
    delete_environment => DeleteEnvironment(EnvironmentDeleted),
    deploy_service => DeployService(ServiceDeployed),
    update_service => UpdateService(ServiceUpdated),
    scale_service => ScaleService(ServiceScaled),
    delete_service => DeleteService(ServiceDeleted),
    record_service_metric => RecordServiceMetric(ServiceMetricRecorded),
    raise_drift_alert => RaiseDriftAlert(DriftAlertRaised),
}
