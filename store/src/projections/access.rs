//! What a principal may read: the accounts where it holds a role or a seat, every
//! account of the subscriptions it owns (or of all, for an administrator), and the model
//! management accounts of subscriptions where it holds a seat.
//!
//! Two forms of one rule: [`of`], a principal's whole reach, kept per principal until an
//! event on a principal, subscription or account is appended (the writer bumps a
//! generation), for reads; and `reads_account`, one account at a time on the writer's
//! view, for decide, remembered between commands by the writer's `Sight`.

use crate::derived::keys::{key, text_part};
use crate::derived::overlay::Trees;
use crate::error::Result;
use crate::projections::state;
use crate::projections::state::StateRead;
use lineage_schema::entity::{Detail, Entity};
use lineage_schema::event::Role;
use lineage_schema::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// A principal's reach, computed once per request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub principal: Option<PrincipalId>,
    pub administrator: bool,
    /// May read what spans every account (the transparency log, the export).
    pub store_auditor: bool,
    pub roles: BTreeMap<AccountId, BTreeSet<Role>>,
    /// Accounts whose entities and events it may read.
    pub readable: BTreeSet<AccountId>,
    /// Subscriptions it may see (it owns them, or reads one of their accounts).
    pub subscriptions: BTreeSet<SubscriptionId>,
    /// Accounts of the subscriptions it owns.
    pub owned: BTreeSet<AccountId>,
}

impl Access {
    pub fn can_read_account(&self, account: &AccountId) -> bool {
        self.administrator || self.readable.contains(account)
    }

    /// Whether it may see this entity at all.
    pub fn can_read_entity(&self, entity: &Entity) -> bool {
        if self.administrator {
            return true;
        }
        match (&entity.account, entity.reference.kind) {
            (Some(account), _) => self.readable.contains(account),
            (None, EntityKind::Subscription) => self
                .subscriptions
                .iter()
                .any(|subscription| subscription.as_str() == entity.reference.id),
            (None, EntityKind::Principal) => self
                .principal
                .as_ref()
                .is_some_and(|principal| principal.as_str() == entity.reference.id),
            (None, _) => false,
        }
    }

    /// Whether it may see this event.
    pub fn can_read_event(&self, envelope: &Envelope) -> bool {
        if self.administrator {
            return true;
        }
        match (&envelope.account, envelope.stream.kind) {
            (Some(account), _) => self.readable.contains(account),
            (None, EntityKind::Subscription) => self
                .subscriptions
                .iter()
                .any(|subscription| subscription.as_str() == envelope.stream.id),
            (None, EntityKind::Principal) => self
                .principal
                .as_ref()
                .is_some_and(|principal| principal.as_str() == envelope.stream.id),
            (None, _) => false,
        }
    }

    /// Whether it holds one of `roles` in `account` (administrators hold every role).
    pub fn has_role(&self, account: &AccountId, roles: &[Role]) -> bool {
        self.administrator
            || self
                .roles
                .get(account)
                .is_some_and(|held| roles.iter().any(|role| held.contains(role)))
    }

    /// Whether it may read this event in the audit trail: an administrator, the owner of
    /// the account's subscription, or an owner or auditor of the account; and anyone, for
    /// events on its own principal.
    pub fn can_audit(&self, envelope: &Envelope) -> bool {
        match &envelope.account {
            Some(account) => {
                self.administrator
                    || self.owned.contains(account)
                    || self.has_role(account, &[Role::Owner, Role::Auditor])
            }
            None => self.can_read_event(envelope),
        }
    }
}

/// Whether an event can change anyone's access: only events on principals (roles,
/// administrators), subscriptions (owners) and accounts (creation, seats) feed [`of`].
pub fn may_change_access(envelope: &Envelope) -> bool {
    matches!(
        envelope.stream.kind,
        EntityKind::Principal
            | EntityKind::Subscription
            | EntityKind::ExperimentationAccount
            | EntityKind::ModelManagementAccount
    )
}

/// At most this many principals' access is kept; when full, the cache starts over.
const MAX_CACHED_PRINCIPALS: usize = 4096;

/// Access worked out earlier, valid while no event that may change it has been appended
/// (the writer bumps a generation after such events; entries of older ones are stale).
/// Working access out reads several state keys and ranges, on every request otherwise.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<(u64, HashMap<PrincipalId, Access>)>,
}

impl Cache {
    pub fn get(&self, principal: &PrincipalId, generation: u64) -> Option<Access> {
        let entries = self.entries.lock().expect("access cache lock");
        (entries.0 == generation)
            .then(|| entries.1.get(principal).cloned())
            .flatten()
    }

