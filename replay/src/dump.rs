//! `sluice replay dump`: the journaled inputs, decoded, one per line, as text or JSON lines.
//! Filters: a sequence range, a time range, a template, a merchant. A merchant filter replays the
//! engine (from the best snapshot before the range) so that inputs naming only an order or a
//! refund — channel results, refunds, queries, and pulses that time an attempt out — are
//! attributed to the order's merchant.

use std::io::Write;

use serde_json::{Value as Json, json};
use sluice_engine::{Dest, DestKind, Engine, Outbox, read_envelope};
use sluice_journal::{JournalReader, RecordRef};
use sluice_protocol::{AnyMessage, ChannelOp, PartyKind, Role};

use crate::fields::{self, Decoded};
use crate::progress::Progress;
use crate::replayer;
use crate::time::format_ns;
use crate::{DataDir, Error, journal_end};

/// Session id the bootstrap configuration inputs carry (`pipeline::BOOTSTRAP_SESSION`).
const BOOTSTRAP_SESSION: u64 = u64::MAX;

/// Text or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Which inputs to show. Every bound is inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpFilter {
    pub from_seq: Option<u64>,
    pub to_seq: Option<u64>,
    pub since_ns: Option<u64>,
    pub until_ns: Option<u64>,
    /// A template id (see `fields::template_by_name`).
    pub kind: Option<u16>,
    pub merchant: Option<u32>,
}

impl DumpFilter {
    /// Whether a record passes the sequence, time and template bounds.
    pub fn admits(&self, seq: u64, timestamp_ns: u64, kind: u16) -> bool {
        self.from_seq.is_none_or(|from| seq >= from)
            && self.to_seq.is_none_or(|to| seq <= to)
            && self.since_ns.is_none_or(|since| timestamp_ns >= since)
            && self.until_ns.is_none_or(|until| timestamp_ns <= until)
            && self.kind.is_none_or(|k| k == kind)
    }

    /// The sequences the bounds allow in this journal, or `None` if none.
    pub fn seq_range(&self, reader: &JournalReader) -> Result<Option<(u64, u64)>, Error> {
        let (Some(first), Some(end)) = (reader.first_seq(), journal_end(reader)?) else {
            return Ok(None);
        };
        let mut from = self.from_seq.unwrap_or(first).max(first);
        let mut to = self.to_seq.unwrap_or(end.seq).min(end.seq);
        if let Some(since) = self.since_ns {
            match crate::first_seq_at_or_after(reader, since)? {
                Some(seq) => from = from.max(seq),
                None => return Ok(None),
            }
        }
        if let Some(until) = self.until_ns {
            match crate::last_seq_at_or_before(reader, until)? {
                Some(seq) => to = to.min(seq),
                None => return Ok(None),
            }
        }
        Ok((from <= to).then_some((from, to)))
    }
}

/// What a dump did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Inputs read (or replayed).
    pub scanned: u64,
    /// Inputs printed.
    pub printed: u64,
}

/// One journaled input, decoded.
#[derive(Debug, Clone)]
pub struct InputView {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub session_id: u64,
    pub principal_id: u32,
    /// 0 for the sequencer, else the wire `Role`.
    pub role: u8,
    pub kind: u16,
    pub decoded: Result<Decoded, String>,
}

impl InputView {
    pub fn new(record: &RecordRef<'_>) -> InputView {
        match read_envelope(record.payload) {
            Ok(envelope) => InputView {
                seq: record.seq,
                timestamp_ns: record.timestamp_ns,
                session_id: envelope.session_id,
                principal_id: envelope.principal_id,
                role: envelope.role,
                kind: record.kind,
                decoded: fields::decode_sbe(envelope.sbe),
            },
            Err(e) => InputView {
                seq: record.seq,
                timestamp_ns: record.timestamp_ns,
                session_id: 0,
                principal_id: 0,
                role: 0,
                kind: record.kind,
                decoded: Err(format!("no input envelope: {e}")),
            },
        }
    }

