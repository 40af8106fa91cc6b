//! SCP03 (GP CS v2.3.1 Amendment D v1.1.x/v1.2): the KDF, session keys, cryptograms, card
//! challenge, and the per-APDU protection (C-MAC, C-DECRYPTION, R-MAC, R-ENCRYPTION).

use apdu::{Command, Response, StatusWord};
use zeroize::{Zeroize, ZeroizeOnDrop};

use symcrypto::{Algorithm, BlockCipher, Padding};

use crate::error::{GpError, Result};
use crate::keys::{KeySet, KeyType, SecretKey};
use crate::level::{clear_sm, has_sm, mac_cla, set_sm, SecurityLevel};

/// Derivation constants of Amd D Table 4-1.
pub const DERIVE_CARD_CRYPTOGRAM: u8 = 0x00;
pub const DERIVE_HOST_CRYPTOGRAM: u8 = 0x01;
pub const DERIVE_CARD_CHALLENGE: u8 = 0x02;
pub const DERIVE_S_ENC: u8 = 0x04;
pub const DERIVE_S_MAC: u8 = 0x06;
pub const DERIVE_S_RMAC: u8 = 0x07;

/// The SCP03 "i" parameter (Amd D Table 5-1, with the S16 bit of v1.1.2+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scp03Params(pub u8);

impl Scp03Params {
    /// b1: S16 mode (16-byte challenges, cryptograms and MACs).
    pub fn s16(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// b5: pseudo-random card challenge (sequence counter in the INITIALIZE UPDATE response).
    pub fn pseudo_random(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// b6: R-MAC support.
    pub fn r_mac(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// b7 (with b6): R-ENCRYPTION support.
    pub fn r_encryption(self) -> bool {
        self.0 & 0x60 == 0x60
    }
    /// Challenge, cryptogram and MAC length: 8 (S8) or 16 (S16).
    pub fn block_len(self) -> usize {
        if self.s16() {
            16
        } else {
            8
        }
    }
    /// Checks that the RFU bits are clear (b8 is reserved, b4..b2 RFU, b7 only with b6).
    pub fn validate(self) -> Result<()> {
        if self.0 & 0x8E != 0 || self.0 & 0x60 == 0x40 {
            return Err(GpError::Unsupported("SCP03 i parameter"));
        }
        Ok(())
    }
    /// Is `level` allowed by this "i" (R-MAC / R-ENC support)?
    pub fn allows(self, level: SecurityLevel) -> bool {
        (!level.r_mac() || self.r_mac()) && (!level.r_encryption() || self.r_encryption())
    }
}

/// The SCP03 data derivation function (Amd D §4.1.5): NIST SP 800-108 KDF in counter mode
/// with AES-CMAC as PRF. Fixed input: 11 bytes '00' || derivation constant || '00' || L (bits,
/// 2 bytes) || i (1 byte) || context. Produces `out_len` bytes (at most 32).
pub fn kdf(key: &[u8], constant: u8, context: &[u8], out_len: usize) -> Result<Vec<u8>> {
    if out_len == 0 || out_len > 32 {
        return Err(GpError::Unsupported("KDF output length"));
    }
    let l_bits = (out_len * 8) as u16;
    let mut out = Vec::with_capacity(out_len.div_ceil(16) * 16);
    let mut label = [0u8; 16];
    label[11] = constant;
    label[13..15].copy_from_slice(&l_bits.to_be_bytes());
    for i in 1..=out_len.div_ceil(16) {
        label[15] = i as u8;
        out.extend_from_slice(&symcrypto::aes_cmac(key, &[&label, context])?);
    }
    out.truncate(out_len);
    Ok(out)
}

/// SCP03 session keys (Amd D §6.2.1). The context is host challenge || card challenge.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Scp03SessionKeys {
    pub(crate) s_enc: Vec<u8>,
    pub(crate) s_mac: Vec<u8>,
    pub(crate) s_rmac: Vec<u8>,
}

impl std::fmt::Debug for Scp03SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scp03SessionKeys(..)")
    }
}

impl Scp03SessionKeys {
    pub fn derive(keys: &KeySet, host_challenge: &[u8], card_challenge: &[u8]) -> Result<Self> {
        if keys.key_type() != KeyType::Aes {
            return Err(GpError::BadKey("SCP03 needs an AES key set"));
        }
        let context = [host_challenge, card_challenge].concat();
        let enc = keys.enc().expose();
        let mac = keys.mac().expose();
        Ok(Scp03SessionKeys {
            s_enc: kdf(enc, DERIVE_S_ENC, &context, enc.len())?,
            s_mac: kdf(mac, DERIVE_S_MAC, &context, mac.len())?,
            s_rmac: kdf(mac, DERIVE_S_RMAC, &context, mac.len())?,
        })
    }

