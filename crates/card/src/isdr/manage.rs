//! ES10c: local profile management (SGP.22 §5.7.15–§5.7.21): GetProfilesInfo, EnableProfile,
//! DisableProfile, DeleteProfile, eUICCMemoryReset, SetNickname. The request/response shapes
//! follow rsp.asn (automatic tags where no component carries its own).

use apdu::StatusWord;
use tlv::{Reader, Tag, Tlv, Writer};

use super::info::int_response;
use super::Isdr;
use crate::state::{NotificationKind, Profile, ProfileState};
use crate::ApduResult;

/// ProfileInfo fields in rsp.asn order.
const PROFILE_INFO_TAGS: [u32; 13] = [
    0x5A, 0x4F, 0x9F70, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0xB6, 0xB7, 0xB8, 0x99,
];

/// `ProfileClass ::= INTEGER {test(0), provisioning(1), operational(2)}`; absent = operational.
const CLASS_TEST: i64 = 0;
const CLASS_OPERATIONAL: i64 = 2;

/// A profile named by ISD-P AID ('4F') or ICCID ('5A').
enum ProfileId {
    Aid(Vec<u8>),
    Iccid(Vec<u8>),
}

fn bad() -> StatusWord {
    StatusWord::INCORRECT_DATA
}

fn profile_id(t: &Tlv<'_>) -> Result<ProfileId, StatusWord> {
    match t.tag.0 {
        0x4F if (1..=16).contains(&t.value.len()) => Ok(ProfileId::Aid(t.value.to_vec())),
        0x5A if t.value.len() == 10 => Ok(ProfileId::Iccid(t.value.to_vec())),
        _ => Err(bad()),
    }
}

/// A metadata field (raw TLV) of a profile.
fn metadata_field(p: &Profile, tag: u32) -> Option<Vec<u8>> {
    let outer = Tlv::parse_single(&p.metadata).ok()?;
    tlv::iter(outer.value)
        .filter_map(Result::ok)
        .find(|t| t.tag.0 == tag)
        .map(|t| t.raw.to_vec())
}

fn profile_class(p: &Profile) -> i64 {
    metadata_field(p, 0x95)
        .and_then(|raw| {
            Tlv::parse_single(&raw)
                .ok()
                .and_then(|t| tlv::der::decode_int(t.value).ok())
        })
        .unwrap_or(CLASS_OPERATIONAL)
}

/// PPR bit set in the profile's profilePolicyRules (1: disabling not allowed, 2: deletion not allowed).
fn ppr(p: &Profile, bit: usize) -> bool {
    metadata_field(p, 0x99)
        .and_then(|raw| {
            Tlv::parse_single(&raw)
                .ok()
                .and_then(|t| rsp::BitString::decode(t.value).ok())
        })
        .is_some_and(|b| b.is_set(bit))
}

