//! `sluice replay state`: the state at a sequence or a time, rebuilt from the best snapshot at or
//! before it plus the journal: hash, counts, ledger totals, balances, channel health, counters.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value as Json, json};
use sluice_engine::ledger::{Account, PartyAccount};
use sluice_engine::{Engine, StateHash};
use sluice_protocol::{
    BalanceReport, ChannelStats, OrderState, PartyKind, RefundState, StatsReport,
};

use crate::replayer::{self, Replayer, Start, start_json};
use crate::state_channels::{ChannelLine, channel_lines, lines_json, write_lines};
use crate::time::format_ns;
use crate::trace::currency_name;
use crate::{DataDir, Error, journal_end};

/// Where to take the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The journal's last record.
    End,
    /// After this sequence.
    Seq(u64),
    /// After the last input stamped at or before this time (ns since the epoch).
    Time(u64),
}

/// The engine replayed to `at`, and how it got there.
pub struct Rebuilt {
    pub replayer: Replayer,
    /// Inputs applied after the start.
    pub replayed: u64,
    /// Snapshots passed over, with why.
    pub notes: Vec<String>,
}

/// Resolves `at` to a sequence of this journal.
pub fn resolve(data: &DataDir, at: At) -> Result<u64, Error> {
    let reader = data.reader()?;
    let end = journal_end(&reader)?.ok_or_else(|| Error::new("the journal has no records"))?;
    match at {
        At::End => Ok(end.seq),
        At::Seq(seq) if seq == 0 || seq > end.seq => Err(Error::new(format!(
            "seq {seq} is not in the journal, which ends at seq {}",
            end.seq
        ))),
        At::Seq(seq) => Ok(seq),
        At::Time(ns) => crate::last_seq_at_or_before(&reader, ns)?.ok_or_else(|| {
            Error::new(format!(
                "no input is stamped at or before {}: the journal starts later",
                format_ns(ns)
            ))
        }),
    }
}

/// Rebuilds the engine at `seq` from the best snapshot at or before it plus the journal.
pub fn rebuild_at(data: &DataDir, seq: u64) -> Result<Rebuilt, Error> {
    let reader = data.reader()?;
    let mut notes = Vec::new();
    let mut replayer = replayer::at_or_before(data, &reader, seq, &mut notes)?;
    let replayed = replayer::advance_to(&mut replayer, data, &reader, seq, "replaying")?;
    Ok(Rebuilt {
        replayer,
        replayed,
        notes,
    })
}

/// Ledger figures of one currency (minor units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: u16,
    /// What channels owe: posted, and pending (dispatched, awaiting a result).
    pub channel_receivable: i128,
    pub channel_receivable_pending: i128,
    pub platform_revenue: i128,
    pub fee_expense: i128,
    pub payouts: i128,
    /// What channels paid into the platform's bank, their fee differences, what was written off.
    pub platform_bank: i128,
    pub channel_fee_differences: i128,
    pub channel_write_offs: i128,
    /// Transit; zero after every input.
    pub clearing: i128,
    pub parties_pending: i128,
    pub parties_available: i128,
    pub parties_frozen: i128,
    /// The parties' rolling reserves (docs/PAYOUTS.md, section 3).
    pub parties_reserve: i128,
}

/// The state at a sequence, summarized.
#[derive(Debug, Clone)]
pub struct StateReport {
    pub data_dir: PathBuf,
    pub seq: u64,
    /// Event time of the state (the last input's).
    pub timestamp_ns: u64,
    pub state_hash: StateHash,
    pub start: Start,
    pub replayed: u64,
    pub notes: Vec<String>,
    pub orders_by_state: Vec<(OrderState, u64)>,
    pub refunds_by_state: Vec<(RefundState, u64)>,
    pub orders: u64,
    pub refunds: u64,
    pub merchants: u64,
    pub promoters: u64,
    pub channels: u64,
    pub split_profiles: u64,
    pub withdrawals: u64,
    pub ledger_totals: Account,
    pub ledger_balanced: bool,
    /// `Engine::verify_ledger`: the running totals recomputed from every account.
    pub ledger_verified: Result<(), String>,
    pub transfers: u64,
    pub currencies: Vec<CurrencyTotals>,
    /// Merchants, then promoters, then the platform.
    pub balances: Vec<BalanceReport>,
    pub channel_names: Vec<(u16, String)>,
    pub stats: StatsReport,
    /// Per channel and currency: owed, paid, fee differences, write-offs, open discrepancies.
    pub channel_settlement: Vec<ChannelLine>,
}

