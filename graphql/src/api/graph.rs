//! GraphQL types of the lineage graph: walks, `trace` and `impact`.

use super::error::invalid;
use async_graphql::{Enum, InputObject, SimpleObject, ID};
use lineage_schema::lineage::{AsOf, Direction as StoredDirection, Edge, NodeKind};
use lineage_schema::Timestamp;
use lineage_store::lineage::{FoundNode, ImageTrace, ManifestTrace, ModelTrace, RunTrace, Trace};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl From<Direction> for StoredDirection {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Upstream => StoredDirection::Upstream,
            Direction::Downstream => StoredDirection::Downstream,
            Direction::Both => StoredDirection::Both,
        }
    }
}

/// Edge kinds; every edge points from the derived thing to what it came from.
// The schema crate's enum seen by GraphQL: `remote` derives the conversions both ways,
// so the two cannot drift apart.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "lineage_schema::lineage::EdgeKind")]
pub enum EdgeKind {
    Used,
    Executed,
    RanOn,
    ChildOf,
    GeneratedBy,
    DerivedFrom,
    Includes,
    BuiltFrom,
    Runs,
    DeployedTo,
    VersionOf,
}

/// A point in the past: a log position, or a time (RFC 3339) when facts happened.
#[derive(InputObject, Clone, Debug)]
pub(super) struct AsOfInput {
    pub seq: Option<u64>,
    pub time: Option<String>,
}

/// As [`as_of`], first waiting (within the request's time) for this node to fold in event
/// `seq` when it names one past its head: on a shared log, a write acknowledged by
/// another node is read here by asking as of its seq.
pub(super) async fn as_of_reached(
    ctx: &async_graphql::Context<'_>,
    input: Option<AsOfInput>,
) -> async_graphql::Result<Option<AsOf>> {
    let at = as_of(input)?;
    if let Some(AsOf::Seq(seq)) = at {
        let store = super::store(ctx);
        // Only a shared log has others' writes to wait for.
        if seq > store.head().seq && store.log_url().is_some() {
            let left = ctx
                .data_opt::<super::Deadline>()
                .map(|deadline| deadline.0.saturating_duration_since(std::time::Instant::now()))
                .unwrap_or(std::time::Duration::from_secs(5));
            if !store.reach(seq, left).await {
                return Err(super::error::coded(
                    "UNAVAILABLE",
                    format!(
                        "event {seq} is not in this node's log yet (it holds {}); try again shortly",
                        store.head().seq
                    ),
                ));
            }
        }
    }
    Ok(at)
}

pub(super) fn as_of(input: Option<AsOfInput>) -> async_graphql::Result<Option<AsOf>> {
    match input {
        None => Ok(None),
        Some(AsOfInput {
            seq: Some(seq),
            time: None,
        }) => Ok(Some(AsOf::Seq(seq))),
        Some(AsOfInput {
            seq: None,
            time: Some(time),
        }) => Timestamp::parse(&time)
            .map(|at| Some(AsOf::Time(at)))
            .ok_or_else(|| invalid(format!("asOf.time `{time}` is not an RFC 3339 time"))),
        Some(_) => Err(invalid("give asOf exactly one of `seq` and `time`")),
    }
}

