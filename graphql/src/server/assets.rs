//! Files the pages load, built into the binary: the explorer's own (`graphql/explorer/`),
//! and the vendored GraphiQL, React and dagre (`graphql/vendor/`) — served from here,
//! never from elsewhere.

use super::*;
use axum::extract::Path;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A file the pages load: its name under its folder, content type and bytes.
type Asset = (&'static str, &'static str, &'static [u8]);

/// GraphiQL's build and the React it runs on.
const GRAPHIQL: [Asset; 4] = [
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../../vendor/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        CSS,
        include_bytes!("../../vendor/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        JS,
        include_bytes!("../../vendor/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../../vendor/graphiql/react-dom.production.min.js"),
    ),
];

/// dagre, which lays the explorer's graphs out (graphlib bundled in its build).
const DAGRE: [Asset; 1] = [("dagre.min.js", JS, include_bytes!("../../vendor/dagre/dagre.min.js"))];

/// The explorer's modules and style sheet (its page is `index.html`, served at `/`).
const EXPLORER: [Asset; 8] = [
    ("explorer.css", CSS, include_bytes!("../../explorer/explorer.css")),
    ("page.js", JS, include_bytes!("../../explorer/page.js")),
    ("core.js", JS, include_bytes!("../../explorer/core.js")),
    ("logic.js", JS, include_bytes!("../../explorer/logic.js")),
    ("graph.js", JS, include_bytes!("../../explorer/graph.js")),
    ("views.js", JS, include_bytes!("../../explorer/views.js")),
    ("runs.js", JS, include_bytes!("../../explorer/runs.js")),
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../explorer/index.html"),
    ),
];

/// `GET /assets/graphiql/<file>`: one of GraphiQL's files, cached by browsers for a year
/// (they change only with the binary, and the page names them).
pub(super) async fn graphiql(Path(file): Path<String>) -> Response {
    vendored(&GRAPHIQL, &file)
}

/// `GET /assets/dagre/<file>`: dagre's build, cached like GraphiQL's.
pub(super) async fn dagre(Path(file): Path<String>) -> Response {
    vendored(&DAGRE, &file)
}

fn vendored(files: &[Asset], file: &str) -> Response {
    match files.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *bytes,
        )
            .into_response(),
        None => ops::plain(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no asset `{file}`")),
    }
}

/// The explorer's page (`GET /`).
pub(super) fn explorer_page() -> &'static str {
    std::str::from_utf8(EXPLORER[EXPLORER.len() - 1].2).expect("the page is UTF-8")
}

/// `GET /assets/explorer/<file>`: one of the explorer's modules. They change with every
/// binary under the same names, so browsers check back each time (`no-cache`) and get a
/// `304` while the content's tag still matches.
pub(super) async fn explorer(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = EXPLORER.iter().position(|(name, _, _)| *name == file) else {
        return ops::plain(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no asset `{file}`"));
    };
    let (_, content_type, bytes) = EXPLORER[index];
    let tag = &tags()[index];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let common = [
        (header::CACHE_CONTROL, "no-cache".to_string()),
        (header::ETAG, tag.clone()),
    ];
    if unchanged {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

/// Each explorer file's entity tag: a hash of its bytes, computed once.
fn tags() -> &'static Vec<String> {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        EXPLORER
            .iter()
            .map(|(_, _, bytes)| {
                let mut hasher = DefaultHasher::new();
                bytes.hash(&mut hasher);
                format!("\"{:016x}\"", hasher.finish())
            })
            .collect()
    })
}
