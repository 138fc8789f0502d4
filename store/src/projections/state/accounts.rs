//! The state of principals, subscriptions, accounts, seats, roles and tokens.

use super::*;

pub(super) fn principal_registered(overlay: &mut Overlay, envelope: &Envelope, e: &PrincipalRegistered) -> Result<()> {
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: None,
            detail: Detail::Principal {
                email: e.email.clone(),
                administrator: false,
                tokens: Vec::new(),
                roles: Default::default(),
                store_auditor: false,
            },
        },
    )?;
    Ok(())
}

pub(super) fn subscription_created(overlay: &mut Overlay, envelope: &Envelope, e: &SubscriptionCreated) -> Result<()> {
    overlay.insert(
        TREE,
        owned_subscription_key(&envelope.actor, &e.subscription),
        Vec::new(),
    );
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: None,
            detail: Detail::Subscription {
                owner: envelope.actor.clone(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn experimentation_account_created(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ExperimentationAccountCreated,
) -> Result<()> {
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(EntityRef::new(EntityKind::Subscription, &e.subscription)),
            detail: Detail::ExperimentationAccount {
                subscription: e.subscription.clone(),
                region: e.region.clone(),
                seats: Default::default(),
            },
        },
    )?;
    Ok(())
}

pub(super) fn seat_assigned(overlay: &mut Overlay, envelope: &Envelope, e: &SeatAssigned) -> Result<()> {
    overlay.insert(TREE, principal_seat_key(&e.principal, &e.account), Vec::new());
    change_seats(overlay, envelope, &e.principal, true)?;
    Ok(())
}

pub(super) fn seat_revoked(overlay: &mut Overlay, envelope: &Envelope, e: &SeatRevoked) -> Result<()> {
    overlay.remove(TREE, principal_seat_key(&e.principal, &e.account));
    change_seats(overlay, envelope, &e.principal, false)?;
    Ok(())
}

pub(super) fn model_management_account_created(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelManagementAccountCreated,
) -> Result<()> {
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(EntityRef::new(EntityKind::Subscription, &e.subscription)),
            detail: Detail::ModelManagementAccount {
                subscription: e.subscription.clone(),
                region: e.region.clone(),
                plan: e.plan,
            },
        },
    )?;
    Ok(())
}

pub(super) fn model_management_plan_changed(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ModelManagementPlanChanged,
) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::ModelManagementAccount { plan, .. } => {
            *plan = e.plan;
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn token_issued(overlay: &mut Overlay, envelope: &Envelope, e: &TokenIssued) -> Result<()> {
    let mut holder = e.token.as_str().as_bytes().to_vec();
    holder.push(0);
    holder.extend_from_slice(e.principal.as_str().as_bytes());
    overlay.insert(TREE, token_hash_key(&e.hash), holder);
    overlay.insert(TREE, token_key(&e.token), e.principal.as_str().as_bytes().to_vec());
    overlay.insert(TREE, token_secret_key(&e.token), token_hash_key(&e.hash));
    let issued = stamp(envelope);
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { tokens, .. } => {
            tokens.push(TokenInfo {
                token: e.token.clone(),
                label: e.label.clone(),
                issued,
                revoked: None,
            });
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn token_revoked(overlay: &mut Overlay, envelope: &Envelope, e: &TokenRevoked) -> Result<()> {
    // Revocation takes effect with this event: the hash no longer finds anyone.
    if let Some(hash_key) = overlay.get(TREE, &token_secret_key(&e.token))? {
        overlay.remove(TREE, hash_key);
    }
    let revoked = stamp(envelope);
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { tokens, .. } => {
            if let Some(token) = tokens.iter_mut().find(|token| token.token == e.token) {
                token.revoked = Some(revoked);
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn role_granted(overlay: &mut Overlay, envelope: &Envelope, e: &RoleGranted) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { roles, .. } => {
            roles.entry(e.account.clone()).or_default().insert(e.role);
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

pub(super) fn role_revoked(overlay: &mut Overlay, envelope: &Envelope, e: &RoleRevoked) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { roles, .. } => {
            if let Some(held) = roles.get_mut(&e.account) {
                held.remove(&e.role);
                if held.is_empty() {
                    roles.remove(&e.account);
                }
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })?;
    Ok(())
}

/// `StoreAuditorDesignated` (`held`) and `StoreAuditorDismissed`.
pub(super) fn store_auditor_changed(overlay: &mut Overlay, envelope: &Envelope, held: bool) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { store_auditor, .. } => {
            *store_auditor = held;
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

/// `AdministratorDesignated`: one more administrator, counted for the bootstrap rule.
pub(super) fn administrator_designated(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    let count = overlay
        .get(TREE, ADMINISTRATORS_KEY)?
        .map(|bytes| be_u64(&bytes))
        .unwrap_or(0);
    overlay.insert(TREE, ADMINISTRATORS_KEY.to_vec(), (count + 1).to_be_bytes().to_vec());
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Principal { administrator, .. } => {
            *administrator = true;
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}
