//! Secrets at rest, for every service (SM-DP+, TSM). SGP.22 §2.6.x / SGP.14 require that one-time keys and
//! session keys are never stored in clear; subscriber keys in a Profile
//! Package likewise. Every secret the SM-DP+ persists goes through a
//! [`KeyStore`] and is stored as a [`SealedBlob`].
//!
//! [`SoftwareKeyStore`] seals with AES-256-GCM (NIST SP 800-38D) under a key
//! derived from a 32-byte master key that the server loads or creates (key
//! file I/O is the caller's job). An HSM/PKCS#11 implementation can replace
//! it behind the same trait.
//!
//! Blob format (version 1):
//! `0x01 || key_id (4) || nonce (12) || ciphertext || tag (16)`, where
//! `key_id = SHA-256("simkit/seal/key-id" || master)[0..4]`. The caller's
//! associated data (`aad`) binds a blob to its record (e.g. the
//! TransactionID), so a blob copied onto another row does not open.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// An encrypted, authenticated blob. `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob(pub Vec<u8>);

impl SealedBlob {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedBlob({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("master key must be 32 bytes")]
    BadKeyLength,
    #[error("sealed blob is malformed")]
    Malformed,
    #[error("sealed blob was made with an unknown key")]
    UnknownKey,
    #[error("sealed blob failed authentication")]
    Authentication,
}

/// Encrypts and decrypts secrets at rest.
pub trait KeyStore: Send + Sync {
    /// Encrypt `plaintext`, authenticating `aad` with it.
    fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<SealedBlob, SealError>;

    /// Decrypt a blob made by [`KeyStore::seal`] with the same `aad`.
    fn open(&self, aad: &[u8], blob: &SealedBlob) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

struct SealKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl SealKey {
    fn derive(master: &[u8]) -> Result<Self, SealError> {
        if master.len() != 32 {
            return Err(SealError::BadKeyLength);
        }
        let mut h = Sha256::new();
        h.update(b"simkit/seal/key-id");
        h.update(master);
        let digest = h.finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);

        let mut h = Sha256::new();
        h.update(b"simkit/seal/aes-256-gcm/v1");
        h.update(master);
        let mut k: [u8; 32] = h.finalize().into();
        let cipher = Aes256Gcm::new_from_slice(&k).map_err(|_| SealError::BadKeyLength);
        k.zeroize();
        Ok(SealKey {
            id,
            cipher: cipher?,
        })
    }
}

/// Software key store: AES-256-GCM under a key derived from a master key.
/// Older master keys may be added for opening only (key rotation).
pub struct SoftwareKeyStore {
    current: SealKey,
    retired: Vec<SealKey>,
}

impl fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SoftwareKeyStore(key_id={})",
            hex::encode(self.current.id)
        )
    }
}

impl SoftwareKeyStore {
    /// A key store sealing under `master` (exactly 32 bytes).
    pub fn new(master: &[u8]) -> Result<Self, SealError> {
        Ok(SoftwareKeyStore {
            current: SealKey::derive(master)?,
            retired: Vec::new(),
        })
    }

    /// Also accept blobs sealed under an older master key.
    pub fn with_retired_key(mut self, master: &[u8]) -> Result<Self, SealError> {
        self.retired.push(SealKey::derive(master)?);
        Ok(self)
    }

    /// A fresh random master key, for the caller to persist.
    pub fn generate_master_key(rng: &mut dyn CryptoRng) -> Zeroizing<[u8; 32]> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut k[..]);
        k
    }

    /// Hex key identifier of the current key (safe to log).
    pub fn key_id(&self) -> String {
        hex::encode(self.current.id)
    }

    fn seal_with_nonce(
        key: &SealKey,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<SealedBlob, SealError> {
        let ct = key
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SealError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(SealedBlob(out))
    }
}

