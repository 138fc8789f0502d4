//! The lineage projection and its traversals: a node for every entity and every model,
//! manifest and image version; typed edges with the spans they held; upstream, downstream
//! and both-ways walks with bounds and filters, now or as of any past point; `trace` from
//! a service back to its data, and `impact` of a dataset, run or model version.
//!
//! Keys: `n` node → its first and deleting moments; `o` from + kind + to → the edge;
//! `i` to + kind + from → nothing (the reverse index); `c` service + kind → the target
//! of its open `Runs` or `DeployedTo` edge.

use crate::derived::keys::{entity_part, key, parse_entity_part};
use crate::derived::overlay::{decode, TreeId, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use lineage_schema::event::*;
use lineage_schema::lineage::*;
use lineage_schema::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet, VecDeque};

pub const TREE: TreeId = 2;
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

fn node_part(node: &NodeRef) -> Vec<u8> {
    let mut part = entity_part(&node.entity);
    match node.version {
        Some(version) => {
            part.push(1);
            part.extend_from_slice(&version.to_be_bytes());
        }
        None => part.push(0),
    }
    part
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
    key(b'n', &[&node_part(node)])
}

fn out_key(from: &NodeRef, kind: EdgeKind, to: &NodeRef) -> Vec<u8> {
    key(b'o', &[&node_part(from), &[kind.code()], &node_part(to)])
}

fn in_key(to: &NodeRef, kind: EdgeKind, from: &NodeRef) -> Vec<u8> {
    key(b'i', &[&node_part(to), &[kind.code()], &node_part(from)])
}

fn current_key(service: &NodeRef, kind: EdgeKind) -> Vec<u8> {
    key(b'c', &[&node_part(service), &[kind.code()]])
}

/// The node of an entity.
fn entity(kind: EntityKind, id: impl std::fmt::Display) -> NodeRef {
    NodeRef::entity(EntityRef::new(kind, id))
}

mod fold;
mod read;
#[cfg(test)]
mod tests;

pub use fold::apply;
pub use read::*;
