//! Unit tests of the store as a whole: the demo story, reads, idempotency, reopen.

use crate::{demo, Options, Store};
use lineage_schema::entity::{Detail, RunStatus};
use lineage_schema::literal;
use lineage_schema::*;

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &Options::default()).unwrap()
}

#[test]
fn the_demo_story_is_accepted_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let appended = demo::fill(&store).unwrap();
    assert_eq!(appended, demo::story().len());
    assert_eq!(store.head().seq, appended as u64);
    let run = store
        .entity(&EntityRef::new(EntityKind::Run, "r-churn-2"))
        .unwrap()
        .unwrap();
    let Detail::Run(detail) = &run.detail else {
        panic!("run detail")
    };
    assert_eq!(detail.status, RunStatus::Failed);
    let service = store
        .entity(&EntityRef::new(EntityKind::Service, "svc-churn"))
        .unwrap()
        .unwrap();
    let Detail::Service(detail) = &service.detail else {
        panic!("service detail")
    };
    assert_eq!(detail.image.to_string(), "img-churn@3");
    assert_eq!(detail.drift_alerts.len(), 1);
}

#[test]
fn telling_the_story_twice_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let head = store.head();
    assert_eq!(demo::fill(&store).unwrap(), 0);
    assert_eq!(store.head(), head);
}

/// sled's own files damaged (as a SIGKILL can leave sled 0.34's): opening sets them aside
/// and derives everything again from the log — nothing acknowledged is lost.
#[test]
fn damaged_derived_data_is_set_aside_and_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (digest, head) = {
        let store = open(dir.path());
        demo::fill(&store).unwrap();
        let taken = (store.projection_digest().unwrap(), store.head());
        store.close().unwrap();
        taken
    };
    // sled's background threads let go of its files a moment after the handle is gone.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let db = dir.path().join("derived").join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    for index in (100..bytes.len().min(60_000)).step_by(3) {
        bytes[index] ^= 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    // …and a snapshot torn as a kill leaves one (sled reads it first).
    std::fs::write(dir.path().join("derived").join("snap.0000000000018A92"), [0x5a; 77]).unwrap();
    let store = open(dir.path());
    let aside = store
        .opened()
        .derived_set_aside
        .clone()
        .expect("the damaged trees were set aside");
    assert!(aside.join("db").exists(), "kept for a look: {}", aside.display());
    assert_eq!(store.head(), head);
    assert_eq!(store.opened().caught_up, head.seq);
    assert_eq!(store.projection_digest().unwrap(), digest);
}

#[test]
fn state_survives_reopen_and_rebuild_gives_the_same_projections() {
    let dir = tempfile::tempdir().unwrap();
    let digest = {
        let store = open(dir.path());
        demo::fill(&store).unwrap();
        store.projection_digest().unwrap()
    };
    let store = open(dir.path());
    assert_eq!(store.projection_digest().unwrap(), digest);
    drop(store);
    let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
    assert_eq!(rebuilt.projection_digest().unwrap(), digest);
    assert_eq!(rebuilt.opened().caught_up, demo::story().len() as u64);
}

/// An account with more datasets than a chunk of its children list holds, registered out
/// of id order over several groups and a reopen: each is listed once, by id.
#[test]
fn many_children_are_listed_once_each_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.execute_batch(demo::scaffold("u-p", 0)).unwrap();
    let ids: Vec<String> = (0..400u32)
        .map(|index| format!("d-{}", index.wrapping_mul(2_654_435_761) % 100_000))
        .collect();
    let register = |store: &Store, ids: &[String]| {
        let commands = ids.iter().map(|dataset| {
            CommandEnvelope::new(
                PrincipalId::new("u-p").unwrap(),
                Command::RegisterDataset(lineage_schema::event::DatasetRegistered {
                    dataset: DatasetId::new(dataset.as_str()).unwrap(),
                    account: AccountId::new("acct").unwrap(),
                    name: Name::new(dataset.as_str()).unwrap(),
                    location: "/data".into(),
                    version: None,
                    digest: None,
                }),
            )
        });
        store.execute_batch(commands.collect()).unwrap();
    };
    for part in ids[..300].chunks(37) {
        register(&store, part);
    }
    drop(store);
    let store = open(dir.path());
    register(&store, &ids[300..]);
    let account = EntityRef::new(EntityKind::ExperimentationAccount, "acct");
    let listed: Vec<String> = store
        .children(&account, EntityKind::Dataset)
        .unwrap()
        .into_iter()
        .map(|entity| entity.reference.id.to_string())
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(expected.len(), 400, "the ids are distinct");
    assert_eq!(listed, expected);
    assert!(store.children(&account, EntityKind::Run).unwrap().is_empty());
}

/// A taken name, a used id and a sent event id are known wherever they lie — in the layer,
/// in sled after a flush, in sled after a reopen (the key filter armed from sled) or a
/// rebuild (replayed into sled after it was armed) — and a name never taken stays free.
#[test]
fn names_ids_and_event_ids_are_found_in_the_layer_in_sled_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let actor = PrincipalId::new("u-p").unwrap();
    let register = |index: u32, dataset: &str, name: &str| {
        CommandEnvelope::new(
            actor.clone(),
            Command::RegisterDataset(lineage_schema::event::DatasetRegistered {
                dataset: DatasetId::new(dataset).unwrap(),
                account: AccountId::new("acct").unwrap(),
                name: Name::new(name).unwrap(),
                location: "/data".into(),
                version: None,
                digest: None,
            }),
        )
        .with_event_id(EventId::new(format!("ev-{index}")).unwrap())
    };
    let check = |store: &Store, index: u32| {
        let (dataset, name) = (format!("d-{index}"), format!("data-{index}"));
        let again = store.execute(register(index, &dataset, &name)).unwrap();
        assert!(again.duplicate, "event id {index} is known");
        let taken = store.execute(register(1000 + index, "d-fresh", &name));
        assert!(
            matches!(&taken, Err(crate::Error::Rejected(Rejection::DuplicateName { .. }))),
            "{taken:?}"
        );
        let used = store.execute(register(2000 + index, &dataset, "unused"));
        assert!(
            matches!(&used, Err(crate::Error::Rejected(Rejection::AlreadyExists { .. }))),
            "{used:?}"
        );
    };
    {
        let store = open(dir.path());
        store.execute_batch(demo::scaffold("u-p", 0)).unwrap();
        store.execute(register(1, "d-1", "data-1")).unwrap();
        check(&store, 1);
        store.flush().unwrap();
        store.execute(register(2, "d-2", "data-2")).unwrap();
        store.flush().unwrap();
        check(&store, 2);
        store.execute(register(3, "d-3", "data-3")).unwrap();
    }
    let store = open(dir.path());
    for index in 1..=3 {
        check(&store, index);
    }
    drop(store);
    // Rebuilt: the keys reach sled by replay, after the filter was armed on empty trees.
    let store = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
    for index in 1..=3 {
        check(&store, index);
    }
    // Nothing above was let through: the fresh name and id are still free.
    store.execute(register(9, "d-fresh", "fresh")).unwrap();
}

