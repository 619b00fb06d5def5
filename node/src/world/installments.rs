//! The `[installments]` section (schema 9, docs/INSTALLMENTS.md): the default consumer
//! installment terms and any merchant's own, each turned into a ConfigInstallments.

use serde::Deserialize;
use sluice_protocol::ConfigInstallments;

use super::{ConfigError, err};

fn d_default_after_days() -> u16 {
    60
}

/// `[installments]`: the default terms (`merchant_id = 0`) and `[[installments.merchants]]`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct InstallmentsSection {
    /// Interest-free plans of 3, 6, 12: the merchant's fee, bps of the amount.
    #[serde(default)]
    fee_bps: [u16; 3],
    /// Plans with interest of 3, 6, 12: the payer's flat rate, bps of the amount.
    #[serde(default)]
    rate_bps: [u16; 3],
    #[serde(default)]
    late_fee_bps: u16,
    #[serde(default = "d_default_after_days")]
    default_after_days: u16,
    /// Days between installments (0 or absent: 30).
    #[serde(default)]
    period_days: u8,
    #[serde(default)]
    merchants: Vec<MerchantTerms>,
}

/// `[[installments.merchants]]`: a merchant's own terms; what it leaves out is the default's.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct MerchantTerms {
    merchant_id: u32,
    fee_bps: Option<[u16; 3]>,
    rate_bps: Option<[u16; 3]>,
    late_fee_bps: Option<u16>,
    default_after_days: Option<u16>,
    period_days: Option<u8>,
}

fn terms(
    merchant_id: u32,
    (fee, rate): ([u16; 3], [u16; 3]),
    late_fee_bps: u16,
    (default_after_days, period_days): (u16, u8),
) -> ConfigInstallments {
    ConfigInstallments {
        merchant_id,
        fee_bps_3: fee[0],
        fee_bps_6: fee[1],
        fee_bps_12: fee[2],
        rate_bps_3: rate[0],
        rate_bps_6: rate[1],
        rate_bps_12: rate[2],
        late_fee_bps,
        default_after_days,
        period_days,
    }
}

fn check(m: &ConfigInstallments, line: Option<usize>, key: &str) -> Result<(), ConfigError> {
    match sluice_engine::installments::terms_error(m) {
        Some(why) => err(line, key, why),
        None => Ok(()),
    }
}

/// The section's ConfigInstallments: the default first, then each merchant's.
pub(super) fn installments(
    s: &InstallmentsSection,
    line: Option<usize>,
) -> Result<Vec<ConfigInstallments>, ConfigError> {
    let default = terms(
        0,
        (s.fee_bps, s.rate_bps),
        s.late_fee_bps,
        (s.default_after_days, s.period_days),
    );
    check(&default, line, "installments")?;
    let mut out = vec![default];
    for (i, m) in s.merchants.iter().enumerate() {
        let key = format!("installments.merchants[{i}]");
        if m.merchant_id == 0 {
            return err(
                line,
                key,
                "merchant_id must not be 0 (the default is the section itself)",
            );
        }
        let own = terms(
            m.merchant_id,
            (
                m.fee_bps.unwrap_or(s.fee_bps),
                m.rate_bps.unwrap_or(s.rate_bps),
            ),
            m.late_fee_bps.unwrap_or(s.late_fee_bps),
            (
                m.default_after_days.unwrap_or(s.default_after_days),
                m.period_days.unwrap_or(s.period_days),
            ),
        );
        check(&own, line, &key)?;
        out.push(own);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> InstallmentsSection {
        toml::from_str(text).expect("the section parses")
    }

    #[test]
    fn terms_the_engine_would_refuse_are_refused_with_their_key() {
        let ok = section("fee_bps = [100, 200, 300]\n[[merchants]]\nmerchant_id = 1001\n");
        let all = installments(&ok, Some(3)).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[1].merchant_id, all[1].fee_bps_12), (1001, 300));
        let cases = [
            ("rate_bps = [0, 0, 10001]\n", "installments", "10000 bps"),
            ("default_after_days = 0\n", "installments", "at least 1"),
            (
                "[[merchants]]\nmerchant_id = 7\nperiod_days = 32\n",
                "installments.merchants[0]",
                "at most 31",
            ),
        ];
        for (text, key, why) in cases {
            let e = installments(&section(text), Some(9)).unwrap_err();
            assert_eq!((e.line, e.key.as_str()), (Some(9), key), "{text}");
            assert!(e.message.contains(why), "{text}: {}", e.message);
        }
    }
}
