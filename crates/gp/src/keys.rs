//! Static key sets, key check values, sensitive-data (DEK) encryption and the PUT KEY data
//! field (GP CS v2.3.1 §11.8, Amd D §6.2.8 and §7.2).

use std::fmt;

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use symcrypto::{Algorithm, BlockCipher};

use crate::error::{GpError, Result};

/// Key type coding of GP CS v2.3.1 Table 11-16 (the ones a secure channel key set uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// '80': DES (two-key triple DES in CBC/ECB), SCP02.
    Des,
    /// '88': AES, SCP03.
    Aes,
}

impl KeyType {
    pub fn code(self) -> u8 {
        match self {
            KeyType::Des => 0x80,
            KeyType::Aes => 0x88,
        }
    }

    pub fn from_code(code: u8) -> Option<KeyType> {
        match code {
            0x80 => Some(KeyType::Des),
            0x88 => Some(KeyType::Aes),
            _ => None,
        }
    }

    fn check_len(self, len: usize) -> Result<()> {
        match (self, len) {
            (KeyType::Des, 16) | (KeyType::Aes, 16 | 24 | 32) => Ok(()),
            (KeyType::Des, _) => Err(GpError::BadKey("DES key must be 16 bytes")),
            (KeyType::Aes, _) => Err(GpError::BadKey("AES key must be 16, 24 or 32 bytes")),
        }
    }
}

/// Secret key bytes: zeroized on drop; `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    pub fn new(bytes: &[u8]) -> SecretKey {
        SecretKey(bytes.to_vec())
    }

    /// The key bytes. Handle with care.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes>)", self.0.len())
    }
}

/// Key identifiers of the secure channel keys within a key set (GP CS v2.3.1 §E.1.2 and
/// Amd D §6.1: Key-ENC, Key-MAC, Key-DEK are key ids 1, 2, 3).
pub const KEY_ID_ENC: u8 = 0x01;
pub const KEY_ID_MAC: u8 = 0x02;
pub const KEY_ID_DEK: u8 = 0x03;

/// Which key of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    Enc,
    Mac,
    Dek,
}

impl KeyUsage {
    /// The key identifier ('01', '02', '03').
    pub fn key_id(self) -> u8 {
        match self {
            KeyUsage::Enc => KEY_ID_ENC,
            KeyUsage::Mac => KEY_ID_MAC,
            KeyUsage::Dek => KEY_ID_DEK,
        }
    }
}

/// A secure channel key set: Key-ENC, Key-MAC and Key-DEK of one key version number.
/// DES sets are for SCP02, AES sets for SCP03. Serializes (for the card's sealed state file)
/// with the keys in hex; deserializing validates the key lengths.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "KeySetRepr", try_from = "KeySetRepr")]
pub struct KeySet {
    kvn: u8,
    key_type: KeyType,
    enc: SecretKey,
    mac: SecretKey,
    dek: SecretKey,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kvn", &self.kvn)
            .field("key_type", &self.key_type)
            .field("key_len", &self.enc.len())
            .finish_non_exhaustive()
    }
}

/// Serialized form of a [`KeySet`].
#[derive(serde::Serialize, serde::Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeySetRepr {
    kvn: u8,
    #[zeroize(skip)]
    key_type: KeyType,
    enc: String,
    mac: String,
    dek: String,
}

impl From<KeySet> for KeySetRepr {
    fn from(k: KeySet) -> KeySetRepr {
        KeySetRepr {
            kvn: k.kvn,
            key_type: k.key_type,
            enc: hex::encode(k.enc.expose()),
            mac: hex::encode(k.mac.expose()),
            dek: hex::encode(k.dek.expose()),
        }
    }
}

impl TryFrom<KeySetRepr> for KeySet {
    type Error = GpError;
    fn try_from(r: KeySetRepr) -> Result<KeySet> {
        let dec = |s: &str| {
            hex::decode(s)
                .map(Zeroizing::new)
                .map_err(|_| GpError::BadKey("key is not hex"))
        };
        KeySet::new(
            r.key_type,
            r.kvn,
            &dec(&r.enc)?,
            &dec(&r.mac)?,
            &dec(&r.dek)?,
        )
    }
}

