//! Who may do what and who did: tokens, access, the audit trail and the bill.

use super::*;

impl Store {
    /// Up to `limit` events after position `after` that pass `filter`, in log order,
    /// read through the narrowest index the filter allows.
    pub fn audit(
        &self,
        filter: &crate::projections::audit::AuditFilter,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>> {
        let head = self.head().seq;
        let after = match filter.from {
            Some(from) => after.max(crate::projections::audit::first_seq_at(&self.view, from)?),
            None => after,
        };
        let candidates: Option<Vec<u64>> = if let Some(entity) = &filter.entity {
            Some(
                self.stream_seqs(entity)?
                    .into_iter()
                    .filter(|seq| *seq > after)
                    .collect(),
            )
        } else if let Some(actor) = &filter.actor {
            Some(crate::projections::audit::postings(
                &self.view,
                b'p',
                actor.as_str(),
                after,
            )?)
        } else if let Some(account) = &filter.account {
            Some(crate::projections::audit::postings(
                &self.view,
                b'a',
                account.as_str(),
                after,
            )?)
        } else {
            None
        };
        let mut found = Vec::new();
        match candidates {
            Some(seqs) => {
                for seq in seqs {
                    if found.len() >= limit || seq > head {
                        break;
                    }
                    let envelope = self
                        .event(seq)?
                        .ok_or_else(|| Error::Derived(format!("audit index names missing seq {seq}")))?;
                    if filter.to.is_some_and(|to| envelope.recorded_at >= to) {
                        break;
                    }
                    if filter.matches(&envelope) {
                        found.push(envelope);
                    }
                }
            }
            None if after < head && limit > 0 => self.reader.scan_from(after + 1, &mut |envelope, _| {
                let seq = envelope.seq;
                if filter.to.is_some_and(|to| envelope.recorded_at >= to) {
                    return Ok(false);
                }
                if filter.matches(&envelope) {
                    found.push(envelope);
                }
                Ok(found.len() < limit && seq < head)
            })?,
            None => {}
        }
        Ok(found)
    }

    /// The principal a token secret belongs to, if the token is live.
    pub fn authenticate(&self, secret: &str) -> Result<Option<PrincipalId>> {
        let hash = Digest::of(secret.as_bytes());
        let Some(holder) = self.view.get(state::TREE, &state::token_hash_key(&hash))? else {
            return Ok(None);
        };
        let principal = holder.splitn(2, |byte| *byte == 0).nth(1).unwrap_or_default();
        Ok(PrincipalId::new(String::from_utf8_lossy(principal).into_owned()).ok())
    }

    /// The bill of `account` for `month`, priced by `prices`, from the account's events.
    pub fn bill(
        &self,
        account: &AccountId,
        month: crate::projections::billing::Month,
        prices: &crate::projections::billing::PriceBook,
    ) -> Result<crate::projections::billing::Bill> {
        self.known_account(account)?;
        let now = Timestamp::now();
        if !month.has_begun(now) {
            return Err(
                Rejection::invalid("month", format!("{month} has not begun: there is nothing to bill yet")).into(),
            );
        }
        let mut events = Vec::new();
        for seq in crate::projections::billing::billed_events(&self.view, account)? {
            events.push(
                self.event(seq)?
                    .ok_or_else(|| Error::Derived(format!("billing index names missing seq {seq}")))?,
            );
        }
        let mut compute_kinds = std::collections::HashMap::new();
        for target in self.children(
            &EntityRef::new(EntityKind::ExperimentationAccount, account),
            EntityKind::ComputeTarget,
        )? {
            if let lineage_schema::entity::Detail::ComputeTarget { kind } = &target.detail {
                compute_kinds.insert(target.reference.id.to_string(), kind.label().to_string());
            }
        }
        let mut bill = crate::projections::billing::compute(account, &events, &compute_kinds, month, prices);
        bill.running = month.is_running(now);
        Ok(bill)
    }

    /// An account of either kind, or the refusal for a missing one (NOT_FOUND).
    pub fn known_account(&self, account: &AccountId) -> Result<()> {
        let exists = [EntityKind::ExperimentationAccount, EntityKind::ModelManagementAccount]
            .into_iter()
            .any(|kind| self.entity(&EntityRef::new(kind, account)).ok().flatten().is_some());
        if !exists {
            return Err(Rejection::not_found(EntityRef::new(EntityKind::ExperimentationAccount, account)).into());
        }
        Ok(())
    }

    /// The latest month in which something billed to `account` happened, if anything did.
    pub fn latest_billed_month(&self, account: &AccountId) -> Result<Option<crate::projections::billing::Month>> {
        self.known_account(account)?;
        let seqs = crate::projections::billing::billed_events(&self.view, account)?;
        let mut latest = None;
        for seq in seqs {
            if let Some(event) = self.event(seq)? {
                latest = latest.max(Some(event.effective_time()));
            }
        }
        Ok(latest.map(crate::projections::billing::Month::containing))
    }

    /// What `principal` may read.
    pub fn access(&self, principal: &PrincipalId) -> Result<crate::projections::access::Access> {
        let generation = self.shared.access_generation.load(std::sync::atomic::Ordering::Acquire);
        if let Some(access) = self.access.get(principal, generation) {
            return Ok(access);
        }
        let access = crate::projections::access::of(&self.view, principal)?;
        self.access.put(principal, generation, &access);
        Ok(access)
    }

    /// Grows after every append of events that may change who may read what: access
    /// worked out at an older generation may be stale.
    pub fn access_generation(&self) -> u64 {
        self.shared.access_generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether any principal is an administrator yet.
    pub fn has_administrator(&self) -> Result<bool> {
        Ok(self.view.get(state::TREE, state::ADMINISTRATORS_KEY)?.is_some())
    }
}
