//! The balance yield's inputs and money (docs/YIELD.md): ConfigYield (opt in, terms, opt out),
//! FundYield (a day's published yield, accrued to every holder exactly), YieldRedeem (instant up
//! to the daily limit, the rest on the next working day), YieldQuery; the day step on the pulse
//! (pay queued redemptions, sweep available above the kept minimum); the invariant.

use sluice_protocol::{
    ConfigYield, DecodeError, FundYield, Message, PartyKind, ReasonCode, YieldPosition, YieldQuery,
    YieldRedeem,
};

use crate::config::Refusal;
use crate::core::Engine;
use crate::finance_events::{FinanceEvent, FinanceEventKind, FinanceProduct};
use crate::input::InputMeta;
use crate::ledger::PartyAccount;
use crate::limits::Additions;
use crate::outbox::{Dest, Outbox};
use crate::yields::{
    Holder, Redemption, YIELD_HOLDERS_MAX, YIELD_HOLDERS_PER_PULSE, YIELD_PER_10K_E4_MAX, Yields,
    fund_total, holder_share, split_redemption,
};

impl Engine {
    /// The balance yield's admin inputs (templates 71–74).
    pub(crate) fn dispatch_yield(
        &mut self,
        (template, block): (u16, u16),
        meta: &InputMeta,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        match template {
            ConfigYield::TEMPLATE_ID => ConfigYield::read_body(block, body).map(|m| {
                let r = self.apply_config_yield(&m);
                self.config_ack(meta, template, u64::from(m.party_id), r, out);
            }),
            FundYield::TEMPLATE_ID => FundYield::read_body(block, body).map(|m| {
                let r = self.apply_fund_yield(&m);
                self.config_ack(meta, template, u64::from(m.day), r, out);
            }),
            YieldRedeem::TEMPLATE_ID => {
                YieldRedeem::read_body(block, body).map(|m| match self.apply_yield_redeem(&m) {
                    Ok((instant, queued)) => {
                        let why = format!("instant {instant}, queued {queued}");
                        self.config_ack_text(meta, template, m.request_id, &why, out);
                    }
                    Err(r) => self.config_ack(meta, template, m.request_id, Err(r), out),
                })
            }
            YieldQuery::TEMPLATE_ID => {
                YieldQuery::read_body(block, body).map(|q| self.handle_yield_query(meta, &q, out))
            }
            _ => self.dispatch_installments((template, block), meta, body, out),
        }
    }

    /// The balance yield's register (tests, tools).
    pub fn yields(&self) -> &Yields {
        &self.state.yields
    }

    /// An accepted ConfigAck that carries a text (the accepted redemption's figures).
    fn config_ack_text(
        &mut self,
        meta: &InputMeta,
        template: u16,
        object_id: u64,
        text: &str,
        out: &mut Outbox,
    ) {
        let ack = sluice_protocol::ConfigAck {
            ref_template_id: template,
            object_id,
            status: sluice_protocol::AckStatus::Accepted,
            reason: ReasonCode::None,
            sequence: meta.seq,
            text: sluice_protocol::codec::text(text),
        };
        if meta.session_id != 0 {
            let dest = Dest::session(meta.session_id, meta.principal_id);
            out.push(dest, meta.seq, &ack);
        }
    }

    /// The party slot of a merchant or promoter.
    fn yield_party(&self, kind: PartyKind, id: u32) -> Result<u32, Refusal> {
        let s = &self.state;
        match kind {
            PartyKind::Merchant => self
                .index
                .merchants
                .get(&id)
                .map(|&m| s.merchants[m as usize].party_slot)
                .ok_or((ReasonCode::UnknownMerchant, "no merchant with that id")),
            PartyKind::Promoter => self
                .index
                .promoters
                .get(&id)
                .map(|&p| s.promoters[p as usize].party_slot)
                .ok_or((ReasonCode::UnknownPromoter, "no promoter with that id")),
            _ => Err((ReasonCode::InvalidField, "party_kind: Merchant or Promoter")),
        }
    }

    fn yield_currency(&self, currency: u16) -> Result<u8, Refusal> {
        let slot = self
            .state
            .limits
            .currencies
            .iter()
            .position(|&c| c == currency);
        slot.map(|s| s as u8).ok_or((
            ReasonCode::CurrencyNotAccepted,
            "currency: not a ledger currency",
        ))
    }

