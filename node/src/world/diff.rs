//! How a configuration file's business world differs from the world a journal holds: object by
//! object and field by field, both sides read back through `Engine::config_of` on engines that
//! applied them, so a rate written "0.10" and one stored as 100,000,000 ppb compare equal.
//!
//! Two uses, one comparison: `diff` takes the whole file against a recovered engine (`serve
//! --config` on an existing data directory: reported at start, never applied); `diff_onto` takes
//! a file — whole or a few objects — applied over the objects a running server listed through
//! `ConfigQuery` (`sluice admin diff|apply`). Each difference carries the message that would make
//! the journal match the file.

use std::fmt;

use sluice_engine::Engine;
use sluice_protocol::{
    AnyMessage, Chars, ConfigCredential, ConfigKind, ConfigQuery, CredentialOp, Genesis,
};

use super::scratch::{Scratch, scratch_world, small};
use super::{World, WorldInput};
use crate::Error;

/// One object that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The object, e.g. "merchant 1004" or "credential acq-a".
    pub object: String,
    /// Where the file defines it (None for objects only the journal has).
    pub line: Option<usize>,
    /// What differs: "field: file value, journal value" per field, or that one side lacks it.
    pub changes: Vec<String>,
    /// The admin input that makes the journal match the file (None for objects only the journal
    /// has: Sluice disables, it does not forget, and only on request).
    pub fix: Option<AnyMessage>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (config line {line}): ", self.object)?,
            None => write!(f, "{}: ", self.object)?,
        }
        f.write_str(&self.changes.join("; "))
    }
}

/// Every object of `world` whose definition differs from (or is missing in) `engine`, then every
/// object `engine` has that the file lacks, then list entries on one side only, then the limits.
pub fn diff(world: &World, engine: &Engine) -> Result<Vec<Difference>, Error> {
    let file = scratch_world(world)?;
    let fixes = fixes(&world.inputs, engine);
    let mut out = compare(&fixes, &file, engine)?;
    out.extend(journal_only(&file, engine));
    let ours = sluice_engine::genesis_limits(&world.genesis)?;
    let theirs = &engine.state().limits;
    if ours != *theirs {
        let mut changes = changes(&ours, theirs);
        changes.push("limits cannot change on an existing journal".into());
        out.push(Difference {
            object: "limits".into(),
            line: None,
            changes,
            fix: None,
        });
    }
    Ok(out)
}

/// The objects of `world` (a whole file or a few objects) whose definition differs from a running
/// server's: `server` is what a `ConfigQuery` ByPosition walk returned, kind by kind. Objects the
/// file does not mention are not differences here.
pub fn diff_onto(server: &[AnyMessage], world: &World) -> Result<Vec<Difference>, Error> {
    let genesis = roomy(&world.genesis, server.len() + world.inputs.len());
    let journal = mirror(&genesis, server)?;
    let fixes = fixes(&world.inputs, &journal.engine);
    let mut file = mirror(&genesis, server)?;
    file.apply_all(&fixes)?;
    compare(&fixes, &file.engine, &journal.engine)
}

/// Limits with room for `objects` of every kind, so a mirror of any server fits.
fn roomy(genesis: &Genesis, objects: usize) -> Genesis {
    let n32 = u32::try_from(objects).unwrap_or(u32::MAX);
    let n16 = u16::try_from(objects).unwrap_or(u16::MAX);
    let mut g = small(genesis);
    g.merchants_max = g.merchants_max.max(n32);
    g.promoters_max = g.promoters_max.max(n32);
    g.channels_max = g.channels_max.max(n16);
    g.split_profiles_max = g.split_profiles_max.max(n16);
    g.risk_rules_max = g.risk_rules_max.max(n16);
    g.list_entries_max = g.list_entries_max.max(n32);
    g
}

