//! The values inside event payloads: plans, kinds, params, tags, metric points, artifacts, model sources, roles, schema fields.

use crate::ids::*;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Pricing tier of a model management account's plan.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Tier {
    DevTest,
    S1,
    S2,
    S3,
}

/// A model management account's plan: a number of units of one tier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub tier: Tier,
    pub units: u32,
}

/// The language of an experiment's entry point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Language {
    Python,
    PySpark,
}

/// Where runs execute.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ComputeKind {
    Local,
    Docker { image: String },
    RemoteVm { address: String },
    SparkCluster { master: String },
}

impl ComputeKind {
    pub fn label(&self) -> &'static str {
        match self {
            ComputeKind::Local => "local",
            ComputeKind::Docker { .. } => "docker",
            ComputeKind::RemoteVm { .. } => "remote-vm",
            ComputeKind::SparkCluster { .. } => "spark-cluster",
        }
    }
}

/// Where services run.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum EnvironmentKind {
    Local,
    Vm { address: String },
    Kubernetes { cluster: String },
}

impl EnvironmentKind {
    pub fn label(&self) -> &'static str {
        match self {
            EnvironmentKind::Local => "local",
            EnvironmentKind::Vm { .. } => "vm",
            EnvironmentKind::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// A run parameter. Parameters are immutable once logged.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Param {
    pub key: String,
    pub value: String,
}

/// A key/value tag on a run or a model version.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One point of a metric's history.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    pub value: f64,
    pub step: i64,
    pub timestamp: Timestamp,
}

/// A file a run produced.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Artifact {
    pub path: String,
    pub size: u64,
    pub digest: Digest,
}

/// Where a model version came from.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ModelSource {
    /// Produced by a run, from one of its artifacts.
    Run { run: RunId, artifact_path: String },
    /// Uploaded by hand, with no run behind it.
    Uploaded { location: String, digest: Option<Digest> },
}

/// How a logged model's upload ended.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum LoggedModelStatus {
    Ready,
    Failed,
}

/// What a principal may do in one account.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub enum Role {
    /// Everything, including granting roles in the account.
    Owner,
    /// Reads and writes.
    Contributor,
    /// Reads.
    Reader,
    /// Reads everything, the audit trail and the bill included; changes nothing.
    Auditor,
    /// Reads the bill.
    BillingReader,
}

/// One column of a dataset's schema.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct SchemaField {
    pub name: String,
    /// The type in the source's own notation (`long`, `string`, `tensor<float32>`, …).
    pub data_type: String,
    pub description: Option<String>,
}
