//! `sluice admin credential add|rotate|revoke`: the secret is made here from the operating
//! system's random source, only its salted hash (HMAC-SHA256 keyed by a fresh salt) is sent and
//! journaled, and the secret is shown once — or written to a file only its owner can read.

use clap::Subcommand;
use serde_json::json;
use sluice_gateway::auth::{hex, keyed_hash};
use sluice_protocol::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::conn::{AdminConn, Answer};
use super::output::Output;

/// The longest rotation window the engine accepts: a week.
const WINDOW_MAX_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// A new key with a new secret.
    Add {
        key_id: String,
        /// acquirer, channel or admin.
        #[arg(long, value_parser = role)]
        role: Role,
        /// The acquirer, channel or admin id the key acts as.
        #[arg(long)]
        principal: u32,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        secret_out: Option<PathBuf>,
    },
    /// A new secret for a key; the old one still logs in for the window (sessions on it are then
    /// closed).
    Rotate {
        key_id: String,
        /// How long the old secret still works: 0, 90s, 15m, 2h, 1d (at most a week).
        #[arg(long, default_value = "0", value_parser = duration_ms)]
        window: u32,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        secret_out: Option<PathBuf>,
    },
    /// Revoke a key: it logs in no more, and its live sessions are closed at once.
    Revoke { key_id: String },
}

fn role(text: &str) -> Result<Role, String> {
    match Role::from_name(text) {
        Some(r @ (Role::Acquirer | Role::Channel | Role::Admin)) => Ok(r),
        _ => Err(format!("{text:?} is not acquirer, channel or admin")),
    }
}

/// "0", "1500ms", "90s", "15m", "2h", "1d" (a bare number is seconds) as milliseconds.
pub fn duration_ms(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 2h"))?;
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m, h or d")),
    };
    match n.checked_mul(scale) {
        Some(ms) if ms <= WINDOW_MAX_MS => Ok(ms as u32),
        _ => Err(format!("{text:?} is longer than a week")),
    }
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes)
}

/// A fresh secret (128 bits, 32 hex characters: what a Login carries) and the message fields that
/// store it: the salt and HMAC-SHA256(salt, "key_id:secret").
pub(crate) fn new_secret(key_id: &str) -> Result<(String, Chars<32>, Chars<64>), String> {
    let secret = hex(&random::<16>()?);
    let salt = random::<16>()?;
    let hash = keyed_hash(&salt, key_id, &secret);
    Ok((secret, Chars::new(&hex(&salt)), Chars::new(&hex(&hash))))
}

fn message(key_id: &str, op: CredentialOp) -> Result<ConfigCredential, String> {
    if sluice_gateway::auth::key_bytes(key_id).is_none() {
        return Err(format!("key id {key_id:?} must be 1..=16 bytes"));
    }
    Ok(ConfigCredential {
        key_id: Chars::new(key_id),
        op,
        role: Role::Admin,
        principal_id: 0,
        algorithm: SecretHash::HmacSha256,
        rotation_window_ms: 0,
        salt: Chars::default(),
        hash: Chars::default(),
    })
}

pub fn run(
    conn: &mut AdminConn,
    command: CredentialCommand,
    out: &mut Output,
) -> Result<(), String> {
    let (key_id, m, secret_out) = match command {
        CredentialCommand::Add {
            key_id,
            role,
            principal,
            secret_out,
        } => {
            let m = ConfigCredential {
                role,
                principal_id: principal,
                ..message(&key_id, CredentialOp::Add)?
            };
            (key_id, m, Some(secret_out))
        }
        CredentialCommand::Rotate {
            key_id,
            window,
            secret_out,
        } => {
            let m = ConfigCredential {
                rotation_window_ms: window,
                ..message(&key_id, CredentialOp::Rotate)?
            };
            (key_id, m, Some(secret_out))
        }
        CredentialCommand::Revoke { key_id } => {
            let m = message(&key_id, CredentialOp::Revoke)?;
            (key_id, m, None)
        }
    };
    let object = format!("credential {key_id}");
    let Some(secret_out) = secret_out else {
        let answer = conn.request(&m.into())?;
        out.change(&object, &answer);
        return Ok(());
    };
    let (secret, salt, hash) = new_secret(&key_id)?;
    let answer = conn.request(&ConfigCredential { salt, hash, ..m }.into())?;
    out.change(&object, &answer);
    if let Answer::Accepted { .. } = answer {
        hand_over(&key_id, &secret, secret_out.as_deref(), out)?;
    }
    Ok(())
}

/// Shows the new secret of `key_id` (a key id, or what the secret is for) once, or writes it to
/// a file only its owner can read.
pub(crate) fn hand_over(
    key_id: &str,
    secret: &str,
    file: Option<&Path>,
    out: &mut Output,
) -> Result<(), String> {
    match file {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            writeln!(f, "{secret}").map_err(|e| format!("{}: {e}", path.display()))?;
            let value = json!({"key_id": key_id, "secret_file": path.display().to_string()});
            out.record(
                value,
                format!("secret of {key_id} written to {}", path.display()),
            );
        }
        None => {
            let value = json!({"key_id": key_id, "secret": secret});
            out.record(
                value,
                format!("secret of {key_id} (shown once, store it now): {secret}"),
            );
        }
    }
    Ok(())
}
