//! Risk: allow/block lists, velocity features over rolling windows in event time, and rules as data.
//!
//! Evaluation order (Stripe Radar's): allow list, allow rules, block list, block rules, review rules;
//! the first match wins. Shadow rules are evaluated on every request and only counted.
//!
//! The state is in three rooms, each owning its tables: `lists` (the allow and block lists),
//! `rules` (the rules and their compiled form) and `velocity` (the per-entity windows, and which
//! of them the rules read). `RiskState` ties them together for the engine.

pub mod lists;
mod rules;
mod velocity;

pub use lists::{ListEntry, Lists};
pub use rules::{Rule, Rules};
pub use velocity::{Bucket, KeyWindows, Set, Velocity, VelocityTable, Window};

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{ConfigListEntry, ConfigRiskRule, ListKind, RiskAction, RuleTarget};

use rules::{Refusal, Request};

/// Rule id reported when the allow list matched.
pub const ALLOW_LIST_RULE_ID: u32 = 1;
/// Rule id reported when the block list matched.
pub const BLOCK_LIST_RULE_ID: u32 = 2;

/// Entity kinds with a velocity table: User, Ip, Device, CardFingerprint, CardBin, Merchant.
const ENTITY_KINDS: usize = 6;

/// What a request looks like to the risk rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct RiskContext {
    pub merchant_id: u32,
    pub goods_category: u16,
    pub amount_minor: i64,
    /// Keys per entity kind (index = RiskEntity - 1); 0 = absent.
    pub keys: [u128; ENTITY_KINDS],
}

/// The outcome of evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub action: RiskAction,
    pub rule_id: u32,
}

impl Verdict {
    pub const NONE: Verdict = Verdict {
        action: RiskAction::None,
        rule_id: 0,
    };
    const ALLOW_LISTED: Verdict = Verdict {
        action: RiskAction::Allow,
        rule_id: ALLOW_LIST_RULE_ID,
    };
    const BLOCK_LISTED: Verdict = Verdict {
        action: RiskAction::Block,
        rule_id: BLOCK_LIST_RULE_ID,
    };
}

/// The risk state.
#[derive(Archive, Serialize, Deserialize, Debug, Clone)]
pub struct RiskState {
    pub rules: Rules,
    pub lists: Lists,
    pub velocity: Velocity,
}

/// The list/velocity key of an IP address: IPv4 as IPv4-mapped IPv6, so both share one key space.
pub fn ip_key(ip: &sluice_protocol::Ip) -> u128 {
    match ip.version {
        4 => {
            let mut b = [0u8; 16];
            b[10] = 0xff;
            b[11] = 0xff;
            b[12..16].copy_from_slice(&ip.octets[..4]);
            u128::from_be_bytes(b)
        }
        6 => u128::from_be_bytes(ip.octets),
        _ => 0,
    }
}

/// The key of a card fingerprint (0 when empty).
pub fn fingerprint_key(fp: &[u8; 16]) -> u128 {
    u128::from_le_bytes(*fp)
}

impl RiskState {
    pub fn new(rules_max: u32, entries_max: u32, keys_max: u32) -> Self {
        RiskState {
            rules: Rules::new(rules_max),
            lists: Lists::new(entries_max),
            velocity: Velocity::new(keys_max),
        }
    }

    /// Rebuilds lookups, compiled rules and capacities after a snapshot load.
    pub fn rebuild(&mut self) {
        self.lists.rebuild();
        self.rules.rebuild();
        self.velocity.rebuild();
    }

    /// Touches the velocity tables' reserved windows (see `Engine::prefault`).
    pub(crate) fn prefault(&mut self) -> usize {
        self.velocity.prefault()
    }

    /// Starts loading the velocity table sets of the request's tracked entities. Called as early as
    /// the keys are known, so the (likely) cache misses overlap each other and the work before
    /// `prefetch_windows` and `evaluate`. A hint only: state is unchanged.
    #[inline]
    pub fn prefetch_sets(&self, ctx: &RiskContext) {
        self.velocity.prefetch_sets(ctx);
    }

    /// Starts loading the windows that `evaluate` will read and `record_payment` (or the others)
    /// will write, once the sets are in cache (after `prefetch_sets`). A hint only.
    #[inline]
    pub fn prefetch_windows(&self, ctx: &RiskContext) {
        self.velocity.prefetch_windows(ctx);
    }

    /// Evaluates a request: the lists (payments only), then the rules (see `Rules::evaluate`).
    /// Reads the state only; hit counts go to `hits` (parallel to the rules).
    pub fn evaluate(
        &self,
        target: RuleTarget,
        ctx: &RiskContext,
        now_ns: u64,
        hits: &mut [(u64, u64)],
    ) -> Verdict {
        let payment = target == RuleTarget::Payment;
        let allow_listed = payment && self.lists.listed(ListKind::Allow, ctx);
        let block_listed = payment && !allow_listed && self.lists.listed(ListKind::Block, ctx);
        let request = Request {
            target,
            ctx,
            now_ns,
            allow_listed,
            block_listed,
        };
        self.rules.evaluate(&request, &self.velocity, hits)
    }

