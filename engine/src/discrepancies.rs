//! The discrepancy list (docs/RECONCILIATION.md, section 6): differences `sluice reconcile` found
//! between a channel's bill and the platform's records, opened and resolved by the journaled admin
//! input `Discrepancy`, so that every replay and follower holds the same list. A resolution may
//! write off part of the channel's receivable (`channel_write_offs` ← ChannelReceivable; the
//! other way when negative).
//!
//! Bounded: at most `DISCREPANCIES_MAX` entries. An Open that finds the list full retires the
//! entry resolved longest ago (its id may then be opened again); with none resolved it is refused
//! `DiscrepanciesFull`. Open entries never leave.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::codec::text;
use sluice_protocol::{Discrepancy, DiscrepancyClass, DiscrepancyOp, Message, ReasonCode};

use crate::channel_settlement::ChannelCurrency;
use crate::config::{Refusal, invalid};
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::Outbox;
use crate::state::wire::DiscrepancyClassDef;

/// The most entries the list holds (open and resolved): 65,536 entries of about 250 bytes plus
/// their notes, at most some 25 MiB, where a busy platform opens tens a day.
pub const DISCREPANCIES_MAX: usize = 65_536;

/// One entry of the list.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DiscrepancyEntry {
    pub id: u64,
    pub channel_id: u16,
    #[rkyv(with = DiscrepancyClassDef)]
    pub class: DiscrepancyClass,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// The platform's keys (0 where none).
    pub order_id: u64,
    pub attempt: u8,
    pub refund_id: u64,
    /// Its signed effect on what the channel owes (positive: the platform booked more than the
    /// channel pays).
    pub amount_minor: i64,
    /// The bill day it was found on, days since the epoch.
    pub bill_day: u32,
    /// The input that opened it, and the reconciler's description.
    pub opened_seq: u64,
    pub note: String,
    /// The input that resolved it (0 while open), its note and the part written off.
    pub resolved_seq: u64,
    pub resolution: String,
    pub write_off_minor: i64,
}

impl DiscrepancyEntry {
    pub fn is_open(&self) -> bool {
        self.resolved_seq == 0
    }
}

/// The list, sorted by id.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Discrepancies {
    pub entries: Vec<DiscrepancyEntry>,
}

impl Discrepancies {
    fn position(&self, id: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |e| e.id)
    }

    /// The entry `id`, open or resolved.
    pub fn get(&self, id: u64) -> Option<&DiscrepancyEntry> {
        Some(&self.entries[self.position(id).ok()?])
    }

    /// The open entries of a channel in a currency: how many, and the sum of their amounts.
    pub fn open_of(&self, channel_id: u16, currency: u16) -> (u64, i128) {
        self.entries
            .iter()
            .filter(|e| e.is_open() && (e.channel_id, e.currency) == (channel_id, currency))
            .fold((0, 0), |(n, sum), e| {
                (n + 1, sum + i128::from(e.amount_minor))
            })
    }

    /// The resolved entry to retire so that an Open fits a full list: the one resolved longest
    /// ago (None while the list has room, or when every entry is open).
    fn to_retire(&self) -> Option<Option<usize>> {
        if self.entries.len() < DISCREPANCIES_MAX {
            return Some(None);
        }
        let (i, _) = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_open())
            .min_by_key(|(_, e)| e.resolved_seq)?;
        Some(Some(i))
    }
}

impl Engine {
    /// Entry `id` as the Discrepancy message that describes it (ConfigQuery): Open with its note
    /// while open, Resolve with the resolution and write-off once resolved.
    pub(crate) fn discrepancy_config(&self, id: u64) -> Option<Discrepancy> {
        let e = self.state.discrepancies.get(id)?;
        let (op, note) = match e.is_open() {
            true => (DiscrepancyOp::Open, &e.note),
            false => (DiscrepancyOp::Resolve, &e.resolution),
        };
        Some(Discrepancy {
            op,
            discrepancy_id: e.id,
            channel_id: e.channel_id,
            class: e.class,
            currency: e.currency,
            order_id: e.order_id,
            attempt: e.attempt,
            refund_id: e.refund_id,
            amount_minor: e.amount_minor,
            write_off_minor: e.write_off_minor,
            bill_day: e.bill_day,
            note: text(note),
        })
    }

