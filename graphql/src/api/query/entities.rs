//! Entities by id and by scope: `node`, `entities`, runs, models and services with their
//! filters, read through the viewer's `View`.

use super::*;

#[derive(Default, Debug)]
pub(crate) struct EntityQueries;

#[Object]
impl EntityQueries {
    /// Any entity by its global id (`kind/id`).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<EntityObject>> {
        within_deadline(ctx)?;
        let reference = parse_ref(&id)?;
        Ok(view(ctx)?.entity(&reference).map_err(from_store)?.map(EntityObject))
    }

    /// Entities of one kind, in id order; with `parent`, only those directly inside it.
    async fn entities(
        &self,
        ctx: &Context<'_>,
        kind: String,
        parent: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EntityObject>> {
        within_deadline(ctx)?;
        let kind = parse_kind(&kind)?;
        let first = page_size(ctx, first)?;
        let entities = match parent {
            Some(parent) => {
                let parent = parse_ref(&parent)?;
                Slice::of(by_id(visible_children(ctx, &parent, kind)?), after, first)
            }
            None => scan(ctx, kind, after, first, |_| true)?,
        };
        Ok(entities.into_page(EntityObject))
    }

    /// One run by id (`r-1` or `run/r-1`).
    async fn run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<RunObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Run, &id)?.map(RunObject))
    }

    /// Runs, filtered: by experiment, status, start time, a param's value, a metric's
    /// latest value.
    // Each argument is one of the field's filters, as GraphQL clients name them.
    #[allow(clippy::too_many_arguments)]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        experiment: Option<ID>,
        status: Option<RunStatus>,
        started_after: Option<String>,
        started_before: Option<String>,
        param: Option<KeyValueFilter>,
        metric: Option<MetricFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<RunObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let (from, until) = (
            time("startedAfter", started_after)?,
            time("startedBefore", started_before)?,
        );
        let keep = |entity: &Entity| {
            let Detail::Run(run) = &entity.detail else { return false };
            status.is_none_or(|status| RunStatus::from(run.status) == status)
                && from.is_none_or(|from| run.started_at.is_some_and(|at| at >= from))
                && until.is_none_or(|until| run.started_at.is_some_and(|at| at < until))
                && param
                    .as_ref()
                    .is_none_or(|param| run.params.get(&param.key) == Some(&param.value))
                && metric.as_ref().is_none_or(|metric| {
                    run.latest_metrics.get(&metric.name).is_some_and(|point| {
                        metric.min.is_none_or(|min| point.value >= min)
                            && metric.max.is_none_or(|max| point.value <= max)
                    })
                })
        };
        let runs = match experiment {
            Some(experiment) => {
                let experiment = if experiment.contains('/') {
                    parse_ref(&experiment)?
                } else {
                    EntityRef::new(EntityKind::Experiment, experiment.as_str())
                };
                let runs = visible_children(ctx, &experiment, EntityKind::Run)?;
                Slice::of(by_id(runs.into_iter().filter(keep).collect()), after, first)
            }
            None => scan(ctx, EntityKind::Run, after, first, keep)?,
        };
        Ok(runs.into_page(RunObject))
    }

    async fn model(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ModelObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Model, &id)?.map(ModelObject))
    }

    /// Models, filtered by account, name and a tag on any of their versions.
    async fn models(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        name: Option<String>,
        tag: Option<KeyValueFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<ModelObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let account = account_arg(account)?;
        let keep = |entity: &Entity| {
            let Detail::Model { versions, .. } = &entity.detail else {
                return false;
            };
            account
                .as_ref()
                .is_none_or(|account| entity.account.as_ref() == Some(account))
                && name.as_ref().is_none_or(|name| &entity.name == name)
                && tag.as_ref().is_none_or(|tag| {
                    versions
                        .iter()
                        .any(|version| version.tags.get(&tag.key) == Some(&tag.value))
                })
        };
        Ok(scan(ctx, EntityKind::Model, after, first, keep)?.into_page(ModelObject))
    }

    async fn service(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ServiceObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Service, &id)?.map(ServiceObject))
    }

    /// Services, filtered by account, environment and state.
    async fn services(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        environment: Option<ID>,
        state: Option<ServiceState>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<ServiceObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let account = account_arg(account)?;
        let environment = environment
            .map(|environment| lineage_schema::EnvironmentId::new(environment.0))
            .transpose()
            .map_err(|rejection| invalid(rejection.to_string()))?;
        let keep = |entity: &Entity| {
            let Detail::Service(service) = &entity.detail else {
                return false;
            };
            account
                .as_ref()
                .is_none_or(|account| entity.account.as_ref() == Some(account))
                && environment
                    .as_ref()
                    .is_none_or(|environment| &service.environment == environment)
                && state.is_none_or(|state| (state == ServiceState::Deleted) == entity.deleted)
        };
        Ok(scan(ctx, EntityKind::Service, after, first, keep)?.into_page(ServiceObject))
    }
}
