//! Server configuration: TOML, validated at start with errors that name the key and the line.
//!
//! Operational sections (`server`, `pipeline`, `journal`, `credentials`, `simulator`) apply at every
//! start. The limits become the journal's `Genesis` and the business sections (channels, split
//! profiles, promoters, merchants, risk rules, lists) become admin inputs, journaled at the first
//! start of an empty data directory; after that the journal is the source of truth and changes are
//! made with admin messages.

use arrayvec::ArrayVec;
use rust_decimal::Decimal;
use serde::Deserialize;
use sluice_protocol::*;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use toml::Spanned;

/// The embedded default configuration (`sluice serve` with no `--config`).
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// Demo credentials of the embedded configuration: (key id, role, secret). Only their hashes are in
/// the configuration; the demo and the load generator log in with these.
pub const DEMO_CREDENTIALS: &[(&str, Role, &str)] = &[
    ("acq-a", Role::Acquirer, "sluice-demo-acquirer-a"),
    ("acq-b", Role::Acquirer, "sluice-demo-acquirer-b"),
    ("admin", Role::Admin, "sluice-demo-admin"),
    ("ch-wechat", Role::Channel, "sluice-demo-channel"),
    ("ch-alipay", Role::Channel, "sluice-demo-channel"),
    ("ch-unionpay", Role::Channel, "sluice-demo-channel"),
    ("ch-stripe", Role::Channel, "sluice-demo-channel"),
    ("ch-paypal", Role::Channel, "sluice-demo-channel"),
];

/// A configuration error: where (line, key) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "config line {line}: {}: {}", self.key, self.message),
            None => write!(f, "config: {}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(
    line: Option<usize>,
    key: impl Into<String>,
    message: impl Into<String>,
) -> Result<T, ConfigError> {
    Err(ConfigError {
        line,
        key: key.into(),
        message: message.into(),
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    pipeline: PipelineSection,
    #[serde(default)]
    journal: JournalSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    credentials: Vec<Spanned<CredentialEntry>>,
    #[serde(default)]
    channels: Vec<Spanned<ChannelEntry>>,
    #[serde(default)]
    split_profiles: Vec<Spanned<ProfileEntry>>,
    #[serde(default)]
    promoters: Vec<Spanned<PromoterEntry>>,
    #[serde(default)]
    merchants: Vec<Spanned<MerchantEntry>>,
    #[serde(default)]
    risk_rules: Vec<Spanned<RuleEntry>>,
    #[serde(default)]
    lists: Vec<Spanned<ListEntry>>,
    #[serde(default)]
    simulator: SimulatorSection,
}

/// `[server]`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: String,
    pub data_dir: String,
    pub max_connections: u32,
    pub heartbeat_interval_ms: u32,
    pub idle_timeout_ms: u32,
    pub login_timeout_ms: u32,
    pub read_buffer_bytes: u32,
    pub write_buffer_bytes: u32,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:7700".into(),
            data_dir: "sluice-data".into(),
            max_connections: 256,
            heartbeat_interval_ms: 1_000,
            idle_timeout_ms: 10_000,
            login_timeout_ms: 5_000,
            read_buffer_bytes: 64 * 1024,
            write_buffer_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `[pipeline]`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSection {
    pub ring_size: u32,
    /// "adaptive", "yield" or "spin".
    pub wait: String,
    /// Cores to pin [gateway, journaler, processor] to; empty = no pinning.
    pub pin_cores: Vec<usize>,
    pub pulse_interval_ms: u32,
    /// Take a snapshot every this many inputs (0 = only on request and at shutdown).
    pub snapshot_every: u64,
    pub snapshots_keep: u32,
    /// Output chunks between the processor and egress, and their size.
    pub output_chunks: u32,
    pub output_chunk_bytes: u32,
    /// Diagnostics only: the processor sleeps this long per input (to show backpressure).
    pub processor_delay_us: u32,
    /// Touch every preallocated engine table before listening, so that no first-touch page
    /// fault lands on a request (costs start-up time and resident memory up to the limits).
    pub prefault_memory: bool,
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            ring_size: 8192,
            wait: "adaptive".into(),
            pin_cores: Vec::new(),
            pulse_interval_ms: 10,
            snapshot_every: 0,
            snapshots_keep: 3,
            output_chunks: 32,
            output_chunk_bytes: 1 << 20,
            processor_delay_us: 0,
            prefault_memory: true,
        }
    }
}

