//! Server configuration: TOML, validated at start with errors that name the key and the line.
//!
//! Operational sections (`server`, `pipeline`, `journal`, `simulator`, `metrics`) are read here
//! and apply at every start. The business sections (limits, credentials, channels, split profiles,
//! promoters, merchants, risk rules, lists) are the node's: `sluice_node::world` compiles them into
//! Genesis and admin inputs, journaled at the first start of an empty data directory; after that
//! the journal is the source of truth and changes are made with admin messages.

use serde::Deserialize;
use sluice_journal::{Durability, JournalConfig};
use sluice_node::world::{
    CalendarEntry, ChannelEntry, ConfigError, CredentialEntry, LimitsSection, ListEntry,
    MerchantEntry, PayoutChannelEntry, PayoutPolicyEntry, ProfileEntry, PromoterEntry, RuleEntry,
    World, WorldSections, YieldHolderEntry, err, line_of,
};
use sluice_protocol::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Spanned;

use crate::config_export::ExportSection;
use crate::config_sim::check_simulator;
pub use crate::config_sim::{SimChannel, SimOutage, SimulatorSection};

/// The embedded default configuration (`sluice serve` with no `--config`).
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// Demo credentials of the embedded configuration: (key id, role, secret). Only their salted hashes
/// are in the configuration; the demo, the load generator and the tests log in with these.
pub const DEMO_CREDENTIALS: &[(&str, Role, &str)] = &[
    ("acq-a", Role::Acquirer, "sluice-demo-acquirer-a"),
    ("acq-b", Role::Acquirer, "sluice-demo-acquirer-b"),
    ("admin", Role::Admin, "sluice-demo-admin"),
    ("ch-wechat", Role::Channel, "sluice-demo-channel"),
    ("ch-alipay", Role::Channel, "sluice-demo-channel"),
    ("ch-unionpay", Role::Channel, "sluice-demo-channel"),
    ("ch-stripe", Role::Channel, "sluice-demo-channel"),
    ("ch-paypal", Role::Channel, "sluice-demo-channel"),
    ("ch-bank", Role::Channel, "sluice-demo-channel"),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
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
    payout_channels: Vec<Spanned<PayoutChannelEntry>>,
    payout_policies: Vec<Spanned<PayoutPolicyEntry>>,
    calendar: Vec<Spanned<CalendarEntry>>,
    installments: Option<Spanned<sluice_node::world::InstallmentsSection>>,
    yield_holders: Vec<Spanned<YieldHolderEntry>>,
    #[serde(default)]
    simulator: SimulatorSection,
    #[serde(default)]
    metrics: MetricsSection,
    #[serde(default)]
    resume: ResumeSection,
    #[serde(default)]
    notify: NotifySection,
    #[serde(default)]
    export: ExportSection,
    /// `[credit]` (docs/CREDIT.md): optional.
    credit: Option<crate::config_credit::CreditSection>,
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

/// The snapshot follower's default schedule: every million inputs or every minute of traffic,
/// whichever comes first (docs/OPERATIONS.md, "Snapshots and restart").
pub const DEFAULT_SNAPSHOT_EVERY_INPUTS: u64 = 1_000_000;
pub const DEFAULT_SNAPSHOT_EVERY_SECS: u32 = 60;
/// Fewer inputs between snapshots would keep the follower serializing all the time.
pub const SNAPSHOT_EVERY_INPUTS_MIN: u64 = 100;

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
    /// The snapshot follower serializes its engine at every sequence that is a multiple of this
    /// (0: not by inputs). `snapshot_every`, the key's name before snapshots moved to the
    /// follower, is accepted as an alias.
    #[serde(alias = "snapshot_every")]
    pub snapshot_every_inputs: u64,
    /// ... and when this many seconds passed since its last snapshot and traffic (inputs other
    /// than pulses) came since (0: not by time). Whichever comes first; both 0: only on request
    /// and at shutdown.
    pub snapshot_every_secs: u32,
    pub snapshots_keep: u32,
    /// Output chunks between the processor and egress, and their size.
    pub output_chunks: u32,
    pub output_chunk_bytes: u32,
    /// Diagnostics only: the processor sleeps this long per input (to show backpressure).
    pub processor_delay_us: u32,
    /// Diagnostics only: the journaler sleeps this long before each group commit, holding the
    /// durable cursor back (to show that egress and followers wait for it).
    pub journal_delay_us: u32,
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
            snapshot_every_inputs: DEFAULT_SNAPSHOT_EVERY_INPUTS,
            snapshot_every_secs: DEFAULT_SNAPSHOT_EVERY_SECS,
            snapshots_keep: 3,
            output_chunks: 32,
            output_chunk_bytes: 1 << 20,
            processor_delay_us: 0,
            journal_delay_us: 0,
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
    /// What happens, after each snapshot, to the journal segments that every kept snapshot
    /// covers: "keep" (the default: the whole audit trail stays, `sluice replay` rebuilds any
    /// point from Genesis), "archive" (compressed into `archive_dir`, still read by `sluice
    /// replay`) or "delete".
    pub covered_segments: String,
    /// Where "archive" puts them; `<data_dir>/archive` when unset.
    pub archive_dir: Option<PathBuf>,
    /// The key `covered_segments` replaced; read only to say so.
    pub prune_covered_segments: Option<bool>,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            durability: "none".into(),
            segment_size_mb: 256,
            covered_segments: "keep".into(),
            archive_dir: None,
            prune_covered_segments: None,
        }
    }
}

