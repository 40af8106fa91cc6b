//! Security parameters of a command packet: SPI (ETSI TS 102 225 §5.1.1, with the SMS bit of
//! 3GPP TS 31.115 §4.2), KIc (§5.1.2), KID (§5.1.3) and the counter CNTR (§5.1.1 b5-b4 of
//! SPI1, Annex A).

use serde::{Deserialize, Serialize};

use crate::error::{OtaError, Result};

/// SPI1 b5-b4: counter handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CounterMode {
    /// '00' no counter available.
    NoCounter,
    /// '01' counter available, no replay or sequence checking.
    NoReplayCheck,
    /// '10' process only if the counter is higher than the receiver's value.
    Higher,
    /// '11' process only if the counter is exactly one higher than the receiver's value.
    OneHigher,
}

/// SPI1 b2-b1 / SPI2 b4-b3: integrity (redundancy check, cryptographic checksum, digital
/// signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntegrityType {
    /// '00' no RC, CC or DS.
    None,
    /// '01' redundancy check (CRC).
    Rc,
    /// '10' cryptographic checksum.
    Cc,
    /// '11' digital signature (not supported by this crate's crypto; decodes only).
    Ds,
}

/// SPI2 b2-b1: when a PoR is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PorRequest {
    /// '00' no PoR.
    Never,
    /// '01' PoR required.
    Always,
    /// '10' PoR required only when an error has occurred.
    OnError,
}

/// SPI2 b6 (TS 31.115 §4.2): how the PoR travels back on SMS-PP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PorTransport {
    /// '0' in the SMS-DELIVER-REPORT (RP-ACK/RP-ERROR of the delivering SMS).
    DeliverReport,
    /// '1' in a separate SMS-SUBMIT.
    SmsSubmit,
}

/// Security Parameter Indicator, two octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Spi {
    /// SPI1 b5-b4.
    pub counter: CounterMode,
    /// SPI1 b3.
    pub ciphering: bool,
    /// SPI1 b2-b1.
    pub integrity: IntegrityType,
    /// SPI2 b2-b1.
    pub por: PorRequest,
    /// SPI2 b4-b3.
    pub por_integrity: IntegrityType,
    /// SPI2 b5.
    pub por_ciphered: bool,
    /// SPI2 b6 (TS 31.115).
    pub por_transport: PorTransport,
}

fn integrity_from(bits: u8) -> IntegrityType {
    match bits & 3 {
        0 => IntegrityType::None,
        1 => IntegrityType::Rc,
        2 => IntegrityType::Cc,
        _ => IntegrityType::Ds,
    }
}

fn integrity_bits(i: IntegrityType) -> u8 {
    match i {
        IntegrityType::None => 0,
        IntegrityType::Rc => 1,
        IntegrityType::Cc => 2,
        IntegrityType::Ds => 3,
    }
}

impl Spi {
    /// The usual secured packet (SPI '16 x9'): CC, ciphered, counter higher than the
    /// receiver's; a PoR always, with CC, ciphered, sent back by `por_transport` (SPI2 b6:
    /// '39' by SMS-SUBMIT, '19' in the SMS-DELIVER-REPORT).
    pub const fn secured(por_transport: PorTransport) -> Spi {
        Spi {
            counter: CounterMode::Higher,
            ciphering: true,
            integrity: IntegrityType::Cc,
            por: PorRequest::Always,
            por_integrity: IntegrityType::Cc,
            por_ciphered: true,
            por_transport,
        }
    }

    /// Decode the two SPI octets. Reserved bits (SPI1 b8-b6, SPI2 b8-b7) are ignored; the
    /// reserved PoR coding '11' is refused.
    pub fn from_bytes(spi: [u8; 2]) -> Result<Spi> {
        let [s1, s2] = spi;
        let counter = match (s1 >> 3) & 3 {
            0 => CounterMode::NoCounter,
            1 => CounterMode::NoReplayCheck,
            2 => CounterMode::Higher,
            _ => CounterMode::OneHigher,
        };
        let por = match s2 & 3 {
            0 => PorRequest::Never,
            1 => PorRequest::Always,
            2 => PorRequest::OnError,
            _ => {
                return Err(OtaError::UnsupportedSecurity(
                    "SPI2 PoR coding '11' is reserved",
                ))
            }
        };
        Ok(Spi {
            counter,
            ciphering: s1 & 0x04 != 0,
            integrity: integrity_from(s1),
            por,
            por_integrity: integrity_from(s2 >> 2),
            por_ciphered: s2 & 0x10 != 0,
            por_transport: if s2 & 0x20 != 0 {
                PorTransport::SmsSubmit
            } else {
                PorTransport::DeliverReport
            },
        })
    }

