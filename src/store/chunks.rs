//! How many rows each multi-row statement carries.
//!
//! SQLite compiles a statement per distinct SQL text, and a statement of a thousand rows takes
//! about as long to compile as to run. sqlx keeps compiled statements by text (100 per
//! connection, on both engines), so statements whose text grows with their rows (SQLite's
//! rollup writes, `sqlite/rollups.rs`; the lookup of stored records, `stored_records.rs`) only
//! use row counts from a fixed set: full statements of [`MAX_ROWS`], then the binary digits of
//! the remainder. Each kind of statement then has at most 11 texts, all compiled once and
//! reused by every statement after.

/// The largest statement: at 12 bound values a row it stays under SQLite's 32 766 variable
/// limit (and PostgreSQL's 65 535).
pub(super) const MAX_ROWS: usize = 1_024;

/// Splits `rows` into slices of [`MAX_ROWS`] and then of falling powers of two.
pub(super) fn statement_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let size = if rows.len() >= MAX_ROWS { MAX_ROWS } else { 1 << rows.len().ilog2() };
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(len: usize) -> Vec<usize> {
        statement_chunks(&vec![(); len]).map(<[()]>::len).collect()
    }

    #[test]
    fn full_statements_come_first_then_the_binary_digits_of_the_rest() {
        assert_eq!(sizes(2 * MAX_ROWS + 37), [MAX_ROWS, MAX_ROWS, 32, 4, 1]);
    }

    #[test]
    fn every_row_is_covered_once_in_order() {
        let rows: Vec<usize> = (0..3_000).collect();
        let joined: Vec<usize> = statement_chunks(&rows).flatten().copied().collect();
        assert_eq!(joined, rows);
    }

    #[test]
    fn only_a_few_distinct_sizes_occur() {
        let mut seen: Vec<usize> = (0..5_000).flat_map(sizes).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 11);
    }

    #[test]
    fn nothing_to_write_is_no_statement() {
        assert!(sizes(0).is_empty());
    }
}
