//! Channel settlement (docs/RECONCILIATION.md, section 6): what a channel paid the platform for a
//! batch of its bill days, as the journaled admin input `ChannelSettlement`. The paid amount moves
//! from the channel's receivable to `platform_bank`, the fee difference to
//! `channel_fee_differences` (each the other way when negative). A batch is applied once per
//! (channel, currency, batch id): the ids of the last `BATCH_IDS_KEPT` batches of each channel and
//! currency are kept for the check, so a rerun of `sluice reconcile` that sends a batch again
//! changes nothing.
//!
//! The figures per channel and currency (`SettlementAccount`) also carry what resolved
//! discrepancies wrote off (`discrepancies.rs`), so that `Engine::verify_ledger` can check a
//! channel's receivable against its book less everything settled or written off.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{ChannelSettlement, Message, ReasonCode};
use std::collections::VecDeque;

use crate::config::{Refusal, invalid};
use crate::core::Engine;
use crate::input::InputMeta;
use crate::limits::Additions;
use crate::outbox::Outbox;

/// Batch ids kept per channel and currency for the duplicate check: 512 daily batches are
/// about 17 months, longer than any channel keeps a bill downloadable (WeChat Pay: 3 months,
/// Alipay: 1 year), so a batch that could still be sent again is still known. A repeat of an
/// older batch would be applied again: `sluice reconcile` never settles a day that old.
pub const BATCH_IDS_KEPT: usize = 512;

/// What one channel settled in one currency, and what was written off its receivable.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SettlementAccount {
    pub channel_id: u16,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// Batches applied.
    pub batches: u64,
    /// Σ paid_minor of the batches (ChannelReceivable → PlatformBank).
    pub paid_minor: i128,
    /// Σ fee_difference_minor of the batches (ChannelReceivable → ChannelFeeDifferences).
    pub fee_differences_minor: i128,
    /// Σ write_off_minor of resolved discrepancies (ChannelReceivable → ChannelWriteOffs).
    pub written_off_minor: i128,
    /// The last batch applied (0: none yet), the bill days it covered and its input sequence.
    pub last_batch_id: u64,
    pub last_first_day: u32,
    pub last_last_day: u32,
    pub last_seq: u64,
    /// The ids of the last `BATCH_IDS_KEPT` batches, oldest first.
    pub recent_batch_ids: VecDeque<u64>,
}

impl SettlementAccount {
    fn new(channel_id: u16, currency: u16) -> Self {
        SettlementAccount {
            channel_id,
            currency,
            batches: 0,
            paid_minor: 0,
            fee_differences_minor: 0,
            written_off_minor: 0,
            last_batch_id: 0,
            last_first_day: 0,
            last_last_day: 0,
            last_seq: 0,
            recent_batch_ids: VecDeque::new(),
        }
    }

    /// What moved out of the channel's receivable by settlement and write-off.
    pub fn settled_minor(&self) -> i128 {
        self.paid_minor + self.fee_differences_minor + self.written_off_minor
    }
}

/// Every channel's settlement figures, sorted by (channel id, currency). Bounded by the channels
/// times the ledger currencies: an entry needs both (`apply` checks them).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSettlements {
    pub accounts: Vec<SettlementAccount>,
}

impl ChannelSettlements {
    fn position(&self, channel_id: u16, currency: u16) -> Result<usize, usize> {
        self.accounts
            .binary_search_by_key(&(channel_id, currency), |a| (a.channel_id, a.currency))
    }

    /// The figures of `channel_id` in `currency`, if it has any.
    pub fn get(&self, channel_id: u16, currency: u16) -> Option<&SettlementAccount> {
        Some(&self.accounts[self.position(channel_id, currency).ok()?])
    }

    /// The figures of `channel_id` in `currency`, created empty when it has none.
    pub(crate) fn entry(&mut self, channel_id: u16, currency: u16) -> &mut SettlementAccount {
        let i = match self.position(channel_id, currency) {
            Ok(i) => i,
            Err(i) => {
                let account = SettlementAccount::new(channel_id, currency);
                self.accounts.insert(i, account);
                i
            }
        };
        &mut self.accounts[i]
    }

    /// Whether the batch was applied already (among the last `BATCH_IDS_KEPT`).
    fn applied(&self, channel_id: u16, currency: u16, batch_id: u64) -> bool {
        self.get(channel_id, currency)
            .is_some_and(|a| a.recent_batch_ids.contains(&batch_id))
    }
}

