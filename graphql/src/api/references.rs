//! References that resolve to entities: a model version's run, a run's experiment, the
//! Experiment type with its runs, the names of a trace's nodes — each read through the
//! reader's view.

use super::error::from_store;
use super::graph::{ModelLink, RunLink, TraceResult};
use super::types::{key_values, EntityObject, KeyValue, ModelVersionInfo, RunObject};
use async_graphql::{Context, Object, ID};
use lineage_schema::entity::{Detail, Entity};
use lineage_schema::{EntityKind, EntityRef};

#[async_graphql::ComplexObject]
impl ModelVersionInfo {
    /// The run that produced it — its params, metrics, experiment… — if any (and the
    /// reader may see it).
    async fn run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RunObject>> {
        let Some(id) = &self.run_id else { return Ok(None) };
        let reference = EntityRef::parse(id).map_err(|rejection| super::error::invalid(rejection.to_string()))?;
        let found = super::view(ctx)?.entity(&reference).map_err(from_store)?;
        Ok(found.map(RunObject))
    }
}

/// An experiment: source files and one entry point, run again and again.
#[derive(Clone, Debug)]
pub(super) struct ExperimentObject(pub Entity);

#[Object(name = "Experiment")]
impl ExperimentObject {
    async fn id(&self) -> ID {
        ID(self.0.reference.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn entity(&self) -> EntityObject {
        EntityObject(self.0.clone())
    }
    /// The project it belongs to.
    async fn project(&self) -> Option<ID> {
        self.0.parent.as_ref().map(|parent| ID(parent.to_string()))
    }
    async fn entry_point(&self) -> Option<&str> {
        match &self.0.detail {
            Detail::Experiment { entry_point, .. } => Some(entry_point),
            _ => None,
        }
    }
    async fn tags(&self) -> Vec<KeyValue> {
        match &self.0.detail {
            Detail::Experiment { tags, .. } => key_values(tags),
            _ => Vec::new(),
        }
    }
    /// Its runs the reader may see, oldest id first.
    async fn runs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RunObject>> {
        let runs = super::view(ctx)?
            .children(&self.0.reference, EntityKind::Run)
            .map_err(from_store)?;
        Ok(runs.into_iter().map(RunObject).collect())
    }
}

/// A node of a trace with its name, as people call it.
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub(super) struct NamedNode {
    pub id: ID,
    pub name: String,
}

#[async_graphql::ComplexObject]
impl TraceResult {
    /// The name of every node the trace names (service, environment, versions, runs,
    /// experiments, compute targets, datasets), in the order they appear.
    async fn names(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<NamedNode>> {
        let mut ids = vec![self.service.clone()];
        ids.extend(self.environment.clone());
        if let Some(image) = &self.image {
            ids.push(image.image_version.clone());
            if let Some(manifest) = &image.manifest {
                ids.push(manifest.manifest_version.clone());
                for model in &manifest.models {
                    model_ids(model, &mut ids);
                }
            }
        }
        let view = super::view(ctx)?;
        let mut named = Vec::new();
        for id in ids {
            if named.iter().any(|node: &NamedNode| node.id == id) {
                continue;
            }
            let Ok(node) = lineage_schema::lineage::NodeRef::parse(&id) else {
                continue;
            };
            if let Some(entity) = view.entity(&node.entity).map_err(from_store)? {
                let name = match node.version {
                    Some(version) => format!("{} v{version}", entity.name),
                    None => entity.name,
                };
                named.push(NamedNode { id, name });
            }
        }
        Ok(named)
    }
}

fn model_ids(model: &ModelLink, ids: &mut Vec<ID>) {
    ids.push(model.model_version.clone());
    if let Some(run) = &model.run {
        run_ids(run, ids);
    }
    if let Some(derived) = &model.derived_from {
        model_ids(derived, ids);
    }
}

fn run_ids(run: &RunLink, ids: &mut Vec<ID>) {
    ids.push(run.run.clone());
    ids.extend(run.experiment.clone());
    ids.extend(run.compute_target.clone());
    ids.extend(run.datasets.iter().cloned());
    ids.extend(run.parent.clone());
}