#[test]
fn reads_find_history_children_names_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let run = EntityRef::new(EntityKind::Run, "r-churn-1");
    let history = store.history(&run).unwrap();
    assert_eq!(history.first().unwrap().event.name(), "RunStarted");
    assert_eq!(history.last().unwrap().event.name(), "RunCompleted");
    assert!(history.windows(2).all(|pair| pair[0].version + 1 == pair[1].version));
    let experiments = store
        .children(&EntityRef::new(EntityKind::Project, "p-churn"), EntityKind::Experiment)
        .unwrap();
    assert_eq!(experiments.len(), 2);
    let auc = store
        .metric_history(&RunId::new("r-churn-1").unwrap(), Some("auc"))
        .unwrap();
    assert_eq!(auc.len(), 20);
    assert!(auc.windows(2).all(|pair| pair[0].value <= pair[1].value));
    let dataset = store
        .find_by_name(
            Some(&EntityRef::new(EntityKind::ExperimentationAccount, "acct-contoso-exp")),
            EntityKind::Dataset,
            "customers@2",
        )
        .unwrap();
    assert_eq!(dataset.unwrap().reference.id, "d-customers-v2");
    let page = store.entities(EntityKind::Run, Some("r-churn-1"), 2).unwrap();
    assert_eq!(
        page.iter().map(|e| e.reference.id.as_str()).collect::<Vec<_>>(),
        ["r-churn-2", "r-churn-3"]
    );
}

#[test]
fn small_segments_rotate_and_still_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_segment_bytes: 2048,
        ..Options::default()
    };
    let store = Store::open(dir.path(), &options).unwrap();
    demo::fill(&store).unwrap();
    let stats = store.stats().unwrap();
    assert!(stats.segments > 5, "expected rotation, got {} segments", stats.segments);
    let events = store.events(0, usize::MAX, &Default::default()).unwrap();
    assert_eq!(events.len() as u64, store.head().seq);
    assert!(events
        .iter()
        .enumerate()
        .all(|(index, event)| event.seq == index as u64 + 1));
    drop(store);
    let report = Store::verify(dir.path()).unwrap();
    assert_eq!(report.records, demo::story().len() as u64);
}

#[test]
fn subscribers_see_every_appended_event_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut feed = store.subscribe();
    let appended = demo::fill(&store).unwrap();
    let mut seqs = Vec::new();
    while let Ok(envelope) = feed.try_recv() {
        seqs.push(envelope.seq);
    }
    assert_eq!(seqs, (1..=appended as u64).collect::<Vec<_>>());
}

