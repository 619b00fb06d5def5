//! Read-only answers: an order's full state, balances, statistics.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AttemptEntry, BalanceEntry, BalanceQuery, BalanceReport, CandidateEntry, ChannelStats,
    MAX_ATTEMPTS, MAX_REFUNDS_PER_ORDER, MAX_ROUTE_CHANNELS, Message, OrderState, OrderStatus,
    PartyKind, PartyRole, QueryOrder, ReasonCode, RefundEntry, Role, RoutingStrategy, RuleStats,
    StatsReport, StrategyStats,
};

use crate::core::Engine;
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::outbox::{Dest, Outbox};
use crate::retention::Found;
use crate::routing;
use crate::state::{ChannelBook, Order};

impl Engine {
    pub(crate) fn handle_query(&mut self, meta: &InputMeta, q: &QueryOrder, out: &mut Outbox) {
        let acquirer = Engine::role(meta) == Some(Role::Acquirer);
        let found = if acquirer && q.order_id == 0 {
            self.find_order(meta.principal_id, q.request_id)
        } else {
            self.find_order_id(q.order_id)
        };
        let status = match found {
            Some(Found::Live(s)) => {
                Some(self.order_status_of(&self.state.orders[s as usize], false))
            }
            Some(Found::Retired(r)) => {
                let o = self.state.retention.receipts[r as usize].to_order(0);
                Some(self.order_status_of(&o, true))
            }
            None => None,
        };
        // An acquirer sees only its own orders.
        let status = status.filter(|s| !acquirer || s.acquirer_id == meta.principal_id);
        let status = match status {
            Some(status) => OrderStatus {
                sequence: meta.seq,
                ..status
            },
            None => OrderStatus {
                order_id: q.order_id,
                request_id: q.request_id,
                state: OrderState::NotFound,
                reason: if q.order_id != 0 && self.order_expired(q.order_id) {
                    ReasonCode::OrderExpired
                } else {
                    ReasonCode::None
                },
                sequence: meta.seq,
                ..OrderStatus::default()
            },
        };
        out.push(
            Dest::session(meta.session_id, meta.principal_id),
            meta.seq,
            &status,
        );
    }

    /// Where order `id` is: in the table (itself, or brought back by a refund) or retired.
    fn find_order_id(&self, id: u64) -> Option<Found> {
        if let Some(slot) = self.order_slot_of(id) {
            return Some(Found::Live(slot));
        }
        let r = self.receipt_of(id)?;
        Some(match self.state.retention.receipts[r as usize].revived {
            Some(slot) => Found::Live(slot.index()),
            None => Found::Retired(r),
        })
    }

    /// The full state of order `id` as OrderStatus (in the table or retired), if it is known.
    pub fn order_status_by_id(&self, id: u64, sequence: u64) -> Option<OrderStatus> {
        let status = match self.find_order_id(id)? {
            Found::Live(slot) => self.order_status_of(&self.state.orders[slot as usize], false),
            Found::Retired(r) => {
                let o = self.state.retention.receipts[r as usize].to_order(0);
                self.order_status_of(&o, true)
            }
        };
        Some(OrderStatus { sequence, ..status })
    }

    /// The merchant of order `id` (in the table or retired), if it is known.
    pub fn order_merchant(&self, id: u64) -> Option<u32> {
        Some(match self.find_order_id(id)? {
            Found::Live(slot) => self.state.orders[slot as usize].merchant_id,
            Found::Retired(r) => self.state.retention.receipts[r as usize].merchant_id,
        })
    }

    /// The full state of the order in `slot` as OrderStatus.
    pub fn order_status(&self, slot: u32, sequence: u64) -> OrderStatus {
        OrderStatus {
            sequence,
            ..self.order_status_of(&self.state.orders[slot as usize], false)
        }
    }

