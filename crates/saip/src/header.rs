//! `ProfileHeader` (SAIP §8.2) and `PEHeader`.

use tlv::{der, Reader, Tag, Tlv};

use crate::{bcd, oid_to_string, Result, SaipError};

/// `ServicesList` component names in order; component `n` is the NULL with tag `[n]`.
pub const SERVICES: &[&str] = &[
    "contactless",
    "usim",
    "isim",
    "csim",
    "milenage",
    "tuak128",
    "cave",
    "gba-usim",
    "gba-isim",
    "mbms",
    "eap",
    "javacard",
    "multos",
    "multiple-usim",
    "multiple-isim",
    "multiple-csim",
    "tuak256",
    "usim-test-algorithm",
    "ber-tlv",
    "dfLink",
    "cat-tp",
    "get-identity",
    "profile-a-x25519",
    "profile-b-p256",
    "suciCalculatorApi",
    "dns-resolution",
    "scp11ac",
    "scp11c-authorization-mechanism",
    "s16mode",
    "eaka",
];

/// A service of `eUICC-Mandatory-services`: its tag number and, when this version knows it,
/// its ASN.1 name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub number: u32,
    pub name: Option<&'static str>,
}

/// `ProfileHeader ::= SEQUENCE` (AUTOMATIC TAGS: `[0]` major-version .. `[9]` iotOptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileHeader {
    pub major_version: u8,
    pub minor_version: u8,
    pub profile_type: Option<String>,
    /// ICCID digits (BCD in reading order, trailing `F` removed).
    pub iccid: String,
    /// The 10 ICCID bytes as encoded.
    pub iccid_raw: [u8; 10],
    pub pol: Option<Vec<u8>>,
    pub mandatory_services: Vec<Service>,
    /// `eUICC-Mandatory-GFSTEList`: template OIDs in dotted form, e.g. `2.23.143.1.2.1`.
    pub mandatory_gfste: Vec<String>,
    pub connectivity_parameters: Option<Vec<u8>>,
    /// `eUICC-Mandatory-AIDs`: (aid, version).
    pub mandatory_aids: Vec<(Vec<u8>, Vec<u8>)>,
    /// `iotOptions.pix`.
    pub iot_pix: Option<Vec<u8>>,
}

pub(crate) const TAG_ICCID: Tag = Tag::context(3);

impl ProfileHeader {
    /// Decodes the contents of the `[0]` (A0) element.
    pub(crate) fn decode(contents: &[u8]) -> Result<ProfileHeader> {
        let mut r = Reader::new(contents);
        let major_version = uint8(r.expect(Tag::context(0))?.value, "major-version")?;
        let minor_version = uint8(r.expect(Tag::context(1))?.value, "minor-version")?;
        let profile_type = r
            .optional(Tag::context(2))?
            .map(|t| der::decode_utf8(t.value))
            .transpose()?;
        let iccid_tlv = r.expect(TAG_ICCID)?;
        let iccid_raw: [u8; 10] = iccid_tlv
            .value
            .try_into()
            .map_err(|_| SaipError::Invalid("header ICCID is not 10 bytes"))?;
        let iccid = bcd::iccid_header_decode(&iccid_raw)?;
        let pol = r.optional(Tag::context(4))?.map(|t| t.value.to_vec());
        let services = r.expect(Tag::context_constructed(5))?;
        let mut mandatory_services = Vec::new();
        for s in tlv::iter(services.value) {
            let s = s?;
            der::decode_null(s.value)?;
            let number = s.tag.number();
            mandatory_services.push(Service {
                number,
                name: SERVICES.get(number as usize).copied(),
            });
        }
        // Mandatory in v3.x; older packages may omit it.
        let mut mandatory_gfste = Vec::new();
        if let Some(list) = r.optional(Tag::context_constructed(6))? {
            for o in tlv::iter(list.value) {
                let o = o?;
                o.expect_tag(Tag::OID)?;
                mandatory_gfste.push(oid_to_string(o.value)?);
            }
        }
        let connectivity_parameters = r.optional(Tag::context(7))?.map(|t| t.value.to_vec());
        let mut mandatory_aids = Vec::new();
        if let Some(list) = r.optional(Tag::context_constructed(8))? {
            for entry in tlv::iter(list.value) {
                let entry = entry?;
                entry.expect_tag(Tag::SEQUENCE)?;
                let mut e = entry.reader();
                let aid = e.expect(Tag::context(0))?.value.to_vec();
                let version = e.expect(Tag::context(1))?.value.to_vec();
                e.finish_lenient()?;
                mandatory_aids.push((aid, version));
            }
        }
        let iot_pix = match r.optional(Tag::context_constructed(9))? {
            Some(t) => Some(t.reader().expect(Tag::context(0))?.value.to_vec()),
            None => None,
        };
        r.finish_lenient()?;
        Ok(ProfileHeader {
            major_version,
            minor_version,
            profile_type,
            iccid,
            iccid_raw,
            pol,
            mandatory_services,
            mandatory_gfste,
            connectivity_parameters,
            mandatory_aids,
            iot_pix,
        })
    }
}

/// `PEHeader ::= SEQUENCE { mandated [0] NULL OPTIONAL, identification [1] UInt15 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeHeader {
    pub mandated: bool,
    pub identification: u16,
}

impl PeHeader {
    pub(crate) fn decode(tlv: &Tlv<'_>) -> Result<PeHeader> {
        let mut r = tlv.reader();
        let mandated = r.optional(Tag::context(0))?.is_some();
        let id = der::decode_uint(r.expect(Tag::context(1))?.value)?;
        r.finish_lenient()?;
        let identification = u16::try_from(id)
            .ok()
            .filter(|&v| v <= 0x7FFF)
            .ok_or(SaipError::Invalid("PEHeader identification out of range"))?;
        Ok(PeHeader {
            mandated,
            identification,
        })
    }
}

fn uint8(contents: &[u8], what: &'static str) -> Result<u8> {
    der::decode_uint(contents)
        .ok()
        .and_then(|v| u8::try_from(v).ok())
        .ok_or(SaipError::Invalid(what))
}
