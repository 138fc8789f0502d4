//! Command handling: checks a command against current state and decides the one event it
//! appends, or rejects it. Deciding writes nothing.

use crate::derived::overlay::{be_u64, Overlay};
use crate::error::Result;
use crate::projections::access;
use crate::projections::index;
use crate::projections::state;
use lineage_schema::command::*;
use lineage_schema::entity::{BuildStatus, Detail, Entity, RunStatus};
use lineage_schema::event::*;
use lineage_schema::*;

/// The largest list a single command may carry (metric points, params, tags, …).
pub(crate) const MAX_ITEMS: usize = 10_000;
/// The longest free-text field a command may carry, in bytes.
pub(crate) const MAX_TEXT: usize = 64 * 1024;

/// What a command becomes: its event and the account it is billed and audited under.
#[derive(Debug)]
pub(crate) struct Decision {
    pub event: Event,
    pub account: Option<AccountId>,
}

fn reject<T>(rejection: Rejection) -> Result<T> {
    Err(rejection.into())
}

struct Check<'a> {
    overlay: &'a Overlay,
    actor: &'a PrincipalId,
    /// Accounts already judged readable by principals, or not: one command asks about
    /// the same account several times on its way up from a run, and the next commands too.
    sight: &'a access::Sight,
}

impl Check<'_> {
    /// The entity, whether or not the actor may know of it: only for checks whose
    /// answer tells nothing of what it holds (is an id taken, is the actor an administrator).
    fn find(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<Option<Entity>> {
        state::load(self.overlay, &EntityRef::new(kind, id))
    }

    /// Whether the actor may know this entity exists. Everything in an account it cannot
    /// read is, to it, not there: refusals about it are those of an unknown id.
    fn visible(&self, entity: &Entity) -> Result<bool> {
        match (&entity.account, entity.reference.kind) {
            // Principal ids are a directory shared by design (owners seat people by id).
            (_, EntityKind::Principal) => Ok(true),
            (Some(account), _) => self.sight.reads_account(self.overlay, self.actor, account),
            (None, EntityKind::Subscription) => access::sees_subscription(self.overlay, self.actor, entity),
            (None, _) => Ok(true),
        }
    }

    /// The entity, which must exist, not be deleted, and be visible to the actor.
    fn live(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<Entity> {
        let reference = EntityRef::new(kind, id);
        match state::load(self.overlay, &reference)? {
            Some(entity) if !entity.deleted && self.visible(&entity)? => Ok(entity),
            _ => reject(Rejection::not_found(reference)),
        }
    }

    /// The entity, which must exist, be visible, and be deleted (to be restored).
    fn deleted(&self, kind: EntityKind, id: impl std::fmt::Display, action: &str) -> Result<Entity> {
        let reference = EntityRef::new(kind, id);
        match state::load(self.overlay, &reference)? {
            Some(entity) if self.visible(&entity)? => {
                if !entity.deleted {
                    return reject(Rejection::transition(reference, "not deleted", action));
                }
                Ok(entity)
            }
            _ => reject(Rejection::not_found(reference)),
        }
    }

    fn absent(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<()> {
        let reference = EntityRef::new(kind, id);
        if state::load(self.overlay, &reference)?.is_some() {
            return reject(Rejection::AlreadyExists { entity: reference });
        }
        Ok(())
    }

    /// Account ids are shared by both kinds of account.
    fn account_absent(&self, account: &AccountId) -> Result<()> {
        self.absent(EntityKind::ExperimentationAccount, account)?;
        self.absent(EntityKind::ModelManagementAccount, account)
    }

    fn unique_name(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<()> {
        if self
            .overlay
            .contains(state::TREE, &state::name_key(scope, kind, name))?
        {
            let scope = scope.map_or_else(|| "Lineage".to_string(), ToString::to_string);
            return reject(Rejection::DuplicateName {
                kind,
                name: name.to_string(),
                scope,
            });
        }
        Ok(())
    }

    fn owner_of(&self, subscription: &SubscriptionId) -> Result<PrincipalId> {
        let entity = self.live(EntityKind::Subscription, subscription)?;
        match entity.detail {
            Detail::Subscription { owner } => Ok(owner),
            _ => unreachable!("subscriptions hold subscription detail"),
        }
    }

    fn require_owner(&self, subscription: &SubscriptionId, action: &str) -> Result<()> {
        if &self.owner_of(subscription)? != self.actor && !is_administrator(self, self.actor)? {
            return reject(Rejection::NotPermitted {
                principal: self.actor.to_string(),
                action: format!("{action} (only the owner of subscription {subscription} may)"),
            });
        }
        Ok(())
    }

    /// The actor may act in this account: it owns the subscription or holds a seat
    /// (for a model management account: a seat in any experimentation account of its
    /// subscription).
    fn require_seat(&self, account: &Entity) -> Result<()> {
        let (subscription, seated) = match &account.detail {
            Detail::ExperimentationAccount {
                subscription, seats, ..
            } => (subscription, seats.contains(self.actor)),
            Detail::ModelManagementAccount { subscription, .. } => {
                let key = state::subscription_seats_key(subscription, self.actor);
                let held = self
                    .overlay
                    .get(state::TREE, &key)?
                    .map(|bytes| be_u64(&bytes))
                    .unwrap_or(0);
                (subscription, held > 0)
            }
            _ => unreachable!("seats are checked on accounts"),
        };
        if seated || &self.owner_of(subscription)? == self.actor || is_administrator(self, self.actor)? {
            return Ok(());
        }
        // A model management account has no seats of its own: an owner or contributor
        // role there lets a principal act in it.
        if account.reference.kind == EntityKind::ModelManagementAccount {
            let held = roles_of(
                self.find(EntityKind::Principal, self.actor)?.as_ref(),
                &AccountId::new(account.reference.id.clone())?,
            );
            if held.contains(&Role::Owner) || held.contains(&Role::Contributor) {
                return Ok(());
            }
        }
        reject(Rejection::NoSeat {
            principal: self.actor.to_string(),
            account: account.reference.id.clone(),
        })
    }

    fn exp_account(&self, account: &AccountId) -> Result<Entity> {
        let entity = self.live(EntityKind::ExperimentationAccount, account)?;
        self.require_seat(&entity)?;
        Ok(entity)
    }

    fn mm_account(&self, account: &AccountId) -> Result<Entity> {
        let entity = self.live(EntityKind::ModelManagementAccount, account)?;
        self.require_seat(&entity)?;
        Ok(entity)
    }

    /// The entity's account, after checking the actor may act there.
    fn seat_in_account_of(&self, entity: &Entity) -> Result<AccountId> {
        let account = entity
            .account
            .clone()
            .expect("account-scoped entities carry their account");
        let kind = match entity.reference.kind {
            EntityKind::Model
            | EntityKind::Manifest
            | EntityKind::Image
            | EntityKind::Environment
            | EntityKind::Service => EntityKind::ModelManagementAccount,
            _ => EntityKind::ExperimentationAccount,
        };
        self.require_seat(&self.live(kind, &account)?)?;
        Ok(account)
    }

    /// The actor may work inside this workspace: it is a member, or owns the subscription.
    fn workspace_access(&self, workspace: &Entity) -> Result<AccountId> {
        let account = self.seat_in_account_of(workspace)?;
        let Detail::Workspace { members, .. } = &workspace.detail else {
            unreachable!("workspace detail")
        };
        if members.contains(self.actor) {
            return Ok(account);
        }
        let exp = self.live(EntityKind::ExperimentationAccount, &account)?;
        let Detail::ExperimentationAccount { subscription, .. } = &exp.detail else {
            unreachable!("account detail")
        };
        if &self.owner_of(subscription)? == self.actor || is_administrator(self, self.actor)? {
            return Ok(account);
        }
        reject(Rejection::NotPermitted {
            principal: self.actor.to_string(),
            action: format!("work in {} without access to it", workspace.reference),
        })
    }

    /// Walks up from a project, experiment or run to its workspace and checks access.
    fn access_via(&self, entity: &Entity) -> Result<AccountId> {
        let mut current = entity.clone();
        while current.reference.kind != EntityKind::Workspace {
            let parent = current
                .parent
                .clone()
                .expect("projects, experiments and runs have parents");
            current = self.live(parent.kind, &parent.id)?;
        }
        self.workspace_access(&current)
    }

    fn run(&self, run: &RunId) -> Result<(Entity, AccountId)> {
        let entity = self.live(EntityKind::Run, run)?;
        let account = self.access_via(&entity)?;
        Ok((entity, account))
    }

    fn same_account(&self, entity: &Entity, account: &AccountId) -> Result<()> {
        if entity.account.as_ref() != Some(account) {
            return reject(Rejection::invalid(
                entity.reference.kind.label(),
                format!("{} belongs to another account", entity.reference),
            ));
        }
        Ok(())
    }

    fn compute_target(&self, target: &ComputeTargetId, account: &AccountId) -> Result<()> {
        let entity = self.live(EntityKind::ComputeTarget, target)?;
        self.same_account(&entity, account)
    }

    fn datasets(&self, datasets: &[DatasetId], account: &AccountId) -> Result<()> {
        limit("datasets", datasets.len())?;
        for dataset in datasets {
            let entity = self.live(EntityKind::Dataset, dataset)?;
            self.same_account(&entity, account)?;
        }
        Ok(())
    }

    fn model_version(&self, reference: &ModelVersionRef) -> Result<Entity> {
        let model = self.live(EntityKind::Model, &reference.model)?;
        let Detail::Model { versions, .. } = &model.detail else {
            unreachable!("model detail")
        };
        if !versions.iter().any(|version| version.version == reference.version) {
            return reject(Rejection::invalid(
                "model version",
                format!("model {} has no version {}", reference.model, reference.version),
            ));
        }
        Ok(model)
    }

    fn image_version_built(&self, reference: &ImageVersionRef, account: &AccountId) -> Result<()> {
        let image = self.live(EntityKind::Image, &reference.image)?;
        self.same_account(&image, account)?;
        let Detail::Image { versions } = &image.detail else {
            unreachable!("image detail")
        };
        match versions
            .iter()
            .find(|version| version.version == reference.version)
            .map(|version| &version.status)
        {
            None => reject(Rejection::invalid(
                "image version",
                format!("image {} has no version {}", reference.image, reference.version),
            )),
            Some(BuildStatus::Succeeded { .. }) => Ok(()),
            Some(BuildStatus::Building) => reject(Rejection::transition(
                image.reference.clone(),
                format!("version {} is still building", reference.version),
                "deploy it",
            )),
            Some(BuildStatus::Failed { .. }) => reject(Rejection::transition(
                image.reference.clone(),
                format!("version {} failed to build", reference.version),
                "deploy it",
            )),
        }
    }

    fn live_environment(&self, environment: &EnvironmentId, account: &AccountId) -> Result<()> {
        let reference = EntityRef::new(EntityKind::Environment, environment);
        match self.find(EntityKind::Environment, environment)? {
            Some(entity) if self.visible(&entity)? => {
                if entity.deleted {
                    return reject(Rejection::transition(reference, "deleted", "deploy into it"));
                }
                self.same_account(&entity, account)
            }
            _ => reject(Rejection::not_found(reference)),
        }
    }
}

fn limit(what: &str, count: usize) -> Result<()> {
    if count > MAX_ITEMS {
        return reject(Rejection::LimitExceeded {
            what: format!("the number of {what}"),
            limit: MAX_ITEMS as u64,
        });
    }
    Ok(())
}

fn text(field: &str, value: &str) -> Result<()> {
    if value.len() > MAX_TEXT {
        return reject(Rejection::LimitExceeded {
            what: format!("the length of {field}"),
            limit: MAX_TEXT as u64,
        });
    }
    Ok(())
}

fn nonempty(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return reject(Rejection::invalid(field, format!("{field} must not be empty")));
    }
    text(field, value)
}

fn finite(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return reject(Rejection::invalid(field, format!("{field} must be a finite number")));
    }
    Ok(())
}

fn replicas(count: u32) -> Result<()> {
    if !(1..=1000).contains(&count) {
        return reject(Rejection::invalid("replicas", "replicas must be between 1 and 1000"));
    }
    Ok(())
}

fn plan(plan: &Plan) -> Result<()> {
    if !(1..=100).contains(&plan.units) {
        return reject(Rejection::invalid("plan", "a plan has between 1 and 100 units"));
    }
    Ok(())
}

fn tags(tags: &[Tag]) -> Result<()> {
    limit("tags", tags.len())?;
    tags.iter()
        .try_for_each(|tag| nonempty("tag key", &tag.key).and_then(|()| text("tag value", &tag.value)))
}

/// Versioned entities are named `kind/id@version` in the lineage graph, so their ids
/// cannot hold `@` themselves.
fn versioned_id(kind: EntityKind, id: &str) -> Result<()> {
    if id.contains('@') {
        return reject(Rejection::invalid(
            kind.label(),
            format!("{} ids cannot contain `@` (`{id}`)", kind.label()),
        ));
    }
    Ok(())
}

/// An alias is a short word (`champion`, `prod-2`): it appears in `model@alias` references.
fn alias(alias: &str) -> Result<()> {
    let ok_char = |c: char| c.is_alphanumeric() || "_-".contains(c);
    if alias.is_empty() || alias.len() > 255 || !alias.chars().all(ok_char) {
        return reject(Rejection::invalid(
            "alias",
            format!("`{alias}` is not a valid alias: use 1 to 255 letters, digits, `_` or `-`"),
        ));
    }
    if alias.chars().all(|c| c.is_ascii_digit()) {
        return reject(Rejection::invalid(
            "alias",
            format!("`{alias}` is not a valid alias: an alias made of digits would read as a version"),
        ));
    }
    Ok(())
}

fn next_version(count: usize) -> u32 {
    count as u32 + 1
}

/// Decides the event a command appends, or why it is refused.
pub(crate) fn decide(overlay: &Overlay, sight: &access::Sight, envelope: &CommandEnvelope) -> Result<Decision> {
    let check = Check {
        overlay,
        actor: &envelope.actor,
        sight,
    };
    let registering_self = matches!(&envelope.command, Command::RegisterPrincipal(e) if e.principal == envelope.actor);
    if !registering_self {
        check
            .live(EntityKind::Principal, &envelope.actor)
            .map_err(|_| Rejection::NotPermitted {
                principal: envelope.actor.to_string(),
                action: "act (it is not a registered principal)".into(),
            })?;
    }
    check_expected_version(&check, envelope)?;
    use EntityKind as K;
    let actor_scope = EntityRef::new(K::Principal, &envelope.actor);
    let (event, account): (Event, Option<AccountId>) = match envelope.command.clone() {
        Command::RegisterPrincipal(e) => {
            // A principal registering itself is the store's bootstrap (the first
            // administrator); no request can do it, as requests come from registered principals.
            if !registering_self && !is_administrator(&check, check.actor)? && !owns_a_subscription(&check)? {
                return reject(Rejection::NotPermitted {
                    principal: check.actor.to_string(),
                    action: "register principals (administrators and subscription owners may)".into(),
                });
            }
            check.absent(K::Principal, &e.principal)?;
            check.unique_name(Some(&actor_scope), K::Principal, e.name.as_str())?;
            text("email", &e.email)?;
            (e.into(), None)
        }
        Command::CreateSubscription(e) => {
            check.absent(K::Subscription, &e.subscription)?;
            check.unique_name(Some(&actor_scope), K::Subscription, e.name.as_str())?;
            (e.into(), None)
        }
        Command::CreateExperimentationAccount(e) => {
            check.account_absent(&e.account)?;
            check.require_owner(&e.subscription, "create accounts")?;
            check.unique_name(
                Some(&EntityRef::new(K::Subscription, &e.subscription)),
                K::ExperimentationAccount,
                e.name.as_str(),
            )?;
            text("region", &e.region)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::CreateModelManagementAccount(e) => {
            check.account_absent(&e.account)?;
            check.require_owner(&e.subscription, "create accounts")?;
            check.unique_name(
                Some(&EntityRef::new(K::Subscription, &e.subscription)),
                K::ModelManagementAccount,
                e.name.as_str(),
            )?;
            plan(&e.plan)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::ChangeModelManagementPlan(e) => {
            let entity = check.live(K::ModelManagementAccount, &e.account)?;
            let Detail::ModelManagementAccount { subscription, .. } = &entity.detail else {
                unreachable!("account detail")
            };
            check.require_owner(subscription, "change plans")?;
            plan(&e.plan)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::AssignSeat(e) => {
            let (entity, holds) = seat_holder(&check, &e.account, &e.principal)?;
            if holds {
                return reject(Rejection::transition(
                    entity.reference,
                    format!("already seating {}", e.principal),
                    "assign the seat again",
                ));
            }
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::RevokeSeat(e) => {
            let (entity, holds) = seat_holder(&check, &e.account, &e.principal)?;
            if !holds {
                return reject(Rejection::transition(
                    entity.reference,
                    format!("not seating {}", e.principal),
                    "revoke the seat",
                ));
            }
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::CreateWorkspace(e) => {
            check.absent(K::Workspace, &e.workspace)?;
            let account = check.exp_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Workspace, e.name.as_str())?;
            text("description", &e.description)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::GrantWorkspaceAccess(e) => {
            let workspace = check.live(K::Workspace, &e.workspace)?;
            let account = check.workspace_access(&workspace)?;
            let Detail::Workspace { members, .. } = &workspace.detail else {
                unreachable!("workspace detail")
            };
            if members.contains(&e.principal) {
                return reject(Rejection::transition(
                    workspace.reference,
                    format!("already shared with {}", e.principal),
                    "grant access again",
                ));
            }
            let exp = check.live(K::ExperimentationAccount, &account)?;
            let Detail::ExperimentationAccount { seats, .. } = &exp.detail else {
                unreachable!("account detail")
            };
            if !seats.contains(&e.principal) {
                return reject(Rejection::NoSeat {
                    principal: e.principal.to_string(),
                    account: account.to_string(),
                });
            }
            (e.into(), Some(account))
        }
        Command::RevokeWorkspaceAccess(e) => {
            let workspace = check.live(K::Workspace, &e.workspace)?;
            let account = check.workspace_access(&workspace)?;
            let Detail::Workspace { members, .. } = &workspace.detail else {
                unreachable!("workspace detail")
            };
            if !members.contains(&e.principal) {
                return reject(Rejection::transition(
                    workspace.reference,
                    format!("not shared with {}", e.principal),
                    "revoke access",
                ));
            }
            (e.into(), Some(account))
        }
        Command::CreateProject(e) => {
            check.absent(K::Project, &e.project)?;
            let workspace = check.live(K::Workspace, &e.workspace)?;
            let account = check.workspace_access(&workspace)?;
            check.unique_name(Some(&workspace.reference), K::Project, e.name.as_str())?;
            nonempty("path", &e.path)?;
            (e.into(), Some(account))
        }
        Command::CreateExperiment(e) => {
            check.absent(K::Experiment, &e.experiment)?;
            let project = check.live(K::Project, &e.project)?;
            let account = check.access_via(&project)?;
            check.unique_name(Some(&project.reference), K::Experiment, e.name.as_str())?;
            nonempty("entry point", &e.entry_point)?;
            (e.into(), Some(account))
        }
        Command::ReviseExperiment(e) => {
            let experiment = check.live(K::Experiment, &e.experiment)?;
            let account = check.access_via(&experiment)?;
            nonempty("entry point", &e.entry_point)?;
            (e.into(), Some(account))
        }
        Command::AttachComputeTarget(e) => {
            check.absent(K::ComputeTarget, &e.target)?;
            let account = check.exp_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::ComputeTarget, e.name.as_str())?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::DetachComputeTarget(e) => {
            let target = check.live(K::ComputeTarget, &e.target)?;
            let account = check.seat_in_account_of(&target)?;
            (e.into(), Some(account))
        }
        Command::RegisterDataset(e) => {
            check.absent(K::Dataset, &e.dataset)?;
            let account = check.exp_account(&e.account)?;
            let scoped = state::scoped_name(e.name.as_str(), e.version.as_deref());
            check.unique_name(Some(&account.reference), K::Dataset, &scoped)?;
            nonempty("location", &e.location)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::QueueRun(e) => {
            check.absent(K::Run, &e.run)?;
            let account = new_run_checks(&check, &e.experiment, &e.compute_target, e.parent.as_ref())?;
            (e.into(), Some(account))
        }
        Command::StartRun(e) => {
            nonempty("revision", &e.revision)?;
            let account = match check.find(K::Run, &e.run)? {
                None => new_run_checks(&check, &e.experiment, &e.compute_target, e.parent.as_ref())?,
                Some(existing) if !check.visible(&existing)? => {
                    return reject(Rejection::AlreadyExists {
                        entity: existing.reference,
                    })
                }
                Some(existing) => {
                    let (_, account) = check.run(&e.run)?;
                    let status = run_status(&existing);
                    if status != RunStatus::Queued {
                        return reject(Rejection::transition(existing.reference, status.label(), "start it"));
                    }
                    let Detail::Run(run) = &existing.detail else {
                        unreachable!("run detail")
                    };
                    if run.experiment != e.experiment || run.parent != e.parent {
                        return reject(Rejection::invalid(
                            "run",
                            format!("run {} was queued for another experiment or parent", e.run),
                        ));
                    }
                    check.compute_target(&e.compute_target, &account)?;
                    account
                }
            };
            (e.into(), Some(account))
        }
        Command::LogParams(e) => {
            let (entity, account) = check.run(&e.run)?;
            limit("params", e.params.len())?;
            let Detail::Run(run) = &entity.detail else {
                unreachable!("run detail")
            };
            for param in &e.params {
                nonempty("param key", &param.key)?;
                text("param value", &param.value)?;
                if let Some(logged) = run.params.get(&param.key).filter(|logged| **logged != param.value) {
                    return reject(Rejection::invalid(
                        "param",
                        format!(
                            "param `{}` of run {} is already `{logged}`; params cannot change",
                            param.key, e.run
                        ),
                    ));
                }
            }
            (e.into(), Some(account))
        }
        Command::LogMetrics(e) => {
            let (_, account) = check.run(&e.run)?;
            limit("metric points", e.points.len())?;
            if e.points.is_empty() {
                return reject(Rejection::invalid("points", "log at least one metric point"));
            }
            e.points
                .iter()
                .try_for_each(|point| nonempty("metric name", &point.name))?;
            (e.into(), Some(account))
        }
        Command::SetRunTags(e) => {
            let (_, account) = check.run(&e.run)?;
            tags(&e.tags)?;
            (e.into(), Some(account))
        }
        Command::RecordArtifacts(e) => {
            let (_, account) = check.run(&e.run)?;
            limit("artifacts", e.artifacts.len())?;
            e.artifacts
                .iter()
                .try_for_each(|artifact| nonempty("artifact path", &artifact.path))?;
            (e.into(), Some(account))
        }
        Command::RecordRunInputs(e) => {
            let (_, account) = check.run(&e.run)?;
            check.datasets(&e.datasets, &account)?;
            (e.into(), Some(account))
        }
        Command::RecordRunOutputs(e) => {
            let (_, account) = check.run(&e.run)?;
            check.datasets(&e.datasets, &account)?;
            (e.into(), Some(account))
        }
        Command::CompleteRun(e) => {
            let account = finish_checks(&check, &e.run, "complete it", &[RunStatus::Running])?;
            (e.into(), Some(account))
        }
        Command::FailRun(e) => {
            text("reason", &e.reason)?;
            let account = finish_checks(&check, &e.run, "fail it", &[RunStatus::Queued, RunStatus::Running])?;
            (e.into(), Some(account))
        }
        Command::CancelRun(e) => {
            let account = finish_checks(&check, &e.run, "cancel it", &[RunStatus::Queued, RunStatus::Running])?;
            (e.into(), Some(account))
        }
        Command::CreateModel(e) => {
            versioned_id(K::Model, e.model.as_str())?;
            check.absent(K::Model, &e.model)?;
            let account = check.mm_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Model, e.name.as_str())?;
            text("description", &e.description)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::RegisterModelVersion(c) => {
            let model = check.live(K::Model, &c.model)?;
            let account = check.seat_in_account_of(&model)?;
            match &c.source {
                ModelSource::Run { run, artifact_path } => {
                    check.run(run)?;
                    nonempty("artifact path", artifact_path)?;
                }
                ModelSource::Uploaded { location, .. } => nonempty("location", location)?,
            }
            if let Some(earlier) = &c.derived_from {
                let origin = check.model_version(earlier)?;
                check.same_account(&origin, &account)?;
            }
            tags(&c.tags)?;
            let Detail::Model { versions, .. } = &model.detail else {
                unreachable!("model detail")
            };
            let event = ModelVersionRegistered {
                model: c.model,
                version: next_version(versions.len()),
                source: c.source,
                derived_from: c.derived_from,
                tags: c.tags,
            };
            (event.into(), Some(account))
        }
        Command::SetModelVersionTags(e) => {
            let model = check.model_version(&ModelVersionRef {
                model: e.model.clone(),
                version: e.version,
            })?;
            let account = check.seat_in_account_of(&model)?;
            tags(&e.tags)?;
            (e.into(), Some(account))
        }
        Command::CreateManifest(e) => {
            versioned_id(K::Manifest, e.manifest.as_str())?;
            check.absent(K::Manifest, &e.manifest)?;
            let account = check.mm_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Manifest, e.name.as_str())?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::AddManifestVersion(c) => {
            let manifest = check.live(K::Manifest, &c.manifest)?;
            let account = check.seat_in_account_of(&manifest)?;
            if c.models.is_empty() {
                return reject(Rejection::invalid(
                    "models",
                    "a manifest version includes at least one model version",
                ));
            }
            limit("models", c.models.len())?;
            for reference in &c.models {
                let model = check.model_version(reference)?;
                check.same_account(&model, &account)?;
            }
            limit("dependencies", c.dependencies.len())?;
            nonempty("scoring script", &c.scoring_script)?;
            text("schema", c.schema.as_deref().unwrap_or_default())?;
            text("sample data", c.sample_data.as_deref().unwrap_or_default())?;
            let Detail::Manifest { versions } = &manifest.detail else {
                unreachable!("manifest detail")
            };
            let event = ManifestVersionAdded {
                manifest: c.manifest,
                version: next_version(versions.len()),
                models: c.models,
                dependencies: c.dependencies,
                scoring_script: c.scoring_script,
                schema: c.schema,
                sample_data: c.sample_data,
            };
            (event.into(), Some(account))
        }
        Command::CreateImage(e) => {
            versioned_id(K::Image, e.image.as_str())?;
            check.absent(K::Image, &e.image)?;
            let account = check.mm_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Image, e.name.as_str())?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::StartImageBuild(c) => {
            let image = check.live(K::Image, &c.image)?;
            let account = check.seat_in_account_of(&image)?;
            let manifest = check.live(K::Manifest, &c.manifest.manifest)?;
            check.same_account(&manifest, &account)?;
            let Detail::Manifest {
                versions: manifest_versions,
            } = &manifest.detail
            else {
                unreachable!("manifest detail")
            };
            if !manifest_versions
                .iter()
                .any(|version| version.version == c.manifest.version)
            {
                return reject(Rejection::invalid(
                    "manifest version",
                    format!("manifest {} has no version {}", c.manifest.manifest, c.manifest.version),
                ));
            }
            let Detail::Image { versions } = &image.detail else {
                unreachable!("image detail")
            };
            let event = ImageBuildStarted {
                image: c.image,
                version: next_version(versions.len()),
                manifest: c.manifest,
            };
            (event.into(), Some(account))
        }
        Command::RecordImageBuilt(e) => {
            let account = building_checks(&check, &e.image, e.version)?;
            nonempty("digest", &e.digest)?;
            (e.into(), Some(account))
        }
        Command::RecordImageBuildFailed(e) => {
            let account = building_checks(&check, &e.image, e.version)?;
            text("reason", &e.reason)?;
            (e.into(), Some(account))
        }
        Command::CreateEnvironment(e) => {
            check.absent(K::Environment, &e.environment)?;
            let account = check.mm_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Environment, e.name.as_str())?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::DeleteEnvironment(e) => {
            let environment = check.live(K::Environment, &e.environment)?;
            let account = check.seat_in_account_of(&environment)?;
            (e.into(), Some(account))
        }
        Command::DeployService(e) => {
            check.absent(K::Service, &e.service)?;
            let account = check.mm_account(&e.account)?;
            check.unique_name(Some(&account.reference), K::Service, e.name.as_str())?;
            check.image_version_built(&e.image, &e.account)?;
            check.live_environment(&e.environment, &e.account)?;
            nonempty("url", &e.url)?;
            replicas(e.replicas)?;
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::UpdateService(e) => {
            let service = check.live(K::Service, &e.service)?;
            let account = check.seat_in_account_of(&service)?;
            check.image_version_built(&e.image, &account)?;
            let Detail::Service(detail) = &service.detail else {
                unreachable!("service detail")
            };
            check.live_environment(&detail.environment, &account)?;
            if detail.image == e.image {
                return reject(Rejection::transition(
                    service.reference,
                    format!("already running {}", e.image),
                    "update it to the same image",
                ));
            }
            (e.into(), Some(account))
        }
        Command::ScaleService(e) => {
            let service = check.live(K::Service, &e.service)?;
            let account = check.seat_in_account_of(&service)?;
            replicas(e.replicas)?;
            (e.into(), Some(account))
        }
        Command::DeleteService(e) => {
            let service = check.live(K::Service, &e.service)?;
            let account = check.seat_in_account_of(&service)?;
            (e.into(), Some(account))
        }
        Command::RecordServiceMetric(e) => {
            let service = check.live(K::Service, &e.service)?;
            let account = check.seat_in_account_of(&service)?;
            nonempty("metric name", &e.name)?;
            finite("value", e.value)?;
            (e.into(), Some(account))
        }
        command @ (Command::IssueToken(_) | Command::RevokeToken(_) | Command::DesignateAdministrator(_)) => {
            (decide_access(&check, command)?, None)
        }
        Command::GrantRole(e) => {
            let held = role_checks(&check, &e.principal, &e.account)?;
            if held.contains(&e.role) {
                return reject(Rejection::transition(
                    EntityRef::new(K::Principal, &e.principal),
                    format!("already {:?} in {}", e.role, e.account),
                    "grant the role again",
                ));
            }
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::RevokeRole(e) => {
            let held = role_checks(&check, &e.principal, &e.account)?;
            if !held.contains(&e.role) {
                return reject(Rejection::transition(
                    EntityRef::new(K::Principal, &e.principal),
                    format!("not {:?} in {}", e.role, e.account),
                    "revoke the role",
                ));
            }
            let account = e.account.clone();
            (e.into(), Some(account))
        }
        Command::RaiseDriftAlert(e) => {
            let service = check.live(K::Service, &e.service)?;
            let account = check.seat_in_account_of(&service)?;
            nonempty("feature", &e.feature)?;
            finite("score", e.score)?;
            finite("threshold", e.threshold)?;
            (e.into(), Some(account))
        }
        Command::SetExperimentTags(e) => {
            let experiment = check.live(K::Experiment, &e.experiment)?;
            let account = check.access_via(&experiment)?;
            tags(&e.tags)?;
            (e.into(), Some(account))
        }
        Command::DeleteExperiment(e) => {
            let experiment = check.live(K::Experiment, &e.experiment)?;
            let account = check.access_via(&experiment)?;
            (e.into(), Some(account))
        }
        Command::RestoreExperiment(e) => {
            let experiment = check.deleted(K::Experiment, &e.experiment, "restore it")?;
            let account = check.access_via(&experiment)?;
            (e.into(), Some(account))
        }
        Command::DeleteRun(e) => {
            let (_, account) = check.run(&e.run)?;
            (e.into(), Some(account))
        }
        Command::RestoreRun(e) => {
            let run = check.deleted(K::Run, &e.run, "restore it")?;
            let account = check.access_via(&run)?;
            (e.into(), Some(account))
        }
        Command::SetModelTags(e) => {
            let model = check.live(K::Model, &e.model)?;
            let account = check.seat_in_account_of(&model)?;
            tags(&e.tags)?;
            (e.into(), Some(account))
        }
        Command::SetModelAlias(e) => {
            let model = check.model_version(&ModelVersionRef {
                model: e.model.clone(),
                version: e.version,
            })?;
            let account = check.seat_in_account_of(&model)?;
            alias(&e.alias)?;
            (e.into(), Some(account))
        }
        Command::RemoveModelAlias(e) => {
            let model = check.live(K::Model, &e.model)?;
            let account = check.seat_in_account_of(&model)?;
            let Detail::Model { aliases, .. } = &model.detail else {
                unreachable!("model detail")
            };
            if !aliases.contains_key(&e.alias) {
                return reject(Rejection::invalid(
                    "alias",
                    format!("model {} has no alias `{}`", e.model, e.alias),
                ));
            }
            (e.into(), Some(account))
        }
        Command::RecordDatasetSchema(e) => {
            let dataset = check.live(K::Dataset, &e.dataset)?;
            let account = check.seat_in_account_of(&dataset)?;
            limit("schema fields", e.fields.len())?;
            for field in &e.fields {
                nonempty("field name", &field.name)?;
                text("field type", &field.data_type)?;
                text("field description", field.description.as_deref().unwrap_or_default())?;
            }
            (e.into(), Some(account))
        }
    };
    Ok(Decision { event, account })
}

/// The account's entity, whichever kind it is.
fn any_account(check: &Check<'_>, account: &AccountId) -> Result<Entity> {
    match check.live(EntityKind::ExperimentationAccount, account) {
        Ok(entity) => Ok(entity),
        Err(_) => check.live(EntityKind::ModelManagementAccount, account),
    }
}

fn subscription_of(account: &Entity) -> &SubscriptionId {
    match &account.detail {
        Detail::ExperimentationAccount { subscription, .. } | Detail::ModelManagementAccount { subscription, .. } => {
            subscription
        }
        _ => unreachable!("accounts hold account detail"),
    }
}

/// The roles a principal holds in an account.
pub(crate) fn roles_of(check_principal: Option<&Entity>, account: &AccountId) -> std::collections::BTreeSet<Role> {
    match check_principal.map(|entity| &entity.detail) {
        Some(Detail::Principal { roles, .. }) => roles.get(account).cloned().unwrap_or_default(),
        _ => Default::default(),
    }
}

/// Granting or revoking a role: the account exists, and the actor administers the store,
/// owns the account's subscription, or owns the account. Returns the roles held now.
fn role_checks(
    check: &Check<'_>,
    principal: &PrincipalId,
    account: &AccountId,
) -> Result<std::collections::BTreeSet<Role>> {
    let account_entity = any_account(check, account)?;
    let target = check.live(EntityKind::Principal, principal)?;
    let actor = check.find(EntityKind::Principal, check.actor)?;
    let allowed = is_administrator(check, check.actor)?
        || &check.owner_of(subscription_of(&account_entity))? == check.actor
        || roles_of(actor.as_ref(), account).contains(&Role::Owner);
    if !allowed {
        return reject(Rejection::NotPermitted {
            principal: check.actor.to_string(),
            action: format!("grant or revoke roles in {account}"),
        });
    }
    Ok(roles_of(Some(&target), account))
}

fn is_administrator(check: &Check<'_>, principal: &PrincipalId) -> Result<bool> {
    Ok(matches!(
        check
            .find(EntityKind::Principal, principal)?
            .map(|entity| entity.detail),
        Some(Detail::Principal {
            administrator: true,
            ..
        })
    ))
}

/// Acting on a principal's own tokens: the principal itself, or an administrator.
fn self_or_administrator(check: &Check<'_>, principal: &PrincipalId, action: &str) -> Result<()> {
    if check.actor == principal || is_administrator(check, check.actor)? {
        return Ok(());
    }
    reject(Rejection::NotPermitted {
        principal: check.actor.to_string(),
        action: format!("{action} of {principal}"),
    })
}

fn decide_access(check: &Check<'_>, command: Command) -> Result<Event> {
    use EntityKind as K;
    Ok(match command {
        Command::IssueToken(e) => {
            self_or_administrator(check, &e.principal, "issue tokens")?;
            check.live(K::Principal, &e.principal)?;
            if check.overlay.contains(state::TREE, &state::token_key(&e.token))? {
                return reject(Rejection::AlreadyExists {
                    entity: EntityRef::new(K::Principal, format!("{}#{}", e.principal, e.token)),
                });
            }
            if check.overlay.contains(state::TREE, &state::token_hash_key(&e.hash))? {
                return reject(Rejection::invalid("token", "a token with this secret already exists"));
            }
            text("label", &e.label)?;
            e.into()
        }
        Command::RevokeToken(e) => {
            self_or_administrator(check, &e.principal, "revoke tokens")?;
            let principal = check.live(K::Principal, &e.principal)?;
            let Detail::Principal { tokens, .. } = &principal.detail else {
                unreachable!("principal detail")
            };
            match tokens.iter().find(|token| token.token == e.token) {
                None => {
                    return reject(Rejection::invalid(
                        "token",
                        format!("{} has no token {}", e.principal, e.token),
                    ))
                }
                Some(token) if token.revoked.is_some() => {
                    return reject(Rejection::transition(
                        principal.reference.clone(),
                        format!("token {} already revoked", e.token),
                        "revoke it",
                    ))
                }
                Some(_) => {}
            }
            e.into()
        }
        Command::DesignateAdministrator(e) => {
            let any = check.overlay.contains(state::TREE, state::ADMINISTRATORS_KEY)?;
            // The first administrator designates itself; later ones are designated by one.
            // Permission comes first, so a refusal does not tell whether the principal exists.
            let allowed = if any {
                is_administrator(check, check.actor)?
            } else {
                check.actor == &e.principal
            };
            if !allowed {
                return reject(Rejection::NotPermitted {
                    principal: check.actor.to_string(),
                    action: format!("make {} an administrator", e.principal),
                });
            }
            let principal = check.live(K::Principal, &e.principal)?;
            if is_administrator(check, &e.principal)? {
                return reject(Rejection::transition(
                    principal.reference,
                    "already an administrator",
                    "designate it again",
                ));
            }
            e.into()
        }
        _ => unreachable!("only access commands come here"),
    })
}

fn seat_holder(check: &Check<'_>, account: &AccountId, principal: &PrincipalId) -> Result<(Entity, bool)> {
    let entity = check.live(EntityKind::ExperimentationAccount, account)?;
    let Detail::ExperimentationAccount {
        subscription, seats, ..
    } = &entity.detail
    else {
        unreachable!("account detail")
    };
    check.require_owner(subscription, "assign or revoke seats")?;
    check.live(EntityKind::Principal, principal)?;
    let holds = seats.contains(principal);
    Ok((entity, holds))
}

fn run_status(entity: &Entity) -> RunStatus {
    match &entity.detail {
        Detail::Run(run) => run.status,
        _ => unreachable!("run detail"),
    }
}

fn new_run_checks(
    check: &Check<'_>,
    experiment: &ExperimentId,
    target: &ComputeTargetId,
    parent: Option<&RunId>,
) -> Result<AccountId> {
    let experiment = check.live(EntityKind::Experiment, experiment)?;
    let account = check.access_via(&experiment)?;
    check.compute_target(target, &account)?;
    if let Some(parent) = parent {
        let (parent, _) = check.run(parent)?;
        check.same_account(&parent, &account)?;
    }
    Ok(account)
}

fn finish_checks(check: &Check<'_>, run: &RunId, action: &str, from: &[RunStatus]) -> Result<AccountId> {
    let (entity, account) = check.run(run)?;
    let status = run_status(&entity);
    if !from.contains(&status) {
        return reject(Rejection::transition(entity.reference, status.label(), action));
    }
    Ok(account)
}

fn building_checks(check: &Check<'_>, image: &ImageId, number: u32) -> Result<AccountId> {
    let entity = check.live(EntityKind::Image, image)?;
    let account = check.seat_in_account_of(&entity)?;
    let Detail::Image { versions } = &entity.detail else {
        unreachable!("image detail")
    };
    match versions.iter().find(|version| version.version == number) {
        None => reject(Rejection::invalid(
            "image version",
            format!("image {image} has no version {number}"),
        )),
        Some(version) if version.status != BuildStatus::Building => {
            let state = match &version.status {
                BuildStatus::Succeeded { .. } => format!("version {number} already built"),
                _ => format!("version {number} already failed"),
            };
            reject(Rejection::transition(
                entity.reference,
                state,
                "record the build's outcome again",
            ))
        }
        Some(_) => Ok(account),
    }
}

/// Whether the actor owns any subscription (and so may register principals to seat).
fn owns_a_subscription(check: &Check<'_>) -> Result<bool> {
    let prefix = state::owned_subscriptions_prefix(check.actor);
    check.overlay.any_with_prefix(state::TREE, &prefix)
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
    let overlay = check.overlay;
    let actual = index::stream_version(overlay, &stream)?;
    if actual != expected {
        return reject(Rejection::VersionConflict {
            stream,
            expected,
            actual,
        });
    }
    Ok(())
}
