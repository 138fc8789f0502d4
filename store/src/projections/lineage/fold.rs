//! Folding events into the lineage tree: nodes with the moments they appeared and were
//! deleted, edges opened and closed, a service's current image and environment repointed.

use super::*;

struct Fold<'a> {
    overlay: &'a mut Overlay,
    moment: Moment,
}

/// Where one of a node's edges lies.
enum Place {
    /// In the node's record, at this index.
    Inline(usize),
    /// Not yet anywhere, and the record has room for it.
    Room,
    /// Under its own key: the record is full (or, for a node without a record, absent).
    Keyed,
}

impl Fold<'_> {
    /// Hands `look` a node's record where it lies, its key built without allocating.
    fn inspect_node<R>(&self, node: &NodeRef, look: impl FnOnce(Option<&NodeRecord>) -> R) -> Result<R> {
        with_node_key(node, |key| self.overlay.inspect(TREE, key, look))
    }

    /// Lets `change` edit a node's record (`None`: it has none); the key is built where
    /// lookups build theirs, and copied only if the group has not changed the node yet.
    fn update_node<R>(
        &mut self,
        node: &NodeRef,
        change: impl FnOnce(&mut NodeRecord) -> Result<R>,
    ) -> Result<Option<R>> {
        with_node_key(node, |key| self.overlay.update_value(TREE, key, change))
    }

    fn node(&mut self, node: &NodeRef) -> Result<()> {
        // Lent, not cloned: every event of a stream looks its node up.
        let known = self.inspect_node(node, |record| record.is_some())?;
        if !known {
            self.overlay
                .put_value(TREE, node_key(node), NodeRecord::new(self.moment));
        }
        Ok(())
    }

    fn delete_node(&mut self, node: &NodeRef) -> Result<()> {
        let moment = self.moment;
        self.update_node(node, |record: &mut NodeRecord| {
            record.info.deleted = Some(moment);
            Ok(())
        })?;
        Ok(())
    }

    /// Where the edge `kind` from `from` to `to` is kept, or would be.
    fn out_place(&self, from: &NodeRef, kind: EdgeKind, to: &NodeRef) -> Result<Place> {
        self.inspect_node(from, |record: Option<&NodeRecord>| match record {
            None => Place::Keyed,
            Some(record) => match record.out.iter().position(|edge| edge.kind == kind && edge.to == *to) {
                Some(index) => Place::Inline(index),
                None if record.out_overflows() => Place::Keyed,
                None => Place::Room,
            },
        })
    }

    fn open(&mut self, from: &NodeRef, kind: EdgeKind, to: &NodeRef, revision: Option<&str>) -> Result<()> {
        self.node(to)?;
        self.node(from)?;
        let moment = self.moment;
        let new = match self.out_place(from, kind, to)? {
            Place::Keyed => {
                let key = out_key(from, kind, to);
                let existing = self.overlay.get_value::<Edge>(TREE, &key)?;
                let new = existing.is_none();
                let mut edge = existing.unwrap_or_else(|| Edge {
                    from: from.clone(),
                    kind,
                    to: to.clone(),
                    spans: Vec::new(),
                    revision: None,
                });
                hold(&mut edge.spans, &mut edge.revision, moment, revision);
                self.overlay.put_value(TREE, key, edge);
                new
            }
            place => {
                let new = matches!(place, Place::Room);
                self.update_node(from, |record: &mut NodeRecord| {
                    let index = match place {
                        Place::Inline(index) => index,
                        _ => {
                            record.out.push(OutEdge {
                                kind,
                                to: to.clone(),
                                spans: Vec::new(),
                                revision: None,
                            });
                            record.out.len() - 1
                        }
                    };
                    let edge = &mut record.out[index];
                    hold(&mut edge.spans, &mut edge.revision, moment, revision);
                    Ok(())
                })?;
                new
            }
        };
        self.incoming(to, kind, from, new)
    }

    /// Records on `to` that an edge `kind` comes into it from `from` (`new`: it was not
    /// there before, so a full record's overflow list does not hold it yet).
    fn incoming(&mut self, to: &NodeRef, kind: EdgeKind, from: &NodeRef, new: bool) -> Result<()> {
        let place = self.inspect_node(to, |record: Option<&NodeRecord>| match record {
            None => Place::Keyed,
            Some(record) => match record.incoming.iter().position(|(k, f)| *k == kind && f == from) {
                Some(index) => Place::Inline(index),
                None if record.incoming_overflows() => Place::Keyed,
                None => Place::Room,
            },
        })?;
        match place {
            Place::Inline(_) => {}
            Place::Room => {
                self.update_node(to, |record: &mut NodeRecord| {
                    record.incoming.push((kind, from.clone()));
                    Ok(())
                })?;
            }
            // Looking through the list for the edge would read all of it: only a new edge
            // is pushed.
            Place::Keyed if new => {
                let mut item = vec![kind.code()];
                item.extend_from_slice(&node_part(from));
                lists::push(self.overlay, TREE, in_prefix(to), &item)?;
            }
            Place::Keyed => {}
        }
        Ok(())
    }

    fn close(&mut self, from: &NodeRef, kind: EdgeKind, to: &NodeRef) -> Result<()> {
        let moment = self.moment;
        match self.out_place(from, kind, to)? {
            Place::Room => {}
            Place::Inline(index) => {
                self.update_node(from, |record: &mut NodeRecord| {
                    end(&mut record.out[index].spans, moment);
                    Ok(())
                })?;
            }
            Place::Keyed => {
                let key = out_key(from, kind, to);
                if let Some(mut edge) = self.overlay.get_value::<Edge>(TREE, &key)? {
                    if end(&mut edge.spans, moment) {
                        self.overlay.put_value(TREE, key, edge);
                    }
                }
            }
        }
        Ok(())
    }

    /// Points a service's single open edge of `kind` at `to`, closing the previous one.
    fn repoint(&mut self, service: &NodeRef, kind: EdgeKind, to: Option<&NodeRef>) -> Result<()> {
        let key = node_key(service);
        let previous = self.overlay.inspect(TREE, &key, |record: Option<&NodeRecord>| {
            record.and_then(|record| record.current(kind).cloned())
        })?;
        if let Some(previous) = previous {
            self.close(service, kind, &previous)?;
        }
        if let Some(to) = to {
            self.open(service, kind, to, None)?;
        }
        self.overlay.update_value(TREE, &key, |record: &mut NodeRecord| {
            record.current.retain(|(held, _)| *held != kind);
            record.current.extend(to.map(|to| (kind, to.clone())));
            Ok(())
        })?;
        Ok(())
    }
}

