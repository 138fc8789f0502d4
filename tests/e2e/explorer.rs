//! The explorer's views in headless Chromium: each entity's view through its link and
//! after a reload, runs compared side by side, an entity before it existed, and the
//! layout of a generated graph of a few hundred nodes measured in the page.

use crate::browser::{signed_in_on, signed_in_on_the_demo};
use crate::graphql::Server;
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::literal as id;
use lineage_schema::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What the details panel shows once it has loaded `entity`: its section titles, the
/// entities it links to, and the rows of its tables that name a run, version or artifact.
const SHOWN: &str = "const d = document.getElementById('details'), c = document.getElementById('canvas');
  if (d.dataset.shown !== arguments[0] || c.dataset.centre !== arguments[0] || !['ready', 'empty'].includes(c.dataset.state)) return null;
  const all = (selector) => [...d.querySelectorAll(selector)];
  return { sections: all('h3').map((h) => h.textContent), links: all('[data-link]').map((a) => a.dataset.link),
           runs: all('.runs tbody tr').map((tr) => tr.dataset.run), versions: all('[data-version]').map((tr) => tr.dataset.version),
           artifacts: all('[data-artifact]').map((tr) => tr.dataset.artifact), wide: document.getElementById('app').classList.contains('wide'),
           direction: document.getElementById('direction').value };";

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|item| item.as_str().unwrap().to_string())
        .collect()
}

