//! The Fabrikam chapter of the demo story: fraud scoring with PySpark, served from a
//! local environment.

use super::*;

/// Fabrikam: fraud scoring with PySpark, served from a local environment.
pub(super) fn story(s: &mut Story) {
    // Fabrikam: fraud scoring with PySpark, served from a local environment.
    s.act(
        "u-grace",
        Command::CreateSubscription(SubscriptionCreated {
            subscription: id("sub-fabrikam"),
            name: name("Fabrikam Analytics"),
        }),
    );
    s.act(
        "u-grace",
        Command::CreateExperimentationAccount(ExperimentationAccountCreated {
            account: id("acct-fabrikam-exp"),
            subscription: id("sub-fabrikam"),
            name: name("fabrikam-research"),
            region: "westeurope".into(),
        }),
    );
    s.act(
        "u-grace",
        Command::CreateModelManagementAccount(ModelManagementAccountCreated {
            account: id("acct-fabrikam-mm"),
            subscription: id("sub-fabrikam"),
            name: name("fabrikam-serving"),
            region: "westeurope".into(),
            plan: Plan {
                tier: Tier::DevTest,
                units: 1,
            },
        }),
    );
    for user in ["u-grace", "u-margaret"] {
        s.act(
            "u-grace",
            Command::AssignSeat(SeatAssigned {
                account: id("acct-fabrikam-exp"),
                principal: id(user),
            }),
        );
    }
    s.act(
        "u-grace",
        Command::CreateWorkspace(WorkspaceCreated {
            workspace: id("ws-fraud"),
            account: id("acct-fabrikam-exp"),
            name: name("Fraud"),
            description: "Card fraud scoring".into(),
        }),
    );
    s.act(
        "u-grace",
        Command::GrantWorkspaceAccess(WorkspaceAccessGranted {
            workspace: id("ws-fraud"),
            principal: id("u-margaret"),
        }),
    );
    s.act(
        "u-grace",
        Command::CreateProject(ProjectCreated {
            project: id("p-fraud"),
            workspace: id("ws-fraud"),
            name: name("fraud-scoring"),
            path: "/home/grace/fraud-scoring".into(),
            repository: None,
        }),
    );
    s.act(
        "u-grace",
        Command::CreateExperiment(ExperimentCreated {
            experiment: id("e-fraud"),
            project: id("p-fraud"),
            name: name("train-spark"),
            entry_point: "train_spark.py".into(),
            language: Language::PySpark,
            source_digest: Digest::of(b"train_spark.py@1"),
        }),
    );
    s.act(
        "u-grace",
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct-spark"),
            account: id("acct-fabrikam-exp"),
            name: name("hdi-spark"),
            kind: ComputeKind::SparkCluster {
                master: "spark://hdi-fabrikam:7077".into(),
            },
        }),
    );
    s.act(
        "u-grace",
        Command::RegisterDataset(DatasetRegistered {
            dataset: id("d-transactions"),
            account: id("acct-fabrikam-exp"),
            name: name("transactions"),
            location: "adl://fabrikam.example/transactions/2026/".into(),
            version: None,
            digest: None,
        }),
    );
    s.train(
        "u-margaret",
        "r-fraud-1",
        "e-fraud",
        "ct-spark",
        "source:1",
        None,
        &["d-transactions"],
        0.93,
        15,
    );
    s.act(
        "u-margaret",
        Command::RecordRunOutputs(RunOutputsRecorded {
            run: id("r-fraud-1"),
            datasets: vec![id("d-transactions")],
        }),
    );
    s.act(
        "u-grace",
        Command::CreateModel(ModelCreated {
            model: id("m-fraud"),
            account: id("acct-fabrikam-mm"),
            name: name("fraud-scorer"),
            description: "Spark MLlib random forest".into(),
        }),
    );
    s.act("u-grace", from_run("m-fraud", "r-fraud-1", None));
    s.act(
        "u-grace",
        Command::CreateManifest(ManifestCreated {
            manifest: id("mf-fraud"),
            account: id("acct-fabrikam-mm"),
            name: name("fraud-manifest"),
        }),
    );
    s.act("u-grace", manifest_version("mf-fraud", "m-fraud", 1));
    s.act(
        "u-grace",
        Command::CreateImage(ImageCreated {
            image: id("img-fraud"),
            account: id("acct-fabrikam-mm"),
            name: name("fraud-image"),
        }),
    );
    s.act("u-grace", build("img-fraud", "mf-fraud", 1));
    s.act(
        "u-grace",
        Command::RecordImageBuilt(ImageBuilt {
            image: id("img-fraud"),
            version: 1,
            digest: "sha256:5e2d0c4b7f9a1386".into(),
        }),
    );
    s.act(
        "u-grace",
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-local"),
            account: id("acct-fabrikam-mm"),
            name: name("local-docker"),
            kind: EnvironmentKind::Local,
        }),
    );
    s.act(
        "u-grace",
        Command::DeployService(ServiceDeployed {
            service: id("svc-fraud"),
            account: id("acct-fabrikam-mm"),
            name: name("fraud-local"),
            image: image("img-fraud", 1),
            environment: id("env-local"),
            url: "http://localhost:32770/score".into(),
            replicas: 1,
        }),
    );
}
