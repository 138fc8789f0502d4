//! Model-based property test: random sequences of valid and invalid commands, retries,
//! stale expected versions and reopens, run against a real store and a plain in-memory
//! model of the rules; they must agree on every outcome, version and position, and a
//! rebuilt projection must equal the incrementally maintained one.

use crate::support::id;
use lineage_schema::entity::{Detail, RunStatus};
use lineage_schema::event::*;
use lineage_schema::*;
use lineage_store::{Appended, Options, Store};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
enum Op {
    Register {
        principal: u8,
    },
    CreateSubscription {
        subscription: u8,
        actor: u8,
    },
    CreateAccount {
        account: u8,
        subscription: u8,
        actor: u8,
    },
    AssignSeat {
        account: u8,
        principal: u8,
        actor: u8,
    },
    RevokeSeat {
        account: u8,
        principal: u8,
        actor: u8,
    },
    CreateWorkspace {
        workspace: u8,
        account: u8,
        actor: u8,
    },
    GrantAccess {
        workspace: u8,
        principal: u8,
        actor: u8,
    },
    /// A batch: a project, an experiment and a compute target for the workspace.
    Prepare {
        workspace: u8,
        actor: u8,
    },
    StartRun {
        run: u8,
        workspace: u8,
        actor: u8,
    },
    LogMetric {
        run: u8,
        actor: u8,
    },
    CompleteRun {
        run: u8,
        actor: u8,
    },
    /// The inner command with an expected version `off` above the true one (0: right).
    Expecting {
        inner: Box<Op>,
        off: u8,
    },
    RetryLast,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly the owner (0) and the seated user (1), so many commands can succeed.
    let p = prop_oneof![3 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)];
    let single = prop_oneof![
        2 => p.clone().prop_map(|principal| Op::Register { principal }),
        1 => (0u8..2, p.clone()).prop_map(|(subscription, actor)| Op::CreateSubscription { subscription, actor }),
        2 => (0u8..2, 0u8..2, p.clone()).prop_map(|(account, subscription, actor)| Op::CreateAccount { account, subscription, actor }),
        3 => (0u8..2, p.clone(), p.clone()).prop_map(|(account, principal, actor)| Op::AssignSeat { account, principal, actor }),
        1 => (0u8..2, p.clone(), p.clone()).prop_map(|(account, principal, actor)| Op::RevokeSeat { account, principal, actor }),
        3 => (0u8..3, 0u8..2, p.clone()).prop_map(|(workspace, account, actor)| Op::CreateWorkspace { workspace, account, actor }),
        2 => (0u8..3, p.clone(), p.clone()).prop_map(|(workspace, principal, actor)| Op::GrantAccess { workspace, principal, actor }),
        3 => (0u8..3, p.clone()).prop_map(|(workspace, actor)| Op::Prepare { workspace, actor }),
        4 => (0u8..4, 0u8..3, p.clone()).prop_map(|(run, workspace, actor)| Op::StartRun { run, workspace, actor }),
        4 => (0u8..4, p.clone()).prop_map(|(run, actor)| Op::LogMetric { run, actor }),
        2 => (0u8..4, p.clone()).prop_map(|(run, actor)| Op::CompleteRun { run, actor }),
    ];
    prop_oneof![
        20 => single.clone(),
        3 => (single, 0u8..3).prop_map(|(inner, off)| Op::Expecting { inner: Box::new(inner), off }),
        2 => Just(Op::RetryLast),
        1 => Just(Op::Reopen),
    ]
}

/// Valid steps every case starts with, so random operations reach deeper states.
fn prologue() -> Vec<Op> {
    vec![
        Op::Register { principal: 0 },
        Op::Register { principal: 1 },
        Op::Register { principal: 2 },
        Op::CreateSubscription {
            subscription: 0,
            actor: 0,
        },
        Op::CreateAccount {
            account: 0,
            subscription: 0,
            actor: 0,
        },
        Op::AssignSeat {
            account: 0,
            principal: 1,
            actor: 0,
        },
        Op::CreateWorkspace {
            workspace: 0,
            account: 0,
            actor: 1,
        },
        Op::Prepare { workspace: 0, actor: 1 },
        Op::StartRun {
            run: 0,
            workspace: 0,
            actor: 1,
        },
    ]
}

fn principal(index: u8) -> PrincipalId {
    id(&format!("u-{index}"))
}

fn actor_number(principal: &PrincipalId) -> u8 {
    principal.as_str()["u-".len()..]
        .parse()
        .expect("model principals are u-N")
}

fn name(text: String) -> Name {
    Name::new(text).unwrap()
}

