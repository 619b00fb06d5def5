//! Refunds (full, partial, several per payment; each takes from the split lines by largest
//! remainder over what refunds have not taken yet: `Order::refund_shares`): request, reservation
//! of every party's share, dispatch to the channel that took the payment, its answer or a timeout
//! on a pulse. A channel's pending refunds are in its in-flight list.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AckStatus, ChannelOutcome, Chars, FinalStatus, MAX_REFUNDS_PER_ORDER, MAX_SPLIT_LINES, Message,
    OrderState, PartyRole, ReasonCode, RefundAck, RefundChannelResult, RefundDispatch,
    RefundFeePolicy, RefundRequest, RefundResult, RiskAction, RuleTarget, SplitLine, UnknownPolicy,
};

use crate::core::{Engine, request_hash};
use crate::input::InputMeta;
use crate::ledger::{AccountId, PartyAccount};
use crate::limits::Additions;
use crate::money;
use crate::outbox::{Dest, Outbox};
use crate::retention::Found;
use crate::split::Shares;
use crate::state::{Links, Order, Refund, RefundStatus, Slot, slot_id};

/// A refund's reversal: per split line, its part and whether it comes from pending income.
type Reversal = ArrayVec<(i64, bool), MAX_SPLIT_LINES>;

impl Engine {
    pub(crate) fn handle_refund(
        &mut self,
        meta: &InputMeta,
        body: &[u8],
        block_length: u16,
        req: &RefundRequest,
        out: &mut Outbox,
    ) {
        let acquirer = meta.principal_id;
        let hash = request_hash(body, block_length, RefundRequest::BLOCK_LENGTH);
        if let Some(slot) = self.index.refunds.get(acquirer, req.refund_request_id) {
            if self.state.refunds[slot as usize].request_hash != hash {
                return self.push_refund_rejected(
                    meta,
                    req,
                    0,
                    ReasonCode::DuplicateRequestMismatch,
                    out,
                );
            }
            return self.answer_refund_resend(meta, slot, out);
        }
        // Validation changes nothing; a retired order comes back into the table only for a
        // refund that passed it.
        let checked = self
            .validate_refund(acquirer, req)
            .and_then(|(found, reversal)| {
                let slot = match found {
                    Found::Live(slot) => slot,
                    Found::Retired(r) => self.revive(r).ok_or_else(|| {
                        let id = self.state.retention.receipts[r as usize].order_id;
                        (id, ReasonCode::OrdersFull)
                    })?,
                };
                Ok((slot, reversal))
            });
        let (order_slot, reversal) = match checked {
            Ok(v) => v,
            Err((order_id, reason)) => {
                self.counters.refunds_rejected += 1;
                return self.push_refund_rejected(meta, req, order_id, reason, out);
            }
        };
        let o = &self.state.orders[order_slot as usize];
        let mut ctx = self.order_risk_context(o);
        ctx.keys = [ctx.keys[0], 0, 0, 0, 0, u128::from(o.merchant_id)];
        ctx.amount_minor = req.amount_minor;
        let now = self.state.now_ns;
        let verdict =
            self.state
                .risk
                .evaluate(RuleTarget::Refund, &ctx, now, &mut self.counters.rule_hits);
        self.state.risk.record_refund(&ctx, now);
        let slot = self.create_refund(meta, req, hash, order_slot, reversal, verdict);
        if verdict.action == RiskAction::Block {
            self.counters.refunds_rejected += 1;
            self.state.refunds[slot as usize].refuse(ReasonCode::RiskBlocked);
            self.refund_refused(slot);
            return self.push_refund_ack(meta, slot, false, out);
        }
        self.reserve_refund(slot);
        self.push_refund_ack(meta, slot, false, out);
        self.dispatch_refund(meta, slot, out);
    }

