//! Retention (docs/ENGINE.md, "Retention"): final orders leave the order table for compact
//! receipts, their slots take new orders under new ids, receipts and refunds go when their windows
//! pass. All of it runs in event time on pulses (a bounded number per pulse), and on demand when a
//! payment finds the order table full, so replay retires exactly the same orders at the same
//! sequence.

use sluice_protocol::{AttemptStatus, OrderState, ReasonCode};

use crate::core::Engine;
use crate::state::{Due, Order, Receipt, Slot, id_slot};

/// The orders-index value of a retired order: its receipt's slot with this bit set (an order
/// slot is below 50 million, far under it).
pub(crate) const RETIRED: u32 = 1 << 31;
/// Most orders looked at to retire, and most receipts and refused refunds looked at to expire,
/// per pulse (a pulse every 10 ms retires up to 25,600 orders a second; a payment that finds the
/// table full retires on demand besides).
const PER_PULSE: u32 = 256;
/// Most due orders a payment that finds the order table full looks at to free a slot.
const ON_DEMAND: u32 = 8;
const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// Where a payment request id leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// An order in the table, in this slot.
    Live(u32),
    /// A retired order, in this receipt slot.
    Retired(u32),
}

/// Whether nothing about order `o` can still change by a channel's word: final, no refund open, no
/// attempt pending, uncertain, abandoned (a late capture may come) or being reversed.
fn retirable(o: &Order) -> bool {
    matches!(
        o.state,
        OrderState::Succeeded | OrderState::Failed | OrderState::Rejected
    ) && o.refund_pending_minor == 0
        && o.attempts.iter().all(|a| {
            a.next_ask_ns == 0
                && !matches!(
                    a.status,
                    AttemptStatus::Pending
                        | AttemptStatus::Unknown
                        | AttemptStatus::Closing
                        | AttemptStatus::Abandoned
                        | AttemptStatus::Reversing
                )
        })
}

/// How long a paid payout can still come back (`PayoutChannelStatus::Returned`): 60 days, the
/// longest return window of the common schemes (ACH's unauthorized-debit returns; SEPA credit
/// transfers and China's interbank returns come within days). Paid payouts are kept this long.
pub const PAYOUT_RETURN_WINDOW_NS: u64 = 60 * 86_400 * 1_000_000_000;

impl Engine {
    /// Where the payment `request_id` of `acquirer` is, if anywhere.
    #[inline]
    pub(crate) fn find_order(&self, acquirer: u32, request_id: u64) -> Option<Found> {
        let v = self.index.orders.get(acquirer, request_id)?;
        Some(if v & RETIRED != 0 {
            Found::Retired(v & !RETIRED)
        } else {
            Found::Live(v)
        })
    }

    /// The slot of the order in the table that `id` names (a revived order's, too).
    #[inline]
    pub(crate) fn order_slot_of(&self, id: u64) -> Option<u32> {
        let (slot, _) = id_slot(id)?;
        let o = self.state.orders.get(slot as usize)?;
        if o.id == id && !o.vacant {
            return Some(slot);
        }
        let r = self.receipt_of(id)?;
        self.state.retention.receipts[r as usize]
            .revived
            .map(Slot::index)
    }

    /// The split lines of order `id`, in the table or retired (a kept refund's order is one).
    pub(crate) fn order_split(&self, id: u64) -> &[crate::state::Line] {
        if let Some(slot) = self.order_slot_of(id) {
            return &self.state.orders[slot as usize].split;
        }
        let r = self
            .receipt_of(id)
            .expect("a kept refund's order has a receipt");
        &self.state.retention.receipts[r as usize].split
    }

    /// Why no order in the table answers to `id`: it retired (or expired), or it never was.
    pub(crate) fn missing_order(&self, id: u64) -> (ReasonCode, &'static str) {
        if self.receipt_of(id).is_some() || self.order_expired(id) {
            (ReasonCode::StaleAttempt, "order retired")
        } else {
            (ReasonCode::UnknownOrder, "no such order")
        }
    }

    /// The slot of the refund that `id` names.
    #[inline]
    pub(crate) fn refund_slot_of(&self, id: u64) -> Option<u32> {
        let (slot, _) = id_slot(id)?;
        let r = self.state.refunds.get(slot as usize)?;
        (r.id == id && !r.vacant).then_some(slot)
    }

