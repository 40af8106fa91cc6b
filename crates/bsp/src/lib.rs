//! SGP.22 BPP protection: SCP03t, renamed "BSP" (BPP Security Protocol) in SGP.22 v3.
//!
//! * [`derive_session_keys`]: the ANSI X9.63 KDF over the ECKA shared secret (SGP.22 Annex G).
//! * [`Bsp`]: the per-session state (keys, MAC chaining value, encryption counter) with the
//!   sender side ([`Bsp::encrypt_and_mac`], [`Bsp::mac_only`]) used by the SM-DP+ to build a
//!   Bound Profile Package, and the receiver side ([`Bsp::open`]) used by the eUICC.
//!
//! Construction (SGP.22 v2.2.2 §2.5.3 defers to SGP.02 §4.1.3.3 "SCP03t", which is
//! GlobalPlatform Amendment D SCP03 applied to TLVs; SGP.22 v3.x §2.6.4):
//!
//! * **Segment**: `tag || BER length || data || C-MAC(8)`, where `data` is the AES-CBC
//!   ciphertext (tags `86`, `87`) or the plaintext (tag `88`). A segment is at most 1020 bytes
//!   including tag, length and MAC, so an encrypted segment carries at most 1007 bytes of
//!   plaintext (1008 bytes of ciphertext after the mandatory padding) and a MAC-only segment at
//!   most 1008 bytes (SGP.22 §2.5.3 NOTE).
//! * **Encryption**: padding `80 00..` to a multiple of 16 (always 1..=16 bytes, GPCS B.2.3);
//!   AES-128-CBC with ICV = AES(S-ENC, counter as a 16-byte big-endian block). The counter
//!   starts at 1 and is incremented for *every* `86`/`87`/`88` segment, MAC-only ones included
//!   (SGP.22 §2.5.4).
//! * **MAC**: full = AES-CMAC(S-MAC, MAC chaining value || tag || length || data), where the
//!   length is the segment's own length field (it counts the 8 MAC bytes). The first 8 bytes are
//!   appended; the full 16 bytes become the next chaining value (GP Amd D §6.2.4).
//! * **ReplaceSessionKeys** (`BF26`, carried in `secondSequenceOf87`): the `86` segments that
//!   follow use PPK-ENC/PPK-MAC, the given initial MAC chaining value, and the counter restarts
//!   at 1 (SGP.22 §2.5.3, "random key mode").
//!
//! Errors map to SGP.22 `ErrorReason` ([`BspError::error_reason`]): a bad MAC or bad padding is
//! `scp03tSecurityError(8)`, a malformed segment `scp03tStructureError(7)`, an unsupported
//! key type/length in the CRT `unsupportedCrtValues(4)`.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use sha2::{Digest, Sha256};
use symcrypto::Algorithm;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Segment of the Protected Profile Package (`sequenceOf86`), encrypted and MACed (SGP.22 §2.5.3).
pub const TAG_PPP_SEGMENT: u8 = 0x86;
/// Encrypted and MACed command: ConfigureISDP (`firstSequenceOf87`) and ReplaceSessionKeys
/// (`secondSequenceOf87`) (SGP.22 §2.5.4).
pub const TAG_ENCRYPTED: u8 = 0x87;
/// MAC-only command: StoreMetadata (`sequenceOf88`) (SGP.22 §2.5.4).
pub const TAG_MAC_ONLY: u8 = 0x88;

/// Largest segment including tag, length field and MAC (SGP.22 §2.5.3).
pub const MAX_SEGMENT_LEN: usize = 1020;
/// Truncated C-MAC length.
pub const MAC_LEN: usize = 8;
/// AES block size.
pub const BLOCK_LEN: usize = 16;
/// Largest plaintext in one encrypted segment: 1020 - 1 (tag) - 3 (length) - 8 (MAC) = 1008
/// bytes of ciphertext, minus at least one padding byte (SGP.22 §2.5.3 NOTE).
pub const MAX_ENCRYPTED_PLAINTEXT: usize = 1007;
/// Largest data in one MAC-only segment (no padding).
pub const MAX_MAC_ONLY_PAYLOAD: usize = 1008;

