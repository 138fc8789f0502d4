//! Lineage walks on the demo story and on random generated graphs, checked against a
//! brute-force walk over edges recorded independently of the projection.

use super::*;
use crate::{demo, Options, Store};
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::literal as id;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn node(text: &str) -> NodeRef {
    NodeRef::parse(text).unwrap()
}

fn names(nodes: &[FoundNode]) -> BTreeSet<String> {
    nodes.iter().map(|found| found.node.to_string()).collect()
}

#[test]
fn trace_follows_a_service_back_to_its_data_now_and_before_the_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let lineage = store.lineage();
    let now = lineage.trace(&id("svc-churn"), None).unwrap();
    let image = now.image.unwrap();
    assert_eq!(image.image.to_string(), "image/img-churn@3");
    let manifest = image.manifest.unwrap();
    assert_eq!(manifest.manifest.to_string(), "manifest/mf-churn@2");
    let model = &manifest.models[0];
    assert_eq!(model.model.to_string(), "model/m-churn@2");
    let run = model.run.as_ref().unwrap();
    assert_eq!(run.run.to_string(), "run/r-churn-3");
    assert_eq!(run.revision.as_deref(), Some("9e0d7b3"));
    assert_eq!(
        run.compute_target.as_ref().unwrap().to_string(),
        "compute-target/ct-dsvm"
    );
    let datasets: BTreeSet<String> = run.datasets.iter().map(ToString::to_string).collect();
    assert_eq!(
        datasets,
        ["dataset/d-customers-v2".to_string(), "dataset/d-usage".to_string()].into()
    );
    let earlier = model.derived_from.as_ref().unwrap();
    assert_eq!(earlier.model.to_string(), "model/m-churn@1");
    assert_eq!(earlier.run.as_ref().unwrap().run.to_string(), "run/r-sweep-2");
    assert_eq!(now.environment.unwrap().to_string(), "environment/env-prod");

    // Before the update (3 March, in the demo's own time) the service ran image version 1.
    let before = lineage
        .trace(
            &id("svc-churn"),
            Some(AsOf::Time(Timestamp::parse("2026-03-05T00:00:00Z").unwrap())),
        )
        .unwrap();
    let image = before.image.unwrap();
    assert_eq!(image.image.to_string(), "image/img-churn@1");
    let model = &image.manifest.unwrap().models[0];
    assert_eq!(model.run.as_ref().unwrap().run.to_string(), "run/r-sweep-2");
    assert_eq!(
        model.run.as_ref().unwrap().parent.as_ref().unwrap().to_string(),
        "run/r-sweep"
    );
    assert!(
        lineage.trace(&id("svc-churn"), Some(AsOf::Seq(3))).is_err(),
        "not deployed yet"
    );
}

#[test]
fn impact_of_a_dataset_reaches_the_models_images_and_services_built_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let impact = store.lineage().impact(&node("dataset/d-customers-v1"), None).unwrap();
    let found = names(&impact.nodes);
    for expected in [
        "model/m-churn@1",
        "model/m-churn@2",
        "image/img-churn@1",
        "image/img-churn@3",
        "service/svc-churn",
    ] {
        assert!(found.contains(expected), "{expected} missing from {found:?}");
    }
    assert!(!found.contains("service/svc-fraud"));
    assert!(
        !found.contains("run/r-churn-1"),
        "impact lists only models, images and services"
    );
}

#[test]
fn walks_respect_depth_filters_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let lineage = store.lineage();
    let mut walk = Walk::new(node("service/svc-churn"), Direction::Upstream);
    walk.max_depth = 1;
    assert_eq!(
        names(&lineage.walk(&walk).unwrap().nodes),
        ["environment/env-prod", "image/img-churn@3", "service/svc-churn"]
            .map(String::from)
            .into()
    );
    walk.max_depth = MAX_DEPTH;
    walk.edge_kinds = Some([EdgeKind::Runs].into());
    assert_eq!(lineage.walk(&walk).unwrap().nodes.len(), 2);
    walk.edge_kinds = None;
    walk.max_nodes = 4;
    let bounded = lineage.walk(&walk).unwrap();
    assert!(bounded.truncated);
    assert_eq!(bounded.nodes.len(), 4);
    assert!(lineage.walk(&Walk::new(node("service/nope"), Direction::Both)).is_err());
}

