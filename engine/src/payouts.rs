//! Payouts (docs/PAYOUTS.md, section 4): a party's available balance paid to its bank account
//! through a payout channel, two-phase. A merchant's acquirer asks with WithdrawRequest, an admin
//! with PayoutRequest (promoters, the platform, or a merchant), and a party whose payout mode is
//! Automatic is paid after each settlement (`auto_payout`). Accepting a payout reserves amount +
//! fee from the party's Available (the platform's: `platform_revenue`) to `payouts_in_flight`;
//! it waits in Review above the currency's review threshold, else it is Sent. What follows (the
//! channel's answers, the questions, the review) is in `payout_outcomes.rs`.

use sluice_protocol::{
    AckStatus, ConfigPayoutChannel, ConfigPayoutPolicy, DecodeError, Message, PartyKind, PayoutAck,
    PayoutMode, PayoutRequest, PayoutReview, PayoutState, ReasonCode, WithdrawAck, WithdrawRequest,
};

use crate::config::{Refusal, invalid};
use crate::core::{Engine, Index, request_hash};
use crate::input::InputMeta;
use crate::ledger::{AccountId, PartyAccount};
use crate::money::{PPB_ONE, rate_to_ppb};
use crate::outbox::{Dest, Outbox};
use crate::state::{
    ADMIN_OWNER, PLATFORM_PARTY, Payout, PayoutChannel, PayoutOrigin, PayoutTerms, State, slot_id,
};

/// Longest payout timeout and query interval, milliseconds (a day).
const PAYOUT_TIMING_MAX_MS: u32 = 86_400_000;

/// A payout checked and ready to open: who, what, through which channel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PayoutAsk {
    pub origin: PayoutOrigin,
    pub acquirer_id: u32,
    pub request_id: u64,
    pub request_hash: u64,
    pub party_kind: PartyKind,
    pub party_id: u32,
    pub party_slot: u32,
    pub currency: u16,
    pub currency_slot: u8,
    pub channel_slot: u32,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// The key a payout is found by for resends (none for an automatic payout).
pub(crate) fn index_key(p: &Payout) -> Option<(u32, u64)> {
    match p.origin {
        PayoutOrigin::Acquirer => Some((p.acquirer_id, p.request_id)),
        PayoutOrigin::Admin => Some((ADMIN_OWNER, p.request_id)),
        PayoutOrigin::Automatic => None,
    }
}

/// The payouts index from the table (vacant slots left out).
pub(crate) fn rebuild_payouts_index(s: &State, ix: &mut Index) {
    for (i, p) in s.payouts.iter().enumerate().filter(|(_, p)| !p.vacant) {
        if let Some((owner, id)) = index_key(p) {
            ix.payouts.insert(owner, id, i as u32);
        }
    }
}

/// A payout channel's fee for `amount_minor`: the fixed part plus the rate part rounded half up
/// (None past an i64).
pub(crate) fn payout_fee(ch: &PayoutChannel, amount_minor: i64) -> Option<i64> {
    let ppb = i128::from(ch.fee_ppb);
    let rated = (i128::from(amount_minor) * ppb + i128::from(PPB_ONE / 2)) / i128::from(PPB_ONE);
    i64::try_from(rated).ok()?.checked_add(ch.fee_fixed_minor)
}

/// The largest amount whose amount + fee is at most `balance` (0 when none is).
#[allow(dead_code)] // `auto_payout`'s
fn largest_payable(ch: &PayoutChannel, balance: i64) -> i64 {
    let room = i128::from(balance) - i128::from(ch.fee_fixed_minor);
    if room <= 0 {
        return 0;
    }
    let ppb = i128::from(ch.fee_ppb);
    let guess = room * i128::from(PPB_ONE) / (i128::from(PPB_ONE) + ppb);
    let mut amount = i64::try_from(guess).unwrap_or(0);
    let fits =
        |a: i64| payout_fee(ch, a).is_some_and(|f| a.checked_add(f).is_some_and(|t| t <= balance));
    // Rounding moves the answer by at most a unit or two either way; bounded steps.
    for _ in 0..4 {
        if amount > 0 && !fits(amount) {
            amount -= 1;
        }
    }
    for _ in 0..4 {
        if fits(amount + 1) {
            amount += 1;
        }
    }
    if fits(amount) { amount } else { 0 }
}

