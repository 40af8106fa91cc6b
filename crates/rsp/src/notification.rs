//! Notifications (SGP.22 §2.6, §3.5, §5.7.9–5.7.11) and the Profile Installation Result (§5.5.5 /
//! §5.7.3 "Profile Installation Result"): what the eUICC signs and the LPA delivers with
//! ES9+.HandleNotification.

use tlv::{Tag, Tlv, Writer};

use crate::{
    asn1_via_fields, named_int, signed_as_der, tagged_choice, tags, Asn1, BitString, Certificate,
    Element, Error, Fields, Iccid, Implicit, Oid, Rd, Result, Signed, TransactionId, WriterExt,
};

/// One `NotificationEvent` bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationEvent {
    /// notificationInstall(0)
    Install = 0,
    /// notificationEnable(1)
    Enable = 1,
    /// notificationDisable(2)
    Disable = 2,
    /// notificationDelete(3)
    Delete = 3,
}

impl NotificationEvent {
    pub const ALL: [NotificationEvent; 4] =
        [Self::Install, Self::Enable, Self::Disable, Self::Delete];
    pub fn bit(self) -> usize {
        self as usize
    }
    /// The DER BIT STRING with only this event set (e.g. install = `07 80`).
    pub fn to_bits(self) -> BitString {
        BitString::from_bits(&[self.bit()])
    }
    /// The single event of a BIT STRING with exactly one known bit set.
    pub fn from_bits(b: &BitString) -> Option<Self> {
        let set: Vec<_> = Self::ALL
            .into_iter()
            .filter(|e| b.is_set(e.bit()))
            .collect();
        let others = (4..b.bytes.len() * 8).any(|i| b.is_set(i));
        match (set.as_slice(), others) {
            ([one], false) => Some(*one),
            _ => None,
        }
    }
}

/// A `NotificationEvent` BIT STRING with any set of bits (e.g. in NotificationConfigurationInformation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NotificationEvents(pub BitString);

impl NotificationEvents {
    pub fn new(events: &[NotificationEvent]) -> Self {
        let bits: Vec<usize> = events.iter().map(|e| e.bit()).collect();
        NotificationEvents(BitString::from_bits(&bits))
    }
    pub fn contains(&self, e: NotificationEvent) -> bool {
        self.0.is_set(e.bit())
    }
    pub fn events(&self) -> Vec<NotificationEvent> {
        NotificationEvent::ALL
            .into_iter()
            .filter(|e| self.contains(*e))
            .collect()
    }
}

impl From<NotificationEvent> for NotificationEvents {
    fn from(e: NotificationEvent) -> Self {
        NotificationEvents::new(&[e])
    }
}

impl Implicit for NotificationEvents {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        self.0.put_implicit(tag, w)
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        BitString::get_implicit(t, ty, field).map(NotificationEvents)
    }
}

/// `NotificationMetadata ::= [47] SEQUENCE`, 'BF2F' { '80' seqNumber, '81' profileManagementOperation,
/// '0C' notificationAddress, '5A' iccid? }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMetadata {
    pub seq_number: i64,
    /// Exactly one bit set.
    pub profile_management_operation: NotificationEvent,
    /// FQDN of the SM-DP+ (or other server) the notification goes to.
    pub notification_address: String,
    pub iccid: Option<Iccid>,
}

impl Fields for NotificationMetadata {
    const TAG: Tag = Tag(0xBF2F);
    const NAME: &'static str = "NotificationMetadata";
    fn put_fields(&self, w: &mut Writer) {
        w.int(Tag(0x80), self.seq_number)
            .bits(Tag(0x81), &self.profile_management_operation.to_bits())
            .utf8(Tag::UTF8_STRING, &self.notification_address)
            .opt_implicit(tags::ICCID, self.iccid.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let seq_number = rd.int(Tag(0x80), "seqNumber")?;
        let bits = rd.bits(Tag(0x81), "profileManagementOperation")?;
        let profile_management_operation =
            NotificationEvent::from_bits(&bits).ok_or(rd.err("profileManagementOperation"))?;
        let notification_address = rd.utf8(Tag::UTF8_STRING, "notificationAddress")?;
        let iccid = rd.opt_iccid()?;
        rd.end()?;
        Ok(Self {
            seq_number,
            profile_management_operation,
            notification_address,
            iccid,
        })
    }
}

/// `OtherSignedNotification ::= SEQUENCE` ('30' { 'BF2F', '5F37', cert, cert }): the notification
/// for enable/disable/delete operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherSignedNotification {
    pub tbs_other_notification: Signed<NotificationMetadata>,
    /// '5F37': eUICC signature over `tbs_other_notification.raw()`.
    pub euicc_notification_signature: Vec<u8>,
    pub euicc_certificate: Certificate,
    pub eum_certificate: Certificate,
}

