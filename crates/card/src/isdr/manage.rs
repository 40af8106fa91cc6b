//! ES10c: local profile management (SGP.22 §5.7.15–§5.7.21): GetProfilesInfo, EnableProfile,
//! DisableProfile, DeleteProfile, eUICCMemoryReset, SetNickname. Requests are decoded and
//! responses built with the `rsp::es10c` types.

use apdu::StatusWord;
use rsp::es10c::{
    reset_options, DeleteProfileRequest, DeleteProfileResponse, DeleteResult,
    DisableProfileRequest, DisableProfileResponse, DisableResult, EnableProfileRequest,
    EnableProfileResponse, EnableResult, EuiccMemoryResetRequest, EuiccMemoryResetResponse,
    ProfileIdentifier, ProfileInfo, ProfileInfoListError, ProfileInfoListRequest,
    ProfileInfoListResponse, ResetResult, SearchCriteria, SetNicknameRequest, SetNicknameResponse,
    SetNicknameResult,
};
use rsp::es8p::{DpProprietaryData, StoreMetadataRequest};
use rsp::{ppr, Asn1, Fields, Iccid, ProfileClass};
use tlv::{Tag, Tlv};

use super::{decode, Isdr};
use crate::state::{NotificationKind, Profile, ProfileState};
use crate::ApduResult;

/// The profile's metadata (the StoreMetadataRequest kept as received in the BPP).
fn metadata(p: &Profile) -> Option<StoreMetadataRequest> {
    StoreMetadataRequest::decode(&p.metadata).ok()
}

/// `profileClass` of the metadata; absent means operational (rsp.asn DEFAULT).
fn profile_class(p: &Profile) -> ProfileClass {
    metadata(p)
        .and_then(|m| m.profile_class)
        .unwrap_or(ProfileClass::OPERATIONAL)
}

/// PPR bit set in the profile's profilePolicyRules (PPR1: disabling not allowed, PPR2: deletion
/// not allowed).
fn ppr_set(p: &Profile, bit: usize) -> bool {
    metadata(p)
        .and_then(|m| m.profile_policy_rules)
        .is_some_and(|b| b.is_set(bit))
}

fn matches(p: &Profile, id: &ProfileIdentifier) -> bool {
    match id {
        ProfileIdentifier::IsdpAid(a) => p.isdp_aid == *a,
        ProfileIdentifier::Iccid(i) => p.iccid == i.0,
    }
}

/// ProfileInfo fields in rsp.asn order, the default tag list.
const PROFILE_INFO_TAGS: [u32; 13] = [
    0x5A, 0x4F, 0x9F70, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0xB6, 0xB7, 0xB8, 0x99,
];

/// The complete ProfileInfo of an installed profile.
fn profile_info(p: &Profile) -> ProfileInfo {
    let md = metadata(p);
    // dpProprietaryData is kept as the received '[24]' ('B8') TLV.
    let dp_proprietary_data = p
        .dp_proprietary_data
        .as_deref()
        .and_then(|raw| Tlv::parse_expecting(raw, Tag(0xB8)).ok())
        .and_then(|t| DpProprietaryData::get_fields(&t).ok());
    let mut info = ProfileInfo {
        iccid: Some(Iccid(p.iccid)),
        isdp_aid: Some(p.isdp_aid.clone()),
        profile_state: Some(match p.state {
            ProfileState::Disabled => rsp::ProfileState::DISABLED,
            ProfileState::Enabled => rsp::ProfileState::ENABLED,
        }),
        profile_nickname: p.nickname.clone(),
        dp_proprietary_data,
        ..ProfileInfo::default()
    };
    if let Some(md) = md {
        info.service_provider_name = Some(md.service_provider_name);
        info.profile_name = Some(md.profile_name);
        info.icon_type = md.icon_type;
        info.icon = md.icon;
        // profileClass is in the default set of §5.7.15 and LPAs read it from '95' (lpac
        // shows `null` without it), so it is always coded when asked for, operational included,
        // as deployed eUICCs answer `BF2D00` (pySim tests/pySim-shell_test/euicc/
        // get_profiles_info.ok: "profile_class": "operational"). rsp.asn's DEFAULT
        // operational lets a decoder accept it either way.
        info.profile_class = Some(md.profile_class.unwrap_or(ProfileClass::OPERATIONAL));
        info.notification_configuration_info = md.notification_configuration_info;
        info.profile_owner = md.profile_owner;
        info.profile_policy_rules = md.profile_policy_rules;
    }
    info
}

