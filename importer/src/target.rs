//! Where an import lands: an experimentation account and workspace, a project in it, a
//! compute target for imported runs, and the model management account for models.
//! Accounts and workspaces must exist. Missing projects and compute targets are made by
//! the import itself: their commands (derived ids, expected version 0) go first in its
//! first batch, so preparing a target appends nothing, and an import that appends nothing
//! leaves no project or target behind.

use crate::error::{Error, Result};
use lineage_schema::entity::Detail;
use lineage_schema::event::{ComputeKind, ComputeTargetAttached, ProjectCreated};
use lineage_schema::*;
use lineage_store::Store;
use std::sync::{Arc, Mutex};

/// Whether a target must name its model management account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Models {
    Required,
    Optional,
}

/// What the caller asked for, as given on the command line or in a request.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub actor: PrincipalId,
    pub account: String,
    pub workspace: String,
    /// A project id; made in the workspace if missing. Default: the workspace's project
    /// named after the source (`mlflow`, `openlineage`), made if missing.
    pub project: Option<String>,
    /// A model management account id. Default: the only one in the account's subscription.
    pub model_account: Option<String>,
}

/// Resolved and ready: every id here exists in the store, or is made by the commands in
/// `setup`, which go ahead of the import's first batch.
#[derive(Clone, Debug)]
pub struct Target {
    pub actor: PrincipalId,
    pub account: AccountId,
    pub workspace: WorkspaceId,
    /// The project everything goes to; None when each source namespace gets its own
    /// (see [`Target::project_named`]).
    pub project: Option<ProjectId>,
    pub compute_target: ComputeTargetId,
    /// None when the subscription has no model management account (models are then skipped).
    pub model_account: Option<AccountId>,
    /// Commands that make the project(s) and compute target, until a batch carries them.
    setup: Arc<Mutex<Vec<CommandEnvelope>>>,
}

/// A short, stable id for something imported: `prefix-` and 20 hex digits of blake3 over
/// the parts, so importing the same thing again finds the same entity.
pub fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    format!("{prefix}-{}", &blake3::hash(joined.as_bytes()).to_hex()[..20])
}

/// An id (or name) made from a source's record; a bad one names the text it came from.
pub(crate) fn parse<T: TryFrom<String, Error = Rejection>>(text: &str) -> Result<T> {
    T::try_from(text.to_string()).map_err(|rejection| Error::malformed(text, rejection.to_string()))
}

fn parse_id<T: TryFrom<String, Error = Rejection>>(what: &str, text: &str) -> Result<T> {
    T::try_from(text.to_string()).map_err(|rejection| Error::Target(format!("{what}: {rejection}")))
}

impl Target {
    /// Checks the spec against the store and makes the project and compute target named
    /// after `source` when they are missing.
    pub fn prepare(store: &Store, spec: &TargetSpec, source: &str) -> Result<Target> {
        Self::prepare_with(store, spec, source, true)
    }

    /// As `prepare`; without `default_project`, a spec that names no project leaves
    /// `project` empty (each namespace of the source gets its own).
    pub fn prepare_with(store: &Store, spec: &TargetSpec, source: &str, default_project: bool) -> Result<Target> {
        Self::resolve(store, spec, source, default_project, Models::Required)
    }

    /// As `prepare`, for MLflow's tracking API: a subscription with several model
    /// management accounts leaves `model_account` empty (tracking works; the registry
    /// says why it cannot) instead of refusing.
    pub fn prepare_for_tracking(store: &Store, spec: &TargetSpec) -> Result<Target> {
        Self::resolve(store, spec, "mlflow", true, Models::Optional)
    }

    fn resolve(
        store: &Store,
        spec: &TargetSpec,
        source: &str,
        default_project: bool,
        models: Models,
    ) -> Result<Target> {
        let account: AccountId = parse_id("account", &spec.account)?;
        let account_ref = EntityRef::new(EntityKind::ExperimentationAccount, &account);
        // What the actor may not read is not there: the refusal is that of a missing id.
        let access = store.access(&spec.actor)?;
        let view = store.view(&access);
        let Some(account_entity) = view.entity(&account_ref)?.filter(|entity| !entity.deleted) else {
            return Err(Error::Target(format!("no experimentation account `{account}`")));
        };
        let workspace: WorkspaceId = parse_id("workspace", &spec.workspace)?;
        let workspace_ref = EntityRef::new(EntityKind::Workspace, &workspace);
        match view.entity(&workspace_ref)? {
            Some(entity) if entity.parent.as_ref() == Some(&account_ref) => {}
            Some(_) => {
                return Err(Error::Target(format!(
                    "workspace `{workspace}` belongs to another account than `{account}`"
                )))
            }
            None => return Err(Error::Target(format!("no workspace `{workspace}`"))),
        }
        let mut setup = Vec::new();
        let project = if spec.project.is_some() || default_project {
            Some(Self::project(&view, spec, &workspace_ref, source, &mut setup)?)
        } else {
            None
        };
        let compute_target = Self::compute_target(store, spec, &account, &account_ref, source, &mut setup)?;
        let model_account = match &spec.model_account {
            Some(id) => {
                let id: AccountId = parse_id("model management account", id)?;
                if view
                    .entity(&EntityRef::new(EntityKind::ModelManagementAccount, &id))?
                    .is_none()
                {
                    return Err(Error::Target(format!("no model management account `{id}`")));
                }
                Some(id)
            }
            None => {
                let Detail::ExperimentationAccount { subscription, .. } = &account_entity.detail else {
                    unreachable!("experimentation accounts hold their detail")
                };
                let subscription_ref = EntityRef::new(EntityKind::Subscription, subscription);
                let candidates: Vec<_> = store
                    .children(&subscription_ref, EntityKind::ModelManagementAccount)?
                    .into_iter()
                    .filter(|entity| !entity.deleted && view.sees(entity))
                    .collect();
                match candidates.as_slice() {
                    [] => None,
                    [only] => Some(parse_id("model management account", &only.reference.id)?),
                    _ if models == Models::Optional => None,
                    _ => {
                        return Err(Error::Target(format!(
                            "subscription `{subscription}` has {} model management accounts; choose one with --model-account",
                            candidates.len()
                        )))
                    }
                }
            }
        };
        Ok(Target {
            actor: spec.actor.clone(),
            account,
            workspace,
            project,
            compute_target,
            model_account,
            setup: Arc::new(Mutex::new(setup)),
        })
    }