    /// The full state of order `o` (in the table, or as its receipt keeps it when `retired`).
    fn order_status_of(&self, o: &Order, retired: bool) -> OrderStatus {
        let settle_day = o
            .split
            .iter()
            .find(|l| l.role == PartyRole::Merchant)
            // Income held for a manual release has no settlement day yet.
            .map_or(0, |l| if l.held { 0 } else { u32::from(l.due_day) });
        OrderStatus {
            order_id: o.id,
            request_id: o.request_id,
            acquirer_id: o.acquirer_id,
            merchant_id: o.merchant_id,
            promoter_id: o.promoter_id,
            amount_minor: o.amount_minor,
            currency: o.currency,
            method: o.method,
            scene: o.scene,
            state: o.state,
            reason: o.reason,
            risk_action: o.risk_action,
            risk_rule_id: o.risk_rule_id,
            strategy: o.strategy,
            channel_id: o.attempts.last().map(|a| a.channel_id).unwrap_or(0),
            fee_minor: o.fee_minor,
            refunded_minor: o.refunded_minor,
            refund_pending_minor: o.refund_pending_minor,
            created_ns: o.created_ns,
            updated_ns: o.updated_ns,
            settle_day,
            sequence: 0,
            retired,
            attempts: attempt_entries(o),
            candidates: candidate_entries(o),
            split: self.split_lines(o),
            refunds: self.refund_entries(o),
        }
    }

    /// An order's refunds, oldest first (bounded by the refunds an order may have).
    fn refund_entries(&self, o: &Order) -> ArrayVec<RefundEntry, MAX_REFUNDS_PER_ORDER> {
        let mut refunds = ArrayVec::new();
        let mut next = o.refund_head;
        while let Some(r) = next.filter(|_| !refunds.is_full()) {
            let refund = &self.state.refunds[r.index() as usize];
            refunds.push(RefundEntry {
                refund_id: refund.id,
                refund_request_id: refund.refund_request_id,
                amount_minor: refund.amount_minor,
                state: (refund.state.to_wire())
                    .expect("a refund joins its order's list when it is reserved"),
            });
            next = refund.next_in_order;
        }
        refunds
    }

    /// What channel `channel_id` did with the payers' money in `currency`, as the engine learned
    /// it (captured, not kept, fees, refunded, reversed): to check the channel's own book against,
    /// to the minor unit. None for a channel or currency that is not configured.
    pub fn channel_book(&self, channel_id: u16, currency: u16) -> Option<ChannelBook> {
        let &slot = self.index.channels.get(&channel_id)?;
        let c = self
            .state
            .limits
            .currencies
            .iter()
            .position(|&x| x == currency)?;
        Some(self.state.channels[slot as usize].books[c])
    }

    /// Every channel's book against the ledger, per currency: what the channel owes us by its
    /// book is what its ChannelReceivable account holds posted, and the captures being reversed,
    /// over all channels, are what ReversalsPayable holds.
    pub(crate) fn verify_channel_books(&self) -> Result<(), String> {
        let ledger = &self.state.ledger;
        for (c, &currency) in self.state.limits.currencies.iter().enumerate() {
            let mut reversing = 0i128;
            for (slot, ch) in self.state.channels.iter().enumerate() {
                let book = &ch.books[c];
                let rx = ledger.account(ledger.channel_receivable(c as u8, slot as u32));
                let settled = self.state.channel_settlements.get(ch.id, currency);
                let owed = book.owed_minor() - settled.map_or(0, |a| a.settled_minor());
                if rx.debit_balance() != owed {
                    return Err(format!(
                        "channel {} in {currency}: its receivable holds {} posted, its book less \
                         settlements and write-offs says {owed} ({book:?}, {settled:?})",
                        ch.id,
                        rx.debit_balance(),
                    ));
                }
                reversing += book.reversing_minor();
            }
            let payable = ledger.account(ledger.reversals_payable(c as u8));
            if payable.credit_balance() != reversing || payable.debits_pending != 0 {
                return Err(format!(
                    "reversals payable in {currency}: {:?}, captures being reversed {reversing}",
                    payable
                ));
            }
        }
        self.verify_settlement_accounts()
    }

    /// The slot of an order by its acquirer and request id (tools and tests).
    /// The order id of payment `request_id` of `acquirer_id` (in the table or retired).
    pub fn order_id_of(&self, acquirer_id: u32, request_id: u64) -> Option<u64> {
        Some(match self.find_order(acquirer_id, request_id)? {
            Found::Live(slot) => self.state.orders[slot as usize].id,
            Found::Retired(r) => self.state.retention.receipts[r as usize].order_id,
        })
    }

    /// The slot of payment `request_id` of `acquirer_id` while it is in the order table.
    pub fn order_slot(&self, acquirer_id: u32, request_id: u64) -> Option<u32> {
        match self.find_order(acquirer_id, request_id)? {
            Found::Live(slot) => Some(slot),
            Found::Retired(_) => None,
        }
    }

    /// The order id of refund `refund_id`, while the refund is kept.
    pub fn refund_order_id(&self, refund_id: u64) -> Option<u64> {
        let slot = self.refund_slot_of(refund_id)?;
        Some(self.state.refunds[slot as usize].order_id)
    }