/// Node kinds for filters: entity kinds by their labels, plus the version kinds.
pub(super) fn node_kind(label: &str) -> async_graphql::Result<NodeKind> {
    match label {
        "model-version" => Ok(NodeKind::ModelVersion),
        "manifest-version" => Ok(NodeKind::ManifestVersion),
        "image-version" => Ok(NodeKind::ImageVersion),
        other => super::parse_kind(other)
            .map(NodeKind::Entity)
            .map_err(|_| invalid(format!("unknown node kind `{other}`"))),
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct GraphNode {
    /// `kind/id`, or `kind/id@version` for model, manifest and image versions.
    pub id: ID,
    pub kind: String,
    /// Steps from the start of the walk.
    pub depth: u32,
    pub created_seq: u64,
    pub created_at: String,
    pub deleted_at: Option<String>,
}

impl From<&FoundNode> for GraphNode {
    fn from(found: &FoundNode) -> Self {
        Self {
            id: ID(found.node.to_string()),
            kind: found.node.kind().label().to_string(),
            depth: found.depth,
            created_seq: found.info.created.seq,
            created_at: found.info.created.at.to_string(),
            deleted_at: found.info.deleted.map(|moment| moment.at.to_string()),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct SpanInfo {
    pub from_seq: u64,
    pub from_time: String,
    pub until_seq: Option<u64>,
    pub until_time: Option<String>,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct GraphEdge {
    pub from: ID,
    pub kind: EdgeKind,
    pub to: ID,
    /// The code revision, on `EXECUTED` edges.
    pub revision: Option<String>,
    /// When the edge held, oldest first.
    pub spans: Vec<SpanInfo>,
}

impl From<&Edge> for GraphEdge {
    fn from(edge: &Edge) -> Self {
        Self {
            from: ID(edge.from.to_string()),
            kind: edge.kind.into(),
            to: ID(edge.to.to_string()),
            revision: edge.revision.clone(),
            spans: edge
                .spans
                .iter()
                .map(|span| SpanInfo {
                    from_seq: span.from.seq,
                    from_time: span.from.at.to_string(),
                    until_seq: span.until.map(|until| until.seq),
                    until_time: span.until.map(|until| until.at.to_string()),
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct LineageGraph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
    /// The walk reached `maxNodes` before it was done.
    pub truncated: bool,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct RunLink {
    pub run: ID,
    pub experiment: Option<ID>,
    /// The code revision the run executed.
    pub revision: Option<String>,
    pub compute_target: Option<ID>,
    /// Datasets the run read.
    pub datasets: Vec<ID>,
    pub parent: Option<ID>,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ModelLink {
    pub model_version: ID,
    pub run: Option<RunLink>,
    /// The version this one was retrained from, with its own chain.
    pub derived_from: Option<Box<ModelLink>>,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ManifestLink {
    pub manifest_version: ID,
    pub models: Vec<ModelLink>,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ImageLink {
    pub image_version: ID,
    pub manifest: Option<ManifestLink>,
}

/// A service's chain back to the data it came from.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub(super) struct TraceResult {
    pub service: ID,
    pub environment: Option<ID>,
    pub image: Option<ImageLink>,
}

fn id(node: &lineage_schema::lineage::NodeRef) -> ID {
    ID(node.to_string())
}

fn run_link(run: &RunTrace) -> RunLink {
    RunLink {
        run: id(&run.run),
        experiment: run.experiment.as_ref().map(id),
        revision: run.revision.clone(),
        compute_target: run.compute_target.as_ref().map(id),
        datasets: run.datasets.iter().map(id).collect(),
        parent: run.parent.as_ref().map(id),
    }
}

fn model_link(model: &ModelTrace) -> ModelLink {
    ModelLink {
        model_version: id(&model.model),
        run: model.run.as_ref().map(run_link),
        derived_from: model.derived_from.as_ref().map(|earlier| Box::new(model_link(earlier))),
    }
}

fn manifest_link(manifest: &ManifestTrace) -> ManifestLink {
    ManifestLink {
        manifest_version: id(&manifest.manifest),
        models: manifest.models.iter().map(model_link).collect(),
    }
}

fn image_link(image: &ImageTrace) -> ImageLink {
    ImageLink {
        image_version: id(&image.image),
        manifest: image.manifest.as_ref().map(manifest_link),
    }
}

impl From<&Trace> for TraceResult {
    fn from(trace: &Trace) -> Self {
        Self {
            service: id(&trace.service),
            environment: trace.environment.as_ref().map(id),
            image: trace.image.as_ref().map(image_link),
        }
    }
}

/// What depends on a dataset, run or model version.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ImpactResult {
    pub model_versions: Vec<ID>,
    pub image_versions: Vec<ID>,
    pub services: Vec<ID>,
}

/// A signed checkpoint: the log's size and Merkle root at a moment.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct CheckpointInfo {
    pub size: u64,
    /// The Merkle root (RFC 9162 hashing with blake3), hex.
    pub root: String,
    pub time: String,
    /// The ed25519 key that signed it, hex.
    pub public_key: String,
    pub signature: String,
    /// The exact text the signature covers.
    pub signed_message: String,
}

impl From<&lineage_schema::checkpoint::Checkpoint> for CheckpointInfo {
    fn from(checkpoint: &lineage_schema::checkpoint::Checkpoint) -> Self {
        Self {
            size: checkpoint.size,
            root: checkpoint.root.to_hex(),
            time: checkpoint.time.to_string(),
            public_key: checkpoint.public_key.clone(),
            signature: checkpoint.signature.clone(),
            signed_message: lineage_schema::checkpoint::Checkpoint::message(
                checkpoint.size,
                &checkpoint.root,
                checkpoint.time,
            ),
        }
    }
}

/// That event `seq` is leaf `seq - 1` of the tree of `treeSize` events.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct InclusionProof {
    pub seq: u64,
    pub tree_size: u64,
    pub event_hash: String,
    pub root: String,
    /// The audit path, leaf to root (RFC 9162 §2.1.3).
    pub path: Vec<String>,
}

/// That the tree of `from` events is a prefix of the tree of `to` events.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    /// RFC 9162 §2.1.4.
    pub path: Vec<String>,
}

/// One line of a bill, in minor units (cents).
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct BillLineInfo {
    pub description: String,
    /// A number of `unit`s: whole days, or hours to the thousandth.
    pub quantity: String,
    /// What `quantity` counts: `seat-days`, `unit-days`, `model-days`, `deployment-days`, `hours`.
    pub unit: String,
    /// The price of one `pricePer`.
    pub unit_price: i64,
    /// What `unitPrice` buys: `seat-month` (and the other `…-month`s), or `hour`.
    pub price_per: String,
    /// For a line priced by the month, its days: `quantity / daysInMonth` months are billed.
    pub days_in_month: Option<u32>,
    pub amount: i64,
    /// The log positions of the events behind the line.
    pub events: Vec<u64>,
}

#[derive(SimpleObject, Clone, Debug)]
pub(super) struct SeatDaysInfo {
    pub principal: String,
    /// Days of the month the principal held a seat.
    pub days: Vec<u32>,
}

/// An account's bill for a calendar month (UTC).
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct BillInfo {
    pub account: String,
    pub month: String,
    pub currency: String,
    /// The sum of the lines, in minor units.
    pub total: i64,
    pub lines: Vec<BillLineInfo>,
    pub seats: Vec<SeatDaysInfo>,
    /// The month is not over: the bill so far.
    pub running: bool,
}

impl From<&lineage_store::billing::Bill> for BillInfo {
    fn from(bill: &lineage_store::billing::Bill) -> Self {
        Self {
            account: bill.account.to_string(),
            month: bill.month.to_string(),
            currency: bill.currency.to_string(),
            total: bill.total,
            lines: bill
                .lines
                .iter()
                .map(|line| BillLineInfo {
                    description: line.description.clone(),
                    quantity: line.quantity.clone(),
                    unit: line.unit.to_string(),
                    unit_price: line.unit_price,
                    price_per: line.price_per.to_string(),
                    days_in_month: line.days_in_month,
                    amount: line.amount,
                    events: line.events.clone(),
                })
                .collect(),
            seats: bill
                .seats
                .iter()
                .map(|seat| SeatDaysInfo {
                    principal: seat.principal.to_string(),
                    days: seat.days.clone(),
                })
                .collect(),
            running: bill.running,
        }
    }
}
