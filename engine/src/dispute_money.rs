//! The money of disputes (docs/DISPUTES.md, section 2, "Money"). Opened: the channel takes the
//! amount and the fee back (`disputes_pending` ← channel receivable); each split line gives its
//! share, the merchant the fee, from the available balance as far as it goes and the rest as a
//! debt (`dispute_receivable`), all into `dispute_holds`. Won: the channel returns them and each
//! line gets its share back (first cancelling its debt). Lost: `dispute_holds` closes against
//! `disputes_pending`. Debts are recovered from available balances on pulses.

use sluice_protocol::{DisputeUpdate, MAX_SPLIT_LINES, PartyRole, SplitLine};

use crate::core::Engine;
use crate::dispute_events::{DisputeEvent, DisputeMoved};
use crate::disputes::{DisputeLine, RECOVER_PER_PULSE};
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::limits::Additions;
use crate::outbox::{Dest, Outbox};
use crate::state::{Order, Slot};

impl Engine {
    /// Whether opening a dispute of `amount` + `fee` on order `o` keeps every account within the
    /// money limits (the channel's receivable and `disputes_pending`, every line's account and
    /// `dispute_holds`, and at worst `dispute_receivable`).
    pub(crate) fn dispute_fits(&self, o: &Order, amount_minor: i64, fee_minor: i64) -> bool {
        let Some(total) = amount_minor.checked_add(fee_minor) else {
            return false;
        };
        let ledger = &self.state.ledger;
        let c = o.currency_slot;
        let attempt = o.attempts.last().expect("a succeeded order has an attempt");
        let mut additions = Additions::default();
        additions.debit(ledger.disputes_pending(c), total);
        additions.credit(
            ledger.channel_receivable(c, u32::from(attempt.channel_slot)),
            total,
        );
        additions.credit(ledger.dispute_holds(c), total);
        additions.debit(ledger.dispute_receivable(c), total);
        additions.fit(ledger)
    }

    /// Debits line `account` (a party's available balance when `party` is set) by `part` into
    /// `dispute_holds`, as far as the party can spend; returns the rest, booked as its debt.
    fn take_line(&mut self, c: u8, account: u32, party: Option<u32>, part: i64) -> i64 {
        let ledger = &mut self.state.ledger;
        let holds = ledger.dispute_holds(c);
        let Some(party) = party else {
            ledger.post(account, holds, part);
            return 0;
        };
        let spendable = ledger
            .account(account)
            .spendable()
            .clamp(0, i128::from(part));
        let take = i64::try_from(spendable).expect("within the part");
        ledger.post(account, holds, take);
        let owed = part - take;
        ledger.post(ledger.dispute_receivable(c), holds, owed);
        self.state.disputes.add_debt(party, c, owed);
        owed
    }

