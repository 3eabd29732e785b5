//! Programs and FX rates (REWARDS.md §2).

use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::json::{self, decimal_json, object, required, Errors};
use super::Invalid;
use crate::types::{CurrencyCode, ProgramId, Unit};

/// A card program: what a `card_type` names, and the unit its rewards are in.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub id: ProgramId,
    pub name: String,
    pub unit: Unit,
}

/// SGD per one unit of `currency`.
#[derive(Clone, Debug, PartialEq)]
pub struct FxRate {
    pub currency: CurrencyCode,
    pub rate: Decimal,
}

pub(crate) const PROGRAM_ID_MSG: &str =
    "must be a program id: 1 to 64 characters, each a-z, 0-9 or _";

pub(crate) fn program_id(v: &Value) -> Result<ProgramId, String> {
    v.as_str()
        .and_then(ProgramId::parse)
        .ok_or_else(|| PROGRAM_ID_MSG.to_owned())
}

impl Program {
    pub fn from_json(v: &Value) -> Result<Program, Invalid> {
        let mut errors = Errors::default();
        let Some(map) = object(v, &["id", "name", "unit"], &mut errors) else {
            return errors.finish(|| None);
        };
        let id = required(map, "id", &mut errors, program_id);
        let name = required(map, "name", &mut errors, json::name);
        let unit = required(map, "unit", &mut errors, |v| {
            v.as_str()
                .and_then(Unit::parse)
                .ok_or_else(|| "must be one of: points, miles, cashback".to_owned())
        });
        errors.finish(|| {
            Some(Program {
                id: id?,
                name: name?,
                unit: unit?,
            })
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id.as_str()));
        m.insert("name".into(), json!(self.name));
        m.insert("unit".into(), json!(self.unit.as_str()));
        Value::Object(m)
    }

    /// The program id.
    pub fn key(&self) -> String {
        self.id.to_string()
    }

    /// What the types alone do not guarantee, for a program built in code.
    pub(crate) fn problems(&self, errors: &mut Errors) {
        if let Err(m) = json::check_name(&self.name) {
            errors.push("name", m);
        }
    }
}

/// The largest FX rate accepted: SGD per one unit of a currency.
const FX_MAX: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

pub(crate) fn check_fx_rate(d: Decimal) -> Result<(), String> {
    if d.is_sign_negative() || d.is_zero() {
        return Err(format!("must be greater than 0, but is {d}"));
    }
    if d > FX_MAX {
        return Err(format!("must be at most 1000000, but is {d}"));
    }
    if json::fraction_digits(d) > 6 {
        return Err(format!(
            "must have at most 6 fractional digits, but {d} has more"
        ));
    }
    Ok(())
}

pub(crate) fn check_fx_currency(c: CurrencyCode) -> Result<(), String> {
    if c.is_sgd() {
        return Err("must not be SGD: SGD is always 1 and cannot be given a rate".to_owned());
    }
    Ok(())
}

impl FxRate {
    pub fn from_json(v: &Value) -> Result<FxRate, Invalid> {
        let mut errors = Errors::default();
        let Some(map) = object(v, &["currency", "rate"], &mut errors) else {
            return errors.finish(|| None);
        };
        let currency = required(map, "currency", &mut errors, |v| {
            let c = v.as_str().and_then(CurrencyCode::parse).ok_or_else(|| {
                "must be an upper-case ISO 4217 currency code, like \"USD\"".to_owned()
            })?;
            check_fx_currency(c)?;
            Ok(c)
        });
        let rate = required(map, "rate", &mut errors, |v| {
            let d = json::decimal(v)?;
            check_fx_rate(d)?;
            Ok(d)
        });
        errors.finish(|| {
            Some(FxRate {
                currency: currency?,
                rate: rate?,
            })
        })
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("currency".into(), json!(self.currency.as_str()));
        m.insert("rate".into(), decimal_json(self.rate));
        Value::Object(m)
    }

    /// The currency code.
    pub fn key(&self) -> String {
        self.currency.to_string()
    }

    pub(crate) fn problems(&self, errors: &mut Errors) {
        if let Err(m) = check_fx_currency(self.currency) {
            errors.push("currency", m);
        }
        if let Err(m) = check_fx_rate(self.rate) {
            errors.push("rate", m);
        }
    }
}