/// `[journal]`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    /// "none" (page cache) or "fsync".
    pub durability: String,
    pub segment_size_mb: u32,
    /// After each snapshot, delete journal segments wholly covered by the oldest snapshot kept.
    /// Off by default: a full journal lets `sluice replay` rebuild any point from Genesis.
    pub prune_covered_segments: bool,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            durability: "none".into(),
            segment_size_mb: 256,
            prune_covered_segments: false,
        }
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
struct LimitsSection {
    orders_max: u32,
    refunds_max: u32,
    withdrawals_max: u32,
    merchants_max: u32,
    promoters_max: u32,
    channels_max: u16,
    split_profiles_max: u16,
    risk_rules_max: u16,
    list_entries_max: u32,
    velocity_keys_max: u32,
    attempts_max: u8,
    utc_offset_secs: i32,
    currencies: Vec<CurrencyValue>,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            orders_max: 2_000_000,
            refunds_max: 500_000,
            withdrawals_max: 100_000,
            merchants_max: 1_024,
            promoters_max: 4_096,
            channels_max: 32,
            split_profiles_max: 64,
            risk_rules_max: 64,
            list_entries_max: 65_536,
            velocity_keys_max: 65_536,
            attempts_max: 3,
            utc_offset_secs: 8 * 3600,
            currencies: vec![
                CurrencyValue::Code("CNY".into()),
                CurrencyValue::Code("USD".into()),
                CurrencyValue::Code("EUR".into()),
                CurrencyValue::Code("HKD".into()),
            ],
        }
    }
}

#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum CurrencyValue {
    Numeric(u16),
    Code(String),
}

/// ISO 4217 alpha codes this configuration understands, with their numeric codes.
const CURRENCY_CODES: &[(&str, u16)] = &[
    ("CNY", 156),
    ("USD", 840),
    ("EUR", 978),
    ("HKD", 344),
    ("GBP", 826),
    ("JPY", 392),
    ("SGD", 702),
    ("AUD", 36),
    ("CAD", 124),
    ("CHF", 756),
    ("KRW", 410),
    ("TWD", 901),
    ("MOP", 446),
    ("THB", 764),
    ("MYR", 458),
];

fn currency(v: &CurrencyValue, line: Option<usize>, key: &str) -> Result<u16, ConfigError> {
    match v {
        CurrencyValue::Numeric(n) if *n > 0 && *n < 1000 => Ok(*n),
        CurrencyValue::Numeric(n) => err(line, key, format!("{n} is not an ISO 4217 numeric code")),
        CurrencyValue::Code(code) => CURRENCY_CODES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(_, n)| *n)
            .ok_or(())
            .or_else(|_| {
                err(
                    line,
                    key,
                    format!("unknown currency {code:?} (use an ISO 4217 code or its number)"),
                )
            }),
    }
}