/// A channel's slot and a currency's ledger slot, as an admin input about money names them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelCurrency {
    pub channel_slot: u32,
    pub currency_slot: u8,
}

/// Where a channel stands with the platform in one currency (`Engine::channel_position`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelPosition {
    /// What it owes: its ChannelReceivable, posted debits less posted credits.
    pub receivable_minor: i128,
    /// What it paid into the platform's bank (Σ paid_minor of its batches).
    pub paid_minor: i128,
    /// Σ fee_difference_minor of its batches.
    pub fee_differences_minor: i128,
    /// What resolved discrepancies wrote off its receivable.
    pub written_off_minor: i128,
    /// Batches applied.
    pub batches: u64,
    /// Its open discrepancies: how many, and Σ amount_minor.
    pub open_discrepancies: u64,
    pub open_discrepancies_minor: i128,
}

impl Engine {
    /// Where channel `channel_id` stands in `currency`: what it owes, paid, its fee differences,
    /// write-offs and open discrepancies (reports, tools and tests). None for an unknown channel
    /// or a currency outside the ledger.
    pub fn channel_position(&self, channel_id: u16, currency: u16) -> Option<ChannelPosition> {
        let at = self.channel_currency(channel_id, currency).ok()?;
        let ledger = &self.state.ledger;
        let rx = ledger.account(ledger.channel_receivable(at.currency_slot, at.channel_slot));
        let settled = self.state.channel_settlements.get(channel_id, currency);
        let (open, open_minor) = self.state.discrepancies.open_of(channel_id, currency);
        Some(ChannelPosition {
            receivable_minor: rx.debit_balance(),
            paid_minor: settled.map_or(0, |a| a.paid_minor),
            fee_differences_minor: settled.map_or(0, |a| a.fee_differences_minor),
            written_off_minor: settled.map_or(0, |a| a.written_off_minor),
            batches: settled.map_or(0, |a| a.batches),
            open_discrepancies: open,
            open_discrepancies_minor: open_minor,
        })
    }