impl KeySet {
    /// An SCP03 key set; all three keys the same length, 16, 24 or 32 bytes (Amd D §6.1).
    pub fn aes(kvn: u8, enc: &[u8], mac: &[u8], dek: &[u8]) -> Result<KeySet> {
        KeySet::new(KeyType::Aes, kvn, enc, mac, dek)
    }

    /// An SCP02 key set of three 16-byte two-key 3DES keys (GP CS v2.3.1 §E.1.2).
    pub fn des(kvn: u8, enc: &[u8], mac: &[u8], dek: &[u8]) -> Result<KeySet> {
        KeySet::new(KeyType::Des, kvn, enc, mac, dek)
    }

    pub fn new(key_type: KeyType, kvn: u8, enc: &[u8], mac: &[u8], dek: &[u8]) -> Result<KeySet> {
        for k in [enc, mac, dek] {
            key_type.check_len(k.len())?;
        }
        if enc.len() != mac.len() || mac.len() != dek.len() {
            return Err(GpError::BadKey(
                "ENC, MAC and DEK must have the same length",
            ));
        }
        Ok(KeySet {
            kvn,
            key_type,
            enc: SecretKey::new(enc),
            mac: SecretKey::new(mac),
            dek: SecretKey::new(dek),
        })
    }

    pub fn kvn(&self) -> u8 {
        self.kvn
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Key length in bytes.
    pub fn key_len(&self) -> usize {
        self.enc.len()
    }

    pub fn enc(&self) -> &SecretKey {
        &self.enc
    }

    pub fn mac(&self) -> &SecretKey {
        &self.mac
    }

    pub fn dek(&self) -> &SecretKey {
        &self.dek
    }

    pub fn key(&self, usage: KeyUsage) -> &SecretKey {
        match usage {
            KeyUsage::Enc => &self.enc,
            KeyUsage::Mac => &self.mac,
            KeyUsage::Dek => &self.dek,
        }
    }

    /// The same keys under another key version number.
    pub fn with_kvn(mut self, kvn: u8) -> KeySet {
        self.kvn = kvn;
        self
    }

    /// Key check value of one key of the set.
    pub fn kcv(&self, usage: KeyUsage) -> Result<[u8; 3]> {
        kcv(self.key_type, self.key(usage).expose())
    }
}

/// Key check value: AES encrypts one block of 16 bytes '01' (Amd D §7.2.2), DES encrypts
/// 8 bytes '00' (GP CS v2.3.1 §11.8.2.3.1); the KCV is the first three bytes.
pub fn kcv(key_type: KeyType, key: &[u8]) -> Result<[u8; 3]> {
    key_type.check_len(key.len())?;
    let mut out = [0u8; 3];
    match key_type {
        KeyType::Aes => {
            let mut block = [0x01u8; 16];
            BlockCipher::new(Algorithm::Aes, key)?.ecb_encrypt(&mut block)?;
            out.copy_from_slice(&block[..3]);
        }
        KeyType::Des => {
            let mut block = [0u8; 8];
            BlockCipher::new(Algorithm::Tdes2, key)?.ecb_encrypt(&mut block)?;
            out.copy_from_slice(&block[..3]);
        }
    }
    Ok(out)
}

/// The key that protects sensitive data in PUT KEY / STORE DATA: the static Key-DEK with
/// AES-CBC and a zero ICV for SCP03 (Amd D §6.2.8), the session DEK with 3DES-ECB for SCP02
/// (GP CS v2.3.1 §E.4.7).
#[derive(Clone, PartialEq, Eq)]
pub struct Dek {
    key_type: KeyType,
    key: SecretKey,
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dek")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Dek {
    /// An SCP03 Key-DEK (static AES key).
    pub fn aes(key: &[u8]) -> Result<Dek> {
        KeyType::Aes.check_len(key.len())?;
        Ok(Dek {
            key_type: KeyType::Aes,
            key: SecretKey::new(key),
        })
    }

