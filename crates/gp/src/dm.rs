//! Delegated Management (GP Card Specification v2.3.1 §9.2.1.4–§9.2.1.6, Annex C.4 and C.5):
//! the data a token signs, the Delete Token field, the confirmation (receipt) response and the
//! receipt computation. Host and card share these functions.
//!
//! * Tokens (Annex C.4): the card issuer signs `P1 || P2 || Lc' || data'`, where `data'` is
//!   the command data field without its token (INSTALL: without the final token length and
//!   token; DELETE: without the `'9E'` Delete Token TLV, GP CS Table 11-23) and `Lc'` its
//!   length on one byte. This is the same layout for the Load, Install, Make Selectable,
//!   Extradition, Registry Update and Delete tokens, because each token's data field list
//!   is the command's own field list (GlobalPlatformPro's `DMTokenizer.dtbs` signs the same). The
//!   signature scheme is chosen by the caller: the `card` crate verifies ECDSA P-256 with
//!   SHA-256 (`r || s`), one of the "Ciphers for Tokens" of the GP CS v2.3.1 Card Capability
//!   Information (tag '85', suite "ECDSA ECC-256 SHA-256"; as coded in pySim
//!   `global_platform/__init__.py`). RSA tokens are not implemented (no RSA dependency).
//! * Receipts (Annex C.5): the SD with Receipt Generation computes a MAC with its Receipt key
//!   over `LV(confirmation counter) || LV(card unique data) || LV(object AIDs...)`; AES keys
//!   use AES-CMAC (NIST SP 800-38B, all 16 bytes; "Ciphers for Receipts" tag '86' suites
//!   CMAC-AES128/192/256), DES keys the full triple DES MAC (ISO/IEC 9797-1 MAC algorithm 1,
//!   padding method 2, zero ICV; GP CS §B.1.2.1). The object list per operation follows our
//!   reading of Annex C.5 and is documented at [`ConfirmationData::receipt_input`].
//! * Confirmation response (GP CS Table 11-51 / 11-22): `len receipt len conf-data` with
//!   conf-data = `'02' counter len card-unique-data`; a single `'00'` means no receipt.

use apdu::Command;
use tlv::Tag;

use rand_core::CryptoRng;

use crate::commands::{Install, INS_DELETE};
use crate::{Dek, GpError, KeyComponent, KeyType, PutKeyData, Result};

/// Key version number of the Token key, key identifier '01' (GPC_GUI_010 §6, as quoted in
/// pySim `global_platform/scp.py`).
pub const TOKEN_KEY_KVN: u8 = 0x70;
/// Key version number of the Receipt key, key identifier '01' (GPC_GUI_010 §6).
pub const RECEIPT_KEY_KVN: u8 = 0x71;
/// Key type of an ECC public key (GP CS v2.3.1 §11.1.8).
pub const KEY_TYPE_ECC_PUBLIC: u8 = 0xB0;
/// Key type "ECC key parameters reference" (GP CS v2.3.1 §11.1.8); the card accepts value
/// `'00'` only and takes it as NIST P-256 (our documented choice).
pub const KEY_TYPE_ECC_PARAMS: u8 = 0xF0;
/// Tag of the Delete Token in the DELETE command data (GP CS v2.3.1 Table 11-23).
pub const TAG_DELETE_TOKEN: u32 = 0x9E;

/// `P1 || P2 || len(data) || data`: the signed data of every DM token (GP CS Annex C.4).
pub fn token_data(p1: u8, p2: u8, data_without_token: &[u8]) -> Result<Vec<u8>> {
    let len = u8::try_from(data_without_token.len())
        .map_err(|_| GpError::WrongLength("token data longer than 255 bytes"))?;
    let mut out = Vec::with_capacity(data_without_token.len() + 3);
    out.extend_from_slice(&[p1, p2, len]);
    out.extend_from_slice(data_without_token);
    Ok(out)
}