    /// Why no kept refund answers to `id`: it was forgotten with its payment (or never was).
    pub(crate) fn missing_refund(&self, id: u64) -> (ReasonCode, &'static str) {
        let forgotten = id_slot(id).is_some_and(|(slot, generation)| {
            self.state.refunds.get(slot as usize).is_some_and(|r| {
                generation < r.generation || (generation == r.generation && r.vacant)
            })
        });
        if forgotten {
            (
                ReasonCode::StaleAttempt,
                "refund forgotten with its payment",
            )
        } else {
            (ReasonCode::UnknownOrder, "no such refund")
        }
    }

    /// The receipt of retired order `id`, if it still has one.
    pub(crate) fn receipt_of(&self, id: u64) -> Option<u32> {
        self.index.receipts.get(0, id)
    }

    /// Receipts in memory now.
    pub(crate) fn receipts_kept(&self) -> u64 {
        let r = &self.state.retention;
        (r.receipts.len() - r.free_receipts.len()) as u64
    }

    /// Whether order `id` was issued once and both it and its receipt are gone.
    pub(crate) fn order_expired(&self, id: u64) -> bool {
        let Some((slot, generation)) = id_slot(id) else {
            return false;
        };
        self.state
            .orders
            .get(slot as usize)
            .is_some_and(|o| generation < o.generation || (generation == o.generation && o.vacant))
    }

    /// Whether a new order has a slot (a free one, a fresh one, or one that an order due to
    /// retire frees now).
    pub(crate) fn order_room(&mut self) -> bool {
        let fits = |e: &Engine| {
            !e.state.retention.free_orders.is_empty()
                || e.state.orders.len() < e.state.limits.orders_max as usize
        };
        if fits(self) || self.state.limits.order_retention_ns == 0 {
            return fits(self);
        }
        self.retire_due(ON_DEMAND);
        fits(self)
    }

    /// A slot for a new order (`order_room` said there is one) and its generation.
    pub(crate) fn take_order_slot(&mut self) -> (u32, u32) {
        match self.state.retention.free_orders.pop() {
            Some(slot) => {
                let o = &self.state.orders[slot as usize];
                assert!(o.vacant, "a free order slot is vacant");
                let generation = o.generation.checked_add(1).expect("slot generations");
                (slot, generation)
            }
            None => (self.state.orders.len() as u32, 0),
        }
    }

    /// Puts `order` in `slot` (from `take_order_slot`) and schedules its first retirement look.
    pub(crate) fn place_order(&mut self, slot: u32, order: Order) {
        let generation = order.generation;
        if slot as usize == self.state.orders.len() {
            self.state.orders.push(order);
        } else {
            self.state.orders[slot as usize] = order;
        }
        let retention = self.state.limits.order_retention_ns;
        if retention > 0 {
            let due_ns = self.state.now_ns.saturating_add(retention);
            let due = Due {
                slot,
                generation,
                due_ns,
            };
            self.state.retention.orders_due.push_back(due);
        }
    }

    /// A slot for a new refund and its generation, if the table has room.
    pub(crate) fn take_refund_slot(&mut self) -> Option<(u32, u32)> {
        if let Some(slot) = self.state.retention.free_refunds.pop() {
            let r = &self.state.refunds[slot as usize];
            assert!(r.vacant, "a free refund slot is vacant");
            return Some((slot, r.generation.checked_add(1).expect("slot generations")));
        }
        let len = self.state.refunds.len();
        (len < self.state.limits.refunds_max as usize).then_some((len as u32, 0))
    }

    /// Whether the refund table has room for one more.
    pub(crate) fn refund_room(&self) -> bool {
        !self.state.retention.free_refunds.is_empty()
            || self.state.refunds.len() < self.state.limits.refunds_max as usize
    }

    /// When payment `o` stops being refundable (None: no limit).
    pub(crate) fn refund_window_end(&self, created_ns: u64, channel_slot: u16) -> Option<u64> {
        let days = self.state.channels[usize::from(channel_slot)].refund_window_days;
        (days > 0).then(|| created_ns.saturating_add(u64::from(days) * DAY_NS))
    }

