//! Unit tests of the store as a whole: the demo story, reads, idempotency, reopen.

use crate::{demo, Options, Store};
use lineage_schema::entity::{Detail, RunStatus};
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
    let rebuilt = Store::rebuild(dir.path(), &Options::default(), &mut |_, _| {}).unwrap();
    assert_eq!(rebuilt.projection_digest().unwrap(), digest);
    assert_eq!(rebuilt.opened().caught_up, demo::story().len() as u64);
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
        max_segment_bytes: 4096,
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
