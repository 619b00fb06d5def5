//! The balance yield's register (docs/YIELD.md): one line per holder (a party in one currency)
//! with its terms and its position in the money-market fund, running totals per currency that the
//! fund's ledger accounts must equal (`Engine::assert_yield`), and the redemption requests kept
//! for idempotency. The formulas are here, pure; the inputs and the money moves are in
//! `yield_ops`.

use rkyv::{Archive, Deserialize, Serialize};

use crate::state::CURRENCIES_MAX;

/// Most holders (party and currency), preallocated: a FundYield walks them all in one input.
pub const YIELD_HOLDERS_MAX: usize = 256;
/// Most holders the day step looks at per pulse.
pub const YIELD_HOLDERS_PER_PULSE: usize = 64;
/// Redemption request ids remembered for idempotency (a ring).
pub const REDEEM_IDS_KEPT: usize = 1024;
/// The largest yield per 10,000 units with 4 decimals a fund may publish: 100 per 10,000 (1% a
/// day). More is a typo.
pub const YIELD_PER_10K_E4_MAX: i64 = 1_000_000;
/// `yield_per_10k_e4` is per 10^4 units with 4 decimals: a position earns `position × y / 10^8`.
const YIELD_SCALE: i128 = 100_000_000;

/// One holder: a party's terms and position in one currency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub party_slot: u32,
    pub party_id: u32,
    /// A promoter (else a merchant).
    pub promoter: bool,
    pub currency_slot: u8,
    /// Sweeps run while opted in.
    pub opted_in: bool,
    pub keep_minimum_minor: i64,
    pub instant_limit_minor: i64,
    /// Swept in and not redeemed.
    pub principal_minor: i64,
    /// Yield accrued and not redeemed (redemptions take it first).
    pub accrued_minor: i64,
    /// Every yield ever accrued.
    pub yield_total_minor: i64,
    /// The business day `instant_used_minor` counts.
    pub instant_day: u32,
    /// Redeemed at once on `instant_day`.
    pub instant_used_minor: i64,
    /// Redemptions waiting for `queued_due_day`.
    pub queued_minor: i64,
    pub queued_due_day: u32,
}

impl Holder {
    /// Principal and accrued yield.
    pub fn position_minor(&self) -> i64 {
        self.principal_minor + self.accrued_minor
    }

    /// What is left of the instant limit on `today`.
    pub fn instant_left_minor(&self, today: u32) -> i64 {
        let used = if self.instant_day == today {
            self.instant_used_minor
        } else {
            0
        };
        (self.instant_limit_minor - used).max(0)
    }

    /// Takes `amount` out of the position: accrued yield first, then principal.
    pub(crate) fn take(&mut self, amount_minor: i64) {
        assert!(
            (0..=self.position_minor()).contains(&amount_minor),
            "a redemption within the position"
        );
        let from_yield = amount_minor.min(self.accrued_minor);
        self.accrued_minor -= from_yield;
        self.principal_minor -= amount_minor - from_yield;
    }

    /// Counts `instant` as redeemed at once on `today`.
    pub(crate) fn use_instant(&mut self, today: u32, instant_minor: i64) {
        if self.instant_day != today {
            self.instant_day = today;
            self.instant_used_minor = 0;
        }
        self.instant_used_minor += instant_minor;
    }
}

/// A day's yield of one holder: `floor(position × y / 10^8)`.
pub fn holder_share(position_minor: i64, yield_per_10k_e4: i64) -> i64 {
    let share = i128::from(position_minor) * i128::from(yield_per_10k_e4) / YIELD_SCALE;
    i64::try_from(share).expect("a share is at most 1% of a position")
}

/// The fund's total for a day: `floor(Σ positions × y / 10^8)`.
pub fn fund_total(positions_minor: i128, yield_per_10k_e4: i64) -> i64 {
    let total = positions_minor * i128::from(yield_per_10k_e4) / YIELD_SCALE;
    i64::try_from(total).expect("the total is at most 1% of the positions, within i64")
}

/// How a redemption of `amount` splits with `instant_left` of today's limit: (instant, queued).
pub fn split_redemption(amount_minor: i64, instant_left_minor: i64) -> (i64, i64) {
    let instant = amount_minor.min(instant_left_minor.max(0));
    (instant, amount_minor - instant)
}

/// Per currency: what the fund's accounts must hold.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct YieldTotals {
    /// Σ positions (`yield_holdings`).
    pub positions_minor: i64,
    /// Σ yield declared, shares and residuals (`yield_fund`).
    pub declared_minor: i64,
    /// Σ residuals (`yield_residual`).
    pub residual_minor: i64,
    /// Σ queued redemptions (`yield_redemptions`).
    pub queued_minor: i64,
    /// The last published day (0 = none) and its yield.
    pub last_yield_day: u32,
    pub last_yield_per_10k_e4: i64,
}

/// A redemption request, kept for idempotency.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redemption {
    pub request_id: u64,
    pub promoter: bool,
    pub party_id: u32,
    pub currency: u16,
    pub amount_minor: i64,
    pub instant_minor: i64,
    pub queued_minor: i64,
}

impl Redemption {
    /// Same request fields (the answer's figures aside).
    pub fn same_request(&self, other: &Redemption) -> bool {
        (
            self.promoter,
            self.party_id,
            self.currency,
            self.amount_minor,
        ) == (
            other.promoter,
            other.party_id,
            other.currency,
            other.amount_minor,
        )
    }
}

