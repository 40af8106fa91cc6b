//! ES10b: LPA ↔ eUICC functions of the download and notification paths (SGP.22 §5.7).
//!
//! Every request/response is a STORE DATA payload whose outer tag is given on the type
//! (e.g. `BF2E` for GetEuiccChallenge).

use tlv::{Tag, Tlv, Writer};

use crate::es8p::OperatorId;
use crate::notification::{
    NotificationEvent, NotificationEvents, NotificationMetadata, PendingNotification,
};
use crate::{
    asn1_via_fields, named_int, one_field_sequence, signed_as_der, tagged_choice, tags, BitString,
    Certificate, Ctx, Error, Fields, Implicit, Octet16, Octet32, Oid, Rd, Result, Signed,
    SubjectKeyIdentifier, TransactionId, Version, WriterExt,
};

/// Declares an empty request `[n] SEQUENCE {}`; unknown extension fields are skipped.
macro_rules! empty_request {
    ($(#[$m:meta])* $name:ident, $tag:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;
        impl Fields for $name {
            const TAG: Tag = Tag($tag);
            const NAME: &'static str = stringify!($name);
            fn put_fields(&self, _w: &mut Writer) {}
            fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
                Rd::new(tlv, Self::NAME).end()?;
                Ok($name)
            }
        }
        asn1_via_fields!($name);
    };
}
#[allow(unused_imports)]
pub(crate) use empty_request;

// ---------------------------------------------------------------------------------------------
// GetEuiccChallenge (SGP.22 §5.7.7)

empty_request!(
    /// `GetEuiccChallengeRequest ::= [46] SEQUENCE {}`, tag 'BF2E'.
    GetEuiccChallengeRequest,
    0xBF2E
);

one_field_sequence! {
    /// `GetEuiccChallengeResponse ::= [46] SEQUENCE { euiccChallenge Octet16 }`, 'BF2E' { '80' }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GetEuiccChallengeResponse = 0xBF2E {
        pub euicc_challenge: Octet16 = 0x80 "euiccChallenge"
    }
}

// ---------------------------------------------------------------------------------------------
// GetEUICCInfo (SGP.22 §5.7.8)

empty_request!(
    /// `GetEuiccInfo1Request ::= [32] SEQUENCE {}`, tag 'BF20'.
    GetEuiccInfo1Request,
    0xBF20
);
empty_request!(
    /// `GetEuiccInfo2Request ::= [34] SEQUENCE {}`, tag 'BF22'.
    GetEuiccInfo2Request,
    0xBF22
);

/// `EUICCInfo1 ::= [32] SEQUENCE`, tag 'BF20'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccInfo1 {
    /// `svn [2]`: the SGP.22 version supported.
    pub svn: Version,
    /// `euiccCiPKIdListForVerification [9]`.
    pub ci_pkid_list_for_verification: Vec<SubjectKeyIdentifier>,
    /// `euiccCiPKIdListForSigning [10]`.
    pub ci_pkid_list_for_signing: Vec<SubjectKeyIdentifier>,
}

impl Fields for EuiccInfo1 {
    const TAG: Tag = Tag(0xBF20);
    const NAME: &'static str = "EUICCInfo1";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x82), &self.svn.0);
        w.values(
            Tag(0xA9),
            Tag::OCTET_STRING,
            &self.ci_pkid_list_for_verification,
        )
        .values(Tag(0xAA), Tag::OCTET_STRING, &self.ci_pkid_list_for_signing);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let svn = rd.version(Tag(0x82), "svn")?;
        let ci_pkid_list_for_verification = rd.values(Tag(0xA9), Tag::OCTET_STRING)?;
        let ci_pkid_list_for_signing = rd.values(Tag(0xAA), Tag::OCTET_STRING)?;
        rd.end()?;
        Ok(Self {
            svn,
            ci_pkid_list_for_verification,
            ci_pkid_list_for_signing,
        })
    }
}

/// `UICCCapability` bit numbers (BIT STRING, tag '85' in EUICCInfo2).
pub mod uicc_capability {
    pub const CONTACTLESS_SUPPORT: usize = 0;
    pub const USIM_SUPPORT: usize = 1;
    pub const ISIM_SUPPORT: usize = 2;
    pub const CSIM_SUPPORT: usize = 3;
    pub const AKA_MILENAGE: usize = 4;
    pub const AKA_CAVE: usize = 5;
    pub const AKA_TUAK128: usize = 6;
    pub const AKA_TUAK256: usize = 7;
    pub const GBA_AUTHEN_USIM: usize = 10;
    pub const GBA_AUTHEN_ISIM: usize = 11;
    pub const MBMS_AUTHEN_USIM: usize = 12;
    pub const EAP_CLIENT: usize = 13;
    pub const JAVACARD: usize = 14;
    pub const MULTOS: usize = 15;
    pub const MULTIPLE_USIM_SUPPORT: usize = 16;
    pub const MULTIPLE_ISIM_SUPPORT: usize = 17;
    pub const MULTIPLE_CSIM_SUPPORT: usize = 18;
}

/// `RspCapability` bit numbers (BIT STRING, tag '88' in EUICCInfo2).
pub mod rsp_capability {
    pub const ADDITIONAL_PROFILE: usize = 0;
    pub const CRL_SUPPORT: usize = 1;
    pub const RPM_SUPPORT: usize = 2;
    pub const TEST_PROFILE_SUPPORT: usize = 3;
}