#[test]
fn a_second_handle_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path());
    let impatient = Options {
        lock_wait: std::time::Duration::from_millis(100),
        ..Options::default()
    };
    match Store::open(dir.path(), &impatient) {
        Err(crate::Error::Locked(_)) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

mod verifiable {
    use super::*;
    use lineage_schema::merkle;

    fn demo_store(dir: &std::path::Path, change_first: bool) -> Store {
        let store = open(dir);
        let mut story = demo::story();
        if change_first {
            let Command::RegisterPrincipal(first) = &mut story[0].command else {
                panic!("the story starts with a principal")
            };
            first.email = "rewritten@example.com".into();
        }
        store.execute_batch(story).unwrap();
        store
    }

    #[test]
    fn proofs_from_the_store_verify_against_its_roots() {
        let dir = tempfile::tempdir().unwrap();
        let store = demo_store(dir.path(), false);
        let head = store.head().seq;
        for size in [1, 2, 7, 64, head - 1, head] {
            let root = store.merkle_root(size).unwrap();
            for seq in [1, size / 2 + 1, size] {
                let event = store.event(seq).unwrap().unwrap();
                let proof = store.inclusion_proof(seq, size).unwrap();
                assert!(
                    merkle::verify_inclusion(seq - 1, size, &event.hash, &proof, &root),
                    "seq {seq} in {size}"
                );
            }
            let proof = store.consistency_proof(size, head).unwrap();
            assert!(merkle::verify_consistency(
                size,
                head,
                &root,
                &store.merkle_root(head).unwrap(),
                &proof
            ));
        }
        assert!(store.inclusion_proof(head + 1, head).is_err());
        assert!(store.merkle_root(head + 1).is_err());
    }

    /// A point of the metric `loss` at `step`.
    fn point(step: i64) -> lineage_schema::event::MetricPoint {
        lineage_schema::event::MetricPoint {
            name: "loss".into(),
            value: 0.5,
            step,
            timestamp: Timestamp::EPOCH,
        }
    }

    /// `points` logged to run `r-0` by `u-p` (the scaffold's).
    fn loss(points: Vec<lineage_schema::event::MetricPoint>) -> CommandEnvelope {
        CommandEnvelope::new(
            literal("u-p"),
            Command::LogMetrics(lineage_schema::event::MetricsLogged {
                run: literal("r-0"),
                points,
            }),
        )
    }

    /// The writer notes a stream without events so the first looks at a new entity's keys
    /// skip sled; once its keys have been flushed to sled, it must look there again.
    #[test]
    fn an_entity_created_just_before_a_flush_is_found_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.execute_batch(demo::scaffold("u-p", 0)).unwrap();
        let started = |run: &str| {
            CommandEnvelope::new(
                literal("u-p"),
                Command::StartRun(lineage_schema::event::RunStarted {
                    run: literal(run),
                    experiment: literal("e"),
                    compute_target: literal("ct"),
                    revision: "x".into(),
                    parent: None,
                }),
            )
        };
        store.execute(started("r-0")).unwrap();
        store.flush().unwrap();
        store.execute(loss(vec![point(1)])).unwrap();
        // A child of the flushed run: its parent's node and edges are read back from sled.
        let mut child = started("r-1");
        if let Command::StartRun(run) = &mut child.command {
            run.parent = Some(literal("r-0"));
        }
        store.execute(child).unwrap();
        let run = EntityRef::new(EntityKind::Run, "r-0");
        assert_eq!(store.history(&run).unwrap().len(), 2);
        assert_eq!(store.entity(&run).unwrap().unwrap().version, 2);
        let downstream = store
            .lineage()
            .walk(&crate::projections::lineage::Walk::new(
                lineage_schema::lineage::NodeRef::entity(run),
                lineage_schema::lineage::Direction::Downstream,
            ))
            .unwrap();
        assert_eq!(downstream.nodes.len(), 2, "{downstream:?}");
    }

    /// A stream's history read from any version: across its full chunks (each under a key
    /// of its own) and the open one (beside its version), in the layer and after reopening.
    #[test]
    fn history_pages_cross_full_and_open_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let run = EntityRef::new(EntityKind::Run, "r-0");
        let check = |store: &Store| {
            let total = store.history(&run).unwrap().len() as u64;
            assert!(total > 600, "{total}");
            for (from, limit) in [
                (1, usize::MAX),
                (1, 10),
                (250, 10),
                (256, 1),
                (257, 300),
                (512, 5),
                (513, 100),
                (total - 1, 10),
                (total, 1),
                (total + 1, 5),
                (total + 300, 5),
                (3 * 256 + 1, 5),
            ] {
                let versions: Vec<u64> = store
                    .history_page(&run, from, limit)
                    .unwrap()
                    .iter()
                    .map(|envelope| envelope.version)
                    .collect();
                let expected: Vec<u64> = (from..=total).take(limit).collect();
                assert_eq!(versions, expected, "from {from}, at most {limit}");
            }
        };
        {
            let store = open(dir.path());
            store.execute_batch(demo::scaffold("u-p", 1)).unwrap();
            store
                .execute_batch((0..300).map(|step| loss(vec![point(step)])).collect())
                .unwrap();
            for step in 300..600 {
                store.execute(loss(vec![point(step)])).unwrap();
            }
            check(&store);
            store.close().unwrap();
        }
        check(&open(dir.path()));
    }

    /// The transparency tree's proofs, made through the store and checked with the tlog
    /// library's own checks, at sizes inside, at and across tile boundaries; its root is
    /// the one recomputed from the log's entries alone.
    #[test]
    fn transparency_proofs_verify_with_the_standard_checks() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.execute_batch(demo::scaffold("u-p", 1)).unwrap();
        store
            .execute_batch((0..600).map(|step| loss(vec![point(step)])).collect())
            .unwrap();
        let head = store.head().seq;
        let root = store.tlog_root(head).unwrap();
        let (_, from_log) = crate::projections::merkle::root_from_log(
            &dir.path().join("log"),
            head,
            crate::projections::merkle::Root::Tlog,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(Some(root), from_log);
        let hash = |digest: Digest| tlog_tiles::Hash(digest.0);
        let entries = store.tlog_entries(1, head).unwrap();
        for size in [1, 255, 256, 257, 512, head] {
            let root = hash(store.tlog_root(size).unwrap());
            for seq in [1, size / 2 + 1, size] {
                let proof: Vec<_> = store
                    .tlog_record_proof(seq, size)
                    .unwrap()
                    .into_iter()
                    .map(hash)
                    .collect();
                let leaf = tlog_tiles::record_hash(&entries[seq as usize - 1]);
                tlog_tiles::check_record(&proof, size, root, seq - 1, leaf).unwrap();
                let wrong = tlog_tiles::record_hash(b"another entry");
                assert!(tlog_tiles::check_record(&proof, size, root, seq - 1, wrong).is_err());
            }
            let proof: Vec<_> = store
                .tlog_tree_proof(size, head)
                .unwrap()
                .into_iter()
                .map(hash)
                .collect();
            tlog_tiles::check_tree(&proof, head, hash(store.tlog_root(head).unwrap()), size, root).unwrap();
        }
        assert!(store.tlog_record_proof(head + 1, head + 1).is_err());
        assert!(store.tlog_tree_proof(0, head).is_err());

        // An event whose entry would not fit an entry bundle is refused, and nothing of
        // its batch is appended.
        let many = loss((0..1000).map(point).collect());
        let refused = store.execute_batch(vec![loss(vec![point(1)]), many]).unwrap_err();
        assert!(
            matches!(
                &refused,
                crate::Error::Rejected(Rejection::LimitExceeded { limit: 65535, .. })
            ),
            "{refused}"
        );
        assert_eq!(store.head().seq, head);
        assert_eq!(store.tlog_head().unwrap().0, head);
    }

    #[test]
    fn proofs_cross_stored_subtrees_in_a_larger_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.execute_batch(demo::scaffold("u-p", 1)).unwrap();
        store
            .execute_batch((0..700).map(|step| loss(vec![point(step)])).collect())
            .unwrap();
        let head = store.head().seq;
        let (_, from_log) = crate::projections::merkle::root_from_log(
            &dir.path().join("log"),
            head,
            crate::projections::merkle::Root::Merkle,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(Some(store.merkle_root(head).unwrap()), from_log);
        for (seq, size) in [(1, 256), (256, 257), (300, 512), (513, 700), (700, head), (1, head)] {
            let root = store.merkle_root(size).unwrap();
            let event = store.event(seq).unwrap().unwrap();
            assert!(
                merkle::verify_inclusion(
                    seq - 1,
                    size,
                    &event.hash,
                    &store.inclusion_proof(seq, size).unwrap(),
                    &root
                ),
                "{seq} in {size}"
            );
            let proof = store.consistency_proof(seq, size).unwrap();
            assert!(
                merkle::verify_consistency(seq, size, &store.merkle_root(seq).unwrap(), &root, &proof),
                "{seq} → {size}"
            );
        }
    }

    #[test]
    fn a_checkpoint_holds_for_the_honest_log_and_catches_a_rewritten_one() {
        let honest = tempfile::tempdir().unwrap();
        let store = demo_store(honest.path(), false);
        let checkpoint = store.checkpoint().unwrap();
        assert_eq!(checkpoint.size, store.head().seq);
        let key = Store::public_key(honest.path()).unwrap();
        drop(store);
        let check = Store::verify_checkpoint(honest.path(), &checkpoint, Some(&key)).unwrap();
        assert!(check.matches);

        // The same story with its first event changed and every hash recomputed: a
        // consistent chain, but not the history the checkpoint saw.
        let rewritten = tempfile::tempdir().unwrap();
        let forged = demo_store(rewritten.path(), true);
        assert!(
            !Store::verify_checkpoint(rewritten.path(), &checkpoint, Some(&key))
                .unwrap()
                .matches
        );
        let forged_root = forged.merkle_root(forged.head().seq).unwrap();
        let proof = forged.consistency_proof(checkpoint.size, forged.head().seq).unwrap();
        assert!(!merkle::verify_consistency(
            checkpoint.size,
            forged.head().seq,
            &checkpoint.root,
            &forged_root,
            &proof
        ));

        let mut altered = checkpoint.clone();
        altered.size -= 1;
        assert!(
            Store::verify_checkpoint(honest.path(), &altered, Some(&key)).is_err(),
            "an altered checkpoint is refused"
        );
    }

    #[test]
    fn the_merkle_projection_survives_reopen_and_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let root = {
            let store = demo_store(dir.path(), false);
            store.merkle_root(store.head().seq).unwrap()
        };
        let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
        assert_eq!(rebuilt.merkle_root(rebuilt.head().seq).unwrap(), root);
        let (_, from_log) = crate::projections::merkle::root_from_log(
            &dir.path().join("log"),
            rebuilt.head().seq,
            crate::projections::merkle::Root::Merkle,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(from_log, Some(root));
    }
}

