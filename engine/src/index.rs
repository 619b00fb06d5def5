//! A fixed open-addressing table from (owner, request id) to a table slot: the idempotency index of
//! orders, refunds and withdrawals. Sized at start for twice its maximum entries (so probes stay
//! short), from zeroed memory; `prefault` maps it before the hot path runs (the live engine), so
//! the hot path never faults a fresh page or allocates.
//! Linear probing; a removal shifts the entries behind it back (no tombstones, so probes stay as
//! short as the load allows).

/// One entry: `[id, owner << 32 | (slot + 1)]`; all zero when empty. Zero as "empty" lets the
/// table come from zeroed memory (`vec![[0; 2]; n]` allocates it zeroed: the pages are mapped on
/// first write), so an engine that never fills its indexes (a follower of a quiet server, a
/// benchmark's second engine) does not pay for them in memory; `prefault` touches them up front.
type Entry = [u64; 2];

#[inline]
fn pack(owner: u32, slot: u32) -> u64 {
    debug_assert!(slot < u32::MAX, "a slot fits below u32::MAX");
    (u64::from(owner) << 32) | (u64::from(slot) + 1)
}

/// (owner, id) → slot.
pub struct IdIndex {
    entries: Vec<Entry>,
    mask: usize,
    len: usize,
    max: usize,
}

impl IdIndex {
    /// A table for at most `max` entries.
    pub fn with_max(max: u32) -> Self {
        let capacity = (max as usize * 2).next_power_of_two().max(16);
        let entries = vec![[0u64; 2]; capacity];
        crate::mem::advise_huge_pages(&entries);
        IdIndex {
            entries,
            mask: capacity - 1,
            len: 0,
            max: max as usize,
        }
    }

    /// Writes every page of the table now, so that no first write faults on the hot path;
    /// returns the bytes touched.
    pub fn prefault(&mut self) -> usize {
        const PAGE: usize = 4096;
        let stride = PAGE / size_of::<Entry>();
        for i in (0..self.entries.len()).step_by(stride) {
            // An empty entry stays empty: the write only maps the page.
            let e = std::hint::black_box(self.entries[i]);
            self.entries[i] = e;
        }
        size_of_val(self.entries.as_slice())
    }

    #[inline]
    fn home(&self, owner: u32, id: u64) -> usize {
        let h = (id ^ u64::from(owner).rotate_left(40)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & self.mask
    }

    /// Starts loading the entry where (owner, id) would be found (see `mem::prefetch`).
    #[inline]
    pub fn prefetch(&self, owner: u32, id: u64) {
        let i = self.home(owner, id);
        crate::mem::prefetch(&self.entries[i], size_of::<Entry>());
    }

    /// The slot recorded for (owner, id).
    #[inline]
    pub fn get(&self, owner: u32, id: u64) -> Option<u32> {
        self.position(owner, id)
            .map(|i| (self.entries[i][1] as u32).wrapping_sub(1))
    }

    /// Records (owner, id) → slot. The caller checked the key is new and the table not full.
    #[inline]
    pub fn insert(&mut self, owner: u32, id: u64, slot: u32) {
        assert!(
            self.len < self.max,
            "index over its maximum: the caller checks capacity first"
        );
        let mut i = self.home(owner, id);
        while self.entries[i][1] != 0 {
            i = (i + 1) & self.mask;
        }
        self.entries[i] = [id, pack(owner, slot)];
        self.len += 1;
    }

    /// The position of (owner, id), if recorded.
    #[inline]
    fn position(&self, owner: u32, id: u64) -> Option<usize> {
        let mut i = self.home(owner, id);
        loop {
            let [e_id, e_packed] = self.entries[i];
            if e_packed == 0 {
                return None;
            }
            if e_id == id && (e_packed >> 32) as u32 == owner {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Records a new slot for (owner, id), which must be recorded.
    #[inline]
    pub fn set(&mut self, owner: u32, id: u64, slot: u32) {
        let i = self
            .position(owner, id)
            .expect("an index entry to update is recorded");
        let owner = (self.entries[i][1] >> 32) as u32;
        self.entries[i][1] = pack(owner, slot);
    }

    /// Forgets (owner, id), which must be recorded, and shifts back the entries probed past it.
    pub fn remove(&mut self, owner: u32, id: u64) {
        let mut hole = self
            .position(owner, id)
            .expect("an index entry to remove is recorded");
        let mut j = (hole + 1) & self.mask;
        loop {
            let e = self.entries[j];
            if e[1] == 0 {
                break;
            }
            // An entry whose home is not cyclically within (hole, j] was probed past the hole.
            let home = self.home((e[1] >> 32) as u32, e[0]);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.entries[hole] = [0, 0];
        self.len -= 1;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_nothing_else() {
        let mut ix = IdIndex::with_max(1000);
        for i in 0..1000u64 {
            ix.insert((i % 3) as u32, i * 7, i as u32);
        }
        for i in 0..1000u64 {
            assert_eq!(ix.get((i % 3) as u32, i * 7), Some(i as u32));
            assert_eq!(ix.get((i % 3) as u32 + 1, i * 7), None);
        }
        assert_eq!(ix.get(0, 1), None);
        assert_eq!(ix.len(), 1000);
    }

    #[test]
    fn removal_keeps_every_other_entry_reachable() {
        // A small table, so that probe runs are long and wrap around the end.
        let mut ix = IdIndex::with_max(40);
        let mut live: Vec<(u32, u64)> = Vec::new();
        let mut next = 1u64;
        for round in 0..2000u64 {
            if live.len() < 40 && (round % 3 != 0 || live.is_empty()) {
                let key = ((next % 5) as u32, next.wrapping_mul(0x2545_F491_4F6C_DD1D));
                ix.insert(key.0, key.1, next as u32);
                live.push(key);
                next += 1;
            } else {
                let (owner, id) = live.swap_remove((round as usize * 7) % live.len());
                ix.remove(owner, id);
                assert_eq!(ix.get(owner, id), None);
            }
            for &(owner, id) in &live {
                assert!(ix.get(owner, id).is_some(), "lost ({owner}, {id})");
            }
            assert_eq!(ix.len(), live.len());
        }
        let (owner, id) = live[0];
        ix.set(owner, id, 7);
        assert_eq!(ix.get(owner, id), Some(7));
    }
}
