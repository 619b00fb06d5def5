//! The metrics endpoint: a thread of its own with a minimal HTTP/1.1 responder. `GET /metrics`
//! gets the text; any other path 404, another method 405, a malformed head 400, a head over
//! `MAX_HEAD_BYTES` 431, a head not complete within the read timeout 408. One response per
//! connection (`Connection: close`), one connection at a time: a scrape is a few kilobytes every
//! few seconds, and whatever a client does, the live path never waits for this thread.
//!
//! The listener waits in a mio poll beside a waker, so that dropping the `Endpoint` stops the
//! thread at once; an accepted connection is served with blocking reads and writes under a
//! deadline.

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{error, warn};

/// The Prometheus text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The longest request head read (request line and headers); longer is refused with 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head (and to read the response).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// What the responder answers to a complete request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Metrics,
    Refuse(Status),
}

/// A refusal: its status code and reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Status(u16, &'static str);

const BAD_REQUEST: Status = Status(400, "Bad Request");
const NOT_FOUND: Status = Status(404, "Not Found");
const METHOD_NOT_ALLOWED: Status = Status(405, "Method Not Allowed");
const REQUEST_TIMEOUT: Status = Status(408, "Request Timeout");
const HEAD_TOO_LARGE: Status = Status(431, "Request Header Fields Too Large");

/// Where the head ends in what was read so far: the index past its blank line.
fn head_end(read: &[u8]) -> Option<usize> {
    read.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| read.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// The answer to a complete head: only its request line matters (`GET /metrics HTTP/1.x`).
fn answer(head: &[u8]) -> Answer {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Answer::Refuse(BAD_REQUEST);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Answer::Refuse(BAD_REQUEST);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Answer::Refuse(BAD_REQUEST);
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/metrics" {
        return Answer::Refuse(NOT_FOUND);
    }
    if method != "GET" {
        return Answer::Refuse(METHOD_NOT_ALLOWED);
    }
    Answer::Metrics
}

/// How reading a request head ended.
#[derive(Debug, PartialEq, Eq)]
enum HeadRead {
    Complete(usize),
    TooLong,
    TimedOut,
    /// The client closed or the read failed: nobody to answer.
    Gone,
}

/// Reads until the head is complete, `MAX_HEAD_BYTES` are read, or the deadline passes.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut [u8; MAX_HEAD_BYTES],
    timeout: Duration,
) -> HeadRead {
    let deadline = Instant::now() + timeout;
    let mut len = 0;
    loop {
        if let Some(end) = head_end(&buf[..len]) {
            return HeadRead::Complete(end);
        }
        if len == buf.len() {
            return HeadRead::TooLong;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return HeadRead::TimedOut;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return HeadRead::Gone,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return HeadRead::TimedOut;
            }
            Err(_) => return HeadRead::Gone,
        }
    }
}

