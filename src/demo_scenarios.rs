//! The demo's scenarios that run after the live run, each on its own data directory beside the
//! demo's: reconciliation (`demo_recon`), payouts (`demo_payouts`), the risk analyst's loop
//! (`demo_risk`) and the financial month (`demo_finance`).

use std::path::PathBuf;

use crate::demo::{DemoArgs, demo_config};
use crate::demo_finance::FinanceReport;
use crate::demo_payouts::PayoutsReport;
use crate::demo_recon::ReconReport;
use crate::demo_risk::RiskReport;

pub(crate) fn recon(args: &DemoArgs, data_dir: &std::path::Path) -> Result<ReconReport, String> {
    let dir = sibling(data_dir, "recon");
    let config = demo_config(args, dir.clone())?;
    crate::demo_recon::run(config, &dir, &args.recon, args.seed)
}

/// The payout scenario (a scripted-clock month) on its own server in `DIR-payouts`.
pub(crate) fn payouts(
    args: &DemoArgs,
    data_dir: &std::path::Path,
) -> Result<PayoutsReport, String> {
    let dir = sibling(data_dir, "payouts");
    crate::demo_payouts::run(demo_config(args, dir.clone())?, &dir)
}

/// The risk scenario (simulated fraud days, backtests, the learned score) in `DIR-risk`.
pub(crate) fn risk(args: &DemoArgs, data_dir: &std::path::Path) -> Result<RiskReport, String> {
    crate::demo_risk::run(&sibling(data_dir, "risk"), args.seed)
}

/// The financial month (balance yield, installments, merchant credit on a scripted clock) in
/// `DIR-finance`.
pub(crate) fn finance(
    args: &DemoArgs,
    data_dir: &std::path::Path,
) -> Result<FinanceReport, String> {
    let dir = sibling(data_dir, "finance");
    crate::demo_finance::run(demo_config(args, dir.clone())?, &dir)
}

/// `DIR-suffix` beside the demo's data directory.
pub(crate) fn sibling(data_dir: &std::path::Path, suffix: &str) -> PathBuf {
    data_dir.with_file_name(format!(
        "{}-{suffix}",
        data_dir
            .file_name()
            .map_or("sluice-demo".into(), |n| n.to_string_lossy())
    ))
}

/// The reconciliation, payout and risk scenarios, each on its own server: into `json`, or printed;
/// either way checked.
pub(crate) fn scenarios(
    args: &DemoArgs,
    data_dir: &std::path::Path,
    mut json: Option<&mut serde_json::Value>,
) -> Result<(), String> {
    if args.recon.recon_orders > 0 {
        let r = recon(args, data_dir)?;
        match json.as_deref_mut() {
            Some(j) => j["reconciliation"] = r.json(),
            None => r.print(),
        }
        r.check()?;
    }
    if !args.payouts.no_payouts {
        let p = payouts(args, data_dir)?;
        match json.as_deref_mut() {
            Some(j) => j["payouts"] = p.json(),
            None => p.print(),
        }
        p.check()?;
    }
    if !args.risk.no_risk {
        let r = risk(args, data_dir)?;
        match json.as_deref_mut() {
            Some(j) => j["risk"] = r.json(),
            None => r.print(),
        }
        r.check()?;
    }
    if !args.finance.no_finance {
        let f = finance(args, data_dir)?;
        match json {
            Some(j) => j["finance"] = f.json(),
            None => f.print(),
        }
        f.check()?;
    }
    Ok(())
}
