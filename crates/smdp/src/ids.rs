//! Identifiers: ICCID, EID, MatchingId, TransactionID.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::{codes, Error};

/// ICCID as a string of 19 or 20 decimal digits. SGP.22 §6.5.2 allows a
/// 20th character 'F' (padding); it is stripped on parse, so the stored form
/// is digits only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Iccid(String);

impl Iccid {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let digits = match s.len() {
            20 if s.ends_with(['F', 'f']) => &s[..19],
            19 | 20 => s,
            _ => return Err(invalid("iccid", "must be 19 or 20 digits")),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("iccid", "must be decimal digits"));
        }
        Ok(Iccid(digits.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// EID: 32 decimal digits (SGP.22 §6.5.2 "String of 32 decimal characters";
/// SGP.29 EID format).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Eid(String);

impl Eid {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("eid", "must be 32 decimal digits"));
        }
        Ok(Eid(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-empty MatchingID (the Activation Code Token, SGP.22 §4.1).
///
/// Accepted from operators: 1..=255 printable ASCII characters except '$'
/// (the Activation Code field delimiter, §4.1). Generated ones use only
/// `0-9`, `A-Z` and `-`, the characters SGP.22 §4.1 recommends so that the
/// Activation Code fits the QR code alphanumeric mode.
/// A zero-length MatchingID (SM-DS / default SM-DP+ use) is modelled as
/// `Option::<MatchingId>::None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MatchingId(String);

/// Alphabet for generated MatchingIDs.
const MID_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl MatchingId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 255 {
            return Err(invalid("matchingId", "must be 1..255 characters"));
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'$') {
            return Err(invalid("matchingId", "must be printable ASCII without '$'"));
        }
        Ok(MatchingId(s.to_string()))
    }

    /// A fresh random MatchingID: four groups of five characters from
    /// `0-9A-Z` joined by '-' (e.g. `K3Q9Z-0B7XW-...`), 103 bits of entropy.
    /// Unbiased (rejection sampling).
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut out = String::with_capacity(23);
        let mut n = 0;
        while n < 20 {
            let mut b = [0u8; 1];
            rng.fill_bytes(&mut b);
            // 252 = 7 * 36: values >= 252 would bias the result.
            if b[0] >= 252 {
                continue;
            }
            if n > 0 && n % 5 == 0 {
                out.push('-');
            }
            out.push(char::from(MID_ALPHABET[usize::from(b[0] % 36)]));
            n += 1;
        }
        MatchingId(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// TransactionID: 1..=16 octets (SGP.22 §5.6, `TransactionId ::= OCTET
/// STRING (SIZE(1..16))`), hex-encoded upper case in JSON.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(Vec<u8>);

impl TransactionId {
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > 16 {
            return Err(invalid("transactionId", "must be 1..16 octets"));
        }
        Ok(TransactionId(bytes.to_vec()))
    }

    /// Parse the JSON hex form.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let b = hex::decode(s).map_err(|_| invalid("transactionId", "must be hex"))?;
        TransactionId::new(&b)
    }

    /// A fresh random 16-octet TransactionID.
    pub fn generate(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut b = vec![0u8; 16];
        rng.fill_bytes(&mut b);
        TransactionId(b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({})", self.to_hex())
    }
}

fn invalid(param: &str, why: &str) -> Error {
    Error::rejected(codes::FUNCTION_INVALID_PARAM, format!("{param}: {why}"))
}

macro_rules! string_id {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $t {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                <$t>::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
string_id!(Iccid);
string_id!(Eid);
string_id!(MatchingId);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic counter-based test RNG (not cryptographic).
    pub struct TestRng(pub u64);
    impl rand_core::TryRng for TestRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            // splitmix64
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for TestRng {}

    #[test]
    fn iccid_forms() {
        assert_eq!(
            Iccid::parse("8944500102198304826").unwrap().as_str(),
            "8944500102198304826"
        );
        assert_eq!(
            Iccid::parse("8944500102198304826F").unwrap().as_str(),
            "8944500102198304826"
        );
        assert_eq!(
            Iccid::parse("89445001021983048261").unwrap().as_str(),
            "89445001021983048261"
        );
        for bad in [
            "",
            "894450010219830482",
            "894450010219830482A",
            "8944500102198304826FF",
            "89445001021983048F61",
        ] {
            let e = Iccid::parse(bad).unwrap_err();
            assert_eq!(e.status_code(), codes::FUNCTION_INVALID_PARAM, "{bad}");
        }
    }

    #[test]
    fn eid_forms() {
        assert!(Eid::parse("89049032123451234512345678901235").is_ok());
        assert!(Eid::parse("8904903212345123451234567890123").is_err());
        assert!(Eid::parse("8904903212345123451234567890123A").is_err());
    }

    #[test]
    fn matching_id_parse() {
        assert!(MatchingId::parse("QR-G-5C-1LS-1W1Z9P7").is_ok());
        assert!(MatchingId::parse("").is_err());
        assert!(MatchingId::parse("A$B").is_err());
        assert!(MatchingId::parse("A B").is_err());
        assert!(MatchingId::parse(&"A".repeat(256)).is_err());
    }

    #[test]
    fn matching_id_generate_format() {
        let mut rng = TestRng(1);
        let a = MatchingId::generate(&mut rng);
        let b = MatchingId::generate(&mut rng);
        assert_ne!(a, b);
        for m in [&a, &b] {
            let s = m.as_str();
            assert_eq!(s.len(), 23);
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(groups.len(), 4);
            assert!(groups.iter().all(|g| g.len() == 5
                && g.bytes()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())));
            assert!(MatchingId::parse(s).is_ok());
        }
    }

    #[test]
    fn transaction_id() {
        assert!(TransactionId::new(&[]).is_err());
        assert!(TransactionId::new(&[0; 17]).is_err());
        let t = TransactionId::from_hex("0a0B").unwrap();
        assert_eq!(t.to_hex(), "0A0B");
        assert_eq!(
            TransactionId::generate(&mut TestRng(3)).as_bytes().len(),
            16
        );
    }
}
