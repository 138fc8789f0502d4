//! Rules for environments and the web services deployed into them, with their signals.

use super::check::*;
use crate::error::Result;
use lineage_schema::entity::*;
use lineage_schema::event::*;
use lineage_schema::*;
use EntityKind as K;

/// `CreateEnvironment`.
pub(super) fn create_environment(check: &Check<'_>, e: EnvironmentCreated) -> Result<Decided> {
    check.absent(K::Environment, &e.environment)?;
    let scope = check.mm_account(&e.account)?;
    check.unique_name(Some(&scope), K::Environment, e.name.as_str())?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `DeleteEnvironment`.
pub(super) fn delete_environment(check: &Check<'_>, e: EnvironmentDeleted) -> Result<Decided> {
    let environment = check.live(K::Environment, &e.environment)?;
    let account = check.seat_in_account_of(&environment)?;
    Ok((e.into(), Some(account)))
}

/// `DeployService`.
pub(super) fn deploy_service(check: &Check<'_>, e: ServiceDeployed) -> Result<Decided> {
    check.absent(K::Service, &e.service)?;
    let scope = check.mm_account(&e.account)?;
    check.unique_name(Some(&scope), K::Service, e.name.as_str())?;
    check.image_version_built(&e.image, &e.account)?;
    check.live_environment(&e.environment, &e.account)?;
    nonempty("url", &e.url)?;
    replicas(e.replicas)?;
    let account = e.account.clone();
    Ok((e.into(), Some(account)))
}

/// `UpdateService`.
pub(super) fn update_service(check: &Check<'_>, e: ServiceUpdated) -> Result<Decided> {
    let service = check.live(K::Service, &e.service)?;
    let account = check.seat_in_account_of(&service)?;
    check.image_version_built(&e.image, &account)?;
    let Detail::Service(detail) = &service.detail else {
        return Err(mismatch(&service));
    };
    check.live_environment(&detail.environment, &account)?;
    if detail.image == e.image {
        return reject(Rejection::transition(
            service.reference,
            format!("already running {}", e.image),
            "update it to the same image",
        ));
    }
    Ok((e.into(), Some(account)))
}

/// `ScaleService`.
pub(super) fn scale_service(check: &Check<'_>, e: ServiceScaled) -> Result<Decided> {
    let service = check.live(K::Service, &e.service)?;
    let account = check.seat_in_account_of(&service)?;
    replicas(e.replicas)?;
    Ok((e.into(), Some(account)))
}

/// `DeleteService`.
pub(super) fn delete_service(check: &Check<'_>, e: ServiceDeleted) -> Result<Decided> {
    let service = check.live(K::Service, &e.service)?;
    let account = check.seat_in_account_of(&service)?;
    Ok((e.into(), Some(account)))
}

/// `RecordServiceMetric`.
pub(super) fn record_service_metric(check: &Check<'_>, e: ServiceMetricRecorded) -> Result<Decided> {
    let service = check.live(K::Service, &e.service)?;
    let account = check.seat_in_account_of(&service)?;
    nonempty("metric name", &e.name)?;
    finite("value", e.value)?;
    Ok((e.into(), Some(account)))
}

/// `RaiseDriftAlert`.
pub(super) fn raise_drift_alert(check: &Check<'_>, e: DriftAlertRaised) -> Result<Decided> {
    let service = check.live(K::Service, &e.service)?;
    let account = check.seat_in_account_of(&service)?;
    nonempty("feature", &e.feature)?;
    finite("score", e.score)?;
    finite("threshold", e.threshold)?;
    Ok((e.into(), Some(account)))
}