// --- Random graphs against a brute-force walk ----------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Dataset,
    Run {
        inputs: Vec<usize>,
        outputs: usize,
        parent: Option<usize>,
    },
    ModelVersion {
        run: usize,
        derived: Option<usize>,
    },
    Manifest {
        models: Vec<usize>,
    },
    Image {
        manifest: usize,
    },
    Deploy {
        image: usize,
    },
    Update {
        service: usize,
        image: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let index = 0usize..64;
    prop_oneof![
        3 => Just(Step::Dataset),
        4 => (proptest::collection::vec(index.clone(), 0..3), 0usize..2, proptest::option::of(index.clone()))
            .prop_map(|(inputs, outputs, parent)| Step::Run { inputs, outputs, parent }),
        3 => (index.clone(), proptest::option::of(index.clone())).prop_map(|(run, derived)| Step::ModelVersion { run, derived }),
        2 => proptest::collection::vec(index.clone(), 1..3).prop_map(|models| Step::Manifest { models }),
        2 => index.clone().prop_map(|manifest| Step::Image { manifest }),
        2 => index.clone().prop_map(|image| Step::Deploy { image }),
        2 => (index.clone(), index).prop_map(|(service, image)| Step::Update { service, image }),
    ]
}

/// An edge as the test recorded it from the commands it sent: (from, kind, to, opened at,
/// closed at).
type RecordedEdge = (NodeRef, EdgeKind, NodeRef, u64, Option<u64>);

struct World {
    store: Store,
    edges: Vec<RecordedEdge>,
    created: BTreeMap<NodeRef, u64>,
    datasets: usize,
    runs: usize,
    models: u32,
    manifests: u32,
    images: u32,
    services: Vec<u32>,
}

fn actor() -> PrincipalId {
    id("u-0")
}

impl World {
    fn run(&mut self, command: Command) -> u64 {
        let stream = command.stream();
        let appended = self.store.execute(CommandEnvelope::new(actor(), command)).unwrap();
        self.created.entry(NodeRef::entity(stream)).or_insert(appended.seq);
        appended.seq
    }

    fn edge(&mut self, from: NodeRef, kind: EdgeKind, to: NodeRef, seq: u64) {
        if !self
            .edges
            .iter()
            .any(|(f, k, t, _, until)| *f == from && *k == kind && *t == to && until.is_none())
        {
            self.edges.push((from, kind, to, seq, None));
        }
    }

    fn close(&mut self, from: &NodeRef, kind: EdgeKind, seq: u64) {
        for edge in self
            .edges
            .iter_mut()
            .filter(|(f, k, _, _, until)| f == from && *k == kind && until.is_none())
        {
            edge.4 = Some(seq);
        }
    }

    fn setup() -> World {
        let dir = tempfile::tempdir().unwrap().keep();
        let store = Store::open(&dir, &Options::default()).unwrap();
        let name = |text: &str| Name::new(text).unwrap();
        let mut world = World {
            store,
            edges: Vec::new(),
            created: BTreeMap::new(),
            datasets: 0,
            runs: 0,
            models: 0,
            manifests: 0,
            images: 0,
            services: Vec::new(),
        };
        for command in [
            Command::RegisterPrincipal(PrincipalRegistered {
                principal: actor(),
                name: name("U"),
                email: String::new(),
            }),
            Command::CreateSubscription(SubscriptionCreated {
                subscription: id("s"),
                name: name("S"),
            }),
            Command::CreateExperimentationAccount(ExperimentationAccountCreated {
                account: id("a"),
                subscription: id("s"),
                name: name("A"),
                region: "r".into(),
            }),
            Command::CreateModelManagementAccount(ModelManagementAccountCreated {
                account: id("mm"),
                subscription: id("s"),
                name: name("MM"),
                region: "r".into(),
                plan: Plan {
                    tier: Tier::S1,
                    units: 1,
                },
            }),
            Command::CreateWorkspace(WorkspaceCreated {
                workspace: id("w"),
                account: id("a"),
                name: name("W"),
                description: String::new(),
            }),
            Command::CreateProject(ProjectCreated {
                project: id("p"),
                workspace: id("w"),
                name: name("P"),
                path: "/p".into(),
                repository: None,
            }),
            Command::CreateExperiment(ExperimentCreated {
                experiment: id("e"),
                project: id("p"),
                name: name("E"),
                entry_point: "t.py".into(),
                language: Language::Python,
                source_digest: Digest::ZERO,
            }),
            Command::AttachComputeTarget(ComputeTargetAttached {
                target: id("ct"),
                account: id("a"),
                name: name("CT"),
                kind: ComputeKind::Local,
            }),
            Command::CreateModel(ModelCreated {
                model: id("m"),
                account: id("mm"),
                name: name("M"),
                description: String::new(),
            }),
            Command::CreateManifest(ManifestCreated {
                manifest: id("mf"),
                account: id("mm"),
                name: name("MF"),
            }),
            Command::CreateImage(ImageCreated {
                image: id("img"),
                account: id("mm"),
                name: name("IMG"),
            }),
            Command::CreateEnvironment(EnvironmentCreated {
                environment: id("env"),
                account: id("mm"),
                name: name("ENV"),
                kind: EnvironmentKind::Local,
            }),
        ] {
            world.run(command);
        }
        world
    }