    /// The pulse's share: retires due orders, expires due receipts and refused refunds.
    pub(crate) fn retention_step(&mut self) {
        if self.state.limits.order_retention_ns == 0 {
            return;
        }
        self.retire_due(PER_PULSE);
        self.expire_due_receipts(PER_PULSE);
        self.expire_refused_refunds(PER_PULSE);
        self.expire_payouts(PER_PULSE);
    }

    /// Looks at up to `budget` orders whose time has come; retires those that can retire, and
    /// looks again later at the others.
    fn retire_due(&mut self, budget: u32) {
        let now = self.state.now_ns;
        let retention = self.state.limits.order_retention_ns;
        for _ in 0..budget {
            let Some(&due) = self.state.retention.orders_due.front() else {
                break;
            };
            if due.due_ns > now {
                break;
            }
            let o = &self.state.orders[due.slot as usize];
            assert!(
                o.generation == due.generation && !o.vacant,
                "a live order is due once"
            );
            let at = if retirable(o) {
                o.updated_ns.saturating_add(retention)
            } else {
                now.saturating_add(retention)
            };
            if at > now {
                self.state.retention.orders_due.pop_front();
                let again = Due { due_ns: at, ..due };
                self.state.retention.orders_due.push_back(again);
                continue;
            }
            if !self.retire_order(due.slot) {
                // Receipts full: it stays (and so do those behind it) until one expires.
                self.counters.retire_blocked += 1;
                break;
            }
            self.state.retention.orders_due.pop_front();
        }
    }

    /// Moves the order in `slot` to a receipt and frees the slot; false when the receipts are full.
    fn retire_order(&mut self, slot: u32) -> bool {
        let now = self.state.now_ns;
        let o = &self.state.orders[slot as usize];
        let (id, acquirer, request_id) = (o.id, o.acquirer_id, o.request_id);
        let r = match self.receipt_of(id) {
            // Brought back by a refund: its receipt is brought up to date.
            Some(r) => {
                let receipts = &mut self.state.retention.receipts;
                assert_eq!(receipts[r as usize].revived, Some(Slot::new(slot)));
                let generation = receipts[r as usize].generation + 1;
                receipts[r as usize] = Receipt::of(o, now, generation);
                r
            }
            None => {
                let Some((r, generation)) = self.take_receipt_slot() else {
                    return false;
                };
                let receipt = Receipt::of(&self.state.orders[slot as usize], now, generation);
                let receipts = &mut self.state.retention.receipts;
                if r as usize == receipts.len() {
                    receipts.push(receipt);
                } else {
                    receipts[r as usize] = receipt;
                }
                self.index.receipts.insert(0, id, r);
                r
            }
        };
        self.index.orders.set(acquirer, request_id, RETIRED | r);
        let generation = self.state.retention.receipts[r as usize].generation;
        let due_ns = now.saturating_add(self.state.limits.idempotency_window_ns);
        let due = Due {
            slot: r,
            generation,
            due_ns,
        };
        self.state.retention.receipts_due.push_back(due);
        self.state.orders[slot as usize].vacant = true;
        self.state.retention.free_orders.push(slot);
        self.counters.orders_retired += 1;
        true
    }

    /// A receipt slot and its generation: a free one, a fresh one, or one that an expiring
    /// receipt frees now; None when all are in their windows.
    fn take_receipt_slot(&mut self) -> Option<(u32, u32)> {
        let max = self.state.limits.receipts_max as usize;
        if self.state.retention.free_receipts.is_empty()
            && self.state.retention.receipts.len() >= max
        {
            self.expire_due_receipts(ON_DEMAND);
        }
        let retention = &mut self.state.retention;
        if let Some(r) = retention.free_receipts.pop() {
            let receipt = &retention.receipts[r as usize];
            assert!(receipt.vacant, "a free receipt slot is vacant");
            return Some((r, receipt.generation + 1));
        }
        let len = retention.receipts.len();
        (len < max).then_some((len as u32, 0))
    }