/// The plain model: just the facts the rules depend on.
#[derive(Default, Debug)]
struct Model {
    principals: BTreeSet<u8>,
    subscriptions: BTreeMap<u8, u8>,
    accounts: BTreeMap<u8, (u8, BTreeSet<u8>)>,
    workspaces: BTreeMap<u8, (u8, BTreeSet<u8>)>,
    prepared: BTreeSet<u8>,
    runs: BTreeMap<u8, (u8, bool)>,
    versions: BTreeMap<EntityRef, u64>,
    seq: u64,
}

impl Model {
    fn owner_of_account(&self, account: u8) -> Option<u8> {
        self.accounts
            .get(&account)
            .and_then(|(subscription, _)| self.subscriptions.get(subscription).copied())
    }

    fn seated(&self, actor: u8, account: u8) -> bool {
        self.accounts
            .get(&account)
            .is_some_and(|(_, seats)| seats.contains(&actor))
            || self.owner_of_account(account) == Some(actor)
    }

    fn access(&self, actor: u8, workspace: u8) -> bool {
        let Some((account, members)) = self.workspaces.get(&workspace) else {
            return false;
        };
        self.seated(actor, *account) && (members.contains(&actor) || self.owner_of_account(*account) == Some(actor))
    }

    /// Whether the store should accept `op` (a single command or the `Prepare` batch).
    fn accepts(&self, op: &Op) -> bool {
        let registered = |actor: &u8| self.principals.contains(actor);
        match *op {
            Op::Register { principal } => !self.principals.contains(&principal),
            Op::CreateSubscription { subscription, actor } => {
                registered(&actor) && !self.subscriptions.contains_key(&subscription)
            }
            Op::CreateAccount {
                account,
                subscription,
                actor,
            } => {
                registered(&actor)
                    && !self.accounts.contains_key(&account)
                    && self.subscriptions.get(&subscription) == Some(&actor)
            }
            Op::AssignSeat {
                account,
                principal,
                actor,
            }
            | Op::RevokeSeat {
                account,
                principal,
                actor,
            } => {
                let assign = matches!(op, Op::AssignSeat { .. });
                registered(&actor)
                    && self.owner_of_account(account) == Some(actor)
                    && registered(&principal)
                    && self.accounts[&account].1.contains(&principal) != assign
            }
            Op::CreateWorkspace {
                workspace,
                account,
                actor,
            } => {
                registered(&actor)
                    && !self.workspaces.contains_key(&workspace)
                    && self.accounts.contains_key(&account)
                    && self.seated(actor, account)
            }
            Op::GrantAccess {
                workspace,
                principal,
                actor,
            } => {
                registered(&actor) && self.access(actor, workspace) && {
                    let (account, members) = &self.workspaces[&workspace];
                    !members.contains(&principal) && self.accounts[account].1.contains(&principal)
                }
            }
            Op::Prepare { workspace, actor } => {
                registered(&actor) && self.access(actor, workspace) && !self.prepared.contains(&workspace)
            }
            Op::StartRun { run, workspace, actor } => {
                registered(&actor)
                    && !self.runs.contains_key(&run)
                    && self.prepared.contains(&workspace)
                    && self.access(actor, workspace)
            }
            Op::LogMetric { run, actor } => {
                registered(&actor)
                    && self
                        .runs
                        .get(&run)
                        .is_some_and(|(workspace, _)| self.access(actor, *workspace))
            }
            Op::CompleteRun { run, actor } => {
                registered(&actor)
                    && self
                        .runs
                        .get(&run)
                        .is_some_and(|(workspace, running)| *running && self.access(actor, *workspace))
            }
            Op::Expecting { .. } | Op::RetryLast | Op::Reopen => unreachable!("handled by the runner"),
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Register { principal } => {
                self.principals.insert(principal);
            }
            Op::CreateSubscription { subscription, actor } => {
                self.subscriptions.insert(subscription, actor);
            }
            Op::CreateAccount {
                account, subscription, ..
            } => {
                self.accounts.insert(account, (subscription, BTreeSet::new()));
            }
            Op::AssignSeat { account, principal, .. } => {
                self.accounts.get_mut(&account).unwrap().1.insert(principal);
            }
            Op::RevokeSeat { account, principal, .. } => {
                self.accounts.get_mut(&account).unwrap().1.remove(&principal);
            }
            Op::CreateWorkspace {
                workspace,
                account,
                actor,
            } => {
                self.workspaces.insert(workspace, (account, [actor].into()));
            }
            Op::GrantAccess {
                workspace, principal, ..
            } => {
                self.workspaces.get_mut(&workspace).unwrap().1.insert(principal);
            }
            Op::Prepare { workspace, .. } => {
                self.prepared.insert(workspace);
            }
            Op::StartRun { run, workspace, .. } => {
                self.runs.insert(run, (workspace, true));
            }
            Op::LogMetric { .. } => {}
            Op::CompleteRun { run, .. } => {
                self.runs.get_mut(&run).unwrap().1 = false;
            }
            Op::Expecting { .. } | Op::RetryLast | Op::Reopen => unreachable!("handled by the runner"),
        }
    }

