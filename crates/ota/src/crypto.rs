//! Key material and the ciphering / cryptographic-checksum primitives of ETSI TS 102 225
//! §5.1.2 and §5.1.3.1:
//!
//! * ciphering: DES-CBC, triple DES in outer-CBC mode with 2 or 3 keys, AES-CBC; the initial
//!   chaining value is all zeros and the plaintext is padded by the sender (the number of
//!   padding octets goes in PCNTR);
//! * CC: DES / triple-DES CBC-MAC with an all-zero ICV over the data zero-padded to a multiple
//!   of 8, the CC being the last 8 octets of the final block; AES CMAC (NIST SP 800-38B), the
//!   CC being the leftmost octets of the MAC (8 by default; the length the command header
//!   announces through CHL is honoured, 4 or 8).

use symcrypto::{Algorithm, BlockCipher, Padding};
use zeroize::Zeroizing;

use crate::error::{OtaError, Result};
use crate::spi::{CcAlgorithm, CipherAlgorithm};

/// A ciphering key (the key KIc points to).
#[derive(Clone)]
pub struct CipherKey {
    algorithm: CipherAlgorithm,
    key: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CipherKey")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn check_key_len(algorithm: CipherAlgorithm, len: usize) -> Result<()> {
    let ok = match algorithm {
        CipherAlgorithm::DesCbc => len == 8,
        CipherAlgorithm::TripleDes2Key => len == 16,
        CipherAlgorithm::TripleDes3Key => len == 24,
        CipherAlgorithm::AesCbc => matches!(len, 16 | 24 | 32),
    };
    if ok {
        Ok(())
    } else {
        Err(OtaError::BadKey(match algorithm {
            CipherAlgorithm::DesCbc => "DES key must be 8 octets",
            CipherAlgorithm::TripleDes2Key => "2-key 3DES key must be 16 octets",
            CipherAlgorithm::TripleDes3Key => "3-key 3DES key must be 24 octets",
            CipherAlgorithm::AesCbc => "AES key must be 16, 24 or 32 octets",
        }))
    }
}

