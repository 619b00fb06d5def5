//! Helpers shared by the end-to-end and crash tests: a temporary data directory, a test
//! configuration derived from the embedded default, the real `sluice serve` binary as a child
//! process (its stderr forwarded and kept for assertions), and small protocol helpers over the
//! blocking client.
//!
//! Every wait here awaits a message, a log line or a process exit with a generous deadline; nothing
//! sleeps to synchronize.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use serde_json::Value as Json;
use sluice_gateway::client::{Client, ClientError};
use sluice_gateway::config::{DEFAULT_CONFIG, DEMO_CREDENTIALS};
use sluice_protocol::*;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a test waits for an answer the server owes it. Generous: a loaded 2-core box running
/// two servers in the debug profile must never turn a slow answer into a failure.
pub const WAIT: Duration = Duration::from_secs(15);
/// How long a server may take to start (recovery included) or to stop.
pub const START_WAIT: Duration = Duration::from_secs(60);

// --- temporary directories --------------------------------------------------------------------

/// A fresh directory under the system's temporary directory, removed when the test succeeds and
/// kept (with its path printed) when it fails, for a post-mortem.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "sluice-test-{name}-{}-{stamp}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: data kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// --- configuration ----------------------------------------------------------------------------

/// What a test changes in the embedded default configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The in-process channel simulator; off, the test logs in as the channel connectors.
    pub simulator: bool,
    pub ring_size: u32,
    /// Diagnostics: the processor sleeps this long per input.
    pub processor_delay_us: u32,
    pub write_buffer_bytes: u32,
    pub segment_size_mb: u32,
    pub snapshot_every_inputs: u64,
    pub orders_max: u32,
    /// Further settings: every line `key = ...` of the default configuration (in every section
    /// that has it) gets `key = value`; each key must occur at least once.
    pub set: Vec<(&'static str, String)>,
    /// TOML appended to the configuration: tables the default does not have (e.g.
    /// `[notify.delivery]`).
    pub extra_toml: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            simulator: false,
            ring_size: 8192,
            processor_delay_us: 0,
            write_buffer_bytes: 8 * 1024 * 1024,
            segment_size_mb: 8,
            snapshot_every_inputs: 0,
            // Small limits: the engine preallocates them, and tests start many servers.
            orders_max: 200_000,
            set: Vec::new(),
            extra_toml: String::new(),
        }
    }
}

