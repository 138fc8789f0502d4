//! The Contoso chapters of the demo story: churn prediction from data to a production
//! service, watched, and retrained after drift.

use super::*;

/// Contoso: its subscription, accounts, seats, workspace, project, experiments, targets and data.
pub(super) fn setup(s: &mut Story) {
    // Contoso: churn prediction, from data to a production service, retrained after drift.
    s.act(
        "u-alex",
        Command::CreateSubscription(SubscriptionCreated {
            subscription: id("sub-contoso"),
            name: name("Contoso ML"),
        }),
    );
    s.act(
        "u-alex",
        Command::CreateExperimentationAccount(ExperimentationAccountCreated {
            account: id("acct-contoso-exp"),
            subscription: id("sub-contoso"),
            name: name("contoso-research"),
            region: "eastus2".into(),
        }),
    );
    s.act(
        "u-alex",
        Command::CreateModelManagementAccount(ModelManagementAccountCreated {
            account: id("acct-contoso-mm"),
            subscription: id("sub-contoso"),
            name: name("contoso-serving"),
            region: "eastus2".into(),
            plan: Plan {
                tier: Tier::S1,
                units: 1,
            },
        }),
    );
    for user in ["u-ada", "u-linus", "u-margaret"] {
        s.act(
            "u-alex",
            Command::AssignSeat(SeatAssigned {
                account: id("acct-contoso-exp"),
                principal: id(user),
            }),
        );
    }
    s.act(
        "u-ada",
        Command::CreateWorkspace(WorkspaceCreated {
            workspace: id("ws-churn"),
            account: id("acct-contoso-exp"),
            name: name("Customer churn"),
            description: "Predict which subscribers cancel next month".into(),
        }),
    );
    for user in ["u-linus", "u-margaret"] {
        s.act(
            "u-ada",
            Command::GrantWorkspaceAccess(WorkspaceAccessGranted {
                workspace: id("ws-churn"),
                principal: id(user),
            }),
        );
    }
    s.act(
        "u-ada",
        Command::CreateProject(ProjectCreated {
            project: id("p-churn"),
            workspace: id("ws-churn"),
            name: name("churn-prediction"),
            path: "C:/projects/churn-prediction".into(),
            repository: Some("https://git.contoso.example/ml/churn-prediction.git".into()),
        }),
    );
    s.act(
        "u-ada",
        Command::CreateExperiment(ExperimentCreated {
            experiment: id("e-train"),
            project: id("p-churn"),
            name: name("train"),
            entry_point: "train.py".into(),
            language: Language::Python,
            source_digest: Digest::of(b"train.py@4f1c2aa"),
        }),
    );
    s.act(
        "u-ada",
        Command::CreateExperiment(ExperimentCreated {
            experiment: id("e-sweep"),
            project: id("p-churn"),
            name: name("sweep"),
            entry_point: "sweep.py".into(),
            language: Language::Python,
            source_digest: Digest::of(b"sweep.py@4f1c2aa"),
        }),
    );
    s.act(
        "u-ada",
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct-local"),
            account: id("acct-contoso-exp"),
            name: name("local"),
            kind: ComputeKind::Local,
        }),
    );
    s.act(
        "u-ada",
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct-docker"),
            account: id("acct-contoso-exp"),
            name: name("docker"),
            kind: ComputeKind::Docker {
                image: "mcr.microsoft.com/azureml/base:0.2.4".into(),
            },
        }),
    );
    s.act(
        "u-linus",
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct-dsvm"),
            account: id("acct-contoso-exp"),
            name: name("dsvm"),
            kind: ComputeKind::RemoteVm {
                address: "dsvm-01.eastus2.cloudapp.example".into(),
            },
        }),
    );
    s.act(
        "u-ada",
        Command::RegisterDataset(DatasetRegistered {
            dataset: id("d-customers-v1"),
            account: id("acct-contoso-exp"),
            name: name("customers"),
            location: "wasbs://data@contoso.blob.example/customers/2026-02.csv".into(),
            version: Some("1".into()),
            digest: Some("sha256:7d1a54127b2225a1".into()),
        }),
    );
    s.act(
        "u-ada",
        Command::RegisterDataset(DatasetRegistered {
            dataset: id("d-usage"),
            account: id("acct-contoso-exp"),
            name: name("usage"),
            location: "wasbs://data@contoso.blob.example/usage/".into(),
            version: Some("2026-02".into()),
            digest: None,
        }),
    );
}

