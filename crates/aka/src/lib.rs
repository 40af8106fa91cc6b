//! 3GPP AKA (Authentication and Key Agreement), sans-I/O.
//!
//! * [`milenage`]: the MILENAGE algorithm set f1, f1*, f2, f3, f4, f5, f5* and OPc (3GPP TS 35.206),
//!   with configurable rotation (r1..r5) and xoring (c1..c5) constants.
//! * [`test_algorithm`]: the XOR test algorithm of 3GPP TS 34.108 §8.1.2 (used by test USIMs such as
//!   the GSMA TS.48 test profiles).
//! * [`network`]: the HE/AuC side: authentication vectors (RAND, XRES, CK, IK, AUTN) and
//!   resynchronisation from AUTS (TS 33.102 §6.3.2, §6.3.5).
//! * [`usim`]: the USIM side: MAC and SQN freshness checks with the IND-indexed SQN array of
//!   TS 33.102 Annex C, and AUTS on synchronisation failure (TS 33.102 §6.3.3).
//! * [`gsm`]: the conversion functions c2 (SRES) and c3 (Kc) for the GSM security context
//!   (TS 33.102 §6.8.1.2).
//!
//! Nothing here does I/O, reads a clock or draws randomness: RAND and SQN come from the caller.
//! Keys are zeroized on drop and never printed by `Debug`.

#![forbid(unsafe_code)]

pub mod gsm;
pub mod milenage;
pub mod network;
pub mod test_algorithm;
pub mod usim;

pub use milenage::{Milenage, MilenageConstants};
pub use network::{generate_vector, resynchronise, AuthVector};
pub use test_algorithm::TestAlgorithm;
pub use usim::{SqnArray, SqnPolicy, UsimKeys, UsimOutcome};

use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AkaError {
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        what: &'static str,
        expected: &'static str,
        got: usize,
    },
    #[error("invalid MILENAGE constants: {0}")]
    Constants(&'static str),
    #[error("MAC-S in AUTS does not verify")]
    MacS,
    #[error("sequence number {0:#x} out of range")]
    SqnRange(u64),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// SQN is 48 bits (TS 33.102 §6.3.2).
pub const SQN_MAX: u64 = (1 << 48) - 1;
/// IND length in bits; the USIM keeps one SEQ per IND value (TS 33.102 Annex C.1.2, C.3.2;
/// SAIP `sqnInit` has 32 entries).
pub const IND_BITS: u32 = 5;
/// Number of IND values, i.e. the size of the SQN array.
pub const IND_COUNT: usize = 1 << IND_BITS;
/// Largest SEQ (SQN without IND): 43 bits (SAIP: "maximum ... is '07FFFFFFFFFF'H").
pub const SEQ_MAX: u64 = SQN_MAX >> IND_BITS;

/// SQN as the 6 bytes that go into AUTN/AUTS (big-endian).
pub fn sqn_to_bytes(sqn: u64) -> [u8; 6] {
    let b = sqn.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// SQN from 6 big-endian bytes.
pub fn sqn_from_bytes(b: &[u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// SQN = SEQ || IND (TS 33.102 Annex C.1.2).
pub fn sqn_from_parts(seq: u64, ind: u8) -> Result<u64, AkaError> {
    if seq > SEQ_MAX || usize::from(ind) >= IND_COUNT {
        return Err(AkaError::SqnRange(seq));
    }
    Ok((seq << IND_BITS) | u64::from(ind))
}

/// (SEQ, IND) of an SQN.
pub fn sqn_parts(sqn: u64) -> (u64, u8) {
    // IND is 5 bits, so the cast cannot truncate.
    (
        (sqn & SQN_MAX) >> IND_BITS,
        (sqn & (IND_COUNT as u64 - 1)) as u8,
    )
}

/// The SQN with the next SEQ and the same IND (SQN + 2^IND_BITS), as an HE/AuC uses after a
/// resynchronisation (TS 33.102 Annex C.1.2).
pub fn next_seq(sqn: u64) -> Result<u64, AkaError> {
    let (seq, ind) = sqn_parts(sqn);
    let next = seq.checked_add(1).ok_or(AkaError::SqnRange(sqn))?;
    sqn_from_parts(next, ind).map_err(|_| AkaError::SqnRange(sqn))
}

/// Outputs of f2, f3, f4 and f5 for one RAND (wiped on drop).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Outputs {
    /// RES / XRES (8 bytes for MILENAGE; 4..16 bytes for the test algorithm).
    pub res: Vec<u8>,
    pub ck: [u8; 16],
    pub ik: [u8; 16],
    /// AK = f5(K, RAND).
    pub ak: [u8; 6],
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outputs { <redacted> }")
    }
}

/// An authentication algorithm set in the sense of TS 33.102 §6.3 (f1..f5, f1*, f5*).
pub trait AkaAlgorithm {
    /// MAC-A / XMAC-A = f1(K, SQN, RAND, AMF).
    fn f1(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8];
    /// MAC-S / XMAC-S = f1*(K, SQN, RAND, AMF).
    fn f1_star(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8];
    /// RES, CK, IK and AK = f2..f5(K, RAND).
    fn f2345(&self, rand: &[u8; 16]) -> Outputs;
    /// AK for resynchronisation = f5*(K, RAND).
    fn f5_star(&self, rand: &[u8; 16]) -> [u8; 6];
}

pub(crate) fn xor_into<const N: usize>(a: &mut [u8; N], b: &[u8; N]) {
    for (x, y) in a.iter_mut().zip(b.iter()) {
        *x ^= y;
    }
}

pub(crate) fn array<const N: usize>(what: &'static str, b: &[u8]) -> Result<[u8; N], AkaError> {
    <[u8; N]>::try_from(b).map_err(|_| AkaError::Length {
        what,
        expected: match N {
            2 => "2",
            6 => "6",
            8 => "8",
            14 => "14",
            16 => "16",
            _ => "a fixed number of",
        },
        got: b.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqn_helpers() {
        let sqn = 0x0123_4567_89ab;
        assert_eq!(sqn_from_bytes(&sqn_to_bytes(sqn)), sqn);
        assert_eq!(sqn_to_bytes(sqn), [0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
        let (seq, ind) = sqn_parts(sqn);
        assert_eq!(ind, 0x0b);
        assert_eq!(sqn_from_parts(seq, ind), Ok(sqn));
        assert_eq!(next_seq(sqn), Ok(sqn + 32));
        assert!(next_seq(SQN_MAX).is_err());
        assert!(sqn_from_parts(SEQ_MAX + 1, 0).is_err());
        assert!(sqn_from_parts(0, 32).is_err());
    }

    #[test]
    fn lengths_are_checked() {
        assert!(array::<16>("K", &[0; 15]).is_err());
        assert_eq!(array::<2>("AMF", &[1, 2]), Ok([1, 2]));
    }
}
