//! The engine: construction from Genesis, the input loop's single entry point, indexes, snapshots
//! and the state hash.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rustc_hash::FxHashMap;
use sluice_protocol::{
    BalanceQuery, ChannelControlResult, ChannelResult, ChannelSettlement, ConfigCalendarDay,
    ConfigChannel, ConfigCredential, ConfigListEntry, ConfigMerchant, ConfigMerchantNotify,
    ConfigPromoter, ConfigQuery, ConfigRiskModel, ConfigRiskRule, ConfigRiskRuleText,
    ConfigSplitProfile, DecodeError, Discrepancy, Genesis, Message, MessageHeader, PaymentRequest,
    PayoutChannelResult, Pulse, QueryOrder, ReasonCode, RefundChannelResult, RefundRequest, Reject,
    ReleaseSettlement, Role, SnapshotRequest, StatsQuery, WithdrawRequest, codec::text, may_send,
    split_sbe,
};
use std::fmt;

use crate::credentials::Credentials;
use crate::index::IdIndex;
use crate::input::{ENVELOPE_LEN, InputMeta, ROLE_SEQUENCER, read_envelope};
use crate::ledger::Ledger;
use crate::out_seq::OutSeqs;
use crate::outbox::{Dest, Outbox};
use crate::risk::RiskState;
use crate::state::{Counters, Limits, Retention, State};

/// The layout of `State` as serialized (and hashed). Raised whenever a change to the state's types
/// changes their rkyv bytes: a snapshot of another format is refused with a clear reason (and
/// recovery falls back to an older snapshot or the journal), and the state hash of the same inputs
/// differs between formats. 1: the first layout (its snapshots carry no mark); 2: velocity tables
/// as 128-byte sets, windows padded to cache lines; 3: optional slots as `Option<Slot>` (index + 1,
/// none = 0, instead of `u32::MAX`), reason codes in one byte, the risk state in its three rooms
/// (rules, lists, velocity); 4: the credential table; 5: the channels' query settings (schema
/// version 3); 6: uncertain outcomes (an attempt's next question and control-list links, 48 bytes;
/// the channels' control and refund query lists and books); 7: what refunds took from each split
/// line (`Order::taken_minor`); 8: retention (order and refund ids and generations, receipts,
/// free slots and due queues); 9: the acquirers' output sequences (`State::out_seqs`) and the
/// merchants' notify settings (`State::merchant_notify`); 10: the channels' bill and settlement
/// settings, a refund's fee return, channel settlements, the discrepancy list, 8 fixed accounts;
/// 11: settlement schedules and payouts (docs/PAYOUTS.md): the working-day calendar, a party's
/// schedule, rolling reserve and `reserved`/`held` queues, a split line's `held`, four accounts
/// per party (`Reserve`); the payout table replaces the withdrawals, payout channels, policies,
/// the questions queue, a party's payout terms; 10 fixed accounts: payouts_in_flight,
/// payout_fees; 12: risk rules as text (docs/RISK_RULES.md): a rule's priority and source; the
/// risk-score model and an order's score (docs/RISK_SCORE.md); labels, disputes and the review
/// queue (docs/DISPUTES.md): the labels table, the disputes table and debts, the review queue,
/// three limits, a channel book's disputes, 13 fixed accounts: disputes_pending, dispute_holds,
/// dispute_receivable; 13: the financial extension (docs/FINANCE.md): 26 fixed accounts; the balance
/// yield's register (`State::yields`: holders, per-currency totals, redemption ids; docs/YIELD.md);
/// consumer installments' plans, terms and running totals (`State::installments`); merchant
/// credit (docs/CREDIT.md): the credit policy, flow rings and loans table (`State::credit`).
pub const STATE_FORMAT: u32 = 13;
/// The first bytes of a snapshot payload.
const SNAPSHOT_MAGIC: &[u8; 4] = b"SLST";
/// Magic, format, 8 reserved bytes, state length, counters length.
const SNAPSHOT_HEADER_LEN: usize = 32;
const _: () = assert!(SNAPSHOT_MAGIC.len() + 4 + 8 + 8 + 8 == SNAPSHOT_HEADER_LEN);

