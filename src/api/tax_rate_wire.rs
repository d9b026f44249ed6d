//! A tenant's `tax_rate` (api-spec `TaxRate`) read by its exact value, apart from the other
//! tenant fields because a number's spellings (`8.875`, `"8.875"`, `5e1`, `"+5"`) take more
//! care than any other field's.
//!
//! Stage: the HTTP edge (wire validation). Pure.

use rust_decimal::Decimal;
use serde_json::Value;

use super::tenant_wire::invalid;
use crate::domain::NumberText;
use crate::http::ApiError;

/// Most decimal places a tax rate may have (8.875 has 3; a rate needing 20 is already absurd).
const MAX_TAX_RATE_PLACES: i64 = 20;

/// A percent 0–100 by its exact value: a decimal string (`"8.875"`; the spec shows plain
/// digits, a sign or a bare point is read as it always was) or any JSON number of that value
/// (`8.875`, `5e1`); trailing zeros are no decimal places.
pub(super) fn tax_rate(value: &Value) -> Result<Decimal, ApiError> {
    let not_a_percent = || invalid("tax_rate must be a decimal percent like \"8.875\"");
    let number = match value {
        Value::Number(n) => NumberText::json(n.as_str()),
        Value::String(s) => NumberText::signed_decimal(s),
        _ => None,
    }
    .ok_or_else(not_a_percent)?;
    let out_of_range = || invalid("tax_rate must be between 0 and 100");
    if number.is_negative() || number.whole_digits() > 3 {
        return Err(out_of_range());
    }
    if number.decimal_places() > MAX_TAX_RATE_PLACES {
        return Err(invalid(&format!("tax_rate has at most {MAX_TAX_RATE_PLACES} decimal places")));
    }
    // At most 3 whole digits and 20 places: `Decimal` holds it exactly.
    let rate = number.value().ok_or_else(not_a_percent)?;
    if rate > Decimal::ONE_HUNDRED {
        return Err(out_of_range());
    }
    Ok(rate.normalize())
}

#[cfg(test)]
mod tests {
    use super::tax_rate;
    use serde_json::Value;

    /// `(JSON of tax_rate, the rate stored or words of the refusal, why)`.
    #[test]
    fn a_tax_rate_is_judged_by_its_exact_value_in_any_json_spelling() {
        let cases = [
            (r#""8.875""#, Ok("8.875"), "the documented string form"),
            ("8.875", Ok("8.875"), "a JSON number"),
            ("5e1", Ok("50"), "an exponent is a JSON number like any other"),
            ("1E-5", Ok("0.00001"), "a negative exponent"),
            ("-0", Ok("0"), "negative zero is zero"),
            ("100.000", Ok("100"), "trailing zeros are no places"),
            (r#""19.60""#, Ok("19.6"), "stored normalized"),
            ("100.00000000000000000001", Err("between 0 and 100"), "above 100 by the finest place"),
            ("1e3", Err("between 0 and 100"), "far above"),
            ("-0.5", Err("between 0 and 100"), "negative"),
            (
                "0.333333333333333333333333333333333",
                Err("at most 20 decimal places"),
                "finer than a rate needs, not rounded",
            ),
            ("1e-400", Err("at most 20 decimal places"), "too fine for Decimal, refused for its places"),
            (r#""5e1""#, Err("decimal percent"), "a string is plain digits"),
            (r#""-5""#, Err("between 0 and 100"), "a negative string is out of range, as it always was"),
            (r#""+5""#, Ok("5"), "a string may carry a plus sign, as it always could"),
            (r#""-0""#, Ok("0"), "a string's negative zero is zero"),
            (r#"".5""#, Ok("0.5"), "a string's point may lead"),
            (r#""5.""#, Ok("5"), "or trail"),
            (r#""-1e1""#, Err("decimal percent"), "a string has no exponent, signed or not"),
            ("true", Err("decimal percent"), "not a number"),
        ];
        for (json, expected, why) in cases {
            let value: Value = serde_json::from_str(json).expect(why);
            match (tax_rate(&value), expected) {
                (Ok(rate), Ok(rate_expected)) => assert_eq!(rate.to_string(), rate_expected, "{why}: {json}"),
                (Err(error), Err(words)) => assert!(error.to_string().contains(words), "{why}: {json} gave {error}"),
                (got, _) => panic!("{why}: {json} gave {got:?}, expected {expected:?}"),
            }
        }
    }
}
