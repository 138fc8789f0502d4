//! The state projection: the current state of every entity, names by scope, children by
//! parent, and seats by subscription.

use crate::derived::keys::{entity_part, key, kind_part, text_part};
use crate::derived::overlay::{be_u64, Overlay, TreeId};
use crate::error::{Error, Result};
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;

pub(crate) const TREE: TreeId = 1;

pub(crate) fn entity_key(reference: &EntityRef) -> Vec<u8> {
    key(b'e', &[&entity_part(reference)])
}

pub(crate) fn kind_prefix(kind: EntityKind) -> Vec<u8> {
    key(b'e', &[&kind_part(kind)])
}

/// The scope names are unique in: `None` is the root. Principals and subscriptions are
/// unique within the principal that registered or created them, so a name taken
/// elsewhere tells nothing.
pub(crate) fn name_key(scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Vec<u8> {
    let scope = scope.map(entity_part).unwrap_or_default();
    key(b'n', &[&scope, &kind_part(kind), &text_part(name)])
}

pub(crate) fn children_prefix(parent: &EntityRef, kind: EntityKind) -> Vec<u8> {
    key(b'c', &[&entity_part(parent), &kind_part(kind)])
}

fn child_key(parent: &EntityRef, child: &EntityRef) -> Vec<u8> {
    key(b'c', &[&entity_part(parent), &entity_part(child)])
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
    overlay.get_value(TREE, &entity_key(reference))
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

fn create(overlay: &mut Overlay, envelope: &Envelope, new: New) {
    let stamp = stamp(envelope);
    let reference = envelope.stream.clone();
    if let Some(parent) = &new.parent {
        overlay.insert(TREE, child_key(parent, &reference), Vec::new());
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
    overlay.put_value(TREE, entity_key(&entity.reference), &entity);
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
    let mut entity = load_existing(overlay, &envelope.stream)?;
    change(&mut entity)?;
    entity.version = envelope.version;
    entity.updated = stamp(envelope);
    overlay.put_value(TREE, entity_key(&entity.reference), &entity);
    Ok(())
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
        outputs: Default::default(),
        queued_at: queued.map(|_| at),
        started_at: Some(at),
        finished_at: None,
        failure_reason: None,
    }
}

fn experiment_ref(experiment: &ExperimentId) -> EntityRef {
    EntityRef::new(EntityKind::Experiment, experiment)
}

/// Folds one event into the state.
pub(crate) fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    let at = envelope.effective_time();
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    match &envelope.event {
        Event::PrincipalRegistered(e) => create(
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
                },
            },
        ),
        Event::SubscriptionCreated(e) => {
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
            );
        }
        Event::ExperimentationAccountCreated(e) => create(
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
        ),
        Event::SeatAssigned(e) => {
            overlay.insert(TREE, principal_seat_key(&e.principal, &e.account), Vec::new());
            change_seats(overlay, envelope, &e.principal, true)?
        }
        Event::SeatRevoked(e) => {
            overlay.remove(TREE, principal_seat_key(&e.principal, &e.account));
            change_seats(overlay, envelope, &e.principal, false)?
        }
        Event::ModelManagementAccountCreated(e) => create(
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
        ),
        Event::ModelManagementPlanChanged(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::ModelManagementAccount { plan, .. } => {
                *plan = e.plan;
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::WorkspaceCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
                detail: Detail::Workspace {
                    description: e.description.clone(),
                    members: [envelope.actor.clone()].into(),
                },
            },
        ),
        Event::WorkspaceAccessGranted(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Workspace { members, .. } => {
                members.insert(e.principal.clone());
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::WorkspaceAccessRevoked(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Workspace { members, .. } => {
                members.remove(&e.principal);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ProjectCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(EntityRef::new(EntityKind::Workspace, &e.workspace)),
                detail: Detail::Project {
                    path: e.path.clone(),
                    repository: e.repository.clone(),
                },
            },
        ),
        Event::ExperimentCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(EntityRef::new(EntityKind::Project, &e.project)),
                detail: Detail::Experiment {
                    entry_point: e.entry_point.clone(),
                    language: e.language,
                    source_digest: e.source_digest,
                    tags: Default::default(),
                },
            },
        ),
        Event::ExperimentRevised(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Experiment {
                entry_point,
                source_digest,
                ..
            } => {
                *entry_point = e.entry_point.clone();
                *source_digest = e.source_digest;
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ComputeTargetAttached(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
                detail: Detail::ComputeTarget { kind: e.kind.clone() },
            },
        ),
        Event::ComputeTargetDetached(_) => delete(overlay, envelope)?,
        Event::DatasetRegistered(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: Some(scoped_name(e.name.as_str(), e.version.as_deref())),
                parent: Some(account_ref(EntityKind::ExperimentationAccount, &e.account)),
                detail: Detail::Dataset {
                    location: e.location.clone(),
                    version: e.version.clone(),
                    digest: e.digest.clone(),
                    schema: Vec::new(),
                },
            },
        ),
        Event::RunQueued(e) => {
            let started = RunStarted {
                run: e.run.clone(),
                experiment: e.experiment.clone(),
                compute_target: e.compute_target.clone(),
                revision: String::new(),
                parent: e.parent.clone(),
            };
            let mut detail = new_run(&started, Some(e), at);
            detail.status = RunStatus::Queued;
            detail.revision = None;
            detail.started_at = None;
            create(
                overlay,
                envelope,
                New {
                    name: e.run.to_string(),
                    scoped_name: None,
                    parent: Some(experiment_ref(&e.experiment)),
                    detail: Detail::Run(Box::new(detail)),
                },
            );
        }
        Event::RunStarted(e) => {
            if load(overlay, &envelope.stream)?.is_some() {
                update(overlay, envelope, |entity| {
                    let run = run_detail(entity)?;
                    run.status = RunStatus::Running;
                    run.revision = Some(e.revision.clone());
                    run.compute_target = e.compute_target.clone();
                    run.started_at = Some(at);
                    Ok(())
                })?;
            } else {
                create(
                    overlay,
                    envelope,
                    New {
                        name: e.run.to_string(),
                        scoped_name: None,
                        parent: Some(experiment_ref(&e.experiment)),
                        detail: Detail::Run(Box::new(new_run(e, None, at))),
                    },
                );
            }
        }
        Event::ParamsLogged(e) => update(overlay, envelope, |entity| {
            let run = run_detail(entity)?;
            for param in &e.params {
                run.params.insert(param.key.clone(), param.value.clone());
            }
            Ok(())
        })?,
        Event::MetricsLogged(e) => {
            // The full history stays in the log, read through the run's stream.
            update(overlay, envelope, |entity| {
                let run = run_detail(entity)?;
                run.metric_points += e.points.len() as u64;
                for point in &e.points {
                    let newer = run
                        .latest_metrics
                        .get(&point.name)
                        .is_none_or(|latest| (point.step, point.timestamp) >= (latest.step, latest.timestamp));
                    if newer {
                        run.latest_metrics.insert(point.name.clone(), point.clone());
                    }
                }
                Ok(())
            })?
        }
        Event::RunTagsSet(e) => update(overlay, envelope, |entity| {
            tags_into(&mut run_detail(entity)?.tags, &e.tags);
            Ok(())
        })?,
        Event::ArtifactsRecorded(e) => update(overlay, envelope, |entity| {
            let run = run_detail(entity)?;
            for artifact in &e.artifacts {
                run.artifacts.retain(|known| known.path != artifact.path);
                run.artifacts.push(artifact.clone());
            }
            Ok(())
        })?,
        Event::RunInputsRecorded(e) => update(overlay, envelope, |entity| {
            run_detail(entity)?.inputs.extend(e.datasets.iter().cloned());
            Ok(())
        })?,
        Event::RunOutputsRecorded(e) => update(overlay, envelope, |entity| {
            run_detail(entity)?.outputs.extend(e.datasets.iter().cloned());
            Ok(())
        })?,
        Event::RunCompleted(_) => finish_run(overlay, envelope, RunStatus::Completed, None)?,
        Event::RunFailed(e) => finish_run(overlay, envelope, RunStatus::Failed, Some(e.reason.clone()))?,
        Event::RunCanceled(_) => finish_run(overlay, envelope, RunStatus::Canceled, None)?,
        Event::ModelCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
                detail: Detail::Model {
                    description: e.description.clone(),
                    versions: Vec::new(),
                    tags: Default::default(),
                    aliases: Default::default(),
                },
            },
        ),
        Event::ModelVersionRegistered(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Model { versions, .. } => {
                versions.push(ModelVersion {
                    version: e.version,
                    source: e.source.clone(),
                    derived_from: e.derived_from.clone(),
                    tags: e.tags.iter().map(|tag| (tag.key.clone(), tag.value.clone())).collect(),
                    registered: stamp(envelope),
                });
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ModelVersionTagsSet(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Model { versions, .. } => {
                if let Some(version) = versions.iter_mut().find(|version| version.version == e.version) {
                    tags_into(&mut version.tags, &e.tags);
                }
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ManifestCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
                detail: Detail::Manifest { versions: Vec::new() },
            },
        ),
        Event::ManifestVersionAdded(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Manifest { versions } => {
                versions.push(ManifestVersion {
                    version: e.version,
                    models: e.models.clone(),
                    dependencies: e.dependencies.clone(),
                    scoring_script: e.scoring_script.clone(),
                    schema: e.schema.clone(),
                    sample_data: e.sample_data.clone(),
                    added: stamp(envelope),
                });
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ImageCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
                detail: Detail::Image { versions: Vec::new() },
            },
        ),
        Event::ImageBuildStarted(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Image { versions } => {
                versions.push(ImageVersion {
                    version: e.version,
                    manifest: e.manifest.clone(),
                    status: BuildStatus::Building,
                    started: stamp(envelope),
                });
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ImageBuilt(e) => set_build_status(
            overlay,
            envelope,
            e.version,
            BuildStatus::Succeeded {
                digest: e.digest.clone(),
            },
        )?,
        Event::ImageBuildFailed(e) => set_build_status(
            overlay,
            envelope,
            e.version,
            BuildStatus::Failed {
                reason: e.reason.clone(),
            },
        )?,
        Event::EnvironmentCreated(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
                detail: Detail::Environment { kind: e.kind.clone() },
            },
        ),
        Event::EnvironmentDeleted(_) => delete(overlay, envelope)?,
        Event::ServiceDeployed(e) => create(
            overlay,
            envelope,
            New {
                name: e.name.to_string(),
                scoped_name: None,
                parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
                detail: Detail::Service(Box::new(ServiceDetail {
                    image: e.image.clone(),
                    environment: e.environment.clone(),
                    url: e.url.clone(),
                    replicas: e.replicas,
                    signals: Default::default(),
                    drift_alerts: Vec::new(),
                })),
            },
        ),
        Event::ServiceUpdated(e) => update(overlay, envelope, |entity| {
            service_detail(entity)?.image = e.image.clone();
            Ok(())
        })?,
        Event::ServiceScaled(e) => update(overlay, envelope, |entity| {
            service_detail(entity)?.replicas = e.replicas;
            Ok(())
        })?,
        Event::ServiceDeleted(_) => delete(overlay, envelope)?,
        Event::ServiceMetricRecorded(e) => update(overlay, envelope, |entity| {
            service_detail(entity)?.signals.insert(e.name.clone(), e.value);
            Ok(())
        })?,
        Event::DriftAlertRaised(e) => update(overlay, envelope, |entity| {
            service_detail(entity)?.drift_alerts.push(e.clone());
            Ok(())
        })?,
        Event::TokenIssued(e) => {
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
            })?
        }
        Event::TokenRevoked(e) => {
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
            })?
        }
        Event::RoleGranted(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Principal { roles, .. } => {
                roles.entry(e.account.clone()).or_default().insert(e.role);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::RoleRevoked(e) => update(overlay, envelope, |entity| match &mut entity.detail {
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
        })?,
        Event::AdministratorDesignated(_) => {
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
            })?
        }
        Event::ExperimentTagsSet(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Experiment { tags, .. } => {
                tags_into(tags, &e.tags);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        // Experiments and runs keep their names while deleted (a restore needs them).
        Event::ExperimentDeleted(_) | Event::RunDeleted(_) => mark_deleted(overlay, envelope, true)?,
        Event::ExperimentRestored(_) | Event::RunRestored(_) => mark_deleted(overlay, envelope, false)?,
        Event::ModelTagsSet(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Model { tags, .. } => {
                tags_into(tags, &e.tags);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ModelAliasSet(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Model { aliases, .. } => {
                aliases.insert(e.alias.clone(), e.version);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::ModelAliasRemoved(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Model { aliases, .. } => {
                aliases.remove(&e.alias);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
        Event::DatasetSchemaRecorded(e) => update(overlay, envelope, |entity| match &mut entity.detail {
            Detail::Dataset { schema, .. } => {
                schema.clone_from(&e.fields);
                Ok(())
            }
            _ => Err(mismatch(entity)),
        })?,
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