/// The state hash: xxh3-128 of the rkyv bytes of the business state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateHash(pub [u8; 16]);

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({self})")
    }
}

/// Why an input could not be applied at all (the engine's state is unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// The input's sequence is not the next one.
    SequenceGap { expected: u64, got: u64 },
    /// Genesis is invalid (only from `Engine::new`).
    InvalidGenesis(String),
    /// The snapshot could not be read.
    BadSnapshot(String),
    /// A journal record's payload is too short to hold the input envelope.
    MissingEnvelope { seq: u64, len: usize },
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::SequenceGap { expected, got } => {
                write!(f, "input sequence {got} is not the next one ({expected})")
            }
            ApplyError::InvalidGenesis(why) => write!(f, "invalid genesis: {why}"),
            ApplyError::BadSnapshot(why) => write!(f, "bad snapshot: {why}"),
            ApplyError::MissingEnvelope { seq, len } => write!(
                f,
                "input {seq} has no envelope: its payload is {len} bytes, fewer than the {ENVELOPE_LEN} of an envelope"
            ),
        }
    }
}

impl std::error::Error for ApplyError {}

/// Hash indexes over the tables. Not serialized: rebuilt from the tables on load.
#[derive(Default)]
pub(crate) struct Index {
    pub merchants: FxHashMap<u32, u32>,
    pub promoters: FxHashMap<u32, u32>,
    pub profiles: FxHashMap<u32, u32>,
    pub channels: FxHashMap<u16, u32>,
    /// Payments by (acquirer, request id): an order slot, or `RETIRED` | a receipt slot.
    pub orders: IdIndex,
    /// Retired orders' receipts by order id (owner 0).
    pub receipts: IdIndex,
    pub refunds: IdIndex,
    /// Payouts by (acquirer, withdraw_request_id) and (`ADMIN_OWNER`, payout_request_id).
    pub payouts: IdIndex,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex::with_max(0)
    }
}

fn map<K, V>(capacity: u32) -> FxHashMap<K, V> {
    FxHashMap::with_capacity_and_hasher(capacity as usize, Default::default())
}

impl Index {
    /// Maps every page of the id indexes (they come from zeroed memory, mapped on first write).
    fn prefault(&mut self) -> usize {
        self.orders.prefault()
            + self.receipts.prefault()
            + self.refunds.prefault()
            + self.payouts.prefault()
    }

    fn with_limits(l: &Limits) -> Self {
        Index {
            merchants: map(l.merchants_max),
            promoters: map(l.promoters_max),
            profiles: map(l.split_profiles_max),
            channels: map(l.channels_max),
            orders: IdIndex::with_max(l.orders_max + l.receipts_max),
            receipts: IdIndex::with_max(l.receipts_max),
            refunds: IdIndex::with_max(l.refunds_max),
            payouts: IdIndex::with_max(l.withdrawals_max),
        }
    }
}

/// A few figures for logs and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub last_seq: u64,
    pub now_ns: u64,
    pub orders: u64,
    pub refunds: u64,
    pub merchants: u64,
    pub channels: u64,
    pub ledger_balanced: bool,
    pub transfers: u64,
}

/// The business-logic processor.
pub struct Engine {
    pub(crate) state: State,
    pub(crate) counters: Counters,
    pub(crate) index: Index,
    snapshot_requested: bool,
    /// Records payout state changes for the exporter (`crate::payout_events`): beside the state,
    /// never in it.
    pub(crate) payout_events: crate::payout_events::PayoutRecorder,
    /// Records risk observations for training and backtests (`crate::risk_observations`):
    /// beside the state, never in it.
    pub(crate) risk_observations: crate::risk_observations::ObservationRecorder,
    /// Records labels, dispute stages and review changes for the exporter
    /// (`crate::dispute_events`): beside the state, like `payout_events`.
    pub(crate) dispute_events: crate::dispute_events::DisputeRecorder,
    /// Records the financial extension's movements for the exporter (`crate::finance_events`).
    pub(crate) finance_events: crate::finance_events::FinanceRecorder,
    /// TEST ONLY (`test-support`): captures not kept are left unreversed (reversals.rs).
    #[cfg(feature = "test-support")]
    pub(crate) reversals_disabled: bool,
}

