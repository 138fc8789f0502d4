//! The demo story: two subscriptions of realistic ML work, as commands, so a first-time
//! user (and every test that wants a populated store) sees a full graph at once.
//!
//! Event ids are fixed (`demo-1`, `demo-2`, …), so telling the story again appends nothing.

use crate::error::Result;
use crate::store::Store;
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::literal as name;
use lineage_schema::*;

struct Story {
    commands: Vec<CommandEnvelope>,
    clock: Timestamp,
}

impl Story {
    fn act(&mut self, actor: &str, command: Command) {
        self.clock = self.clock.plus_seconds(300);
        let event_id = id(&format!("demo-{}", self.commands.len() + 1));
        self.commands.push(
            CommandEnvelope::new(id(actor), command)
                .with_event_id(event_id)
                .occurred_at(self.clock),
        );
    }

    fn wait_hours(&mut self, hours: i64) {
        self.clock = self.clock.plus_seconds(hours * 3600);
    }

    /// A training run from start to finish with a metric history of `epochs` points.
    // One call tells one run of the story; its arguments are that run's facts.
    #[allow(clippy::too_many_arguments)]
    fn train(
        &mut self,
        actor: &str,
        run: &str,
        experiment: &str,
        target: &str,
        revision: &str,
        parent: Option<&str>,
        inputs: &[&str],
        auc_end: f64,
        epochs: i64,
    ) {
        self.act(
            actor,
            Command::StartRun(RunStarted {
                run: id(run),
                experiment: id(experiment),
                compute_target: id(target),
                revision: revision.into(),
                parent: parent.map(id),
            }),
        );
        self.act(
            actor,
            Command::RecordRunInputs(RunInputsRecorded {
                run: id(run),
                datasets: inputs.iter().map(|d| id(d)).collect(),
            }),
        );
        self.act(
            actor,
            Command::LogParams(ParamsLogged {
                run: id(run),
                params: vec![
                    Param {
                        key: "learning_rate".into(),
                        value: format!("{:.3}", 0.05 + auc_end / 100.0),
                    },
                    Param {
                        key: "max_depth".into(),
                        value: "6".into(),
                    },
                ],
            }),
        );
        let start = self.clock;
        let points = (1..=epochs)
            .flat_map(|step| {
                let progress = step as f64 / epochs as f64;
                let at = start.plus_seconds(step * 60);
                [
                    MetricPoint {
                        name: "auc".into(),
                        value: 0.5 + (auc_end - 0.5) * progress.sqrt(),
                        step,
                        timestamp: at,
                    },
                    MetricPoint {
                        name: "loss".into(),
                        value: 0.7 * (1.0 - progress) + 0.12,
                        step,
                        timestamp: at,
                    },
                ]
            })
            .collect();
        self.act(actor, Command::LogMetrics(MetricsLogged { run: id(run), points }));
        self.act(actor, Command::RecordArtifacts(RecordArtifacts::artifacts(run)));
        self.act(
            actor,
            Command::SetRunTags(RunTagsSet {
                run: id(run),
                tags: vec![Tag {
                    key: "mlflow.source.git.commit".into(),
                    value: revision.into(),
                }],
            }),
        );
        self.wait_hours(2);
        self.act(actor, Command::CompleteRun(RunCompleted { run: id(run) }));
    }
}

struct RecordArtifacts;

impl RecordArtifacts {
    fn artifacts(run: &str) -> ArtifactsRecorded {
        ArtifactsRecorded {
            run: id(run),
            artifacts: vec![
                Artifact {
                    path: "outputs/model.pkl".into(),
                    size: 48_213,
                    digest: Digest::of(format!("{run}/model.pkl").as_bytes()),
                },
                Artifact {
                    path: "outputs/feature_importance.png".into(),
                    size: 20_417,
                    digest: Digest::of(format!("{run}/fi.png").as_bytes()),
                },
            ],
        }
    }
}

fn from_run(model: &str, run: &str, derived_from: Option<(&str, u32)>) -> Command {
    Command::RegisterModelVersion(RegisterModelVersion {
        model: id(model),
        source: ModelSource::Run {
            run: id(run),
            artifact_path: "outputs/model.pkl".into(),
        },
        derived_from: derived_from.map(|(model, version)| ModelVersionRef {
            model: id(model),
            version,
        }),
        tags: vec![Tag {
            key: "framework".into(),
            value: "scikit-learn".into(),
        }],
    })
}