    /// An SCP02 session DEK (3DES).
    pub fn des(key: &[u8]) -> Result<Dek> {
        KeyType::Des.check_len(key.len())?;
        Ok(Dek {
            key_type: KeyType::Des,
            key: SecretKey::new(key),
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    fn block(&self) -> usize {
        match self.key_type {
            KeyType::Aes => symcrypto::AES_BLOCK,
            KeyType::Des => symcrypto::DES_BLOCK,
        }
    }

    /// The DEK cipher: AES-CBC with a zero ICV (Amd D §6.2.8), two-key 3DES-ECB (GP CS v2.3.1
    /// §E.4.7 for SCP02).
    fn cipher(&self) -> Result<BlockCipher> {
        let alg = match self.key_type {
            KeyType::Aes => Algorithm::Aes,
            KeyType::Des => Algorithm::Tdes2,
        };
        Ok(BlockCipher::new(alg, self.key.expose())?)
    }

    /// Encrypts data that is already a multiple of the block size.
    pub fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = data.to_vec();
        let c = self.cipher()?;
        match self.key_type {
            KeyType::Aes => c.cbc_encrypt(&[0; 16], &mut out)?,
            KeyType::Des => c.ecb_encrypt(&mut out)?,
        }
        Ok(out)
    }

    /// Decrypts a multiple of the block size.
    pub fn decrypt(&self, data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(data.to_vec());
        let c = self.cipher()?;
        match self.key_type {
            KeyType::Aes => c.cbc_decrypt(&[0; 16], &mut out)?,
            KeyType::Des => c.ecb_decrypt(&mut out)?,
        }
        Ok(out)
    }

    /// Encrypts a key value, padding it with random bytes up to the block size when needed
    /// (Amd D §6.2.8: 24-byte AES keys get 8 arbitrary bytes).
    pub fn encrypt_key<R: CryptoRng + ?Sized>(&self, key: &[u8], rng: &mut R) -> Result<Vec<u8>> {
        let block = self.block();
        let padded_len = key.len().div_ceil(block) * block;
        let mut plain = Zeroizing::new(vec![0u8; padded_len]);
        plain[..key.len()].copy_from_slice(key);
        rng.fill_bytes(&mut plain[key.len()..]);
        self.encrypt(&plain)
    }
}

/// One key component of a PUT KEY data field (GP CS v2.3.1 Table 11-68, Amd D Table 7-10).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyComponent {
    pub key_type: u8,
    /// Clear key length when coded (AES: the "length of the AES key" byte).
    pub key_len: Option<u8>,
    /// The ciphered key, as sent.
    pub ciphered: Vec<u8>,
    pub kcv: Vec<u8>,
}

impl fmt::Debug for KeyComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyComponent")
            .field("key_type", &self.key_type)
            .field("key_len", &self.key_len)
            .field("ciphered_len", &self.ciphered.len())
            .field("kcv", &self.kcv)
            .finish()
    }
}

impl KeyComponent {
    /// Encrypts `key` under `dek` and codes the component: DES as
    /// `'80' len ciphered '03' KCV` (GP CS Table 11-68), AES as
    /// `'88' len+1 keylen ciphered '03' KCV` (Amd D Table 7-10).
    pub fn seal<R: CryptoRng + ?Sized>(
        key_type: KeyType,
        key: &[u8],
        dek: &Dek,
        rng: &mut R,
    ) -> Result<KeyComponent> {
        key_type.check_len(key.len())?;
        let ciphered = dek.encrypt_key(key, rng)?;
        let key_len = match key_type {
            KeyType::Aes => Some(key.len() as u8),
            KeyType::Des => None,
        };
        Ok(KeyComponent {
            key_type: key_type.code(),
            key_len,
            ciphered,
            kcv: kcv(key_type, key)?.to_vec(),
        })
    }

    /// Decrypts the component with `dek` and verifies its KCV (when one is present).
    pub fn open(&self, dek: &Dek) -> Result<(KeyType, SecretKey)> {
        let key_type = KeyType::from_code(self.key_type)
            .ok_or(GpError::Unsupported("key type other than '80' or '88'"))?;
        let plain = dek.decrypt(&self.ciphered)?;
        let len = match self.key_len {
            Some(l) => l as usize,
            None => plain.len(),
        };
        let key = plain
            .get(..len)
            .ok_or(GpError::IncorrectData("key length exceeds key data"))?;
        key_type.check_len(key.len())?;
        if !self.kcv.is_empty() {
            let expected = kcv(key_type, key)?;
            if !symcrypto::ct_eq(&expected, &self.kcv) {
                return Err(GpError::KcvMismatch);
            }
        }
        Ok((key_type, SecretKey::new(key)))
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(self.key_type);
        match self.key_len {
            Some(l) => {
                let n = self.ciphered.len() + 1;
                out.push(u8::try_from(n).map_err(|_| GpError::WrongLength("key data"))?);
                out.push(l);
            }
            None => out.push(
                u8::try_from(self.ciphered.len()).map_err(|_| GpError::WrongLength("key data"))?,
            ),
        }
        out.extend_from_slice(&self.ciphered);
        out.push(u8::try_from(self.kcv.len()).map_err(|_| GpError::WrongLength("KCV"))?);
        out.extend_from_slice(&self.kcv);
        Ok(())
    }
}

