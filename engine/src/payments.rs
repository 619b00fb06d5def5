//! Payments: request → validate → risk → route → dispatch → channel result → success (clear, split,
//! post) or failover or failure; attempt timeouts on pulses.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AckStatus, AttemptStatus, CandidateDecision, ChannelOutcome, ChannelResult, Chars, Dispatch,
    FinalStatus, HealthAlert, MAX_SPLIT_LINES, Message, OrderState, PartyRole, PaymentAck,
    PaymentMethod, PaymentRequest, PaymentResult, ReasonCode, RiskAction, RuleTarget, Scene,
    SkipReason, SplitLine,
};

use crate::core::{Engine, day_of, request_hash};
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::money::{PPB_ONE, allocate};
use crate::outbox::{Dest, Outbox};
use crate::risk::{RiskContext, fingerprint_key, ip_key};
use crate::routing::{self, AttemptOutcome, HealthChange, RouteRequest};
use crate::state::{Attempt, Line, NONE, Order};

/// How far ahead of the input being applied `Engine::prefetch_input` is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookahead {
    /// Two inputs ahead.
    Far,
    /// The next input.
    Near,
}

/// What validation found out about a payment.
struct Valid {
    merchant_slot: u32,
    currency_slot: u8,
}

impl Engine {
    pub(crate) fn handle_payment(
        &mut self,
        meta: &InputMeta,
        body: &[u8],
        block_length: u16,
        req: &PaymentRequest,
        out: &mut Outbox,
    ) {
        let acquirer = meta.principal_id;
        // The idempotency entry and the risk tables of this payer are probably not in cache: start
        // loading them all now, so the misses overlap each other and the validation below (hints
        // only, see `mem::prefetch`; `prefetch_input` may have started the first two already).
        self.index.orders.prefetch(acquirer, req.request_id);
        let ctx = self.payment_risk_context(req);
        self.state.risk.prefetch_sets(&ctx);
        self.state.risk.prefetch_windows(&ctx);
        let hash = request_hash(body, block_length, PaymentRequest::BLOCK_LENGTH);
        if let Some(slot) = self.index.orders.get(acquirer, req.request_id) {
            return self.answer_payment_resend(meta, slot, hash, req.request_id, out);
        }
        let valid = match self.validate_payment(acquirer, req) {
            Ok(v) => v,
            Err(reason) => {
                self.counters.rejected_invalid += 1;
                return self.push_ack_rejected(meta, req.request_id, 0, reason, out);
            }
        };
        if self.state.orders.len() >= self.state.limits.orders_max as usize {
            self.counters.rejected_invalid += 1;
            return self.push_ack_rejected(meta, req.request_id, 0, ReasonCode::OrdersFull, out);
        }
        let now = self.state.now_ns;
        let verdict =
            self.state
                .risk
                .evaluate(RuleTarget::Payment, &ctx, now, &mut self.counters.rule_hits);
        self.state.risk.record_payment(&ctx, now);
        let slot = self.create_order(meta, req, hash, &valid, verdict.action, verdict.rule_id);
        if verdict.action == RiskAction::Block {
            self.counters.rejected_risk += 1;
            self.reject_order(slot, ReasonCode::RiskBlocked);
            return self.push_ack(meta, slot, false, out);
        }
        self.route_new_order(meta, slot, out);
    }

    /// Starts loading the state a payment input will most likely miss in cache, and changes nothing.
    /// A driver that holds the inputs to come calls this before applying the current one, so those
    /// misses overlap the current input's work (the pipeline's processor within a ring batch, replay
    /// and the engine bench): with `Lookahead::Far` two inputs ahead (the idempotency entry and the
    /// payer's velocity table sets), then with `Lookahead::Near` one input ahead (the windows in
    /// those sets, whose place is known once the sets are in cache). Inputs other than a
    /// well-formed PaymentRequest are ignored.
    pub fn prefetch_input(&self, principal_id: u32, sbe: &[u8], lookahead: Lookahead) {
        let Ok((header, body)) = sluice_protocol::split_sbe(sbe) else {
            return;
        };
        if header.template_id != PaymentRequest::TEMPLATE_ID {
            return;
        }
        if let Ok(req) = PaymentRequest::read_body(header.block_length, body) {
            let ctx = self.payment_risk_context(&req);
            match lookahead {
                Lookahead::Far => {
                    self.index.orders.prefetch(principal_id, req.request_id);
                    self.state.risk.prefetch_sets(&ctx);
                }
                Lookahead::Near => self.state.risk.prefetch_windows(&ctx),
            }
        }
    }

