//! Payouts (docs/PAYOUTS.md, section 4): the payout table's entries, the payout channels, the
//! payout policy per currency, and a party's payout terms.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{PartyKind, PayoutMode, PayoutState, ReasonCode};
use std::collections::VecDeque;

use super::CURRENCIES_MAX;
use super::receipt::Due;
use super::wire::{PartyKindDef, PayoutModeDef, PayoutStateDef, ReasonCodeDef};

/// The party slot that names the platform in a payout (its "available" is `platform_revenue`).
pub const PLATFORM_PARTY: u32 = u32::MAX;

/// Who asked for a payout: it decides the index key and who hears of its outcome.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PayoutOrigin {
    /// An acquirer's WithdrawRequest: indexed by (acquirer, withdraw_request_id); the acquirer
    /// hears WithdrawAck, WithdrawResult and WithdrawReturned.
    Acquirer = 1,
    /// An admin's PayoutRequest: indexed by (`ADMIN_OWNER`, payout_request_id).
    Admin = 2,
    /// An automatic payout after a settlement: not indexed (nobody resends it).
    Automatic = 3,
}

/// The index owner of admin payout requests (no acquirer has this id: acquirer ids are u32 > 0
/// and a login principal never reaches u32::MAX in practice; the key spaces are disjoint anyway
/// because acquirers' payouts are keyed by their own id).
pub const ADMIN_OWNER: u32 = u32::MAX;

/// One payout: in review, sent, or ended (kept for duplicates until its window passes).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Payout {
    /// The payout id (`slot_id` of its slot and generation).
    pub id: u64,
    /// The occupancy of its slot.
    pub generation: u32,
    /// A free slot.
    pub vacant: bool,
    pub origin: PayoutOrigin,
    pub created_ns: u64,
    pub updated_ns: u64,
    /// The WithdrawRequest's or PayoutRequest's id (0 for an automatic payout).
    pub request_id: u64,
    pub request_hash: u64,
    /// The acquirer that asked (0 unless `origin` is Acquirer).
    pub acquirer_id: u32,
    #[rkyv(with = PartyKindDef)]
    pub party_kind: PartyKind,
    /// The merchant or promoter id (0 for the platform).
    pub party_id: u32,
    /// The party's slot, or `PLATFORM_PARTY`.
    pub party_slot: u32,
    pub currency: u16,
    pub currency_slot: u8,
    /// The payout channel's slot in `PayoutBook::channels`.
    pub channel_slot: u32,
    /// What the party receives.
    pub amount_minor: i64,
    /// The payout channel's fee, borne by the party.
    pub fee_minor: i64,
    #[rkyv(with = PayoutStateDef)]
    pub state: PayoutState,
    /// Why it failed (None otherwise).
    #[rkyv(with = ReasonCodeDef)]
    pub reason: ReasonCode,
    /// Sent: whether its PayoutDispatch went out (an automatic payout's goes on a pulse).
    pub dispatched: bool,
    /// Sent: when the channel is asked next (the deadline, then each query interval).
    pub due_ns: u64,
    /// The party's available balance right after the reservation.
    pub available_after_minor: i64,
    /// The party's available balance right after the payout ended (or was returned).
    pub outcome_available_minor: i64,
    /// The channel's reference from its final answer.
    pub channel_ref: [u8; 24],
}

impl Payout {
    /// Whether its money is still reserved (in review or at the channel).
    pub fn is_open(&self) -> bool {
        matches!(self.state, PayoutState::Review | PayoutState::Sent)
    }

    /// Amount and fee: what the party's balance gives.
    pub fn total_minor(&self) -> i64 {
        self.amount_minor + self.fee_minor
    }
}

/// A payout channel (ConfigPayoutChannel).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PayoutChannel {
    pub id: u16,
    pub name: [u8; 16],
    pub active: bool,
    pub timeout_ms: u32,
    pub query_interval_ms: u32,
    pub fee_fixed_minor: i64,
    /// The fee's rate part, parts per billion of the amount.
    pub fee_ppb: i64,
}

/// The payout policy of one ledger currency (ConfigPayoutPolicy).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayoutPolicy {
    /// A larger payout waits in Review (0 = none does).
    pub review_above_minor: i64,
    /// The platform's own payouts go through this payout channel (0 = none).
    pub platform_channel_id: u16,
}

/// A party's payout terms (ConfigMerchant, ConfigPromoter since schema 7).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutTerms {
    #[rkyv(with = PayoutModeDef)]
    pub mode: PayoutMode,
    /// 0 = none.
    pub channel_id: u16,
    pub min_payout_minor: i64,
}

impl Default for PayoutTerms {
    fn default() -> Self {
        PayoutTerms {
            mode: PayoutMode::Manual,
            channel_id: 0,
            min_payout_minor: 0,
        }
    }
}

/// Payout channels, policies, the questions queue and the running in-flight sums.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct PayoutBook {
    pub channels: Vec<PayoutChannel>,
    /// Per ledger currency slot.
    pub policies: [PayoutPolicy; CURRENCIES_MAX],
    /// Sent payouts to look at on a pulse (dispatch, or ask), each once, round-robin.
    pub queue: VecDeque<Due>,
    /// Per ledger currency slot: amount + fee of every open payout (what `payouts_in_flight`
    /// holds reserved; checked after every input).
    pub in_flight_minor: [i64; CURRENCIES_MAX],
    /// Open payouts (Review or Sent).
    pub open: u64,
    /// Per ledger currency slot: what payouts took out of the platform's bank (amount + fee of
    /// each paid payout, less each returned amount): `platform_bank` is what the channels paid in
    /// less this.
    pub bank_out_minor: [i128; CURRENCIES_MAX],
}

impl PayoutBook {
    /// Empty, with the questions queue preallocated for `payouts_max` payouts.
    pub fn with_capacity(payouts_max: u32) -> PayoutBook {
        let mut book = PayoutBook::default();
        book.reserve(payouts_max);
        book
    }

    /// Preallocates the questions queue (after a snapshot is loaded, too).
    pub fn reserve(&mut self, payouts_max: u32) {
        let more = (payouts_max as usize).saturating_sub(self.queue.len());
        self.queue.reserve_exact(more);
    }
}
