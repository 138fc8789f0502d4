//! The lineage explorer (`GET /`) in headless Chromium, driven over the WebDriver
//! protocol through Debian's chromedriver (`.ci/run` installs both).

use crate::graphql::Server;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Chromium session behind a chromedriver child process.
pub(crate) struct Browser {
    client: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver; .ci/run installs them)");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The flags a closed network needs: no background fetches, no first-run work.
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1440,900", format!("--user-data-dir={}", profile.path().display())]
        } } } });
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"));
        Browser {
            client,
            session: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let answer: Value = self
            .client
            .post(format!("{}/{path}", self.session))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(answer["value"].get("error").is_none(), "{path}: {answer}");
        answer["value"].clone()
    }

    /// Sets the window's size, as a person dragging its edge would.
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.post("window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url })).await;
    }

    /// Runs a script in the page (`arguments[0]`, … are `args`) and returns its value.
    pub(crate) async fn run(&self, script: &str, args: Value) -> Value {
        self.post("execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls `script` until it returns something truthy; panics after 15 s with `what`.
    pub(crate) async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script, args.clone()).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false)) && value != json!("") && value != json!(0);
            if truthy {
                return value;
            }
            if started.elapsed() > Duration::from_secs(15) {
                let status = self
                    .run("return document.getElementById('status').textContent", json!([]))
                    .await;
                panic!("waited 15 s for {what}; the page says: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Keeps a screenshot of the page as a test artifact (`target/tmp/NAME.png`) and
    /// returns it, checked to be a PNG.
    pub(crate) async fn keep_screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.screenshot().await;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
        std::fs::write(&shot, &png).unwrap();
        png
    }

    /// The page as a PNG.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let answer: Value = self
            .client
            .get(format!("{}/screenshot", self.session))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        decode_base64(answer["value"].as_str().unwrap())
    }

    pub(crate) async fn quit(mut self) {
        let _ = self.client.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Standard base64 (what WebDriver's screenshots are).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut word = 0u32;
        for (index, c) in chunk.iter().enumerate() {
            word |= value(*c) << (18 - 6 * index);
        }
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&word.to_be_bytes()[1..1 + produced]);
    }
    out
}

/// The node ids a `trace` answer names, by the page's rules: the revision a run ran at is
/// a node `revision/…` of its own.
fn trace_nodes(trace: &Value) -> BTreeSet<String> {
    let mut nodes = BTreeSet::new();
    let mut add = |value: &Value| {
        if let Some(id) = value.as_str() {
            nodes.insert(id.to_string());
        }
    };
    add(&trace["service"]);
    add(&trace["environment"]);
    add(&trace["image"]["imageVersion"]);
    add(&trace["image"]["manifest"]["manifestVersion"]);
    let mut links: Vec<&Value> = trace["image"]["manifest"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    while let Some(link) = links.pop() {
        add(&link["modelVersion"]);
        let run = &link["run"];
        for field in ["run", "experiment", "computeTarget", "parent"] {
            add(&run[field]);
        }
        add(&json!(run["revision"]
            .as_str()
            .map(|revision| format!("revision/{revision}"))));
        for dataset in run["datasets"].as_array().into_iter().flatten() {
            add(dataset);
        }
        if !link["derivedFrom"].is_null() {
            links.push(&link["derivedFrom"]);
        }
    }
    nodes
}

const TRACE: &str = "query($service: ID!, $asOf: AsOfInput) { trace(service: $service, asOf: $asOf) {
  service environment image { imageVersion manifest { manifestVersion models { ...Link derivedFrom { ...Link derivedFrom { ...Link } } } } } } }
  fragment Link on ModelLink { modelVersion run { run experiment revision computeTarget datasets parent } }";

const DRAWN: &str = "return [...document.querySelectorAll('#graph [data-node]')].map(n => n.dataset.node)";

async fn drawn(browser: &Browser) -> BTreeSet<String> {
    let nodes = browser.run(DRAWN, json!([])).await;
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect()
}