/// The state at `at`.
pub fn state(data: &DataDir, at: At) -> Result<StateReport, Error> {
    let seq = resolve(data, at)?;
    let rebuilt = rebuild_at(data, seq)?;
    Ok(report(data, rebuilt))
}

/// Orders in the table and refunds kept, counted by state (retired orders are receipts).
#[allow(clippy::type_complexity)]
fn by_state(
    state: &sluice_engine::state::State,
) -> (Vec<(OrderState, u64)>, Vec<(RefundState, u64)>) {
    let orders = OrderState::all()
        .filter(|s| *s != OrderState::NotFound)
        .map(|s| {
            let live = state.orders.iter().filter(|o| !o.vacant);
            (s, live.filter(|o| o.state == s).count() as u64)
        })
        .collect();
    let refunds = RefundState::all()
        .map(|s| {
            let kept = state.refunds.iter().filter(|r| !r.vacant);
            (
                s,
                kept.filter(|r| r.state.to_wire() == Some(s)).count() as u64,
            )
        })
        .collect();
    (orders, refunds)
}

/// Summarizes a rebuilt engine.
pub fn report(data: &DataDir, rebuilt: Rebuilt) -> StateReport {
    let engine = &rebuilt.replayer.engine;
    let state = engine.state();
    let seq = engine.last_seq();
    let (orders_by_state, refunds_by_state) = by_state(state);
    let mut balances: Vec<BalanceReport> = state
        .merchants
        .iter()
        .map(|m| engine.balance_report(PartyKind::Merchant, m.id, seq))
        .collect();
    balances.extend(
        state
            .promoters
            .iter()
            .map(|p| engine.balance_report(PartyKind::Promoter, p.id, seq)),
    );
    balances.push(engine.balance_report(PartyKind::Platform, 0, seq));
    let channel_names = state
        .channels
        .iter()
        .map(|c| {
            let end = c.name.iter().position(|b| *b == 0).unwrap_or(c.name.len());
            (c.id, String::from_utf8_lossy(&c.name[..end]).into_owned())
        })
        .collect();
    StateReport {
        data_dir: data.root.clone(),
        seq,
        timestamp_ns: engine.now_ns(),
        state_hash: engine.state_hash(),
        start: rebuilt.replayer.start.clone(),
        replayed: rebuilt.replayed,
        notes: rebuilt.notes.clone(),
        orders_by_state,
        refunds_by_state,
        orders: engine.summary().orders,
        refunds: engine.summary().refunds,
        merchants: state.merchants.len() as u64,
        promoters: state.promoters.len() as u64,
        channels: state.channels.len() as u64,
        split_profiles: state.profiles.len() as u64,
        // Payouts replaced withdrawals (docs/PAYOUTS.md, section 4): the payouts in the table.
        withdrawals: state.payouts.iter().filter(|p| !p.vacant).count() as u64,
        ledger_totals: *state.ledger.totals(),
        ledger_balanced: state.ledger.is_balanced(),
        ledger_verified: engine.verify_ledger(),
        transfers: state.ledger.transfers(),
        currencies: currency_totals(engine),
        balances,
        channel_names,
        stats: engine.stats_report(seq),
        channel_settlement: channel_lines(engine),
    }
}

