//! ES10b.GetEUICCChallenge (§5.7.7), GetEUICCInfo (§5.7.8), GetRAT (§5.7.22), ES10c.GetEID
//! (§5.7.20), ES10a.GetEuiccConfiguredAddresses (§5.7.3), ES10a.SetDefaultDpAddress (§5.7.4).

use apdu::StatusWord;
use rsp::es10a::{
    EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse, SetDefaultDpAddressRequest,
    SetDefaultDpAddressResponse, SetDefaultDpAddressResult,
};
use rsp::es10b::{
    rsp_capability, uicc_capability, EuiccInfo1, EuiccInfo2, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccInfo1Request, GetEuiccInfo2Request, GetRatRequest,
    GetRatResponse,
};
use rsp::es10c::{GetEuiccDataRequest, GetEuiccDataResponse};
use rsp::{Asn1, BitString, Eid, Version};
use tlv::{Tag, Writer};

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

    /// ES10c.GetEID (§5.7.20): the tagList SHALL be '5A'.
    pub(super) fn get_eid(&mut self, request: &[u8]) -> ApduResult {
        let req: GetEuiccDataRequest = decode(request)?;
        if req.tag_list != 0x5A {
            return Err(StatusWord::INCORRECT_DATA);
        }
        Ok(GetEuiccDataResponse {
            eid: Eid(self.identity.eid),
        }
        .encode())
    }

    /// ES10a.GetEuiccConfiguredAddresses (§5.7.3).
    pub(super) fn configured_addresses(&mut self, request: &[u8]) -> ApduResult {
        decode::<EuiccConfiguredAddressesRequest>(request)?;
        Ok(EuiccConfiguredAddressesResponse {
            default_dp_address: self.state.default_dp_address.clone(),
            root_ds_address: self.state.root_ds_address.clone(),
        }
        .encode())
    }

    /// ES10a.SetDefaultDpAddress (§5.7.4). An empty address removes the default SM-DP+ address.
    pub(super) fn set_default_dp_address(&mut self, request: &[u8]) -> ApduResult {
        let req: SetDefaultDpAddressRequest = decode(request)?;
        let addr = req.default_dp_address;
        self.state.default_dp_address = if addr.is_empty() { None } else { Some(addr) };
        Ok(SetDefaultDpAddressResponse {
            result: SetDefaultDpAddressResult::OK,
        }
        .encode())
    }
}
