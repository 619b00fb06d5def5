//! The load driver's connections: pipelined writes, framed reads, and a timerfd for
//! sub-millisecond pacing in the same epoll set.

use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use sluice_protocol::*;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// One acquirer connection of the load driver.
pub(super) struct Conn {
    pub stream: TcpStream,
    pub read: Vec<u8>,
    pub read_start: usize,
    pub read_end: usize,
    pub write: Vec<u8>,
    pub write_pos: usize,
    /// Index of the identity it logged in as.
    pub identity: usize,
    pub logged_in: bool,
    /// Requests sent and not yet final.
    pub in_flight: usize,
    pub closed: bool,
    pub last_send: Instant,
}

impl Conn {
    /// Connects to `addr` and registers with `poll` under `token`.
    pub(super) fn connect(
        addr: SocketAddr,
        poll: &Poll,
        token: Token,
        identity: usize,
    ) -> io::Result<Conn> {
        let std_stream = std::net::TcpStream::connect(addr)?;
        std_stream.set_nodelay(true)?;
        std_stream.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std_stream);
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Conn {
            stream,
            read: vec![0u8; 1 << 20],
            read_start: 0,
            read_end: 0,
            write: Vec::with_capacity(1 << 20),
            write_pos: 0,
            identity,
            logged_in: false,
            in_flight: 0,
            closed: false,
            last_send: Instant::now(),
        })
    }
}

pub(super) fn push<M: Message>(c: &mut Conn, msg: &M, scratch: &mut [u8]) {
    if let Ok(n) = encode_frame(msg, scratch) {
        if c.write_pos > 0 && c.write_pos == c.write.len() {
            c.write.clear();
            c.write_pos = 0;
        }
        c.write.extend_from_slice(&scratch[..n]);
        c.last_send = Instant::now();
    }
}

pub(super) fn flush(c: &mut Conn) {
    while c.write_pos < c.write.len() && !c.closed {
        match c.stream.write(&c.write[c.write_pos..]) {
            Ok(0) => {
                c.closed = true;
            }
            Ok(n) => c.write_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.closed = true,
        }
    }
    if c.write_pos == c.write.len() {
        c.write.clear();
        c.write_pos = 0;
    } else if c.write_pos > (1 << 20) {
        c.write.drain(..c.write_pos);
        c.write_pos = 0;
    }
}

/// Reads what the socket has and hands each whole frame to `f`; returns whether `f` said true.
pub(super) fn read_frames(
    c: &mut Conn,
    mut f: impl FnMut(&[u8]) -> Result<bool, String>,
) -> Result<bool, String> {
    let mut any = false;
    loop {
        if c.read_start > 0 && c.read_end == c.read.len() {
            c.read.copy_within(c.read_start..c.read_end, 0);
            c.read_end -= c.read_start;
            c.read_start = 0;
        }
        let mut got = false;
        match c.stream.read(&mut c.read[c.read_end..]) {
            Ok(0) => return Err("closed by the server".into()),
            Ok(n) => {
                c.read_end += n;
                got = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        loop {
            match frame_length(&c.read[c.read_start..c.read_end], MAX_FRAME_BYTES) {
                Ok(Some(n)) => {
                    let frame = &c.read[c.read_start..c.read_start + n];
                    any |= f(frame)?;
                    c.read_start += n;
                }
                Ok(None) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        if c.read_start == c.read_end {
            c.read_start = 0;
            c.read_end = 0;
        }
        if !got {
            return Ok(any);
        }
    }
}

/// Shortest sleep between batches of sends, ns. Waking for every request (every 20 µs at 50k/s)
/// costs the load generator more CPU than the server can spare on a 2-core machine.
pub(super) const PACING_NS: u64 = 200_000;

/// A one-shot timerfd in the load generator's epoll set, for sub-millisecond pacing.
pub(super) struct Timer {
    fd: std::os::fd::OwnedFd,
}

/// Token of the timer in the poll (connections use their index).
const TIMER: Token = Token(usize::MAX - 1);

#[allow(unsafe_code)] // timerfd has no safe wrapper in the dependencies; each block says why it holds.
impl Timer {
    pub(super) fn new(poll: &Poll) -> io::Result<Timer> {
        use std::os::fd::{AsRawFd, FromRawFd};
        // SAFETY: timerfd_create takes no pointers; a negative return is an error and is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a file descriptor we just created and own exclusively.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        poll.registry().register(
            &mut mio::unix::SourceFd(&fd.as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )?;
        Ok(Timer { fd })
    }

    /// Fires once, `after_ns` from now.
    pub(super) fn arm(&mut self, after_ns: u64) {
        use std::os::fd::AsRawFd;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (after_ns / 1_000_000_000) as libc::time_t,
                tv_nsec: (after_ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec on the stack; a null old-value pointer is allowed.
        unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut());
        }
    }

    /// Reads the expiration count so the edge-triggered registration fires again.
    pub(super) fn clear(&mut self) {
        use std::os::fd::AsRawFd;
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into an 8-byte buffer we own; errors (EAGAIN) are ignored.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
    }
}
