//! Files the pages load, built into the binary (GraphiQL and React, vendored under
//! `graphql/vendor/`): served from here, never from elsewhere.

use super::*;
use axum::extract::Path;

/// GraphiQL's build and the React it runs on: (name, content type, bytes).
const GRAPHIQL: [(&str, &str, &[u8]); 4] = [
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../vendor/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../vendor/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../vendor/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../vendor/graphiql/react-dom.production.min.js"),
    ),
];

/// `GET /assets/graphiql/<file>`: one of GraphiQL's files, cached by browsers for a year
/// (they change only with the binary, and the page names them).
pub(super) async fn graphiql(Path(file): Path<String>) -> Response {
    match GRAPHIQL.iter().find(|(name, _, _)| *name == file) {
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
