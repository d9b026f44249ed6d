//! Exact parsing of wire quantities. Numbers arrive as their original JSON text
//! (serde_json's `arbitrary_precision`), so nothing ever passes through `f64`.
//!
//! A JSON number is taken by its exact value, whatever its spelling: `5`, `5.0` and `5e0` are
//! all five invocations (JSON and JSON Schema make no difference between them, so a client
//! generated from the API description may send any). What is refused is a value that is not
//! whole (`1.5` invocations), out of range, or finer than nine decimals — never a spelling.
//! Strings stay plain digits (`"3000000"`, `"0.25"`): they exist for exactness, not for style.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::record::RecordError;
use crate::http::exact_json_number;

/// Largest `memory_gb_seconds` one record may carry.
const MAX_MEMORY: i64 = 1_000_000_000_000_000;
/// Most decimal places `memory_gb_seconds` may carry.
const MAX_MEMORY_SCALE: usize = 9;

/// An integer meter (`cpu_cycles`, `invocations`): a whole number `0..=2^63-1`, as a JSON
/// number of that value or a string of digits.
pub(crate) fn parse_integer(field: &'static str, value: &Value) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let too_big = || invalid("must be at most 9223372036854775807");
    match written(field, value)? {
        Written::Value(exact) => {
            let exact = exact.ok_or_else(too_big)?;
            if !exact.fract().is_zero() {
                return Err(invalid("must be a whole number"));
            }
            i64::try_from(exact).map(Decimal::from).map_err(|_| too_big())
        }
        Written::Text(text) if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(invalid("must be a whole number written as digits"))
        }
        Written::Text(text) => text.parse::<i64>().map(Decimal::from).map_err(|_| too_big()),
    }
}

/// `memory_gb_seconds`: a non-negative decimal ≤ 10^15 with at most 9 decimals, as a JSON
/// number of that value or a plain decimal string, parsed exactly.
pub(crate) fn parse_decimal(field: &'static str, value: &Value) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let too_big = || invalid("must be at most 1000000000000000");
    let exact = match written(field, value)? {
        Written::Value(exact) => exact.ok_or_else(too_big)?.normalize(),
        Written::Text(text) => {
            let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if whole.is_empty() || !digits(whole) || !digits(fraction) || (text.contains('.') && fraction.is_empty()) {
                return Err(invalid("must be a plain decimal like \"0.25\" (no exponent)"));
            }
            if fraction.len() > MAX_MEMORY_SCALE {
                return Err(invalid("must have at most 9 decimal places"));
            }
            Decimal::from_str(text).map_err(|_| too_big())?.normalize()
        }
    };
    if exact.scale() as usize > MAX_MEMORY_SCALE {
        return Err(invalid("must have at most 9 decimal places"));
    }
    if exact > Decimal::from(MAX_MEMORY) {
        return Err(too_big());
    }
    Ok(exact)
}

/// How a quantity was written: a string or plain digits (read as text, by the meter's
/// rules), or a JSON number with a fraction or exponent (taken by its exact value; `None`
/// beyond what `Decimal` holds).
enum Written<'v> {
    Text(&'v str),
    Value(Option<Decimal>),
}

/// Reads a quantity's JSON; negative numbers are refused here for every meter.
fn written<'v>(field: &'static str, value: &'v Value) -> Result<Written<'v>, RecordError> {
    let text = number_text(field, value)?;
    if text.starts_with('-') {
        return Err(RecordError::new("invalid_quantity", format!("{field} must not be negative")));
    }
    Ok(match json_number_value(value) {
        Some(exact) => Written::Value(exact),
        None => Written::Text(text),
    })
}

/// The exact value of a JSON number written with a fraction or an exponent (`None` inside:
/// beyond what `Decimal` holds); plain digits and strings are not this function's business.
fn json_number_value(value: &Value) -> Option<Option<Decimal>> {
    let Value::Number(n) = value else { return None };
    match n.as_str().bytes().all(|b| b.is_ascii_digit()) {
        true => None,
        false => Some(exact_json_number(n)),
    }
}

fn number_text<'v>(field: &'static str, value: &'v Value) -> Result<&'v str, RecordError> {
    match value {
        Value::Number(n) => Ok(n.as_str()),
        Value::String(s) => Ok(s.as_str()),
        _ => Err(RecordError::new("invalid_quantity", format!("{field} must be a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn integers_accept_whole_numbers_in_range_however_json_spells_them() {
        assert_eq!(parse_integer("invocations", &json("3000000")).unwrap(), Decimal::from(3_000_000));
        assert_eq!(parse_integer("invocations", &json("9223372036854775807")).unwrap(), Decimal::from(i64::MAX));
        assert_eq!(parse_integer("invocations", &json("5.0")).unwrap(), Decimal::from(5), "5.0 is five");
        assert_eq!(parse_integer("invocations", &json("1e3")).unwrap(), Decimal::from(1000), "1e3 is a thousand");
        assert_eq!(parse_integer("invocations", &json("2.5E1")).unwrap(), Decimal::from(25));
        for bad in ["-1", "1.5", "1e-1", "1e30", "9223372036854775808", "9.3e18", "\"1.0\"", "\"1e3\"", "\"\"", "true"]
        {
            let error = parse_integer("invocations", &json(bad)).unwrap_err();
            assert_eq!(error.code, "invalid_quantity", "{bad} must be refused");
        }
    }

    #[test]
    fn decimals_are_exact_and_bounded() {
        assert_eq!(parse_decimal("m", &json("0.1")).unwrap().to_string(), "0.1");
        assert_eq!(parse_decimal("m", &json("\"0.250\"")).unwrap().to_string(), "0.25");
        assert_eq!(parse_decimal("m", &json("0.123456789")).unwrap().to_string(), "0.123456789");
        assert_eq!(parse_decimal("m", &json("1000000000000000")).unwrap(), Decimal::from(MAX_MEMORY));
        assert_eq!(parse_decimal("m", &json("1e-5")).unwrap().to_string(), "0.00001", "an exponent spells a value");
        assert_eq!(parse_decimal("m", &json("2.50E2")).unwrap().to_string(), "250");
        for bad in [
            "-0.1",
            "1e-10",
            "1e16",
            "0.1234567891",
            "1000000000000000.1",
            "\"1e3\"",
            "\"abc\"",
            "\".5\"",
            "\"5.\"",
            "null",
        ] {
            assert!(parse_decimal("m", &json(bad)).is_err(), "{bad} must be refused");
        }
    }
}