named_int! {
    /// `euiccCategory [11] INTEGER`.
    EuiccCategory { OTHER = 0 => "other", BASIC_EUICC = 1 => "basicEuicc", MEDIUM_EUICC = 2 => "mediumEuicc", CONTACTLESS_EUICC = 3 => "contactlessEuicc" }
}

/// `CertificationDataObject ::= SEQUENCE { platformLabel UTF8String, discoveryBaseURL UTF8String }`
/// (automatic tags '80', '81'; carried as `[12]` 'AC' in EUICCInfo2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificationDataObject {
    pub platform_label: String,
    pub discovery_base_url: String,
}

impl Fields for CertificationDataObject {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "CertificationDataObject";
    fn put_fields(&self, w: &mut Writer) {
        w.utf8(Tag(0x80), &self.platform_label)
            .utf8(Tag(0x81), &self.discovery_base_url);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let platform_label = rd.utf8(Tag(0x80), "platformLabel")?;
        let discovery_base_url = rd.utf8(Tag(0x81), "discoveryBaseURL")?;
        rd.end()?;
        Ok(Self {
            platform_label,
            discovery_base_url,
        })
    }
}

/// `EUICCInfo2 ::= [34] SEQUENCE`, tag 'BF22'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccInfo2 {
    /// `profileVersion [1]`: SIMalliance/TCA profile package version supported.
    pub profile_version: Version,
    /// `svn [2]`: SGP.22 version.
    pub svn: Version,
    /// `euiccFirmwareVer [3]`.
    pub euicc_firmware_ver: Version,
    /// `extCardResource [4]`: ETSI TS 102 226 extended card resource information (TLVs '81'/'82'/'83').
    pub ext_card_resource: Vec<u8>,
    /// `uiccCapability [5]`: see [`uicc_capability`].
    pub uicc_capability: BitString,
    /// `javacardVersion [6]` ('86'); SGP.22 names it ts102241Version in later versions.
    pub javacard_version: Option<Version>,
    /// `globalplatformVersion [7]`.
    pub globalplatform_version: Option<Version>,
    /// `rspCapability [8]`: see [`rsp_capability`].
    pub rsp_capability: BitString,
    /// `euiccCiPKIdListForVerification [9]`.
    pub ci_pkid_list_for_verification: Vec<SubjectKeyIdentifier>,
    /// `euiccCiPKIdListForSigning [10]`.
    pub ci_pkid_list_for_signing: Vec<SubjectKeyIdentifier>,
    /// `euiccCategory [11]`.
    pub euicc_category: Option<EuiccCategory>,
    /// `forbiddenProfilePolicyRules [25]` ('99'): PprIds.
    pub forbidden_profile_policy_rules: Option<BitString>,
    /// `ppVersion` (universal OCTET STRING '04'): Protection Profile version.
    pub pp_version: Version,
    /// `sasAcreditationNumber` (universal UTF8String '0C', up to 64 characters).
    pub sas_accreditation_number: String,
    /// `certificationDataObject [12]` ('AC').
    pub certification_data_object: Option<CertificationDataObject>,
}

impl Fields for EuiccInfo2 {
    const TAG: Tag = Tag(0xBF22);
    const NAME: &'static str = "EUICCInfo2";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x81), &self.profile_version.0)
            .put(Tag(0x82), &self.svn.0)
            .put(Tag(0x83), &self.euicc_firmware_ver.0)
            .put(Tag(0x84), &self.ext_card_resource)
            .bits(Tag(0x85), &self.uicc_capability)
            .opt_implicit(Tag(0x86), self.javacard_version.as_ref())
            .opt_implicit(Tag(0x87), self.globalplatform_version.as_ref())
            .bits(Tag(0x88), &self.rsp_capability)
            .values(
                Tag(0xA9),
                Tag::OCTET_STRING,
                &self.ci_pkid_list_for_verification,
            )
            .values(Tag(0xAA), Tag::OCTET_STRING, &self.ci_pkid_list_for_signing)
            .opt_implicit(Tag(0x8B), self.euicc_category.as_ref())
            .opt_implicit(Tag(0x99), self.forbidden_profile_policy_rules.as_ref())
            .put(Tag::OCTET_STRING, &self.pp_version.0)
            .utf8(Tag::UTF8_STRING, &self.sas_accreditation_number)
            .opt_implicit(Tag(0xAC), self.certification_data_object.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            profile_version: rd.version(Tag(0x81), "profileVersion")?,
            svn: rd.version(Tag(0x82), "svn")?,
            euicc_firmware_ver: rd.version(Tag(0x83), "euiccFirmwareVer")?,
            ext_card_resource: rd.bytes(Tag(0x84))?,
            uicc_capability: rd.bits(Tag(0x85), "uiccCapability")?,
            javacard_version: rd.opt_version(Tag(0x86), "javacardVersion")?,
            globalplatform_version: rd.opt_version(Tag(0x87), "globalplatformVersion")?,
            rsp_capability: rd.bits(Tag(0x88), "rspCapability")?,
            ci_pkid_list_for_verification: rd.values(Tag(0xA9), Tag::OCTET_STRING)?,
            ci_pkid_list_for_signing: rd.values(Tag(0xAA), Tag::OCTET_STRING)?,
            euicc_category: rd.opt_implicit(Tag(0x8B), "euiccCategory")?,
            forbidden_profile_policy_rules: rd
                .opt_bits(Tag(0x99), "forbiddenProfilePolicyRules")?,
            pp_version: rd.version(Tag::OCTET_STRING, "ppVersion")?,
            sas_accreditation_number: rd.utf8(Tag::UTF8_STRING, "sasAcreditationNumber")?,
            certification_data_object: rd.opt_field(Tag(0xAC))?,
        };
        rd.end()?;
        Ok(v)
    }
}

