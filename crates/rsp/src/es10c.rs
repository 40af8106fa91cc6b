//! ES10c: LPA ↔ eUICC local profile management (SGP.22 §5.7.15–5.7.21).

use tlv::{Tag, Tlv, Writer};

use crate::es8p::{DpProprietaryData, NotificationConfigurationInformation, OperatorId};
use crate::{
    asn1_via_fields, named_int, one_field_sequence, tagged_choice, tags, BitString, Eid, Error,
    Fields, Iccid, IconType, Implicit, ProfileClass, ProfileState, Rd, Result, WriterExt,
};

/// A profile named by ISD-P AID ('4F') or ICCID ('5A').
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileIdentifier {
    IsdpAid(Vec<u8>),
    Iccid(Iccid),
}

impl ProfileIdentifier {
    fn write(&self, w: &mut Writer) {
        match self {
            Self::IsdpAid(a) => w.put(tags::AID, a),
            Self::Iccid(i) => w.put(tags::ICCID, &i.0),
        };
    }
    fn read(t: &Tlv<'_>, ty: &'static str) -> Result<Self> {
        match t.tag {
            tags::AID if (1..=16).contains(&t.value.len()) => Ok(Self::IsdpAid(t.value.to_vec())),
            tags::ICCID => Iccid::from_bytes(t.value)
                .map(Self::Iccid)
                .map_err(|_| Error::InvalidField { ty, field: "iccid" }),
            tags::AID => Err(Error::InvalidField {
                ty,
                field: "isdpAid",
            }),
            tag => Err(Error::UnknownChoice { ty, tag }),
        }
    }
}

/// `searchCriteria [0] CHOICE` of ProfileInfoListRequest ('A0' { '4F' | '5A' | '95' }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchCriteria {
    IsdpAid(Vec<u8>),
    Iccid(Iccid),
    ProfileClass(ProfileClass),
}

/// `ProfileInfoListRequest ::= [45] SEQUENCE`, 'BF2D' (ES10c.GetProfilesInfo, §5.7.15).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileInfoListRequest {
    pub search_criteria: Option<SearchCriteria>,
    /// '5C': the ProfileInfo tags wanted (e.g. `5A 4F 9F70 90 91 92 93 94 95 B6 B7 B8 99`, tags concatenated).
    pub tag_list: Option<Vec<u8>>,
}

/// Only carried in ProfileInfoListRequest: errors name the message.
impl Fields for SearchCriteria {
    const TAG: Tag = Tag(0xA0);
    const NAME: &'static str = "ProfileInfoListRequest";
    fn put_fields(&self, w: &mut Writer) {
        match self {
            Self::IsdpAid(a) => w.put(tags::AID, a),
            Self::Iccid(i) => w.implicit(tags::ICCID, i),
            Self::ProfileClass(p) => w.implicit(Tag(0x95), p),
        };
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let alt = Rd::alternative(tlv, Self::NAME)?;
        Ok(match alt.tag {
            Tag(0x95) => {
                Self::ProfileClass(Implicit::get_implicit(&alt, Self::NAME, "profileClass")?)
            }
            _ => match ProfileIdentifier::read(&alt, Self::NAME)? {
                ProfileIdentifier::IsdpAid(a) => Self::IsdpAid(a),
                ProfileIdentifier::Iccid(i) => Self::Iccid(i),
            },
        })
    }
}

impl Fields for ProfileInfoListRequest {
    const TAG: Tag = Tag(0xBF2D);
    const NAME: &'static str = "ProfileInfoListRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(SearchCriteria::TAG, self.search_criteria.as_ref())
            .put_opt(tags::TAG_LIST, self.tag_list.as_deref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let search_criteria = rd.opt_field(SearchCriteria::TAG)?;
        let tag_list = rd.opt_bytes(tags::TAG_LIST)?;
        rd.end()?;
        Ok(Self {
            search_criteria,
            tag_list,
        })
    }
}

