//! The state of environments and services, with their signals.

use super::*;

pub(super) fn environment_created(overlay: &mut Overlay, envelope: &Envelope, e: &EnvironmentCreated) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
            detail: Detail::Environment { kind: e.kind.clone() },
        },
    )?;
    Ok(())
}

pub(super) fn service_deployed(overlay: &mut Overlay, envelope: &Envelope, e: &ServiceDeployed) -> Result<()> {
    let account_ref = |kind: EntityKind, account: &AccountId| EntityRef::new(kind, account);
    create(
        overlay,
        envelope,
        New {
            name: e.name.to_string(),
            scoped_name: None,
            parent: Some(account_ref(EntityKind::ModelManagementAccount, &e.account)),
            detail: Detail::Service(Box::new(ServiceDetail {
                image: e.image.clone(),
                environment: e.environment.clone(),
                url: e.url.clone(),
                replicas: e.replicas,
                signals: Default::default(),
                drift_alerts: Vec::new(),
            })),
        },
    )?;
    Ok(())
}

pub(super) fn service_updated(overlay: &mut Overlay, envelope: &Envelope, e: &ServiceUpdated) -> Result<()> {
    update(overlay, envelope, |entity| {
        service_detail(entity)?.image = e.image.clone();
        Ok(())
    })?;
    Ok(())
}

pub(super) fn service_scaled(overlay: &mut Overlay, envelope: &Envelope, e: &ServiceScaled) -> Result<()> {
    update(overlay, envelope, |entity| {
        service_detail(entity)?.replicas = e.replicas;
        Ok(())
    })?;
    Ok(())
}

pub(super) fn service_metric_recorded(
    overlay: &mut Overlay,
    envelope: &Envelope,
    e: &ServiceMetricRecorded,
) -> Result<()> {
    update(overlay, envelope, |entity| {
        service_detail(entity)?.signals.insert(e.name.clone(), e.value);
        Ok(())
    })?;
    Ok(())
}

pub(super) fn drift_alert_raised(overlay: &mut Overlay, envelope: &Envelope, e: &DriftAlertRaised) -> Result<()> {
    update(overlay, envelope, |entity| {
        service_detail(entity)?.drift_alerts.push(e.clone());
        Ok(())
    })?;
    Ok(())
}