impl KeyStore for SoftwareKeyStore {
    fn seal(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<SealedBlob, SealError> {
        // Random 96-bit nonces: safe for far more than 2^32 seals per key
        // at this system's scale (SP 800-38D §8.3).
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        Self::seal_with_nonce(&self.current, nonce, aad, plaintext)
    }

    fn open(&self, aad: &[u8], blob: &SealedBlob) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let b = blob.as_bytes();
        if b.len() < HEADER_LEN + TAG_LEN || b.first() != Some(&VERSION) {
            return Err(SealError::Malformed);
        }
        let (header, ct) = b.split_at(HEADER_LEN);
        let key_id = &header[1..1 + KEY_ID_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&header[1 + KEY_ID_LEN..]);
        let key = std::iter::once(&self.current)
            .chain(self.retired.iter())
            .find(|k| k.id == key_id)
            .ok_or(SealError::UnknownKey)?;
        key.cipher
            .decrypt(&nonce.into(), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| SealError::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// AES-256-GCM known answer: McGrew & Viega, "The Galois/Counter Mode of
    /// Operation (GCM)", Appendix B, Test Case 16 (also in the NIST GCM
    /// validation set). Checks that our framing feeds the AEAD correctly.
    #[test]
    fn gcm_test_case_16() {
        let key = SealKey {
            id: [0; 4],
            cipher: Aes256Gcm::new_from_slice(&h(
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            ))
            .unwrap(),
        };
        let iv: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
        let p = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let a = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let blob = SoftwareKeyStore::seal_with_nonce(&key, iv, &a, &p).unwrap();
        let expected = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
                          76fc6ece0f4e1768cddf8853bb2d551b");
        assert_eq!(&blob.0[HEADER_LEN..], &expected[..]);
        assert_eq!(blob.0[0], VERSION);
        assert_eq!(&blob.0[5..17], &iv);
    }

    #[test]
    fn round_trip_and_tamper() {
        let ks = SoftwareKeyStore::new(&[7u8; 32]).unwrap();
        let mut rng = rng();
        let secret = b"otSK.DP.ECKA and session keys";
        let blob = ks.seal(b"session:0102", secret, &mut rng).unwrap();
        assert_eq!(blob.0.len(), HEADER_LEN + secret.len() + TAG_LEN);
        assert!(!blob.0.windows(secret.len()).any(|w| w == secret));
        assert_eq!(&ks.open(b"session:0102", &blob).unwrap()[..], secret);

        // Wrong AAD (blob moved to another record).
        assert_eq!(
            ks.open(b"session:0103", &blob),
            Err(SealError::Authentication)
        );
        // Bit flip in the ciphertext.
        let mut bad = blob.clone();
        let last = bad.0.len() - 1;
        bad.0[last] ^= 1;
        assert_eq!(
            ks.open(b"session:0102", &bad),
            Err(SealError::Authentication)
        );
        // Truncated / wrong version.
        assert_eq!(
            ks.open(b"", &SealedBlob(vec![1, 2, 3])),
            Err(SealError::Malformed)
        );
        let mut v2 = blob.clone();
        v2.0[0] = 2;
        assert_eq!(ks.open(b"session:0102", &v2), Err(SealError::Malformed));
        // Two seals of the same data differ (fresh nonce).
        assert_ne!(
            ks.seal(b"x", secret, &mut rng).unwrap(),
            ks.seal(b"x", secret, &mut rng).unwrap()
        );
        assert_eq!(
            format!("{blob:?}"),
            format!("SealedBlob({} bytes)", blob.0.len())
        );
    }

    #[test]
    fn rotation() {
        let old = SoftwareKeyStore::new(&[1u8; 32]).unwrap();
        let blob = old.seal(b"a", b"data", &mut rng()).unwrap();
        let new_only = SoftwareKeyStore::new(&[2u8; 32]).unwrap();
        assert_eq!(new_only.open(b"a", &blob), Err(SealError::UnknownKey));
        let rotated = SoftwareKeyStore::new(&[2u8; 32])
            .unwrap()
            .with_retired_key(&[1u8; 32])
            .unwrap();
        assert_eq!(&rotated.open(b"a", &blob).unwrap()[..], b"data");
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(
            SoftwareKeyStore::new(&[0u8; 31]).unwrap_err(),
            SealError::BadKeyLength
        );
    }
}