/// Waits until the graph is drawn around `centre` with the as-of control at `asof`.
async fn wait_drawn(browser: &Browser, centre: &str, asof: &str) {
    browser
        .wait_for(
            &format!("the graph around {centre} as of step {asof}"),
            "const c = document.getElementById('canvas'); return c.dataset.state === 'ready' && c.dataset.centre === arguments[0] && c.dataset.asof === arguments[1];",
            json!([centre, asof]),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_draws_the_demo_service_as_trace_has_it_now_and_in_the_past() {
    let server = Server::demo().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", server.url)).await;

    // A bad token is refused in plain words.
    let sign_in = "document.getElementById('token').value = arguments[0]; document.getElementById('signin-form').requestSubmit();";
    browser.run(sign_in, json!(["lin_not-a-token"])).await;
    let refusal = browser
        .wait_for(
            "the refusal",
            "return document.getElementById('signin-error').textContent",
            json!([]),
        )
        .await;
    assert!(refusal.as_str().unwrap().contains("not accepted"), "{refusal}");

    // Signed in, the page picks an account and its first service by itself.
    browser.run(sign_in, json!([server.token])).await;
    browser
        .wait_for(
            "a first graph",
            "return document.getElementById('canvas').dataset.state === 'ready'",
            json!([]),
        )
        .await;

    // Find the churn service through the search box's suggestions.
    browser
        .run(
            "const s = document.getElementById('search'); s.focus(); s.value = 'churn'; s.dispatchEvent(new Event('input'));",
            json!([]),
        )
        .await;
    let suggested = browser
        .wait_for(
            "suggestions",
            "return [...document.querySelectorAll('#suggestions li[data-entity]')].map(li => li.dataset.entity)",
            json!([]),
        )
        .await;
    assert!(
        suggested.as_array().unwrap().contains(&json!("service/svc-churn")),
        "{suggested}"
    );
    browser
        .run(
            "document.querySelector('#suggestions li[data-entity=\"service/svc-churn\"]').dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));",
            json!([]),
        )
        .await;
    let history = server
        .data(
            "{ history(id: \"service/svc-churn\", first: 500) { nodes { seq type } } }",
            json!({}),
        )
        .await;
    let steps = history["history"]["nodes"].as_array().unwrap().clone();
    let now = steps.len().to_string();
    wait_drawn(&browser, "service/svc-churn", &now).await;

    // The drawn nodes are exactly those trace names.
    let trace = server.data(TRACE, json!({ "service": "service/svc-churn" })).await;
    let expected = trace_nodes(&trace["trace"]);
    assert_eq!(drawn(&browser).await, expected);
    let legend = browser
        .run(
            "return [...document.querySelectorAll('#legend [data-legend]')].map(n => n.dataset.legend)",
            json!([]),
        )
        .await;
    let kinds: BTreeSet<String> = expected
        .iter()
        .map(|id| id[..id.find('/').unwrap()].to_string())
        .collect();
    let legend_kinds: BTreeSet<String> = legend
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap().to_string())
        .collect();
    assert_eq!(legend_kinds, kinds, "the legend names every kind drawn");

    // Back in time: just before the service moved to its current image, the old chain.
    let updated = steps
        .iter()
        .position(|step| step["type"] == "ServiceUpdated")
        .expect("the demo service was updated");
    let before = updated - 1;
    browser
        .run(
            "const a = document.getElementById('asof'); a.value = arguments[0]; a.dispatchEvent(new Event('input')); a.dispatchEvent(new Event('change'));",
            json!([before.to_string()]),
        )
        .await;
    wait_drawn(&browser, "service/svc-churn", &before.to_string()).await;
    let past = server
        .data(
            TRACE,
            json!({ "service": "service/svc-churn", "asOf": { "seq": steps[before]["seq"] } }),
        )
        .await;
    let expected_past = trace_nodes(&past["trace"]);
    assert_ne!(
        past["trace"]["image"]["imageVersion"], trace["trace"]["image"]["imageVersion"],
        "the service ran another image then"
    );
    assert_eq!(drawn(&browser).await, expected_past);
    let label = browser
        .run("return document.getElementById('asof-label').textContent", json!([]))
        .await;
    assert!(label.as_str().unwrap().contains("UTC"), "{label}");

    // Save what it looks like, back at now.
    browser
        .run("document.getElementById('asof-now').click()", json!([]))
        .await;
    wait_drawn(&browser, "service/svc-churn", &now).await;
    let png = browser.keep_screenshot("explorer").await;
    assert!(
        png.len() > 20_000,
        "a drawn page, not a blank one ({} bytes)",
        png.len()
    );

    // A run's details: its params and a chart per metric, and its audit trail.
    let run = trace["trace"]["image"]["manifest"]["models"][0]["run"]["run"]
        .as_str()
        .unwrap()
        .to_string();
    browser
        .run(
            "document.querySelector(`#graph [data-node=\"${arguments[0]}\"]`).dispatchEvent(new MouseEvent('click', { bubbles: true }));",
            json!([run]),
        )
        .await;
    let charts = browser
        .wait_for(
            "the run's metric charts",
            "const d = document.getElementById('details'); return d.dataset.node === arguments[0] && d.querySelectorAll('svg.chart').length;",
            json!([run]),
        )
        .await;
    let metrics = server
        .data(
            "query($id: ID!) { run(id: $id) { metrics { name } } }",
            json!({ "id": run }),
        )
        .await;
    assert_eq!(charts, json!(metrics["run"]["metrics"].as_array().unwrap().len()));
    let audit = browser
        .run(
            "return [...document.querySelectorAll('#details h3')].map(h => h.textContent)",
            json!([]),
        )
        .await;
    assert!(audit.as_array().unwrap().contains(&json!("Audit trail")), "{audit}");

    // Double-click re-centres on a node: the model version, walked both ways.
    let model = trace["trace"]["image"]["manifest"]["models"][0]["modelVersion"]
        .as_str()
        .unwrap()
        .to_string();
    browser
        .run(
            "document.querySelector(`#graph [data-node=\"${arguments[0]}\"]`).dispatchEvent(new MouseEvent('dblclick', { bubbles: true }));",
            json!([model]),
        )
        .await;
    let model_steps = server
        .data(
            "query($id: ID!) { history(id: $id, first: 500) { nodes { seq } } }",
            json!({ "id": model.split('@').next().unwrap() }),
        )
        .await;
    let model_now = model_steps["history"]["nodes"].as_array().unwrap().len().to_string();
    wait_drawn(&browser, &model, &model_now).await;
    let walk = server
        .data(
            "query($id: ID!) { up: lineage(id: $id, direction: UPSTREAM, depth: 6) { nodes { id } }
                               down: lineage(id: $id, direction: DOWNSTREAM, depth: 6) { nodes { id } } }",
            json!({ "id": model }),
        )
        .await;
    let walked: BTreeSet<String> = ["up", "down"]
        .iter()
        .flat_map(|way| walk[way]["nodes"].as_array().unwrap().iter())
        .map(|node| node["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(drawn(&browser).await, walked);

    // The bill of the chosen account for the demo's month, with its seats.
    browser
        .run(
            "const m = document.getElementById('bill-month'); m.value = '2026-03'; m.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
    let total = browser
        .wait_for(
            "the bill",
            "return document.getElementById('bill-total').textContent",
            json!([]),
        )
        .await;
    assert!(total.as_str().unwrap().starts_with("Total $"), "{total}");
    let seat_rows = browser
        .run(
            "return document.querySelectorAll('#bill table')[1]?.querySelectorAll('tbody tr').length ?? 0",
            json!([]),
        )
        .await;
    assert!(seat_rows.as_u64().unwrap() > 0, "the per-seat breakdown");

    browser.quit().await;
    server.stop().await;
}

/// The page's own logic — layout and formatting — called in the browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorers_layout_formatting_and_its_empty_and_refused_states() {
    let (mut stranger, mut seated) = (String::new(), String::new());
    let server = Server::start_with(
        |store| {
            lineage_store::demo::fill(store).unwrap();
            store
                .execute(lineage_schema::CommandEnvelope::new(
                    crate::support::id("u-nobody"),
                    lineage_schema::Command::RegisterPrincipal(lineage_schema::event::PrincipalRegistered {
                        principal: crate::support::id("u-nobody"),
                        name: lineage_schema::literal("Nobody"),
                        email: "nobody@example.com".into(),
                    }),
                ))
                .unwrap();
            let id = crate::support::id("u-nobody");
            stranger = lineage_graphql::auth::issue(store, &id, &id, "tests").unwrap().secret;
            let ada = crate::support::id("u-ada");
            seated = lineage_graphql::auth::issue(store, &ada, &ada, "tests").unwrap().secret;
        },
        "u-alex",
        lineage_graphql::api::Limits::default(),
        lineage_graphql::server::ServerLimits::default(),
    )
    .await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", server.url)).await;
    let result = browser
        .run(
            "const L = LineageExplorer;
             const trace = { service: 'service/s', environment: 'environment/e', image: { imageVersion: 'image/i@2',
               manifest: { manifestVersion: 'manifest/m@1', models: [
                 { modelVersion: 'model/a@2', run: { run: 'run/r2', experiment: 'experiment/x', revision: 'abc', computeTarget: 'compute-target/c', datasets: ['dataset/d1', 'dataset/d2'], parent: null },
                   derivedFrom: { modelVersion: 'model/a@1', run: { run: 'run/r1', experiment: 'experiment/x', revision: 'abc', computeTarget: 'compute-target/c', datasets: ['dataset/d1'], parent: null } } } ] } } };
             const g = L.traceGraph(trace);
             const box = L.layout(g);
             const at = (id) => box.positions[id];
             const nodeBox = (p) => ({ left: p.x, top: p.y, right: p.x + box.nodeWidth, bottom: p.y + box.nodeHeight });
             const labelBox = (e) => ({ left: e.labelAt.x - e.labelAt.width / 2, top: e.labelAt.y - e.labelAt.height / 2,
                                        right: e.labelAt.x + e.labelAt.width / 2, bottom: e.labelAt.y + e.labelAt.height / 2 });
             const boxes = [...Object.values(box.positions).map(nodeBox), ...box.edges.map(labelBox)];
             const walk = L.walkGraph('run/r', { nodes: [{ id: 'run/r', depth: 0 }, { id: 'dataset/d', depth: 1 }], edges: [{ from: 'run/r', to: 'dataset/d', kind: 'READ' }] },
               { nodes: [{ id: 'run/r', depth: 0 }, { id: 'model/m@1', depth: 1 }], edges: [{ from: 'model/m@1', to: 'run/r', kind: 'PRODUCED_BY' }] });
             const walkBox = L.layout(walk);
             const compared = L.compareParams([{ params: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] },
                                               { params: [{ key: 'a', value: '1' }, { key: 'b', value: '3' }, { key: 'c', value: '4' }] }]);
             return {
               nodes: g.nodes.size, edges: g.edges.length, laidOut: box.edges.length,
               rightwards: box.edges.every((e) => at(e.to).x + box.nodeWidth <= at(e.from).x),
               serviceRightmost: Object.entries(box.positions).every(([id, p]) => id === 'service/s' || p.x < at('service/s').x),
               datasetLeftOfRun: at('dataset/d1').x < at('run/r2').x,
               overlaps: L.overlapping(boxes).length,
               inside: boxes.every((b) => b.left >= 0 && b.top >= 0 && b.right <= box.width && b.bottom <= box.height),
               walkOrder: ['dataset/d', 'run/r', 'model/m@1'].map((id) => walkBox.positions[id].x).every((x, i, xs) => i === 0 || xs[i - 1] < x),
               curve: [L.curve([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 20, y: 10 }]).startsWith('M0,0'), L.curve([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 20, y: 10 }]).endsWith('L20,10')],
               overlapping: L.overlapping([{ left: 0, top: 0, right: 10, bottom: 10 }, { left: 9, top: 9, right: 20, bottom: 20 }, { left: 10, top: 0, right: 20, bottom: 5 }]),
               compared: compared.map((row) => [row.key, row.values, row.differs]),
               routes: [L.parseRoute('#/run/r-1?direction=UPSTREAM&depth=2&asof=42&panel=wide'), L.parseRoute('#/compare?runs=r-1,run/r-2'), L.parseRoute('#token=x'), L.parseRoute('#/run/r-1?asof=soon').asof],
               directions: ['service', 'dataset', 'run'].map(L.defaultDirection),
               bytes: [L.formatBytes(512), L.formatBytes(1536), L.formatBytes(5 * 1024 * 1024)],
               money: [L.formatMoney(123456, 'USD'), L.formatMoney(-5, 'USD'), L.formatMoney(100000000, 'EUR')],
               time: L.formatTime('2026-03-07T03:35:00Z'), badTime: L.formatTime('soon'),
               days: L.dayRanges([7, 1, 2, 3, 9, 10]),
               labels: [L.labelOf('revision/9e0d7b3c0ffee1234567'), L.labelOf('model/m-churn@2'), L.entityOf('model/m-churn@2')],
               kindLabels: [L.kindLabel('model/m@2'), L.kindLabel('model/m'), L.kindLabel('image/i@1'), L.kindLabel('run/r')],
               flow: [L.flowLabel('PRODUCED_BY'), L.flowLabel('READ'), L.flowLabel('SOMETHING_NEW')],
             };",
            json!([]),
        )
        .await;
    assert_eq!(
        result,
        json!({
            "nodes": 13, "edges": 16, "laidOut": 16,
            "rightwards": true, "serviceRightmost": true, "datasetLeftOfRun": true,
            "overlaps": 0, "inside": true, "walkOrder": true,
            "curve": [true, true],
            "overlapping": [[0, 1]],
            "compared": [["a", ["1", "1"], false], ["b", ["2", "3"], true], ["c", [null, "4"], true]],
            "routes": [
                { "centre": "run/r-1", "direction": "UPSTREAM", "depth": "2", "panel": "wide", "asof": 42 },
                { "compare": ["run/r-1", "run/r-2"] },
                null, null
            ],
            "directions": ["TRACE", "DOWNSTREAM", "BOTH"],
            "bytes": ["512 B", "1.5 KiB", "5.0 MiB"],
            "money": ["$1,234.56", "-$0.05", "EUR 1,000,000.00"],
            "time": "2026-03-07 03:35 UTC", "badTime": "soon",
            "days": "1–3, 7, 9–10",
            "labels": ["9e0d7b3c0ffe", "m-churn@2", "model/m-churn"],
            "kindLabels": ["Model version", "Model", "Image version", "Run"],
            "flow": ["produced", "read by", "something new"],
        })
    );

    // Signed in (through the address's fragment) as a principal who sees no account,
    // the page says so.
    browser.goto(&format!("{}/#token={stranger}", server.url)).await;
    let empty = browser
        .wait_for(
            "the empty state",
            "const text = document.getElementById('status').textContent; return text.includes('sees no accounts') && text",
            json!([]),
        )
        .await;
    assert!(empty.as_str().unwrap().contains("sees no accounts"), "{empty}");
    let address = browser.run("return location.href", json!([])).await;
    assert!(
        !address.as_str().unwrap().contains("token"),
        "the token left the address bar: {address}"
    );

    // Ada holds a seat in Contoso's experimentation account but no role that shows its
    // bill: the page says so. A search that matches nothing says so too.
    browser.goto(&format!("{}/#token={seated}", server.url)).await;
    let denied = browser
        .wait_for(
            "the bill refused",
            "const p = document.querySelector('#bill [data-bill=denied]'); return p && p.textContent",
            json!([]),
        )
        .await;
    assert!(
        denied.as_str().unwrap().contains("do not include seeing its bill"),
        "{denied}"
    );
    browser
        .run(
            "const s = document.getElementById('search'); s.focus(); s.value = 'no-such-service'; s.dispatchEvent(new Event('input'));",
            json!([]),
        )
        .await;
    let nothing = browser
        .wait_for(
            "no suggestion",
            "const li = document.querySelector('#suggestions li'); return li && li.textContent",
            json!([]),
        )
        .await;
    assert_eq!(nothing, json!("Nothing matches “no-such-service”."));
    browser.quit().await;
    server.stop().await;
}

