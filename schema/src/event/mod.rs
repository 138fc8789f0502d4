//! The `Event` enum: every fact Lineage records, in the past tense, one payload struct each.
//!
//! Encoded events are forever: a released variant is never changed or reordered. A new
//! fact gets a new variant at the end; a changed fact gets a new variant and the old one
//! is upcast when read (see `envelope::decode_record`).

mod payloads;
mod tracking;
mod values;

pub use payloads::*;
pub use tracking::*;
pub use values::*;

use crate::ids::*;
use serde::{Deserialize, Serialize};

macro_rules! events {
    ($($variant:ident => $kind:ident . $field:ident),* $(,)?) => {
        /// Every fact Lineage records. Variants are append-only (see the module doc).
        #[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
        pub enum Event {
            $($variant($variant),)*
        }

        impl Event {
            /// Every variant's name, in declaration (= encoding) order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant)),*];

            /// The variant's name (`RunStarted`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => stringify!($variant),)*
                }
            }

            /// The entity whose stream this event belongs to.
            pub fn stream(&self) -> EntityRef {
                match self {
                    $(Event::$variant(payload) => EntityRef::new(EntityKind::$kind, &payload.$field),)*
                }
            }
        }

        $(impl From<$variant> for Event {
            fn from(payload: $variant) -> Event {
                Event::$variant(payload)
            }
        })*
    };
}

events! {
    PrincipalRegistered => Principal.principal,
    SubscriptionCreated => Subscription.subscription,
    ExperimentationAccountCreated => ExperimentationAccount.account,
    SeatAssigned => ExperimentationAccount.account,
    SeatRevoked => ExperimentationAccount.account,
    ModelManagementAccountCreated => ModelManagementAccount.account,
    ModelManagementPlanChanged => ModelManagementAccount.account,
    WorkspaceCreated => Workspace.workspace,
    WorkspaceAccessGranted => Workspace.workspace,
    WorkspaceAccessRevoked => Workspace.workspace,
    ProjectCreated => Project.project,
    ExperimentCreated => Experiment.experiment,
    ExperimentRevised => Experiment.experiment,
    ComputeTargetAttached => ComputeTarget.target,
    ComputeTargetDetached => ComputeTarget.target,
    DatasetRegistered => Dataset.dataset,
    RunQueued => Run.run,
    RunStarted => Run.run,
    ParamsLogged => Run.run,
    MetricsLogged => Run.run,
    RunTagsSet => Run.run,
    ArtifactsRecorded => Run.run,
    RunInputsRecorded => Run.run,
    RunOutputsRecorded => Run.run,
    RunCompleted => Run.run,
    RunFailed => Run.run,
    RunCanceled => Run.run,
    ModelCreated => Model.model,
    ModelVersionRegistered => Model.model,
    ModelVersionTagsSet => Model.model,
    ManifestCreated => Manifest.manifest,
    ManifestVersionAdded => Manifest.manifest,
    ImageCreated => Image.image,
    ImageBuildStarted => Image.image,
    ImageBuilt => Image.image,
    ImageBuildFailed => Image.image,
    EnvironmentCreated => Environment.environment,
    EnvironmentDeleted => Environment.environment,
    ServiceDeployed => Service.service,
    ServiceUpdated => Service.service,
    ServiceScaled => Service.service,
    ServiceDeleted => Service.service,
    ServiceMetricRecorded => Service.service,
    DriftAlertRaised => Service.service,
    TokenIssued => Principal.principal,
    TokenRevoked => Principal.principal,
    AdministratorDesignated => Principal.principal,
    RoleGranted => Principal.principal,
    RoleRevoked => Principal.principal,
    ExperimentTagsSet => Experiment.experiment,
    ExperimentDeleted => Experiment.experiment,
    ExperimentRestored => Experiment.experiment,
    RunDeleted => Run.run,
    RunRestored => Run.run,
    ModelTagsSet => Model.model,
    ModelAliasSet => Model.model,
    ModelAliasRemoved => Model.model,
    DatasetSchemaRecorded => Dataset.dataset,
    ExperimentRenamed => Experiment.experiment,
    RunTagDeleted => Run.run,
    ArtifactsDeleted => Run.run,
    ModelRenamed => Model.model,
    ModelDescribed => Model.model,
    ModelTagDeleted => Model.model,
    ModelVersionTagDeleted => Model.model,
    ModelLogged => Run.run,
    LoggedModelFinalized => Run.run,
    LoggedModelTagsSet => Run.run,
    LoggedModelTagDeleted => Run.run,
    LoggedModelParamsLogged => Run.run,
    ModelOutputRecorded => Run.run,
    LoggedModelDeleted => Run.run,
    ModelDeleted => Model.model,
    ModelVersionDeleted => Model.model,
    ModelVersionDescribed => Model.model,
    RunInputTagged => Run.run,
    StoreAuditorDesignated => Principal.principal,
    StoreAuditorDismissed => Principal.principal,
}
