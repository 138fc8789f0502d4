//! The query root: entities by id and by scope with cursor pagination and filters, the
//! lineage graph (`lineage`, `trace`, `impact`), and the log (`history`, `events`).

use super::error::{from_store, invalid, not_found};
use super::graph::{self, AsOfInput, Direction, ImpactResult, LineageGraph, TraceResult};
use super::types::{EntityObject, EventObject, ModelObject, RunObject, RunStatus, ServiceObject, ServiceState};
use super::{page_size, parse_kind, parse_node, parse_ref, store, view, within_deadline};
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, ID};
use lineage_schema::entity::{Detail, Entity};
use lineage_schema::lineage::{NodeKind, NodeRef};
use lineage_schema::{AccountId, EntityKind, EntityRef, ServiceId, Timestamp};
use lineage_store::lineage::Walk;
use lineage_store::EventFilter;

#[derive(Debug)]
pub struct Query;

type Page<T> = Connection<String, T, EmptyFields, EmptyFields>;

/// A page before it becomes a GraphQL connection.
struct Slice<T> {
    items: Vec<(String, T)>,
    has_previous: bool,
    has_next: bool,
}

impl<T> Slice<T> {
    /// The items after `after` (already in cursor order), at most `first`.
    fn of(items: Vec<(String, T)>, after: Option<String>, first: usize) -> Self {
        let start = match &after {
            Some(after) => items
                .iter()
                .position(|(cursor, _)| cursor > after)
                .unwrap_or(items.len()),
            None => 0,
        };
        let has_next = items.len() > start + first;
        let items = items.into_iter().skip(start).take(first).collect();
        Slice {
            items,
            has_previous: start > 0 || after.is_some(),
            has_next,
        }
    }

    fn into_page<U: async_graphql::OutputType>(self, map: impl Fn(T) -> U) -> Page<U> {
        let mut connection = Connection::new(self.has_previous, self.has_next);
        connection.edges.extend(
            self.items
                .into_iter()
                .map(|(cursor, item)| Edge::new(cursor, map(item))),
        );
        connection
    }
}

fn by_id(entities: Vec<Entity>) -> Vec<(String, Entity)> {
    entities
        .into_iter()
        .map(|entity| (entity.reference.id.clone(), entity))
        .collect()
}

/// Entities of one kind, in id order, that pass `keep`: read in chunks so a page stops
/// reading once it is full.
fn scan(
    ctx: &Context<'_>,
    kind: EntityKind,
    after: Option<String>,
    first: usize,
    keep: impl Fn(&Entity) -> bool,
) -> async_graphql::Result<Slice<Entity>> {
    let view = view(ctx)?;
    let mut found = Vec::new();
    let mut position = after.clone();
    loop {
        within_deadline(ctx)?;
        let chunk = view.entities(kind, position.as_deref(), 1000).map_err(from_store)?;
        let Some(last) = chunk.last else { break };
        position = Some(last);
        found.extend(chunk.visible.into_iter().filter(|entity| keep(entity)));
        if found.len() > first || chunk.ended {
            break;
        }
    }
    let mut slice = Slice::of(by_id(found), None, first);
    slice.has_previous = after.is_some();
    Ok(slice)
}

/// A key that must have a value.
#[derive(InputObject, Clone, Debug)]
pub(super) struct KeyValueFilter {
    pub key: String,
    pub value: String,
}