/// GraphiQL at `/graphql`, built into the binary: it loads nothing from elsewhere, signs
/// in with the explorer's token (or one typed in), runs a query and shows the schema docs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_queries_and_shows_the_schema_offline() {
    let server = Server::demo().await;
    let browser = Browser::start().await;
    // The explorer's sign-in is kept for the tab; GraphiQL uses it.
    browser.goto(&format!("{}/", server.url)).await;
    browser
        .run(
            "sessionStorage.setItem('lineage-token', arguments[0])",
            json!([server.token]),
        )
        .await;
    browser.goto(&format!("{}/graphql", server.url)).await;
    browser
        .wait_for(
            "GraphiQL",
            "return document.querySelector('.graphiql-container .graphiql-execute-button') !== null",
            json!([]),
        )
        .await;
    let status = browser
        .run("return document.getElementById('status').textContent", json!([]))
        .await;
    assert_eq!(status, "signed in");
    browser
        .run("document.querySelector('.graphiql-execute-button').click()", json!([]))
        .await;
    let answer = browser
        .wait_for(
            "the default query's answer",
            "const text = document.querySelector('.graphiql-response')?.innerText || ''; return text.includes('svc-churn') && text.includes('names') ? text : ''",
            json!([]),
        )
        .await;
    assert!(answer.as_str().unwrap().contains("\"name\""), "{answer}");
    browser
        .run(
            "document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the schema's docs",
            "const docs = document.querySelector('.graphiql-doc-explorer'); return docs && docs.innerText.includes('Query')",
            json!([]),
        )
        .await;
    let elsewhere = browser
        .run(
            "return performance.getEntriesByType('resource').map((entry) => entry.name).filter((name) => !name.startsWith(location.origin))",
            json!([]),
        )
        .await;
    assert_eq!(elsewhere, json!([]), "nothing is fetched from elsewhere");
    browser.keep_screenshot("graphiql").await;
    browser.quit().await;
    server.stop().await;
}