asn1_via_fields!(EuiccInfo1, EuiccInfo2);

// ---------------------------------------------------------------------------------------------
// AuthenticateServer (SGP.22 §5.7.13)

/// `DeviceCapabilities`: the highest fully supported release per technology (automatic tags
/// '80'..'88').
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCapabilities {
    pub gsm_supported_release: Option<Version>,
    pub utran_supported_release: Option<Version>,
    pub cdma2000onex_supported_release: Option<Version>,
    pub cdma2000hrpd_supported_release: Option<Version>,
    pub cdma2000ehrpd_supported_release: Option<Version>,
    pub eutran_supported_release: Option<Version>,
    pub contactless_supported_release: Option<Version>,
    pub rsp_crl_supported_version: Option<Version>,
    pub rsp_rpm_supported_version: Option<Version>,
}

impl DeviceCapabilities {
    fn fields(&self) -> [&Option<Version>; 9] {
        [
            &self.gsm_supported_release,
            &self.utran_supported_release,
            &self.cdma2000onex_supported_release,
            &self.cdma2000hrpd_supported_release,
            &self.cdma2000ehrpd_supported_release,
            &self.eutran_supported_release,
            &self.contactless_supported_release,
            &self.rsp_crl_supported_version,
            &self.rsp_rpm_supported_version,
        ]
    }
}

impl Fields for DeviceCapabilities {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "DeviceCapabilities";
    fn put_fields(&self, w: &mut Writer) {
        for (i, f) in self.fields().iter().enumerate() {
            w.put_opt(Tag::context(i as u32), f.as_ref().map(|v| &v.0[..]));
        }
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let mut v = [None; 9];
        for (i, slot) in v.iter_mut().enumerate() {
            *slot = rd.opt_version(Tag::context(i as u32), "release version")?;
        }
        rd.end()?; // v3 adds nrEpcSupportedRelease [9] and more
        let [a, b, c, d, e, f, g, h, i] = v;
        Ok(Self {
            gsm_supported_release: a,
            utran_supported_release: b,
            cdma2000onex_supported_release: c,
            cdma2000hrpd_supported_release: d,
            cdma2000ehrpd_supported_release: e,
            eutran_supported_release: f,
            contactless_supported_release: g,
            rsp_crl_supported_version: h,
            rsp_rpm_supported_version: i,
        })
    }
}

/// `DeviceInfo ::= SEQUENCE { tac, deviceCapabilities, imei OPTIONAL }` (tags '80', 'A1', '82').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Type Allocation Code. SGP.22 v2.2.2 §5.7.13 defines `tac Octet4` (8 BCD digits); the
    /// reference module text says `Octet8`. Any length is carried; devices send 4 bytes.
    pub tac: Vec<u8>,
    pub device_capabilities: DeviceCapabilities,
    /// IMEI, 8 bytes BCD, optional.
    pub imei: Option<Vec<u8>>,
}

impl Fields for DeviceInfo {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "DeviceInfo";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), &self.tac);
        self.device_capabilities.write_as(Tag(0xA1), w);
        w.put_opt(Tag(0x82), self.imei.as_deref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let tac = rd.bytes(Tag(0x80))?;
        let device_capabilities = rd.field(Tag(0xA1))?;
        let imei = rd.opt_bytes(Tag(0x82))?;
        rd.end()?;
        Ok(Self {
            tac,
            device_capabilities,
            imei,
        })
    }
}

/// `CtxParamsForCommonAuthentication ::= SEQUENCE { matchingId UTF8String OPTIONAL, deviceInfo }`
/// (tags '80', 'A1').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtxParamsForCommonAuthentication {
    /// The activation code token, an event ID, or absent (default SM-DP+ / SM-DS use).
    pub matching_id: Option<String>,
    pub device_info: DeviceInfo,
}

impl Fields for CtxParamsForCommonAuthentication {
    const TAG: Tag = Tag(0xA0);
    const NAME: &'static str = "CtxParamsForCommonAuthentication";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(Tag(0x80), self.matching_id.as_ref())
            .implicit(Tag(0xA1), &self.device_info);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let matching_id = rd.opt_utf8(Tag(0x80), "matchingId")?;
        let device_info = rd.field(Tag(0xA1))?;
        rd.end()?;
        Ok(Self {
            matching_id,
            device_info,
        })
    }
}

/// `CtxParams1 ::= CHOICE { ctxParamsForCommonAuthentication [0] }` (tag 'A0').
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtxParams1 {
    CommonAuthentication(CtxParamsForCommonAuthentication),
}

