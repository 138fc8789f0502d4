//! The `Command` enum: every action a principal can ask for, in the imperative.
//!
//! A command carries the fact it asks to have recorded. Most commands carry exactly the
//! payload of the event they produce (so the two never drift apart); the three that
//! need a number the store assigns — the next model, manifest or image version — have
//! their own structs. The store validates a command against current state and either
//! appends its event or rejects it with a typed `Rejection`, appending nothing.

use crate::event::{self, *};
use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

payloads! {
    $ command_fields;

    /// Register a new version of a model; the store numbers it.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RegisterModelVersion {
        pub model: ModelId,
        pub source: ModelSource,
        pub derived_from: Option<ModelVersionRef>,
        pub tags: Vec<Tag>,
    }

    /// Add a new version to a manifest; the store numbers it.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct AddManifestVersion {
        pub manifest: ManifestId,
        pub models: Vec<ModelVersionRef>,
        pub dependencies: Vec<String>,
        pub scoring_script: String,
        pub schema: Option<String>,
        pub sample_data: Option<String>,
    }

    /// Start building a new version of an image from a manifest version; the store numbers it.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct StartImageBuild {
        pub image: ImageId,
        pub manifest: ManifestVersionRef,
    }
}

macro_rules! commands {
    (
        same: { $($same:ident($same_event:ident)),* $(,)? }
        access: { $($access:ident($access_event:ident)),* $(,)? }
        numbered: { $($ncommand:ident => $nkind:ident . $nfield:ident),* $(,)? }
    ) => {
        commands! {
            @all
            same: { $($same($same_event),)* $($access($access_event),)* }
            numbered: { $($ncommand => $nkind . $nfield),* }
        }
    };
    (
        @all
        same: { $($command:ident($event:ident)),* $(,)? }
        numbered: { $($ncommand:ident => $nkind:ident . $nfield:ident),* $(,)? }
    ) => {
        /// Every action Lineage accepts.
        #[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
        pub enum Command {
            $($command(event::$event),)*
            $($ncommand($ncommand),)*
        }

        impl Command {
            /// Every command's name, in the list's order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($command),)* $(stringify!($ncommand),)*];

            /// The command's name (`StartRun`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Command::$command(_) => stringify!($command),)*
                    $(Command::$ncommand(_) => stringify!($ncommand),)*
                }
            }

            /// The command that records this event again (in another store): the same
            /// payload, or for numbered versions the request the store numbers anew.
            pub fn replaying(event: Event) -> Command {
                match event {
                    $(Event::$event(payload) => Command::$command(payload),)*
                    Event::ModelVersionRegistered(e) => Command::RegisterModelVersion(RegisterModelVersion {
                        model: e.model,
                        source: e.source,
                        derived_from: e.derived_from,
                        tags: e.tags,
                    }),
                    Event::ManifestVersionAdded(e) => Command::AddManifestVersion(AddManifestVersion {
                        manifest: e.manifest,
                        models: e.models,
                        dependencies: e.dependencies,
                        scoring_script: e.scoring_script,
                        schema: e.schema,
                        sample_data: e.sample_data,
                    }),
                    Event::ImageBuildStarted(e) => Command::StartImageBuild(StartImageBuild {
                        image: e.image,
                        manifest: e.manifest,
                    }),
                }
            }

            /// The entity whose stream the resulting event is appended to.
            pub fn stream(&self) -> EntityRef {
                match self {
                    $(Command::$command(payload) => Event::from(payload.clone()).stream(),)*
                    $(Command::$ncommand(payload) => EntityRef::new(EntityKind::$nkind, &payload.$nfield),)*
                }
            }
        }
    };
}