/// A scratch engine holding a server's objects. Objects come in order of first definition, so
/// references resolve, except an object re-pointed later at one defined after it: refused ones
/// are tried again until a pass makes no progress. A revoked credential is added, then revoked.
fn mirror(genesis: &Genesis, server: &[AnyMessage]) -> Result<Scratch, Error> {
    let mut scratch = Scratch::new(genesis)?;
    let mut pending: Vec<AnyMessage> = Vec::with_capacity(server.len());
    for m in server {
        match m {
            AnyMessage::ConfigCredential(c) if c.op == CredentialOp::Revoke => {
                let add = ConfigCredential {
                    op: CredentialOp::Add,
                    ..*c
                };
                pending.push(add.into());
                pending.push(m.clone());
            }
            _ => pending.push(m.clone()),
        }
    }
    loop {
        let mut refused = Vec::new();
        for m in &pending {
            if let Some(why) = scratch.apply(m)? {
                refused.push((m.clone(), why));
            }
        }
        if refused.is_empty() {
            return Ok(scratch);
        }
        if refused.len() == pending.len() {
            let (m, (reason, text)) = &refused[0];
            let what = format!("the server's {m:?} does not apply to a copy: {reason:?}: {text}");
            return Err(Error::new(what));
        }
        pending = refused.into_iter().map(|(m, _)| m).collect();
    }
}

/// The inputs that make `journal` match the file: each file message, except that a credential the
/// journal already has is rotated (with no window) to the file's secret rather than added again.
fn fixes(inputs: &[WorldInput], journal: &Engine) -> Vec<WorldInput> {
    inputs
        .iter()
        .map(|input| match &input.message {
            AnyMessage::ConfigCredential(c)
                if c.op == CredentialOp::Add
                    && journal
                        .config_of(&ConfigQuery::credential(c.key_id))
                        .is_ok() =>
            {
                let rotate = ConfigCredential {
                    op: CredentialOp::Rotate,
                    rotation_window_ms: 0,
                    ..*c
                };
                WorldInput {
                    message: rotate.into(),
                    ..input.clone()
                }
            }
            _ => input.clone(),
        })
        .collect()
}

/// How a kind of object is named in a difference.
pub fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Merchant => "merchant",
        ConfigKind::Channel => "channel",
        ConfigKind::SplitProfile => "split profile",
        ConfigKind::Promoter => "promoter",
        ConfigKind::RiskRule => "risk rule",
        ConfigKind::ListEntry => "list entry",
        ConfigKind::Credential => "credential",
        ConfigKind::Discrepancy => "discrepancy",
        ConfigKind::ChannelSettlement => "channel settlement",
    }
}

/// The query that reads back the object a configuration message sets, and the object's name.
fn query_for(message: &AnyMessage) -> Option<(ConfigQuery, String)> {
    let q = ConfigQuery::by_id;
    Some(match message {
        AnyMessage::ConfigMerchant(m) => (
            q(ConfigKind::Merchant, m.merchant_id.into()),
            format!("merchant {}", m.merchant_id),
        ),
        AnyMessage::ConfigChannel(m) => (
            q(ConfigKind::Channel, m.channel_id.into()),
            format!("channel {}", m.channel_id),
        ),
        AnyMessage::ConfigSplitProfile(m) => (
            q(ConfigKind::SplitProfile, m.profile_id.into()),
            format!("split profile {}", m.profile_id),
        ),
        AnyMessage::ConfigPromoter(m) => (
            q(ConfigKind::Promoter, m.promoter_id.into()),
            format!("promoter {}", m.promoter_id),
        ),
        AnyMessage::ConfigRiskRule(m) => (
            q(ConfigKind::RiskRule, m.rule_id.into()),
            format!("risk rule {}", m.rule_id),
        ),
        AnyMessage::ConfigRiskRuleText(m) => (
            q(ConfigKind::RiskRule, m.rule_id.into()),
            format!("risk rule {}", m.rule_id),
        ),
        AnyMessage::ConfigCredential(m) => (
            ConfigQuery::credential(m.key_id),
            format!("credential {}", m.key_id.as_str()),
        ),
        _ => return None,
    })
}

