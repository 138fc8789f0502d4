//! What every rule asks of current state: entities the actor may know of (`Check`), and
//! the checks of a command's own fields (limits, names, tags, aliases).

use crate::error::Result;
use crate::projections::access;
use crate::projections::state::StateRead;
use lineage_schema::entity::{BuildStatus, Detail, Entity};
use lineage_schema::event::*;
use lineage_schema::*;

/// The largest list a single command may carry (metric points, params, tags, …).
pub(crate) const MAX_ITEMS: usize = 10_000;
/// The longest free-text field a command may carry, in bytes.
pub(crate) const MAX_TEXT: usize = 64 * 1024;

pub(super) fn reject<T>(rejection: Rejection) -> Result<T> {
    Err(rejection.into())
}

/// Derived data that holds another kind of detail than its entity's: a damaged state
/// projection, not a refused command.
pub(super) fn mismatch(entity: &Entity) -> crate::error::Error {
    crate::error::Error::Derived(format!("{} holds the wrong kind of detail", entity.reference))
}

/// What a rule decides: the event, and the account it is billed and audited under.
pub(super) type Decided = (Event, Option<AccountId>);

pub(super) struct Check<'a> {
    pub(super) state: &'a dyn StateRead,
    pub(super) actor: &'a PrincipalId,
    /// Accounts already judged readable by principals, or not: one command asks about
    /// the same account several times on its way up from a run, and the next commands too.
    pub(super) sight: &'a access::Sight,
}