    fn dataset(&mut self) -> NodeRef {
        self.datasets += 1;
        let dataset = format!("d-{}", self.datasets);
        self.run(Command::RegisterDataset(DatasetRegistered {
            dataset: id(&dataset),
            account: id("a"),
            name: Name::new(dataset.clone()).unwrap(),
            location: "/d".into(),
            version: None,
            digest: None,
        }));
        entity(EntityKind::Dataset, dataset)
    }

    fn apply(&mut self, step: &Step) {
        let node_of = |kind: EntityKind, prefix: &str, index: usize| entity(kind, format!("{prefix}-{index}"));
        match step {
            Step::Dataset => {
                self.dataset();
            }
            Step::Run {
                inputs,
                outputs,
                parent,
            } => {
                self.runs += 1;
                let run = node_of(EntityKind::Run, "r", self.runs);
                let parent = parent
                    .filter(|_| self.runs > 1)
                    .map(|index| index % (self.runs - 1) + 1);
                let seq = self.run(Command::StartRun(RunStarted {
                    run: id(&run.entity.id),
                    experiment: id("e"),
                    compute_target: id("ct"),
                    revision: format!("rev-{}", self.runs),
                    parent: parent.map(|p| id(&format!("r-{p}"))),
                }));
                self.edge(
                    run.clone(),
                    EdgeKind::Executed,
                    entity(EntityKind::Experiment, "e"),
                    seq,
                );
                self.edge(
                    run.clone(),
                    EdgeKind::RanOn,
                    entity(EntityKind::ComputeTarget, "ct"),
                    seq,
                );
                if let Some(parent) = parent {
                    self.edge(
                        run.clone(),
                        EdgeKind::ChildOf,
                        node_of(EntityKind::Run, "r", parent),
                        seq,
                    );
                }
                let used: BTreeSet<usize> = inputs
                    .iter()
                    .filter(|_| self.datasets > 0)
                    .map(|index| index % self.datasets + 1)
                    .collect();
                if !used.is_empty() {
                    let seq = self.run(Command::RecordRunInputs(RunInputsRecorded {
                        run: id(&run.entity.id),
                        datasets: used.iter().map(|d| id(&format!("d-{d}"))).collect(),
                    }));
                    for d in used {
                        self.edge(run.clone(), EdgeKind::Used, node_of(EntityKind::Dataset, "d", d), seq);
                    }
                }
                for _ in 0..*outputs {
                    let dataset = self.dataset();
                    let seq = self.run(Command::RecordRunOutputs(RunOutputsRecorded {
                        run: id(&run.entity.id),
                        datasets: vec![id(&dataset.entity.id)],
                    }));
                    self.edge(dataset, EdgeKind::GeneratedBy, run.clone(), seq);
                }
            }
            Step::ModelVersion { run, derived } if self.runs > 0 => {
                let run = run % self.runs + 1;
                let derived = derived
                    .filter(|_| self.models > 0)
                    .map(|index| index as u32 % self.models + 1);
                let seq = self.run(Command::RegisterModelVersion(RegisterModelVersion {
                    model: id("m"),
                    source: ModelSource::Run {
                        run: id(&format!("r-{run}")),
                        artifact_path: "m.pkl".into(),
                    },
                    derived_from: derived.map(|version| ModelVersionRef {
                        model: id("m"),
                        version,
                    }),
                    tags: vec![],
                }));
                self.models += 1;
                let version = NodeRef::version(EntityKind::Model, "m", self.models);
                self.created.insert(version.clone(), seq);
                self.edge(
                    version.clone(),
                    EdgeKind::VersionOf,
                    entity(EntityKind::Model, "m"),
                    seq,
                );
                self.edge(
                    version.clone(),
                    EdgeKind::GeneratedBy,
                    node_of(EntityKind::Run, "r", run),
                    seq,
                );
                if let Some(earlier) = derived {
                    self.edge(
                        version,
                        EdgeKind::DerivedFrom,
                        NodeRef::version(EntityKind::Model, "m", earlier),
                        seq,
                    );
                }
            }
            Step::Manifest { models } if self.models > 0 => {
                let included: BTreeSet<u32> = models.iter().map(|index| *index as u32 % self.models + 1).collect();
                let seq = self.run(Command::AddManifestVersion(AddManifestVersion {
                    manifest: id("mf"),
                    models: included
                        .iter()
                        .map(|version| ModelVersionRef {
                            model: id("m"),
                            version: *version,
                        })
                        .collect(),
                    dependencies: vec![],
                    scoring_script: "score.py".into(),
                    schema: None,
                    sample_data: None,
                }));
                self.manifests += 1;
                let version = NodeRef::version(EntityKind::Manifest, "mf", self.manifests);
                self.created.insert(version.clone(), seq);
                self.edge(
                    version.clone(),
                    EdgeKind::VersionOf,
                    entity(EntityKind::Manifest, "mf"),
                    seq,
                );
                for model in included {
                    self.edge(
                        version.clone(),
                        EdgeKind::Includes,
                        NodeRef::version(EntityKind::Model, "m", model),
                        seq,
                    );
                }
            }
            Step::Image { manifest } if self.manifests > 0 => {
                let manifest = *manifest as u32 % self.manifests + 1;
                let seq = self.run(Command::StartImageBuild(StartImageBuild {
                    image: id("img"),
                    manifest: ManifestVersionRef {
                        manifest: id("mf"),
                        version: manifest,
                    },
                }));
                self.images += 1;
                self.run(Command::RecordImageBuilt(ImageBuilt {
                    image: id("img"),
                    version: self.images,
                    digest: "sha256:0".into(),
                }));
                let version = NodeRef::version(EntityKind::Image, "img", self.images);
                self.created.insert(version.clone(), seq);
                self.edge(
                    version.clone(),
                    EdgeKind::VersionOf,
                    entity(EntityKind::Image, "img"),
                    seq,
                );
                self.edge(
                    version,
                    EdgeKind::BuiltFrom,
                    NodeRef::version(EntityKind::Manifest, "mf", manifest),
                    seq,
                );
            }
            Step::Deploy { image } if self.images > 0 => {
                let image = *image as u32 % self.images + 1;
                let service = format!("svc-{}", self.services.len() + 1);
                let seq = self.run(Command::DeployService(ServiceDeployed {
                    service: id(&service),
                    account: id("mm"),
                    name: Name::new(service.clone()).unwrap(),
                    image: ImageVersionRef {
                        image: id("img"),
                        version: image,
                    },
                    environment: id("env"),
                    url: "http://x".into(),
                    replicas: 1,
                }));
                self.services.push(image);
                self.edge(
                    entity(EntityKind::Service, &service),
                    EdgeKind::Runs,
                    NodeRef::version(EntityKind::Image, "img", image),
                    seq,
                );
                self.edge(
                    entity(EntityKind::Service, &service),
                    EdgeKind::DeployedTo,
                    entity(EntityKind::Environment, "env"),
                    seq,
                );
            }
            Step::Update { service, image } if !self.services.is_empty() && self.images > 0 => {
                let index = service % self.services.len();
                let image = *image as u32 % self.images + 1;
                if self.services[index] == image {
                    return;
                }
                let service = entity(EntityKind::Service, format!("svc-{}", index + 1));
                let seq = self.run(Command::UpdateService(ServiceUpdated {
                    service: id(&service.entity.id),
                    image: ImageVersionRef {
                        image: id("img"),
                        version: image,
                    },
                }));
                self.services[index] = image;
                self.close(&service, EdgeKind::Runs, seq);
                self.edge(
                    service,
                    EdgeKind::Runs,
                    NodeRef::version(EntityKind::Image, "img", image),
                    seq,
                );
            }
            _ => {}
        }
    }