/// Replaces the value of every `key = value` line (a trailing comment goes with the old value).
/// A key written `section.key` is replaced only inside `[section]` (`enabled` is both the
/// simulator's switch and the metrics endpoint's).
fn set_key(text: &str, key: &str, value: &str) -> String {
    let (section, key) = match key.split_once('.') {
        Some((section, key)) => (Some(format!("[{section}]")), key),
        None => (None, key),
    };
    let mut found = false;
    let mut current = String::new();
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.starts_with('[') {
            current = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        let is_key = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
            && section.as_ref().is_none_or(|s| *s == current);
        if is_key {
            found = true;
            out.push_str(&format!("{key} = {value}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(
        found,
        "the default configuration has no `{key} =` line any more; update tests/common"
    );
    out
}

/// The TOML text of the test configuration: the embedded default with `settings` applied.
pub fn config_text(settings: &Settings) -> String {
    let s = settings;
    let pipeline = "[pipeline]\n";
    assert!(DEFAULT_CONFIG.contains(pipeline), "no [pipeline] section");
    let mut text = DEFAULT_CONFIG.replacen(
        pipeline,
        &format!("{pipeline}processor_delay_us = {}\n", s.processor_delay_us),
        1,
    );
    let edits: Vec<(&str, String)> = vec![
        // A silent test connection (a connector waiting for its turn) must not be timed out.
        ("idle_timeout_ms", "120000".into()),
        ("write_buffer_bytes", s.write_buffer_bytes.to_string()),
        ("ring_size", s.ring_size.to_string()),
        ("snapshot_every_inputs", s.snapshot_every_inputs.to_string()),
        ("segment_size_mb", s.segment_size_mb.to_string()),
        ("orders_max", s.orders_max.to_string()),
        ("refunds_max", (s.orders_max / 4).to_string()),
        ("receipts_max", s.orders_max.to_string()),
        ("withdrawals_max", "1000".into()),
        ("list_entries_max", "1024".into()),
        ("velocity_keys_max", "4096".into()),
        // The simulator section's switch (`[metrics]` has an `enabled` too).
        ("simulator.enabled", s.simulator.to_string()),
    ];
    for (key, value) in edits.iter().chain(s.set.iter()) {
        text = set_key(&text, key, value);
    }
    text.push_str(&s.extra_toml);
    text
}

/// Writes the test configuration into `dir` and returns its path.
pub fn write_config(dir: &Path, settings: &Settings) -> PathBuf {
    let path = dir.join("sluice.toml");
    let text = config_text(settings);
    // Fail here, with the parser's message, rather than in a child process.
    if let Err(e) = sluice_gateway::config::Config::parse(&text) {
        panic!("test configuration does not parse: {e}");
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

// --- the server process -----------------------------------------------------------------------

/// What the server printed, shared with the thread that reads its stderr.
struct Log {
    lines: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

/// The real `sluice serve` running as a child process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    log: Arc<Log>,
    reader: Option<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

/// The state hash a server logged, and the sequence it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedHash {
    pub hash: String,
    pub seq: u64,
}

impl ServerProcess {
    /// Starts `sluice serve --config CONFIG --data DATA --listen 127.0.0.1:0` and waits until it
    /// listens.
    pub fn start(config: &Path, data: &Path) -> ServerProcess {
        Self::start_with(config, data, &[], &[])
    }

    /// `start`, with further arguments (after `serve`'s) and environment variables.
    pub fn start_with(
        config: &Path,
        data: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sluice serve: {e}"));
        let pid = child.id();
        let log = Arc::new(Log {
            lines: Mutex::new((Vec::new(), false)),
            changed: Condvar::new(),
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    // Forwarded so that a failing test shows what the server said.
                    eprintln!("[server {pid}] {line}");
                    let mut guard = log.lines.lock().unwrap_or_else(|e| e.into_inner());
                    guard.0.push(line);
                    log.changed.notify_all();
                }
                let mut guard = log.lines.lock().unwrap_or_else(|e| e.into_inner());
                guard.1 = true;
                log.changed.notify_all();
            })
        };
        let mut server = ServerProcess {
            child,
            addr: "127.0.0.1:0".parse().expect("address"),
            data: data.to_path_buf(),
            log,
            reader: Some(reader),
            exit: None,
        };
        let line = server.wait_for_line(START_WAIT, |l| says(l, "listening on "));
        server.addr = log_message(&line)
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line the server printed so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Waits for a line matching `pick` (among all lines printed so far and later); panics when the
    /// server ends its stderr or the deadline passes first.
    pub fn wait_for_line(&self, timeout: Duration, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut guard = self.log.lines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(line) = guard.0.iter().find(|l| pick(l)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if guard.1 || left.is_zero() {
                let why = if guard.1 {
                    "the server's stderr ended"
                } else {
                    "timed out"
                };
                panic!(
                    "{why} before the expected log line; the server said:\n{}",
                    guard.0.join("\n")
                );
            }
            guard = self
                .log
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The state hash logged after recovery (`replayed ...; state hash H at sequence S`) or after a
    /// fresh start (`fresh start: Genesis and N configuration inputs journaled; state hash H`).
    pub fn recovered_hash(&self) -> LoggedHash {
        let line = self.wait_for_line(START_WAIT, |l| {
            says(l, "replayed ") || says(l, "fresh start: ")
        });
        parse_recovery_line(&log_message(&line))
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(START_WAIT)
    }

    /// SIGKILL: the crash. Returns once the process is gone.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let status = self.child.wait().expect("wait for the killed server");
            self.exit = Some(status);
        }
        self.join_reader();
    }

    /// The `stopped ... at sequence S; state hash H` line of a clean stop.
    pub fn stopped_hash(&self) -> LoggedHash {
        let line = log_message(&self.wait_for_line(START_WAIT, |l| says(l, "stopped")));
        let seq = field_after(&line, "at sequence ")
            .trim_end_matches(';')
            .parse()
            .unwrap_or_else(|_| panic!("no sequence in {line:?}"));
        let hash = field_after(&line, "state hash ")
            .trim_end_matches(';')
            .to_string();
        LoggedHash { hash, seq }
    }

    #[allow(unsafe_code)] // kill(2) has no safe wrapper in the dependencies.
    fn signal(&self, signal: libc::c_int) {
        if self.exit.is_some() {
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with the pid of our own child, which has not been reaped yet (exit is
        // None), so the pid cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.exit {
            return status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    self.join_reader();
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    // Polling a process's exit: there is no message to await.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("the server did not exit within {timeout:?}");
                }
                Err(e) => panic!("wait for the server: {e}"),
            }
        }
    }

    fn join_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_reader();
    }
}

// --- log lines ------------------------------------------------------------------------------

/// A log line's message, in either format the server writes: the `fields.message` of a JSON line
/// (`--log-json`), or, in a human line (`TIMESTAMP  LEVEL target: message fields...`), what
/// follows the target — the message and the fields after it. A line that is neither (a panic, a
/// tool's own output) is returned whole.
pub fn log_message(line: &str) -> String {
    if line.starts_with('{') {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        return json["fields"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no fields.message in {line:?}"))
            .to_string();
    }
    match human_parts(line) {
        Some((_, message)) => message.to_string(),
        None => line.to_string(),
    }
}

/// A log line's level (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`), in either format.
pub fn log_level(line: &str) -> Option<String> {
    if line.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        return json["level"].as_str().map(str::to_string);
    }
    human_parts(line).map(|(level, _)| level.to_string())
}

/// Whether a log line's message starts with `text`.
pub fn says(line: &str, text: &str) -> bool {
    log_message(line).starts_with(text)
}

/// A human line's level and what follows its target: `2026-12-06T05:30:00.123456Z  INFO
/// sluice_gateway::server: message key=value`.
fn human_parts(line: &str) -> Option<(&str, &str)> {
    let (timestamp, rest) = line.split_once(' ')?;
    if !(timestamp.ends_with('Z') && timestamp.contains('T')) {
        return None;
    }
    let (level, rest) = rest.trim_start().split_once(' ')?;
    let (_target, message) = rest.split_once(": ")?;
    Some((level, message))
}

fn field_after<'a>(line: &'a str, marker: &str) -> &'a str {
    line.split(marker)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"))
}