    /// Encode to two octets (reserved bits zero).
    pub fn to_bytes(&self) -> [u8; 2] {
        let counter = match self.counter {
            CounterMode::NoCounter => 0,
            CounterMode::NoReplayCheck => 1,
            CounterMode::Higher => 2,
            CounterMode::OneHigher => 3,
        };
        let s1 = (counter << 3) | (u8::from(self.ciphering) << 2) | integrity_bits(self.integrity);
        let por = match self.por {
            PorRequest::Never => 0,
            PorRequest::Always => 1,
            PorRequest::OnError => 2,
        };
        let s2 = (u8::from(self.por_transport == PorTransport::SmsSubmit) << 5)
            | (u8::from(self.por_ciphered) << 4)
            | (integrity_bits(self.por_integrity) << 2)
            | por;
        [s1, s2]
    }

    /// Whether a PoR is to be sent for a given status (SPI2 b2-b1).
    pub fn por_wanted(&self, status: crate::PorStatus) -> bool {
        match self.por {
            PorRequest::Never => false,
            PorRequest::Always => true,
            PorRequest::OnError => status != crate::PorStatus::PorOk,
        }
    }
}

/// Ciphering algorithm (KIc b4-b1, TS 102 225 §5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CipherAlgorithm {
    /// '0001' single DES in CBC mode (pre-Release 8, kept for old cards).
    DesCbc,
    /// '0101' triple DES in outer-CBC mode with two keys.
    TripleDes2Key,
    /// '1001' triple DES in outer-CBC mode with three keys.
    TripleDes3Key,
    /// '0010' AES in CBC mode (128, 192 or 256-bit key, by key length).
    AesCbc,
}

/// CC algorithm (KID b4-b1 when SPI asks for a CC, TS 102 225 §5.1.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CcAlgorithm {
    /// '0001' single DES CBC-MAC.
    DesCbc,
    /// '0101' triple DES (two keys) CBC-MAC.
    TripleDes2Key,
    /// '1001' triple DES (three keys) CBC-MAC.
    TripleDes3Key,
    /// '0010' AES CMAC.
    AesCmac,
}

/// RC algorithm (KID b4-b1 when SPI asks for an RC, TS 102 225 §5.1.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RcAlgorithm {
    /// '0001' CRC-16.
    Crc16,
    /// '0101' CRC-32.
    Crc32,
}

impl RcAlgorithm {
    /// Octets of the RC.
    pub fn len(self) -> usize {
        match self {
            RcAlgorithm::Crc16 => 2,
            RcAlgorithm::Crc32 => 4,
        }
    }

    /// Always false; RCs have a fixed, non-zero length.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// Low nibble of KIc/KID: b2-b1 algorithm family, b4-b3 mode. '0000' means "known implicitly
/// by both entities".
fn des_family(nibble: u8) -> Option<Option<u8>> {
    match nibble & 0x0F {
        0x0 => Some(None), // implicit
        n => Some(Some(n)),
    }
}

/// The KIc octet: key version (b8-b5) and ciphering algorithm (b4-b1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Kic(pub u8);

impl Kic {
    /// Build from a key version (0–15) and an algorithm.
    pub fn new(key_version: u8, algorithm: CipherAlgorithm) -> Kic {
        let low = match algorithm {
            CipherAlgorithm::DesCbc => 0x1,
            CipherAlgorithm::TripleDes2Key => 0x5,
            CipherAlgorithm::TripleDes3Key => 0x9,
            CipherAlgorithm::AesCbc => 0x2,
        };
        Kic(((key_version & 0x0F) << 4) | low)
    }

    /// Key version number b8-b5 (the KVN of TS 102 225 Annex A).
    pub fn key_version(self) -> u8 {
        self.0 >> 4
    }