    /// ConfigYield: opt in (a new holder or new terms) or opt out (redeem everything, stop).
    fn apply_config_yield(&mut self, m: &ConfigYield) -> Result<(), Refusal> {
        let party_slot = self.yield_party(m.party_kind, m.party_id)?;
        let c = self.yield_currency(m.currency)?;
        if m.keep_minimum_minor < 0 || m.instant_limit_minor < 0 {
            return Err((ReasonCode::InvalidField, "figures must not be negative"));
        }
        let found = self.state.yields.find(party_slot, c);
        if !m.opt_in {
            let i = found
                .filter(|&i| self.state.yields.holders[i].opted_in)
                .ok_or((ReasonCode::InvalidField, "opt-out of a party not opted in"))?;
            let amount = self.state.yields.holders[i].position_minor();
            self.redeem_fits(i, amount)?;
            self.redeem(i, amount);
            self.state.yields.holders[i].opted_in = false;
            let h = self.state.yields.holders[i];
            self.record_yield(FinanceEventKind::YieldTerms, &h, 0);
            return Ok(());
        }
        let i = match found {
            Some(i) => i,
            None if self.state.yields.holders.len() >= YIELD_HOLDERS_MAX => {
                return Err((
                    ReasonCode::CapacityReached,
                    "yield holders at their maximum",
                ));
            }
            None => self.new_holder(party_slot, m.party_kind, m.party_id, c),
        };
        let h = &mut self.state.yields.holders[i];
        h.opted_in = true;
        h.keep_minimum_minor = m.keep_minimum_minor;
        h.instant_limit_minor = m.instant_limit_minor;
        let h = *h;
        self.record_yield(FinanceEventKind::YieldTerms, &h, h.keep_minimum_minor);
        Ok(())
    }

    fn new_holder(&mut self, party_slot: u32, kind: PartyKind, id: u32, c: u8) -> usize {
        let holders = &mut self.state.yields.holders;
        holders.push(Holder {
            party_slot,
            party_id: id,
            promoter: kind == PartyKind::Promoter,
            currency_slot: c,
            opted_in: false,
            keep_minimum_minor: 0,
            instant_limit_minor: 0,
            principal_minor: 0,
            accrued_minor: 0,
            yield_total_minor: 0,
            instant_day: 0,
            instant_used_minor: 0,
            queued_minor: 0,
            queued_due_day: 0,
        });
        holders.len() - 1
    }

    /// FundYield: checks the day and the yield, then accrues it to every holder in the currency.
    fn apply_fund_yield(&mut self, m: &FundYield) -> Result<(), Refusal> {
        let c = self.yield_currency(m.currency)?;
        let totals = self.state.yields.totals[usize::from(c)];
        if m.day > self.today() {
            return Err((
                ReasonCode::InvalidField,
                "day: after today (a fund publishes after its day)",
            ));
        }
        if m.day <= totals.last_yield_day {
            return Err((
                ReasonCode::InvalidField,
                "day: not after the last published day",
            ));
        }
        if !(0..=YIELD_PER_10K_E4_MAX).contains(&m.yield_per_10k_e4) {
            return Err((ReasonCode::InvalidField, "yield_per_10k_e4: 0..=1000000"));
        }
        let y = m.yield_per_10k_e4;
        let total = fund_total(i128::from(totals.positions_minor), y);
        let shares: i64 = self
            .state
            .yields
            .holders
            .iter()
            .filter(|h| h.currency_slot == c)
            .map(|h| holder_share(h.position_minor(), y))
            .sum();
        let residual = total - shares;
        assert!(
            residual >= 0,
            "the fund's total floors a larger sum than the shares"
        );
        let ledger = &self.state.ledger;
        let mut additions = Additions::default();
        additions.debit(ledger.yield_fund(c), total);
        additions.credit(ledger.yield_holdings(c), shares);
        additions.credit(ledger.yield_residual(c), residual);
        if !additions.fit(ledger) {
            return Err((
                ReasonCode::BalanceOverflow,
                "the yield would pass the largest balance",
            ));
        }
        self.accrue(c, y, m.day);
        let ledger = &mut self.state.ledger;
        ledger.post(ledger.yield_fund(c), ledger.yield_residual(c), residual);
        let t = &mut self.state.yields.totals[usize::from(c)];
        t.declared_minor += total;
        t.residual_minor += residual;
        t.last_yield_day = m.day;
        t.last_yield_per_10k_e4 = y;
        self.record_residual(c, residual, m.day);
        Ok(())
    }

