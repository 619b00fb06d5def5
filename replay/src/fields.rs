//! Every message, field by field, as JSON or as `name=value` text, generically: the message is
//! first decoded with the protocol codec (so only valid messages are rendered), then its SBE bytes
//! are walked with the schema the codec itself generates (`Message::schema()`: each root field's
//! offset, size and type, each group's entry layout, each text). A field added to the schema is
//! dumped without a change here.

use std::sync::OnceLock;

use serde_json::{Map, Value as Json};
use sluice_protocol::codec::{FieldDoc, GROUP_HEADER_LEN, TEXT_HEADER_LEN};
use sluice_protocol::schema::MessageDoc;
use sluice_protocol::{AnyMessage, MESSAGE_HEADER_LEN, MessageHeader, SOFH_LEN, split_sbe};

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Unsigned(u64),
    Signed(i64),
    Bool(bool),
    /// Enum names, decimals, addresses, fixed-length characters and texts.
    Text(String),
    /// A repeating group: its entries, each a list of fields.
    Group(Vec<Fields>),
}

/// A message's fields in wire order.
pub type Fields = Vec<(&'static str, Value)>;

/// A decoded message: its header, the typed value, and its fields for display.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub header: MessageHeader,
    pub message: AnyMessage,
    pub fields: Fields,
}

impl Decoded {
    pub fn name(&self) -> &'static str {
        self.message.name()
    }
}

fn docs() -> &'static [MessageDoc] {
    static DOCS: OnceLock<Vec<MessageDoc>> = OnceLock::new();
    DOCS.get_or_init(sluice_protocol::message_docs)
}

fn doc_of(template_id: u16) -> Option<&'static MessageDoc> {
    docs().iter().find(|doc| doc.template_id == template_id)
}

/// Decodes SBE bytes (message header and body, no framing header).
pub fn decode_sbe(sbe: &[u8]) -> Result<Decoded, String> {
    let (header, body) = split_sbe(sbe).map_err(|e| e.to_string())?;
    let message = AnyMessage::decode(header, body).map_err(|e| e.to_string())?;
    let doc = doc_of(header.template_id)
        .ok_or_else(|| format!("template {} has no schema", header.template_id))?;
    let fields = walk(doc, header.block_length, body)
        .ok_or_else(|| format!("{} does not match its schema", doc.name))?;
    Ok(Decoded {
        header,
        message,
        fields,
    })
}

/// Decodes a whole frame (framing header, then SBE), as the engine's outputs are.
pub fn decode_frame(frame: &[u8]) -> Result<Decoded, String> {
    match frame.get(SOFH_LEN..) {
        Some(sbe) => decode_sbe(sbe),
        None => Err("frame shorter than its framing header".into()),
    }
}

/// The template id of SBE bytes, without decoding the body.
pub fn template_of_sbe(sbe: &[u8]) -> Option<u16> {
    let bytes = sbe.get(2..4)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

/// The template id of a whole frame, without decoding it.
pub fn template_of_frame(frame: &[u8]) -> Option<u16> {
    template_of_sbe(frame.get(SOFH_LEN..SOFH_LEN + MESSAGE_HEADER_LEN)?)
}

/// Walks a body the codec accepted: root fields, then groups, then texts.
fn walk(doc: &MessageDoc, block_length: u16, body: &[u8]) -> Option<Fields> {
    let mut fields = root_fields(&doc.fields, body)?;
    let mut at = usize::from(block_length);
    for group in &doc.groups {
        let header = body.get(at..at + GROUP_HEADER_LEN)?;
        let entry_len = usize::from(u16::from_le_bytes([header[0], header[1]]));
        let count = usize::from(u16::from_le_bytes([header[2], header[3]]));
        at += GROUP_HEADER_LEN;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(root_fields(&group.fields, body.get(at..at + entry_len)?)?);
            at += entry_len;
        }
        fields.push((group.name, Value::Group(entries)));
    }
    for text in &doc.texts {
        let header = body.get(at..at + TEXT_HEADER_LEN)?;
        let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
        at += TEXT_HEADER_LEN;
        let bytes = body.get(at..at + len)?;
        at += len;
        let value = String::from_utf8_lossy(bytes).into_owned();
        fields.push((text.name, Value::Text(value)));
    }
    Some(fields)
}