impl Engine {
    /// The account a party's payouts come from: its Available, or the platform's revenue.
    pub(crate) fn payout_source(&self, c: u8, party_slot: u32) -> AccountId {
        let ledger = &self.state.ledger;
        if party_slot == PLATFORM_PARTY {
            ledger.platform_revenue(c)
        } else {
            ledger.party(c, party_slot, PartyAccount::Available)
        }
    }

    fn payout_channel_slot(&self, channel_id: u16) -> Option<u32> {
        let channels = &self.state.payout_book.channels;
        (channel_id != 0)
            .then(|| channels.iter().position(|c| c.id == channel_id))
            .flatten()
            .map(|i| i as u32)
    }

    /// The party's slot and payout terms (the platform's: its policy's channel, no minimum).
    fn payout_party(
        &self,
        kind: PartyKind,
        id: u32,
        c: u8,
    ) -> Result<(u32, PayoutTerms), ReasonCode> {
        let s = &self.state;
        let party_slot = match kind {
            PartyKind::Merchant => {
                let &m = self
                    .index
                    .merchants
                    .get(&id)
                    .ok_or(ReasonCode::UnknownMerchant)?;
                s.merchants[m as usize].party_slot
            }
            PartyKind::Promoter => {
                let &p = self
                    .index
                    .promoters
                    .get(&id)
                    .ok_or(ReasonCode::UnknownPromoter)?;
                s.promoters[p as usize].party_slot
            }
            PartyKind::Platform => {
                let terms = PayoutTerms {
                    mode: PayoutMode::Manual,
                    channel_id: s.payout_book.policies[usize::from(c)].platform_channel_id,
                    min_payout_minor: 0,
                };
                return Ok((PLATFORM_PARTY, terms));
            }
        };
        Ok((party_slot, s.parties[party_slot as usize].payout))
    }

    /// Checks a payout of `amount_minor` in `currency` for a party. Changes nothing.
    pub(crate) fn check_payout(
        &self,
        party_kind: PartyKind,
        party_id: u32,
        currency: u16,
        amount_minor: i64,
    ) -> Result<PayoutAsk, ReasonCode> {
        let currencies = &self.state.limits.currencies;
        let c = currencies.iter().position(|&x| x == currency);
        // The party is checked first (an unknown merchant is named before a bad currency).
        let (party_slot, terms) = self.payout_party(party_kind, party_id, c.unwrap_or(0) as u8)?;
        if amount_minor <= 0 {
            return Err(ReasonCode::AmountNotPositive);
        }
        let c = c.ok_or(ReasonCode::CurrencyNotAccepted)? as u8;
        let channel_slot = self
            .payout_channel_slot(terms.channel_id)
            .filter(|&slot| self.state.payout_book.channels[slot as usize].active)
            .ok_or(ReasonCode::NoPayoutChannel)?;
        if amount_minor < terms.min_payout_minor.max(1) {
            return Err(ReasonCode::BelowMinimumPayout);
        }
        let ch = &self.state.payout_book.channels[channel_slot as usize];
        let fee_minor = payout_fee(ch, amount_minor).ok_or(ReasonCode::BalanceOverflow)?;
        let total = amount_minor
            .checked_add(fee_minor)
            .ok_or(ReasonCode::BalanceOverflow)?;
        if !self.payout_room() {
            return Err(ReasonCode::PayoutsFull);
        }
        let source = self.payout_source(c, party_slot);
        if self.state.ledger.account(source).spendable() < i128::from(total) {
            return Err(ReasonCode::InsufficientBalance);
        }
        if !self.payout_fits(c, source, amount_minor, fee_minor) {
            return Err(ReasonCode::BalanceOverflow);
        }
        Ok(PayoutAsk {
            origin: PayoutOrigin::Admin,
            acquirer_id: 0,
            request_id: 0,
            request_hash: 0,
            party_kind,
            party_id: if party_kind == PartyKind::Platform {
                0
            } else {
                party_id
            },
            party_slot,
            currency,
            currency_slot: c,
            channel_slot,
            amount_minor,
            fee_minor,
        })
    }