/// Parses the message `replayed N inputs (A..=B) in X ms; state hash H at sequence S` or
/// `fresh start: Genesis and N configuration inputs journaled; state hash H`.
pub fn parse_recovery_line(line: &str) -> LoggedHash {
    let hash = field_after(line, "state hash ").to_string();
    let seq = if line.starts_with("fresh start: ") {
        // Genesis is sequence 1, the configuration inputs follow it.
        let n: u64 = field_after(line, "Genesis and ")
            .parse()
            .unwrap_or_else(|_| panic!("no input count in {line:?}"));
        n + 1
    } else {
        field_after(line, "at sequence ")
            .parse()
            .unwrap_or_else(|_| panic!("no sequence in {line:?}"))
    };
    assert_eq!(hash.len(), 32, "state hash {hash:?} in {line:?}");
    LoggedHash { hash, seq }
}

/// Runs `sluice admin --json ARGS` as the demo admin: the exit status and the JSON lines printed.
pub fn admin(addr: SocketAddr, args: &[&str]) -> (bool, Vec<Json>) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("admin")
        .arg("--addr")
        .arg(addr.to_string())
        .arg("--json")
        .args(args)
        .env("SLUICE_ADMIN_SECRET", credential("admin").1)
        .output()
        .expect("run sluice admin");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "sluice admin {args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    (out.status.success(), lines)
}

/// `admin`, which must succeed with every change accepted.
pub fn admin_ok(addr: SocketAddr, args: &[&str]) -> Vec<Json> {
    let (ok, lines) = admin(addr, args);
    assert!(ok, "sluice admin {args:?} failed: {lines:?}");
    for l in &lines {
        assert_ne!(l["status"], "refused", "{args:?}: {l}");
    }
    lines
}

/// A server on a fresh data directory with `settings`; returns the directory (which owns the data
/// and the configuration) and the running server.
pub fn start_server(name: &str, settings: &Settings) -> (TestDir, ServerProcess) {
    let dir = TestDir::new(name);
    let config = write_config(&dir.path, settings);
    let server = ServerProcess::start(&config, &dir.join("data"));
    (dir, server)
}

// --- protocol helpers -------------------------------------------------------------------------

/// The demo secret and role of a key id.
pub fn credential(key: &str) -> (Role, &'static str) {
    DEMO_CREDENTIALS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, role, secret)| (*role, *secret))
        .unwrap_or_else(|| panic!("no demo credential {key:?}"))
}

/// Logs in with a demo credential.
pub fn login(addr: SocketAddr, key: &str) -> Client {
    let (role, secret) = credential(key);
    Client::login(addr, role, key, secret).unwrap_or_else(|e| panic!("login as {key}: {e}"))
}

