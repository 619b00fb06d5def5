//! Field-level codec: the primitive wire types, the traits that messages and group entries are
//! built from, and the decoding errors.
//!
//! Every read checks its bounds before it touches a byte, so decoding arbitrary bytes returns an
//! error instead of panicking, and nothing here allocates.

use arrayvec::{ArrayString, ArrayVec};
use rust_decimal::Decimal;
use std::fmt;

/// Why bytes could not be decoded into a message. Every variant names what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    Truncated { needed: usize, available: usize },
    /// The root block is shorter than this version's fields (fields are never removed).
    BlockLengthTooShort {
        template_id: u16,
        block_length: u16,
        expected: u16,
    },
    /// An enum field holds a value this schema does not define.
    BadEnum { field: &'static str, value: u64 },
    /// A decimal with a scale above 28.
    BadDecimal { field: &'static str, scale: u8 },
    /// A repeating group with more entries than the schema allows.
    GroupTooLarge {
        group: &'static str,
        count: u16,
        max: u16,
    },
    /// A repeating group whose entries are shorter than this version's entry fields.
    GroupBlockTooShort {
        group: &'static str,
        block_length: u16,
        expected: u16,
    },
    /// A variable-length text longer than the schema allows.
    TextTooLong {
        field: &'static str,
        len: u16,
        max: u16,
    },
    /// A variable-length text that is not UTF-8.
    TextNotUtf8 { field: &'static str },
    /// The SBE header names a schema other than Sluice's.
    WrongSchema { schema_id: u16 },
    /// The SBE header names a schema version older than 1 (0 is not a version).
    BadVersion { version: u16 },
    /// The template id is not defined by this schema (or not accepted in this direction).
    UnknownTemplate { template_id: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated { needed, available } => {
                write!(f, "truncated: needed {needed} bytes, {available} available")
            }
            DecodeError::BlockLengthTooShort {
                template_id,
                block_length,
                expected,
            } => write!(
                f,
                "template {template_id}: block length {block_length} is shorter than {expected}"
            ),
            DecodeError::BadEnum { field, value } => {
                write!(f, "field {field}: value {value} is not defined")
            }
            DecodeError::BadDecimal { field, scale } => {
                write!(f, "field {field}: decimal scale {scale} is above 28")
            }
            DecodeError::GroupTooLarge { group, count, max } => {
                write!(f, "group {group}: {count} entries, at most {max} allowed")
            }
            DecodeError::GroupBlockTooShort {
                group,
                block_length,
                expected,
            } => write!(
                f,
                "group {group}: entry block length {block_length} is shorter than {expected}"
            ),
            DecodeError::TextTooLong { field, len, max } => {
                write!(f, "text {field}: {len} bytes, at most {max} allowed")
            }
            DecodeError::TextNotUtf8 { field } => write!(f, "text {field}: not UTF-8"),
            DecodeError::WrongSchema { schema_id } => {
                write!(f, "schema id {schema_id:#06x} is not Sluice's")
            }
            DecodeError::BadVersion { version } => write!(f, "schema version {version} is invalid"),
            DecodeError::UnknownTemplate { template_id } => {
                write!(f, "template id {template_id} is unknown")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A fixed-size field of a root block or group entry.
pub trait Field: Sized + fmt::Debug {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Reads the field from the start of `buf`. The caller guarantees `buf.len() >= SIZE`.
    fn read(buf: &[u8], field: &'static str) -> Result<Self, DecodeError>;
    /// Writes the field at the start of `buf`. The caller guarantees `buf.len() >= SIZE`.
    fn write(&self, buf: &mut [u8]);
    /// The type as the protocol document names it.
    fn type_name() -> String;
    /// Reads a value from text as an operator writes it: a number, true/false, an enum variant's
    /// name, a decimal, an IP address, characters (`sluice admin set`).
    fn parse(text: &str) -> Result<Self, String>;
    /// Parses `text` and writes it at the start of `buf` (the caller guarantees `buf.len() >= SIZE`).
    fn write_parsed(text: &str, buf: &mut [u8]) -> Result<(), String> {
        Self::parse(text)?.write(buf);
        Ok(())
    }
    /// The value at the start of `buf` as the document shows it (for annotated hex dumps).
    fn render(buf: &[u8]) -> String {
        if buf.len() < Self::SIZE {
            return "(truncated)".to_string();
        }
        match Self::read(buf, "") {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("({e})"),
        }
    }
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn read(buf: &[u8], _field: &'static str) -> Result<Self, DecodeError> {
                let mut bytes = [0u8; std::mem::size_of::<$t>()];
                bytes.copy_from_slice(&buf[..Self::SIZE]);
                Ok(<$t>::from_le_bytes(bytes))
            }
            #[inline]
            fn write(&self, buf: &mut [u8]) {
                buf[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            fn type_name() -> String {
                stringify!($t).to_string()
            }
            fn parse(text: &str) -> Result<Self, String> {
                let t = text.trim().replace('_', "");
                t.parse().map_err(|_| format!("{text:?} is not a {}", stringify!($t)))
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64, i32, i64);

impl Field for bool {
    const SIZE: usize = 1;
    #[inline]
    fn read(buf: &[u8], field: &'static str) -> Result<Self, DecodeError> {
        match buf[0] {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadEnum {
                field,
                value: u64::from(value),
            }),
        }
    }
    #[inline]
    fn write(&self, buf: &mut [u8]) {
        buf[0] = u8::from(*self);
    }
    fn type_name() -> String {
        "bool (u8 0/1)".to_string()
    }
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        }
    }
}

/// A fixed-length, NUL-padded ASCII/UTF-8 field (`char[N]` in the document).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chars<const N: usize>(pub [u8; N]);

impl<const N: usize> Default for Chars<N> {
    fn default() -> Self {
        Chars([0; N])
    }
}

impl<const N: usize> Chars<N> {
    /// Copies `text` into the field, cut at N bytes (on a character boundary).
    pub fn new(text: &str) -> Self {
        let mut out = [0u8; N];
        let mut end = text.len().min(N);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out[..end].copy_from_slice(&text.as_bytes()[..end]);
        Chars(out)
    }

    /// The bytes up to the first NUL.
    pub fn trimmed(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        &self.0[..end]
    }

    /// The text up to the first NUL; invalid UTF-8 is shown as `?`.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.trimmed())
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

impl<const N: usize> fmt::Debug for Chars<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> Field for Chars<N> {
    const SIZE: usize = N;
    #[inline]
    fn read(buf: &[u8], _field: &'static str) -> Result<Self, DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(&buf[..N]);
        Ok(Chars(out))
    }
    #[inline]
    fn write(&self, buf: &mut [u8]) {
        buf[..N].copy_from_slice(&self.0);
    }
    fn type_name() -> String {
        format!("char[{N}]")
    }
    fn parse(text: &str) -> Result<Self, String> {
        if text.len() > N {
            return Err(format!("{text:?} is longer than {N} bytes"));
        }
        Ok(Chars::new(text))
    }
}

/// An IP address: a version byte (0 = none, 4, 6) and 16 address bytes (IPv4 in the first 4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ip {
    pub version: u8,
    pub octets: [u8; 16],
}

impl Ip {
    pub fn v4(a: [u8; 4]) -> Self {
        let mut octets = [0u8; 16];
        octets[..4].copy_from_slice(&a);
        Ip { version: 4, octets }
    }

    pub fn v6(octets: [u8; 16]) -> Self {
        Ip { version: 6, octets }
    }

    pub fn to_std(&self) -> Option<std::net::IpAddr> {
        match self.version {
            4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(&self.octets[..4]);
                Some(std::net::IpAddr::from(a))
            }
            6 => Some(std::net::IpAddr::from(self.octets)),
            _ => None,
        }
    }

    pub fn from_std(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(v4) => Ip::v4(v4.octets()),
            std::net::IpAddr::V6(v6) => Ip::v6(v6.octets()),
        }
    }
}

impl fmt::Debug for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_std() {
            Some(ip) => write!(f, "{ip}"),
            None if self.octets == [0; 16] => write!(f, "none"),
            None => write!(f, "none ({:02x?})", self.octets),
        }
    }
}

impl Field for Ip {
    const SIZE: usize = 17;
    #[inline]
    fn read(buf: &[u8], field: &'static str) -> Result<Self, DecodeError> {
        let version = buf[0];
        if !matches!(version, 0 | 4 | 6) {
            return Err(DecodeError::BadEnum {
                field,
                value: u64::from(version),
            });
        }
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&buf[1..17]);
        Ok(Ip { version, octets })
    }
    #[inline]
    fn write(&self, buf: &mut [u8]) {
        buf[0] = self.version;
        buf[1..17].copy_from_slice(&self.octets);
    }
    fn type_name() -> String {
        "ip (u8 version 0/4/6, u8[16] address)".to_string()
    }
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "none" => Ok(Ip::default()),
            t => t
                .parse::<std::net::IpAddr>()
                .map(Ip::from_std)
                .map_err(|_| format!("{text:?} is not an IP address")),
        }
    }
}

