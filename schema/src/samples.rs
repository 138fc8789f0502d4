//! One deterministic sample of every event variant, for golden files and round-trip tests.

use crate::envelope::Envelope;
use crate::event::*;
use crate::ids::literal as id;
use crate::ids::literal as name;
use crate::ids::*;
use crate::time::Timestamp;

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_772_323_200_000_000 + seconds * 1_000_000)
}

/// One payload per `Event` variant, in declaration order.
pub fn events() -> Vec<Event> {
    let model_version = ModelVersionRef {
        model: id("m-churn"),
        version: 1,
    };
    vec![
        PrincipalRegistered {
            principal: id("u-ada"),
            name: name("Ada"),
            email: "ada@example.com".into(),
        }
        .into(),
        SubscriptionCreated {
            subscription: id("sub-1"),
            name: name("Contoso"),
        }
        .into(),
        ExperimentationAccountCreated {
            account: id("acct-exp"),
            subscription: id("sub-1"),
            name: name("Research"),
            region: "eastus2".into(),
        }
        .into(),
        SeatAssigned {
            account: id("acct-exp"),
            principal: id("u-ada"),
        }
        .into(),
        SeatRevoked {
            account: id("acct-exp"),
            principal: id("u-ada"),
        }
        .into(),
        ModelManagementAccountCreated {
            account: id("acct-mm"),
            subscription: id("sub-1"),
            name: name("Serving"),
            region: "eastus2".into(),
            plan: Plan {
                tier: Tier::S1,
                units: 2,
            },
        }
        .into(),
        ModelManagementPlanChanged {
            account: id("acct-mm"),
            plan: Plan {
                tier: Tier::S2,
                units: 1,
            },
        }
        .into(),
        WorkspaceCreated {
            workspace: id("ws-1"),
            account: id("acct-exp"),
            name: name("Churn"),
            description: "customer churn".into(),
        }
        .into(),
        WorkspaceAccessGranted {
            workspace: id("ws-1"),
            principal: id("u-ada"),
        }
        .into(),
        WorkspaceAccessRevoked {
            workspace: id("ws-1"),
            principal: id("u-ada"),
        }
        .into(),
        ProjectCreated {
            project: id("p-1"),
            workspace: id("ws-1"),
            name: name("churn-prediction"),
            path: "/projects/churn".into(),
            repository: Some("https://git.example.com/churn.git".into()),
        }
        .into(),
        ExperimentCreated {
            experiment: id("e-1"),
            project: id("p-1"),
            name: name("train"),
            entry_point: "train.py".into(),
            language: Language::Python,
            source_digest: Digest::of(b"train.py v1"),
        }
        .into(),
        ExperimentRevised {
            experiment: id("e-1"),
            entry_point: "train2.py".into(),
            source_digest: Digest::of(b"train.py v2"),
        }
        .into(),
        ComputeTargetAttached {
            target: id("ct-spark"),
            account: id("acct-exp"),
            name: name("spark"),
            kind: ComputeKind::SparkCluster {
                master: "spark://10.0.0.4:7077".into(),
            },
        }
        .into(),
        ComputeTargetDetached { target: id("ct-spark") }.into(),
        DatasetRegistered {
            dataset: id("d-1"),
            account: id("acct-exp"),
            name: name("customers"),
            location: "wasbs://data/customers.csv".into(),
            version: Some("3".into()),
            digest: Some("sha256:ab12".into()),
        }
        .into(),
        RunQueued {
            run: id("r-1"),
            experiment: id("e-1"),
            compute_target: id("ct-spark"),
            parent: None,
        }
        .into(),
        RunStarted {
            run: id("r-1"),
            experiment: id("e-1"),
            compute_target: id("ct-spark"),
            revision: "9f3c2e1".into(),
            parent: Some(id("r-0")),
        }
        .into(),
        ParamsLogged {
            run: id("r-1"),
            params: vec![Param {
                key: "alpha".into(),
                value: "0.5".into(),
            }],
        }
        .into(),
        MetricsLogged {
            run: id("r-1"),
            points: vec![MetricPoint {
                name: "auc".into(),
                value: 0.91,
                step: 3,
                timestamp: at(60),
            }],
        }
        .into(),
        RunTagsSet {
            run: id("r-1"),
            tags: vec![tag("team", "growth")],
        }
        .into(),
        ArtifactsRecorded {
            run: id("r-1"),
            artifacts: vec![Artifact {
                path: "outputs/model.pkl".into(),
                size: 40_960,
                digest: Digest::of(b"model.pkl"),
            }],
        }
        .into(),
        RunInputsRecorded {
            run: id("r-1"),
            datasets: vec![id("d-1")],
        }
        .into(),
        RunOutputsRecorded {
            run: id("r-1"),
            datasets: vec![id("d-2")],
        }
        .into(),
        RunCompleted { run: id("r-1") }.into(),
        RunFailed {
            run: id("r-1"),
            reason: "out of memory".into(),
        }
        .into(),
        RunCanceled { run: id("r-1") }.into(),
        ModelCreated {
            model: id("m-churn"),
            account: id("acct-mm"),
            name: name("churn"),
            description: "churn classifier".into(),
        }
        .into(),
        ModelVersionRegistered {
            model: id("m-churn"),
            version: 2,
            source: ModelSource::Run {
                run: id("r-1"),
                artifact_path: "outputs/model.pkl".into(),
            },
            derived_from: Some(model_version.clone()),
            tags: vec![tag("stage", "prod")],
        }
        .into(),
        ModelVersionTagsSet {
            model: id("m-churn"),
            version: 1,
            tags: vec![tag("stage", "archived")],
        }
        .into(),
        ManifestCreated {
            manifest: id("mf-1"),
            account: id("acct-mm"),
            name: name("churn-manifest"),
        }
        .into(),
        ManifestVersionAdded {
            manifest: id("mf-1"),
            version: 1,
            models: vec![model_version],
            dependencies: vec!["scikit-learn==1.5.0".into()],
            scoring_script: "score.py".into(),
            schema: Some("{\"input\": \"float[12]\"}".into()),
            sample_data: None,
        }
        .into(),
        ImageCreated {
            image: id("img-1"),
            account: id("acct-mm"),
            name: name("churn-image"),
        }
        .into(),
        ImageBuildStarted {
            image: id("img-1"),
            version: 1,
            manifest: ManifestVersionRef {
                manifest: id("mf-1"),
                version: 1,
            },
        }
        .into(),
        ImageBuilt {
            image: id("img-1"),
            version: 1,
            digest: "sha256:feed".into(),
        }
        .into(),
        ImageBuildFailed {
            image: id("img-1"),
            version: 2,
            reason: "pip install failed".into(),
        }
        .into(),
        EnvironmentCreated {
            environment: id("env-aks"),
            account: id("acct-mm"),
            name: name("prod-aks"),
            kind: EnvironmentKind::Kubernetes {
                cluster: "aks-prod".into(),
            },
        }
        .into(),
        EnvironmentDeleted {
            environment: id("env-aks"),
        }
        .into(),
        ServiceDeployed {
            service: id("svc-1"),
            account: id("acct-mm"),
            name: name("churn-api"),
            image: ImageVersionRef {
                image: id("img-1"),
                version: 1,
            },
            environment: id("env-aks"),
            url: "http://10.1.0.5/score".into(),
            replicas: 3,
        }
        .into(),
        ServiceUpdated {
            service: id("svc-1"),
            image: ImageVersionRef {
                image: id("img-1"),
                version: 3,
            },
        }
        .into(),
        ServiceScaled {
            service: id("svc-1"),
            replicas: 5,
        }
        .into(),
        ServiceDeleted { service: id("svc-1") }.into(),
        ServiceMetricRecorded {
            service: id("svc-1"),
            name: "latency_ms_p99".into(),
            value: 41.5,
            observed_at: at(3600),
        }
        .into(),
        DriftAlertRaised {
            service: id("svc-1"),
            feature: "tenure_months".into(),
            score: 0.42,
            threshold: 0.3,
            observed_at: at(7200),
        }
        .into(),
        TokenIssued {
            principal: id("u-ada"),
            token: id("tok-1"),
            hash: Digest::of(b"lin_secret"),
            label: "laptop".into(),
        }
        .into(),
        TokenRevoked {
            principal: id("u-ada"),
            token: id("tok-1"),
        }
        .into(),
        AdministratorDesignated { principal: id("u-ada") }.into(),
        RoleGranted {
            principal: id("u-ada"),
            account: id("acct-mm"),
            role: Role::Auditor,
        }
        .into(),
        RoleRevoked {
            principal: id("u-ada"),
            account: id("acct-mm"),
            role: Role::Auditor,
        }
        .into(),
        ExperimentTagsSet {
            experiment: id("e-1"),
            tags: vec![tag("team", "growth")],
        }
        .into(),
        ExperimentDeleted { experiment: id("e-1") }.into(),
        ExperimentRestored { experiment: id("e-1") }.into(),
        RunDeleted { run: id("r-1") }.into(),
        RunRestored { run: id("r-1") }.into(),
        ModelTagsSet {
            model: id("m-churn"),
            tags: vec![tag("owner", "growth")],
        }
        .into(),
        ModelAliasSet {
            model: id("m-churn"),
            alias: "champion".into(),
            version: 1,
        }
        .into(),
        ModelAliasRemoved {
            model: id("m-churn"),
            alias: "champion".into(),
        }
        .into(),
        DatasetSchemaRecorded {
            dataset: id("d-1"),
            fields: vec![SchemaField {
                name: "tenure".into(),
                data_type: "long".into(),
                description: Some("months as a customer".into()),
            }],
        }
        .into(),
        ExperimentRenamed {
            experiment: id("e-1"),
            name: id("churn, renamed"),
        }
        .into(),
        RunTagDeleted {
            run: id("r-1"),
            key: "team".into(),
        }
        .into(),
        ArtifactsDeleted {
            run: id("r-1"),
            paths: vec!["model".into()],
        }
        .into(),
        ModelRenamed {
            model: id("m-churn"),
            name: id("churn, renamed"),
        }
        .into(),
        ModelDescribed {
            model: id("m-churn"),
            description: "Predicts churn".into(),
        }
        .into(),
        ModelTagDeleted {
            model: id("m-churn"),
            key: "owner".into(),
        }
        .into(),
        ModelVersionTagDeleted {
            model: id("m-churn"),
            version: 1,
            key: "validated".into(),
        }
        .into(),
        ModelLogged {
            run: id("r-1"),
            number: 1,
            name: "model".into(),
            model_type: "sklearn".into(),
            params: vec![Param {
                key: "alpha".into(),
                value: "0.5".into(),
            }],
            tags: vec![Tag {
                key: "mlflow.source.name".into(),
                value: "train.py".into(),
            }],
        }
        .into(),
        LoggedModelFinalized {
            run: id("r-1"),
            number: 1,
            status: LoggedModelStatus::Ready,
        }
        .into(),
        LoggedModelTagsSet {
            run: id("r-1"),
            number: 1,
            tags: vec![Tag {
                key: "stage".into(),
                value: "candidate".into(),
            }],
        }
        .into(),
        LoggedModelTagDeleted {
            run: id("r-1"),
            number: 1,
            key: "stage".into(),
        }
        .into(),
        LoggedModelParamsLogged {
            run: id("r-1"),
            number: 1,
            params: vec![Param {
                key: "l1_ratio".into(),
                value: "0.1".into(),
            }],
        }
        .into(),
        ModelOutputRecorded {
            run: id("r-1"),
            number: 1,
            step: 3,
        }
        .into(),
        LoggedModelDeleted {
            run: id("r-1"),
            number: 1,
        }
        .into(),
        ModelDeleted { model: id("m-churn") }.into(),
        ModelVersionDeleted {
            model: id("m-churn"),
            version: 1,
        }
        .into(),
        ModelVersionDescribed {
            model: id("m-churn"),
            version: 1,
            description: "Trained on October's usage".into(),
        }
        .into(),
        RunInputTagged {
            run: id("r-1"),
            dataset: id("d-1"),
            tags: vec![Tag {
                key: "mlflow.data.context".into(),
                value: "training".into(),
            }],
        }
        .into(),
        StoreAuditorDesignated { principal: id("u-ada") }.into(),
        StoreAuditorDismissed { principal: id("u-ada") }.into(),
    ]
}

/// Every sample event in a sealed, chained envelope (seq 1, 2, …).
pub fn envelopes() -> Vec<Envelope> {
    let mut prev_hash = Digest::ZERO;
    events()
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let seq = index as u64 + 1;
            let envelope = Envelope {
                seq,
                stream: event.stream(),
                version: 1,
                event_id: (!seq.is_multiple_of(3)).then(|| id(&format!("ev-sample-{seq}"))),
                recorded_at: at(seq as i64),
                occurred_at: seq.is_multiple_of(2).then(|| at(-(seq as i64))),
                actor: id("u-ada"),
                account: Some(id("acct-exp")),
                event,
                prev_hash,
                hash: Digest::ZERO,
            }
            .seal();
            prev_hash = envelope.hash;
            envelope
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event has a command that records it again, aimed at the same stream.
    #[test]
    fn every_event_replays_as_a_command_on_its_stream() {
        for event in events() {
            let stream = event.stream();
            let name = event.name();
            let command = crate::Command::replaying(event);
            assert_eq!(command.stream(), stream, "{name}");
        }
    }

    #[test]
    fn samples_cover_every_variant_in_order() {
        let names: Vec<&str> = events().iter().map(Event::name).collect();
        assert_eq!(names, Event::NAMES);
    }
}