/// Opens a span at `moment` unless one is open, and keeps the revision given.
fn hold(spans: &mut Vec<Span>, revision: &mut Option<String>, moment: Moment, given: Option<&str>) {
    if spans.last().is_none_or(|span| span.until.is_some()) {
        spans.push(Span {
            from: moment,
            until: None,
        });
    }
    if let Some(given) = given {
        *revision = Some(given.to_string());
    }
}

/// Ends the open span at `moment`; false when none was open.
fn end(spans: &mut [Span], moment: Moment) -> bool {
    match spans.last_mut().filter(|span| span.until.is_none()) {
        Some(span) => {
            span.until = Some(moment);
            true
        }
        None => false,
    }
}

fn run_edges(
    fold: &mut Fold<'_>,
    run: &NodeRef,
    experiment: &ExperimentId,
    target: &ComputeTargetId,
    parent: Option<&RunId>,
    revision: Option<&str>,
) -> Result<()> {
    fold.open(
        run,
        EdgeKind::Executed,
        &entity(EntityKind::Experiment, experiment),
        revision,
    )?;
    fold.open(run, EdgeKind::RanOn, &entity(EntityKind::ComputeTarget, target), None)?;
    if let Some(parent) = parent {
        fold.open(run, EdgeKind::ChildOf, &entity(EntityKind::Run, parent), None)?;
    }
    Ok(())
}