impl Fields for OtherSignedNotification {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "OtherSignedNotification";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.tbs_other_notification.raw())
            .put(tags::SIGNATURE, &self.euicc_notification_signature)
            .raw(&self.euicc_certificate)
            .raw(&self.eum_certificate);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            tbs_other_notification: Signed::read(&rd.expect(Tag(0xBF2F))?)?,
            euicc_notification_signature: rd.bytes(tags::SIGNATURE)?,
            euicc_certificate: rd.certificate()?,
            eum_certificate: rd.certificate()?,
        };
        rd.end()?;
        Ok(v)
    }
}

named_int! {
    /// `BppCommandId ::= INTEGER`: which BPP command failed.
    BppCommandId {
        INITIALISE_SECURE_CHANNEL = 0 => "initialiseSecureChannel",
        CONFIGURE_ISDP = 1 => "configureISDP",
        STORE_METADATA = 2 => "storeMetadata",
        STORE_METADATA2 = 3 => "storeMetadata2",
        REPLACE_SESSION_KEYS = 4 => "replaceSessionKeys",
        LOAD_PROFILE_ELEMENTS = 5 => "loadProfileElements",
    }
}

named_int! {
    /// `ErrorReason ::= INTEGER`: why BPP installation failed.
    ErrorReason {
        INCORRECT_INPUT_VALUES = 1 => "incorrectInputValues",
        INVALID_SIGNATURE = 2 => "invalidSignature",
        INVALID_TRANSACTION_ID = 3 => "invalidTransactionId",
        UNSUPPORTED_CRT_VALUES = 4 => "unsupportedCrtValues",
        UNSUPPORTED_REMOTE_OPERATION_TYPE = 5 => "unsupportedRemoteOperationType",
        UNSUPPORTED_PROFILE_CLASS = 6 => "unsupportedProfileClass",
        SCP03T_STRUCTURE_ERROR = 7 => "scp03tStructureError",
        SCP03T_SECURITY_ERROR = 8 => "scp03tSecurityError",
        INSTALL_FAILED_DUE_TO_ICCID_ALREADY_EXISTS_ON_EUICC = 9 => "installFailedDueToIccidAlreadyExistsOnEuicc",
        INSTALL_FAILED_DUE_TO_INSUFFICIENT_MEMORY_FOR_PROFILE = 10 => "installFailedDueToInsufficientMemoryForProfile",
        INSTALL_FAILED_DUE_TO_INTERRUPTION = 11 => "installFailedDueToInterruption",
        INSTALL_FAILED_DUE_TO_PE_PROCESSING_ERROR = 12 => "installFailedDueToPEProcessingError",
        INSTALL_FAILED_DUE_TO_ICCID_MISMATCH = 13 => "installFailedDueToIccidMismatch",
        TEST_PROFILE_INSTALL_FAILED_DUE_TO_INVALID_NAA_KEY = 14 => "testProfileInstallFailedDueToInvalidNaaKey",
        PPR_NOT_ALLOWED = 15 => "pprNotAllowed",
        INSTALL_FAILED_DUE_TO_UNKNOWN_ERROR = 127 => "installFailedDueToUnknownError",
    }
}

/// `SuccessResult ::= SEQUENCE { aid [APPLICATION 15], simaResponse OCTET STRING }` ('4F', '04').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessResult {
    /// AID of the ISD-P (5..16 bytes).
    pub aid: Vec<u8>,
    /// Concatenated `EUICCResponse`s of the SAIP profile elements (SAIP §... "EUICCResponse").
    pub sima_response: Vec<u8>,
}

/// `ErrorResult ::= SEQUENCE { bppCommandId, errorReason, simaResponse OPTIONAL }` ('80', '81', '82').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResult {
    pub bpp_command_id: BppCommandId,
    pub error_reason: ErrorReason,
    pub sima_response: Option<Vec<u8>>,
}

tagged_choice! {
    /// `finalResult [2] CHOICE` ('A2' { 'A0' success | 'A1' error }).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum FinalResult = 0xA2 in "ProfileInstallationResultData" {
        Success(SuccessResult) = 0xA0 "successResult",
        Error(ErrorResult) = 0xA1 "errorResult",
    }
}

impl Fields for SuccessResult {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "ProfileInstallationResultData";
    fn put_fields(&self, w: &mut Writer) {
        w.put(tags::AID, &self.aid)
            .put(Tag::OCTET_STRING, &self.sima_response);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let aid = rd.bytes(tags::AID)?;
        if !(5..=16).contains(&aid.len()) {
            return Err(rd.err("aid"));
        }
        let sima_response = rd.bytes(Tag::OCTET_STRING)?;
        rd.end()?;
        Ok(Self { aid, sima_response })
    }
}

