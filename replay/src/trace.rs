//! `sluice replay dump --order ID`: one payment through every input and output that concerns it.
//!
//! The engine is replayed from the newest snapshot taken before the order was created (its
//! creating sequence is read from the newest snapshot that already holds it), or from Genesis, to
//! the journal's end. An input is shown when it names the order (a channel result, a query, a
//! refund's channel result) or when any of its outputs does (the PaymentRequest that created it —
//! the order id is the one its PaymentAck carries —, a RefundRequest, a Pulse that timed an
//! attempt out); it is followed by the outputs it produced for the order: the PaymentAck with the
//! risk verdict, each Dispatch, the PaymentResult with its split, RefundAck, RefundDispatch,
//! RefundResult (and the Reject or HealthAlert an input naming the order caused). The trace ends
//! with the order's final `OrderStatus`, routing explanation included.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;
use sluice_engine::{Engine, StateHash};
use sluice_protocol::{AnyMessage, Message, OrderStatus};

use crate::dump::{DumpFilter, Format, InputView, OutputView, output_order_id};
use crate::fields;
use crate::progress::Progress;
use crate::replayer::{self, Applied, Start, start_json};
use crate::time::format_ns;
use crate::{DataDir, Error, journal_end};

/// One input that concerns the order, and the outputs it produced for it.
#[derive(Debug, Clone)]
pub struct TraceEntry {
    pub input: InputView,
    pub outputs: Vec<OutputView>,
}

/// An order's history.
#[derive(Debug, Clone)]
pub struct OrderTrace {
    pub order_id: u64,
    /// Where the replay started.
    pub start: Start,
    /// The journal's end, where the final status is taken.
    pub end_seq: u64,
    pub entries: Vec<TraceEntry>,
    /// The order at `end_seq`.
    pub status: OrderStatus,
    /// The engine's state hash at `end_seq`.
    pub state_hash: StateHash,
}

/// Replays the journal and collects the history of `order_id`. The filter's sequence, time and
/// template bounds select which entries are kept; the replay always runs to the journal's end.
pub fn trace_order(
    data: &DataDir,
    order_id: u64,
    filter: &DumpFilter,
) -> Result<OrderTrace, Error> {
    if order_id == 0 {
        return Err(Error::new("order ids start at 1"));
    }
    let reader = data.reader()?;
    let end = journal_end(&reader)?.ok_or_else(|| Error::new("the journal has no records"))?;
    let mut notes = Vec::new();
    let start_seq = creation_seq(data, &reader, order_id, end.seq, &mut notes)
        .map_or(end.seq, |created| created.saturating_sub(1));
    // The order's early history may be pruned away: then start as early as the data allows.
    let mut replayer = match replayer::at_or_before(data, &reader, start_seq, &mut notes) {
        Ok(replayer) => replayer,
        Err(_) => replayer::earliest(data, &reader, &mut notes)?,
    };
    for note in &notes {
        eprintln!("sluice replay: {note}");
    }
    let mut tracker = Tracker {
        order_id,
        refund_ids: BTreeSet::new(),
        filter,
        entries: Vec::new(),
    };
    // Refunds of the order created before the start are known from the starting state.
    tracker.learn_refunds(&replayer.engine);
    let total = end.seq.saturating_sub(replayer.last_seq());
    let mut progress = Progress::new(data.progress, "replaying", total);
    let replayed = replayer::run_to(&mut replayer, &reader, end.seq, &mut progress, |step| {
        tracker.step(&step);
        Ok(())
    });
    progress.finish();
    replayed?;
    let engine = &replayer.engine;
    let Some(status) = engine.order_status_by_id(order_id, end.seq) else {
        return Err(Error::new(format!(
            "order {order_id} does not exist at seq {}: never issued, or past every retention \
             window (its inputs are in the journal)",
            end.seq
        )));
    };
    Ok(OrderTrace {
        order_id,
        start: replayer.start.clone(),
        end_seq: end.seq,
        entries: tracker.entries,
        status,
        state_hash: engine.state_hash(),
    })
}

/// The sequence of the input that created the order, read from the newest snapshot that holds
/// it; `None` when no snapshot does (the order is newer than every snapshot).
fn creation_seq(
    data: &DataDir,
    reader: &sluice_journal::JournalReader,
    order_id: u64,
    end_seq: u64,
    notes: &mut Vec<String>,
) -> Option<u64> {
    // Without a usable start the caller falls back to the earliest one; nothing to learn here.
    let newest = replayer::at_or_before(data, reader, end_seq, notes).ok()?;
    let slot = usize::try_from(order_id & u64::from(u32::MAX))
        .ok()?
        .checked_sub(1)?;
    newest
        .engine
        .state()
        .orders
        .get(slot)
        .filter(|order| order.id == order_id && !order.vacant)
        .map(|order| order.seq)
}