    /// Expires receipts at the end of their idempotency window (a refundable one is kept to the
    /// end of its refund window), then those at the end of their refund window.
    fn expire_due_receipts(&mut self, budget: u32) {
        let now = self.state.now_ns;
        for _ in 0..budget {
            let Some(due) = pop_due(&mut self.state.retention.receipts_due, now) else {
                break;
            };
            let Some(receipt) = self.current_receipt(due) else {
                continue;
            };
            let channel = receipt.attempts.last().map(|a| a.channel_slot);
            let end = channel.and_then(|c| self.refund_window_end(receipt.created_ns, c));
            match end.filter(|&end| receipt.refundable() && end > now) {
                Some(due_ns) => {
                    let keep = Due { due_ns, ..due };
                    self.state.retention.refundable_due.push_back(keep);
                }
                None => self.expire_receipt(due.slot),
            }
        }
        for _ in 0..budget {
            let Some(due) = pop_due(&mut self.state.retention.refundable_due, now) else {
                break;
            };
            if self.current_receipt(due).is_some() {
                self.expire_receipt(due.slot);
            }
        }
    }

    /// The receipt a queue entry names, unless the entry is stale (the receipt expired, was
    /// brought back, or retired again since).
    fn current_receipt(&self, due: Due) -> Option<&Receipt> {
        let r = &self.state.retention.receipts[due.slot as usize];
        (!r.vacant && r.generation == due.generation && r.revived.is_none()).then_some(r)
    }

    /// Forgets receipt `r`, its index entries and its order's refunds.
    fn expire_receipt(&mut self, r: u32) {
        let receipt = &mut self.state.retention.receipts[r as usize];
        receipt.vacant = true;
        let (acquirer, request_id, id) =
            (receipt.acquirer_id, receipt.request_id, receipt.order_id);
        let mut next = receipt.refund_head;
        self.index.orders.remove(acquirer, request_id);
        self.index.receipts.remove(0, id);
        while let Some(refund) = next {
            next = self.state.refunds[refund.index() as usize].next_in_order;
            self.free_refund(refund.index());
        }
        self.state.retention.free_receipts.push(r);
        self.counters.receipts_expired += 1;
    }

    fn free_refund(&mut self, slot: u32) {
        let r = &mut self.state.refunds[slot as usize];
        assert!(!r.state.is_open(), "an open refund is not freed");
        r.vacant = true;
        self.index
            .refunds
            .remove(r.acquirer_id, r.refund_request_id);
        self.state.retention.free_refunds.push(slot);
    }

    /// Schedules the end of refused refund `slot` (it belongs to no order's list).
    pub(crate) fn refund_refused(&mut self, slot: u32) {
        if self.state.limits.order_retention_ns == 0 {
            return;
        }
        let r = &self.state.refunds[slot as usize];
        let due = Due {
            slot,
            generation: r.generation,
            due_ns: r
                .created_ns
                .saturating_add(self.state.limits.idempotency_window_ns),
        };
        self.state.retention.refused_refunds_due.push_back(due);
    }

    fn expire_refused_refunds(&mut self, budget: u32) {
        let now = self.state.now_ns;
        for _ in 0..budget {
            let Some(due) = pop_due(&mut self.state.retention.refused_refunds_due, now) else {
                break;
            };
            let r = &self.state.refunds[due.slot as usize];
            if !r.vacant && r.generation == due.generation {
                self.free_refund(due.slot);
            }
        }
    }

    /// A slot for a new payout and its generation, if the table has room (a paid payout's slot
    /// is kept `PAYOUT_RETURN_WINDOW_NS` after it was paid).
    pub(crate) fn take_payout_slot(&mut self) -> Option<(u32, u32)> {
        if let Some(slot) = self.state.retention.free_withdrawals.pop() {
            let p = &self.state.payouts[slot as usize];
            assert!(p.vacant, "a free payout slot is vacant");
            return Some((slot, p.generation.checked_add(1).expect("slot generations")));
        }
        let len = self.state.payouts.len();
        (len < self.state.limits.withdrawals_max as usize).then_some((len as u32, 0))
    }

    /// Whether the payout table has room for one more.
    pub(crate) fn payout_room(&self) -> bool {
        !self.state.retention.free_withdrawals.is_empty()
            || self.state.payouts.len() < self.state.limits.withdrawals_max as usize
    }

    /// Schedules the end of payout `slot`'s idempotency window (an open payout stays past it
    /// until it ends).
    pub(crate) fn payout_made(&mut self, slot: u32) {
        if self.state.limits.order_retention_ns == 0 {
            return;
        }
        let p = &self.state.payouts[slot as usize];
        let window = self.state.limits.idempotency_window_ns;
        let due = Due {
            slot,
            generation: p.generation,
            due_ns: p.created_ns.saturating_add(window),
        };
        self.state.retention.withdrawals_due.push_back(due);
    }