impl CtxParams1 {
    pub(crate) fn write(&self, w: &mut Writer) {
        match self {
            CtxParams1::CommonAuthentication(c) => c.write(w),
        }
    }
    pub(crate) fn read(rd: &mut Rd<'_>) -> Result<Self> {
        let t = rd.next()?.ok_or(Error::Tlv {
            ty: "CtxParams1",
            source: tlv::Error::MissingTag(Tag(0xA0)),
        })?;
        match t.tag {
            Tag(0xA0) => CtxParamsForCommonAuthentication::get_fields(&t)
                .map(CtxParams1::CommonAuthentication),
            tag => Err(Error::UnknownChoice {
                ty: "CtxParams1",
                tag,
            }),
        }
    }
    /// The common-authentication parameters (the only alternative in v2.2.2).
    pub fn common(&self) -> &CtxParamsForCommonAuthentication {
        match self {
            CtxParams1::CommonAuthentication(c) => c,
        }
    }
}

/// `ServerSigned1 ::= SEQUENCE` ('30' { '80' transactionId, '81' euiccChallenge, '83' serverAddress,
/// '84' serverChallenge }). Signed by the SM-DP+ (serverSignature1 covers the whole TLV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSigned1 {
    pub transaction_id: TransactionId,
    pub euicc_challenge: Octet16,
    pub server_address: String,
    pub server_challenge: Octet16,
}

impl Fields for ServerSigned1 {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "ServerSigned1";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .put(Tag(0x81), &self.euicc_challenge)
            .utf8(Tag(0x83), &self.server_address)
            .put(Tag(0x84), &self.server_challenge);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            euicc_challenge: rd.fixed(Tag(0x81), "euiccChallenge")?,
            server_address: rd.utf8(Tag(0x83), "serverAddress")?,
            server_challenge: rd.fixed(Tag(0x84), "serverChallenge")?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `AuthenticateServerRequest ::= [56] SEQUENCE`, tag 'BF38'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateServerRequest {
    pub server_signed1: Signed<ServerSigned1>,
    /// `serverSignature1` '5F37': SM-DP+ signature over `server_signed1.raw()`.
    pub server_signature1: Vec<u8>,
    /// `euiccCiPKIdToBeUsed` ('04'): the CI key identifier the eUICC shall use.
    pub euicc_ci_pkid_to_be_used: SubjectKeyIdentifier,
    /// CERT.DPauth.ECDSA (DER).
    pub server_certificate: Certificate,
    pub ctx_params1: CtxParams1,
}

impl Fields for AuthenticateServerRequest {
    const TAG: Tag = Tag(0xBF38);
    const NAME: &'static str = "AuthenticateServerRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.server_signed1.raw())
            .put(tags::SIGNATURE, &self.server_signature1)
            .put(Tag::OCTET_STRING, &self.euicc_ci_pkid_to_be_used)
            .raw(&self.server_certificate);
        self.ctx_params1.write(w);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let server_signed1 = Signed::read(&rd.expect(Tag::SEQUENCE)?)?;
        let server_signature1 = rd.bytes(tags::SIGNATURE)?;
        let euicc_ci_pkid_to_be_used = rd.bytes(Tag::OCTET_STRING)?;
        let server_certificate = rd.certificate()?;
        let ctx_params1 = CtxParams1::read(&mut rd)?;
        rd.end()?;
        Ok(Self {
            server_signed1,
            server_signature1,
            euicc_ci_pkid_to_be_used,
            server_certificate,
            ctx_params1,
        })
    }
}

/// `EuiccSigned1 ::= SEQUENCE` ('30' { '80', '83', '84', 'BF22', 'A0' }). Signed by the eUICC
/// (euiccSignature1 covers the whole TLV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccSigned1 {
    pub transaction_id: TransactionId,
    pub server_address: String,
    pub server_challenge: Octet16,
    pub euicc_info2: EuiccInfo2,
    pub ctx_params1: CtxParams1,
}

impl Fields for EuiccSigned1 {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "EuiccSigned1";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .utf8(Tag(0x83), &self.server_address)
            .put(Tag(0x84), &self.server_challenge);
        self.euicc_info2.write(w);
        self.ctx_params1.write(w);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            server_address: rd.utf8(Tag(0x83), "serverAddress")?,
            server_challenge: rd.fixed(Tag(0x84), "serverChallenge")?,
            euicc_info2: rd.field(Tag(0xBF22))?,
            ctx_params1: CtxParams1::read(&mut rd)?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `AuthenticateResponseOk ::= SEQUENCE` (alternative 'A0' of AuthenticateServerResponse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateResponseOk {
    pub euicc_signed1: Signed<EuiccSigned1>,
    /// `euiccSignature1` '5F37': eUICC signature over `euicc_signed1.raw()`.
    pub euicc_signature1: Vec<u8>,
    /// CERT.EUICC.ECDSA (DER).
    pub euicc_certificate: Certificate,
    /// CERT.EUM.ECDSA (DER).
    pub eum_certificate: Certificate,
}

named_int! {
    /// `AuthenticateErrorCode ::= INTEGER`.
    AuthenticateErrorCode {
        INVALID_CERTIFICATE = 1 => "invalidCertificate",
        INVALID_SIGNATURE = 2 => "invalidSignature",
        UNSUPPORTED_CURVE = 3 => "unsupportedCurve",
        NO_SESSION_CONTEXT = 4 => "noSessionContext",
        INVALID_OID = 5 => "invalidOid",
        EUICC_CHALLENGE_MISMATCH = 6 => "euiccChallengeMismatch",
        CI_PK_UNKNOWN = 7 => "ciPKUnknown",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}

/// `AuthenticateResponseError ::= SEQUENCE { transactionId [0], authenticateErrorCode }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateResponseError {
    pub transaction_id: TransactionId,
    pub authenticate_error_code: AuthenticateErrorCode,
}

tagged_choice! {
    /// `AuthenticateServerResponse ::= [56] CHOICE`, tag 'BF38' { 'A0' ok | 'A1' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[allow(clippy::large_enum_variant)]
    pub enum AuthenticateServerResponse = 0xBF38 {
        Ok(AuthenticateResponseOk) = 0xA0 "authenticateResponseOk",
        Error(AuthenticateResponseError) = 0xA1 "authenticateResponseError",
    }
}

impl Fields for AuthenticateResponseOk {
    const TAG: Tag = Tag::SEQUENCE;
    // Only carried in AuthenticateServerResponse: errors name the message.
    const NAME: &'static str = "AuthenticateServerResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.euicc_signed1.raw())
            .put(tags::SIGNATURE, &self.euicc_signature1)
            .raw(&self.euicc_certificate)
            .raw(&self.eum_certificate);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            euicc_signed1: Signed::read(&rd.expect(Tag::SEQUENCE)?)?,
            euicc_signature1: rd.bytes(tags::SIGNATURE)?,
            euicc_certificate: rd.certificate()?,
            eum_certificate: rd.certificate()?,
        };
        rd.end()?;
        Ok(v)
    }
}