/// `ProfileInfo ::= [PRIVATE 3] SEQUENCE`, 'E3'. Every field is optional (the tag list selects them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileInfo {
    /// '5A'
    pub iccid: Option<Iccid>,
    /// '4F'
    pub isdp_aid: Option<Vec<u8>>,
    /// '9F70'
    pub profile_state: Option<ProfileState>,
    /// '90'
    pub profile_nickname: Option<String>,
    /// '91'
    pub service_provider_name: Option<String>,
    /// '92'
    pub profile_name: Option<String>,
    /// '93'
    pub icon_type: Option<IconType>,
    /// '94'
    pub icon: Option<Vec<u8>>,
    /// '95' (DEFAULT operational when absent)
    pub profile_class: Option<ProfileClass>,
    /// 'B6'
    pub notification_configuration_info: Option<Vec<NotificationConfigurationInformation>>,
    /// 'B7'
    pub profile_owner: Option<OperatorId>,
    /// 'B8'
    pub dp_proprietary_data: Option<DpProprietaryData>,
    /// '99' PprIds
    pub profile_policy_rules: Option<BitString>,
}

impl Fields for ProfileInfo {
    const TAG: Tag = Tag(0xE3);
    const NAME: &'static str = "ProfileInfo";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(tags::ICCID, self.iccid.as_ref())
            .put_opt(tags::AID, self.isdp_aid.as_deref())
            .opt_implicit(Tag(0x9F70), self.profile_state.as_ref())
            .opt_implicit(Tag(0x90), self.profile_nickname.as_ref())
            .opt_implicit(Tag(0x91), self.service_provider_name.as_ref())
            .opt_implicit(Tag(0x92), self.profile_name.as_ref())
            .opt_implicit(Tag(0x93), self.icon_type.as_ref())
            .put_opt(Tag(0x94), self.icon.as_deref())
            .opt_implicit(Tag(0x95), self.profile_class.as_ref())
            .opt_implicit(Tag(0xB6), self.notification_configuration_info.as_ref())
            .opt_implicit(Tag(0xB7), self.profile_owner.as_ref())
            .opt_implicit(Tag(0xB8), self.dp_proprietary_data.as_ref())
            .opt_implicit(Tag(0x99), self.profile_policy_rules.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            iccid: rd.opt_iccid()?,
            isdp_aid: rd.opt_bytes(tags::AID)?,
            profile_state: rd.opt_implicit(Tag(0x9F70), "profileState")?,
            profile_nickname: rd.opt_utf8(Tag(0x90), "profileNickname")?,
            service_provider_name: rd.opt_utf8(Tag(0x91), "serviceProviderName")?,
            profile_name: rd.opt_utf8(Tag(0x92), "profileName")?,
            icon_type: rd.opt_implicit(Tag(0x93), "iconType")?,
            icon: rd.opt_bytes(Tag(0x94))?,
            profile_class: rd.opt_implicit(Tag(0x95), "profileClass")?,
            notification_configuration_info: rd
                .opt_implicit(Tag(0xB6), "notificationConfigurationInfo")?,
            profile_owner: rd.opt_field(Tag(0xB7))?,
            dp_proprietary_data: rd.opt_field(Tag(0xB8))?,
            profile_policy_rules: rd.opt_bits(Tag(0x99), "profilePolicyRules")?,
        };
        rd.end()?;
        Ok(v)
    }
}

named_int! {
    /// `ProfileInfoListError ::= INTEGER {incorrectInputValues(1), undefinedError(127)}`.
    ProfileInfoListError { INCORRECT_INPUT_VALUES = 1 => "incorrectInputValues", UNDEFINED_ERROR = 127 => "undefinedError" }
}

tagged_choice! {
    /// `ProfileInfoListResponse ::= [45] CHOICE`, 'BF2D' { 'A0' list of 'E3' | '81' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ProfileInfoListResponse = 0xBF2D {
        Ok(Vec<ProfileInfo>) = 0xA0 "profileInfoListOk",
        Error(ProfileInfoListError) = 0x81 "profileInfoListError",
    }
}