/// The register.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Yields {
    /// In order of first opt-in; a line stays after opt-out.
    pub holders: Vec<Holder>,
    pub totals: [YieldTotals; CURRENCIES_MAX],
    /// The last day whose day step finished.
    pub through_day: u32,
    /// Where the day step's walk of `holders` goes on (0: not in a walk).
    pub cursor: u32,
    /// The day the walk in progress is for.
    pub walk_day: u32,
    /// Recent redemption requests, a ring of `REDEEM_IDS_KEPT`.
    pub redemptions: Vec<Redemption>,
    /// Where the ring's next entry goes once it is full.
    pub redemptions_next: u32,
}

impl Default for Yields {
    fn default() -> Self {
        Yields {
            holders: Vec::with_capacity(YIELD_HOLDERS_MAX),
            totals: [YieldTotals::default(); CURRENCIES_MAX],
            through_day: 0,
            cursor: 0,
            walk_day: 0,
            redemptions: Vec::with_capacity(REDEEM_IDS_KEPT),
            redemptions_next: 0,
        }
    }
}

impl Yields {
    /// Reserves the tables' room after a snapshot load (they never grow past it).
    pub(crate) fn reserve(&mut self) {
        let more = YIELD_HOLDERS_MAX.saturating_sub(self.holders.len());
        self.holders.reserve_exact(more);
        let more = REDEEM_IDS_KEPT.saturating_sub(self.redemptions.len());
        self.redemptions.reserve_exact(more);
    }

    /// The holder line of (party, currency slot).
    pub fn find(&self, party_slot: u32, currency_slot: u8) -> Option<usize> {
        self.holders
            .iter()
            .position(|h| h.party_slot == party_slot && h.currency_slot == currency_slot)
    }

    /// The holder line of (party, currency slot).
    pub fn holder(&self, party_slot: u32, currency_slot: u8) -> Option<&Holder> {
        self.find(party_slot, currency_slot)
            .map(|i| &self.holders[i])
    }

    /// Holders in currency slot `c` (opted in, or with money in the fund or queued).
    pub fn holders_in(&self, c: u8) -> u32 {
        let counts = |h: &&Holder| {
            h.currency_slot == c && (h.opted_in || h.position_minor() > 0 || h.queued_minor > 0)
        };
        self.holders.iter().filter(counts).count() as u32
    }

    /// A redemption request kept under `request_id`.
    pub fn redemption(&self, request_id: u64) -> Option<&Redemption> {
        self.redemptions.iter().find(|r| r.request_id == request_id)
    }

    /// Keeps a redemption request (the oldest goes once the ring is full).
    pub(crate) fn remember(&mut self, r: Redemption) {
        if self.redemptions.len() < REDEEM_IDS_KEPT {
            self.redemptions.push(r);
            return;
        }
        let at = self.redemptions_next as usize % REDEEM_IDS_KEPT;
        self.redemptions[at] = r;
        self.redemptions_next = ((at + 1) % REDEEM_IDS_KEPT) as u32;
    }

    /// Recomputes the per-currency positions and queued sums from the holders and compares them
    /// with the running totals (tests and tools: O(holders)).
    pub fn verify(&self) -> Result<(), String> {
        for c in 0..CURRENCIES_MAX {
            let of = |h: &&Holder| usize::from(h.currency_slot) == c;
            let positions: i64 = self
                .holders
                .iter()
                .filter(of)
                .map(|h| h.position_minor())
                .sum();
            let queued: i64 = self.holders.iter().filter(of).map(|h| h.queued_minor).sum();
            let t = &self.totals[c];
            if (positions, queued) != (t.positions_minor, t.queued_minor) {
                return Err(format!(
                    "currency slot {c}: holders' positions {positions} and queued {queued}, \
                     totals {} and {}",
                    t.positions_minor, t.queued_minor
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_floor_and_the_residual_is_the_totals_rest() {
        // 0.6543 per 10,000 units: 1,000,000 minor units earn 65.43 → 65.
        assert_eq!(holder_share(1_000_000, 6543), 65);
        assert_eq!(holder_share(9_999, 6543), 0);
        let positions = [1_000_000i64, 15_283, 7_777_777];
        let shares: i64 = positions.iter().map(|&p| holder_share(p, 6543)).sum();
        let total = fund_total(positions.iter().map(|&p| i128::from(p)).sum(), 6543);
        // 65 + 0 + 508 of 575: 2 left by rounding.
        assert_eq!((shares, total), (573, 575));
        assert!((0..positions.len() as i64).contains(&(total - shares)));
    }

    #[test]
    fn a_redemption_takes_yield_first_and_splits_at_the_limit() {
        let mut h = Holder {
            party_slot: 0,
            party_id: 1,
            promoter: false,
            currency_slot: 0,
            opted_in: true,
            keep_minimum_minor: 0,
            instant_limit_minor: 100,
            principal_minor: 500,
            accrued_minor: 30,
            yield_total_minor: 30,
            instant_day: 0,
            instant_used_minor: 0,
            queued_minor: 0,
            queued_due_day: 0,
        };
        h.take(50);
        assert_eq!((h.principal_minor, h.accrued_minor), (480, 0));
        assert_eq!(split_redemption(250, h.instant_left_minor(7)), (100, 150));
        h.use_instant(7, 100);
        assert_eq!(h.instant_left_minor(7), 0);
        assert_eq!(h.instant_left_minor(8), 100);
        assert_eq!(split_redemption(10, 0), (0, 10));
    }
}
