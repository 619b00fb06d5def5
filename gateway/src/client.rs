//! A small blocking client of the Sluice protocol: connect, log in, send, receive. Used by the
//! end-to-end tests, the demo's admin calls, and `channel-sim`.

use sluice_protocol::*;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A client error.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    Frame(FrameError),
    Decode(DecodeError),
    /// The server closed the connection.
    Closed,
    /// Login refused.
    LoginRejected(ReasonCode, String),
    /// A reply of another kind than expected.
    Unexpected(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "i/o: {e}"),
            ClientError::Frame(e) => write!(f, "framing: {e}"),
            ClientError::Decode(e) => write!(f, "decode: {e}"),
            ClientError::Closed => write!(f, "connection closed by the server"),
            ClientError::LoginRejected(r, t) => write!(f, "login rejected: {r:?} {t}"),
            ClientError::Unexpected(m) => write!(f, "unexpected reply: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A connection to a Sluice server.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    pub session: Option<LoginAccepted>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: vec![0u8; 1 << 20],
            start: 0,
            end: 0,
            out: vec![0u8; MAX_FRAME_BYTES],
            session: None,
        })
    }

    /// Connects and logs in.
    pub fn login(
        addr: SocketAddr,
        role: Role,
        key_id: &str,
        secret: &str,
    ) -> Result<Client, ClientError> {
        Client::login_resuming(addr, role, key_id, secret, None)
    }

    /// Connects and logs in, resuming the recoverable flow after `last_out_seq` when it is given
    /// (PROTOCOL.md section 3, Resume): `session` holds the LoginAccepted, which says whether.
    pub fn login_resuming(
        addr: SocketAddr,
        role: Role,
        key_id: &str,
        secret: &str,
        last_out_seq: Option<u64>,
    ) -> Result<Client, ClientError> {
        let mut c = Client::connect(addr)?;
        c.send(&Login {
            role,
            key_id: Chars::new(key_id),
            secret: Chars::new(secret),
            resume: last_out_seq.is_some(),
            last_out_seq: last_out_seq.unwrap_or(0),
        })?;
        match c.recv(Duration::from_secs(10))? {
            Some(AnyMessage::LoginAccepted(a)) => {
                c.session = Some(a);
                Ok(c)
            }
            Some(AnyMessage::LoginRejected(r)) => {
                Err(ClientError::LoginRejected(r.reason, r.text.to_string()))
            }
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends one message.
    pub fn send<M: Message>(&mut self, msg: &M) -> io::Result<()> {
        let n = encode_frame(msg, &mut self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stream.write_all(&self.out[..n])
    }

    /// Sends raw bytes (for tests of malformed input).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Receives the next message, waiting at most `timeout`. `Ok(None)` on timeout.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<AnyMessage>, ClientError> {
        match self.recv_frame(timeout)? {
            Some(frame) => decode_any_frame(&frame)
                .map(Some)
                .map_err(ClientError::Decode),
            None => Ok(None),
        }
    }

    /// Receives the next whole frame's bytes, waiting at most `timeout`.
    pub fn recv_frame(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match frame_length(&self.buf[self.start..self.end], MAX_FRAME_BYTES) {
                Ok(Some(n)) => {
                    let frame = self.buf[self.start..self.start + n].to_vec();
                    self.start += n;
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Frame(e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.end += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
    }

    /// Receives until `pick` returns Some, skipping heartbeats and other messages; fails on timeout.
    pub fn recv_until<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&AnyMessage) -> Option<T>,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Unexpected(
                    "timed out waiting for the expected message".into(),
                ));
            }
            if let Some(m) = self.recv(left)?
                && let Some(t) = pick(&m)
            {
                return Ok(t);
            }
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
