//! ES8+: SM-DP+ ↔ eUICC, tunnelled through the LPA (SGP.22 §5.5): the Bound Profile Package and
//! the plaintext structures its SCP03t-protected TLVs carry ('87'/'88'/'86' contents are protected
//! by the `bsp` crate).

use tlv::{Tag, Tlv, Writer};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::notification::NotificationEvents;
use crate::{
    asn1_via_fields, tags, BitString, Error, Fields, Iccid, IconType, Oid, ProfileClass, Rd,
    Result, Signed, SignedEncoding, TransactionId, WriterExt,
};

/// `RemoteOpId ::= [2] INTEGER {installBoundProfilePackage(1)}`.
pub const REMOTE_OP_INSTALL_BPP: i64 = 1;
/// GlobalPlatform key type AES ('88') for the ControlRefTemplate.
pub const KEY_TYPE_AES: u8 = 0x88;

/// `ControlRefTemplate ::= SEQUENCE { keyType [0] Octet1, keyLen [1] Octet1, hostId [4] OctetTo16 }`
/// (carried IMPLICIT as `[6]` 'A6'; GP Card Spec Amd F §6.5.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRefTemplate {
    /// '88' = AES.
    pub key_type: u8,
    /// Key length in bytes, 0x10.
    pub key_len: u8,
    /// Host ID, 1..16 bytes.
    pub host_id: Vec<u8>,
}

impl Fields for ControlRefTemplate {
    const TAG: Tag = Tag(0xA6);
    const NAME: &'static str = "ControlRefTemplate";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), &[self.key_type])
            .put(Tag(0x81), &[self.key_len])
            .put(Tag(0x84), &self.host_id);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let [key_type] = rd.fixed::<1>(Tag(0x80), "keyType")?;
        let [key_len] = rd.fixed::<1>(Tag(0x81), "keyLen")?;
        let host_id = rd.bytes(Tag(0x84))?;
        if host_id.is_empty() || host_id.len() > 16 {
            return Err(rd.err("hostId"));
        }
        rd.end()?;
        Ok(Self {
            key_type,
            key_len,
            host_id,
        })
    }
}

/// The part of InitialiseSecureChannelRequest covered by `smdpSign`: the data objects remoteOpId
/// ('82'), transactionId ('80'), controlRefTemplate ('A6') and smdpOtpk ('5F49'), concatenated
/// without the outer 'BF23' header (SGP.22 §5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialiseSecureChannelSigned {
    /// [`REMOTE_OP_INSTALL_BPP`].
    pub remote_op_id: i64,
    pub transaction_id: TransactionId,
    pub control_ref_template: ControlRefTemplate,
    /// otPK.DP.ECKA, uncompressed point.
    pub smdp_otpk: Vec<u8>,
}

impl SignedEncoding for InitialiseSecureChannelSigned {
    fn signed_encoding(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(Tag(0x82), self.remote_op_id)
            .put(Tag(0x80), self.transaction_id.as_bytes());
        self.control_ref_template.write(&mut w);
        w.put(tags::OTPK, &self.smdp_otpk);
        w.into_vec()
    }
}

/// `InitialiseSecureChannelRequest ::= [35] SEQUENCE`, tag 'BF23'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialiseSecureChannelRequest {
    /// Fields '82'..'5F49', with their exact received bytes.
    pub signed: Signed<InitialiseSecureChannelSigned>,
    /// `smdpSign` '5F37': signature by SK.DPpb.ECDSA over [`Self::data_to_sign`].
    pub smdp_sign: Vec<u8>,
}

impl InitialiseSecureChannelRequest {
    /// SGP.22 §5.5.1: smdpSign covers `remoteOpId || transactionId || controlRefTemplate ||
    /// smdpOtpk` (TLVs as sent) followed by the `'5F49' euiccOtpk` TLV (from EUICCSigned2).
    pub fn data_to_sign(signed_part: &[u8], euicc_otpk: &[u8]) -> Vec<u8> {
        let mut out = signed_part.to_vec();
        tlv::write_tlv(tags::OTPK, euicc_otpk, &mut out);
        out
    }
    /// [`Self::data_to_sign`] for this request.
    pub fn signed_data(&self, euicc_otpk: &[u8]) -> Vec<u8> {
        Self::data_to_sign(self.signed.raw(), euicc_otpk)
    }
}

