//! ES10b.GetEUICCChallenge (§5.7.7), GetEUICCInfo (§5.7.8), GetRAT (§5.7.4), ES10c.GetEID
//! (§5.7.20), ES10a.GetEuiccConfiguredAddresses (§5.7.3), ES10a.SetDefaultDpAddress (§5.7.4).

use apdu::StatusWord;
use rsp::es10b::{
    rsp_capability, uicc_capability, EuiccInfo1, EuiccInfo2, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccInfo1Request, GetEuiccInfo2Request, GetRatRequest,
    GetRatResponse,
};
use rsp::{Asn1, BitString, Version};
use tlv::{Reader, Tag, Tlv, Writer};

use super::{decode, Isdr};
use crate::state::RspSession;
use crate::ApduResult;

/// TCA eUICC Profile Package version supported (SAIP v2.3.1).
pub const PROFILE_VERSION: [u8; 3] = [2, 3, 1];
/// Firmware version of this virtual eUICC.
pub const FIRMWARE_VERSION: [u8; 3] = [0, 1, 0];
/// Protection Profile version (SGP.25).
pub const PP_VERSION: [u8; 3] = [1, 0, 0];
/// Largest number of profiles the card holds.
pub const MAX_PROFILES: usize = 8;
/// Nominal free memory reported in extCardResource (ETSI TS 102 226 §8.2.1.3.2.5).
const FREE_NVM: u32 = 1_048_576;
const FREE_RAM: u32 = 16_384;