impl Engine {
    /// Builds the engine from the Genesis input (journal sequence 1, stamped `timestamp_ns`),
    /// preallocating every table.
    pub fn new(genesis: &Genesis, timestamp_ns: u64) -> Result<Engine, ApplyError> {
        let limits = crate::genesis::check_genesis(genesis)?;
        let plans_max = genesis.installment_plans_max;
        if plans_max > crate::installments::PLANS_MAX_LIMIT {
            let why = "installment_plans_max out of range (at most 1,048,576)";
            return Err(ApplyError::InvalidGenesis(why.to_string()));
        }
        let ledger = Ledger::new(
            limits.currencies.len() as u32,
            limits.channels_max,
            limits.parties_max(),
        );
        let state = State {
            last_seq: 1,
            now_ns: timestamp_ns,
            settled_through_day: 0,
            calendar: crate::calendar::Calendar::new(),
            fee_fixed_max: 0,
            merchants: Vec::with_capacity(limits.merchants_max as usize),
            promoters: Vec::with_capacity(limits.promoters_max as usize),
            profiles: Vec::with_capacity(limits.split_profiles_max as usize),
            parties: Vec::with_capacity(limits.parties_max() as usize),
            channels: Vec::with_capacity(limits.channels_max as usize),
            orders: Vec::with_capacity(limits.orders_max as usize),
            refunds: Vec::with_capacity(limits.refunds_max as usize),
            payouts: Vec::with_capacity(limits.withdrawals_max as usize),
            payout_book: crate::state::PayoutBook::with_capacity(limits.withdrawals_max),
            retention: Retention::with_limits(&limits),
            ledger,
            risk: RiskState::new(
                limits.risk_rules_max,
                limits.list_entries_max,
                limits.velocity_keys_max,
            ),
            credentials: Credentials::with_capacity(),
            merchant_notify: Default::default(),
            out_seqs: OutSeqs::with_capacity(),
            channel_settlements: Default::default(),
            discrepancies: Default::default(),
            labels: Default::default(),
            disputes: Default::default(),
            review: crate::review::ReviewQueue::with_capacity(limits.review_queue_max),
            yields: Default::default(),
            installments: crate::installments::Installments::with_max(plans_max),
            credit: crate::credit::Credit::with_limits(&limits),
            limits,
        };
        crate::mem::advise_huge_pages(&state.orders);
        crate::mem::advise_huge_pages(&state.refunds);
        let mut counters = Counters::default();
        counters
            .rule_hits
            .reserve_exact(state.limits.risk_rules_max as usize);
        let index = Index::with_limits(&state.limits);
        Ok(Engine {
            state,
            counters,
            index,
            snapshot_requested: false,
            payout_events: Default::default(),
            risk_observations: Default::default(),
            dispute_events: Default::default(),
            finance_events: Default::default(),
            #[cfg(feature = "test-support")]
            reversals_disabled: false,
        })
    }

    /// Builds the engine from the journal's first record: Genesis, as envelope + SBE.
    pub fn from_genesis_record(timestamp_ns: u64, payload: &[u8]) -> Result<Engine, ApplyError> {
        let envelope = read_envelope(payload).map_err(|_| ApplyError::MissingEnvelope {
            seq: 1,
            len: payload.len(),
        })?;
        let genesis = sluice_protocol::decode_sbe::<Genesis>(envelope.sbe)
            .map_err(|e| ApplyError::InvalidGenesis(e.to_string()))?;
        Engine::new(&genesis, timestamp_ns)
    }

    /// Applies one journal record — `payload` is the input envelope then the SBE message, exactly
    /// as journaled — as input `seq` stamped `timestamp_ns`. Outputs go to `out`, each tagged with
    /// `seq`. This is the one place a record becomes an engine call: the live processor, recovery,
    /// replay, followers, the driver and the benchmarks all come through here.
    #[inline]
    pub fn apply_record(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        payload: &[u8],
        out: &mut Outbox,
    ) -> Result<(), ApplyError> {
        let Ok(envelope) = read_envelope(payload) else {
            return Err(ApplyError::MissingEnvelope {
                seq,
                len: payload.len(),
            });
        };
        let meta = InputMeta {
            seq,
            timestamp_ns,
            session_id: envelope.session_id,
            principal_id: envelope.principal_id,
            role: envelope.role,
        };
        self.apply_numbered(&meta, envelope.sbe, out)
    }