    /// Whether `stream` exists and lies where `actor` may not read: the store then does not
    /// compare its version (the command is refused as unknown, and the version stays secret).
    fn hidden_from(&self, actor: u8, stream: &EntityRef) -> bool {
        let number = |prefix: &str| stream.id.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok());
        let in_workspace = |workspace: u8| {
            self.workspaces
                .get(&workspace)
                .is_some_and(|(account, _)| !self.seated(actor, *account))
        };
        match stream.kind {
            EntityKind::Subscription => number("s-").is_some_and(|subscription| {
                self.subscriptions.get(&subscription).is_some_and(|owner| {
                    *owner != actor
                        && !self.accounts.iter().any(|(account, (of, seats))| {
                            *of == subscription && seats.contains(&actor) && self.accounts.contains_key(account)
                        })
                })
            }),
            EntityKind::ExperimentationAccount => {
                number("a-").is_some_and(|account| self.accounts.contains_key(&account) && !self.seated(actor, account))
            }
            EntityKind::Workspace => number("w-").is_some_and(in_workspace),
            EntityKind::Project => number("p-").is_some_and(|w| self.prepared.contains(&w) && in_workspace(w)),
            EntityKind::Run => number("r-")
                .and_then(|run| self.runs.get(&run))
                .is_some_and(|(workspace, _)| in_workspace(*workspace)),
            _ => false,
        }
    }

    fn account_of_workspace(&self, workspace: u8) -> u8 {
        self.workspaces.get(&workspace).map_or(0, |(account, _)| *account)
    }
}

/// The commands of an operation (several for `Prepare`).
fn commands(op: &Op, model: &Model) -> Vec<(PrincipalId, Command)> {
    match *op {
        Op::Register { principal: p } => vec![(
            principal(p),
            Command::RegisterPrincipal(PrincipalRegistered {
                principal: principal(p),
                name: name(format!("P{p}")),
                email: String::new(),
            }),
        )],
        Op::CreateSubscription { subscription, actor } => vec![(
            principal(actor),
            Command::CreateSubscription(SubscriptionCreated {
                subscription: id(&format!("s-{subscription}")),
                name: name(format!("S{subscription}")),
            }),
        )],
        Op::CreateAccount {
            account,
            subscription,
            actor,
        } => vec![(
            principal(actor),
            Command::CreateExperimentationAccount(ExperimentationAccountCreated {
                account: id(&format!("a-{account}")),
                subscription: id(&format!("s-{subscription}")),
                name: name(format!("A{account}")),
                region: "r".into(),
            }),
        )],
        Op::AssignSeat {
            account,
            principal: p,
            actor,
        } => vec![(
            principal(actor),
            Command::AssignSeat(SeatAssigned {
                account: id(&format!("a-{account}")),
                principal: principal(p),
            }),
        )],
        Op::RevokeSeat {
            account,
            principal: p,
            actor,
        } => vec![(
            principal(actor),
            Command::RevokeSeat(SeatRevoked {
                account: id(&format!("a-{account}")),
                principal: principal(p),
            }),
        )],
        Op::CreateWorkspace {
            workspace,
            account,
            actor,
        } => vec![(
            principal(actor),
            Command::CreateWorkspace(WorkspaceCreated {
                workspace: id(&format!("w-{workspace}")),
                account: id(&format!("a-{account}")),
                name: name(format!("W{workspace}")),
                description: String::new(),
            }),
        )],
        Op::GrantAccess {
            workspace,
            principal: p,
            actor,
        } => vec![(
            principal(actor),
            Command::GrantWorkspaceAccess(WorkspaceAccessGranted {
                workspace: id(&format!("w-{workspace}")),
                principal: principal(p),
            }),
        )],
        Op::Prepare { workspace: w, actor } => vec![
            (
                principal(actor),
                Command::CreateProject(ProjectCreated {
                    project: id(&format!("p-{w}")),
                    workspace: id(&format!("w-{w}")),
                    name: name(format!("P{w}")),
                    path: "/p".into(),
                    repository: None,
                }),
            ),
            (
                principal(actor),
                Command::CreateExperiment(ExperimentCreated {
                    experiment: id(&format!("e-{w}")),
                    project: id(&format!("p-{w}")),
                    name: name(format!("E{w}")),
                    entry_point: "train.py".into(),
                    language: Language::Python,
                    source_digest: Digest::ZERO,
                }),
            ),
            (
                principal(actor),
                Command::AttachComputeTarget(ComputeTargetAttached {
                    target: id(&format!("ct-{w}")),
                    account: id(&format!("a-{}", model.account_of_workspace(w))),
                    name: name(format!("CT{w}")),
                    kind: ComputeKind::Local,
                }),
            ),
        ],
        Op::StartRun {
            run,
            workspace: w,
            actor,
        } => vec![(
            principal(actor),
            Command::StartRun(RunStarted {
                run: id(&format!("r-{run}")),
                experiment: id(&format!("e-{w}")),
                compute_target: id(&format!("ct-{w}")),
                revision: "abc".into(),
                parent: None,
            }),
        )],
        Op::LogMetric { run, actor } => vec![(
            principal(actor),
            Command::LogMetrics(MetricsLogged {
                run: id(&format!("r-{run}")),
                points: vec![MetricPoint {
                    name: "loss".into(),
                    value: 0.5,
                    step: 1,
                    timestamp: Timestamp::EPOCH,
                }],
            }),
        )],
        Op::CompleteRun { run, actor } => vec![(
            principal(actor),
            Command::CompleteRun(RunCompleted {
                run: id(&format!("r-{run}")),
            }),
        )],
        Op::Expecting { .. } | Op::RetryLast | Op::Reopen => unreachable!("handled by the runner"),
    }
}

