//! The schema as data, and the Markdown that `docs/PROTOCOL.md` embeds. A test regenerates the
//! Markdown and compares it with the document, so the document cannot drift from the code.

use crate::SentBy;
use crate::codec::FieldDoc;
use std::fmt::Write;

/// A message's documentation.
#[derive(Debug, Clone)]
pub struct MessageDoc {
    pub name: &'static str,
    pub template_id: u16,
    pub sent_by: SentBy,
    pub doc: String,
    pub block_length: u16,
    pub fields: Vec<FieldDoc>,
    pub groups: Vec<GroupDoc>,
    pub texts: Vec<TextDoc>,
}

/// A repeating group's documentation.
#[derive(Debug, Clone)]
pub struct GroupDoc {
    pub name: &'static str,
    pub entry: &'static str,
    pub max: usize,
    pub doc: String,
    pub entry_size: usize,
    pub fields: Vec<FieldDoc>,
}

/// A variable-length text's documentation.
#[derive(Debug, Clone)]
pub struct TextDoc {
    pub name: &'static str,
    pub max: usize,
    pub doc: String,
}

/// Implemented by every wire enum, for its table in the document.
pub trait EnumDoc {
    fn enum_name() -> &'static str;
    fn repr() -> &'static str;
    fn doc() -> String;
    fn variants() -> &'static [(u64, &'static str, &'static str)];
}

/// Markdown for one message: a heading, its summary and a table of its fields.
pub fn message_markdown(m: &MessageDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {} (template {})\n", m.name, m.template_id);
    let _ = writeln!(
        out,
        "{} Sent by: {}. Root block length: {} bytes.\n",
        m.doc,
        m.sent_by.describe(),
        m.block_length
    );
    if m.fields.is_empty() {
        out.push_str("Root block: no fields.\n\n");
    } else {
        fields_table(&mut out, &m.fields);
    }
    for g in &m.groups {
        let _ = writeln!(
            out,
            "Repeating group `{}` ({} entries of {} bytes, at most {}): {}\n",
            g.name, g.entry, g.entry_size, g.max, g.doc
        );
        fields_table(&mut out, &g.fields);
    }
    for t in &m.texts {
        let _ = writeln!(
            out,
            "Variable-length text `{}` (u16 length, then at most {} bytes of UTF-8): {}\n",
            t.name, t.max, t.doc
        );
    }
    out
}

fn fields_table(out: &mut String, fields: &[FieldDoc]) {
    out.push_str("| offset | size | field | type | meaning |\n|---:|---:|---|---|---|\n");
    for f in fields {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {} |",
            f.offset, f.size, f.name, f.type_name, f.doc
        );
    }
    out.push('\n');
}

/// Markdown for one enum: a heading and a table of its values.
pub fn enum_markdown<E: EnumDoc>() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {} ({})\n", E::enum_name(), E::repr());
    let _ = writeln!(out, "{}\n", E::doc());
    out.push_str("| value | name | meaning |\n|---:|---|---|\n");
    for (value, name, doc) in E::variants() {
        let _ = writeln!(out, "| {value} | {name} | {doc} |");
    }
    out.push('\n');
    out
}

