//! `sluice admin notify set|rotate|remove`: a merchant's result notifications. The signing
//! secret is made here (`sluice_notify::new_signing_secret`), sealed with AES-256-GCM under the
//! notifier's key (`--notify-key`, the server's `DATA/keys/notify.key` unless configured
//! otherwise), and only the sealed bytes are sent and journaled; the secret is shown once — or
//! written to a file only its owner can read — for the merchant to verify signatures with.

use clap::Subcommand;
use sluice_engine::merchant_notify::key_id_chars;
use sluice_gateway::auth::hex;
use sluice_notify::SecretKey;
use sluice_protocol::*;
use std::path::{Path, PathBuf};

use super::conn::{AdminConn, Answer};
use super::credential::{duration_ms, hand_over};
use super::output::Output;

#[derive(Subcommand)]
pub enum NotifyCommand {
    /// Where a merchant's results go, with a new signing secret (replacing any earlier one).
    Set {
        #[arg(long)]
        merchant: u32,
        /// The merchant's notify URL (http:// or https://).
        #[arg(long)]
        url: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// A new signing secret; the old one still signs (both v1= signatures) for the window.
    Rotate {
        #[arg(long)]
        merchant: u32,
        /// How long the old secret still signs: 0, 90s, 15m, 2h, 1d (at most a week).
        #[arg(long, default_value = "1d", value_parser = duration_ms)]
        window: u32,
        /// A new URL as well (else the URL stays).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// No more notifications for a merchant.
    Remove {
        #[arg(long)]
        merchant: u32,
    },
}

#[derive(clap::Args)]
pub struct KeyArgs {
    /// The notifier's key file (the server's DATA/keys/notify.key by default).
    #[arg(long, value_name = "FILE")]
    notify_key: PathBuf,
    /// Write the secret to this file (mode 0600) instead of printing it.
    #[arg(long, value_name = "FILE")]
    secret_out: Option<PathBuf>,
}

pub fn run(conn: &mut AdminConn, command: NotifyCommand, out: &mut Output) -> Result<(), String> {
    let (merchant, op, window, url, key) = match command {
        NotifyCommand::Set { merchant, url, key } => (merchant, NotifyOp::Set, 0, url, Some(key)),
        NotifyCommand::Rotate {
            merchant,
            window,
            url,
            key,
        } => (
            merchant,
            NotifyOp::Rotate,
            window,
            url.unwrap_or_default(),
            Some(key),
        ),
        NotifyCommand::Remove { merchant } => (merchant, NotifyOp::Remove, 0, String::new(), None),
    };
    let mut m = ConfigMerchantNotify {
        merchant_id: merchant,
        op,
        rotation_window_ms: window,
        key_id: Chars::default(),
        url: text_field(&url, "url")?,
        sealed_secret: Default::default(),
    };
    let object = format!("notify of merchant {merchant}");
    let Some(key) = key else {
        let answer = conn.request(&m.into())?;
        out.change(&object, &answer);
        return Ok(());
    };
    let secret = seal_new_secret(&mut m, &key.notify_key)?;
    let answer = conn.request(&m.into())?;
    out.change(&object, &answer);
    if let Answer::Accepted { .. } = answer {
        let label = format!("merchant {merchant}'s signing secret");
        hand_over(&label, &secret, key.secret_out.as_deref(), out)?;
    }
    Ok(())
}

/// Puts a new signing secret, sealed under the key in `key_file`, and that key's id into `m`;
/// returns the secret (for the merchant: it is sent sealed only). `sluice demo` sets its merchants
/// with it too.
pub(crate) fn seal_new_secret(
    m: &mut ConfigMerchantNotify,
    key_file: &Path,
) -> Result<String, String> {
    let key = SecretKey::load(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let secret = sluice_notify::try_new_signing_secret().map_err(|e| e.to_string())?;
    let sealed = key
        .try_encrypt(secret.as_bytes())
        .map_err(|e| e.to_string())?;
    m.key_id = key_id_chars(&key.key_id());
    m.sealed_secret = text_field(&hex(&sealed), "sealed secret")?;
    Ok(secret)
}

pub(crate) fn text_field<const N: usize>(
    value: &str,
    what: &str,
) -> Result<codec::Text<N>, String> {
    let mut text = codec::Text::<N>::new();
    text.try_push_str(value)
        .map_err(|_| format!("the {what} is longer than {N} bytes"))?;
    Ok(text)
}