/// The ISO 4217 alpha code of a numeric currency, if this configuration knows it.
pub fn currency_code(numeric: u16) -> Option<&'static str> {
    CURRENCY_CODES
        .iter()
        .find(|(_, n)| *n == numeric)
        .map(|(c, _)| *c)
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    key_id: String,
    role: String,
    principal_id: u32,
    /// Hex SHA-256 of "key_id:secret".
    secret_sha256: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct MethodEntry {
    method: String,
    fee_bps: u16,
    #[serde(default)]
    fee_fixed_minor: i64,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct ChannelEntry {
    id: u16,
    name: String,
    #[serde(default = "default_true")]
    active: bool,
    currencies: Vec<CurrencyValue>,
    methods: Vec<MethodEntry>,
    #[serde(default = "d_timeout")]
    timeout_ms: u32,
    #[serde(default = "d_one")]
    min_amount_minor: i64,
    #[serde(default = "d_max_amount")]
    max_amount_minor: i64,
    #[serde(default = "d_threshold")]
    failure_threshold: u16,
    #[serde(default = "d_leak")]
    failure_leak_per_sec: u16,
    #[serde(default = "d_zero_rate")]
    min_success_rate: String,
    #[serde(default = "d_min_attempts")]
    min_attempts_for_rate: u16,
    #[serde(default = "d_cooldown")]
    cooldown_ms: u32,
    #[serde(default = "d_probe_slots")]
    probe_slots: u8,
    #[serde(default = "d_probe_successes")]
    probe_successes: u8,
}

fn d_timeout() -> u32 {
    2_000
}
fn d_one() -> i64 {
    1
}
fn d_max_amount() -> i64 {
    100_000_000
}
fn d_threshold() -> u16 {
    5
}
fn d_leak() -> u16 {
    1
}
fn d_zero_rate() -> String {
    "0".into()
}
fn d_min_attempts() -> u16 {
    64
}
fn d_cooldown() -> u32 {
    5_000
}
fn d_probe_slots() -> u8 {
    2
}
fn d_probe_successes() -> u8 {
    3
}
fn d_settlement() -> u8 {
    1
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct TierEntry {
    min_amount_minor: i64,
    rate: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct CategoryEntry {
    category: u16,
    rate: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    id: u32,
    platform_rate: String,
    #[serde(default = "d_zero_rate")]
    promoter_level1_rate: String,
    #[serde(default = "d_zero_rate")]
    promoter_level2_rate: String,
    #[serde(default = "d_zero_rate")]
    parent_share: String,
    #[serde(default = "d_zero_rate")]
    grandparent_share: String,
    #[serde(default = "d_fee_bearer")]
    fee_bearer: String,
    #[serde(default)]
    tiers: Vec<TierEntry>,
    #[serde(default)]
    categories: Vec<CategoryEntry>,
}

fn d_fee_bearer() -> String {
    "platform".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct PromoterEntry {
    id: u32,
    #[serde(default)]
    parent: u32,
    #[serde(default = "d_settlement")]
    settlement_days: u8,
    #[serde(default = "default_true")]
    active: bool,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RouteChannel {
    id: u16,
    #[serde(default = "d_weight")]
    weight: u16,
}

fn d_weight() -> u16 {
    1
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct MerchantEntry {
    id: u32,
    acquirer_id: u32,
    split_profile: u32,
    #[serde(default)]
    parent: u32,
    #[serde(default = "default_true")]
    active: bool,
    #[serde(default = "d_strategy")]
    strategy: String,
    #[serde(default = "d_settlement")]
    settlement_days: u8,
    #[serde(default = "d_zero_rate")]
    deposit_rate: String,
    #[serde(default)]
    deposit_hold_days: u16,
    #[serde(default = "d_one")]
    min_amount_minor: i64,
    #[serde(default = "d_max_amount")]
    max_amount_minor: i64,
    #[serde(default = "d_weight_one")]
    weight_success: String,
    #[serde(default = "d_weight_one")]
    weight_cost: String,
    #[serde(default = "d_zero_rate")]
    weight_latency: String,
    currencies: Vec<CurrencyValue>,
    channels: Vec<RouteChannel>,
}

fn d_strategy() -> String {
    "priority".into()
}
fn d_weight_one() -> String {
    "1".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: u32,
    name: String,
    #[serde(default = "d_target")]
    target: String,
    feature: String,
    #[serde(default = "d_none")]
    entity: String,
    #[serde(default = "d_none")]
    window: String,
    #[serde(default = "d_comparison")]
    comparison: String,
    threshold: i64,
    action: String,
    #[serde(default)]
    shadow: bool,
    #[serde(default = "default_true")]
    active: bool,
    #[serde(default)]
    merchant_id: u32,
    #[serde(default)]
    goods_category: u16,
}

fn d_target() -> String {
    "payment".into()
}
fn d_none() -> String {
    "none".into()
}
fn d_comparison() -> String {
    "greater".into()
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct ListEntry {
    list: String,
    entity: String,
    value: String,
}

/// `[simulator]`: in-process simulated channels.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSection {
    pub enabled: bool,
    pub seed: u64,
    pub channels: Vec<SimChannel>,
}

impl Default for SimulatorSection {
    fn default() -> Self {
        SimulatorSection {
            enabled: false,
            seed: 42,
            channels: Vec::new(),
        }
    }
}

/// One simulated channel.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimChannel {
    pub channel_id: u16,
    /// Probability of success (the rest is split by `decline_rate`, then retryable errors).
    pub success_rate: f64,
    #[serde(default)]
    pub decline_rate: f64,
    #[serde(default = "d_lat_min")]
    pub latency_us_min: u32,
    #[serde(default = "d_lat_max")]
    pub latency_us_max: u32,
    /// Scheduled outages, in seconds since the simulator started.
    #[serde(default)]
    pub outages: Vec<SimOutage>,
}

fn d_lat_min() -> u32 {
    200
}
fn d_lat_max() -> u32 {
    2_000
}

/// An outage: from `from_s` to `to_s` every attempt fails with `mode`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimOutage {
    pub from_s: f64,
    pub to_s: f64,
    /// "error" (retryable error), "decline" or "timeout" (no answer).
    #[serde(default = "d_mode")]
    pub mode: String,
}

fn d_mode() -> String {
    "error".into()
}

/// A credential: the key id, its role and principal, and the SHA-256 of "key_id:secret".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub key_id: String,
    pub role: Role,
    pub principal_id: u32,
    pub secret_sha256: [u8; 32],
}

/// Durability policy of the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityPolicy {
    None,
    Fsync,
}

/// How pipeline threads wait for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    Adaptive,
    Yield,
    Spin,
}

/// A configuration input for first start, with where it came from.
#[derive(Debug, Clone)]
pub struct BootstrapInput {
    pub line: Option<usize>,
    pub key: String,
    pub message: AnyMessage,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSection,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub pipeline: PipelineSection,
    pub wait: WaitMode,
    pub durability: DurabilityPolicy,
    pub segment_size_bytes: u64,
    pub prune_covered_segments: bool,
    pub genesis: Genesis,
    pub bootstrap: Vec<BootstrapInput>,
    pub credentials: Vec<Credential>,
    pub simulator: SimulatorSection,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn rate(value: &str, line: Option<usize>, key: &str) -> Result<Decimal, ConfigError> {
    match Decimal::from_str(value.trim()) {
        Ok(d) if !d.is_sign_negative() => Ok(d),
        _ => err(
            line,
            key,
            format!(
                "{value:?} is not a non-negative decimal (write rates as strings, e.g. \"0.006\")"
            ),
        ),
    }
}

fn named<E>(
    value: &str,
    parse: impl Fn(&str) -> Option<E>,
    line: Option<usize>,
    key: &str,
    what: &str,
) -> Result<E, ConfigError> {
    parse(value)
        .ok_or(())
        .or_else(|_| err(line, key, format!("{value:?} is not a {what}")))
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

impl Config {
    /// Parses and validates a configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ConfigError {
                line,
                key: "toml".into(),
                message: e.message().to_string(),
            }
        })?;
        let at = |span: std::ops::Range<usize>| Some(line_of(text, span.start));
        let listen = file.server.listen.parse::<SocketAddr>().or_else(|_| {
            err(
                None,
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:7700",
                    file.server.listen
                ),
            )
        })?;
        check_server(&file.server)?;
        let wait = match file.pipeline.wait.as_str() {
            "adaptive" => WaitMode::Adaptive,
            "yield" => WaitMode::Yield,
            "spin" => WaitMode::Spin,
            other => {
                return err(
                    None,
                    "pipeline.wait",
                    format!("{other:?} is not adaptive, yield or spin"),
                );
            }
        };
        check_pipeline(&file.pipeline)?;
        let durability = match file.journal.durability.as_str() {
            "none" => DurabilityPolicy::None,
            "fsync" => DurabilityPolicy::Fsync,
            other => {
                return err(
                    None,
                    "journal.durability",
                    format!("{other:?} is not none or fsync"),
                );
            }
        };
        if !(1..=4096).contains(&file.journal.segment_size_mb) {
            return err(None, "journal.segment_size_mb", "must be 1..=4096");
        }
        let genesis = genesis(&file.limits)?;
        let mut credentials = Vec::new();
        for (i, c) in file.credentials.iter().enumerate() {
            let line = at(c.span());
            let key = format!("credentials[{i}]");
            let c = c.get_ref();
            let role = named(
                &c.role,
                Role::from_name,
                line,
                &format!("{key}.role"),
                "role (acquirer, channel, admin)",
            )?;
            let secret_sha256 = hex32(&c.secret_sha256).ok_or(()).or_else(|_| {
                err(
                    line,
                    format!("{key}.secret_sha256"),
                    "must be 64 hex digits: SHA-256 of \"key_id:secret\"",
                )
            })?;
            if c.key_id.is_empty() || c.key_id.len() > 16 {
                return err(line, format!("{key}.key_id"), "must be 1..=16 bytes");
            }
            if credentials
                .iter()
                .any(|x: &Credential| x.key_id == c.key_id)
            {
                return err(
                    line,
                    format!("{key}.key_id"),
                    format!("{:?} appears twice", c.key_id),
                );
            }
            credentials.push(Credential {
                key_id: c.key_id.clone(),
                role,
                principal_id: c.principal_id,
                secret_sha256,
            });
        }
        let mut bootstrap = Vec::new();
        for (i, c) in file.channels.iter().enumerate() {
            let (line, key) = (at(c.span()), format!("channels[{i}]"));
            bootstrap.push(BootstrapInput {
                line,
                message: channel(c.get_ref(), line, &key)?.into(),
                key,
            });
        }
        for (i, p) in file.split_profiles.iter().enumerate() {
            let (line, key) = (at(p.span()), format!("split_profiles[{i}]"));
            bootstrap.push(BootstrapInput {
                line,
                message: profile(p.get_ref(), line, &key)?.into(),
                key,
            });
        }
        for (i, p) in file.promoters.iter().enumerate() {
            let (line, key) = (at(p.span()), format!("promoters[{i}]"));
            let p = p.get_ref();
            let msg = ConfigPromoter {
                promoter_id: p.id,
                parent_promoter_id: p.parent,
                settlement_days: p.settlement_days,
                status: if p.active {
                    Activity::Active
                } else {
                    Activity::Disabled
                },
            };
            bootstrap.push(BootstrapInput {
                line,
                message: msg.into(),
                key,
            });
        }
        for (i, m) in file.merchants.iter().enumerate() {
            let (line, key) = (at(m.span()), format!("merchants[{i}]"));
            bootstrap.push(BootstrapInput {
                line,
                message: merchant(m.get_ref(), line, &key)?.into(),
                key,
            });
        }
        for (i, r) in file.risk_rules.iter().enumerate() {
            let (line, key) = (at(r.span()), format!("risk_rules[{i}]"));
            bootstrap.push(BootstrapInput {
                line,
                message: rule(r.get_ref(), line, &key)?.into(),
                key,
            });
        }
        for (i, l) in file.lists.iter().enumerate() {
            let (line, key) = (at(l.span()), format!("lists[{i}]"));
            bootstrap.push(BootstrapInput {
                line,
                message: list(l.get_ref(), line, &key)?.into(),
                key,
            });
        }
        check_simulator(&file.simulator)?;
        Ok(Config {
            listen,
            data_dir: PathBuf::from(&file.server.data_dir),
            server: file.server,
            pipeline: file.pipeline,
            wait,
            durability,
            segment_size_bytes: u64::from(file.journal.segment_size_mb) * 1024 * 1024,
            prune_covered_segments: file.journal.prune_covered_segments,
            genesis,
            bootstrap,
            credentials,
            simulator: file.simulator,
        })
    }

    /// The embedded default configuration.
    pub fn default_config() -> Config {
        // The embedded text is checked by a test; failing here would be a build defect.
        Config::parse(DEFAULT_CONFIG).unwrap_or_else(|e| panic!("embedded default config: {e}"))
    }
}