    pub fn s_enc(&self) -> SecretKey {
        SecretKey::new(&self.s_enc)
    }
    pub fn s_mac(&self) -> SecretKey {
        SecretKey::new(&self.s_mac)
    }
    pub fn s_rmac(&self) -> SecretKey {
        SecretKey::new(&self.s_rmac)
    }

    /// Card cryptogram (Amd D §6.2.2.2), `len` = 8 (S8) or 16 (S16).
    pub fn card_cryptogram(&self, host_ch: &[u8], card_ch: &[u8], len: usize) -> Result<Vec<u8>> {
        kdf(
            &self.s_mac,
            DERIVE_CARD_CRYPTOGRAM,
            &[host_ch, card_ch].concat(),
            len,
        )
    }

    /// Host cryptogram (Amd D §6.2.2.3).
    pub fn host_cryptogram(&self, host_ch: &[u8], card_ch: &[u8], len: usize) -> Result<Vec<u8>> {
        kdf(
            &self.s_mac,
            DERIVE_HOST_CRYPTOGRAM,
            &[host_ch, card_ch].concat(),
            len,
        )
    }
}

/// Pseudo-random card challenge (Amd D §6.2.2.1): KDF(Key-ENC, '02', context = sequence
/// counter (3 bytes) || AID), `len` = 8 (S8) or 16 (S16).
pub fn pseudo_random_challenge(
    keys: &KeySet,
    sequence_counter: &[u8; 3],
    aid: &[u8],
    len: usize,
) -> Result<Vec<u8>> {
    kdf(
        keys.enc().expose(),
        DERIVE_CARD_CHALLENGE,
        &[sequence_counter.as_slice(), aid].concat(),
        len,
    )
}

/// Status words after which a response carries no R-MAC and no protection (Amd D §6.2.5):
/// all but '9000', '62xx' and '63xx'.
fn response_protected(sw: StatusWord) -> bool {
    sw == StatusWord::OK || matches!(sw.sw1(), 0x62 | 0x63)
}

/// The per-APDU state of an SCP03 session, shared by host and card.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Scp03Channel {
    keys: Scp03SessionKeys,
    mac_chaining: [u8; 16],
    counter: u128,
    mac_len: usize,
}

impl Scp03Channel {
    pub(crate) fn new(keys: Scp03SessionKeys, params: Scp03Params) -> Scp03Channel {
        Scp03Channel {
            keys,
            mac_chaining: [0; 16],
            counter: 0,
            mac_len: params.block_len(),
        }
    }

    /// C-MAC over MAC chaining value || header (Lc including the MAC) || data; updates the
    /// chaining value (Amd D §6.2.4).
    fn c_mac(&mut self, cmd: &Command, data: &[u8]) -> Result<Vec<u8>> {
        let lc = u8::try_from(data.len() + self.mac_len)
            .map_err(|_| GpError::WrongLength("command too long for secure messaging"))?;
        let header = [mac_cla(cmd.cla), cmd.ins, cmd.p1, cmd.p2, lc];
        let mac = symcrypto::aes_cmac(&self.keys.s_mac, &[&self.mac_chaining, &header, data])?;
        self.mac_chaining = mac;
        Ok(mac[..self.mac_len].to_vec())
    }

    /// The ICV for C-DECRYPTION (counter block) or R-ENCRYPTION (first byte '80'),
    /// Amd D §6.2.6 and §6.2.7.
    fn icv(&self, response: bool) -> Result<[u8; 16]> {
        let mut block = self.counter.to_be_bytes();
        if response {
            block[0] = 0x80;
        }
        BlockCipher::new(Algorithm::Aes, &self.keys.s_enc)?.ecb_encrypt(&mut block)?;
        Ok(block)
    }

    fn encrypt(&self, plain: &[u8], response: bool) -> Result<Vec<u8>> {
        let mut data = symcrypto::pad(plain, symcrypto::AES_BLOCK, Padding::Method2);
        symcrypto::cbc_encrypt(
            Algorithm::Aes,
            &self.keys.s_enc,
            &self.icv(response)?,
            &mut data,
        )?;
        Ok(data)
    }

    fn decrypt(&self, ciphered: &[u8], response: bool) -> Option<Vec<u8>> {
        let mut data = ciphered.to_vec();
        let icv = self.icv(response).ok()?;
        symcrypto::cbc_decrypt(Algorithm::Aes, &self.keys.s_enc, &icv, &mut data).ok()?;
        symcrypto::unpad_method2(&data, symcrypto::AES_BLOCK)
            .ok()
            .map(<[u8]>::to_vec)
    }