    pub fn message(&self) -> Option<&AnyMessage> {
        self.decoded.as_ref().ok().map(|d| &d.message)
    }

    fn template(&self) -> String {
        match &self.decoded {
            Ok(decoded) => decoded.name().to_string(),
            Err(_) => sluice_protocol::template_name(self.kind)
                .map(str::to_string)
                .unwrap_or_else(|| format!("template {}", self.kind)),
        }
    }

    /// One JSON object (a JSON line).
    pub fn to_json(&self) -> Json {
        let mut object = json!({
            "type": "input",
            "seq": self.seq,
            "timestamp_ns": self.timestamp_ns,
            "time": format_ns(self.timestamp_ns),
            "sender": {
                "role": role_name(self.role),
                "principal": self.principal_id,
                "session": self.session_id,
            },
            "template": self.template(),
            "template_id": self.kind,
        });
        match &self.decoded {
            Ok(decoded) => object["fields"] = fields::to_json(&decoded.fields),
            Err(e) => object["error"] = Json::from(e.as_str()),
        }
        object
    }

    /// One line of text.
    pub fn to_text(&self) -> String {
        let body = match &self.decoded {
            Ok(decoded) => fields::to_text(&decoded.fields),
            Err(e) => format!("UNDECODABLE: {e}"),
        };
        format!(
            "{:>9}  {}  {:<30}  {}  {body}",
            format!("#{}", self.seq),
            format_ns(self.timestamp_ns),
            sender_text(self.role, self.principal_id, self.session_id),
            self.template()
        )
    }
}

/// One output of the engine, decoded.
#[derive(Debug, Clone)]
pub struct OutputView {
    pub dest: Dest,
    pub input_seq: u64,
    pub decoded: Result<Decoded, String>,
}

impl OutputView {
    pub fn new(record: &sluice_engine::OutRecord<'_>) -> OutputView {
        OutputView {
            dest: record.dest,
            input_seq: record.input_seq,
            decoded: fields::decode_frame(record.frame),
        }
    }

    pub fn message(&self) -> Option<&AnyMessage> {
        self.decoded.as_ref().ok().map(|d| &d.message)
    }

    pub fn to_json(&self) -> Json {
        let mut object = json!({
            "dest": dest_json(&self.dest),
            "template": self.decoded.as_ref().map(|d| d.name()).unwrap_or("?"),
        });
        match &self.decoded {
            Ok(decoded) => object["fields"] = fields::to_json(&decoded.fields),
            Err(e) => object["error"] = Json::from(e.as_str()),
        }
        object
    }

    pub fn to_text(&self) -> String {
        match &self.decoded {
            Ok(decoded) => format!(
                "      -> {:<28}  {}  {}",
                dest_text(&self.dest),
                decoded.name(),
                fields::to_text(&decoded.fields)
            ),
            Err(e) => format!("      -> {:<28}  UNDECODABLE: {e}", dest_text(&self.dest)),
        }
    }
}

/// `sequencer`, `acquirer`, `channel`, `admin`.
pub fn role_name(role: u8) -> String {
    match Role::from_wire(role) {
        Some(role) => role.name().to_ascii_lowercase(),
        None if role == sluice_engine::ROLE_SEQUENCER => "sequencer".to_string(),
        None => format!("role {role}"),
    }
}

fn sender_text(role: u8, principal_id: u32, session_id: u64) -> String {
    if role == sluice_engine::ROLE_SEQUENCER && session_id == 0 {
        return "sequencer".to_string();
    }
    let session = if session_id == BOOTSTRAP_SESSION {
        "bootstrap".to_string()
    } else {
        format!("session {session_id}")
    };
    format!("{} {principal_id} ({session})", role_name(role))
}

fn dest_kind_name(kind: DestKind) -> &'static str {
    match kind {
        DestKind::Session => "session",
        DestKind::Acquirer => "acquirer",
        DestKind::Channel => "channel",
        DestKind::Admins => "admins",
        DestKind::Gateway => "gateway",
    }
}

