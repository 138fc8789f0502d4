//! Every rejection path: the typed error, and a log that did not grow.

use crate::support::id;
use expect_test::expect;
use lineage_schema::command::{RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::literal as name;
use lineage_schema::*;
use lineage_store::{demo, Options, Store};

fn as_actor(actor: &str, command: Command) -> CommandEnvelope {
    CommandEnvelope::new(id(actor), command)
}

/// Commands the demo state must refuse, each with a label.
fn refused() -> Vec<(&'static str, CommandEnvelope)> {
    let point = MetricPoint {
        name: "loss".into(),
        value: 0.1,
        step: 1,
        timestamp: Timestamp::EPOCH,
    };
    vec![
        (
            "unknown parent",
            as_actor(
                "u-ada",
                Command::CreateProject(ProjectCreated {
                    project: id("p-new"),
                    workspace: id("ws-nope"),
                    name: name("x"),
                    path: "/x".into(),
                    repository: None,
                }),
            ),
        ),
        (
            "duplicate name in scope",
            as_actor(
                "u-ada",
                Command::CreateWorkspace(WorkspaceCreated {
                    workspace: id("ws-new"),
                    account: id("acct-contoso-exp"),
                    name: name("Customer churn"),
                    description: String::new(),
                }),
            ),
        ),
        (
            "id already taken",
            as_actor(
                "u-ada",
                Command::CreateWorkspace(WorkspaceCreated {
                    workspace: id("ws-churn"),
                    account: id("acct-contoso-exp"),
                    name: name("Another"),
                    description: String::new(),
                }),
            ),
        ),
        (
            "finishing a run twice",
            as_actor("u-ada", Command::CompleteRun(RunCompleted { run: id("r-churn-1") })),
        ),
        (
            "failing a completed run",
            as_actor(
                "u-ada",
                Command::FailRun(RunFailed {
                    run: id("r-churn-1"),
                    reason: "late".into(),
                }),
            ),
        ),
        (
            "deploying an image whose build failed",
            as_actor(
                "u-ada",
                Command::DeployService(ServiceDeployed {
                    service: id("svc-new"),
                    account: id("acct-contoso-mm"),
                    name: name("new"),
                    image: ImageVersionRef {
                        image: id("img-churn"),
                        version: 2,
                    },
                    environment: id("env-prod"),
                    url: "http://x".into(),
                    replicas: 1,
                }),
            ),
        ),
        (
            "deploying into a deleted environment",
            as_actor(
                "u-ada",
                Command::DeployService(ServiceDeployed {
                    service: id("svc-new"),
                    account: id("acct-contoso-mm"),
                    name: name("new"),
                    image: ImageVersionRef {
                        image: id("img-churn"),
                        version: 3,
                    },
                    environment: id("env-staging"),
                    url: "http://x".into(),
                    replicas: 1,
                }),
            ),
        ),
        (
            "acting without a seat (seat revoked)",
            as_actor(
                "u-linus",
                Command::CreateWorkspace(WorkspaceCreated {
                    workspace: id("ws-new"),
                    account: id("acct-contoso-exp"),
                    name: name("Linus"),
                    description: String::new(),
                }),
            ),
        ),
        (
            "acting in another subscription's model management account",
            as_actor(
                "u-grace",
                Command::CreateModel(ModelCreated {
                    model: id("m-new"),
                    account: id("acct-contoso-mm"),
                    name: name("x"),
                    description: String::new(),
                }),
            ),
        ),
        (
            "working in a workspace without access",
            as_actor(
                "u-ada",
                Command::CreateProject(ProjectCreated {
                    project: id("p-new"),
                    workspace: id("ws-fraud"),
                    name: name("x"),
                    path: "/x".into(),
                    repository: None,
                }),
            ),
        ),
        (
            "assigning seats without owning the subscription",
            as_actor(
                "u-ada",
                Command::AssignSeat(SeatAssigned {
                    account: id("acct-contoso-exp"),
                    principal: id("u-grace"),
                }),
            ),
        ),
        (
            "revoking a seat not held",
            as_actor(
                "u-alex",
                Command::RevokeSeat(SeatRevoked {
                    account: id("acct-contoso-exp"),
                    principal: id("u-grace"),
                }),
            ),
        ),
        (
            "an unregistered actor",
            as_actor(
                "u-mallory",
                Command::CreateSubscription(SubscriptionCreated {
                    subscription: id("sub-evil"),
                    name: name("Evil"),
                }),
            ),
        ),
        (
            "a stale expected version",
            as_actor(
                "u-ada",
                Command::ScaleService(ServiceScaled {
                    service: id("svc-churn"),
                    replicas: 2,
                }),
            )
            .expecting(1),
        ),
        (
            "too many metric points in one command",
            as_actor(
                "u-ada",
                Command::LogMetrics(MetricsLogged {
                    run: id("r-churn-1"),
                    points: vec![point; 10_001],
                }),
            ),
        ),
        (
            "changing a logged param",
            as_actor(
                "u-ada",
                Command::LogParams(ParamsLogged {
                    run: id("r-churn-1"),
                    params: vec![Param {
                        key: "max_depth".into(),
                        value: "9".into(),
                    }],
                }),
            ),
        ),
        (
            "zero replicas",
            as_actor(
                "u-ada",
                Command::ScaleService(ServiceScaled {
                    service: id("svc-churn"),
                    replicas: 0,
                }),
            ),
        ),
        (
            "building from a manifest version that does not exist",
            as_actor(
                "u-ada",
                Command::StartImageBuild(StartImageBuild {
                    image: id("img-churn"),
                    manifest: ManifestVersionRef {
                        manifest: id("mf-churn"),
                        version: 9,
                    },
                }),
            ),
        ),
        (
            "a model version from an unknown run",
            as_actor(
                "u-ada",
                Command::RegisterModelVersion(RegisterModelVersion {
                    model: id("m-churn"),
                    source: ModelSource::Run {
                        run: id("r-nope"),
                        artifact_path: "m.pkl".into(),
                    },
                    derived_from: None,
                    tags: vec![],
                }),
            ),
        ),
        (
            "recording a finished build again",
            as_actor(
                "u-ada",
                Command::RecordImageBuilt(ImageBuilt {
                    image: id("img-churn"),
                    version: 1,
                    digest: "sha256:00".into(),
                }),
            ),
        ),
        (
            "updating a service to the image it runs",
            as_actor(
                "u-ada",
                Command::UpdateService(ServiceUpdated {
                    service: id("svc-churn"),
                    image: ImageVersionRef {
                        image: id("img-churn"),
                        version: 3,
                    },
                }),
            ),
        ),
        (
            "a dataset of another account",
            as_actor(
                "u-ada",
                Command::RecordRunInputs(RunInputsRecorded {
                    run: id("r-churn-1"),
                    datasets: vec![id("d-transactions")],
                }),
            ),
        ),
        (
            "acting on a deleted service",
            as_actor(
                "u-ada",
                Command::ScaleService(ServiceScaled {
                    service: id("svc-churn-staging"),
                    replicas: 2,
                }),
            ),
        ),
        (
            "a non-finite monitoring value",
            as_actor(
                "u-ada",
                Command::RecordServiceMetric(ServiceMetricRecorded {
                    service: id("svc-churn"),
                    name: "latency".into(),
                    value: f64::NAN,
                    observed_at: Timestamp::EPOCH,
                }),
            ),
        ),
        (
            "issuing a token for someone else",
            as_actor(
                "u-ada",
                Command::IssueToken(TokenIssued {
                    principal: id("u-grace"),
                    token: id("tok-x"),
                    hash: Digest::of(b"x"),
                    label: String::new(),
                }),
            ),
        ),
        (
            "making oneself an administrator when there is one",
            as_actor(
                "u-ada",
                Command::DesignateAdministrator(AdministratorDesignated { principal: id("u-ada") }),
            ),
        ),
        (
            "dismissing a store auditor who is none",
            as_actor(
                "u-alex",
                Command::DismissStoreAuditor(lineage_schema::event::StoreAuditorDismissed { principal: id("u-ada") }),
            ),
        ),
        (
            "making an unknown principal a store auditor",
            as_actor(
                "u-alex",
                Command::DesignateStoreAuditor(lineage_schema::event::StoreAuditorDesignated {
                    principal: id("u-nobody"),
                }),
            ),
        ),
        (
            "revoking a token that does not exist",
            as_actor(
                "u-ada",
                Command::RevokeToken(TokenRevoked {
                    principal: id("u-ada"),
                    token: id("tok-none"),
                }),
            ),
        ),
        (
            "an empty metric batch",
            as_actor(
                "u-ada",
                Command::LogMetrics(MetricsLogged {
                    run: id("r-churn-1"),
                    points: vec![],
                }),
            ),
        ),
    ]
}

/// The demo story plus a few changes the refusals rely on.
fn prepared_store(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    store
        .execute(as_actor(
            "u-alex",
            Command::DesignateAdministrator(AdministratorDesignated {
                principal: id("u-alex"),
            }),
        ))
        .unwrap();
    store
        .execute(as_actor(
            "u-alex",
            Command::DeleteEnvironment(EnvironmentDeleted {
                environment: id("env-staging"),
            }),
        ))
        .unwrap();
    store
        .execute(as_actor(
            "u-grace",
            Command::AssignSeat(SeatAssigned {
                account: id("acct-fabrikam-exp"),
                principal: id("u-ada"),
            }),
        ))
        .unwrap();
    store
}

#[test]
fn every_refusal_has_its_typed_error_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared_store(dir.path());
    let mut report = String::new();
    for (label, command) in refused() {
        let head = store.head();
        let digest = store.projection_digest().unwrap();
        let error = store.execute(command).expect_err(label);
        let rejection = error
            .rejection()
            .unwrap_or_else(|| panic!("{label}: not a rejection: {error}"));
        report.push_str(&format!("{label}: {} {rejection}\n", rejection.code()));
        assert_eq!(store.head(), head, "{label}: the log grew");
        assert_eq!(
            store.projection_digest().unwrap(),
            digest,
            "{label}: derived state changed"
        );
    }
    expect![[r#"
        unknown parent: NOT_FOUND workspace/ws-nope does not exist
        duplicate name in scope: DUPLICATE_NAME a workspace named `Customer churn` already exists in experimentation-account/acct-contoso-exp
        id already taken: ALREADY_EXISTS workspace/ws-churn already exists
        finishing a run twice: INVALID_TRANSITION run/r-churn-1: cannot complete it (completed)
        failing a completed run: INVALID_TRANSITION run/r-churn-1: cannot fail it (completed)
        deploying an image whose build failed: INVALID_TRANSITION image/img-churn: cannot deploy it (version 2 failed to build)
        deploying into a deleted environment: INVALID_TRANSITION environment/env-staging: cannot deploy into it (deleted)
        acting without a seat (seat revoked): NOT_FOUND experimentation-account/acct-contoso-exp does not exist
        acting in another subscription's model management account: NOT_FOUND model-management-account/acct-contoso-mm does not exist
        working in a workspace without access: FORBIDDEN u-ada may not work in workspace/ws-fraud without access to it
        assigning seats without owning the subscription: FORBIDDEN u-ada may not assign or revoke seats (only the owner of subscription sub-contoso may)
        revoking a seat not held: INVALID_TRANSITION experimentation-account/acct-contoso-exp: cannot revoke the seat (not seating u-grace)
        an unregistered actor: FORBIDDEN u-mallory may not act (it is not a registered principal)
        a stale expected version: CONFLICT version conflict on service/svc-churn: expected version 1, but it is at 10
        too many metric points in one command: LIMIT_EXCEEDED the number of metric points exceeds the limit of 10000
        changing a logged param: INVALID_INPUT invalid param: param `max_depth` of run r-churn-1 is already `6`; params cannot change
        zero replicas: INVALID_INPUT invalid replicas: replicas must be between 1 and 1000
        building from a manifest version that does not exist: INVALID_INPUT invalid manifest version: manifest mf-churn has no version 9
        a model version from an unknown run: NOT_FOUND run/r-nope does not exist
        recording a finished build again: INVALID_TRANSITION image/img-churn: cannot record the build's outcome again (version 1 already built)
        updating a service to the image it runs: INVALID_TRANSITION service/svc-churn: cannot update it to the same image (already running img-churn@3)
        a dataset of another account: INVALID_INPUT invalid dataset: dataset/d-transactions belongs to another account
        acting on a deleted service: NOT_FOUND service/svc-churn-staging does not exist
        a non-finite monitoring value: INVALID_INPUT invalid value: value must be a finite number
        issuing a token for someone else: FORBIDDEN u-ada may not issue tokens of u-grace
        making oneself an administrator when there is one: FORBIDDEN u-ada may not make u-ada an administrator
        dismissing a store auditor who is none: INVALID_TRANSITION principal/u-ada: cannot dismiss it (not an auditor of the whole store)
        making an unknown principal a store auditor: NOT_FOUND principal/u-nobody does not exist
        revoking a token that does not exist: INVALID_INPUT invalid token: u-ada has no token tok-none
        an empty metric batch: INVALID_INPUT invalid points: log at least one metric point
    "#]]
    .assert_eq(&report);
}

#[test]
fn a_batch_with_one_refused_command_appends_nothing_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared_store(dir.path());
    let head = store.head();
    let good = as_actor(
        "u-ada",
        Command::CreateWorkspace(WorkspaceCreated {
            workspace: id("ws-batch"),
            account: id("acct-contoso-exp"),
            name: name("Batch"),
            description: String::new(),
        }),
    );
    let bad = as_actor("u-ada", Command::CompleteRun(RunCompleted { run: id("r-churn-1") }));
    let error = store.execute_batch(vec![good.clone(), bad]).unwrap_err();
    assert_eq!(error.rejection().unwrap().code(), "INVALID_TRANSITION");
    assert_eq!(store.head(), head);
    assert!(store
        .entity(&EntityRef::new(EntityKind::Workspace, "ws-batch"))
        .unwrap()
        .is_none());
    // The same command alone is fine: the batch failed only because of its partner.
    store.execute(good).unwrap();
    assert_eq!(store.head().seq, head.seq + 1);
}

#[test]
fn a_retry_with_the_same_event_id_returns_the_original_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = prepared_store(dir.path());
    let command = as_actor(
        "u-ada",
        Command::ScaleService(ServiceScaled {
            service: id("svc-churn"),
            replicas: 7,
        }),
    )
    .with_event_id(id("scale-7"));
    let first = store.execute(command.clone()).unwrap();
    let again = store.execute(command).unwrap();
    assert!(!first.duplicate && again.duplicate);
    assert_eq!(
        (again.seq, again.version, &again.stream),
        (first.seq, first.version, &first.stream)
    );
    assert_eq!(store.head().seq, first.seq);
}