struct Runner {
    dir: tempfile::TempDir,
    /// How the store is opened (its log in files, or on PostgreSQL).
    options: Options,
    store: Option<Store>,
    model: Model,
    sent: usize,
    /// The last batch sent and, if it was accepted, what the store answered.
    last: Option<(Vec<CommandEnvelope>, Option<Vec<Appended>>)>,
}

impl Runner {
    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn send(&mut self, op: &Op, expected_off: Option<u8>) -> Result<(), TestCaseError> {
        let batch: Vec<CommandEnvelope> = commands(op, &self.model)
            .into_iter()
            .map(|(actor, command)| {
                self.sent += 1;
                let stream = command.stream();
                let envelope = CommandEnvelope::new(actor, command).with_event_id(id(&format!("op-{}", self.sent)));
                match expected_off {
                    Some(off) => {
                        envelope.expecting(self.model.versions.get(&stream).copied().unwrap_or(0) + u64::from(off))
                    }
                    None => envelope,
                }
            })
            .collect();
        let conflict = expected_off.is_some_and(|off| off > 0);
        let hidden = batch.first().is_some_and(|first| {
            self.model
                .hidden_from(actor_number(&first.actor), &first.command.stream())
        });
        let accepted = !conflict && self.model.accepts(op);
        let head = self.store().head().seq;
        let outcome = self.store().execute_batch(batch.clone());
        match (&outcome, accepted) {
            (Ok(appended), true) => {
                for (envelope, appended) in batch.iter().zip(appended) {
                    let stream = envelope.command.stream();
                    let version = self.model.versions.entry(stream.clone()).or_insert(0);
                    *version += 1;
                    self.model.seq += 1;
                    prop_assert!(!appended.duplicate);
                    prop_assert_eq!(appended.seq, self.model.seq, "gapless positions");
                    prop_assert_eq!(&appended.stream, &stream);
                    prop_assert_eq!(appended.version, *version);
                }
                self.model.apply(op);
            }
            (Err(error), false) => {
                let rejection = error.rejection();
                prop_assert!(rejection.is_some(), "not a rejection: {}", error);
                // A stale version is a conflict, except on a stream the actor may not know
                // of: that is refused as the command's own checks refuse it (as unknown),
                // so its version tells nothing.
                if conflict && !hidden {
                    prop_assert_eq!(rejection.unwrap().code(), "CONFLICT");
                }
                if conflict && hidden {
                    prop_assert_ne!(
                        rejection.unwrap().code(),
                        "CONFLICT",
                        "a hidden stream's version was compared"
                    );
                }
                prop_assert_eq!(self.store().head().seq, head, "a rejection appended");
            }
            (Ok(_), false) => prop_assert!(false, "store accepted {:?}; the model refuses it", op),
            (Err(error), true) => prop_assert!(false, "store refused {:?}: {}; the model accepts it", op, error),
        }
        self.last = Some((batch, outcome.ok()));
        Ok(())
    }

