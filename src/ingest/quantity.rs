//! Exact parsing of wire quantities. Numbers arrive as their original JSON text
//! (serde_json's `arbitrary_precision`), so nothing ever passes through `f64`.
//!
//! A JSON number is taken by its exact value, whatever its spelling: `5`, `5.0` and `5e0` are
//! all five invocations (JSON and JSON Schema make no difference between them, so a client
//! generated from the API description may send any). What is refused is a value that is not
//! whole (`1.5` invocations), out of range, or finer than nine decimals — never a spelling.
//! Strings stay plain digits (`"3000000"`, `"0.25"`): they exist for exactness, not for style.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::Value;

use super::record::RecordError;
use crate::http::exact_json_number_text;

/// What a quantity's JSON is, read from a parsed [`Value`] or straight from the body's text
/// ([`JsonText`], so a native record's quantities are never copied out of the body).
pub(crate) trait QuantityJson {
    fn shape(&self) -> Shape<'_>;
}

/// A quantity's JSON: a number (its text as written), a string (its content) or anything else.
pub(crate) enum Shape<'v> {
    Number(&'v str),
    String(Cow<'v, str>),
    Other,
}

impl QuantityJson for Value {
    fn shape(&self) -> Shape<'_> {
        match self {
            Value::Number(n) => Shape::Number(n.as_str()),
            Value::String(s) => Shape::String(Cow::Borrowed(s)),
            _ => Shape::Other,
        }
    }
}

/// A value's JSON text as it stands in the body, borrowed: how a native record and a
/// CloudEvent's `data` hold their quantities, whether serde or the hand reader
/// (`plain_record.rs`) read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonText<'a>(pub &'a str);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue as serde::Deserialize>::deserialize(deserializer).map(|raw| JsonText(raw.get()))
    }
}

impl QuantityJson for JsonText<'_> {
    /// The text was checked to be JSON when it was read: a number is its own text, and a
    /// string without escapes is the text between its quotes.
    fn shape(&self) -> Shape<'_> {
        let text = self.0.trim();
        match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => Shape::Number(text),
            Some(b'"') if !text.contains('\\') => Shape::String(Cow::Borrowed(&text[1..text.len() - 1])),
            Some(b'"') => serde_json::from_str::<String>(text).map_or(Shape::Other, |s| Shape::String(Cow::Owned(s))),
            _ => Shape::Other,
        }
    }
}

/// Largest `memory_gb_seconds` one record may carry.
const MAX_MEMORY: i64 = 1_000_000_000_000_000;
/// Most decimal places `memory_gb_seconds` may carry.
const MAX_MEMORY_SCALE: usize = 9;

/// An integer meter (`cpu_cycles`, `invocations`): a whole number `0..=2^63-1`, as a JSON
/// number of that value or a string of digits.
pub(crate) fn parse_integer<Q: QuantityJson + ?Sized>(field: &'static str, value: &Q) -> Result<Decimal, RecordError> {
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
pub(crate) fn parse_decimal<Q: QuantityJson + ?Sized>(field: &'static str, value: &Q) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let too_big = || invalid("must be at most 1000000000000000");
    let exact = match written(field, value)? {
        Written::Value(exact) => exact.ok_or_else(too_big)?.normalize(),
        Written::Text(text) => {
            let text: &str = &text;
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
    Text(Cow<'v, str>),
    Value(Option<Decimal>),
}

/// Reads a quantity's JSON; negative numbers are refused here for every meter.
fn written<'v, Q: QuantityJson + ?Sized>(field: &'static str, value: &'v Q) -> Result<Written<'v>, RecordError> {
    let text = match value.shape() {
        Shape::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => Cow::Borrowed(text),
        Shape::Number(text) if !text.starts_with('-') => return Ok(Written::Value(exact_json_number_text(text))),
        Shape::String(text) if !text.starts_with('-') => text,
        Shape::Number(_) | Shape::String(_) => {
            return Err(RecordError::new("invalid_quantity", format!("{field} must not be negative")))
        }
        Shape::Other => return Err(RecordError::new("invalid_quantity", format!("{field} must be a number"))),
    };
    Ok(Written::Text(text))
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

    /// A native record's quantities are read from the body's text, a CloudEvent's and a
    /// correction's from parsed values: every spelling must read the same both ways.
    #[test]
    fn raw_text_reads_as_the_parsed_value_does() {
        let cases = [
            "3000000",
            "5.0",
            "1e3",
            "2.5E1",
            "-1",
            "1.5",
            "1e30",
            "9223372036854775808",
            "\"1.0\"",
            "\"1e3\"",
            "\"\"",
            "true",
            "null",
            "{}",
            "[1]",
            "0.125",
            "\"0.250\"",
            "\"\\u0030.5\"",
            "\"\\u002d1\"",
            "1e-5",
        ];
        for case in cases {
            let raw: JsonText = serde_json::from_str(case).unwrap();
            let value = json(case);
            assert_eq!(parse_integer("n", &raw), parse_integer("n", &value), "integer {case}");
            assert_eq!(parse_decimal("m", &raw), parse_decimal("m", &value), "decimal {case}");
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
