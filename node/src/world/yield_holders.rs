//! The balance yield's section of a configuration (schema 9, docs/YIELD.md): each
//! `[[yield_holders]]` entry opts a merchant or promoter in, in one currency, with the minimum its
//! available balance keeps at each sweep and its daily instant redemption limit; it becomes a
//! ConfigYield input of the first start.

use serde::Deserialize;
use sluice_protocol::{ConfigYield, PartyKind};

use super::{ConfigError, CurrencyValue, currency, err};

/// `[[yield_holders]]`: a ConfigYield (opt in).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct YieldHolderEntry {
    /// `merchant` or `promoter`.
    kind: String,
    id: u32,
    currency: CurrencyValue,
    #[serde(default)]
    keep_minimum_minor: i64,
    #[serde(default)]
    instant_limit_minor: i64,
}

pub(super) fn yield_holder(
    h: &YieldHolderEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigYield, ConfigError> {
    let party_kind = match h.kind.as_str() {
        "merchant" => PartyKind::Merchant,
        "promoter" => PartyKind::Promoter,
        other => {
            let what = format!("{other:?} is not merchant or promoter");
            return err(line, format!("{key}.kind"), what);
        }
    };
    if h.id == 0 {
        return err(line, format!("{key}.id"), "must be above 0");
    }
    for (field, v) in [
        ("keep_minimum_minor", h.keep_minimum_minor),
        ("instant_limit_minor", h.instant_limit_minor),
    ] {
        if v < 0 {
            return err(line, format!("{key}.{field}"), format!("{v} is negative"));
        }
    }
    Ok(ConfigYield {
        party_kind,
        party_id: h.id,
        currency: currency(&h.currency, line, &format!("{key}.currency"))?,
        opt_in: true,
        keep_minimum_minor: h.keep_minimum_minor,
        instant_limit_minor: h.instant_limit_minor,
    })
}