    /// Keeps `access`, worked out on a view at least as new as `generation`.
    pub fn put(&self, principal: &PrincipalId, generation: u64, access: &Access) {
        let mut entries = self.entries.lock().expect("access cache lock");
        if entries.0 != generation {
            if generation < entries.0 {
                return;
            }
            *entries = (generation, HashMap::new());
        }
        if entries.1.len() >= MAX_CACHED_PRINCIPALS {
            entries.1.clear();
        }
        entries.1.insert(principal.clone(), access.clone());
    }
}

fn ids_after(view: &Trees, table: u8, principal: &PrincipalId) -> Result<Vec<String>> {
    let prefix = key(table, &[&text_part(principal.as_str())]);
    Ok(view
        .range(state::TREE, &prefix, &prefix, usize::MAX)?
        .into_iter()
        .filter_map(|(key, _)| {
            let rest = &key[prefix.len()..];
            std::str::from_utf8(&rest[..rest.len().saturating_sub(1)])
                .ok()
                .map(str::to_string)
        })
        .collect())
}

fn accounts_of_subscription(view: &Trees, subscription: &SubscriptionId) -> Result<Vec<AccountId>> {
    let reference = EntityRef::new(EntityKind::Subscription, subscription);
    let mut accounts = Vec::new();
    for kind in [EntityKind::ExperimentationAccount, EntityKind::ModelManagementAccount] {
        for account in state::children(view, &reference, kind)? {
            accounts.push(AccountId::new(account.reference.id)?);
        }
    }
    Ok(accounts)
}

/// Works out a principal's access from the state projection.
pub fn of(view: &Trees, principal: &PrincipalId) -> Result<Access> {
    let mut access = Access {
        principal: Some(principal.clone()),
        ..Access::default()
    };
    if let Some(Detail::Principal {
        administrator,
        roles,
        store_auditor,
        ..
    }) = state::entity(view, &EntityRef::new(EntityKind::Principal, principal))?.map(|entity| entity.detail)
    {
        access.administrator = administrator;
        access.store_auditor = store_auditor;
        access.roles = roles;
    }
    let mut subscriptions: BTreeSet<SubscriptionId> = BTreeSet::new();
    for owned in ids_after(view, b'O', principal)? {
        let owned = SubscriptionId::new(owned)?;
        let accounts = accounts_of_subscription(view, &owned)?;
        access.owned.extend(accounts.iter().cloned());
        access.readable.extend(accounts);
        subscriptions.insert(owned);
    }
    // A billing reader sees the bill, not the account's work.
    let reading = access
        .roles
        .iter()
        .filter(|(_, held)| held.iter().any(|role| *role != Role::BillingReader));
    access
        .readable
        .extend(reading.map(|(account, _)| account.clone()).collect::<Vec<_>>());
    for seat in ids_after(view, b'S', principal)? {
        let account = AccountId::new(seat)?;
        if let Some(Detail::ExperimentationAccount { subscription, .. }) =
            state::entity(view, &EntityRef::new(EntityKind::ExperimentationAccount, &account))?
                .map(|entity| entity.detail)
        {
            // A seat in an experimentation account lets its holder use the subscription's
            // model management accounts too (as acting there already does).
            let reference = EntityRef::new(EntityKind::Subscription, &subscription);
            for mm in state::children(view, &reference, EntityKind::ModelManagementAccount)? {
                access.readable.insert(AccountId::new(mm.reference.id)?);
            }
        }
        access.readable.insert(account);
    }
    for account in access.readable.clone() {
        for kind in [EntityKind::ExperimentationAccount, EntityKind::ModelManagementAccount] {
            if let Some(entity) = state::entity(view, &EntityRef::new(kind, &account))? {
                if let Some(parent) = entity.parent {
                    subscriptions.insert(SubscriptionId::new(parent.id)?);
                }
            }
        }
    }
    access.subscriptions = subscriptions;
    Ok(access)
}