/// A decimal rate on the wire: i64 mantissa then u8 scale (value = mantissa / 10^scale).
impl Field for Decimal {
    const SIZE: usize = 9;
    #[inline]
    fn read(buf: &[u8], field: &'static str) -> Result<Self, DecodeError> {
        let mantissa = i64::read(buf, field)?;
        let scale = buf[8];
        if scale > 28 {
            return Err(DecodeError::BadDecimal { field, scale });
        }
        Ok(Decimal::new(mantissa, u32::from(scale)))
    }
    #[inline]
    fn write(&self, buf: &mut [u8]) {
        let (mantissa, scale) = decimal_to_wire(*self);
        mantissa.write(buf);
        buf[8] = scale;
    }
    fn type_name() -> String {
        "decimal (i64 mantissa, u8 scale)".to_string()
    }
    fn parse(text: &str) -> Result<Self, String> {
        use std::str::FromStr;
        Decimal::from_str(text.trim()).map_err(|_| format!("{text:?} is not a decimal"))
    }
}

/// The (mantissa, scale) pair that encodes `value`; a value whose mantissa does not fit an i64 is
/// rounded (half to even) to fewer decimal places until it does. Rates in Sluice are in [0, 1] with at
/// most 18 places, so this never rounds in practice.
pub fn decimal_to_wire(value: Decimal) -> (i64, u8) {
    let mut value = value.normalize();
    loop {
        let mantissa = value.mantissa();
        if let Ok(m) = i64::try_from(mantissa) {
            // Scale is at most 28 by Decimal's own invariant, so it fits a u8.
            return (m, value.scale() as u8);
        }
        if value.scale() == 0 {
            // An integer beyond i64: saturate. Never a rate; kept total rather than panicking.
            return (if mantissa < 0 { i64::MIN } else { i64::MAX }, 0);
        }
        value = value.round_dp(value.scale() - 1);
    }
}

