//! Connections and their buffers: a connection's socket, its preallocated read and write buffers,
//! its session and whether it is closing; reading until the socket would block, queueing frames
//! with a hard cap (a client that stops reading is disconnected, never waited for), writing what
//! the socket takes. The event loop (`server`) owns the slab of them.

use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use crate::session::Session;

/// Capacity each pooled write buffer starts with.
const WRITE_BUFFER_START_BYTES: usize = 256 * 1024;

/// The template id in a frame's SBE header (0 when the frame is too short to hold one): a load,
/// no checks, for the callers that only compare it (metrics by template, the admin audit line).
#[inline]
pub fn frame_template_id(frame: &[u8]) -> u16 {
    let at = sluice_protocol::SOFH_LEN + 2;
    frame
        .get(at..at + 2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
}

/// Why a connection is being closed.
#[derive(Debug, Clone)]
pub enum Closing {
    /// Flush what is queued, then close.
    AfterFlush(String),
    /// Close now (the peer is gone or misbehaving beyond a reply).
    Now(String),
}

impl Closing {
    pub fn why(&self) -> &str {
        match self {
            Closing::AfterFlush(why) | Closing::Now(why) => why,
        }
    }
}

pub struct Conn {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub read_buf: Box<[u8]>,
    pub read_len: usize,
    write_buf: Vec<u8>,
    write_pos: usize,
    pub session: Session,
    pub closing: Option<Closing>,
    /// Frames wait in `read_buf` because the ring was full.
    pub stalled: bool,
}

/// What a read pass ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The socket has nothing more for now.
    WouldBlock,
    /// The read buffer is full: handle frames, then read on.
    BufferFull,
    /// The peer closed or the read failed (`closing` is set).
    Closed,
}

/// What queueing a frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Queued; `first` when the buffer was empty (the connection now needs a flush).
    Yes { first: bool },
    /// The connection is closing: dropped.
    Closing,
    /// Over the cap: the client stopped reading; the connection is being closed.
    SlowConsumer,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        buffers: (Box<[u8]>, Vec<u8>),
        now: Instant,
    ) -> Conn {
        Conn {
            stream,
            peer,
            read_buf: buffers.0,
            read_len: 0,
            write_buf: buffers.1,
            write_pos: 0,
            session: Session::new(now),
            closing: None,
            stalled: false,
        }
    }

    /// Reads until the socket would block, the buffer is full, or the peer is gone.
    pub fn read_available(&mut self, now: Instant) -> ReadEnd {
        loop {
            if self.read_len == self.read_buf.len() {
                return ReadEnd::BufferFull;
            }
            match self.stream.read(&mut self.read_buf[self.read_len..]) {
                Ok(0) => {
                    self.closing = Some(Closing::Now("peer closed the connection".into()));
                    return ReadEnd::Closed;
                }
                Ok(n) => {
                    self.read_len += n;
                    self.session.handle_received(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadEnd::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.closing = Some(Closing::Now(format!("read: {e}")));
                    return ReadEnd::Closed;
                }
            }
        }
    }

    /// Drops the first `n` bytes of the read buffer (handled frames).
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.read_len, "consumed more than was read");
        self.read_buf.copy_within(n..self.read_len, 0);
        self.read_len -= n;
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.write_buf.len() - self.write_pos
    }

    /// Queues a frame, unless that would put more than `cap` bytes in the queue.
    pub fn queue(&mut self, frame: &[u8], cap: usize) -> Queued {
        if self.closing.is_some() {
            return Queued::Closing;
        }
        if self.unsent() + frame.len() > cap {
            self.closing = Some(Closing::Now("slow consumer: outbound buffer full".into()));
            return Queued::SlowConsumer;
        }
        if self.write_pos > 0 && self.write_buf.len() + frame.len() > self.write_buf.capacity() {
            // Reclaim the sent prefix before growing.
            self.write_buf.drain(..self.write_pos);
            self.write_pos = 0;
        }
        let first = self.unsent() == 0;
        self.write_buf.extend_from_slice(frame);
        Queued::Yes { first }
    }

    /// Writes as much as the socket takes.
    pub fn flush(&mut self, now: Instant) {
        while self.write_pos < self.write_buf.len() {
            match self.stream.write(&self.write_buf[self.write_pos..]) {
                Ok(0) => {
                    self.closing = Some(Closing::Now("write returned 0".into()));
                    return;
                }
                Ok(n) => {
                    self.write_pos += n;
                    self.session.handle_sent(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.closing = Some(Closing::Now(format!("write: {e}")));
                    return;
                }
            }
        }
        self.write_buf.clear();
        self.write_pos = 0;
    }

    /// Gives the buffers back for the pool.
    pub fn into_buffers(mut self) -> (Box<[u8]>, Vec<u8>) {
        self.write_buf.clear();
        (self.read_buf, self.write_buf)
    }
}

/// Read and write buffers for every connection there may be, allocated at start (pages are
/// touched on first use).
pub struct BufferPool {
    read: Vec<Box<[u8]>>,
    write: Vec<Vec<u8>>,
}

impl BufferPool {
    pub fn new(connections: usize, read_bytes: usize) -> BufferPool {
        BufferPool {
            read: (0..connections)
                .map(|_| vec![0u8; read_bytes].into_boxed_slice())
                .collect(),
            write: (0..connections)
                .map(|_| Vec::with_capacity(WRITE_BUFFER_START_BYTES))
                .collect(),
        }
    }

    /// A read and a write buffer, if the pool has them (it has one pair per allowed connection).
    pub fn take(&mut self) -> Option<(Box<[u8]>, Vec<u8>)> {
        match (self.read.pop(), self.write.pop()) {
            (Some(r), Some(w)) => Some((r, w)),
            (r, w) => {
                self.read.extend(r);
                self.write.extend(w);
                None
            }
        }
    }

    pub fn give_back(&mut self, (read, write): (Box<[u8]>, Vec<u8>)) {
        self.read.push(read);
        self.write.push(write);
    }
}