    /// Opens a checked payout: reserves its money and records it, in Review or Sent (not yet
    /// dispatched). Returns its slot.
    pub(crate) fn open_payout(&mut self, ask: &PayoutAsk) -> u32 {
        let c = ask.currency_slot;
        let source = self.payout_source(c, ask.party_slot);
        let total = ask.amount_minor + ask.fee_minor;
        let in_flight = self.state.ledger.payouts_in_flight(c);
        self.state.ledger.reserve(source, in_flight, total);
        let after = self.state.ledger.account(source).spendable();
        let after = i64::try_from(after).expect("a balance within the money limits fits an i64");
        assert!(after >= 0, "a payout overdraws");
        let (slot, generation) = self
            .take_payout_slot()
            .expect("validation checked the payout table has room");
        let review_above = self.state.payout_book.policies[usize::from(c)].review_above_minor;
        let state = if review_above > 0 && ask.amount_minor > review_above {
            PayoutState::Review
        } else {
            PayoutState::Sent
        };
        let now = self.state.now_ns;
        let payout = Payout {
            id: slot_id(slot, generation),
            generation,
            vacant: false,
            origin: ask.origin,
            created_ns: now,
            updated_ns: now,
            request_id: ask.request_id,
            request_hash: ask.request_hash,
            acquirer_id: ask.acquirer_id,
            party_kind: ask.party_kind,
            party_id: ask.party_id,
            party_slot: ask.party_slot,
            currency: ask.currency,
            currency_slot: c,
            channel_slot: ask.channel_slot,
            amount_minor: ask.amount_minor,
            fee_minor: ask.fee_minor,
            state,
            reason: ReasonCode::None,
            dispatched: false,
            due_ns: now,
            available_after_minor: after,
            outcome_available_minor: after,
            channel_ref: [0; 24],
        };
        if let Some((owner, id)) = index_key(&payout) {
            self.index.payouts.insert(owner, id, slot);
        }
        if slot as usize == self.state.payouts.len() {
            self.state.payouts.push(payout);
        } else {
            self.state.payouts[slot as usize] = payout;
        }
        let book = &mut self.state.payout_book;
        book.in_flight_minor[usize::from(c)] += total;
        book.open += 1;
        self.payout_made(slot);
        self.record_payout(slot);
        if state == PayoutState::Sent {
            self.queue_payout(slot);
        }
        slot
    }

    pub(crate) fn handle_withdraw(
        &mut self,
        meta: &InputMeta,
        body: &[u8],
        block_length: u16,
        req: &WithdrawRequest,
        out: &mut Outbox,
    ) {
        let acquirer = meta.principal_id;
        let hash = request_hash(body, block_length, WithdrawRequest::BLOCK_LENGTH);
        let dest = Dest::acquirer(acquirer, meta.session_id);
        if let Some(slot) = self.index.payouts.get(acquirer, req.withdraw_request_id) {
            return self.answer_withdraw_resend(meta, slot, req, hash, out);
        }
        let checked = self.check_withdraw(acquirer, req).map(|ask| PayoutAsk {
            origin: PayoutOrigin::Acquirer,
            acquirer_id: acquirer,
            request_id: req.withdraw_request_id,
            request_hash: hash,
            ..ask
        });
        let ask = match checked {
            Ok(ask) => ask,
            Err(reason) => {
                let msg = withdraw_refused(req, reason, meta.seq);
                return out.push(dest, meta.seq, &msg);
            }
        };
        let slot = self.open_payout(&ask);
        let msg = self.withdraw_ack(slot, false, meta.seq);
        out.push(dest, meta.seq, &msg);
        self.dispatch_if_sent(meta, slot, out);
    }

    fn check_withdraw(
        &self,
        acquirer: u32,
        req: &WithdrawRequest,
    ) -> Result<PayoutAsk, ReasonCode> {
        let &m = self
            .index
            .merchants
            .get(&req.merchant_id)
            .ok_or(ReasonCode::UnknownMerchant)?;
        if self.state.merchants[m as usize].acquirer_id != acquirer {
            return Err(ReasonCode::MerchantNotOwned);
        }
        self.check_payout(
            PartyKind::Merchant,
            req.merchant_id,
            req.currency,
            req.amount_minor,
        )
    }