    pub(crate) fn handle_balance(&mut self, meta: &InputMeta, q: &BalanceQuery, out: &mut Outbox) {
        let acquirer = Engine::role(meta) == Some(Role::Acquirer);
        if acquirer {
            let owned = q.party_kind == PartyKind::Merchant
                && self.index.merchants.get(&q.party_id).is_some_and(|&m| {
                    self.state.merchants[m as usize].acquirer_id == meta.principal_id
                });
            if !owned {
                let template = BalanceQuery::TEMPLATE_ID;
                return self.reject(
                    meta,
                    template,
                    0,
                    ReasonCode::MerchantNotOwned,
                    "acquirers see only their own merchants",
                    out,
                );
            }
        }
        let report = self.balance_report(q.party_kind, q.party_id, meta.seq);
        out.push(
            Dest::session(meta.session_id, meta.principal_id),
            meta.seq,
            &report,
        );
    }

    /// Balances of a party per ledger currency (currencies with nothing are left out).
    pub fn balance_report(&self, kind: PartyKind, id: u32, sequence: u64) -> BalanceReport {
        let party_slot = match kind {
            PartyKind::Merchant => self
                .index
                .merchants
                .get(&id)
                .map(|&m| self.state.merchants[m as usize].party_slot),
            PartyKind::Promoter => self
                .index
                .promoters
                .get(&id)
                .map(|&p| self.state.promoters[p as usize].party_slot),
            PartyKind::Platform => None,
        };
        let found = kind == PartyKind::Platform || party_slot.is_some();
        let mut balances = ArrayVec::new();
        let ledger = &self.state.ledger;
        for (c, &currency) in self.state.limits.currencies.iter().enumerate() {
            let c = c as u8;
            let (pending, available, frozen) = match party_slot {
                Some(p) => (
                    ledger
                        .account(ledger.party(c, p, PartyAccount::Pending))
                        .credit_balance(),
                    ledger
                        .account(ledger.party(c, p, PartyAccount::Available))
                        .spendable(),
                    // Held money: the deposit and the rolling reserve (schema 7's BalanceEntry
                    // has no field of its own for the reserve; the ledger keeps them apart).
                    [PartyAccount::Frozen, PartyAccount::Reserve]
                        .map(|w| ledger.account(ledger.party(c, p, w)).credit_balance())
                        .iter()
                        .sum(),
                ),
                None if found => (
                    ledger.account(ledger.platform_revenue(c)).credit_balance(),
                    ledger.account(ledger.fee_expense(c)).debit_balance(),
                    0,
                ),
                None => (0, 0, 0),
            };
            if pending != 0 || available != 0 || frozen != 0 {
                balances.push(BalanceEntry {
                    currency,
                    pending_minor: reported(pending),
                    available_minor: reported(available),
                    frozen_minor: reported(frozen),
                });
            }
        }
        BalanceReport {
            party_kind: kind,
            party_id: id,
            found,
            sequence,
            balances,
        }
    }

    pub(crate) fn handle_stats(&mut self, meta: &InputMeta, out: &mut Outbox) {
        let report = self.stats_report(meta.seq);
        out.push(
            Dest::session(meta.session_id, meta.principal_id),
            meta.seq,
            &report,
        );
    }

    /// Statistics: totals, per channel, per rule, per strategy.
    pub fn stats_report(&self, sequence: u64) -> StatsReport {
        let in_flight = self
            .state
            .orders
            .iter()
            .filter(|o| !o.vacant && o.state == OrderState::InFlight)
            .count() as u64;
        StatsReport {
            in_flight,
            ..self.stats_counters(sequence)
        }
    }