impl Isdr<'_> {
    /// A new euiccChallenge starts a new RSP session and ends any previous one (§5.7.7).
    pub(super) fn get_euicc_challenge(&mut self, request: &[u8]) -> ApduResult {
        decode::<GetEuiccChallengeRequest>(request)?;
        let euicc_challenge = self.random16();
        self.state.session = Some(RspSession {
            euicc_challenge,
            authenticated: None,
            prepared: None,
        });
        *self.bpp = None;
        Ok(GetEuiccChallengeResponse { euicc_challenge }.encode())
    }

    pub(super) fn get_euicc_info1(&mut self, request: &[u8]) -> ApduResult {
        decode::<GetEuiccInfo1Request>(request)?;
        Ok(self.euicc_info1().encode())
    }

    pub(super) fn get_euicc_info2(&mut self, request: &[u8]) -> ApduResult {
        decode::<GetEuiccInfo2Request>(request)?;
        Ok(self.euicc_info2().encode())
    }

    pub(super) fn euicc_info1(&self) -> EuiccInfo1 {
        EuiccInfo1 {
            svn: Version(super::SVN),
            ci_pkid_list_for_verification: self.identity.ci_pkids_for_verification(),
            ci_pkid_list_for_signing: vec![self.identity.signing_ci_pkid.clone()],
        }
    }

    pub(super) fn euicc_info2(&self) -> EuiccInfo2 {
        let installed = self.state.profiles.len();
        // extCardResource: '81' number of installed applications, '82' free non-volatile
        // memory, '83' free volatile memory (ETSI TS 102 226 §8.2.1.3.2.5).
        let mut ext = Writer::new();
        ext.put(Tag(0x81), &tlv::der::encode_uint(installed as u64))
            .put(Tag(0x82), &tlv::der::encode_uint(FREE_NVM as u64))
            .put(Tag(0x83), &tlv::der::encode_uint(FREE_RAM as u64));
        let mut rsp_caps = vec![rsp_capability::TEST_PROFILE_SUPPORT];
        if installed < MAX_PROFILES {
            rsp_caps.push(rsp_capability::ADDITIONAL_PROFILE);
        }
        rsp_caps.sort_unstable();
        EuiccInfo2 {
            profile_version: Version(PROFILE_VERSION),
            svn: Version(super::SVN),
            euicc_firmware_ver: Version(FIRMWARE_VERSION),
            ext_card_resource: ext.into_vec(),
            uicc_capability: BitString::from_bits(&[
                uicc_capability::USIM_SUPPORT,
                uicc_capability::ISIM_SUPPORT,
                uicc_capability::AKA_MILENAGE,
            ]),
            javacard_version: None,
            globalplatform_version: None,
            rsp_capability: BitString::from_bits(&rsp_caps),
            ci_pkid_list_for_verification: self.identity.ci_pkids_for_verification(),
            ci_pkid_list_for_signing: vec![self.identity.signing_ci_pkid.clone()],
            euicc_category: None,
            forbidden_profile_policy_rules: None,
            pp_version: Version(PP_VERSION),
            sas_accreditation_number: "SIMKIT-VIRTUAL-EUICC".to_string(),
            certification_data_object: None,
        }
    }

    /// GetRAT: this eUICC carries an empty Rules Authorisation Table (no PPR is allowed).
    pub(super) fn get_rat(&mut self, request: &[u8]) -> ApduResult {
        decode::<GetRatRequest>(request)?;
        Ok(GetRatResponse { rat: Vec::new() }.encode())
    }

    /// `GetEuiccDataRequest ::= [62] SEQUENCE { tagList [APPLICATION 28] Octet1 }` ('BF3E'
    /// { '5C' 01 '5A' }) → `GetEuiccDataResponse` ('BF3E' { '5A' EID }).
    pub(super) fn get_eid(&mut self, request: &[u8]) -> ApduResult {
        let tlv = Tlv::parse_single(request).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let mut rd = Reader::new(tlv.value);
        let tag_list = rd
            .expect(Tag(0x5C))
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        rd.finish_lenient()
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        if tag_list.value != [0x5A] {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let mut w = Writer::new();
        w.nested(Tag(0xBF3E), |w| {
            w.put(Tag(0x5A), &self.identity.eid);
        });
        Ok(w.into_vec())
    }

    /// `EuiccConfiguredAddressesResponse` ('BF3C' { '80' defaultDpAddress?, '81' rootDsAddress }).
    pub(super) fn configured_addresses(&mut self, request: &[u8]) -> ApduResult {
        empty_request(request)?;
        let mut w = Writer::new();
        w.nested(Tag(0xBF3C), |w| {
            w.put_opt(
                Tag(0x80),
                self.state.default_dp_address.as_deref().map(str::as_bytes),
            );
            w.put(Tag(0x81), self.state.root_ds_address.as_bytes());
        });
        Ok(w.into_vec())
    }

    /// `SetDefaultDpAddressRequest` ('BF3F' { '80' defaultDpAddress }) →
    /// `SetDefaultDpAddressResponse` ('BF3F' { '80' ok(0) }). An empty address removes it.
    pub(super) fn set_default_dp_address(&mut self, request: &[u8]) -> ApduResult {
        let tlv = Tlv::parse_single(request).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let mut rd = Reader::new(tlv.value);
        let addr = rd
            .expect(Tag(0x80))
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        rd.finish_lenient()
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        let addr =
            String::from_utf8(addr.value.to_vec()).map_err(|_| StatusWord::INCORRECT_DATA)?;
        self.state.default_dp_address = if addr.is_empty() { None } else { Some(addr) };
        Ok(int_response(0xBF3F, 0))
    }
}

/// Accepts `[n] SEQUENCE {}` with possible extension fields.
fn empty_request(request: &[u8]) -> Result<(), StatusWord> {
    let tlv = Tlv::parse_single(request).map_err(|_| StatusWord::INCORRECT_DATA)?;
    Reader::new(tlv.value)
        .finish_lenient()
        .map_err(|_| StatusWord::INCORRECT_DATA)
}

/// `[n] SEQUENCE { result [0] INTEGER }`, the shape of most ES10c responses.
pub(super) fn int_response(tag: u32, value: i64) -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(tag), |w| {
        w.put(Tag(0x80), &tlv::der::encode_int(value));
    });
    w.into_vec()
}