impl Install {
    /// The token this INSTALL carries (empty when none; INSTALL [for personalization] has none).
    pub fn token(&self) -> &[u8] {
        match self {
            Install::ForLoad { load_token, .. } => load_token,
            Install::ForInstall { token, .. }
            | Install::ForMakeSelectable { token, .. }
            | Install::ForExtradition { token, .. }
            | Install::ForRegistryUpdate { token, .. } => token,
            Install::ForPersonalization { .. } => &[],
        }
    }

    /// Replaces the token (no effect on INSTALL [for personalization]).
    pub fn set_token(&mut self, new: Vec<u8>) {
        match self {
            Install::ForLoad { load_token, .. } => *load_token = new,
            Install::ForInstall { token, .. }
            | Install::ForMakeSelectable { token, .. }
            | Install::ForExtradition { token, .. }
            | Install::ForRegistryUpdate { token, .. } => *token = new,
            Install::ForPersonalization { .. } => {}
        }
    }

    /// The data the Load/Install/Make Selectable/Extradition/Registry Update Token signs
    /// (GP CS Annex C.4.1–C.4.5) for this INSTALL with P2 `p2` (normally '00').
    pub fn token_data(&self, p2: u8) -> Result<Vec<u8>> {
        let mut bare = self.clone();
        bare.set_token(Vec::new());
        let mut data = bare.encode_data()?;
        // The last field is the (now empty) token: drop its length byte.
        data.pop();
        token_data(self.p1(), p2, &data)
    }
}

/// Splits a DELETE command into the data its Delete Token signs (GP CS Annex C.4.6) and the
/// token (the value of `'9E'`, if present). The `'9E'` TLV must be the last object.
pub fn delete_token_data(cmd: &Command) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    if cmd.ins != INS_DELETE {
        return Err(GpError::IncorrectData("not DELETE"));
    }
    let mut signed_len = 0usize;
    let mut token = None;
    for t in tlv::iter(&cmd.data) {
        let t = t?;
        if token.is_some() {
            return Err(GpError::IncorrectData("data after the Delete Token"));
        }
        if t.tag == Tag(TAG_DELETE_TOKEN) {
            token = Some(t.value.to_vec());
        } else {
            signed_len += t.raw.len();
        }
    }
    let signed = cmd
        .data
        .get(..signed_len)
        .ok_or(GpError::IncorrectData("DELETE data"))?;
    Ok((token_data(cmd.p1, cmd.p2, signed)?, token))
}

/// Appends a Delete Token (`'9E'`) to a DELETE command.
pub fn add_delete_token(cmd: &mut Command, token: &[u8]) {
    tlv::write_tlv(Tag(TAG_DELETE_TOKEN), token, &mut cmd.data);
}

/// PUT KEY data for the Token Verification key (KVN '70'): `'B0'` with the uncompressed
/// P-256 point (public, not encrypted, no KCV) and `'F0' '00'` (P-256 parameters).
pub fn token_key_put_key_data(point: &[u8]) -> Result<PutKeyData> {
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err(GpError::BadKey(
            "token key must be an uncompressed P-256 point",
        ));
    }
    let clear = |key_type: u8, v: &[u8]| KeyComponent {
        key_type,
        key_len: None,
        ciphered: v.to_vec(),
        kcv: Vec::new(),
    };
    Ok(PutKeyData {
        new_kvn: TOKEN_KEY_KVN,
        components: vec![
            clear(KEY_TYPE_ECC_PUBLIC, point),
            clear(KEY_TYPE_ECC_PARAMS, &[0x00]),
        ],
    })
}

/// PUT KEY data for the Receipt key (KVN '71'), encrypted under `dek`.
pub fn receipt_key_put_key_data<R: CryptoRng + ?Sized>(
    key_type: KeyType,
    key: &[u8],
    dek: &Dek,
    rng: &mut R,
) -> Result<PutKeyData> {
    Ok(PutKeyData {
        new_kvn: RECEIPT_KEY_KVN,
        components: vec![KeyComponent::seal(key_type, key, dek, rng)?],
    })
}