    /// The reference: the same breadth-first walk over the recorded edges.
    fn brute_force(&self, walk: &Walk) -> (BTreeMap<String, u32>, BTreeSet<String>) {
        let holds = |(_, _, _, from, until): &RecordedEdge| match walk.as_of {
            None => until.is_none(),
            Some(AsOf::Seq(seq)) => *from <= seq && until.is_none_or(|until| until > seq),
            Some(AsOf::Time(_)) => unreachable!("the reference walks by seq"),
        };
        let mut depths = BTreeMap::from([(walk.start.to_string(), 0u32)]);
        let mut edges = BTreeSet::new();
        let mut queue = VecDeque::from([(walk.start.clone(), 0u32)]);
        while let Some((node, depth)) = queue.pop_front() {
            if depth >= walk.max_depth {
                continue;
            }
            for edge in self.edges.iter().filter(|edge| holds(edge)) {
                let (from, kind, to, ..) = edge;
                let next = match walk.direction {
                    Direction::Upstream if *from == node => to,
                    Direction::Downstream if *to == node => from,
                    Direction::Both if *from == node => to,
                    Direction::Both if *to == node => from,
                    _ => continue,
                };
                if walk.edge_kinds.as_ref().is_some_and(|kinds| !kinds.contains(kind))
                    || walk
                        .node_kinds
                        .as_ref()
                        .is_some_and(|kinds| !kinds.contains(&next.kind()))
                {
                    continue;
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = depths.entry(next.to_string()) {
                    slot.insert(depth + 1);
                    queue.push_back((next.clone(), depth + 1));
                }
                edges.insert(format!("{from} {kind:?} {to}"));
            }
        }
        (depths, edges)
    }
}

/// A walk's nodes with their depths and its edges, as `brute_force` states them.
fn answer(world: &World, walk: &Walk) -> (BTreeMap<String, u32>, BTreeSet<String>) {
    let graph = world.store.lineage().walk(walk).unwrap();
    assert!(!graph.truncated, "{walk:?}");
    let nodes = graph
        .nodes
        .iter()
        .map(|found| (found.node.to_string(), found.depth))
        .collect();
    let edges = graph
        .edges
        .iter()
        .map(|edge| format!("{} {:?} {}", edge.from, edge.kind, edge.to))
        .collect();
    (nodes, edges)
}

#[test]
fn nodes_with_more_edges_than_their_record_holds_walk_as_the_reference() {
    let mut world = World::setup();
    let mut steps = vec![Step::Dataset; 3];
    let many = INLINE_EDGES + 4;
    // Every run uses the three datasets: each dataset, the experiment and the compute
    // target get more edges in than a record holds.
    steps.extend((0..many).map(|_| Step::Run {
        inputs: vec![0, 1, 2],
        outputs: 0,
        parent: None,
    }));
    steps.extend((0..many).map(|run| Step::ModelVersion { run, derived: None }));
    // One manifest version including every model version: more edges out than it holds.
    steps.push(Step::Manifest {
        models: (0..many).collect(),
    });
    steps.extend((0..many).map(|_| Step::Image { manifest: 0 }));
    steps.push(Step::Deploy { image: 0 });
    // The service moves through every image and back to an early (kept in its record) and
    // a late one (kept under its own key): spans reopened in both places.
    steps.extend((1..many).map(|image| Step::Update { service: 0, image }));
    steps.push(Step::Update { service: 0, image: 1 });
    steps.push(Step::Update {
        service: 0,
        image: many - 2,
    });
    for step in &steps {
        world.apply(step);
    }
    // Every run records the same inputs again: edges already listed past a full record
    // are not listed twice.
    for run in 1..=many {
        let seq = world.run(Command::RecordRunInputs(RunInputsRecorded {
            run: id(&format!("r-{run}")),
            datasets: (1..=3).map(|d| id(&format!("d-{d}"))).collect(),
        }));
        for d in 1..=3 {
            world.edge(
                entity(EntityKind::Run, format!("r-{run}")),
                EdgeKind::Used,
                entity(EntityKind::Dataset, format!("d-{d}")),
                seq,
            );
        }
    }
    for d in 1..=3 {
        let dataset = entity(EntityKind::Dataset, format!("d-{d}"));
        let into = world.store.lineage().in_edges(&dataset).unwrap();
        assert_eq!(into.len(), many, "each run's edge into {dataset} once");
    }
    let keyed = |table: u8| {
        world.store.trees().flush_layer(world.store.head().seq).unwrap();
        world.store.trees().sled_trees()[TREE].scan_prefix([table]).count()
    };
    assert!(keyed(b'o') > 0 && keyed(b'i') > 0, "some edges overflow their records");
    let head = world.store.head().seq;
    let nodes: Vec<NodeRef> = world.created.keys().cloned().collect();
    for start in nodes {
        for as_of in [None, Some(AsOf::Seq(head / 2)), Some(AsOf::Seq(head - 3))] {
            if matches!(as_of, Some(AsOf::Seq(seq)) if world.created[&start] > seq) {
                continue;
            }
            for direction in [Direction::Upstream, Direction::Downstream, Direction::Both] {
                let mut walk = Walk::new(start.clone(), direction);
                walk.max_depth = 3;
                walk.as_of = as_of;
                assert_eq!(answer(&world, &walk), world.brute_force(&walk), "{walk:?}");
            }
        }
    }
    let dir = world.store.dir().to_path_buf();
    drop(world);
    let _ = std::fs::remove_dir_all(dir);
}

/// A walk to check: a fixed start or an index into the nodes alive at the time, the
/// direction, the depth, the seq to look from, and whether to follow data edges only.
type Query = (Option<NodeRef>, usize, Direction, u32, Option<u64>, bool);

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Upstream),
        Just(Direction::Downstream),
        Just(Direction::Both)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn walks_match_a_brute_force_walk(
        steps in proptest::collection::vec(step(), 1..40),
        queries in proptest::collection::vec((0usize..1000, direction(), 1u32..8, proptest::option::of(0u64..200), proptest::bool::ANY), 1..8),
    ) {
        let mut world = World::setup();
        for step in &steps {
            world.apply(step);
        }
        let head = world.store.head().seq;
        let nodes: Vec<(NodeRef, u64)> = world.created.iter().map(|(node, seq)| (node.clone(), *seq)).collect();
        // Besides the random queries: every service upstream, now and half-way through,
        // where updates move edges.
        let mut all: Vec<Query> =
            queries.into_iter().map(|(pick, direction, depth, as_of, only_data)| (None, pick, direction, depth, as_of, only_data)).collect();
        for index in 1..=world.services.len() {
            let service = entity(EntityKind::Service, format!("svc-{index}"));
            let created = world.created[&service];
            all.push((Some(service.clone()), 0, Direction::Upstream, 3, None, false));
            all.push((Some(service), 0, Direction::Upstream, 3, Some((head / 2).max(created)), false));
        }
        for (fixed, pick, direction, depth, as_of, only_data) in all {
            let as_of = as_of.map(|seq| AsOf::Seq(seq % (head + 1)));
            let alive: Vec<&(NodeRef, u64)> = nodes.iter().filter(|(_, created)| match as_of {
                Some(AsOf::Seq(seq)) => *created <= seq,
                _ => true,
            }).collect();
            let start = match fixed {
                Some(node) => node,
                None if alive.is_empty() => continue,
                None => alive[pick % alive.len()].0.clone(),
            };
            let mut walk = Walk::new(start.clone(), direction);
            walk.max_depth = depth;
            walk.as_of = as_of;
            if only_data {
                walk.edge_kinds = Some([EdgeKind::Used, EdgeKind::GeneratedBy, EdgeKind::DerivedFrom, EdgeKind::Includes, EdgeKind::BuiltFrom, EdgeKind::Runs].into());
            }
            prop_assert_eq!(answer(&world, &walk), world.brute_force(&walk), "{:?}", walk);
        }
        let dir = world.store.dir().to_path_buf();
        drop(world);
        let _ = std::fs::remove_dir_all(dir);
    }
}