/// A metric whose latest value lies in a range.
#[derive(InputObject, Clone, Debug)]
pub(super) struct MetricFilter {
    pub name: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// An optional `account` argument, checked.
fn account_arg(account: Option<String>) -> async_graphql::Result<Option<AccountId>> {
    account
        .map(AccountId::new)
        .transpose()
        .map_err(|rejection| invalid(rejection.to_string()))
}

fn time(field: &str, text: Option<String>) -> async_graphql::Result<Option<Timestamp>> {
    text.map(|text| {
        Timestamp::parse(&text).ok_or_else(|| invalid(format!("`{field}` `{text}` is not an RFC 3339 time")))
    })
    .transpose()
}

fn typed(ctx: &Context<'_>, kind: EntityKind, id: &str) -> async_graphql::Result<Option<Entity>> {
    let reference = if id.contains('/') {
        parse_ref(id)?
    } else {
        EntityRef::new(kind, id)
    };
    if reference.kind != kind {
        return Err(invalid(format!("`{id}` is not a {}", kind.label())));
    }
    view(ctx)?.entity(&reference).map_err(from_store)
}

/// Visible children of a visible parent.
fn visible_children(ctx: &Context<'_>, parent: &EntityRef, kind: EntityKind) -> async_graphql::Result<Vec<Entity>> {
    view(ctx)?.children(parent, kind).map_err(from_store)
}

#[Object]
impl Query {
    /// Any entity by its global id (`kind/id`).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<EntityObject>> {
        within_deadline(ctx)?;
        let reference = parse_ref(&id)?;
        Ok(view(ctx)?.entity(&reference).map_err(from_store)?.map(EntityObject))
    }

