//! What `sluice admin` prints: text for people, JSON lines for scripts; and whether any change was
//! refused (the exit status).

use serde_json::{Value as Json, json};
use sluice_node::world::diff::Difference;
use sluice_protocol::AnyMessage;
use sluice_replay::fields;

use super::conn::Answer;

pub struct Output {
    json: bool,
    changes: usize,
    refused: usize,
    missing: usize,
}

/// A message's fields, rendered by the schema (text: `name=value ...`; JSON: an object).
fn rendered(message: &AnyMessage) -> Result<fields::Decoded, String> {
    let mut sbe = vec![0u8; sluice_protocol::MAX_FRAME_BYTES];
    let n = message.encode_sbe(&mut sbe).map_err(|e| e.to_string())?;
    fields::decode_sbe(&sbe[..n])
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output {
            json,
            changes: 0,
            refused: 0,
            missing: 0,
        }
    }

    fn line(&self, value: Json, text: String) {
        use std::io::Write;
        // A reader that went away (`| head`) ends the output, not the command's exit status.
        let mut stdout = std::io::stdout().lock();
        let _ = match self.json {
            true => writeln!(stdout, "{value}"),
            false => writeln!(stdout, "{text}"),
        };
    }

    /// An object as the server holds it.
    pub fn object(&mut self, message: &AnyMessage) -> Result<(), String> {
        let decoded = rendered(message)?;
        let value = json!({
            "template": decoded.name(),
            "fields": fields::to_json(&decoded.fields),
        });
        self.line(
            value,
            format!("{}  {}", decoded.name(), fields::to_text(&decoded.fields)),
        );
        Ok(())
    }

    /// The answer to one change of `object`.
    pub fn change(&mut self, object: &str, answer: &Answer) {
        self.changes += 1;
        let (value, text) = match answer {
            Answer::Accepted { sequence } => (
                json!({"object": object, "status": "accepted", "sequence": sequence}),
                format!("accepted  {object} (journal sequence {sequence})"),
            ),
            Answer::Refused { reason, text } => {
                self.refused += 1;
                (
                    json!({"object": object, "status": "refused", "reason": reason.name(), "text": text}),
                    format!("REFUSED   {object}: {}: {text}", reason.name()),
                )
            }
            Answer::Object(m) => {
                self.refused += 1;
                let what = format!("unexpected answer {}", m.name());
                (
                    json!({"object": object, "status": "error", "text": what}),
                    what,
                )
            }
        };
        self.line(value, text);
    }

    /// An object the server does not have (`answer` says why).
    pub fn missing(&mut self, object: &str, answer: &Answer) {
        self.missing += 1;
        let text = match answer {
            Answer::Refused { reason, text } => format!("{}: {text}", reason.name()),
            other => format!("{other:?}"),
        };
        let value = json!({"object": object, "status": "not found", "text": text});
        self.line(value, format!("NOT FOUND {object}: {text}"));
    }

    /// One difference between a file and the server.
    pub fn difference(&mut self, d: &Difference) {
        let value = json!({
            "object": d.object,
            "line": d.line,
            "changes": d.changes,
            "applies": d.fix.as_ref().map(AnyMessage::name),
        });
        self.line(value, format!("  {d}"));
    }

    /// A line of information (text mode only: JSON output stays one object per result).
    pub fn note(&mut self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// A JSON-only or text-only result line.
    pub fn record(&mut self, value: Json, text: String) {
        self.line(value, text);
    }

    /// Err when any change was refused or an object was not found.
    pub fn finish(self) -> Result<(), String> {
        match (self.refused, self.missing) {
            (0, 0) => Ok(()),
            (0, _) => Err("not found".into()),
            (n, _) => Err(format!("{n} of {} changes refused", self.changes)),
        }
    }
}