    /// `prefetch_input` for the journal payloads (envelope + SBE) of the next input and the one
    /// after it, as a driver that reads ahead holds them. Malformed payloads are ignored.
    pub fn prefetch_payloads(&self, next: Option<&[u8]>, after_next: Option<&[u8]>) {
        for (payload, lookahead) in [(after_next, Lookahead::Far), (next, Lookahead::Near)] {
            if let Some(payload) = payload
                && let Ok(env) = crate::input::read_envelope(payload)
            {
                self.prefetch_input(env.principal_id, env.sbe, lookahead);
            }
        }
    }

    fn validate_payment(&self, acquirer: u32, req: &PaymentRequest) -> Result<Valid, ReasonCode> {
        let &merchant_slot = self
            .index
            .merchants
            .get(&req.merchant_id)
            .ok_or(ReasonCode::UnknownMerchant)?;
        let m = &self.state.merchants[merchant_slot as usize];
        if m.acquirer_id != acquirer {
            return Err(ReasonCode::MerchantNotOwned);
        }
        if !m.active {
            return Err(ReasonCode::MerchantDisabled);
        }
        if req.amount_minor <= 0 {
            return Err(ReasonCode::AmountNotPositive);
        }
        if req.amount_minor < m.min_amount_minor {
            return Err(ReasonCode::AmountBelowMinimum);
        }
        if req.amount_minor > m.max_amount_minor {
            return Err(ReasonCode::AmountAboveMaximum);
        }
        let currency_slot = self
            .state
            .limits
            .currencies
            .iter()
            .position(|c| *c == req.currency)
            .filter(|&slot| m.currency_mask & (1 << slot) != 0)
            .ok_or(ReasonCode::CurrencyNotAccepted)?;
        if req.promoter_id != 0 && !self.index.promoters.contains_key(&req.promoter_id) {
            return Err(ReasonCode::UnknownPromoter);
        }
        Ok(Valid {
            merchant_slot,
            currency_slot: currency_slot as u8,
        })
    }

    fn payment_risk_context(&self, req: &PaymentRequest) -> RiskContext {
        RiskContext {
            merchant_id: req.merchant_id,
            goods_category: req.goods_category,
            amount_minor: req.amount_minor,
            keys: [
                u128::from(req.user_id),
                ip_key(&req.ip),
                u128::from(req.device_id),
                fingerprint_key(&req.card_fingerprint.0),
                u128::from(req.card_bin),
                0,
            ],
        }
    }

    pub(crate) fn order_risk_context(&self, o: &Order) -> RiskContext {
        RiskContext {
            merchant_id: o.merchant_id,
            goods_category: o.goods_category,
            amount_minor: o.amount_minor,
            keys: [
                u128::from(o.user_id),
                o.ip_key,
                u128::from(o.device_id),
                fingerprint_key(&o.card_fingerprint),
                u128::from(o.card_bin),
                0,
            ],
        }
    }