impl Fields for InitialiseSecureChannelRequest {
    const TAG: Tag = Tag(0xBF23);
    const NAME: &'static str = "InitialiseSecureChannelRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.raw(self.signed.raw())
            .put(tags::SIGNATURE, &self.smdp_sign);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let remote_op_id = rd.int(Tag(0x82), "remoteOpId")?;
        let transaction_id = rd.txid(Tag(0x80))?;
        let control_ref_template = rd.field(Tag(0xA6))?;
        let smdp_otpk = rd.bytes(tags::OTPK)?;
        let raw = rd.consumed().to_vec();
        let smdp_sign = rd.bytes(tags::SIGNATURE)?;
        rd.end()?;
        let signed = Signed::from_parts(
            InitialiseSecureChannelSigned {
                remote_op_id,
                transaction_id,
                control_ref_template,
                smdp_otpk,
            },
            raw,
        );
        Ok(Self { signed, smdp_sign })
    }
}

/// `DpProprietaryData ::= SEQUENCE { dpOid OBJECT IDENTIFIER, ... }` (automatic tag '80'; carried
/// as `[24]` 'B8'). At most 128 bytes including tag and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpProprietaryData {
    pub dp_oid: Oid,
    /// Further SM-DP+-defined data objects, raw TLVs.
    pub additional: Vec<u8>,
}

impl Fields for DpProprietaryData {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "DpProprietaryData";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), self.dp_oid.contents())
            .raw(&self.additional);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let dp_oid = rd.oid(Tag(0x80), "dpOid")?;
        let start = rd.consumed().len();
        let rest = tlv.value.get(start..).unwrap_or_default();
        rd.end()?;
        Ok(Self {
            dp_oid,
            additional: rest.to_vec(),
        })
    }
}

/// `ConfigureISDPRequest ::= [36] SEQUENCE { dpProprietaryData [24] OPTIONAL }`, 'BF24'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigureIsdpRequest {
    pub dp_proprietary_data: Option<DpProprietaryData>,
}

impl Fields for ConfigureIsdpRequest {
    const TAG: Tag = Tag(0xBF24);
    const NAME: &'static str = "ConfigureISDPRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(Tag(0xB8), self.dp_proprietary_data.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let dp_proprietary_data = rd.opt_field(Tag(0xB8))?;
        rd.end()?;
        Ok(Self {
            dp_proprietary_data,
        })
    }
}

/// `OperatorID ::= SEQUENCE { mccMnc OCTET STRING (SIZE(3)), gid1 OPTIONAL, gid2 OPTIONAL }`
/// ('80', '81', '82'; carried as `[23]` 'B7' in metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorId {
    /// MCC/MNC as in 3GPP TS 24.008 (e.g. MCC 001 MNC 01 = `00 F1 10`).
    pub mcc_mnc: [u8; 3],
    pub gid1: Option<Vec<u8>>,
    pub gid2: Option<Vec<u8>>,
}

impl Fields for OperatorId {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "OperatorID";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), &self.mcc_mnc)
            .put_opt(Tag(0x81), self.gid1.as_deref())
            .put_opt(Tag(0x82), self.gid2.as_deref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            mcc_mnc: rd.fixed(Tag(0x80), "mccMnc")?,
            gid1: rd.opt_bytes(Tag(0x81))?,
            gid2: rd.opt_bytes(Tag(0x82))?,
        };
        rd.end()?;
        Ok(v)
    }
}

impl OperatorId {
    /// Reads an element of `SEQUENCE OF OperatorID` ('30').
    pub(crate) fn read(tlv: &Tlv<'_>) -> Result<Self> {
        <Self as Fields>::read(tlv)
    }
}

/// `NotificationConfigurationInformation ::= SEQUENCE { profileManagementOperation NotificationEvent,
/// notificationAddress UTF8String }` ('30' { '80', '81' }).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationConfigurationInformation {
    pub profile_management_operation: NotificationEvents,
    /// FQDN to which notifications for these events go.
    pub notification_address: String,
}