fn manifest_version(manifest: &str, model: &str, version: u32) -> Command {
    Command::AddManifestVersion(AddManifestVersion {
        manifest: id(manifest),
        models: vec![ModelVersionRef {
            model: id(model),
            version,
        }],
        dependencies: vec!["scikit-learn==1.5.0".into(), "pandas==2.2.2".into()],
        scoring_script: "score.py".into(),
        schema: Some(r#"{"input": {"tenure_months": "int", "monthly_charges": "float"}, "output": "float"}"#.into()),
        sample_data: Some(r#"[{"tenure_months": 12, "monthly_charges": 70.5}]"#.into()),
    })
}

fn build(image: &str, manifest: &str, version: u32) -> Command {
    Command::StartImageBuild(StartImageBuild {
        image: id(image),
        manifest: ManifestVersionRef {
            manifest: id(manifest),
            version,
        },
    })
}

fn image(image: &str, version: u32) -> ImageVersionRef {
    ImageVersionRef {
        image: id(image),
        version,
    }
}

/// The whole demo story, in order.
pub fn story() -> Vec<CommandEnvelope> {
    let mut s = Story {
        commands: Vec::new(),
        clock: Timestamp::parse("2026-03-02T08:00:00Z").expect("valid time"),
    };
    for (principal, display, email) in [
        ("u-alex", "Alex Admin", "alex@contoso.example"),
        ("u-ada", "Ada Lovelace", "ada@contoso.example"),
        ("u-linus", "Linus Torvalds", "linus@contoso.example"),
        ("u-margaret", "Margaret Hamilton", "margaret@contoso.example"),
        ("u-grace", "Grace Hopper", "grace@fabrikam.example"),
    ] {
        s.act(
            principal,
            Command::RegisterPrincipal(PrincipalRegistered {
                principal: id(principal),
                name: name(display),
                email: email.into(),
            }),
        );
    }

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
    s.commands
}

/// Tells the story into a store, all or nothing; returns how many events were new.
pub fn fill(store: &Store) -> Result<usize> {
    let appended = store.execute_batch(story())?;
    Ok(appended.iter().filter(|appended| !appended.duplicate).count())
}

/// A minimal place to work, for benchmarks and load tests: principal `actor` owning
/// subscription `sub` with experimentation account `acct` (workspace `ws`, project `p`,
/// experiment `e`, compute target `ct`, runs `r-0` … started) and model management
/// account `mm` (environments `env-a` and `env-b`).
pub fn scaffold(actor: &str, runs: usize) -> Vec<CommandEnvelope> {
    let mut commands = vec![
        Command::RegisterPrincipal(PrincipalRegistered {
            principal: id(actor),
            name: name(actor),
            email: String::new(),
        }),
        Command::CreateSubscription(SubscriptionCreated {
            subscription: id("sub"),
            name: name("scaffold"),
        }),
        Command::CreateExperimentationAccount(ExperimentationAccountCreated {
            account: id("acct"),
            subscription: id("sub"),
            name: name("research"),
            region: "local".into(),
        }),
        Command::CreateModelManagementAccount(ModelManagementAccountCreated {
            account: id("mm"),
            subscription: id("sub"),
            name: name("serving"),
            region: "local".into(),
            plan: Plan {
                tier: Tier::S3,
                units: 10,
            },
        }),
        Command::CreateWorkspace(WorkspaceCreated {
            workspace: id("ws"),
            account: id("acct"),
            name: name("work"),
            description: String::new(),
        }),
        Command::CreateProject(ProjectCreated {
            project: id("p"),
            workspace: id("ws"),
            name: name("project"),
            path: "/project".into(),
            repository: None,
        }),
        Command::CreateExperiment(ExperimentCreated {
            experiment: id("e"),
            project: id("p"),
            name: name("train"),
            entry_point: "train.py".into(),
            language: Language::Python,
            source_digest: Digest::ZERO,
        }),
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct"),
            account: id("acct"),
            name: name("local"),
            kind: ComputeKind::Local,
        }),
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-a"),
            account: id("mm"),
            name: name("env-a"),
            kind: EnvironmentKind::Local,
        }),
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-b"),
            account: id("mm"),
            name: name("env-b"),
            kind: EnvironmentKind::Kubernetes { cluster: "k8s".into() },
        }),
    ];
    for run in 0..runs {
        commands.push(Command::StartRun(RunStarted {
            run: id(&format!("r-{run}")),
            experiment: id("e"),
            compute_target: id("ct"),
            revision: "scaffold".into(),
            parent: None,
        }));
    }
    commands
        .into_iter()
        .map(|command| CommandEnvelope::new(id(actor), command))
        .collect()
}