/// GlobalPlatform key type for AES (GPCS Table 11-16), the only one SGP.22 v2 allows in the CRT.
pub const KEY_TYPE_AES: u8 = 0x88;
/// Key length in the CRT: SGP.22 v2 mandates 16 bytes.
pub const KEY_LENGTH_AES128: u8 = 16;

/// SGP.22 `ErrorReason` values these errors map to (rsp.asn `ErrorReason`).
pub mod error_reason {
    pub const UNSUPPORTED_CRT_VALUES: u8 = 4;
    pub const SCP03T_STRUCTURE_ERROR: u8 = 7;
    pub const SCP03T_SECURITY_ERROR: u8 = 8;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BspError {
    /// The C-MAC did not verify (tampering, wrong keys, reordered or replayed segment).
    #[error("segment MAC verification failed")]
    MacVerification,
    /// The MAC verified but the decrypted data does not end in `80 00..` padding.
    #[error("bad padding after decryption")]
    BadPadding,
    /// The segment is not a well-formed `86`/`87`/`88` TLV.
    #[error("malformed segment: {0}")]
    Malformed(&'static str),
    /// A segment tag other than `86`, `87`, `88`, or a tag not allowed for the operation.
    #[error("unexpected segment tag {0:02X}")]
    UnexpectedTag(u8),
    /// Key type or key length in the control reference template is not supported.
    #[error("unsupported CRT values: key type {key_type:02X}, key length {key_length}")]
    UnsupportedCrt { key_type: u8, key_length: u8 },
    /// Host ID or EID cannot be encoded in the KDF SharedInfo.
    #[error("invalid KDF input: {0}")]
    InvalidKdfInput(&'static str),
    /// The encryption counter would wrap.
    #[error("encryption counter exhausted")]
    CounterExhausted,
}

impl BspError {
    /// The SGP.22 `ErrorReason` the eUICC reports in `ProfileInstallationResult` for this error
    /// (together with the `BppCommandId` of the command being processed).
    pub fn error_reason(&self) -> u8 {
        match self {
            BspError::MacVerification | BspError::BadPadding | BspError::CounterExhausted => {
                error_reason::SCP03T_SECURITY_ERROR
            }
            BspError::Malformed(_) | BspError::UnexpectedTag(_) => {
                error_reason::SCP03T_STRUCTURE_ERROR
            }
            BspError::UnsupportedCrt { .. } | BspError::InvalidKdfInput(_) => {
                error_reason::UNSUPPORTED_CRT_VALUES
            }
        }
    }
}

pub type Result<T> = std::result::Result<T, BspError>;

/// Session keys from the key agreement: S-ENC, S-MAC and the initial MAC chaining value.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SessionKeys {
    pub s_enc: [u8; 16],
    pub s_mac: [u8; 16],
    pub mac_chaining: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys { .. }")
    }
}

/// SGP.22 Annex G: `KeyData = KDF(Z, SharedInfo)` with the ANSI X9.63 KDF over SHA-256, where
/// `SharedInfo = keyType || keyLength || LV(hostID) || LV(EID)` (keyType, keyLength and hostID
/// from the `controlRefTemplate` of InitialiseSecureChannel, EID as 16 bytes). KeyData is
/// split into the initial MAC chaining value, S-ENC and S-MAC, in that order.
pub fn derive_session_keys(
    shared_secret: &[u8],
    key_type: u8,
    key_length: u8,
    host_id: &[u8],
    eid: &[u8],
) -> Result<SessionKeys> {
    if key_type != KEY_TYPE_AES || key_length != KEY_LENGTH_AES128 {
        return Err(BspError::UnsupportedCrt {
            key_type,
            key_length,
        });
    }
    // hostId is OctetTo16 in the CRT; the EID is 16 bytes. Both lengths fit one length octet.
    if host_id.is_empty() || host_id.len() > 16 {
        return Err(BspError::InvalidKdfInput("host ID must be 1 to 16 bytes"));
    }
    if eid.is_empty() || eid.len() > 0x7F {
        return Err(BspError::InvalidKdfInput("EID length"));
    }
    let mut shared_info = Vec::with_capacity(4 + host_id.len() + eid.len());
    shared_info.extend_from_slice(&[key_type, key_length, host_id.len() as u8]);
    shared_info.extend_from_slice(host_id);
    shared_info.push(eid.len() as u8);
    shared_info.extend_from_slice(eid);

    let mut key_data = x963_kdf_sha256(shared_secret, &shared_info, 3 * 16);
    let mut keys = SessionKeys {
        s_enc: [0; 16],
        s_mac: [0; 16],
        mac_chaining: [0; 16],
    };
    keys.mac_chaining.copy_from_slice(&key_data[0..16]);
    keys.s_enc.copy_from_slice(&key_data[16..32]);
    keys.s_mac.copy_from_slice(&key_data[32..48]);
    key_data.zeroize();
    Ok(keys)
}

/// ANSI X9.63 KDF (SEC 1 v2 §3.6.1): `K_i = SHA-256(Z || counter_i (32-bit BE, from 1) ||
/// SharedInfo)`, concatenated and truncated to `len` bytes.
fn x963_kdf_sha256(z: &[u8], shared_info: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(z);
        h.update(counter.to_be_bytes());
        h.update(shared_info);
        let block = h.finalize();
        out.extend_from_slice(&block);
        counter += 1;
    }
    out.truncate(len);
    out
}