fn check_server(s: &ServerSection) -> Result<(), ConfigError> {
    if !(1..=65_536).contains(&s.max_connections) {
        return err(None, "server.max_connections", "must be 1..=65536");
    }
    if s.heartbeat_interval_ms == 0 || s.idle_timeout_ms <= s.heartbeat_interval_ms {
        return err(
            None,
            "server.idle_timeout_ms",
            "must be greater than heartbeat_interval_ms (> 0)",
        );
    }
    if (s.read_buffer_bytes as usize) < 2 * MAX_INBOUND_FRAME_BYTES {
        return err(
            None,
            "server.read_buffer_bytes",
            format!("must be at least {}", 2 * MAX_INBOUND_FRAME_BYTES),
        );
    }
    if (s.write_buffer_bytes as usize) < 4 * MAX_FRAME_BYTES {
        return err(
            None,
            "server.write_buffer_bytes",
            format!("must be at least {}", 4 * MAX_FRAME_BYTES),
        );
    }
    Ok(())
}

fn check_pipeline(p: &PipelineSection) -> Result<(), ConfigError> {
    if !p.ring_size.is_power_of_two() || !(8..=1 << 22).contains(&p.ring_size) {
        return err(
            None,
            "pipeline.ring_size",
            "must be a power of two, 8..=4194304",
        );
    }
    if p.pulse_interval_ms == 0 || p.pulse_interval_ms > 60_000 {
        return err(None, "pipeline.pulse_interval_ms", "must be 1..=60000");
    }
    if p.output_chunks < 2 {
        return err(None, "pipeline.output_chunks", "must be at least 2");
    }
    let min_chunk = sluice_engine::MAX_OUTPUT_BYTES_PER_INPUT * 2;
    if (p.output_chunk_bytes as usize) < min_chunk {
        return err(
            None,
            "pipeline.output_chunk_bytes",
            format!("must be at least {min_chunk}"),
        );
    }
    if !p.pin_cores.is_empty() && p.pin_cores.len() != 3 {
        return err(
            None,
            "pipeline.pin_cores",
            "must be empty or three core ids [gateway, journaler, processor]",
        );
    }
    if p.snapshots_keep == 0 {
        return err(None, "pipeline.snapshots_keep", "must be at least 1");
    }
    Ok(())
}

