//! `sluice admin show|list|set|enable|disable|list-entry`: one object at a time. A change starts
//! from the object as the server holds it (ConfigQuery), sets the named fields through the schema
//! (`FieldDoc::parse`: any root field, by its name in PROTOCOL.md) and sends the whole definition
//! back; groups (currencies, routes, tiers...) are changed with `sluice admin apply FILE`.

use clap::{Args, Subcommand};
use sluice_protocol::*;

use super::Kind;
use super::conn::AdminConn;
use super::output::Output;

#[derive(Args)]
pub struct SetArgs {
    kind: Kind,
    /// The object's id.
    id: String,
    /// FIELD=VALUE pairs, e.g. max_amount_minor=500000 status=disabled.
    #[arg(required = true, value_name = "FIELD=VALUE")]
    assignments: Vec<String>,
}

#[derive(Subcommand)]
pub enum ListEntryCommand {
    /// e.g. `list-entry add list=block entity=ip ip=203.0.113.7`
    Add {
        #[arg(required = true, value_name = "FIELD=VALUE")]
        fields: Vec<String>,
    },
    /// e.g. `list-entry remove list=block entity=user id=42`
    Remove {
        #[arg(required = true, value_name = "FIELD=VALUE")]
        fields: Vec<String>,
    },
}

/// The query for `kind` `id`, and the object's name.
fn query(kind: Kind, id: &str) -> Result<(ConfigQuery, String), String> {
    let name = format!("{} {id}", kind_name(kind));
    if kind == Kind::Credential {
        if id.is_empty() || id.len() > 16 {
            return Err(format!("key id {id:?} must be 1..=16 bytes"));
        }
        return Ok((ConfigQuery::credential(Chars::new(id)), name));
    }
    let n: u64 = id
        .parse()
        .map_err(|_| format!("{} id {id:?} is not a number", kind_name(kind)))?;
    Ok((ConfigQuery::by_id(kind.config_kind(), n), name))
}

fn kind_name(kind: Kind) -> &'static str {
    sluice_node::world::diff::kind_name(kind.config_kind())
}

/// The field that names an object: it cannot be set (that would define another object).
fn id_field(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Merchant => Some("merchant_id"),
        Kind::Channel => Some("channel_id"),
        Kind::SplitProfile => Some("profile_id"),
        Kind::Promoter => Some("promoter_id"),
        Kind::Rule => Some("rule_id"),
        Kind::ListEntry | Kind::Credential => None,
    }
}

/// The object as the server holds it; Err(name) after reporting why there is none.
fn fetch(
    conn: &mut AdminConn,
    kind: Kind,
    id: &str,
    out: &mut Output,
) -> Result<Option<AnyMessage>, String> {
    let (q, name) = query(kind, id)?;
    match conn.query(q)? {
        Ok(m) => Ok(Some(m)),
        Err(answer) => {
            out.missing(&name, &answer);
            Ok(None)
        }
    }
}

pub fn show(conn: &mut AdminConn, kind: Kind, id: &str, out: &mut Output) -> Result<(), String> {
    if let Some(m) = fetch(conn, kind, id, out)? {
        out.object(&m)?;
    }
    Ok(())
}

pub fn list(conn: &mut AdminConn, kind: Kind, out: &mut Output) -> Result<(), String> {
    for m in conn.walk(kind.config_kind())? {
        out.object(&m)?;
    }
    Ok(())
}

/// `message` with `FIELD=VALUE` assignments made to its root fields, through the schema.
pub fn assign(
    message: &AnyMessage,
    assignments: &[String],
    fixed: Option<&str>,
) -> Result<AnyMessage, String> {
    let mut sbe = vec![0u8; MAX_FRAME_BYTES];
    let n = message.encode_sbe(&mut sbe).map_err(|e| e.to_string())?;
    let docs = message_docs();
    let doc = docs
        .iter()
        .find(|d| d.template_id == message.template_id())
        .ok_or_else(|| format!("{} has no schema", message.name()))?;
    for a in assignments {
        let (name, value) = a
            .split_once('=')
            .ok_or_else(|| format!("{a:?} is not FIELD=VALUE"))?;
        if Some(name) == fixed {
            return Err(format!("{name} names the object and cannot be set"));
        }
        let Some(f) = doc.fields.iter().find(|f| f.name == name) else {
            let names: Vec<&str> = doc.fields.iter().map(|f| f.name).collect();
            let what = format!("{} has no field {name:?} that set can change", doc.name);
            return Err(format!("{what}; its fields: {}", names.join(", ")));
        };
        let at = MESSAGE_HEADER_LEN + f.offset;
        (f.parse)(value, &mut sbe[at..at + f.size]).map_err(|e| format!("{name}: {e}"))?;
    }
    decode_any_sbe(&sbe[..n]).map_err(|e| e.to_string())
}

fn change(
    conn: &mut AdminConn,
    kind: Kind,
    id: &str,
    assignments: &[String],
    out: &mut Output,
) -> Result<(), String> {
    if matches!(kind, Kind::Credential | Kind::ListEntry) {
        let how = "use `sluice admin credential ...` or `sluice admin list-entry ...`";
        return Err(format!(
            "a {} is not changed with set: {how}",
            kind_name(kind)
        ));
    }
    let Some(current) = fetch(conn, kind, id, out)? else {
        return Ok(());
    };
    let changed = assign(&current, assignments, id_field(kind))?;
    let answer = conn.request(&changed)?;
    out.change(&format!("{} {id}", kind_name(kind)), &answer);
    Ok(())
}

pub fn set(conn: &mut AdminConn, args: &SetArgs, out: &mut Output) -> Result<(), String> {
    change(conn, args.kind, &args.id, &args.assignments, out)
}

pub fn status(
    conn: &mut AdminConn,
    kind: Kind,
    id: &str,
    on: bool,
    out: &mut Output,
) -> Result<(), String> {
    if matches!(kind, Kind::SplitProfile) {
        return Err("a split profile has no status: point merchants at another profile".into());
    }
    let value = if on {
        "status=Active"
    } else {
        "status=Disabled"
    };
    change(conn, kind, id, &[value.to_string()], out)
}

pub fn list_entry(
    conn: &mut AdminConn,
    command: ListEntryCommand,
    out: &mut Output,
) -> Result<(), String> {
    let (op, fields) = match command {
        ListEntryCommand::Add { fields } => (ListOp::Add, fields),
        ListEntryCommand::Remove { fields } => (ListOp::Remove, fields),
    };
    let blank = ConfigListEntry {
        list: ListKind::Block,
        op,
        entity: RiskEntity::User,
        id: 0,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
    };
    let entry = assign(&blank.into(), &fields, Some("op"))?;
    let answer = conn.request(&entry)?;
    out.change(&format!("list entry ({})", fields.join(" ")), &answer);
    Ok(())
}