/// How a segment tag is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Encrypted with S-ENC (or PPK-ENC) and MACed.
    EncryptAndMac,
    /// MACed only.
    MacOnly,
}

impl Protection {
    /// The protection SGP.22 §2.5.4 assigns to a segment tag.
    pub fn for_tag(tag: u8) -> Option<Protection> {
        match tag {
            TAG_PPP_SEGMENT | TAG_ENCRYPTED => Some(Protection::EncryptAndMac),
            TAG_MAC_ONLY => Some(Protection::MacOnly),
            _ => None,
        }
    }
}

/// One side (sender or receiver) of a BSP session.
///
/// Both sides run the same state machine: every segment advances the encryption counter by
/// one and replaces the MAC chaining value with the segment's full CMAC. A receiver that fails
/// to open a segment keeps its state unchanged; SGP.22 aborts the installation at that point.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Bsp {
    s_enc: [u8; 16],
    s_mac: [u8; 16],
    mac_chaining: [u8; 16],
    /// Encryption counter for the ICV; the first segment uses 1.
    counter: u128,
}

impl std::fmt::Debug for Bsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bsp")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Bsp {
    /// A fresh session: counter 1, chaining value from the KDF.
    pub fn new(keys: &SessionKeys) -> Bsp {
        Bsp {
            s_enc: keys.s_enc,
            s_mac: keys.s_mac,
            mac_chaining: keys.mac_chaining,
            counter: 1,
        }
    }

    /// ReplaceSessionKeys (`BF26`): switch to PPK-ENC / PPK-MAC with the given initial MAC
    /// chaining value; the encryption counter restarts at 1 (SGP.22 §2.5.3/§2.5.4).
    pub fn replace_keys(&mut self, ppk_enc: &[u8; 16], ppk_mac: &[u8; 16], initial_mcv: &[u8; 16]) {
        self.s_enc = *ppk_enc;
        self.s_mac = *ppk_mac;
        self.mac_chaining = *initial_mcv;
        self.counter = 1;
    }

    /// The counter value the next segment will use (1 for the first one).
    pub fn counter(&self) -> u128 {
        self.counter
    }

    /// Sender: encrypts and MACs `plaintext` under `tag` (`86` or `87`), split into as many
    /// segments as needed (at most [`MAX_ENCRYPTED_PLAINTEXT`] plaintext bytes each). Each
    /// returned element is one complete segment TLV. Empty plaintext gives one segment.
    pub fn encrypt_and_mac(&mut self, tag: u8, plaintext: &[u8]) -> Result<Vec<Vec<u8>>> {
        if Protection::for_tag(tag) != Some(Protection::EncryptAndMac) {
            return Err(BspError::UnexpectedTag(tag));
        }
        chunks(plaintext, MAX_ENCRYPTED_PLAINTEXT)
            .map(|chunk| self.encrypt_and_mac_one(tag, chunk))
            .collect()
    }

    /// Sender: MACs `data` under `tag` (`88`), split into segments of at most
    /// [`MAX_MAC_ONLY_PAYLOAD`] bytes. Each still advances the encryption counter.
    pub fn mac_only(&mut self, tag: u8, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        if Protection::for_tag(tag) != Some(Protection::MacOnly) {
            return Err(BspError::UnexpectedTag(tag));
        }
        chunks(data, MAX_MAC_ONLY_PAYLOAD)
            .map(|chunk| self.mac_only_one(tag, chunk))
            .collect()
    }

    fn encrypt_and_mac_one(&mut self, tag: u8, plaintext: &[u8]) -> Result<Vec<u8>> {
        let next_counter = self
            .counter
            .checked_add(1)
            .ok_or(BspError::CounterExhausted)?;
        // The padded plaintext (ISO/IEC 9797-1 method 2: '80', then '00' to the block size) is
        // written straight into the segment and encrypted there: no separate buffer to copy
        // and wipe.
        let padded_len = (plaintext.len() / BLOCK_LEN + 1) * BLOCK_LEN;
        let mut segment = Vec::with_capacity(4 + padded_len + MAC_LEN);
        segment.push(tag);
        write_length(padded_len + MAC_LEN, &mut segment);
        let start = segment.len();
        segment.extend_from_slice(plaintext);
        segment.push(0x80);
        segment.resize(start + padded_len, 0);
        let icv = icv(&self.s_enc, self.counter);
        if let Err(e) =
            symcrypto::cbc_encrypt(Algorithm::Aes, &self.s_enc, &icv, &mut segment[start..])
        {
            segment.zeroize();
            return Err(e.into());
        }
        self.mac_segment(&mut segment);
        self.counter = next_counter;
        Ok(segment)
    }

    fn mac_only_one(&mut self, tag: u8, data: &[u8]) -> Result<Vec<u8>> {
        let next_counter = self
            .counter
            .checked_add(1)
            .ok_or(BspError::CounterExhausted)?;
        let segment = self.seal(tag, data);
        self.counter = next_counter;
        Ok(segment)
    }

    /// Builds `tag || len || data || mac8` and advances the MAC chaining value.
    fn seal(&mut self, tag: u8, data: &[u8]) -> Vec<u8> {
        let mut segment = Vec::with_capacity(4 + data.len() + MAC_LEN);
        segment.push(tag);
        write_length(data.len() + MAC_LEN, &mut segment);
        segment.extend_from_slice(data);
        self.mac_segment(&mut segment);
        segment
    }

    /// Appends the 8-byte MAC of `tag || len || data` (GP Amd D §6.2.4: CMAC over the chaining
    /// value and the segment) and advances the MAC chaining value.
    fn mac_segment(&mut self, segment: &mut Vec<u8>) {
        let full = symcrypto::aes128_cmac(&self.s_mac, &[&self.mac_chaining, segment]);
        segment.extend_from_slice(&full[..MAC_LEN]);
        self.mac_chaining = full;
    }

    /// Receiver: verifies one segment TLV (`86`, `87` or `88`), decrypts it if its tag says so,
    /// checks and strips the padding, and advances the session state. Returns the plaintext.
    ///
    /// Segments longer than [`MAX_SEGMENT_LEN`] are accepted (some SM-DP+ produce them); the
    /// length field may use any definite BER form, and the MAC covers it as received.
    pub fn open(&mut self, segment: &[u8]) -> Result<Vec<u8>> {
        let (tag, header_len, value) = parse_segment(segment)?;
        let protection = Protection::for_tag(tag).ok_or(BspError::UnexpectedTag(tag))?;
        let data_len = value
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(BspError::Malformed("shorter than its MAC"))?;
        let (data, mac) = value.split_at(data_len);
        if protection == Protection::EncryptAndMac
            && (data.is_empty() || !data.len().is_multiple_of(BLOCK_LEN))
        {
            return Err(BspError::Malformed(
                "ciphertext is not a positive multiple of 16 bytes",
            ));
        }
        let next_counter = self
            .counter
            .checked_add(1)
            .ok_or(BspError::CounterExhausted)?;

        // GP Amd D §6.2.4: CMAC over chaining value || tag || length || data.
        let covered = segment
            .get(..header_len + data_len)
            .ok_or(BspError::Malformed("length"))?;
        let full = symcrypto::aes128_cmac(&self.s_mac, &[&self.mac_chaining, covered]);
        if !symcrypto::ct_eq(&full[..MAC_LEN], mac) {
            return Err(BspError::MacVerification);
        }

        let plaintext = match protection {
            Protection::MacOnly => data.to_vec(),
            Protection::EncryptAndMac => {
                let mut buf = data.to_vec();
                let icv = icv(&self.s_enc, self.counter);
                symcrypto::cbc_decrypt(Algorithm::Aes, &self.s_enc, &icv, &mut buf)?;
                match unpad_len(&buf) {
                    Some(n) => {
                        buf.truncate(n);
                        buf
                    }
                    None => {
                        buf.zeroize();
                        return Err(BspError::BadPadding);
                    }
                }
            }
        };
        self.mac_chaining = full;
        self.counter = next_counter;
        Ok(plaintext)
    }

    /// Receiver: opens a sequence of segments and concatenates their plaintexts.
    pub fn open_all<'a>(
        &mut self,
        segments: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for s in segments {
            out.extend_from_slice(&self.open(s)?);
        }
        Ok(out)
    }
}