/// Folds one event into the lineage graph.
pub fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    let mut fold = Fold {
        overlay,
        moment: Moment {
            seq: envelope.seq,
            at: envelope.effective_time(),
        },
    };
    let subject = NodeRef::entity(envelope.stream.clone());
    fold.node(&subject)?;
    use EntityKind as K;
    match &envelope.event {
        Event::RunQueued(e) => run_edges(
            &mut fold,
            &subject,
            &e.experiment,
            &e.compute_target,
            e.parent.as_ref(),
            None,
        )?,
        Event::RunStarted(e) => run_edges(
            &mut fold,
            &subject,
            &e.experiment,
            &e.compute_target,
            e.parent.as_ref(),
            Some(&e.revision),
        )?,
        Event::RunInputsRecorded(e) => {
            for dataset in &e.datasets {
                fold.open(&subject, EdgeKind::Used, &entity(K::Dataset, dataset), None)?;
            }
        }
        Event::RunOutputsRecorded(e) => {
            for dataset in &e.datasets {
                fold.open(&entity(K::Dataset, dataset), EdgeKind::GeneratedBy, &subject, None)?;
            }
        }
        Event::ModelVersionRegistered(_) | Event::ManifestVersionAdded(_) | Event::ImageBuildStarted(_) => {
            version_edges(&mut fold, &subject, &envelope.event)?
        }
        Event::ServiceDeployed(e) => {
            fold.repoint(
                &subject,
                EdgeKind::Runs,
                Some(&NodeRef::version(K::Image, &e.image.image, e.image.version)),
            )?;
            fold.repoint(
                &subject,
                EdgeKind::DeployedTo,
                Some(&entity(K::Environment, &e.environment)),
            )?;
        }
        Event::ServiceUpdated(e) => {
            fold.repoint(
                &subject,
                EdgeKind::Runs,
                Some(&NodeRef::version(K::Image, &e.image.image, e.image.version)),
            )?;
        }
        Event::ServiceDeleted(_) => {
            fold.repoint(&subject, EdgeKind::Runs, None)?;
            fold.repoint(&subject, EdgeKind::DeployedTo, None)?;
            fold.delete_node(&subject)?;
        }
        Event::EnvironmentDeleted(_) | Event::ComputeTargetDetached(_) => fold.delete_node(&subject)?,
        _ => {}
    }
    Ok(())
}

/// A new model, manifest or image version: its node, `VersionOf` its entity, and the edges
/// to what it was made from.
fn version_edges(fold: &mut Fold<'_>, subject: &NodeRef, event: &Event) -> Result<()> {
    use EntityKind as K;
    match event {
        Event::ModelVersionRegistered(e) => {
            let version = NodeRef::version(K::Model, &e.model, e.version);
            fold.node(&version)?;
            fold.open(&version, EdgeKind::VersionOf, subject, None)?;
            if let ModelSource::Run { run, .. } = &e.source {
                fold.open(&version, EdgeKind::GeneratedBy, &entity(K::Run, run), None)?;
            }
            if let Some(earlier) = &e.derived_from {
                fold.open(
                    &version,
                    EdgeKind::DerivedFrom,
                    &NodeRef::version(K::Model, &earlier.model, earlier.version),
                    None,
                )?;
            }
        }
        Event::ManifestVersionAdded(e) => {
            let version = NodeRef::version(K::Manifest, &e.manifest, e.version);
            fold.node(&version)?;
            fold.open(&version, EdgeKind::VersionOf, subject, None)?;
            for model in &e.models {
                fold.open(
                    &version,
                    EdgeKind::Includes,
                    &NodeRef::version(K::Model, &model.model, model.version),
                    None,
                )?;
            }
        }
        Event::ImageBuildStarted(e) => {
            let version = NodeRef::version(K::Image, &e.image, e.version);
            fold.node(&version)?;
            fold.open(&version, EdgeKind::VersionOf, subject, None)?;
            let manifest = NodeRef::version(K::Manifest, &e.manifest.manifest, e.manifest.version);
            fold.open(&version, EdgeKind::BuiltFrom, &manifest, None)?;
        }
        _ => {}
    }
    Ok(())
}
