//! The two types the engines store differently, said once: an [`Instant`] is `timestamptz` on
//! PostgreSQL and integer microseconds on SQLite; a [`Dec`] is `numeric` on PostgreSQL and
//! normalized decimal text on SQLite (sqlx has no SQLite decimal, and SQLite arithmetic on
//! decimals would go through floating point). Row types use these newtypes, so one row type
//! and one SQL text serve both engines. Plus small decoders of stored text into domain values.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

use super::DbError;
use crate::domain::{ContentHash, RecordKey, TenantId};

/// A stored instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Instant(pub DateTime<Utc>);

/// A stored decimal; read back normalized (`numeric` keeps its input's scale, "250.00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dec(pub Decimal);

/// Declares the type each engine stores a newtype as (its `Type` is that type's); the
/// conversions are the `Encode`/`Decode` impls below.
macro_rules! stored_as {
    ($newtype:ty, postgres: $pg:ty, sqlite: $lite:ty) => {
        impl Type<Postgres> for $newtype {
            fn type_info() -> PgTypeInfo {
                <$pg as Type<Postgres>>::type_info()
            }
        }

        impl Type<Sqlite> for $newtype {
            fn type_info() -> SqliteTypeInfo {
                <$lite as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <$lite as Type<Sqlite>>::compatible(ty)
            }
        }
    };
}

stored_as!(Instant, postgres: DateTime<Utc>, sqlite: i64);
stored_as!(Dec, postgres: Decimal, sqlite: String);

impl Encode<'_, Postgres> for Instant {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Instant {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

impl<'q> Encode<'q, Sqlite> for Instant {
    fn encode_by_ref(&self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode(sqlite_instant(self.0), args)
    }
}

impl<'r> Decode<'r, Sqlite> for Instant {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        Ok(Self(DateTime::from_timestamp_micros(micros).ok_or_else(|| format!("instant {micros} out of range"))?))
    }
}

impl Encode<'_, Postgres> for Dec {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Decimal as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Dec {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<Decimal as Decode<Postgres>>::decode(value)?.normalize()))
    }
}

impl<'q> Encode<'q, Sqlite> for Dec {
    fn encode_by_ref(&self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(sqlite_decimal(self.0), args)
    }
}

impl<'r> Decode<'r, Sqlite> for Dec {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(decimal_text(<&str as Decode<Sqlite>>::decode(value)?)?))
    }
}

/// An instant as SQLite stores it: integer microseconds. Also for statements bound outside
/// sqlx (`sqlite/ingest_connection.rs`).
pub(super) fn sqlite_instant(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A decimal as SQLite stores it: normalized text ("2.5", not "2.50"), so equal amounts
/// compare equal as text.
pub(super) fn sqlite_decimal(value: Decimal) -> String {
    value.normalize().to_string()
}

/// A decimal as SQLite stores it (text), read back: also for values that arrive inside a JSON
/// result rather than as a column of their own (`sqlite/rollups.rs`).
pub(super) fn decimal_text(text: &str) -> Result<Decimal, DbError> {
    Ok(Decimal::from_str(text).map_err(|_| DbError::Corrupt(format!("decimal {text:?}")))?.normalize())
}

/// A stored instant, if any.
pub(super) fn instant(at: Option<Instant>) -> Option<DateTime<Utc>> {
    at.map(|i| i.0)
}

/// A record's key as stored: (tenant, source, id).
pub(super) type StoredKey = (String, String, String);

/// The stored form of a record key.
pub(super) fn stored_key(key: &RecordKey) -> StoredKey {
    (key.tenant_id.as_str().to_owned(), key.source.clone(), key.record_id.clone())
}

/// A stored content hash.
pub(super) fn content_hash(bytes: &[u8]) -> Result<ContentHash, DbError> {
    ContentHash::from_slice(bytes).ok_or_else(|| DbError::Corrupt("content hash is not 16 bytes".into()))
}

/// A tenant id read back from a tenant-owned table.
pub(super) fn tenant_id(text: &str) -> Result<TenantId, DbError> {
    TenantId::parse(text).map_err(|_| DbError::Corrupt(format!("tenant id {text:?}")))
}

/// A tenant scope as global tables store it: `''` for none.
pub(super) fn optional_tenant_id(text: &str) -> Result<Option<TenantId>, DbError> {
    (!text.is_empty()).then(|| tenant_id(text)).transpose()
}

/// An integer meter as the raw tables store it (`bigint`/`integer`). Ingest validates
/// `cpu_cycles` and `invocations` to whole numbers in `0..=i64::MAX`.
pub(super) fn whole(value: Decimal) -> Result<i64, DbError> {
    value
        .trunc()
        .eq(&value)
        .then(|| value.to_i64())
        .flatten()
        .ok_or_else(|| DbError::Corrupt(format!("{value} is not an integer meter value")))
}

/// A document that cannot be (de)serialized is a bug, not a data problem; report it plainly.
pub(super) fn corrupt_json(error: serde_json::Error) -> DbError {
    DbError::Corrupt(format!("stored json: {error}"))
}

/// A new ledger or outbox entry id.
pub(super) fn entry_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