    fn retry_last(&mut self) -> Result<(), TestCaseError> {
        let Some((batch, answer)) = self.last.clone() else {
            return Ok(());
        };
        let head = self.store().head().seq;
        let again = self.store().execute_batch(batch);
        match answer {
            Some(first) => {
                let again = again
                    .map_err(|error| TestCaseError::fail(format!("retry of an accepted batch failed: {error}")))?;
                for (first, again) in first.iter().zip(&again) {
                    prop_assert!(again.duplicate);
                    prop_assert_eq!(
                        (first.seq, first.version, &first.stream),
                        (again.seq, again.version, &again.stream)
                    );
                }
            }
            // Nothing changed since, so a refused batch is refused again.
            None => prop_assert!(again.is_err(), "a refused batch was accepted on retry"),
        }
        prop_assert_eq!(self.store().head().seq, head, "a retry appended");
        Ok(())
    }

    fn reopen(&mut self) {
        drop(self.store.take());
        self.store = Some(Store::open(self.dir.path(), &self.options).unwrap());
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::RetryLast => self.retry_last(),
            Op::Reopen => {
                self.reopen();
                prop_assert_eq!(self.store().head().seq, self.model.seq);
                Ok(())
            }
            Op::Expecting { inner, off } if !matches!(**inner, Op::Prepare { .. }) => self.send(inner, Some(*off)),
            Op::Expecting { inner, .. } => self.send(inner, None),
            single => self.send(single, None),
        }
    }

    /// The store's state agrees with the model, and a replay gives the same projections.
    fn check_end_state(&mut self) -> Result<(), TestCaseError> {
        let store = self.store();
        for (stream, version) in &self.model.versions {
            prop_assert_eq!(
                store.stream_seqs(stream).unwrap().len() as u64,
                *version,
                "history of {}",
                stream
            );
            prop_assert_eq!(
                store.entity(stream).unwrap().map(|entity| entity.version),
                Some(*version)
            );
        }
        for (account, (_, seats)) in &self.model.accounts {
            let entity = store
                .entity(&EntityRef::new(
                    EntityKind::ExperimentationAccount,
                    format!("a-{account}"),
                ))
                .unwrap()
                .unwrap();
            let Detail::ExperimentationAccount { seats: stored, .. } = entity.detail else {
                unreachable!()
            };
            let expected: BTreeSet<PrincipalId> = seats.iter().map(|p| principal(*p)).collect();
            prop_assert_eq!(stored, expected);
        }
        for (run, (_, running)) in &self.model.runs {
            let entity = store
                .entity(&EntityRef::new(EntityKind::Run, format!("r-{run}")))
                .unwrap()
                .unwrap();
            let Detail::Run(detail) = entity.detail else {
                unreachable!()
            };
            prop_assert_eq!(
                detail.status,
                if *running {
                    RunStatus::Running
                } else {
                    RunStatus::Completed
                }
            );
        }
        let incremental = store.projection_digest().unwrap();
        drop(self.store.take());
        let rebuilt = Store::rebuild(self.dir.path(), &self.options, &mut |_| {}).unwrap();
        prop_assert_eq!(
            rebuilt.projection_digest().unwrap(),
            incremental,
            "a rebuild differs from incremental projections"
        );
        prop_assert_eq!(rebuilt.head().seq, self.model.seq);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_store_agrees_with_a_plain_model(ops in proptest::collection::vec(op(), 10..60)) {
        run_against_the_model(&ops, Options { max_segment_bytes: 2048, ..Options::default() })?;
    }
}

fn run_against_the_model(ops: &[Op], options: Options) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &options).unwrap();
    let mut runner = Runner {
        dir,
        options,
        store: Some(store),
        model: Model::default(),
        sent: 0,
        last: None,
    };
    for op in prologue().iter().chain(ops) {
        runner.step(op)?;
    }
    runner.check_end_state()
}

/// The same property with the log on a real PostgreSQL: a database per case, reopened and
/// rebuilt from there (fewer cases: each makes a database).
#[test]
fn the_store_on_postgres_agrees_with_a_plain_model() {
    let postgres = crate::pg::Postgres::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 16,
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    });
    let case = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&proptest::collection::vec(op(), 10..60), |ops| {
            let number = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let url = postgres.database(&format!("case_{number}"));
            run_against_the_model(
                &ops,
                Options {
                    log_url: Some(url),
                    ..Options::default()
                },
            )
        })
        .unwrap();
}
