//! Who may do what: the write side of the access policy, asked by every rule before it
//! decides. Read visibility — what a principal may know exists — is
//! `projections::access`, which `Check::visible` asks, so that a refusal never tells an
//! actor of an entity it could not read.

use super::check::{mismatch, reject, Check};
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
            // Principal ids are a directory shared by design (owners seat people by id).
            (_, EntityKind::Principal) => Ok(true),
            (Some(account), _) => self.sight.reads_account(self.state, self.actor, account),
            (None, EntityKind::Subscription) => access::sees_subscription(self.state, self.actor, entity),
            (None, _) => Ok(true),
        }
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
