//! Withdrawals: a merchant's available balance paid out to its bank, at once.

use sluice_protocol::{FinalStatus, Message, ReasonCode, WithdrawRequest, WithdrawResult};

use crate::core::{Engine, request_hash};
use crate::input::InputMeta;
use crate::ledger::{AccountId, PartyAccount};
use crate::outbox::{Dest, Outbox};
use crate::state::{Withdrawal, slot_id};

impl Engine {
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
            let msg = self.withdraw_resend_answer(slot, req, hash, meta.seq);
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
        let after = i64::try_from(after).expect("a balance within the money limits fits an i64");
        let (slot, generation) = self
            .take_withdrawal_slot()
            .expect("validation checked the withdrawal table has room");
        let id = slot_id(slot, generation);
        let now = self.state.now_ns;
        let withdrawal = Withdrawal::paid(req, (acquirer, hash), (id, generation), after, now);
        if slot as usize == self.state.withdrawals.len() {
            self.state.withdrawals.push(withdrawal);
        } else {
            self.state.withdrawals[slot as usize] = withdrawal;
        }
        self.index
            .withdrawals
            .insert(acquirer, req.withdraw_request_id, slot);
        self.withdrawal_made(slot);
        self.counters.withdrawals += 1;
        let msg = withdraw_result(
            req,
            id,
            FinalStatus::Succeeded,
            ReasonCode::None,
            after,
            false,
            meta.seq,
        );
        out.push(dest, meta.seq, &msg);
    }

    /// The answer to a resend of the withdrawal in `slot`: its result again, or a mismatch.
    fn withdraw_resend_answer(
        &mut self,
        slot: u32,
        req: &WithdrawRequest,
        hash: u64,
        sequence: u64,
    ) -> WithdrawResult {
        let w = &self.state.withdrawals[slot as usize];
        if w.request_hash != hash {
            let reason = ReasonCode::DuplicateRequestMismatch;
            return withdraw_result(req, 0, FinalStatus::Failed, reason, 0, false, sequence);
        }
        self.counters.duplicates += 1;
        WithdrawResult {
            // Numbered once the input is applied (`out_seq.rs`).
            out_seq: 0,
            retransmission: false,
            withdraw_request_id: w.withdraw_request_id,
            withdrawal_id: w.id,
            merchant_id: w.merchant_id,
            currency: w.currency,
            amount_minor: w.amount_minor,
            status: w.status,
            reason: w.reason,
            available_after_minor: w.available_after_minor,
            duplicate: true,
            sequence,
        }
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
        if !self.withdrawal_room() {
            return Err(ReasonCode::WithdrawalsFull);
        }
        let account = self
            .state
            .ledger
            .party(c, m.party_slot, PartyAccount::Available);
        if self.state.ledger.account(account).spendable() < i128::from(req.amount_minor) {
            return Err(ReasonCode::InsufficientBalance);
        }
        if !self.withdrawal_fits(c, m.party_slot, req.amount_minor) {
            return Err(ReasonCode::BalanceOverflow);
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
        // Numbered once the input is applied (`out_seq.rs`).
        out_seq: 0,
        retransmission: false,
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