/// Contoso trains the churn model, sweeps, registers versions, builds and deploys the service.
pub(super) fn training(s: &mut Story) {
    s.train(
        "u-ada",
        "r-churn-1",
        "e-train",
        "ct-local",
        "4f1c2aa",
        None,
        &["d-customers-v1", "d-usage"],
        0.84,
        20,
    );
    s.act(
        "u-linus",
        Command::QueueRun(RunQueued {
            run: id("r-churn-2"),
            experiment: id("e-train"),
            compute_target: id("ct-dsvm"),
            parent: None,
        }),
    );
    s.act(
        "u-linus",
        Command::StartRun(RunStarted {
            run: id("r-churn-2"),
            experiment: id("e-train"),
            compute_target: id("ct-dsvm"),
            revision: "4f1c2aa".into(),
            parent: None,
        }),
    );
    s.act(
        "u-linus",
        Command::FailRun(RunFailed {
            run: id("r-churn-2"),
            reason: "MemoryError: unable to allocate 12.0 GiB for the feature matrix".into(),
        }),
    );
    s.act(
        "u-margaret",
        Command::StartRun(RunStarted {
            run: id("r-sweep"),
            experiment: id("e-sweep"),
            compute_target: id("ct-docker"),
            revision: "4f1c2aa".into(),
            parent: None,
        }),
    );
    for (index, auc) in [0.81, 0.86, 0.83].into_iter().enumerate() {
        s.train(
            "u-margaret",
            &format!("r-sweep-{}", index + 1),
            "e-sweep",
            "ct-docker",
            "4f1c2aa",
            Some("r-sweep"),
            &["d-customers-v1"],
            auc,
            10,
        );
    }
    s.act("u-margaret", Command::CompleteRun(RunCompleted { run: id("r-sweep") }));

    s.act(
        "u-ada",
        Command::CreateModel(ModelCreated {
            model: id("m-churn"),
            account: id("acct-contoso-mm"),
            name: name("churn-classifier"),
            description: "Gradient-boosted churn classifier".into(),
        }),
    );
    s.act("u-ada", from_run("m-churn", "r-sweep-2", None));
    s.act(
        "u-ada",
        Command::CreateManifest(ManifestCreated {
            manifest: id("mf-churn"),
            account: id("acct-contoso-mm"),
            name: name("churn-manifest"),
        }),
    );
    s.act("u-ada", manifest_version("mf-churn", "m-churn", 1));
    s.act(
        "u-ada",
        Command::CreateImage(ImageCreated {
            image: id("img-churn"),
            account: id("acct-contoso-mm"),
            name: name("churn-image"),
        }),
    );
    s.act("u-ada", build("img-churn", "mf-churn", 1));
    s.wait_hours(1);
    s.act(
        "u-ada",
        Command::RecordImageBuilt(ImageBuilt {
            image: id("img-churn"),
            version: 1,
            digest: "sha256:3b8e1f0c9a7d4e2b".into(),
        }),
    );
    s.act("u-ada", build("img-churn", "mf-churn", 1));
    s.act(
        "u-ada",
        Command::RecordImageBuildFailed(ImageBuildFailed {
            image: id("img-churn"),
            version: 2,
            reason: "pip: no matching distribution for scikit-learn==1.5.0 on the base image's Python".into(),
        }),
    );
    s.act(
        "u-alex",
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-staging"),
            account: id("acct-contoso-mm"),
            name: name("staging-vm"),
            kind: EnvironmentKind::Vm {
                address: "staging.contoso.example".into(),
            },
        }),
    );
    s.act(
        "u-alex",
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-prod"),
            account: id("acct-contoso-mm"),
            name: name("prod-aks"),
            kind: EnvironmentKind::Kubernetes {
                cluster: "aks-prod-eastus2".into(),
            },
        }),
    );
    s.act(
        "u-ada",
        Command::DeployService(ServiceDeployed {
            service: id("svc-churn-staging"),
            account: id("acct-contoso-mm"),
            name: name("churn-staging"),
            image: image("img-churn", 1),
            environment: id("env-staging"),
            url: "http://staging.contoso.example/api/v1/service/churn/score".into(),
            replicas: 1,
        }),
    );
    s.wait_hours(24);
    s.act(
        "u-ada",
        Command::DeployService(ServiceDeployed {
            service: id("svc-churn"),
            account: id("acct-contoso-mm"),
            name: name("churn-prod"),
            image: image("img-churn", 1),
            environment: id("env-prod"),
            url: "http://churn.contoso.example/api/v1/service/churn/score".into(),
            replicas: 3,
        }),
    );
    s.act(
        "u-alex",
        Command::ScaleService(ServiceScaled {
            service: id("svc-churn"),
            replicas: 5,
        }),
    );
}