impl Isdr<'_> {
    fn find(&self, id: &ProfileId) -> Option<usize> {
        self.state.profiles.iter().position(|p| match id {
            ProfileId::Aid(a) => p.isdp_aid == *a,
            ProfileId::Iccid(i) => p.iccid[..] == i[..],
        })
    }

    /// `ProfileInfoListRequest` ('BF2D' { 'A0' { '4F' | '5A' | '95' }?, '5C' tagList? }) →
    /// 'BF2D' { 'A0' { 'E3' ... } } or 'BF2D' { '81' error }.
    pub(super) fn get_profiles_info(&mut self, request: &[u8]) -> ApduResult {
        let outer = Tlv::parse_single(request).map_err(|_| bad())?;
        let mut rd = Reader::new(outer.value);
        let criteria = rd.optional(Tag(0xA0)).map_err(|_| bad())?;
        let tag_list = rd.optional(Tag(0x5C)).map_err(|_| bad())?;
        rd.finish_lenient().map_err(|_| bad())?;

        let filter: Box<dyn Fn(&Profile) -> bool> = match criteria {
            None => Box::new(|_| true),
            Some(c) => {
                let t = Tlv::parse_single(c.value).map_err(|_| bad())?;
                match t.tag.0 {
                    0x4F => {
                        let aid = t.value.to_vec();
                        Box::new(move |p: &Profile| p.isdp_aid == aid)
                    }
                    0x5A => {
                        let iccid = t.value.to_vec();
                        Box::new(move |p: &Profile| p.iccid[..] == iccid[..])
                    }
                    0x95 => {
                        let class = tlv::der::decode_int(t.value).map_err(|_| bad())?;
                        Box::new(move |p: &Profile| profile_class(p) == class)
                    }
                    _ => return Ok(profile_info_error(1)),
                }
            }
        };
        let wanted: Vec<u32> = match tag_list {
            None => PROFILE_INFO_TAGS.to_vec(),
            Some(list) => parse_tag_list(list.value).ok_or_else(bad)?,
        };

        let mut w = Writer::new();
        w.nested(Tag(0xBF2D), |w| {
            w.nested(Tag(0xA0), |w| {
                for p in self.state.profiles.iter().filter(|p| filter(p)) {
                    w.nested(Tag(0xE3), |w| {
                        for &t in PROFILE_INFO_TAGS.iter().filter(|t| wanted.contains(t)) {
                            put_profile_field(w, p, t);
                        }
                    });
                }
            });
        });
        Ok(w.into_vec())
    }

    /// `EnableProfileRequest` ('BF31' { 'A0' { '4F' | '5A' }, '81' refreshFlag }) →
    /// enableResult: ok(0), iccidOrAidNotFound(1), profileNotInDisabledState(2),
    /// disallowedByPolicy(3).
    pub(super) fn enable_profile(&mut self, request: &[u8]) -> ApduResult {
        let id = read_identified(request)?;
        let Some(idx) = self.find(&id) else {
            return Ok(int_response(0xBF31, 1));
        };
        if self.state.profiles[idx].state != ProfileState::Disabled {
            return Ok(int_response(0xBF31, 2));
        }
        let current = self
            .state
            .profiles
            .iter()
            .position(|p| p.state == ProfileState::Enabled);
        if let Some(cur) = current {
            // PPR1: disabling the currently enabled profile is not allowed.
            if ppr(&self.state.profiles[cur], 1) {
                return Ok(int_response(0xBF31, 3));
            }
            self.state.profiles[cur].state = ProfileState::Disabled;
            let (iccid, md) = (
                self.state.profiles[cur].iccid,
                self.state.profiles[cur].metadata.clone(),
            );
            self.notify_profile_event(NotificationKind::Disable, iccid, &md);
        }
        self.state.profiles[idx].state = ProfileState::Enabled;
        let (iccid, md) = (
            self.state.profiles[idx].iccid,
            self.state.profiles[idx].metadata.clone(),
        );
        self.notify_profile_event(NotificationKind::Enable, iccid, &md);
        Ok(int_response(0xBF31, 0))
    }

    /// `DisableProfileRequest` ('BF32') → disableResult: ok(0), iccidOrAidNotFound(1),
    /// profileNotInEnabledState(2), disallowedByPolicy(3).
    pub(super) fn disable_profile(&mut self, request: &[u8]) -> ApduResult {
        let id = read_identified(request)?;
        let Some(idx) = self.find(&id) else {
            return Ok(int_response(0xBF32, 1));
        };
        if self.state.profiles[idx].state != ProfileState::Enabled {
            return Ok(int_response(0xBF32, 2));
        }
        if ppr(&self.state.profiles[idx], 1) {
            return Ok(int_response(0xBF32, 3));
        }
        self.state.profiles[idx].state = ProfileState::Disabled;
        let (iccid, md) = (
            self.state.profiles[idx].iccid,
            self.state.profiles[idx].metadata.clone(),
        );
        self.notify_profile_event(NotificationKind::Disable, iccid, &md);
        Ok(int_response(0xBF32, 0))
    }

    /// `DeleteProfileRequest ::= [51] CHOICE { isdpAid, iccid }` ('BF33' { '4F' | '5A' }) →
    /// deleteResult: ok(0), iccidOrAidNotFound(1), profileNotInDisabledState(2),
    /// disallowedByPolicy(3).
    pub(super) fn delete_profile(&mut self, request: &[u8]) -> ApduResult {
        let outer = Tlv::parse_single(request).map_err(|_| bad())?;
        let mut rd = Reader::new(outer.value);
        let first = rd.next().map_err(|_| bad())?.ok_or_else(bad)?;
        rd.finish_lenient().map_err(|_| bad())?;
        let id = profile_id(&first)?;
        let Some(idx) = self.find(&id) else {
            return Ok(int_response(0xBF33, 1));
        };
        if self.state.profiles[idx].state != ProfileState::Disabled {
            return Ok(int_response(0xBF33, 2));
        }
        if ppr(&self.state.profiles[idx], 2) {
            return Ok(int_response(0xBF33, 3));
        }
        let removed = self.state.profiles.remove(idx);
        self.notify_profile_event(NotificationKind::Delete, removed.iccid, &removed.metadata);
        Ok(int_response(0xBF33, 0))
    }

    /// `SetNicknameRequest` ('BF29' { '5A' iccid, '90' nickname }) → setNicknameResult: ok(0),
    /// iccidNotFound(1), undefinedError(127).
    pub(super) fn set_nickname(&mut self, request: &[u8]) -> ApduResult {
        let outer = Tlv::parse_single(request).map_err(|_| bad())?;
        let mut rd = Reader::new(outer.value);
        let iccid = rd.expect(Tag(0x5A)).map_err(|_| bad())?;
        let nick = rd.expect(Tag(0x90)).map_err(|_| bad())?;
        rd.finish_lenient().map_err(|_| bad())?;
        let Ok(nick) = String::from_utf8(nick.value.to_vec()) else {
            return Err(bad());
        };
        let Some(idx) = self.find(&ProfileId::Iccid(iccid.value.to_vec())) else {
            return Ok(int_response(0xBF29, 1));
        };
        // profileNickname UTF8String (SIZE(0..64)).
        if nick.chars().count() > 64 {
            return Ok(int_response(0xBF29, 127));
        }
        self.state.profiles[idx].nickname = if nick.is_empty() { None } else { Some(nick) };
        Ok(int_response(0xBF29, 0))
    }

    /// `EuiccMemoryResetRequest` ('BF34' { '82' resetOptions }) → resetResult: ok(0),
    /// nothingToDelete(1). Bits: deleteOperationalProfiles(0), deleteFieldLoadedTestProfiles(1),
    /// resetDefaultSmdpAddress(2). No notifications are generated.
    pub(super) fn memory_reset(&mut self, request: &[u8]) -> ApduResult {
        let outer = Tlv::parse_single(request).map_err(|_| bad())?;
        let mut rd = Reader::new(outer.value);
        let opts = rd.expect(Tag(0x82)).map_err(|_| bad())?;
        rd.finish_lenient().map_err(|_| bad())?;
        let opts = rsp::BitString::decode(opts.value).map_err(|_| bad())?;
        let before = self.state.profiles.len();
        let del_operational = opts.is_set(0);
        let del_test = opts.is_set(1);
        self.state.profiles.retain(|p| {
            let class = profile_class(p);
            !((del_operational && class == CLASS_OPERATIONAL) || (del_test && class == CLASS_TEST))
        });
        let mut changed = self.state.profiles.len() != before;
        if opts.is_set(2) && self.state.default_dp_address.is_some() {
            self.state.default_dp_address = None;
            changed = true;
        }
        Ok(int_response(0xBF34, if changed { 0 } else { 1 }))
    }
}