impl Fields for AuthenticateResponseError {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "AuthenticateServerResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .int(Tag::INTEGER, self.authenticate_error_code.0);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            authenticate_error_code: rd.implicit(Tag::INTEGER, "authenticateErrorCode")?,
        };
        rd.end()?;
        Ok(v)
    }
}

asn1_via_fields!(AuthenticateServerRequest, AuthenticateServerResponse);

// ---------------------------------------------------------------------------------------------
// PrepareDownload (SGP.22 §5.7.5)

/// `SmdpSigned2 ::= SEQUENCE` ('30' { '80' transactionId, '01' ccRequiredFlag, '5F49' bppEuiccOtpk? }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmdpSigned2 {
    pub transaction_id: TransactionId,
    /// Whether the Confirmation Code is required.
    pub cc_required_flag: bool,
    /// otPK.EUICC.ECKA already used to bind a BPP (retry case), uncompressed point.
    pub bpp_euicc_otpk: Option<Vec<u8>>,
}

impl Fields for SmdpSigned2 {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "SmdpSigned2";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .boolean(Tag::BOOLEAN, self.cc_required_flag)
            .put_opt(tags::OTPK, self.bpp_euicc_otpk.as_deref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            cc_required_flag: rd.boolean(Tag::BOOLEAN, "ccRequiredFlag")?,
            bpp_euicc_otpk: rd.opt_bytes(tags::OTPK)?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `PrepareDownloadRequest ::= [33] SEQUENCE`, tag 'BF21'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareDownloadRequest {
    pub smdp_signed2: Signed<SmdpSigned2>,
    /// `smdpSignature2` '5F37': SM-DP+ signature over `smdp_signed2.raw() || '5F37' euiccSignature1`
    /// (SGP.22 §5.6.2 / §5.7.5: the eUICC's signature TLV from AuthenticateServer is appended).
    pub smdp_signature2: Vec<u8>,
    /// `hashCc` ('04'): SHA-256(SHA-256(confirmation code) || transactionId), when cc is required.
    pub hash_cc: Option<Octet32>,
    /// CERT.DPpb.ECDSA (DER).
    pub smdp_certificate: Certificate,
}

impl Fields for PrepareDownloadRequest {
    const TAG: Tag = Tag(0xBF21);
    const NAME: &'static str = "PrepareDownloadRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.smdp_signed2.raw())
            .put(tags::SIGNATURE, &self.smdp_signature2)
            .put_opt(Tag::OCTET_STRING, self.hash_cc.as_ref().map(|h| &h[..]))
            .raw(&self.smdp_certificate);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            smdp_signed2: Signed::read(&rd.expect(Tag::SEQUENCE)?)?,
            smdp_signature2: rd.bytes(tags::SIGNATURE)?,
            hash_cc: rd.opt_fixed(Tag::OCTET_STRING, "hashCc")?,
            smdp_certificate: rd.certificate()?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `EUICCSigned2 ::= SEQUENCE` ('30' { '80' transactionId, '5F49' euiccOtpk, '04' hashCc? }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccSigned2 {
    pub transaction_id: TransactionId,
    /// otPK.EUICC.ECKA, uncompressed point ('04' || X || Y).
    pub euicc_otpk: Vec<u8>,
    pub hash_cc: Option<Octet32>,
}

impl Fields for EuiccSigned2 {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "EUICCSigned2";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .put(tags::OTPK, &self.euicc_otpk)
            .put_opt(Tag::OCTET_STRING, self.hash_cc.as_ref().map(|h| &h[..]));
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            euicc_otpk: rd.bytes(tags::OTPK)?,
            hash_cc: rd.opt_fixed(Tag::OCTET_STRING, "hashCc")?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `PrepareDownloadResponseOk ::= SEQUENCE { euiccSigned2, euiccSignature2 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareDownloadResponseOk {
    pub euicc_signed2: Signed<EuiccSigned2>,
    /// `euiccSignature2` '5F37': eUICC signature over `euicc_signed2.raw() || '5F37' smdpSignature2`.
    pub euicc_signature2: Vec<u8>,
}

named_int! {
    /// `DownloadErrorCode ::= INTEGER`.
    DownloadErrorCode {
        INVALID_CERTIFICATE = 1 => "invalidCertificate",
        INVALID_SIGNATURE = 2 => "invalidSignature",
        UNSUPPORTED_CURVE = 3 => "unsupportedCurve",
        NO_SESSION_CONTEXT = 4 => "noSessionContext",
        INVALID_TRANSACTION_ID = 5 => "invalidTransactionId",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}

/// `PrepareDownloadResponseError ::= SEQUENCE { transactionId [0], downloadErrorCode }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareDownloadResponseError {
    pub transaction_id: TransactionId,
    pub download_error_code: DownloadErrorCode,
}

tagged_choice! {
    /// `PrepareDownloadResponse ::= [33] CHOICE`, tag 'BF21' { 'A0' ok | 'A1' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum PrepareDownloadResponse = 0xBF21 {
        Ok(PrepareDownloadResponseOk) = 0xA0 "downloadResponseOk",
        Error(PrepareDownloadResponseError) = 0xA1 "downloadResponseError",
    }
}

impl Fields for PrepareDownloadResponseOk {
    const TAG: Tag = Tag::SEQUENCE;
    // Only carried in PrepareDownloadResponse: errors name the message.
    const NAME: &'static str = "PrepareDownloadResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.euicc_signed2.raw())
            .put(tags::SIGNATURE, &self.euicc_signature2);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            euicc_signed2: Signed::read(&rd.expect(Tag::SEQUENCE)?)?,
            euicc_signature2: rd.bytes(tags::SIGNATURE)?,
        };
        rd.end()?;
        Ok(v)
    }
}

impl Fields for PrepareDownloadResponseError {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "PrepareDownloadResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .int(Tag::INTEGER, self.download_error_code.0);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            download_error_code: rd.implicit(Tag::INTEGER, "downloadErrorCode")?,
        };
        rd.end()?;
        Ok(v)
    }
}

