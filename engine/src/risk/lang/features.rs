//! The feature catalog: names to features, their types, their domains and where they apply
//! (docs/RISK_RULES.md, "Features"); literals to values.

use sluice_protocol::{ListKind, PaymentMethod, RuleTarget, Scene};

use super::program::{Feature, code};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Integer,
    Amount,
    Currency,
    Method,
    Scene,
    Country,
    /// A list key only (ip, card).
    Key,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Integer => "an integer",
            Type::Amount => "an amount",
            Type::Currency => "a currency",
            Type::Method => "a payment method",
            Type::Scene => "a scene",
            Type::Country => "a country",
            Type::Key => "a list key",
        }
    }

    /// Whether `<`, `<=`, `>`, `>=` apply.
    pub fn ordered(self) -> bool {
        matches!(self, Type::Integer | Type::Amount)
    }
}

/// A feature as the checker sees it.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub feature: Feature,
    pub ty: Type,
    /// The entity index when the feature can be looked up in a list.
    pub list_entity: Option<u8>,
}

/// Request features: name, code, type, list entity, payments only.
const REQUEST: [(&str, u8, Type, Option<u8>, bool); 13] = [
    ("amount", code::AMOUNT, Type::Amount, None, false),
    ("currency", code::CURRENCY, Type::Currency, None, false),
    ("method", code::METHOD, Type::Method, None, false),
    ("scene", code::SCENE, Type::Scene, None, false),
    ("merchant", code::MERCHANT, Type::Integer, None, false),
    ("category", code::CATEGORY, Type::Integer, None, false),
    ("country", code::COUNTRY, Type::Country, None, true),
    ("bin", code::BIN, Type::Integer, Some(4), true),
    ("risk_score", code::RISK_SCORE, Type::Integer, None, false),
    ("user", code::USER, Type::Integer, Some(0), false),
    ("device", code::DEVICE, Type::Integer, Some(2), true),
    ("ip", code::IP, Type::Key, Some(1), true),
    ("card", code::CARD, Type::Key, Some(3), true),
];

const ENTITIES: [&str; 6] = ["user", "ip", "device", "card", "bin", "merchant"];
const WINDOWS: [&str; 3] = ["minute", "hourly", "daily"];

/// The feature named `name` in a rule on `target`, or why there is none.
pub fn resolve(name: &str, target: RuleTarget) -> Result<Spec, String> {
    if let Some(&(_, c, ty, list_entity, payments_only)) = REQUEST.iter().find(|(n, ..)| *n == name)
    {
        if payments_only && target == RuleTarget::Refund {
            return Err(format!(
                ":{name}: is not known for refunds (only user and merchant are)"
            ));
        }
        let entity = list_entity.unwrap_or(0);
        let feature = Feature {
            code: c,
            entity,
            window: 0,
        };
        return Ok(Spec {
            feature,
            ty,
            list_entity,
        });
    }
    velocity(name, target)
}

fn velocity(name: &str, target: RuleTarget) -> Result<Spec, String> {
    let unknown = || format!("unknown feature :{name}:");
    let (kind, rest) = name.split_once("_per_").ok_or_else(unknown)?;
    let (entity, window) = rest.rsplit_once('_').ok_or_else(unknown)?;
    let entity = ENTITIES.iter().position(|e| *e == entity);
    let window = WINDOWS.iter().position(|w| *w == window);
    let (Some(entity), Some(window)) = (entity, window) else {
        return Err(format!(
            "unknown feature :{name}: (velocities are KIND_per_{{user,ip,device,card,bin,merchant}}_{{minute,hourly,daily}})"
        ));
    };
    let (c, ty) = match kind {
        "payments" => (code::PAYMENTS, Type::Integer),
        "amount" => (code::AMOUNT_SUM, Type::Amount),
        "refunds" => (code::REFUNDS, Type::Integer),
        "declines" => (code::DECLINES, Type::Integer),
        _ => {
            return Err(format!(
                "unknown feature :{name}: (kinds: payments, amount, refunds, declines)"
            ));
        }
    };
    if c == code::REFUNDS {
        if target != RuleTarget::Refund || !(entity == 0 || entity == 5) {
            return Err(format!(
                ":{name}: needs a refund rule ('on refunds') and user or merchant"
            ));
        }
    } else if target != RuleTarget::Payment || entity == 5 {
        return Err(format!(
            ":{name}: needs a payment rule and a payer (user, ip, device, card or bin)"
        ));
    }
    let feature = Feature {
        code: c,
        entity: entity as u8,
        window: window as u8,
    };
    Ok(Spec {
        feature,
        ty,
        list_entity: None,
    })
}

