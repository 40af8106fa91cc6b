//! Deterministic helpers for tests and golden-fixture replays. Not for production use.

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// A deterministic RNG: SHA-256 in counter mode over a seed. Reproducible sessions only;
/// never use it for a real card.
#[derive(Clone)]
pub struct SeededRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    used: usize,
}

impl SeededRng {
    pub fn new(seed: &[u8]) -> Self {
        SeededRng {
            seed: Sha256::digest(seed).into(),
            counter: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(self.counter.to_be_bytes());
        self.buf = h.finalize().into();
        self.counter += 1;
        self.used = 0;
    }
}

impl TryRng for SeededRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for out in dst.iter_mut() {
            if self.used == self.buf.len() {
                self.refill();
            }
            *out = self.buf[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for SeededRng {}

/// The OTA server's end of this card's factory OTA key set (KVN 1, AES-128:
/// [`crate::ota::DEFAULT_KIC`], [`crate::ota::DEFAULT_KID`]): builds SCP80 command packets and
/// opens PoRs, for tests that drive the card's OTA side.
#[derive(Clone)]
pub struct OtaServer {
    pub keys: ota::SecurityKeys,
    pub kic: ota::Kic,
    pub kid: ota::Kid,
}

impl OtaServer {
    /// The factory key set.
    pub fn factory() -> Result<OtaServer, ota::OtaError> {
        use ota::{CcAlgorithm, CipherAlgorithm};
        Ok(OtaServer {
            keys: ota::SecurityKeys {
                cipher: Some(ota::CipherKey::new(
                    CipherAlgorithm::AesCbc,
                    &crate::ota::DEFAULT_KIC,
                )?),
                cc: Some(ota::CcKey::new(
                    CcAlgorithm::AesCmac,
                    &crate::ota::DEFAULT_KID,
                )?),
                implicit_rc: None,
            },
            kic: ota::Kic::new(1, CipherAlgorithm::AesCbc),
            kid: ota::Kid::cc(1, CcAlgorithm::AesCmac),
        })
    }

    /// The command packet (`CPL .. end`, TS 102 225 §5.1) carrying `data` to `tar`.
    pub fn packet(
        &self,
        spi: ota::Spi,
        tar: [u8; 3],
        counter: u64,
        data: &[u8],
    ) -> Result<Vec<u8>, ota::OtaError> {
        let header = ota::ts102225::CommandHeader {
            spi,
            kic: self.kic,
            kid: self.kid,
            tar,
            counter: ota::Counter::new(counter)?,
        };
        ota::ts102225::build_command(&header, &self.keys, data)
    }

    /// Opens a PoR (response packet user data, TS 102 225 §5.2) secured as `security`.
    pub fn por(
        &self,
        ud: &[u8],
        security: ota::ts102225::PorSecurity,
    ) -> Result<ota::ts102225::ResponsePacket, ota::OtaError> {
        ota::ts102225::parse_response(ud, security, self.kic, self.kid, &self.keys)
    }
}

/// The registry record of the native generic applet package
/// ([`crate::gp::native::GENERIC_PACKAGE_AID`] with its module) as an issuer preloads it:
/// associated with the ISD, `size` bytes of non-volatile memory.
pub fn preloaded_generic_package(size: u32) -> crate::gp::registry::LoadFileRecord {
    use crate::gp::native::{GENERIC_MODULE_AID, GENERIC_PACKAGE_AID};
    crate::gp::registry::LoadFileRecord {
        aid: GENERIC_PACKAGE_AID.to_vec(),
        version: vec![1, 0],
        modules: vec![crate::gp::registry::HexAid(GENERIC_MODULE_AID.to_vec())],
        associated_sd: crate::routing::GP_ISD_AID.to_vec(),
        size,
        builtin: false,
    }
}

/// Sends one APDU on the contact interface (T=0) and parses the answer.
fn contact(card: &mut crate::Card, apdu: &[u8]) -> Option<apdu::Response> {
    apdu::Response::parse(&card.process_on(crate::Protocol::T0, apdu)).ok()
}

/// The record length of EF.ADN (DF.TELECOM '7F10' / '6F3A', TS 31.102 §4.4.2.3) of the
/// enabled profile, from its FCP file descriptor ('82': type, coding, record length on two
/// octets, number of records; TS 102 221 §11.1.1.4.3), over the contact interface.
pub fn adn_record_len(card: &mut crate::Card) -> Option<usize> {
    contact(card, &[0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00])?;
    let df = contact(card, &[0x00, 0xA4, 0x00, 0x04, 0x02, 0x7F, 0x10])?;
    if df.sw.sw1() != 0x90 {
        return None;
    }
    let fcp = contact(card, &[0x00, 0xA4, 0x00, 0x04, 0x02, 0x6F, 0x3A, 0x00])?;
    if fcp.sw != apdu::StatusWord::OK {
        return None;
    }
    let t = tlv::Tlv::parse_single(&fcp.data).ok()?;
    let d = tlv::find(t.value, tlv::Tag(0x82)).ok()??;
    Some(usize::from(u16::from_be_bytes([
        *d.value.get(2)?,
        *d.value.get(3)?,
    ])))
}

/// Record `rec` of EF.ADN (`len` octets, absolute mode), over the contact interface.
pub fn read_adn(card: &mut crate::Card, rec: u8, len: usize) -> Option<Vec<u8>> {
    for fid in [[0x3F, 0x00], [0x7F, 0x10], [0x6F, 0x3A]] {
        contact(card, &[0x00, 0xA4, 0x00, 0x04, 0x02, fid[0], fid[1]])?;
    }
    let r = contact(card, &[0x00, 0xB2, rec, 0x04, u8::try_from(len).ok()?])?;
    (r.sw == apdu::StatusWord::OK).then_some(r.data)
}

/// An EF.ADN record of `len` octets: the alpha identifier `name`, the rest 'FF' (empty
/// number).
pub fn adn_record(len: usize, name: &str) -> Vec<u8> {
    let mut r = name.as_bytes().to_vec();
    r.resize(len, 0xFF);
    r
}
