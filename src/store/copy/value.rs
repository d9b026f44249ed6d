//! A column value as the copy carries it: typed by what it means (an instant, a decimal), not
//! by how an engine stores it, so a row read from SQLite is written to PostgreSQL through the
//! same newtypes the store itself uses (`codec.rs`), and both sides hash alike for `--verify`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::types::Json as SqlJson;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};

use crate::store::codec::{Dec as StoredDec, Instant};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// `bigint`/`integer` on PostgreSQL, integer on SQLite.
    Int,
    /// `boolean` on PostgreSQL, 0/1 on SQLite.
    Bool,
    /// `numeric` on PostgreSQL, normalized text on SQLite.
    Dec,
    /// `timestamptz` on PostgreSQL, microseconds on SQLite.
    Time,
    Bytes,
    /// `jsonb` on PostgreSQL, text on SQLite.
    Json,
}

/// One value of one column; `None` is SQL null (typed, so PostgreSQL accepts it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Dec(Option<Decimal>),
    Time(Option<DateTime<Utc>>),
    Bytes(Option<Vec<u8>>),
    Json(Option<serde_json::Value>),
}

/// A row: its values in the table's column order.
pub(super) type Values = Vec<Value>;

/// How a column is selected so that one Rust type decodes it on both engines: integers widen
/// to `bigint` (PostgreSQL's `integer` would not decode as `i64`).
pub(super) fn select_expression(column: &str, kind: Kind) -> String {
    match kind {
        Kind::Int => format!("cast({column} as bigint) as {column}"),
        _ => column.to_owned(),
    }
}

/// A row the copy reads any [`Kind`] from: sqlx's `Decode + Type` bounds for every type a
/// [`Value`] holds, stated once here instead of on each function that reads rows.
pub(super) trait ReadsValues: Row {
    /// Reads column `index` as `kind`.
    fn copied_value(&self, index: usize, kind: Kind) -> Result<Value, sqlx::Error>;
}

impl<R> ReadsValues for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> StoredDec: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Instant: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> SqlJson<serde_json::Value>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn copied_value(&self, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Text => Value::Text(self.try_get(index)?),
            Kind::Int => Value::Int(self.try_get(index)?),
            Kind::Bool => Value::Bool(self.try_get(index)?),
            Kind::Dec => Value::Dec(self.try_get::<Option<StoredDec>, _>(index)?.map(|d| d.0)),
            Kind::Time => Value::Time(self.try_get::<Option<Instant>, _>(index)?.map(|i| i.0)),
            Kind::Bytes => Value::Bytes(self.try_get(index)?),
            Kind::Json => Value::Json(self.try_get::<Option<SqlJson<serde_json::Value>>, _>(index)?.map(|j| j.0)),
        })
    }
}

/// A query with its arguments so far, of either engine.
pub(super) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// An engine the copy binds any [`Value`] on: sqlx's `Encode + Type` bounds for every type a
/// value holds, stated once here instead of on each function that binds.
pub(super) trait BindsValues<'q>: Database {
    /// Binds `value` as the next argument of `query`.
    fn bind_value(query: Query<'q, Self>, value: Value) -> Query<'q, Self>;
}

impl<'q, DB> BindsValues<'q> for DB
where
    DB: Database,
    Option<String>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<StoredDec>: Encode<'q, DB> + Type<DB>,
    Option<Instant>: Encode<'q, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
    Option<SqlJson<serde_json::Value>>: Encode<'q, DB> + Type<DB>,
{
    fn bind_value(query: Query<'q, DB>, value: Value) -> Query<'q, DB> {
        match value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::Bool(v) => query.bind(v),
            Value::Dec(v) => query.bind(v.map(StoredDec)),
            Value::Time(v) => query.bind(v.map(Instant)),
            Value::Bytes(v) => query.bind(v),
            Value::Json(v) => query.bind(v.map(SqlJson)),
        }
    }
}

/// Binds every value of `values`, in order, as the next arguments of `query`.
pub(super) fn bind_all<'q, DB: BindsValues<'q>>(
    query: Query<'q, DB>,
    values: impl IntoIterator<Item = Value>,
) -> Query<'q, DB> {
    values.into_iter().fold(query, DB::bind_value)
}

impl Value {
    /// The value in a form both engines give alike (decimals normalized, instants in
    /// microseconds, JSON with sorted keys), fed to a hasher as length-prefixed bytes.
    pub(super) fn canonical(&self) -> Vec<u8> {
        let text = match self {
            Value::Text(v) => v.clone(),
            Value::Int(v) => v.map(|i| i.to_string()),
            Value::Bool(v) => v.map(|b| b.to_string()),
            Value::Dec(v) => v.map(|d| d.normalize().to_string()),
            Value::Time(v) => v.map(|t| t.timestamp_micros().to_string()),
            Value::Bytes(v) => v.as_deref().map(hex::encode),
            Value::Json(v) => v.as_ref().map(canonical_json),
        };
        match text {
            // Null and "" differ: null hashes as a lone marker byte, text as length + bytes.
            None => vec![0xff],
            Some(text) => {
                let mut bytes = (text.len() as u64).to_be_bytes().to_vec();
                bytes.extend_from_slice(text.as_bytes());
                bytes
            }
        }
    }

    /// The decimal, if this is one (null counts as zero in sums).
    pub(super) fn decimal(&self) -> Decimal {
        match self {
            Value::Dec(Some(d)) => *d,
            Value::Int(Some(i)) => Decimal::from(*i),
            _ => Decimal::ZERO,
        }
    }

    /// The text, if this is text (null reads as "").
    pub(super) fn text(&self) -> &str {
        match self {
            Value::Text(Some(t)) => t,
            _ => "",
        }
    }
}

/// JSON with object keys sorted and no insignificant whitespace: `jsonb` reorders keys and
/// re-spaces the text, so the stored text itself cannot be compared across engines.
fn canonical_json(value: &serde_json::Value) -> String {
    // serde_json's map is ordered by key (no `preserve_order` feature), so re-serializing a
    // parsed value sorts it.
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_decimal_hashes_the_same_whatever_its_stored_scale() {
        let stored = Value::Dec(Some(Decimal::from_str("250.00").unwrap()));
        let normalized = Value::Dec(Some(Decimal::from_str("250").unwrap()));
        assert_eq!(stored.canonical(), normalized.canonical());
    }

    #[test]
    fn json_hashes_the_same_whatever_its_key_order_and_spacing() {
        let jsonb: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": [2, "x"]}"#).unwrap();
        let text: serde_json::Value = serde_json::from_str(r#"{"a":[2,"x"],"b":1}"#).unwrap();
        assert_eq!(Value::Json(Some(jsonb)).canonical(), Value::Json(Some(text)).canonical());
    }

    #[test]
    fn null_and_empty_text_hash_apart() {
        assert_ne!(Value::Text(None).canonical(), Value::Text(Some(String::new())).canonical());
    }
}
