//! Memory advice for the large preallocated tables: the engine's only unsafe code (a madvise and
//! a prefetch hint), allowed here and denied everywhere else in the crate.
#![allow(unsafe_code)]

/// Asks the kernel to back a large table with transparent huge pages (Linux `MADV_HUGEPAGE`), so
/// first touches of a table reserved at start fault 2 MiB at a time instead of 4 KiB. Advice only:
/// contents and semantics are unchanged, and failure is ignored.
pub(crate) fn advise_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + v.capacity() * std::mem::size_of::<T>();
        let aligned = (start + PAGE - 1) & !(PAGE - 1);
        if end > aligned + HUGE {
            // SAFETY: madvise reads and writes no memory; it advises the kernel about a range of this
            // process's own address space, [aligned, end), which lies wholly inside the Vec's live
            // allocation. MADV_HUGEPAGE preserves contents, so the Vec's invariants are untouched.
            let _ = unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                )
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// Touches one element per page of `v`'s spare capacity, so the kernel backs the whole reserved
/// table now instead of on first use in the hot path (with transparent huge pages each first touch
/// zeroes 2 MiB, and `defrag = madvise` may compact memory synchronously: milliseconds). The
/// written elements are spare capacity, outside `len`: contents and semantics are unchanged.
pub(crate) fn prefault_spare<T>(v: &mut Vec<T>) -> usize {
    const PAGE: usize = 4096;
    let size = std::mem::size_of::<T>().max(1);
    // A stride below one page guarantees every page holds the start of a written element.
    let stride = (PAGE / size).max(1);
    let spare = v.spare_capacity_mut();
    for slot in spare.iter_mut().step_by(stride) {
        *slot = std::mem::MaybeUninit::zeroed();
    }
    let bytes = std::mem::size_of_val(spare);
    std::hint::black_box(spare.as_ptr());
    bytes
}

/// Asks the CPU to start loading the cache lines of `[p, p + len)` (at most a few lines), so that a
/// later read of state that is probably not in cache overlaps with other work instead of stalling
/// on it. A hint only: no effect on contents or semantics, and no fault whatever the address.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = p as usize & !63;
        let end = p as usize + len.max(1);
        let mut line = start;
        while line < end {
            // SAFETY: PREFETCHT0 is a hint: it reads nothing the program can observe, never faults
            // (an invalid address is ignored by the CPU), and `line` is not dereferenced by Rust.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefault_touches_spare_capacity_and_keeps_contents() {
        let mut v: Vec<[u64; 7]> = Vec::with_capacity(10_000);
        v.push([7; 7]);
        let bytes = prefault_spare(&mut v);
        assert_eq!(bytes, 9_999 * 56);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0], [7; 7]);
        assert!(v.capacity() >= 10_000);
        let mut big: Vec<[u8; 9000]> = Vec::with_capacity(3);
        assert_eq!(prefault_spare(&mut big), 27_000);
        assert!(big.is_empty());
    }
}
