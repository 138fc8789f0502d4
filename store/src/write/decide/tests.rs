//! Given these events, when this command, then this event or this rejection: the rules
//! of each aggregate tested on their own, on a state fold in memory — no log, no writer,
//! no server.

use super::decide;
use crate::derived::pending::Overlay;
use crate::projections::{access, index, state};
use lineage_schema::command::RegisterModelVersion;
use lineage_schema::event::*;
use lineage_schema::*;

/// Current state as decide reads it, made by deciding and folding commands one by one.
struct World {
    overlay: Overlay,
    sight: access::Sight,
    seq: u64,
    _db: sled::Db,
    _dir: tempfile::TempDir,
}

impl World {
    /// The scaffold every benchmark starts from: `u-owner` owns subscription `sub` with
    /// experimentation account `acct` (workspace `ws`, project `p`, experiment `e`,
    /// compute target `ct`, run `r-0` started) and model management account `mm`.
    fn given() -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees = crate::projections::open_view(&db, dir.path().join("journal")).unwrap();
        let mut world = World {
            overlay: Overlay::for_replay(trees),
            sight: access::Sight::default(),
            seq: 0,
            _db: db,
            _dir: dir,
        };
        for command in crate::demo::scaffold("u-owner", 1) {
            world.accepted(command);
        }
        world
    }

    /// Decides `command` and, if it is accepted, folds its event in.
    fn when(&mut self, command: CommandEnvelope) -> Result<Event, Rejection> {
        let decision = match decide(&self.overlay, &self.sight, &command) {
            Ok(decision) => decision,
            Err(error) => return Err(error.rejection().cloned().expect("a rejection, not a failure")),
        };
        let stream = decision.event.stream();
        self.seq += 1;
        let envelope = Envelope {
            seq: self.seq,
            version: index::stream_version(&self.overlay, &stream).unwrap() + 1,
            stream,
            event_id: command.event_id.clone(),
            recorded_at: Timestamp::EPOCH,
            occurred_at: command.occurred_at,
            actor: command.actor.clone(),
            account: decision.account,
            event: decision.event.clone(),
            prev_hash: Digest::ZERO,
            hash: Digest::ZERO,
        };
        index::apply_envelope(&mut self.overlay, &envelope).unwrap();
        state::apply(&mut self.overlay, &envelope).unwrap();
        if access::may_change_access(&envelope) {
            self.sight.forget();
        }
        Ok(decision.event)
    }

    fn accepted(&mut self, command: CommandEnvelope) -> Event {
        let name = command.command.name();
        self.when(command)
            .unwrap_or_else(|rejection| panic!("{name} refused: {rejection}"))
    }

    fn refused(&mut self, command: CommandEnvelope) -> (&'static str, String) {
        let name = command.command.name();
        match self.when(command) {
            Ok(event) => panic!("{name} accepted: {event:?}"),
            Err(rejection) => (rejection.code(), rejection.to_string()),
        }
    }
}

fn by(actor: &str, command: impl Into<Command>) -> CommandEnvelope {
    CommandEnvelope::new(literal(actor), command)
}

fn register(principal: &str) -> PrincipalRegistered {
    PrincipalRegistered {
        principal: literal(principal),
        name: literal(principal),
        email: String::new(),
    }
}

mod accounts {
    use super::*;

    #[test]
    fn a_subscription_owner_registers_principals_and_no_one_else_does() {
        let mut world = World::given();
        world.accepted(by("u-owner", Command::RegisterPrincipal(register("u-ada"))));
        let refused = world.refused(by("u-ada", Command::RegisterPrincipal(register("u-bob"))));
        assert_eq!(refused.0, "FORBIDDEN", "{}", refused.1);
    }

    #[test]
    fn seats_are_assigned_by_the_subscriptions_owner_once() {
        let mut world = World::given();
        world.accepted(by("u-owner", Command::RegisterPrincipal(register("u-ada"))));
        let seat = || SeatAssigned {
            account: literal("acct"),
            principal: literal("u-ada"),
        };
        assert_eq!(
            world.accepted(by("u-owner", Command::AssignSeat(seat()))),
            Event::SeatAssigned(seat())
        );
        let again = world.refused(by("u-owner", Command::AssignSeat(seat())));
        assert_eq!(again.0, "INVALID_TRANSITION", "{}", again.1);
        // Ada reads the account now, but seats are the owner's to give.
        let hers = world.refused(by("u-ada", Command::AssignSeat(seat())));
        assert_eq!(hers.0, "FORBIDDEN", "{}", hers.1);
    }

