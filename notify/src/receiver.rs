//! A real HTTP/1.1 (optionally HTTPS) merchant for tests and the benchmark, on 127.0.0.1:0.
//!
//! - **Merchant**: from the path `/m/<merchant_id>` ([`Receiver::url`] builds it); for any other
//!   path, from the JSON body's `merchant_id` field.
//! - **Signatures**: every request is checked with [`crate::verify`] against the secrets set for
//!   its merchant ([`Receiver::set_secrets`]); a request no secret verifies gets 401.
//! - **De-duplication** on `Sluice-Notification-Id`: the first 2xx answer counts as accepted,
//!   later ones as duplicates (still 200, as a merchant answers a repeat).
//! - **Faults**, by [`id_hash`] of the id: the first `fail_first_attempts` attempts of ids with
//!   `hash % fail_modulo == 0` get 500; ids with `hash % slow_modulo == 0` are answered after
//!   `slow_ms`. [`Receiver::set_down`]`(true)` closes the listener (connection refused) and drops
//!   every open connection (reset): a server that is really gone, not one answering 503.
//!   `set_down(false)` listens again on the same port.
//! - **HTTPS** uses the fixed test CA and server certificate in `notify/tests/fixtures/` (CN
//!   localhost, SAN localhost and 127.0.0.1, valid to 2126; the CA's private key was discarded):
//!   committed instead of generated so that no certificate generator is built into the binary.
//!   [`Receiver::ca_file`] gives the CA's path for `NotifyConfig::ca_file`.

use crate::notifier::lock;
use crate::{NotifyError, wall_ms};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;

/// The test CA (PEM): trust it through `ca_file`.
pub const TEST_CA_PEM: &str = include_str!("../tests/fixtures/ca.pem");
const TEST_SERVER_CERT_PEM: &str = include_str!("../tests/fixtures/server.pem");
const TEST_SERVER_KEY_PEM: &str = include_str!("../tests/fixtures/server.key");
const BODY_MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub https: bool,
    pub fail_first_attempts: u32,
    /// 0: no failures injected.
    pub fail_modulo: u64,
    pub slow_ms: u64,
    /// 0: no slow answers.
    pub slow_modulo: u64,
    pub worker_threads: usize,
    pub tolerance_secs: u64,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            https: false,
            fail_first_attempts: 0,
            fail_modulo: 0,
            slow_ms: 0,
            slow_modulo: 0,
            worker_threads: 2,
            tolerance_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    pub requests: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub bad_signatures: u64,
    pub failures_injected: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    bad_signatures: AtomicU64,
    failures_injected: AtomicU64,
}

struct State {
    config: ReceiverConfig,
    secrets: RwLock<HashMap<u32, Vec<Vec<u8>>>>,
    accepted: Mutex<HashSet<String>>,
    attempts: Mutex<HashMap<String, u32>>,
    counters: Counters,
}

type Connections = Arc<Mutex<HashMap<u64, AbortHandle>>>;

pub struct Receiver {
    runtime: tokio::runtime::Runtime,
    state: Arc<State>,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listener: Mutex<Option<AbortHandle>>,
    connections: Connections,
    ca_file: Option<PathBuf>,
}

/// FNV-1a (64 bits) of the id: the receiver's fault selection, reproducible by tests.
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Writes the test CA to a file of its own in the temporary directory; returns its path.
pub fn write_test_ca() -> Result<PathBuf, NotifyError> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "sluice-notify-test-ca-{}-{n}.pem",
        std::process::id()
    ));
    std::fs::write(&path, TEST_CA_PEM)
        .map_err(|e| NotifyError::Io(format!("{}: {e}", path.display())))?;
    Ok(path)
}