    /// A resend of a withdrawal: its WithdrawAck again (and its WithdrawResult once it ended), or
    /// a mismatch.
    fn answer_withdraw_resend(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        req: &WithdrawRequest,
        hash: u64,
        out: &mut Outbox,
    ) {
        let dest = Dest::acquirer(meta.principal_id, meta.session_id);
        if self.state.payouts[slot as usize].request_hash != hash {
            let msg = withdraw_refused(req, ReasonCode::DuplicateRequestMismatch, meta.seq);
            return out.push(dest, meta.seq, &msg);
        }
        self.counters.duplicates += 1;
        let msg = self.withdraw_ack(slot, true, meta.seq);
        out.push(dest, meta.seq, &msg);
        if !self.state.payouts[slot as usize].is_open() {
            let msg = self.withdraw_result(slot, true, meta.seq);
            out.push(dest, meta.seq, &msg);
        }
    }

    /// The WithdrawAck of the payout in `slot`.
    pub(crate) fn withdraw_ack(&self, slot: u32, duplicate: bool, sequence: u64) -> WithdrawAck {
        let p = &self.state.payouts[slot as usize];
        WithdrawAck {
            withdraw_request_id: p.request_id,
            withdrawal_id: p.id,
            merchant_id: p.party_id,
            currency: p.currency,
            amount_minor: p.amount_minor,
            fee_minor: p.fee_minor,
            status: AckStatus::Accepted,
            reason: ReasonCode::None,
            // Review or Sent at acceptance; a resend is told where it stands now.
            state: p.state,
            available_after_minor: p.available_after_minor,
            duplicate,
            sequence,
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
        }
    }

    pub(crate) fn handle_payout_request(
        &mut self,
        meta: &InputMeta,
        body: &[u8],
        block_length: u16,
        req: &PayoutRequest,
        out: &mut Outbox,
    ) {
        let hash = request_hash(body, block_length, PayoutRequest::BLOCK_LENGTH);
        let dest = Dest::session(meta.session_id, meta.principal_id);
        let refused = |reason| payout_refused(req, reason, meta.seq);
        if let Some(slot) = self.index.payouts.get(ADMIN_OWNER, req.payout_request_id) {
            let msg = if self.state.payouts[slot as usize].request_hash != hash {
                refused(ReasonCode::DuplicateRequestMismatch)
            } else {
                self.counters.duplicates += 1;
                self.payout_ack(slot, meta.seq)
            };
            return out.push(dest, meta.seq, &msg);
        }
        let checked =
            self.check_payout(req.party_kind, req.party_id, req.currency, req.amount_minor);
        let ask = match checked {
            Ok(ask) => PayoutAsk {
                request_id: req.payout_request_id,
                request_hash: hash,
                ..ask
            },
            Err(reason) => return out.push(dest, meta.seq, &refused(reason)),
        };
        let slot = self.open_payout(&ask);
        let msg = self.payout_ack(slot, meta.seq);
        out.push(dest, meta.seq, &msg);
        self.dispatch_if_sent(meta, slot, out);
    }

    fn payout_ack(&self, slot: u32, sequence: u64) -> PayoutAck {
        let p = &self.state.payouts[slot as usize];
        PayoutAck {
            payout_request_id: p.request_id,
            payout_id: p.id,
            status: AckStatus::Accepted,
            reason: ReasonCode::None,
            state: p.state,
            fee_minor: p.fee_minor,
            sequence,
        }
    }