    #[test]
    fn an_account_one_cannot_read_is_refused_as_unknown() {
        let mut world = World::given();
        world.accepted(by("u-owner", Command::RegisterPrincipal(register("u-eve"))));
        let plan = ModelManagementPlanChanged {
            account: literal("mm"),
            plan: Plan {
                tier: Tier::S2,
                units: 1,
            },
        };
        let hidden = world.refused(by("u-eve", Command::ChangeModelManagementPlan(plan)));
        assert_eq!(
            hidden,
            ("NOT_FOUND", "model-management-account/mm does not exist".into())
        );
    }
}

mod workspaces {
    use super::*;

    #[test]
    fn workspace_names_are_unique_in_their_account() {
        let mut world = World::given();
        let workspace = WorkspaceCreated {
            workspace: literal("ws-2"),
            account: literal("acct"),
            name: literal("work"),
            description: String::new(),
        };
        let refused = world.refused(by("u-owner", Command::CreateWorkspace(workspace)));
        assert_eq!(refused.0, "DUPLICATE_NAME", "{}", refused.1);
    }

    #[test]
    fn sharing_a_workspace_needs_the_principal_seated() {
        let mut world = World::given();
        world.accepted(by("u-owner", Command::RegisterPrincipal(register("u-ada"))));
        let share = WorkspaceAccessGranted {
            workspace: literal("ws"),
            principal: literal("u-ada"),
        };
        let refused = world.refused(by("u-owner", Command::GrantWorkspaceAccess(share.clone())));
        assert_eq!(refused.0, "NO_SEAT", "{}", refused.1);
        world.accepted(by(
            "u-owner",
            Command::AssignSeat(SeatAssigned {
                account: literal("acct"),
                principal: literal("u-ada"),
            }),
        ));
        world.accepted(by("u-owner", Command::GrantWorkspaceAccess(share)));
    }

    #[test]
    fn a_renamed_experiment_frees_its_old_name_and_takes_only_a_free_one() {
        let mut world = World::given();
        let rename = |name: &str| ExperimentRenamed {
            experiment: literal("e"),
            name: literal(name),
        };
        world.accepted(by("u-owner", Command::RenameExperiment(rename("sweep"))));
        let again = ExperimentCreated {
            experiment: literal("e-2"),
            project: literal("p"),
            name: literal("train"),
            entry_point: "train.py".into(),
            language: Language::Python,
            source_digest: Digest::ZERO,
        };
        let created = world.accepted(by("u-owner", Command::CreateExperiment(again)));
        assert_eq!(created.name(), "ExperimentCreated", "the old name is free again");
        let refused = world.refused(by(
            "u-owner",
            Command::RenameExperiment(ExperimentRenamed {
                experiment: literal("e-2"),
                name: literal("sweep"),
            }),
        ));
        assert_eq!(refused.0, "DUPLICATE_NAME", "{}", refused.1);
        world.accepted(by("u-owner", Command::RenameExperiment(rename("sweep"))));
    }
}

mod runs {
    use super::*;

    #[test]
    fn artifacts_are_deleted_by_path_and_folder_only_where_they_are() {
        let mut world = World::given();
        let artifact = |path: &str| Artifact {
            path: path.into(),
            size: 1,
            digest: Digest::of(path.as_bytes()),
        };
        world.accepted(by(
            "u-owner",
            Command::RecordArtifacts(ArtifactsRecorded {
                run: literal("r-0"),
                artifacts: vec![artifact("model/model.pkl"), artifact("model2/x"), artifact("notes.txt")],
            }),
        ));
        let delete = |path: &str| {
            Command::DeleteArtifacts(ArtifactsDeleted {
                run: literal("r-0"),
                paths: vec![path.into()],
            })
        };
        let refused = world.refused(by("u-owner", delete("mod")));
        assert_eq!(refused.0, "INVALID_INPUT", "a prefix is not a folder: {}", refused.1);
        world.accepted(by("u-owner", delete("model")));
        let refused = world.refused(by("u-owner", delete("model/model.pkl")));
        assert_eq!(refused.0, "INVALID_INPUT", "deleted with its folder: {}", refused.1);
        world.accepted(by("u-owner", delete("model2/x")));
        world.accepted(by("u-owner", delete("notes.txt")));
    }

    #[test]
    fn a_run_tag_is_deleted_only_where_it_is() {
        let mut world = World::given();
        let delete = Command::DeleteRunTag(RunTagDeleted {
            run: literal("r-0"),
            key: "stage".into(),
        });
        let refused = world.refused(by("u-owner", delete.clone()));
        assert_eq!(refused.0, "INVALID_INPUT", "{}", refused.1);
        world.accepted(by(
            "u-owner",
            Command::SetRunTags(RunTagsSet {
                run: literal("r-0"),
                tags: vec![Tag {
                    key: "stage".into(),
                    value: "review".into(),
                }],
            }),
        ));
        world.accepted(by("u-owner", delete.clone()));
        let refused = world.refused(by("u-owner", delete));
        assert_eq!(refused.0, "INVALID_INPUT", "deleted once: {}", refused.1);
    }

