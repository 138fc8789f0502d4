//! The subscription root: new events as they are appended, filtered.

use super::store;
use super::types::EventObject;
use async_graphql::{Context, Subscription as SubscriptionMacro, ID};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

#[derive(Debug)]
pub struct Subscription;

#[SubscriptionMacro]
impl Subscription {
    /// Every event appended from now on, optionally of one account, entity kind or stream.
    /// A subscriber too slow to keep up skips what it missed (read it with `events`).
    async fn events(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        kind: Option<super::Kind>,
        stream: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = EventObject>> {
        let kind = kind.map(lineage_schema::EntityKind::from);
        let stream_filter = stream.map(|stream| super::parse_ref(&stream)).transpose()?;
        let fixed = std::sync::Arc::new(super::viewer(ctx)?.clone());
        // Over a live connection, each event is judged by the principal's access as it is
        // when the event is delivered; the stream ends once its token is revoked.
        let session = ctx.data_opt::<std::sync::Arc<crate::live::Session>>().cloned();
        let feed = BroadcastStream::new(store(ctx).subscribe())
            .map(move |item| {
                let access = match &session {
                    Some(session) => session.current(),
                    None => Some(std::sync::Arc::clone(&fixed)),
                };
                (item, access)
            })
            .take_while(|(_, access)| std::future::ready(access.is_some()));
        Ok(feed.filter_map(move |(item, access)| {
            // The stream ends where access does, so `access` is there for every item here.
            let keep = item.ok().filter(|event| {
                access.as_ref().is_some_and(|access| access.can_read_event(event))
                    && account
                        .as_deref()
                        .is_none_or(|account| event.account.as_ref().is_some_and(|a| a.as_str() == account))
                    && kind.is_none_or(|kind| event.stream.kind == kind)
                    && stream_filter.as_ref().is_none_or(|stream| &event.stream == stream)
            });
            async move { keep.map(|event| EventObject((*event).clone())) }
        }))
    }
}