    /// Pays party `party_slot` its whole available balance in currency slot `currency_slot`, less
    /// the fee, when its payout mode is Automatic and that is at least its minimum (and the
    /// payout passes every check a requested one does). Called right after the party's
    /// settlement. The payout opens Sent (or Review above the threshold) and its PayoutDispatch
    /// goes out on the pulse's payout step, so that a settlement day of many parties keeps each
    /// input's output bounded; `meta` and `out` are the caller's input and outbox (unused for
    /// now, kept so that a caller need not change if the dispatch moves here). Returns the payout
    /// id, if one opened.
    // The schedules' settlement calls it (issue 22); until then only tests do.
    #[allow(dead_code)]
    pub(crate) fn auto_payout(
        &mut self,
        party_slot: u32,
        currency_slot: u8,
        _meta: &InputMeta,
        _out: &mut Outbox,
    ) -> Option<u64> {
        let party = self.state.parties.get(party_slot as usize)?;
        if party.payout.mode != PayoutMode::Automatic {
            return None;
        }
        let (kind, id) = (party.kind, party.id);
        let currency = *self
            .state
            .limits
            .currencies
            .get(usize::from(currency_slot))?;
        let channel_slot = self.payout_channel_slot(party.payout.channel_id)?;
        let ch = &self.state.payout_book.channels[channel_slot as usize];
        let source = self.payout_source(currency_slot, party_slot);
        let balance = self.state.ledger.account(source).spendable();
        let balance = i64::try_from(balance.max(0)).unwrap_or(i64::MAX);
        let amount = largest_payable(ch, balance);
        let ask = self.check_payout(kind, id, currency, amount).ok()?;
        let slot = self.open_payout(&PayoutAsk {
            origin: PayoutOrigin::Automatic,
            ..ask
        });
        Some(self.state.payouts[slot as usize].id)
    }