/// `[metrics]` as written: the Prometheus endpoint (docs/OPERATIONS.md, "Metrics").
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
struct MetricsSection {
    enabled: bool,
    /// Kept with its place in the text, so that an error names its line.
    listen: Spanned<String>,
}

/// `[resume]`: acquirer session resume and the output log behind it (docs/NOTIFICATIONS.md,
/// section 1; docs/OPERATIONS.md, "Session resume").
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ResumeSection {
    /// Run the outputs follower and keep the output log; off, a resume is refused.
    pub enabled: bool,
    /// A resume reaches back at least this far in event time (whole segments go after it).
    pub window_secs: u64,
    /// And at most this many bytes of log per acquirer (oldest segments go first).
    pub max_bytes_per_acquirer: u64,
    /// How long a resume waits for the output log to reach what it must retransmit, ms.
    pub resume_timeout_ms: u32,
}

impl Default for ResumeSection {
    fn default() -> Self {
        ResumeSection {
            enabled: true,
            window_secs: 86_400,
            max_bytes_per_acquirer: 1 << 30,
            resume_timeout_ms: 30_000,
        }
    }
}

/// `[notify]`: merchant result notifications (docs/NOTIFICATIONS.md, section 2): a sink of the
/// outputs follower, and HTTP(S) delivery on threads of its own. `[notify.delivery]` is the
/// delivery's own configuration (`sluice_notify::NotifyConfig`; its default is WeChat Pay's retry
/// schedule).
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    pub enabled: bool,
    /// The notifier key that seals merchants' signing secrets; empty: `DATA/keys/notify.key`.
    pub key_file: String,
    pub delivery: sluice_notify::NotifyConfig,
}

impl Default for NotifySection {
    fn default() -> Self {
        NotifySection {
            enabled: true,
            key_file: String::new(),
            delivery: sluice_notify::NotifyConfig::default(),
        }
    }
}

/// The endpoint's address when nothing says otherwise.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9700";

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: false,
            listen: Spanned::new(0..0, DEFAULT_METRICS_LISTEN.into()),
        }
    }
}

/// The validated `[metrics]`: whether the server serves `GET /metrics`, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

