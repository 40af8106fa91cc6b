//! SCP02 (GP CS v2.3.1 Annex E): 3DES session keys from the sequence counter, cryptograms,
//! C-MAC with ICV encryption, C-DECRYPTION and R-MAC.

use apdu::{Command, Response};
use zeroize::{Zeroize, ZeroizeOnDrop};

use symcrypto::{Algorithm, BlockCipher, Padding};

use crate::error::{GpError, Result};
use crate::keys::{Dek, KeySet, KeyType, SecretKey};
use crate::level::{clear_sm, has_sm, mac_cla, set_sm, SecurityLevel};

/// Session key derivation constants (GP CS v2.3.1 §E.4.1).
pub const DERIVE_C_MAC: [u8; 2] = [0x01, 0x01];
pub const DERIVE_R_MAC: [u8; 2] = [0x01, 0x02];
pub const DERIVE_DEK: [u8; 2] = [0x01, 0x81];
pub const DERIVE_S_ENC: [u8; 2] = [0x01, 0x82];

/// The SCP02 "i" parameter (GP CS v2.3.1 Table E-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scp02Params(pub u8);

impl Scp02Params {
    /// b1: three secure channel keys (else one base key).
    pub fn three_keys(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// b2: C-MAC on the unmodified APDU (else on the modified one: CLA with '04', Lc + 8).
    pub fn mac_unmodified(self) -> bool {
        self.0 & 0x02 != 0
    }
    /// b3: explicit initiation (INITIALIZE UPDATE / EXTERNAL AUTHENTICATE), else implicit.
    pub fn explicit(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// b4: ICV set to the MAC over the AID (implicit mode), else zero.
    pub fn icv_mac_over_aid(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// b5: ICV encryption for the C-MAC session.
    pub fn icv_encryption(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// b6: R-MAC support.
    pub fn r_mac(self) -> bool {
        self.0 & 0x20 != 0
    }
    /// b7: well-known pseudo-random card challenge.
    pub fn pseudo_random(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// This implementation does explicit initiation with three keys and an ICV of zero,
    /// i.e. i = '05', '15', '25', '35', '45', '55' (and the '07'.. unmodified-APDU variants).
    pub fn validate(self) -> Result<()> {
        if self.0 & 0x80 != 0 || !self.explicit() || !self.three_keys() || self.icv_mac_over_aid() {
            return Err(GpError::Unsupported(
                "SCP02 i parameter (implicit or one base key)",
            ));
        }
        Ok(())
    }
    pub fn allows(self, level: SecurityLevel) -> bool {
        !level.r_encryption() && (!level.r_mac() || self.r_mac())
    }
}

/// SCP02 session keys (GP CS v2.3.1 §E.4.1): 3DES-CBC, ICV zero, of constant || sequence
/// counter || twelve '00' bytes under the static key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Scp02SessionKeys {
    pub(crate) s_enc: Vec<u8>,
    pub(crate) c_mac: Vec<u8>,
    pub(crate) r_mac: Vec<u8>,
    pub(crate) dek: Vec<u8>,
}

impl std::fmt::Debug for Scp02SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scp02SessionKeys(..)")
    }
}

/// Full triple DES MAC (GP CS v2.3.1 §B.1.2.1): ISO/IEC 9797-1 MAC algorithm 1 with two-key
/// 3DES, ICV zero, padding method 2.
fn full_3des_mac(key: &[u8], data: &[u8]) -> Result<[u8; 8]> {
    let mac = symcrypto::mac_algorithm1(Algorithm::Tdes2, key, &[0; 8], data, Padding::Method2)?;
    <[u8; 8]>::try_from(mac.as_slice()).map_err(|_| GpError::BadKey("3DES MAC length"))
}

/// ICV encryption (GP CS v2.3.1 §E.4.4): single DES with the first half of the C-MAC key.
fn single_des_encrypt(key: &[u8], block: &mut [u8; 8]) -> Result<()> {
    let k1 = key
        .get(..8)
        .ok_or(GpError::BadKey("DES key must be 8 bytes"))?;
    BlockCipher::new(Algorithm::Des, k1)?.ecb_encrypt(block)?;
    Ok(())
}

fn derive(key: &[u8], constant: [u8; 2], counter: [u8; 2]) -> Result<Vec<u8>> {
    let mut data = vec![0u8; 16];
    data[..2].copy_from_slice(&constant);
    data[2..4].copy_from_slice(&counter);
    symcrypto::cbc_encrypt(Algorithm::Tdes2, key, &[0; 8], &mut data)?;
    Ok(data)
}

impl Scp02SessionKeys {
    pub fn derive(keys: &KeySet, sequence_counter: [u8; 2]) -> Result<Self> {
        if keys.key_type() != KeyType::Des {
            return Err(GpError::BadKey("SCP02 needs a DES key set"));
        }
        Ok(Scp02SessionKeys {
            s_enc: derive(keys.enc().expose(), DERIVE_S_ENC, sequence_counter)?,
            c_mac: derive(keys.mac().expose(), DERIVE_C_MAC, sequence_counter)?,
            r_mac: derive(keys.mac().expose(), DERIVE_R_MAC, sequence_counter)?,
            dek: derive(keys.dek().expose(), DERIVE_DEK, sequence_counter)?,
        })
    }

    pub fn s_enc(&self) -> SecretKey {
        SecretKey::new(&self.s_enc)
    }
    pub fn c_mac(&self) -> SecretKey {
        SecretKey::new(&self.c_mac)
    }
    pub fn r_mac(&self) -> SecretKey {
        SecretKey::new(&self.r_mac)
    }
    pub fn dek(&self) -> Result<Dek> {
        Dek::des(&self.dek)
    }

    /// Card cryptogram (GP CS v2.3.1 §E.4.2.1): full 3DES MAC with S-ENC over host challenge
    /// || sequence counter || card challenge.
    pub fn card_cryptogram(&self, host_ch: &[u8], seq: [u8; 2], card_ch: &[u8]) -> Result<[u8; 8]> {
        full_3des_mac(&self.s_enc, &[host_ch, &seq, card_ch].concat())
    }

    /// Host cryptogram (GP CS v2.3.1 §E.4.2.2): full 3DES MAC with S-ENC over sequence counter
    /// || card challenge || host challenge.
    pub fn host_cryptogram(&self, host_ch: &[u8], seq: [u8; 2], card_ch: &[u8]) -> Result<[u8; 8]> {
        full_3des_mac(&self.s_enc, &[&seq, card_ch, host_ch].concat())
    }

    /// Pseudo-random card challenge for i = '4x'/'5x': the six leftmost bytes of the
    /// single-DES-plus-final-3DES MAC, ICV zero, over the AID with the C-MAC session key
    /// (GP CS v2.3.1 §E.4.2.1, "well-known pseudo-random algorithm").
    pub fn pseudo_random_challenge(&self, aid: &[u8]) -> Result<[u8; 6]> {
        let mac = symcrypto::retail_mac(&self.c_mac, &[0; 8], aid, Padding::Method2)?;
        let mut out = [0u8; 6];
        out.copy_from_slice(&mac[..6]);
        Ok(out)
    }
}

/// The per-APDU state of an SCP02 session, shared by host and card.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Scp02Channel {
    keys: Scp02SessionKeys,
    #[zeroize(skip)]
    params: Scp02Params,
    /// The last C-MAC (zero before EXTERNAL AUTHENTICATE).
    last_c_mac: Option<[u8; 8]>,
    /// The last R-MAC (the ICV of the next one).
    last_r_mac: [u8; 8],
    /// The unprotected command the next R-MAC covers (GP CS v2.3.1 §E.4.5).
    rmac_command: Vec<u8>,
}

impl Scp02Channel {
    pub(crate) fn new(keys: Scp02SessionKeys, params: Scp02Params) -> Scp02Channel {
        Scp02Channel {
            keys,
            params,
            last_c_mac: None,
            last_r_mac: [0; 8],
            rmac_command: Vec::new(),
        }
    }

