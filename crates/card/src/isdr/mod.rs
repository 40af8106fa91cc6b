//! The ISD-R: ES10a/ES10b/ES10c functions (SGP.22 v2.2.2 §5.7), dispatched by the request's
//! outer tag. Each function reads and writes a working copy of [`CardState`] that the OS commits
//! when the function returns a response (see `os::Card::store_data`).

mod bpp;
mod download;
mod info;
mod manage;
mod notify;

use apdu::StatusWord;
use tlv::{Tag, Tlv};

pub use bpp::BppLoad;

use crate::{ApduResult, CardIdentity, CardRng, CardState};

/// SGP.22 version implemented (SVN), v2.2.2.
pub const SVN: [u8; 3] = [2, 2, 2];

/// Context of one ES10 function call.
pub(crate) struct Isdr<'a> {
    pub identity: &'a CardIdentity,
    pub state: &'a mut CardState,
    pub bpp: &'a mut Option<BppLoad>,
    pub rng: &'a mut CardRng,
    pub now: Option<u64>,
}

/// ES10 request tags (rsp.asn).
mod tag {
    pub const GET_EUICC_INFO1: u32 = 0xBF20;
    pub const PREPARE_DOWNLOAD: u32 = 0xBF21;
    pub const GET_EUICC_INFO2: u32 = 0xBF22;
    pub const SET_NICKNAME: u32 = 0xBF29;
    pub const LIST_NOTIFICATION: u32 = 0xBF28;
    pub const RETRIEVE_NOTIFICATIONS: u32 = 0xBF2B;
    pub const PROFILE_INFO_LIST: u32 = 0xBF2D;
    pub const GET_EUICC_CHALLENGE: u32 = 0xBF2E;
    pub const NOTIFICATION_SENT: u32 = 0xBF30;
    pub const ENABLE_PROFILE: u32 = 0xBF31;
    pub const DISABLE_PROFILE: u32 = 0xBF32;
    pub const DELETE_PROFILE: u32 = 0xBF33;
    pub const MEMORY_RESET: u32 = 0xBF34;
    pub const BOUND_PROFILE_PACKAGE: u32 = 0xBF36;
    pub const AUTHENTICATE_SERVER: u32 = 0xBF38;
    pub const CONFIGURED_ADDRESSES: u32 = 0xBF3C;
    pub const GET_EUICC_DATA: u32 = 0xBF3E;
    pub const SET_DEFAULT_DP_ADDRESS: u32 = 0xBF3F;
    pub const CANCEL_SESSION: u32 = 0xBF41;
    pub const GET_RAT: u32 = 0xBF43;
}

/// An ES10b.LoadBoundProfilePackage segment (SGP.22 §2.5.5): the first starts with the
/// 'BF36' tag, the others with 'A0'..'A3' or '86'..'88'. Such a request changes the persistent
/// state only when it ends the load (the ProfileInstallationResult is built then), and an error
/// status word leaves everything untouched (see `os::Card::store_data`).
pub(crate) fn is_bpp_segment(request: &[u8]) -> bool {
    matches!(
        Tag::parse(request),
        Ok((Tag(tag::BOUND_PROFILE_PACKAGE | 0xA0..=0xA3 | 0x86..=0x88), _))
    )
}

impl Isdr<'_> {
    /// Runs the ES10 function the request names. Malformed requests answer `6A80`, unknown
    /// functions `6A88`; function-level errors are encoded in the response (SGP.22 §5.7).
    pub(crate) fn handle(mut self, request: &[u8]) -> ApduResult {
        let (t, _) = Tag::parse(request).map_err(|_| StatusWord::INCORRECT_DATA)?;
        // ES10b.LoadBoundProfilePackage segments are parts of one 'BF36' TLV (SGP.22 §2.5.5):
        // only the first starts with the BPP tag; the others start with 'A0'..'A3' or '86'..'88'.
        match t.0 {
            tag::BOUND_PROFILE_PACKAGE => return self.load_bpp_start(request),
            0xA0..=0xA3 | 0x86..=0x88 => return self.load_bpp_continue(request),
            _ => {}
        }
        let tlv = Tlv::parse_single(request).map_err(|_| StatusWord::INCORRECT_DATA)?;
        match tlv.tag.0 {
            tag::GET_EUICC_CHALLENGE => self.get_euicc_challenge(request),
            tag::GET_EUICC_INFO1 => self.get_euicc_info1(request),
            tag::GET_EUICC_INFO2 => self.get_euicc_info2(request),
            tag::AUTHENTICATE_SERVER => self.authenticate_server(request),
            tag::PREPARE_DOWNLOAD => self.prepare_download(request),
            tag::CANCEL_SESSION => self.cancel_session(request),
            tag::LIST_NOTIFICATION => self.list_notification(request),
            tag::RETRIEVE_NOTIFICATIONS => self.retrieve_notifications(request),
            tag::NOTIFICATION_SENT => self.remove_notification(request),
            tag::PROFILE_INFO_LIST => self.get_profiles_info(request),
            tag::ENABLE_PROFILE => self.enable_profile(request),
            tag::DISABLE_PROFILE => self.disable_profile(request),
            tag::DELETE_PROFILE => self.delete_profile(request),
            tag::SET_NICKNAME => self.set_nickname(request),
            tag::MEMORY_RESET => self.memory_reset(request),
            tag::GET_EUICC_DATA => self.get_eid(request),
            tag::CONFIGURED_ADDRESSES => self.configured_addresses(request),
            tag::SET_DEFAULT_DP_ADDRESS => self.set_default_dp_address(request),
            tag::GET_RAT => self.get_rat(request),
            _ => Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn random16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// Signs with SK.EUICC.ECDSA (TR-03111 plain `r || s`).
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.identity.euicc_private_key.sign(data).to_vec()
    }
}

/// Decodes a request with `rsp`, mapping failures to `6A80`.
fn decode<T: rsp::Asn1>(request: &[u8]) -> Result<T, StatusWord> {
    T::decode(request).map_err(|_| StatusWord::INCORRECT_DATA)
}