fn dest_json(dest: &Dest) -> Json {
    json!({
        "kind": dest_kind_name(dest.kind),
        "principal": dest.principal_id,
        "session": dest.session_id,
    })
}

fn dest_text(dest: &Dest) -> String {
    match dest.kind {
        DestKind::Session => format!("session {} ({})", dest.session_id, dest.principal_id),
        DestKind::Acquirer => format!(
            "acquirer {} (session {})",
            dest.principal_id, dest.session_id
        ),
        DestKind::Channel => format!("channel {}", dest.principal_id),
        DestKind::Admins => "admins".to_string(),
        DestKind::Gateway => "gateway".to_string(),
    }
}

/// Writes one input in the chosen format.
pub(crate) fn write_input(
    out: &mut dyn Write,
    format: Format,
    input: &InputView,
) -> Result<(), Error> {
    match format {
        Format::Text => writeln!(out, "{}", input.to_text()),
        Format::Json => writeln!(out, "{}", input.to_json()),
    }
    .map_err(Error::output)
}

/// Dumps the inputs `filter` admits to `out`.
pub fn dump(
    data: &DataDir,
    filter: &DumpFilter,
    format: Format,
    out: &mut dyn Write,
) -> Result<DumpStats, Error> {
    let reader = data.reader()?;
    let Some((from, to)) = filter.seq_range(&reader)? else {
        return Ok(DumpStats::default());
    };
    match filter.merchant {
        Some(merchant) => dump_merchant(data, &reader, filter, merchant, (from, to), format, out),
        None => dump_plain(data, &reader, filter, (from, to), format, out),
    }
}

fn dump_plain(
    data: &DataDir,
    reader: &JournalReader,
    filter: &DumpFilter,
    (from, to): (u64, u64),
    format: Format,
    out: &mut dyn Write,
) -> Result<DumpStats, Error> {
    let mut stats = DumpStats::default();
    let mut progress = Progress::new(data.progress, "dumping", to - from + 1);
    for record in reader.iter_from(from) {
        let record = record?;
        if record.seq > to {
            break;
        }
        stats.scanned += 1;
        progress.tick();
        if filter.admits(record.seq, record.timestamp_ns, record.kind) {
            write_input(out, format, &InputView::new(&record))?;
            stats.printed += 1;
        }
    }
    progress.finish();
    Ok(stats)
}

fn dump_merchant(
    data: &DataDir,
    reader: &JournalReader,
    filter: &DumpFilter,
    merchant: u32,
    (from, to): (u64, u64),
    format: Format,
    out: &mut dyn Write,
) -> Result<DumpStats, Error> {
    let mut notes = Vec::new();
    let mut replayer = match replayer::at_or_before(data, reader, from - 1, &mut notes) {
        Ok(replayer) => replayer,
        Err(_) => replayer::earliest(data, reader, &mut notes)?,
    };
    for note in notes {
        eprintln!("sluice replay: {note}");
    }
    let mut stats = DumpStats::default();
    let total = to.saturating_sub(replayer.last_seq());
    let mut progress = Progress::new(data.progress, "replaying", total);
    let result = replayer::run_to(&mut replayer, reader, to, &mut progress, |step| {
        stats.scanned += 1;
        let record = step.record;
        if record.seq < from || !filter.admits(record.seq, record.timestamp_ns, record.kind) {
            return Ok(());
        }
        let input = InputView::new(record);
        let concerns = input.message().is_some_and(|message| {
            message_concerns_merchant(message, step.envelope().principal_id, step.engine, merchant)
        }) || outputs_concern_merchant(step.outputs, step.engine, merchant);
        if concerns {
            write_input(out, format, &input)?;
            stats.printed += 1;
        }
        Ok(())
    });
    progress.finish();
    result.map(|_| stats)
}

/// The merchant of an order id, from the engine's order table.
pub fn order_merchant(engine: &Engine, order_id: u64) -> Option<u32> {
    engine.order_merchant(order_id)
}