    /// Host: EXTERNAL AUTHENTICATE is MACed (chaining value zero) but never encrypted and does
    /// not advance the encryption counter (Amd D §6.2.3, §6.2.6).
    pub(crate) fn mac_only(&mut self, cmd: &Command) -> Result<Command> {
        let mac = self.c_mac(cmd, &cmd.data)?;
        let mut data = cmd.data.clone();
        data.extend_from_slice(&mac);
        Ok(Command {
            cla: set_sm(cmd.cla),
            data,
            ..cmd.clone()
        })
    }

    /// Card: verifies the C-MAC of EXTERNAL AUTHENTICATE and returns the data without it.
    pub(crate) fn verify_mac_only(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        let body_len = cmd
            .data
            .len()
            .checked_sub(self.mac_len)
            .ok_or(GpError::SecurityStatus("C-MAC missing"))?;
        let (body, mac) = cmd.data.split_at(body_len);
        let expected = self.c_mac(cmd, body)?;
        if !symcrypto::ct_eq(&expected, mac) {
            return Err(GpError::SecurityStatus("C-MAC does not verify"));
        }
        Ok(body.to_vec())
    }

    /// Host: protects a command (Amd D §6.2.4, §6.2.6).
    pub(crate) fn wrap_command(&mut self, level: SecurityLevel, cmd: &Command) -> Result<Command> {
        if !level.c_mac() {
            return Ok(cmd.clone());
        }
        self.counter += 1;
        let mut data = if level.c_decryption() && !cmd.data.is_empty() {
            self.encrypt(&cmd.data, false)?
        } else {
            cmd.data.clone()
        };
        let mac = self.c_mac(cmd, &data)?;
        data.extend_from_slice(&mac);
        Ok(Command {
            cla: set_sm(cmd.cla),
            data,
            ..cmd.clone()
        })
    }

    /// Card: verifies and decrypts a command.
    pub(crate) fn unwrap_command(
        &mut self,
        level: SecurityLevel,
        cmd: &Command,
    ) -> Result<Command> {
        if !has_sm(cmd.cla) {
            if level.c_mac() {
                return Err(GpError::SecurityStatus("secure messaging required"));
            }
            return Ok(cmd.clone());
        }
        self.counter += 1;
        let body = self.verify_mac_only(cmd)?;
        let data = if level.c_decryption() && !body.is_empty() {
            self.decrypt(&body, false)
                .ok_or(GpError::SecurityStatus("C-DECRYPTION failed"))?
        } else {
            body
        };
        Ok(Command {
            cla: clear_sm(cmd.cla),
            data,
            ..cmd.clone()
        })
    }

    /// Card: R-ENCRYPTION and R-MAC of a response (Amd D §6.2.5, §6.2.7).
    pub(crate) fn wrap_response(&self, level: SecurityLevel, rsp: &Response) -> Result<Response> {
        if !level.r_mac() || !response_protected(rsp.sw) {
            return Ok(rsp.clone());
        }
        let mut data = if level.r_encryption() && !rsp.data.is_empty() {
            self.encrypt(&rsp.data, true)?
        } else {
            rsp.data.clone()
        };
        let rmac = symcrypto::aes_cmac(
            &self.keys.s_rmac,
            &[&self.mac_chaining, &data, &rsp.sw.to_bytes()],
        )?;
        data.extend_from_slice(&rmac[..self.mac_len]);
        Ok(Response::new(data, rsp.sw))
    }

    /// Host: verifies the R-MAC and decrypts a response.
    pub(crate) fn unwrap_response(&self, level: SecurityLevel, rsp: &Response) -> Result<Response> {
        if !level.r_mac() || !response_protected(rsp.sw) {
            return Ok(rsp.clone());
        }
        let body_len = rsp
            .data
            .len()
            .checked_sub(self.mac_len)
            .ok_or(GpError::ResponseMac)?;
        let (body, rmac) = rsp.data.split_at(body_len);
        let expected = symcrypto::aes_cmac(
            &self.keys.s_rmac,
            &[&self.mac_chaining, body, &rsp.sw.to_bytes()],
        )?;
        if !symcrypto::ct_eq(&expected[..self.mac_len], rmac) {
            return Err(GpError::ResponseMac);
        }
        let data = if level.r_encryption() && !body.is_empty() {
            self.decrypt(body, true)
                .ok_or(GpError::IncorrectData("R-ENCRYPTION padding"))?
        } else {
            body.to_vec()
        };
        Ok(Response::new(data, rsp.sw))
    }
}