    /// Opened: moves the money of dispute `d` (not in the table yet) of the order in `slot`, and
    /// counts its shares as refunded on the order.
    pub(crate) fn take_dispute_money(
        &mut self,
        slot: u32,
        shares: &[i64],
        d: &mut crate::disputes::Dispute,
    ) {
        let c = d.currency_slot;
        let total = d.amount_minor + d.fee_minor;
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, u32::from(d.channel_slot));
        ledger.post(ledger.disputes_pending(c), rx, total);
        let o = self.state.orders[slot as usize].clone();
        let mut merchant = None;
        for (i, (line, &part)) in o.split.iter().zip(shares).enumerate() {
            let account = self.reversal_account_of(&o, i, false);
            let party = line.party_slot.map(Slot::index);
            if line.role == PartyRole::Merchant {
                merchant = Some((account, party));
            }
            let owed = self.take_line(c, account, party, part);
            let party_id = self.party_id(line.party_slot);
            d.lines.push(DisputeLine {
                account,
                party_slot: party,
                role: line.role,
                party_id,
                part_minor: part,
                owed_minor: owed,
                fee: false,
            });
        }
        let (account, party) = merchant.expect("a split has its merchant line");
        let owed = self.take_line(c, account, party, d.fee_minor);
        d.lines.push(DisputeLine {
            account,
            party_slot: party,
            role: PartyRole::Merchant,
            party_id: d.merchant_id,
            part_minor: d.fee_minor,
            owed_minor: owed,
            fee: true,
        });
        self.state.disputes.open_minor[usize::from(c)] += total;
        self.state.channels[usize::from(d.channel_slot)].books[usize::from(c)].disputed_minor +=
            total as u128;
        let o = &mut self.state.orders[slot as usize];
        for (taken, &part) in o.taken_minor.iter_mut().zip(shares) {
            *taken += part;
        }
        o.refunded_minor += d.amount_minor;
        o.updated_ns = self.state.now_ns;
    }

    /// Won: the channel returns amount and fee; every line gets its part back, first cancelling
    /// what its party still owes (at most what this dispute booked as owed).
    pub(crate) fn return_dispute_money(&mut self, slot: u32, i: usize) {
        let d = self.state.disputes.entries[i].clone();
        let c = d.currency_slot;
        let total = d.amount_minor + d.fee_minor;
        let ledger = &mut self.state.ledger;
        let rx = ledger.channel_receivable(c, u32::from(d.channel_slot));
        ledger.post(rx, ledger.disputes_pending(c), total);
        let holds = ledger.dispute_holds(c);
        for line in &d.lines {
            let cancel = line.party_slot.map_or(0, |p| {
                let owed = self.state.disputes.owed(p, c);
                self.state
                    .disputes
                    .add_debt(p, c, -owed.min(line.owed_minor));
                owed.min(line.owed_minor)
            });
            let ledger = &mut self.state.ledger;
            ledger.post(holds, ledger.dispute_receivable(c), cancel);
            ledger.post(holds, line.account, line.part_minor - cancel);
        }
        self.state.disputes.open_minor[usize::from(c)] -= total;
        self.state.channels[usize::from(d.channel_slot)].books[usize::from(c)]
            .dispute_returned_minor += total as u128;
        let o = &mut self.state.orders[slot as usize];
        for (taken, part) in o.taken_minor.iter_mut().zip(d.shares()) {
            assert!(part <= *taken, "a dispute gives back what it took");
            *taken -= part;
        }
        o.refunded_minor -= d.amount_minor;
        o.updated_ns = self.state.now_ns;
    }

    /// Lost: both sides of dispute `i` close; its debts stay owed.
    pub(crate) fn close_lost_dispute(&mut self, i: usize) {
        let d = &self.state.disputes.entries[i];
        let (c, total) = (d.currency_slot, d.amount_minor + d.fee_minor);
        let ledger = &mut self.state.ledger;
        ledger.post(ledger.dispute_holds(c), ledger.disputes_pending(c), total);
        self.state.disputes.open_minor[usize::from(c)] -= total;
    }

    /// The available balance of `party` in currency slot `c`.
    fn available(&self, party: u32, c: u8) -> i64 {
        let ledger = &self.state.ledger;
        let account = ledger.party(c, party, PartyAccount::Available);
        i64::try_from(ledger.account(account).spendable()).expect("within the money limits")
    }

    /// Tells the acquirer of dispute `i` what its stage did (DisputeUpdate) and records it.
    pub(crate) fn dispute_moved(&mut self, meta: &InputMeta, i: usize, out: &mut Outbox) {
        let d = &self.state.disputes.entries[i];
        let merchant = d.lines.iter().find(|l| l.fee).and_then(|l| l.party_slot);
        let c = d.currency_slot;
        let (available, owed) = merchant.map_or((0, 0), |p| {
            (self.available(p, c), self.state.disputes.owed(p, c))
        });
        let mut reversal = arrayvec::ArrayVec::<SplitLine, MAX_SPLIT_LINES>::new();
        if d.stage != sluice_protocol::DisputeStage::Lost {
            for l in d.lines.iter().filter(|l| !l.fee && l.part_minor > 0) {
                reversal.push(SplitLine {
                    role: l.role,
                    party_id: l.party_id,
                    amount_minor: l.part_minor,
                });
            }
        }
        let msg = DisputeUpdate {
            request_id: d.request_id,
            order_id: d.order_id,
            dispute_id: d.dispute_id,
            channel_id: d.channel_id,
            merchant_id: d.merchant_id,
            stage: d.stage,
            reason: d.reason,
            currency: d.currency,
            amount_minor: d.amount_minor,
            fee_minor: d.fee_minor,
            available_after_minor: available,
            receivable_after_minor: owed,
            sequence: meta.seq,
            timestamp_ns: self.state.now_ns,
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            reversal: reversal.clone(),
        };
        out.push(Dest::acquirer(d.acquirer_id, 0), meta.seq, &msg);
        if self.dispute_events.is_on() {
            let receivable_minor = d.lines.iter().map(|l| l.owed_minor).sum();
            self.dispute_events
                .push(DisputeEvent::Dispute(DisputeMoved {
                    dispute_id: d.dispute_id,
                    channel_id: d.channel_id,
                    order_id: d.order_id,
                    merchant_id: d.merchant_id,
                    stage: d.stage,
                    reason: d.reason,
                    currency: d.currency,
                    amount_minor: d.amount_minor,
                    fee_minor: d.fee_minor,
                    reversal,
                    receivable_minor,
                }));
        }
    }

    /// Recovers parties' dispute debts from their available balances: up to `RECOVER_PER_PULSE`
    /// debts per pulse, round robin.
    pub(crate) fn recover_dispute_debts(&mut self) {
        let n = self.state.disputes.debts.len();
        if n == 0 {
            return;
        }
        let start = self.state.disputes.recover_cursor as usize % n;
        let picked: Vec<_> = (0..n.min(RECOVER_PER_PULSE))
            .map(|k| self.state.disputes.debts[(start + k) % n])
            .collect();
        self.state.disputes.recover_cursor = ((start + picked.len()) % n) as u32;
        for debt in picked {
            let (p, c) = (debt.party_slot, debt.currency_slot);
            let take = self.available(p, c).clamp(0, debt.owed_minor);
            if take == 0 {
                continue;
            }
            let ledger = &mut self.state.ledger;
            let available = ledger.party(c, p, PartyAccount::Available);
            ledger.post(available, ledger.dispute_receivable(c), take);
            self.state.disputes.add_debt(p, c, -take);
            if self.dispute_events.is_on() {
                let party = &self.state.parties[p as usize];
                self.dispute_events.push(DisputeEvent::Recovered {
                    party_id: party.id,
                    promoter: party.kind == sluice_protocol::PartyKind::Promoter,
                    currency: self.state.limits.currencies[usize::from(c)],
                    amount_minor: take,
                });
            }
        }
    }

    /// What `disputes_pending` and `dispute_holds` hold is exactly the open disputes' amount and
    /// fee, and `dispute_receivable` exactly the parties' debts (asserted after every input).
    pub(crate) fn assert_disputes(&self, seq: u64) {
        let l = &self.state.ledger;
        let d = &self.state.disputes;
        for c in 0..self.state.limits.currencies.len() {
            let pending = l.account(l.disputes_pending(c as u8));
            let holds = l.account(l.dispute_holds(c as u8));
            let receivable = l.account(l.dispute_receivable(c as u8));
            let (open, owed) = (i128::from(d.open_minor[c]), i128::from(d.owed_minor[c]));
            assert!(
                pending.debit_balance() == open
                    && holds.credit_balance() == open
                    && receivable.debit_balance() == owed
                    && pending.debits_pending + holds.credits_pending == 0,
                "disputes broken at sequence {seq}: currency slot {c}, open {open}, owed {owed}, \
                 pending {pending:?}, holds {holds:?}, receivable {receivable:?}"
            );
        }
    }
}