    fn create_order(
        &mut self,
        meta: &InputMeta,
        req: &PaymentRequest,
        hash: u64,
        valid: &Valid,
        risk_action: RiskAction,
        risk_rule_id: u32,
    ) -> u32 {
        let slot = self.state.orders.len() as u32;
        let strategy = self.state.merchants[valid.merchant_slot as usize].strategy;
        self.state.orders.push(Order {
            request_id: req.request_id,
            request_hash: hash,
            acquirer_id: meta.principal_id,
            merchant_slot: valid.merchant_slot,
            merchant_id: req.merchant_id,
            promoter_id: req.promoter_id,
            amount_minor: req.amount_minor,
            currency: req.currency,
            currency_slot: valid.currency_slot,
            method: req.method as u8,
            scene: req.scene as u8,
            goods_category: req.goods_category,
            user_id: req.user_id,
            device_id: req.device_id,
            ip_key: ip_key(&req.ip),
            card_fingerprint: req.card_fingerprint.0,
            card_bin: req.card_bin,
            state: OrderState::InFlight as u8,
            reason: ReasonCode::None as u16,
            risk_action: risk_action as u8,
            risk_rule_id,
            strategy,
            session_id: meta.session_id,
            created_ns: self.state.now_ns,
            updated_ns: self.state.now_ns,
            seq: meta.seq,
            fee_minor: 0,
            refunded_minor: 0,
            refund_pending_minor: 0,
            channel_ref: [0; 24],
            attempts: ArrayVec::new(),
            candidates: ArrayVec::new(),
            split: ArrayVec::new(),
            refund_head: NONE,
            refund_tail: NONE,
            refund_count: 0,
            inflight_prev: NONE,
            inflight_next: NONE,
        });
        self.index
            .orders
            .insert(meta.principal_id, req.request_id, slot);
        slot
    }

    fn reject_order(&mut self, slot: u32, reason: ReasonCode) {
        let o = &mut self.state.orders[slot as usize];
        o.state = OrderState::Rejected as u8;
        o.reason = reason as u16;
    }

    fn route_new_order(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        let req = RouteRequest {
            order_id: u64::from(slot) + 1,
            amount_minor: o.amount_minor,
            currency: o.currency,
            currency_slot: o.currency_slot,
            method: o.method,
        };
        let m = &self.state.merchants[o.merchant_slot as usize];
        let channels_index = &self.index.channels;
        let candidates = routing::rank(
            m,
            &self.state.channels,
            |id| channels_index.get(&id).copied(),
            &req,
            &[],
        );
        let chosen = candidates
            .first()
            .filter(|c| c.decision == CandidateDecision::Chosen as u8)
            .map(|c| (c.channel_slot, c.channel_id));
        let strategy = o.strategy;
        let review = o.risk_action == RiskAction::Review as u8;
        self.state.orders[slot as usize].candidates = candidates;
        let Some((channel_slot, _)) = chosen.map(|(s, id)| (u32::from(s), id)) else {
            self.counters.rejected_no_channel += 1;
            self.reject_order(slot, ReasonCode::NoChannelAvailable);
            return self.push_ack(meta, slot, false, out);
        };
        self.counters.accepted += 1;
        self.counters.reviews += u64::from(review);
        if let Some(s) = self
            .counters
            .strategies
            .get_mut(usize::from(strategy).wrapping_sub(1))
        {
            s.0 += 1;
        }
        self.push_ack(meta, slot, false, out);
        self.dispatch_attempt(meta, slot, channel_slot, out);
    }

    /// Sends the next attempt of order `slot` to the channel in `channel_slot`.
    fn dispatch_attempt(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        channel_slot: u32,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let ch = &mut self.state.channels[channel_slot as usize];
        let probe = routing::on_dispatch(ch);
        let mut deadline = now.saturating_add(u64::from(ch.timeout_ms) * 1_000_000);
        if ch.attempts_tail != NONE {
            // Keep the in-flight list in deadline order even after a shorter timeout is configured.
            let tail = &self.state.orders[ch.attempts_tail as usize];
            if let Some(a) = tail.attempts.last() {
                deadline = deadline.max(a.deadline_ns);
            }
        }
        let channel_id = ch.id;
        let o = &mut self.state.orders[slot as usize];
        o.attempts.push(Attempt {
            channel_id,
            // Channel slots are below channels_max (at most 256).
            channel_slot: channel_slot as u16,
            status: AttemptStatus::Pending as u8,
            probe,
            channel_code: 0,
            latency_us: 0,
            dispatched_ns: now,
            deadline_ns: deadline,
        });
        o.updated_ns = now;
        let attempt = o.attempts.len() as u8;
        let (c, amount) = (o.currency_slot, o.amount_minor);
        let dispatch = Dispatch {
            order_id: u64::from(slot) + 1,
            attempt,
            channel_id,
            merchant_id: o.merchant_id,
            amount_minor: amount,
            currency: o.currency,
            method: PaymentMethod::from_wire(o.method).unwrap_or_default(),
            scene: Scene::from_wire(o.scene).unwrap_or_default(),
            deadline_ns: deadline,
        };
        let ledger = &mut self.state.ledger;
        ledger.reserve(
            ledger.channel_receivable(c, channel_slot),
            ledger.clearing(c),
            amount,
        );
        self.link_attempt(slot, channel_slot);
        out.push(Dest::channel(channel_id), meta.seq, &dispatch);
    }