    /// Counts a payment request for every tracked entity it names.
    pub fn record_payment(&mut self, ctx: &RiskContext, now_ns: u64) {
        let amount = ctx.amount_minor;
        self.velocity
            .record_each(ctx, now_ns, |b| velocity::count_payment(b, amount));
    }

    /// Counts a refund request.
    pub fn record_refund(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.velocity
            .record_each(ctx, now_ns, |b| b.refunds = b.refunds.saturating_add(1));
    }

    /// Counts a declined attempt.
    pub fn record_decline(&mut self, ctx: &RiskContext, now_ns: u64) {
        self.velocity
            .record_each(ctx, now_ns, |b| b.declines = b.declines.saturating_add(1));
    }

    /// Validates and applies a rule; the velocity tables then maintain exactly the windows the
    /// active rules read. Returns the slot it took (for the hit counters) and whether it is new,
    /// or why it was refused.
    pub fn apply_rule(&mut self, m: &ConfigRiskRule) -> Result<(usize, bool), Refusal> {
        let result = self.rules.apply(m)?;
        self.velocity.track(self.rules.window_masks());
        Ok(result)
    }

    /// Validates and applies a list entry change.
    pub fn apply_list(&mut self, m: &ConfigListEntry) -> Result<(), Refusal> {
        self.lists.apply(m)
    }

    /// Whether adding every entry of `ms` would fit the list (entries already listed take no
    /// room); refused CapacityReached otherwise. Changes nothing (docs/DISPUTES.md, section 3).
    pub fn lists_have_room(&self, ms: &[ConfigListEntry]) -> Result<(), Refusal> {
        self.lists.have_room(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::velocity::{NS_PER_SEC, WAYS, epochs, tag_of, window_sums};
    use super::*;
    use sluice_protocol::{Activity, Chars, Comparison, RiskEntity, RiskFeature, RiskWindow};

    fn rule(
        id: u32,
        feature: RiskFeature,
        entity: RiskEntity,
        window: RiskWindow,
        threshold: i64,
        action: RiskAction,
    ) -> ConfigRiskRule {
        ConfigRiskRule {
            rule_id: id,
            name: Chars::new("t"),
            target: RuleTarget::Payment,
            feature,
            entity,
            window,
            comparison: Comparison::Greater,
            threshold,
            action,
            shadow: false,
            status: Activity::Active,
            merchant_id: 0,
            goods_category: 0,
        }
    }

    fn ctx(user: u64, amount: i64) -> RiskContext {
        let mut keys = [0u128; ENTITY_KINDS];
        keys[0] = u128::from(user);
        RiskContext {
            merchant_id: 1,
            goods_category: 0,
            amount_minor: amount,
            keys,
        }
    }

    #[test]
    fn velocity_window_expires_in_event_time() {
        let mut r = RiskState::new(8, 8, 64);
        r.apply_rule(&rule(
            10,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Minute,
            3,
            RiskAction::Block,
        ))
        .unwrap();
        let mut hits = vec![(0, 0); 1];
        let t0 = 1_000 * NS_PER_SEC;
        for i in 0..3 {
            let c = ctx(7, 100);
            assert_eq!(
                r.evaluate(RuleTarget::Payment, &c, t0 + i, &mut hits),
                Verdict::NONE
            );
            r.record_payment(&c, t0 + i);
        }
        // The fourth within the minute is blocked.
        let v = r.evaluate(
            RuleTarget::Payment,
            &ctx(7, 100),
            t0 + 5 * NS_PER_SEC,
            &mut hits,
        );
        assert_eq!(v.action, RiskAction::Block);
        assert_eq!(v.rule_id, 10);
        assert_eq!(hits[0].0, 1);
        // Another user is not.
        assert_eq!(
            r.evaluate(RuleTarget::Payment, &ctx(8, 100), t0, &mut hits),
            Verdict::NONE
        );
        // A minute (plus a bucket) later the window has emptied.
        let later = t0 + 70 * NS_PER_SEC;
        assert_eq!(
            r.evaluate(RuleTarget::Payment, &ctx(7, 100), later, &mut hits),
            Verdict::NONE
        );
    }

    #[test]
    fn untracked_entities_are_not_recorded() {
        let mut r = RiskState::new(8, 8, 64);
        r.record_payment(&ctx(7, 100), 1);
        assert!(
            r.velocity.tables[0]
                .sets
                .iter()
                .all(|s| s.tags == [0; WAYS])
        );
    }

    #[test]
    fn a_window_that_starts_being_read_is_cleared() {
        let mut r = RiskState::new(8, 8, 64);
        r.apply_rule(&rule(
            10,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Minute,
            100,
            RiskAction::Block,
        ))
        .unwrap();
        let t0 = 1_000 * NS_PER_SEC;
        r.record_payment(&ctx(7, 100), t0);
        // The day window was not maintained; a rule reading it must not see garbage.
        r.apply_rule(&rule(
            11,
            RiskFeature::PaymentCount,
            RiskEntity::User,
            RiskWindow::Day,
            0,
            RiskAction::Review,
        ))
        .unwrap();
        let table = &r.velocity.tables[0];
        let slot = table.find(tag_of(7)).unwrap();
        assert_eq!(window_sums(table.windows_at(slot), 2, &epochs(t0)).0, 0);
        assert_eq!(window_sums(table.windows_at(slot), 0, &epochs(t0)).0, 1);
    }
}
