//! An auditor's bundle for a bill: the bill, every event behind its lines as the
//! transparency log's entries, their inclusion proofs and a (cosigned) checkpoint — one
//! file that is checked offline, recomputing each line from its events.

use super::*;
use crate::projections::billing::{self, Bill, Month, PriceBook};
use lineage_schema::tlog::{self, OpenCheckpoint};
use serde::{Deserialize, Serialize};

/// What a bundle file says it is.
const BUNDLE_FORMAT: &str = "lineage-bill-bundle/1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillBundle {
    pub format: String,
    pub account: String,
    pub month: String,
    /// The prices the bill was made with.
    pub price_book: PriceBook,
    pub bill: BundledBill,
    /// A C2SP checkpoint note (with the witnesses' cosignatures, when the store has any).
    pub checkpoint: String,
    /// The events behind the bill, and the compute targets' attachments its hours are
    /// priced by, in log order.
    pub entries: Vec<BundledEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledEntry {
    pub seq: u64,
    /// The entry exactly as the transparency log holds it (the export line).
    pub entry: String,
    /// Its RFC 6962 audit path in the checkpoint's tree, base64 hashes.
    pub proof: Vec<String>,
}

/// A bill as a bundle states it, compared line by line with the one recomputed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledBill {
    pub currency: String,
    pub lines: Vec<BundledLine>,
    pub total: i64,
    /// Who held a seat on which days of the month.
    pub seats: Vec<(String, Vec<u32>)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledLine {
    pub description: String,
    pub quantity: String,
    pub unit: String,
    pub unit_price: i64,
    pub price_per: String,
    pub days_in_month: Option<u32>,
    pub amount: i64,
    pub events: Vec<u64>,
}

impl From<&Bill> for BundledBill {
    fn from(bill: &Bill) -> Self {
        BundledBill {
            currency: bill.currency.to_string(),
            lines: bill
                .lines
                .iter()
                .map(|line| BundledLine {
                    description: line.description.clone(),
                    quantity: line.quantity.clone(),
                    unit: line.unit.to_string(),
                    unit_price: line.unit_price,
                    price_per: line.price_per.to_string(),
                    days_in_month: line.days_in_month,
                    amount: line.amount,
                    events: line.events.clone(),
                })
                .collect(),
            total: bill.total,
            seats: bill
                .seats
                .iter()
                .map(|seat| (seat.principal.to_string(), seat.days.clone()))
                .collect(),
        }
    }
}

/// What checking a bundle found.
#[derive(Clone, Debug)]
pub struct BundleCheck {
    pub checkpoint: OpenCheckpoint,
    /// With an export: how many of its entries (the checkpoint's whole log) were read to
    /// find every billed event of the account in the bundle.
    pub complete: Option<u64>,
    pub events: usize,
    pub lines: usize,
    pub total: i64,
    pub currency: String,
}

/// Checks that `export` (one entry a line, `lineage export`) begins with exactly the log
/// the bundle's checkpoint signs — its root recomputed from the lines — and that every
/// event in it that the bill rests on is in the bundle: nothing billed was left out.
pub fn check_bundle_complete(bundle_text: &str, export: &str, check: &mut BundleCheck) -> Result<()> {
    let refused = |why: String| -> Error { Rejection::invalid("bundle", why).into() };
    let bundle: BillBundle = serde_json::from_str(bundle_text).map_err(|error| refused(error.to_string()))?;
    let size = check.checkpoint.size;
    let mut frontier = lineage_schema::merkle::Frontier::default();
    let included: std::collections::BTreeSet<u64> = bundle.entries.iter().map(|entry| entry.seq).collect();
    for line in export.lines().take(size as usize) {
        tlog::push(&mut frontier, line.as_bytes());
        let envelope: Envelope = serde_json::from_str(line)
            .map_err(|error| refused(format!("export line {}: not an event: {error}", frontier.size)))?;
        let of_account = envelope.account.as_ref().map(AccountId::as_str) == Some(bundle.account.as_str());
        let needed = billing::bills(&envelope.event) || matches!(envelope.event, Event::ComputeTargetAttached(_));
        if of_account && needed && !included.contains(&envelope.seq) {
            return Err(refused(format!(
                "event {} of {} bears on the bill but the bundle leaves it out",
                envelope.seq, bundle.account
            )));
        }
    }
    if frontier.size != size || tlog::root(&frontier) != check.checkpoint.root {
        return Err(refused(format!(
            "the export is not the log the checkpoint signs: its first {} lines have another root",
            frontier.size
        )));
    }
    check.complete = Some(size);
    Ok(())
}