    fn link_attempt(&mut self, slot: u32, channel_slot: u32) {
        let tail = self.state.channels[channel_slot as usize].attempts_tail;
        {
            let o = &mut self.state.orders[slot as usize];
            o.inflight_prev = tail;
            o.inflight_next = NONE;
        }
        if tail == NONE {
            self.state.channels[channel_slot as usize].attempts_head = slot;
        } else {
            self.state.orders[tail as usize].inflight_next = slot;
        }
        self.state.channels[channel_slot as usize].attempts_tail = slot;
    }

    fn unlink_attempt(&mut self, slot: u32, channel_slot: u32) {
        let (prev, next) = {
            let o = &mut self.state.orders[slot as usize];
            let links = (o.inflight_prev, o.inflight_next);
            o.inflight_prev = NONE;
            o.inflight_next = NONE;
            links
        };
        if prev == NONE {
            self.state.channels[channel_slot as usize].attempts_head = next;
        } else {
            self.state.orders[prev as usize].inflight_next = next;
        }
        if next == NONE {
            self.state.channels[channel_slot as usize].attempts_tail = prev;
        } else {
            self.state.orders[next as usize].inflight_prev = prev;
        }
    }

    pub(crate) fn handle_channel_result(
        &mut self,
        meta: &InputMeta,
        res: &ChannelResult,
        out: &mut Outbox,
    ) {
        let template = ChannelResult::TEMPLATE_ID;
        let slot = res.order_id.wrapping_sub(1);
        if slot >= self.state.orders.len() as u64 {
            return self.reject(
                meta,
                template,
                res.order_id,
                ReasonCode::UnknownOrder,
                "no such order",
                out,
            );
        }
        let slot = slot as u32;
        let o = &self.state.orders[slot as usize];
        let current = o.attempts.len();
        let pending = o.state == OrderState::InFlight as u8
            && usize::from(res.attempt) == current
            && o.attempts
                .last()
                .is_some_and(|a| a.status == AttemptStatus::Pending as u8);
        if !pending {
            self.counters.stale_results += 1;
            return self.reject(
                meta,
                template,
                res.order_id,
                ReasonCode::StaleAttempt,
                "attempt is not pending",
                out,
            );
        }
        let attempt = o.attempts[current - 1];
        if u32::from(attempt.channel_id) != meta.principal_id {
            return self.reject(
                meta,
                template,
                res.order_id,
                ReasonCode::WrongChannel,
                "attempt belongs to another channel",
                out,
            );
        }
        let (outcome, status) = match res.outcome {
            ChannelOutcome::Succeeded => (AttemptOutcome::Succeeded, AttemptStatus::Succeeded),
            ChannelOutcome::Declined => (AttemptOutcome::Declined, AttemptStatus::Declined),
            ChannelOutcome::RetryableError => (
                AttemptOutcome::RetryableError,
                AttemptStatus::RetryableError,
            ),
        };
        self.finish_attempt(
            meta,
            slot,
            outcome,
            status,
            res.channel_code,
            Some(res.latency_us),
            out,
        );
        match res.outcome {
            ChannelOutcome::Succeeded => self.complete_success(meta, slot, &res.channel_ref, out),
            ChannelOutcome::Declined => {
                let ctx = self.order_risk_context(&self.state.orders[slot as usize]);
                self.state.risk.record_decline(&ctx, self.state.now_ns);
                self.finish_failed(meta, slot, ReasonCode::ChannelDeclined, out);
            }
            ChannelOutcome::RetryableError => self.failover(meta, slot, out),
        }
    }

