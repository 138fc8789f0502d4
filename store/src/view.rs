//! `View`: the store as one principal may read it. Every read an API answers with goes
//! through it, so "what you may not read does not exist" is decided here once: a hidden
//! entity is `None` or `NOT_FOUND` exactly as a missing one, lists skip it, walks do not
//! step onto it, and a trace loses the parts it names.

use crate::error::Result;
use crate::projections::access::Access;
use crate::projections::audit::AuditFilter;
use crate::projections::billing::{Bill, Month, PriceBook};
use crate::projections::lineage::{Graph, Trace, Walk};
use crate::store::{EventFilter, Store};
use lineage_schema::event::{MetricPoint, Role};
use lineage_schema::lineage::{AsOf, NodeRef};
use lineage_schema::{AccountId, Entity, EntityKind, EntityRef, Envelope, Rejection, RunId, ServiceId};
use std::cell::RefCell;
use std::collections::HashMap;

/// One principal's reading handle: `Store::view(&access)`.
pub struct View<'a> {
    store: &'a Store,
    access: &'a Access,
    /// Which entities this view has found visible or not, remembered across one answer
    /// (a walk asks about the same nodes many times).
    seen: RefCell<HashMap<EntityRef, bool>>,
}

/// A stretch of a listing: the visible entries, and where the next stretch starts.
#[derive(Debug)]
pub struct Chunk<T, P> {
    pub visible: Vec<T>,
    /// The position of the last entry read (visible or not); `None` when nothing was read.
    pub last: Option<P>,
    /// Nothing follows the entries read.
    pub ended: bool,
}

impl std::fmt::Debug for View<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("View")
            .field("access", self.access)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The store as the principal whose access this is may read it.
    pub fn view<'a>(&'a self, access: &'a Access) -> View<'a> {
        View {
            store: self,
            access,
            seen: RefCell::default(),
        }
    }
}

impl<'a> View<'a> {
    pub fn access(&self) -> &Access {
        self.access
    }

    /// Whether the viewer may see an entity.
    pub fn sees(&self, entity: &Entity) -> bool {
        self.access.can_read_entity(entity)
    }

    /// The entity, if it exists and the viewer may see it.
    pub fn entity(&self, reference: &EntityRef) -> Result<Option<Entity>> {
        let entity = self.store.entity(reference)?.filter(|entity| self.sees(entity));
        self.seen.borrow_mut().insert(reference.clone(), entity.is_some());
        Ok(entity)
    }

    /// The entity, or `NOT_FOUND` alike for a missing and a hidden one.
    pub fn existing(&self, reference: &EntityRef) -> Result<Entity> {
        self.entity(reference)?
            .ok_or_else(|| Rejection::not_found(reference.clone()).into())
    }

    /// Whether an entity exists for this viewer, remembered for the rest of the answer.
    pub fn visible(&self, reference: &EntityRef) -> bool {
        if let Some(known) = self.seen.borrow().get(reference) {
            return *known;
        }
        self.entity(reference).ok().flatten().is_some()
    }

    /// Up to `limit` entities of a kind after `after`, in id order, the hidden ones skipped.
    pub fn entities(&self, kind: EntityKind, after: Option<&str>, limit: usize) -> Result<Chunk<Entity, String>> {
        let read = self.store.entities(kind, after, limit)?;
        Ok(Chunk {
            last: read.last().map(|entity| entity.reference.id.to_string()),
            ended: read.len() < limit,
            visible: read.into_iter().filter(|entity| self.sees(entity)).collect(),
        })
    }

    /// The visible entities of a kind directly inside a visible parent.
    pub fn children(&self, parent: &EntityRef, kind: EntityKind) -> Result<Vec<Entity>> {
        self.existing(parent)?;
        let children = self.store.children(parent, kind)?;
        Ok(children.into_iter().filter(|entity| self.sees(entity)).collect())
    }