    /// Checks a refund and computes its reversal per split line, against the order in the table
    /// or as its receipt keeps it. Changes nothing.
    pub(crate) fn validate_refund(
        &self,
        acquirer: u32,
        req: &RefundRequest,
    ) -> Result<(Found, Reversal), (u64, ReasonCode)> {
        let found = self
            .find_order(acquirer, req.payment_request_id)
            .ok_or((0, ReasonCode::UnknownOrder))?;
        let retired;
        let o = match found {
            Found::Live(slot) => &self.state.orders[slot as usize],
            Found::Retired(r) => {
                retired = self.state.retention.receipts[r as usize].to_order(0);
                &retired
            }
        };
        let fail = |reason| Err((o.id, reason));
        if o.state != OrderState::Succeeded {
            return fail(ReasonCode::OrderNotSucceeded);
        }
        let channel_slot = o
            .attempts
            .last()
            .expect("a paid order has an attempt")
            .channel_slot;
        let end = self.refund_window_end(o.created_ns, channel_slot);
        if end.is_some_and(|end| self.state.now_ns > end) {
            return fail(ReasonCode::RefundWindowPassed);
        }
        if req.amount_minor <= 0 {
            return fail(ReasonCode::AmountNotPositive);
        }
        if req.amount_minor > o.refundable_minor() {
            return fail(ReasonCode::RefundExceedsCaptured);
        }
        if let Some(reason) = self.refunds_bound(o) {
            return fail(reason);
        }
        let shares = o
            .refund_shares(req.amount_minor)
            .expect("a refund of 0 < amount <= refundable has shares");
        let reversal = self
            .reversal_of(o, &shares)
            .map_err(|reason| (o.id, reason))?;
        if !self.refund_fits(o, req.amount_minor, &reversal) {
            return fail(ReasonCode::BalanceOverflow);
        }
        Ok((found, reversal))
    }

    /// Why order `o` can take no more refunds, if so: the refunds table is full, or the payment
    /// has had as many refunds as the channel that took it allows (failed ones included).
    fn refunds_bound(&self, o: &Order) -> Option<ReasonCode> {
        if !self.refund_room() {
            return Some(ReasonCode::RefundsFull);
        }
        let attempt = o.attempts.last().expect("a succeeded order has an attempt");
        let ch = &self.state.channels[usize::from(attempt.channel_slot)];
        let count = usize::from(o.refund_count);
        if count < MAX_REFUNDS_PER_ORDER && count < usize::from(ch.refunds_max) {
            return None;
        }
        // A channel configured by a version 1 or 2 ConfigChannel (the Legacy policy, refunds_max
        // 16) answers as those versions did, so that their journals replay as they ran.
        Some(if ch.unknown_policy == UnknownPolicy::Legacy {
            ReasonCode::RefundsFull
        } else {
            ReasonCode::TooManyRefunds
        })
    }

    /// The reversal of `shares` of order `o`: per split line, its share and whether it comes from
    /// the party's pending income (its day not yet settled) or its available balance; refused
    /// `InsufficientBalance` when that cannot cover it.
    fn reversal_of(&self, o: &Order, shares: &[i64]) -> Result<Reversal, ReasonCode> {
        let mut reversal = ArrayVec::new();
        for (line, &part) in o.split.iter().zip(shares) {
            let due_day = u32::from(line.due_day);
            let party = line.party_slot.map(Slot::index);
            let c = o.currency_slot;
            let from_pending = party.is_some_and(|p| self.still_pending(p, due_day, line.held, c));
            if let Some(party) = party.filter(|_| part > 0) {
                let which = if from_pending {
                    PartyAccount::Pending
                } else {
                    PartyAccount::Available
                };
                let ledger = &self.state.ledger;
                let account = ledger.party(o.currency_slot, party, which);
                let due_left = if from_pending {
                    let party = &self.state.parties[party as usize];
                    party.due_amount(due_day, line.held, c).unwrap_or(0)
                } else {
                    i64::MAX
                };
                if ledger.account(account).spendable() < i128::from(part) || due_left < part {
                    return Err(ReasonCode::InsufficientBalance);
                }
            }
            reversal.push((part, from_pending));
        }
        Ok(reversal)
    }