fn check_simulator(s: &SimulatorSection) -> Result<(), ConfigError> {
    for (i, c) in s.channels.iter().enumerate() {
        let key = format!("simulator.channels[{i}]");
        let p = |v: f64| (0.0..=1.0).contains(&v);
        if !p(c.success_rate) || !p(c.decline_rate) || c.success_rate + c.decline_rate > 1.0 {
            return err(
                None,
                key,
                "success_rate and decline_rate must be in [0, 1] and sum to at most 1",
            );
        }
        if c.latency_us_min > c.latency_us_max {
            return err(None, key, "latency_us_min must not exceed latency_us_max");
        }
        for o in &c.outages {
            let valid = o.from_s >= 0.0
                && o.to_s >= o.from_s
                && matches!(o.mode.as_str(), "error" | "decline" | "timeout");
            if !valid {
                return err(
                    None,
                    key,
                    "outages need 0 <= from_s <= to_s and mode error, decline or timeout",
                );
            }
        }
    }
    Ok(())
}

fn genesis(l: &LimitsSection) -> Result<Genesis, ConfigError> {
    let mut ledger_currencies = ArrayVec::new();
    for (i, c) in l.currencies.iter().enumerate() {
        let currency = currency(c, None, &format!("limits.currencies[{i}]"))?;
        if ledger_currencies
            .try_push(CurrencyEntry { currency })
            .is_err()
        {
            return err(None, "limits.currencies", "at most 8 ledger currencies");
        }
    }
    let g = Genesis {
        orders_max: l.orders_max,
        refunds_max: l.refunds_max,
        withdrawals_max: l.withdrawals_max,
        merchants_max: l.merchants_max,
        promoters_max: l.promoters_max,
        channels_max: l.channels_max,
        split_profiles_max: l.split_profiles_max,
        risk_rules_max: l.risk_rules_max,
        list_entries_max: l.list_entries_max,
        velocity_keys_max: l.velocity_keys_max,
        attempts_max: l.attempts_max,
        utc_offset_secs: l.utc_offset_secs,
        ledger_currencies,
    };
    // The engine's own check, so a bad limit is reported here rather than at first start.
    sluice_engine::validate_genesis(&g).map_err(|e| ConfigError {
        line: None,
        key: "limits".into(),
        message: e.to_string(),
    })?;
    Ok(g)
}