/// Declares Enable/Disable requests: `[n] SEQUENCE { profileIdentifier CHOICE ('A0'), refreshFlag ('81') }`.
macro_rules! profile_op_request {
    ($(#[$m:meta])* $name:ident, $tag:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub profile_identifier: ProfileIdentifier,
            /// Whether the eUICC shall issue a REFRESH proactive command.
            pub refresh_flag: bool,
        }
        impl Fields for $name {
            const TAG: Tag = Tag($tag);
            const NAME: &'static str = stringify!($name);
            fn put_fields(&self, w: &mut Writer) {
                w.nested(Tag(0xA0), |w| self.profile_identifier.write(w));
                w.boolean(Tag(0x81), self.refresh_flag);
            }
            fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
                let mut rd = Rd::new(tlv, Self::NAME);
                let alt = Rd::alternative(&rd.expect(Tag(0xA0))?, Self::NAME)?;
                let profile_identifier = ProfileIdentifier::read(&alt, Self::NAME)?;
                let refresh_flag = rd.boolean(Tag(0x81), "refreshFlag")?;
                rd.end()?;
                Ok(Self { profile_identifier, refresh_flag })
            }
        }
        asn1_via_fields!($name);
    };
}

profile_op_request!(
    /// `EnableProfileRequest ::= [49] SEQUENCE`, 'BF31' (§5.7.16).
    EnableProfileRequest,
    0xBF31
);
profile_op_request!(
    /// `DisableProfileRequest ::= [50] SEQUENCE`, 'BF32' (§5.7.17).
    DisableProfileRequest,
    0xBF32
);

named_int! {
    /// `enableResult INTEGER`.
    EnableResult {
        OK = 0 => "ok",
        ICCID_OR_AID_NOT_FOUND = 1 => "iccidOrAidNotFound",
        PROFILE_NOT_IN_DISABLED_STATE = 2 => "profileNotInDisabledState",
        DISALLOWED_BY_POLICY = 3 => "disallowedByPolicy",
        WRONG_PROFILE_REENABLING = 4 => "wrongProfileReenabling",
        /// catBusy(5): SGP.22 v2.2.2 §5.7.16 (not in the reference module text).
        CAT_BUSY = 5 => "catBusy",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}
named_int! {
    /// `disableResult INTEGER`.
    DisableResult {
        OK = 0 => "ok",
        ICCID_OR_AID_NOT_FOUND = 1 => "iccidOrAidNotFound",
        PROFILE_NOT_IN_ENABLED_STATE = 2 => "profileNotInEnabledState",
        DISALLOWED_BY_POLICY = 3 => "disallowedByPolicy",
        /// catBusy(5): SGP.22 v2.2.2 §5.7.17 (not in the reference module text).
        CAT_BUSY = 5 => "catBusy",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}
named_int! {
    /// `deleteResult INTEGER`.
    DeleteResult {
        OK = 0 => "ok",
        ICCID_OR_AID_NOT_FOUND = 1 => "iccidOrAidNotFound",
        PROFILE_NOT_IN_DISABLED_STATE = 2 => "profileNotInDisabledState",
        DISALLOWED_BY_POLICY = 3 => "disallowedByPolicy",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}
named_int! {
    /// `resetResult INTEGER {ok(0), nothingToDelete(1), undefinedError(127)}`.
    ResetResult { OK = 0 => "ok", NOTHING_TO_DELETE = 1 => "nothingToDelete", UNDEFINED_ERROR = 127 => "undefinedError" }
}
named_int! {
    /// `setNicknameResult INTEGER {ok(0), iccidNotFound(1), undefinedError(127)}`.
    SetNicknameResult { OK = 0 => "ok", ICCID_NOT_FOUND = 1 => "iccidNotFound", UNDEFINED_ERROR = 127 => "undefinedError" }
}

one_field_sequence! {
    /// `EnableProfileResponse ::= [49] SEQUENCE { enableResult }`, 'BF31' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EnableProfileResponse = 0xBF31 {
        pub result: EnableResult = 0x80 "enableResult"
    }
}
one_field_sequence! {
    /// `DisableProfileResponse ::= [50] SEQUENCE { disableResult }`, 'BF32' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DisableProfileResponse = 0xBF32 {
        pub result: DisableResult = 0x80 "disableResult"
    }
}
one_field_sequence! {
    /// `DeleteProfileResponse ::= [51] SEQUENCE { deleteResult }`, 'BF33' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DeleteProfileResponse = 0xBF33 {
        pub result: DeleteResult = 0x80 "deleteResult"
    }
}
one_field_sequence! {
    /// `EuiccMemoryResetResponse ::= [52] SEQUENCE { resetResult }`, 'BF34' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EuiccMemoryResetResponse = 0xBF34 {
        pub result: ResetResult = 0x80 "resetResult"
    }
}
one_field_sequence! {
    /// `SetNicknameResponse ::= [41] SEQUENCE { setNicknameResult }`, 'BF29' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SetNicknameResponse = 0xBF29 {
        pub result: SetNicknameResult = 0x80 "setNicknameResult"
    }
}