    /// Whether reserving refund `amount` of order `order_slot` with `reversal` keeps every
    /// account within the money limits (docs/ENGINE.md, "Money limits"): the channel's receivable
    /// is credited, clearing moves both ways, each line's account is debited.
    fn refund_fits(&self, o: &Order, amount_minor: i64, reversal: &Reversal) -> bool {
        let attempt = o.attempts.last().expect("a succeeded order has an attempt");
        let ledger = &self.state.ledger;
        let c = o.currency_slot;
        let clearing = ledger.clearing(c);
        let mut additions = Additions::default();
        additions.debit(clearing, amount_minor);
        let rx = ledger.channel_receivable(c, u32::from(attempt.channel_slot));
        additions.credit(rx, amount_minor);
        // A ProRata channel's fee comes back: reserved ChannelReceivable ← FeeExpense.
        let fee_back = self.fee_return_reservation(o, amount_minor);
        additions.debit(rx, fee_back);
        additions.credit(ledger.fee_expense(c), fee_back);
        for (line, &(part, from_pending)) in reversal.iter().enumerate() {
            additions.debit(self.reversal_account_of(o, line, from_pending), part);
            additions.credit(clearing, part);
        }
        additions.fit(ledger)
    }

    fn create_refund(
        &mut self,
        meta: &InputMeta,
        req: &RefundRequest,
        hash: u64,
        order_slot: u32,
        reversal: Reversal,
        verdict: crate::risk::Verdict,
    ) -> u32 {
        let (slot, generation) = self
            .take_refund_slot()
            .expect("validation checked the refund table has room");
        let now = self.state.now_ns;
        let o = &self.state.orders[order_slot as usize];
        let attempt = o.attempts.last().expect("a succeeded order has an attempt");
        let channel_slot = u32::from(attempt.channel_slot);
        let refund = Refund {
            id: slot_id(slot, generation),
            order_id: o.id,
            currency: o.currency,
            generation,
            vacant: false,
            refund_request_id: req.refund_request_id,
            request_hash: hash,
            acquirer_id: meta.principal_id,
            order_slot,
            amount_minor: req.amount_minor,
            state: RefundStatus::Rejected,
            reason: ReasonCode::None,
            risk_action: verdict.action,
            risk_rule_id: verdict.rule_id,
            session_id: meta.session_id,
            channel_slot,
            created_ns: now,
            updated_ns: now,
            deadline_ns: 0,
            channel_ref: [0; 24],
            reversal,
            fee_return_reserved_minor: 0,
            fee_before_minor: 0,
            fee_returned_minor: 0,
            next_in_order: None,
            in_flight: Links::default(),
        };
        if slot as usize == self.state.refunds.len() {
            self.state.refunds.push(refund);
        } else {
            self.state.refunds[slot as usize] = refund;
        }
        self.index
            .refunds
            .insert(meta.principal_id, req.refund_request_id, slot);
        slot
    }

    /// The account a reversal line of the order in `order_slot` debits.
    fn reversal_account(&self, order_slot: u32, line: usize, from_pending: bool) -> AccountId {
        self.reversal_account_of(&self.state.orders[order_slot as usize], line, from_pending)
    }

    /// The account a reversal line of order `o` debits.
    pub(crate) fn reversal_account_of(
        &self,
        o: &Order,
        line: usize,
        from_pending: bool,
    ) -> AccountId {
        let l = &o.split[line];
        let ledger = &self.state.ledger;
        let c = o.currency_slot;
        let which = if from_pending {
            PartyAccount::Pending
        } else {
            PartyAccount::Available
        };
        match (l.role, l.party_slot) {
            (PartyRole::Platform, _) => ledger.platform_revenue(c),
            (PartyRole::ChannelFee, _) => ledger.fee_expense(c),
            (_, party) => {
                let party = party.expect("a party's split line names its party");
                ledger.party(c, party.index(), which)
            }
        }
    }

