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
        kind: super::super::Kind,
        parent: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EntityObject>> {
        within_deadline(ctx)?;
        let kind = EntityKind::from(kind);
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

    /// Runs, filtered: by experiment, account, status, start time, name, a tag's or a
    /// param's value, a metric's latest value; in id order, or by a metric's latest value
    /// (`orderBy`). A param, metric or order that names what no run in scope has is an
    /// error, not an empty list.
    // Each argument is one of the field's filters, as GraphQL clients name them.
    #[allow(clippy::too_many_arguments)]
    async fn runs(
        &self,
        ctx: &Context<'_>,
        experiment: Option<ID>,
        account: Option<String>,
        status: Option<RunStatus>,
        started_after: Option<String>,
        started_before: Option<String>,
        name: Option<String>,
        tag: Option<KeyValueFilter>,
        param: Option<KeyValueFilter>,
        metric: Option<MetricFilter>,
        order_by: Option<MetricOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<RunObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let account = account_arg(account)?;
        let (from, until) = (
            time("startedAfter", started_after)?,
            time("startedBefore", started_before)?,
        );
        let keep = |entity: &Entity| {
            let Detail::Run(run) = &entity.detail else { return false };
            status.is_none_or(|status| RunStatus::from(run.status) == status)
                && account
                    .as_ref()
                    .is_none_or(|account| entity.account.as_ref() == Some(account))
                && name.as_ref().is_none_or(|name| &entity.name == name)
                && from.is_none_or(|from| run.started_at.is_some_and(|at| at >= from))
                && until.is_none_or(|until| run.started_at.is_some_and(|at| at < until))
                && tag
                    .as_ref()
                    .is_none_or(|tag| run.tags.get(&tag.key) == Some(&tag.value))
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
        let scope = match experiment {
            Some(experiment) => {
                let experiment = lineage_schema::ExperimentId::new(experiment.0)
                    .map_err(|rejection| invalid(rejection.to_string()))?;
                Some(visible_children(
                    ctx,
                    &EntityRef::new(EntityKind::Experiment, &experiment),
                    EntityKind::Run,
                )?)
            }
            None => None,
        };
        let named = [
            param.as_ref().map(|param| ("param", param.key.as_str())),
            metric.as_ref().map(|metric| ("metric", metric.name.as_str())),
            order_by.as_ref().map(|order| ("metric", order.metric.as_str())),
        ];
        let runs = if scope.is_none() && named.iter().all(Option::is_none) {
            scan(ctx, EntityKind::Run, after, first, keep)?
        } else {
            // Every run in scope is read: to know the names it has, and to sort.
            let all = match scope {
                Some(runs) => runs,
                None => scan(ctx, EntityKind::Run, None, usize::MAX - 1, |_| true)?.into_items(),
            };
            for (what, wanted) in named.into_iter().flatten() {
                known_name(&all, what, wanted)?;
            }
            let kept: Vec<Entity> = all.into_iter().filter(keep).collect();
            match &order_by {
                Some(order) => Slice::of(by_metric(kept, order), after, first),
                None => Slice::of(by_id(kept), after, first),
            }
        };
        Ok(runs.into_page(RunObject))
    }

    /// One experiment by id (`e-train` or `experiment/e-train`), with its runs.
    async fn experiment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<ExperimentObject>> {
        within_deadline(ctx)?;
        Ok(typed(ctx, EntityKind::Experiment, &id)?.map(ExperimentObject))
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
