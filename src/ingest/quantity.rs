//! Exact parsing of wire quantities. Numbers arrive as their original JSON text
//! (serde_json's `arbitrary_precision`), so nothing ever passes through `f64`.
//!
//! A JSON number is taken by its exact value, whatever its spelling: `5`, `5.0` and `5e0` are
//! all five invocations (JSON and JSON Schema make no difference between them, so a client
//! generated from the API description may send any). What is refused is a value that is not
//! whole (`1.5` invocations), out of range, or finer than nine decimals — never a spelling.
//! Negative zero (`-0`, `-0.0`) is zero. Strings stay plain digits (`"3000000"`, `"0.25"`):
//! they exist for exactness, not for style; within that grammar they too are judged by value
//! (`"0.1234567890"` has nine decimal places, as the number `0.1234567890` has).

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::Value;

use super::record::RecordError;
use crate::domain::NumberText;

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
const MAX_MEMORY_SCALE: i64 = 9;

/// An integer meter (`cpu_cycles`, `invocations`): a whole number `0..=2^63-1`, as a JSON
/// number of that value or a string of digits.
pub(crate) fn parse_integer<Q: QuantityJson + ?Sized>(field: &'static str, value: &Q) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let too_big = || invalid("must be at most 9223372036854775807");
    read_quantity(field, value, Strings::Digits, |number| {
        if number.whole_digits() > 19 {
            return Err(too_big());
        }
        if number.decimal_places() > 0 {
            return Err(invalid("must be a whole number"));
        }
        let exact = number.value().ok_or_else(too_big)?;
        i64::try_from(exact).map(Decimal::from).map_err(|_| too_big())
    })
}

/// `memory_gb_seconds`: a non-negative decimal ≤ 10^15 with at most 9 decimal places, as a
/// JSON number of that value or a plain decimal string, parsed exactly. Decimal places are
/// the value's in both forms: `0.1234567890` and `"0.1234567890"` are 0.123456789.
pub(crate) fn parse_decimal<Q: QuantityJson + ?Sized>(field: &'static str, value: &Q) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let too_big = || invalid("must be at most 1000000000000000");
    read_quantity(field, value, Strings::Decimal, |number| {
        if number.whole_digits() > 16 {
            return Err(too_big());
        }
        if number.decimal_places() > MAX_MEMORY_SCALE {
            return Err(invalid("must have at most 9 decimal places"));
        }
        let exact = number.value().ok_or_else(too_big)?;
        if exact > Decimal::from(MAX_MEMORY) {
            return Err(too_big());
        }
        Ok(exact)
    })
}

/// What a meter's strings may hold: digits, and for a fractional meter one point.
#[derive(Debug, Clone, Copy)]
enum Strings {
    Digits,
    Decimal,
}

impl Strings {
    /// `text` read by this grammar; `None` when it does not follow it.
    fn number_of(self, text: &str) -> Option<NumberText<'_>> {
        NumberText::plain(text).filter(|n| matches!(self, Strings::Decimal) || !n.has_point())
    }

    /// Why a string was refused.
    fn rule(self) -> &'static str {
        match self {
            Strings::Digits => "must be a whole number written as digits",
            Strings::Decimal => "must be a plain decimal like \"0.25\" (no sign or exponent)",
        }
    }
}