/// Keeps only the fields whose tags are in `wanted` (the request's tagList).
fn select_fields(mut info: ProfileInfo, wanted: &[u32]) -> ProfileInfo {
    let keep = |t: u32| wanted.contains(&t);
    if !keep(0x5A) {
        info.iccid = None;
    }
    if !keep(0x4F) {
        info.isdp_aid = None;
    }
    if !keep(0x9F70) {
        info.profile_state = None;
    }
    if !keep(0x90) {
        info.profile_nickname = None;
    }
    if !keep(0x91) {
        info.service_provider_name = None;
    }
    if !keep(0x92) {
        info.profile_name = None;
    }
    if !keep(0x93) {
        info.icon_type = None;
    }
    if !keep(0x94) {
        info.icon = None;
    }
    if !keep(0x95) {
        info.profile_class = None;
    }
    if !keep(0xB6) {
        info.notification_configuration_info = None;
    }
    if !keep(0xB7) {
        info.profile_owner = None;
    }
    if !keep(0xB8) {
        info.dp_proprietary_data = None;
    }
    if !keep(0x99) {
        info.profile_policy_rules = None;
    }
    info
}

/// Parses a tagList ('5C'): concatenated BER tags.
fn parse_tag_list(mut bytes: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (t, n) = Tag::parse(bytes).ok()?;
        out.push(t.0);
        bytes = bytes.get(n..)?;
    }
    Some(out)
}