impl Check<'_> {
    /// The entity, whether or not the actor may know of it: only for checks whose
    /// answer tells nothing of what it holds (is an id taken, is the actor an administrator).
    pub(super) fn find(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<Option<Entity>> {
        self.state.entity(&EntityRef::new(kind, id))
    }

    /// Whether the actor may know this entity exists. Everything in an account it cannot
    /// read is, to it, not there: refusals about it are those of an unknown id.
    pub(super) fn visible(&self, entity: &Entity) -> Result<bool> {
        match (&entity.account, entity.reference.kind) {
            // Principal ids are a directory shared by design (owners seat people by id).
            (_, EntityKind::Principal) => Ok(true),
            (Some(account), _) => self.sight.reads_account(self.state, self.actor, account),
            (None, EntityKind::Subscription) => access::sees_subscription(self.state, self.actor, entity),
            (None, _) => Ok(true),
        }
    }

    /// The entity, which must exist, not be deleted, and be visible to the actor.
    pub(super) fn live(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<Entity> {
        let reference = EntityRef::new(kind, id);
        match self.state.entity(&reference)? {
            Some(entity) if !entity.deleted && self.visible(&entity)? => Ok(entity),
            _ => reject(Rejection::not_found(reference)),
        }
    }

    /// The entity, which must exist, be visible, and be deleted (to be restored).
    pub(super) fn deleted(&self, kind: EntityKind, id: impl std::fmt::Display, action: &str) -> Result<Entity> {
        let reference = EntityRef::new(kind, id);
        match self.state.entity(&reference)? {
            Some(entity) if self.visible(&entity)? => {
                if !entity.deleted {
                    return reject(Rejection::transition(reference, "not deleted", action));
                }
                Ok(entity)
            }
            _ => reject(Rejection::not_found(reference)),
        }
    }

    pub(super) fn absent(&self, kind: EntityKind, id: impl std::fmt::Display) -> Result<()> {
        let reference = EntityRef::new(kind, id);
        if self.state.entity(&reference)?.is_some() {
            return reject(Rejection::AlreadyExists { entity: reference });
        }
        Ok(())
    }

    /// Account ids are shared by both kinds of account.
    pub(super) fn account_absent(&self, account: &AccountId) -> Result<()> {
        self.absent(EntityKind::ExperimentationAccount, account)?;
        self.absent(EntityKind::ModelManagementAccount, account)
    }

    pub(super) fn unique_name(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<()> {
        if self.state.name_taken(scope, kind, name)? {
            let scope = scope.map_or_else(|| "Lineage".to_string(), ToString::to_string);
            return reject(Rejection::DuplicateName {
                kind,
                name: name.to_string(),
                scope,
            });
        }
        Ok(())
    }

    pub(super) fn owner_of(&self, subscription: &SubscriptionId) -> Result<PrincipalId> {
        let entity = self.live(EntityKind::Subscription, subscription)?;
        match &entity.detail {
            Detail::Subscription { owner } => Ok(owner.clone()),
            _ => Err(mismatch(&entity)),
        }
    }

    pub(super) fn require_owner(&self, subscription: &SubscriptionId, action: &str) -> Result<()> {
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
    pub(super) fn require_seat(&self, account: &Entity) -> Result<()> {
        let (subscription, seated) = match &account.detail {
            Detail::ExperimentationAccount {
                subscription, seats, ..
            } => (subscription, seats.contains(self.actor)),
            Detail::ModelManagementAccount { subscription, .. } => {
                let held = self.state.seats_in_subscription(subscription, self.actor)?;
                (subscription, held > 0)
            }
            _ => return Err(mismatch(account)),
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

    pub(super) fn exp_account(&self, account: &AccountId) -> Result<Entity> {
        let entity = self.live(EntityKind::ExperimentationAccount, account)?;
        self.require_seat(&entity)?;
        Ok(entity)
    }

    pub(super) fn mm_account(&self, account: &AccountId) -> Result<Entity> {
        let entity = self.live(EntityKind::ModelManagementAccount, account)?;
        self.require_seat(&entity)?;
        Ok(entity)
    }

    /// The entity's account, after checking the actor may act there.
    pub(super) fn seat_in_account_of(&self, entity: &Entity) -> Result<AccountId> {
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
    pub(super) fn workspace_access(&self, workspace: &Entity) -> Result<AccountId> {
        let account = self.seat_in_account_of(workspace)?;
        let Detail::Workspace { members, .. } = &workspace.detail else {
            return Err(mismatch(workspace));
        };
        if members.contains(self.actor) {
            return Ok(account);
        }
        let exp = self.live(EntityKind::ExperimentationAccount, &account)?;
        let Detail::ExperimentationAccount { subscription, .. } = &exp.detail else {
            return Err(mismatch(&exp));
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
    pub(super) fn access_via(&self, entity: &Entity) -> Result<AccountId> {
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

    pub(super) fn run(&self, run: &RunId) -> Result<(Entity, AccountId)> {
        let entity = self.live(EntityKind::Run, run)?;
        let account = self.access_via(&entity)?;
        Ok((entity, account))
    }

    pub(super) fn same_account(&self, entity: &Entity, account: &AccountId) -> Result<()> {
        if entity.account.as_ref() != Some(account) {
            return reject(Rejection::invalid(
                entity.reference.kind.label(),
                format!("{} belongs to another account", entity.reference),
            ));
        }
        Ok(())
    }

    pub(super) fn compute_target(&self, target: &ComputeTargetId, account: &AccountId) -> Result<()> {
        let entity = self.live(EntityKind::ComputeTarget, target)?;
        self.same_account(&entity, account)
    }

    pub(super) fn datasets(&self, datasets: &[DatasetId], account: &AccountId) -> Result<()> {
        limit("datasets", datasets.len())?;
        for dataset in datasets {
            let entity = self.live(EntityKind::Dataset, dataset)?;
            self.same_account(&entity, account)?;
        }
        Ok(())
    }

    pub(super) fn model_version(&self, reference: &ModelVersionRef) -> Result<Entity> {
        let model = self.live(EntityKind::Model, &reference.model)?;
        let Detail::Model { versions, .. } = &model.detail else {
            return Err(mismatch(&model));
        };
        if !versions.iter().any(|version| version.version == reference.version) {
            return reject(Rejection::invalid(
                "model version",
                format!("model {} has no version {}", reference.model, reference.version),
            ));
        }
        Ok(model)
    }

    pub(super) fn image_version_built(&self, reference: &ImageVersionRef, account: &AccountId) -> Result<()> {
        let image = self.live(EntityKind::Image, &reference.image)?;
        self.same_account(&image, account)?;
        let Detail::Image { versions } = &image.detail else {
            return Err(mismatch(&image));
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

    pub(super) fn live_environment(&self, environment: &EnvironmentId, account: &AccountId) -> Result<()> {
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

pub(super) fn limit(what: &str, count: usize) -> Result<()> {
    if count > MAX_ITEMS {
        return reject(Rejection::LimitExceeded {
            what: format!("the number of {what}"),
            limit: MAX_ITEMS as u64,
        });
    }
    Ok(())
}

pub(super) fn text(field: &str, value: &str) -> Result<()> {
    if value.len() > MAX_TEXT {
        return reject(Rejection::LimitExceeded {
            what: format!("the length of {field}"),
            limit: MAX_TEXT as u64,
        });
    }
    Ok(())
}

pub(super) fn nonempty(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return reject(Rejection::invalid(field, format!("{field} must not be empty")));
    }
    text(field, value)
}

pub(super) fn finite(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() {
        return reject(Rejection::invalid(field, format!("{field} must be a finite number")));
    }
    Ok(())
}

pub(super) fn replicas(count: u32) -> Result<()> {
    if !(1..=1000).contains(&count) {
        return reject(Rejection::invalid("replicas", "replicas must be between 1 and 1000"));
    }
    Ok(())
}

pub(super) fn plan(plan: &Plan) -> Result<()> {
    if !(1..=100).contains(&plan.units) {
        return reject(Rejection::invalid("plan", "a plan has between 1 and 100 units"));
    }
    Ok(())
}

pub(super) fn tags(tags: &[Tag]) -> Result<()> {
    limit("tags", tags.len())?;
    tags.iter()
        .try_for_each(|tag| nonempty("tag key", &tag.key).and_then(|()| text("tag value", &tag.value)))
}

/// Versioned entities are named `kind/id@version` in the lineage graph, so their ids
/// cannot hold `@` themselves.
pub(super) fn versioned_id(kind: EntityKind, id: &str) -> Result<()> {
    if id.contains('@') {
        return reject(Rejection::invalid(
            kind.label(),
            format!("{} ids cannot contain `@` (`{id}`)", kind.label()),
        ));
    }
    Ok(())
}

/// An alias is a short word (`champion`, `prod-2`): it appears in `model@alias` references.
pub(super) fn alias(alias: &str) -> Result<()> {
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

pub(super) fn next_version(count: usize) -> u32 {
    count as u32 + 1
}

pub(super) fn is_administrator(check: &Check<'_>, principal: &PrincipalId) -> Result<bool> {
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

/// The roles a principal holds in an account.
pub(super) fn roles_of(check_principal: Option<&Entity>, account: &AccountId) -> std::collections::BTreeSet<Role> {
    match check_principal.map(|entity| &entity.detail) {
        Some(Detail::Principal { roles, .. }) => roles.get(account).cloned().unwrap_or_default(),
        _ => Default::default(),
    }
}
