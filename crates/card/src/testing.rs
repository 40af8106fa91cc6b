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
