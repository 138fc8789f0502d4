//! MLflow's API through a real server, where MLflow's client cannot look: the endpoints
//! that only append (`runs/log-metric`, `log-batch`, `log-parameter`, `set-tag`) are
//! answered on an awaited path of their own, and every answer there — accepted, refused,
//! another tenant's run — must be the one the general path gives.

use crate::graphql::Server;
use serde_json::{json, Value};

/// One request both ways: POST with a JSON body (the awaited path) and GET with the same
/// fields in the query string (the general path). Returns both answers.
async fn both_ways(server: &Server, token: &str, api: &str, endpoint: &str, fields: &Value) -> [(u16, Value); 2] {
    let url = format!("{api}/{endpoint}");
    let posted = server.client.post(&url).bearer_auth(token).json(fields);
    let query: Vec<(String, String)> = fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| {
            (
                key.clone(),
                value.as_str().map_or_else(|| value.to_string(), str::to_string),
            )
        })
        .collect();
    let got = server.client.get(&url).bearer_auth(token).query(&query);
    let mut answers = Vec::new();
    for request in [posted, got] {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        answers.push((status, response.json::<Value>().await.unwrap()));
    }
    answers.try_into().unwrap()
}

async fn head(server: &Server) -> u64 {
    server.data("{ head }", json!({})).await["head"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appending_endpoints_answer_as_the_general_path_does() {
    let server = Server::demo_with("admin", Default::default()).await;
    let alex = crate::isolation::token_for(&server, "u-alex").await;
    let api = format!("{}/mlflow/acct-contoso-exp/ws-churn/api/2.0/mlflow", server.url);
    let made: Value = server
        .client
        .post(format!("{api}/runs/create"))
        .bearer_auth(&alex)
        .json(&json!({ "experiment_id": "0" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = made["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let unknown = "mlflow-run-00000000000000000000000000000000";

    let accepted = [
        (
            "runs/log-metric",
            json!({ "run_id": run, "key": "loss", "value": 0.5, "timestamp": 7, "step": 1 }),
        ),
        (
            "runs/log-parameter",
            json!({ "run_id": run, "key": "lr", "value": "0.1" }),
        ),
        (
            "runs/set-tag",
            json!({ "run_id": run, "key": "team", "value": "churn" }),
        ),
    ];
    for (endpoint, fields) in &accepted {
        let before = head(&server).await;
        let [posted, got] = both_ways(&server, &alex, &api, endpoint, fields).await;
        assert_eq!(posted, (200, json!({})), "{endpoint} posted");
        assert_eq!(got, posted, "{endpoint}: GET and POST answer alike");
        assert_eq!(
            head(&server).await,
            before + 2,
            "{endpoint}: each way appended one event"
        );
    }
    let refused = [
        (
            "runs/log-metric",
            json!({ "run_id": unknown, "key": "loss", "value": 0.5, "timestamp": 7 }),
        ),
        (
            "runs/log-metric",
            json!({ "run_id": run, "key": "loss", "timestamp": 7 }),
        ),
        (
            "runs/log-metric",
            json!({ "key": "loss", "value": 0.5, "timestamp": 7 }),
        ),
        (
            "runs/log-parameter",
            json!({ "run_id": run, "key": "lr", "value": "0.2" }),
        ),
        ("runs/set-tag", json!({ "run_id": run, "value": "no key" })),
        ("runs/log-batch", json!({ "run_id": unknown })),
    ];
    let before = head(&server).await;
    for (endpoint, fields) in &refused {
        let [posted, got] = both_ways(&server, &alex, &api, endpoint, fields).await;
        assert!(posted.0 >= 400, "{endpoint} {fields} was refused: {posted:?}");
        assert!(posted.1["error_code"].is_string(), "MLflow's shape: {posted:?}");
        assert_eq!(got, posted, "{endpoint} {fields}: GET and POST refuse alike");
    }
    assert_eq!(head(&server).await, before, "refusals appended nothing");

    // A batch (POST only: its lists do not fit a query string) lands whole.
    let batch = json!({
        "run_id": run,
        "metrics": [{ "key": "acc", "value": 0.9, "timestamp": 8, "step": 2 }],
        "params": [{ "key": "depth", "value": "4" }],
        "tags": [{ "key": "stage", "value": "tuned" }],
    });
    let answer = server
        .client
        .post(format!("{api}/runs/log-batch"))
        .bearer_auth(&alex)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let read: Value = server
        .client
        .get(format!("{api}/runs/get"))
        .bearer_auth(&alex)
        .query(&[("run_id", &run)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = &read["run"]["data"];
    for (list, key, value) in [
        ("metrics", "acc", json!(0.9)),
        ("params", "depth", json!("4")),
        ("tags", "stage", json!("tuned")),
        ("params", "lr", json!("0.1")),
    ] {
        let found = data[list].as_array().unwrap().iter().find(|item| item["key"] == key);
        assert_eq!(found.map(|item| &item["value"]), Some(&value), "{list}.{key} in {data}");
    }

    // Another tenant's run is, on this path too, a run that does not exist.
    let grace = crate::isolation::token_for(&server, "u-grace").await;
    let own = format!("{}/mlflow/acct-fabrikam-exp/ws-fraud/api/2.0/mlflow", server.url);
    let before = head(&server).await;
    for (endpoint, fields) in &accepted {
        let mut foreign = fields.clone();
        let [theirs, _] = both_ways(&server, &grace, &own, endpoint, &foreign).await;
        foreign["run_id"] = json!(unknown);
        let [missing, _] = both_ways(&server, &grace, &own, endpoint, &foreign).await;
        assert_eq!(theirs.0, 404, "{endpoint}: {theirs:?}");
        assert_eq!(theirs.0, missing.0);
        assert_eq!(
            theirs.1.to_string().replace(&run, "X"),
            missing.1.to_string().replace(unknown, "X"),
            "{endpoint}: another tenant's run reads as a missing one"
        );
    }
    assert_eq!(head(&server).await, before, "nothing of Grace's reached the log");
    server.stop().await;
}

/// A batch at MLflow's own limits (1 000 items: 800 metrics, 100 params and 100 tags with long
/// values) is larger than one event's transparency-log entry may be: it lands whole, as
/// several events of one all-or-none batch, each entry within the 64 KiB a tlog-tiles
/// entry bundle can carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_at_mlflows_limits_lands_whole_in_entries_that_fit() {
    let server = Server::demo_with("admin", Default::default()).await;
    let alex = crate::isolation::token_for(&server, "u-alex").await;
    let api = format!("{}/mlflow/acct-contoso-exp/ws-churn/api/2.0/mlflow", server.url);
    let post = |endpoint: &str, body: Value| {
        server
            .client
            .post(format!("{api}/{endpoint}"))
            .bearer_auth(&alex)
            .json(&body)
            .send()
    };
    let made: Value = post("runs/create", json!({ "experiment_id": "0" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = made["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let before = head(&server).await;
    let long = "v".repeat(2_000);
    let batch = json!({
        "run_id": run,
        "metrics": (0..800).map(|i| json!({ "key": format!("m{}", i % 10), "value": i as f64 / 7.0, "timestamp": i, "step": i })).collect::<Vec<_>>(),
        "params": (0..100).map(|i| json!({ "key": format!("p{i}"), "value": long })).collect::<Vec<_>>(),
        "tags": (0..100).map(|i| json!({ "key": format!("t{i}"), "value": long })).collect::<Vec<_>>(),
    });
    let answer = post("runs/log-batch", batch).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{}", answer.text().await.unwrap());
    let after = head(&server).await;
    assert!(after - before > 3, "split into several events: {before} → {after}");
    let export = server
        .client
        .get(format!("{}/export", server.url))
        .bearer_auth(&server.token)
        .query(&[("since", before)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(export.lines().count() as u64, after - before);
    for line in export.lines() {
        assert!(line.len() <= 65_535, "an entry of {} bytes", line.len());
    }
    let history: Value = server
        .client
        .get(format!("{api}/metrics/get-history"))
        .bearer_auth(&alex)
        .query(&[("run_id", run.as_str()), ("metric_key", "m3"), ("max_results", "1000")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["metrics"].as_array().map(Vec::len), Some(80), "{history}");
}

/// A path that is not UTF-8 once percent-decoded is refused in MLflow's shape, on every
/// route whose path names something (artifacts, multipart steps, upload parts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_does_not_decode_is_refused_in_mlflows_shape() {
    let server = Server::demo_with("admin", Default::default()).await;
    let base = format!(
        "{}/mlflow/acct-contoso-exp/ws-churn/api/2.0/mlflow-artifacts",
        server.url
    );
    let before = head(&server).await;
    for (method, url) in [
        (reqwest::Method::DELETE, format!("{base}/artifacts/a%FFb")),
        (reqwest::Method::GET, format!("{base}/artifacts/%C3%28")),
        (reqwest::Method::PUT, format!("{base}/artifacts/x/%FE")),
        (reqwest::Method::POST, format!("{base}/mpu/create/%FF")),
        (reqwest::Method::PUT, format!("{}/mlflow/mpu-parts/%FF/1", server.url)),
        (
            reqwest::Method::PUT,
            format!("{}/mlflow/mpu-parts/upload/not-a-number", server.url),
        ),
    ] {
        let response = server
            .client
            .request(method.clone(), &url)
            .bearer_auth(&server.token)
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let refusal: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {url}: {status} {text}"));
        assert_eq!(status, 400, "{method} {url}: {refusal}");
        assert_eq!(
            refusal["error_code"], "INVALID_PARAMETER_VALUE",
            "{method} {url}: {refusal}"
        );
        assert!(refusal["message"].as_str().is_some_and(|message| !message.is_empty()));
    }
    assert_eq!(head(&server).await, before, "nothing appended");
}
