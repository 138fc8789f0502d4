//! The state projection: the current state of every entity, names by scope, children by
//! parent (`c` parent + kind → a list of child ids, `derived::lists`), and seats by
//! subscription.

mod accounts;
mod datasets;
mod images;
mod logged_models;
mod models;
mod runs;
mod services;
mod workspaces;

use crate::derived::keys::{key, key_of, kind_part, text_part, with_key, Part};
use crate::derived::lists;
use crate::derived::overlay::{be_u64, TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;

pub(crate) const TREE: TreeId = 1;

const ENTITIES: u8 = b'e';

pub(crate) fn entity_key(reference: &EntityRef) -> Vec<u8> {
    key_of(Some(ENTITIES), &[Part::Entity(reference)])
}

/// Calls `look` with [`entity_key`], built without allocating (see [`with_key`]).
fn with_entity_key<R>(reference: &EntityRef, look: impl FnOnce(&[u8]) -> R) -> R {
    with_key(Some(ENTITIES), &[Part::Entity(reference)], look)
}

pub(crate) fn kind_prefix(kind: EntityKind) -> Vec<u8> {
    key(ENTITIES, &[&kind_part(kind)])
}

/// The scope names are unique in: `None` is the root. Principals and subscriptions are
/// unique within the principal that registered or created them, so a name taken
/// elsewhere tells nothing.
pub(crate) fn name_key(scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Vec<u8> {
    let scope = scope.map_or(Part::Bytes(&[]), Part::Entity);
    key_of(Some(b'n'), &[scope, Part::Bytes(&kind_part(kind)), Part::Text(name)])
}

pub(crate) fn children_prefix(parent: &EntityRef, kind: EntityKind) -> Vec<u8> {
    key_of(Some(b'c'), &[Part::Entity(parent), Part::Bytes(&kind_part(kind))])
}

pub(crate) fn subscription_seats_key(subscription: &SubscriptionId, principal: &PrincipalId) -> Vec<u8> {
    key(
        b's',
        &[&text_part(subscription.as_str()), &text_part(principal.as_str())],
    )
}

/// The name an entity is unique under in its scope (datasets are unique per version).
pub(crate) fn scoped_name(name: &str, dataset_version: Option<&str>) -> String {
    match dataset_version {
        Some(version) => format!("{name}@{version}"),
        None => name.to_string(),
    }
}

/// Finds a token's principal by the hash of its secret (present only while the token is live).
pub(crate) fn token_hash_key(hash: &Digest) -> Vec<u8> {
    key(b'h', &[&hash.0])
}

/// A token id, to keep ids unique and find the principal of a token.
pub(crate) fn token_key(token: &TokenId) -> Vec<u8> {
    key(b'k', &[&text_part(token.as_str())])
}

/// A token id → the key of its hash entry, to remove it on revocation.
fn token_secret_key(token: &TokenId) -> Vec<u8> {
    key(b'r', &[&text_part(token.as_str())])
}

/// A seat a principal holds, by principal (for its access).
pub(crate) fn principal_seat_key(principal: &PrincipalId, account: &AccountId) -> Vec<u8> {
    key(b'S', &[&text_part(principal.as_str()), &text_part(account.as_str())])
}

/// A subscription a principal owns, by principal (for its access).
pub(crate) fn owned_subscription_key(principal: &PrincipalId, subscription: &SubscriptionId) -> Vec<u8> {
    key(
        b'O',
        &[&text_part(principal.as_str()), &text_part(subscription.as_str())],
    )
}

/// The keys of the subscriptions a principal owns.
pub(crate) fn owned_subscriptions_prefix(principal: &PrincipalId) -> Vec<u8> {
    key(b'O', &[&text_part(principal.as_str())])
}

/// How many administrators there are.
pub(crate) const ADMINISTRATORS_KEY: &[u8] = b"A";

pub(crate) fn load(overlay: &Overlay, reference: &EntityRef) -> Result<Option<Entity>> {
    with_entity_key(reference, |key| overlay.get_value(TREE, key))
}

/// An entity as readers see it (flushed and layered changes, not a writer's pending ones).
pub(crate) fn entity(view: &Trees, reference: &EntityRef) -> Result<Option<Entity>> {
    view.get_value(TREE, &entity_key(reference))
}

/// The entities of one kind directly inside `parent`, as readers see them, by id.
pub(crate) fn children(view: &Trees, parent: &EntityRef, kind: EntityKind) -> Result<Vec<Entity>> {
    let mut ids = lists::items(view, TREE, &children_prefix(parent, kind))?;
    ids.sort_unstable();
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let id = String::from_utf8(id).map_err(|_| Error::Derived("undecodable child id".into()))?;
        if let Some(entity) = entity(view, &EntityRef::new(kind, id))? {
            found.push(entity);
        }
    }
    Ok(found)
}

/// What the rules ask of current state — and nothing else: the command handler and the
/// single-account access rule read through it, the writer answers from its view with
/// pending changes included.
pub(crate) trait StateRead {
    fn entity(&self, reference: &EntityRef) -> Result<Option<Entity>>;
    /// Hands `look` the entity where it lies, not a copy. `look` must not read state.
    fn peek_entity(&self, reference: &EntityRef, look: &mut dyn FnMut(Option<&Entity>)) -> Result<()>;
    /// Whether a `kind` named `name` already exists in `scope`.
    fn name_taken(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<bool>;
    /// How many events the stream holds (0: it does not exist).
    fn stream_version(&self, stream: &EntityRef) -> Result<u64>;
    /// How many seats `principal` holds in the subscription's experimentation accounts.
    fn seats_in_subscription(&self, subscription: &SubscriptionId, principal: &PrincipalId) -> Result<u64>;
    fn token_id_taken(&self, token: &TokenId) -> Result<bool>;
    fn token_secret_taken(&self, hash: &Digest) -> Result<bool>;
    fn has_administrator(&self) -> Result<bool>;
    fn owns_a_subscription(&self, principal: &PrincipalId) -> Result<bool>;
}

impl StateRead for Overlay {
    fn entity(&self, reference: &EntityRef) -> Result<Option<Entity>> {
        load(self, reference)
    }

    fn peek_entity(&self, reference: &EntityRef, look: &mut dyn FnMut(Option<&Entity>)) -> Result<()> {
        with_entity_key(reference, |key| {
            self.inspect(TREE, key, |entity: Option<&Entity>| look(entity))
        })
    }

    fn name_taken(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<bool> {
        self.contains(TREE, &name_key(scope, kind, name))
    }

    fn stream_version(&self, stream: &EntityRef) -> Result<u64> {
        crate::projections::index::stream_version(self, stream)
    }

    fn seats_in_subscription(&self, subscription: &SubscriptionId, principal: &PrincipalId) -> Result<u64> {
        Ok(self
            .get(TREE, &subscription_seats_key(subscription, principal))?
            .map(|bytes| be_u64(&bytes))
            .unwrap_or(0))
    }

    fn token_id_taken(&self, token: &TokenId) -> Result<bool> {
        self.contains(TREE, &token_key(token))
    }

    fn token_secret_taken(&self, hash: &Digest) -> Result<bool> {
        self.contains(TREE, &token_hash_key(hash))
    }

    fn has_administrator(&self) -> Result<bool> {
        self.contains(TREE, ADMINISTRATORS_KEY)
    }

    fn owns_a_subscription(&self, principal: &PrincipalId) -> Result<bool> {
        self.any_with_prefix(TREE, &owned_subscriptions_prefix(principal))
    }
}

fn load_existing(overlay: &Overlay, reference: &EntityRef) -> Result<Entity> {
    load(overlay, reference)?.ok_or_else(|| Error::Derived(format!("{reference} missing from state")))
}

fn mismatch(entity: &Entity) -> Error {
    Error::Derived(format!("{} holds the wrong kind of detail", entity.reference))
}

struct New {
    name: String,
    scoped_name: Option<String>,
    parent: Option<EntityRef>,
    detail: Detail,
}

fn create(overlay: &mut Overlay, envelope: &Envelope, new: New) -> Result<()> {
    let stamp = stamp(envelope);
    let reference = envelope.stream.clone();
    if let Some(parent) = &new.parent {
        // An entity is created once, so it joins its parent's list once.
        lists::push(
            overlay,
            TREE,
            children_prefix(parent, reference.kind),
            reference.id.as_bytes(),
        )?;
    }
    let scoped = new.scoped_name.unwrap_or_else(|| new.name.clone());
    let scope = name_scope(reference.kind, new.parent.as_ref(), &envelope.actor);
    overlay.insert(
        TREE,
        name_key(scope.as_ref(), reference.kind, &scoped),
        reference.id.as_bytes().to_vec(),
    );
    let entity = Entity {
        reference,
        name: new.name,
        parent: new.parent,
        account: envelope.account.clone(),
        version: envelope.version,
        created: stamp.clone(),
        updated: stamp,
        deleted: false,
        detail: new.detail,
    };
    overlay.put_value(TREE, entity_key(&entity.reference), entity);
    Ok(())
}

/// Names are unique in their parent's scope; principals and subscriptions, which have no
/// parent, in that of the principal that made them.
fn name_scope(kind: EntityKind, parent: Option<&EntityRef>, creator: &PrincipalId) -> Option<EntityRef> {
    match kind {
        EntityKind::Principal | EntityKind::Subscription => Some(EntityRef::new(EntityKind::Principal, creator)),
        _ => parent.cloned(),
    }
}

fn stamp(envelope: &Envelope) -> Stamp {
    Stamp {
        seq: envelope.seq,
        at: envelope.recorded_at,
        actor: envelope.actor.clone(),
    }
}

/// Loads the event's entity, lets `change` edit it, and stores it with its new version.
fn update(overlay: &mut Overlay, envelope: &Envelope, change: impl FnOnce(&mut Entity) -> Result<()>) -> Result<()> {
    let found = with_entity_key(&envelope.stream, |key| {
        overlay.update_value(TREE, key, |entity: &mut Entity| {
            change(entity)?;
            entity.version = envelope.version;
            entity.updated = stamp(envelope);
            Ok(())
        })
    })?;
    found.ok_or_else(|| Error::Derived(format!("{} missing from state", envelope.stream)))
}

/// Gives the event's entity a new name in its scope, freeing the old one.
fn rename(overlay: &mut Overlay, envelope: &Envelope, name: &str) -> Result<()> {
    let entity = load_existing(overlay, &envelope.stream)?;
    let scope = name_scope(entity.reference.kind, entity.parent.as_ref(), &entity.created.actor);
    overlay.remove(TREE, name_key(scope.as_ref(), entity.reference.kind, &entity.name));
    overlay.insert(
        TREE,
        name_key(scope.as_ref(), entity.reference.kind, name),
        entity.reference.id.as_bytes().to_vec(),
    );
    update(overlay, envelope, |entity| {
        entity.name = name.to_string();
        Ok(())
    })
}

/// Marks the event's entity deleted and frees its name for reuse.
fn delete(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    let entity = load_existing(overlay, &envelope.stream)?;
    let scope = name_scope(entity.reference.kind, entity.parent.as_ref(), &entity.created.actor);
    overlay.remove(TREE, name_key(scope.as_ref(), entity.reference.kind, &entity.name));
    update(overlay, envelope, |entity| {
        entity.deleted = true;
        Ok(())
    })
}

fn run_detail(entity: &mut Entity) -> Result<&mut RunDetail> {
    let mismatch = mismatch(entity);
    match &mut entity.detail {
        Detail::Run(run) => Ok(run),
        _ => Err(mismatch),
    }
}

fn service_detail(entity: &mut Entity) -> Result<&mut ServiceDetail> {
    let mismatch = mismatch(entity);
    match &mut entity.detail {
        Detail::Service(service) => Ok(service),
        _ => Err(mismatch),
    }
}

fn tags_into(target: &mut std::collections::BTreeMap<String, String>, tags: &[Tag]) {
    for tag in tags {
        target.insert(tag.key.clone(), tag.value.clone());
    }
}

fn change_seats(overlay: &mut Overlay, envelope: &Envelope, principal: &PrincipalId, assign: bool) -> Result<()> {
    let account = load_existing(overlay, &envelope.stream)?;
    let Detail::ExperimentationAccount { subscription, .. } = &account.detail else {
        return Err(mismatch(&account));
    };
    let key = subscription_seats_key(subscription, principal);
    let held = overlay.get(TREE, &key)?.map(|bytes| be_u64(&bytes)).unwrap_or(0);
    let held = if assign { held + 1 } else { held.saturating_sub(1) };
    if held == 0 {
        overlay.remove(TREE, key);
    } else {
        overlay.insert(TREE, key, held.to_be_bytes().to_vec());
    }
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::ExperimentationAccount { seats, .. } => {
            if assign {
                seats.insert(principal.clone());
            } else {
                seats.remove(principal);
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}

fn new_run(event: &RunStarted, queued: Option<&RunQueued>, at: Timestamp) -> RunDetail {
    RunDetail {
        experiment: event.experiment.clone(),
        status: RunStatus::Running,
        compute_target: event.compute_target.clone(),
        revision: Some(event.revision.clone()),
        parent: event.parent.clone(),
        params: Default::default(),
        latest_metrics: Default::default(),
        metric_points: 0,
        tags: Default::default(),
        artifacts: Vec::new(),
        inputs: Default::default(),
        input_tags: Default::default(),
        outputs: Default::default(),
        queued_at: queued.map(|_| at),
        started_at: Some(at),
        finished_at: None,
        failure_reason: None,
        logged_models: Default::default(),
        models_logged: 0,
    }
}

fn experiment_ref(experiment: &ExperimentId) -> EntityRef {
    EntityRef::new(EntityKind::Experiment, experiment)
}

/// Folds one event into the state.
pub(crate) fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    match &envelope.event {
        Event::PrincipalRegistered(e) => accounts::principal_registered(overlay, envelope, e)?,
        Event::SubscriptionCreated(e) => accounts::subscription_created(overlay, envelope, e)?,
        Event::ExperimentationAccountCreated(e) => accounts::experimentation_account_created(overlay, envelope, e)?,
        Event::SeatAssigned(e) => accounts::seat_assigned(overlay, envelope, e)?,
        Event::SeatRevoked(e) => accounts::seat_revoked(overlay, envelope, e)?,
        Event::ModelManagementAccountCreated(e) => accounts::model_management_account_created(overlay, envelope, e)?,
        Event::ModelManagementPlanChanged(e) => accounts::model_management_plan_changed(overlay, envelope, e)?,
        Event::WorkspaceCreated(e) => workspaces::workspace_created(overlay, envelope, e)?,
        Event::WorkspaceAccessGranted(e) => workspaces::workspace_access_granted(overlay, envelope, e)?,
        Event::WorkspaceAccessRevoked(e) => workspaces::workspace_access_revoked(overlay, envelope, e)?,
        Event::ProjectCreated(e) => workspaces::project_created(overlay, envelope, e)?,
        Event::ExperimentCreated(e) => workspaces::experiment_created(overlay, envelope, e)?,
        Event::ExperimentRevised(e) => workspaces::experiment_revised(overlay, envelope, e)?,
        Event::ComputeTargetAttached(e) => workspaces::compute_target_attached(overlay, envelope, e)?,
        Event::ComputeTargetDetached(_) => delete(overlay, envelope)?,
        Event::DatasetRegistered(e) => datasets::dataset_registered(overlay, envelope, e)?,
        Event::RunQueued(e) => runs::run_queued(overlay, envelope, e)?,
        Event::RunStarted(e) => runs::run_started(overlay, envelope, e)?,
        Event::ParamsLogged(e) => runs::params_logged(overlay, envelope, e)?,
        Event::MetricsLogged(e) => runs::metrics_logged(overlay, envelope, e)?,
        Event::RunTagsSet(e) => runs::run_tags_set(overlay, envelope, e)?,
        Event::ArtifactsRecorded(e) => runs::artifacts_recorded(overlay, envelope, e)?,
        Event::RunInputsRecorded(e) => runs::run_inputs_recorded(overlay, envelope, e)?,
        Event::RunOutputsRecorded(e) => runs::run_outputs_recorded(overlay, envelope, e)?,
        Event::RunCompleted(_) => finish_run(overlay, envelope, RunStatus::Completed, None)?,
        Event::RunFailed(e) => runs::run_failed(overlay, envelope, e)?,
        Event::RunCanceled(_) => finish_run(overlay, envelope, RunStatus::Canceled, None)?,
        Event::ModelCreated(e) => models::model_created(overlay, envelope, e)?,
        Event::ModelVersionRegistered(e) => models::model_version_registered(overlay, envelope, e)?,
        Event::ModelVersionTagsSet(e) => models::model_version_tags_set(overlay, envelope, e)?,
        Event::ManifestCreated(e) => images::manifest_created(overlay, envelope, e)?,
        Event::ManifestVersionAdded(e) => images::manifest_version_added(overlay, envelope, e)?,
        Event::ImageCreated(e) => images::image_created(overlay, envelope, e)?,
        Event::ImageBuildStarted(e) => images::image_build_started(overlay, envelope, e)?,
        Event::ImageBuilt(e) => images::image_built(overlay, envelope, e)?,
        Event::ImageBuildFailed(e) => images::image_build_failed(overlay, envelope, e)?,
        Event::EnvironmentCreated(e) => services::environment_created(overlay, envelope, e)?,
        Event::EnvironmentDeleted(_) => delete(overlay, envelope)?,
        Event::ServiceDeployed(e) => services::service_deployed(overlay, envelope, e)?,
        Event::ServiceUpdated(e) => services::service_updated(overlay, envelope, e)?,
        Event::ServiceScaled(e) => services::service_scaled(overlay, envelope, e)?,
        Event::ServiceDeleted(_) => delete(overlay, envelope)?,
        Event::ServiceMetricRecorded(e) => services::service_metric_recorded(overlay, envelope, e)?,
        Event::DriftAlertRaised(e) => services::drift_alert_raised(overlay, envelope, e)?,
        Event::TokenIssued(e) => accounts::token_issued(overlay, envelope, e)?,
        Event::TokenRevoked(e) => accounts::token_revoked(overlay, envelope, e)?,
        Event::RoleGranted(e) => accounts::role_granted(overlay, envelope, e)?,
        Event::RoleRevoked(e) => accounts::role_revoked(overlay, envelope, e)?,
        Event::AdministratorDesignated(_) => accounts::administrator_designated(overlay, envelope)?,
        Event::StoreAuditorDesignated(_) => accounts::store_auditor_changed(overlay, envelope, true)?,
        Event::StoreAuditorDismissed(_) => accounts::store_auditor_changed(overlay, envelope, false)?,
        Event::ExperimentTagsSet(e) => workspaces::experiment_tags_set(overlay, envelope, e)?,
        // Experiments and runs keep their names while deleted (a restore needs them).
        Event::ExperimentDeleted(_) | Event::RunDeleted(_) => mark_deleted(overlay, envelope, true)?,
        Event::ExperimentRestored(_) | Event::RunRestored(_) => mark_deleted(overlay, envelope, false)?,
        Event::ModelTagsSet(e) => models::model_tags_set(overlay, envelope, e)?,
        Event::ModelAliasSet(e) => models::model_alias_set(overlay, envelope, e)?,
        Event::ModelAliasRemoved(e) => models::model_alias_removed(overlay, envelope, e)?,
        Event::DatasetSchemaRecorded(e) => datasets::dataset_schema_recorded(overlay, envelope, e)?,
        Event::ExperimentRenamed(e) => rename(overlay, envelope, e.name.as_str())?,
        Event::RunTagDeleted(e) => runs::run_tag_deleted(overlay, envelope, e)?,
        Event::ArtifactsDeleted(e) => runs::artifacts_deleted(overlay, envelope, e)?,
        Event::ModelRenamed(e) => rename(overlay, envelope, e.name.as_str())?,
        Event::ModelDescribed(e) => models::model_described(overlay, envelope, e)?,
        Event::ModelTagDeleted(e) => models::model_tag_deleted(overlay, envelope, e)?,
        Event::ModelVersionTagDeleted(e) => models::model_version_tag_deleted(overlay, envelope, e)?,
        Event::ModelLogged(e) => logged_models::model_logged(overlay, envelope, e)?,
        Event::LoggedModelFinalized(e) => logged_models::finalized(overlay, envelope, e)?,
        Event::LoggedModelTagsSet(e) => logged_models::tags_set(overlay, envelope, e)?,
        Event::LoggedModelTagDeleted(e) => logged_models::tag_deleted(overlay, envelope, e)?,
        Event::LoggedModelParamsLogged(e) => logged_models::params_logged(overlay, envelope, e)?,
        Event::ModelOutputRecorded(e) => logged_models::output_recorded(overlay, envelope, e)?,
        Event::LoggedModelDeleted(e) => logged_models::deleted(overlay, envelope, e)?,
        Event::ModelDeleted(_) => delete(overlay, envelope)?,
        Event::ModelVersionDeleted(e) => models::model_version_deleted(overlay, envelope, e)?,
        Event::ModelVersionDescribed(e) => models::model_version_described(overlay, envelope, e)?,
        Event::RunInputTagged(e) => runs::run_input_tagged(overlay, envelope, e)?,
    }
    Ok(())
}

fn mark_deleted(overlay: &mut Overlay, envelope: &Envelope, deleted: bool) -> Result<()> {
    update(overlay, envelope, |entity| {
        entity.deleted = deleted;
        Ok(())
    })
}

fn finish_run(overlay: &mut Overlay, envelope: &Envelope, status: RunStatus, reason: Option<String>) -> Result<()> {
    let at = envelope.effective_time();
    update(overlay, envelope, |entity| {
        let run = run_detail(entity)?;
        run.status = status;
        run.finished_at = Some(at);
        run.failure_reason = reason;
        Ok(())
    })
}

fn set_build_status(overlay: &mut Overlay, envelope: &Envelope, number: u32, status: BuildStatus) -> Result<()> {
    update(overlay, envelope, |entity| match &mut entity.detail {
        Detail::Image { versions } => {
            if let Some(version) = versions.iter_mut().find(|version| version.version == number) {
                version.status = status;
            }
            Ok(())
        }
        _ => Err(mismatch(entity)),
    })
}