/// Confirmation data returned with a receipt (GP CS v2.3.1 Table 11-51).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationData {
    /// The Confirmation Counter of the SD with Receipt Generation (2 bytes).
    pub counter: u16,
    /// Card Unique Data (the ISD's IIN || CIN, GP CS §C.5).
    pub card_unique_data: Vec<u8>,
}

fn lv(out: &mut Vec<u8>, v: &[u8]) -> Result<()> {
    out.push(u8::try_from(v.len()).map_err(|_| GpError::WrongLength("LV field"))?);
    out.extend_from_slice(v);
    Ok(())
}

impl ConfirmationData {
    /// `'02' counter len card-unique-data`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        lv(&mut out, &self.counter.to_be_bytes())?;
        lv(&mut out, &self.card_unique_data)?;
        Ok(out)
    }

    /// The data a receipt is computed over: the confirmation data followed by the LV-coded
    /// object AIDs of the operation (GP CS Annex C.5): load `[load file, SD]`, install
    /// `[load file, application]`, delete `[AID]`, extradition / registry update
    /// `[old SD, application or load file, new SD]`.
    pub fn receipt_input(&self, objects: &[&[u8]]) -> Result<Vec<u8>> {
        let mut out = self.encode()?;
        for o in objects {
            lv(&mut out, o)?;
        }
        Ok(out)
    }
}

/// A receipt with its confirmation data, as returned in the response to the final LOAD,
/// INSTALL or DELETE of a delegated operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub receipt: Vec<u8>,
    pub data: ConfirmationData,
}

impl Confirmation {
    /// `len receipt len conf-data conf-data` (GP CS v2.3.1 Table 11-51).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        lv(&mut out, &self.receipt)?;
        lv(&mut out, &self.data.encode()?)?;
        Ok(out)
    }

    /// Host side: parses a response data field. `'00'` (or empty) is "no receipt" (`None`).
    pub fn parse(data: &[u8]) -> Result<Option<Confirmation>> {
        let bad = || GpError::IncorrectData("confirmation response");
        let take = |d: &[u8]| -> Result<(Vec<u8>, usize)> {
            let (&n, rest) = d.split_first().ok_or_else(bad)?;
            let v = rest.get(..usize::from(n)).ok_or_else(bad)?;
            Ok((v.to_vec(), 1 + usize::from(n)))
        };
        if data.is_empty() || data == [0x00] {
            return Ok(None);
        }
        let (receipt, used) = take(data)?;
        let (conf, used2) = take(data.get(used..).ok_or_else(bad)?)?;
        if used + used2 != data.len() {
            return Err(bad());
        }
        let (counter, c1) = take(&conf)?;
        let counter: [u8; 2] = counter.as_slice().try_into().map_err(|_| bad())?;
        let (card_unique_data, c2) = take(conf.get(c1..).ok_or_else(bad)?)?;
        // GP CS 2.3: token identifier / token data digest may follow; not interpreted.
        let _ = c2;
        Ok(Some(Confirmation {
            receipt,
            data: ConfirmationData {
                counter: u16::from_be_bytes(counter),
                card_unique_data,
            },
        }))
    }

    /// Host side: verifies the receipt with the Receipt key over the confirmation data and
    /// the operation's object AIDs (see [`ConfirmationData::receipt_input`]); `6982`-class
    /// [`GpError::SecurityStatus`] when it does not match.
    pub fn verify(&self, key_type: KeyType, key: &[u8], objects: &[&[u8]]) -> Result<()> {
        let expected = receipt(key_type, key, &self.data.receipt_input(objects)?)?;
        if symcrypto::ct_eq(&expected, &self.receipt) {
            Ok(())
        } else {
            Err(GpError::SecurityStatus("receipt does not verify"))
        }
    }
}

