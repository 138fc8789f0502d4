//! Who may do what: the write side of the access policy, asked by every rule before it
//! decides. Read visibility — what a principal may know exists — is
//! `projections::access`, which `Check::visible` asks, so that a refusal never tells an
//! actor of an entity it could not read.

use super::check::{mismatch, mismatch_of, reject, Check};
use crate::error::Result;
use crate::projections::access;
use lineage_schema::entity::{Detail, Entity};
use lineage_schema::event::*;
use lineage_schema::*;

impl Check<'_> {
    /// Whether the actor may know this entity exists. Everything in an account it cannot
    /// read is, to it, not there: refusals about it are those of an unknown id.
    pub(super) fn visible(&self, entity: &Entity) -> Result<bool> {
        match (&entity.account, entity.reference.kind) {
            (None, EntityKind::Subscription) => access::sees_subscription(self.state, self.actor, entity),
            (account, kind) => self.visible_in(kind, account.as_ref()),
        }
    }

    /// Whether the actor may know of an entity of `kind` in `account`: for every kind but
    /// a subscription, that is all visibility asks.
    pub(super) fn visible_in(&self, kind: EntityKind, account: Option<&AccountId>) -> Result<bool> {
        match (account, kind) {
            // Principal ids are a directory shared by design (owners seat people by id).
            (_, EntityKind::Principal) => Ok(true),
            (Some(account), _) => self.sight.reads_account(self.state, self.actor, account),
            (None, _) => Ok(true),
        }
    }

    pub(super) fn owner_of(&self, subscription: &SubscriptionId) -> Result<PrincipalId> {
        self.live_peek(EntityKind::Subscription, subscription, |entity| match &entity.detail {
            Detail::Subscription { owner } => Ok(owner.clone()),
            _ => Err(mismatch(entity)),
        })?
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

    /// The actor may act in the account the facts are of: it owns the subscription or
    /// holds a seat (for a model management account: a seat in any experimentation
    /// account of its subscription).
    fn require_seat_in(&self, facts: SeatFacts) -> Result<()> {
        let seated = match facts.seated {
            Some(seated) => seated,
            None => self.state.seats_in_subscription(&facts.subscription, self.actor)? > 0,
        };
        if seated || &self.owner_of(&facts.subscription)? == self.actor || is_administrator(self, self.actor)? {
            return Ok(());
        }
        // A model management account has no seats of its own: an owner or contributor
        // role there lets a principal act in it.
        if facts.account.kind == EntityKind::ModelManagementAccount {
            let held = roles_of(
                self.find(EntityKind::Principal, self.actor)?.as_ref(),
                &AccountId::new(facts.account.id.clone())?,
            );
            if held.contains(&Role::Owner) || held.contains(&Role::Contributor) {
                return Ok(());
            }
        }
        reject(Rejection::NoSeat {
            principal: self.actor.to_string(),
            account: facts.account.id.to_string(),
        })
    }

    /// The experimentation account, after checking the actor may act there.
    pub(super) fn exp_account(&self, account: &AccountId) -> Result<EntityRef> {
        self.seated_account(EntityKind::ExperimentationAccount, account)
    }

    /// The model management account, after checking the actor may act there.
    pub(super) fn mm_account(&self, account: &AccountId) -> Result<EntityRef> {
        self.seated_account(EntityKind::ModelManagementAccount, account)
    }

    /// An account of `kind`, live and visible, where the actor may act: the seat facts
    /// read where the account lies, not from a copy of it.
    fn seated_account(&self, kind: EntityKind, account: &AccountId) -> Result<EntityRef> {
        let facts = self.live_peek(kind, account, |entity| seat_facts(entity, self.actor))??;
        let reference = facts.account.clone();
        self.require_seat_in(facts)?;
        Ok(reference)
    }

    /// The entity's account, after checking the actor may act there.
    pub(super) fn seat_in_account_of(&self, entity: &Entity) -> Result<AccountId> {
        let account = account_of(entity);
        self.seat_in(entity.reference.kind, &account)?;
        Ok(account)
    }

    /// A live, visible, account-scoped entity's account, after checking the actor may act
    /// there, and what `peek` takes from it where it lies: a model, manifest or image is
    /// not copied, with all its versions, for each version added to it.
    pub(super) fn seated_peek<R>(
        &self,
        kind: EntityKind,
        id: impl ToIdText,
        peek: impl FnOnce(&Entity) -> R,
    ) -> Result<(AccountId, R)> {
        let (account, answer) = self.live_peek(kind, id, |entity| (account_of(entity), peek(entity)))?;
        self.seat_in(kind, &account)?;
        Ok((account, answer))
    }

    /// Checks the actor may act in `account`, which holds an entity of `kind`.
    fn seat_in(&self, kind: EntityKind, account: &AccountId) -> Result<()> {
        let kind = match kind {
            EntityKind::Model
            | EntityKind::Manifest
            | EntityKind::Image
            | EntityKind::Environment
            | EntityKind::Service => EntityKind::ModelManagementAccount,
            _ => EntityKind::ExperimentationAccount,
        };
        let facts = self.live_peek(kind, account, |entity| seat_facts(entity, self.actor))??;
        self.require_seat_in(facts)
    }

    /// The actor may work inside this workspace: it is a member, or owns the subscription.
    pub(super) fn workspace_access(&self, workspace: &Entity) -> Result<AccountId> {
        let account = self.seat_in_account_of(workspace)?;
        let Detail::Workspace { members, .. } = &workspace.detail else {
            return Err(mismatch(workspace));
        };
        self.member_or_owner(&workspace.reference, account, members.contains(self.actor))
    }

    /// Access to a workspace in `account`: as a member, or as the subscription's owner or
    /// an administrator.
    fn member_or_owner(&self, workspace: &EntityRef, account: AccountId, member: bool) -> Result<AccountId> {
        if member {
            return Ok(account);
        }
        // Only the subscription is needed of an account that may list many seats.
        let subscription =
            self.live_peek(EntityKind::ExperimentationAccount, &account, |exp| match &exp.detail {
                Detail::ExperimentationAccount { subscription, .. } => Ok(subscription.clone()),
                _ => Err(mismatch(exp)),
            })??;
        if self.owner_of(&subscription)? == *self.actor || is_administrator(self, self.actor)? {
            return Ok(account);
        }
        reject(Rejection::NotPermitted {
            principal: self.actor.to_string(),
            action: format!("work in {workspace} without access to it"),
        })
    }

    /// Walks up from a project, experiment or run to its workspace and checks access,
    /// looking at each entity on the way where it lies.
    pub(super) fn access_via(&self, entity: &Entity) -> Result<AccountId> {
        if entity.reference.kind == EntityKind::Workspace {
            return self.workspace_access(entity);
        }
        self.access_from(parent_of(entity))
    }

    /// The account reached from `parent` (a project, experiment or run's parent) up to
    /// its workspace, checking the actor may act there.
    pub(super) fn access_from(&self, parent: EntityRef) -> Result<AccountId> {
        let mut current = parent;
        while current.kind != EntityKind::Workspace {
            current = self.live_peek(current.kind, &current.id, parent_of)?;
        }
        let (account, member) = self.seated_peek(EntityKind::Workspace, &current.id, |workspace| {
            match &workspace.detail {
                Detail::Workspace { members, .. } => Some(members.contains(self.actor)),
                _ => None,
            }
        })?;
        let member = member.ok_or_else(|| mismatch_of(&current))?;
        self.member_or_owner(&current, account, member)
    }
}

/// The account an account-scoped entity is in.
fn account_of(entity: &Entity) -> AccountId {
    entity
        .account
        .clone()
        .expect("account-scoped entities carry their account")
}

/// The parent of a project, experiment or run.
pub(super) fn parent_of(entity: &Entity) -> EntityRef {
    entity
        .parent
        .clone()
        .expect("projects, experiments and runs have parents")
}

/// What deciding a seat needs of an account: read where the account lies, then judged.
struct SeatFacts {
    account: EntityRef,
    subscription: SubscriptionId,
    /// Whether the actor holds a seat in it; `None` for a model management account, whose
    /// seats are those of its subscription's experimentation accounts.
    seated: Option<bool>,
}

fn seat_facts(account: &Entity, actor: &PrincipalId) -> Result<SeatFacts> {
    let (subscription, seated) = match &account.detail {
        Detail::ExperimentationAccount {
            subscription, seats, ..
        } => (subscription.clone(), Some(seats.contains(actor))),
        Detail::ModelManagementAccount { subscription, .. } => (subscription.clone(), None),
        _ => return Err(mismatch(account)),
    };
    Ok(SeatFacts {
        account: account.reference.clone(),
        subscription,
        seated,
    })
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