    /// Applies one sequenced input. Outputs go to `out`, each tagged with `meta.seq`.
    pub(crate) fn apply(
        &mut self,
        meta: &InputMeta,
        sbe: &[u8],
        out: &mut Outbox,
    ) -> Result<(), ApplyError> {
        let expected = self.state.last_seq + 1;
        if meta.seq != expected {
            return Err(ApplyError::SequenceGap {
                expected,
                got: meta.seq,
            });
        }
        self.state.last_seq = meta.seq;
        self.state.ledger.recorder_mut().clear();
        self.payout_events.clear();
        self.risk_observations.clear();
        self.dispute_events.clear();
        self.finance_events.clear();
        // The sequencer owns time and never goes backwards; clamp defensively all the same.
        self.state.now_ns = self.state.now_ns.max(meta.timestamp_ns);
        // TEST ONLY (feature `nondeterministic-for-tests`, off by default): mixes the wall clock
        // into the state so a test can prove `sluice replay check` catches non-determinism.
        #[cfg(feature = "nondeterministic-for-tests")]
        {
            let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            self.state.now_ns += wall.map_or(0, |d| u64::from(d.subsec_nanos() % 1_000_000)) + 1;
        }
        match split_sbe(sbe) {
            Ok((header, body)) => self.dispatch(meta, header, body, out),
            Err(e) => self.reject(
                meta,
                0,
                0,
                ReasonCode::MalformedMessage,
                &e.to_string(),
                out,
            ),
        }
        // Money is exact: a transfer that unbalanced the ledger would be a bug that corrupts money.
        assert!(
            self.state.ledger.is_balanced(),
            "ledger unbalanced at sequence {}",
            meta.seq
        );
        // The handlers refuse (BalanceOverflow) what could pass the money limits before they move
        // money: a balance past them is a bug, and one that no longer fits an i64 would be reported
        // wrong.
        if let Err(e) = self.state.ledger.limits_hold() {
            panic!("money limits broken at sequence {}: {e}", meta.seq);
        }
        self.assert_watched(meta.seq);
        Ok(())
    }

    fn dispatch(&mut self, meta: &InputMeta, header: MessageHeader, body: &[u8], out: &mut Outbox) {
        let template = header.template_id;
        let allowed = match meta.role() {
            Some(role) => may_send(role, template),
            None => meta.role == ROLE_SEQUENCER && template == Pulse::TEMPLATE_ID,
        };
        if !allowed {
            let reason = if sluice_protocol::template_name(template).is_some() {
                ReasonCode::RoleNotAllowed
            } else {
                ReasonCode::UnknownTemplate
            };
            return self.reject(
                meta,
                template,
                0,
                reason,
                "not accepted from this sender",
                out,
            );
        }
        let block = header.block_length;
        let result = match template {
            PaymentRequest::TEMPLATE_ID => PaymentRequest::read_body(block, body)
                .map(|m| self.handle_payment(meta, body, block, &m, out)),
            ChannelResult::TEMPLATE_ID => ChannelResult::read_body(block, body)
                .map(|m| self.handle_channel_result(meta, &m, out)),
            ChannelControlResult::TEMPLATE_ID => ChannelControlResult::read_body(block, body)
                .map(|m| self.handle_control_result(meta, &m, out)),
            Pulse::TEMPLATE_ID => {
                Pulse::read_body(block, body).map(|_| self.handle_pulse(meta, out))
            }
            RefundRequest::TEMPLATE_ID => RefundRequest::read_body(block, body)
                .map(|m| self.handle_refund(meta, body, block, &m, out)),
            RefundChannelResult::TEMPLATE_ID => RefundChannelResult::read_body(block, body)
                .map(|m| self.handle_refund_result(meta, &m, out)),
            QueryOrder::TEMPLATE_ID => {
                QueryOrder::read_body(block, body).map(|m| self.handle_query(meta, &m, out))
            }
            WithdrawRequest::TEMPLATE_ID => WithdrawRequest::read_body(block, body)
                .map(|m| self.handle_withdraw(meta, body, block, &m, out)),
            PayoutChannelResult::TEMPLATE_ID => PayoutChannelResult::read_body(block, body)
                .map(|m| self.handle_payout_result(meta, &m, out)),
            BalanceQuery::TEMPLATE_ID => {
                BalanceQuery::read_body(block, body).map(|m| self.handle_balance(meta, &m, out))
            }
            StatsQuery::TEMPLATE_ID => {
                StatsQuery::read_body(block, body).map(|_| self.handle_stats(meta, out))
            }
            _ => self.dispatch_admin(meta, header, body, out),
        };
        if let Err(e) = result {
            let reason = match e {
                DecodeError::UnknownTemplate { .. } => ReasonCode::UnknownTemplate,
                _ => ReasonCode::MalformedMessage,
            };
            self.reject(meta, template, 0, reason, &e.to_string(), out);
        }
    }