asn1_via_fields!(PrepareDownloadRequest, PrepareDownloadResponse);

// ---------------------------------------------------------------------------------------------
// CancelSession (SGP.22 §5.7.14)

/// `CancelSessionRequest ::= [65] SEQUENCE`, 'BF41' { '80' transactionId, '81' reason }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelSessionRequest {
    pub transaction_id: TransactionId,
    pub reason: crate::CancelSessionReason,
}

impl Fields for CancelSessionRequest {
    const TAG: Tag = Tag(0xBF41);
    const NAME: &'static str = "CancelSessionRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .int(Tag(0x81), self.reason.0);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            reason: crate::CancelSessionReason(rd.int(Tag(0x81), "reason")?),
        };
        rd.end()?;
        Ok(v)
    }
}

/// `EuiccCancelSessionSigned ::= SEQUENCE` ('30' { '80' transactionId, '81' smdpOid, '82' reason }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccCancelSessionSigned {
    pub transaction_id: TransactionId,
    /// SM-DP+ OID as in CERT.DPauth.ECDSA.
    pub smdp_oid: Oid,
    pub reason: crate::CancelSessionReason,
}

impl Fields for EuiccCancelSessionSigned {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "EuiccCancelSessionSigned";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes())
            .put(Tag(0x81), self.smdp_oid.contents())
            .int(Tag(0x82), self.reason.0);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            transaction_id: rd.txid(Tag(0x80))?,
            smdp_oid: rd.oid(Tag(0x81), "smdpOid")?,
            reason: crate::CancelSessionReason(rd.int(Tag(0x82), "reason")?),
        };
        rd.end()?;
        Ok(v)
    }
}

named_int! {
    /// `cancelSessionResponseError INTEGER {invalidTransactionId(5), undefinedError(127)}`.
    CancelSessionError { INVALID_TRANSACTION_ID = 5 => "invalidTransactionId", UNDEFINED_ERROR = 127 => "undefinedError" }
}

/// `CancelSessionResponseOk ::= SEQUENCE { euiccCancelSessionSigned, euiccCancelSessionSignature }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelSessionResponseOk {
    pub euicc_cancel_session_signed: Signed<EuiccCancelSessionSigned>,
    /// '5F37': eUICC signature over `euicc_cancel_session_signed.raw()`.
    pub euicc_cancel_session_signature: Vec<u8>,
}

tagged_choice! {
    /// `CancelSessionResponse ::= [65] CHOICE`, 'BF41' { 'A0' ok | '81' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum CancelSessionResponse = 0xBF41 {
        Ok(CancelSessionResponseOk) = 0xA0 "cancelSessionResponseOk",
        Error(CancelSessionError) = 0x81 "cancelSessionResponseError",
    }
}

impl Fields for CancelSessionResponseOk {
    const TAG: Tag = Tag::SEQUENCE;
    // Only carried in CancelSessionResponse: errors name the message.
    const NAME: &'static str = "CancelSessionResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.euicc_cancel_session_signed.raw())
            .put(tags::SIGNATURE, &self.euicc_cancel_session_signature);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            euicc_cancel_session_signed: Signed::read(&rd.expect(Tag::SEQUENCE)?)?,
            euicc_cancel_session_signature: rd.bytes(tags::SIGNATURE)?,
        };
        rd.end()?;
        Ok(v)
    }
}

