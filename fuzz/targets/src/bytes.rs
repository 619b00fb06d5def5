//! Reads a fuzzer's bytes as a stream of small choices. Past the end every read is 0, so an input
//! cut short still decodes; the caller stops at the end of the input, between operations.

pub struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, at: 0 }
    }

    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.at >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// An index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.clamp(1, 256);
        usize::from(self.u8()) % n
    }

    /// One element of a non-empty table.
    pub fn pick<T: Copy>(&mut self, table: &[T]) -> T {
        assert!(!table.is_empty(), "pick from an empty table");
        table[self.below(table.len())]
    }

    /// The next `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.at = self.at.saturating_add(n);
        &self.data[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_as_zero() {
        let mut b = Bytes::new(&[1, 2, 3]);
        assert_eq!(b.u16(), 0x0201);
        assert!(!b.is_done());
        assert_eq!(b.u16(), 3);
        assert!(b.is_done());
        assert_eq!(b.u32(), 0);
        assert_eq!(b.take(4), &[] as &[u8]);
        assert_eq!(b.pick(&[7, 8]), 7);
    }
}