    /// The administrative inputs: configuration and snapshot requests.
    fn dispatch_admin(
        &mut self,
        meta: &InputMeta,
        header: MessageHeader,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        let (template, block) = (header.template_id, header.block_length);
        match template {
            SnapshotRequest::TEMPLATE_ID => SnapshotRequest::read_body(block, body).map(|_| {
                self.snapshot_requested = true;
                self.config_ack(meta, template, meta.seq, Ok(()), out);
            }),
            ConfigMerchant::TEMPLATE_ID => ConfigMerchant::read_body(block, body).map(|m| {
                let r = self.config_merchant(&m);
                self.config_ack(meta, template, u64::from(m.merchant_id), r, out);
            }),
            ConfigChannel::TEMPLATE_ID => ConfigChannel::read_body(block, body).map(|m| {
                let r = self.config_channel(&m);
                self.config_ack(meta, template, u64::from(m.channel_id), r, out);
            }),
            ConfigSplitProfile::TEMPLATE_ID => {
                ConfigSplitProfile::read_body(block, body).map(|m| {
                    let r = self.config_profile(&m);
                    self.config_ack(meta, template, u64::from(m.profile_id), r, out);
                })
            }
            ConfigPromoter::TEMPLATE_ID => ConfigPromoter::read_body(block, body).map(|m| {
                let r = self.config_promoter(&m);
                self.config_ack(meta, template, u64::from(m.promoter_id), r, out);
            }),
            ConfigRiskRule::TEMPLATE_ID => ConfigRiskRule::read_body(block, body).map(|m| {
                let r = self.config_rule(&m);
                self.config_ack(meta, template, u64::from(m.rule_id), r, out);
            }),
            ConfigRiskRuleText::TEMPLATE_ID => ConfigRiskRuleText::read_body(block, body)
                .map(|m| self.config_rule_text(meta, &m, out)),
            ConfigListEntry::TEMPLATE_ID => ConfigListEntry::read_body(block, body).map(|m| {
                let r = self.state.risk.apply_list(&m);
                self.config_ack(meta, template, 0, r, out);
            }),
            ConfigRiskModel::TEMPLATE_ID => ConfigRiskModel::read_body(block, body).map(|m| {
                let r = self.state.risk.apply_model(&m);
                self.config_ack(meta, template, u64::from(m.model_id), r, out);
            }),
            ConfigCredential::TEMPLATE_ID => ConfigCredential::read_body(block, body)
                .map(|m| self.config_credential(meta, &m, out)),
            ConfigQuery::TEMPLATE_ID => {
                ConfigQuery::read_body(block, body).map(|q| self.handle_config_query(meta, &q, out))
            }
            ConfigMerchantNotify::TEMPLATE_ID => ConfigMerchantNotify::read_body(block, body)
                .map(|m| self.config_merchant_notify(meta, &m, out)),
            ConfigCalendarDay::TEMPLATE_ID => ConfigCalendarDay::read_body(block, body)
                .map(|m| self.config_calendar_day(meta, &m, out)),
            ReleaseSettlement::TEMPLATE_ID => ReleaseSettlement::read_body(block, body)
                .map(|m| self.handle_release_settlement(meta, &m, out)),
            ChannelSettlement::TEMPLATE_ID => ChannelSettlement::read_body(block, body)
                .map(|m| self.handle_channel_settlement(meta, &m, out)),
            Discrepancy::TEMPLATE_ID => {
                Discrepancy::read_body(block, body).map(|m| self.handle_discrepancy(meta, &m, out))
            }
            // Genesis is consumed by `Engine::new`; a second one changes nothing.
            Genesis::TEMPLATE_ID => Ok(()),
            _ => self.dispatch_payout_admin(meta, (template, block), body, out),
        }
    }