fn currency_totals(engine: &Engine) -> Vec<CurrencyTotals> {
    let state = engine.state();
    let ledger = &state.ledger;
    let pending = |a: &Account| a.debits_pending as i128 - a.credits_pending as i128;
    let mut out = Vec::new();
    for (c, &currency) in state.limits.currencies.iter().enumerate() {
        let c = c as u8;
        let mut totals = CurrencyTotals {
            currency,
            channel_receivable: 0,
            channel_receivable_pending: 0,
            platform_revenue: ledger.account(ledger.platform_revenue(c)).credit_balance(),
            fee_expense: ledger.account(ledger.fee_expense(c)).debit_balance(),
            payouts: ledger.account(ledger.payouts(c)).debit_balance(),
            platform_bank: ledger.account(ledger.platform_bank(c)).debit_balance(),
            channel_fee_differences: ledger
                .account(ledger.channel_fee_differences(c))
                .debit_balance(),
            channel_write_offs: ledger.account(ledger.channel_write_offs(c)).debit_balance(),
            clearing: ledger.account(ledger.clearing(c)).debit_balance(),
            parties_pending: 0,
            parties_available: 0,
            parties_frozen: 0,
            parties_reserve: 0,
        };
        for slot in 0..state.channels.len() as u32 {
            let account = ledger.account(ledger.channel_receivable(c, slot));
            totals.channel_receivable += account.debit_balance();
            totals.channel_receivable_pending += pending(account);
        }
        for slot in 0..state.parties.len() as u32 {
            let balance = |which| {
                ledger
                    .account(ledger.party(c, slot, which))
                    .credit_balance()
            };
            totals.parties_pending += balance(PartyAccount::Pending);
            totals.parties_available += balance(PartyAccount::Available);
            totals.parties_frozen += balance(PartyAccount::Frozen);
            totals.parties_reserve += balance(PartyAccount::Reserve);
        }
        out.push(totals);
    }
    out
}

/// A ledger figure as a JSON number (or a string, beyond 64 bits).
fn num(v: i128) -> Json {
    match i64::try_from(v) {
        Ok(v) => Json::from(v),
        Err(_) => Json::from(v.to_string()),
    }
}

fn unum(v: u128) -> Json {
    match u64::try_from(v) {
        Ok(v) => Json::from(v),
        Err(_) => Json::from(v.to_string()),
    }
}

fn currency_json(c: &CurrencyTotals) -> Json {
    json!({
        "currency": currency_name(c.currency),
        "code": c.currency,
        "channel_receivable": num(c.channel_receivable),
        "channel_receivable_pending": num(c.channel_receivable_pending),
        "platform_revenue": num(c.platform_revenue),
        "fee_expense": num(c.fee_expense),
        "payouts": num(c.payouts),
        "platform_bank": num(c.platform_bank),
        "channel_fee_differences": num(c.channel_fee_differences),
        "channel_write_offs": num(c.channel_write_offs),
        "clearing": num(c.clearing),
        "parties_pending": num(c.parties_pending),
        "parties_available": num(c.parties_available),
        "parties_frozen": num(c.parties_frozen),
        "parties_reserve": num(c.parties_reserve),
    })
}

fn counters_json(s: &StatsReport) -> Json {
    json!({
        "accepted": s.accepted,
        "rejected_invalid": s.rejected_invalid,
        "rejected_risk": s.rejected_risk,
        "succeeded": s.succeeded,
        "failed": s.failed,
        "failed_over": s.failed_over,
        "in_flight": s.in_flight,
        "reviews": s.reviews,
        "refunds_succeeded": s.refunds_succeeded,
        "refunds_failed": s.refunds_failed,
        "timeouts": s.timeouts,
        "withdrawals": s.withdrawals,
    })
}

fn party_name(kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Merchant => "merchant",
        PartyKind::Promoter => "promoter",
        PartyKind::Platform => "platform",
    }
}