    /// `stats_report` without `in_flight` (left 0): every figure here comes from the running
    /// counters and the channel, rule and strategy tables, so it costs the same however many
    /// orders are in memory. `stats_report` also scans every order to count those in flight,
    /// O(orders): too slow for a caller on the live path, such as the processor's metrics.
    pub fn stats_counters(&self, sequence: u64) -> StatsReport {
        let c = &self.counters;
        let mut channels = ArrayVec::new();
        for ch in self.state.channels.iter().take(channels.capacity()) {
            channels.push(channel_stats(ch));
        }
        let mut rules = ArrayVec::new();
        for (rule, hits) in self
            .state
            .risk
            .rules
            .rules
            .iter()
            .zip(&c.rule_hits)
            .take(rules.capacity())
        {
            rules.push(RuleStats {
                rule_id: rule.id,
                enforced_hits: hits.0,
                shadow_hits: hits.1,
            });
        }
        let mut strategies = ArrayVec::new();
        for (i, s) in c.strategies.iter().enumerate() {
            if let Some(strategy) = RoutingStrategy::from_wire(i as u8 + 1) {
                strategies.push(StrategyStats {
                    strategy,
                    decisions: s.0,
                    failovers: s.1,
                });
            }
        }
        StatsReport {
            sequence,
            orders: self.summary().orders,
            accepted: c.accepted,
            rejected_invalid: c.rejected_invalid + c.rejected_no_channel,
            rejected_risk: c.rejected_risk,
            succeeded: c.succeeded,
            failed: c.failed,
            failed_over: c.failed_over,
            in_flight: 0,
            reviews: c.reviews,
            refunds_succeeded: c.refunds_succeeded,
            refunds_failed: c.refunds_failed + c.refunds_rejected,
            timeouts: c.timeouts,
            withdrawals: c.withdrawals,
            ledger_balanced: self.state.ledger.is_balanced(),
            unknown_attempts: c.unknown_attempts,
            unknown_resolved: c.unknown_resolved,
            late_captures: c.late_captures,
            reversals: c.reversals,
            unknown_refunds: c.unknown_refunds,
            receipts: self.receipts_kept(),
            orders_retired: c.orders_retired,
            orders_revived: c.orders_revived,
            receipts_expired: c.receipts_expired,
            retire_blocked: c.retire_blocked,
            payouts_paid: c.payouts_paid,
            payouts_failed: c.payouts_failed,
            payouts_returned: c.payouts_returned,
            payouts_in_flight: self.state.payout_book.open,
            channels,
            rules,
            strategies,
        }
    }
}

/// An order's attempts as OrderStatus reports them.
fn attempt_entries(o: &Order) -> ArrayVec<AttemptEntry, MAX_ATTEMPTS> {
    o.attempts
        .iter()
        .enumerate()
        .map(|(i, a)| AttemptEntry {
            attempt: i as u8 + 1,
            channel_id: a.channel_id,
            status: a.status,
            channel_code: a.channel_code,
            latency_us: a.latency_us,
            dispatched_ns: a.dispatched_ns,
        })
        .collect()
}

/// An order's routing explanation as OrderStatus reports it.
fn candidate_entries(o: &Order) -> ArrayVec<CandidateEntry, MAX_ROUTE_CHANNELS> {
    o.candidates
        .iter()
        .map(|c| CandidateEntry {
            channel_id: c.channel_id,
            decision: c.decision,
            skip_reason: c.skip_reason,
            rank: c.rank,
            score: c.score,
        })
        .collect()
}

/// A balance as the wire reports it. Every account and party total is within the money limits
/// (`Ledger::verify`), so it fits an i64; one that did not would be reported wrong, never clamped.
fn reported(balance_minor: i128) -> i64 {
    i64::try_from(balance_minor).expect("a balance within the money limits fits an i64")
}

fn channel_stats(ch: &crate::state::Channel) -> ChannelStats {
    // All methods together: sum the recent blocks; latency from the busiest method.
    let (mut n, mut k) = (0u64, 0u64);
    let mut pay = (0u64, 0u64);
    let mut busiest = &ch.stats[0];
    for s in &ch.stats {
        let (a, b) = routing::recent_totals(s);
        n += a;
        k += b;
        let rate = u64::from(routing::payment_success_rate_ppm(s));
        let payments: u64 = s.payment_blocks.iter().map(|b| u64::from(b.0)).sum::<u64>()
            + u64::from(s.payment_current.0);
        pay.0 += payments;
        pay.1 += rate * payments;
        if s.latency_count > busiest.latency_count {
            busiest = s;
        }
    }
    ChannelStats {
        channel_id: ch.id,
        health: ch.health,
        attempts: ch.attempts,
        successes: ch.successes,
        declines: ch.declines,
        retryable_errors: ch.retryable_errors,
        timeouts: ch.timeouts,
        recent_success_rate_ppm: routing::ppm(k, n),
        payment_success_rate_ppm: pay.1.checked_div(pay.0).unwrap_or(0) as u32,
        latency_avg_us: busiest.latency_ewma_us,
        latency_p99_us: routing::latency_p99_us(busiest),
        consecutive_failures: ch.consecutive_failures,
        health_changes: ch.health_changes,
    }
}