fn currencies<const N: usize>(
    list: &[CurrencyValue],
    line: Option<usize>,
    key: &str,
) -> Result<ArrayVec<CurrencyEntry, N>, ConfigError> {
    let mut out = ArrayVec::new();
    for (i, c) in list.iter().enumerate() {
        let currency = currency(c, line, &format!("{key}.currencies[{i}]"))?;
        if out.try_push(CurrencyEntry { currency }).is_err() {
            return err(line, format!("{key}.currencies"), format!("at most {N}"));
        }
    }
    Ok(out)
}

fn channel(c: &ChannelEntry, line: Option<usize>, key: &str) -> Result<ConfigChannel, ConfigError> {
    if c.name.len() > 16 {
        return err(line, format!("{key}.name"), "at most 16 bytes");
    }
    let mut methods = ArrayVec::new();
    for (i, m) in c.methods.iter().enumerate() {
        let k = format!("{key}.methods[{i}]");
        let method = named(
            &m.method,
            PaymentMethod::from_name,
            line,
            &format!("{k}.method"),
            "method (card, wallet, bank_transfer)",
        )?;
        let fee = MethodFee {
            method,
            fee_bps: m.fee_bps,
            fee_fixed_minor: m.fee_fixed_minor,
        };
        if methods.try_push(fee).is_err() {
            return err(line, format!("{key}.methods"), "at most 4");
        }
    }
    Ok(ConfigChannel {
        channel_id: c.id,
        name: Chars::new(&c.name),
        status: if c.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        timeout_ms: c.timeout_ms,
        min_amount_minor: c.min_amount_minor,
        max_amount_minor: c.max_amount_minor,
        failure_threshold: c.failure_threshold,
        failure_leak_per_sec: c.failure_leak_per_sec,
        min_success_rate: rate(
            &c.min_success_rate,
            line,
            &format!("{key}.min_success_rate"),
        )?,
        min_attempts_for_rate: c.min_attempts_for_rate,
        cooldown_ms: c.cooldown_ms,
        probe_slots: c.probe_slots,
        probe_successes: c.probe_successes,
        currencies: currencies(&c.currencies, line, key)?,
        methods,
    })
}

