//! The HTTP side of an attempt: one hyper client (keep-alive pool, rustls with ring) and one
//! POST. Everything that is not a 2xx within the timeout is a failed attempt with a reason.

use crate::{Notification, NotifyConfig, NotifyError, SIGNATURE_HEADER};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) const USER_AGENT: &str = concat!("sluice-notify/", env!("CARGO_PKG_VERSION"));
pub(crate) const ID_HEADER: &str = "Sluice-Notification-Id";
/// A merchant's answer body is read (so the connection can be reused) up to this, then dropped.
const RESPONSE_BODY_MAX_BYTES: usize = 64 << 10;
/// An idle keep-alive connection is closed after this (merchants' servers close theirs too).
const POOL_IDLE_TIMEOUT_MS: u64 = 30_000;

/// The TLS configuration: the public web roots compiled in (webpki-roots: the same in every
/// container, no dependence on the host's store) plus the configured CA file.
pub(crate) fn tls_config(config: &NotifyConfig) -> Result<rustls::ClientConfig, NotifyError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &config.ca_file {
        let bad = |e: String| NotifyError::Config(format!("ca_file {}: {e}", path.display()));
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?;
        let mut added = 0;
        for cert in certs {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in the file".into()));
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The ring provider. rustls deprecates it for lacking post-quantum key exchange, which only the
/// aws-lc-rs provider has; aws-lc-rs needs cmake and a C build, which this project's CI refuses.
#[allow(deprecated)]
pub(crate) fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn client(config: &NotifyConfig) -> Result<HttpClient, NotifyError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(config)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(config.per_host_connections as usize)
        .pool_idle_timeout(Duration::from_millis(POOL_IDLE_TIMEOUT_MS))
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https))
}

/// The pool key for the per-host bound: scheme and authority.
pub(crate) fn host_key(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    format!("{scheme}://{authority}")
}

/// POSTs the notification; `Ok` only for a 2xx within `timeout_ms` (the whole exchange).
pub(crate) async fn post(
    client: &HttpClient,
    uri: Uri,
    note: &Notification,
    signature: String,
    timeout_ms: u64,
) -> Result<(), String> {
    let request = Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, USER_AGENT)
        .header(SIGNATURE_HEADER, signature)
        .header(ID_HEADER, note.id.as_str())
        .body(Full::new(Bytes::copy_from_slice(&note.body)))
        .map_err(|e| format!("request: {e}"))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| chain(&e))?;
        let status = response.status();
        // Read the answer so the connection goes back to the pool; its content is not used.
        let body = Limited::new(response.into_body(), RESPONSE_BODY_MAX_BYTES);
        body.collect()
            .await
            .map_err(|e| format!("HTTP {status}, body: {e}"))?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    };
    match tokio::time::timeout(Duration::from_millis(timeout_ms), exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("timeout after {timeout_ms} ms")),
    }
}

/// An error with its causes ("client error (Connect): tcp connect error: Connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // A bound: causes are a handful deep.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