/// An entry of a repeating group (a fixed block of fields).
pub trait Block: Sized + Copy + Default {
    const SIZE: usize;
    const NAME: &'static str;
    fn read(buf: &[u8]) -> Result<Self, DecodeError>;
    fn write(&self, buf: &mut [u8]);
    fn fields() -> Vec<FieldDoc>;
}

/// Bytes of a repeating group's dimension header: u16 block_length, u16 count.
pub const GROUP_HEADER_LEN: usize = 4;
/// Bytes of a variable-length text's header: u16 length.
pub const TEXT_HEADER_LEN: usize = 2;

/// Writes a repeating group (header and entries) at the start of `buf`; returns bytes written.
#[inline]
pub fn write_group<T: Block, const N: usize>(group: &ArrayVec<T, N>, buf: &mut [u8]) -> usize {
    (T::SIZE as u16).write(buf);
    (group.len() as u16).write(&mut buf[2..]);
    let mut at = GROUP_HEADER_LEN;
    for entry in group {
        entry.write(&mut buf[at..]);
        at += T::SIZE;
    }
    at
}

/// Reads a repeating group from the start of `buf`; returns the group and the bytes consumed.
/// Entries longer than this version's block are read for their known prefix (append-only schema).
#[inline]
pub fn read_group<T: Block, const N: usize>(
    buf: &[u8],
    group: &'static str,
) -> Result<(ArrayVec<T, N>, usize), DecodeError> {
    need(buf, GROUP_HEADER_LEN)?;
    let block_length = u16::read(buf, group)?;
    let count = u16::read(&buf[2..], group)?;
    if usize::from(block_length) < T::SIZE {
        return Err(DecodeError::GroupBlockTooShort {
            group,
            block_length,
            expected: T::SIZE as u16,
        });
    }
    if usize::from(count) > N {
        return Err(DecodeError::GroupTooLarge {
            group,
            count,
            max: N as u16,
        });
    }
    let total = GROUP_HEADER_LEN + usize::from(count) * usize::from(block_length);
    need(buf, total)?;
    let mut out = ArrayVec::new();
    let mut at = GROUP_HEADER_LEN;
    for _ in 0..count {
        out.push(T::read(&buf[at..])?);
        at += usize::from(block_length);
    }
    Ok((out, total))
}

/// Variable-length UTF-8 text with at most N bytes: u16 length, then the bytes.
pub type Text<const N: usize> = ArrayString<N>;

/// Writes `text` at the start of `buf`; returns bytes written.
#[inline]
pub fn write_text<const N: usize>(text: &Text<N>, buf: &mut [u8]) -> usize {
    (text.len() as u16).write(buf);
    buf[TEXT_HEADER_LEN..TEXT_HEADER_LEN + text.len()].copy_from_slice(text.as_bytes());
    TEXT_HEADER_LEN + text.len()
}

