//! The identity of a billed invoice line within its period — the segment it bills, what it
//! is, and its meter — on which the late-usage rule compares what was billed with what a
//! re-rating produces (DESIGN §7).

use std::fmt;

use chrono::{DateTime, Utc};

use super::{LineType, Meter};

/// (segment start, line type, meter): one line of one period, whatever its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineKey {
    pub segment_start: DateTime<Utc>,
    pub line_type: LineType,
    pub meter: Option<Meter>,
}

impl LineKey {
    /// Parses the stored form (`"{µs}|{line type}|{meter}"`, meter empty when none).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('|');
        let (micros, kind, meter) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            segment_start: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            line_type: LineType::parse(kind)?,
            meter: if meter.is_empty() { None } else { Some(Meter::parse(meter)?) },
        })
    }
}

/// The stored form, which [`LineKey::parse`] reads back.
impl fmt::Display for LineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meter = self.meter.map_or("", Meter::as_str);
        write!(f, "{}|{}|{meter}", self.segment_start.timestamp_micros(), self.line_type.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_what_it_stores() {
        let at = DateTime::from_timestamp_micros(1_793_491_200_000_000).unwrap();
        for key in [
            LineKey { segment_start: at, line_type: LineType::Usage, meter: Some(Meter::MemoryGbSeconds) },
            LineKey { segment_start: at, line_type: LineType::MinimumSpendTopUp, meter: None },
        ] {
            assert_eq!(LineKey::parse(&key.to_string()), Some(key), "{key}");
        }
        assert_eq!(
            LineKey { segment_start: at, line_type: LineType::BaseFee, meter: None }.to_string(),
            "1793491200000000|base_fee|",
            "the stored form of existing rows is kept"
        );
    }

    #[test]
    fn malformed_stored_keys_are_refused() {
        for text in ["", "1|usage", "x|usage|", "1|tip|", "1|usage|gpu", "1|usage||"] {
            assert_eq!(LineKey::parse(text), None, "{text:?}");
        }
    }
}