/// Below ~1000 px the details move under the graph, which keeps most of the window's
/// height; the toolbar wraps without a horizontal scrollbar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrow_window_puts_the_details_under_the_graph() {
    let server = Server::demo().await;
    let browser = Browser::start().await;
    browser.resize(800, 900).await;
    browser.goto(&format!("{}/#token={}", server.url, server.token)).await;
    browser
        .wait_for(
            "a first graph",
            "return document.getElementById('canvas').dataset.state === 'ready'",
            json!([]),
        )
        .await;
    let layout = browser
        .run(
            "const box = (id) => document.getElementById(id).getBoundingClientRect();
             const toolbar = document.getElementById('toolbar');
             return { viewport: window.innerHeight, width: window.innerWidth, canvasTop: box('canvas').top, canvasBottom: box('canvas').bottom,
                      canvasWidth: box('canvas').width, detailsTop: box('details').top, detailsLeft: box('details').left,
                      toolbarOverflow: toolbar.scrollWidth - toolbar.clientWidth, pageOverflow: document.documentElement.scrollWidth - window.innerWidth };",
            json!([]),
        )
        .await;
    let number = |key: &str| layout[key].as_f64().unwrap();
    assert!(number("width") <= 800.0, "{layout}");
    assert!(
        number("detailsTop") >= number("canvasBottom") - 1.0,
        "details under the graph: {layout}"
    );
    assert!(number("detailsLeft") < 20.0, "details as wide as the window: {layout}");
    assert!(
        number("canvasBottom") - number("canvasTop") >= 0.6 * number("viewport"),
        "the graph keeps most of the height: {layout}"
    );
    assert!(
        number("canvasWidth") >= number("width") - 20.0,
        "the graph as wide as the window: {layout}"
    );
    assert!(
        number("toolbarOverflow") <= 0.0 && number("pageOverflow") <= 0.0,
        "nothing scrolls sideways: {layout}"
    );
    browser.keep_screenshot("explorer-narrow").await;
    browser.quit().await;
    server.stop().await;
}

