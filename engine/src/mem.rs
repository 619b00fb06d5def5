//! Memory advice for the large preallocated tables.

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