    /// Entities of one kind, in id order; with `parent`, only those directly inside it.
    async fn entities(
        &self,
        ctx: &Context<'_>,
        kind: String,
        parent: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EntityObject>> {
        within_deadline(ctx)?;
        let kind = parse_kind(&kind)?;
        let first = page_size(ctx, first)?;
        let entities = match parent {
            Some(parent) => {
                let parent = parse_ref(&parent)?;
                Slice::of(by_id(visible_children(ctx, &parent, kind)?), after, first)
            }
            None => scan(ctx, kind, after, first, |_| true)?,
        };
        Ok(entities.into_page(EntityObject))
    }

    /// One run by id (`r-1` or `run/r-1`).
    async fn run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<RunObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Run, &id)?.map(RunObject))
    }

    /// Runs, filtered: by experiment, status, start time, a param's value, a metric's
    /// latest value.
    // Each argument is one of the field's filters, as GraphQL clients name them.
    #[allow(clippy::too_many_arguments)]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        experiment: Option<ID>,
        status: Option<RunStatus>,
        started_after: Option<String>,
        started_before: Option<String>,
        param: Option<KeyValueFilter>,
        metric: Option<MetricFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<RunObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let (from, until) = (
            time("startedAfter", started_after)?,
            time("startedBefore", started_before)?,
        );
        let keep = |entity: &Entity| {
            let Detail::Run(run) = &entity.detail else { return false };
            status.is_none_or(|status| RunStatus::from(run.status) == status)
                && from.is_none_or(|from| run.started_at.is_some_and(|at| at >= from))
                && until.is_none_or(|until| run.started_at.is_some_and(|at| at < until))
                && param
                    .as_ref()
                    .is_none_or(|param| run.params.get(&param.key) == Some(&param.value))
                && metric.as_ref().is_none_or(|metric| {
                    run.latest_metrics.get(&metric.name).is_some_and(|point| {
                        metric.min.is_none_or(|min| point.value >= min)
                            && metric.max.is_none_or(|max| point.value <= max)
                    })
                })
        };
        let runs = match experiment {
            Some(experiment) => {
                let experiment = if experiment.contains('/') {
                    parse_ref(&experiment)?
                } else {
                    EntityRef::new(EntityKind::Experiment, experiment.as_str())
                };
                let runs = visible_children(ctx, &experiment, EntityKind::Run)?;
                Slice::of(by_id(runs.into_iter().filter(keep).collect()), after, first)
            }
            None => scan(ctx, EntityKind::Run, after, first, keep)?,
        };
        Ok(runs.into_page(RunObject))
    }

    async fn model(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ModelObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Model, &id)?.map(ModelObject))
    }

    /// Models, filtered by account, name and a tag on any of their versions.
    async fn models(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        name: Option<String>,
        tag: Option<KeyValueFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<ModelObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let account = account_arg(account)?;
        let keep = |entity: &Entity| {
            let Detail::Model { versions, .. } = &entity.detail else {
                return false;
            };
            account
                .as_ref()
                .is_none_or(|account| entity.account.as_ref() == Some(account))
                && name.as_ref().is_none_or(|name| &entity.name == name)
                && tag.as_ref().is_none_or(|tag| {
                    versions
                        .iter()
                        .any(|version| version.tags.get(&tag.key) == Some(&tag.value))
                })
        };
        Ok(scan(ctx, EntityKind::Model, after, first, keep)?.into_page(ModelObject))
    }

    async fn service(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ServiceObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Service, &id)?.map(ServiceObject))
    }

    /// Services, filtered by account, environment and state.
    async fn services(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        environment: Option<ID>,
        state: Option<ServiceState>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<ServiceObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let account = account_arg(account)?;
        let environment = environment.map(|environment| environment.trim_start_matches("environment/").to_string());
        let keep = |entity: &Entity| {
            let Detail::Service(service) = &entity.detail else {
                return false;
            };
            account
                .as_ref()
                .is_none_or(|account| entity.account.as_ref() == Some(account))
                && environment
                    .as_ref()
                    .is_none_or(|environment| service.environment.as_str() == environment)
                && state.is_none_or(|state| (state == ServiceState::Deleted) == entity.deleted)
        };
        Ok(scan(ctx, EntityKind::Service, after, first, keep)?.into_page(ServiceObject))
    }

    /// A walk of the lineage graph from `id` (`kind/id`, or `kind/id@version` for model,
    /// manifest and image versions). `edgeKinds` and `nodeKinds` limit what the walk may
    /// follow and reach; `asOf` looks at the graph as it was.
    // Each argument is one of the walk's GraphQL arguments.
    #[allow(clippy::too_many_arguments)]
    async fn lineage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default_with = "Direction::Upstream")] direction: Direction,
        #[graphql(default = 8)] depth: u32,
        edge_kinds: Option<Vec<graph::EdgeKind>>,
        node_kinds: Option<Vec<String>>,
        as_of: Option<AsOfInput>,
        #[graphql(default = 1000)] max_nodes: u32,
    ) -> async_graphql::Result<LineageGraph> {
        within_deadline(ctx)?;
        let mut walk = Walk::new(parse_node(&id)?, direction.into());
        if depth as usize > lineage_store::lineage::MAX_DEPTH as usize {
            return Err(super::error::coded(
                "LIMIT_EXCEEDED",
                format!("depth is {depth}; at most {}", lineage_store::lineage::MAX_DEPTH),
            ));
        }
        if max_nodes as usize > lineage_store::lineage::MAX_NODES {
            return Err(super::error::coded(
                "LIMIT_EXCEEDED",
                format!("maxNodes is {max_nodes}; at most {}", lineage_store::lineage::MAX_NODES),
            ));
        }
        walk.max_depth = depth;
        walk.max_nodes = max_nodes as usize;
        walk.as_of = graph::as_of(as_of)?;
        walk.edge_kinds = edge_kinds.map(|kinds| kinds.into_iter().map(Into::into).collect());
        walk.node_kinds = node_kinds
            .map(|kinds| {
                kinds
                    .iter()
                    .map(|kind| graph::node_kind(kind))
                    .collect::<async_graphql::Result<_>>()
            })
            .transpose()?;
        let found = view(ctx)?.walk(&walk).map_err(from_store)?;
        let nodes = found.nodes.iter().map(Into::into).collect();
        let edges = found.edges.iter().map(Into::into).collect();
        Ok(LineageGraph {
            nodes,
            edges,
            truncated: found.truncated,
        })
    }

    /// The chain behind a service: image → manifest → model versions (and what they were
    /// retrained from) → runs → experiment at its revision, datasets, compute target.
    async fn trace(
        &self,
        ctx: &Context<'_>,
        service: ID,
        as_of: Option<AsOfInput>,
    ) -> async_graphql::Result<TraceResult> {
        within_deadline(ctx)?;
        let id = service.trim_start_matches("service/");
        let service = ServiceId::new(id).map_err(|rejection| invalid(rejection.to_string()))?;
        let trace = view(ctx)?.trace(&service, graph::as_of(as_of)?).map_err(from_store)?;
        Ok((&trace).into())
    }

    /// Every model version, image version and service downstream of a dataset, run or
    /// model version.
    async fn impact(&self, ctx: &Context<'_>, id: ID, as_of: Option<AsOfInput>) -> async_graphql::Result<ImpactResult> {
        within_deadline(ctx)?;
        let start: NodeRef = parse_node(&id)?;
        let found = view(ctx)?.impact(&start, graph::as_of(as_of)?).map_err(from_store)?;
        let of_kind = |kind: NodeKind| {
            found
                .nodes
                .iter()
                .filter(|found| found.node.kind() == kind && found.node != start)
                .map(|found| ID(found.node.to_string()))
                .collect()
        };
        Ok(ImpactResult {
            model_versions: of_kind(NodeKind::ModelVersion),
            image_versions: of_kind(NodeKind::ImageVersion),
            services: of_kind(NodeKind::Entity(EntityKind::Service)),
        })
    }

    /// The events of one entity, oldest first; the cursor is the stream version.
    async fn history(
        &self,
        ctx: &Context<'_>,
        id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let stream = parse_ref(&id)?;
        let from = match &after {
            Some(after) => {
                after
                    .parse::<u64>()
                    .map_err(|_| invalid(format!("cursor `{after}` is not a history cursor")))?
                    + 1
            }
            None => 1,
        };
        let events = view(ctx)?.history_page(&stream, from, first + 1).map_err(from_store)?;
        let has_next = events.len() > first;
        let mut connection = Connection::new(from > 1, has_next);
        connection.edges.extend(
            events
                .into_iter()
                .take(first)
                .map(|event| Edge::new(format!("{:020}", event.version), EventObject(event))),
        );
        Ok(connection)
    }

    /// The raw feed: events after a position, optionally of one account, entity kind or stream.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0)] after: u64,
        account: Option<String>,
        kind: Option<String>,
        stream: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let kind = kind.map(|kind| parse_kind(&kind)).transpose()?;
        let filter = EventFilter {
            account: account_arg(account)?,
            stream: stream.map(|stream| parse_ref(&stream)).transpose()?,
        };
        let view = view(ctx)?;
        let mut found = Vec::new();
        let mut position = after;
        // Kinds are filtered here; read on until the page is full or the log ends.
        loop {
            within_deadline(ctx)?;
            let chunk = view.events(position, first + 1, &filter).map_err(from_store)?;
            let Some(last) = chunk.last else { break };
            position = last;
            found.extend(
                chunk
                    .visible
                    .into_iter()
                    .filter(|event| kind.is_none_or(|kind| event.stream.kind == kind)),
            );
            if found.len() > first {
                break;
            }
        }
        let has_next = found.len() > first;
        let mut connection = Connection::new(after > 0, has_next);
        connection.edges.extend(
            found
                .into_iter()
                .take(first)
                .map(|event| Edge::new(event.seq.to_string(), EventObject(event))),
        );
        Ok(connection)
    }

    /// A checkpoint of the log as it stands, signed with the store's key.
    async fn checkpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<graph::CheckpointInfo> {
        within_deadline(ctx)?;
        let checkpoint = store(ctx).checkpoint().map_err(from_store)?;
        Ok((&checkpoint).into())
    }

    /// Proof that event `seq` is in the tree of `treeSize` events (default: the whole log).
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        seq: u64,
        tree_size: Option<u64>,
    ) -> async_graphql::Result<graph::InclusionProof> {
        within_deadline(ctx)?;
        let store = store(ctx);
        let size = tree_size.unwrap_or_else(|| store.head().seq);
        let path = store.inclusion_proof(seq, size).map_err(from_store)?;
        let event = view(ctx)?
            .event(seq)
            .map_err(from_store)?
            .ok_or_else(|| not_found(format!("event {seq}")))?;
        Ok(graph::InclusionProof {
            seq,
            tree_size: size,
            event_hash: event.hash.to_hex(),
            root: store.merkle_root(size).map_err(from_store)?.to_hex(),
            path: path.iter().map(|digest| digest.to_hex()).collect(),
        })
    }

    /// Proof that the tree of `from` events is a prefix of the tree of `to` events
    /// (default: the whole log).
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        from: u64,
        to: Option<u64>,
    ) -> async_graphql::Result<graph::ConsistencyProof> {
        within_deadline(ctx)?;
        let store = store(ctx);
        let to = to.unwrap_or_else(|| store.head().seq);
        let path = store.consistency_proof(from, to).map_err(from_store)?;
        Ok(graph::ConsistencyProof {
            from,
            to,
            from_root: store.merkle_root(from).map_err(from_store)?.to_hex(),
            to_root: store.merkle_root(to).map_err(from_store)?.to_hex(),
            path: path.iter().map(|digest| digest.to_hex()).collect(),
        })
    }

    /// The audit trail: who did what, when, to which entity, with each event's position
    /// and hash; every given filter must match. The cursor is the log position.
    // Each argument is one of the audit trail's GraphQL filters.
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        actor: Option<String>,
        entity: Option<ID>,
        kind: Option<String>,
        r#type: Option<String>,
        from: Option<String>,
        to: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let filter = crate::export::filter(
            account.as_deref(),
            actor.as_deref(),
            entity.as_ref().map(|id| id.as_str()),
            kind.as_deref(),
            r#type.as_deref(),
            from.as_deref(),
            to.as_deref(),
        )
        .map_err(|error| invalid(format!("{error:#}")))?;
        let after_seq = match &after {
            Some(cursor) => cursor
                .parse::<u64>()
                .map_err(|_| invalid(format!("cursor `{cursor}` is not an audit cursor")))?,
            None => 0,
        };
        // Read on until the page is full of entries this viewer may audit.
        let view = view(ctx)?;
        let mut events = Vec::new();
        let mut position = after_seq;
        loop {
            within_deadline(ctx)?;
            let chunk = view.audit(&filter, position, first + 1).map_err(from_store)?;
            let Some(last) = chunk.last else { break };
            position = last;
            events.extend(chunk.visible);
            if events.len() > first {
                break;
            }
        }
        let has_next = events.len() > first;
        events.truncate(first);
        let mut connection = Connection::new(after_seq > 0, has_next);
        connection.edges.extend(
            events
                .into_iter()
                .map(|event| Edge::new(event.seq.to_string(), EventObject(event))),
        );
        Ok(connection)
    }

    /// One entity's whole story, oldest first: the audit trail of `entity`.
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        entity: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        self.audit(ctx, None, None, Some(entity), None, None, None, None, first, after)
            .await
    }

    /// An account's bill for a month (`2026-03`): lines with quantities, unit prices and
    /// amounts in minor units, each with the events behind it, and who held a seat when.
    /// For owners, auditors and billing readers of the account, and its subscription's owner.
    async fn bill(&self, ctx: &Context<'_>, account: String, month: String) -> async_graphql::Result<graph::BillInfo> {
        within_deadline(ctx)?;
        let account = lineage_schema::AccountId::new(account).map_err(|rejection| invalid(rejection.to_string()))?;
        let month = lineage_store::billing::Month::parse(&month)
            .ok_or_else(|| invalid(format!("`{month}` is not a month like 2026-03")))?;
        let bill = view(ctx)?
            .bill(
                &account,
                month,
                ctx.data_unchecked::<lineage_store::billing::PriceBook>(),
            )
            .map_err(from_store)?;
        Ok((&bill).into())
    }

    /// The position of the last durable event.
    async fn head(&self, ctx: &Context<'_>) -> u64 {
        store(ctx).head().seq
    }
}
