//! The three serverless meters Tally knows.

use std::fmt;

/// A billable meter. Adding one means a new variant here and a new column in the
/// record and rollup tables; the exhaustive matches find the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    CpuCycles,
    MemoryGbSeconds,
    Invocations,
}

impl Meter {
    /// Every meter, in display order.
    pub const ALL: [Meter; 3] = [Meter::CpuCycles, Meter::MemoryGbSeconds, Meter::Invocations];

    /// The wire and column name of the meter.
    pub fn as_str(self) -> &'static str {
        match self {
            Meter::CpuCycles => "cpu_cycles",
            Meter::MemoryGbSeconds => "memory_gb_seconds",
            Meter::Invocations => "invocations",
        }
    }

    /// Parses a wire name (`cpu_cycles`, `memory_gb_seconds`, `invocations`).
    pub fn parse(name: &str) -> Option<Meter> {
        Meter::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
