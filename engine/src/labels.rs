//! Risk labels (docs/DISPUTES.md, section 1): what a payment turned out to be, attached to its
//! order id and kept in a table of their own, so that a label outlives the order's retention.
//! The latest label of an order wins; a full table lets the order labelled first go (the journal
//! keeps every label). Labels change no money.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{LabelKind, LabelSource, Message, ReasonCode, RiskLabel};

use crate::config::Refusal;
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::Outbox;
use crate::state::id_slot;
use crate::state::wire::{LabelKindDef, LabelSourceDef};

/// One order's latest label.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub order_id: u64,
    /// The order's merchant, amount and currency when the label came (0 when the order and its
    /// receipt were gone by then).
    pub merchant_id: u32,
    pub currency: u16,
    pub amount_minor: i64,
    #[rkyv(with = LabelKindDef)]
    pub kind: LabelKind,
    #[rkyv(with = LabelSourceDef)]
    pub source: LabelSource,
    /// The source's own reference (a report's case number, a dispute id; 0 when none).
    pub reference: u64,
    /// Event time and journal sequence of the input that gave it.
    pub at_ns: u64,
    pub seq: u64,
    /// Sequence of the order's first label: the table lets the smallest go when full.
    pub first_seq: u64,
}

/// The labels table, sorted by order id.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    pub entries: Vec<Label>,
}

impl Labels {
    /// The label of `order_id`, if any.
    pub fn get(&self, order_id: u64) -> Option<&Label> {
        let i = self
            .entries
            .binary_search_by_key(&order_id, |l| l.order_id)
            .ok()?;
        Some(&self.entries[i])
    }

    /// Sets `label` as its order's latest (keeping the order's first sequence); when the table
    /// holds `max` orders and this one is new, the order labelled first goes.
    fn put(&mut self, mut label: Label, max: usize) {
        match self
            .entries
            .binary_search_by_key(&label.order_id, |l| l.order_id)
        {
            Ok(i) => {
                label.first_seq = self.entries[i].first_seq;
                self.entries[i] = label;
            }
            Err(_) => {
                if self.entries.len() >= max {
                    let oldest = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].first_seq)
                        .expect("a full table has entries");
                    self.entries.remove(oldest);
                }
                let at = self
                    .entries
                    .binary_search_by_key(&label.order_id, |l| l.order_id)
                    .expect_err("not in the table");
                self.entries.insert(at, label);
            }
        }
    }
}

impl Engine {
    /// The label of `order_id`, if the table has one (tests, tools, followers).
    pub fn label_of(&self, order_id: u64) -> Option<&Label> {
        self.state.labels.get(order_id)
    }

    /// Whether `id` is an order id the engine issued (in the table, retired or gone since).
    pub(crate) fn order_issued(&self, id: u64) -> bool {
        let Some((slot, generation)) = id_slot(id) else {
            return false;
        };
        self.state
            .orders
            .get(slot as usize)
            .is_some_and(|o| generation <= o.generation)
    }

    /// The merchant, amount and currency of order `id` (live, revived or retired), if known.
    pub(crate) fn order_facts(&self, id: u64) -> Option<(u32, i64, u16)> {
        if let Some(slot) = self.order_slot_of(id) {
            let o = &self.state.orders[slot as usize];
            return Some((o.merchant_id, o.amount_minor, o.currency));
        }
        let r = &self.state.retention.receipts[self.receipt_of(id)? as usize];
        Some((r.merchant_id, r.amount_minor, r.currency))
    }

    /// Labels order `id` (an issued one): the input `meta` gave it.
    pub(crate) fn give_label(
        &mut self,
        meta: &InputMeta,
        order_id: u64,
        kind: LabelKind,
        source: LabelSource,
        reference: u64,
    ) {
        let (merchant_id, amount_minor, currency) = self.order_facts(order_id).unwrap_or_default();
        let label = Label {
            order_id,
            merchant_id,
            currency,
            amount_minor,
            kind,
            source,
            reference,
            at_ns: self.state.now_ns,
            seq: meta.seq,
            first_seq: meta.seq,
        };
        let max = self.state.limits.labels_max as usize;
        self.state.labels.put(label, max);
        if self.dispute_events.is_on() {
            self.dispute_events
                .push(crate::dispute_events::DisputeEvent::Label(label));
        }
    }

    /// `RiskLabel`: an admin's label (answered with ConfigAck, object_id = order_id).
    pub(crate) fn handle_risk_label(&mut self, meta: &InputMeta, m: &RiskLabel, out: &mut Outbox) {
        let r = self.check_risk_label(m);
        if r.is_ok() {
            self.give_label(meta, m.order_id, m.kind, m.source, m.reference);
        }
        self.config_ack(meta, RiskLabel::TEMPLATE_ID, m.order_id, r, out);
    }

    fn check_risk_label(&self, m: &RiskLabel) -> Result<(), Refusal> {
        if m.kind == LabelKind::None {
            return Err((
                ReasonCode::InvalidField,
                "kind must be fraud, false_positive or legitimate",
            ));
        }
        if !matches!(
            m.source,
            LabelSource::Analyst | LabelSource::IssuerReport | LabelSource::Customer
        ) {
            return Err((
                ReasonCode::InvalidField,
                "source must be analyst, issuer_report or customer",
            ));
        }
        if !self.order_issued(m.order_id) {
            return Err((ReasonCode::UnknownOrder, "order_id names no order"));
        }
        Ok(())
    }
}
