//! The log: an entity's history, the event feed, checkpoints and Merkle proofs, the
//! audit trail, bills, and the head.

use super::*;

#[derive(Default, Debug)]
pub(crate) struct LogQueries;

#[Object]
impl LogQueries {
    /// The events of one entity, oldest first; the cursor is the stream version.
    async fn history(
        &self,
        ctx: &Context<'_>,
        id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let stream = parse_ref(&id)?;
        let from = match &after {
            Some(after) => {
                after
                    .parse::<u64>()
                    .map_err(|_| invalid(format!("cursor `{after}` is not a history cursor")))?
                    + 1
            }
            None => 1,
        };
        let events = view(ctx)?.history_page(&stream, from, first + 1).map_err(from_store)?;
        let has_next = events.len() > first;
        let mut connection = Connection::new(from > 1, has_next);
        connection.edges.extend(
            events
                .into_iter()
                .take(first)
                .map(|event| Edge::new(format!("{:020}", event.version), EventObject(event))),
        );
        Ok(connection)
    }

    /// The raw feed: events after a position, optionally of one account, entity kind or stream.
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 0)] after: u64,
        account: Option<String>,
        kind: Option<super::super::Kind>,
        stream: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let kind = kind.map(EntityKind::from);
        let filter = EventFilter {
            account: account_arg(account)?,
            stream: stream.map(|stream| parse_ref(&stream)).transpose()?,
        };
        let view = view(ctx)?;
        let mut found = Vec::new();
        let mut position = after;
        // Kinds are filtered here; read on until the page is full or the log ends.
        loop {
            within_deadline(ctx)?;
            let chunk = view.events(position, first + 1, &filter).map_err(from_store)?;
            let Some(last) = chunk.last else { break };
            position = last;
            found.extend(
                chunk
                    .visible
                    .into_iter()
                    .filter(|event| kind.is_none_or(|kind| event.stream.kind == kind)),
            );
            if found.len() > first {
                break;
            }
        }
        let has_next = found.len() > first;
        let mut connection = Connection::new(after > 0, has_next);
        connection.edges.extend(
            found
                .into_iter()
                .take(first)
                .map(|event| Edge::new(event.seq.to_string(), EventObject(event))),
        );
        Ok(connection)
    }

    /// A checkpoint of the log as it stands, signed with the store's key.
    async fn checkpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<graph::CheckpointInfo> {
        within_deadline(ctx)?;
        let checkpoint = store(ctx).checkpoint().map_err(from_store)?;
        Ok((&checkpoint).into())
    }

    /// Proof that event `seq` is in the tree of `treeSize` events (default: the whole log).
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        seq: u64,
        tree_size: Option<u64>,
    ) -> async_graphql::Result<graph::InclusionProof> {
        within_deadline(ctx)?;
        let store = store(ctx);
        let size = tree_size.unwrap_or_else(|| store.head().seq);
        let path = store.inclusion_proof(seq, size).map_err(from_store)?;
        let event = view(ctx)?
            .event(seq)
            .map_err(from_store)?
            .ok_or_else(|| not_found(format!("event {seq}")))?;
        Ok(graph::InclusionProof {
            seq,
            tree_size: size,
            event_hash: event.hash.to_hex(),
            root: store.merkle_root(size).map_err(from_store)?.to_hex(),
            path: path.iter().map(|digest| digest.to_hex()).collect(),
        })
    }

    /// Proof that the tree of `from` events is a prefix of the tree of `to` events
    /// (default: the whole log).
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        from: u64,
        to: Option<u64>,
    ) -> async_graphql::Result<graph::ConsistencyProof> {
        within_deadline(ctx)?;
        let store = store(ctx);
        let to = to.unwrap_or_else(|| store.head().seq);
        let path = store.consistency_proof(from, to).map_err(from_store)?;
        Ok(graph::ConsistencyProof {
            from,
            to,
            from_root: store.merkle_root(from).map_err(from_store)?.to_hex(),
            to_root: store.merkle_root(to).map_err(from_store)?.to_hex(),
            path: path.iter().map(|digest| digest.to_hex()).collect(),
        })
    }

    /// The audit trail: who did what, when, to which entity, with each event's position
    /// and hash; every given filter must match. The cursor is the log position.
    // Each argument is one of the audit trail's GraphQL filters.
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        ctx: &Context<'_>,
        account: Option<String>,
        actor: Option<String>,
        entity: Option<ID>,
        kind: Option<super::super::Kind>,
        r#type: Option<String>,
        from: Option<String>,
        to: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        within_deadline(ctx)?;
        let first = page_size(ctx, first)?;
        let filter = crate::export::filter(
            account.as_deref(),
            actor.as_deref(),
            entity.as_ref().map(|id| id.as_str()),
            kind.map(|kind| EntityKind::from(kind).label()),
            r#type.as_deref(),
            from.as_deref(),
            to.as_deref(),
        )
        .map_err(|error| invalid(format!("{error:#}")))?;
        let after_seq = match &after {
            Some(cursor) => cursor
                .parse::<u64>()
                .map_err(|_| invalid(format!("cursor `{cursor}` is not an audit cursor")))?,
            None => 0,
        };
        // Read on until the page is full of entries this viewer may audit.
        let view = view(ctx)?;
        let mut events = Vec::new();
        let mut position = after_seq;
        loop {
            within_deadline(ctx)?;
            let chunk = view.audit(&filter, position, first + 1).map_err(from_store)?;
            let Some(last) = chunk.last else { break };
            position = last;
            events.extend(chunk.visible);
            if events.len() > first {
                break;
            }
        }
        let has_next = events.len() > first;
        events.truncate(first);
        let mut connection = Connection::new(after_seq > 0, has_next);
        connection.edges.extend(
            events
                .into_iter()
                .map(|event| Edge::new(event.seq.to_string(), EventObject(event))),
        );
        Ok(connection)
    }

    /// One entity's whole story, oldest first: the audit trail of `entity`.
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        entity: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<EventObject>> {
        self.audit(ctx, None, None, Some(entity), None, None, None, None, first, after)
            .await
    }

    /// An account's bill for a month (`2026-03`): lines with quantities, unit prices and
    /// amounts in minor units, each with the events behind it, and who held a seat when.
    /// For owners, auditors and billing readers of the account, and its subscription's owner.
    async fn bill(&self, ctx: &Context<'_>, account: String, month: String) -> async_graphql::Result<graph::BillInfo> {
        within_deadline(ctx)?;
        let account = lineage_schema::AccountId::new(account).map_err(|rejection| invalid(rejection.to_string()))?;
        let month = lineage_store::billing::Month::parse(&month)
            .ok_or_else(|| invalid(format!("`{month}` is not a month like 2026-03")))?;
        let bill = view(ctx)?
            .bill(
                &account,
                month,
                ctx.data_unchecked::<lineage_store::billing::PriceBook>(),
            )
            .map_err(from_store)?;
        Ok((&bill).into())
    }

    /// The position of the last durable event.
    async fn head(&self, ctx: &Context<'_>) -> u64 {
        store(ctx).head().seq
    }
}