    /// Refuses an input with a Reject to the session that sent it (nothing else changes).
    pub(crate) fn reject(
        &mut self,
        meta: &InputMeta,
        template: u16,
        request_id: u64,
        reason: ReasonCode,
        why: &str,
        out: &mut Outbox,
    ) {
        if meta.session_id == 0 {
            return;
        }
        let msg = Reject {
            ref_template_id: template,
            reason,
            ref_request_id: request_id,
            text: text(why),
        };
        out.push(
            Dest::session(meta.session_id, meta.principal_id),
            meta.seq,
            &msg,
        );
    }

    /// Whether a snapshot was asked for since the last call (and clears the request).
    pub fn take_snapshot_request(&mut self) -> bool {
        std::mem::take(&mut self.snapshot_requested)
    }

    /// Backs every preallocated table with memory now (one write per page of spare capacity),
    /// so that no first-touch page fault, huge-page zeroing or compaction lands on the hot path.
    /// Call once on the thread that will run the engine (first touch places memory on its NUMA
    /// node). Changes no state: the state hash before and after is the same. Returns the bytes
    /// touched.
    pub fn prefault(&mut self) -> usize {
        let s = &mut self.state;
        crate::mem::prefault_spare(&mut s.orders)
            + crate::mem::prefault_spare(&mut s.refunds)
            + crate::mem::prefault_spare(&mut s.payouts)
            + crate::mem::prefault_spare(&mut s.retention.receipts)
            + s.risk.prefault()
            + self.index.prefault()
    }

    /// Last applied sequence.
    pub fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// Event time of the last input, ns.
    pub fn now_ns(&self) -> u64 {
        self.state.now_ns
    }

    /// The state hash (serializes the state: not for the hot path).
    pub fn state_hash(&self) -> StateHash {
        hash_bytes(&state_bytes(&self.state))
    }

    /// A few figures for logs.
    pub fn summary(&self) -> Summary {
        Summary {
            last_seq: self.state.last_seq,
            now_ns: self.state.now_ns,
            orders: (self.state.orders.len() - self.state.retention.free_orders.len()) as u64,
            refunds: (self.state.refunds.len() - self.state.retention.free_refunds.len()) as u64,
            merchants: self.state.merchants.len() as u64,
            channels: self.state.channels.len() as u64,
            ledger_balanced: self.state.ledger.is_balanced(),
            transfers: self.state.ledger.transfers(),
        }
    }

    /// Recomputes every ledger total from the accounts, and checks every channel's book against
    /// its ChannelReceivable account and the captures being reversed against ReversalsPayable
    /// (tests, tools).
    pub fn verify_ledger(&self) -> Result<(), String> {
        self.state.ledger.verify()?;
        self.verify_channel_books()
    }

