//! Refunds (full, partial, several per payment; each reverses the split in proportion) and
//! withdrawals from a merchant's available balance.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AckStatus, ChannelOutcome, Chars, FinalStatus, MAX_REFUNDS_PER_ORDER, MAX_SPLIT_LINES, Message,
    OrderState, PartyRole, ReasonCode, RefundAck, RefundChannelResult, RefundDispatch,
    RefundRequest, RefundResult, RefundState, RiskAction, RuleTarget, SplitLine, WithdrawRequest,
    WithdrawResult,
};

use crate::core::{Engine, request_hash};
use crate::input::InputMeta;
use crate::ledger::{AccountId, PartyAccount};
use crate::money::allocate;
use crate::outbox::{Dest, Outbox};
use crate::state::{NONE, Refund, Withdrawal};

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
        let (order_slot, reversal) = match self.validate_refund(acquirer, req) {
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
        let slot = self.create_refund(
            meta,
            req,
            hash,
            order_slot,
            reversal,
            verdict.action as u8,
            verdict.rule_id,
        );
        if verdict.action == RiskAction::Block {
            self.counters.refunds_rejected += 1;
            let r = &mut self.state.refunds[slot as usize];
            r.reason = ReasonCode::RiskBlocked as u16;
            return self.push_refund_ack(meta, slot, false, out);
        }
        self.reserve_refund(slot);
        self.push_refund_ack(meta, slot, false, out);
        self.dispatch_refund(meta, slot, out);
    }

    /// Checks a refund and computes its reversal per split line. Changes nothing.
    #[allow(clippy::type_complexity)]
    fn validate_refund(
        &self,
        acquirer: u32,
        req: &RefundRequest,
    ) -> Result<(u32, ArrayVec<(i64, bool), MAX_SPLIT_LINES>), (u64, ReasonCode)> {
        let order_slot = self
            .index
            .orders
            .get(acquirer, req.payment_request_id)
            .ok_or((0, ReasonCode::UnknownOrder))?;
        let order_id = u64::from(order_slot) + 1;
        let o = &self.state.orders[order_slot as usize];
        let fail = |reason| Err((order_id, reason));
        if o.state != OrderState::Succeeded as u8 {
            return fail(ReasonCode::OrderNotSucceeded);
        }
        if req.amount_minor <= 0 {
            return fail(ReasonCode::AmountNotPositive);
        }
        let refundable = o.amount_minor - o.refunded_minor - o.refund_pending_minor;
        if req.amount_minor > refundable {
            return fail(ReasonCode::RefundExceedsCaptured);
        }
        if self.state.refunds.len() >= self.state.limits.refunds_max as usize
            || usize::from(o.refund_count) >= MAX_REFUNDS_PER_ORDER
        {
            return fail(ReasonCode::RefundsFull);
        }
        let weights: ArrayVec<i128, MAX_SPLIT_LINES> =
            o.split.iter().map(|l| i128::from(l.amount_minor)).collect();
        let mut parts = [0i64; MAX_SPLIT_LINES];
        if !allocate(req.amount_minor, &weights, &mut parts) {
            return fail(ReasonCode::InvalidField);
        }
        let mut reversal = ArrayVec::new();
        for (line, &part) in o.split.iter().zip(parts.iter()) {
            let due_day = u32::from(line.due_day);
            let from_pending = line.party_slot != NONE && due_day > self.state.settled_through_day;
            if line.party_slot != NONE && part > 0 {
                let which = if from_pending {
                    PartyAccount::Pending
                } else {
                    PartyAccount::Available
                };
                let ledger = &self.state.ledger;
                let account = ledger.party(o.currency_slot, line.party_slot, which);
                let due_left = if from_pending {
                    self.due_amount(line.party_slot, due_day, o.currency_slot)
                } else {
                    i64::MAX
                };
                if ledger.account(account).spendable() < i128::from(part) || due_left < part {
                    return fail(ReasonCode::InsufficientBalance);
                }
            }
            reversal.push((part, from_pending));
        }
        Ok((order_slot, reversal))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_refund(
        &mut self,
        meta: &InputMeta,
        req: &RefundRequest,
        hash: u64,
        order_slot: u32,
        reversal: ArrayVec<(i64, bool), MAX_SPLIT_LINES>,
        risk_action: u8,
        risk_rule_id: u32,
    ) -> u32 {
        let slot = self.state.refunds.len() as u32;
        let now = self.state.now_ns;
        let o = &self.state.orders[order_slot as usize];
        let channel_slot = o
            .attempts
            .last()
            .map_or(NONE, |a| u32::from(a.channel_slot));
        self.state.refunds.push(Refund {
            refund_request_id: req.refund_request_id,
            request_hash: hash,
            acquirer_id: meta.principal_id,
            order_slot,
            amount_minor: req.amount_minor,
            state: 0,
            reason: ReasonCode::None as u16,
            risk_action,
            risk_rule_id,
            session_id: meta.session_id,
            channel_slot,
            created_ns: now,
            updated_ns: now,
            deadline_ns: 0,
            channel_ref: [0; 24],
            reversal,
            next_in_order: NONE,
            inflight_prev: NONE,
            inflight_next: NONE,
        });
        self.index
            .refunds
            .insert(meta.principal_id, req.refund_request_id, slot);
        slot
    }

    /// The account a reversal line debits.
    fn reversal_account(&self, order_slot: u32, line: usize, from_pending: bool) -> AccountId {
        let o = &self.state.orders[order_slot as usize];
        let l = &o.split[line];
        let ledger = &self.state.ledger;
        let c = o.currency_slot;
        match PartyRole::from_wire(l.role) {
            Some(PartyRole::Platform) => ledger.platform_revenue(c),
            Some(PartyRole::ChannelFee) => ledger.fee_expense(c),
            _ if from_pending => ledger.party(c, l.party_slot, PartyAccount::Pending),
            _ => ledger.party(c, l.party_slot, PartyAccount::Available),
        }
    }

    /// Reserves the refund's transfers and takes its pending parts out of the settlement queues.
    fn reserve_refund(&mut self, slot: u32) {
        let r = self.state.refunds[slot as usize].clone();
        let o = &self.state.orders[r.order_slot as usize];
        let (c, amount) = (o.currency_slot, r.amount_minor);
        let lines: ArrayVec<(u32, u32), MAX_SPLIT_LINES> = o
            .split
            .iter()
            .map(|l| (l.party_slot, u32::from(l.due_day)))
            .collect();
        let ledger = &mut self.state.ledger;
        let clearing = ledger.clearing(c);
        let rx = ledger.channel_receivable(c, r.channel_slot);
        ledger.reserve(clearing, rx, amount);
        for (i, &(part, from_pending)) in r.reversal.iter().enumerate() {
            let account = self.reversal_account(r.order_slot, i, from_pending);
            self.state.ledger.reserve(account, clearing, part);
            let (party_slot, due_day) = lines[i];
            if from_pending && party_slot != NONE {
                self.take_due(party_slot, due_day, c, part);
            }
        }
        let now = self.state.now_ns;
        let o = &mut self.state.orders[r.order_slot as usize];
        o.refund_pending_minor += amount;
        let tail = o.refund_tail;
        o.refund_tail = slot;
        o.refund_count += 1;
        if tail == NONE {
            o.refund_head = slot;
        }
        o.updated_ns = now;
        if tail != NONE {
            self.state.refunds[tail as usize].next_in_order = slot;
        }
        self.state.refunds[slot as usize].state = RefundState::Pending as u8;
    }

    fn dispatch_refund(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let r = &self.state.refunds[slot as usize];
        let channel_slot = r.channel_slot;
        let o = &self.state.orders[r.order_slot as usize];
        let ch = &self.state.channels[channel_slot as usize];
        let mut deadline = self
            .state
            .now_ns
            .saturating_add(u64::from(ch.timeout_ms) * 1_000_000);
        if ch.refunds_tail != NONE {
            deadline = deadline.max(self.state.refunds[ch.refunds_tail as usize].deadline_ns);
        }
        let dispatch = RefundDispatch {
            refund_id: u64::from(slot) + 1,
            order_id: u64::from(r.order_slot) + 1,
            channel_id: ch.id,
            amount_minor: r.amount_minor,
            currency: o.currency,
            deadline_ns: deadline,
            payment_channel_ref: Chars(o.channel_ref),
        };
        let channel_id = ch.id;
        self.state.refunds[slot as usize].deadline_ns = deadline;
        self.link_refund(slot, channel_slot);
        out.push(Dest::channel(channel_id), meta.seq, &dispatch);
    }

    fn link_refund(&mut self, slot: u32, channel_slot: u32) {
        let tail = self.state.channels[channel_slot as usize].refunds_tail;
        {
            let r = &mut self.state.refunds[slot as usize];
            r.inflight_prev = tail;
            r.inflight_next = NONE;
        }
        if tail == NONE {
            self.state.channels[channel_slot as usize].refunds_head = slot;
        } else {
            self.state.refunds[tail as usize].inflight_next = slot;
        }
        self.state.channels[channel_slot as usize].refunds_tail = slot;
    }

    fn unlink_refund(&mut self, slot: u32) {
        let (prev, next, channel_slot) = {
            let r = &mut self.state.refunds[slot as usize];
            let links = (r.inflight_prev, r.inflight_next, r.channel_slot);
            r.inflight_prev = NONE;
            r.inflight_next = NONE;
            links
        };
        let ch = channel_slot as usize;
        if prev == NONE {
            self.state.channels[ch].refunds_head = next;
        } else {
            self.state.refunds[prev as usize].inflight_next = next;
        }
        if next == NONE {
            self.state.channels[ch].refunds_tail = prev;
        } else {
            self.state.refunds[next as usize].inflight_prev = prev;
        }
    }

    pub(crate) fn handle_refund_result(
        &mut self,
        meta: &InputMeta,
        res: &RefundChannelResult,
        out: &mut Outbox,
    ) {
        let template = RefundChannelResult::TEMPLATE_ID;
        let slot = res.refund_id.wrapping_sub(1);
        if slot >= self.state.refunds.len() as u64 {
            return self.reject(
                meta,
                template,
                res.refund_id,
                ReasonCode::UnknownOrder,
                "no such refund",
                out,
            );
        }
        let slot = slot as u32;
        let r = &self.state.refunds[slot as usize];
        if r.state != RefundState::Pending as u8 {
            self.counters.stale_results += 1;
            return self.reject(
                meta,
                template,
                res.refund_id,
                ReasonCode::StaleAttempt,
                "refund is not pending",
                out,
            );
        }
        let channel_id = self.state.channels[r.channel_slot as usize].id;
        if u32::from(channel_id) != meta.principal_id {
            return self.reject(
                meta,
                template,
                res.refund_id,
                ReasonCode::WrongChannel,
                "refund belongs to another channel",
                out,
            );
        }
        self.state.refunds[slot as usize].channel_ref = res.channel_ref.0;
        let succeeded = res.outcome == ChannelOutcome::Succeeded;
        self.finish_refund(meta, slot, succeeded, ReasonCode::ChannelDeclined, out);
    }

    /// Posts (success) or voids (failure) the refund's reserved transfers and answers the acquirer.
    fn finish_refund(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        succeeded: bool,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        self.unlink_refund(slot);
        let r = self.state.refunds[slot as usize].clone();
        let o = &self.state.orders[r.order_slot as usize];
        let c = o.currency_slot;
        let lines: ArrayVec<(u32, u32), MAX_SPLIT_LINES> = o
            .split
            .iter()
            .map(|l| (l.party_slot, u32::from(l.due_day)))
            .collect();
        let clearing = self.state.ledger.clearing(c);
        let rx = self.state.ledger.channel_receivable(c, r.channel_slot);
        for (i, &(part, from_pending)) in r.reversal.iter().enumerate() {
            let account = self.reversal_account(r.order_slot, i, from_pending);
            if succeeded {
                self.state.ledger.post_reserved(account, clearing, part);
            } else {
                self.state.ledger.void_reserved(account, clearing, part);
                let (party_slot, due_day) = lines[i];
                if from_pending && party_slot != NONE {
                    self.restore_due(party_slot, due_day, c, part);
                }
            }
        }
        if succeeded {
            self.state
                .ledger
                .post_reserved(clearing, rx, r.amount_minor);
        } else {
            self.state
                .ledger
                .void_reserved(clearing, rx, r.amount_minor);
        }
        let now = self.state.now_ns;
        let o = &mut self.state.orders[r.order_slot as usize];
        o.refund_pending_minor -= r.amount_minor;
        if succeeded {
            o.refunded_minor += r.amount_minor;
        }
        o.updated_ns = now;
        let refund = &mut self.state.refunds[slot as usize];
        refund.updated_ns = now;
        if succeeded {
            refund.state = RefundState::Succeeded as u8;
            self.counters.refunds_succeeded += 1;
        } else {
            refund.state = RefundState::Failed as u8;
            refund.reason = reason as u16;
            self.counters.refunds_failed += 1;
        }
        self.push_refund_result(meta, slot, false, out);
    }

    /// Expires refunds whose deadline has passed, at most `budget` of them.
    pub(crate) fn expire_refunds(&mut self, meta: &InputMeta, budget: &mut u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let head = self.state.channels[channel_slot].refunds_head;
                if head == NONE || self.state.refunds[head as usize].deadline_ns > now {
                    break;
                }
                *budget -= 1;
                self.counters.timeouts += 1;
                self.finish_refund(meta, head, false, ReasonCode::ChannelTimeout, out);
            }
        }
    }

    fn answer_refund_resend(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        self.counters.duplicates += 1;
        self.push_refund_ack(meta, slot, true, out);
        let state = self.state.refunds[slot as usize].state;
        if state == RefundState::Succeeded as u8 || state == RefundState::Failed as u8 {
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
        let rejected = r.state == 0;
        let ack = RefundAck {
            refund_request_id: r.refund_request_id,
            order_id: u64::from(r.order_slot) + 1,
            refund_id: if rejected { 0 } else { u64::from(slot) + 1 },
            status: if rejected {
                AckStatus::Rejected
            } else {
                AckStatus::Accepted
            },
            reason: if rejected {
                ReasonCode::from_wire(r.reason).unwrap_or(ReasonCode::None)
            } else {
                ReasonCode::None
            },
            risk_action: RiskAction::from_wire(r.risk_action).unwrap_or_default(),
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
        let o = &self.state.orders[r.order_slot as usize];
        let succeeded = r.state == RefundState::Succeeded as u8;
        let mut reversal = ArrayVec::new();
        if succeeded {
            for (line, &(part, _)) in o.split.iter().zip(r.reversal.iter()) {
                if part != 0 {
                    reversal.push(SplitLine {
                        role: PartyRole::from_wire(line.role).unwrap_or_default(),
                        party_id: self.party_id(line.party_slot),
                        amount_minor: part,
                    });
                }
            }
        }
        let result = RefundResult {
            refund_request_id: r.refund_request_id,
            order_id: u64::from(r.order_slot) + 1,
            refund_id: u64::from(slot) + 1,
            status: if succeeded {
                FinalStatus::Succeeded
            } else {
                FinalStatus::Failed
            },
            reason: ReasonCode::from_wire(r.reason).unwrap_or(ReasonCode::None),
            amount_minor: r.amount_minor,
            currency: o.currency,
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
        if let Some(slot) = self
            .index
            .withdrawals
            .get(acquirer, req.withdraw_request_id)
        {
            let w = &self.state.withdrawals[slot as usize];
            if w.request_hash != hash {
                let msg = withdraw_result(
                    req,
                    0,
                    FinalStatus::Failed,
                    ReasonCode::DuplicateRequestMismatch,
                    0,
                    false,
                    meta.seq,
                );
                return out.push(dest, meta.seq, &msg);
            }
            self.counters.duplicates += 1;
            let msg = WithdrawResult {
                withdraw_request_id: w.withdraw_request_id,
                withdrawal_id: u64::from(slot) + 1,
                merchant_id: w.merchant_id,
                currency: w.currency,
                amount_minor: w.amount_minor,
                status: FinalStatus::Succeeded,
                reason: ReasonCode::None,
                available_after_minor: w.available_after_minor,
                duplicate: true,
                sequence: meta.seq,
            };
            return out.push(dest, meta.seq, &msg);
        }
        let (account, c) = match self.validate_withdraw(acquirer, req) {
            Ok(v) => v,
            Err(reason) => {
                let msg = withdraw_result(req, 0, FinalStatus::Failed, reason, 0, false, meta.seq);
                return out.push(dest, meta.seq, &msg);
            }
        };
        let ledger = &mut self.state.ledger;
        ledger.post(account, ledger.payouts(c), req.amount_minor);
        let after = ledger.account(account).spendable();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let slot = self.state.withdrawals.len() as u32;
        self.state.withdrawals.push(Withdrawal {
            withdraw_request_id: req.withdraw_request_id,
            request_hash: hash,
            acquirer_id: acquirer,
            merchant_id: req.merchant_id,
            currency: req.currency,
            amount_minor: req.amount_minor,
            status: FinalStatus::Succeeded as u8,
            reason: ReasonCode::None as u16,
            available_after_minor: after,
        });
        self.index
            .withdrawals
            .insert(acquirer, req.withdraw_request_id, slot);
        self.counters.withdrawals += 1;
        let msg = withdraw_result(
            req,
            u64::from(slot) + 1,
            FinalStatus::Succeeded,
            ReasonCode::None,
            after,
            false,
            meta.seq,
        );
        out.push(dest, meta.seq, &msg);
    }

    fn validate_withdraw(
        &self,
        acquirer: u32,
        req: &WithdrawRequest,
    ) -> Result<(AccountId, u8), ReasonCode> {
        let &m = self
            .index
            .merchants
            .get(&req.merchant_id)
            .ok_or(ReasonCode::UnknownMerchant)?;
        let m = &self.state.merchants[m as usize];
        if m.acquirer_id != acquirer {
            return Err(ReasonCode::MerchantNotOwned);
        }
        if req.amount_minor <= 0 {
            return Err(ReasonCode::AmountNotPositive);
        }
        let c = self
            .state
            .limits
            .currencies
            .iter()
            .position(|c| *c == req.currency)
            .ok_or(ReasonCode::CurrencyNotAccepted)? as u8;
        if self.state.withdrawals.len() >= self.state.limits.withdrawals_max as usize {
            return Err(ReasonCode::WithdrawalsFull);
        }
        let account = self
            .state
            .ledger
            .party(c, m.party_slot, PartyAccount::Available);
        if self.state.ledger.account(account).spendable() < i128::from(req.amount_minor) {
            return Err(ReasonCode::InsufficientBalance);
        }
        Ok((account, c))
    }
}

fn withdraw_result(
    req: &WithdrawRequest,
    withdrawal_id: u64,
    status: FinalStatus,
    reason: ReasonCode,
    available_after_minor: i64,
    duplicate: bool,
    sequence: u64,
) -> WithdrawResult {
    WithdrawResult {
        withdraw_request_id: req.withdraw_request_id,
        withdrawal_id,
        merchant_id: req.merchant_id,
        currency: req.currency,
        amount_minor: req.amount_minor,
        status,
        reason,
        available_after_minor,
        duplicate,
        sequence,
    }
}