impl Fields for ErrorResult {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "ProfileInstallationResultData";
    fn put_fields(&self, w: &mut Writer) {
        w.implicit(Tag(0x80), &self.bpp_command_id)
            .implicit(Tag(0x81), &self.error_reason)
            .put_opt(Tag(0x82), self.sima_response.as_deref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            bpp_command_id: rd.implicit(Tag(0x80), "bppCommandId")?,
            error_reason: rd.implicit(Tag(0x81), "errorReason")?,
            sima_response: rd.opt_bytes(Tag(0x82))?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `ProfileInstallationResultData ::= [39] SEQUENCE`, 'BF27' { '80' transactionId,
/// 'BF2F' notificationMetadata, '06' smdpOid?, 'A2' finalResult }. Signed by the eUICC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInstallationResultData {
    pub transaction_id: TransactionId,
    pub notification_metadata: NotificationMetadata,
    /// SM-DP+ OID as in CERT.DPpb.ECDSA (absent if the failure happened before it was known).
    pub smdp_oid: Option<Oid>,
    pub final_result: FinalResult,
}

impl Fields for ProfileInstallationResultData {
    const TAG: Tag = Tag(0xBF27);
    const NAME: &'static str = "ProfileInstallationResultData";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.transaction_id.as_bytes());
        self.notification_metadata.write(w);
        w.opt_implicit(Tag::OID, self.smdp_oid.as_ref());
        self.final_result.write(w);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let transaction_id = rd.txid(Tag(0x80))?;
        let notification_metadata = rd.field(Tag(0xBF2F))?;
        let smdp_oid = rd.opt_oid(Tag::OID, "smdpOid")?;
        let a2 = rd.expect(FinalResult::TAG)?;
        rd.end()?;
        let final_result = FinalResult::get_fields(&a2)?;
        Ok(Self {
            transaction_id,
            notification_metadata,
            smdp_oid,
            final_result,
        })
    }
}

signed_as_der!(NotificationMetadata, ProfileInstallationResultData);

/// `ProfileInstallationResult ::= [55] SEQUENCE`, 'BF37' { 'BF27' data, '5F37' euiccSignPIR }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInstallationResult {
    pub profile_installation_result_data: Signed<ProfileInstallationResultData>,
    /// `euiccSignPIR` '5F37': eUICC signature over `profile_installation_result_data.raw()`.
    pub euicc_sign_pir: Vec<u8>,
}

impl ProfileInstallationResult {
    pub fn is_success(&self) -> bool {
        matches!(
            self.profile_installation_result_data.final_result,
            FinalResult::Success(_)
        )
    }
}

impl Fields for ProfileInstallationResult {
    const TAG: Tag = Tag(0xBF37);
    const NAME: &'static str = "ProfileInstallationResult";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.profile_installation_result_data.raw())
            .put(tags::SIGNATURE, &self.euicc_sign_pir);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            profile_installation_result_data: Signed::read(&rd.expect(Tag(0xBF27))?)?,
            euicc_sign_pir: rd.bytes(tags::SIGNATURE)?,
        };
        rd.end()?;
        Ok(v)
    }
}

asn1_via_fields!(
    NotificationMetadata,
    OtherSignedNotification,
    ProfileInstallationResultData,
    ProfileInstallationResult
);

/// `PendingNotification ::= CHOICE { profileInstallationResult [55] ('BF37'), otherSignedNotification ('30') }`.
/// This is what ES9+.HandleNotification carries (base64) and ES10b.RetrieveNotificationsList lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingNotification {
    ProfileInstallationResult(ProfileInstallationResult),
    OtherSignedNotification(OtherSignedNotification),
}

impl PendingNotification {
    pub(crate) fn read(tlv: &Tlv<'_>) -> Result<Self> {
        match tlv.tag {
            Tag(0xBF37) => {
                ProfileInstallationResult::get_fields(tlv).map(Self::ProfileInstallationResult)
            }
            Tag::SEQUENCE => {
                OtherSignedNotification::get_fields(tlv).map(Self::OtherSignedNotification)
            }
            tag => Err(Error::UnknownChoice {
                ty: "PendingNotification",
                tag,
            }),
        }
    }
    /// The notification metadata (sequence number, event, address, ICCID).
    pub fn metadata(&self) -> &NotificationMetadata {
        match self {
            Self::ProfileInstallationResult(p) => {
                &p.profile_installation_result_data.notification_metadata
            }
            Self::OtherSignedNotification(o) => &o.tbs_other_notification,
        }
    }
}

/// An element of RetrieveNotificationsListResponse's list.
impl Element for PendingNotification {
    fn put_element(&self, w: &mut Writer) {
        match self {
            Self::ProfileInstallationResult(p) => p.write(w),
            Self::OtherSignedNotification(o) => o.write(w),
        }
    }
    fn get_element(t: &Tlv<'_>) -> Result<Self> {
        Self::read(t)
    }
}

impl Asn1 for PendingNotification {
    fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.put_element(&mut w);
        w.into_vec()
    }
    fn decode(der: &[u8]) -> Result<Self> {
        let tlv = Tlv::parse_single(der).map_err(|source| Error::Tlv {
            ty: "PendingNotification",
            source,
        })?;
        Self::read(&tlv)
    }
}
