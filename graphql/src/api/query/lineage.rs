//! The lineage graph: walks, `trace` from a service to its data, `impact` of a node.

use super::*;

#[derive(Default, Debug)]
pub(crate) struct LineageQueries;

#[Object]
impl LineageQueries {
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
            return Err(crate::api::error::coded(
                "LIMIT_EXCEEDED",
                format!("depth is {depth}; at most {}", lineage_store::lineage::MAX_DEPTH),
            ));
        }
        if max_nodes as usize > lineage_store::lineage::MAX_NODES {
            return Err(crate::api::error::coded(
                "LIMIT_EXCEEDED",
                format!("maxNodes is {max_nodes}; at most {}", lineage_store::lineage::MAX_NODES),
            ));
        }
        walk.max_depth = depth;
        walk.max_nodes = max_nodes as usize;
        walk.as_of = graph::as_of_reached(ctx, as_of).await?;
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
        let service = ServiceId::new(service.0).map_err(|rejection| invalid(rejection.to_string()))?;
        let at = graph::as_of_reached(ctx, as_of).await?;
        let trace = view(ctx)?.trace(&service, at).map_err(from_store)?;
        Ok((&trace).into())
    }

    /// Every model version, image version and service downstream of a dataset, run or
    /// model version.
    async fn impact(&self, ctx: &Context<'_>, id: ID, as_of: Option<AsOfInput>) -> async_graphql::Result<ImpactResult> {
        within_deadline(ctx)?;
        let start: NodeRef = parse_node(&id)?;
        let at = graph::as_of_reached(ctx, as_of).await?;
        let found = view(ctx)?.impact(&start, at).map_err(from_store)?;
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
}
