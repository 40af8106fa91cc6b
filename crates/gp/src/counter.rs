//! Card-side sequence counters: 2 bytes per key set for SCP02 (GP CS v2.3.1 §E.4.1), 3 bytes
//! per key set for SCP03 with pseudo-random challenges (Amd D §6.2.2.1).

use crate::error::{GpError, Result};

/// A sequence counter. The card keeps one per key set and persists it with the key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "CounterRepr", into = "CounterRepr")]
pub struct SequenceCounter {
    value: u32,
    width: u8,
}

/// Serialized form: `{"width": 2|3, "value": n}`.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct CounterRepr {
    width: u8,
    value: u32,
}

impl From<SequenceCounter> for CounterRepr {
    fn from(c: SequenceCounter) -> CounterRepr {
        CounterRepr {
            width: c.width,
            value: c.value,
        }
    }
}

impl TryFrom<CounterRepr> for SequenceCounter {
    type Error = GpError;
    fn try_from(r: CounterRepr) -> Result<SequenceCounter> {
        match r.width {
            2 => u16::try_from(r.value)
                .map(SequenceCounter::scp02)
                .map_err(|_| GpError::IncorrectData("SCP02 sequence counter exceeds 2 bytes")),
            3 => SequenceCounter::scp03(r.value),
            _ => Err(GpError::IncorrectData(
                "sequence counter width must be 2 or 3",
            )),
        }
    }
}

impl SequenceCounter {
    /// A two-byte SCP02 counter.
    pub fn scp02(value: u16) -> SequenceCounter {
        SequenceCounter {
            value: u32::from(value),
            width: 2,
        }
    }

    /// A three-byte SCP03 counter; values above `FFFFFF` are rejected.
    pub fn scp03(value: u32) -> Result<SequenceCounter> {
        if value > 0x00FF_FFFF {
            return Err(GpError::IncorrectData(
                "SCP03 sequence counter exceeds 3 bytes",
            ));
        }
        Ok(SequenceCounter { value, width: 3 })
    }

    pub fn value(self) -> u32 {
        self.value
    }

    /// The largest value the counter can reach.
    pub fn max(self) -> u32 {
        (1u32 << (8 * u32::from(self.width))) - 1
    }

    pub fn is_exhausted(self) -> bool {
        self.value >= self.max()
    }

    /// Big-endian bytes (2 or 3).
    pub fn to_bytes(self) -> Vec<u8> {
        self.value.to_be_bytes()[4 - usize::from(self.width)..].to_vec()
    }

    /// Increments the counter; once it holds its maximum the card refuses new sessions with
    /// "conditions of use not satisfied" (`6985`, Amd D §6.2.2.1).
    pub fn increment(&mut self) -> Result<()> {
        if self.is_exhausted() {
            return Err(GpError::ConditionsNotSatisfied(
                "sequence counter exhausted",
            ));
        }
        self.value += 1;
        Ok(())
    }

    /// Reset to zero, as when a key set is created or replaced (Amd D §6.2.2.1).
    pub fn reset(&mut self) {
        self.value = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_is_refused_with_6985() {
        let mut c = SequenceCounter::scp03(0xFF_FFFE).unwrap();
        c.increment().unwrap();
        assert_eq!(c.to_bytes(), [0xFF, 0xFF, 0xFF]);
        let e = c.increment().unwrap_err();
        assert_eq!(e.status_word().0, 0x6985);
        let mut c = SequenceCounter::scp02(0xFFFF);
        assert!(c.increment().is_err());
        assert_eq!(c.to_bytes(), [0xFF, 0xFF]);
        assert!(SequenceCounter::scp03(0x0100_0000).is_err());
        c.reset();
        assert_eq!(c.value(), 0);
    }
}