    #[test]
    fn params_are_logged_once_and_never_changed() {
        let mut world = World::given();
        let params = |value: &str| ParamsLogged {
            run: literal("r-0"),
            params: vec![Param {
                key: "depth".into(),
                value: value.into(),
            }],
        };
        world.accepted(by("u-owner", Command::LogParams(params("6"))));
        world.accepted(by("u-owner", Command::LogParams(params("6"))));
        let refused = world.refused(by("u-owner", Command::LogParams(params("7"))));
        assert_eq!(refused.0, "INVALID_INPUT", "{}", refused.1);
    }

    #[test]
    fn a_run_finishes_once() {
        let mut world = World::given();
        let complete = || Command::CompleteRun(RunCompleted { run: literal("r-0") });
        world.accepted(by("u-owner", complete()));
        let again = world.refused(by("u-owner", complete()));
        assert_eq!(
            again,
            ("INVALID_TRANSITION", "run/r-0: cannot complete it (completed)".into())
        );
    }

    #[test]
    fn a_run_of_an_unknown_experiment_is_refused() {
        let mut world = World::given();
        let run = RunStarted {
            run: literal("r-new"),
            experiment: literal("e-nope"),
            compute_target: literal("ct"),
            revision: "abc".into(),
            parent: None,
        };
        let refused = world.refused(by("u-owner", Command::StartRun(run)));
        assert_eq!(refused, ("NOT_FOUND", "experiment/e-nope does not exist".into()));
    }
}

mod models {
    use super::*;

    #[test]
    fn versions_are_numbered_by_the_store() {
        let mut world = World::given();
        world.accepted(by(
            "u-owner",
            Command::CreateModel(ModelCreated {
                model: literal("m"),
                account: literal("mm"),
                name: literal("model"),
                description: String::new(),
            }),
        ));
        let register = || {
            Command::RegisterModelVersion(RegisterModelVersion {
                model: literal("m"),
                source: ModelSource::Run {
                    run: literal("r-0"),
                    artifact_path: "model".into(),
                },
                derived_from: None,
                tags: Vec::new(),
            })
        };
        for expected in [1, 2] {
            match world.accepted(by("u-owner", register())) {
                Event::ModelVersionRegistered(version) => assert_eq!(version.version, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn model_ids_cannot_hold_an_at_sign() {
        let mut world = World::given();
        let model = ModelCreated {
            model: literal("m@2"),
            account: literal("mm"),
            name: literal("model"),
            description: String::new(),
        };
        let refused = world.refused(by("u-owner", Command::CreateModel(model)));
        assert_eq!(refused.0, "INVALID_INPUT", "{}", refused.1);
    }
}

mod services {
    use super::*;

    #[test]
    fn an_unknown_service_is_refused_before_its_replicas_are_judged() {
        let mut world = World::given();
        let scale = ServiceScaled {
            service: literal("svc-nope"),
            replicas: 0,
        };
        let refused = world.refused(by("u-owner", Command::ScaleService(scale)));
        assert_eq!(refused.0, "NOT_FOUND", "an unknown service first: {}", refused.1);
    }

    #[test]
    fn a_deleted_environment_takes_no_deployment() {
        let mut world = World::given();
        world.accepted(by(
            "u-owner",
            Command::DeleteEnvironment(EnvironmentDeleted {
                environment: literal("env-a"),
            }),
        ));
        let again = world.refused(by(
            "u-owner",
            Command::DeleteEnvironment(EnvironmentDeleted {
                environment: literal("env-a"),
            }),
        ));
        assert_eq!(again.0, "NOT_FOUND", "{}", again.1);
    }
}

mod datasets {
    use super::*;

    #[test]
    fn a_dataset_name_is_unique_per_version() {
        let mut world = World::given();
        let dataset = |id: &str, version: &str| DatasetRegistered {
            dataset: literal(id),
            account: literal("acct"),
            name: literal("events"),
            version: Some(version.into()),
            location: "s3://events".into(),
            digest: None,
        };
        world.accepted(by("u-owner", Command::RegisterDataset(dataset("d-1", "1"))));
        world.accepted(by("u-owner", Command::RegisterDataset(dataset("d-2", "2"))));
        let refused = world.refused(by("u-owner", Command::RegisterDataset(dataset("d-3", "2"))));
        assert_eq!(refused.0, "DUPLICATE_NAME", "{}", refused.1);
    }
}