/// The churn service in production: latency signals and a drift alert.
pub(super) fn serving(s: &mut Story) {
    for (day, latency) in [(1, 38.0), (2, 41.5), (3, 44.0)] {
        s.wait_hours(24);
        let observed_at = s.clock;
        s.act(
            "u-ada",
            Command::RecordServiceMetric(ServiceMetricRecorded {
                service: id("svc-churn"),
                name: "latency_ms_p99".into(),
                value: latency,
                observed_at,
            }),
        );
        s.act(
            "u-ada",
            Command::RecordServiceMetric(ServiceMetricRecorded {
                service: id("svc-churn"),
                name: "auc_live".into(),
                value: 0.86 - 0.03 * day as f64,
                observed_at,
            }),
        );
    }
    let observed_at = s.clock;
    s.act(
        "u-ada",
        Command::RaiseDriftAlert(DriftAlertRaised {
            service: id("svc-churn"),
            feature: "monthly_charges".into(),
            score: 0.41,
            threshold: 0.3,
            observed_at,
        }),
    );
}

/// Retraining: new data, a new run, a model version derived from the deployed one, rolled out.
pub(super) fn retraining(s: &mut Story) {
    // Retraining: new data, a new run, a model version derived from the deployed one.
    s.act(
        "u-ada",
        Command::RegisterDataset(DatasetRegistered {
            dataset: id("d-customers-v2"),
            account: id("acct-contoso-exp"),
            name: name("customers"),
            location: "wasbs://data@contoso.blob.example/customers/2026-03.csv".into(),
            version: Some("2".into()),
            digest: Some("sha256:c04b9e2f11aa3e07".into()),
        }),
    );
    s.act(
        "u-ada",
        Command::ReviseExperiment(ExperimentRevised {
            experiment: id("e-train"),
            entry_point: "train.py".into(),
            source_digest: Digest::of(b"train.py@9e0d7b3"),
        }),
    );
    s.train(
        "u-ada",
        "r-churn-3",
        "e-train",
        "ct-dsvm",
        "9e0d7b3",
        None,
        &["d-customers-v2", "d-usage"],
        0.88,
        20,
    );
    s.act("u-ada", from_run("m-churn", "r-churn-3", Some(("m-churn", 1))));
    s.act(
        "u-ada",
        Command::SetModelVersionTags(ModelVersionTagsSet {
            model: id("m-churn"),
            version: 1,
            tags: vec![Tag {
                key: "stage".into(),
                value: "archived".into(),
            }],
        }),
    );
    s.act("u-ada", manifest_version("mf-churn", "m-churn", 2));
    s.act("u-ada", build("img-churn", "mf-churn", 2));
    s.wait_hours(1);
    s.act(
        "u-ada",
        Command::RecordImageBuilt(ImageBuilt {
            image: id("img-churn"),
            version: 3,
            digest: "sha256:a91c77e05d3f6b18".into(),
        }),
    );
    s.act(
        "u-ada",
        Command::UpdateService(ServiceUpdated {
            service: id("svc-churn"),
            image: image("img-churn", 3),
        }),
    );
    s.act(
        "u-ada",
        Command::DeleteService(ServiceDeleted {
            service: id("svc-churn-staging"),
        }),
    );
    s.act(
        "u-alex",
        Command::RevokeSeat(SeatRevoked {
            account: id("acct-contoso-exp"),
            principal: id("u-linus"),
        }),
    );
}