impl CipherKey {
    /// A key for `algorithm`; the length must fit it.
    pub fn new(algorithm: CipherAlgorithm, key: &[u8]) -> Result<CipherKey> {
        check_key_len(algorithm, key.len())?;
        Ok(CipherKey {
            algorithm,
            key: Zeroizing::new(key.to_vec()),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> CipherAlgorithm {
        self.algorithm
    }

    /// Cipher block size in octets (8 for DES, 16 for AES).
    pub fn block_size(&self) -> usize {
        match self.algorithm {
            CipherAlgorithm::AesCbc => 16,
            _ => 8,
        }
    }

    fn engine(&self) -> Result<BlockCipher> {
        Ok(BlockCipher::new(
            block_algorithm(self.algorithm),
            &self.key,
        )?)
    }

    /// CBC-encrypt in place with a zero ICV; `data` must be whole blocks.
    pub fn encrypt(&self, data: &mut [u8]) -> Result<()> {
        let engine = self.engine()?;
        Ok(engine.cbc_encrypt(&ZERO_ICV[..engine.block_size()], data)?)
    }

    /// CBC-decrypt in place with a zero ICV; `data` must be whole blocks.
    pub fn decrypt(&self, data: &mut [u8]) -> Result<()> {
        let engine = self.engine()?;
        Ok(engine.cbc_decrypt(&ZERO_ICV[..engine.block_size()], data)?)
    }
}

/// A cryptographic-checksum key (the key KID points to when SPI asks for a CC).
#[derive(Clone)]
pub struct CcKey {
    algorithm: CcAlgorithm,
    key: Zeroizing<Vec<u8>>,
    cc_len: usize,
}

impl core::fmt::Debug for CcKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CcKey")
            .field("algorithm", &self.algorithm)
            .field("cc_len", &self.cc_len)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CcKey {
    /// A key for `algorithm` producing an 8-octet CC.
    pub fn new(algorithm: CcAlgorithm, key: &[u8]) -> Result<CcKey> {
        let as_cipher = match algorithm {
            CcAlgorithm::DesCbc => CipherAlgorithm::DesCbc,
            CcAlgorithm::TripleDes2Key => CipherAlgorithm::TripleDes2Key,
            CcAlgorithm::TripleDes3Key => CipherAlgorithm::TripleDes3Key,
            CcAlgorithm::AesCmac => CipherAlgorithm::AesCbc,
        };
        check_key_len(as_cipher, key.len())?;
        Ok(CcKey {
            algorithm,
            key: Zeroizing::new(key.to_vec()),
            cc_len: 8,
        })
    }

    /// Same key with another CC length, as sent by the sending side. DES-based CCs are always
    /// 8 octets; an AES CMAC may be truncated to 4 or 8 octets.
    pub fn with_cc_len(mut self, cc_len: usize) -> Result<CcKey> {
        if !Self::len_allowed(self.algorithm, cc_len) {
            return Err(OtaError::UnsupportedSecurity(
                "CC length for this algorithm",
            ));
        }
        self.cc_len = cc_len;
        Ok(self)
    }

    pub(crate) fn len_allowed(algorithm: CcAlgorithm, len: usize) -> bool {
        match algorithm {
            CcAlgorithm::AesCmac => matches!(len, 4 | 8),
            _ => len == 8,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> CcAlgorithm {
        self.algorithm
    }

    /// CC length this key produces when sending.
    pub fn cc_len(&self) -> usize {
        self.cc_len
    }

    /// The CC over `data`, `len` octets long (TS 102 225 §5.1.3.1).
    pub fn compute(&self, data: &[u8], len: usize) -> Result<Vec<u8>> {
        if !Self::len_allowed(self.algorithm, len) {
            return Err(OtaError::UnsupportedSecurity(
                "CC length for this algorithm",
            ));
        }
        match self.algorithm {
            CcAlgorithm::AesCmac => {
                let full = symcrypto::aes_cmac(&self.key, &[data])?;
                Ok(full.get(..len).unwrap_or(&full[..]).to_vec())
            }
            alg => {
                let alg = match alg {
                    CcAlgorithm::DesCbc => Algorithm::Des,
                    CcAlgorithm::TripleDes3Key => Algorithm::Tdes3,
                    _ => Algorithm::Tdes2,
                };
                // ISO/IEC 9797-1 MAC algorithm 1: zero padding to a multiple of 8 (not
                // transmitted), zero ICV, the CC is the last block.
                Ok(symcrypto::mac_algorithm1(
                    alg,
                    &self.key,
                    &ZERO_ICV[..8],
                    data,
                    Padding::Method1,
                )?)
            }
        }
    }

    /// Constant-time comparison of a received CC.
    pub fn verify(&self, data: &[u8], received: &[u8]) -> Result<()> {
        let expected = self.compute(data, received.len())?;
        if symcrypto::ct_eq(&expected, received) {
            Ok(())
        } else {
            Err(OtaError::IntegrityFailed)
        }
    }
}

/// TS 102 225 §5.1.2: the initial chaining value is all zeros.
const ZERO_ICV: [u8; 16] = [0; 16];

fn block_algorithm(algorithm: CipherAlgorithm) -> Algorithm {
    match algorithm {
        CipherAlgorithm::DesCbc => Algorithm::Des,
        CipherAlgorithm::TripleDes2Key => Algorithm::Tdes2,
        CipherAlgorithm::TripleDes3Key => Algorithm::Tdes3,
        CipherAlgorithm::AesCbc => Algorithm::Aes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIST SP 800-38B Appendix D.1, Example 2 (AES-128 CMAC of one block).
    #[test]
    fn aes_cmac_nist_example() {
        let key = hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let msg = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let k = CcKey::new(CcAlgorithm::AesCmac, &key).unwrap();
        assert_eq!(hex::encode(k.compute(&msg, 8).unwrap()), "070a16b46b4d4144");
        assert_eq!(hex::encode(k.compute(&msg, 4).unwrap()), "070a16b4");
        assert!(k.compute(&msg, 16).is_err());
    }

    // NIST SP 800-38A F.2.1 CBC-AES128.Encrypt, first block.
    #[test]
    fn aes_cbc_nist_example() {
        let key = hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let k = CipherKey::new(CipherAlgorithm::AesCbc, &key).unwrap();
        // With a zero IV, CBC of one block is ECB: SP 800-38A F.1.1 ECB-AES128 block #1.
        let mut b = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        k.encrypt(&mut b).unwrap();
        assert_eq!(hex::encode(&b), "3ad77bb40d7a3660a89ecaf32466ef97");
        k.decrypt(&mut b).unwrap();
        assert_eq!(hex::encode(&b), "6bc1bee22e409f96e93d7e117393172a");
        let mut odd = vec![0u8; 15];
        assert!(matches!(k.decrypt(&mut odd), Err(OtaError::Ciphering(_))));
    }

    #[test]
    fn key_lengths() {
        assert!(CipherKey::new(CipherAlgorithm::TripleDes2Key, &[0; 24]).is_err());
        assert!(CipherKey::new(CipherAlgorithm::TripleDes3Key, &[0; 24]).is_ok());
        assert!(CcKey::new(CcAlgorithm::DesCbc, &[0; 8]).is_ok());
        assert!(CcKey::new(CcAlgorithm::AesCmac, &[0; 8]).is_err());
        let k = CcKey::new(CcAlgorithm::TripleDes2Key, &[0; 16]).unwrap();
        assert!(k.with_cc_len(4).is_err());
        assert!(!format!(
            "{:?}",
            CipherKey::new(CipherAlgorithm::DesCbc, &[7; 8]).unwrap()
        )
        .contains('7'));
    }
}