/// The order a refund id belongs to.
pub fn refund_order(engine: &Engine, refund_id: u64) -> Option<u64> {
    engine.refund_order_id(refund_id)
}

/// Whether an input names the merchant, directly or through an order or refund it names.
fn message_concerns_merchant(
    message: &AnyMessage,
    principal_id: u32,
    engine: &Engine,
    merchant: u32,
) -> bool {
    let by_order = |order_id: u64| order_merchant(engine, order_id) == Some(merchant);
    let by_request = |request_id: u64| {
        engine
            .order_id_of(principal_id, request_id)
            .is_some_and(by_order)
    };
    match message {
        AnyMessage::PaymentRequest(m) => m.merchant_id == merchant,
        AnyMessage::WithdrawRequest(m) => m.merchant_id == merchant,
        AnyMessage::ConfigMerchant(m) => {
            m.merchant_id == merchant || m.parent_merchant_id == merchant
        }
        AnyMessage::BalanceQuery(q) => {
            q.party_kind == PartyKind::Merchant && q.party_id == merchant
        }
        AnyMessage::ChannelResult(r) => by_order(r.order_id),
        AnyMessage::RefundRequest(r) => by_request(r.payment_request_id),
        AnyMessage::RefundChannelResult(r) => {
            refund_order(engine, r.refund_id).is_some_and(by_order)
        }
        AnyMessage::ChannelControlResult(r) if r.op == ChannelOp::RefundQuery => {
            refund_order(engine, r.refund_id).is_some_and(by_order)
        }
        AnyMessage::ChannelControlResult(r) => by_order(r.order_id),
        AnyMessage::QueryOrder(q) if q.order_id != 0 => by_order(q.order_id),
        AnyMessage::QueryOrder(q) => by_request(q.request_id),
        _ => false,
    }
}

/// Whether any output of an input concerns an order of the merchant (a pulse that timed out one
/// of its attempts, for example).
fn outputs_concern_merchant(outputs: &Outbox, engine: &Engine, merchant: u32) -> bool {
    outputs.iter().any(|record| {
        output_order_id(record.frame)
            .is_some_and(|order_id| order_merchant(engine, order_id) == Some(merchant))
    })
}

/// The order an output frame concerns, for the templates that name one (decoded only for those).
pub fn output_order_id(frame: &[u8]) -> Option<u64> {
    use sluice_protocol::{
        ChannelControl, Dispatch, Message, OrderStatus, PaymentAck, PaymentResult, PaymentReversal,
        RefundAck, RefundDispatch, RefundResult,
    };
    let template = fields::template_of_frame(frame)?;
    let names_order = [
        PaymentAck::TEMPLATE_ID,
        PaymentResult::TEMPLATE_ID,
        PaymentReversal::TEMPLATE_ID,
        Dispatch::TEMPLATE_ID,
        ChannelControl::TEMPLATE_ID,
        RefundAck::TEMPLATE_ID,
        RefundDispatch::TEMPLATE_ID,
        RefundResult::TEMPLATE_ID,
        OrderStatus::TEMPLATE_ID,
    ];
    if !names_order.contains(&template) {
        return None;
    }
    let order_id = match sluice_protocol::decode_any_frame(frame).ok()? {
        AnyMessage::PaymentAck(m) => m.order_id,
        AnyMessage::PaymentResult(m) => m.order_id,
        AnyMessage::PaymentReversal(m) => m.order_id,
        AnyMessage::Dispatch(m) => m.order_id,
        AnyMessage::ChannelControl(m) => m.order_id,
        AnyMessage::RefundAck(m) => m.order_id,
        AnyMessage::RefundDispatch(m) => m.order_id,
        AnyMessage::RefundResult(m) => m.order_id,
        AnyMessage::OrderStatus(m) => m.order_id,
        _ => 0,
    };
    (order_id != 0).then_some(order_id)
}
