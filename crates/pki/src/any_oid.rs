//! An OBJECT IDENTIFIER with arbitrary arcs.
//!
//! `const_oid::ObjectIdentifier` rejects a second arc above 39 even under joint-iso-itu-t(2), so
//! it cannot hold the `2.999.x` example OIDs that SGP.26 uses as SM-DP+ OIDs (subjectAltName
//! registeredID, and hence smdpOid / dpOid in the SGP.22 messages). This type can.

use crate::PkiError;

/// OBJECT IDENTIFIER kept as its DER contents octets (X.690 §8.19).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(Vec<u8>);

impl Oid {
    /// From DER contents octets (without tag and length), validated.
    pub fn from_der_contents(bytes: &[u8]) -> Result<Self, PkiError> {
        let bad = || PkiError::Malformed("OBJECT IDENTIFIER".into());
        if bytes.last().is_none_or(|b| b & 0x80 != 0) {
            return Err(bad());
        }
        // Each subidentifier is minimal: it never starts with 0x80.
        let mut at_start = true;
        for &b in bytes {
            if at_start && b == 0x80 {
                return Err(bad());
            }
            at_start = b & 0x80 == 0;
        }
        Oid(bytes.to_vec()).arcs().ok_or_else(bad)?;
        Ok(Oid(bytes.to_vec()))
    }

    /// `2.999.n` (n < 128): the X.660 example arc, used by SGP.26 for registeredIDs.
    pub(crate) fn example_arc(n: u8) -> Oid {
        // 2.999 is the first subidentifier 1079 = 0x88 0x37.
        Oid(vec![0x88, 0x37, n & 0x7F])
    }

    /// DER contents octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The arcs, or `None` if one exceeds 64 bits.
    pub fn arcs(&self) -> Option<Vec<u64>> {
        let mut subids = Vec::new();
        let mut acc: u64 = 0;
        for &b in &self.0 {
            acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7F))?;
            if b & 0x80 == 0 {
                subids.push(acc);
                acc = 0;
            }
        }
        let (&first, rest) = subids.split_first()?;
        let (a, b) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        let mut arcs = vec![a, b];
        arcs.extend_from_slice(rest);
        Some(arcs)
    }
}

impl core::str::FromStr for Oid {
    type Err = PkiError;

    /// Dotted decimal, e.g. `"2.999.10"`.
    fn from_str(s: &str) -> Result<Self, PkiError> {
        let bad = || PkiError::Malformed(format!("OID {s:?}"));
        let arcs: Vec<u64> = s
            .split('.')
            .map(|a| a.parse::<u64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let (&a, rest) = arcs.split_first().ok_or_else(bad)?;
        let (&b, rest) = rest.split_first().ok_or_else(bad)?;
        if a > 2 || (a < 2 && b > 39) {
            return Err(bad());
        }
        let first = (a * 40).checked_add(b).ok_or_else(bad)?;
        let mut out = Vec::new();
        for arc in core::iter::once(first).chain(rest.iter().copied()) {
            let mut chunk = vec![(arc & 0x7F) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                chunk.push((v & 0x7F) as u8 | 0x80);
                v >>= 7;
            }
            out.extend(chunk.iter().rev());
        }
        Ok(Oid(out))
    }
}

impl core::fmt::Display for Oid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                let parts: Vec<String> = arcs.iter().map(u64::to_string).collect();
                f.write_str(&parts.join("."))
            }
            None => write!(f, "OID({})", hex::encode(&self.0)),
        }
    }
}

impl core::fmt::Debug for Oid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl From<const_oid::ObjectIdentifier> for Oid {
    fn from(o: const_oid::ObjectIdentifier) -> Self {
        Oid(o.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        // X.690 §8.19.5 example arcs and the SGP.26 SM-DP+ OID.
        for (s, der) in [
            ("2.999.10", "88370a"),
            ("2.999.1", "883701"),
            ("2.100.3", "813403"),
            ("1.2.840.10045.4.3.2", "2a8648ce3d040302"),
            ("2.23.146.1.2.1.4", "67811201020104"),
        ] {
            let oid: Oid = s.parse().unwrap();
            assert_eq!(hex::encode(oid.as_bytes()), der, "{s}");
            assert_eq!(oid.to_string(), s);
            assert_eq!(Oid::from_der_contents(oid.as_bytes()).unwrap(), oid);
        }
    }

    #[test]
    fn rejects_bad_encodings() {
        assert!(Oid::from_der_contents(&[]).is_err());
        assert!(Oid::from_der_contents(&[0x88]).is_err());
        assert!(Oid::from_der_contents(&[0x80, 0x01]).is_err());
        assert!(Oid::from_der_contents(&[0xFF; 11]).is_err());
        assert!("3.1".parse::<Oid>().is_err());
        assert!("1.40".parse::<Oid>().is_err());
        assert!("1".parse::<Oid>().is_err());
        assert!("1..2".parse::<Oid>().is_err());
    }
}