/// Reads a text from the start of `buf`; returns it and the bytes consumed.
#[inline]
pub fn read_text<const N: usize>(
    buf: &[u8],
    field: &'static str,
) -> Result<(Text<N>, usize), DecodeError> {
    need(buf, TEXT_HEADER_LEN)?;
    let len = u16::read(buf, field)?;
    if usize::from(len) > N {
        return Err(DecodeError::TextTooLong {
            field,
            len,
            max: N as u16,
        });
    }
    let total = TEXT_HEADER_LEN + usize::from(len);
    need(buf, total)?;
    let text = std::str::from_utf8(&buf[TEXT_HEADER_LEN..total])
        .map_err(|_| DecodeError::TextNotUtf8 { field })?;
    let mut out = Text::<N>::new();
    // Cannot fail: the length was checked against N above.
    let _ = out.try_push_str(text);
    Ok((out, total))
}

/// Builds a text from `s`, cut at N bytes on a character boundary.
pub fn text<const N: usize>(s: &str) -> Text<N> {
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Text::<N>::new();
    let _ = out.try_push_str(&s[..end]);
    out
}

/// Returns `Truncated` unless `buf` holds at least `needed` bytes.
#[inline]
pub fn need(buf: &[u8], needed: usize) -> Result<(), DecodeError> {
    if buf.len() < needed {
        Err(DecodeError::Truncated {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// One field's documentation: what the protocol document's tables are generated from.
#[derive(Debug, Clone)]
pub struct FieldDoc {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    pub type_name: String,
    pub doc: String,
    /// Renders the field's value from its bytes.
    pub render: fn(&[u8]) -> String,
    /// Parses a value from text and writes its bytes.
    pub parse: fn(&str, &mut [u8]) -> Result<(), String>,
}

/// Joins `#[doc]` lines into one sentence-like string.
pub fn join_doc(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A deterministic source of pseudo-random values for building sample messages in property tests
/// and fuzzing (driven by bytes the test framework supplies).
pub struct Entropy<'a> {
    bytes: &'a [u8],
    at: usize,
    state: u64,
}

impl<'a> Entropy<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Entropy {
            bytes,
            at: 0,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next 64 pseudo-random bits: input bytes first, then a SplitMix64 stream (`rng::mix`).
    pub fn next_u64(&mut self) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            let b = if self.at < self.bytes.len() {
                self.bytes[self.at]
            } else {
                0
            };
            self.at += 1;
            v = (v << 8) | u64::from(b);
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15) ^ v;
        crate::rng::mix(self.state)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Builds a value of a wire type from entropy (used to generate sample messages in tests).
pub trait Sample: Sized {
    fn sample(e: &mut Entropy<'_>) -> Self;
}

macro_rules! int_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            fn sample(e: &mut Entropy<'_>) -> Self {
                e.next_u64() as $t
            }
        }
    )*};
}
int_sample!(u8, u16, u32, u64, i32, i64);

impl Sample for bool {
    fn sample(e: &mut Entropy<'_>) -> Self {
        e.next_u64() & 1 == 1
    }
}

impl<const N: usize> Sample for Chars<N> {
    fn sample(e: &mut Entropy<'_>) -> Self {
        let mut out = [0u8; N];
        let len = e.below(N as u64 + 1) as usize;
        for b in out.iter_mut().take(len) {
            *b = b'a' + e.below(26) as u8;
        }
        Chars(out)
    }
}

impl Sample for Ip {
    fn sample(e: &mut Entropy<'_>) -> Self {
        let mut octets = [0u8; 16];
        for b in octets.iter_mut() {
            *b = e.next_u64() as u8;
        }
        let version = [0u8, 4, 6][e.below(3) as usize];
        Ip { version, octets }
    }
}

impl Sample for Decimal {
    fn sample(e: &mut Entropy<'_>) -> Self {
        // Values as rates take them: a mantissa and a scale that round-trip exactly.
        let mantissa = (e.next_u64() % 1_000_000_000) as i64;
        let scale = e.below(10) as u32;
        Decimal::new(mantissa, scale).normalize()
    }
}

/// Samples a group of up to N entries.
pub fn sample_group<T: Block + Sample, const N: usize>(e: &mut Entropy<'_>) -> ArrayVec<T, N> {
    let len = e.below(N as u64 + 1) as usize;
    let mut out = ArrayVec::new();
    for _ in 0..len {
        out.push(T::sample(e));
    }
    out
}

/// Samples a text of up to N ASCII bytes.
pub fn sample_text<const N: usize>(e: &mut Entropy<'_>) -> Text<N> {
    let len = e.below(N as u64 + 1) as usize;
    let mut out = Text::<N>::new();
    for _ in 0..len {
        out.push((b' ' + e.below(95) as u8) as char);
    }
    out
}
