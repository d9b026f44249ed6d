//! Typed reads of TOML fields for the plan parser, collecting problems instead of stopping
//! at the first, so `tally plans check` lists everything wrong with a file in one run.
//!
//! Money must be a string (`"0.20"`); quantities are integers or decimal strings; neither is
//! ever a TOML float, which would go through `f64`. No IO.

use rust_decimal::Decimal;
use toml::{Table, Value};

use super::PlanError;

pub(super) const PRICE_FLOAT: &str = "prices must be strings like \"0.20\", not TOML floats";

/// Whether a value is money (strings only) or a quantity (integers or decimal strings).
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Price,
    Quantity,
}

/// Walks one plan, collecting problems instead of stopping at the first.
pub(super) struct Reader<'f> {
    pub(super) file: &'f str,
    pub(super) errors: Vec<PlanError>,
}

impl Reader<'_> {
    pub(super) fn error(&self, field: &str, problem: impl Into<String>) -> PlanError {
        PlanError::Invalid { file: self.file.to_owned(), field: field.to_owned(), problem: problem.into() }
    }

    pub(super) fn fail<T>(&mut self, field: &str, problem: impl Into<String>) -> Option<T> {
        self.errors.push(self.error(field, problem));
        None
    }

    /// The array of tables `[[key]]` (an empty list when absent), each item read by `read`.
    /// Items for which `same` holds with an earlier one are reported, by `repeated(item,
    /// index, first index)` as `(field, problem)`; the list is still returned.
    pub(super) fn array_of_tables<T>(
        &mut self,
        table: &Table,
        key: &str,
        read: impl Fn(&mut Self, usize, &Value) -> Option<T>,
        same: impl Fn(&T, &T) -> bool,
        repeated: impl Fn(&T, usize, usize) -> (String, String),
    ) -> Option<Vec<T>> {
        let items = match table.get(key) {
            None => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return self.fail(key, format!("must be an array of tables: write each as [[{key}]]")),
        };
        let read: Vec<Option<T>> = items.iter().enumerate().map(|(i, item)| read(self, i, item)).collect();
        let read: Vec<T> = read.into_iter().collect::<Option<_>>()?;
        for (i, item) in read.iter().enumerate() {
            if let Some(first) = read[..i].iter().position(|earlier| same(earlier, item)) {
                let (field, problem) = repeated(item, i, first);
                self.errors.push(self.error(&field, problem));
            }
        }
        Some(read)
    }

    pub(super) fn check_keys(&mut self, table: &Table, path: &str, allowed: &[&str], context: &str) {
        for key in table.keys().filter(|key| !allowed.contains(&key.as_str())) {
            let expected = allowed.join(", ");
            self.errors
                .push(self.error(&join(path, key), format!("unknown field{context}; expected one of {expected}")));
        }
    }

    /// A required, non-empty string.
    pub(super) fn text<'t>(&mut self, table: &'t Table, path: &str, key: &str) -> Option<&'t str> {
        match table.get(key) {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text),
            Some(Value::String(_)) => self.fail(&join(path, key), "must not be empty"),
            Some(other) => self.fail(&join(path, key), format!("must be a string, not a TOML {}", other.type_str())),
            None => self.fail(&join(path, key), "is required"),
        }
    }

    /// A non-negative decimal; `default` when absent, or an error when there is none.
    pub(super) fn decimal(
        &mut self,
        table: &Table,
        path: &str,
        key: &str,
        kind: Kind,
        default: Option<Decimal>,
    ) -> Option<Decimal> {
        let field = join(path, key);
        match (table.get(key), default) {
            (Some(value), _) => self.value(&field, value, kind),
            (None, Some(default)) => Some(default),
            (None, None) => self.fail(&field, "is required"),
        }
    }

    /// A strictly positive quantity (`price_per`, `package_size`).
    pub(super) fn positive(
        &mut self,
        table: &Table,
        path: &str,
        key: &str,
        default: Option<Decimal>,
    ) -> Option<Decimal> {
        let value = self.decimal(table, path, key, Kind::Quantity, default)?;
        if value > Decimal::ZERO {
            Some(value)
        } else {
            self.fail(&join(path, key), "must be greater than 0")
        }
    }

    pub(super) fn value(&mut self, field: &str, value: &Value, kind: Kind) -> Option<Decimal> {
        match (value, kind) {
            (Value::String(text), _) => match parse_decimal(text) {
                Ok(number) => Some(number),
                Err(problem) => self.fail(field, problem),
            },
            (Value::Integer(number), Kind::Quantity) if *number >= 0 => Some(Decimal::from(*number)),
            (Value::Integer(_), Kind::Quantity) => self.fail(field, "must not be negative"),
            (Value::Float(_), Kind::Quantity) => {
                self.fail(field, "quantities must be integers or strings like \"0.5\", not TOML floats")
            }
            (Value::Float(_), Kind::Price) => self.fail(field, PRICE_FLOAT),
            (Value::Integer(_), Kind::Price) => {
                self.fail(field, "prices must be strings like \"0.20\", not TOML integers")
            }
            (other, Kind::Price) => {
                self.fail(field, format!("must be a string like \"0.20\", not a TOML {}", other.type_str()))
            }
            (other, Kind::Quantity) => self.fail(field, format!("must be a number, not a TOML {}", other.type_str())),
        }
    }
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// "unknown meter \"x\"; expected one of …".
pub(super) fn unknown(what: &str, name: &str, expected: &str) -> String {
    format!("unknown {what} {name:?}; expected one of {expected}")
}

/// A plain non-negative decimal: digits with at most one `.`; no sign, exponent or `_`.
fn parse_decimal(text: &str) -> Result<Decimal, String> {
    if text.starts_with('-') {
        return Err("must not be negative".to_owned());
    }
    let mut parts = text.splitn(2, '.');
    let digits = |part: Option<&str>| part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let whole = parts.next();
    let fraction = parts.next();
    if !digits(whole) || (fraction.is_some() && !digits(fraction)) {
        return Err(format!("{text:?} is not a decimal number like \"0.20\""));
    }
    Decimal::from_str_exact(text).map_err(|_| format!("{text:?} has more digits than 28"))
}