impl Fields for NotificationConfigurationInformation {
    const TAG: Tag = Tag::SEQUENCE;
    const NAME: &'static str = "NotificationConfigurationInformation";
    fn put_fields(&self, w: &mut Writer) {
        w.bits(Tag(0x80), &self.profile_management_operation.0)
            .utf8(Tag(0x81), &self.notification_address);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            profile_management_operation: rd.implicit(Tag(0x80), "profileManagementOperation")?,
            notification_address: rd.utf8(Tag(0x81), "notificationAddress")?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `StoreMetadataRequest ::= [37] SEQUENCE`, 'BF25': the Profile Metadata (SGP.22 §5.5.3). ES9+
/// carries it as `profileMetadata`; it is also the plaintext of the BPP's '88' TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreMetadataRequest {
    pub iccid: Iccid,
    /// '91', up to 32 characters.
    pub service_provider_name: String,
    /// '92', up to 64 characters.
    pub profile_name: String,
    /// '93' (present iff `icon` is).
    pub icon_type: Option<IconType>,
    /// '94', up to 1024 bytes, 64x64 pixels.
    pub icon: Option<Vec<u8>>,
    /// '95', default operational.
    pub profile_class: Option<ProfileClass>,
    /// 'B6'.
    pub notification_configuration_info: Option<Vec<NotificationConfigurationInformation>>,
    /// 'B7'.
    pub profile_owner: Option<OperatorId>,
    /// '99' PprIds (see [`crate::ppr`]).
    pub profile_policy_rules: Option<BitString>,
}

/// SGP.22 calls the StoreMetadataRequest content "Profile Metadata".
pub type ProfileMetadata = StoreMetadataRequest;

impl Fields for StoreMetadataRequest {
    const TAG: Tag = Tag(0xBF25);
    const NAME: &'static str = "StoreMetadataRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.implicit(tags::ICCID, &self.iccid)
            .utf8(Tag(0x91), &self.service_provider_name)
            .utf8(Tag(0x92), &self.profile_name)
            .opt_implicit(Tag(0x93), self.icon_type.as_ref())
            .put_opt(Tag(0x94), self.icon.as_deref())
            .opt_implicit(Tag(0x95), self.profile_class.as_ref())
            .opt_implicit(Tag(0xB6), self.notification_configuration_info.as_ref())
            .opt_implicit(Tag(0xB7), self.profile_owner.as_ref())
            .opt_implicit(Tag(0x99), self.profile_policy_rules.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            iccid: rd.iccid()?,
            service_provider_name: rd.utf8(Tag(0x91), "serviceProviderName")?,
            profile_name: rd.utf8(Tag(0x92), "profileName")?,
            icon_type: rd.opt_implicit(Tag(0x93), "iconType")?,
            icon: rd.opt_bytes(Tag(0x94))?,
            profile_class: rd.opt_implicit(Tag(0x95), "profileClass")?,
            notification_configuration_info: rd
                .opt_implicit(Tag(0xB6), "notificationConfigurationInfo")?,
            profile_owner: rd.opt_field(Tag(0xB7))?,
            profile_policy_rules: rd.opt_bits(Tag(0x99), "profilePolicyRules")?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `UpdateMetadataRequest ::= [42] SEQUENCE`, 'BF2A' (ES6, inside a '88' TLV of an update).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateMetadataRequest {
    pub service_provider_name: Option<String>,
    pub profile_name: Option<String>,
    pub icon_type: Option<IconType>,
    pub icon: Option<Vec<u8>>,
    pub profile_policy_rules: Option<BitString>,
}

impl Fields for UpdateMetadataRequest {
    const TAG: Tag = Tag(0xBF2A);
    const NAME: &'static str = "UpdateMetadataRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(Tag(0x91), self.service_provider_name.as_ref())
            .opt_implicit(Tag(0x92), self.profile_name.as_ref())
            .opt_implicit(Tag(0x93), self.icon_type.as_ref())
            .put_opt(Tag(0x94), self.icon.as_deref())
            .opt_implicit(Tag(0x99), self.profile_policy_rules.as_ref());
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            service_provider_name: rd.opt_utf8(Tag(0x91), "serviceProviderName")?,
            profile_name: rd.opt_utf8(Tag(0x92), "profileName")?,
            icon_type: rd.opt_implicit(Tag(0x93), "iconType")?,
            icon: rd.opt_bytes(Tag(0x94))?,
            profile_policy_rules: rd.opt_bits(Tag(0x99), "profilePolicyRules")?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `ReplaceSessionKeysRequest ::= [38] SEQUENCE`, 'BF26' { '80' initialMacChainingValue,
/// '81' ppkEnc, '82' ppkCmac } (SGP.22 §5.5.4). Key material: zeroized on drop, not printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ReplaceSessionKeysRequest {
    pub initial_mac_chaining_value: Vec<u8>,
    pub ppk_enc: Vec<u8>,
    pub ppk_cmac: Vec<u8>,
}

impl std::fmt::Debug for ReplaceSessionKeysRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplaceSessionKeysRequest { .. }")
    }
}

impl Fields for ReplaceSessionKeysRequest {
    const TAG: Tag = Tag(0xBF26);
    const NAME: &'static str = "ReplaceSessionKeysRequest";
    fn put_fields(&self, w: &mut Writer) {
        w.put(Tag(0x80), &self.initial_mac_chaining_value)
            .put(Tag(0x81), &self.ppk_enc)
            .put(Tag(0x82), &self.ppk_cmac);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let v = Self {
            initial_mac_chaining_value: rd.bytes(Tag(0x80))?,
            ppk_enc: rd.bytes(Tag(0x81))?,
            ppk_cmac: rd.bytes(Tag(0x82))?,
        };
        rd.end()?;
        Ok(v)
    }
}

/// `BoundProfilePackage ::= [54] SEQUENCE`, 'BF36' (SGP.22 §5.5 / §2.5.4). The '87'/'88'/'86'
/// values are SCP03t-protected (see the `bsp` crate); here they are opaque contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundProfilePackage {
    /// 'BF23'.
    pub initialise_secure_channel_request: InitialiseSecureChannelRequest,
    /// 'A0': the '87' values (ConfigureISDP, encrypted + MACed).
    pub first_sequence_of_87: Vec<Vec<u8>>,
    /// 'A1': the '88' values (StoreMetadata, MACed).
    pub sequence_of_88: Vec<Vec<u8>>,
    /// 'A2': the '87' values (ReplaceSessionKeys), optional.
    pub second_sequence_of_87: Option<Vec<Vec<u8>>>,
    /// 'A3': the '86' values (profile elements, encrypted + MACed).
    pub sequence_of_86: Vec<Vec<u8>>,
}

impl Fields for BoundProfilePackage {
    const TAG: Tag = Tag(0xBF36);
    const NAME: &'static str = "BoundProfilePackage";
    fn put_fields(&self, w: &mut Writer) {
        self.initialise_secure_channel_request.write(w);
        w.values(Tag(0xA0), Tag(0x87), &self.first_sequence_of_87)
            .values(Tag(0xA1), Tag(0x88), &self.sequence_of_88);
        if let Some(s) = &self.second_sequence_of_87 {
            w.values(Tag(0xA2), Tag(0x87), s);
        }
        w.values(Tag(0xA3), Tag(0x86), &self.sequence_of_86);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let initialise_secure_channel_request = rd.field(Tag(0xBF23))?;
        let first_sequence_of_87 = rd.values(Tag(0xA0), Tag(0x87))?;
        let sequence_of_88 = rd.values(Tag(0xA1), Tag(0x88))?;
        let second_sequence_of_87 = rd.opt_values(Tag(0xA2), Tag(0x87))?;
        let sequence_of_86 = rd.values(Tag(0xA3), Tag(0x86))?;
        rd.end()?;
        Ok(Self {
            initialise_secure_channel_request,
            first_sequence_of_87,
            sequence_of_88,
            second_sequence_of_87,
            sequence_of_86,
        })
    }
}

asn1_via_fields!(
    ControlRefTemplate,
    InitialiseSecureChannelRequest,
    ConfigureIsdpRequest,
    StoreMetadataRequest,
    UpdateMetadataRequest,
    ReplaceSessionKeysRequest,
    BoundProfilePackage,
    OperatorId,
    NotificationConfigurationInformation,
    DpProprietaryData
);

impl BoundProfilePackage {
    /// The STORE DATA segments of this BPP (SGP.22 §2.5.5), from its DER encoding.
    pub fn segments(&self) -> Vec<Vec<u8>> {
        // Our own encoding is always well formed.
        segment(&crate::Asn1::encode(self)).unwrap_or_default()
    }