impl Store {
    /// The bundle of `account`'s bill for `month`: its billed events and compute targets'
    /// attachments as entries, each proven in a checkpoint signed now (`checkpoint`: a
    /// note to use instead, e.g. the witnessed one a server serves).
    pub fn bill_bundle(
        &self,
        account: &AccountId,
        month: Month,
        prices: &PriceBook,
        checkpoint: Option<String>,
    ) -> Result<BillBundle> {
        let bill = self.bill(account, month, prices)?;
        let note = match checkpoint {
            Some(note) => note,
            None => self.tlog_checkpoint(None)?,
        };
        let own = Self::tlog_verifier_key(&self.dir, None)?;
        let size = tlog::open_checkpoint(&note, &[own], &[])?.size;
        let mut seqs = billing::billed_events(&self.view, account)?;
        for target in self.children(
            &EntityRef::new(EntityKind::ExperimentationAccount, account),
            EntityKind::ComputeTarget,
        )? {
            let stream = EventFilter {
                account: None,
                stream: Some(target.reference.clone()),
            };
            seqs.extend(self.events(0, 1, &stream)?.iter().map(|event| event.seq));
        }
        seqs.sort_unstable();
        seqs.dedup();
        seqs.retain(|&seq| seq <= size);
        let mut entries = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let entry = self
                .tlog_entries(seq, seq)?
                .pop()
                .ok_or_else(|| Error::Derived(format!("no entry for seq {seq}")))?;
            let proof = self.tlog_record_proof(seq, size)?;
            entries.push(BundledEntry {
                seq,
                entry: String::from_utf8(entry).map_err(|_| Error::Derived("an entry is not UTF-8".into()))?,
                proof: proof.iter().map(tlog::base64).collect(),
            });
        }
        Ok(BillBundle {
            format: BUNDLE_FORMAT.into(),
            account: account.to_string(),
            month: month.to_string(),
            price_book: prices.clone(),
            bill: BundledBill::from(&bill),
            checkpoint: note,
            entries,
        })
    }

    /// Checks a bundle offline: the checkpoint's signature (and the witnesses' given), each
    /// entry's inclusion in its tree, and every line of the bill recomputed from the
    /// entries with the bundle's price book.
    pub fn verify_bundle(text: &str, verifier_keys: &[String], witnesses: &[String]) -> Result<BundleCheck> {
        let refused = |why: String| -> Error { Rejection::invalid("bundle", why).into() };
        let bundle: BillBundle =
            serde_json::from_str(text).map_err(|error| refused(format!("not a Lineage bill bundle: {error}")))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(refused(format!("its format is {}, not {BUNDLE_FORMAT}", bundle.format)));
        }
        if verifier_keys.is_empty() {
            return Err(refused(
                "name the log's verifier key (--key) to check a bundle against".into(),
            ));
        }
        let checkpoint = tlog::open_checkpoint(&bundle.checkpoint, verifier_keys, witnesses)?;
        let root = tlog_tiles::Hash(checkpoint.root.0);
        let mut events = Vec::with_capacity(bundle.entries.len());
        for bundled in &bundle.entries {
            let proof = bundled
                .proof
                .iter()
                .map(|hash| tlog_tiles::Hash::parse_hash(hash))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| refused(format!("event {}: its proof is not base64 hashes", bundled.seq)))?;
            let leaf = tlog_tiles::record_hash(bundled.entry.as_bytes());
            if bundled.seq == 0
                || tlog_tiles::check_record(&proof, checkpoint.size, root, bundled.seq - 1, leaf).is_err()
            {
                return Err(refused(format!(
                    "event {} is not in the log the checkpoint signs ({} entries)",
                    bundled.seq, checkpoint.size
                )));
            }
            let envelope: Envelope = serde_json::from_str(&bundled.entry)
                .map_err(|error| refused(format!("event {}: not an event: {error}", bundled.seq)))?;
            if envelope.seq != bundled.seq {
                return Err(refused(format!(
                    "entry {} says it is event {}",
                    bundled.seq, envelope.seq
                )));
            }
            events.push(envelope);
        }
        let account = AccountId::new(&bundle.account).map_err(|rejection| refused(rejection.to_string()))?;
        let month = Month::parse(&bundle.month).ok_or_else(|| refused(format!("`{}` is not a month", bundle.month)))?;
        let mut compute_kinds = std::collections::HashMap::new();
        for envelope in &events {
            if let Event::ComputeTargetAttached(attached) = &envelope.event {
                if attached.account == account {
                    compute_kinds.insert(attached.target.to_string(), attached.kind.label().to_string());
                }
            }
        }
        let billed: Vec<Envelope> = events
            .into_iter()
            .filter(|envelope| envelope.account.as_ref() == Some(&account) && billing::bills(&envelope.event))
            .collect();
        let recomputed = BundledBill::from(&billing::compute(
            &account,
            &billed,
            &compute_kinds,
            month,
            &bundle.price_book,
        ));
        if let Some((stated, computed)) = bundle.bill.lines.iter().zip(&recomputed.lines).find(|(a, b)| a != b) {
            return Err(refused(format!(
                "the line `{}` does not follow from its events: stated {} {} for {}, recomputed {} {} for {}",
                stated.description,
                stated.quantity,
                stated.unit,
                stated.amount,
                computed.quantity,
                computed.unit,
                computed.amount
            )));
        }
        if bundle.bill != recomputed {
            return Err(refused(format!(
                "the bill does not follow from its events: stated {} lines totalling {}, recomputed {} totalling {}",
                bundle.bill.lines.len(),
                bundle.bill.total,
                recomputed.lines.len(),
                recomputed.total
            )));
        }
        Ok(BundleCheck {
            complete: None,
            checkpoint,
            events: bundle.entries.len(),
            lines: recomputed.lines.len(),
            total: recomputed.total,
            currency: recomputed.currency,
        })
    }
}
