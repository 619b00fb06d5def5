//! The payout recorder (docs/STORE.md, section 1; docs/PAYOUTS.md, section 4): a payout changes
//! state on inputs whose outputs do not say it all (a promoter's or the platform's payout has no
//! acquirer to tell, an automatic payout is asked by no one, a review's approval sends nothing to
//! the party), so an engine that exports the flow (the exporter's follower) asks the engine to
//! record every payout state change an input makes, as the ledger records its transfers
//! (`crate::transfers`). Off on the live engine (one predictable branch per change); cleared at
//! the start of each applied input. It is not part of the state: the engine holds it beside the
//! state, so snapshots, `STATE_FORMAT` and the state hash do not change, and a restored engine
//! records nothing until asked again.

use sluice_protocol::{PartyKind, PayoutState, ReasonCode};

use crate::Engine;
use crate::state::PayoutOrigin;

/// One payout state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutEvent {
    /// Sluice's payout id (a merchant's withdrawal id).
    pub payout_id: u64,
    pub party_kind: PartyKind,
    /// The merchant or promoter id; 0 for the platform.
    pub party_id: u32,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// What the party's bank receives, minor units.
    pub amount_minor: i64,
    /// The payout channel's fee, borne by the party, minor units.
    pub fee_minor: i64,
    /// The state the payout is in after the change.
    pub state: PayoutState,
    /// Why it failed (`None` unless `Failed`).
    pub reason: ReasonCode,
    /// The payout channel (0 when none was chosen yet).
    pub channel_id: u16,
    /// The payout channel's own result code (0 when none came).
    pub channel_code: u16,
    /// The acquirer's withdraw_request_id of a merchant's withdrawal (0 otherwise).
    pub withdraw_request_id: u64,
    /// Whether the payout was automatic (the party's payout mode, after a settlement).
    pub automatic: bool,
}

/// The recorder the engine carries beside its state.
#[derive(Debug, Clone, Default)]
pub struct PayoutRecorder {
    on: bool,
    events: Vec<PayoutEvent>,
}

impl PayoutRecorder {
    /// Whether recording: the one branch the live engine pays per payout state change.
    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Out of line: the live engine never gets here.
    #[cold]
    #[inline(never)]
    pub(crate) fn push(&mut self, event: PayoutEvent) {
        debug_assert!(self.on, "recorded only when on");
        self.events.push(event);
    }

    /// Gives this input's final changes of `payout_id` the channel's own result code (the
    /// channel's answer carries it; the state change does not).
    #[cold]
    #[inline(never)]
    pub(crate) fn set_channel_code(&mut self, payout_id: u64, channel_code: u16) {
        let ended = |e: &PayoutEvent| {
            matches!(
                e.state,
                PayoutState::Paid | PayoutState::Failed | PayoutState::Returned
            )
        };
        for e in self.events.iter_mut() {
            if e.payout_id == payout_id && ended(e) {
                e.channel_code = channel_code;
            }
        }
    }

    #[inline(always)]
    pub(crate) fn clear(&mut self) {
        if self.on {
            self.events.clear();
        }
    }

    pub(crate) fn set(&mut self, on: bool) {
        self.on = on;
        self.events.clear();
    }

    pub(crate) fn events(&self) -> &[PayoutEvent] {
        &self.events
    }
}

impl Engine {
    /// The hook payouts.rs calls right after payout `slot` changed state (opened into Review or
    /// Sent, approved, paid, failed or rejected, returned): one branch when not recording.
    #[inline(always)]
    pub(crate) fn record_payout(&mut self, slot: u32) {
        if self.payout_events.is_on() {
            self.record_payout_now(slot);
        }
    }

    /// The channel's own result code for this input's final changes of `payout_id` (called
    /// where the channel's answer is at hand).
    #[inline(always)]
    pub(crate) fn record_payout_channel_code(&mut self, payout_id: u64, channel_code: u16) {
        if self.payout_events.is_on() {
            self.payout_events.set_channel_code(payout_id, channel_code);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_payout_now(&mut self, slot: u32) {
        let p = &self.state.payouts[slot as usize];
        assert!(!p.vacant, "a payout that changed state is in its slot");
        let channel = self.state.payout_book.channels.get(p.channel_slot as usize);
        let event = PayoutEvent {
            payout_id: p.id,
            party_kind: p.party_kind,
            party_id: p.party_id,
            currency: p.currency,
            amount_minor: p.amount_minor,
            fee_minor: p.fee_minor,
            state: p.state,
            reason: p.reason,
            channel_id: channel.map_or(0, |c| c.id),
            channel_code: 0,
            withdraw_request_id: if p.origin == PayoutOrigin::Acquirer {
                p.request_id
            } else {
                0
            },
            automatic: p.origin == PayoutOrigin::Automatic,
        };
        self.payout_events.push(event);
    }
}

impl Engine {
    /// Starts (or stops) recording payout state changes (the exporter's engine; never the live
    /// one).
    pub fn record_payouts(&mut self, on: bool) {
        self.payout_events.set(on);
    }

    /// The payout state changes the last applied input made, in the order made (empty unless
    /// recording).
    pub fn recorded_payouts(&self) -> &[PayoutEvent] {
        self.payout_events.events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(state: PayoutState) -> PayoutEvent {
        PayoutEvent {
            payout_id: 7,
            party_kind: PartyKind::Promoter,
            party_id: 3,
            currency: 156,
            amount_minor: 1_000,
            fee_minor: 5,
            state,
            reason: ReasonCode::None,
            channel_id: 40,
            channel_code: 0,
            withdraw_request_id: 0,
            automatic: false,
        }
    }

    #[test]
    fn records_while_on_clears_per_input_and_takes_the_channels_code() {
        let mut r = PayoutRecorder::default();
        assert!(!r.is_on());
        r.set(true);
        r.push(event(PayoutState::Sent));
        r.push(event(PayoutState::Failed));
        r.set_channel_code(7, 51);
        r.set_channel_code(8, 99);
        let got: Vec<(PayoutState, u16)> = r
            .events()
            .iter()
            .map(|e| (e.state, e.channel_code))
            .collect();
        assert_eq!(got, [(PayoutState::Sent, 0), (PayoutState::Failed, 51)]);
        r.clear();
        assert!(r.events().is_empty());
        r.push(event(PayoutState::Returned));
        r.set(false);
        assert!(r.events().is_empty(), "turning it off forgets");
    }
}