struct Tracker<'f> {
    order_id: u64,
    refund_ids: BTreeSet<u64>,
    filter: &'f DumpFilter,
    entries: Vec<TraceEntry>,
}

impl Tracker<'_> {
    /// The refunds the order already has (through the engine's public view of it).
    fn learn_refunds(&mut self, engine: &Engine) {
        let Some(status) = engine.order_status_by_id(self.order_id, engine.last_seq()) else {
            return;
        };
        self.refund_ids
            .extend(status.refunds.iter().map(|r| r.refund_id));
    }

    /// Whether the input itself names the order (without looking at its outputs).
    fn input_names_order(&self, step: &Applied<'_>) -> bool {
        use sluice_protocol::{
            ChannelControlResult, ChannelOp, ChannelResult, QueryOrder, RefundChannelResult,
        };
        let kind = step.record.kind;
        if kind != ChannelResult::TEMPLATE_ID
            && kind != ChannelControlResult::TEMPLATE_ID
            && kind != QueryOrder::TEMPLATE_ID
            && kind != RefundChannelResult::TEMPLATE_ID
        {
            return false;
        }
        match sluice_protocol::decode_any_sbe(step.envelope().sbe) {
            Ok(AnyMessage::ChannelResult(m)) => m.order_id == self.order_id,
            Ok(AnyMessage::ChannelControlResult(m)) if m.op == ChannelOp::RefundQuery => {
                self.refund_ids.contains(&m.refund_id)
            }
            Ok(AnyMessage::ChannelControlResult(m)) => m.order_id == self.order_id,
            Ok(AnyMessage::QueryOrder(m)) => m.order_id == self.order_id,
            Ok(AnyMessage::RefundChannelResult(m)) => self.refund_ids.contains(&m.refund_id),
            _ => false,
        }
    }

    fn step(&mut self, step: &Applied<'_>) {
        let names_order = self.input_names_order(step);
        let mut outputs = Vec::new();
        for record in step.outputs.iter() {
            let for_order = output_order_id(record.frame) == Some(self.order_id);
            let caused = names_order && is_side_effect(record.frame);
            if for_order || caused {
                outputs.push(OutputView::new(&record));
            }
        }
        if !names_order && outputs.is_empty() {
            return;
        }
        for output in &outputs {
            if let Some(AnyMessage::RefundAck(ack)) = output.message()
                && ack.order_id == self.order_id
                && ack.refund_id != 0
            {
                self.refund_ids.insert(ack.refund_id);
            }
        }
        let record = step.record;
        if self
            .filter
            .admits(record.seq, record.timestamp_ns, record.kind)
        {
            self.entries.push(TraceEntry {
                input: InputView::new(record),
                outputs,
            });
        }
    }
}

/// Outputs that do not name an order but that an input naming the order may cause.
fn is_side_effect(frame: &[u8]) -> bool {
    use sluice_protocol::{HealthAlert, Reject};
    matches!(
        fields::template_of_frame(frame),
        Some(Reject::TEMPLATE_ID | HealthAlert::TEMPLATE_ID)
    )
}

impl OrderTrace {
    /// Writes the trace: each input with its outputs, then the final status.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> Result<(), Error> {
        match format {
            Format::Json => self.write_json(out),
            Format::Text => self.write_text(out).map_err(Error::output),
        }
    }

    fn write_json(&self, out: &mut dyn Write) -> Result<(), Error> {
        for entry in &self.entries {
            let mut line = entry.input.to_json();
            line["outputs"] = entry.outputs.iter().map(OutputView::to_json).collect();
            writeln!(out, "{line}").map_err(Error::output)?;
        }
        let status = status_fields(&self.status);
        let line = json!({
            "type": "final",
            "order_id": self.order_id,
            "seq": self.end_seq,
            "replayed_from": start_json(&self.start),
            "state_hash": self.state_hash.to_string(),
            "status": status,
        });
        writeln!(out, "{line}").map_err(Error::output)
    }

    fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "order {}: replayed from {} to seq {}",
            self.order_id, self.start, self.end_seq
        )?;
        for entry in &self.entries {
            writeln!(out, "{}", entry.input.to_text())?;
            for output in &entry.outputs {
                writeln!(out, "{}", output.to_text())?;
            }
        }
        write_status(out, &self.status)
    }
}