fn profile(
    p: &ProfileEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigSplitProfile, ConfigError> {
    let r = |v: &str, f: &str| rate(v, line, &format!("{key}.{f}"));
    let mut tiers = ArrayVec::new();
    for (i, t) in p.tiers.iter().enumerate() {
        let tier = RateTier {
            min_amount_minor: t.min_amount_minor,
            rate: r(&t.rate, &format!("tiers[{i}].rate"))?,
        };
        if tiers.try_push(tier).is_err() {
            return err(line, format!("{key}.tiers"), "at most 8");
        }
    }
    let mut categories = ArrayVec::new();
    for (i, c) in p.categories.iter().enumerate() {
        let cat = CategoryRate {
            category: c.category,
            rate: r(&c.rate, &format!("categories[{i}].rate"))?,
        };
        if categories.try_push(cat).is_err() {
            return err(line, format!("{key}.categories"), "at most 8");
        }
    }
    Ok(ConfigSplitProfile {
        profile_id: p.id,
        platform_rate: r(&p.platform_rate, "platform_rate")?,
        promoter_level1_rate: r(&p.promoter_level1_rate, "promoter_level1_rate")?,
        promoter_level2_rate: r(&p.promoter_level2_rate, "promoter_level2_rate")?,
        parent_share: r(&p.parent_share, "parent_share")?,
        grandparent_share: r(&p.grandparent_share, "grandparent_share")?,
        fee_bearer: named(
            &p.fee_bearer,
            FeeBearer::from_name,
            line,
            &format!("{key}.fee_bearer"),
            "fee bearer (platform, merchant)",
        )?,
        tiers,
        categories,
    })
}

fn merchant(
    m: &MerchantEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigMerchant, ConfigError> {
    let r = |v: &str, f: &str| rate(v, line, &format!("{key}.{f}"));
    let mut channels = ArrayVec::new();
    for c in &m.channels {
        if channels
            .try_push(RouteEntry {
                channel_id: c.id,
                weight: c.weight,
            })
            .is_err()
        {
            return err(line, format!("{key}.channels"), "at most 8");
        }
    }
    Ok(ConfigMerchant {
        merchant_id: m.id,
        acquirer_id: m.acquirer_id,
        split_profile_id: m.split_profile,
        parent_merchant_id: m.parent,
        status: if m.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        strategy: named(
            &m.strategy,
            RoutingStrategy::from_name,
            line,
            &format!("{key}.strategy"),
            "strategy (priority, weighted_split, cheapest, highest_success_rate, weighted_score, expected_value)",
        )?,
        settlement_days: m.settlement_days,
        deposit_rate: r(&m.deposit_rate, "deposit_rate")?,
        deposit_hold_days: m.deposit_hold_days,
        min_amount_minor: m.min_amount_minor,
        max_amount_minor: m.max_amount_minor,
        weight_success: r(&m.weight_success, "weight_success")?,
        weight_cost: r(&m.weight_cost, "weight_cost")?,
        weight_latency: r(&m.weight_latency, "weight_latency")?,
        currencies: currencies(&m.currencies, line, key)?,
        channels,
    })
}

fn rule(r: &RuleEntry, line: Option<usize>, key: &str) -> Result<ConfigRiskRule, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    if r.name.len() > 24 {
        return err(line, k("name"), "at most 24 bytes");
    }
    Ok(ConfigRiskRule {
        rule_id: r.id,
        name: Chars::new(&r.name),
        target: named(
            &r.target,
            RuleTarget::from_name,
            line,
            &k("target"),
            "target (payment, refund)",
        )?,
        feature: named(
            &r.feature,
            RiskFeature::from_name,
            line,
            &k("feature"),
            "feature (payment_count, payment_amount, refund_count, decline_count, single_amount)",
        )?,
        entity: named(
            &r.entity,
            RiskEntity::from_name,
            line,
            &k("entity"),
            "entity (none, user, ip, device, card_fingerprint, card_bin, merchant)",
        )?,
        window: named(
            &r.window,
            RiskWindow::from_name,
            line,
            &k("window"),
            "window (none, minute, hour, day)",
        )?,
        comparison: named(
            &r.comparison,
            Comparison::from_name,
            line,
            &k("comparison"),
            "comparison (greater, greater_or_equal, less, less_or_equal, equal)",
        )?,
        threshold: r.threshold,
        action: named(
            &r.action,
            RiskAction::from_name,
            line,
            &k("action"),
            "action (allow, review, block)",
        )?,
        shadow: r.shadow,
        status: if r.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        merchant_id: r.merchant_id,
        goods_category: r.goods_category,
    })
}

fn list(l: &ListEntry, line: Option<usize>, key: &str) -> Result<ConfigListEntry, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    let list = named(
        &l.list,
        ListKind::from_name,
        line,
        &k("list"),
        "list (allow, block)",
    )?;
    let entity = named(
        &l.entity,
        RiskEntity::from_name,
        line,
        &k("entity"),
        "entity (user, ip, device, card_fingerprint, card_bin)",
    )?;
    let mut msg = ConfigListEntry {
        list,
        op: ListOp::Add,
        entity,
        ..ConfigListEntry::default()
    };
    let bad = |what: &str| ConfigError {
        line,
        key: k("value"),
        message: format!("{:?} is not {what}", l.value),
    };
    match entity {
        RiskEntity::User | RiskEntity::Device => {
            msg.id = l.value.parse().map_err(|_| bad("a numeric id"))?
        }
        RiskEntity::CardBin => msg.card_bin = l.value.parse().map_err(|_| bad("a numeric BIN"))?,
        RiskEntity::Ip => msg.ip = Ip::from_std(l.value.parse().map_err(|_| bad("an IP address"))?),
        RiskEntity::CardFingerprint if !l.value.is_empty() && l.value.len() <= 16 => {
            msg.card_fingerprint = Chars::new(&l.value)
        }
        RiskEntity::CardFingerprint => return Err(bad("a 1..=16 byte fingerprint")),
        _ => {
            return err(
                line,
                k("entity"),
                "lists match user, ip, device, card_fingerprint or card_bin",
            );
        }
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_parses() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert!(c.bootstrap.len() >= 5 + 8);
        assert_eq!(c.credentials.len(), DEMO_CREDENTIALS.len());
        for (key, role, secret) in DEMO_CREDENTIALS {
            let cred = c.credentials.iter().find(|x| x.key_id == *key).unwrap();
            assert_eq!(cred.role, *role);
            assert!(
                crate::auth::verify(cred, secret),
                "demo secret of {key} must match its hash"
            );
        }
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\n\n[[merchants]]\nid = 1\nacquirer_id = 1\nsplit_profile = 1\nstrategy = \"fastest\"\ncurrencies = [\"CNY\"]\nchannels = []\n";
        let e = Config::parse(text).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.key.contains("merchants[0].strategy"), "{e}");
        let e = Config::parse("[server]\nlisten = 5\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::parse("[pipeline]\nring_size = 1000\n").unwrap_err();
        assert_eq!(e.key, "pipeline.ring_size");
        let e = Config::parse("[server]\nlistn = \"x\"\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e = Config::parse("[[split_profiles]]\nid = 1\nplatform_rate = 0.1\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }
}