    /// The entity of a kind named `name` in `scope`, if the viewer may see it.
    pub fn find_by_name(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<Option<Entity>> {
        if let Some(scope) = scope {
            self.existing(scope)?;
        }
        Ok(self
            .store
            .find_by_name(scope, kind, name)?
            .filter(|entity| self.sees(entity)))
    }

    /// Up to `limit` events of a visible entity's stream from version `from_version`.
    pub fn history_page(&self, stream: &EntityRef, from_version: u64, limit: usize) -> Result<Vec<Envelope>> {
        self.existing(stream)?;
        self.store.history_page(stream, from_version, limit)
    }

    /// Every point of one metric (or of all) of a visible run, in the order logged.
    pub fn metric_history(&self, run: &RunId, name: Option<&str>) -> Result<Vec<MetricPoint>> {
        self.existing(&EntityRef::new(EntityKind::Run, run))?;
        self.store.metric_history(run, name)
    }

    /// The event at `seq`, if the viewer may read it.
    pub fn event(&self, seq: u64) -> Result<Option<Envelope>> {
        Ok(self.store.event(seq)?.filter(|event| self.access.can_read_event(event)))
    }

    /// Up to `limit` events after `after` that pass `filter`, the unreadable ones skipped.
    pub fn events(&self, after: u64, limit: usize, filter: &EventFilter) -> Result<Chunk<Envelope, u64>> {
        let read = self.store.events(after, limit, filter)?;
        Ok(Self::event_chunk(read, limit, |event| {
            self.access.can_read_event(event)
        }))
    }

    /// Up to `limit` audit entries after `after`, those the viewer may not audit skipped.
    pub fn audit(&self, filter: &AuditFilter, after: u64, limit: usize) -> Result<Chunk<Envelope, u64>> {
        let read = self.store.audit(filter, after, limit)?;
        Ok(Self::event_chunk(read, limit, |event| self.access.can_audit(event)))
    }

    fn event_chunk(read: Vec<Envelope>, limit: usize, keep: impl Fn(&Envelope) -> bool) -> Chunk<Envelope, u64> {
        Chunk {
            last: read.last().map(|event| event.seq),
            ended: read.len() < limit,
            visible: read.into_iter().filter(keep).collect(),
        }
    }

    /// An account's bill, for its owners, auditors and billing readers and its
    /// subscription's owner; `NOT_FOUND` for anyone else, as for an account that is not.
    pub fn bill(&self, account: &AccountId, month: Month, prices: &PriceBook) -> Result<Bill> {
        let allowed = self.access.owned.contains(account)
            || self
                .access
                .has_role(account, &[Role::Owner, Role::Auditor, Role::BillingReader]);
        if !allowed {
            return Err(Rejection::not_found(EntityRef::new(EntityKind::ExperimentationAccount, account)).into());
        }
        self.store.bill(account, month, prices)
    }

    /// The auditor's bundle of an account's bill (see [`Store::bill_bundle`]): for its
    /// owners and auditors and its subscription's owner — not billing readers, as the
    /// bundle holds whole events of the account.
    pub fn bill_bundle(
        &self,
        account: &AccountId,
        month: Month,
        prices: &PriceBook,
        checkpoint: Option<String>,
    ) -> Result<crate::BillBundle> {
        let allowed =
            self.access.owned.contains(account) || self.access.has_role(account, &[Role::Owner, Role::Auditor]);
        if !allowed {
            return Err(Rejection::not_found(EntityRef::new(EntityKind::ExperimentationAccount, account)).into());
        }
        self.store.bill_bundle(account, month, prices, checkpoint)
    }

    /// A lineage walk from a visible start that never steps onto a hidden node (hidden
    /// nodes count against no limit).
    pub fn walk(&self, walk: &Walk) -> Result<Graph> {
        self.existing(&walk.start.entity)?;
        let mut found = self
            .store
            .lineage()
            .walk_visible(walk, &mut |node| self.visible(&node.entity))?;
        self.keep_visible_edges(&mut found);
        Ok(found)
    }

    fn keep_visible_edges(&self, graph: &mut Graph) {
        graph
            .edges
            .retain(|edge| self.visible(&edge.from.entity) && self.visible(&edge.to.entity));
    }

    /// What a visible service runs, back to its data, without what the viewer may not
    /// see (a run in an account it has no access to, with its data and target).
    pub fn trace(&self, service: &ServiceId, as_of: Option<AsOf>) -> Result<Trace> {
        self.existing(&EntityRef::new(EntityKind::Service, service))?;
        let mut trace = self.store.lineage().trace(service, as_of)?;
        if trace
            .environment
            .as_ref()
            .is_some_and(|environment| !self.visible(&environment.entity))
        {
            trace.environment = None;
        }
        let Some(manifest) = trace.image.as_mut().and_then(|image| image.manifest.as_mut()) else {
            return Ok(trace);
        };
        for model in &mut manifest.models {
            let mut current = Some(model);
            while let Some(model) = current {
                if model.run.as_ref().is_some_and(|run| !self.visible(&run.run.entity)) {
                    model.run = None;
                }
                current = model.derived_from.as_deref_mut();
            }
        }
        Ok(trace)
    }

    /// Everything downstream of a visible node that the viewer may see.
    pub fn impact(&self, start: &NodeRef, as_of: Option<AsOf>) -> Result<Graph> {
        self.existing(&start.entity)?;
        let mut found = self.store.lineage().impact(start, as_of)?;
        found.nodes.retain(|node| self.visible(&node.node.entity));
        self.keep_visible_edges(&mut found);
        Ok(found)
    }
}