    /// Applies a Discrepancy and answers it with a ConfigAck (object id = discrepancy id).
    pub(crate) fn handle_discrepancy(
        &mut self,
        meta: &InputMeta,
        m: &Discrepancy,
        out: &mut Outbox,
    ) {
        let result = match m.op {
            DiscrepancyOp::Open => self.open_discrepancy(meta, m),
            DiscrepancyOp::Resolve => self.resolve_discrepancy(meta, m),
        };
        self.config_ack(
            meta,
            Discrepancy::TEMPLATE_ID,
            m.discrepancy_id,
            result,
            out,
        );
    }

    fn open_discrepancy(&mut self, meta: &InputMeta, m: &Discrepancy) -> Result<(), Refusal> {
        self.channel_currency(m.channel_id, m.currency)?;
        if m.discrepancy_id == 0 {
            return invalid("discrepancy_id must be > 0");
        }
        if m.write_off_minor != 0 {
            return invalid("write_off_minor is for Resolve");
        }
        let list = &self.state.discrepancies;
        if list.position(m.discrepancy_id).is_ok() {
            let why = "an entry with this id exists";
            return Err((ReasonCode::DiscrepancyExists, why));
        }
        let retire = list.to_retire().ok_or((
            ReasonCode::DiscrepanciesFull,
            "the discrepancy list is full of open entries",
        ))?;
        let list = &mut self.state.discrepancies;
        if let Some(i) = retire {
            list.entries.remove(i);
        }
        let at = list
            .position(m.discrepancy_id)
            .expect_err("checked absent above");
        let entry = DiscrepancyEntry {
            id: m.discrepancy_id,
            channel_id: m.channel_id,
            class: m.class,
            currency: m.currency,
            order_id: m.order_id,
            attempt: m.attempt,
            refund_id: m.refund_id,
            amount_minor: m.amount_minor,
            bill_day: m.bill_day,
            opened_seq: meta.seq,
            note: m.note.as_str().to_string(),
            resolved_seq: 0,
            resolution: String::new(),
            write_off_minor: 0,
        };
        list.entries.insert(at, entry);
        assert!(list.entries.len() <= DISCREPANCIES_MAX);
        Ok(())
    }

    fn resolve_discrepancy(&mut self, meta: &InputMeta, m: &Discrepancy) -> Result<(), Refusal> {
        let unknown = (ReasonCode::UnknownDiscrepancy, "no open entry with this id");
        let list = &self.state.discrepancies;
        let i = list.position(m.discrepancy_id).map_err(|_| unknown)?;
        let e = &list.entries[i];
        if !e.is_open() {
            return Err(unknown);
        }
        // The entry names its channel and currency; the write-off goes to them.
        let at: ChannelCurrency = self.channel_currency(e.channel_id, e.currency)?;
        let write_offs = self.state.ledger.channel_write_offs(at.currency_slot);
        if !self.receivable_moves_fit(at, &[(write_offs, m.write_off_minor)]) {
            return Err((
                ReasonCode::BalanceOverflow,
                "the write-off would take an account past the largest balance",
            ));
        }
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(at.currency_slot, at.channel_slot);
        ledger.post_signed(write_offs, rx, m.write_off_minor);
        let (channel_id, currency) = (e.channel_id, e.currency);
        let e = &mut self.state.discrepancies.entries[i];
        e.resolved_seq = meta.seq;
        e.resolution = m.note.as_str().to_string();
        e.write_off_minor = m.write_off_minor;
        if m.write_off_minor != 0 {
            let a = self.state.channel_settlements.entry(channel_id, currency);
            a.written_off_minor += i128::from(m.write_off_minor);
        }
        Ok(())
    }
}