/// Reads a quantity's JSON — a number by its value however it is spelled, a string by the
/// meter's `strings` grammar, then by its value too — and hands it to `judge` (the meter's
/// bounds). Values below zero are refused here for every meter; negative zero is zero.
fn read_quantity<Q: QuantityJson + ?Sized>(
    field: &'static str,
    value: &Q,
    strings: Strings,
    judge: impl FnOnce(NumberText<'_>) -> Result<Decimal, RecordError>,
) -> Result<Decimal, RecordError> {
    let invalid = |why: &str| RecordError::new("invalid_quantity", format!("{field} {why}"));
    let negative = || invalid("must not be negative");
    let number = match value.shape() {
        Shape::Number(text) => NumberText::json(text).ok_or_else(|| invalid("must be a number"))?,
        // A sign is no part of a string's grammar, but "-5" is told the real problem.
        Shape::String(text) => {
            if text.strip_prefix('-').and_then(|t| strings.number_of(t)).is_some_and(|n| !n.is_zero()) {
                return Err(negative());
            }
            return judge(strings.number_of(&text).ok_or_else(|| invalid(strings.rule()))?);
        }
        Shape::Other => return Err(invalid("must be a number")),
    };
    if number.is_negative() {
        return Err(negative());
    }
    judge(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// The string form's pattern of a quantity schema in `api-spec/openapi.yaml`.
    fn spec_string_pattern(spec: &serde_yaml::Value, schema: &str) -> regex_lite::Regex {
        let forms = spec["components"]["schemas"][schema]["oneOf"].as_sequence().unwrap();
        let string = forms.iter().find(|form| form["type"] == "string").unwrap();
        regex_lite::Regex::new(string["pattern"].as_str().unwrap()).unwrap()
    }

    /// Strings around every bound a quantity has (each power of ten, 2^63, 10^15, nine decimal
    /// places), with and without leading and trailing zeros, and digits drawn at random.
    fn quantity_strings() -> Vec<String> {
        let mut bounds: Vec<u128> = vec![i64::MAX as u128, 1_000_000_000_000_000];
        bounds.extend((0..21).map(|k| 10u128.pow(k)));
        let mut texts: Vec<String> = bounds
            .iter()
            .flat_map(|b| [b.saturating_sub(1), *b, b + 1])
            .flat_map(|n| {
                [n.to_string(), format!("0{n}"), format!("000{n}"), format!("{n}.0"), format!("{n}.000000001")]
            })
            .collect();
        texts.extend(
            ["0.000000001", "0.0000000001", "0.0000000010", "0.1234567890", "00.5", "0.", ".5", "", "1.2.3"]
                .map(String::from),
        );
        // Digits drawn by a fixed xorshift: the same strings every run.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut digits = |len: u64| -> String {
            (0..1 + len % 22)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'0' + (seed % 10) as u8)
                })
                .collect()
        };
        for round in 0..20_000 {
            let whole = digits(round);
            let fraction = digits(round / 3 % 12);
            texts.push(format!("{whole}.{fraction}"));
            texts.push(whole);
        }
        texts
    }

    /// A client generated from the spec sends exactly the quantity strings the API accepts:
    /// the patterns admit what the parser does and no more, leading zeros included.
    #[test]
    fn the_spec_s_quantity_patterns_admit_exactly_the_strings_the_parser_accepts() {
        let spec: serde_yaml::Value = serde_yaml::from_str(include_str!("../../api-spec/openapi.yaml")).unwrap();
        type Parse = fn(&'static str, &Value) -> Result<Decimal, RecordError>;
        let schemas: [(&str, Parse, bool); 4] = [
            ("IntegerQuantity", parse_integer::<Value>, false),
            ("PositiveIntegerQuantity", parse_integer::<Value>, true),
            ("DecimalQuantity", parse_decimal::<Value>, false),
            ("PositiveDecimalQuantity", parse_decimal::<Value>, true),
        ];
        let texts = quantity_strings();
        for (schema, parse, positive) in schemas {
            let pattern = spec_string_pattern(&spec, schema);
            for text in &texts {
                let accepted = parse("q", &Value::String(text.clone())).is_ok_and(|q| !positive || q > Decimal::ZERO);
                assert_eq!(pattern.is_match(text), accepted, "{schema}: {text:?}");
            }
        }
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
            "1e-400",
            "-0",
            "-0.0",
            "\"-0\"",
            "0.1234567890",
            "\"0.1234567890\"",
        ];
        for case in cases {
            let raw: JsonText = serde_json::from_str(case).unwrap();
            let value = json(case);
            assert_eq!(parse_integer("n", &raw), parse_integer("n", &value), "integer {case}");
            assert_eq!(parse_decimal("m", &raw), parse_decimal("m", &value), "decimal {case}");
        }
    }

    /// `(JSON, Ok(value) or Err(message fragment), why)` for `memory_gb_seconds`.
    #[test]
    fn a_fractional_quantity_is_judged_by_its_value_with_a_message_that_names_the_real_problem() {
        let cases: &[(&str, Result<&str, &str>, &str)] = &[
            ("1e-400", Err("at most 9 decimal places"), "underflows Decimal, but is too fine, not too big"),
            ("1E-29", Err("at most 9 decimal places"), "just past what Decimal holds"),
            ("-1e-400", Err("must not be negative"), "a negative value however fine"),
            ("1e400", Err("must be at most 1000000000000000"), "overflows Decimal: too big"),
            ("1e16", Err("must be at most 1000000000000000"), "in Decimal's range, past the meter's"),
            ("-0", Ok("0"), "negative zero is zero"),
            ("-0.0", Ok("0"), "negative zero with a fraction is zero"),
            ("-0e7", Ok("0"), "negative zero with an exponent is zero"),
            ("0.1234567890", Ok("0.123456789"), "a trailing zero is no tenth decimal place"),
            ("\"0.1234567890\"", Ok("0.123456789"), "nor in a string: the same value either way"),
            ("0.1234567891", Err("at most 9 decimal places"), "ten decimal places as a number"),
            ("\"0.1234567891\"", Err("at most 9 decimal places"), "and as a string"),
            ("0.10000000000000000000000000000001", Err("at most 9 decimal places"), "not rounded to 0.1"),
            ("\"-0.5\"", Err("must not be negative"), "a signed string says what is wrong with it"),
            ("\"-0\"", Err("plain decimal"), "a string has no sign, even for zero"),
            ("1.5e-9", Err("at most 9 decimal places"), "an exponent that adds a tenth place"),
            ("1000000000000000.000000000", Ok("1000000000000000"), "the largest value, written long"),
        ];
        assert_cases(cases, |value| parse_decimal("m", value));
    }

    /// Checks each `(JSON, Ok(value) or Err(message fragment), why)` against `parse`.
    fn assert_cases(
        cases: &[(&str, Result<&str, &str>, &str)],
        parse: impl Fn(&Value) -> Result<Decimal, RecordError>,
    ) {
        for (text, expected, why) in cases {
            let got = parse(&json(text));
            match expected {
                Ok(value) => assert_eq!(got.map(|d| d.to_string()), Ok((*value).to_owned()), "{why}: {text}"),
                Err(fragment) => {
                    let message = got.expect_err(why).message;
                    assert!(message.contains(fragment), "{why}: {text}: {message}");
                }
            }
        }
    }

    /// `(JSON, Ok(value) or Err(message fragment), why)` for `invocations`.
    #[test]
    fn a_whole_quantity_is_judged_by_its_value_with_a_message_that_names_the_real_problem() {
        let cases: &[(&str, Result<&str, &str>, &str)] = &[
            ("1e-400", Err("must be a whole number"), "underflows Decimal, but is a fraction, not too big"),
            ("1e400", Err("must be at most 9223372036854775807"), "overflows Decimal: too big"),
            ("-0", Ok("0"), "negative zero is zero"),
            ("-0.0", Ok("0"), "negative zero with a fraction is zero"),
            ("-1", Err("must not be negative"), "below zero"),
            ("\"-1\"", Err("must not be negative"), "below zero as a string"),
            ("\"-0\"", Err("written as digits"), "a string has no sign, even for zero"),
            ("\"1.0\"", Err("written as digits"), "an integer string is digits only"),
            ("1.0000000000000000000000000000001", Err("must be a whole number"), "not rounded to 1"),
        ];
        assert_cases(cases, |value| parse_integer("n", value));
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
