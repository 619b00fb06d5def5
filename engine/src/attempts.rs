//! A payment's attempts: dispatch to a channel, the channel's result (or its deadline on a pulse),
//! failover to the next candidate, and the end of the order: cleared, split and posted on success,
//! or failed. A channel's pending attempts are in its in-flight list, oldest deadline first. What
//! happens once a deadline passes on a channel that asks is in controls.rs.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AttemptStatus, CandidateDecision, ChannelOutcome, ChannelResult, Chars, Dispatch, HealthAlert,
    Message, OrderState, PartyRole, ReasonCode, SkipReason, UnknownPolicy,
};

use crate::core::{Engine, day_of};
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::outbox::{Dest, Outbox};
use crate::routing::{self, AttemptOutcome, HealthChange, RouteRequest};
use crate::split::{self, Lines, Payee, Rates, day_u16};
use crate::state::{Attempt, Links, Slot};

impl Engine {
    /// Sends the next attempt of order `slot` to the channel in `channel_slot`.
    pub(crate) fn dispatch_attempt(
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
        if let Some(tail) = ch.attempts_in_flight.back() {
            // Keep the in-flight list in deadline order even after a shorter timeout is configured.
            let tail = &self.state.orders[tail.index() as usize];
            if let Some(a) = tail.attempts.last() {
                deadline = deadline.max(a.deadline_ns);
            }
        }
        let channel_id = ch.id;
        let o = &mut self.state.orders[slot as usize];
        o.begin_attempt(
            Attempt {
                channel_id,
                channel_slot: u16::try_from(channel_slot)
                    .expect("channel slots are below channels_max (at most 256)"),
                status: AttemptStatus::Pending,
                probe,
                channel_code: 0,
                latency_us: 0,
                dispatched_ns: now,
                deadline_ns: deadline,
                next_ask_ns: 0,
                controls: Links::default(),
            },
            now,
        );
        let dispatch = Dispatch {
            order_id: o.id,
            attempt: o.attempts.len() as u8,
            channel_id,
            merchant_id: o.merchant_id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            method: o.method,
            scene: o.scene,
            deadline_ns: deadline,
            at_ns: now,
        };
        let (c, amount) = (o.currency_slot, o.amount_minor);
        let ledger = &mut self.state.ledger;
        ledger.reserve(
            ledger.channel_receivable(c, channel_slot),
            ledger.clearing(c),
            amount,
        );
        self.state.channels[channel_slot as usize]
            .attempts_in_flight
            .push_back(&mut self.state.orders, Slot::new(slot));
        out.push(Dest::channel(channel_id), meta.seq, &dispatch);
    }

    pub(crate) fn handle_channel_result(
        &mut self,
        meta: &InputMeta,
        res: &ChannelResult,
        out: &mut Outbox,
    ) {
        let slot = match self.pending_attempt_of(meta, res) {
            Ok(slot) => slot,
            Err((reason, why)) => {
                // Not pending: the answer to an attempt whose outcome is unknown, or a capture the
                // payment does not keep (controls.rs), or else stale.
                let settled = match reason {
                    ReasonCode::StaleAttempt => self.settled_attempt_result(meta, res, why, out),
                    _ => Err((reason, why)),
                };
                let Err((reason, why)) = settled else {
                    return;
                };
                self.counters.stale_results += u64::from(reason == ReasonCode::StaleAttempt);
                let template = ChannelResult::TEMPLATE_ID;
                return self.reject(meta, template, res.order_id, reason, why, out);
            }
        };
        let outcome = match res.outcome {
            ChannelOutcome::Succeeded => AttemptOutcome::Succeeded,
            ChannelOutcome::Declined => AttemptOutcome::Declined,
            ChannelOutcome::RetryableError => AttemptOutcome::RetryableError,
        };
        let latency = Some(res.latency_us);
        self.finish_attempt(meta, slot, outcome, res.channel_code, latency, out);
        match res.outcome {
            ChannelOutcome::Succeeded => self.keep_capture(meta, slot, &res.channel_ref, out),
            ChannelOutcome::Declined => {
                let ctx = self.order_risk_context(&self.state.orders[slot as usize]);
                self.state.risk.record_decline(&ctx, self.state.now_ns);
                self.finish_failed(meta, slot, ReasonCode::ChannelDeclined, out);
            }
            ChannelOutcome::RetryableError => self.failover(meta, slot, out),
        }
    }