    /// Read access to the state (tests and tools).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Read access to the counters (tests and tools).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The snapshot payload: the state and the counters, serialized with rkyv, and the state hash.
    /// Layout (`SNAPSHOT_HEADER_LEN` = 32 bytes of header): the magic `SLST`, u32 `STATE_FORMAT`,
    /// 8 zero bytes, u64 state length, u64 counters length, then each part padded to 16 bytes.
    pub fn snapshot(&self) -> (StateHash, AlignedVec) {
        const H: usize = SNAPSHOT_HEADER_LEN;
        // Serialized in place behind the header (no second copy of the state). Positions shifted
        // by a multiple of 16 keep every alignment, so the state bytes are exactly those
        // `state_hash` hashes.
        let mut out = AlignedVec::<16>::with_capacity(self.snapshot_size_hint());
        out.extend_from_slice(&[0u8; H]);
        let mut out = rkyv::api::high::to_bytes_in::<_, rancor::Error>(&self.state, out)
            .expect("serializing plain in-memory tables cannot fail short of memory exhaustion");
        let state_len = out.len() - H;
        pad16(&mut out);
        let counters_at = out.len();
        let mut out = rkyv::api::high::to_bytes_in::<_, rancor::Error>(&self.counters, out)
            .expect("serializing plain in-memory counters cannot fail short of memory exhaustion");
        let counters_len = out.len() - counters_at;
        let header = out.as_mut_slice();
        header[0..4].copy_from_slice(SNAPSHOT_MAGIC);
        header[4..8].copy_from_slice(&STATE_FORMAT.to_le_bytes());
        header[16..24].copy_from_slice(&(state_len as u64).to_le_bytes());
        header[24..32].copy_from_slice(&(counters_len as u64).to_le_bytes());
        let hash = hash_bytes(&out[H..H + state_len]);
        (hash, out)
    }

    /// A generous estimate of the snapshot's size, so serialization does not regrow its buffer.
    fn snapshot_size_hint(&self) -> usize {
        let s = &self.state;
        let windows: usize = s
            .risk
            .velocity
            .tables
            .iter()
            .map(|t| {
                t.windows.len() * std::mem::size_of::<crate::risk::KeyWindows>()
                    + t.sets.len() * std::mem::size_of::<crate::risk::Set>()
            })
            .sum();
        (1 << 20)
            + s.orders.len() * std::mem::size_of::<crate::state::Order>()
            + s.refunds.len() * std::mem::size_of::<crate::state::Refund>()
            + s.retention.receipts.len() * std::mem::size_of::<crate::state::Receipt>()
            + s.ledger.accounts_len() * 64
            + windows
    }