    /// Closes the current attempt: list, statistics, health, and the reserved transfer unless it
    /// succeeded (success posts it).
    #[allow(clippy::too_many_arguments)]
    fn finish_attempt(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        outcome: AttemptOutcome,
        status: AttemptStatus,
        channel_code: u16,
        latency_us: Option<u32>,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        let Some(a) = o.attempts.last_mut() else {
            return;
        };
        a.status = status as u8;
        a.channel_code = channel_code;
        a.latency_us = latency_us.unwrap_or(0);
        let attempt = *a;
        o.updated_ns = now;
        let (method, c, amount) = (o.method, o.currency_slot, o.amount_minor);
        let channel_slot = u32::from(attempt.channel_slot);
        self.unlink_attempt(slot, channel_slot);
        if outcome != AttemptOutcome::Succeeded {
            let ledger = &mut self.state.ledger;
            let rx = ledger.channel_receivable(c, channel_slot);
            ledger.void_reserved(rx, ledger.clearing(c), amount);
        }
        let ch = &mut self.state.channels[channel_slot as usize];
        let change = routing::record_attempt(ch, method, outcome, latency_us, attempt.probe, now);
        if let Some(change) = change {
            self.push_health_alert(meta, channel_slot, change, out);
        }
    }

    pub(crate) fn push_health_alert(
        &mut self,
        meta: &InputMeta,
        channel_slot: u32,
        change: HealthChange,
        out: &mut Outbox,
    ) {
        let ch = &self.state.channels[channel_slot as usize];
        let rate = routing::channel_recent_rate_ppm(ch);
        let alert = HealthAlert {
            channel_id: ch.id,
            from: change.from,
            to: change.to,
            failure_level_milli: ch.failure_level_milli.min(u64::from(u32::MAX)) as u32,
            recent_success_rate_ppm: rate,
            timestamp_ns: self.state.now_ns,
            sequence: meta.seq,
        };
        out.push(Dest::admins(), meta.seq, &alert);
    }

    /// Tries the next candidate, or fails the payment when none is left or attempts are used up.
    fn failover(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        if o.attempts.len() >= usize::from(self.state.limits.attempts_max) {
            return self.finish_failed(meta, slot, ReasonCode::AttemptsExhausted, out);
        }
        let mut tried: ArrayVec<u16, 4> = ArrayVec::new();
        for a in &o.attempts {
            tried.push(a.channel_id);
        }
        let req = RouteRequest {
            order_id: u64::from(slot) + 1,
            amount_minor: o.amount_minor,
            currency: o.currency,
            currency_slot: o.currency_slot,
            method: o.method,
        };
        // Ranked candidates first (best first), then the ones skipped at first, re-checked now.
        let next = o.candidates.iter().position(|c| {
            c.channel_slot != crate::state::NONE16
                && c.skip_reason != SkipReason::ZeroWeight as u8
                && routing::skip_reason(
                    &self.state.channels[usize::from(c.channel_slot)],
                    &req,
                    &tried,
                ) == SkipReason::None
        });
        let Some(i) = next else {
            return self.finish_failed(meta, slot, ReasonCode::AttemptsExhausted, out);
        };
        let strategy = o.strategy;
        let o = &mut self.state.orders[slot as usize];
        o.candidates[i].decision = CandidateDecision::Chosen as u8;
        o.candidates[i].skip_reason = SkipReason::None as u8;
        let channel_slot = u32::from(o.candidates[i].channel_slot);
        if let Some(s) = self
            .counters
            .strategies
            .get_mut(usize::from(strategy).wrapping_sub(1))
        {
            s.1 += 1;
        }
        self.dispatch_attempt(meta, slot, channel_slot, out);
    }

    fn finish_failed(&mut self, meta: &InputMeta, slot: u32, reason: ReasonCode, out: &mut Outbox) {
        let o = &mut self.state.orders[slot as usize];
        o.state = OrderState::Failed as u8;
        o.reason = reason as u16;
        o.updated_ns = self.state.now_ns;
        let first = o.attempts.first().map(|a| usize::from(a.channel_slot));
        let method = o.method;
        if let Some(ch) = first {
            routing::record_payment(&mut self.state.channels[ch], method, false);
        }
        self.counters.failed += 1;
        self.push_result(meta, slot, false, out);
    }

