//! One batch of one table: read from the source in key order after a cursor (keyset
//! pagination: each batch is one index range scan, whatever the table's size), written to the
//! target in the same transaction as the cursor that says it was written.

use chrono::{DateTime, Utc};

use super::state::CursorUpdate;
use super::tables::CopiedTable;
use super::value::{bind_all, select_expression, ReadsValues, Value, Values};
use crate::store::engine::{execute_on_tx, on_read, Tx};
use crate::store::{DbError, Store};

/// Bind arguments per statement: under SQLite's 32 766 and PostgreSQL's 65 535.
const ARGUMENTS_PER_STATEMENT: usize = 30_000;

impl Store {
    /// Up to `limit` rows of `table` whose key follows `after` (from the start when `None`),
    /// in key order.
    #[tracing::instrument(skip_all, fields(table = table.name))]
    pub(super) async fn read_batch(
        &self,
        table: &CopiedTable,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Vec<Values>, DbError> {
        let sql = read_sql(table, after.is_some(), limit);
        let after = after.map(<[Value]>::to_vec).unwrap_or_default();
        let rows = on_read!(self.read(), |db| {
            let rows = bind_all(sqlx::query(&sql), after).fetch_all(db).await?;
            rows.iter().map(|row| decode_row(row, table)).collect::<Result<Vec<_>, sqlx::Error>>()
        })?;
        Ok(rows)
    }

    /// Inserts `rows` into `table` and moves the table's cursor, in one transaction: after a
    /// crash either both happened or neither did.
    #[tracing::instrument(skip_all, fields(table = table.name, rows = rows.len()))]
    pub(super) async fn write_batch(
        &self,
        table: &CopiedTable,
        rows: Vec<Values>,
        cursor: CursorUpdate,
    ) -> Result<(), DbError> {
        if let Some(column) = table.partitioned_by {
            // A time-partitioned target (PostgreSQL) takes a row only into an existing month;
            // `usage_record` is the one such table, and its partitions are the store's.
            if let Some((from, to)) = time_span(&rows, table.position(column)) {
                self.ensure_usage_partitions(from, to + chrono::Duration::microseconds(1)).await?;
            }
        }
        let mut tx = self.begin().await?;
        let per_statement = (ARGUMENTS_PER_STATEMENT / table.columns.len()).max(1);
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Values> = rows.by_ref().take(per_statement).collect();
            let sql = insert_sql(table, chunk.len(), &tx);
            let values = chunk.into_iter().flatten();
            execute_on_tx!(&mut tx, bind_all(sqlx::query(&sql), values))?;
        }
        cursor.write(&mut tx, table.name).await?;
        tx.commit().await
    }
}

/// The earliest and latest time in column `at` of `rows`.
fn time_span(rows: &[Values], at: usize) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let times = rows.iter().filter_map(|row| match row[at] {
        Value::Time(Some(t)) => Some(t),
        _ => None,
    });
    times.fold(None, |span, t| {
        Some(span.map_or((t, t), |(from, to): (DateTime<Utc>, DateTime<Utc>)| (from.min(t), to.max(t))))
    })
}

/// The key of a row (its key columns' values, in key order): the cursor after it.
pub(super) fn key_of(table: &CopiedTable, row: &[Value]) -> Vec<Value> {
    table.key_positions().into_iter().map(|i| row[i].clone()).collect()
}

/// Decodes one row in the table's column order.
fn decode_row(row: &impl ReadsValues, table: &CopiedTable) -> Result<Values, sqlx::Error> {
    table.columns.iter().enumerate().map(|(index, (_, kind))| row.copied_value(index, *kind)).collect()
}

/// `select … from table [where (key) > (cursor)] order by key limit n`.
fn read_sql(table: &CopiedTable, after: bool, limit: usize) -> String {
    let columns: Vec<String> = table.columns.iter().map(|(c, k)| select_expression(c, *k)).collect();
    let key = table.key.join(", ");
    let filter = if after { format!("where ({key}) > ({})", placeholders(0, table.key.len())) } else { String::new() };
    format!("select {} from {} {filter} order by {key} limit {limit}", columns.join(", "), table.name)
}

/// `insert into table (columns) values (…), (…)` for `rows` rows; an identity column is
/// written as copied (PostgreSQL must be told to accept it).
fn insert_sql(table: &CopiedTable, rows: usize, tx: &Tx) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let width = columns.len();
    let tuples: Vec<String> = (0..rows).map(|r| format!("({})", placeholders(r * width, width))).collect();
    let overriding = match (table.identity, tx) {
        (Some(_), Tx::Postgres(_)) => "overriding system value",
        _ => "",
    };
    format!("insert into {} ({}) {overriding} values {}", table.name, columns.join(", "), tuples.join(", "))
}

/// `$n+1, …, $n+count`.
fn placeholders(offset: usize, count: usize) -> String {
    (1..=count).map(|i| format!("${}", offset + i)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::copy::tables::copied_table;

    #[test]
    fn a_batch_after_a_cursor_reads_the_next_keys_in_key_order() {
        let table = copied_table("billed_line").unwrap();
        assert_eq!(
            read_sql(table, true, 500),
            "select tenant_id, period_start, line_key, invoice_id, amount from billed_line \
             where (tenant_id, period_start, line_key, invoice_id) > ($1, $2, $3, $4) \
             order by tenant_id, period_start, line_key, invoice_id limit 500"
        );
    }

    #[test]
    fn integers_are_read_as_bigint_on_both_engines() {
        let sql = read_sql(copied_table("number_counter").unwrap(), false, 10);
        assert!(sql.contains("cast(year as bigint) as year"), "{sql}");
    }
}