/// The address names the view: a link opens it (after a reload too), double-clicking
/// another node makes a new entry, and back returns to the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_open_the_view_they_name_and_back_returns() {
    let (server, browser) = signed_in_on_the_demo().await;
    let address = browser.run("return location.hash", json!([])).await;
    assert!(
        address.as_str().unwrap().starts_with("#/service/svc-") && !address.as_str().unwrap().contains("token"),
        "the first view is named, without the token: {address}"
    );
    let link = format!("{}/#/run/r-churn-1?direction=UPSTREAM&depth=2", server.url);
    browser.goto(&link).await;
    let centred = "return document.getElementById('canvas').dataset.state === 'ready' && document.getElementById('canvas').dataset.centre === arguments[0] && document.getElementById('canvas').dataset.direction === arguments[1]";
    browser
        .wait_for("the linked run", centred, json!(["run/r-churn-1", "UPSTREAM"]))
        .await;
    let depth = browser
        .run("return document.getElementById('depth').value", json!([]))
        .await;
    assert_eq!(depth, "2");
    browser.run("location.reload()", json!([])).await;
    browser
        .wait_for("the run after a reload", centred, json!(["run/r-churn-1", "UPSTREAM"]))
        .await;
    let details = browser
        .wait_for(
            "its details",
            "return document.getElementById('details').dataset.node",
            json!([]),
        )
        .await;
    assert_eq!(details, "run/r-churn-1");

    // Double-clicking a dataset centres on it: a new entry; back returns to the run.
    browser
        .run(
            "const node = [...document.querySelectorAll('#graph .node')].find((n) => n.dataset.node.startsWith('dataset/'));
             node.dispatchEvent(new MouseEvent('dblclick', { bubbles: true })); return node.dataset.node;",
            json!([]),
        )
        .await;
    browser
        .wait_for(
            "the dataset's view",
            "return location.hash.startsWith('#/dataset/') && document.getElementById('canvas').dataset.centre.startsWith('dataset/')",
            json!([]),
        )
        .await;
    browser.run("history.back()", json!([])).await;
    browser
        .wait_for("the run again", centred, json!(["run/r-churn-1", "UPSTREAM"]))
        .await;
    browser.quit().await;
    server.stop().await;
}

