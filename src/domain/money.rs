//! Money: an exact `Decimal` amount in an ISO 4217 currency.
//!
//! Amounts keep full precision through rating; each invoice line is rounded once, half away
//! from zero, to its currency's minor unit (DESIGN §5). Never `f64`, never plain `round_dp`
//! (that one is banker's rounding). Nothing here does IO.
#![warn(missing_docs)]

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

/// Why a money value could not be formed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    /// The code is not an active ISO 4217 code in the table.
    #[error("unknown currency {0:?}; expected an ISO 4217 code such as \"USD\"")]
    UnknownCurrency(String),
    /// Amounts of two currencies were combined.
    #[error("cannot combine {left} and {right} amounts")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// A sum left `Decimal`'s range.
    #[error("amount overflowed")]
    Overflow,
}

/// Active ISO 4217 codes by number of minor-unit digits (fund codes and precious metals left
/// out: nobody is billed in them). Source: the ISO 4217 list one (SIX Group).
const CODES_BY_MINOR_UNITS: [(u32, &[&str]); 3] = [
    (
        0,
        &[
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF",
            "XPF",
        ],
    ),
    (
        2,
        &[
            "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD",
            "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP",
            "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
            "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
            "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
            "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN",
            "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
            "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD",
            "TZS", "UAH", "USD", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
        ],
    ),
    (3, &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]),
];

/// An ISO 4217 currency and the number of digits of its minor unit (USD 2, JPY 0, KWD 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

impl Currency {
    /// Looks up an upper-case ISO 4217 code.
    ///
    /// ```
    /// use tally::domain::Currency;
    /// assert_eq!(Currency::parse("KWD").map(|c| c.minor_units()), Ok(3));
    /// ```
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] when the code is not in the table (codes are
    /// case-sensitive: `"usd"` is refused).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CODES_BY_MINOR_UNITS
            .iter()
            .find_map(|(minor_units, codes)| {
                codes
                    .iter()
                    .find(|known| **known == code)
                    .map(|known| Currency { code: known, minor_units: *minor_units })
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point of the minor unit (cents: 2).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// The most minor-unit digits any currency has (KWD: 3): what an amount whose currency
    /// is not known yet may carry.
    pub fn most_minor_units() -> u32 {
        CODES_BY_MINOR_UNITS.iter().map(|(minor_units, _)| *minor_units).max().unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An exact amount of a currency. Any `Decimal` is allowed (credits are negative); rounding
/// happens only when asked for, once per invoice line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The exact amount, in major units (dollars, not cents).
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// An amount of `currency`.
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money { amount: Decimal::ZERO, currency }
    }

    /// Rounds half away from zero to the currency's minor unit: 0.125 USD → 0.13,
    /// 0.135 USD → 0.14, −0.125 USD → −0.13, 1869.5 JPY → 1870. A rounded zero is
    /// never negative.
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// use tally::domain::{Currency, Money};
    /// let usd = Currency::parse("USD").unwrap();
    /// let cents = Money::new(Decimal::new(125, 3), usd).round_to_minor_units();
    /// assert_eq!(cents.amount, Decimal::new(13, 2));
    /// ```
    pub fn round_to_minor_units(&self) -> Money {
        let mut amount =
            self.amount.round_dp_with_strategy(self.currency.minor_units, RoundingStrategy::MidpointAwayFromZero);
        if amount.is_zero() {
            amount.set_sign_positive(true);
        }
        Money { amount, currency: self.currency }
    }

    /// The rounded amount as text with exactly the currency's number of decimals, without the
    /// code: `"18.70"` (USD), `"1870"` (JPY), `"1.234"` (KWD). This is the form amounts take
    /// in JSON, next to `currency`.
    pub fn format_amount(&self) -> String {
        let rounded = self.round_to_minor_units();
        format!("{:.*}", self.currency.minor_units as usize, rounded.amount)
    }

    /// Adds two amounts of the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] for different currencies, [`MoneyError::Overflow`] when
    /// the sum leaves `Decimal`'s range.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency });
        }
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, currency: self.currency })
    }
}