    /// The DER encoding of the BPP whose protected data objects are given whole, as the
    /// `bsp` crate emits them ('87'/'88'/'86' tag, minimal length, contents): byte for byte
    /// [`crate::Asn1::encode`] of the `BoundProfilePackage` holding their contents, written into
    /// one buffer of the final size (no per-segment copy of the contents, no nested buffers).
    /// A segment that is not one TLV with its sequence's tag and a minimal length is an error.
    pub fn encode_from_segments(
        initialise_secure_channel_request: &InitialiseSecureChannelRequest,
        first_sequence_of_87: &[Vec<u8>],
        sequence_of_88: &[Vec<u8>],
        second_sequence_of_87: Option<&[Vec<u8>]>,
        sequence_of_86: &[Vec<u8>],
    ) -> Result<Vec<u8>> {
        const TY: &str = "BoundProfilePackage";
        let check = |inner: Tag, segments: &[Vec<u8>]| -> Result<usize> {
            let mut len = 0usize;
            for s in segments {
                let t = Tlv::parse_single(s).map_err(|source| Error::Tlv { ty: TY, source })?;
                t.expect_tag(inner)
                    .map_err(|source| Error::Tlv { ty: TY, source })?;
                // Only a minimal length re-encodes to the same bytes.
                if s.len() != tlv::header_len(inner, t.value.len()) + t.value.len() {
                    return Err(Error::Tlv {
                        ty: TY,
                        source: tlv::Error::InvalidValue("segment length not minimal"),
                    });
                }
                len += s.len();
            }
            Ok(len)
        };
        let iscr = crate::Asn1::encode(initialise_secure_channel_request);
        let mut sequences: Vec<(Tag, &[Vec<u8>], usize)> = vec![
            (
                Tag(0xA0),
                first_sequence_of_87,
                check(Tag(0x87), first_sequence_of_87)?,
            ),
            (Tag(0xA1), sequence_of_88, check(Tag(0x88), sequence_of_88)?),
        ];
        if let Some(s) = second_sequence_of_87 {
            sequences.push((Tag(0xA2), s, check(Tag(0x87), s)?));
        }
        sequences.push((Tag(0xA3), sequence_of_86, check(Tag(0x86), sequence_of_86)?));
        let contents = iscr.len()
            + sequences
                .iter()
                .map(|(tag, _, len)| tlv::header_len(*tag, *len) + len)
                .sum::<usize>();
        let mut out = Vec::with_capacity(tlv::header_len(Self::TAG, contents) + contents);
        Self::TAG.write(&mut out);
        tlv::write_length(contents, &mut out);
        out.extend_from_slice(&iscr);
        for (tag, segments, len) in sequences {
            tag.write(&mut out);
            tlv::write_length(len, &mut out);
            for s in segments {
                out.extend_from_slice(s);
            }
        }
        Ok(out)
    }
}

fn header<'a>(t: &Tlv<'a>) -> &'a [u8] {
    t.raw.get(..t.raw.len() - t.value.len()).unwrap_or_default()
}