/// Every role in a model management account and in an experimentation account, against
/// representative commands: who may act, who may grant, and what each may read.
#[test]
fn the_role_matrix() {
    use lineage_schema::event::{Role, RoleGranted};
    let roles = [
        None,
        Some(Role::Reader),
        Some(Role::Auditor),
        Some(Role::BillingReader),
        Some(Role::Contributor),
        Some(Role::Owner),
    ];
    let mut report = String::new();
    for role in roles {
        let dir = tempfile::tempdir().unwrap();
        let store = prepared_store(dir.path());
        if let Some(role) = role {
            for account in ["acct-contoso-mm", "acct-contoso-exp"] {
                store
                    .execute(as_actor(
                        "u-alex",
                        Command::GrantRole(RoleGranted {
                            principal: id("u-linus"),
                            account: id(account),
                            role,
                        }),
                    ))
                    .unwrap();
            }
        }
        let attempts: Vec<(&str, Command)> = vec![
            (
                "create a model",
                Command::CreateModel(ModelCreated {
                    model: id("m-linus"),
                    account: id("acct-contoso-mm"),
                    name: name("linus-model"),
                    description: String::new(),
                }),
            ),
            (
                "scale a service",
                Command::ScaleService(ServiceScaled {
                    service: id("svc-churn"),
                    replicas: 4,
                }),
            ),
            (
                "create a workspace",
                Command::CreateWorkspace(WorkspaceCreated {
                    workspace: id("ws-linus"),
                    account: id("acct-contoso-exp"),
                    name: name("Linus"),
                    description: String::new(),
                }),
            ),
            (
                "grant a role",
                Command::GrantRole(RoleGranted {
                    principal: id("u-margaret"),
                    account: id("acct-contoso-mm"),
                    role: Role::Reader,
                }),
            ),
        ];
        let outcomes: Vec<String> = attempts
            .into_iter()
            .map(|(what, command)| match store.execute(as_actor("u-linus", command)) {
                Ok(_) => format!("{what}: yes"),
                Err(error) => format!(
                    "{what}: {}",
                    error.rejection().map_or("error", |rejection| rejection.code())
                ),
            })
            .collect();
        let access = store.access(&id("u-linus")).unwrap();
        let service = store
            .entity(&EntityRef::new(EntityKind::Service, "svc-churn"))
            .unwrap()
            .unwrap();
        let scaled = store
            .events(0, usize::MAX, &Default::default())
            .unwrap()
            .into_iter()
            .find(|event| event.event.name() == "ServiceScaled")
            .unwrap();
        report.push_str(&format!(
            "{:<14} {} | reads: {} | audits: {}\n",
            role.map_or("no role".to_string(), |role| format!("{role:?}")),
            outcomes.join(", "),
            if access.can_read_entity(&service) { "yes" } else { "no" },
            if access.can_audit(&scaled) { "yes" } else { "no" },
        ));
    }
    expect![[r#"
        no role        create a model: NOT_FOUND, scale a service: NOT_FOUND, create a workspace: NOT_FOUND, grant a role: NOT_FOUND | reads: no | audits: no
        Reader         create a model: NO_SEAT, scale a service: NO_SEAT, create a workspace: NO_SEAT, grant a role: FORBIDDEN | reads: yes | audits: no
        Auditor        create a model: NO_SEAT, scale a service: NO_SEAT, create a workspace: NO_SEAT, grant a role: FORBIDDEN | reads: yes | audits: yes
        BillingReader  create a model: NOT_FOUND, scale a service: NOT_FOUND, create a workspace: NOT_FOUND, grant a role: NOT_FOUND | reads: no | audits: no
        Contributor    create a model: yes, scale a service: yes, create a workspace: NO_SEAT, grant a role: FORBIDDEN | reads: yes | audits: no
        Owner          create a model: yes, scale a service: yes, create a workspace: NO_SEAT, grant a role: yes | reads: yes | audits: yes
    "#]]
    .assert_eq(&report);
}

/// A script touching every command, valid in order for an administrator on the demo story.
pub(crate) fn every_command_script() -> Vec<Command> {
    use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
    use lineage_schema::event::{Role, RoleGranted, RoleRevoked, TokenIssued, TokenRevoked};
    let point = MetricPoint {
        name: "loss".into(),
        value: 0.5,
        step: 1,
        timestamp: Timestamp::EPOCH,
    };
    let tag = Tag {
        key: "k".into(),
        value: "v".into(),
    };
    let image = |version| ImageVersionRef {
        image: id("img-x"),
        version,
    };
    vec![
        Command::RegisterPrincipal(PrincipalRegistered {
            principal: id("u-new"),
            name: name("Newcomer"),
            email: String::new(),
        }),
        Command::CreateSubscription(SubscriptionCreated {
            subscription: id("sub-x"),
            name: name("Side project"),
        }),
        Command::CreateExperimentationAccount(ExperimentationAccountCreated {
            account: id("acct-x"),
            subscription: id("sub-contoso"),
            name: name("x"),
            region: "r".into(),
        }),
        Command::CreateModelManagementAccount(ModelManagementAccountCreated {
            account: id("acct-mm-x"),
            subscription: id("sub-contoso"),
            name: name("x"),
            region: "r".into(),
            plan: Plan {
                tier: Tier::S1,
                units: 1,
            },
        }),
        Command::ChangeModelManagementPlan(ModelManagementPlanChanged {
            account: id("acct-contoso-mm"),
            plan: Plan {
                tier: Tier::S2,
                units: 1,
            },
        }),
        Command::AssignSeat(SeatAssigned {
            account: id("acct-contoso-exp"),
            principal: id("u-grace"),
        }),
        Command::RevokeSeat(SeatRevoked {
            account: id("acct-contoso-exp"),
            principal: id("u-grace"),
        }),
        Command::CreateWorkspace(WorkspaceCreated {
            workspace: id("ws-x"),
            account: id("acct-contoso-exp"),
            name: name("x"),
            description: String::new(),
        }),
        Command::GrantWorkspaceAccess(WorkspaceAccessGranted {
            workspace: id("ws-x"),
            principal: id("u-margaret"),
        }),
        Command::RevokeWorkspaceAccess(WorkspaceAccessRevoked {
            workspace: id("ws-x"),
            principal: id("u-margaret"),
        }),
        Command::CreateProject(ProjectCreated {
            project: id("p-x"),
            workspace: id("ws-churn"),
            name: name("x"),
            path: "/x".into(),
            repository: None,
        }),
        Command::CreateExperiment(ExperimentCreated {
            experiment: id("e-x"),
            project: id("p-churn"),
            name: name("x"),
            entry_point: "x.py".into(),
            language: Language::Python,
            source_digest: Digest::ZERO,
        }),
        Command::ReviseExperiment(ExperimentRevised {
            experiment: id("e-train"),
            entry_point: "train.py".into(),
            source_digest: Digest::ZERO,
        }),
        Command::AttachComputeTarget(ComputeTargetAttached {
            target: id("ct-x"),
            account: id("acct-contoso-exp"),
            name: name("x"),
            kind: ComputeKind::Local,
        }),
        Command::DetachComputeTarget(ComputeTargetDetached { target: id("ct-x") }),
        Command::RegisterDataset(DatasetRegistered {
            dataset: id("d-x"),
            account: id("acct-contoso-exp"),
            name: name("x"),
            location: "/x".into(),
            version: None,
            digest: None,
        }),
        Command::QueueRun(RunQueued {
            run: id("r-x"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            parent: None,
        }),
        Command::StartRun(RunStarted {
            run: id("r-x"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            revision: "x".into(),
            parent: None,
        }),
        Command::LogParams(ParamsLogged {
            run: id("r-x"),
            params: vec![Param {
                key: "p".into(),
                value: "1".into(),
            }],
        }),
        Command::LogMetrics(MetricsLogged {
            run: id("r-x"),
            points: vec![point],
        }),
        Command::SetRunTags(RunTagsSet {
            run: id("r-x"),
            tags: vec![tag.clone()],
        }),
        Command::RecordArtifacts(ArtifactsRecorded {
            run: id("r-x"),
            artifacts: vec![Artifact {
                path: "m.pkl".into(),
                size: 1,
                digest: Digest::ZERO,
            }],
        }),
        Command::RecordRunInputs(RunInputsRecorded {
            run: id("r-x"),
            datasets: vec![id("d-usage")],
        }),
        Command::TagRunInput(RunInputTagged {
            run: id("r-x"),
            dataset: id("d-usage"),
            tags: vec![tag.clone()],
        }),
        Command::RecordRunOutputs(RunOutputsRecorded {
            run: id("r-x"),
            datasets: vec![id("d-x")],
        }),
        Command::CompleteRun(RunCompleted { run: id("r-x") }),
        Command::QueueRun(RunQueued {
            run: id("r-y"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            parent: None,
        }),
        Command::FailRun(RunFailed {
            run: id("r-y"),
            reason: "out of memory".into(),
        }),
        Command::QueueRun(RunQueued {
            run: id("r-z"),
            experiment: id("e-train"),
            compute_target: id("ct-local"),
            parent: None,
        }),
        Command::CancelRun(RunCanceled { run: id("r-z") }),
        Command::CreateModel(ModelCreated {
            model: id("m-x"),
            account: id("acct-contoso-mm"),
            name: name("x"),
            description: String::new(),
        }),
        Command::RegisterModelVersion(RegisterModelVersion {
            model: id("m-x"),
            source: ModelSource::Run {
                run: id("r-churn-1"),
                artifact_path: "m.pkl".into(),
            },
            derived_from: None,
            tags: vec![],
        }),
        Command::SetModelVersionTags(ModelVersionTagsSet {
            model: id("m-x"),
            version: 1,
            tags: vec![tag.clone()],
        }),
        Command::CreateManifest(ManifestCreated {
            manifest: id("mf-x"),
            account: id("acct-contoso-mm"),
            name: name("x"),
        }),
        Command::AddManifestVersion(AddManifestVersion {
            manifest: id("mf-x"),
            models: vec![ModelVersionRef {
                model: id("m-x"),
                version: 1,
            }],
            dependencies: vec![],
            scoring_script: "s.py".into(),
            schema: None,
            sample_data: None,
        }),
        Command::CreateImage(ImageCreated {
            image: id("img-x"),
            account: id("acct-contoso-mm"),
            name: name("x"),
        }),
        Command::StartImageBuild(StartImageBuild {
            image: id("img-x"),
            manifest: ManifestVersionRef {
                manifest: id("mf-x"),
                version: 1,
            },
        }),
        Command::RecordImageBuilt(ImageBuilt {
            image: id("img-x"),
            version: 1,
            digest: "sha256:0".into(),
        }),
        Command::StartImageBuild(StartImageBuild {
            image: id("img-x"),
            manifest: ManifestVersionRef {
                manifest: id("mf-x"),
                version: 1,
            },
        }),
        Command::RecordImageBuildFailed(ImageBuildFailed {
            image: id("img-x"),
            version: 2,
            reason: "x".into(),
        }),
        Command::CreateEnvironment(EnvironmentCreated {
            environment: id("env-x"),
            account: id("acct-contoso-mm"),
            name: name("x"),
            kind: EnvironmentKind::Local,
        }),
        Command::DeployService(ServiceDeployed {
            service: id("svc-x"),
            account: id("acct-contoso-mm"),
            name: name("x"),
            image: image(1),
            environment: id("env-x"),
            url: "http://x".into(),
            replicas: 1,
        }),
        Command::UpdateService(ServiceUpdated {
            service: id("svc-churn"),
            image: ImageVersionRef {
                image: id("img-churn"),
                version: 1,
            },
        }),
        Command::ScaleService(ServiceScaled {
            service: id("svc-x"),
            replicas: 2,
        }),
        Command::RecordServiceMetric(ServiceMetricRecorded {
            service: id("svc-x"),
            name: "latency".into(),
            value: 1.0,
            observed_at: Timestamp::EPOCH,
        }),
        Command::RaiseDriftAlert(DriftAlertRaised {
            service: id("svc-x"),
            feature: "f".into(),
            score: 0.5,
            threshold: 0.3,
            observed_at: Timestamp::EPOCH,
        }),
        Command::DeleteService(ServiceDeleted { service: id("svc-x") }),
        Command::DeleteEnvironment(EnvironmentDeleted {
            environment: id("env-x"),
        }),
        Command::SetExperimentTags(ExperimentTagsSet {
            experiment: id("e-train"),
            tags: vec![tag.clone()],
        }),
        Command::DeleteExperiment(ExperimentDeleted { experiment: id("e-x") }),
        Command::RestoreExperiment(ExperimentRestored { experiment: id("e-x") }),
        Command::DeleteRun(RunDeleted { run: id("r-x") }),
        Command::RestoreRun(RunRestored { run: id("r-x") }),
        Command::SetModelTags(ModelTagsSet {
            model: id("m-churn"),
            tags: vec![tag.clone()],
        }),
        Command::SetModelAlias(ModelAliasSet {
            model: id("m-churn"),
            alias: "champion".into(),
            version: 1,
        }),
        Command::RemoveModelAlias(ModelAliasRemoved {
            model: id("m-churn"),
            alias: "champion".into(),
        }),
        Command::RecordDatasetSchema(DatasetSchemaRecorded {
            dataset: id("d-usage"),
            fields: vec![SchemaField {
                name: "tenure".into(),
                data_type: "long".into(),
                description: None,
            }],
        }),
        Command::RenameExperiment(ExperimentRenamed {
            experiment: id("e-train"),
            name: name("training, renamed"),
        }),
        Command::DeleteRunTag(RunTagDeleted {
            run: id("r-x"),
            key: tag.key.clone(),
        }),
        Command::DeleteArtifacts(ArtifactsDeleted {
            run: id("r-x"),
            paths: vec!["m.pkl".into()],
        }),
        Command::LogModel(ModelLogged {
            run: id("r-x"),
            number: 1,
            name: "model".into(),
            model_type: "sklearn".into(),
            params: vec![Param {
                key: "alpha".into(),
                value: "0.5".into(),
            }],
            tags: vec![],
        }),
        Command::FinalizeLoggedModel(LoggedModelFinalized {
            run: id("r-x"),
            number: 1,
            status: LoggedModelStatus::Ready,
        }),
        Command::SetLoggedModelTags(LoggedModelTagsSet {
            run: id("r-x"),
            number: 1,
            tags: vec![tag.clone()],
        }),
        Command::DeleteLoggedModelTag(LoggedModelTagDeleted {
            run: id("r-x"),
            number: 1,
            key: tag.key.clone(),
        }),
        Command::LogLoggedModelParams(LoggedModelParamsLogged {
            run: id("r-x"),
            number: 1,
            params: vec![Param {
                key: "l1_ratio".into(),
                value: "0.1".into(),
            }],
        }),
        Command::RecordModelOutput(ModelOutputRecorded {
            run: id("r-x"),
            number: 1,
            step: 3,
        }),
        Command::DeleteLoggedModel(LoggedModelDeleted {
            run: id("r-x"),
            number: 1,
        }),
        Command::RenameModel(ModelRenamed {
            model: id("m-x"),
            name: name("x, renamed"),
        }),
        Command::DescribeModel(ModelDescribed {
            model: id("m-x"),
            description: "described".into(),
        }),
        Command::DeleteModelVersionTag(ModelVersionTagDeleted {
            model: id("m-x"),
            version: 1,
            key: tag.key.clone(),
        }),
        Command::SetModelTags(ModelTagsSet {
            model: id("m-x"),
            tags: vec![tag.clone()],
        }),
        Command::DeleteModelTag(ModelTagDeleted {
            model: id("m-x"),
            key: tag.key.clone(),
        }),
        Command::DescribeModelVersion(ModelVersionDescribed {
            model: id("m-x"),
            version: 1,
            description: "described".into(),
        }),
        Command::DeleteModelVersion(ModelVersionDeleted {
            model: id("m-x"),
            version: 1,
        }),
        Command::DeleteModel(ModelDeleted { model: id("m-x") }),
        Command::GrantRole(RoleGranted {
            principal: id("u-margaret"),
            account: id("acct-contoso-mm"),
            role: Role::Reader,
        }),
        Command::RevokeRole(RoleRevoked {
            principal: id("u-margaret"),
            account: id("acct-contoso-mm"),
            role: Role::Reader,
        }),
        Command::IssueToken(TokenIssued {
            principal: id("u-ada"),
            token: id("tok-ada"),
            hash: Digest::of(b"matrix"),
            label: String::new(),
        }),
        Command::RevokeToken(TokenRevoked {
            principal: id("u-ada"),
            token: id("tok-ada"),
        }),
        Command::DesignateAdministrator(lineage_schema::event::AdministratorDesignated { principal: id("u-ada") }),
        Command::DesignateStoreAuditor(lineage_schema::event::StoreAuditorDesignated { principal: id("u-ada") }),
        Command::DismissStoreAuditor(lineage_schema::event::StoreAuditorDismissed { principal: id("u-ada") }),
    ]
}

/// Every command, tried by a principal holding each role in both Contoso accounts (and by
/// an administrator, for whom the whole script is valid).
#[test]
fn the_role_matrix_for_every_command() {
    use lineage_schema::event::{AdministratorDesignated, Role, RoleGranted};
    let script = every_command_script();
    let names: std::collections::BTreeSet<&str> = script.iter().map(Command::name).collect();
    let every: std::collections::BTreeSet<&str> = Command::NAMES.iter().copied().collect();
    assert_eq!(names, every, "the script covers every command");
    let actors: Vec<(&str, Option<Role>)> = vec![
        ("u-linus", None),
        ("u-linus", Some(Role::Reader)),
        ("u-linus", Some(Role::Auditor)),
        ("u-linus", Some(Role::BillingReader)),
        ("u-linus", Some(Role::Contributor)),
        ("u-linus", Some(Role::Owner)),
        ("u-grace", None),
    ];
    let mut columns = Vec::new();
    for (actor, role) in &actors {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Options::default()).unwrap();
        demo::fill(&store).unwrap();
        // An administrator exists, as on every served store.
        store
            .execute(as_actor(
                "u-grace",
                Command::DesignateAdministrator(AdministratorDesignated {
                    principal: id("u-grace"),
                }),
            ))
            .unwrap();
        if let Some(role) = role {
            for account in ["acct-contoso-exp", "acct-contoso-mm"] {
                store
                    .execute(as_actor(
                        "u-alex",
                        Command::GrantRole(RoleGranted {
                            principal: id(actor),
                            account: id(account),
                            role: *role,
                        }),
                    ))
                    .unwrap();
            }
        }
        let outcomes: Vec<String> = script
            .iter()
            .map(|command| {
                let mut command = command.clone();
                if let Command::IssueToken(issue) = &mut command {
                    issue.principal = id(actor);
                }
                if let Command::RevokeToken(revoke) = &mut command {
                    revoke.principal = id(actor);
                }
                match store.execute(as_actor(actor, command)) {
                    Ok(_) => "yes".to_string(),
                    Err(error) => error
                        .rejection()
                        .map_or("error", |rejection| rejection.code())
                        .to_string(),
                }
            })
            .collect();
        columns.push(outcomes);
    }
    assert!(
        columns.last().unwrap().iter().all(|outcome| outcome == "yes"),
        "an administrator may do everything: {:?}",
        columns.last()
    );
    let mut report = format!(
        "{:<30} {}\n",
        "command",
        ["none", "reader", "auditor", "billing", "contrib", "owner"]
            .map(|h| format!("{h:<18}"))
            .join("")
    );
    for (index, command) in script.iter().enumerate() {
        let row: String = columns[..6]
            .iter()
            .map(|column| format!("{:<18}", column[index]))
            .collect();
        report.push_str(&format!("{:<30} {}\n", command.name(), row.trim_end()));
    }
    expect![[r#"
        command                        none              reader            auditor           billing           contrib           owner             
        RegisterPrincipal              FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN
        CreateSubscription             yes               yes               yes               yes               yes               yes
        CreateExperimentationAccount   NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         FORBIDDEN
        CreateModelManagementAccount   NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         FORBIDDEN
        ChangeModelManagementPlan      NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         FORBIDDEN
        AssignSeat                     NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         FORBIDDEN
        RevokeSeat                     NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         FORBIDDEN
        CreateWorkspace                NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        GrantWorkspaceAccess           NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RevokeWorkspaceAccess          NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        CreateProject                  NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        CreateExperiment               NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        ReviseExperiment               NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        AttachComputeTarget            NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        DetachComputeTarget            NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RegisterDataset                NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        QueueRun                       NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        StartRun                       NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        LogParams                      NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        LogMetrics                     NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        SetRunTags                     NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RecordArtifacts                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RecordRunInputs                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        TagRunInput                    NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RecordRunOutputs               NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        CompleteRun                    NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        QueueRun                       NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        FailRun                        NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        QueueRun                       NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        CancelRun                      NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        CreateModel                    NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        RegisterModelVersion           NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NO_SEAT           NO_SEAT
        SetModelVersionTags            NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        CreateManifest                 NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        AddManifestVersion             NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        CreateImage                    NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        StartImageBuild                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        RecordImageBuilt               NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        StartImageBuild                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        RecordImageBuildFailed         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        CreateEnvironment              NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        DeployService                  NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        UpdateService                  NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        ScaleService                   NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RecordServiceMetric            NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RaiseDriftAlert                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteService                  NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteEnvironment              NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        SetExperimentTags              NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        DeleteExperiment               NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RestoreExperiment              NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteRun                      NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RestoreRun                     NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        SetModelTags                   NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        SetModelAlias                  NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        RemoveModelAlias               NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         yes               yes
        RecordDatasetSchema            NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        RenameExperiment               NOT_FOUND         NO_SEAT           NO_SEAT           NOT_FOUND         NO_SEAT           NO_SEAT
        DeleteRunTag                   NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteArtifacts                NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        LogModel                       NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        FinalizeLoggedModel            NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        SetLoggedModelTags             NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteLoggedModelTag           NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        LogLoggedModelParams           NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RecordModelOutput              NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        DeleteLoggedModel              NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND
        RenameModel                    NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        DescribeModel                  NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        DeleteModelVersionTag          NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        SetModelTags                   NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        DeleteModelTag                 NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        DescribeModelVersion           NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        DeleteModelVersion             NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         INVALID_INPUT     INVALID_INPUT
        DeleteModel                    NOT_FOUND         NOT_FOUND         NOT_FOUND         NOT_FOUND         yes               yes
        GrantRole                      NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         yes
        RevokeRole                     NOT_FOUND         FORBIDDEN         FORBIDDEN         NOT_FOUND         FORBIDDEN         yes
        IssueToken                     yes               yes               yes               yes               yes               yes
        RevokeToken                    yes               yes               yes               yes               yes               yes
        DesignateAdministrator         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN
        DesignateStoreAuditor          FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN
        DismissStoreAuditor            FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN         FORBIDDEN
    "#]]
    .assert_eq(&report);
}
