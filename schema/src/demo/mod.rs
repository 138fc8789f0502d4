//! The demo story: two subscriptions of realistic ML work, as commands, so a first-time
//! user (and every test that wants a populated store) sees a full graph at once. Plain
//! data: the store appends it (`lineage_store::demo::fill`), the tests and benches too.
//!
//! Event ids are fixed (`demo-1`, `demo-2`, …), so telling the story again appends nothing.

mod contoso;
mod fabrikam;

use crate::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use crate::event::*;
use crate::literal as id;
use crate::literal as name;
use crate::*;

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
    people(&mut s);
    contoso::setup(&mut s);
    contoso::training(&mut s);
    contoso::serving(&mut s);
    contoso::retraining(&mut s);
    fabrikam::story(&mut s);
    s.commands
}

/// The principals of both companies, each registering itself.
fn people(s: &mut Story) {
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
