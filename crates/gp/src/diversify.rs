//! Card key diversification from the 10-byte key diversification data of the INITIALIZE
//! UPDATE response, as GlobalPlatformPro names the schemes ("visa2", "emv", "kdf3";
//! `PlaintextKeys.kdf_templates` in GlobalPlatformPro).

use symcrypto::{Algorithm, BlockCipher};

use crate::error::{GpError, Result};
use crate::keys::{KeySet, KeyType, KeyUsage};

/// A diversification scheme for a master key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Diversification {
    /// The static keys are the card keys.
    #[default]
    None,
    /// VISA2: 3DES-ECB under the master key of
    /// `KDD[0..2] || KDD[4..8] || 'F0' || key id || KDD[0..2] || KDD[4..8] || '0F' || key id`.
    Visa2,
    /// EMV CPS v1.1 §5.3: 3DES-ECB under the master key of
    /// `KDD[4..10] || 'F0' || key id || KDD[4..10] || '0F' || key id`.
    EmvCps11,
    /// KDF3 for AES keys: NIST SP 800-108 counter mode with AES-CMAC, counter first:
    /// `CMAC(master, i || '000000' || key id || '00' || KDD)`, as many blocks as the key length.
    Kdf3,
}

impl Diversification {
    /// The card key set for this key diversification data (`kdd`, 10 bytes).
    pub fn apply(self, master: &KeySet, kdd: &[u8; 10]) -> Result<KeySet> {
        let one = |usage: KeyUsage| -> Result<Vec<u8>> {
            let key = master.key(usage).expose();
            let id = usage.key_id();
            match self {
                Diversification::None => Ok(key.to_vec()),
                Diversification::Visa2 | Diversification::EmvCps11 => {
                    if master.key_type() != KeyType::Des {
                        return Err(GpError::Unsupported(
                            "VISA2/EMV diversification of AES keys",
                        ));
                    }
                    let half: Vec<u8> = if self == Diversification::Visa2 {
                        [&kdd[0..2], &kdd[4..8]].concat()
                    } else {
                        kdd[4..10].to_vec()
                    };
                    let mut data = Vec::with_capacity(16);
                    data.extend_from_slice(&half);
                    data.extend_from_slice(&[0xF0, id]);
                    data.extend_from_slice(&half);
                    data.extend_from_slice(&[0x0F, id]);
                    BlockCipher::new(Algorithm::Tdes2, key)?.ecb_encrypt(&mut data)?;
                    Ok(data)
                }
                Diversification::Kdf3 => {
                    if master.key_type() != KeyType::Aes {
                        return Err(GpError::Unsupported("KDF3 diversification of DES keys"));
                    }
                    let mut out = Vec::with_capacity(32);
                    for i in 1..=key.len().div_ceil(16) {
                        let fixed = [i as u8, 0, 0, 0, id, 0];
                        out.extend_from_slice(&symcrypto::aes_cmac(key, &[&fixed, kdd])?);
                    }
                    out.truncate(key.len());
                    Ok(out)
                }
            }
        };
        let enc = zeroize::Zeroizing::new(one(KeyUsage::Enc)?);
        let mac = zeroize::Zeroizing::new(one(KeyUsage::Mac)?);
        let dek = zeroize::Zeroizing::new(one(KeyUsage::Dek)?);
        KeySet::new(master.key_type(), master.kvn(), &enc, &mac, &dek)
    }
}