    /// Restores an engine from `snapshot()` bytes (16-byte aligned), verifying the state format
    /// and the recorded hash.
    pub fn from_snapshot(payload: &[u8], expected: StateHash) -> Result<Engine, ApplyError> {
        const H: usize = SNAPSHOT_HEADER_LEN;
        let bad = |why: String| ApplyError::BadSnapshot(why);
        if payload.len() < H || !(payload.as_ptr() as usize).is_multiple_of(16) {
            return Err(bad("payload too short or not 16-byte aligned".into()));
        }
        if &payload[0..4] != SNAPSHOT_MAGIC {
            return Err(bad(
                "no state format mark: written by a Sluice older than state format 2; \
                 recovery falls back to an older snapshot or the journal"
                    .into(),
            ));
        }
        let format = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        if format != STATE_FORMAT {
            return Err(bad(format!(
                "state format {format}, this engine reads format {STATE_FORMAT}"
            )));
        }
        let len_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[i..i + 8]);
            u64::from_le_bytes(b) as usize
        };
        let (state_len, counters_len) = (len_at(16), len_at(24));
        let Some(state_end) = state_len.checked_add(H).filter(|&e| e <= payload.len()) else {
            return Err(bad("lengths exceed the payload".into()));
        };
        let counters_at = state_end.div_ceil(16) * 16;
        if counters_at.saturating_add(counters_len) > payload.len() {
            return Err(bad("lengths exceed the payload".into()));
        }
        let state_raw = &payload[H..state_end];
        let hash = hash_bytes(state_raw);
        if hash != expected {
            return Err(bad(format!(
                "state hash {hash} differs from the recorded {expected}"
            )));
        }
        let state = rkyv::from_bytes::<State, rancor::Error>(state_raw)
            .map_err(|e| bad(format!("state: {e}")))?;
        let counters = rkyv::from_bytes::<Counters, rancor::Error>(
            &payload[counters_at..counters_at + counters_len],
        )
        .map_err(|e| bad(format!("counters: {e}")))?;
        let mut engine = Engine {
            index: Index::with_limits(&state.limits),
            state,
            counters,
            snapshot_requested: false,
            payout_events: Default::default(),
            risk_observations: Default::default(),
            dispute_events: Default::default(),
            finance_events: Default::default(),
            #[cfg(feature = "test-support")]
            reversals_disabled: false,
        };
        engine.rebuild();
        engine.state.ledger.verify().map_err(bad)?;
        Ok(engine)
    }

    /// Restores capacities and rebuilds the indexes after a snapshot load.
    fn rebuild(&mut self) {
        let s = &mut self.state;
        let l = s.limits.clone();
        reserve_to(&mut s.merchants, l.merchants_max);
        reserve_to(&mut s.promoters, l.promoters_max);
        reserve_to(&mut s.profiles, l.split_profiles_max);
        reserve_to(&mut s.parties, l.parties_max());
        reserve_to(&mut s.channels, l.channels_max);
        reserve_to(&mut s.orders, l.orders_max);
        reserve_to(&mut s.refunds, l.refunds_max);
        reserve_to(&mut s.payouts, l.withdrawals_max);
        s.payout_book.reserve(l.withdrawals_max);
        s.retention.reserve(&l);
        s.out_seqs.reserve();
        s.review.reserve(l.review_queue_max);
        s.yields.reserve();
        s.credit.reserve(&l);
        reserve_to(
            &mut s.credentials.entries,
            crate::credentials::CREDENTIALS_MAX as u32,
        );
        crate::mem::advise_huge_pages(&s.orders);
        crate::mem::advise_huge_pages(&s.refunds);
        s.risk.rebuild();
        s.ledger.rebuild_watch();
        s.calendar.reserve_all();
        for p in s.parties.iter_mut() {
            p.reserve_queues(l.currencies.len());
        }
        let ix = &mut self.index;
        for (i, m) in s.merchants.iter().enumerate() {
            ix.merchants.insert(m.id, i as u32);
        }
        for (i, p) in s.promoters.iter().enumerate() {
            ix.promoters.insert(p.id, i as u32);
        }
        for (i, p) in s.profiles.iter().enumerate() {
            ix.profiles.insert(p.id, i as u32);
        }
        for (i, c) in s.channels.iter().enumerate() {
            ix.channels.insert(c.id, i as u32);
        }
        crate::retention::rebuild_payments_index(s, ix);
        crate::payouts::rebuild_payouts_index(s, ix);
        s.installments.rebuild_index();
        let rules_more = (l.risk_rules_max as usize).saturating_sub(self.counters.rule_hits.len());
        self.counters.rule_hits.reserve_exact(rules_more);
    }
}

fn reserve_to<T>(v: &mut Vec<T>, max: u32) {
    let more = (max as usize).saturating_sub(v.len());
    v.reserve_exact(more);
}

fn pad16(v: &mut AlignedVec<16>) {
    while v.len() % 16 != 0 {
        v.push(0);
    }
}

pub(crate) fn state_bytes(state: &State) -> AlignedVec {
    rkyv::to_bytes::<rancor::Error>(state)
        .expect("serializing plain in-memory tables cannot fail short of memory exhaustion")
}

pub(crate) fn hash_bytes(bytes: &[u8]) -> StateHash {
    StateHash(xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes())
}

/// The 64-bit hash of a request's known root fields, for idempotency checks.
pub(crate) fn request_hash(body: &[u8], block_length: u16, known: u16) -> u64 {
    let n = usize::from(block_length.min(known)).min(body.len());
    xxhash_rust::xxh3::xxh3_64(&body[..n])
}

/// Day number of an event time in the configured offset.
pub fn day_of(now_ns: u64, utc_offset_secs: i32) -> u32 {
    let secs = (now_ns / 1_000_000_000) as i64 + i64::from(utc_offset_secs);
    (secs.max(0) / 86_400) as u32
}

impl Engine {
    pub(crate) fn today(&self) -> u32 {
        day_of(self.state.now_ns, self.state.limits.utc_offset_secs)
    }

    /// The role of the sender (None for the sequencer).
    pub(crate) fn role(meta: &InputMeta) -> Option<Role> {
        meta.role()
    }
}
