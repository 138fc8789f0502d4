//! The lineage projection and its traversals: a node for every entity and every model,
//! manifest and image version; typed edges with the spans they held; upstream, downstream
//! and both-ways walks with bounds and filters, now or as of any past point; `trace` from
//! a service back to its data, and `impact` of a dataset, run or model version.
//!
//! Keys: `n` node → its record: its first and deleting moments, its first
//! [`INLINE_EDGES`] edges each way and, for a service, the targets of its open `Runs`
//! and `DeployedTo` edges; `o` from + kind + to → an edge out of a node whose record is
//! full; `i` to → the edges into a node whose record is full, as a list of kind + from
//! (`derived::lists`: a hub gains one with nearly every chain, so they reach sled a chunk
//! at a time, not a key each).
//!
//! Most nodes have a few edges, and a node's record is read anyway, so keeping them in
//! it saves the flusher two sled keys and the writer a lookup per edge; a node with many
//! edges (an experiment every run executed) keeps the rest a key each, so no record grows
//! without bound.

use crate::derived::keys::{key, key_of, parse_entity_part, with_key, Part};
use crate::derived::lists;
use crate::derived::overlay::{decode, TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use lineage_schema::event::*;
use lineage_schema::lineage::*;
use lineage_schema::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet, VecDeque};

pub const TREE: TreeId = 2;
/// The table of node records.
const NODES: u8 = b'n';
/// The deepest walk allowed.
pub const MAX_DEPTH: u32 = 64;
/// The most nodes one walk may return.
pub const MAX_NODES: usize = 10_000;

/// When a node appeared and, if it did, when it was deleted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    pub created: Moment,
    pub deleted: Option<Moment>,
}

impl NodeInfo {
    pub fn exists_at(&self, point: Option<AsOf>) -> bool {
        match point {
            None => true,
            Some(point) => self.created.reached_by(point),
        }
    }
}

/// Edges each way a node's record holds; the rest have a key each.
const INLINE_EDGES: usize = 16;

/// What the tree keeps under a node's key.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct NodeRecord {
    info: NodeInfo,
    /// Its first edges out, in the order they were opened.
    out: Vec<OutEdge>,
    /// Its first edges in: their kind and the node they come from.
    incoming: Vec<(EdgeKind, NodeRef)>,
    /// A service's open `Runs` and `DeployedTo` edges: where each points now.
    current: Vec<(EdgeKind, NodeRef)>,
}

impl NodeRecord {
    fn new(created: Moment) -> Self {
        Self {
            info: NodeInfo { created, deleted: None },
            out: Vec::new(),
            incoming: Vec::new(),
            current: Vec::new(),
        }
    }

    fn current(&self, kind: EdgeKind) -> Option<&NodeRef> {
        self.current.iter().find(|(held, _)| *held == kind).map(|(_, to)| to)
    }

    fn out_edge(&self, kind: EdgeKind, to: &NodeRef) -> Option<&OutEdge> {
        self.out.iter().find(|edge| edge.kind == kind && edge.to == *to)
    }

    /// Whether edges out of it may also lie under `o` keys.
    fn out_overflows(&self) -> bool {
        self.out.len() >= INLINE_EDGES
    }

    /// Whether edges into it may also lie under `i` keys.
    fn incoming_overflows(&self) -> bool {
        self.incoming.len() >= INLINE_EDGES
    }
}

/// An edge kept in the record of the node it leaves.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct OutEdge {
    kind: EdgeKind,
    to: NodeRef,
    spans: Vec<Span>,
    revision: Option<String>,
}

impl OutEdge {
    fn leaving(self, from: &NodeRef) -> Edge {
        Edge {
            from: from.clone(),
            kind: self.kind,
            to: self.to,
            spans: self.spans,
            revision: self.revision,
        }
    }
}

fn node_part(node: &NodeRef) -> Vec<u8> {
    node_key_of(None, node)
}

/// A node's part after its entity's: 0, or 1 and the version; and its length.
fn version_part(node: &NodeRef) -> ([u8; 5], usize) {
    match node.version {
        Some(number) => {
            let mut part = [1, 0, 0, 0, 0];
            part[1..].copy_from_slice(&number.to_be_bytes());
            (part, 5)
        }
        None => ([0; 5], 1),
    }
}

/// A table letter (if any) and a node's part, in one allocation: the entity's part, then
/// 0, or 1 and the version.
fn node_key_of(table: Option<u8>, node: &NodeRef) -> Vec<u8> {
    let (version, len) = version_part(node);
    key_of(table, &[Part::Entity(&node.entity), Part::Bytes(&version[..len])])
}

fn parse_node_part(bytes: &[u8]) -> Option<(NodeRef, &[u8])> {
    let (entity, rest) = parse_entity_part(bytes)?;
    match rest.first()? {
        0 => Some((NodeRef::entity(entity), &rest[1..])),
        1 => {
            let version = u32::from_be_bytes(rest.get(1..5)?.try_into().ok()?);
            Some((
                NodeRef {
                    entity,
                    version: Some(version),
                },
                &rest[5..],
            ))
        }
        _ => None,
    }
}

fn node_key(node: &NodeRef) -> Vec<u8> {
    node_key_of(Some(NODES), node)
}

/// Calls `look` with [`node_key`], built without allocating (see [`with_key`]): every
/// event looks its stream's node up.
fn with_node_key<R>(node: &NodeRef, look: impl FnOnce(&[u8]) -> R) -> R {
    let (version, len) = version_part(node);
    with_key(
        Some(NODES),
        &[Part::Entity(&node.entity), Part::Bytes(&version[..len])],
        look,
    )
}

fn out_key(from: &NodeRef, kind: EdgeKind, to: &NodeRef) -> Vec<u8> {
    key(b'o', &[&node_part(from), &[kind.code()], &node_part(to)])
}

/// The list of edges into `to` that its record has no room for: each item an edge's kind
/// code and the key part of the node it comes from.
fn in_prefix(to: &NodeRef) -> Vec<u8> {
    node_key_of(Some(b'i'), to)
}

/// The node of an entity.
fn entity(kind: EntityKind, id: impl ToIdText) -> NodeRef {
    NodeRef::entity(EntityRef::new(kind, id))
}

mod fold;
mod read;
#[cfg(test)]
mod tests;

pub use fold::apply;
pub use read::*;