    /// `commands` with what still has to make the target ahead of them (nothing once a
    /// batch carrying it was appended; see [`Target::appended`]).
    pub fn batch(&self, commands: Vec<CommandEnvelope>) -> Vec<CommandEnvelope> {
        let mut batch = self.setup.lock().expect("target setup lock").clone();
        batch.extend(commands);
        batch
    }

    /// A batch from [`Target::batch`] was appended: the target is made.
    pub fn appended(&self) {
        self.setup.lock().expect("target setup lock").clear();
    }

    /// A command that makes part of the target: idempotent for its principal (a second
    /// import racing this one appends it once), and only if the entity is new.
    fn setup_command(actor: &PrincipalId, command: Command) -> Result<CommandEnvelope> {
        let stream = command.stream();
        let key = EventId::new(derived_id("target", &[&stream.to_string()]))
            .map_err(|rejection| Error::Target(rejection.to_string()))?;
        Ok(CommandEnvelope::new(actor.clone(), command)
            .with_event_id(key)
            .expecting(0))
    }

    fn project(
        view: &lineage_store::View<'_>,
        spec: &TargetSpec,
        workspace_ref: &EntityRef,
        source: &str,
        setup: &mut Vec<CommandEnvelope>,
    ) -> Result<ProjectId> {
        let workspace = &workspace_ref.id;
        let existing = match &spec.project {
            Some(id) => view.entity(&EntityRef::new(
                EntityKind::Project,
                parse_id::<ProjectId>("--project", id)?,
            ))?,
            None => view.find_by_name(Some(workspace_ref), EntityKind::Project, source)?,
        };
        if let Some(project) = existing {
            if project.parent.as_ref() != Some(workspace_ref) {
                return Err(Error::Target(format!(
                    "project `{}` is in another workspace than `{workspace}`",
                    project.reference.id
                )));
            }
            return parse_id("project", &project.reference.id);
        }
        let (id, name) = match &spec.project {
            Some(id) => (id.clone(), id.clone()),
            None => (
                derived_id(&format!("p-{source}"), &[workspace.as_str()]),
                source.to_string(),
            ),
        };
        let project: ProjectId = parse_id("project", &id)?;
        let name = Name::new(name).map_err(|rejection| Error::Target(format!("--project: {rejection}")))?;
        setup.push(Self::setup_command(
            &spec.actor,
            Command::CreateProject(ProjectCreated {
                project: project.clone(),
                workspace: parse_id("workspace", workspace)?,
                name,
                path: format!("{source}/"),
                repository: None,
            }),
        )?);
        Ok(project)
    }

    /// The project of this name in the workspace, made (with a derived id) by the next
    /// batch if missing.
    pub fn project_named(&self, store: &Store, name: &str, source: &str) -> Result<ProjectId> {
        let workspace_ref = EntityRef::new(EntityKind::Workspace, &self.workspace);
        if let Some(project) = store.find_by_name(Some(&workspace_ref), EntityKind::Project, name)? {
            return parse_id("project", &project.reference.id);
        }
        let project: ProjectId = parse_id(
            "project",
            &derived_id(&format!("p-{source}"), &[self.workspace.as_str(), name]),
        )?;
        let mut setup = self.setup.lock().expect("target setup lock");
        let planned = setup
            .iter()
            .any(|command| matches!(&command.command, Command::CreateProject(created) if created.project == project));
        if !planned {
            setup.push(Self::setup_command(
                &self.actor,
                Command::CreateProject(ProjectCreated {
                    project: project.clone(),
                    workspace: self.workspace.clone(),
                    name: Name::new(name).map_err(|rejection| Error::Target(rejection.to_string()))?,
                    path: format!("{source}/{name}"),
                    repository: None,
                }),
            )?);
        }
        Ok(project)
    }

    fn compute_target(
        store: &Store,
        spec: &TargetSpec,
        account: &AccountId,
        account_ref: &EntityRef,
        source: &str,
        setup: &mut Vec<CommandEnvelope>,
    ) -> Result<ComputeTargetId> {
        if let Some(target) = store
            .find_by_name(Some(account_ref), EntityKind::ComputeTarget, source)?
            .filter(|target| !target.deleted)
        {
            return parse_id("compute target", &target.reference.id);
        }
        let target: ComputeTargetId = parse_id(
            "compute target",
            &derived_id(&format!("ct-{source}"), &[account.as_str()]),
        )?;
        setup.push(Self::setup_command(
            &spec.actor,
            Command::AttachComputeTarget(ComputeTargetAttached {
                target: target.clone(),
                account: account.clone(),
                name: Name::new(source).map_err(|rejection| Error::Target(rejection.to_string()))?,
                kind: ComputeKind::Local,
            }),
        )?);
        Ok(target)
    }
}
