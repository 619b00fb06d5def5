//! The HTTP/1.1 server: hyper on the console's own tokio runtime (the versions and features
//! sluice-notify already builds). Each request becomes a [`Req`]; a body over
//! [`BODY_MAX_BYTES`] is refused with 413; each reply carries headers that keep the pages out
//! of caches and frames and forbid scripts.

use super::routes::{App, Reply, Req};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body read (a login form is a few hundred bytes).
pub const BODY_MAX_BYTES: usize = 64 * 1024;
/// How long a client may take to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// No scripts, styles inline only, forms to this origin only, never framed.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(v) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, v);
    }
    if let Some(v) = reply
        .set_cookie
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

fn plain(status: u16, text: &str) -> Reply {
    Reply {
        status,
        location: None,
        set_cookie: None,
        body: super::html::esc(text),
    }
}

async fn serve(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, BODY_MAX_BYTES).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return Ok(to_response(plain(
                413,
                "request body too large or cut short",
            )));
        }
    };
    let cookie = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    let req = Req {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        cookie: (!cookie.is_empty()).then_some(cookie),
        body,
    };
    Ok(to_response(app.handle(req).await))
}

/// Accepts connections for as long as the runtime runs.
pub async fn accept_loop(listener: tokio::net::TcpListener, app: Arc<App>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |r| serve(app.clone(), r));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
