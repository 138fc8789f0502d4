//! Rules for principals, subscriptions, accounts, seats, roles and tokens.

use super::check::*;
use super::policy::{is_administrator, roles_of};
use crate::error::Result;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `RegisterPrincipal`.
pub(super) fn register_principal(check: &Check<'_>, e: PrincipalRegistered) -> Result<Decided> {
    let actor_scope = EntityRef::new(K::Principal, check.actor);
    let registering_self = e.principal == *check.actor;
    // A principal registering itself is the store's bootstrap (the first
    // administrator); no request can do it, as requests come from registered principals.
    if !registering_self && !is_administrator(check, check.actor)? && !owns_a_subscription(check)? {
        return reject(Rejection::NotPermitted {
            principal: check.actor.to_string(),
            action: "register principals (administrators and subscription owners may)".into(),
        });
    }
    check.absent(K::Principal, &e.principal)?;
    check.unique_name(Some(&actor_scope), K::Principal, e.name.as_str())?;
    text("email", &e.email)?;
    Ok((e.into(), None))
}

/// `CreateSubscription`.
pub(super) fn create_subscription(check: &Check<'_>, e: SubscriptionCreated) -> Result<Decided> {
    let actor_scope = EntityRef::new(K::Principal, check.actor);
    check.absent(K::Subscription, &e.subscription)?;
    check.unique_name(Some(&actor_scope), K::Subscription, e.name.as_str())?;
    Ok((e.into(), None))
}

