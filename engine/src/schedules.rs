//! Configuration of settlement schedules (docs/PAYOUTS.md, sections 2 and 3): a party's terms
//! (delay, schedule and anchor, deposit, rolling reserve), the working-day calendar's dates, and
//! the manual release of held income. Each is validated completely before anything changes.

use rust_decimal::Decimal;
use sluice_protocol::{ConfigMerchant, ConfigPromoter, ReasonCode};

use crate::calendar::DaySetting;
use crate::config::{Refusal, invalid, rate};
use crate::core::Engine;
use crate::state::{Party, Schedule};

const MAX_SETTLEMENT_DAYS: u8 = 30;
const MAX_DEPOSIT_HOLD_DAYS: u16 = 366;
const MAX_RESERVE_DAYS: u16 = 366;

/// A party's settlement terms, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SettlementTerms {
    pub settlement_days: u8,
    pub schedule: Schedule,
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
        schedule: Schedule,
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
            Schedule::Weekly if !(1..=7).contains(&schedule_anchor) => {
                return invalid("schedule_anchor must be 1..=7 (Monday..Sunday) for Weekly");
            }
            Schedule::Monthly if !(1..=31).contains(&schedule_anchor) => {
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
            Schedule::CalendarDays,
            0,
            m.deposit_rate,
            m.deposit_hold_days,
            Decimal::ZERO,
            0,
        )
    }

    pub(crate) fn of_promoter(m: &ConfigPromoter) -> Result<SettlementTerms, Refusal> {
        Self::check(
            m.settlement_days,
            Schedule::CalendarDays,
            0,
            Decimal::ZERO,
            0,
            Decimal::ZERO,
            0,
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
    /// Sets one date of the working-day calendar, or refuses and changes nothing.
    pub(crate) fn set_calendar_day(
        &mut self,
        day: u32,
        setting: DaySetting,
    ) -> Result<(), Refusal> {
        self.state
            .calendar
            .set(day, setting)
            .map_err(|why| (ReasonCode::InvalidConfig, why))
    }

    /// Releases the income party `party_slot` earned through `through_day` and holds for a manual
    /// release: settled now (deposit, reserve, the rest to Available). `through_day` must be
    /// before today (today's income is still being earned). Returns how many days' entries it
    /// released.
    pub(crate) fn release_held_income(
        &mut self,
        party_slot: u32,
        through_day: u32,
    ) -> Result<u32, Refusal> {
        let today = self.today();
        if through_day >= today {
            return invalid("through_day must be before today");
        }
        let mut released = 0;
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
            released += 1;
        }
        Ok(released)
    }
}