/// One search box finds any kind by name or id, grouped by kind; the arrow keys and Enter
/// pick a suggestion, which becomes the centre of the graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_finds_any_kind_by_name_or_id() {
    let (server, browser) = signed_in_on_the_demo().await;
    // The service's trace reads left to right: every edge drawn from producer to consumer
    // goes rightwards (or loops within a column), labelled in words no smaller than 11 px.
    let flow = browser
        .run(
            "const edges = [...document.querySelectorAll('#graph path.edge')].map((p) => p.getAttribute('d').match(/-?[\\d.]+/g).map(Number));
             const labels = [...document.querySelectorAll('#graph .edge-label')];
             const service = document.querySelector('#graph .node[data-kind=\"service\"]').getBoundingClientRect().left;
             const dataset = document.querySelector('#graph .node[data-kind=\"dataset\"]').getBoundingClientRect().left;
             return { edges: edges.length, rightwards: edges.every((n) => n[n.length - 2] >= n[0] || n[n.length - 2] === n[0]),
                      labels: labels.length, smallest: Math.min(...labels.map((l) => parseFloat(getComputedStyle(l).fontSize))),
                      datasetLeftOfService: dataset < service, produced: labels.some((l) => l.textContent === 'produced') };",
            json!([]),
        )
        .await;
    assert!(flow["edges"].as_u64().unwrap() > 5, "{flow}");
    assert_eq!(flow["rightwards"], true, "{flow}");
    assert_eq!(flow["datasetLeftOfService"], true, "sources on the left: {flow}");
    assert!(
        flow["labels"].as_u64().unwrap() > 5 && flow["smallest"].as_f64().unwrap() >= 11.0,
        "{flow}"
    );
    assert_eq!(flow["produced"], true, "a run produced its model version: {flow}");
    let shown = browser
        .run(
            "return [...document.querySelectorAll('#graph .node')].map((n) => [n.dataset.node, n.querySelectorAll('text')[1].textContent])",
            json!([]),
        )
        .await;
    let shown: Vec<(String, String)> = serde_json::from_value(shown).unwrap();
    assert!(
        shown.contains(&("service/svc-churn".to_string(), "churn-prod".to_string())),
        "nodes show names, ids are in the details: {shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|(id, name)| id.starts_with("model/m-churn@") && name.contains(" v")),
        "{shown:?}"
    );
    let search = "const s = document.getElementById('search'); s.focus(); s.value = arguments[0]; s.dispatchEvent(new Event('input'));
                  return [...document.querySelectorAll('#suggestions li')].map((li) => li.dataset.entity || ('# ' + li.textContent))";
    let churn = browser.run(search, json!(["churn"])).await;
    let found: Vec<&str> = churn.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for expected in [
        "# Services",
        "service/svc-churn",
        "# Models",
        "model/m-churn",
        "# Runs",
        "run/r-churn-1",
        "# Images",
        "# Manifests",
    ] {
        assert!(
            found.iter().any(|item| item.starts_with(expected)),
            "`churn` finds {expected}, grouped by kind: {found:?}"
        );
    }
    let by_id = browser.run(search, json!(["r-churn-1"])).await;
    assert!(
        by_id.as_array().unwrap().contains(&json!("run/r-churn-1")),
        "by id: {by_id}"
    );
    let experiment = browser.run(search, json!(["train"])).await;
    assert!(
        experiment.as_array().unwrap().contains(&json!("experiment/e-train")),
        "an experiment by name: {experiment}"
    );
    let by_name = browser.run(search, json!(["usage"])).await;
    assert!(
        by_name.as_array().unwrap().contains(&json!("dataset/d-usage")),
        "a dataset by name: {by_name}"
    );
    // Down once from the first suggestion, then Enter.
    browser.run(search, json!(["churn"])).await;
    let picked = browser
        .run(
            "const s = document.getElementById('search');
             const key = (key) => s.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
             const items = [...document.querySelectorAll('#suggestions li[data-entity]')];
             key('ArrowDown'); const active = document.querySelector('#suggestions li.active').dataset.entity; key('Enter');
             return [items[1].dataset.entity, active];",
            json!([]),
        )
        .await;
    assert_eq!(
        picked[0], picked[1],
        "ArrowDown moves to the second suggestion: {picked}"
    );
    browser
        .wait_for(
            "the picked entity at the centre",
            "const canvas = document.getElementById('canvas'); return ['ready', 'empty'].includes(canvas.dataset.state) && canvas.dataset.centre === arguments[0]",
            json!([picked[0]]),
        )
        .await;
    browser.keep_screenshot("explorer-search").await;
    browser.quit().await;
    server.stop().await;
}