    /// The algorithm, or `None` when it is known implicitly ('0000'). Proprietary ('xx11'),
    /// single DES in ECB mode ('1101') and reserved AES modes are refused.
    pub fn algorithm(self) -> Result<Option<CipherAlgorithm>> {
        match des_family(self.0) {
            Some(None) => Ok(None),
            Some(Some(0x1)) => Ok(Some(CipherAlgorithm::DesCbc)),
            Some(Some(0x5)) => Ok(Some(CipherAlgorithm::TripleDes2Key)),
            Some(Some(0x9)) => Ok(Some(CipherAlgorithm::TripleDes3Key)),
            Some(Some(0x2)) => Ok(Some(CipherAlgorithm::AesCbc)),
            _ => Err(OtaError::UnsupportedSecurity("KIc algorithm")),
        }
    }
}

/// The KID octet: key version (b8-b5) and RC/CC algorithm (b4-b1); its meaning depends on
/// SPI1 b2-b1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Kid(pub u8);

impl Kid {
    /// KID for a cryptographic checksum.
    pub fn cc(key_version: u8, algorithm: CcAlgorithm) -> Kid {
        let low = match algorithm {
            CcAlgorithm::DesCbc => 0x1,
            CcAlgorithm::TripleDes2Key => 0x5,
            CcAlgorithm::TripleDes3Key => 0x9,
            CcAlgorithm::AesCmac => 0x2,
        };
        Kid(((key_version & 0x0F) << 4) | low)
    }

    /// KID for a redundancy check.
    pub fn rc(key_version: u8, algorithm: RcAlgorithm) -> Kid {
        let low = match algorithm {
            RcAlgorithm::Crc16 => 0x1,
            RcAlgorithm::Crc32 => 0x5,
        };
        Kid(((key_version & 0x0F) << 4) | low)
    }

    /// Key version number b8-b5.
    pub fn key_version(self) -> u8 {
        self.0 >> 4
    }

    /// CC algorithm, `None` if implicit.
    pub fn cc_algorithm(self) -> Result<Option<CcAlgorithm>> {
        match self.0 & 0x0F {
            0x0 => Ok(None),
            0x1 => Ok(Some(CcAlgorithm::DesCbc)),
            0x5 => Ok(Some(CcAlgorithm::TripleDes2Key)),
            0x9 => Ok(Some(CcAlgorithm::TripleDes3Key)),
            0x2 => Ok(Some(CcAlgorithm::AesCmac)),
            _ => Err(OtaError::UnsupportedSecurity("KID CC algorithm")),
        }
    }

    /// RC algorithm, `None` if implicit.
    pub fn rc_algorithm(self) -> Result<Option<RcAlgorithm>> {
        match self.0 & 0x0F {
            0x0 => Ok(None),
            0x1 => Ok(Some(RcAlgorithm::Crc16)),
            0x5 => Ok(Some(RcAlgorithm::Crc32)),
            _ => Err(OtaError::UnsupportedSecurity("KID RC algorithm")),
        }
    }
}

/// The 5-octet replay/sequence counter CNTR (TS 102 225 §5.1.1, Annex A).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Counter(u64);

impl Counter {
    /// Highest value: 'FF FF FF FF FF'. A receiver whose counter is there is blocked.
    pub const MAX: Counter = Counter(0xFF_FFFF_FFFF);

    /// A counter from an integer; values above 40 bits are refused.
    pub fn new(value: u64) -> Result<Counter> {
        if value > Counter::MAX.0 {
            return Err(OtaError::BadLength("CNTR exceeds 5 octets"));
        }
        Ok(Counter(value))
    }

    /// The numeric value.
    pub fn value(self) -> u64 {
        self.0
    }

