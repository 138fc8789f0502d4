//! Reading the lineage tree: edges of a node, bounded and filtered walks (now or as of a
//! past moment), `impact` downstream of a node and `trace` from a service to its data.

use super::*;

/// A node of a walk's answer, with how far from the start it was found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FoundNode {
    pub node: NodeRef,
    pub info: NodeInfo,
    pub depth: u32,
}

/// The answer to a walk.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<FoundNode>,
    pub edges: Vec<Edge>,
    /// The walk stopped at the node bound before it was done.
    pub truncated: bool,
}

/// What to walk.
#[derive(Clone, Debug)]
pub struct Walk {
    pub start: NodeRef,
    pub direction: Direction,
    pub max_depth: u32,
    /// Only edges of these kinds (all when `None`).
    pub edge_kinds: Option<BTreeSet<EdgeKind>>,
    /// Only nodes of these kinds, besides the start (all when `None`). The walk does not
    /// pass through other nodes.
    pub node_kinds: Option<BTreeSet<NodeKind>>,
    pub as_of: Option<AsOf>,
    pub max_nodes: usize,
}

impl Walk {
    pub fn new(start: NodeRef, direction: Direction) -> Self {
        Self {
            start,
            direction,
            max_depth: MAX_DEPTH,
            edge_kinds: None,
            node_kinds: None,
            as_of: None,
            max_nodes: MAX_NODES,
        }
    }
}

/// Read access to the lineage tree.
#[derive(Debug)]
pub struct Reader<'a> {
    pub view: &'a Trees,
}