    /// Reserves the refund's transfers and takes its pending parts out of the settlement queues.
    fn reserve_refund(&mut self, slot: u32) {
        let r = self.state.refunds[slot as usize].clone();
        let o = &self.state.orders[r.order_slot as usize];
        let (c, amount) = (o.currency_slot, r.amount_minor);
        let lines = due_lines(&o.split);
        let fee_back = self.fee_return_reservation(o, amount);
        let ledger = &mut self.state.ledger;
        let clearing = ledger.clearing(c);
        let rx = ledger.channel_receivable(c, r.channel_slot);
        ledger.reserve(clearing, rx, amount);
        ledger.reserve(rx, ledger.fee_expense(c), fee_back);
        let before = o.refunded_minor + o.refund_pending_minor;
        let refund = &mut self.state.refunds[slot as usize];
        refund.fee_return_reserved_minor = fee_back;
        refund.fee_before_minor = before;
        for (i, &(part, from_pending)) in r.reversal.iter().enumerate() {
            let account = self.reversal_account(r.order_slot, i, from_pending);
            self.state.ledger.reserve(account, clearing, part);
            if let (true, (Some(party), due_day, held)) = (from_pending, lines[i]) {
                self.state.parties[party.index() as usize].take_due(due_day, held, c, part);
            }
        }
        let now = self.state.now_ns;
        let shares: Shares = r.reversal.iter().map(|&(part, _)| part).collect();
        let order = &mut self.state.orders[r.order_slot as usize];
        if let Some(previous) = order.reserve_refund(Slot::new(slot), amount, &shares, now) {
            self.state.refunds[previous.index() as usize].next_in_order = Some(Slot::new(slot));
        }
        self.state.refunds[slot as usize].accept();
    }

    fn dispatch_refund(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let r = &self.state.refunds[slot as usize];
        let channel_slot = r.channel_slot;
        let ch = &self.state.channels[channel_slot as usize];
        let mut deadline = self
            .state
            .now_ns
            .saturating_add(u64::from(ch.timeout_ms) * 1_000_000);
        if let Some(tail) = ch.refunds_in_flight.back() {
            // Keep the in-flight list in deadline order even after a shorter timeout is configured.
            deadline = deadline.max(self.state.refunds[tail.index() as usize].deadline_ns);
        }
        let dispatch = self.refund_dispatch(slot, deadline);
        let channel_id = ch.id;
        self.state.refunds[slot as usize].dispatch(deadline);
        self.state.channels[channel_slot as usize]
            .refunds_in_flight
            .push_back(&mut self.state.refunds, Slot::new(slot));
        out.push(Dest::channel(channel_id), meta.seq, &dispatch);
    }

    /// The RefundDispatch of refund `slot`, to be answered by `deadline_ns`.
    pub(crate) fn refund_dispatch(&self, slot: u32, deadline_ns: u64) -> RefundDispatch {
        let r = &self.state.refunds[slot as usize];
        let o = &self.state.orders[r.order_slot as usize];
        RefundDispatch {
            refund_id: r.id,
            order_id: r.order_id,
            channel_id: self.state.channels[r.channel_slot as usize].id,
            amount_minor: r.amount_minor,
            currency: o.currency,
            deadline_ns,
            payment_channel_ref: Chars(o.channel_ref),
            at_ns: self.state.now_ns,
        }
    }

    pub(crate) fn handle_refund_result(
        &mut self,
        meta: &InputMeta,
        res: &RefundChannelResult,
        out: &mut Outbox,
    ) {
        let slot = match self.pending_refund_of(meta, res) {
            Ok(slot) => slot,
            Err((reason, why)) => {
                self.counters.stale_results += u64::from(reason == ReasonCode::StaleAttempt);
                let template = RefundChannelResult::TEMPLATE_ID;
                return self.reject(meta, template, res.refund_id, reason, why, out);
            }
        };
        self.state.refunds[slot as usize].channel_ref = res.channel_ref.0;
        let succeeded = res.outcome == ChannelOutcome::Succeeded;
        self.finish_refund(meta, slot, succeeded, ReasonCode::ChannelDeclined, out);
    }

    /// The slot of the pending refund `res` answers, or why it answers none.
    fn pending_refund_of(
        &self,
        meta: &InputMeta,
        res: &RefundChannelResult,
    ) -> Result<u32, (ReasonCode, &'static str)> {
        let Some(slot) = self.refund_slot_of(res.refund_id) else {
            return Err(self.missing_refund(res.refund_id));
        };
        let r = &self.state.refunds[slot as usize];
        // An Unknown refund's late result is its answer.
        if !r.state.is_open() {
            return Err((ReasonCode::StaleAttempt, "refund is not pending"));
        }
        let channel_id = self.state.channels[r.channel_slot as usize].id;
        if u32::from(channel_id) != meta.principal_id {
            let why = "refund belongs to another channel";
            return Err((ReasonCode::WrongChannel, why));
        }
        Ok(slot)
    }

