//! Allow and block lists: entries per (list, entity kind, key), a hash set to look them up, and a
//! count per (list, entity kind) so that a request probes only the kinds that have entries.

use rkyv::{Archive, Deserialize, Serialize};
use rustc_hash::FxHashSet;
use sluice_protocol::{ConfigListEntry, ListKind, ListOp, ReasonCode, RiskEntity};

use super::rules::Refusal;
use super::{ENTITY_KINDS, RiskContext, fingerprint_key, ip_key};
use crate::state::wire::{ListKindDef, RiskEntityDef};

/// An allow- or block-list entry.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListEntry {
    #[rkyv(with = ListKindDef)]
    pub list: ListKind,
    #[rkyv(with = RiskEntityDef)]
    pub entity: RiskEntity,
    pub key: u128,
}

impl ListEntry {
    /// The key of the lookup set.
    fn index_key(&self) -> (u8, u8, u128) {
        (self.list as u8, self.entity as u8, self.key)
    }
}

/// The list entries and their lookup.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct Lists {
    pub entries: Vec<ListEntry>,
    entries_max: u32,
    /// Lookup for list entries: (list, entity, key). Rebuilt from `entries` on load.
    #[rkyv(with = rkyv::with::Skip)]
    index: FxHashSet<(u8, u8, u128)>,
    /// Entries per (list - 1, entity - 1): only entity kinds with entries are looked up.
    #[rkyv(with = rkyv::with::Skip)]
    counts: [[u32; ENTITY_KINDS]; 2],
}

impl Lists {
    pub(super) fn new(entries_max: u32) -> Self {
        Lists {
            entries: Vec::with_capacity(entries_max as usize),
            entries_max,
            index: FxHashSet::with_capacity_and_hasher(entries_max as usize, Default::default()),
            counts: [[0; ENTITY_KINDS]; 2],
        }
    }

    /// Rebuilds the lookup and the counts, and restores capacities, after a snapshot load.
    pub(super) fn rebuild(&mut self) {
        self.index =
            FxHashSet::with_capacity_and_hasher(self.entries_max as usize, Default::default());
        self.counts = [[0; ENTITY_KINDS]; 2];
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            self.index.insert(e.index_key());
            self.count(&e, 1);
        }
        let more = (self.entries_max as usize).saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
    }

    fn count(&mut self, e: &ListEntry, delta: i32) {
        let (l, k) = (
            (e.list as usize).wrapping_sub(1),
            (e.entity as usize).wrapping_sub(1),
        );
        if l < 2 && k < ENTITY_KINDS {
            let c = &mut self.counts[l][k];
            *c = c.saturating_add_signed(delta);
        }
    }

    /// Whether `list` holds any of the request's keys.
    pub(super) fn listed(&self, list: ListKind, ctx: &RiskContext) -> bool {
        let counts = &self.counts[list as usize - 1];
        (0..ENTITY_KINDS).any(|e| {
            counts[e] != 0
                && ctx.keys[e] != 0
                && self.index.contains(&(list as u8, e as u8 + 1, ctx.keys[e]))
        })
    }

    /// Validates and applies a list entry change.
    pub(super) fn apply(&mut self, m: &ConfigListEntry) -> Result<(), Refusal> {
        let key = match m.entity {
            RiskEntity::User | RiskEntity::Device => u128::from(m.id),
            RiskEntity::Ip => ip_key(&m.ip),
            RiskEntity::CardFingerprint => fingerprint_key(&m.card_fingerprint.0),
            RiskEntity::CardBin => u128::from(m.card_bin),
            _ => {
                return Err((
                    ReasonCode::InvalidConfig,
                    "list entity must be user, ip, device, card_fingerprint or card_bin",
                ));
            }
        };
        if key == 0 {
            return Err((ReasonCode::InvalidConfig, "list entry key is empty"));
        }
        let entry = ListEntry {
            list: m.list,
            entity: m.entity,
            key,
        };
        match m.op {
            ListOp::Add => self.add(entry),
            ListOp::Remove => {
                self.remove(&entry);
                Ok(())
            }
        }
    }

    /// Whether adding every (valid) entry of `ms` fits: those not listed yet, at most the room
    /// left.
    pub(super) fn have_room(&self, ms: &[ConfigListEntry]) -> Result<(), Refusal> {
        let mut new = 0;
        for m in ms {
            let key = match m.entity {
                RiskEntity::User | RiskEntity::Device => u128::from(m.id),
                RiskEntity::CardFingerprint => fingerprint_key(&m.card_fingerprint.0),
                _ => continue,
            };
            new += usize::from(!self.index.contains(&(m.list as u8, m.entity as u8, key)));
        }
        if self.entries.len() + new > self.entries_max as usize {
            let why = "list entries are at their maximum";
            return Err((ReasonCode::CapacityReached, why));
        }
        Ok(())
    }

    fn add(&mut self, entry: ListEntry) -> Result<(), Refusal> {
        if self.index.contains(&entry.index_key()) {
            return Ok(());
        }
        if self.entries.len() >= self.entries_max as usize {
            let why = "list entries are at their maximum";
            return Err((ReasonCode::CapacityReached, why));
        }
        self.entries.push(entry);
        self.index.insert(entry.index_key());
        self.count(&entry, 1);
        Ok(())
    }

    fn remove(&mut self, entry: &ListEntry) {
        if self.index.remove(&entry.index_key())
            && let Some(i) = self.entries.iter().position(|e| e == entry)
        {
            self.entries.swap_remove(i);
            self.count(entry, -1);
        }
    }
}