/// The values a present feature can take (inclusive): the static check's domain.
pub fn domain(f: Feature) -> (i64, i64) {
    match f.code {
        code::AMOUNT | code::AMOUNT_SUM | code::PAYMENTS | code::REFUNDS => (1, i64::MAX),
        code::DECLINES => (0, i64::MAX),
        code::CURRENCY => (0, 999),
        code::METHOD | code::SCENE => (0, 255),
        code::CATEGORY => (0, 65_535),
        code::COUNTRY => (1, 65_535),
        code::MERCHANT => (0, i64::from(u32::MAX)),
        code::BIN => (1, i64::from(u32::MAX)),
        code::RISK_SCORE => (0, 100),
        _ => (i64::MIN, i64::MAX),
    }
}

/// The list named `name` for a feature of `entity` (ListKind value), or why not.
pub fn list(name: &str, entity: u8) -> Result<i64, String> {
    let plural = ["users", "ips", "devices", "cards", "bins"];
    let (kind, of) = match name {
        "allow" => (ListKind::Allow, None),
        "block" => (ListKind::Block, None),
        _ => match (name.strip_prefix("allowed_"), name.strip_prefix("blocked_")) {
            (Some(of), _) => (ListKind::Allow, Some(of)),
            (_, Some(of)) => (ListKind::Block, Some(of)),
            _ => {
                return Err(format!(
                    "unknown list @{name} (lists: @allow, @block, @blocked_ips, ...)"
                ));
            }
        },
    };
    if let Some(of) = of {
        match plural.iter().position(|p| *p == of) {
            Some(e) if e == usize::from(entity) => {}
            Some(_) => {
                let want = plural[usize::from(entity)];
                return Err(format!("@{name} holds {of}, not {want}"));
            }
            None => return Err(format!("unknown list @{name}")),
        }
    }
    Ok(kind as i64)
}

/// The value of a literal written as text (quoted or bare) for a feature of type `ty`.
pub fn text_value(text: &str, ty: Type) -> Result<i64, String> {
    match ty {
        Type::Currency => crate::money::CURRENCY_CODES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(text))
            .map(|(_, n)| i64::from(*n))
            .ok_or_else(|| format!("unknown currency '{text}' (ISO 4217 codes such as 'USD')")),
        Type::Country => match text.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
                Ok(i64::from(u16::from_be_bytes([a, b])))
            }
            _ => Err(format!(
                "'{text}' is not a country (two letters, as in 'CN')"
            )),
        },
        Type::Method => PaymentMethod::from_name(text)
            .map(|m| m as i64)
            .ok_or_else(|| format!("unknown method {text} (card, wallet, bank_transfer)")),
        Type::Scene => Scene::from_name(text).map(|s| s as i64).ok_or_else(|| {
            format!(
                "unknown scene {text} (scan_code, h5, app, official_account, mini_program, pos)"
            )
        }),
        _ => Err(format!("'{text}' is text; this side needs {}", ty.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_names_resolve_as_validate_rule_allows() {
        let p = RuleTarget::Payment;
        let f = resolve("amount_per_card_daily", p).unwrap();
        assert_eq!(
            (f.feature.code, f.feature.entity, f.feature.window),
            (code::AMOUNT_SUM, 3, 2)
        );
        assert_eq!(f.ty, Type::Amount);
        assert!(resolve("payments_per_merchant_hourly", p).is_err());
        assert!(resolve("refunds_per_user_daily", p).is_err());
        assert!(resolve("refunds_per_user_daily", RuleTarget::Refund).is_ok());
        assert!(resolve("refunds_per_ip_daily", RuleTarget::Refund).is_err());
        assert!(resolve("declines_per_device_hourly", p).is_ok());
        assert!(resolve("payments_per_user_weekly", p).is_err());
        assert!(resolve("ip", RuleTarget::Refund).is_err());
        assert!(resolve("nope", p).unwrap_err().contains("unknown feature"));
    }

    #[test]
    fn literals_and_lists() {
        assert_eq!(text_value("usd", Type::Currency), Ok(840));
        assert_eq!(
            text_value("cn", Type::Country),
            Ok(i64::from(u16::from_be_bytes(*b"CN")))
        );
        assert_eq!(text_value("bank_transfer", Type::Method), Ok(3));
        assert!(text_value("x", Type::Amount).is_err());
        assert_eq!(list("blocked_ips", 1), Ok(ListKind::Block as i64));
        assert!(list("blocked_users", 1).is_err());
        assert_eq!(list("allow", 3), Ok(ListKind::Allow as i64));
    }
}