    /// Adds each holder's share of yield `y` in currency slot `c` to its position.
    fn accrue(&mut self, c: u8, y: i64, day: u32) {
        for i in 0..self.state.yields.holders.len() {
            let h = &mut self.state.yields.holders[i];
            if h.currency_slot != c {
                continue;
            }
            let share = holder_share(h.position_minor(), y);
            if share == 0 {
                continue;
            }
            h.accrued_minor += share;
            h.yield_total_minor += share;
            let h = *h;
            self.state.yields.totals[usize::from(c)].positions_minor += share;
            let ledger = &mut self.state.ledger;
            ledger.post(ledger.yield_fund(c), ledger.yield_holdings(c), share);
            if self.finance_events.is_on() {
                self.push_yield_event(FinanceEventKind::YieldAccrued, &h, share, day);
            }
        }
    }

    /// YieldRedeem: (instant, queued), or why not. A resend answers the same and moves nothing.
    fn apply_yield_redeem(&mut self, m: &YieldRedeem) -> Result<(i64, i64), Refusal> {
        if m.request_id == 0 {
            return Err((ReasonCode::InvalidField, "request_id must not be 0"));
        }
        let request = Redemption {
            request_id: m.request_id,
            promoter: m.party_kind == PartyKind::Promoter,
            party_id: m.party_id,
            currency: m.currency,
            amount_minor: m.amount_minor,
            instant_minor: 0,
            queued_minor: 0,
        };
        if let Some(r) = self.state.yields.redemption(m.request_id) {
            if !r.same_request(&request) {
                let why = "request_id used before with other fields";
                return Err((ReasonCode::DuplicateRequestMismatch, why));
            }
            return Ok((r.instant_minor, r.queued_minor));
        }
        let party_slot = self.yield_party(m.party_kind, m.party_id)?;
        let c = self.yield_currency(m.currency)?;
        let i = self.state.yields.find(party_slot, c).ok_or((
            ReasonCode::NotFound,
            "the party holds nothing in that currency",
        ))?;
        let position = self.state.yields.holders[i].position_minor();
        let amount = match m.amount_minor {
            0 => position,
            a => a,
        };
        if amount <= 0 {
            return Err((ReasonCode::AmountNotPositive, "nothing to redeem"));
        }
        if amount > position {
            return Err((ReasonCode::InsufficientBalance, "amount above the position"));
        }
        self.redeem_fits(i, amount)?;
        let (instant, queued) = self.redeem(i, amount);
        self.state.yields.remember(Redemption {
            instant_minor: instant,
            queued_minor: queued,
            ..request
        });
        Ok((instant, queued))
    }

    /// Whether redeeming `amount` of holder `i` (and paying its queued redemption) keeps the
    /// party's total and the queue account within the largest balance.
    fn redeem_fits(&self, i: usize, amount_minor: i64) -> Result<(), Refusal> {
        let h = &self.state.yields.holders[i];
        let ledger = &self.state.ledger;
        let mut additions = Additions::default();
        let to_party = amount_minor.saturating_add(h.queued_minor);
        let (c, party) = (h.currency_slot, h.party_slot);
        additions.credit_party(ledger, c, party, PartyAccount::Available, to_party);
        additions.credit(ledger.yield_redemptions(c), amount_minor);
        if additions.fit(ledger) {
            return Ok(());
        }
        Err((
            ReasonCode::BalanceOverflow,
            "the redemption would pass the largest balance",
        ))
    }

    /// Redeems `amount` of holder `i` (checked): first pays its queued redemption if its day has
    /// come, then instant up to today's limit, the rest queued to the next working day.
    fn redeem(&mut self, i: usize, amount_minor: i64) -> (i64, i64) {
        let today = self.today();
        self.pay_queued(i, today);
        let h = &mut self.state.yields.holders[i];
        let (instant, queued) = split_redemption(amount_minor, h.instant_left_minor(today));
        h.take(amount_minor);
        h.use_instant(today, instant);
        if queued > 0 {
            h.queued_minor += queued;
            h.queued_due_day = self.state.calendar.nth_working_day_after(today, 1);
        }
        let h = *h;
        let c = h.currency_slot;
        let t = &mut self.state.yields.totals[usize::from(c)];
        t.positions_minor -= amount_minor;
        t.queued_minor += queued;
        let ledger = &mut self.state.ledger;
        let available = ledger.party(c, h.party_slot, PartyAccount::Available);
        ledger.post(ledger.yield_holdings(c), available, instant);
        ledger.post(
            ledger.yield_holdings(c),
            ledger.yield_redemptions(c),
            queued,
        );
        if instant > 0 {
            self.record_yield(FinanceEventKind::Redeemed, &h, instant);
        }
        if queued > 0 {
            self.record_yield(FinanceEventKind::RedemptionQueued, &h, queued);
        }
        (instant, queued)
    }