/// The next message that is not a heartbeat; panics on a timeout, a close or an error.
pub fn next(c: &mut Client, what: &str) -> AnyMessage {
    next_within(c, WAIT, what)
}

/// As `next`, with a chosen deadline.
pub fn next_within(c: &mut Client, timeout: Duration, what: &str) -> AnyMessage {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        match c.recv(left) {
            Ok(Some(AnyMessage::Heartbeat(_))) => {}
            Ok(Some(m)) => return m,
            Ok(None) => panic!("timed out waiting for {what}"),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Skips messages until `pick` accepts one; panics on a timeout or a close.
pub fn wait_for<T>(c: &mut Client, what: &str, pick: impl FnMut(&AnyMessage) -> Option<T>) -> T {
    c.recv_until(WAIT, pick)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
}

/// Whether an error means the server closed the connection.
pub fn is_closed(e: &ClientError) -> bool {
    match e {
        ClientError::Closed => true,
        ClientError::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Reads until the server closes the connection; returns the messages that came before. Panics if
/// the connection is still open at the deadline.
pub fn expect_closed(c: &mut Client, what: &str) -> Vec<AnyMessage> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{what}: the connection is still open; received {seen:?}"
        );
        match c.recv(left) {
            Ok(Some(m)) => seen.push(m),
            Ok(None) => {}
            Err(e) if is_closed(&e) => return seen,
            Err(e) => panic!("{what}: {e} (received {seen:?})"),
        }
    }
}

/// Encodes a message as a frame.
pub fn frame<M: Message>(msg: &M) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let n = encode_frame(msg, &mut buf).expect("encode");
    buf.truncate(n);
    buf
}

/// A CNY payment of `amount_minor` at `merchant` by `method` (no promoter), from a user of its own
/// (so velocity rules never fire across payments).
pub fn payment(
    request_id: u64,
    merchant_id: u32,
    amount_minor: i64,
    method: PaymentMethod,
) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id,
        promoter_id: 0,
        amount_minor,
        currency: 156,
        method,
        scene: Scene::App,
        goods_category: 0,
        // Away from the demo's listed users (666 blocked, 777 allowed).
        user_id: 1_000_000 + request_id,
        device_id: 0,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        installment_count: 0,
        installment_payer_interest: false,
    }
}

/// The sum of split lines.
pub fn sum_lines(lines: &[SplitLine]) -> i64 {
    lines.iter().map(|l| l.amount_minor).sum()
}

/// The amount of the line of `role` (and party), if there is one.
pub fn line_amount(lines: &[SplitLine], role: PartyRole, party_id: u32) -> Option<i64> {
    lines
        .iter()
        .find(|l| l.role == role && l.party_id == party_id)
        .map(|l| l.amount_minor)
}

/// A query by payment request id.
pub fn query(request_id: u64) -> QueryOrder {
    QueryOrder {
        order_id: 0,
        request_id,
    }
}

/// Sends a query and waits for its OrderStatus.
pub fn query_order(c: &mut Client, request_id: u64) -> OrderStatus {
    c.send(&query(request_id)).expect("send QueryOrder");
    wait_for(c, "OrderStatus", |m| match m {
        AnyMessage::OrderStatus(s) if s.request_id == request_id => Some(s.clone()),
        _ => None,
    })
}

/// A channel's answer to one attempt.
pub fn channel_result(d: &Dispatch, outcome: ChannelOutcome, channel_ref: &str) -> ChannelResult {
    ChannelResult {
        order_id: d.order_id,
        attempt: d.attempt,
        outcome,
        channel_code: match outcome {
            ChannelOutcome::Succeeded => 0,
            ChannelOutcome::Declined => 51,
            ChannelOutcome::RetryableError => 96,
        },
        latency_us: 1_500,
        channel_ref: Chars::new(channel_ref),
    }
}

// --- channel connectors -----------------------------------------------------------------------

/// The test logged in as every channel connector of the default configuration (the simulator
/// being off), so that it decides each attempt's outcome.
pub struct Connectors {
    pub sessions: Vec<(u16, Client)>,
}

impl Connectors {
    pub fn login_all(addr: SocketAddr) -> Connectors {
        let keys = [
            (1, "ch-wechat"),
            (2, "ch-alipay"),
            (3, "ch-unionpay"),
            (4, "ch-stripe"),
            (5, "ch-paypal"),
        ];
        let sessions = keys
            .iter()
            .map(|&(channel, key)| {
                let c = login(addr, key);
                let principal = c.session.as_ref().map(|s| s.principal_id);
                assert_eq!(principal, Some(u32::from(channel)), "{key}'s principal");
                (channel, c)
            })
            .collect();
        Connectors { sessions }
    }