/// How pipeline threads wait for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    Adaptive,
    Yield,
    Spin,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSection,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub pipeline: PipelineSection,
    pub wait: WaitMode,
    pub durability: Durability,
    pub segment_size_bytes: u64,
    pub covered_segments: CoveredSegments,
    /// `[journal] archive_dir` as configured; [`Config::archive_dir`] resolves the default.
    pub archive_dir_configured: Option<PathBuf>,
    /// The business world: Genesis and the admin inputs of a first start.
    pub world: World,
    pub simulator: SimulatorSection,
    pub metrics: MetricsConfig,
    pub resume: ResumeSection,
    pub notify: NotifySection,
    /// `[export]`: the flow exporter in the server (the binary starts it).
    pub export: ExportSection,
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
        let listen = file.server.listen.parse::<SocketAddr>().or_else(|_| {
            let what = format!(
                "{:?} is not an address like 127.0.0.1:7700",
                file.server.listen
            );
            err(None, "server.listen", what)
        })?;
        check_server(&file.server)?;
        let wait = wait_mode(&file.pipeline)?;
        check_pipeline(&file.pipeline)?;
        let durability = durability(&file.journal)?;
        let covered_segments = covered_segments(&file.journal)?;

        let mut world = World::compile(
            text,
            WorldSections {
                limits: file.limits,
                channels: file.channels,
                split_profiles: file.split_profiles,
                promoters: file.promoters,
                merchants: file.merchants,
                risk_rules: file.risk_rules,
                lists: file.lists,
                credentials: file.credentials,
                payout_channels: file.payout_channels,
                payout_policies: file.payout_policies,
                calendar: file.calendar,
                installments: file.installments,
                yield_holders: file.yield_holders,
            },
        )?;
        crate::config_credit::compile(file.credit.as_ref(), &mut world.inputs)?;
        check_simulator(&file.simulator)?;
        let metrics = metrics(text, &file.metrics, listen)?;
        check_delivery(&file.resume, &file.notify, &file.export)?;
        Ok(Config {
            listen,
            data_dir: PathBuf::from(&file.server.data_dir),
            server: file.server,
            pipeline: file.pipeline,
            wait,
            durability,
            segment_size_bytes: u64::from(file.journal.segment_size_mb) * 1024 * 1024,
            covered_segments,
            archive_dir_configured: file.journal.archive_dir.clone(),
            world,
            simulator: file.simulator,
            metrics,
            resume: file.resume,
            notify: file.notify,
            export: file.export,
        })
    }

    /// The notifier key file: `[notify] key_file`, or `DATA/keys/notify.key` of the data
    /// directory in effect.
    pub fn notify_key_file(&self) -> PathBuf {
        match self.notify.key_file.as_str() {
            "" => self.data_dir.join("keys").join("notify.key"),
            path => PathBuf::from(path),
        }
    }

    /// Where archived journal segments go: `[journal] archive_dir`, or `<data_dir>/archive` (of
    /// the data directory in effect, `--data` included).
    pub fn archive_dir(&self) -> PathBuf {
        self.archive_dir_configured
            .clone()
            .unwrap_or_else(|| sluice_journal::default_archive_dir(&self.data_dir))
    }

    /// The journal's settings.
    pub fn journal_config(&self) -> JournalConfig {
        JournalConfig {
            segment_size_bytes: self.segment_size_bytes,
            durability: self.durability,
        }
    }

    /// The embedded default configuration.
    pub fn default_config() -> Config {
        // The embedded text is checked by a test; failing here would be a build defect.
        Config::parse(DEFAULT_CONFIG).unwrap_or_else(|e| panic!("embedded default config: {e}"))
    }
}

fn wait_mode(p: &PipelineSection) -> Result<WaitMode, ConfigError> {
    match p.wait.as_str() {
        "adaptive" => Ok(WaitMode::Adaptive),
        "yield" => Ok(WaitMode::Yield),
        "spin" => Ok(WaitMode::Spin),
        other => err(
            None,
            "pipeline.wait",
            format!("{other:?} is not adaptive, yield or spin"),
        ),
    }
}

fn durability(j: &JournalSection) -> Result<Durability, ConfigError> {
    let durability = match j.durability.as_str() {
        "none" => Durability::None,
        "fsync" => Durability::Fsync,
        other => {
            let what = format!("{other:?} is not none or fsync");
            return err(None, "journal.durability", what);
        }
    };
    if !(1..=4096).contains(&j.segment_size_mb) {
        return err(None, "journal.segment_size_mb", "must be 1..=4096");
    }
    Ok(durability)
}

/// What happens to journal segments that every kept snapshot covers: `[journal]
/// covered_segments`, applied by the snapshot writer after each snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoveredSegments {
    /// Nothing is deleted: the journal keeps the whole audit trail (the default).
    Keep,
    /// Compressed with zstd into the archive directory, checked, then deleted from the journal
    /// directory; `sluice replay` reads them from there.
    Archive,
    /// Deleted.
    Delete,
}