    /// Pays holder `i`'s queued redemption to available when its day has come (and it fits).
    fn pay_queued(&mut self, i: usize, today: u32) {
        let h = self.state.yields.holders[i];
        if h.queued_minor == 0 || h.queued_due_day > today {
            return;
        }
        let c = h.currency_slot;
        let ledger = &self.state.ledger;
        let mut additions = Additions::default();
        additions.credit_party(
            ledger,
            c,
            h.party_slot,
            PartyAccount::Available,
            h.queued_minor,
        );
        if !additions.fit(ledger) {
            return;
        }
        let ledger = &mut self.state.ledger;
        let available = ledger.party(c, h.party_slot, PartyAccount::Available);
        ledger.post(ledger.yield_redemptions(c), available, h.queued_minor);
        self.state.yields.totals[usize::from(c)].queued_minor -= h.queued_minor;
        let holder = &mut self.state.yields.holders[i];
        holder.queued_minor = 0;
        holder.queued_due_day = 0;
        let holder = *holder;
        self.record_yield(FinanceEventKind::RedemptionPaid, &holder, h.queued_minor);
    }

    /// Sweeps holder `i`'s available above its kept minimum into the fund (opted in only).
    fn sweep(&mut self, i: usize) {
        let h = self.state.yields.holders[i];
        if !h.opted_in {
            return;
        }
        let c = h.currency_slot;
        let ledger = &self.state.ledger;
        let available = ledger.party(c, h.party_slot, PartyAccount::Available);
        let spendable = ledger.account(available).spendable();
        let above = spendable - i128::from(h.keep_minimum_minor);
        let Ok(amount) = i64::try_from(above) else {
            return;
        };
        if amount <= 0 {
            return;
        }
        let mut additions = Additions::default();
        additions.credit(ledger.yield_holdings(c), amount);
        if !additions.fit(ledger) {
            return;
        }
        let ledger = &mut self.state.ledger;
        ledger.post(available, ledger.yield_holdings(c), amount);
        self.state.yields.totals[usize::from(c)].positions_minor += amount;
        let holder = &mut self.state.yields.holders[i];
        holder.principal_minor += amount;
        let holder = *holder;
        self.record_yield(FinanceEventKind::Swept, &holder, amount);
    }

    /// The day step (on the pulse, after settlement and dispute-debt recovery): once per day,
    /// over the holders, at most `YIELD_HOLDERS_PER_PULSE` per pulse; a walk begun on an earlier
    /// day finishes first.
    pub(crate) fn yield_day_step(&mut self) {
        let today = self.today();
        let y = &mut self.state.yields;
        if y.cursor == 0 {
            if today <= y.through_day {
                return;
            }
            y.walk_day = today;
        }
        let start = y.cursor as usize;
        let end = (start + YIELD_HOLDERS_PER_PULSE).min(y.holders.len());
        for i in start..end {
            self.pay_queued(i, today);
            self.sweep(i);
        }
        let y = &mut self.state.yields;
        if end == y.holders.len() {
            y.cursor = 0;
            y.through_day = y.walk_day;
        } else {
            y.cursor = end as u32;
        }
    }

    /// YieldQuery: a holder's position, or the fund's totals in a currency (party_id 0).
    fn handle_yield_query(&mut self, meta: &InputMeta, q: &YieldQuery, out: &mut Outbox) {
        let r = match q.party_id {
            0 => self
                .yield_currency(q.currency)
                .map(|c| self.fund_position(c, q, meta.seq)),
            _ => self.holder_position(q, meta.seq),
        };
        match r {
            Ok(p) if meta.session_id != 0 => {
                out.push(
                    Dest::session(meta.session_id, meta.principal_id),
                    meta.seq,
                    &p,
                );
            }
            Ok(_) => {}
            Err(r) => {
                let id = u64::from(q.party_id);
                self.config_ack(meta, YieldQuery::TEMPLATE_ID, id, Err(r), out);
            }
        }
    }