/// Moving the as-of slider redraws the details too: a run's params and metrics as they
/// were at that event, and back at "now" as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_details_follow_the_as_of_slider() {
    let (server, browser) = signed_in_on_the_demo().await;
    browser
        .goto(&format!("{}/#/run/r-churn-1?direction=UPSTREAM", server.url))
        .await;
    let details_now = "const d = document.getElementById('details'); return d.dataset.node === 'run/r-churn-1' && !d.querySelector('[data-then]') && d.querySelector('svg.chart') ? d.innerText : ''";
    let now = browser.wait_for("the run's details now", details_now, json!([])).await;
    assert!(now.as_str().unwrap().contains("learning_rate"), "{now}");
    // The first step of its history: started, nothing logged yet.
    browser
        .run("const s = document.getElementById('asof'); s.value = '0'; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));", json!([]))
        .await;
    let then = browser
        .wait_for(
            "the run's details then",
            "const d = document.getElementById('details'); return d.querySelector('[data-then]') ? d.innerText : ''",
            json!([]),
        )
        .await;
    let then = then.as_str().unwrap();
    assert!(
        then.contains("As it was after event") && then.contains("running"),
        "{then}"
    );
    assert!(
        then.contains("No params yet.") && !then.contains("learning_rate"),
        "{then}"
    );
    browser
        .run("document.getElementById('asof-now').click()", json!([]))
        .await;
    browser
        .wait_for("the run's details now again", details_now, json!([]))
        .await;
    browser.quit().await;
    server.stop().await;
}