/// `DeleteProfileRequest ::= [51] CHOICE { isdpAid '4F', iccid '5A' }`, 'BF33' (§5.7.18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteProfileRequest(pub ProfileIdentifier);

impl Fields for DeleteProfileRequest {
    const TAG: Tag = Tag(0xBF33);
    const NAME: &'static str = "DeleteProfileRequest";
    fn put_fields(&self, w: &mut Writer) {
        self.0.write(w);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let alt = Rd::alternative(tlv, Self::NAME)?;
        ProfileIdentifier::read(&alt, Self::NAME).map(Self)
    }
}

/// `resetOptions` bits of EuiccMemoryResetRequest.
pub mod reset_options {
    pub const DELETE_OPERATIONAL_PROFILES: usize = 0;
    pub const DELETE_FIELD_LOADED_TEST_PROFILES: usize = 1;
    pub const RESET_DEFAULT_SMDP_ADDRESS: usize = 2;
}

one_field_sequence! {
    /// `EuiccMemoryResetRequest ::= [52] SEQUENCE { resetOptions [2] BIT STRING }`, 'BF34' { '82' } (§5.7.19).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EuiccMemoryResetRequest = 0xBF34 {
        /// See [`reset_options`].
        pub reset_options: BitString = 0x82 "resetOptions"
    }
}

/// `GetEuiccDataRequest ::= [62] SEQUENCE { tagList '5C' Octet1 }`, 'BF3E' (ES10c.GetEID, §5.7.20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetEuiccDataRequest {
    /// SHALL be `0x5A` (EID).
    pub tag_list: u8,
}

impl Default for GetEuiccDataRequest {
    fn default() -> Self {
        GetEuiccDataRequest { tag_list: 0x5A }
    }
}

impl Fields for GetEuiccDataRequest {
    const TAG: Tag = Tag(0xBF3E);
    const NAME: &'static str = "GetEuiccDataRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.put(tags::TAG_LIST, &[self.tag_list]);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let [tag_list] = rd.fixed::<1>(tags::TAG_LIST, "tagList")?;
        rd.end()?;
        Ok(Self { tag_list })
    }
}

one_field_sequence! {
    /// `GetEuiccDataResponse ::= [62] SEQUENCE { eidValue '5A' Octet16 }`, 'BF3E'.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetEuiccDataResponse = 0xBF3E {
        pub eid: Eid = 0x5A "eidValue"
    }
}

/// `SetNicknameRequest ::= [41] SEQUENCE { iccid '5A', profileNickname '90' }`, 'BF29' (§5.7.21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetNicknameRequest {
    pub iccid: Iccid,
    /// Up to 64 characters.
    pub profile_nickname: String,
}

impl Fields for SetNicknameRequest {
    const TAG: Tag = Tag(0xBF29);
    const NAME: &'static str = "SetNicknameRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.put(tags::ICCID, &self.iccid.0)
            .utf8(Tag(0x90), &self.profile_nickname);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let iccid = rd.iccid()?;
        let profile_nickname = rd.utf8(Tag(0x90), "profileNickname")?;
        rd.end()?;
        Ok(Self {
            iccid,
            profile_nickname,
        })
    }
}

asn1_via_fields!(
    ProfileInfoListRequest,
    ProfileInfoListResponse,
    ProfileInfo,
    DeleteProfileRequest,
    GetEuiccDataRequest,
    SetNicknameRequest
);
