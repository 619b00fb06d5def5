//! Consumer installments' admin inputs (schema 9, templates 75–79; docs/INSTALLMENTS.md): the
//! terms, repayments, the early repayment, the default and the query.

use sluice_protocol::{
    ConfigInstallments, DecodeError, InstallmentDefault, InstallmentEarlyRepayment,
    InstallmentEntry, InstallmentPlan, InstallmentQuery, InstallmentRepayment, Message, ReasonCode,
};

use crate::core::Engine;
use crate::input::InputMeta;
use crate::installments::{DEFAULT_PERIOD_DAYS, Plan, Terms};
use crate::outbox::{Dest, Outbox};

impl Engine {
    /// The inputs of consumer installments; the last link of the admin dispatch chain.
    pub(crate) fn dispatch_installments(
        &mut self,
        (template, block): (u16, u16),
        meta: &InputMeta,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<(), DecodeError> {
        match template {
            ConfigInstallments::TEMPLATE_ID => {
                ConfigInstallments::read_body(block, body).map(|m| {
                    let r = self.config_installments(&m);
                    self.config_ack_owned(meta, template, u64::from(m.merchant_id), r, out);
                })
            }
            InstallmentRepayment::TEMPLATE_ID => {
                InstallmentRepayment::read_body(block, body).map(|m| {
                    let r = self.repay_installment(m.order_id, m.index, m.amount_minor);
                    self.config_ack_owned(meta, template, m.order_id, r, out);
                })
            }
            InstallmentEarlyRepayment::TEMPLATE_ID => {
                InstallmentEarlyRepayment::read_body(block, body).map(|m| {
                    let r = self.repay_early(m.order_id, m.amount_minor);
                    self.config_ack_owned(meta, template, m.order_id, r, out);
                })
            }
            InstallmentDefault::TEMPLATE_ID => {
                InstallmentDefault::read_body(block, body).map(|m| {
                    let r = self.default_plan(m.order_id);
                    self.config_ack_owned(meta, template, m.order_id, r, out);
                })
            }
            InstallmentQuery::TEMPLATE_ID => InstallmentQuery::read_body(block, body)
                .map(|m| self.handle_installment_query(meta, &m, out)),
            _ => self.dispatch_credit((template, block), meta, body, out),
        }
    }

    /// Sets a merchant's (or the default) terms.
    fn config_installments(&mut self, m: &ConfigInstallments) -> Result<(), (ReasonCode, String)> {
        let bad = |why: &str| Err((ReasonCode::InvalidConfig, why.to_string()));
        if m.merchant_id != 0 && !self.index.merchants.contains_key(&m.merchant_id) {
            let why = format!("merchant {} is not configured", m.merchant_id);
            return Err((ReasonCode::UnknownMerchant, why));
        }
        if let Some(why) = crate::installments::terms_error(m) {
            return bad(why);
        }
        let terms = Terms {
            merchant_id: m.merchant_id,
            fee_bps: [m.fee_bps_3, m.fee_bps_6, m.fee_bps_12],
            rate_bps: [m.rate_bps_3, m.rate_bps_6, m.rate_bps_12],
            late_fee_bps: m.late_fee_bps,
            default_after_days: m.default_after_days,
            period_days: match m.period_days {
                0 => DEFAULT_PERIOD_DAYS,
                days => days,
            },
        };
        if !self.state.installments.set_terms(terms) {
            let why = "installment terms for at most 64 merchants and the default".to_string();
            return Err((ReasonCode::CapacityReached, why));
        }
        Ok(())
    }

    fn handle_installment_query(
        &mut self,
        meta: &InputMeta,
        q: &InstallmentQuery,
        out: &mut Outbox,
    ) {
        let Some(plan) = self.state.installments.plan(q.order_id) else {
            let why = format!("no installment plan for order {}", q.order_id);
            let r = Err((ReasonCode::NotFound, why.as_str()));
            return self.config_ack(meta, InstallmentQuery::TEMPLATE_ID, q.order_id, r, out);
        };
        let reply = self.installment_plan_reply(plan, meta.seq);
        if meta.session_id != 0 {
            let dest = Dest::session(meta.session_id, meta.principal_id);
            out.push(dest, meta.seq, &reply);
        }
    }

    /// Plan `plan` as the wire shows it.
    pub(crate) fn installment_plan_reply(&self, plan: &Plan, sequence: u64) -> InstallmentPlan {
        let (p, i, l) = plan.outstanding();
        let open = plan.status == crate::installments::PlanStatus::Open;
        let mut reply = InstallmentPlan {
            order_id: plan.order_id,
            merchant_id: plan.merchant_id,
            currency: self.state.limits.currencies[usize::from(plan.currency_slot)],
            count: plan.count,
            payer_interest: plan.payer_interest,
            status: plan.status as u8,
            principal_minor: plan.principal_minor,
            interest_minor: plan.interest_minor,
            fee_minor: plan.fee_minor,
            open_day: plan.open_day,
            outstanding_minor: p + i + l,
            paid_minor: plan.paid_minor,
            payoff_minor: if open {
                plan.payoff_minor(self.today())
            } else {
                0
            },
            written_off_minor: plan.written_off_minor,
            sequence,
            installments: Default::default(),
        };
        for (k, x) in plan.schedule.iter().enumerate() {
            reply.installments.push(InstallmentEntry {
                index: k as u16 + 1,
                due_day: x.due_day,
                principal_minor: x.principal_minor,
                interest_minor: x.interest_minor,
                late_fee_minor: x.late_fee_minor,
                status: x.status,
                late: x.late,
            });
        }
        reply
    }

    /// The installments table (tests, tools).
    pub fn installments(&self) -> &crate::installments::Installments {
        &self.state.installments
    }
}