    /// Posts (success) or voids (failure) the refund's reserved transfers and answers the acquirer.
    pub(crate) fn finish_refund(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        succeeded: bool,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        self.refund_leaves_channel(slot, succeeded);
        let r = self.state.refunds[slot as usize].clone();
        self.settle_reversal(slot, &r, succeeded);
        let now = self.state.now_ns;
        let order = &mut self.state.orders[r.order_slot as usize];
        order.release_refund(r.amount_minor, succeeded, now);
        if succeeded && !self.state.installments.plans.is_empty() {
            // A refund of an installment payment unwinds its plan (docs/INSTALLMENTS.md).
            self.installment_refunded(r.order_slot, r.amount_minor);
        }
        self.state.refunds[slot as usize].finish(succeeded, reason, now);
        if succeeded {
            self.counters.refunds_succeeded += 1;
        } else {
            self.counters.refunds_failed += 1;
        }
        self.push_refund_result(meta, slot, false, out);
    }

    /// Posts (success) or voids (failure) the reserved transfers of refund `r`; a failed refund's
    /// pending parts go back to their settlement queues.
    fn settle_reversal(&mut self, slot: u32, r: &Refund, succeeded: bool) {
        let o = &self.state.orders[r.order_slot as usize];
        let c = o.currency_slot;
        let lines = due_lines(&o.split);
        let clearing = self.state.ledger.clearing(c);
        let rx = self.state.ledger.channel_receivable(c, r.channel_slot);
        for (i, &(part, from_pending)) in r.reversal.iter().enumerate() {
            let account = self.reversal_account(r.order_slot, i, from_pending);
            if succeeded {
                self.state.ledger.post_reserved(account, clearing, part);
            } else {
                self.state.ledger.void_reserved(account, clearing, part);
                if let (true, (Some(party), due_day, held)) = (from_pending, lines[i]) {
                    self.restore_due(party.index(), due_day, held, c, part);
                }
            }
        }
        self.settle_fee_return(slot, r, succeeded);
        let ledger = &mut self.state.ledger;
        if succeeded {
            ledger.post_reserved(clearing, rx, r.amount_minor);
        } else {
            ledger.void_reserved(clearing, rx, r.amount_minor);
            // Its shares are the split lines' again, for the refunds to come.
            let shares: Shares = r.reversal.iter().map(|&(part, _)| part).collect();
            self.state.orders[r.order_slot as usize].return_refund_shares(&shares);
        }
    }

    /// The channel fee refund `amount_minor` of order `o` reserves to come back: the most
    /// `money::fee_returned` can give (whatever other refunds succeed first) when the channel
    /// that took the payment returns fees pro rata, else 0.
    fn fee_return_reservation(&self, o: &Order, amount_minor: i64) -> i64 {
        let attempt = o.attempts.last().expect("a succeeded order has an attempt");
        let ch = &self.state.channels[usize::from(attempt.channel_slot)];
        match ch.refund_fee {
            RefundFeePolicy::ProRata => {
                money::fee_returned_bound(o.fee_minor, o.amount_minor, amount_minor)
            }
            RefundFeePolicy::Keep => 0,
        }
    }

    /// Voids refund `r`'s reserved fee return and, when it succeeded, books the fee its channel
    /// returns: `money::fee_returned` over what the payment's succeeded refunds covered before
    /// it (so its refunds, in whatever order they succeed, return exactly the fee in total).
    /// Runs before `Order::release_refund` counts the refund as refunded.
    fn settle_fee_return(&mut self, slot: u32, r: &Refund, succeeded: bool) {
        let reserved = r.fee_return_reserved_minor;
        if reserved == 0 {
            return;
        }
        let o = &self.state.orders[r.order_slot as usize];
        let c = o.currency_slot;
        let returned = match succeeded {
            true => money::fee_returned(
                o.fee_minor,
                o.amount_minor,
                r.fee_before_minor,
                r.amount_minor,
            ),
            false => 0,
        };
        assert!(
            (0..=reserved).contains(&returned),
            "a returned fee is within its reservation"
        );
        let ledger = &mut self.state.ledger;
        let (rx, fee_expense) = (
            ledger.channel_receivable(c, r.channel_slot),
            ledger.fee_expense(c),
        );
        ledger.void_reserved(rx, fee_expense, reserved);
        ledger.post(rx, fee_expense, returned);
        let book = &mut self.state.channels[r.channel_slot as usize].books[usize::from(c)];
        book.fees_returned_minor += returned as u128;
        self.state.refunds[slot as usize].fee_returned_minor = returned;
    }

