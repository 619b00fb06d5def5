//! Payments: request → validate → risk → order → route → first dispatch (attempts.rs takes it from
//! there), and the answers to the acquirer: acks and final results, first or resent.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AckStatus, CandidateDecision, Chars, FinalStatus, Message, OrderState, PaymentAck,
    PaymentRequest, PaymentResult, ReasonCode, RiskAction, RuleTarget, SplitLine,
};

use crate::core::{Engine, request_hash};
use crate::input::InputMeta;
use crate::outbox::{Dest, Outbox};
use crate::retention::Found;
use crate::risk::{Features, RiskContext, Verdict, fingerprint_key, ip_key};
use crate::routing::{self, RouteRequest};
use crate::state::{Links, Order, Slot, slot_id};

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
        let mut ctx = self.payment_risk_context(req);
        self.state.risk.prefetch_sets(&ctx);
        self.state.risk.prefetch_windows(&ctx);
        let hash = request_hash(body, block_length, PaymentRequest::BLOCK_LENGTH);
        let resend = match self.find_order(acquirer, req.request_id) {
            Some(Found::Live(slot)) => {
                let o = &self.state.orders[slot as usize];
                Some(self.answer_payment_resend(meta, o, hash, out))
            }
            Some(Found::Retired(r)) => {
                let o = self.state.retention.receipts[r as usize].to_order(0);
                Some(self.answer_payment_resend(meta, &o, hash, out))
            }
            None => None,
        };
        if let Some(same) = resend {
            self.counters.duplicates += u64::from(same);
            self.counters.rejected_invalid += u64::from(!same);
            return;
        }
        let valid = match self.validate_payment(acquirer, req) {
            Ok(v) => v,
            Err(reason) => {
                self.counters.rejected_invalid += 1;
                return self.push_ack_rejected(meta, req.request_id, 0, reason, out);
            }
        };
        if !self.order_room() {
            self.counters.rejected_invalid += 1;
            return self.push_ack_rejected(meta, req.request_id, 0, ReasonCode::OrdersFull, out);
        }
        if !self.payment_fits(req, valid.merchant_slot, valid.currency_slot) {
            self.counters.rejected_invalid += 1;
            let reason = ReasonCode::BalanceOverflow;
            return self.push_ack_rejected(meta, req.request_id, 0, reason, out);
        }
        let (verdict, features) = self.decide_payment_risk(&mut ctx);
        let slot = self.create_order(meta, req, hash, &valid, verdict, ctx.risk_score);
        if let Some(seen) = &features {
            self.observe_payment(slot, verdict, seen);
        }
        if verdict.action == RiskAction::Block {
            self.counters.rejected_risk += 1;
            self.state.orders[slot as usize].reject(ReasonCode::RiskBlocked);
            return self.push_ack(meta, &self.state.orders[slot as usize], false, out);
        }
        self.route_new_order(meta, slot, out);
        if req.installment_count != 0 {
            self.installment_accepted(slot, req);
        }
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

    /// The payment's risk: its score when a model is loaded (into `ctx.risk_score`, which the rules
    /// may read), then the rules' verdict; then the payment is counted in the velocity windows.
    /// Returns the features too when they were computed (a model or the recorder is on), with the
    /// candidate rules' matches (a backtest's recorder; else 0).
    fn decide_payment_risk(&mut self, ctx: &mut RiskContext) -> (Verdict, Option<(Features, u64)>) {
        let now = self.state.now_ns;
        let features = self
            .score_payment(ctx)
            .map(|f| (f, self.candidate_matches(ctx)));
        let verdict =
            self.state
                .risk
                .evaluate(RuleTarget::Payment, ctx, now, &mut self.counters.rule_hits);
        self.state.risk.record_payment(ctx, now);
        (verdict, features)
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
        if req.installment_count != 0 {
            // A plan (docs/INSTALLMENTS.md): checked after the payment itself.
            self.check_installment_request(req)?;
        }
        Ok(Valid {
            merchant_slot,
            currency_slot: currency_slot as u8,
        })
    }

    /// The risk context of a payment request, as `evaluate` sees it (public for tools that
    /// evaluate other rules against the engine's state: the backtest).
    pub fn payment_risk_context(&self, req: &PaymentRequest) -> RiskContext {
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
            currency: req.currency,
            method: req.method as u8,
            scene: req.scene as u8,
            country: u16::from_be_bytes(req.country.0),
            risk_score: 0,
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
            currency: o.currency,
            method: o.method as u8,
            scene: o.scene as u8,
            // The order does not keep the payer's country.
            country: 0,
            risk_score: o.risk_score,
        }
    }

    fn create_order(
        &mut self,
        meta: &InputMeta,
        req: &PaymentRequest,
        hash: u64,
        valid: &Valid,
        verdict: Verdict,
        risk_score: u8,
    ) -> u32 {
        let (slot, generation) = self.take_order_slot();
        let strategy = self.state.merchants[valid.merchant_slot as usize].strategy;
        let order = Order {
            id: slot_id(slot, generation),
            generation,
            vacant: false,
            request_id: req.request_id,
            request_hash: hash,
            acquirer_id: meta.principal_id,
            merchant_slot: valid.merchant_slot,
            merchant_id: req.merchant_id,
            promoter_id: req.promoter_id,
            amount_minor: req.amount_minor,
            currency: req.currency,
            currency_slot: valid.currency_slot,
            method: req.method,
            scene: req.scene,
            goods_category: req.goods_category,
            user_id: req.user_id,
            device_id: req.device_id,
            ip_key: ip_key(&req.ip),
            card_fingerprint: req.card_fingerprint.0,
            card_bin: req.card_bin,
            state: OrderState::InFlight,
            reason: ReasonCode::None,
            risk_action: verdict.action,
            risk_rule_id: verdict.rule_id,
            risk_score,
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
            refund_head: None,
            refund_tail: None,
            refund_count: 0,
            taken_minor: [0; sluice_protocol::MAX_SPLIT_LINES],
            in_flight: Links::default(),
        };
        self.place_order(slot, order);
        self.index
            .orders
            .insert(meta.principal_id, req.request_id, slot);
        slot
    }

    fn route_new_order(&mut self, meta: &InputMeta, slot: u32, out: &mut Outbox) {
        let o = &self.state.orders[slot as usize];
        let req = RouteRequest {
            order_id: o.id,
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
            .filter(|c| c.decision == CandidateDecision::Chosen)
            .and_then(|c| c.channel_slot);
        let strategy = o.strategy;
        let review = o.risk_action == RiskAction::Review;
        let o = &mut self.state.orders[slot as usize];
        o.candidates = candidates;
        let Some(channel_slot) = chosen.map(|s| u32::from(s.index())) else {
            self.counters.rejected_no_channel += 1;
            o.reject(ReasonCode::NoChannelAvailable);
            return self.push_ack(meta, &self.state.orders[slot as usize], false, out);
        };
        self.counters.accepted += 1;
        self.counters.reviews += u64::from(review);
        if review {
            self.enqueue_review(slot);
        }
        self.counters.strategies[strategy as usize - 1].0 += 1;
        self.push_ack(meta, &self.state.orders[slot as usize], false, out);
        self.dispatch_attempt(meta, slot, channel_slot, out);
    }

    /// The answer to a resend of order `o`'s request (in the table, or as its receipt keeps it):
    /// the original ack and result, or DuplicateRequestMismatch.
    /// Returns whether the resend was the same request (else it was answered mismatched).
    fn answer_payment_resend(
        &self,
        meta: &InputMeta,
        o: &Order,
        hash: u64,
        out: &mut Outbox,
    ) -> bool {
        if o.request_hash != hash {
            let reason = ReasonCode::DuplicateRequestMismatch;
            self.push_ack_rejected(meta, o.request_id, 0, reason, out);
            return false;
        }
        self.push_ack(meta, o, true, out);
        if o.state != OrderState::Rejected && o.state != OrderState::InFlight {
            self.push_result(meta, o, true, out);
        }
        true
    }

    fn push_ack_rejected(
        &self,
        meta: &InputMeta,
        request_id: u64,
        order_id: u64,
        reason: ReasonCode,
        out: &mut Outbox,
    ) {
        let ack = PaymentAck {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
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
            risk_score: 0,
        };
        out.push(
            Dest::acquirer(meta.principal_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    /// The ack of an order as it stands (first answer or a resend's).
    fn push_ack(&self, meta: &InputMeta, o: &Order, duplicate: bool, out: &mut Outbox) {
        let rejected = o.state == OrderState::Rejected;
        let ack = PaymentAck {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            request_id: o.request_id,
            order_id: o.id,
            status: if rejected {
                AckStatus::Rejected
            } else {
                AckStatus::Accepted
            },
            reason: if rejected { o.reason } else { ReasonCode::None },
            // The first answer is pushed before the first attempt is dispatched: the channel
            // chosen for it is the first candidate.
            channel_id: o
                .attempts
                .first()
                .map(|a| a.channel_id)
                .or_else(|| {
                    o.candidates
                        .first()
                        .filter(|c| !rejected && c.decision == CandidateDecision::Chosen)
                        .map(|c| c.channel_id)
                })
                .unwrap_or(0),
            risk_action: o.risk_action,
            risk_rule_id: o.risk_rule_id,
            duplicate,
            sequence: meta.seq,
            timestamp_ns: self.state.now_ns,
            risk_score: o.risk_score,
        };
        out.push(
            Dest::acquirer(o.acquirer_id, meta.session_id),
            meta.seq,
            &ack,
        );
    }

    /// The final result of an order, to the session that sent the request (or a resend's session).
    pub(crate) fn push_result(
        &self,
        meta: &InputMeta,
        o: &Order,
        duplicate: bool,
        out: &mut Outbox,
    ) {
        let succeeded = o.state == OrderState::Succeeded;
        let split = self.split_lines(o);
        let result = PaymentResult {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            request_id: o.request_id,
            order_id: o.id,
            status: if succeeded {
                FinalStatus::Succeeded
            } else {
                FinalStatus::Failed
            },
            reason: o.reason,
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

impl Engine {
    /// The id of the party in `party_slot` (0 for platform and fee lines).
    pub(crate) fn party_id(&self, party_slot: Option<Slot>) -> u32 {
        party_slot.map_or(0, |p| self.state.parties[p.index() as usize].id)
    }

    /// An order's split as the wire reports it.
    pub(crate) fn split_lines(
        &self,
        o: &Order,
    ) -> ArrayVec<SplitLine, { sluice_protocol::MAX_SPLIT_LINES }> {
        o.split
            .iter()
            .map(|l| SplitLine {
                role: l.role,
                party_id: self.party_id(l.party_slot),
                amount_minor: l.amount_minor,
            })
            .collect()
    }
}
