//! Configuration of settlement schedules (docs/PAYOUTS.md, sections 2 and 3): a party's terms
//! (delay, schedule and anchor, deposit, rolling reserve), the working-day calendar's dates, and
//! the manual release of held income. Each is validated completely before anything changes.

use rust_decimal::Decimal;
use sluice_protocol::{
    ConfigCalendarDay, ConfigMerchant, ConfigPromoter, DayKind, Message, PartyKind, PartySchedule,
    ReasonCode, ReleaseSettlement,
};

use crate::calendar::{CalendarRefusal, DaySetting};
use crate::config::{Refusal, invalid, rate};
use crate::core::Engine;
use crate::input::InputMeta;
use crate::outbox::Outbox;
use crate::state::Party;

const MAX_SETTLEMENT_DAYS: u8 = 30;
const MAX_DEPOSIT_HOLD_DAYS: u16 = 366;
const MAX_RESERVE_DAYS: u16 = 366;

/// A party's settlement terms, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SettlementTerms {
    pub settlement_days: u8,
    pub schedule: PartySchedule,
    pub schedule_anchor: u8,
    pub deposit_ppb: i64,
    pub deposit_hold_days: u16,
    pub reserve_ppb: i64,
    pub reserve_days: u16,
}

impl SettlementTerms {
    /// Checks the terms as a configuration states them.
    #[allow(clippy::too_many_arguments)]
    fn check(
        settlement_days: u8,
        schedule: PartySchedule,
        schedule_anchor: u8,
        deposit_rate: Decimal,
        deposit_hold_days: u16,
        reserve_rate: Decimal,
        reserve_days: u16,
    ) -> Result<SettlementTerms, Refusal> {
        if !(1..=MAX_SETTLEMENT_DAYS).contains(&settlement_days) {
            return invalid("settlement_days must be 1..=30");
        }
        match schedule {
            PartySchedule::Weekly if !(1..=7).contains(&schedule_anchor) => {
                return invalid("schedule_anchor must be 1..=7 (Monday..Sunday) for Weekly");
            }
            PartySchedule::Monthly if !(1..=31).contains(&schedule_anchor) => {
                return invalid("schedule_anchor must be 1..=31 for Monthly");
            }
            _ => {}
        }
        let deposit_ppb = rate(
            deposit_rate,
            "deposit_rate must be 0..=1 with at most 9 places",
        )?;
        if deposit_hold_days > MAX_DEPOSIT_HOLD_DAYS {
            return invalid("deposit_hold_days must be 0..=366");
        }
        let reserve_ppb = rate(
            reserve_rate,
            "reserve_rate must be 0..=1 with at most 9 places",
        )?;
        if reserve_days > MAX_RESERVE_DAYS {
            return invalid("reserve_days must be 0..=366");
        }
        Ok(SettlementTerms {
            settlement_days,
            schedule,
            schedule_anchor,
            deposit_ppb,
            deposit_hold_days,
            reserve_ppb,
            reserve_days,
        })
    }

    pub(crate) fn of_merchant(m: &ConfigMerchant) -> Result<SettlementTerms, Refusal> {
        Self::check(
            m.settlement_days,
            m.schedule,
            m.schedule_anchor,
            m.deposit_rate,
            m.deposit_hold_days,
            m.reserve_rate,
            m.reserve_days,
        )
    }

    /// A promoter's terms: no deposit (it signs no merchant contract).
    pub(crate) fn of_promoter(m: &ConfigPromoter) -> Result<SettlementTerms, Refusal> {
        Self::check(
            m.settlement_days,
            m.schedule,
            m.schedule_anchor,
            Decimal::ZERO,
            0,
            m.reserve_rate,
            m.reserve_days,
        )
    }

    /// Sets the party's terms (its queues' room is the caller's).
    pub(crate) fn apply(&self, p: &mut Party) {
        p.settlement_days = self.settlement_days;
        p.schedule = self.schedule;
        p.schedule_anchor = self.schedule_anchor;
        p.deposit_ppb = self.deposit_ppb;
        p.deposit_hold_days = self.deposit_hold_days;
        p.reserve_ppb = self.reserve_ppb;
        p.reserve_days = self.reserve_days;
    }
}

impl Engine {
    /// Applies a ConfigCalendarDay and acknowledges it (object id: the day).
    pub(crate) fn config_calendar_day(
        &mut self,
        meta: &InputMeta,
        m: &ConfigCalendarDay,
        out: &mut Outbox,
    ) {
        let setting = match m.kind {
            DayKind::Default => DaySetting::Default,
            DayKind::Holiday => DaySetting::Holiday,
            DayKind::Workday => DaySetting::Workday,
        };
        let result = self.state.calendar.set(m.day, setting).map_err(|r| {
            let reason = match r {
                CalendarRefusal::Full => ReasonCode::CalendarFull,
                _ => ReasonCode::InvalidConfig,
            };
            (reason, r.why())
        });
        let template = ConfigCalendarDay::TEMPLATE_ID;
        self.config_ack(meta, template, u64::from(m.day), result, out);
    }

    /// Applies a ReleaseSettlement and acknowledges it (object id: the party id).
    pub(crate) fn handle_release_settlement(
        &mut self,
        meta: &InputMeta,
        m: &ReleaseSettlement,
        out: &mut Outbox,
    ) {
        let result = self.release_settlement(m);
        let template = ReleaseSettlement::TEMPLATE_ID;
        let released = result.as_ref().ok().copied();
        let result = result.map(|_| ());
        self.config_ack(meta, template, u64::from(m.party_id), result, out);
        // The release is a settlement: an Automatic party is paid after it (its dispatch goes
        // out on the next pulse's payout step).
        if let Some((slot, currencies)) = released {
            self.auto_payouts(slot, currencies, meta, out);
        }
    }

    /// Releases what `m` names; returns the party's slot and the currency slots released.
    fn release_settlement(&mut self, m: &ReleaseSettlement) -> Result<(u32, u8), Refusal> {
        let party_slot = match m.party_kind {
            PartyKind::Merchant => self
                .index
                .merchants
                .get(&m.party_id)
                .map(|&s| self.state.merchants[s as usize].party_slot)
                .ok_or((ReasonCode::UnknownMerchant, "party_id is not a merchant"))?,
            PartyKind::Promoter => self
                .index
                .promoters
                .get(&m.party_id)
                .map(|&s| self.state.promoters[s as usize].party_slot)
                .ok_or((ReasonCode::UnknownPromoter, "party_id is not a promoter"))?,
            _ => return invalid("party_kind must be Merchant or Promoter"),
        };
        match self.release_held_income(party_slot, m.through_day)? {
            0 => Err((
                ReasonCode::NothingToRelease,
                "nothing is held through that day",
            )),
            currencies => Ok((party_slot, currencies)),
        }
    }

    /// Releases the income party `party_slot` earned through `through_day` and holds for a manual
    /// release: settled now (deposit, reserve, the rest to Available). `through_day` must be
    /// before today (today's income is still being earned). Returns the currency slots it
    /// released (bit i for slot i; 0: nothing was held through that day).
    fn release_held_income(&mut self, party_slot: u32, through_day: u32) -> Result<u8, Refusal> {
        let today = self.today();
        if through_day >= today {
            return invalid("through_day must be before today");
        }
        let mut released = 0u8;
        while let Some(e) = self.state.parties[party_slot as usize]
            .held
            .front()
            .copied()
        {
            if e.day > through_day {
                break;
            }
            self.state.parties[party_slot as usize].held.pop_front();
            self.settle_entry(party_slot, e, today);
            released |= 1 << e.currency_slot;
        }
        Ok(released)
    }
}
