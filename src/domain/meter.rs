//! The three serverless meters Tally knows.

use std::fmt;

use super::enum_with_stored_names;

enum_with_stored_names! {
    /// A billable meter. Adding one means a new variant here and a new column in the
    /// record and rollup tables; the exhaustive matches find the rest. `ALL` is in display
    /// order; the stored name is also the wire and column name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Meter {
        CpuCycles => "cpu_cycles",
        MemoryGbSeconds => "memory_gb_seconds",
        Invocations => "invocations",
    }
}

impl Meter {
    /// The meter as a reader says it, capitalised for a label ("CPU cycles", "Invocations").
    pub fn display_name(self) -> &'static str {
        match self {
            Meter::CpuCycles => "CPU cycles",
            Meter::MemoryGbSeconds => "Memory (GB-seconds)",
            Meter::Invocations => "Invocations",
        }
    }

    /// The most decimals a quantity of the meter is recorded with, as ingestion accepts them
    /// (`ingest/quantity.rs`): cycles and invocations are counted, GB-seconds have nine. A
    /// figure derived from usage (a projection) is shown no finer.
    pub fn decimals(self) -> u32 {
        match self {
            Meter::CpuCycles | Meter::Invocations => 0,
            Meter::MemoryGbSeconds => 9,
        }
    }
}

impl fmt::Display for Meter {
    /// Honours width and alignment (`{meter:<20}`), so a meter lines up in a text table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_is_padded_to_the_width_a_table_asks_for() {
        assert_eq!(format!("[{:<20}]", Meter::Invocations), "[invocations         ]");
        assert_eq!(format!("[{:>12}]", Meter::CpuCycles), "[  cpu_cycles]");
        assert_eq!(Meter::MemoryGbSeconds.to_string(), "memory_gb_seconds", "no width, no padding");
    }
}