impl StateReport {
    pub fn to_json(&self) -> Json {
        let by_state = |pairs: Vec<(&'static str, u64)>| {
            Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            )
        };
        let orders = by_state(
            self.orders_by_state
                .iter()
                .map(|(s, n)| (s.name(), *n))
                .collect(),
        );
        let refunds = by_state(
            self.refunds_by_state
                .iter()
                .map(|(s, n)| (s.name(), *n))
                .collect(),
        );
        let t = &self.ledger_totals;
        let currencies: Vec<Json> = self.currencies.iter().map(currency_json).collect();
        let balances: Vec<Json> = self.balances.iter().map(balance_json).collect();
        let channels: Vec<Json> = self
            .stats
            .channels
            .iter()
            .map(|c| channel_json(c, self.channel_name(c.channel_id)))
            .collect();
        json!({
            "data_dir": self.data_dir.display().to_string(),
            "seq": self.seq,
            "timestamp_ns": self.timestamp_ns,
            "time": format_ns(self.timestamp_ns),
            "state_hash": self.state_hash.to_string(),
            "replayed_from": start_json(&self.start),
            "replayed_inputs": self.replayed,
            "notes": self.notes,
            "orders": { "total": self.orders, "by_state": orders },
            "refunds": { "total": self.refunds, "by_state": refunds },
            "merchants": self.merchants,
            "promoters": self.promoters,
            "channels": self.channels,
            "split_profiles": self.split_profiles,
            "withdrawals": self.withdrawals,
            "ledger": {
                "balanced": self.ledger_balanced,
                "verified": self.ledger_verified.is_ok(),
                "verify_error": self.ledger_verified.as_ref().err(),
                "transfers": self.transfers,
                "debits_posted": unum(t.debits_posted),
                "credits_posted": unum(t.credits_posted),
                "debits_pending": unum(t.debits_pending),
                "credits_pending": unum(t.credits_pending),
                "currencies": currencies,
            },
            "balances": balances,
            "channel_health": channels,
            "channel_settlement": lines_json(&self.channel_settlement),
            "counters": counters_json(&self.stats),
        })
    }

    fn channel_name(&self, id: u16) -> &str {
        self.channel_names
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, n)| n.as_str())
            .unwrap_or("")
    }

    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "state at seq {} ({})",
            self.seq,
            format_ns(self.timestamp_ns)
        )?;
        writeln!(out, "state hash {}", self.state_hash)?;
        writeln!(
            out,
            "replayed from {}: {} input(s)",
            self.start, self.replayed
        )?;
        for note in &self.notes {
            writeln!(out, "note: {note}")?;
        }
        let list = |pairs: Vec<String>| pairs.join(", ");
        writeln!(
            out,
            "orders: {} ({})",
            self.orders,
            list(
                self.orders_by_state
                    .iter()
                    .map(|(s, n)| format!("{} {n}", s.name()))
                    .collect()
            )
        )?;
        writeln!(
            out,
            "refunds: {} ({})",
            self.refunds,
            list(
                self.refunds_by_state
                    .iter()
                    .map(|(s, n)| format!("{} {n}", s.name()))
                    .collect()
            )
        )?;
        writeln!(
            out,
            "merchants {}, promoters {}, channels {}, split profiles {}, withdrawals {}",
            self.merchants, self.promoters, self.channels, self.split_profiles, self.withdrawals
        )?;
        self.write_ledger(out)?;
        self.write_balances(out)?;
        self.write_channels(out)?;
        write_lines(&self.channel_settlement, out)?;
        let s = &self.stats;
        writeln!(
            out,
            "counters: accepted {}, rejected invalid {}, rejected by risk {}, succeeded {}, \
             failed {}, failed over {}, in flight {}, reviews {}, refunds succeeded {}, refunds \
             failed {}, timeouts {}, withdrawals {}",
            s.accepted,
            s.rejected_invalid,
            s.rejected_risk,
            s.succeeded,
            s.failed,
            s.failed_over,
            s.in_flight,
            s.reviews,
            s.refunds_succeeded,
            s.refunds_failed,
            s.timeouts,
            s.withdrawals
        )
    }

    fn write_ledger(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let t = &self.ledger_totals;
        writeln!(
            out,
            "ledger: {}, {}; {} transfers; posted debits {} = credits {}; pending debits {} = \
             credits {}",
            if self.ledger_balanced {
                "balanced"
            } else {
                "NOT BALANCED"
            },
            match &self.ledger_verified {
                Ok(()) => "totals verified against every account".to_string(),
                Err(e) => format!("VERIFY FAILED: {e}"),
            },
            self.transfers,
            t.debits_posted,
            t.credits_posted,
            t.debits_pending,
            t.credits_pending
        )?;
        for c in &self.currencies {
            writeln!(
                out,
                "  {:<4} channels owe {} (+{} pending), platform revenue {}, fee expense {}, \
                 payouts {}, bank {}, fee differences {}, write-offs {}, clearing {}, parties \
                 pending {} / available {} / frozen {} / reserve {}",
                currency_name(c.currency),
                c.channel_receivable,
                c.channel_receivable_pending,
                c.platform_revenue,
                c.fee_expense,
                c.payouts,
                c.platform_bank,
                c.channel_fee_differences,
                c.channel_write_offs,
                c.clearing,
                c.parties_pending,
                c.parties_available,
                c.parties_frozen,
                c.parties_reserve
            )?;
        }
        Ok(())
    }

    fn write_balances(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "balances (minor units):")?;
        for b in &self.balances {
            let who = match b.party_kind {
                PartyKind::Platform => "platform".to_string(),
                kind => format!("{} {}", party_name(kind), b.party_id),
            };
            if b.balances.is_empty() {
                writeln!(out, "  {who:<16} -")?;
            }
            for (i, e) in b.balances.iter().enumerate() {
                let label = if i == 0 { who.as_str() } else { "" };
                let figures = if b.party_kind == PartyKind::Platform {
                    format!(
                        "revenue {} fee expense {}",
                        e.pending_minor, e.available_minor
                    )
                } else {
                    format!(
                        "pending {} available {} frozen {}",
                        e.pending_minor, e.available_minor, e.frozen_minor
                    )
                };
                writeln!(
                    out,
                    "  {label:<16} {:<4} {figures}",
                    currency_name(e.currency)
                )?;
            }
        }
        Ok(())
    }

    fn write_channels(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "channels:")?;
        for c in &self.stats.channels {
            writeln!(
                out,
                "  {:<3} {:<12} {:<8} attempts {} successes {} declines {} errors {} timeouts {}; \
                 recent success {:.1}%, latency avg {} us p99 {} us, {} consecutive failures, {} \
                 health changes",
                c.channel_id,
                self.channel_name(c.channel_id),
                c.health.name(),
                c.attempts,
                c.successes,
                c.declines,
                c.retryable_errors,
                c.timeouts,
                f64::from(c.recent_success_rate_ppm) / 10_000.0,
                c.latency_avg_us,
                c.latency_p99_us,
                c.consecutive_failures,
                c.health_changes
            )?;
        }
        Ok(())
    }
}

fn balance_json(b: &BalanceReport) -> Json {
    let entries: Vec<Json> = b
        .balances
        .iter()
        .map(|e| {
            json!({
                "currency": currency_name(e.currency),
                "pending_minor": e.pending_minor,
                "available_minor": e.available_minor,
                "frozen_minor": e.frozen_minor,
            })
        })
        .collect();
    json!({
        "party": party_name(b.party_kind),
        "id": b.party_id,
        "balances": entries,
    })
}

fn channel_json(c: &ChannelStats, name: &str) -> Json {
    json!({
        "channel_id": c.channel_id,
        "name": name,
        "health": c.health.name(),
        "attempts": c.attempts,
        "successes": c.successes,
        "declines": c.declines,
        "retryable_errors": c.retryable_errors,
        "timeouts": c.timeouts,
        "recent_success_rate_ppm": c.recent_success_rate_ppm,
        "payment_success_rate_ppm": c.payment_success_rate_ppm,
        "latency_avg_us": c.latency_avg_us,
        "latency_p99_us": c.latency_p99_us,
        "consecutive_failures": c.consecutive_failures,
        "health_changes": c.health_changes,
    })
}