fn root_fields(docs: &[FieldDoc], block: &[u8]) -> Option<Fields> {
    docs.iter()
        .map(|doc| {
            let bytes = block.get(doc.offset..doc.offset + doc.size)?;
            Some((doc.name, field_value(doc, bytes)))
        })
        .collect()
}

/// One fixed-size field from its bytes. Integers and booleans are read directly; every other type
/// (enums, decimals, IP addresses) as the codec renders it, which is its `Debug` form: the enum
/// variant's name, the decimal's digits, the address.
fn field_value(doc: &FieldDoc, bytes: &[u8]) -> Value {
    let mut le = [0u8; 8];
    let n = bytes.len().min(8);
    le[..n].copy_from_slice(&bytes[..n]);
    let unsigned = u64::from_le_bytes(le);
    match doc.type_name.as_str() {
        "u8" | "u16" | "u32" | "u64" => Value::Unsigned(unsigned),
        "i32" => Value::Signed(i64::from(unsigned as u32 as i32)),
        "i64" => Value::Signed(unsigned as i64),
        name if name.starts_with("bool") => Value::Bool(bytes.first() == Some(&1)),
        name if name.starts_with("char[") => {
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            Value::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
        }
        _ => Value::Text((doc.render)(bytes)),
    }
}

/// The fields as a JSON object (groups as arrays of objects).
pub fn to_json(fields: &Fields) -> Json {
    let mut object = Map::new();
    for (name, value) in fields {
        object.insert((*name).to_string(), value_json(value));
    }
    Json::Object(object)
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Unsigned(v) => Json::from(*v),
        Value::Signed(v) => Json::from(*v),
        Value::Bool(v) => Json::from(*v),
        Value::Text(v) => Json::from(v.as_str()),
        Value::Group(entries) => Json::Array(entries.iter().map(to_json).collect()),
    }
}

/// The fields as `name=value` pairs separated by spaces; texts with spaces are quoted, groups are
/// `name=[{a=1 b=2} {a=3 b=4}]`.
pub fn to_text(fields: &Fields) -> String {
    let mut out = String::new();
    write_fields(&mut out, fields);
    out
}

fn write_fields(out: &mut String, fields: &Fields) {
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(name);
        out.push('=');
        write_value(out, value);
    }
}