asn1_via_fields!(CancelSessionRequest, CancelSessionResponse);

// ---------------------------------------------------------------------------------------------
// ListNotification (SGP.22 §5.7.9), RetrieveNotificationsList (§5.7.10), RemoveNotificationFromList (§5.7.11)

/// `ListNotificationRequest ::= [40] SEQUENCE { profileManagementOperation [1] NotificationEvent OPTIONAL }`,
/// tag 'BF28'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListNotificationRequest {
    pub profile_management_operation: Option<NotificationEvents>,
}

impl Fields for ListNotificationRequest {
    const TAG: Tag = Tag(0xBF28);
    const NAME: &'static str = "ListNotificationRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(Tag(0x81), self.profile_management_operation.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let profile_management_operation =
            rd.opt_implicit(Tag(0x81), "profileManagementOperation")?;
        rd.end()?;
        Ok(Self {
            profile_management_operation,
        })
    }
}

tagged_choice! {
    /// `ListNotificationResponse ::= [40] CHOICE`, 'BF28' { 'A0' list of 'BF2F' | '81' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ListNotificationResponse = 0xBF28 {
        List(Vec<NotificationMetadata>) = 0xA0 "notificationMetadataList",
        /// `listNotificationsResultError INTEGER {undefinedError(127)}`.
        Error(i64) = 0x81 "listNotificationsResultError",
    }
}

tagged_choice! {
    /// `searchCriteria` of RetrieveNotificationsListRequest (explicit `[0]` 'A0' around the CHOICE).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum RetrieveSearchCriteria = 0xA0 in "RetrieveNotificationsListRequest" {
        /// `seqNumber [0] INTEGER` ('80').
        SeqNumber(i64) = 0x80 "seqNumber",
        /// `profileManagementOperation [1] NotificationEvent` ('81').
        ProfileManagementOperation(NotificationEvents) = 0x81 "profileManagementOperation",
    }
}

/// `RetrieveNotificationsListRequest ::= [43] SEQUENCE { searchCriteria CHOICE OPTIONAL }`, 'BF2B'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetrieveNotificationsListRequest {
    pub search_criteria: Option<RetrieveSearchCriteria>,
}

impl Fields for RetrieveNotificationsListRequest {
    const TAG: Tag = Tag(0xBF2B);
    const NAME: &'static str = "RetrieveNotificationsListRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(RetrieveSearchCriteria::TAG, self.search_criteria.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let search_criteria = rd.opt_field(RetrieveSearchCriteria::TAG)?;
        rd.end()?;
        Ok(Self { search_criteria })
    }
}

named_int! {
    /// `notificationsListResultError INTEGER {noResultAvailable(1), undefinedError(127)}`.
    NotificationsListResultError { NO_RESULT_AVAILABLE = 1 => "noResultAvailable", UNDEFINED_ERROR = 127 => "undefinedError" }
}

tagged_choice! {
    /// `RetrieveNotificationsListResponse ::= [43] CHOICE`, 'BF2B' { 'A0' list | '81' error }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum RetrieveNotificationsListResponse = 0xBF2B {
        List(Vec<PendingNotification>) = 0xA0 "notificationList",
        Error(NotificationsListResultError) = 0x81 "notificationsListResultError",
    }
}

one_field_sequence! {
    /// `NotificationSentRequest ::= [48] SEQUENCE { seqNumber [0] INTEGER }`, 'BF30'
    /// (ES10b.RemoveNotificationFromList).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NotificationSentRequest = 0xBF30 {
        pub seq_number: i64 = 0x80 "seqNumber"
    }
}

named_int! {
    /// `deleteNotificationStatus INTEGER {ok(0), nothingToDelete(1), undefinedError(127)}`.
    DeleteNotificationStatus { OK = 0 => "ok", NOTHING_TO_DELETE = 1 => "nothingToDelete", UNDEFINED_ERROR = 127 => "undefinedError" }
}

one_field_sequence! {
    /// `NotificationSentResponse ::= [48] SEQUENCE { deleteNotificationStatus }`, 'BF30' { '80' }.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NotificationSentResponse = 0xBF30 {
        pub delete_notification_status: DeleteNotificationStatus = 0x80 "deleteNotificationStatus"
    }
}

asn1_via_fields!(
    ListNotificationRequest,
    ListNotificationResponse,
    RetrieveNotificationsListRequest,
    RetrieveNotificationsListResponse,
);

// ---------------------------------------------------------------------------------------------
// GetRAT (SGP.22 §5.7.4), LoadCRL (§5.7.6)

empty_request!(
    /// `GetRatRequest ::= [67] SEQUENCE {}`, tag 'BF43'.
    GetRatRequest,
    0xBF43
);

/// `pprFlags` bit: consentRequired(0).
pub const PPR_FLAG_CONSENT_REQUIRED: usize = 0;

/// `ProfilePolicyAuthorisationRule ::= SEQUENCE { pprIds, allowedOperators, pprFlags }`
/// ('30' { '80', 'A1' { OperatorId... }, '82' }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePolicyAuthorisationRule {
    /// PprIds (see [`crate::ppr`]).
    pub ppr_ids: BitString,
    pub allowed_operators: Vec<OperatorId>,
    /// See [`PPR_FLAG_CONSENT_REQUIRED`].
    pub ppr_flags: BitString,
}

