//! The lineage graph's vocabulary: nodes (entities and their versions), typed edges with
//! the spans of time they held, and points in the past to look at it from.

use crate::ids::{EntityKind, EntityRef};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A node: an entity, or one version of a model, manifest or image.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeRef {
    pub entity: EntityRef,
    pub version: Option<u32>,
}

impl NodeRef {
    pub fn entity(entity: EntityRef) -> Self {
        Self { entity, version: None }
    }

    pub fn version(kind: EntityKind, id: impl crate::ToIdText, version: u32) -> Self {
        Self {
            entity: EntityRef::new(kind, id),
            version: Some(version),
        }
    }

    /// What kind of node this is, versions apart from their entities.
    pub fn kind(&self) -> NodeKind {
        match (self.entity.kind, self.version) {
            (EntityKind::Model, Some(_)) => NodeKind::ModelVersion,
            (EntityKind::Manifest, Some(_)) => NodeKind::ManifestVersion,
            (EntityKind::Image, Some(_)) => NodeKind::ImageVersion,
            (kind, _) => NodeKind::Entity(kind),
        }
    }

    /// Parses `kind/id` or, for models, manifests and images, `kind/id@version`.
    pub fn parse(text: &str) -> Result<Self, crate::Rejection> {
        let versioned = |kind: EntityKind| matches!(kind, EntityKind::Model | EntityKind::Manifest | EntityKind::Image);
        if let Some((head, number)) = text.rsplit_once('@') {
            if let (Ok(entity), Ok(version)) = (EntityRef::parse(head), number.parse::<u32>()) {
                if versioned(entity.kind) {
                    return Ok(Self {
                        entity,
                        version: Some(version),
                    });
                }
            }
        }
        EntityRef::parse(text).map(Self::entity)
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "{}@{version}", self.entity),
            None => write!(f, "{}", self.entity),
        }
    }
}

impl fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The kind of a node: an entity kind, or a version kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum NodeKind {
    Entity(EntityKind),
    ModelVersion,
    ManifestVersion,
    ImageVersion,
}

impl NodeKind {
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::Entity(kind) => kind.label(),
            NodeKind::ModelVersion => "model-version",
            NodeKind::ManifestVersion => "manifest-version",
            NodeKind::ImageVersion => "image-version",
        }
    }
}

/// How a node depends on another. Every edge points from the derived thing to what it
/// came from, so "upstream" follows edges and "downstream" follows them backwards.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum EdgeKind {
    /// run → dataset it read
    Used,
    /// run → experiment it executed (at a code revision)
    Executed,
    /// run → compute target it ran on
    RanOn,
    /// run → its parent run
    ChildOf,
    /// dataset or model version → the run that produced it
    GeneratedBy,
    /// model version → the earlier version it was retrained from
    DerivedFrom,
    /// manifest version → a model version it packages
    Includes,
    /// image version → the manifest version it was built from
    BuiltFrom,
    /// service → the image version it runs (from deploy until replaced)
    Runs,
    /// service → the environment it is deployed to
    DeployedTo,
    /// model, manifest or image version → its entity
    VersionOf,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 11] = [
        EdgeKind::Used,
        EdgeKind::Executed,
        EdgeKind::RanOn,
        EdgeKind::ChildOf,
        EdgeKind::GeneratedBy,
        EdgeKind::DerivedFrom,
        EdgeKind::Includes,
        EdgeKind::BuiltFrom,
        EdgeKind::Runs,
        EdgeKind::DeployedTo,
        EdgeKind::VersionOf,
    ];

    /// One byte for keys, stable forever.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|kind| *kind == self).unwrap_or(0) as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }
}

/// A point in the log's past: a position, or a time (the time facts happened).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum AsOf {
    Seq(u64),
    Time(Timestamp),
}

/// One end of a span: the event that opened or closed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Moment {
    pub seq: u64,
    pub at: Timestamp,
}

impl Moment {
    /// Whether this moment is at or before `point`.
    pub fn reached_by(self, point: AsOf) -> bool {
        match point {
            AsOf::Seq(seq) => self.seq <= seq,
            AsOf::Time(at) => self.at <= at,
        }
    }
}

/// A span during which an edge held: from its opening event until its closing one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Span {
    pub from: Moment,
    pub until: Option<Moment>,
}

impl Span {
    pub fn holds_at(&self, point: Option<AsOf>) -> bool {
        match point {
            None => self.until.is_none(),
            Some(point) => self.from.reached_by(point) && self.until.is_none_or(|until| !until.reached_by(point)),
        }
    }
}

/// A typed, time-stamped edge of the lineage graph.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Edge {
    pub from: NodeRef,
    pub kind: EdgeKind,
    pub to: NodeRef,
    /// Every span the edge held, oldest first (a service can return to an old image).
    pub spans: Vec<Span>,
    /// The code revision, on `Executed` edges.
    pub revision: Option<String>,
}

impl Edge {
    pub fn holds_at(&self, point: Option<AsOf>) -> bool {
        self.spans.iter().any(|span| span.holds_at(point))
    }
}

/// Which way a traversal walks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Direction {
    /// Towards sources: what this came from.
    Upstream,
    /// Towards dependents: what came from this.
    Downstream,
    Both,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_through_text() {
        for text in ["run/r-1", "model/m-churn@2", "image/img@13", "dataset/d@v1"] {
            assert_eq!(NodeRef::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            NodeRef::parse("model/m-churn@2").unwrap().kind(),
            NodeKind::ModelVersion
        );
        assert_eq!(NodeRef::parse("dataset/d@1").unwrap().version, None);
    }

    #[test]
    fn spans_hold_between_their_ends() {
        let at = |seq: u64| Moment {
            seq,
            at: Timestamp::from_micros(seq as i64 * 10),
        };
        let span = Span {
            from: at(5),
            until: Some(at(9)),
        };
        assert!(!span.holds_at(Some(AsOf::Seq(4))));
        assert!(span.holds_at(Some(AsOf::Seq(5))));
        assert!(span.holds_at(Some(AsOf::Time(Timestamp::from_micros(85)))));
        assert!(!span.holds_at(Some(AsOf::Seq(9))));
        assert!(!span.holds_at(None));
        assert!(Span {
            from: at(5),
            until: None
        }
        .holds_at(None));
    }
}