/// An experiment's details list its runs as a table — a column per param and metric —
/// sorted by the column clicked (again: the other way) and filtered by the text typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiments_runs_sort_and_filter() {
    let (server, browser) = signed_in_on_the_demo().await;
    browser
        .goto(&format!("{}/#/experiment/e-sweep?direction=DOWNSTREAM", server.url))
        .await;
    let runs = browser
        .wait_for(
            "the experiment's runs",
            "const t = document.querySelector('#details .runs'); return t && document.getElementById('details').dataset.node === 'experiment/e-sweep' ? t.dataset.runs : ''",
            json!([]),
        )
        .await;
    let expected = server
        .data(
            r#"{ experiment(id: "e-sweep") { runs { id metrics { name value } } } }"#,
            json!({}),
        )
        .await;
    let all = expected["experiment"]["runs"].as_array().unwrap();
    assert_eq!(runs, json!(all.len().to_string()));
    let metric = all
        .iter()
        .flat_map(|run| run["metrics"].as_array().unwrap())
        .map(|m| m["name"].as_str().unwrap().to_string())
        .next()
        .expect("the sweep logs metrics");
    let column = "const rows = () => [...document.querySelectorAll('#details .runs tbody tr')].map((tr) => tr.dataset.run);
                  const th = document.querySelector(`#details .runs th[data-column=\"${arguments[0]}\"]`);
                  th.click(); const up = rows(); document.querySelector(`#details .runs th[data-column=\"${arguments[0]}\"]`).click(); return [up, rows()];";
    let sorted = browser.run(column, json!([metric])).await;
    let value = |id: &Value| {
        all.iter()
            .find(|run| &run["id"] == id)
            .and_then(|run| {
                run["metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["name"] == metric.as_str())
            })
            .and_then(|m| m["value"].as_f64())
    };
    let ascending: Vec<Option<f64>> = sorted[0].as_array().unwrap().iter().map(value).collect();
    let descending: Vec<Option<f64>> = sorted[1].as_array().unwrap().iter().map(value).collect();
    let known = |values: &[Option<f64>]| values.iter().flatten().copied().collect::<Vec<f64>>();
    assert!(
        known(&ascending).windows(2).all(|pair| pair[0] <= pair[1]),
        "{ascending:?}"
    );
    assert!(
        known(&descending).windows(2).all(|pair| pair[0] >= pair[1]),
        "{descending:?}"
    );
    let filtered = browser
        .run(
            "const f = document.querySelector('#details .runs input'); f.value = arguments[0]; f.dispatchEvent(new Event('input'));
             return [...document.querySelectorAll('#details .runs tbody tr')].map((tr) => tr.dataset.run);",
            json!(["r-sweep-2"]),
        )
        .await;
    assert_eq!(filtered, json!(["run/r-sweep-2"]));
    browser.keep_screenshot("explorer-experiment").await;
    browser.quit().await;
    server.stop().await;
}

/// The demo served, a browser signed in through the address's fragment, its first graph
/// drawn.
pub(crate) async fn signed_in_on_the_demo() -> (Server, Browser) {
    signed_in_on(Server::demo().await).await
}

/// A browser signed in on `server` through the address's fragment, its first graph drawn.
pub(crate) async fn signed_in_on(server: Server) -> (Server, Browser) {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#token={}", server.url, server.token)).await;
    browser
        .wait_for(
            "a first graph",
            "return document.getElementById('canvas').dataset.state === 'ready'",
            json!([]),
        )
        .await;
    (server, browser)
}