    fn holder_position(&self, q: &YieldQuery, seq: u64) -> Result<YieldPosition, Refusal> {
        let party_slot = self.yield_party(q.party_kind, q.party_id)?;
        let c = self.yield_currency(q.currency)?;
        let h = self.state.yields.holder(party_slot, c).ok_or((
            ReasonCode::NotFound,
            "the party never opted in in that currency",
        ))?;
        let ledger = &self.state.ledger;
        let available = ledger.account(ledger.party(c, party_slot, PartyAccount::Available));
        let mut p = self.fund_position(c, q, seq);
        p.opted_in = h.opted_in;
        p.keep_minimum_minor = h.keep_minimum_minor;
        p.instant_limit_minor = h.instant_limit_minor;
        p.principal_minor = h.principal_minor;
        p.accrued_minor = h.accrued_minor;
        p.yield_total_minor = h.yield_total_minor;
        p.instant_used_today_minor = h.instant_limit_minor - h.instant_left_minor(self.today());
        p.queued_minor = h.queued_minor;
        p.queued_due_day = h.queued_due_day;
        p.available_minor = i64::try_from(available.credit_balance()).unwrap_or(i64::MAX);
        Ok(p)
    }

    /// The fund's totals in currency slot `c` (walks the holders: an admin query).
    fn fund_position(&self, c: u8, q: &YieldQuery, seq: u64) -> YieldPosition {
        let y = &self.state.yields;
        let t = y.totals[usize::from(c)];
        let of = || y.holders.iter().filter(|h| h.currency_slot == c);
        YieldPosition {
            party_kind: if q.party_id == 0 {
                PartyKind::Platform
            } else {
                q.party_kind
            },
            party_id: q.party_id,
            currency: q.currency,
            opted_in: false,
            keep_minimum_minor: 0,
            instant_limit_minor: 0,
            principal_minor: of().map(|h| h.principal_minor).sum(),
            accrued_minor: of().map(|h| h.accrued_minor).sum(),
            yield_total_minor: of().map(|h| h.yield_total_minor).sum(),
            instant_used_today_minor: 0,
            queued_minor: t.queued_minor,
            queued_due_day: 0,
            available_minor: 0,
            last_yield_day: t.last_yield_day,
            last_yield_per_10k_e4: t.last_yield_per_10k_e4,
            residual_minor: t.residual_minor,
            holders: y.holders_in(c),
            sequence: seq,
        }
    }

    fn record_yield(&mut self, kind: FinanceEventKind, h: &Holder, amount_minor: i64) {
        if self.finance_events.is_on() {
            self.push_yield_event(kind, h, amount_minor, self.today());
        }
    }

    fn push_yield_event(&mut self, kind: FinanceEventKind, h: &Holder, amount: i64, day: u32) {
        let currency = self.state.limits.currencies[usize::from(h.currency_slot)];
        self.finance_events.push(FinanceEvent {
            product: FinanceProduct::Yield,
            kind,
            promoter: h.promoter,
            party_id: h.party_id,
            reference: 0,
            index: 0,
            currency,
            amount_minor: amount,
            position_minor: h.position_minor(),
            // Accrued so far (`FinanceEvent`): every yield ever, not what redemptions left.
            accrued_minor: h.yield_total_minor,
            day,
        });
    }

    fn record_residual(&mut self, c: u8, residual_minor: i64, day: u32) {
        if !self.finance_events.is_on() {
            return;
        }
        let t = self.state.yields.totals[usize::from(c)];
        self.finance_events.push(FinanceEvent {
            product: FinanceProduct::Yield,
            kind: FinanceEventKind::YieldResidual,
            promoter: false,
            party_id: 0,
            reference: 0,
            index: 0,
            currency: self.state.limits.currencies[usize::from(c)],
            amount_minor: residual_minor,
            position_minor: t.residual_minor,
            accrued_minor: t.declared_minor,
            day,
        });
    }

    /// The fund's accounts hold exactly what the register's running totals say, per currency
    /// (O(currencies)); nothing pending on them.
    pub(crate) fn assert_yield(&self, seq: u64) {
        let l = &self.state.ledger;
        for c in 0..self.state.limits.currencies.len() {
            let t = &self.state.yields.totals[c];
            let c8 = c as u8;
            let holdings = l.account(l.yield_holdings(c8));
            let fund = l.account(l.yield_fund(c8));
            let residual = l.account(l.yield_residual(c8));
            let queued = l.account(l.yield_redemptions(c8));
            let pending: u128 = [holdings, fund, residual, queued]
                .iter()
                .map(|a| a.debits_pending + a.credits_pending)
                .sum();
            assert!(
                holdings.credit_balance() == i128::from(t.positions_minor)
                    && fund.debit_balance() == i128::from(t.declared_minor)
                    && residual.credit_balance() == i128::from(t.residual_minor)
                    && queued.credit_balance() == i128::from(t.queued_minor)
                    && pending == 0,
                "yield broken at sequence {seq}: currency slot {c}, totals {t:?}, holdings \
                 {holdings:?}, fund {fund:?}, residual {residual:?}, queued {queued:?}"
            );
        }
    }
}