fn covered_segments(j: &JournalSection) -> Result<CoveredSegments, ConfigError> {
    if let Some(prune) = j.prune_covered_segments {
        let instead = if prune { "\"delete\"" } else { "\"keep\"" };
        let what = format!("replaced by covered_segments = {instead} (or \"archive\")");
        return err(None, "journal.prune_covered_segments", what);
    }
    match j.covered_segments.as_str() {
        "keep" => Ok(CoveredSegments::Keep),
        "archive" => Ok(CoveredSegments::Archive),
        "delete" => Ok(CoveredSegments::Delete),
        other => {
            let what = format!("{other:?} is not keep, archive or delete");
            err(None, "journal.covered_segments", what)
        }
    }
}

/// `[metrics]`, checked: an address, and not the clients' own.
fn metrics(
    text: &str,
    m: &MetricsSection,
    server_listen: SocketAddr,
) -> Result<MetricsConfig, ConfigError> {
    let span = m.listen.span();
    let line = (!span.is_empty()).then(|| line_of(text, span.start));
    let listen = m.listen.get_ref().parse::<SocketAddr>().or_else(|_| {
        let what = format!(
            "{:?} is not an address like 127.0.0.1:9700",
            m.listen.get_ref()
        );
        err(line, "metrics.listen", what)
    })?;
    if m.enabled && listen.port() != 0 && listen == server_listen {
        return err(line, "metrics.listen", "must differ from server.listen");
    }
    Ok(MetricsConfig {
        enabled: m.enabled,
        listen,
    })
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
    check_snapshot_schedule(p)
}

/// The snapshot follower's schedule: each rule is off (0) or within a range that makes sense.
fn check_snapshot_schedule(p: &PipelineSection) -> Result<(), ConfigError> {
    let inputs = p.snapshot_every_inputs;
    if inputs != 0 && !(SNAPSHOT_EVERY_INPUTS_MIN..=1 << 40).contains(&inputs) {
        return err(
            None,
            "pipeline.snapshot_every_inputs",
            format!(
                "must be 0 (no snapshots by inputs) or {SNAPSHOT_EVERY_INPUTS_MIN}..=2^40, \
                 not {inputs}"
            ),
        );
    }
    let secs = p.snapshot_every_secs;
    if secs > 7 * 86_400 {
        return err(
            None,
            "pipeline.snapshot_every_secs",
            format!("must be 0 (no snapshots by time) or 1..=604800 (a week), not {secs}"),
        );
    }
    Ok(())
}