/// The ids a `lineage` walk reached at depth 1, of one kind.
fn neighbours(walk: &Value, kind: &str) -> BTreeSet<String> {
    walk["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["depth"] == 1 && node["id"].as_str().unwrap().starts_with(&format!("{kind}/")))
        .map(|node| node["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every kind's view opens from its link, shows what the API holds for it, and is the
/// same after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_opens_from_its_link_and_after_a_reload() {
    let (server, browser) = signed_in_on_the_demo().await;
    let facts = server
        .data(
            r#"{ run(id: "r-churn-3") { inputs params { key } artifacts { path } }
                 experiment(id: "e-sweep") { runs { id } }
                 readers: lineage(id: "dataset/d-usage", direction: DOWNSTREAM, depth: 1) { nodes { id depth } }
                 model(id: "m-churn") { versions { id runId } }
                 trace(service: "service/svc-churn") { image { manifest { models { modelVersion run { run } } } } } }"#,
            json!({}),
        )
        .await;
    for (link, entity) in [
        ("#/run/r-churn-3", "run/r-churn-3"),
        ("#/experiment/e-sweep", "experiment/e-sweep"),
        ("#/dataset/d-usage", "dataset/d-usage"),
        ("#/model/m-churn", "model/m-churn"),
        ("#/service/svc-churn", "service/svc-churn"),
    ] {
        browser.goto(&format!("{}/{link}", server.url)).await;
        let first = browser
            .wait_for(&format!("the view of {entity}"), SHOWN, json!([entity]))
            .await;
        browser.run("location.reload()", json!([])).await;
        let again = browser
            .wait_for(&format!("the view of {entity} after a reload"), SHOWN, json!([entity]))
            .await;
        assert_eq!(first, again, "a reload keeps the view of {entity}");
        let sections = strings(&first["sections"]);
        let links = strings(&first["links"]);
        assert!(sections.contains("Audit trail"), "{entity}: {first}");
        match entity {
            "run/r-churn-3" => {
                for section in ["Inputs and outputs", "Params", "Metrics", "Tags", "Artifacts"] {
                    assert!(sections.contains(section), "a run's view has {section}: {first}");
                }
                let inputs = strings(&facts["run"]["inputs"]);
                assert!(
                    !inputs.is_empty() && inputs.is_subset(&links),
                    "it links what it read: {first}"
                );
                assert_eq!(
                    first["artifacts"].as_array().unwrap().len(),
                    facts["run"]["artifacts"].as_array().unwrap().len()
                );
                assert_eq!(first["direction"], "BOTH");
            }
            "experiment/e-sweep" => {
                let runs: BTreeSet<String> = facts["experiment"]["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|run| run["id"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(strings(&first["runs"]), runs);
                assert_eq!(first["wide"], true, "an experiment's runs get the full width");
            }
            "dataset/d-usage" => {
                let readers = neighbours(&facts["readers"], "run");
                assert!(!readers.is_empty() && readers.is_subset(&links), "its readers: {first}");
                assert_eq!(first["direction"], "DOWNSTREAM", "what depends on a dataset");
            }
            "model/m-churn" => {
                let versions: BTreeSet<String> = facts["model"]["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["id"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(strings(&first["versions"]), versions);
                assert!(links.contains("service/svc-churn"), "where its versions serve: {first}");
            }
            "service/svc-churn" => {
                let models = facts["trace"]["image"]["manifest"]["models"].as_array().unwrap();
                for model in models {
                    assert!(links.contains(model["modelVersion"].as_str().unwrap()), "{first}");
                    assert!(links.contains(model["run"]["run"].as_str().unwrap()), "{first}");
                }
                assert_eq!(first["direction"], "TRACE");
            }
            _ => unreachable!(),
        }
    }
    // A link in a view leads to that entity's view.
    browser
        .run(
            "document.querySelector('#details [data-link^=\"run/\"]').click()",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the linked run's view",
            "const d = document.getElementById('details'); return location.hash.startsWith('#/run/') && d.dataset.shown && d.dataset.shown.startsWith('run/')",
            json!([]),
        )
        .await;
    browser.keep_screenshot("explorer-run").await;
    browser.quit().await;
    server.stop().await;
}

/// Runs ticked in an experiment's table open side by side: params and latest metrics in
/// rows with the differences marked, as the API has them, and each metric's history
/// overlaid; the view has a link of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_compared_side_by_side() {
    let (server, browser) = signed_in_on_the_demo().await;
    browser.goto(&format!("{}/#/experiment/e-sweep", server.url)).await;
    browser
        .wait_for("the sweep's runs", SHOWN, json!(["experiment/e-sweep"]))
        .await;
    let picked = browser
        .run(
            "const rows = [...document.querySelectorAll('#details .runs tbody tr')].filter((tr) => tr.dataset.run !== 'run/r-sweep').slice(0, 3);
             for (const tr of rows) { const box = tr.querySelector('input[type=checkbox]'); box.checked = true; box.dispatchEvent(new Event('change')); }
             const button = document.querySelector('#details [data-compare]'); const label = button.textContent; button.click();
             return [rows.map((tr) => tr.dataset.run), label];",
            json!([]),
        )
        .await;
    let runs = strings(&picked[0]);
    assert_eq!(runs.len(), 3, "{picked}");
    assert_eq!(picked[1], "Compare 3 runs");
    let compared = browser
        .wait_for(
            "the comparison",
            "const c = document.getElementById('compare'); if (!c.querySelector('table.compare')) return null;
             const rows = (attribute) => Object.fromEntries([...c.querySelectorAll(`tr[${attribute}]`)].map((tr) => [tr.getAttribute(attribute),
               { differs: tr.classList.contains('differs'), values: [...tr.querySelectorAll('td')].map((td) => td.textContent) }]));
             return { hash: location.hash, params: rows('data-param'), metrics: rows('data-metric'),
                      charts: Object.fromEntries([...c.querySelectorAll('svg.chart')].map((s) => [s.dataset.metric, Number(s.dataset.series)])),
                      graphHidden: document.getElementById('canvas').offsetParent === null };",
            json!([]),
        )
        .await;
    assert!(
        compared["hash"].as_str().unwrap().starts_with("#/compare?runs="),
        "{compared}"
    );
    assert_eq!(compared["graphHidden"], true);
    let ids: Vec<String> = compared["hash"].as_str().unwrap()["#/compare?runs=".len()..]
        .split(',')
        .map(|run| format!("run/{run}"))
        .collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), runs);
    let query = ids
        .iter()
        .enumerate()
        .map(|(i, run)| format!("r{i}: run(id: \"{run}\") {{ params {{ key value }} metrics {{ name value }} }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let api = server.data(&format!("{{ {query} }}"), json!({})).await;
    let held: Vec<&Value> = (0..ids.len()).map(|i| &api[format!("r{i}")]).collect();
    let keys: BTreeSet<String> = held
        .iter()
        .flat_map(|run| run["params"].as_array().unwrap())
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        compared["params"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        keys
    );
    let mut some_differ = false;
    for key in &keys {
        let values: Vec<Option<&str>> = held
            .iter()
            .map(|run| {
                run["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["key"] == key.as_str())
                    .map(|p| p["value"].as_str().unwrap())
            })
            .collect();
        let differs = values.iter().collect::<BTreeSet<_>>().len() > 1;
        some_differ |= differs;
        let shown = &compared["params"][key];
        assert_eq!(shown["differs"], differs, "{key}: {shown} against {values:?}");
        let cells: Vec<String> = values.iter().map(|v| v.unwrap_or("—").to_string()).collect();
        assert_eq!(shown["values"], json!(cells), "{key}");
    }
    assert!(some_differ, "a sweep's runs differ in some param");
    for (name, series) in compared["charts"].as_object().unwrap() {
        let logged = held
            .iter()
            .filter(|run| run["metrics"].as_array().unwrap().iter().any(|m| &m["name"] == name))
            .count();
        assert_eq!(series, &json!(logged), "one line per run that logged {name}");
        assert!(compared["metrics"][name].is_object(), "a row for {name}");
    }
    assert!(!compared["charts"].as_object().unwrap().is_empty());
    // Only the rows that differ, on request.
    let hidden = browser
        .run(
            "const only = document.getElementById('only-differences'); only.checked = true; only.dispatchEvent(new Event('change'));
             return [...document.querySelectorAll('#compare tr.same')].every((tr) => tr.offsetParent === null)
               && [...document.querySelectorAll('#compare tr.differs')].every((tr) => tr.offsetParent !== null);",
            json!([]),
        )
        .await;
    assert_eq!(hidden, true);
    browser.keep_screenshot("explorer-compare").await;
    // The comparison is a link: it opens again after a reload; back returns to the sweep.
    browser.run("location.reload()", json!([])).await;
    browser
        .wait_for(
            "the comparison after a reload",
            "return document.querySelectorAll('#compare table.compare th a').length",
            json!([]),
        )
        .await;
    browser.run("history.back()", json!([])).await;
    browser
        .wait_for("the sweep again", SHOWN, json!(["experiment/e-sweep"]))
        .await;
    browser.quit().await;
    server.stop().await;
}

/// As of an event before an entity existed, its view and its graph say so; at "now" both
/// come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_before_it_existed_says_so() {
    let (server, browser) = signed_in_on_the_demo().await;
    let first = server
        .data(
            r#"{ history(id: "run/r-churn-3", first: 1) { nodes { seq } } }"#,
            json!({}),
        )
        .await["history"]["nodes"][0]["seq"]
        .as_u64()
        .unwrap();
    let before = first - 1;
    browser
        .goto(&format!(
            "{}/#/run/r-churn-3?direction=UPSTREAM&asof={before}",
            server.url
        ))
        .await;
    let said = browser
        .wait_for(
            "the run before it existed",
            "const absent = document.querySelector('#details [data-then=absent]');
             return absent && document.getElementById('canvas').dataset.state === 'error'
               && [absent.textContent, document.getElementById('status').textContent, document.getElementById('asof-label').textContent];",
            json!([]),
        )
        .await;
    let expected = format!("did not exist yet as of event {before}");
    assert!(said[0].as_str().unwrap().contains(&expected), "{said}");
    assert!(said[1].as_str().unwrap().contains(&expected), "{said}");
    assert_eq!(said[2], format!("as of event {before}"));
    assert_eq!(
        browser.run("return location.hash", json!([])).await,
        format!("#/run/r-churn-3?direction=UPSTREAM&depth=6&asof={before}")
    );
    browser
        .run("document.getElementById('asof-now').click()", json!([]))
        .await;
    browser.wait_for("the run now", SHOWN, json!(["run/r-churn-3"])).await;
    browser.quit().await;
    server.stop().await;
}

fn act(command: Command) -> CommandEnvelope {
    CommandEnvelope::new(id("u-graph"), command)
}

/// A store whose dataset `d-shared` feeds `runs` runs, each reading a dataset of its own
/// too and producing a model version; four versions go into each manifest, built into an
/// image, deployed as a service: downstream of `d-shared`, 1 + 2.75 × `runs` nodes.
fn fan_in(runs: usize) -> Vec<CommandEnvelope> {
    let dataset = |name: &str| {
        act(Command::RegisterDataset(DatasetRegistered {
            dataset: id(name),
            account: id("acct"),
            name: literal(name),
            location: format!("/data/{name}"),
            version: None,
            digest: None,
        }))
    };
    let mut commands = lineage_schema::demo::scaffold("u-graph", 0);
    commands.push(dataset("d-shared"));
    for i in 0..runs {
        let (group, version) = (i / 4, (i % 4) as u32 + 1);
        commands.push(dataset(&format!("d-{i}")));
        commands.push(act(Command::StartRun(RunStarted {
            run: id(&format!("r-{i}")),
            experiment: id("e"),
            compute_target: id("ct"),
            revision: format!("rev{i}"),
            parent: None,
        })));
        commands.push(act(Command::RecordRunInputs(RunInputsRecorded {
            run: id(&format!("r-{i}")),
            datasets: vec![id("d-shared"), id(&format!("d-{i}"))],
        })));
        commands.push(act(Command::CompleteRun(RunCompleted {
            run: id(&format!("r-{i}")),
        })));
        if version == 1 {
            commands.push(act(Command::CreateModel(ModelCreated {
                model: id(&format!("m-{group}")),
                account: id("mm"),
                name: literal(&format!("model-{group}")),
                description: String::new(),
            })));
        }
        commands.push(act(Command::RegisterModelVersion(RegisterModelVersion {
            model: id(&format!("m-{group}")),
            source: ModelSource::Run {
                run: id(&format!("r-{i}")),
                artifact_path: "model.pkl".into(),
            },
            derived_from: None,
            tags: vec![],
        })));
        if version < 4 && i + 1 < runs {
            continue;
        }
        let (manifest, image) = (format!("mf-{group}"), format!("img-{group}"));
        commands.extend([
            act(Command::CreateManifest(ManifestCreated {
                manifest: id(&manifest),
                account: id("mm"),
                name: literal(&manifest),
            })),
            act(Command::AddManifestVersion(AddManifestVersion {
                manifest: id(&manifest),
                models: (1..=version)
                    .map(|v| ModelVersionRef {
                        model: id(&format!("m-{group}")),
                        version: v,
                    })
                    .collect(),
                dependencies: vec![],
                scoring_script: "score.py".into(),
                schema: None,
                sample_data: None,
            })),
            act(Command::CreateImage(ImageCreated {
                image: id(&image),
                account: id("mm"),
                name: literal(&image),
            })),
            act(Command::StartImageBuild(StartImageBuild {
                image: id(&image),
                manifest: ManifestVersionRef {
                    manifest: id(&manifest),
                    version: 1,
                },
            })),
            act(Command::RecordImageBuilt(ImageBuilt {
                image: id(&image),
                version: 1,
                digest: format!("sha256:{group:x}"),
            })),
            act(Command::DeployService(ServiceDeployed {
                service: id(&format!("svc-{group}")),
                account: id("mm"),
                name: literal(&format!("service-{group}")),
                image: ImageVersionRef {
                    image: id(&image),
                    version: 1,
                },
                environment: id("env-a"),
                url: format!("http://svc-{group}"),
                replicas: 1,
            })),
        ]);
    }
    commands
}

/// Layout facts measured in the page, in screen pixels: nodes, edges flowing rightwards,
/// label and node boxes that overlap, the smallest label, the zoom.
const MEASURED: &str = "const L = LineageExplorer, box = (e) => e.getBoundingClientRect();
  const nodes = [...document.querySelectorAll('#graph .node')], labels = [...document.querySelectorAll('#graph .edge-label')];
  const edges = [...document.querySelectorAll('#graph path.edge')].map((p) => [p.getPointAtLength(0), p.getPointAtLength(p.getTotalLength())]);
  const texts = [...labels, ...document.querySelectorAll('#graph .node text')];
  return { nodes: nodes.length, labels: labels.length, edges: edges.length, rightwards: edges.filter(([a, b]) => b.x > a.x).length,
           overlaps: L.overlapping([...nodes.map(box), ...labels.map(box)]).length,
           smallest: Math.min(...texts.map((t) => parseFloat(getComputedStyle(t).fontSize))),
           zoom: Number(document.getElementById('graph').dataset.zoom) };";

/// A graph of a few hundred nodes reads left to right with no two labels or nodes
/// overlapping and labels at 11 px or more; it pans and zooms. The demo's trace too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_graph_reads_left_to_right_without_overlaps_and_pans_and_zooms() {
    let (demo, browser) = signed_in_on_the_demo().await;
    let small = browser.run(MEASURED, json!([])).await;
    assert!(small["nodes"].as_u64().unwrap() > 10, "{small}");
    assert_eq!(
        small["rightwards"], small["edges"],
        "the demo's trace flows rightwards: {small}"
    );
    assert_eq!(small["overlaps"], 0, "{small}");
    browser.quit().await;
    demo.stop().await;

    let runs = 100;
    let server = Server::start_with(
        |store| {
            store.execute_batch(fan_in(runs)).unwrap();
        },
        "u-graph",
        lineage_graphql::api::Limits::default(),
        lineage_graphql::server::ServerLimits::default(),
    )
    .await;
    let (server, browser) = signed_in_on(server).await;
    browser
        .goto(&format!(
            "{}/#/dataset/d-shared?direction=DOWNSTREAM&depth=6",
            server.url
        ))
        .await;
    browser
        .wait_for(
            "the shared dataset's dependants",
            "const c = document.getElementById('canvas'); return c.dataset.state === 'ready' && c.dataset.centre === 'dataset/d-shared'",
            json!([]),
        )
        .await;
    let walk = server
        .data(
            r#"{ lineage(id: "dataset/d-shared", direction: DOWNSTREAM, depth: 6) { nodes { id } edges { from } } }"#,
            json!({}),
        )
        .await;
    let measured = browser.run(MEASURED, json!([])).await;
    let nodes = walk["lineage"]["nodes"].as_array().unwrap().len();
    assert_eq!(nodes, 1 + runs * 11 / 4, "the generated store as planned");
    assert_eq!(measured["nodes"], json!(nodes), "{measured}");
    assert_eq!(
        measured["edges"],
        json!(walk["lineage"]["edges"].as_array().unwrap().len())
    );
    assert_eq!(
        measured["rightwards"], measured["edges"],
        "every edge flows rightwards: {measured}"
    );
    assert_eq!(measured["overlaps"], 0, "no two labels or nodes overlap: {measured}");
    assert_eq!(measured["zoom"], 1.0, "drawn at its size first: {measured}");
    assert!(measured["smallest"].as_f64().unwrap() >= 11.0, "{measured}");
    browser.keep_screenshot("explorer-large").await;

    // Fit shows all of it (smaller), the wheel zooms in around the pointer, a drag pans.
    let moved = browser
        .run(
            "const g = document.getElementById('graph'), layer = () => g.querySelector('g.viewport').getAttribute('transform');
             const canvas = g.getBoundingClientRect();
             document.getElementById('zoom-fit').click();
             const fit = Number(g.dataset.zoom);
             const inside = [...g.querySelectorAll('.node')].every((n) => { const b = n.getBoundingClientRect();
               return b.left >= canvas.left - 1 && b.right <= canvas.right + 1 && b.top >= canvas.top - 1 && b.bottom <= canvas.bottom + 1; });
             g.dispatchEvent(new WheelEvent('wheel', { deltaY: -400, clientX: canvas.left + 200, clientY: canvas.top + 200, bubbles: true, cancelable: true }));
             const zoomed = Number(g.dataset.zoom);
             const before = layer();
             const at = { clientX: canvas.left + 300, clientY: canvas.top + 300, button: 0, pointerId: 1, bubbles: true };
             g.dispatchEvent(new PointerEvent('pointerdown', at));
             g.dispatchEvent(new PointerEvent('pointermove', { ...at, clientX: at.clientX + 120, clientY: at.clientY + 40 }));
             g.dispatchEvent(new PointerEvent('pointerup', at));
             return { fit, inside, zoomed, before, after: layer() };",
            json!([]),
        )
        .await;
    let fit = moved["fit"].as_f64().unwrap();
    assert!(
        fit < 1.0 && moved["inside"] == true,
        "Fit shows the whole graph: {moved}"
    );
    assert!(moved["zoomed"].as_f64().unwrap() > fit, "the wheel zooms in: {moved}");
    let translate = |transform: &Value| -> (f64, f64) {
        let text = transform.as_str().unwrap();
        let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
        let mut parts = inner.split(',').map(|n| n.trim().parse::<f64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let (before, after) = (translate(&moved["before"]), translate(&moved["after"]));
    assert!(
        (after.0 - before.0 - 120.0).abs() < 0.5 && (after.1 - before.1 - 40.0).abs() < 0.5,
        "a drag moves the graph with the pointer: {moved}"
    );
    browser.quit().await;
    server.stop().await;
}

/// What an OpenLineage emitter sent is found by the search and has views of its own: an
/// imported dataset's view names the runs that wrote and read it, and a run's view what
/// it read and wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_runs_and_datasets_are_found_and_shown() {
    let server = Server::start_with(
        |store| {
            lineage_store::demo::fill(store).unwrap();
            crate::openlineage::import_file(store);
        },
        "u-alex",
        lineage_graphql::api::Limits::default(),
        lineage_graphql::server::ServerLimits::default(),
    )
    .await;
    let (server, browser) = signed_in_on(server).await;
    let account: lineage_schema::AccountId = id("acct-contoso-exp");
    let runs = server
        .data(
            r#"{ runs(account: "acct-contoso-exp", first: 500) { nodes { id inputs outputs } } }"#,
            json!({}),
        )
        .await;
    let imported: Vec<&Value> = runs["runs"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["id"].as_str().unwrap().starts_with("run/ol-run-"))
        .collect();
    let run = imported
        .iter()
        .find(|run| !run["inputs"].as_array().unwrap().is_empty() && !run["outputs"].as_array().unwrap().is_empty())
        .expect("an imported run that read and wrote datasets");
    let run_id = run["id"].as_str().unwrap();
    // Imported ids carry the account's tenant tag (`ol-run-<uuid>-<tag>`).
    let tagged = lineage_importer::openlineage::run_id(&account, "uuid");
    let tag = tagged.rsplit('-').next().unwrap();
    assert!(run_id.ends_with(tag), "{run_id} imported into {account}");
    let written = run["outputs"][0].as_str().unwrap();
    let name = server
        .data("query($id: ID!) { node(id: $id) { name } }", json!({ "id": written }))
        .await["node"]["name"]
        .as_str()
        .unwrap()
        .to_string();

    // The dataset by its name, picked from the search: its view names the run that wrote it.
    let suggested = browser
        .run(
            "const s = document.getElementById('search'); s.focus(); s.value = arguments[0]; s.dispatchEvent(new Event('input'));
             return [...document.querySelectorAll('#suggestions li[data-entity]')].map((li) => li.dataset.entity);",
            json!([name]),
        )
        .await;
    assert!(
        suggested.as_array().unwrap().contains(&json!(written)),
        "{name}: {suggested}"
    );
    browser
        .run(
            "document.querySelector(`#suggestions li[data-entity=\"${arguments[0]}\"]`).dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));",
            json!([written]),
        )
        .await;
    let dataset = browser
        .wait_for("the imported dataset's view", SHOWN, json!([written]))
        .await;
    assert!(
        strings(&dataset["links"]).contains(run_id),
        "written by {run_id}: {dataset}"
    );
    assert_eq!(
        browser
            .run("return location.hash", json!([]))
            .await
            .as_str()
            .unwrap()
            .split('?')
            .next()
            .unwrap(),
        format!("#/{written}")
    );

    // The run through its link: what it read and wrote, and its graph around it.
    browser.goto(&format!("{}/#/{run_id}", server.url)).await;
    let shown = browser
        .wait_for("the imported run's view", SHOWN, json!([run_id]))
        .await;
    let links = strings(&shown["links"]);
    for dataset in run["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(run["outputs"].as_array().unwrap())
    {
        assert!(links.contains(dataset.as_str().unwrap()), "{dataset}: {shown}");
    }
    let drawn = browser
        .run(
            "return [...document.querySelectorAll('#graph [data-node]')].map((n) => n.dataset.node)",
            json!([]),
        )
        .await;
    assert!(strings(&drawn).contains(written), "{drawn}");
    browser.quit().await;
    server.stop().await;
}