/// `CreateExperimentationAccount`.
pub(super) fn create_experimentation_account(check: &Check<'_>, e: ExperimentationAccountCreated) -> Result<Decided> {
    check.account_absent(&e.account)?;
    check.require_owner(&e.subscription, "create accounts")?;
    check.unique_name(
        Some(&EntityRef::new(K::Subscription, &e.subscription)),
        K::ExperimentationAccount,
        e.name.as_str(),
    )?;
    text("region", &e.region)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `CreateModelManagementAccount`.
pub(super) fn create_model_management_account(check: &Check<'_>, e: ModelManagementAccountCreated) -> Result<Decided> {
    check.account_absent(&e.account)?;
    check.require_owner(&e.subscription, "create accounts")?;
    check.unique_name(
        Some(&EntityRef::new(K::Subscription, &e.subscription)),
        K::ModelManagementAccount,
        e.name.as_str(),
    )?;
    plan(&e.plan)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `ChangeModelManagementPlan`.
pub(super) fn change_model_management_plan(check: &Check<'_>, e: ModelManagementPlanChanged) -> Result<Decided> {
    let entity = check.live(K::ModelManagementAccount, &e.account)?;
    let Detail::ModelManagementAccount { subscription, .. } = &entity.detail else {
        return Err(mismatch(&entity));
    };
    check.require_owner(subscription, "change plans")?;
    plan(&e.plan)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `AssignSeat`.
pub(super) fn assign_seat(check: &Check<'_>, e: SeatAssigned) -> Result<Decided> {
    let (entity, holds) = seat_holder(check, &e.account, &e.principal)?;
    if holds {
        return reject(Rejection::transition(
            entity.reference,
            format!("already seating {}", e.principal),
            "assign the seat again",
        ));
    }
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `RevokeSeat`.
pub(super) fn revoke_seat(check: &Check<'_>, e: SeatRevoked) -> Result<Decided> {
    let (entity, holds) = seat_holder(check, &e.account, &e.principal)?;
    if !holds {
        return reject(Rejection::transition(
            entity.reference,
            format!("not seating {}", e.principal),
            "revoke the seat",
        ));
    }
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `GrantRole`.
pub(super) fn grant_role(check: &Check<'_>, e: RoleGranted) -> Result<Decided> {
    let held = role_checks(check, &e.principal, &e.account)?;
    if held.contains(&e.role) {
        return reject(Rejection::transition(
            EntityRef::new(K::Principal, &e.principal),
            format!("already {:?} in {}", e.role, e.account),
            "grant the role again",
        ));
    }
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `RevokeRole`.
pub(super) fn revoke_role(check: &Check<'_>, e: RoleRevoked) -> Result<Decided> {
    let held = role_checks(check, &e.principal, &e.account)?;
    if !held.contains(&e.role) {
        return reject(Rejection::transition(
            EntityRef::new(K::Principal, &e.principal),
            format!("not {:?} in {}", e.role, e.account),
            "revoke the role",
        ));
    }
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// The account's entity, whichever kind it is.
fn any_account(check: &Check<'_>, account: &AccountId) -> Result<Entity> {
    match check.live(EntityKind::ExperimentationAccount, account) {
        Ok(entity) => Ok(entity),
        Err(_) => check.live(EntityKind::ModelManagementAccount, account),
    }
}

fn subscription_of(account: &Entity) -> Result<&SubscriptionId> {
    match &account.detail {
        Detail::ExperimentationAccount { subscription, .. } | Detail::ModelManagementAccount { subscription, .. } => {
            Ok(subscription)
        }
        _ => Err(mismatch(account)),
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
        || &check.owner_of(subscription_of(&account_entity)?)? == check.actor
        || roles_of(actor.as_ref(), account).contains(&Role::Owner);
    if !allowed {
        return reject(Rejection::NotPermitted {
            principal: check.actor.to_string(),
            action: format!("grant or revoke roles in {account}"),
        });
    }
    Ok(roles_of(Some(&target), account))
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

/// `IssueToken`: a principal's own, or any as an administrator.
pub(super) fn issue_token(check: &Check<'_>, e: TokenIssued) -> Result<Decided> {
    self_or_administrator(check, &e.principal, "issue tokens")?;
    check.live(K::Principal, &e.principal)?;
    if check.state.token_id_taken(&e.token)? {
        return reject(Rejection::AlreadyExists {
            entity: EntityRef::new(K::Principal, format!("{}#{}", e.principal, e.token)),
        });
    }
    if check.state.token_secret_taken(&e.hash)? {
        return reject(Rejection::invalid("token", "a token with this secret already exists"));
    }
    text("label", &e.label)?;
    Ok((e.into(), None))
}

/// `RevokeToken`: a principal's own, or any as an administrator.
pub(super) fn revoke_token(check: &Check<'_>, e: TokenRevoked) -> Result<Decided> {
    self_or_administrator(check, &e.principal, "revoke tokens")?;
    let principal = check.live(K::Principal, &e.principal)?;
    let Detail::Principal { tokens, .. } = &principal.detail else {
        return Err(mismatch(&principal));
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
    Ok((e.into(), None))
}

/// Whether `principal` is an auditor of the whole store.
fn is_store_auditor(check: &Check<'_>, principal: &PrincipalId) -> Result<bool> {
    Ok(matches!(
        check.find(K::Principal, principal)?.map(|entity| entity.detail),
        Some(Detail::Principal {
            store_auditor: true,
            ..
        })
    ))
}

/// `DesignateStoreAuditor` and `DismissStoreAuditor`: by an administrator, of a principal
/// that is (or is not) one yet. Permission comes first, so a refusal does not tell whether
/// the principal exists.
fn change_store_auditor(check: &Check<'_>, principal: &PrincipalId, held: bool) -> Result<()> {
    if !is_administrator(check, check.actor)? {
        return Err(Rejection::NotPermitted {
            principal: check.actor.to_string(),
            action: format!(
                "{} {principal} as an auditor of the whole store",
                if held { "designate" } else { "dismiss" }
            ),
        }
        .into());
    }
    let entity = check.live(K::Principal, principal)?;
    if is_store_auditor(check, principal)? == held {
        let (state, verb) = if held {
            ("already an auditor of the whole store", "designate it again")
        } else {
            ("not an auditor of the whole store", "dismiss it")
        };
        return Err(Rejection::transition(entity.reference, state, verb).into());
    }
    Ok(())
}

pub(super) fn designate_store_auditor(check: &Check<'_>, e: StoreAuditorDesignated) -> Result<Decided> {
    change_store_auditor(check, &e.principal, true)?;
    Ok((e.into(), None))
}

pub(super) fn dismiss_store_auditor(check: &Check<'_>, e: StoreAuditorDismissed) -> Result<Decided> {
    change_store_auditor(check, &e.principal, false)?;
    Ok((e.into(), None))
}

/// `DesignateAdministrator`: by an administrator; the first designates itself.
pub(super) fn designate_administrator(check: &Check<'_>, e: AdministratorDesignated) -> Result<Decided> {
    let any = check.state.has_administrator()?;
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
    Ok((e.into(), None))
}

fn seat_holder(check: &Check<'_>, account: &AccountId, principal: &PrincipalId) -> Result<(Entity, bool)> {
    let entity = check.live(EntityKind::ExperimentationAccount, account)?;
    let Detail::ExperimentationAccount {
        subscription, seats, ..
    } = &entity.detail
    else {
        return Err(mismatch(&entity));
    };
    check.require_owner(subscription, "assign or revoke seats")?;
    check.live(EntityKind::Principal, principal)?;
    let holds = seats.contains(principal);
    Ok((entity, holds))
}

/// Whether the actor owns any subscription (and so may register principals to seat).
fn owns_a_subscription(check: &Check<'_>) -> Result<bool> {
    check.state.owns_a_subscription(check.actor)
}
