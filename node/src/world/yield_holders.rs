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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> YieldHolderEntry {
        toml::from_str(text).expect("an entry")
    }

    #[test]
    fn an_entry_becomes_an_opt_in_and_bad_fields_are_named() {
        let e = entry(
            "kind = 'merchant'\nid = 1001\ncurrency = 'CNY'\nkeep_minimum_minor = 100000\n\
             instant_limit_minor = 5000000",
        );
        let m = yield_holder(&e, Some(3), "yield_holders[0]").unwrap();
        assert_eq!(
            (m.party_kind, m.party_id, m.currency, m.opt_in),
            (PartyKind::Merchant, 1001, 156, true)
        );
        assert_eq!(
            (m.keep_minimum_minor, m.instant_limit_minor),
            (100_000, 5_000_000)
        );
        let bad = entry("kind = 'platform'\nid = 1\ncurrency = 156");
        let e = yield_holder(&bad, Some(3), "yield_holders[0]").unwrap_err();
        assert_eq!(e.key, "yield_holders[0].kind");
        let bad = entry("kind = 'promoter'\nid = 1\ncurrency = 156\nkeep_minimum_minor = -1");
        let e = yield_holder(&bad, None, "yield_holders[1]").unwrap_err();
        assert_eq!(e.key, "yield_holders[1].keep_minimum_minor");
    }
}