mod audit_trail {
    use super::*;
    use crate::projections::audit::AuditFilter;

    fn filters() -> Vec<AuditFilter> {
        let account = |id: &str| Some(literal::<AccountId>(id));
        let actor = |id: &str| Some(literal::<PrincipalId>(id));
        vec![
            AuditFilter::default(),
            AuditFilter {
                account: account("acct-contoso-exp"),
                ..Default::default()
            },
            AuditFilter {
                account: account("acct-fabrikam-mm"),
                ..Default::default()
            },
            AuditFilter {
                actor: actor("u-margaret"),
                ..Default::default()
            },
            AuditFilter {
                actor: actor("u-ada"),
                account: account("acct-contoso-mm"),
                ..Default::default()
            },
            AuditFilter {
                entity: Some(EntityRef::new(EntityKind::Service, "svc-churn")),
                ..Default::default()
            },
            AuditFilter {
                kind: Some(EntityKind::Run),
                actor: actor("u-linus"),
                ..Default::default()
            },
            AuditFilter {
                event_type: Some("SeatAssigned".into()),
                ..Default::default()
            },
            AuditFilter {
                actor: actor("u-nobody"),
                ..Default::default()
            },
        ]
    }

    fn check(store: &Store) {
        let all = store.events(0, usize::MAX, &Default::default()).unwrap();
        let mut filters = filters();
        // Time bounds: the middle third of the log by recorded time, in one account.
        filters.push(AuditFilter {
            from: Some(all[all.len() / 3].recorded_at),
            to: Some(all[2 * all.len() / 3].recorded_at),
            account: Some(literal("acct-contoso-exp")),
            ..Default::default()
        });
        for filter in filters {
            let expected: Vec<u64> = all
                .iter()
                .filter(|event| filter.matches(event))
                .map(|event| event.seq)
                .collect();
            let found: Vec<u64> = store
                .audit(&filter, 0, usize::MAX)
                .unwrap()
                .iter()
                .map(|event| event.seq)
                .collect();
            assert_eq!(found, expected, "{filter:?}");
            let mut paged = Vec::new();
            let mut after = 0;
            loop {
                let page = store.audit(&filter, after, 7).unwrap();
                let Some(last) = page.last() else { break };
                after = last.seq;
                paged.extend(page.iter().map(|event| event.seq));
            }
            assert_eq!(paged, expected, "paged {filter:?}");
        }
    }

    #[test]
    fn audit_reads_equal_a_filtered_scan_before_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // Events in several groups, so recorded times differ and time bounds matter.
        for command in demo::story() {
            store.execute(command).unwrap();
        }
        check(&store);
        drop(store);
        check(&open(dir.path()));
    }
}

