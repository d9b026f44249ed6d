//! Exact parsing of wire quantities. Numbers arrive as their original JSON text
//! (serde_json's `arbitrary_precision`), so nothing ever passes through `f64`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::record::RecordError;

/// Largest `memory_gb_seconds` one record may carry.
const MAX_MEMORY: i64 = 1_000_000_000_000_000;
/// Most decimal places `memory_gb_seconds` may carry.
const MAX_MEMORY_SCALE: usize = 9;

/// An integer meter (`cpu_cycles`, `invocations`): `0..=2^63-1`, written without fraction or
/// exponent, as a JSON number or a string of digits.
pub(crate) fn parse_integer(field: &'static str, value: &Value) -> Result<Decimal, RecordError> {
    let text = number_text(field, value)?;
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    if text.starts_with('-') {
        return Err(invalid("must not be negative"));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("must be a whole number without fraction or exponent"));
    }
    let whole: i64 = text.parse().map_err(|_| invalid("must be at most 9223372036854775807"))?;
    Ok(Decimal::from(whole))
}

/// `memory_gb_seconds`: a non-negative decimal ≤ 10^15 with at most 9 decimals, as a JSON
/// number or string, parsed exactly.
pub(crate) fn parse_decimal(field: &'static str, value: &Value) -> Result<Decimal, RecordError> {
    let text = number_text(field, value)?;
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    if text.starts_with('-') {
        return Err(invalid("must not be negative"));
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (text.contains('.') && fraction.is_empty()) {
        return Err(invalid("must be a plain decimal like \"0.25\" (no exponent)"));
    }
    if fraction.len() > MAX_MEMORY_SCALE {
        return Err(invalid("must have at most 9 decimal places"));
    }
    let too_big = || invalid("must be at most 1000000000000000");
    let value = Decimal::from_str(text).map_err(|_| too_big())?;
    if value > Decimal::from(MAX_MEMORY) {
        return Err(too_big());
    }
    Ok(value.normalize())
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
    fn integers_accept_only_plain_whole_numbers_in_range() {
        assert_eq!(parse_integer("invocations", &json("3000000")).unwrap(), Decimal::from(3_000_000));
        assert_eq!(parse_integer("invocations", &json("9223372036854775807")).unwrap(), Decimal::from(i64::MAX));
        for bad in ["-1", "1.5", "1.0", "1e3", "9223372036854775808", "\"\"", "true"] {
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
        for bad in ["-0.1", "1e3", "0.1234567891", "1000000000000000.1", "\"abc\"", "\".5\"", "\"5.\"", "null"] {
            assert!(parse_decimal("m", &json(bad)).is_err(), "{bad} must be refused");
        }
    }
}