impl Reader<'_> {
    fn record(&self, node: &NodeRef) -> Result<Option<NodeRecord>> {
        self.view.get_value(TREE, &node_key(node))
    }

    pub fn node(&self, node: &NodeRef) -> Result<Option<NodeInfo>> {
        Ok(self.record(node)?.map(|record| record.info))
    }

    fn edge(&self, from: &NodeRef, kind: EdgeKind, to: &NodeRef) -> Result<Option<Edge>> {
        let record = self.record(from)?;
        if let Some(record) = &record {
            if let Some(edge) = record.out_edge(kind, to) {
                return Ok(Some(edge.clone().leaving(from)));
            }
            if !record.out_overflows() {
                return Ok(None);
            }
        }
        self.view.get_value(TREE, &out_key(from, kind, to))
    }

    /// Edges out of `node` (towards its sources), by kind and then target.
    pub fn out_edges(&self, node: &NodeRef) -> Result<Vec<Edge>> {
        let Some(record) = self.record(node)? else {
            return Ok(Vec::new());
        };
        let overflows = record.out_overflows();
        let mut edges: Vec<Edge> = record.out.into_iter().map(|edge| edge.leaving(node)).collect();
        if overflows {
            let prefix = key(b'o', &[&node_part(node)]);
            for (_, value) in self.view.range(TREE, &prefix, &prefix, usize::MAX)? {
                edges.push(decode(&value)?);
            }
        }
        edges.sort_by_cached_key(|edge| (edge.kind.code(), node_part(&edge.to)));
        Ok(edges)
    }

    /// Edges into `node` (from what depends on it), by kind and then source.
    pub fn in_edges(&self, node: &NodeRef) -> Result<Vec<Edge>> {
        let Some(record) = self.record(node)? else {
            return Ok(Vec::new());
        };
        let overflows = record.incoming_overflows();
        let mut sources = record.incoming;
        if overflows {
            for item in lists::items(self.view, TREE, &in_prefix(node))? {
                let kind = item.first().and_then(|code| EdgeKind::from_code(*code));
                let from = parse_node_part(&item[1.min(item.len())..]).map(|(from, _)| from);
                let (Some(kind), Some(from)) = (kind, from) else {
                    return Err(Error::Derived("undecodable lineage key".into()));
                };
                sources.push((kind, from));
            }
        }
        sources.sort_by_cached_key(|(kind, from)| (kind.code(), node_part(from)));
        let mut edges = Vec::new();
        for (kind, from) in sources {
            if let Some(edge) = self.edge(&from, kind, node)? {
                edges.push(edge);
            }
        }
        Ok(edges)
    }

    /// The edges of `node` of one kind that held at `as_of`, outgoing.
    pub fn out_of_kind(&self, node: &NodeRef, kind: EdgeKind, as_of: Option<AsOf>) -> Result<Vec<Edge>> {
        Ok(self
            .out_edges(node)?
            .into_iter()
            .filter(|edge| edge.kind == kind && edge.holds_at(as_of))
            .collect())
    }

    fn neighbours(&self, node: &NodeRef, direction: Direction) -> Result<Vec<(NodeRef, Edge)>> {
        let mut found = Vec::new();
        if matches!(direction, Direction::Upstream | Direction::Both) {
            found.extend(self.out_edges(node)?.into_iter().map(|edge| (edge.to.clone(), edge)));
        }
        if matches!(direction, Direction::Downstream | Direction::Both) {
            found.extend(self.in_edges(node)?.into_iter().map(|edge| (edge.from.clone(), edge)));
        }
        Ok(found)
    }

    /// A breadth-first walk from `walk.start`: every node once, every edge once, bounded.
    pub fn walk(&self, walk: &Walk) -> Result<Graph> {
        self.walk_visible(walk, &mut |_| true)
    }

    /// A walk that neither passes through nor counts the nodes `visible` rejects, so
    /// neither the answer nor its `truncated` flag tells anything of them.
    pub fn walk_visible(&self, walk: &Walk, visible: &mut dyn FnMut(&NodeRef) -> bool) -> Result<Graph> {
        let info = self.node(&walk.start)?.filter(|info| info.exists_at(walk.as_of));
        let Some(info) = info else {
            return Err(Rejection::NotFound {
                entity: walk.start.entity.clone(),
            }
            .into());
        };
        let max_depth = walk.max_depth.min(MAX_DEPTH);
        let max_nodes = walk.max_nodes.clamp(1, MAX_NODES);
        let mut graph = Graph {
            nodes: vec![FoundNode {
                node: walk.start.clone(),
                info,
                depth: 0,
            }],
            ..Graph::default()
        };
        let mut seen: HashSet<NodeRef> = [walk.start.clone()].into();
        let mut seen_edges: HashSet<(NodeRef, EdgeKind, NodeRef)> = HashSet::new();
        let mut queue = VecDeque::from([(walk.start.clone(), 0u32)]);
        while let Some((node, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            for (next, edge) in self.neighbours(&node, walk.direction)? {
                if !edge.holds_at(walk.as_of)
                    || walk
                        .edge_kinds
                        .as_ref()
                        .is_some_and(|kinds| !kinds.contains(&edge.kind))
                {
                    continue;
                }
                if walk
                    .node_kinds
                    .as_ref()
                    .is_some_and(|kinds| !kinds.contains(&next.kind()))
                {
                    continue;
                }
                if !seen.contains(&next) && !visible(&next) {
                    continue;
                }
                if !seen.contains(&next) {
                    if graph.nodes.len() >= max_nodes {
                        graph.truncated = true;
                        continue;
                    }
                    let Some(info) = self.node(&next)? else { continue };
                    seen.insert(next.clone());
                    graph.nodes.push(FoundNode {
                        node: next.clone(),
                        info,
                        depth: depth + 1,
                    });
                    queue.push_back((next, depth + 1));
                }
                if seen_edges.insert((edge.from.clone(), edge.kind, edge.to.clone())) {
                    graph.edges.push(edge);
                }
            }
        }
        Ok(graph)
    }

    /// Everything downstream of `start` that serves predictions or is packaged to:
    /// model versions, image versions and services.
    pub fn impact(&self, start: &NodeRef, as_of: Option<AsOf>) -> Result<Graph> {
        let mut walk = Walk::new(start.clone(), Direction::Downstream);
        walk.as_of = as_of;
        walk.edge_kinds = Some(
            [
                EdgeKind::Used,
                EdgeKind::GeneratedBy,
                EdgeKind::DerivedFrom,
                EdgeKind::Includes,
                EdgeKind::BuiltFrom,
                EdgeKind::Runs,
                EdgeKind::ChildOf,
            ]
            .into(),
        );
        let mut graph = self.walk(&walk)?;
        let keep = |kind: NodeKind| {
            matches!(
                kind,
                NodeKind::ModelVersion | NodeKind::ImageVersion | NodeKind::Entity(EntityKind::Service)
            )
        };
        graph
            .nodes
            .retain(|found| found.node == *start || keep(found.node.kind()));
        Ok(graph)
    }

    /// The chain behind a service: image, manifest, model versions (and what they were
    /// retrained from), runs, experiments at their revisions, datasets, compute targets.
    pub fn trace(&self, service: &ServiceId, as_of: Option<AsOf>) -> Result<Trace> {
        let node = NodeRef::entity(EntityRef::new(EntityKind::Service, service));
        if !self.node(&node)?.is_some_and(|info| info.exists_at(as_of)) {
            return Err(Rejection::NotFound { entity: node.entity }.into());
        }
        let environment = self
            .out_of_kind(&node, EdgeKind::DeployedTo, as_of)?
            .into_iter()
            .next()
            .map(|edge| edge.to);
        let image = match self.out_of_kind(&node, EdgeKind::Runs, as_of)?.into_iter().next() {
            Some(edge) => Some(self.trace_image(edge.to, as_of)?),
            None => None,
        };
        Ok(Trace {
            service: node,
            environment,
            image,
        })
    }

    fn trace_image(&self, image: NodeRef, as_of: Option<AsOf>) -> Result<ImageTrace> {
        let manifest = match self.out_of_kind(&image, EdgeKind::BuiltFrom, as_of)?.into_iter().next() {
            Some(edge) => {
                let mut models = Vec::new();
                for include in self.out_of_kind(&edge.to, EdgeKind::Includes, as_of)? {
                    models.push(self.trace_model(include.to, as_of, &mut HashSet::new())?);
                }
                Some(ManifestTrace {
                    manifest: edge.to,
                    models,
                })
            }
            None => None,
        };
        Ok(ImageTrace { image, manifest })
    }

    fn trace_model(&self, model: NodeRef, as_of: Option<AsOf>, seen: &mut HashSet<NodeRef>) -> Result<ModelTrace> {
        seen.insert(model.clone());
        let run = match self
            .out_of_kind(&model, EdgeKind::GeneratedBy, as_of)?
            .into_iter()
            .next()
        {
            Some(edge) => Some(self.trace_run(edge.to, as_of)?),
            None => None,
        };
        let mut derived_from = None;
        if seen.len() < MAX_DEPTH as usize {
            if let Some(edge) = self
                .out_of_kind(&model, EdgeKind::DerivedFrom, as_of)?
                .into_iter()
                .find(|edge| !seen.contains(&edge.to))
            {
                derived_from = Some(Box::new(self.trace_model(edge.to, as_of, seen)?));
            }
        }
        Ok(ModelTrace {
            model,
            run,
            derived_from,
        })
    }

    fn trace_run(&self, run: NodeRef, as_of: Option<AsOf>) -> Result<RunTrace> {
        let mut trace = RunTrace {
            run: run.clone(),
            experiment: None,
            revision: None,
            compute_target: None,
            datasets: Vec::new(),
            parent: None,
        };
        for edge in self.out_edges(&run)?.into_iter().filter(|edge| edge.holds_at(as_of)) {
            match edge.kind {
                EdgeKind::Executed => {
                    trace.revision = edge.revision.clone();
                    trace.experiment = Some(edge.to);
                }
                EdgeKind::RanOn => trace.compute_target = Some(edge.to),
                EdgeKind::Used => trace.datasets.push(edge.to),
                EdgeKind::ChildOf => trace.parent = Some(edge.to),
                _ => {}
            }
        }
        Ok(trace)
    }
}

/// A service's chain, as `trace` returns it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Trace {
    pub service: NodeRef,
    pub environment: Option<NodeRef>,
    pub image: Option<ImageTrace>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ImageTrace {
    pub image: NodeRef,
    pub manifest: Option<ManifestTrace>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ManifestTrace {
    pub manifest: NodeRef,
    pub models: Vec<ModelTrace>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModelTrace {
    pub model: NodeRef,
    pub run: Option<RunTrace>,
    pub derived_from: Option<Box<ModelTrace>>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RunTrace {
    pub run: NodeRef,
    pub experiment: Option<NodeRef>,
    pub revision: Option<String>,
    pub compute_target: Option<NodeRef>,
    pub datasets: Vec<NodeRef>,
    pub parent: Option<NodeRef>,
}