fn write_value(out: &mut String, value: &Value) {
    use std::fmt::Write;
    match value {
        Value::Unsigned(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Signed(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Bool(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Text(v) if v.is_empty() || v.contains([' ', '=', '"', '[', ']', '{', '}']) => {
            let _ = write!(out, "{v:?}");
        }
        Value::Text(v) => out.push_str(v),
        Value::Group(entries) => {
            out.push('[');
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push('{');
                write_fields(out, entry);
                out.push('}');
            }
            out.push(']');
        }
    }
}

/// Looks a field up by name.
pub fn get<'a>(fields: &'a Fields, name: &str) -> Option<&'a Value> {
    fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// The template id of a template name, case-insensitive (`paymentrequest`, `PaymentRequest`).
pub fn template_by_name(name: &str) -> Option<u16> {
    let wanted = name.trim().replace(['_', '-'], "");
    sluice_protocol::TEMPLATE_IDS.iter().copied().find(|id| {
        sluice_protocol::template_name(*id).is_some_and(|n| n.eq_ignore_ascii_case(&wanted))
    })
}

/// Every template name, for error messages.
pub fn template_names() -> Vec<&'static str> {
    sluice_protocol::TEMPLATE_IDS
        .iter()
        .filter_map(|id| sluice_protocol::template_name(*id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::codec::Entropy;
    use sluice_protocol::{
        Chars, Ip, Message, PartyRole, PaymentMethod, PaymentRequest, PaymentResult, SplitLine,
        TEMPLATE_IDS,
    };

    fn sbe_of(message: &AnyMessage) -> Vec<u8> {
        let mut buf = vec![0u8; sluice_protocol::MAX_FRAME_BYTES];
        let n = message.encode_sbe(&mut buf).expect("fits");
        buf.truncate(n);
        buf
    }

    #[test]
    fn every_message_is_dumpable_field_by_field() {
        for seed in 0u8..8 {
            for &template in TEMPLATE_IDS {
                let bytes = [seed; 64];
                let mut entropy = Entropy::new(&bytes);
                let message = AnyMessage::sample(template, &mut entropy).expect("sample");
                let decoded = decode_sbe(&sbe_of(&message)).expect("decodes");
                assert_eq!(decoded.message, message);
                let doc = doc_of(template).expect("doc");
                let names: Vec<&str> = decoded.fields.iter().map(|(n, _)| *n).collect();
                let expected: Vec<&str> = doc
                    .fields
                    .iter()
                    .map(|f| f.name)
                    .chain(doc.groups.iter().map(|g| g.name))
                    .chain(doc.texts.iter().map(|t| t.name))
                    .collect();
                assert_eq!(names, expected, "{}", doc.name);
                let json = to_json(&decoded.fields);
                assert_eq!(json.as_object().map(|o| o.len()), Some(expected.len()));
                assert!(!to_text(&decoded.fields).is_empty());
            }
        }
    }

    #[test]
    fn values_are_typed() {
        let request = PaymentRequest {
            request_id: 7,
            merchant_id: 1001,
            amount_minor: -5,
            currency: 156,
            method: PaymentMethod::Wallet,
            ip: Ip::v4([10, 0, 0, 1]),
            card_fingerprint: Chars::new("fp 1"),
            ..PaymentRequest::default()
        };
        let decoded = decode_sbe(&sbe_of(&request.clone().into())).expect("decodes");
        let json = to_json(&decoded.fields);
        assert_eq!(json["request_id"], 7);
        assert_eq!(json["amount_minor"], -5);
        assert_eq!(json["method"], "Wallet");
        assert_eq!(json["ip"], "10.0.0.1");
        assert_eq!(json["card_fingerprint"], "fp 1");
        let text = to_text(&decoded.fields);
        assert!(text.starts_with("request_id=7 merchant_id=1001 promoter_id=0 amount_minor=-5"));
        assert!(text.contains("card_fingerprint=\"fp 1\""), "{text}");
        assert_eq!(PaymentRequest::TEMPLATE_ID, decoded.header.template_id);

        let mut result = PaymentResult {
            order_id: 3,
            ..PaymentResult::default()
        };
        result.split.push(SplitLine {
            role: PartyRole::Merchant,
            party_id: 1001,
            amount_minor: 900,
        });
        let decoded = decode_sbe(&sbe_of(&result.into())).expect("decodes");
        let json = to_json(&decoded.fields);
        assert_eq!(json["split"][0]["role"], "Merchant");
        assert_eq!(json["split"][0]["amount_minor"], 900);
        assert!(
            to_text(&decoded.fields)
                .contains("split=[{role=Merchant party_id=1001 amount_minor=900}]")
        );
    }

    #[test]
    fn template_names_are_case_insensitive() {
        assert_eq!(
            template_by_name("paymentrequest"),
            Some(PaymentRequest::TEMPLATE_ID)
        );
        assert_eq!(
            template_by_name("PAYMENT_REQUEST"),
            Some(PaymentRequest::TEMPLATE_ID)
        );
        assert_eq!(template_by_name("Pulse"), Some(90));
        assert_eq!(template_by_name("nope"), None);
        assert!(template_names().contains(&"Genesis"));
    }
}