fn profile_info_error(code: i64) -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(0xBF2D), |w| {
        w.put(Tag(0x81), &tlv::der::encode_int(code));
    });
    w.into_vec()
}

/// Parses a tagList ('5C'): concatenated tags.
fn parse_tag_list(mut bytes: &[u8]) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (t, n) = Tag::parse(bytes).ok()?;
        out.push(t.0);
        bytes = bytes.get(n..)?;
    }
    Some(out)
}

/// Enable/Disable request: `profileIdentifier [0] CHOICE`, `refreshFlag [1] BOOLEAN`.
fn read_identified(request: &[u8]) -> Result<ProfileId, StatusWord> {
    let outer = Tlv::parse_single(request).map_err(|_| bad())?;
    let mut rd = Reader::new(outer.value);
    let choice = rd.expect(Tag(0xA0)).map_err(|_| bad())?;
    let refresh = rd.expect(Tag(0x81)).map_err(|_| bad())?;
    rd.finish_lenient().map_err(|_| bad())?;
    tlv::der::decode_bool(refresh.value).map_err(|_| bad())?;
    let id = Tlv::parse_single(choice.value).map_err(|_| bad())?;
    profile_id(&id)
}

fn put_profile_field(w: &mut Writer, p: &Profile, tag: u32) {
    match tag {
        0x5A => {
            w.put(Tag(0x5A), &p.iccid);
        }
        0x4F => {
            w.put(Tag(0x4F), &p.isdp_aid);
        }
        0x9F70 => {
            let v = match p.state {
                ProfileState::Disabled => 0,
                ProfileState::Enabled => 1,
            };
            w.put(Tag(0x9F70), &tlv::der::encode_int(v));
        }
        0x90 => {
            w.put_opt(Tag(0x90), p.nickname.as_deref().map(str::as_bytes));
        }
        0xB8 => {
            if let Some(d) = &p.dp_proprietary_data {
                w.raw(d);
            }
        }
        // profileClass DEFAULT operational: DER leaves the default out.
        0x95 if profile_class(p) == CLASS_OPERATIONAL => {}
        t => {
            if let Some(raw) = metadata_field(p, t) {
                w.raw(&raw);
            }
        }
    }
}