    /// The slot of the order whose pending attempt `res` answers, or why it answers none.
    fn pending_attempt_of(
        &self,
        meta: &InputMeta,
        res: &ChannelResult,
    ) -> Result<u32, (ReasonCode, &'static str)> {
        let Some(slot) = self.order_slot_of(res.order_id) else {
            return Err(self.missing_order(res.order_id));
        };
        let o = &self.state.orders[slot as usize];
        let pending = o.state == OrderState::InFlight
            && usize::from(res.attempt) == o.attempts.len()
            && o.pending_attempt().is_some();
        let Some(attempt) = o.pending_attempt().filter(|_| pending) else {
            return Err((ReasonCode::StaleAttempt, "attempt is not pending"));
        };
        if u32::from(attempt.channel_id) != meta.principal_id {
            let why = "attempt belongs to another channel";
            return Err((ReasonCode::WrongChannel, why));
        }
        Ok(slot)
    }

    /// Closes the pending attempt: list, statistics, health, and the reserved transfer unless it
    /// succeeded (success posts it).
    fn finish_attempt(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        outcome: AttemptOutcome,
        channel_code: u16,
        latency_us: Option<u32>,
        out: &mut Outbox,
    ) {
        let now = self.state.now_ns;
        let o = &mut self.state.orders[slot as usize];
        let status = outcome.status();
        let attempt = o.close_attempt(status, channel_code, latency_us.unwrap_or(0), now);
        let (method, c, amount) = (o.method, o.currency_slot, o.amount_minor);
        let channel_slot = u32::from(attempt.channel_slot);
        self.state.channels[channel_slot as usize]
            .attempts_in_flight
            .remove(&mut self.state.orders, Slot::new(slot));
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
    pub(crate) fn failover(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        if o.attempts.len() >= usize::from(self.state.limits.attempts_max) {
            return self.finish_failed(meta, slot, ReasonCode::AttemptsExhausted, out);
        }
        let mut tried: ArrayVec<u16, 4> = ArrayVec::new();
        for a in &o.attempts {
            tried.push(a.channel_id);
        }
        let req = RouteRequest {
            order_id: o.id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            currency_slot: o.currency_slot,
            method: o.method,
        };
        // Ranked candidates first (best first), then the ones skipped at first, re-checked now.
        let next = o.candidates.iter().position(|c| {
            c.skip_reason != SkipReason::ZeroWeight
                && c.channel_slot.is_some_and(|s| {
                    let ch = &self.state.channels[usize::from(s.index())];
                    routing::skip_reason(ch, &req, &tried) == SkipReason::None
                })
        });
        let Some(i) = next else {
            return self.finish_failed(meta, slot, ReasonCode::AttemptsExhausted, out);
        };
        let strategy = o.strategy;
        let o = &mut self.state.orders[slot as usize];
        let candidate = &mut o.candidates[i];
        candidate.decision = CandidateDecision::Chosen;
        candidate.skip_reason = SkipReason::None;
        let channel_slot = candidate.channel_slot.map_or(0, |s| u32::from(s.index()));
        self.counters.strategies[strategy as usize - 1].1 += 1;
        self.dispatch_attempt(meta, slot, channel_slot, out);
    }

    pub(crate) fn finish_failed(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        self.state.orders[slot as usize].fail(reason, self.state.now_ns);
        if self.state.installments.pending != 0 {
            self.installment_order_failed(slot);
        }
        let o = &self.state.orders[slot as usize];
        let first = o.attempts.first().map(|a| usize::from(a.channel_slot));
        let method = o.method;
        if let Some(ch) = first {
            routing::record_payment(&mut self.state.channels[ch], method, false);
        }
        self.counters.failed += 1;
        self.push_result(meta, &self.state.orders[slot as usize], false, out);
    }

    /// Clears a succeeded payment: posts it, books the fee (`fee`: `capture_fee`'s, which found
    /// that the capture fits the money limits), splits it and credits every party.
    pub(crate) fn complete_success(
        &mut self,
        meta: &InputMeta,
        slot: u32,
        fee: i64,
        channel_ref: &Chars<24>,
        out: &mut Outbox,
    ) {
        let o = &self.state.orders[slot as usize];
        let attempt = *o
            .attempts
            .last()
            .expect("a succeeded payment has an attempt");
        let (c, amount, method) = (o.currency_slot, o.amount_minor, o.method);
        let channel_slot = u32::from(attempt.channel_slot);
        let mut lines = self.split_of(slot, fee);
        let plan = if self.state.installments.pending != 0 {
            self.installment_fee_lines(slot, &mut lines)
        } else {
            None
        };
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, channel_slot);
        let clearing = ledger.clearing(c);
        ledger.post_reserved(rx, clearing, amount);
        ledger.post(ledger.fee_expense(c), rx, fee);
        for line in &lines {
            let account = match (line.role, line.party_slot) {
                (PartyRole::Platform, _) => ledger.platform_revenue(c),
                (PartyRole::ChannelFee, _) => ledger.fee_expense(c),
                (_, party) => {
                    let party = party.expect("a party's split line names its party");
                    ledger.party(c, party.index(), PartyAccount::Pending)
                }
            };
            ledger.post(clearing, account, line.amount_minor);
        }
        for line in lines.iter_mut() {
            if let Some(party) = line.party_slot {
                // The queue may hold the income on a later day than asked (see push_due): the line
                // records where it really is, so a refund finds it.
                let due = u32::from(line.due_day);
                let party = &mut self.state.parties[party.index() as usize];
                let day = party.add_due(due, line.held, c, line.amount_minor);
                line.due_day = day_u16(day);
            }
        }
        let book = &mut self.state.channels[channel_slot as usize].books[usize::from(c)];
        book.captured_minor += amount as u128;
        book.fees_minor += fee as u128;
        let o = &mut self.state.orders[slot as usize];
        o.succeed(fee, lines, channel_ref.0, self.state.now_ns);
        if let Some(plan) = plan {
            self.open_plan(plan);
        }
        let o = &mut self.state.orders[slot as usize];
        let attempts = o.attempts.len();
        let first = usize::from(o.attempts[0].channel_slot);
        routing::record_payment(&mut self.state.channels[first], method, true);
        self.counters.succeeded += 1;
        self.counters.failed_over += u64::from(attempts > 1);
        self.push_result(meta, &self.state.orders[slot as usize], false, out);
    }