impl fmt::Display for Money {
    /// `"18.70 USD"`: the rounded amount and the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format_amount(), self.currency.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn money(amount: &str, code: &str) -> Money {
        Money::new(Decimal::from_str(amount).unwrap(), Currency::parse(code).unwrap())
    }

    #[test]
    fn common_currencies_have_their_iso_minor_units() {
        let cases = [
            ("USD", 2),
            ("EUR", 2),
            ("GBP", 2),
            ("CHF", 2),
            ("INR", 2),
            ("CAD", 2),
            ("AUD", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
        ];
        for (code, digits) in cases {
            let currency = Currency::parse(code).unwrap_or_else(|e| panic!("{code} should be known: {e}"));
            assert_eq!(currency.minor_units(), digits, "minor units of {code}");
            assert_eq!(currency.code(), code);
        }
    }

    #[test]
    fn unknown_or_lower_case_codes_are_refused() {
        for code in ["usd", "XXX", "", "US", "USDD", "XAU"] {
            assert_eq!(Currency::parse(code), Err(MoneyError::UnknownCurrency(code.to_owned())), "{code:?}");
        }
    }

    #[test]
    fn the_currency_table_has_no_duplicates() {
        let mut all: Vec<&str> = CODES_BY_MINOR_UNITS.iter().flat_map(|(_, codes)| codes.iter().copied()).collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
        assert!(all.iter().all(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase())));
    }

    #[test]
    fn rounding_is_half_away_from_zero_never_bankers() {
        let cases = [
            ("0.125", "USD", "0.13", "a midpoint below an even digit rounds up"),
            ("0.135", "USD", "0.14", "a midpoint below an odd digit rounds up"),
            ("0.145", "USD", "0.15", "banker's would give 0.14"),
            ("0.124999", "USD", "0.12", "below the midpoint rounds down"),
            ("-0.125", "USD", "-0.13", "negative midpoints round away from zero"),
            ("1869.5", "JPY", "1870", "zero-decimal currencies round to units"),
            ("1.2345", "KWD", "1.235", "three-decimal currencies round to fils"),
            ("-0.001", "USD", "0.00", "a rounded zero is not negative"),
        ];
        for (amount, code, expected, why) in cases {
            let rounded = money(amount, code).round_to_minor_units();
            assert_eq!(rounded.amount, Decimal::from_str(expected).unwrap(), "{amount} {code}: {why}");
            assert_eq!(rounded.format_amount(), expected, "{amount} {code} formatted: {why}");
        }
    }

    #[test]
    fn amounts_are_formatted_at_the_currency_precision() {
        let cases =
            [("18.7", "USD", "18.70"), ("1870", "JPY", "1870"), ("1.234", "KWD", "1.234"), ("5", "KWD", "5.000")];
        for (amount, code, expected) in cases {
            assert_eq!(money(amount, code).format_amount(), expected, "{amount} {code}");
        }
        assert_eq!(money("18.7", "USD").to_string(), "18.70 USD");
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        let sum = money("1", "USD").checked_add(&money("1", "EUR"));
        assert!(matches!(sum, Err(MoneyError::CurrencyMismatch { .. })));
        assert_eq!(money("1.5", "USD").checked_add(&money("2.25", "USD")), Ok(money("3.75", "USD")));
        assert_eq!(
            money("1", "USD").checked_add(&Money { amount: Decimal::MAX, ..money("1", "USD") }),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn currencies_round_trip_through_serde_as_their_code() {
        #[derive(serde::Deserialize)]
        struct Holder {
            currency: Currency,
        }
        let holder: Holder = toml::from_str("currency = \"JPY\"").unwrap();
        assert_eq!(holder.currency.minor_units(), 0);
        assert!(toml::from_str::<Holder>("currency = \"ZZZ\"").is_err());
    }

    proptest! {
        #[test]
        fn rounding_moves_an_amount_by_at_most_half_a_minor_unit(
            mantissa in -10_000_000_000i64..10_000_000_000,
            scale in 0u32..10,
        ) {
            let exact = Decimal::new(mantissa, scale);
            let rounded = Money::new(exact, Currency::parse("USD").unwrap()).round_to_minor_units().amount;
            prop_assert!((rounded - exact).abs() <= Decimal::new(5, 3));
            prop_assert!(rounded.scale() <= 2);
            // Half away from zero: the rounded value is never closer to zero than a midpoint.
            if (exact.abs() * Decimal::from(1000)) % Decimal::from(10) == Decimal::from(5) {
                prop_assert!(rounded.abs() > exact.abs());
            }
        }
    }
}
