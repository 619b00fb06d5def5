//! The currency table: ISO 4217 numeric code, alphabetic code and minor-unit exponent — the one
//! home of these facts in the crate. A bill line carries the numeric code (`BillLine::currency`);
//! a file states the alphabetic code and an amount in the currency's major or minor units.

/// One ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub numeric: u16,
    /// Upper-case alphabetic code (`CNY`); Stripe writes it lower-case.
    pub code: &'static str,
    /// Digits after the decimal point in the major unit (2 for CNY, 0 for JPY).
    pub exponent: u8,
}

/// The currencies the bill formats know. Numeric codes and exponents per ISO 4217.
pub const CURRENCIES: [Currency; 12] = [
    Currency {
        numeric: 156,
        code: "CNY",
        exponent: 2,
    },
    Currency {
        numeric: 840,
        code: "USD",
        exponent: 2,
    },
    Currency {
        numeric: 978,
        code: "EUR",
        exponent: 2,
    },
    Currency {
        numeric: 344,
        code: "HKD",
        exponent: 2,
    },
    Currency {
        numeric: 826,
        code: "GBP",
        exponent: 2,
    },
    Currency {
        numeric: 392,
        code: "JPY",
        exponent: 0,
    },
    Currency {
        numeric: 36,
        code: "AUD",
        exponent: 2,
    },
    Currency {
        numeric: 124,
        code: "CAD",
        exponent: 2,
    },
    Currency {
        numeric: 702,
        code: "SGD",
        exponent: 2,
    },
    Currency {
        numeric: 756,
        code: "CHF",
        exponent: 2,
    },
    Currency {
        numeric: 410,
        code: "KRW",
        exponent: 0,
    },
    Currency {
        numeric: 48,
        code: "BHD",
        exponent: 3,
    },
];

/// Renminbi, the only currency of the WeChat, Alipay and UnionPay bills Sluice reads.
pub const CNY: u16 = 156;

/// The currency of an ISO 4217 numeric code.
pub fn by_numeric(numeric: u16) -> Option<&'static Currency> {
    CURRENCIES.iter().find(|c| c.numeric == numeric)
}

/// The currency of an alphabetic code, in either case (`usd`, `USD`).
pub fn by_code(code: &str) -> Option<&'static Currency> {
    CURRENCIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for c in CURRENCIES {
            assert_eq!(by_numeric(c.numeric), Some(&c));
            assert_eq!(by_code(c.code), Some(&c));
            assert_eq!(by_code(&c.code.to_lowercase()), Some(&c));
            assert_eq!(
                CURRENCIES.iter().filter(|d| d.numeric == c.numeric).count(),
                1
            );
        }
        assert_eq!(by_code("JPY").map(|c| c.exponent), Some(0));
        assert_eq!(by_numeric(CNY).map(|c| c.code), Some("CNY"));
        assert_eq!(by_numeric(999), None);
        assert_eq!(by_code("XXX"), None);
    }
}