    /// The split lines of order `slot` with channel fee `fee`: its profile's rates, its active
    /// promoters and its merchant's hierarchy, each party's income due after its settlement days.
    fn split_of(&self, slot: u32, fee: i64) -> Lines {
        let s = &self.state;
        let o = &s.orders[slot as usize];
        let m = &s.merchants[o.merchant_slot as usize];
        let profile = &s.profiles[m.profile_slot as usize];
        let today = day_of(s.now_ns, s.limits.utc_offset_secs);
        let payee = |party_slot: u32| {
            let (due_day, held) = self.due_of(party_slot, today);
            Payee {
                party_slot: Slot::new(party_slot),
                due_day,
                held,
            }
        };
        // Promoters: level 1 is the order's promoter, level 2 its parent (both must be active).
        let promoter = self
            .index
            .promoters
            .get(&o.promoter_id)
            .map(|&p| &s.promoters[p as usize])
            .filter(|p| p.active);
        let level2 = promoter
            .and_then(|p| p.parent_slot)
            .map(|p| &s.promoters[p.index() as usize])
            .filter(|p| p.active);
        // The merchant hierarchy shares the merchant's part.
        let parent = m.parent_slot.map(|p| &s.merchants[p.index() as usize]);
        let grandparent = parent
            .and_then(|p| p.parent_slot)
            .map(|g| &s.merchants[g.index() as usize]);
        let payment = split::Payment {
            amount_minor: o.amount_minor,
            fee_minor: fee,
            promoters: [promoter, level2].map(|p| p.map(|p| payee(p.party_slot))),
            hierarchy: [parent, grandparent].map(|m| m.map(|m| payee(m.party_slot))),
            merchant: payee(m.party_slot),
        };
        let rates = Rates::of(profile, o.amount_minor, o.goods_category);
        split::split(&rates, &payment)
    }

    /// Expires attempts whose deadline has passed, at most `budget` of them: timed out and failed
    /// over (policy Legacy) or Unknown.
    pub(crate) fn expire_attempts(&mut self, meta: &InputMeta, budget: &mut u32, out: &mut Outbox) {
        let now = self.state.now_ns;
        for channel_slot in 0..self.state.channels.len() {
            while *budget > 0 {
                let Some(head) = self.state.channels[channel_slot].attempts_in_flight.front()
                else {
                    break;
                };
                let head = head.index();
                let attempt = self.state.orders[head as usize].pending_attempt();
                let deadline = attempt.expect("an order in flight has a pending attempt");
                if deadline.deadline_ns > now {
                    break;
                }
                *budget -= 1;
                self.counters.timeouts += 1;
                if self.state.channels[channel_slot].unknown_policy == UnknownPolicy::Legacy {
                    self.finish_attempt(meta, head, AttemptOutcome::TimedOut, 0, None, out);
                    self.failover(meta, head, out);
                } else {
                    // Unknown, not failed: the channel is asked before anything else (controls.rs).
                    self.attempt_deadline_passed(meta, head, out);
                }
            }
        }
    }
}
