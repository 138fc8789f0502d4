//! The query root: entities by id and by scope with cursor pagination and filters, the
//! lineage graph (`lineage`, `trace`, `impact`), and the log (`history`, `events`, proofs,
//! the audit trail and bills) — one part per file, merged into one root.

mod entities;
mod lineage;
mod log;

use super::error::{from_store, invalid, not_found};
use super::graph::{self, AsOfInput, Direction, ImpactResult, LineageGraph, TraceResult};
use super::references::ExperimentObject;
use super::types::{EntityObject, EventObject, ModelObject, RunObject, RunStatus, ServiceObject, ServiceState};
use super::{page_size, parse_node, parse_ref, store, view, within_deadline};
use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, ID};
use lineage_schema::entity::{Detail, Entity};
use lineage_schema::lineage::{NodeKind, NodeRef};
use lineage_schema::{AccountId, EntityKind, EntityRef, ServiceId, Timestamp};
use lineage_store::lineage::Walk;
use lineage_store::EventFilter;

/// Reads: entities by id and scope, the lineage graph, and the log with its proofs,
/// audit trail and bills.
#[derive(async_graphql::MergedObject, Default, Debug)]
pub struct Query(entities::EntityQueries, lineage::LineageQueries, log::LogQueries);

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

    fn into_items(self) -> Vec<T> {
        self.items.into_iter().map(|(_, item)| item).collect()
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
        .map(|entity| (entity.reference.id.to_string(), entity))
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

/// Runs in order of a metric's latest value (runs without it last).
#[derive(InputObject, Clone, Debug)]
pub(super) struct MetricOrder {
    pub metric: String,
    /// Highest first (default: lowest first).
    #[graphql(default)]
    pub descending: bool,
}

/// `runs` in `order`, with cursors that keep it (their rank, zero-padded).
fn by_metric(runs: Vec<Entity>, order: &MetricOrder) -> Vec<(String, Entity)> {
    let value = |entity: &Entity| match &entity.detail {
        Detail::Run(run) => run.latest_metrics.get(&order.metric).map(|point| point.value),
        _ => None,
    };
    let mut runs: Vec<(Option<f64>, Entity)> = runs.into_iter().map(|run| (value(&run), run)).collect();
    runs.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) if order.descending => b.total_cmp(a),
        (Some(a), Some(b)) => a.total_cmp(b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    runs.into_iter()
        .enumerate()
        .map(|(rank, (_, run))| (format!("{rank:010}"), run))
        .collect()
}

/// Refuses a param or metric name that no run in `runs` has: a typo answers with an
/// error, not an empty list.
fn known_name(runs: &[Entity], what: &str, name: &str) -> async_graphql::Result<()> {
    let has = |entity: &Entity| match &entity.detail {
        Detail::Run(run) if what == "param" => run.params.contains_key(name),
        Detail::Run(run) => run.latest_metrics.contains_key(name),
        _ => false,
    };
    if runs.iter().any(has) {
        return Ok(());
    }
    Err(invalid(format!("no run here has a {what} named `{name}`")))
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
        return Err(invalid(format!(
            "`{id}` names a {}, not the {kind} asked for: give the bare id or `{kind}/…`",
            reference.kind.label(),
            kind = kind.label()
        )));
    }
    view(ctx)?.entity(&reference).map_err(from_store)
}

/// Visible children of a visible parent.
fn visible_children(ctx: &Context<'_>, parent: &EntityRef, kind: EntityKind) -> async_graphql::Result<Vec<Entity>> {
    view(ctx)?.children(parent, kind).map_err(from_store)
}