    pub(crate) fn config_payout_channel(&mut self, m: &ConfigPayoutChannel) -> Result<(), Refusal> {
        if m.channel_id == 0 {
            return invalid("channel_id must be > 0");
        }
        if self.index.channels.contains_key(&m.channel_id) {
            return invalid("channel_id is a payment channel's: an id is one or the other");
        }
        let timing = 1..=PAYOUT_TIMING_MAX_MS;
        if !timing.contains(&m.timeout_ms) || !timing.contains(&m.query_interval_ms) {
            return invalid("timeout_ms and query_interval_ms must be 1..=86400000");
        }
        if m.fee_fixed_minor < 0 {
            return invalid("fee_fixed_minor must be >= 0");
        }
        let fee_ppb = match rate_to_ppb(m.fee_rate) {
            Some(ppb) if ppb <= PPB_ONE => ppb,
            _ => return invalid("fee_rate must be 0..=1 with at most 9 places"),
        };
        let channel = PayoutChannel {
            id: m.channel_id,
            name: m.name.0,
            active: m.status == sluice_protocol::Activity::Active,
            timeout_ms: m.timeout_ms,
            query_interval_ms: m.query_interval_ms,
            fee_fixed_minor: m.fee_fixed_minor,
            fee_ppb,
        };
        let channels_max = self.state.limits.channels_max as usize;
        let existing = self.payout_channel_slot(m.channel_id);
        let channels = &mut self.state.payout_book.channels;
        match existing {
            Some(slot) => channels[slot as usize] = channel,
            None if channels.len() < channels_max => channels.push(channel),
            None => {
                return Err((
                    ReasonCode::CapacityReached,
                    "payout channels are at their maximum",
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn config_payout_policy(&mut self, m: &ConfigPayoutPolicy) -> Result<(), Refusal> {
        let currencies = &self.state.limits.currencies;
        let Some(c) = currencies.iter().position(|&x| x == m.currency) else {
            return invalid("currency must be a ledger currency");
        };
        if m.review_above_minor < 0 {
            return invalid("review_above_minor must be >= 0");
        }
        if m.platform_payout_channel_id != 0
            && self
                .payout_channel_slot(m.platform_payout_channel_id)
                .is_none()
        {
            return Err((ReasonCode::UnknownChannel, "platform_payout_channel_id"));
        }
        let policy = &mut self.state.payout_book.policies[c];
        policy.review_above_minor = m.review_above_minor;
        policy.platform_channel_id = m.platform_payout_channel_id;
        Ok(())
    }

    /// Refuses a payment channel's id that a payout channel has (ConfigChannel).
    pub(crate) fn not_a_payout_channel(&self, channel_id: u16) -> Result<(), Refusal> {
        match self.payout_channel_slot(channel_id) {
            Some(_) => invalid("channel_id is a payout channel's: an id is one or the other"),
            None => Ok(()),
        }
    }

    /// The admin inputs of payouts: PayoutRequest, PayoutReview, ConfigPayoutChannel,
    /// ConfigPayoutPolicy (`Err(UnknownTemplate)` for any other).
    pub(crate) fn dispatch_payout_admin(
        &mut self,
        meta: &InputMeta,
        (template, block): (u16, u16),
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        match template {
            PayoutRequest::TEMPLATE_ID => PayoutRequest::read_body(block, body)
                .map(|m| self.handle_payout_request(meta, body, block, &m, out)),
            PayoutReview::TEMPLATE_ID => PayoutReview::read_body(block, body).map(|m| {
                let r = self.handle_payout_review(meta, &m, out);
                self.config_ack(meta, template, m.payout_id, r, out);
            }),
            ConfigPayoutChannel::TEMPLATE_ID => {
                ConfigPayoutChannel::read_body(block, body).map(|m| {
                    let r = self.config_payout_channel(&m);
                    self.config_ack(meta, template, u64::from(m.channel_id), r, out);
                })
            }
            ConfigPayoutPolicy::TEMPLATE_ID => {
                ConfigPayoutPolicy::read_body(block, body).map(|m| {
                    let r = self.config_payout_policy(&m);
                    self.config_ack(meta, template, u64::from(m.currency), r, out);
                })
            }
            _ => self.dispatch_labels((template, block), meta, body, out),
        }
    }

    /// Checks a party's payout terms (ConfigMerchant, ConfigPromoter).
    pub(crate) fn check_payout_terms(
        mode: PayoutMode,
        channel_id: u16,
        min_payout_minor: i64,
    ) -> Result<PayoutTerms, Refusal> {
        if min_payout_minor < 0 {
            return invalid("min_payout_minor must be >= 0");
        }
        Ok(PayoutTerms {
            mode,
            channel_id,
            min_payout_minor,
        })
    }

    /// Sets the payout terms of the party in `party_slot`.
    pub(crate) fn set_payout_terms(&mut self, party_slot: u32, terms: PayoutTerms) {
        self.state.parties[party_slot as usize].payout = terms;
    }
}

fn withdraw_refused(req: &WithdrawRequest, reason: ReasonCode, sequence: u64) -> WithdrawAck {
    WithdrawAck {
        withdraw_request_id: req.withdraw_request_id,
        withdrawal_id: 0,
        merchant_id: req.merchant_id,
        currency: req.currency,
        amount_minor: req.amount_minor,
        fee_minor: 0,
        status: AckStatus::Rejected,
        reason,
        state: PayoutState::Failed,
        available_after_minor: 0,
        duplicate: false,
        sequence,
        // Numbered once the input is applied (`out_seq.rs`).
        out_seq: 0,
        retransmission: false,
    }
}

fn payout_refused(req: &PayoutRequest, reason: ReasonCode, sequence: u64) -> PayoutAck {
    PayoutAck {
        payout_request_id: req.payout_request_id,
        payout_id: 0,
        status: AckStatus::Rejected,
        reason,
        state: PayoutState::Failed,
        fee_minor: 0,
        sequence,
    }
}

#[cfg(feature = "test-support")]
impl Engine {
    /// TEST ONLY (`test-support`): `auto_payout` for a merchant's or promoter's currency, as the
    /// settlement calls it.
    pub fn auto_payout_for_tests(
        &mut self,
        kind: PartyKind,
        id: u32,
        currency: u16,
    ) -> Option<u64> {
        let party_slot = match kind {
            PartyKind::Merchant => {
                self.state.merchants[*self.index.merchants.get(&id)? as usize].party_slot
            }
            PartyKind::Promoter => {
                self.state.promoters[*self.index.promoters.get(&id)? as usize].party_slot
            }
            PartyKind::Platform => return None,
        };
        let c = self
            .state
            .limits
            .currencies
            .iter()
            .position(|&x| x == currency)? as u8;
        let meta = InputMeta {
            seq: self.state.last_seq,
            timestamp_ns: self.state.now_ns,
            session_id: 0,
            principal_id: 0,
            role: crate::input::ROLE_SEQUENCER,
        };
        let mut out = Outbox::with_capacity(4096);
        self.auto_payout(party_slot, c, &meta, &mut out)
    }
}