    fn expire_payouts(&mut self, budget: u32) {
        let now = self.state.now_ns;
        let window = self.state.limits.idempotency_window_ns;
        for _ in 0..budget {
            let Some(mut due) = pop_due(&mut self.state.retention.withdrawals_due, now) else {
                break;
            };
            let p = &mut self.state.payouts[due.slot as usize];
            assert!(
                !p.vacant && p.generation == due.generation,
                "a payout is due once"
            );
            // Money still reserved: the payout is kept until it ends, looked at again a window on.
            if p.is_open() {
                due.due_ns = now.saturating_add(window.max(1));
                self.state.retention.withdrawals_due.push_back(due);
                continue;
            }
            // A paid payout can still be returned: it is kept the return window after it was
            // paid, so that a late Returned finds it and gives the party its money back.
            let returnable_until = p.updated_ns.saturating_add(PAYOUT_RETURN_WINDOW_NS);
            if p.state == sluice_protocol::PayoutState::Paid && returnable_until > now {
                due.due_ns = returnable_until;
                self.state.retention.withdrawals_due.push_back(due);
                continue;
            }
            p.vacant = true;
            let key = crate::payouts::index_key(p);
            if let Some((owner, request_id)) = key {
                self.index.payouts.remove(owner, request_id);
            }
            self.state.retention.free_withdrawals.push(due.slot);
        }
    }

    /// The slot of order `id` for a channel's answer about one of its attempts: in the table, or
    /// brought back from its receipt (a late capture of a retired order is reversed like any
    /// other). None when the id names no order, or the table has no room to bring it back.
    pub(crate) fn order_slot_for_answer(&mut self, id: u64) -> Option<u32> {
        if let Some(slot) = self.order_slot_of(id) {
            return Some(slot);
        }
        let r = self.receipt_of(id)?;
        self.revive(r)
    }

    /// Brings retired order (receipt `r`) back into the order table under its own id; its
    /// refunds name its new slot. None when the table has no room.
    pub(crate) fn revive(&mut self, r: u32) -> Option<u32> {
        if !self.order_room() {
            return None;
        }
        let (slot, generation) = self.take_order_slot();
        let receipt = &mut self.state.retention.receipts[r as usize];
        receipt.revived = Some(Slot::new(slot));
        let order = receipt.to_order(generation);
        let (acquirer, request_id, mut next) =
            (order.acquirer_id, order.request_id, order.refund_head);
        self.place_order(slot, order);
        self.index.orders.set(acquirer, request_id, slot);
        while let Some(refund) = next {
            let refund = &mut self.state.refunds[refund.index() as usize];
            refund.order_slot = slot;
            next = refund.next_in_order;
        }
        self.counters.orders_revived += 1;
        Some(slot)
    }
}

/// The orders, receipts and refunds indexes from their tables (vacant slots left out; a revived
/// order's payment leads to its slot, not its receipt).
pub(crate) fn rebuild_payments_index(s: &crate::state::State, ix: &mut crate::core::Index) {
    for (i, o) in s.orders.iter().enumerate().filter(|(_, o)| !o.vacant) {
        ix.orders.insert(o.acquirer_id, o.request_id, i as u32);
    }
    let receipts = s.retention.receipts.iter().enumerate();
    for (i, r) in receipts.filter(|(_, r)| !r.vacant) {
        ix.receipts.insert(0, r.order_id, i as u32);
        if r.revived.is_none() {
            let value = RETIRED | i as u32;
            ix.orders.insert(r.acquirer_id, r.request_id, value);
        }
    }
    for (i, r) in s.refunds.iter().enumerate().filter(|(_, r)| !r.vacant) {
        ix.refunds
            .insert(r.acquirer_id, r.refund_request_id, i as u32);
    }
}

/// The front entry of `queue` if its time has come.
fn pop_due(queue: &mut std::collections::VecDeque<Due>, now: u64) -> Option<Due> {
    queue.front().filter(|d| d.due_ns <= now)?;
    queue.pop_front()
}
