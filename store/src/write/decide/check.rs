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
    mismatch_of(&entity.reference)
}

/// The refusal of a version an entity does not have.
pub(super) fn no_version<T>(kind: EntityKind, id: impl std::fmt::Display, version: u32) -> Result<T> {
    let kind = kind.label();
    reject(Rejection::invalid(
        &format!("{kind} version"),
        format!("{kind} {id} has no version {version}"),
    ))
}

pub(super) fn in_account(reference: &EntityRef, same: bool) -> Result<()> {
    if !same {
        return reject(Rejection::invalid(
            reference.kind.label(),
            format!("{reference} belongs to another account"),
        ));
    }
    Ok(())
}

pub(super) fn mismatch_of(reference: &EntityRef) -> crate::error::Error {
    crate::error::Error::Derived(format!("{reference} holds the wrong kind of detail"))
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
    pub(super) fn find(&self, kind: EntityKind, id: impl ToIdText) -> Result<Option<Entity>> {
        self.state.entity(&EntityRef::new(kind, id))
    }

    /// The entity, which must exist, not be deleted, and be visible to the actor.
    pub(super) fn live(&self, kind: EntityKind, id: impl ToIdText) -> Result<Entity> {
        let reference = EntityRef::new(kind, id);
        match self.state.entity(&reference)? {
            Some(entity) if !entity.deleted && self.visible(&entity)? => Ok(entity),
            _ => reject(Rejection::not_found(reference)),
        }
    }

    /// As [`Check::live`], handing `peek` the entity where it lies instead of a copy: the
    /// permission checks read a run's experiment, project, workspace and account for
    /// nearly every command, and need a field or two of each. `peek` must not read state.
    pub(super) fn live_peek<R>(
        &self,
        kind: EntityKind,
        id: impl ToIdText,
        peek: impl FnOnce(&Entity) -> R,
    ) -> Result<R> {
        let reference = EntityRef::new(kind, id);
        let mut peek = Some(peek);
        // A subscription is visible to its owner (the common case, looked at where it
        // lies); to anyone else as the whole entity judges, from a copy.
        if kind == EntityKind::Subscription {
            let mut answer = None;
            self.state.peek_entity(&reference, &mut |entity| {
                if let Some(entity) = entity.filter(|entity| {
                    !entity.deleted && matches!(&entity.detail, Detail::Subscription { owner } if owner == self.actor)
                }) {
                    answer = peek.take().map(|peek| peek(entity));
                }
            })?;
            if let Some(answer) = answer {
                return Ok(answer);
            }
            let peek = peek.take().expect("peek is called once");
            return self.live(kind, &reference.id).map(|entity| peek(&entity));
        }
        let mut seen = None;
        self.state.peek_entity(&reference, &mut |entity| {
            if let (Some(entity), Some(peek)) = (entity.filter(|entity| !entity.deleted), peek.take()) {
                seen = Some((entity.account.clone(), peek(entity)));
            }
        })?;
        match seen {
            Some((account, answer)) if self.visible_in(kind, account.as_ref())? => Ok(answer),
            _ => reject(Rejection::not_found(reference)),
        }
    }

    /// The entity, which must exist, be visible, and be deleted (to be restored).
    pub(super) fn deleted(&self, kind: EntityKind, id: impl ToIdText, action: &str) -> Result<Entity> {
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

    pub(super) fn absent(&self, kind: EntityKind, id: impl ToIdText) -> Result<()> {
        let reference = EntityRef::new(kind, id);
        let mut present = false;
        self.state
            .peek_entity(&reference, &mut |entity| present = entity.is_some())?;
        if present {
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

    /// The account a live, visible run is in, after checking the actor may act there;
    /// the run looked at where it lies.
    pub(super) fn run_account(&self, run: &RunId) -> Result<AccountId> {
        let parent = self.live_peek(EntityKind::Run, run, super::policy::parent_of)?;
        self.access_from(parent)
    }

    pub(super) fn run(&self, run: &RunId) -> Result<(Entity, AccountId)> {
        let entity = self.live(EntityKind::Run, run)?;
        let account = self.access_via(&entity)?;
        Ok((entity, account))
    }

    pub(super) fn same_account(&self, entity: &Entity, account: &AccountId) -> Result<()> {
        in_account(&entity.reference, entity.account.as_ref() == Some(account))
    }

    /// A live, visible entity of `kind` that must belong to `account`.
    fn live_in(&self, kind: EntityKind, id: impl ToIdText, account: &AccountId) -> Result<()> {
        let reference = EntityRef::new(kind, id);
        let same = self.live_peek(kind, &reference.id, |entity| entity.account.as_ref() == Some(account))?;
        in_account(&reference, same)
    }

    pub(super) fn compute_target(&self, target: &ComputeTargetId, account: &AccountId) -> Result<()> {
        self.live_in(EntityKind::ComputeTarget, target, account)
    }

    pub(super) fn datasets(&self, datasets: &[DatasetId], account: &AccountId) -> Result<()> {
        limit("datasets", datasets.len())?;
        for dataset in datasets {
            self.live_in(EntityKind::Dataset, dataset, account)?;
        }
        Ok(())
    }

    pub(super) fn model_version(&self, reference: &ModelVersionRef) -> Result<Entity> {
        let model = self.live(EntityKind::Model, &reference.model)?;
        let Detail::Model { versions, .. } = &model.detail else {
            return Err(mismatch(&model));
        };
        if !versions.iter().any(|version| version.version == reference.version) {
            return no_version(EntityKind::Model, &reference.model, reference.version);
        }
        Ok(model)
    }

    /// A model version that must exist and belong to `account`, looked at where the
    /// model lies (refused as [`Check::model_version`] and then [`Check::same_account`]
    /// would refuse it).
    pub(super) fn model_version_in(&self, reference: &ModelVersionRef, account: &AccountId) -> Result<()> {
        let (has_version, same) =
            self.live_peek(EntityKind::Model, &reference.model, |model| match &model.detail {
                Detail::Model { versions, .. } => Ok((
                    versions.iter().any(|version| version.version == reference.version),
                    model.account.as_ref() == Some(account),
                )),
                _ => Err(mismatch(model)),
            })??;
        if !has_version {
            return no_version(EntityKind::Model, &reference.model, reference.version);
        }
        in_account(&EntityRef::new(EntityKind::Model, &reference.model), same)
    }

    pub(super) fn image_version_built(&self, reference: &ImageVersionRef, account: &AccountId) -> Result<()> {
        let image = EntityRef::new(EntityKind::Image, &reference.image);
        let (same, status) = self.live_peek(EntityKind::Image, &reference.image, |entity| match &entity.detail {
            Detail::Image { versions } => Ok((
                entity.account.as_ref() == Some(account),
                versions
                    .iter()
                    .find(|version| version.version == reference.version)
                    .map(|version| version.status.clone()),
            )),
            _ => Err(mismatch(entity)),
        })??;
        in_account(&image, same)?;
        match status {
            None => no_version(EntityKind::Image, &reference.image, reference.version),
            Some(BuildStatus::Succeeded { .. }) => Ok(()),
            Some(BuildStatus::Building) => reject(Rejection::transition(
                image,
                format!("version {} is still building", reference.version),
                "deploy it",
            )),
            Some(BuildStatus::Failed { .. }) => reject(Rejection::transition(
                image,
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

/// Params with keys, within the limits, none changing one already logged (`held`).
pub(super) fn immutable_params(
    params: &[Param],
    held: &std::collections::BTreeMap<String, String>,
    owner: &str,
) -> Result<()> {
    limit("params", params.len())?;
    for param in params {
        nonempty("param key", &param.key)?;
        text("param value", &param.value)?;
        if let Some(logged) = held.get(&param.key).filter(|logged| **logged != param.value) {
            return reject(Rejection::invalid(
                "param",
                format!(
                    "param `{}` of {owner} is already `{logged}`; params cannot change",
                    param.key
                ),
            ));
        }
    }
    Ok(())
}