/// The data field of a PUT KEY command for keys (GP CS v2.3.1 §11.8.2.3): the new key version
/// number followed by one or more key components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutKeyData {
    pub new_kvn: u8,
    pub components: Vec<KeyComponent>,
}

impl PutKeyData {
    /// The PUT KEY data that loads a whole key set (ENC, MAC, DEK in key id order), encrypted
    /// under `dek`.
    pub fn for_key_set<R: CryptoRng + ?Sized>(
        keys: &KeySet,
        dek: &Dek,
        rng: &mut R,
    ) -> Result<PutKeyData> {
        let mut components = Vec::with_capacity(3);
        for usage in [KeyUsage::Enc, KeyUsage::Mac, KeyUsage::Dek] {
            components.push(KeyComponent::seal(
                keys.key_type(),
                keys.key(usage).expose(),
                dek,
                rng,
            )?);
        }
        Ok(PutKeyData {
            new_kvn: keys.kvn(),
            components,
        })
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![self.new_kvn];
        for c in &self.components {
            c.encode_into(&mut out)?;
        }
        Ok(out)
    }

    /// Parses the basic key data field format. AES components ('88') carry the clear key
    /// length byte (Amd D Table 7-10); other types use the GP CS Table 11-68 layout.
    pub fn parse(data: &[u8]) -> Result<PutKeyData> {
        let (&new_kvn, mut rest) = data
            .split_first()
            .ok_or(GpError::WrongLength("empty PUT KEY data"))?;
        let mut components = Vec::new();
        let trunc = GpError::IncorrectData("PUT KEY data truncated");
        while let Some((&key_type, r)) = rest.split_first() {
            let (&len, r) = r.split_first().ok_or(trunc.clone())?;
            let len = usize::from(len);
            if len >= 0x80 {
                return Err(GpError::Unsupported("extended key data length"));
            }
            let body = r.get(..len).ok_or(trunc.clone())?;
            let r = &r[len..];
            let (key_len, ciphered) = if key_type == KeyType::Aes.code() {
                let (&kl, c) = body.split_first().ok_or(trunc.clone())?;
                (Some(kl), c.to_vec())
            } else {
                (None, body.to_vec())
            };
            let (&kcv_len, r) = r.split_first().ok_or(trunc.clone())?;
            let kcv_len = usize::from(kcv_len);
            let kcv = r.get(..kcv_len).ok_or(trunc.clone())?.to_vec();
            rest = &r[kcv_len..];
            components.push(KeyComponent {
                key_type,
                key_len,
                ciphered,
                kcv,
            });
        }
        if components.is_empty() {
            return Err(GpError::IncorrectData("no key component"));
        }
        Ok(PutKeyData {
            new_kvn,
            components,
        })
    }

    /// Card side: decrypts the three components of a whole key set (ENC, MAC, DEK) and
    /// verifies their KCVs.
    pub fn open_key_set(&self, dek: &Dek) -> Result<KeySet> {
        let [enc, mac, dk] = self.components.as_slice() else {
            return Err(GpError::IncorrectData(
                "a key set needs three key components",
            ));
        };
        let (t1, enc) = enc.open(dek)?;
        let (t2, mac) = mac.open(dek)?;
        let (t3, dk) = dk.open(dek)?;
        if t1 != t2 || t2 != t3 {
            return Err(GpError::IncorrectData("mixed key types in one key set"));
        }
        KeySet::new(t1, self.new_kvn, enc.expose(), mac.expose(), dk.expose())
    }

    /// The PUT KEY response data: the new key version number followed by the KCVs
    /// (GP CS v2.3.1 §11.8.3.1).
    pub fn response_data(&self) -> Vec<u8> {
        let mut out = vec![self.new_kvn];
        for c in &self.components {
            out.extend_from_slice(&c.kcv);
        }
        out
    }
}