impl Fields for ProfilePolicyAuthorisationRule {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "ProfilePolicyAuthorisationRule";
    fn put_fields(&self, w: &mut Writer) {
        w.bits(Tag(0x80), &self.ppr_ids);
        w.seq_of(Tag(0xA1), &self.allowed_operators, |o, w| o.write(w));
        w.bits(Tag(0x82), &self.ppr_flags);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let ppr_ids = rd.bits(Tag(0x80), "pprIds")?;
        let allowed_operators = rd.seq_of(Tag(0xA1), OperatorId::read)?;
        let ppr_flags = rd.bits(Tag(0x82), "pprFlags")?;
        rd.end()?;
        Ok(Self {
            ppr_ids,
            allowed_operators,
            ppr_flags,
        })
    }
}

one_field_sequence! {
    /// `GetRatResponse ::= [67] SEQUENCE { rat RulesAuthorisationTable }`, 'BF43' { 'A0' { '30'... } }.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct GetRatResponse = 0xBF43 {
        pub rat: Vec<ProfilePolicyAuthorisationRule> = 0xA0 "rat"
    }
}

/// `LoadCRLRequest ::= [53] SEQUENCE { crl CertificateList }`, 'BF35' { 'A0' (implicit) }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadCrlRequest {
    /// The CRL as a normal DER `CertificateList` ('30' ...); it travels re-tagged as 'A0'.
    pub crl: Vec<u8>,
}

impl Fields for LoadCrlRequest {
    const TAG: Tag = Tag(0xBF35);
    const NAME: &'static str = "LoadCRLRequest";
    fn put_fields(&self, w: &mut Writer) {
        match Tlv::parse_single(&self.crl) {
            Ok(t) => {
                w.put(Tag(0xA0), t.value);
            }
            // Not a single TLV: carry the bytes as the contents (the eUICC will reject them).
            Err(_) => {
                w.put(Tag(0xA0), &self.crl);
            }
        }
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let crl = tlv::encode_tlv(Tag::SEQUENCE, rd.expect(Tag(0xA0))?.value);
        rd.end()?;
        Ok(Self { crl })
    }
}

named_int! {
    /// `LoadCRLResponseError ::= INTEGER`.
    LoadCrlResponseError {
        INVALID_SIGNATURE = 1 => "invalidSignature",
        INVALID_CRL_FORMAT = 2 => "invalidCRLFormat",
        NOT_ENOUGH_MEMORY_SPACE = 3 => "notEnoughMemorySpace",
        VERIFICATION_KEY_NOT_FOUND = 4 => "verificationKeyNotFound",
        UNDEFINED_ERROR = 127 => "undefinedError",
    }
}

/// `LoadCRLResponse ::= [53] CHOICE`, 'BF35' { 'A0' { 'A0' missingParts? } | '81' error }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadCrlResponse {
    /// `missingParts`: numbers of the partial CRLs still missing.
    Ok {
        missing_parts: Option<Vec<i64>>,
    },
    Error(LoadCrlResponseError),
}

impl Fields for LoadCrlResponse {
    const TAG: Tag = Tag(0xBF35);
    const NAME: &'static str = "LoadCRLResponse";
    fn put_fields(&self, w: &mut Writer) {
        match self {
            Self::Ok { missing_parts } => {
                w.nested(Tag(0xA0), |w| {
                    if let Some(parts) = missing_parts {
                        w.seq_of(Tag(0xA0), parts, |n, w| {
                            w.nested(Tag::SEQUENCE, |w| {
                                w.int(Tag(0x80), *n);
                            });
                        });
                    }
                });
            }
            Self::Error(e) => {
                w.int(Tag(0x81), e.0);
            }
        }
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let alt = Rd::alternative(tlv, Self::NAME)?;
        match alt.tag {
            Tag(0xA0) => {
                let mut rd = Rd::new(&alt, Self::NAME);
                let missing_parts = match rd.opt(Tag(0xA0))? {
                    None => None,
                    Some(list) => Some(Rd::items(&list, Self::NAME, |t| {
                        t.expect_tag(Tag::SEQUENCE).ctx(Self::NAME)?;
                        let mut item = Rd::new(t, Self::NAME);
                        let n = item.int(Tag(0x80), "number")?;
                        item.end()?;
                        Ok(n)
                    })?),
                };
                rd.end()?;
                Ok(Self::Ok { missing_parts })
            }
            Tag(0x81) => {
                LoadCrlResponseError::get_implicit(&alt, Self::NAME, "loadCRLResponseError")
                    .map(Self::Error)
            }
            tag => Err(Error::UnknownChoice {
                ty: Self::NAME,
                tag,
            }),
        }
    }
}

asn1_via_fields!(LoadCrlRequest, LoadCrlResponse);

signed_as_der!(
    ServerSigned1,
    EuiccSigned1,
    SmdpSigned2,
    EuiccSigned2,
    EuiccCancelSessionSigned
);

asn1_via_fields!(
    ServerSigned1,
    EuiccSigned1,
    SmdpSigned2,
    EuiccSigned2,
    EuiccCancelSessionSigned,
    DeviceInfo
);

/// `NotificationEvent` accessor for a single event filter.
impl From<NotificationEvent> for ListNotificationRequest {
    fn from(e: NotificationEvent) -> Self {
        ListNotificationRequest {
            profile_management_operation: Some(NotificationEvents::from(e)),
        }
    }
}