    /// C-MAC over the plaintext command (GP CS v2.3.1 §E.4.4): retail MAC with the C-MAC key;
    /// the ICV is zero for EXTERNAL AUTHENTICATE, then the previous C-MAC, DES-encrypted with
    /// the first half of the C-MAC key when "i" asks for ICV encryption.
    fn c_mac(&mut self, cmd: &Command, plain: &[u8]) -> Result<[u8; 8]> {
        let icv = match self.last_c_mac {
            None => [0u8; 8],
            Some(mut prev) => {
                if self.params.icv_encryption() {
                    single_des_encrypt(&self.keys.c_mac, &mut prev)?;
                }
                prev
            }
        };
        let (cla, lc) = if self.params.mac_unmodified() {
            (clear_sm(cmd.cla) & !0x03, plain.len())
        } else {
            (mac_cla(cmd.cla), plain.len() + 8)
        };
        let lc = u8::try_from(lc).map_err(|_| GpError::WrongLength("command too long for SM"))?;
        let mut input = vec![cla, cmd.ins, cmd.p1, cmd.p2, lc];
        input.extend_from_slice(plain);
        let mac = symcrypto::retail_mac(&self.keys.c_mac, &icv, &input, Padding::Method2)?;
        self.last_c_mac = Some(mac);
        Ok(mac)
    }

    fn note_rmac_command(&mut self, cmd: &Command, plain: &[u8]) {
        // R-MAC input starts with the unprotected command: CLA (SM and channel bits cleared),
        // INS, P1, P2, Lc of the plain data, the plain data.
        self.rmac_command.clear();
        self.rmac_command.extend_from_slice(&[
            clear_sm(cmd.cla) & !0x03,
            cmd.ins,
            cmd.p1,
            cmd.p2,
            plain.len() as u8,
        ]);
        self.rmac_command.extend_from_slice(plain);
    }

    /// Host: EXTERNAL AUTHENTICATE (MAC only, ICV zero).
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