/// The receipt MAC (GP CS v2.3.1 Annex C.5): AES-CMAC (16 bytes) for AES keys, the full triple
/// DES MAC (8 bytes, ISO/IEC 9797-1 MAC algorithm 1, method 2 padding, zero ICV) for DES keys.
pub fn receipt(key_type: KeyType, key: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    match key_type {
        KeyType::Aes => Ok(symcrypto::aes_cmac(key, &[input])?.to_vec()),
        KeyType::Des => {
            let alg = match key.len() {
                16 => symcrypto::Algorithm::Tdes2,
                24 => symcrypto::Algorithm::Tdes3,
                _ => return Err(GpError::BadKey("receipt DES key must be 16 or 24 bytes")),
            };
            Ok(symcrypto::mac_algorithm1(
                alg,
                key,
                &[0u8; 8],
                input,
                symcrypto::Padding::Method2,
            )?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_token_data_is_p1_p2_len_fields() {
        let i = Install::ForInstall {
            make_selectable: true,
            load_file_aid: vec![0xA0, 0, 0, 0, 1],
            module_aid: vec![0xA0, 0, 0, 0, 1, 1],
            application_aid: vec![0xA0, 0, 0, 0, 1, 1, 1],
            privileges: vec![0x00],
            parameters: vec![0xC9, 0x00],
            token: vec![0xEE; 64],
        };
        let d = i.token_data(0x00).unwrap();
        let data = i.encode_data().unwrap();
        // data = fields || 40 token; signed = fields only.
        let fields = &data[..data.len() - 65];
        assert_eq!(&d[..3], &[0x0C, 0x00, fields.len() as u8]);
        assert_eq!(&d[3..], fields);
    }

    #[test]
    fn delete_token_split() {
        let mut cmd =
            Command::with_data(0x80, INS_DELETE, 0x00, 0x80, vec![0x4F, 5, 1, 2, 3, 4, 5]);
        add_delete_token(&mut cmd, &[0xAA; 3]);
        let (signed, tok) = delete_token_data(&cmd).unwrap();
        assert_eq!(signed, [0x00, 0x80, 7, 0x4F, 5, 1, 2, 3, 4, 5]);
        assert_eq!(tok.unwrap(), [0xAA; 3]);
        let mut bad = cmd.clone();
        bad.data.extend_from_slice(&[0x4F, 0x00]);
        assert!(delete_token_data(&bad).is_err());
    }

    #[test]
    fn confirmation_round_trip_and_verify() {
        let key = [0x11u8; 16];
        let data = ConfirmationData {
            counter: 7,
            card_unique_data: vec![1, 2, 3],
        };
        let objs: [&[u8]; 1] = [&[0xA0, 0, 0, 0, 9]];
        let r = receipt(KeyType::Aes, &key, &data.receipt_input(&objs).unwrap()).unwrap();
        let c = Confirmation { receipt: r, data };
        let enc = c.encode().unwrap();
        assert_eq!(&enc[..1], &[16]);
        assert_eq!(&enc[17..], &[7, 2, 0, 7, 3, 1, 2, 3]);
        let back = Confirmation::parse(&enc).unwrap().unwrap();
        assert_eq!(back, c);
        back.verify(KeyType::Aes, &key, &objs).unwrap();
        assert!(back.verify(KeyType::Aes, &[0x12; 16], &objs).is_err());
        assert!(back
            .verify(KeyType::Aes, &key, &[&[0xA0, 0, 0, 0, 8]])
            .is_err());
        assert_eq!(Confirmation::parse(&[0]).unwrap(), None);
        assert!(Confirmation::parse(&[5, 1]).is_err());
        // DES receipts are 8 bytes.
        assert_eq!(receipt(KeyType::Des, &[0x22; 16], b"x").unwrap().len(), 8);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let _ = Confirmation::parse(&data);
            let cmd = Command::with_data(0x80, INS_DELETE, 0x00, 0x00, data.clone());
            let _ = delete_token_data(&cmd);
        }
    }
}
