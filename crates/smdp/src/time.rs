//! Injected time. The SM-DP+ core never reads a clock: callers pass `now`.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// `self + ms`, saturating.
    pub fn plus_millis(self, ms: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// W3C date-time `YYYY-MM-DDThh:mm:ssZ` as used by the ES2+ `timestamp`
    /// field (SGP.22 §5.3.5 / §6.5: "String format as specified by W3C").
    pub fn to_w3c(self) -> String {
        let (y, [m, d, hh, mm, ss]) = self.utc();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }

    /// UTC year, and month, day, hour, minute, second.
    pub fn utc(self) -> (i64, [u32; 5]) {
        let secs = self.0.div_euclid(1000);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        (y, [m, d, sod / 3600, (sod / 60) % 60, sod % 60])
    }
}

/// Days since 1970-01-01 to proleptic Gregorian (year, month, day)
/// (H. Hinnant's `civil_from_days` algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A source of the current time, injected into the I/O edge.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixMillis;
}

/// A clock that always returns the same instant (tests, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub UnixMillis);

impl Clock for FixedClock {
    fn now(&self) -> UnixMillis {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_format() {
        assert_eq!(UnixMillis(0).to_w3c(), "1970-01-01T00:00:00Z");
        // 2001-12-17T09:30:47Z = 1008581447 s (the W3C/ISO 8601 example date).
        assert_eq!(
            UnixMillis(1_008_581_447_999).to_w3c(),
            "2001-12-17T09:30:47Z"
        );
        // Leap day.
        assert_eq!(
            UnixMillis(1_709_210_096_000).to_w3c(),
            "2024-02-29T12:34:56Z"
        );
        assert_eq!(UnixMillis(-1000).to_w3c(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn plus_saturates() {
        assert_eq!(
            UnixMillis(i64::MAX - 1).plus_millis(10),
            UnixMillis(i64::MAX)
        );
        assert_eq!(UnixMillis(5).plus_millis(10), UnixMillis(15));
    }
}