/// The command list, the one place commands are named: hands every command to
/// `$callback` in three groups — those that carry exactly their event's payload, the
/// access commands among them (which the API offers with answers of their own), and those
/// whose version number the store assigns (with the entity kind and field of their
/// stream). This crate builds `Command` from it; the API builds its mutations.
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            same: {
                RegisterPrincipal(PrincipalRegistered),
                CreateSubscription(SubscriptionCreated),
                CreateExperimentationAccount(ExperimentationAccountCreated),
                AssignSeat(SeatAssigned),
                RevokeSeat(SeatRevoked),
                CreateModelManagementAccount(ModelManagementAccountCreated),
                ChangeModelManagementPlan(ModelManagementPlanChanged),
                CreateWorkspace(WorkspaceCreated),
                GrantWorkspaceAccess(WorkspaceAccessGranted),
                RevokeWorkspaceAccess(WorkspaceAccessRevoked),
                CreateProject(ProjectCreated),
                CreateExperiment(ExperimentCreated),
                ReviseExperiment(ExperimentRevised),
                AttachComputeTarget(ComputeTargetAttached),
                DetachComputeTarget(ComputeTargetDetached),
                RegisterDataset(DatasetRegistered),
                QueueRun(RunQueued),
                StartRun(RunStarted),
                LogParams(ParamsLogged),
                LogMetrics(MetricsLogged),
                SetRunTags(RunTagsSet),
                RecordArtifacts(ArtifactsRecorded),
                RecordRunInputs(RunInputsRecorded),
                RecordRunOutputs(RunOutputsRecorded),
                CompleteRun(RunCompleted),
                FailRun(RunFailed),
                CancelRun(RunCanceled),
                CreateModel(ModelCreated),
                SetModelVersionTags(ModelVersionTagsSet),
                CreateManifest(ManifestCreated),
                CreateImage(ImageCreated),
                RecordImageBuilt(ImageBuilt),
                RecordImageBuildFailed(ImageBuildFailed),
                CreateEnvironment(EnvironmentCreated),
                DeleteEnvironment(EnvironmentDeleted),
                DeployService(ServiceDeployed),
                UpdateService(ServiceUpdated),
                ScaleService(ServiceScaled),
                DeleteService(ServiceDeleted),
                RecordServiceMetric(ServiceMetricRecorded),
                RaiseDriftAlert(DriftAlertRaised),
                GrantRole(RoleGranted),
                RevokeRole(RoleRevoked),
                SetExperimentTags(ExperimentTagsSet),
                DeleteExperiment(ExperimentDeleted),
                RestoreExperiment(ExperimentRestored),
                DeleteRun(RunDeleted),
                RestoreRun(RunRestored),
                SetModelTags(ModelTagsSet),
                SetModelAlias(ModelAliasSet),
                RemoveModelAlias(ModelAliasRemoved),
                RecordDatasetSchema(DatasetSchemaRecorded),
                RenameExperiment(ExperimentRenamed),
                DeleteRunTag(RunTagDeleted),
                DeleteArtifacts(ArtifactsDeleted),
                RenameModel(ModelRenamed),
                DescribeModel(ModelDescribed),
                DeleteModelTag(ModelTagDeleted),
                DeleteModelVersionTag(ModelVersionTagDeleted),
                LogModel(ModelLogged),
                FinalizeLoggedModel(LoggedModelFinalized),
                SetLoggedModelTags(LoggedModelTagsSet),
                DeleteLoggedModelTag(LoggedModelTagDeleted),
                LogLoggedModelParams(LoggedModelParamsLogged),
                RecordModelOutput(ModelOutputRecorded),
                DeleteLoggedModel(LoggedModelDeleted),
                DeleteModel(ModelDeleted),
                DeleteModelVersion(ModelVersionDeleted),
                DescribeModelVersion(ModelVersionDescribed),
                TagRunInput(RunInputTagged),
                DesignateStoreAuditor(StoreAuditorDesignated),
                DismissStoreAuditor(StoreAuditorDismissed),
            }
            access: {
                IssueToken(TokenIssued),
                RevokeToken(TokenRevoked),
                DesignateAdministrator(AdministratorDesignated),
            }
            numbered: {
                RegisterModelVersion => Model.model,
                AddManifestVersion => Manifest.manifest,
                StartImageBuild => Image.image,
            }
        }
    };
}

for_each_command!(commands);

/// A command with who sends it and how it may be appended.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct CommandEnvelope {
    pub command: Command,
    /// The principal acting. The edge sets it from authentication, never from the body.
    pub actor: PrincipalId,
    /// The idempotency key: a retry with the same key appends nothing.
    pub event_id: Option<EventId>,
    /// The stream's version the sender saw (0: the stream must not exist yet).
    pub expected_version: Option<u64>,
    /// When the fact happened, if not now (imported history).
    pub occurred_at: Option<Timestamp>,
}

impl CommandEnvelope {
    pub fn new(actor: PrincipalId, command: impl Into<Command>) -> Self {
        Self {
            command: command.into(),
            actor,
            event_id: None,
            expected_version: None,
            occurred_at: None,
        }
    }

    pub fn with_event_id(mut self, event_id: EventId) -> Self {
        self.event_id = Some(event_id);
        self
    }

    pub fn expecting(mut self, version: u64) -> Self {
        self.expected_version = Some(version);
        self
    }

    pub fn occurred_at(mut self, at: Timestamp) -> Self {
        self.occurred_at = Some(at);
        self
    }
}