/// Splits an encoded BPP into the segments the LPA sends to the eUICC, one ES8+ function per
/// STORE DATA sequence (SGP.22 §2.5.5):
/// 1. 'BF36' tag+length, plus the whole 'BF23' TLV;
/// 2. 'A0' tag+length plus its first '87' TLV (then any further '87' alone);
/// 3. 'A1' tag+length; 4. each '88' TLV;
/// 5. if present, 'A2' tag+length plus its first '87' TLV (then any further '87' alone);
/// 6. 'A3' tag+length; 7. each '86' TLV.
///
/// Works on the bytes as received (non-minimal lengths are kept).
pub fn segment(bpp: &[u8]) -> Result<Vec<Vec<u8>>> {
    const TY: &str = "BoundProfilePackage";
    let e = |source| Error::Tlv { ty: TY, source };
    let outer = Tlv::parse_expecting(bpp, Tag(0xBF36)).map_err(e)?;
    let mut parts = tlv::iter(outer.value);
    let mut next = |want: Option<Tag>| -> Result<Option<Tlv<'_>>> {
        match parts.next() {
            None => Ok(None),
            Some(t) => {
                let t = t.map_err(e)?;
                if let Some(w) = want {
                    t.expect_tag(w).map_err(e)?;
                }
                Ok(Some(t))
            }
        }
    };
    let mut out = Vec::new();
    let isc = next(Some(Tag(0xBF23)))?.ok_or(e(tlv::Error::MissingTag(Tag(0xBF23))))?;
    out.push([header(&outer), isc.raw].concat());
    while let Some(t) = next(None)? {
        let inner: Vec<Tlv<'_>> = tlv::iter(t.value).collect::<tlv::Result<_>>().map_err(e)?;
        match t.tag {
            Tag(0xA0) | Tag(0xA2) => {
                let mut it = inner.iter();
                let first = it.next().map(|f| f.raw).unwrap_or_default();
                out.push([header(&t), first].concat());
                out.extend(it.map(|x| x.raw.to_vec()));
            }
            Tag(0xA1) | Tag(0xA3) => {
                out.push(header(&t).to_vec());
                out.extend(inner.iter().map(|x| x.raw.to_vec()));
            }
            tag => return Err(Error::UnknownChoice { ty: TY, tag }),
        }
    }
    Ok(out)
}