    /// Card: verifies the C-MAC of EXTERNAL AUTHENTICATE.
    pub(crate) fn verify_mac_only(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        let body_len = cmd
            .data
            .len()
            .checked_sub(8)
            .ok_or(GpError::SecurityStatus("C-MAC missing"))?;
        let (body, mac) = cmd.data.split_at(body_len);
        let expected = self.c_mac(cmd, body)?;
        if !symcrypto::ct_eq(&expected, mac) {
            return Err(GpError::SecurityStatus("C-MAC does not verify"));
        }
        Ok(body.to_vec())
    }

    /// Host: C-MAC, then C-DECRYPTION of the data (GP CS v2.3.1 §E.4.4, §E.4.6).
    pub(crate) fn wrap_command(&mut self, level: SecurityLevel, cmd: &Command) -> Result<Command> {
        if level.r_mac() {
            self.note_rmac_command(cmd, &cmd.data.clone());
        }
        if !level.c_mac() {
            return Ok(cmd.clone());
        }
        let mac = self.c_mac(cmd, &cmd.data)?;
        let mut data = if level.c_decryption() && !cmd.data.is_empty() {
            let mut d = symcrypto::pad(&cmd.data, symcrypto::DES_BLOCK, Padding::Method2);
            symcrypto::cbc_encrypt(Algorithm::Tdes2, &self.keys.s_enc, &[0; 8], &mut d)?;
            d
        } else {
            cmd.data.clone()
        };
        data.extend_from_slice(&mac);
        if data.len() > 255 {
            return Err(GpError::WrongLength(
                "command too long for secure messaging",
            ));
        }
        Ok(Command {
            cla: set_sm(cmd.cla),
            data,
            ..cmd.clone()
        })
    }

    /// Card: decrypts, then verifies the C-MAC of a command.
    pub(crate) fn unwrap_command(
        &mut self,
        level: SecurityLevel,
        cmd: &Command,
    ) -> Result<Command> {
        if !has_sm(cmd.cla) {
            if level.c_mac() {
                return Err(GpError::SecurityStatus("secure messaging required"));
            }
            if level.r_mac() {
                self.note_rmac_command(cmd, &cmd.data.clone());
            }
            return Ok(cmd.clone());
        }
        let body_len = cmd
            .data
            .len()
            .checked_sub(8)
            .ok_or(GpError::SecurityStatus("C-MAC missing"))?;
        let (body, mac) = cmd.data.split_at(body_len);
        let plain = if level.c_decryption() && !body.is_empty() {
            let mut d = body.to_vec();
            symcrypto::cbc_decrypt(Algorithm::Tdes2, &self.keys.s_enc, &[0; 8], &mut d)
                .map_err(|_| GpError::SecurityStatus("C-DECRYPTION failed"))?;
            symcrypto::unpad_method2(&d, symcrypto::DES_BLOCK)
                .map_err(|_| GpError::SecurityStatus("C-DECRYPTION padding"))?
                .to_vec()
        } else {
            body.to_vec()
        };
        let expected = self.c_mac(cmd, &plain)?;
        if !symcrypto::ct_eq(&expected, mac) {
            return Err(GpError::SecurityStatus("C-MAC does not verify"));
        }
        if level.r_mac() {
            self.note_rmac_command(cmd, &plain);
        }
        Ok(Command {
            cla: clear_sm(cmd.cla),
            data: plain,
            ..cmd.clone()
        })
    }

    fn r_mac(&self, data: &[u8], sw: [u8; 2]) -> Result<[u8; 8]> {
        let mut input = self.rmac_command.clone();
        input.push(data.len() as u8);
        input.extend_from_slice(data);
        input.extend_from_slice(&sw);
        Ok(symcrypto::retail_mac(
            &self.keys.r_mac,
            &self.last_r_mac,
            &input,
            Padding::Method2,
        )?)
    }

    /// Card: appends the R-MAC (GP CS v2.3.1 §E.4.5): retail MAC with the R-MAC key over the
    /// unprotected command, Lr, response data and status word; chained over the previous R-MAC.
    pub(crate) fn wrap_response(
        &mut self,
        level: SecurityLevel,
        rsp: &Response,
    ) -> Result<Response> {
        if !level.r_mac() {
            return Ok(rsp.clone());
        }
        let mac = self.r_mac(&rsp.data, rsp.sw.to_bytes())?;
        self.last_r_mac = mac;
        let mut data = rsp.data.clone();
        data.extend_from_slice(&mac);
        Ok(Response::new(data, rsp.sw))
    }

    /// Host: verifies and strips the R-MAC.
    pub(crate) fn unwrap_response(
        &mut self,
        level: SecurityLevel,
        rsp: &Response,
    ) -> Result<Response> {
        if !level.r_mac() {
            return Ok(rsp.clone());
        }
        let body_len = rsp.data.len().checked_sub(8).ok_or(GpError::ResponseMac)?;
        let (body, mac) = rsp.data.split_at(body_len);
        let expected = self.r_mac(body, rsp.sw.to_bytes())?;
        if !symcrypto::ct_eq(&expected, mac) {
            return Err(GpError::ResponseMac);
        }
        self.last_r_mac = expected;
        Ok(Response::new(body.to_vec(), rsp.sw))
    }
}