/// Splits into chunks of at most `max` bytes; an empty input gives one empty chunk.
fn chunks(data: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let empty: &[u8] = &[];
    let first_empty = data.is_empty().then_some(empty);
    first_empty.into_iter().chain(data.chunks(max))
}

/// Parses a segment: one-byte tag, definite BER length (1 to 3 length octets), value that ends
/// exactly at the end of the input. Returns (tag, header length, value).
fn parse_segment(segment: &[u8]) -> Result<(u8, usize, &[u8])> {
    let (&tag, rest) = segment
        .split_first()
        .ok_or(BspError::Malformed("empty segment"))?;
    let (&first, rest) = rest
        .split_first()
        .ok_or(BspError::Malformed("missing length"))?;
    let (len, len_octets) = match first {
        0x00..=0x7F => (first as usize, 0),
        0x81..=0x83 => {
            let n = (first & 0x7F) as usize;
            let octets = rest
                .get(..n)
                .ok_or(BspError::Malformed("truncated length"))?;
            (
                octets
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | b as usize),
                n,
            )
        }
        _ => return Err(BspError::Malformed("unsupported length form")),
    };
    let header_len = 2 + len_octets;
    let value = segment
        .get(header_len..)
        .ok_or(BspError::Malformed("truncated length"))?;
    if value.len() != len {
        return Err(BspError::Malformed(
            "length does not match the segment size",
        ));
    }
    Ok((tag, header_len, value))
}

/// Minimal (DER) BER length.
fn write_length(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// Length of the data before the `80 00..` padding (GPCS B.2.3), which must sit in the last
/// block.
fn unpad_len(data: &[u8]) -> Option<usize> {
    symcrypto::unpad_method2(data, BLOCK_LEN)
        .ok()
        .map(<[u8]>::len)
}

fn aes(key: &[u8; 16]) -> Aes128 {
    Aes128::new(&(*key).into())
}

/// ICV = AES(S-ENC, counter as 16-byte big-endian block) (GP Amd D §6.2.6).
fn icv(s_enc: &[u8; 16], counter: u128) -> [u8; 16] {
    let mut block = counter.to_be_bytes().into();
    aes(s_enc).encrypt_block(&mut block);
    block.into()
}

/// The shared primitives fail here only on lengths the segment parser has already checked.
impl From<symcrypto::Error> for BspError {
    fn from(e: symcrypto::Error) -> BspError {
        match e {
            symcrypto::Error::BadPadding => BspError::BadPadding,
            _ => BspError::Malformed("ciphertext is not a positive multiple of 16 bytes"),
        }
    }
}

#[cfg(test)]
mod tests;