/// Writes one response and closes the writing side.
fn respond(stream: &mut TcpStream, status: Status, content_type: &str, body: &[u8]) {
    let Status(code, reason) = status;
    let allow = if status == METHOD_NOT_ALLOWED {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    // A client gone before its answer is no concern of the server's.
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Read what the client still sends (a refused head's rest) until it closes, a little while at
    // most: closing with unread bytes would reset the connection and could lose the response.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// Serves one connection: one request, one response.
fn serve(mut stream: TcpStream, timeout: Duration, render: &mut dyn FnMut() -> String) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(timeout));
    let mut buf = [0u8; MAX_HEAD_BYTES];
    let answer = match read_head(&mut stream, &mut buf, timeout) {
        HeadRead::Complete(end) => answer(&buf[..end]),
        HeadRead::TooLong => Answer::Refuse(HEAD_TOO_LARGE),
        HeadRead::TimedOut => Answer::Refuse(REQUEST_TIMEOUT),
        HeadRead::Gone => return,
    };
    match answer {
        Answer::Metrics => respond(
            &mut stream,
            Status(200, "OK"),
            CONTENT_TYPE,
            render().as_bytes(),
        ),
        Answer::Refuse(status) => {
            let body = format!("{} {}\n", status.0, status.1);
            respond(
                &mut stream,
                status,
                "text/plain; charset=utf-8",
                body.as_bytes(),
            );
        }
    }
}

/// The running endpoint: its address and its thread, stopped when dropped.
pub struct Endpoint {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Binds `listen` and serves `render()`'s text at `GET /metrics` on a thread of its own.
    pub fn start(
        listen: SocketAddr,
        read_timeout: Duration,
        mut render: Box<dyn FnMut() -> String + Send>,
    ) -> io::Result<Endpoint> {
        let mut listener = TcpListener::bind(listen)?;
        let local_addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-metrics".into())
            .spawn(move || run(poll, listener, &flag, read_timeout, &mut *render))?;
        Ok(Endpoint {
            local_addr,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    mut poll: Poll,
    listener: TcpListener,
    stop: &AtomicBool,
    timeout: Duration,
    render: &mut dyn FnMut() -> String,
) {
    let mut events = Events::with_capacity(8);
    while !stop.load(Ordering::Acquire) {
        if let Err(e) = poll.poll(&mut events, None)
            && e.kind() != io::ErrorKind::Interrupted
        {
            error!("metrics endpoint stopped: {e}");
            return;
        }
        // Accept until the backlog is empty (edge-triggered readiness).
        while !stop.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((stream, _)) => serve(stream.into(), timeout, render),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    warn!("metrics endpoint: accept: {e}");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_answered_with_the_text() {
        assert_eq!(
            answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Answer::Metrics
        );
        assert_eq!(
            answer(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Answer::Metrics
        );
        assert_eq!(answer(b"GET /metrics HTTP/1.1\n\n"), Answer::Metrics);
        assert_eq!(answer(b"GET / HTTP/1.1\r\n\r\n"), Answer::Refuse(NOT_FOUND));
        assert_eq!(
            answer(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Answer::Refuse(NOT_FOUND)
        );
        assert_eq!(
            answer(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Answer::Refuse(METHOD_NOT_ALLOWED)
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"G3T /metrics HTTP/1.1\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(answer(bad), Answer::Refuse(BAD_REQUEST), "{bad:?}");
        }
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
    }

    /// Sends `request` to the endpoint and returns the whole response (the server closes).
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // The server may answer (and close) before it has read everything sent.
        let _ = s.write_all(request);
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    }

    #[test]
    fn the_responder_answers_each_connection_once_and_refuses_what_it_does_not_serve() {
        let mut scrapes = 0;
        let render = Box::new(move || {
            scrapes += 1;
            format!("# TYPE x counter\nx_total {scrapes}\n")
        });
        let timeout = Duration::from_millis(300);
        let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), timeout, render).unwrap();
        let addr = endpoint.local_addr();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
            "{ok}"
        );
        assert!(ok.contains("Connection: close\r\n"), "{ok}");
        assert!(
            ok.ends_with("\r\n\r\n# TYPE x counter\nx_total 1\n"),
            "{ok}"
        );
        let again = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
        assert!(
            again.ends_with("x_total 2\n"),
            "a fresh render per scrape: {again}"
        );
        let cases: [(&[u8], &str); 4] = [
            (b"HELLO\r\n\r\n", "400 Bad Request"),
            (b"GET /other HTTP/1.1\r\n\r\n", "404 Not Found"),
            (
                b"DELETE /metrics HTTP/1.1\r\n\r\n",
                "405 Method Not Allowed",
            ),
            (b"GET /metrics HTTP/1.1\r\nHost:", "408 Request Timeout"),
        ];
        for (request, status) in cases {
            let response = exchange(addr, request);
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{response}"
            );
            assert!(response.contains("Connection: close\r\n"), "{response}");
        }
        let mut long = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
        long.resize(MAX_HEAD_BYTES + 100, b'a');
        let response = exchange(addr, &long);
        assert!(
            response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{response}"
        );
        // After all that it still serves, and the refusals did not render.
        let last = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(last.ends_with("x_total 3\n"), "{last}");
        let started = Instant::now();
        drop(endpoint);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "dropping stops the thread at once"
        );
    }
}