    /// Clears a succeeded payment: posts it, books the fee, splits it and credits every party.
    fn complete_success(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        let o = &self.state.orders[slot as usize];
        let Some(attempt) = o.attempts.last().copied() else {
            return;
        };
        let (c, amount, method) = (o.currency_slot, o.amount_minor, o.method);
        let channel_slot = u32::from(attempt.channel_slot);
        let ch = &self.state.channels[channel_slot as usize];
        let fee = routing::fee_for(ch, method, amount).unwrap_or(0);
        let mut lines = self.compute_split(slot, fee);
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, channel_slot);
        let clearing = ledger.clearing(c);
        ledger.post_reserved(rx, clearing, amount);
        ledger.post(ledger.fee_expense(c), rx, fee);
        for line in &lines {
            let account = match PartyRole::from_wire(line.role) {
                Some(PartyRole::Platform) => ledger.platform_revenue(c),
                Some(PartyRole::ChannelFee) => ledger.fee_expense(c),
                _ => ledger.party(c, line.party_slot, PartyAccount::Pending),
            };
            ledger.post(clearing, account, line.amount_minor);
        }
        for line in lines.iter_mut() {
            if line.party_slot != NONE {
                // The queue may hold the income on a later day than asked (see add_due): the line
                // records where it really is, so a refund finds it.
                let day = self.add_due(
                    line.party_slot,
                    u32::from(line.due_day),
                    c,
                    line.amount_minor,
                );
                line.due_day = day_u16(day);
            }
        }
        let attempts = {
            let o = &mut self.state.orders[slot as usize];
            o.state = OrderState::Succeeded as u8;
            o.fee_minor = fee;
            o.split = lines;
            o.channel_ref = channel_ref.0;
            o.updated_ns = self.state.now_ns;
            o.attempts.len()
        };
        if let Some(first) = self.state.orders[slot as usize]
            .attempts
            .first()
            .map(|a| usize::from(a.channel_slot))
        {
            routing::record_payment(&mut self.state.channels[first], method, true);
        }
        self.counters.succeeded += 1;
        self.counters.failed_over += u64::from(attempts > 1);
        self.push_result(meta, slot, false, out);
    }

    /// The split lines of a payment with channel fee `fee` (see docs/ENGINE.md, "Money").
    fn compute_split(&self, slot: u32, fee: i64) -> ArrayVec<Line, MAX_SPLIT_LINES> {
        let s = &self.state;
        let o = &s.orders[slot as usize];
        let m = &s.merchants[o.merchant_slot as usize];
        let profile = &s.profiles[m.profile_slot as usize];
        let today = day_of(s.now_ns, s.limits.utc_offset_secs);
        let platform_ppb = platform_rate(profile, o.amount_minor, o.goods_category);
        // Promoters: level 1 is the order's promoter, level 2 its parent (both must be active).
        let promoter = self
            .index
            .promoters
            .get(&o.promoter_id)
            .map(|&p| &s.promoters[p as usize])
            .filter(|p| p.active);
        let level2 = promoter
            .filter(|p| p.parent_slot != NONE)
            .map(|p| &s.promoters[p.parent_slot as usize])
            .filter(|p| p.active);
        let l1 = if promoter.is_some() {
            profile.promoter_level1_ppb
        } else {
            0
        };
        let l2 = if level2.is_some() {
            profile.promoter_level2_ppb
        } else {
            0
        };
        let merchant_ppb = (PPB_ONE - platform_ppb - l1 - l2).max(0);
        let mut parts = [0i64; 4];
        if !allocate(
            o.amount_minor,
            &[
                platform_ppb.into(),
                l1.into(),
                l2.into(),
                merchant_ppb.into(),
            ],
            &mut parts,
        ) {
            parts = [0, 0, 0, o.amount_minor];
        }
        let mut lines: ArrayVec<Line, MAX_SPLIT_LINES> = ArrayVec::new();
        let due =
            |party_slot: u32| today + u32::from(s.parties[party_slot as usize].settlement_days);
        push_line(&mut lines, PartyRole::Platform, 0, NONE, parts[0], 0);
        if let Some(p) = promoter {
            push_line(
                &mut lines,
                PartyRole::PromoterLevel1,
                p.id,
                p.party_slot,
                parts[1],
                due(p.party_slot),
            );
        }
        if let Some(p) = level2 {
            push_line(
                &mut lines,
                PartyRole::PromoterLevel2,
                p.id,
                p.party_slot,
                parts[2],
                due(p.party_slot),
            );
        }
        let mut merchant_part = parts[3];
        if profile.merchant_bears_fee {
            let cover = fee.min(merchant_part).max(0);
            merchant_part -= cover;
            push_line(&mut lines, PartyRole::ChannelFee, 0, NONE, cover, 0);
        }
        // The merchant hierarchy shares the merchant's part.
        let parent = (m.parent_slot != NONE).then(|| &s.merchants[m.parent_slot as usize]);
        let grandparent = parent
            .filter(|p| p.parent_slot != NONE)
            .map(|p| &s.merchants[p.parent_slot as usize]);
        let s1 = if parent.is_some() {
            profile.parent_share_ppb
        } else {
            0
        };
        let s2 = if grandparent.is_some() {
            profile.grandparent_share_ppb
        } else {
            0
        };
        let own = (PPB_ONE - s1 - s2).max(0);
        let mut shares = [0i64; 3];
        if !allocate(
            merchant_part,
            &[s2.into(), s1.into(), own.into()],
            &mut shares,
        ) {
            shares = [0, 0, merchant_part];
        }
        if let Some(g) = grandparent {
            push_line(
                &mut lines,
                PartyRole::MerchantGrandparent,
                g.id,
                g.party_slot,
                shares[0],
                due(g.party_slot),
            );
        }
        if let Some(p) = parent {
            push_line(
                &mut lines,
                PartyRole::MerchantParent,
                p.id,
                p.party_slot,
                shares[1],
                due(p.party_slot),
            );
        }
        // The selling merchant's own line is always present, even at zero.
        let _ = lines.try_push(Line {
            role: PartyRole::Merchant as u8,
            party_slot: m.party_slot,
            amount_minor: shares[2],
            due_day: day_u16(due(m.party_slot)),
        });
        debug_assert_eq!(
            lines.iter().map(|l| l.amount_minor).sum::<i64>(),
            o.amount_minor
        );
        lines
    }

    /// Expires attempts whose deadline has passed, at most `budget` of them.
    pub(crate) fn expire_attempts(&mut self, meta: &InputMeta, budget: &mut u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let head = self.state.channels[channel_slot].attempts_head;
                if head == NONE {
                    break;
                }
                let expired = self.state.orders[head as usize]
                    .attempts
                    .last()
                    .is_some_and(|a| a.deadline_ns <= now);
                if !expired {
                    break;
                }
                *budget -= 1;
                self.counters.timeouts += 1;
                self.finish_attempt(
                    meta,
                    head,
                    AttemptOutcome::TimedOut,
                    AttemptStatus::TimedOut,
                    0,
                    None,
                    out,
                );
                self.failover(meta, head, out);
            }
        }
    }

    fn answer_payment_resend(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        hash: u64,
        request_id: u64,
        out: &mut Outbox,
    ) {
        if self.state.orders[slot as usize].request_hash != hash {
            self.counters.rejected_invalid += 1;
            return self.push_ack_rejected(
                meta,
                request_id,
                0,
                ReasonCode::DuplicateRequestMismatch,
                out,
            );
        }
        self.counters.duplicates += 1;
        let state = self.state.orders[slot as usize].state;
        let rejected = state == OrderState::Rejected as u8;
        self.push_ack(meta, slot, true, out);
        if !rejected && state != OrderState::InFlight as u8 {
            self.push_result(meta, slot, true, out);
        }
    }

    fn push_ack_rejected(
        &mut self,
        meta: &InputMeta,
        request_id: u64,
        order_id: u64,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        let ack = PaymentAck {
            request_id,
            order_id,
            status: AckStatus::Rejected,
            reason,
            channel_id: 0,
            risk_action: RiskAction::None,
            risk_rule_id: 0,
            duplicate: false,
            sequence: meta.seq,
            timestamp_ns: self.state.now_ns,
        };
        out.push(
            Dest::acquirer(meta.principal_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    /// The ack of an order as it stands (first answer or a resend's).
    fn push_ack(&mut self, meta: &InputMeta, slot: u32, duplicate: bool, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        let rejected = o.state == OrderState::Rejected as u8;
        let ack = PaymentAck {
            request_id: o.request_id,
            order_id: u64::from(slot) + 1,
            status: if rejected {
                AckStatus::Rejected
            } else {
                AckStatus::Accepted
            },
            reason: ReasonCode::from_wire(o.reason)
                .filter(|_| rejected)
                .unwrap_or(ReasonCode::None),
            // The first answer is pushed before the first attempt is dispatched: the channel
            // chosen for it is the first candidate.
            channel_id: o
                .attempts
                .first()
                .map(|a| a.channel_id)
                .or_else(|| {
                    o.candidates
                        .first()
                        .filter(|c| !rejected && c.decision == CandidateDecision::Chosen as u8)
                        .map(|c| c.channel_id)
                })
                .unwrap_or(0),
            risk_action: RiskAction::from_wire(o.risk_action).unwrap_or_default(),
            risk_rule_id: o.risk_rule_id,
            duplicate,
            sequence: meta.seq,
            timestamp_ns: self.state.now_ns,
        };
        out.push(
            Dest::acquirer(o.acquirer_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    /// The final result of an order, to the session that sent the request (or a resend's session).
    fn push_result(&mut self, meta: &InputMeta, slot: u32, duplicate: bool, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        let succeeded = o.state == OrderState::Succeeded as u8;
        let mut split = ArrayVec::new();
        for l in &o.split {
            split.push(SplitLine {
                role: PartyRole::from_wire(l.role).unwrap_or_default(),
                party_id: self.party_id(l.party_slot),
                amount_minor: l.amount_minor,
            });
        }
        let result = PaymentResult {
            request_id: o.request_id,
            order_id: u64::from(slot) + 1,
            status: if succeeded {
                FinalStatus::Succeeded
            } else {
                FinalStatus::Failed
            },
            reason: ReasonCode::from_wire(o.reason).unwrap_or(ReasonCode::None),
            channel_id: o.attempts.last().map(|a| a.channel_id).unwrap_or(0),
            attempts: o.attempts.len() as u8,
            amount_minor: o.amount_minor,
            currency: o.currency,
            fee_minor: o.fee_minor,
            channel_ref: Chars(o.channel_ref),
            duplicate,
            sequence: meta.seq,
            split,
        };
        let session = if duplicate {
            meta.session_id
        } else {
            o.session_id
        };
        out.push(Dest::acquirer(o.acquirer_id, session), meta.seq, &result);
    }
}

fn push_line(
    lines: &mut ArrayVec<Line, MAX_SPLIT_LINES>,
    role: PartyRole,
    _party_id: u32,
    party_slot: u32,
    amount: i64,
    due_day: u32,
) {
    if amount == 0 {
        return;
    }
    let _ = lines.try_push(Line {
        role: role as u8,
        party_slot,
        amount_minor: amount,
        due_day: day_u16(due_day),
    });
}

/// A day number as a split line stores it (u16 lasts until 2149; later days saturate).
pub(crate) fn day_u16(day: u32) -> u16 {
    u16::try_from(day).unwrap_or(u16::MAX)
}

impl Engine {
    /// The id of the party in `party_slot` (0 for platform and fee lines).
    pub(crate) fn party_id(&self, party_slot: u32) -> u32 {
        self.state
            .parties
            .get(party_slot as usize)
            .map_or(0, |p| p.id)
    }
}

/// The platform rate for an amount and category: category override, else the highest tier reached,
/// else the default.
fn platform_rate(p: &crate::state::SplitProfile, amount: i64, category: u16) -> i64 {
    if let Some(&(_, rate)) = p.categories.iter().find(|(c, _)| *c == category) {
        return rate;
    }
    p.tiers
        .iter()
        .rev()
        .find(|(min, _)| amount >= *min)
        .map(|&(_, rate)| rate)
        .unwrap_or(p.platform_ppb)
}