    pub fn get(&mut self, channel: u16) -> &mut Client {
        self.sessions
            .iter_mut()
            .find(|(id, _)| *id == channel)
            .map(|(_, c)| c)
            .unwrap_or_else(|| panic!("no connector for channel {channel}"))
    }

    /// The next message (not a heartbeat) any connector receives, with its channel.
    pub fn next(&mut self, what: &str) -> (u16, AnyMessage) {
        let deadline = Instant::now() + WAIT;
        loop {
            for (channel, c) in self.sessions.iter_mut() {
                match c.recv(Duration::from_millis(5)) {
                    Ok(Some(AnyMessage::Heartbeat(_))) | Ok(None) => {}
                    Ok(Some(m)) => return (*channel, m),
                    Err(e) => panic!("connector of channel {channel}, waiting for {what}: {e}"),
                }
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
        }
    }

    /// The next Dispatch; panics if a connector receives anything else first.
    pub fn next_dispatch(&mut self) -> (u16, Dispatch) {
        match self.next("a Dispatch") {
            (channel, AnyMessage::Dispatch(d)) => {
                assert_eq!(
                    d.channel_id, channel,
                    "Dispatch sent to the wrong connector"
                );
                (channel, d)
            }
            (channel, other) => panic!("channel {channel} got {other:?} instead of a Dispatch"),
        }
    }

    /// Answers a Dispatch.
    pub fn answer(&mut self, d: &Dispatch, outcome: ChannelOutcome, channel_ref: &str) {
        self.get(d.channel_id)
            .send(&channel_result(d, outcome, channel_ref))
            .expect("send ChannelResult");
    }
}

// --- deterministic randomness -----------------------------------------------------------------

/// The project's one seeded generator, so that a failing run can be repeated from its seed.
#[allow(unused_imports)] // Some test binaries draw no random numbers.
pub use sluice_protocol::rng::Rng;

/// The seed: `SLUICE_TEST_SEED` if set, else the clock (printed by the caller).
pub fn seed_from_env() -> u64 {
    std::env::var("SLUICE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        })
}

// --- servers started in-process -----------------------------------------------------------------

/// The configuration of a server a test starts in-process (`Server::start`): the embedded default
/// on an ephemeral port with its data in `dir`, tables small enough to start quickly (`orders_max`
/// orders, no prefault), 1 MiB journal segments, and the channel simulator on.
pub fn in_process_config(dir: &Path, orders_max: u32) -> sluice_gateway::config::Config {
    let mut config =
        sluice_gateway::config::Config::parse(DEFAULT_CONFIG).expect("the default configuration");
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = dir.to_path_buf();
    config.segment_size_bytes = 1 << 20;
    config.pipeline.prefault_memory = false;
    config.world.genesis.orders_max = orders_max;
    config.world.genesis.refunds_max = 1_000;
    config.world.genesis.velocity_keys_max = 4_096;
    config.simulator.enabled = true;
    config
}

/// `sluice replay check --data DATA`: whether it passed, and what it printed.
pub fn replay_check(data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "check", "--data"])
        .arg(data)
        .output()
        .expect("run sluice replay check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `sluice replay check --data DATA`, which must pass.
pub fn assert_replay_check(data: &Path) {
    let (ok, text) = replay_check(data);
    assert!(ok, "sluice replay check failed:\n{text}");
}

/// Captured per (channel, currency) as `sluice report flow` states it from the store `source`
/// names (`--postgres-url URL`, or nothing for the Parquet files).
pub fn report_captured(
    data: &std::path::Path,
    source: &[&str],
) -> std::collections::BTreeMap<(i64, i64), i64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "report",
            "flow",
            "--by",
            "channel,currency",
            "--format",
            "json",
        ])
        .args(source)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run sluice report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let mut totals = std::collections::BTreeMap::new();
    for row in report["rows"].as_array().expect("rows") {
        let key: Vec<i64> = row["key"]
            .as_array()
            .expect("key")
            .iter()
            .map(|k| k.as_str().expect("key part").parse().expect("numeric key"))
            .collect();
        let volume = row["measures"]["volume_minor"].as_i64().expect("volume");
        if volume != 0 {
            totals.insert((key[0], key[1]), volume);
        }
    }
    totals
}