    /// Expires refunds whose deadline has passed, at most `budget` of them: failed (policy Legacy)
    /// or Unknown.
    pub(crate) fn expire_refunds(&mut self, meta: &InputMeta, budget: &mut u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let Some(head) = self.state.channels[channel_slot].refunds_in_flight.front() else {
                    break;
                };
                if self.state.refunds[head.index() as usize].deadline_ns > now {
                    break;
                }
                *budget -= 1;
                self.counters.timeouts += 1;
                if self.state.channels[channel_slot].unknown_policy == UnknownPolicy::Legacy {
                    let reason = ReasonCode::ChannelTimeout;
                    self.finish_refund(meta, head.index(), false, reason, out);
                } else {
                    // Only the channel's word fails a refund: ask it (refund_queries.rs).
                    self.refund_deadline_passed(meta, head.index(), out);
                }
            }
        }
    }

    fn answer_refund_resend(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        self.counters.duplicates += 1;
        self.push_refund_ack(meta, slot, true, out);
        if self.state.refunds[slot as usize].state.is_final() {
            self.push_refund_result(meta, slot, true, out);
        }
    }

    fn push_refund_rejected(
        &mut self,
        meta: &InputMeta,
        req: &RefundRequest,
        order_id: u64,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        let ack = RefundAck {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            refund_request_id: req.refund_request_id,
            order_id,
            refund_id: 0,
            status: AckStatus::Rejected,
            reason,
            risk_action: RiskAction::None,
            risk_rule_id: 0,
            duplicate: false,
            sequence: meta.seq,
        };
        out.push(
            Dest::acquirer(meta.principal_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    fn push_refund_ack(&mut self, meta: &InputMeta, slot: u32, duplicate: bool, out: &mut Outbox) {
        let r = &self.state.refunds[slot as usize];
        let rejected = r.state == RefundStatus::Rejected;
        let ack = RefundAck {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            refund_request_id: r.refund_request_id,
            order_id: r.order_id,
            refund_id: if rejected { 0 } else { r.id },
            status: if rejected {
                AckStatus::Rejected
            } else {
                AckStatus::Accepted
            },
            reason: if rejected { r.reason } else { ReasonCode::None },
            risk_action: r.risk_action,
            risk_rule_id: r.risk_rule_id,
            duplicate,
            sequence: meta.seq,
        };
        out.push(
            Dest::acquirer(r.acquirer_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    fn push_refund_result(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        duplicate: bool,
        out: &mut Outbox,
    ) {
        let r = &self.state.refunds[slot as usize];
        let succeeded = r.state == RefundStatus::Succeeded;
        let mut reversal = ArrayVec::new();
        if succeeded {
            for (line, &(part, _)) in self.order_split(r.order_id).iter().zip(r.reversal.iter()) {
                if part != 0 {
                    reversal.push(SplitLine {
                        role: line.role,
                        party_id: self.party_id(line.party_slot),
                        amount_minor: part,
                    });
                }
            }
        }
        let result = RefundResult {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            refund_request_id: r.refund_request_id,
            order_id: r.order_id,
            refund_id: r.id,
            status: if succeeded {
                FinalStatus::Succeeded
            } else {
                FinalStatus::Failed
            },
            reason: r.reason,
            amount_minor: r.amount_minor,
            currency: r.currency,
            duplicate,
            sequence: meta.seq,
            reversal,
        };
        let session = if duplicate {
            meta.session_id
        } else {
            r.session_id
        };
        out.push(Dest::acquirer(r.acquirer_id, session), meta.seq, &result);
    }
}

/// Each split line's party (if any), due day and whether it is held for a manual release.
fn due_lines(split: &[crate::state::Line]) -> ArrayVec<(Option<Slot>, u32, bool), MAX_SPLIT_LINES> {
    split
        .iter()
        .map(|l| (l.party_slot, u32::from(l.due_day), l.held))
        .collect()
}