fn tls_acceptor() -> Result<tokio_rustls::TlsAcceptor, NotifyError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: String| NotifyError::Config(format!("test certificate: {e}"));
    let certs = CertificateDer::pem_slice_iter(TEST_SERVER_CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY_PEM.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(crate::http::ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, NotifyError> {
    // std sets SO_REUSEADDR on Unix, so the port can be taken again after `set_down(true)`; the
    // old listener is dropped asynchronously, hence a few tries.
    let mut last = None;
    for _ in 0..50 {
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => {
                listener
                    .set_nonblocking(true)
                    .map_err(|e| NotifyError::Io(format!("{addr}: {e}")))?;
                return Ok(listener);
            }
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(NotifyError::Io(format!(
        "bind {addr}: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

impl Receiver {
    pub fn start(config: ReceiverConfig) -> Result<Receiver, NotifyError> {
        let next = AtomicU64::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name_fn(move || {
                format!("sluice-receiver-{}", next.fetch_add(1, Ordering::Relaxed))
            })
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| NotifyError::Io(format!("receiver runtime: {e}")))?;
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| NotifyError::Io(e.to_string()))?;
        let (tls, ca_file) = if config.https {
            (Some(tls_acceptor()?), Some(write_test_ca()?))
        } else {
            (None, None)
        };
        let state = Arc::new(State {
            config,
            secrets: RwLock::new(HashMap::default()),
            accepted: Mutex::new(HashSet::default()),
            attempts: Mutex::new(HashMap::default()),
            counters: Counters::default(),
        });
        let receiver = Receiver {
            runtime,
            state,
            addr,
            tls,
            listener: Mutex::new(None),
            connections: Arc::new(Mutex::new(HashMap::default())),
            ca_file,
        };
        receiver.serve(listener)?;
        Ok(receiver)
    }

    fn serve(&self, listener: std::net::TcpListener) -> Result<(), NotifyError> {
        let _enter = self.runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| NotifyError::Io(e.to_string()))?;
        let task = self.runtime.spawn(accept_loop(
            listener,
            self.state.clone(),
            self.tls.clone(),
            self.connections.clone(),
        ));
        *lock(&self.listener) = Some(task.abort_handle());
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The merchant's URL on this receiver: `http(s)://127.0.0.1:<port>/m/<merchant_id>`.
    pub fn url(&self, merchant_id: u32) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/m/{merchant_id}", self.addr)
    }

    /// The CA to trust (HTTPS only).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The secrets this merchant verifies with (any one of them verifying is enough).
    pub fn set_secrets(&self, merchant_id: u32, secrets: Vec<Vec<u8>>) {
        self.state
            .secrets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(merchant_id, secrets);
    }

    /// Down: the listener closes (connection refused) and open connections are dropped. Up: the
    /// same port listens again.
    pub fn set_down(&self, down: bool) -> Result<(), NotifyError> {
        let mut listener = lock(&self.listener);
        match (down, listener.take()) {
            (true, Some(task)) => {
                task.abort();
                for (_, connection) in lock(&self.connections).drain() {
                    connection.abort();
                }
                Ok(())
            }
            (false, None) => {
                drop(listener);
                self.serve(bind(self.addr)?)
            }
            (_, task) => {
                *listener = task; // Already in the asked state.
                Ok(())
            }
        }
    }

    pub fn stats(&self) -> ReceiverStats {
        let c = &self.state.counters;
        ReceiverStats {
            requests: c.requests.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            bad_signatures: c.bad_signatures.load(Ordering::Relaxed),
            failures_injected: c.failures_injected.load(Ordering::Relaxed),
        }
    }

    /// The ids accepted so far (each once).
    pub fn accepted_ids(&self) -> Vec<String> {
        lock(&self.state.accepted).iter().cloned().collect()
    }

    /// Waits until at least `count` ids are accepted; `false` on timeout.
    pub fn wait_for(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.state.counters.accepted.load(Ordering::Relaxed) >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    connections: Connections,
) {
    let mut next_connection = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        next_connection += 1;
        let (id, state, tls, registry) = (
            next_connection,
            state.clone(),
            tls.clone(),
            connections.clone(),
        );
        let task = tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(TokioIo::new(stream), state).await;
                    }
                }
                None => serve_connection(TokioIo::new(stream), state).await,
            }
            lock(&registry).remove(&id);
        });
        lock(&connections).insert(id, task.abort_handle());
    }
}

async fn serve_connection<I>(io: I, state: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

fn respond(
    status: StatusCode,
    text: &'static str,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// The merchant from `/m/<id>`, else from the body's `merchant_id`.
fn merchant_of(path: &str, body: &[u8]) -> Option<u32> {
    if let Some(id) = path.strip_prefix("/m/") {
        return id.trim_end_matches('/').parse().ok();
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get("merchant_id")?
        .as_u64()
        .and_then(|m| u32::try_from(m).ok())
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let c = &state.counters;
    c.requests.fetch_add(1, Ordering::Relaxed);
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(id), Some(signature)) = (
        header(crate::http::ID_HEADER),
        header(crate::SIGNATURE_HEADER),
    ) else {
        return respond(StatusCode::BAD_REQUEST, "missing id or signature header");
    };
    let path = request.uri().path().to_string();
    let Ok(body) = Limited::new(request.into_body(), BODY_MAX_BYTES)
        .collect()
        .await
    else {
        return respond(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let body = body.to_bytes();
    if !verified(&state, merchant_of(&path, &body), &signature, &body) {
        c.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return respond(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let hash = id_hash(&id);
    let config = &state.config;
    if config.slow_modulo > 0 && hash.is_multiple_of(config.slow_modulo) {
        tokio::time::sleep(Duration::from_millis(config.slow_ms)).await;
    }
    if config.fail_modulo > 0 && hash.is_multiple_of(config.fail_modulo) {
        let mut attempts = lock(&state.attempts);
        let seen = attempts.entry(id.clone()).or_insert(0);
        *seen += 1;
        if *seen <= config.fail_first_attempts {
            c.failures_injected.fetch_add(1, Ordering::Relaxed);
            return respond(StatusCode::INTERNAL_SERVER_ERROR, "injected failure");
        }
    }
    if lock(&state.accepted).insert(id) {
        c.accepted.fetch_add(1, Ordering::Relaxed);
    } else {
        c.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    respond(StatusCode::OK, "ok")
}

fn verified(state: &State, merchant_id: Option<u32>, signature: &str, body: &[u8]) -> bool {
    let Some(merchant_id) = merchant_id else {
        return false;
    };
    let secrets = state.secrets.read().unwrap_or_else(|p| p.into_inner());
    let Some(secrets) = secrets.get(&merchant_id) else {
        return false;
    };
    let now_secs = wall_ms() / 1000;
    secrets.iter().any(|secret| {
        crate::verify(
            signature,
            body,
            secret,
            now_secs,
            state.config.tolerance_secs,
        )
        .is_ok()
    })
}
