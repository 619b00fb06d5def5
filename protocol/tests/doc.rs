//! docs/PROTOCOL.md cannot drift from the code: its generated sections (message tables, enum
//! tables, the worked hex examples) must equal what this crate generates now.
//! Run with SLUICE_BLESS=1 to rewrite those sections after a deliberate schema change.

use sluice_protocol::schema::{self, examples};
use sluice_protocol::*;
use std::path::PathBuf;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md")
}

fn frame_of<M: Message>(m: &M) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let len = encode_frame(m, &mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn sections() -> Vec<(&'static str, String)> {
    let req = frame_of(&examples::payment_request());
    let ack = frame_of(&examples::payment_ack());
    vec![
        ("messages", schema::messages_markdown()),
        ("enums", schema::enums_markdown()),
        (
            "example-payment-request",
            format!(
                "```text\n{}```\n\n```text\n{}```\n",
                schema::hex_dump(&req),
                schema::annotated_frame(&PaymentRequest::schema(), &req)
            ),
        ),
        (
            "example-payment-ack",
            format!(
                "```text\n{}```\n\n```text\n{}```\n",
                schema::hex_dump(&ack),
                schema::annotated_frame(&PaymentAck::schema(), &ack)
            ),
        ),
    ]
}

fn replace_section(doc: &str, name: &str, body: &str) -> Option<String> {
    let begin = format!("<!-- BEGIN GENERATED: {name} -->\n");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = doc.find(&begin)? + begin.len();
    let stop = doc[start..].find(&end)? + start;
    Some(format!("{}{}{}", &doc[..start], body, &doc[stop..]))
}

fn current_section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let begin = format!("<!-- BEGIN GENERATED: {name} -->\n");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = doc.find(&begin)? + begin.len();
    let stop = doc[start..].find(&end)? + start;
    Some(&doc[start..stop])
}

#[test]
fn protocol_document_matches_the_code() {
    let path = doc_path();
    let mut doc = std::fs::read_to_string(&path).expect("docs/PROTOCOL.md exists");
    let bless = std::env::var_os("SLUICE_BLESS").is_some();
    for (name, body) in sections() {
        if bless {
            doc = replace_section(&doc, name, &body)
                .unwrap_or_else(|| panic!("section {name} markers missing"));
        } else {
            let current = current_section(&doc, name)
                .unwrap_or_else(|| panic!("docs/PROTOCOL.md lacks the generated section {name}"));
            assert!(
                current == body,
                "docs/PROTOCOL.md section `{name}` differs from the code; \
                 rerun with SLUICE_BLESS=1 after a deliberate schema change"
            );
        }
    }
    if bless {
        std::fs::write(&path, doc).unwrap();
    }
}

#[test]
fn the_worked_example_decodes_to_the_documented_values() {
    let req = frame_of(&examples::payment_request());
    let back = decode_frame::<PaymentRequest>(&req).unwrap();
    assert_eq!(back.amount_minor, 10_000);
    assert_eq!(back.currency, 156);
    assert_eq!(back.card_fingerprint.as_str(), "fp9Xq2LmT4vB8sKd");
    assert_eq!(&req[..6], &[0, 0, 0, req.len() as u8, 0xEB, 0x50]);
}

/// Every enum a message field uses has its table in section 6 (the list there is kept by hand).
#[test]
fn every_enum_a_field_uses_is_documented() {
    let enums = schema::enums_markdown();
    let docs = message_docs();
    let fields = docs.iter().flat_map(|m| {
        m.fields
            .iter()
            .chain(m.groups.iter().flat_map(|g| &g.fields))
    });
    for f in fields {
        // Enums are typed "Name (u8)" or "Name (u16)"; other types start in lower case.
        let Some((name, repr)) = f.type_name.split_once(" (") else {
            continue;
        };
        if name.starts_with(char::is_uppercase) && repr.starts_with('u') && name != "Chars" {
            let heading = format!("### {name} (");
            assert!(
                enums.contains(&heading),
                "{}: enum {name} has no table",
                f.name
            );
        }
    }
}
