//! The invariants of the fixed accounts' groups (`ledger::watch`, docs/ENGINE.md "Invariants of
//! account groups"): each group's accounts hold exactly what its table's running totals say.

impl crate::Engine {
    /// The invariants of the fixed accounts' groups (`ledger::watch`): after an input that moved
    /// a group's accounts, and in debug builds (every test) after every input.
    pub(crate) fn assert_watched(&mut self, seq: u64) {
        let moved = self.state.ledger.take_touched();
        let due = if cfg!(debug_assertions) {
            u8::MAX
        } else {
            moved
        };
        if due & crate::ledger::watch::PAYOUTS != 0 {
            // What `payouts_in_flight` holds reserved is exactly the open payouts' money.
            self.assert_payouts_in_flight(seq);
        }
        if due & crate::ledger::watch::DISPUTES != 0 {
            // What the dispute accounts hold is exactly the open disputes' money and the debts.
            self.assert_disputes(seq);
        }
        if due & crate::ledger::watch::YIELD != 0 {
            // What the fund's accounts hold is exactly the yield register's totals.
            self.assert_yield(seq);
        }
        if due & crate::ledger::watch::INSTALLMENTS != 0 {
            // What accounts 17-21 hold is exactly the installment plans' money.
            self.assert_installments(seq);
        }
        if due & crate::ledger::watch::CREDIT != 0 {
            // What the credit accounts hold is exactly the loans' money (docs/CREDIT.md).
            self.assert_credit(seq);
        }
    }
}