fn status_fields(status: &OrderStatus) -> serde_json::Value {
    let mut sbe = vec![0u8; sluice_protocol::MAX_FRAME_BYTES];
    match sluice_protocol::encode_sbe(status, &mut sbe) {
        Ok(n) => match fields::decode_sbe(&sbe[..n]) {
            Ok(decoded) => fields::to_json(&decoded.fields),
            Err(e) => json!({ "error": e }),
        },
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The final status, readable: the order, its routing explanation, attempts, split and refunds.
pub fn write_status(out: &mut dyn Write, s: &OrderStatus) -> std::io::Result<()> {
    write_order(out, s)?;
    write_routing(out, s)?;
    write_lines(out, s)
}

fn write_order(out: &mut dyn Write, s: &OrderStatus) -> std::io::Result<()> {
    let currency = currency_name(s.currency);
    let promoter = if s.promoter_id != 0 {
        format!(", promoter {}", s.promoter_id)
    } else {
        String::new()
    };
    writeln!(
        out,
        "final status of order {} at seq {}:",
        s.order_id, s.sequence
    )?;
    writeln!(
        out,
        "  request {} from acquirer {}, merchant {}{promoter}, {} {currency} (minor units), {} {}",
        s.request_id,
        s.acquirer_id,
        s.merchant_id,
        s.amount_minor,
        s.method.name(),
        s.scene.name()
    )?;
    writeln!(
        out,
        "  state {} (reason {}), risk {} (rule {}), fee {}, refunded {} (+{} in flight)",
        s.state.name(),
        s.reason.name(),
        s.risk_action.name(),
        s.risk_rule_id,
        s.fee_minor,
        s.refunded_minor,
        s.refund_pending_minor
    )?;
    writeln!(
        out,
        "  created {}, updated {}, settlement day {}",
        format_ns(s.created_ns),
        format_ns(s.updated_ns),
        s.settle_day
    )
}

fn write_routing(out: &mut dyn Write, s: &OrderStatus) -> std::io::Result<()> {
    writeln!(out, "  routing ({}):", s.strategy.name())?;
    for c in &s.candidates {
        let why = if c.skip_reason.to_wire() != 0 {
            format!(" ({})", c.skip_reason.name())
        } else {
            String::new()
        };
        writeln!(
            out,
            "    channel {:<3} {:<8}{why:<24} rank {} score {}",
            c.channel_id,
            c.decision.name(),
            c.rank,
            c.score
        )?;
    }
    writeln!(out, "  attempts:")?;
    for a in &s.attempts {
        writeln!(
            out,
            "    {}. channel {:<3} {:<15} code {:<5} latency {} us, dispatched {}",
            a.attempt,
            a.channel_id,
            a.status.name(),
            a.channel_code,
            a.latency_us,
            format_ns(a.dispatched_ns)
        )?;
    }
    Ok(())
}

fn write_lines(out: &mut dyn Write, s: &OrderStatus) -> std::io::Result<()> {
    if !s.split.is_empty() {
        writeln!(out, "  split:")?;
        for line in &s.split {
            let (role, party, amount) = (line.role.name(), line.party_id, line.amount_minor);
            writeln!(out, "    {role:<20} {party:>8} {amount:>14}")?;
        }
    }
    if !s.refunds.is_empty() {
        writeln!(out, "  refunds:")?;
        for r in &s.refunds {
            writeln!(
                out,
                "    refund {} (request {}): {} {}",
                r.refund_id,
                r.refund_request_id,
                r.amount_minor,
                r.state.name()
            )?;
        }
    }
    Ok(())
}

/// `CNY`, or the number when the code is unknown.
pub fn currency_name(currency: u16) -> String {
    sluice_node::world::currency_code(currency)
        .map(str::to_string)
        .unwrap_or_else(|| currency.to_string())
}

/// Writes the dump of an order (the CLI's `--order`).
pub fn dump_order(
    data: &DataDir,
    order_id: u64,
    filter: &DumpFilter,
    format: Format,
    out: &mut dyn Write,
) -> Result<OrderTrace, Error> {
    let trace = trace_order(data, order_id, filter)?;
    trace.write(format, out)?;
    Ok(trace)
}