/// Markdown for every enum of the schema.
pub fn enums_markdown() -> String {
    use crate::messages::RefundState;
    use crate::types::*;
    [
        enum_markdown::<Role>(),
        enum_markdown::<PaymentMethod>(),
        enum_markdown::<Scene>(),
        enum_markdown::<AckStatus>(),
        enum_markdown::<FinalStatus>(),
        enum_markdown::<OrderState>(),
        enum_markdown::<RefundState>(),
        enum_markdown::<RiskAction>(),
        enum_markdown::<ChannelOutcome>(),
        enum_markdown::<AttemptStatus>(),
        enum_markdown::<ChannelOp>(),
        enum_markdown::<ChannelStatus>(),
        enum_markdown::<UnknownPolicy>(),
        enum_markdown::<ReversalState>(),
        enum_markdown::<ResumeStatus>(),
        enum_markdown::<PartyRole>(),
        enum_markdown::<FeeBearer>(),
        enum_markdown::<RoutingStrategy>(),
        enum_markdown::<CandidateDecision>(),
        enum_markdown::<SkipReason>(),
        enum_markdown::<HealthState>(),
        enum_markdown::<RiskFeature>(),
        enum_markdown::<RiskEntity>(),
        enum_markdown::<RiskWindow>(),
        enum_markdown::<Comparison>(),
        enum_markdown::<RuleTarget>(),
        enum_markdown::<ListKind>(),
        enum_markdown::<ListOp>(),
        enum_markdown::<PartyKind>(),
        enum_markdown::<Activity>(),
        enum_markdown::<CredentialOp>(),
        enum_markdown::<SecretHash>(),
        enum_markdown::<NotifyOp>(),
        enum_markdown::<ConfigKind>(),
        enum_markdown::<ConfigLookup>(),
        enum_markdown::<RefundFeePolicy>(),
        enum_markdown::<SettlementSchedule>(),
        enum_markdown::<DiscrepancyOp>(),
        enum_markdown::<DiscrepancyClass>(),
        enum_markdown::<PayoutState>(),
        enum_markdown::<PayoutChannelStatus>(),
        enum_markdown::<DayKind>(),
        enum_markdown::<PartySchedule>(),
        enum_markdown::<PayoutMode>(),
        enum_markdown::<LabelKind>(),
        enum_markdown::<LabelSource>(),
        enum_markdown::<DisputeStage>(),
        enum_markdown::<DisputeReason>(),
        enum_markdown::<ReviewAction>(),
        enum_markdown::<LoanState>(),
        enum_markdown::<ReasonCode>(),
    ]
    .concat()
}

/// Markdown for every message of the schema.
pub fn messages_markdown() -> String {
    crate::message_docs()
        .iter()
        .map(message_markdown)
        .collect::<Vec<_>>()
        .concat()
}

/// A classic hex dump: 16 bytes a line, offset, hex, ASCII.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:04x}  ", line * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        for &b in chunk {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            });
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

/// An annotated dump of one frame: each header and field with its bytes and value.
pub fn annotated_frame(doc: &MessageDoc, frame: &[u8]) -> String {
    let mut out = String::new();
    let mut line = |at: usize, len: usize, what: &str| {
        let bytes = frame.get(at..at + len).unwrap_or(&[]);
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "{at:04x}  {:<50} {what}", hex.join(" "));
    };
    let be32 = |at: usize| {
        frame
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    let le16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .unwrap_or(0)
    };
    line(
        0,
        4,
        &format!("SOFH message length = {} (big-endian)", be32(0)),
    );
    line(4, 2, "SOFH encoding type = 0xEB50 (SBE 1.0 little-endian)");
    line(6, 2, &format!("SBE block_length = {}", le16(6)));
    line(
        8,
        2,
        &format!("SBE template_id = {} ({})", le16(8), doc.name),
    );
    line(10, 2, &format!("SBE schema_id = {:#06x}", le16(10)));
    line(12, 2, &format!("SBE version = {}", le16(12)));
    let root = crate::SOFH_LEN + crate::MESSAGE_HEADER_LEN;
    for f in &doc.fields {
        let at = root + f.offset;
        let value = frame.get(at..).map(|b| (f.render)(b)).unwrap_or_default();
        line(at, f.size, &format!("{} = {}", f.name, value));
    }
    out
}

/// The worked examples the document shows (a test checks the document against them).
pub mod examples {
    use crate::*;

    /// A card payment of 100.00 CNY at merchant 1001, from the document.
    pub fn payment_request() -> PaymentRequest {
        PaymentRequest {
            request_id: 42,
            merchant_id: 1001,
            promoter_id: 501,
            amount_minor: 10_000,
            currency: 156,
            method: PaymentMethod::Card,
            scene: Scene::App,
            goods_category: 5411,
            user_id: 7_000_001,
            device_id: 880_001,
            ip: Ip::v4([203, 0, 113, 7]),
            card_fingerprint: Chars::new("fp9Xq2LmT4vB8sKd"),
            card_bin: 622_848,
            country: Chars::new("CN"),
            installment_count: 0,
            installment_payer_interest: false,
        }
    }

    /// The PaymentAck the engine sends for it (order 1, routed to channel 3).
    pub fn payment_ack() -> PaymentAck {
        PaymentAck {
            request_id: 42,
            order_id: 1,
            status: AckStatus::Accepted,
            reason: ReasonCode::None,
            channel_id: 3,
            risk_action: RiskAction::None,
            risk_rule_id: 0,
            duplicate: false,
            sequence: 17,
            timestamp_ns: 1_764_115_200_000_000_000,
            out_seq: 1,
            retransmission: false,
            risk_score: 0,
        }
    }
}