/// Whether `principal` may read `account`, judged on the writer's view (pending changes
/// included): the single-account form of the rule [`of`] works out for every account,
/// which decide asks of each entity a command names. A test checks the two agree.
pub(crate) fn reads_account(state: &dyn StateRead, principal: &PrincipalId, account: &AccountId) -> Result<bool> {
    if let Some(Detail::Principal {
        administrator, roles, ..
    }) = state
        .entity(&EntityRef::new(EntityKind::Principal, principal))?
        .map(|entity| entity.detail)
    {
        // A billing reader sees the bill, not the account's work.
        let reading = roles
            .get(account)
            .is_some_and(|held| held.iter().any(|role| *role != Role::BillingReader));
        if administrator || reading {
            return Ok(true);
        }
    }
    let experimentation = state.entity(&EntityRef::new(EntityKind::ExperimentationAccount, account))?;
    let entity = match experimentation {
        Some(entity) => Some(entity),
        None => state.entity(&EntityRef::new(EntityKind::ModelManagementAccount, account))?,
    };
    let (subscription, seated) = match entity.map(|entity| entity.detail) {
        Some(Detail::ExperimentationAccount {
            subscription, seats, ..
        }) => {
            let seated = seats.contains(principal);
            (subscription, seated)
        }
        Some(Detail::ModelManagementAccount { subscription, .. }) => {
            let seated = seated_in_subscription(state, &subscription, principal)?;
            (subscription, seated)
        }
        _ => return Ok(false),
    };
    Ok(seated || owner_of(state, &subscription)?.as_ref() == Some(principal))
}

/// Whether `principal` may see a subscription: it owns it, or reads one of its accounts.
pub(crate) fn sees_subscription(state: &dyn StateRead, principal: &PrincipalId, subscription: &Entity) -> Result<bool> {
    let id = SubscriptionId::new(subscription.reference.id.clone())?;
    if matches!(&subscription.detail, Detail::Subscription { owner } if owner == principal)
        || seated_in_subscription(state, &id, principal)?
    {
        return Ok(true);
    }
    let Some(Detail::Principal {
        administrator, roles, ..
    }) = state
        .entity(&EntityRef::new(EntityKind::Principal, principal))?
        .map(|entity| entity.detail)
    else {
        return Ok(false);
    };
    if administrator {
        return Ok(true);
    }
    for (account, held) in &roles {
        if !held.iter().any(|role| *role != Role::BillingReader) {
            continue;
        }
        for kind in [EntityKind::ExperimentationAccount, EntityKind::ModelManagementAccount] {
            if let Some(entity) = state.entity(&EntityRef::new(kind, account))? {
                if entity.parent.as_ref() == Some(&subscription.reference) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

fn seated_in_subscription(
    state: &dyn StateRead,
    subscription: &SubscriptionId,
    principal: &PrincipalId,
) -> Result<bool> {
    Ok(state.seats_in_subscription(subscription, principal)? > 0)
}

fn owner_of(state: &dyn StateRead, subscription: &SubscriptionId) -> Result<Option<PrincipalId>> {
    Ok(
        match state
            .entity(&EntityRef::new(EntityKind::Subscription, subscription))?
            .map(|entity| entity.detail)
        {
            Some(Detail::Subscription { owner }) => Some(owner),
            _ => None,
        },
    )
}

/// A map of [`Sight`]'s, hashed with foldhash.
type SightMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// At most this many (principal, account) judgements are kept by the writer.
const MAX_SIGHTS: usize = 65_536;

/// The writer's memory of which accounts which principals may read, so that deciding a
/// run's metrics does not load the principal, account and subscription again each time.
/// Only events on principals, subscriptions and accounts change the answer
/// ([`may_change_access`]); the writer forgets everything when it folds one in or rolls
/// a request back.
#[derive(Debug, Default)]
pub(crate) struct Sight {
    /// By principal, then account: looked up by reference, so a hit allocates nothing.
    /// Hashed with foldhash (seeded per map, as the overlay's maps are): asked for nearly
    /// every command, SipHash on two ids was a fortieth of the writer.
    known: RefCell<SightMap<PrincipalId, SightMap<AccountId, bool>>>,
    /// How many times it forgot: what it learnt since a count rests on no change older
    /// than that count.
    forgotten: std::cell::Cell<u64>,
}

impl Sight {
    /// Whether `principal` may read `account`, from memory or worked out on `overlay`.
    pub(crate) fn reads_account(
        &self,
        state: &dyn StateRead,
        principal: &PrincipalId,
        account: &AccountId,
    ) -> Result<bool> {
        if let Some(known) = self
            .known
            .borrow()
            .get(principal)
            .and_then(|accounts| accounts.get(account))
        {
            return Ok(*known);
        }
        let seen = reads_account(state, principal, account)?;
        let mut known = self.known.borrow_mut();
        if known.values().map(SightMap::len).sum::<usize>() >= MAX_SIGHTS {
            known.clear();
        }
        known
            .entry(principal.clone())
            .or_default()
            .insert(account.clone(), seen);
        Ok(seen)
    }

    pub(crate) fn forget(&self) {
        self.known.borrow_mut().clear();
        self.forgotten.set(self.forgotten.get() + 1);
    }

    /// A mark to compare with later: unchanged means nothing that can change access was
    /// folded in between.
    pub(crate) fn mark(&self) -> u64 {
        self.forgotten.get()
    }
}