impl Isdr<'_> {
    fn find(&self, id: &ProfileIdentifier) -> Option<usize> {
        self.state.profiles.iter().position(|p| matches(p, id))
    }

    /// Marks `idx` disabled and notifies (SGP.22 §3.2.2 / §2.6).
    fn disable_at(&mut self, idx: usize) {
        if let Some(p) = self.state.profiles.get_mut(idx) {
            p.state = ProfileState::Disabled;
            let (iccid, md) = (p.iccid, p.metadata.clone());
            self.notify_profile_event(NotificationKind::Disable, iccid, &md);
        }
    }

    /// GetProfilesInfo (§5.7.15). A well-formed request whose searchCriteria or values are
    /// outside their constraints answers `incorrectInputValues`; a malformed TLV answers `6A80`.
    pub(super) fn get_profiles_info(&mut self, request: &[u8]) -> ApduResult {
        let req = match ProfileInfoListRequest::decode(request) {
            Ok(r) => r,
            Err(rsp::Error::UnknownChoice { .. } | rsp::Error::InvalidField { .. }) => {
                return Ok(ProfileInfoListResponse::Error(
                    ProfileInfoListError::INCORRECT_INPUT_VALUES,
                )
                .encode())
            }
            Err(_) => return Err(StatusWord::INCORRECT_DATA),
        };
        let wanted = match &req.tag_list {
            None => PROFILE_INFO_TAGS.to_vec(),
            Some(list) => parse_tag_list(list).ok_or(StatusWord::INCORRECT_DATA)?,
        };
        let list = self
            .state
            .profiles
            .iter()
            .filter(|p| match &req.search_criteria {
                None => true,
                Some(SearchCriteria::IsdpAid(a)) => p.isdp_aid == *a,
                Some(SearchCriteria::Iccid(i)) => p.iccid == i.0,
                Some(SearchCriteria::ProfileClass(c)) => profile_class(p) == *c,
            })
            .map(|p| select_fields(profile_info(p), &wanted))
            .collect();
        Ok(ProfileInfoListResponse::Ok(list).encode())
    }

    /// EnableProfile (§5.7.16): the currently enabled profile (if any) is disabled first.
    pub(super) fn enable_profile(&mut self, request: &[u8]) -> ApduResult {
        let req: EnableProfileRequest = decode(request)?;
        let result = |r| Ok(EnableProfileResponse { result: r }.encode());
        let Some(idx) = self.find(&req.profile_identifier) else {
            return result(EnableResult::ICCID_OR_AID_NOT_FOUND);
        };
        if self.state.profiles[idx].state != ProfileState::Disabled {
            return result(EnableResult::PROFILE_NOT_IN_DISABLED_STATE);
        }
        let current = self
            .state
            .profiles
            .iter()
            .position(|p| p.state == ProfileState::Enabled);
        if let Some(cur) = current {
            // PPR1: disabling the currently enabled profile is not allowed.
            if ppr_set(&self.state.profiles[cur], ppr::PPR1) {
                return result(EnableResult::DISALLOWED_BY_POLICY);
            }
            self.disable_at(cur);
        }
        let p = &mut self.state.profiles[idx];
        p.state = ProfileState::Enabled;
        let (iccid, md) = (p.iccid, p.metadata.clone());
        self.notify_profile_event(NotificationKind::Enable, iccid, &md);
        result(EnableResult::OK)
    }

    /// DisableProfile (§5.7.17).
    pub(super) fn disable_profile(&mut self, request: &[u8]) -> ApduResult {
        let req: DisableProfileRequest = decode(request)?;
        let result = |r| Ok(DisableProfileResponse { result: r }.encode());
        let Some(idx) = self.find(&req.profile_identifier) else {
            return result(DisableResult::ICCID_OR_AID_NOT_FOUND);
        };
        if self.state.profiles[idx].state != ProfileState::Enabled {
            return result(DisableResult::PROFILE_NOT_IN_ENABLED_STATE);
        }
        if ppr_set(&self.state.profiles[idx], ppr::PPR1) {
            return result(DisableResult::DISALLOWED_BY_POLICY);
        }
        self.disable_at(idx);
        result(DisableResult::OK)
    }

    /// DeleteProfile (§5.7.18): only a disabled profile without PPR2 can be deleted.
    pub(super) fn delete_profile(&mut self, request: &[u8]) -> ApduResult {
        let DeleteProfileRequest(id) = decode(request)?;
        let result = |r| Ok(DeleteProfileResponse { result: r }.encode());
        let Some(idx) = self.find(&id) else {
            return result(DeleteResult::ICCID_OR_AID_NOT_FOUND);
        };
        if self.state.profiles[idx].state != ProfileState::Disabled {
            return result(DeleteResult::PROFILE_NOT_IN_DISABLED_STATE);
        }
        if ppr_set(&self.state.profiles[idx], ppr::PPR2) {
            return result(DeleteResult::DISALLOWED_BY_POLICY);
        }
        let removed = self.state.profiles.remove(idx);
        self.notify_profile_event(NotificationKind::Delete, removed.iccid, &removed.metadata);
        result(DeleteResult::OK)
    }

    /// SetNickname (§5.7.21). An empty nickname removes it.
    pub(super) fn set_nickname(&mut self, request: &[u8]) -> ApduResult {
        let req: SetNicknameRequest = decode(request)?;
        let result = |r| Ok(SetNicknameResponse { result: r }.encode());
        let Some(idx) = self.find(&ProfileIdentifier::Iccid(req.iccid)) else {
            return result(SetNicknameResult::ICCID_NOT_FOUND);
        };
        // profileNickname UTF8String (SIZE(0..64)).
        if req.profile_nickname.chars().count() > 64 {
            return result(SetNicknameResult::UNDEFINED_ERROR);
        }
        let nick = req.profile_nickname;
        self.state.profiles[idx].nickname = if nick.is_empty() { None } else { Some(nick) };
        result(SetNicknameResult::OK)
    }

    /// eUICCMemoryReset (§5.7.19): resetResult ok(0) when something was deleted or reset,
    /// nothingToDelete(1) otherwise. No notifications are generated.
    pub(super) fn memory_reset(&mut self, request: &[u8]) -> ApduResult {
        let req: EuiccMemoryResetRequest = decode(request)?;
        let opts = &req.reset_options;
        let before = self.state.profiles.len();
        let del_operational = opts.is_set(reset_options::DELETE_OPERATIONAL_PROFILES);
        let del_test = opts.is_set(reset_options::DELETE_FIELD_LOADED_TEST_PROFILES);
        self.state.profiles.retain(|p| {
            let class = profile_class(p);
            !((del_operational && class == ProfileClass::OPERATIONAL)
                || (del_test && class == ProfileClass::TEST))
        });
        let mut changed = self.state.profiles.len() != before;
        if opts.is_set(reset_options::RESET_DEFAULT_SMDP_ADDRESS)
            && self.state.default_dp_address.is_some()
        {
            self.state.default_dp_address = None;
            changed = true;
        }
        let result = if changed {
            ResetResult::OK
        } else {
            ResetResult::NOTHING_TO_DELETE
        };
        Ok(EuiccMemoryResetResponse { result }.encode())
    }
}