    /// From the 5 wire octets.
    pub fn from_bytes(b: [u8; 5]) -> Counter {
        Counter(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// To the 5 wire octets.
    pub fn to_bytes(self) -> [u8; 5] {
        let v = self.0.to_be_bytes();
        [v[3], v[4], v[5], v[6], v[7]]
    }

    /// The next value, or `None` at [`Counter::MAX`].
    pub fn next(self) -> Option<Counter> {
        if self.0 >= Counter::MAX.0 {
            None
        } else {
            Some(Counter(self.0 + 1))
        }
    }
}

impl CounterMode {
    /// The receiving entity's replay/sequence check (TS 102 225 §5.1.1 SPI1 b5-b4 and
    /// Annex A): `received` is the packet's CNTR, `stored` the counter kept for the key set.
    ///
    /// Returns the value to store after the packet is accepted (`None`: leave the stored
    /// counter as it is), or the error whose PoR status is '02' CNTR low, '03' CNTR high or
    /// '04' CNTR blocked. Call it only after the RC/CC/DS verified, and store the returned
    /// value only then, so that a forged packet cannot move the counter.
    pub fn check(self, received: Counter, stored: Counter) -> Result<Option<Counter>> {
        match self {
            CounterMode::NoCounter | CounterMode::NoReplayCheck => Ok(None),
            CounterMode::Higher | CounterMode::OneHigher => {
                if stored >= Counter::MAX {
                    return Err(OtaError::CounterBlocked);
                }
                if received <= stored {
                    return Err(OtaError::CounterLow);
                }
                if self == CounterMode::OneHigher && Some(received) != stored.next() {
                    return Err(OtaError::CounterHigh);
                }
                Ok(Some(received))
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn secured_codes_16_39_and_16_19() {
        assert_eq!(
            Spi::secured(PorTransport::SmsSubmit),
            Spi::from_bytes([0x16, 0x39]).unwrap()
        );
        assert_eq!(
            Spi::secured(PorTransport::DeliverReport),
            Spi::from_bytes([0x16, 0x19]).unwrap()
        );
    }

    use super::*;

    #[test]
    fn spi_codings_of_pysim_vectors() {
        // SPI '1621' / '0619' etc. as used in pySim tests/unittests/test_ota.py.
        let spi = Spi::from_bytes([0x06, 0x19]).unwrap();
        assert_eq!(spi.counter, CounterMode::NoCounter);
        assert!(spi.ciphering);
        assert_eq!(spi.integrity, IntegrityType::Cc);
        assert_eq!(spi.por, PorRequest::Always);
        assert_eq!(spi.por_integrity, IntegrityType::Cc);
        assert!(spi.por_ciphered);
        assert_eq!(spi.por_transport, PorTransport::DeliverReport);
        assert_eq!(spi.to_bytes(), [0x06, 0x19]);
        let spi = Spi::from_bytes([0x16, 0x21]).unwrap();
        assert_eq!(spi.counter, CounterMode::Higher);
        assert_eq!(spi.por_transport, PorTransport::SmsSubmit);
        assert_eq!(spi.to_bytes(), [0x16, 0x21]);
        assert!(Spi::from_bytes([0x00, 0x03]).is_err());
    }

    #[test]
    fn kic_kid_codings() {
        assert_eq!(Kic::new(3, CipherAlgorithm::TripleDes2Key).0, 0x35);
        assert_eq!(Kic::new(2, CipherAlgorithm::AesCbc).0, 0x22);
        assert_eq!(
            Kic(0x19).algorithm().unwrap(),
            Some(CipherAlgorithm::TripleDes3Key)
        );
        assert_eq!(Kic(0x10).algorithm().unwrap(), None);
        assert!(Kic(0x13).algorithm().is_err()); // proprietary
        assert!(Kic(0x1D).algorithm().is_err()); // DES-ECB
        assert!(Kic(0x16).algorithm().is_err()); // AES reserved mode
        assert_eq!(
            Kid(0x22).cc_algorithm().unwrap(),
            Some(CcAlgorithm::AesCmac)
        );
        assert_eq!(Kid(0x15).rc_algorithm().unwrap(), Some(RcAlgorithm::Crc32));
        assert_eq!(Kid::rc(1, RcAlgorithm::Crc16).0, 0x11);
        assert!(Kid(0x19).rc_algorithm().is_err());
    }

    #[test]
    fn counter_modes() {
        let c = |v| Counter::new(v).unwrap();
        assert_eq!(CounterMode::NoCounter.check(c(0), c(5)), Ok(None));
        assert_eq!(CounterMode::NoReplayCheck.check(c(0), c(5)), Ok(None));
        assert_eq!(CounterMode::Higher.check(c(9), c(5)), Ok(Some(c(9))));
        assert_eq!(
            CounterMode::Higher.check(c(5), c(5)),
            Err(OtaError::CounterLow)
        );
        assert_eq!(CounterMode::OneHigher.check(c(6), c(5)), Ok(Some(c(6))));
        assert_eq!(
            CounterMode::OneHigher.check(c(7), c(5)),
            Err(OtaError::CounterHigh)
        );
        assert_eq!(
            CounterMode::OneHigher.check(c(4), c(5)),
            Err(OtaError::CounterLow)
        );
        assert_eq!(
            CounterMode::Higher.check(Counter::MAX, Counter::MAX),
            Err(OtaError::CounterBlocked)
        );
        assert_eq!(Counter::from_bytes([0, 0, 0, 1, 2]).value(), 0x102);
        assert_eq!(c(0x0102030405).to_bytes(), [1, 2, 3, 4, 5]);
        assert!(Counter::new(1 << 40).is_err());
    }
}