#[test]
fn events_round_trip_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    for event in store.events(0, usize::MAX, &Default::default()).unwrap() {
        let json = serde_json::to_string(&event).unwrap();
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn access_follows_seats_ownership_roles_and_administration() {
    use lineage_schema::event::{AdministratorDesignated, Role, RoleGranted};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let readable = |principal: &str| -> Vec<String> {
        store
            .access(&literal(principal))
            .unwrap()
            .readable
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(readable("u-grace"), ["acct-fabrikam-exp", "acct-fabrikam-mm"]);
    assert_eq!(readable("u-ada"), ["acct-contoso-exp", "acct-contoso-mm"]);
    assert_eq!(
        readable("u-margaret"),
        [
            "acct-contoso-exp",
            "acct-contoso-mm",
            "acct-fabrikam-exp",
            "acct-fabrikam-mm"
        ]
    );
    assert!(readable("u-linus").is_empty(), "a revoked seat takes its reach with it");

    let grant = CommandEnvelope::new(
        literal("u-alex"),
        Command::GrantRole(RoleGranted {
            principal: literal("u-linus"),
            account: literal("acct-contoso-mm"),
            role: Role::Auditor,
        }),
    );
    store.execute(grant).unwrap();
    let linus = store.access(&literal("u-linus")).unwrap();
    assert_eq!(
        linus.readable.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["acct-contoso-mm"]
    );
    assert!(linus.has_role(&literal("acct-contoso-mm"), &[Role::Auditor]));
    let service = store
        .entity(&EntityRef::new(EntityKind::Service, "svc-churn"))
        .unwrap()
        .unwrap();
    assert!(linus.can_read_entity(&service));
    let fraud = store
        .entity(&EntityRef::new(EntityKind::Service, "svc-fraud"))
        .unwrap()
        .unwrap();
    assert!(!linus.can_read_entity(&fraud));
    // An auditor reads but cannot act: it holds no seat, and auditor is no contributor.
    let scale = CommandEnvelope::new(
        literal("u-linus"),
        Command::ScaleService(lineage_schema::event::ServiceScaled {
            service: literal("svc-churn"),
            replicas: 2,
        }),
    );
    assert!(store.execute(scale).is_err());

    let grace_grants = CommandEnvelope::new(
        literal("u-grace"),
        Command::GrantRole(RoleGranted {
            principal: literal("u-grace"),
            account: literal("acct-contoso-mm"),
            role: Role::Owner,
        }),
    );
    assert_eq!(
        store.execute(grace_grants).unwrap_err().rejection().unwrap().code(),
        "NOT_FOUND",
        "no one grants themselves into another's account: to them it does not exist"
    );

    store
        .execute(CommandEnvelope::new(
            literal("u-alex"),
            Command::DesignateAdministrator(AdministratorDesignated {
                principal: literal("u-alex"),
            }),
        ))
        .unwrap();
    let alex = store.access(&literal("u-alex")).unwrap();
    assert!(alex.administrator && alex.can_read_entity(&fraud));
}

mod bills {
    use super::*;
    use crate::projections::billing::{compute, Month, PriceBook};
    use lineage_schema::event::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Seat { principal: u8, assign: bool },
        Plan { tier: u8, units: u32 },
        Model,
        Run { vm: bool, hours: i64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0u8..4, any::<bool>()).prop_map(|(principal, assign)| Step::Seat { principal, assign }),
            1 => (0u8..4, 1u32..4).prop_map(|(tier, units)| Step::Plan { tier, units }),
            1 => Just(Step::Model),
            2 => (any::<bool>(), 1i64..80).prop_map(|(vm, hours)| Step::Run { vm, hours }),
        ]
    }

    fn commands(steps: &[(Step, i64)]) -> Vec<CommandEnvelope> {
        let start = Timestamp::parse("2024-02-01T00:00:00Z").unwrap();
        let mut out = demo::scaffold("u-owner", 0);
        out.push(CommandEnvelope::new(
            literal("u-owner"),
            Command::AttachComputeTarget(ComputeTargetAttached {
                target: literal("ct-vm"),
                account: literal("acct"),
                name: Name::new("vm").unwrap(),
                kind: ComputeKind::RemoteVm { address: "vm".into() },
            }),
        ));
        for principal in 0..4 {
            out.push(CommandEnvelope::new(
                literal("u-owner"),
                Command::RegisterPrincipal(PrincipalRegistered {
                    principal: literal(&format!("u-{principal}")),
                    name: Name::new(format!("P{principal}")).unwrap(),
                    email: String::new(),
                }),
            ));
        }
        for (index, (step, minutes)) in steps.iter().enumerate() {
            let at = start.plus_seconds(minutes * 60);
            let command = match step {
                Step::Seat {
                    principal,
                    assign: true,
                } => Command::AssignSeat(SeatAssigned {
                    account: literal("acct"),
                    principal: literal(&format!("u-{principal}")),
                }),
                Step::Seat {
                    principal,
                    assign: false,
                } => Command::RevokeSeat(SeatRevoked {
                    account: literal("acct"),
                    principal: literal(&format!("u-{principal}")),
                }),
                Step::Plan { tier, units } => Command::ChangeModelManagementPlan(ModelManagementPlanChanged {
                    account: literal("mm"),
                    plan: Plan {
                        tier: [Tier::DevTest, Tier::S1, Tier::S2, Tier::S3][*tier as usize],
                        units: *units,
                    },
                }),
                Step::Model => Command::CreateModel(ModelCreated {
                    model: literal(&format!("m-{index}")),
                    account: literal("mm"),
                    name: Name::new(format!("model {index}")).unwrap(),
                    description: String::new(),
                }),
                Step::Run { vm, hours } => {
                    let run: RunId = literal(&format!("r-{index}"));
                    let target = if *vm { "ct-vm" } else { "ct" };
                    out.push(
                        CommandEnvelope::new(
                            literal("u-owner"),
                            Command::StartRun(RunStarted {
                                run: run.clone(),
                                experiment: literal("e"),
                                compute_target: literal(target),
                                revision: "x".into(),
                                parent: None,
                            }),
                        )
                        .occurred_at(at),
                    );
                    out.push(
                        CommandEnvelope::new(literal("u-owner"), Command::CompleteRun(RunCompleted { run }))
                            .occurred_at(at.plus_seconds(hours * 3600)),
                    );
                    continue;
                }
            };
            out.push(CommandEnvelope::new(literal("u-owner"), command).occurred_at(at));
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Bills from the incrementally kept billing index, from a rebuilt one, and from
        /// every event of the log folded from scratch, are the same bill.
        #[test]
        fn bills_from_the_projection_equal_bills_from_replay(steps in proptest::collection::vec((step(), 0i64..(90 * 24 * 60)), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let store = open(dir.path());
            for command in commands(&steps) {
                let _ = store.execute(command); // invalid steps (revoking a seat not held) are refused
            }
            let all = store.events(0, usize::MAX, &Default::default()).unwrap();
            let kinds: std::collections::HashMap<String, String> = [("ct".to_string(), "local".to_string()), ("ct-vm".to_string(), "remote-vm".to_string())].into();
            let months = ["2024-02", "2024-03", "2024-04"].map(|month| Month::parse(month).unwrap());
            let prices = PriceBook::default();
            let mut incremental = Vec::new();
            for account in ["acct", "mm"] {
                let account: AccountId = literal(account);
                let mine: Vec<Envelope> = all.iter().filter(|event| event.account.as_ref() == Some(&account)).cloned().collect();
                for month in months {
                    let bill = store.bill(&account, month, &prices).unwrap();
                    prop_assert_eq!(&bill, &compute(&account, &mine, &kinds, month, &prices));
                    prop_assert_eq!(bill.total, bill.lines.iter().map(|line| line.amount).sum::<i64>());
                    incremental.push(bill);
                }
            }
            drop(store);
            let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
            let mut replayed = Vec::new();
            for account in ["acct", "mm"] {
                for month in months {
                    replayed.push(rebuilt.bill(&literal(account), month, &prices).unwrap());
                }
            }
            prop_assert_eq!(incremental, replayed);
        }
    }
}

/// Deleting keeps an experiment or run (and its name) for history; restoring brings it
/// back; aliases move between versions; each wrong transition is refused.
#[test]
fn deletion_restoration_aliases_and_schemas() {
    use lineage_schema::event::*;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let act = |command: Command| store.execute(CommandEnvelope::new(literal("u-alex"), command));
    let experiment = EntityRef::new(EntityKind::Experiment, "e-train");
    let code = |result: crate::Result<crate::Appended>| result.unwrap_err().rejection().unwrap().code();

    act(Command::DeleteRun(RunDeleted {
        run: literal("r-churn-1"),
    }))
    .unwrap();
    let run = store
        .entity(&EntityRef::new(EntityKind::Run, "r-churn-1"))
        .unwrap()
        .unwrap();
    assert!(run.deleted);
    assert_eq!(
        code(act(Command::SetRunTags(RunTagsSet {
            run: literal("r-churn-1"),
            tags: vec![],
        }))),
        "NOT_FOUND",
        "a deleted run takes no more writes"
    );
    assert_eq!(
        code(act(Command::DeleteRun(RunDeleted {
            run: literal("r-churn-1")
        }))),
        "NOT_FOUND"
    );
    act(Command::RestoreRun(RunRestored {
        run: literal("r-churn-1"),
    }))
    .unwrap();
    assert_eq!(
        code(act(Command::RestoreRun(RunRestored {
            run: literal("r-churn-1")
        }))),
        "INVALID_TRANSITION"
    );

    act(Command::DeleteExperiment(ExperimentDeleted {
        experiment: literal("e-train"),
    }))
    .unwrap();
    assert!(store.entity(&experiment).unwrap().unwrap().deleted);
    let project = EntityRef::new(EntityKind::Project, "p-churn");
    assert!(
        store
            .find_by_name(Some(&project), EntityKind::Experiment, "train")
            .unwrap()
            .is_some(),
        "a deleted experiment keeps its name"
    );
    act(Command::RestoreExperiment(ExperimentRestored {
        experiment: literal("e-train"),
    }))
    .unwrap();
    assert!(!store.entity(&experiment).unwrap().unwrap().deleted);
    act(Command::SetExperimentTags(ExperimentTagsSet {
        experiment: literal("e-train"),
        tags: vec![Tag {
            key: "team".into(),
            value: "growth".into(),
        }],
    }))
    .unwrap();
    let Detail::Experiment { tags, .. } = store.entity(&experiment).unwrap().unwrap().detail else {
        panic!("experiment detail")
    };
    assert_eq!(tags.get("team").map(String::as_str), Some("growth"));

    let alias = |alias: &str, version| {
        act(Command::SetModelAlias(ModelAliasSet {
            model: literal("m-churn"),
            alias: alias.into(),
            version,
        }))
    };
    alias("champion", 1).unwrap();
    alias("champion", 2).unwrap();
    assert_eq!(code(alias("champion", 99)), "INVALID_INPUT");
    assert_eq!(
        code(alias("12", 1)),
        "INVALID_INPUT",
        "a numeric alias would read as a version"
    );
    assert_eq!(code(alias("has space", 1)), "INVALID_INPUT");
    let model = EntityRef::new(EntityKind::Model, "m-churn");
    let Detail::Model { aliases, .. } = store.entity(&model).unwrap().unwrap().detail else {
        panic!("model detail")
    };
    assert_eq!(
        aliases.get("champion"),
        Some(&2),
        "an alias moves to the version set last"
    );
    act(Command::RemoveModelAlias(ModelAliasRemoved {
        model: literal("m-churn"),
        alias: "champion".into(),
    }))
    .unwrap();
    assert_eq!(
        code(act(Command::RemoveModelAlias(ModelAliasRemoved {
            model: literal("m-churn"),
            alias: "champion".into(),
        }))),
        "INVALID_INPUT"
    );

    let field = |name: &str| SchemaField {
        name: name.into(),
        data_type: "long".into(),
        description: None,
    };
    act(Command::RecordDatasetSchema(DatasetSchemaRecorded {
        dataset: literal("d-usage"),
        fields: vec![field("minutes"), field("calls")],
    }))
    .unwrap();
    assert_eq!(
        code(act(Command::RecordDatasetSchema(DatasetSchemaRecorded {
            dataset: literal("d-usage"),
            fields: vec![field(" ")],
        }))),
        "INVALID_INPUT"
    );
    let dataset = store
        .entity(&EntityRef::new(EntityKind::Dataset, "d-usage"))
        .unwrap()
        .unwrap();
    let Detail::Dataset { schema, .. } = dataset.detail else {
        panic!("dataset detail")
    };
    assert_eq!(
        schema,
        vec![field("minutes"), field("calls")],
        "a refused schema changes nothing"
    );
}

/// A store whose projections were written in an older shape rebuilds them on open.
#[test]
fn an_older_projection_format_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let digest = {
        let store = open(dir.path());
        demo::fill(&store).unwrap();
        store.projection_digest().unwrap()
    };
    {
        let db = crate::derived::open_sled_waiting(&dir.path().join("derived"));
        db.insert(b"derived-format", 1u64.to_be_bytes().to_vec()).unwrap();
        db.open_tree("state")
            .unwrap()
            .insert(b"garbage", b"not an entity".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.projection_digest().unwrap(), digest);
}

/// Decide judges one account at a time (`access::reads_account`), requests work out a
/// principal's whole reach (`access::of`): the two forms of the rule must agree for every
/// principal and account, including after seats, roles and ownership change.
#[test]
fn the_single_account_rule_agrees_with_the_whole_reach() {
    use lineage_schema::event::{Role, RoleGranted};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let extra = [
        Command::GrantRole(RoleGranted {
            principal: literal("u-linus"),
            account: literal("acct-contoso-mm"),
            role: Role::BillingReader,
        }),
        Command::GrantRole(RoleGranted {
            principal: literal("u-grace"),
            account: literal("acct-contoso-exp"),
            role: Role::Reader,
        }),
    ];
    for command in extra {
        store.execute(CommandEnvelope::new(literal("u-alex"), command)).unwrap();
    }
    let principals = store.entities(EntityKind::Principal, None, 500).unwrap();
    let mut accounts = store.entities(EntityKind::ExperimentationAccount, None, 500).unwrap();
    accounts.extend(store.entities(EntityKind::ModelManagementAccount, None, 500).unwrap());
    let overlay = crate::derived::pending::Overlay::new(store.trees().clone());
    let mut compared = 0;
    for principal in &principals {
        let id = PrincipalId::new(principal.reference.id.clone()).unwrap();
        let reach = store.access(&id).unwrap();
        for account in &accounts {
            let account_id = AccountId::new(account.reference.id.clone()).unwrap();
            assert_eq!(
                crate::projections::access::reads_account(&overlay, &id, &account_id).unwrap(),
                reach.can_read_account(&account_id),
                "{id} reading {account_id}"
            );
            let subscription = store.entity(account.parent.as_ref().unwrap()).unwrap().unwrap();
            assert_eq!(
                crate::projections::access::sees_subscription(&overlay, &id, &subscription).unwrap(),
                reach.can_read_entity(&subscription),
                "{id} seeing {}",
                subscription.reference
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 20,
        "the demo has principals and accounts to compare ({compared})"
    );
}

/// The writer remembers who may read which account between commands; a seat revoked in
/// the same batch, or just before, is seen by the next command at once (a stale memory
/// would let a refusal name the subscription behind an account), and a refusal's
/// judgement is forgotten with it.
#[test]
fn what_the_writer_remembers_of_access_follows_revocation() {
    use lineage_schema::event::{RunTagsSet, SeatAssigned, SeatRevoked, Tag};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let tag = |actor: &str, value: &str| {
        CommandEnvelope::new(
            literal(actor),
            Command::SetRunTags(RunTagsSet {
                run: literal("r-churn-1"),
                tags: vec![Tag {
                    key: "k".into(),
                    value: value.into(),
                }],
            }),
        )
    };
    let seat = |revoke: bool| {
        let (account, principal) = (literal("acct-contoso-exp"), literal("u-ada"));
        let command = if revoke {
            Command::RevokeSeat(SeatRevoked { account, principal })
        } else {
            Command::AssignSeat(SeatAssigned { account, principal })
        };
        CommandEnvelope::new(literal("u-alex"), command)
    };
    store.execute(tag("u-ada", "seated")).unwrap();
    let head = store.head().seq;
    let refused = store.execute_batch(vec![seat(true), tag("u-ada", "in the same batch")]);
    assert_eq!(refused.unwrap_err().rejection().unwrap().code(), "NOT_FOUND");
    assert_eq!(store.head().seq, head, "the refused batch appended nothing");
    store.execute(tag("u-ada", "still seated")).unwrap();
    store.execute(seat(true)).unwrap();
    let error = store.execute(tag("u-ada", "after")).unwrap_err();
    assert_eq!(error.rejection().unwrap().code(), "NOT_FOUND", "{error}");
    store.execute(seat(false)).unwrap();
    store.execute(tag("u-ada", "seated again")).unwrap();
    store.execute(seat(true)).unwrap();
    // Refused as the account she names, not as anything found beyond it.
    let workspace = CommandEnvelope::new(
        literal("u-ada"),
        Command::CreateWorkspace(lineage_schema::event::WorkspaceCreated {
            workspace: literal("ws-ada"),
            account: literal("acct-contoso-exp"),
            name: literal("Ada's"),
            description: String::new(),
        }),
    );
    let error = store.execute(workspace).unwrap_err();
    assert_eq!(
        error.to_string(),
        "experimentation-account/acct-contoso-exp does not exist"
    );
    store.execute(seat(false)).unwrap();
    store.execute(tag("u-ada", "seated again")).unwrap();

    // Grace is refused (and that is remembered); seated and let into the workspace in
    // one batch, she is not refused again.
    let error = store.execute(tag("u-grace", "before")).unwrap_err();
    assert_eq!(error.rejection().unwrap().code(), "NOT_FOUND", "{error}");
    let welcome = vec![
        CommandEnvelope::new(
            literal("u-alex"),
            Command::AssignSeat(SeatAssigned {
                account: literal("acct-contoso-exp"),
                principal: literal("u-grace"),
            }),
        ),
        CommandEnvelope::new(
            literal("u-alex"),
            Command::GrantWorkspaceAccess(lineage_schema::event::WorkspaceAccessGranted {
                workspace: literal("ws-churn"),
                principal: literal("u-grace"),
            }),
        ),
        tag("u-grace", "in the same batch"),
    ];
    store.execute_batch(welcome).unwrap();
    store.execute(tag("u-grace", "after")).unwrap();
}

/// Metric points are folded per run, not kept a key per event: logging thousands of
/// them adds only the sparse indexes' keys (a position and a time per 64 events, history
/// chunks, audit pages), nothing per point.
#[test]
fn metric_events_add_no_derived_key_per_event() {
    use lineage_schema::event::{MetricPoint, MetricsLogged};
    use lineage_schema::literal as id;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.execute_batch(crate::demo::scaffold("u-bench", 1)).unwrap();
    store.flush().unwrap();
    let keys = |store: &Store| -> u64 { store.table_sizes().unwrap().values().map(|size| size.keys).sum() };
    let before = keys(&store);
    assert!(before > 0, "the scaffold's entities are in derived tables");
    let events = 3000;
    for step in 0..events {
        let point = MetricPoint {
            name: "loss".into(),
            value: 1.0 / (step as f64 + 1.0),
            step,
            timestamp: Timestamp::now(),
        };
        let command = Command::LogMetrics(MetricsLogged {
            run: id("r-0"),
            points: vec![point],
        });
        store.execute(CommandEnvelope::new(id("u-bench"), command)).unwrap();
    }
    store.flush().unwrap();
    let added = keys(&store) - before;
    // Sparse indexes keep one key per 64 events (positions, times) and fewer elsewhere.
    assert!(
        added < events as u64 / 16,
        "{added} derived keys for {events} metric events"
    );
}

/// What every entity's version, state and own lineage node read as — its history, its
/// entity, the edges in and out of it and of its first versions' nodes — and each kind's
/// entities listed a page at a time.
fn entity_answers(store: &Store) -> Vec<String> {
    let mut answers = Vec::new();
    for kind in EntityKind::ALL {
        let all = store.entities(kind, None, usize::MAX).unwrap();
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.entities(kind, after.as_deref(), 3).unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.reference.id.to_string());
            paged.extend(page);
        }
        assert_eq!(paged, all, "{kind:?} listed a page at a time");
        for entity in all {
            let reference = entity.reference.clone();
            let node = lineage::NodeRef::entity(reference.clone());
            answers.push(format!(
                "{entity:?} {:?} {:?} {:?} {:?}",
                store.entity(&reference).unwrap(),
                store.history(&reference).unwrap(),
                store.lineage().in_edges(&node).unwrap(),
                store.lineage().out_edges(&node).unwrap(),
            ));
            for version in 1..=3 {
                let node = lineage::NodeRef::version(kind, &reference.id, version);
                answers.push(format!(
                    "{node:?} {:?} {:?}",
                    store.lineage().in_edges(&node).unwrap(),
                    store.lineage().out_edges(&node).unwrap(),
                ));
            }
        }
    }
    answers
}

#[test]
fn an_entitys_version_state_and_node_are_one_sled_key_and_read_alike_wherever_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    demo::fill(&store).unwrap();
    let layered = entity_answers(&store);
    assert!(layered.len() > 20, "the demo has entities of many kinds");
    store.flush().unwrap();
    assert_eq!(entity_answers(&store), layered, "read from sled");

    let run = EntityRef::new(EntityKind::Run, "r-churn-1");
    let part = crate::derived::keys::entity_part(&run);
    let keyed = |tree: usize, key: Vec<u8>| store.trees().sled_trees()[tree].contains_key(key).unwrap();
    assert!(!keyed(0, [&b"v"[..], &part].concat()), "no version key of its own");
    assert!(!keyed(1, [&b"e"[..], &part].concat()), "no state key of its own");
    assert!(!keyed(2, [&b"n"[..], &part, &[0]].concat()), "no node key of its own");
    let records = store.trees().all_sled_trees().last().unwrap();
    // The slots a record holds, by the entity part of its key.
    let slots_held = |part: &[u8]| -> Vec<usize> {
        let record = records.get([&b"r"[..], part].concat()).unwrap().expect("a record");
        crate::derived::records::slots(&record)
            .map(|slot| slot.unwrap().0)
            .collect()
    };
    assert_eq!(slots_held(&part), [0, 1, 2], "version, state and node");

    // A model's first version's node is in the model's record; its second's is not.
    let model = EntityRef::new(EntityKind::Model, "m-churn");
    let part = crate::derived::keys::entity_part(&model);
    let version_key = |version: u32| [&b"n"[..], &part, &[1], &version.to_be_bytes()].concat();
    assert!(!keyed(2, version_key(1)), "no key of its own for version 1's node");
    assert!(keyed(2, version_key(2)), "version 2's node keeps its key");
    assert_eq!(
        slots_held(&part),
        [0, 1, 2, 3],
        "version, state, node and version 1's node"
    );
    assert!(
        !store
            .lineage()
            .in_edges(&lineage::NodeRef::version(EntityKind::Model, "m-churn", 1))
            .unwrap()
            .is_empty(),
        "version 1's node reads back from the record"
    );

    // Changed after the flush: a record in sled merged with a layered slot.
    let actor = store.history(&run).unwrap()[0].actor.clone();
    store
        .execute(CommandEnvelope::new(
            actor,
            Command::SetRunTags(lineage_schema::event::RunTagsSet {
                run: literal("r-churn-1"),
                tags: vec![lineage_schema::event::Tag {
                    key: "stage".into(),
                    value: "checked".into(),
                }],
            }),
        ))
        .unwrap();
    let changed = entity_answers(&store);
    assert_ne!(changed, layered);
    store.flush().unwrap();
    assert_eq!(entity_answers(&store), changed, "merged into the record");
    drop(store);
    assert_eq!(entity_answers(&open(dir.path())), changed, "after reopening");
    let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_| {}).unwrap();
    assert_eq!(entity_answers(&rebuilt), changed, "after a rebuild");
}
