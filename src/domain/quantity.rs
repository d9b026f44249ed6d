//! Metered quantities: exact decimals, never floats.

use rust_decimal::Decimal;

use super::Meter;

/// Why a quantity sum could not be formed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantityError {
    #[error("{0} overflowed while summing")]
    Overflow(Meter),
}

/// One value per meter. Absent on input means zero.
///
/// `cpu_cycles` and `invocations` are whole numbers by construction (the ingest edge refuses
/// fractions); they are still `Decimal` so that sums of many 2^63-sized records stay exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantities {
    pub cpu_cycles: Decimal,
    pub memory_gb_seconds: Decimal,
    pub invocations: Decimal,
}

impl Quantities {
    /// The quantity of one meter.
    pub fn get(&self, meter: Meter) -> Decimal {
        match meter {
            Meter::CpuCycles => self.cpu_cycles,
            Meter::MemoryGbSeconds => self.memory_gb_seconds,
            Meter::Invocations => self.invocations,
        }
    }

    /// Sets the quantity of one meter.
    pub fn set(&mut self, meter: Meter, value: Decimal) {
        match meter {
            Meter::CpuCycles => self.cpu_cycles = value,
            Meter::MemoryGbSeconds => self.memory_gb_seconds = value,
            Meter::Invocations => self.invocations = value,
        }
    }

    /// Adds `other` meter by meter.
    ///
    /// # Errors
    /// [`QuantityError::Overflow`] naming the meter whose sum left `Decimal`'s range.
    pub fn checked_add(&self, other: &Quantities) -> Result<Quantities, QuantityError> {
        let mut sum = Quantities::default();
        for meter in Meter::ALL {
            let value = self.get(meter).checked_add(other.get(meter)).ok_or(QuantityError::Overflow(meter))?;
            sum.set(meter, value.normalize());
        }
        Ok(sum)
    }

    /// True when every meter is zero.
    pub fn is_zero(&self) -> bool {
        Meter::ALL.iter().all(|m| self.get(*m).is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn adding_tenths_is_exact() {
        let tenth = Quantities { memory_gb_seconds: Decimal::from_str("0.1").unwrap(), ..Default::default() };
        let mut sum = Quantities::default();
        for _ in 0..10 {
            sum = sum.checked_add(&tenth).unwrap();
        }
        assert_eq!(sum.memory_gb_seconds, Decimal::ONE);
    }

    #[test]
    fn overflow_is_an_error_naming_the_meter() {
        let huge = Quantities { invocations: Decimal::MAX, ..Default::default() };
        assert_eq!(huge.checked_add(&huge), Err(QuantityError::Overflow(Meter::Invocations)));
    }
}
