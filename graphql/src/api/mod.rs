//! The GraphQL API: queries, one mutation per command, and subscriptions over the live
//! feed. `build` assembles the schema with its limits.
//!
//! `query/` the reads (entities, lineage, log), each through the request's `View`;
//! `mutation` and `inputs`, generated from the schema crate's command list and payload
//! fields; `subscription` the live feed, judged by the subscriber's access at delivery;
//! `graph` and `types` the answers' shapes; `error` and `phases` every error's code;
//! `translate` a command as its mutation, for tests and benchmarks.

mod batch;
pub mod error;
mod graph;
mod inputs;
mod mutation;
mod phases;
mod query;
mod references;
mod subscription;
pub mod translate;
mod types;

use async_graphql::{Context, Schema};
use lineage_schema::lineage::NodeRef;
use lineage_schema::{EntityKind, EntityRef, PrincipalId};
use lineage_store::Store;
use std::sync::Arc;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::Subscription;

pub type LineageSchema = Schema<Query, Mutation, Subscription>;

/// Bounds on what one request may ask for.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// The most items one page may hold (`first`).
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 5000,
            max_page: 500,
        }
    }
}

/// The principal a request acts as: the owner of its bearer token, set per request by
/// the server, never taken from anything the client sends in the body.
#[derive(Clone, Debug)]
pub struct Acting(pub PrincipalId);

pub fn build(store: Arc<Store>, limits: Limits, prices: lineage_store::billing::PriceBook) -> LineageSchema {
    Schema::build(Query::default(), Mutation, Subscription)
        .data(store)
        .data(prices)
        .data(limits.clone())
        .extension(phases::PhaseCodes(limits.clone()))
        .finish()
}

/// The SDL of the schema, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation, Subscription).finish().sdl()
}

/// When the request must be done by; resolvers check it before and during long work,
/// because a resolver that never yields cannot be interrupted from outside.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(pub std::time::Instant);

fn within_deadline(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match ctx.data_opt::<Deadline>() {
        Some(Deadline(deadline)) if std::time::Instant::now() > *deadline => Err(error::coded(
            "LIMIT_EXCEEDED",
            "the request ran past its time limit and was stopped",
        )),
        _ => Ok(()),
    }
}

/// What the request's principal may read, worked out once per request.
#[derive(Clone, Debug)]
pub struct Viewer(pub lineage_store::access::Access);

fn viewer<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a lineage_store::access::Access> {
    ctx.data_opt::<Viewer>()
        .map(|viewer| &viewer.0)
        .ok_or_else(|| error::coded("UNAUTHENTICATED", "a valid bearer token is required"))
}

/// The store as the request's principal may read it: every entity, list, walk and log
/// read of a resolver goes through this, so none can forget the visibility check.
fn view<'a>(ctx: &Context<'a>) -> async_graphql::Result<lineage_store::View<'a>> {
    Ok(store(ctx).view(viewer(ctx)?))
}

fn acting<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a PrincipalId> {
    ctx.data_opt::<Acting>()
        .map(|acting| &acting.0)
        .ok_or_else(|| error::coded("UNAUTHENTICATED", "a valid bearer token is required"))
}

fn store<'a>(ctx: &Context<'a>) -> &'a Arc<Store> {
    ctx.data_unchecked::<Arc<Store>>()
}

/// An entity's kind, as arguments take it (`RUN`, `EXPERIMENTATION_ACCOUNT`); ids and the
/// `kind` fields of answers spell it as in global ids (`run`, `experimentation-account`).
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "EntityKind", remote = "lineage_schema::EntityKind")]
pub(crate) enum Kind {
    Principal,
    Subscription,
    ExperimentationAccount,
    ModelManagementAccount,
    Workspace,
    Project,
    Experiment,
    ComputeTarget,
    Run,
    Dataset,
    Model,
    Manifest,
    Image,
    Environment,
    Service,
}

fn parse_kind(text: &str) -> async_graphql::Result<EntityKind> {
    EntityKind::from_label(text).ok_or_else(|| {
        let known: Vec<&str> = EntityKind::ALL.iter().map(|kind| kind.label()).collect();
        error::invalid(format!("unknown kind `{text}`; one of {}", known.join(", ")))
    })
}

fn parse_ref(text: &str) -> async_graphql::Result<EntityRef> {
    EntityRef::parse(text).map_err(|rejection| error::invalid(rejection.to_string()))
}

fn parse_node(text: &str) -> async_graphql::Result<NodeRef> {
    NodeRef::parse(text).map_err(|rejection| error::invalid(rejection.to_string()))
}

/// The page size asked for, checked against the limit (default 50).
fn page_size(ctx: &Context<'_>, first: Option<i32>) -> async_graphql::Result<usize> {
    let limit = ctx.data_unchecked::<Limits>().max_page;
    match first {
        None => Ok(50.min(limit)),
        Some(first) if first < 0 => Err(error::invalid("`first` cannot be negative")),
        Some(first) if first as usize > limit => Err(error::coded(
            "LIMIT_EXCEEDED",
            format!("`first` is {first}; a page holds at most {limit} items"),
        )),
        Some(first) => Ok(first as usize),
    }
}

#[cfg(test)]
mod tests {
    /// The committed SDL is what the server serves; `UPDATE_SCHEMA=1` rewrites it.
    #[test]
    fn the_committed_sdl_matches_the_served_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        let served = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &served).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(committed == served, "graphql/schema.graphql differs from the served schema; review the change and run `UPDATE_SCHEMA=1 cargo test -p lineage-graphql`");
    }
}