/// `Name { a: 1, b: [x, y] }` as its top-level `(field, value)` pairs.
fn fields(debug: &str) -> Vec<(String, String)> {
    // An `AnyMessage` prints as `Name(Name { .. })`: look inside the variant.
    let debug = match debug.split_once('(') {
        Some((variant, rest)) if !variant.contains(' ') => rest.strip_suffix(')').unwrap_or(rest),
        _ => debug,
    };
    let inner = debug
        .split_once(" { ")
        .and_then(|(_, rest)| rest.strip_suffix(" }"))
        .unwrap_or(debug);
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0usize);
    for (i, b) in inner.bytes().enumerate() {
        match b {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth -= 1,
            b',' if depth == 0 => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out.iter()
        .filter_map(|f| f.trim().split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The fields in which two definitions differ.
fn changes(file: &dyn fmt::Debug, journal: &dyn fmt::Debug) -> Vec<String> {
    let (a, b) = (
        fields(&format!("{file:?}")),
        fields(&format!("{journal:?}")),
    );
    a.iter()
        .zip(b.iter())
        .filter(|(x, y)| x != y)
        .map(|((name, ours), (_, theirs))| format!("{name}: file {ours}, journal {theirs}"))
        .collect()
}

/// The file's objects (`fixes`, applied to `file`) that `journal` lacks or defines otherwise,
/// then list entries on one side only.
fn compare(
    fixes: &[WorldInput],
    file: &Engine,
    journal: &Engine,
) -> Result<Vec<Difference>, Error> {
    let mut out = Vec::new();
    for input in fixes {
        let Some((query, object)) = query_for(&input.message) else {
            continue;
        };
        let ours = file.config_of(&query).map_err(|(_, why)| Error::new(why))?;
        let changes = match journal.config_of(&query) {
            Err(_) => vec!["in the file, not in the journal".to_string()],
            Ok(theirs) => changes(&ours, &theirs),
        };
        if !changes.is_empty() {
            let fix = Some(input.message.clone());
            out.push(Difference {
                object,
                line: input.line,
                changes,
                fix,
            });
        }
    }
    out.extend(list_differences(file, journal));
    Ok(out)
}

/// Objects the journal holds that the file does not define.
fn journal_only(file: &Engine, engine: &Engine) -> Vec<Difference> {
    let s = engine.state();
    let ids = |kind, ids: Vec<u64>| ids.into_iter().map(move |id| (kind, id));
    let all = ids(
        ConfigKind::Merchant,
        s.merchants.iter().map(|m| u64::from(m.id)).collect(),
    )
    .chain(ids(
        ConfigKind::Channel,
        s.channels.iter().map(|c| u64::from(c.id)).collect(),
    ))
    .chain(ids(
        ConfigKind::SplitProfile,
        s.profiles.iter().map(|p| u64::from(p.id)).collect(),
    ))
    .chain(ids(
        ConfigKind::Promoter,
        s.promoters.iter().map(|p| u64::from(p.id)).collect(),
    ))
    .chain(ids(
        ConfigKind::RiskRule,
        s.risk.rules.rules.iter().map(|r| u64::from(r.id)).collect(),
    ));
    let mut out = Vec::new();
    for (kind, id) in all {
        if file.config_of(&ConfigQuery::by_id(kind, id)).is_err() {
            out.push(only_in_journal(format!("{} {id}", kind_name(kind))));
        }
    }
    for c in &s.credentials.entries {
        if file
            .config_of(&ConfigQuery::credential(Chars(c.key_id)))
            .is_err()
        {
            out.push(only_in_journal(format!(
                "credential {}",
                Chars(c.key_id).as_str()
            )));
        }
    }
    out
}

fn only_in_journal(object: String) -> Difference {
    Difference {
        object,
        line: None,
        changes: vec![
            "in the journal, not in the file (kept: Sluice disables, it does not forget)".into(),
        ],
        fix: None,
    }
}

/// Every list entry an engine holds, as its ConfigListEntry.
fn list_entries(e: &Engine) -> Vec<AnyMessage> {
    (0..e.state().risk.lists.entries.len() as u64)
        .filter_map(|i| {
            e.config_of(&ConfigQuery::by_id(ConfigKind::ListEntry, i))
                .ok()
        })
        .collect()
}

/// List entries on one side only (the file's are added by their fix; the journal's are kept).
fn list_differences(file: &Engine, journal: &Engine) -> Vec<Difference> {
    let (ours, theirs) = (list_entries(file), list_entries(journal));
    let side = |entry: &AnyMessage, what: &str, fix: bool| Difference {
        object: "list entry".into(),
        line: None,
        changes: vec![format!("{what}: {entry:?}")],
        fix: fix.then(|| entry.clone()),
    };
    let mut out: Vec<Difference> = ours
        .iter()
        .filter(|e| !theirs.contains(e))
        .map(|e| side(e, "in the file, not in the journal", true))
        .collect();
    let journal_side = theirs.iter().filter(|e| !ours.contains(e));
    out.extend(journal_side.map(|e| side(e, "in the journal, not in the file", false)));
    out
}
