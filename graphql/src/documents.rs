//! Parsed GraphQL documents, kept by their text: dashboards and clients send the same few
//! queries again and again, and parsing is a large part of answering a small one.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Documents longer than this are parsed every time: they are rarely repeated, and keeping
/// them would let a few requests hold much memory.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;
/// At most this many documents are kept; when full, the cache starts over, so a client
/// sending ever-new queries costs at most this much memory and never an eviction scan.
const MAX_DOCUMENTS: usize = 512;

/// What a request's query text parses to.
#[derive(Clone, Debug, Default)]
pub struct Documents {
    parsed: Arc<Mutex<HashMap<String, ExecutableDocument>>>,
}

impl Documents {
    /// The parsed document for `query`, from the cache or parsed now; `None` when it does
    /// not parse (execution then reports the parse error as usual).
    pub fn parse(&self, query: &str) -> Option<ExecutableDocument> {
        if let Some(document) = self.parsed.lock().expect("documents lock").get(query) {
            return Some(document.clone());
        }
        let document = async_graphql::parser::parse_query(query).ok()?;
        if query.len() <= MAX_CACHED_QUERY_BYTES {
            let mut parsed = self.parsed.lock().expect("documents lock");
            if parsed.len() >= MAX_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(query.to_owned(), document.clone());
        }
        Some(document)
    }

    pub fn len(&self) -> usize {
        self.parsed.lock().expect("documents lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The operation's name for metrics: the one the request names, or the only named
/// operation of its document, or `anonymous`; `invalid` when the query does not parse.
pub fn operation_name(named: Option<&str>, document: Option<&ExecutableDocument>) -> String {
    if let Some(name) = named {
        return name.to_owned();
    }
    match document.map(|document| &document.operations) {
        None => "invalid".into(),
        Some(DocumentOperations::Single(_)) => "anonymous".into(),
        Some(DocumentOperations::Multiple(operations)) => operations
            .keys()
            .next()
            .map_or_else(|| "anonymous".into(), |name| name.to_string()),
    }
}

/// Whether the operation a request runs is a subscription (the named one, or the only one).
pub fn is_subscription(named: Option<&str>, document: Option<&ExecutableDocument>) -> bool {
    let Some(document) = document else { return false };
    let operation = match (&document.operations, named) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) => operations.values().next(),
    };
    operation.is_some_and(|operation| operation.node.ty == async_graphql::parser::types::OperationType::Subscription)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_query_is_parsed_once_and_kept() {
        let documents = Documents::default();
        let first = documents.parse("query Head { head }").expect("parses");
        assert_eq!(documents.len(), 1);
        let again = documents.parse("query Head { head }").expect("parses");
        assert_eq!(documents.len(), 1);
        assert_eq!(operation_name(None, Some(&first)), "Head");
        assert_eq!(operation_name(None, Some(&again)), "Head");
        assert_eq!(operation_name(Some("Other"), Some(&again)), "Other");
    }

    #[test]
    fn what_does_not_parse_is_not_kept() {
        let documents = Documents::default();
        assert!(documents.parse("{ head ").is_none());
        assert!(documents.is_empty());
        assert_eq!(operation_name(None, None), "invalid");
    }

    #[test]
    fn the_cache_stays_bounded_and_skips_huge_queries() {
        let documents = Documents::default();
        for n in 0..MAX_DOCUMENTS + 10 {
            documents.parse(&format!("{{ a{n}: head }}"));
        }
        assert!(documents.len() <= MAX_DOCUMENTS, "{} documents kept", documents.len());
        let huge = format!("{{ {} }}", "head ".repeat(MAX_CACHED_QUERY_BYTES / 4));
        let before = documents.len();
        assert!(documents.parse(&huge).is_some());
        assert_eq!(documents.len(), before, "a huge query is not kept");
        assert_eq!(operation_name(None, documents.parse("{ head }").as_ref()), "anonymous");
    }
}