/// `[resume]`, `[notify] delivery` and `[export]`.
fn check_delivery(
    resume: &ResumeSection,
    notify: &NotifySection,
    export: &ExportSection,
) -> Result<(), ConfigError> {
    if resume.max_bytes_per_acquirer < 4096 || resume.resume_timeout_ms == 0 {
        return err(
            None,
            "resume",
            "max_bytes_per_acquirer must be at least 4096 and resume_timeout_ms above 0",
        );
    }
    if let Err(e) = notify.delivery.validate() {
        return err(None, "notify.delivery", e.to_string());
    }
    export.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_default_configuration_parses() {
        let c = Config::parse(DEFAULT_CONFIG).unwrap();
        assert!(c.world.inputs.len() >= 5 + 8);
        let engine = sluice_node::world::scratch::scratch_world(&c.world).unwrap();
        // `[installments]`: the default terms, applied (docs/INSTALLMENTS.md, section 7).
        let terms = engine
            .installments()
            .terms_for(1001)
            .expect("default terms");
        assert_eq!(
            (terms.merchant_id, terms.fee_bps, terms.period_days),
            (0, [150, 300, 600], 30)
        );
        let keys = crate::auth::Keys::from_engine(&engine);
        assert_eq!(keys.len(), DEMO_CREDENTIALS.len());
        for (key, role, secret) in DEMO_CREDENTIALS {
            let who = keys.authenticate(key, *role, secret, 0);
            assert!(who.is_some(), "demo secret of {key} must match its hash");
            assert!(keys.authenticate(key, *role, "not-the-secret", 0).is_none());
        }
    }

    #[test]
    fn risk_rules_may_be_text_and_a_bad_one_names_its_line() {
        let text = "[[risk_rules]]\nid = 40\nname = \"t\"\npriority = 2\nsource = \"block if :amount: > 5\"\n";
        let c = Config::parse(text).unwrap();
        let rule = c.world.inputs.iter().find_map(|i| match &i.message {
            AnyMessage::ConfigRiskRuleText(m) => Some(m.clone()),
            _ => None,
        });
        let rule = rule.expect("a ConfigRiskRuleText");
        assert_eq!((rule.rule_id, rule.priority), (40, 2));
        assert_eq!(rule.source.as_str(), "block if :amount: > 5");
        let bad = "[[risk_rules]]\nid = 40\nname = \"t\"\nsource = \"block if :amount: > 'USD'\"\n";
        let e = Config::parse(bad).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("risk_rules[0].source", Some(1)),
            "{e}"
        );
        assert!(e.message.starts_with("1:21: 'USD' is text"), "{e}");
        let both = "[[risk_rules]]\nid = 40\nname = \"t\"\nthreshold = 5\nsource = \"block if :amount: > 5\"\n";
        assert!(
            Config::parse(both)
                .unwrap_err()
                .message
                .contains("not both")
        );
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
        let e = Config::parse("[pipeline]\nsnapshot_every_inputs = 10\n").unwrap_err();
        assert_eq!(e.key, "pipeline.snapshot_every_inputs", "{e}");
        let e = Config::parse("[pipeline]\nsnapshot_every_secs = 9999999\n").unwrap_err();
        assert_eq!(e.key, "pipeline.snapshot_every_secs", "{e}");
        let e = Config::parse("[server]\nlistn = \"x\"\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e = Config::parse("[[split_profiles]]\nid = 1\nplatform_rate = 0.1\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn periodic_snapshots_are_on_by_default_and_the_old_key_still_works() {
        let c = Config::default_config();
        assert_eq!(
            c.pipeline.snapshot_every_inputs,
            DEFAULT_SNAPSHOT_EVERY_INPUTS
        );
        assert_eq!(c.pipeline.snapshot_every_secs, DEFAULT_SNAPSHOT_EVERY_SECS);
        let c = Config::parse("[pipeline]\nsnapshot_every = 5000\n").unwrap();
        assert_eq!(c.pipeline.snapshot_every_inputs, 5000);
        let c = Config::parse("[pipeline]\nsnapshot_every_inputs = 0\nsnapshot_every_secs = 0\n")
            .unwrap();
        assert_eq!(
            (
                c.pipeline.snapshot_every_inputs,
                c.pipeline.snapshot_every_secs
            ),
            (0, 0)
        );
    }

    #[test]
    fn metrics_are_off_by_default_and_their_address_is_checked() {
        let c = Config::default_config();
        assert!(!c.metrics.enabled);
        assert_eq!(
            c.metrics.listen,
            DEFAULT_METRICS_LISTEN.parse::<SocketAddr>().unwrap()
        );
        let c = Config::parse("[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\n").unwrap();
        assert!(c.metrics.enabled && c.metrics.listen.port() == 0);
        let e = Config::parse("[metrics]\nenabled = true\n\nlisten = \"nowhere\"\n").unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("metrics.listen", Some(4)), "{e}");
        let same = "[server]\nlisten = \"127.0.0.1:7700\"\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:7700\"\n";
        let e = Config::parse(same).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("metrics.listen", Some(5)), "{e}");
        let e = Config::parse("[metrics]\nport = 1\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn covered_segments_are_kept_by_default_and_the_archive_follows_the_data_dir() {
        let mut c = Config::default_config();
        assert_eq!(c.covered_segments, CoveredSegments::Keep);
        assert_eq!(c.archive_dir(), Path::new("sluice-data/archive"));
        c.data_dir = PathBuf::from("/srv/sluice");
        assert_eq!(c.archive_dir(), Path::new("/srv/sluice/archive"));
        let c = Config::parse("[journal]\ncovered_segments = \"archive\"\narchive_dir = \"/a\"\n");
        let c = c.unwrap();
        assert_eq!(c.covered_segments, CoveredSegments::Archive);
        assert_eq!(c.archive_dir(), Path::new("/a"));
        let c = Config::parse("[journal]\ncovered_segments = \"delete\"\n").unwrap();
        assert_eq!(c.covered_segments, CoveredSegments::Delete);
        let e = Config::parse("[journal]\ncovered_segments = \"prune\"\n").unwrap_err();
        assert_eq!(e.key, "journal.covered_segments", "{e}");
        assert!(e.message.contains("keep, archive or delete"), "{e}");
        let e = Config::parse("[journal]\nprune_covered_segments = true\n").unwrap_err();
        assert_eq!(e.key, "journal.prune_covered_segments", "{e}");
        assert!(e.message.contains("covered_segments = \"delete\""), "{e}");
    }
}