    /// A channel's settlement figures in a currency as a ChannelSettlement (ConfigQuery; `id` =
    /// channel id × 65536 + currency): the sums of its batches, the last batch's id and days, and
    /// `batches N, written off W` as its reference. Sums past an i64 are clamped (a report, not
    /// an input: applying it back is refused DuplicateBatch anyway).
    pub(crate) fn settlement_config(&self, id: u64) -> Option<ChannelSettlement> {
        let (channel_id, currency) = (u16::try_from(id >> 16).ok()?, id as u16);
        let a = self.state.channel_settlements.get(channel_id, currency)?;
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN + 1), i128::from(i64::MAX)) as i64;
        let summary = format!("batches {}, written off {}", a.batches, a.written_off_minor);
        Some(ChannelSettlement {
            channel_id,
            currency,
            batch_id: a.last_batch_id,
            paid_minor: clamp(a.paid_minor),
            fee_difference_minor: clamp(a.fee_differences_minor),
            first_day: a.last_first_day,
            last_day: a.last_last_day,
            batch_ref: sluice_protocol::codec::text(&summary),
        })
    }

    /// The platform's bank, fee-difference and write-off accounts against the channels' figures,
    /// per currency: each holds posted exactly the sum of its channels' (`Engine::verify_ledger`).
    pub(crate) fn verify_settlement_accounts(&self) -> Result<(), String> {
        let ledger = &self.state.ledger;
        for (c, &currency) in self.state.limits.currencies.iter().enumerate() {
            let of = |f: fn(&SettlementAccount) -> i128| -> i128 {
                let accounts = self.state.channel_settlements.accounts.iter();
                accounts.filter(|a| a.currency == currency).map(f).sum()
            };
            let c = c as u8;
            let checks = [
                (
                    "platform_bank",
                    ledger.platform_bank(c),
                    of(|a| a.paid_minor) - self.state.payout_book.bank_out_minor[usize::from(c)],
                ),
                (
                    "channel_fee_differences",
                    ledger.channel_fee_differences(c),
                    of(|a| a.fee_differences_minor),
                ),
                (
                    "channel_write_offs",
                    ledger.channel_write_offs(c),
                    of(|a| a.written_off_minor),
                ),
            ];
            for (name, id, expected) in checks {
                let a = ledger.account(id);
                if a.debit_balance() != expected || a.debits_pending + a.credits_pending != 0 {
                    return Err(format!(
                        "{name} in {currency}: {a:?}, the channels' figures say {expected}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The slots of a configured channel and a ledger currency, or why there are none.
    pub(crate) fn channel_currency(
        &self,
        channel_id: u16,
        currency: u16,
    ) -> Result<ChannelCurrency, Refusal> {
        let channel_slot = *self
            .index
            .channels
            .get(&channel_id)
            .ok_or((ReasonCode::UnknownChannel, "channel_id is not configured"))?;
        let currency_slot = self
            .state
            .limits
            .currencies
            .iter()
            .position(|&c| c == currency)
            .ok_or((
                ReasonCode::CurrencyNotAccepted,
                "currency is not a ledger currency",
            ))?;
        Ok(ChannelCurrency {
            channel_slot,
            currency_slot: currency_slot as u8,
        })
    }

    /// Whether signed postings out of (or into) a channel's receivable fit the money limits:
    /// each (account, amount) moves `amount` from the receivable to the account (negative: the
    /// other way). `i64::MIN` never does (its size is past the largest balance).
    pub(crate) fn receivable_moves_fit(&self, at: ChannelCurrency, moves: &[(u32, i64)]) -> bool {
        let ledger = &self.state.ledger;
        let rx = ledger.channel_receivable(at.currency_slot, at.channel_slot);
        let mut additions = Additions::default();
        for &(account, amount) in moves {
            if amount == i64::MIN {
                return false;
            }
            additions.signed(account, rx, amount);
        }
        additions.fit(ledger)
    }

    /// Applies a ChannelSettlement and answers it with a ConfigAck (object id = batch id).
    pub(crate) fn handle_channel_settlement(
        &mut self,
        meta: &InputMeta,
        m: &ChannelSettlement,
        out: &mut Outbox,
    ) {
        let result = self
            .check_settlement(m)
            .map(|at| self.apply_settlement(meta, m, at));
        self.config_ack(
            meta,
            ChannelSettlement::TEMPLATE_ID,
            m.batch_id,
            result,
            out,
        );
    }

    /// Validates a ChannelSettlement; changes nothing.
    fn check_settlement(&self, m: &ChannelSettlement) -> Result<ChannelCurrency, Refusal> {
        let at = self.channel_currency(m.channel_id, m.currency)?;
        if m.batch_id == 0 {
            return invalid("batch_id must be > 0");
        }
        if m.first_day > m.last_day {
            return invalid("first_day must be at most last_day");
        }
        if self
            .state
            .channel_settlements
            .applied(m.channel_id, m.currency, m.batch_id)
        {
            return Err((
                ReasonCode::DuplicateBatch,
                "this channel's batch was applied already",
            ));
        }
        let ledger = &self.state.ledger;
        let c = at.currency_slot;
        let moves = [
            (ledger.platform_bank(c), m.paid_minor),
            (ledger.channel_fee_differences(c), m.fee_difference_minor),
        ];
        if !self.receivable_moves_fit(at, &moves) {
            return Err((
                ReasonCode::BalanceOverflow,
                "the settlement would take an account past the largest balance",
            ));
        }
        Ok(at)
    }

    /// Posts a checked ChannelSettlement and records the batch.
    fn apply_settlement(&mut self, meta: &InputMeta, m: &ChannelSettlement, at: ChannelCurrency) {
        let ledger = &mut self.state.ledger;
        let c = at.currency_slot;
        let rx = ledger.channel_receivable(c, at.channel_slot);
        ledger.post_signed(ledger.platform_bank(c), rx, m.paid_minor);
        ledger.post_signed(
            ledger.channel_fee_differences(c),
            rx,
            m.fee_difference_minor,
        );
        let a = self
            .state
            .channel_settlements
            .entry(m.channel_id, m.currency);
        a.batches += 1;
        a.paid_minor += i128::from(m.paid_minor);
        a.fee_differences_minor += i128::from(m.fee_difference_minor);
        a.last_batch_id = m.batch_id;
        a.last_first_day = m.first_day;
        a.last_last_day = m.last_day;
        a.last_seq = meta.seq;
        if a.recent_batch_ids.len() == BATCH_IDS_KEPT {
            a.recent_batch_ids.pop_front();
        }
        a.recent_batch_ids.push_back(m.batch_id);
        assert!(a.recent_batch_ids.len() <= BATCH_IDS_KEPT);
    }
}
