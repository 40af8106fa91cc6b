//! TCA eUICC Profile Package (SAIP, "Interoperable Format for eUICC profiles", v2.x/v3.x):
//! the unprotected profile package an SM-DP+ binds and a eUICC installs.
//!
//! A package is a concatenation of DER-encoded `ProfileElement`s, a CHOICE under AUTOMATIC
//! TAGS whose alternatives are all SEQUENCEs, so each element is a constructed context tag:
//! `A0` header, `A1` genericFileManagement, `A2` pinCodes, `A3` pukCodes, `A4` akaParameter,
//! `A5` cdmaParameter, `A6` securityDomain, `A7` rfm, `A8` application, `A9` nonStandard,
//! `AA` end, `AB`..`AF` rfu1..5, `B0` mf, `B1` cd, `B2` telecom, `B3` usim, `B4` opt-usim,
//! `B5` isim, `B6` opt-isim, `B7` phonebook, `B8` gsm-access, `B9` csim, `BA` opt-csim,
//! `BB` eap, `BC` df-5gs, `BD` df-saip, `BE` df-snpn, `BF1F` df-5gprose, `BF20` iot,
//! `BF21` opt-iot (PE_Definitions-3.3.1.asn).
//!
//! [`ProfilePackage::parse`] keeps every element's bytes; [`ProfilePackage::encode`] writes
//! them back unchanged, and [`ProfilePackage::personalize`] re-encodes only the elements it
//! modifies (and within them only the modified components).

mod aka;
mod bcd;
pub mod fields;
mod fs;
mod header;
pub mod template;

pub use aka::{AkaParameter, AlgoConfiguration, AlgoParameter, AlgorithmId};
pub use fs::{Fcp, File, FileItem, FileSystemPe};
pub use header::{PeHeader, ProfileHeader, Service};

use tlv::{Tag, Tlv};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaipError {
    #[error("TLV error: {0}")]
    Tlv(#[from] tlv::Error),
    #[error("invalid profile package: {0}")]
    Invalid(&'static str),
    #[error("profile element {0} is not a context-specific constructed tag")]
    BadElementTag(Tag),
    #[error("the profile package has no {0}")]
    Missing(&'static str),
    #[error("invalid {field}: {reason}")]
    InvalidDigits {
        field: &'static str,
        reason: &'static str,
    },
    #[error("invalid key length for {0}")]
    InvalidKeyLength(&'static str),
}

pub type Result<T> = std::result::Result<T, SaipError>;

/// The profile element types (`ProfileElement` CHOICE alternatives, in order: alternative `n`
/// has tag `[n]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeType {
    Header,
    GenericFileManagement,
    PinCodes,
    PukCodes,
    AkaParameter,
    CdmaParameter,
    SecurityDomain,
    Rfm,
    Application,
    NonStandard,
    End,
    Rfu(u32),
    Mf,
    Cd,
    Telecom,
    Usim,
    OptUsim,
    Isim,
    OptIsim,
    Phonebook,
    GsmAccess,
    Csim,
    OptCsim,
    Eap,
    Df5gs,
    DfSaip,
    DfSnpn,
    Df5gProse,
    Iot,
    OptIot,
    /// An alternative added after v3.3.1 (the CHOICE is extensible).
    Unknown(u32),
}

impl PeType {
    /// The type for a `ProfileElement` alternative number.
    pub fn from_number(n: u32) -> PeType {
        use PeType::*;
        match n {
            0 => Header,
            1 => GenericFileManagement,
            2 => PinCodes,
            3 => PukCodes,
            4 => AkaParameter,
            5 => CdmaParameter,
            6 => SecurityDomain,
            7 => Rfm,
            8 => Application,
            9 => NonStandard,
            10 => End,
            11..=15 => Rfu(n - 10),
            16 => Mf,
            17 => Cd,
            18 => Telecom,
            19 => Usim,
            20 => OptUsim,
            21 => Isim,
            22 => OptIsim,
            23 => Phonebook,
            24 => GsmAccess,
            25 => Csim,
            26 => OptCsim,
            27 => Eap,
            28 => Df5gs,
            29 => DfSaip,
            30 => DfSnpn,
            31 => Df5gProse,
            32 => Iot,
            33 => OptIot,
            n => Unknown(n),
        }
    }

    /// The alternative number (context tag number).
    pub fn number(self) -> u32 {
        use PeType::*;
        match self {
            Header => 0,
            GenericFileManagement => 1,
            PinCodes => 2,
            PukCodes => 3,
            AkaParameter => 4,
            CdmaParameter => 5,
            SecurityDomain => 6,
            Rfm => 7,
            Application => 8,
            NonStandard => 9,
            End => 10,
            Rfu(i) => 10 + i,
            Mf => 16,
            Cd => 17,
            Telecom => 18,
            Usim => 19,
            OptUsim => 20,
            Isim => 21,
            OptIsim => 22,
            Phonebook => 23,
            GsmAccess => 24,
            Csim => 25,
            OptCsim => 26,
            Eap => 27,
            Df5gs => 28,
            DfSaip => 29,
            DfSnpn => 30,
            Df5gProse => 31,
            Iot => 32,
            OptIot => 33,
            Unknown(n) => n,
        }
    }

    /// The element tag, e.g. `A0` for the header, `B3` for the USIM, `BF20` for IoT.
    pub fn tag(self) -> Tag {
        Tag::context_constructed(self.number())
    }

    /// Component names for the template-based file-system PEs.
    pub fn file_fields(self) -> Option<&'static [&'static str]> {
        use PeType::*;
        Some(match self {
            Mf => fields::MF,
            Cd => fields::CD,
            Telecom => fields::TELECOM,
            Usim => fields::USIM,
            OptUsim => fields::OPT_USIM,
            Isim => fields::ISIM,
            OptIsim => fields::OPT_ISIM,
            Phonebook => fields::PHONEBOOK,
            GsmAccess => fields::GSM_ACCESS,
            Csim => fields::CSIM,
            OptCsim => fields::OPT_CSIM,
            Eap => fields::EAP,
            Df5gs => fields::DF_5GS,
            DfSaip => fields::DF_SAIP,
            DfSnpn => fields::DF_SNPN,
            Df5gProse => fields::DF_5GPROSE,
            Iot => fields::IOT,
            OptIot => fields::OPT_IOT,
            _ => return None,
        })
    }
}

/// One profile element: the parsed view (where this crate parses that type) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileElement {
    Header {
        header: ProfileHeader,
        raw: Vec<u8>,
    },
    /// PE-MF, PE-USIM, PE-TELECOM, ... (template-based file-system PEs).
    FileSystem {
        pe_type: PeType,
        fs: FileSystemPe,
        raw: Vec<u8>,
    },
    AkaParameter {
        aka: AkaParameter,
        raw: SecretBytes,
    },
    /// Everything else (security domains, applications, PIN/PUK, generic file management,
    /// end, ...), kept as encoded.
    Other {
        pe_type: PeType,
        raw: Vec<u8>,
    },
}

/// Bytes that hold secrets (the AKA element carries K and OPc): zeroized on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

impl ProfileElement {
    /// Decodes one element from its complete encoding.
    pub fn decode(raw: &[u8]) -> Result<ProfileElement> {
        ProfileElement::decode_with(raw, true)
    }

    /// `keep_fcp`: see [`ProfilePackage::check`].
    fn decode_with(raw: &[u8], keep_fcp: bool) -> Result<ProfileElement> {
        let tlv = Tlv::parse_single(raw)?;
        if tlv.tag.class() != tlv::Class::Context || !tlv.tag.is_constructed() {
            return Err(SaipError::BadElementTag(tlv.tag));
        }
        let pe_type = PeType::from_number(tlv.tag.number());
        Ok(match pe_type {
            PeType::Header => ProfileElement::Header {
                header: ProfileHeader::decode(tlv.value)?,
                raw: raw.to_vec(),
            },
            PeType::AkaParameter => ProfileElement::AkaParameter {
                aka: AkaParameter::decode(tlv.value)?,
                raw: SecretBytes(raw.to_vec()),
            },
            t => match t.file_fields() {
                Some(names) => ProfileElement::FileSystem {
                    pe_type,
                    fs: FileSystemPe::decode(tlv.value, names, keep_fcp)?,
                    raw: raw.to_vec(),
                },
                None => ProfileElement::Other {
                    pe_type,
                    raw: raw.to_vec(),
                },
            },
        })
    }

    pub fn pe_type(&self) -> PeType {
        match self {
            ProfileElement::Header { .. } => PeType::Header,
            ProfileElement::FileSystem { pe_type, .. } | ProfileElement::Other { pe_type, .. } => {
                *pe_type
            }
            ProfileElement::AkaParameter { .. } => PeType::AkaParameter,
        }
    }

    /// The element's complete encoding.
    pub fn raw(&self) -> &[u8] {
        match self {
            ProfileElement::Header { raw, .. }
            | ProfileElement::FileSystem { raw, .. }
            | ProfileElement::Other { raw, .. } => raw,
            ProfileElement::AkaParameter { raw, .. } => &raw.0,
        }
    }

    pub fn file_system(&self) -> Option<&FileSystemPe> {
        match self {
            ProfileElement::FileSystem { fs, .. } => Some(fs),
            _ => None,
        }
    }
}

/// New values for [`ProfilePackage::personalize`]; `None` leaves a value unchanged.
#[derive(Default, Clone)]
pub struct Personalization {
    /// 18 to 20 digits (no check digit is added or verified).
    pub iccid: Option<String>,
    /// 6 to 15 digits.
    pub imsi: Option<String>,
    pub k: Option<Zeroizing<Vec<u8>>>,
    pub opc: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Personalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Personalization")
            .field("iccid", &self.iccid)
            .field("imsi", &self.imsi)
            .field("k", &self.k.as_ref().map(|_| "<redacted>"))
            .field("opc", &self.opc.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What [`ProfilePackage::check`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    /// ICCID digits from the header ([`ProfilePackage::iccid`]).
    pub iccid: String,
    /// [`ProfilePackage::imsi`].
    pub imsi: Option<String>,
}

/// A parsed unprotected profile package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePackage {
    elements: Vec<ProfileElement>,
}

impl ProfilePackage {
    /// Parses a DER sequence of profile elements. The first element must be the header.
    pub fn parse(der: &[u8]) -> Result<ProfilePackage> {
        ProfilePackage::parse_with(der, true)
    }

    /// Every check of [`ProfilePackage::parse`], with the same result (`Ok` exactly when
    /// `parse` succeeds, the same error otherwise), for a caller that needs only the ICCID and
    /// the IMSI, e.g. an eUICC accepting a package for installation: the file descriptors
    /// (`Fcp`) are checked but not copied, which saves most of the allocations of a parse.
    pub fn check(der: &[u8]) -> Result<PackageSummary> {
        let p = ProfilePackage::parse_with(der, false)?;
        Ok(PackageSummary {
            iccid: p.iccid().to_string(),
            imsi: p.imsi(),
        })
    }

    /// `keep_fcp` false: file descriptors are checked, their byte-string fields not kept
    /// (the result is then only fit for [`ProfilePackage::check`]).
    fn parse_with(der: &[u8], keep_fcp: bool) -> Result<ProfilePackage> {
        let mut elements = Vec::new();
        let mut rest = der;
        while !rest.is_empty() {
            let (tlv, next) = Tlv::parse(rest)?;
            elements.push(ProfileElement::decode_with(tlv.raw, keep_fcp)?);
            rest = next;
        }
        match elements.first() {
            Some(ProfileElement::Header { .. }) => {}
            Some(_) => {
                return Err(SaipError::Invalid(
                    "the first profile element is not the ProfileHeader",
                ))
            }
            None => return Err(SaipError::Missing("ProfileHeader")),
        }
        if elements
            .iter()
            .filter(|e| e.pe_type() == PeType::Header)
            .count()
            != 1
        {
            return Err(SaipError::Invalid("more than one ProfileHeader"));
        }
        Ok(ProfilePackage { elements })
    }

    /// The package bytes: every element as stored (byte-identical for an unmodified package).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.elements.iter().map(|e| e.raw().len()).sum());
        for e in &self.elements {
            out.extend_from_slice(e.raw());
        }
        out
    }

    pub fn elements(&self) -> &[ProfileElement] {
        &self.elements
    }

    pub fn header(&self) -> &ProfileHeader {
        self.elements
            .iter()
            .find_map(|e| match e {
                ProfileElement::Header { header, .. } => Some(header),
                _ => None,
            })
            // parse() guarantees exactly one header; this branch is unreachable.
            .unwrap_or_else(|| unreachable!("ProfilePackage without header"))
    }

    /// ICCID digits from the header.
    pub fn iccid(&self) -> &str {
        &self.header().iccid
    }

    pub fn profile_type(&self) -> Option<&str> {
        self.header().profile_type.as_deref()
    }

    /// File-system PEs of one type, in package order.
    pub fn file_systems(&self, pe_type: PeType) -> impl Iterator<Item = &FileSystemPe> {
        self.elements
            .iter()
            .filter(move |e| e.pe_type() == pe_type)
            .filter_map(|e| e.file_system())
    }

    /// The IMSI from EF.IMSI of the first PE-USIM (None if absent or not a valid IMSI).
    pub fn imsi(&self) -> Option<String> {
        let content = self
            .file_systems(PeType::Usim)
            .next()?
            .file("ef-imsi")?
            .explicit_content()?;
        bcd::imsi_decode(&content).ok()
    }

    /// The ICCID from EF.ICCID in PE-MF, if given there.
    pub fn ef_iccid(&self) -> Option<String> {
        let content = self
            .file_systems(PeType::Mf)
            .next()?
            .file("ef-iccid")?
            .explicit_content()?;
        bcd::iccid_ef_decode(content.get(..10)?).ok()
    }

    /// All AKA parameter elements (one per NAA, e.g. USIM and ISIM).
    pub fn akas(&self) -> impl Iterator<Item = &AkaParameter> {
        self.elements.iter().filter_map(|e| match e {
            ProfileElement::AkaParameter { aka, .. } => Some(aka),
            _ => None,
        })
    }

    /// The first AKA parameter element.
    pub fn aka(&self) -> Option<&AkaParameter> {
        self.akas().next()
    }

    /// Rewrites ICCID (header and MF/EF.ICCID), IMSI (EF.IMSI of every PE-USIM) and K/OPc (every
    /// AKA parameter element with its own algorithm parameters). Only the elements touched are
    /// re-encoded. Everything is validated before anything is changed.
    pub fn personalize(&mut self, p: &Personalization) -> Result<()> {
        let iccid = p
            .iccid
            .as_deref()
            .map(|s| Ok::<_, SaipError>((bcd::iccid_header_encode(s)?, bcd::iccid_ef_encode(s)?)))
            .transpose()?;
        let imsi = p.imsi.as_deref().map(bcd::imsi_encode).transpose()?;
        self.check_key_lengths(p)?;
        if imsi.is_some() && self.file_systems(PeType::Usim).next().is_none() {
            return Err(SaipError::Missing("PE-USIM for the IMSI"));
        }
        if (p.k.is_some() || p.opc.is_some()) && !self.akas().any(|a| a.algo().is_some()) {
            return Err(SaipError::Missing("AKA parameter element for K/OPc"));
        }

        let mut new_elements = self.elements.clone();
        for e in new_elements.iter_mut() {
            let new_raw = match (e.pe_type(), &iccid, &imsi) {
                (PeType::Header, Some((hdr, _)), _) => {
                    Some(replace_component(e.raw(), header::TAG_ICCID, |t| {
                        Ok(tlv::encode_tlv(t.tag, hdr))
                    })?)
                }
                (PeType::Mf, Some((_, ef)), _) => {
                    Some(replace_file(e.raw(), PeType::Mf, "ef-iccid", ef)?)
                }
                (PeType::Usim, _, Some(imsi)) => {
                    Some(replace_file(e.raw(), PeType::Usim, "ef-imsi", imsi)?)
                }
                (PeType::AkaParameter, _, _) if p.k.is_some() || p.opc.is_some() => {
                    aka::replace_keys(
                        e.raw(),
                        p.k.as_deref().map(|v| &v[..]),
                        p.opc.as_deref().map(|v| &v[..]),
                    )?
                }
                _ => None,
            };
            if let Some(raw) = new_raw {
                *e = ProfileElement::decode(&raw)?;
            }
        }
        self.elements = new_elements;
        Ok(())
    }

    fn check_key_lengths(&self, p: &Personalization) -> Result<()> {
        for a in self.akas().filter_map(|a| a.algo()) {
            if p.k
                .as_ref()
                .is_some_and(|k| !key_length_ok(a.algorithm, k.len()))
            {
                return Err(SaipError::InvalidKeyLength("K"));
            }
            if p.opc
                .as_ref()
                .is_some_and(|o| !opc_length_ok(a.algorithm, o.len()))
            {
                return Err(SaipError::InvalidKeyLength("OPc"));
            }
        }
        Ok(())
    }
}

/// Milenage: 128-bit K (TS 35.206). TUAK: 128 or 256 bits (TS 35.231). Test algorithm
/// (TS 34.108 §8.1.2): 128 bits.
fn key_length_ok(alg: AlgorithmId, n: usize) -> bool {
    match alg {
        AlgorithmId::Tuak => n == 16 || n == 32,
        _ => n == 16,
    }
}

/// Milenage OPc: 128 bits. TUAK TOPc: 256 bits. Otherwise (ignored by the algorithm): either.
fn opc_length_ok(alg: AlgorithmId, n: usize) -> bool {
    match alg {
        AlgorithmId::Milenage => n == 16,
        AlgorithmId::Tuak => n == 32,
        _ => n == 16 || n == 32,
    }
}

/// Re-encodes a constructed TLV, letting `f` replace any direct child (by returning its new
/// complete encoding); children `f` leaves alone keep their bytes.
pub(crate) fn rebuild(
    tlv: &Tlv<'_>,
    mut f: impl FnMut(&Tlv<'_>) -> Result<Option<Vec<u8>>>,
) -> Result<Vec<u8>> {
    let mut inner = Vec::with_capacity(tlv.value.len() + 8);
    for child in tlv::iter(tlv.value) {
        let child = child?;
        match f(&child)? {
            Some(new) => inner.extend_from_slice(&new),
            None => inner.extend_from_slice(child.raw),
        }
    }
    Ok(tlv::encode_tlv(tlv.tag, &inner))
}

/// Replaces the direct child with tag `tag` of the element `raw`; it must exist.
fn replace_component(
    raw: &[u8],
    tag: Tag,
    f: impl Fn(&Tlv<'_>) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let elem = Tlv::parse_single(raw)?;
    let mut found = false;
    let out = rebuild(&elem, |c| {
        if c.tag == tag {
            found = true;
            f(c).map(Some)
        } else {
            Ok(None)
        }
    })?;
    if !found {
        return Err(SaipError::Missing("component to personalize"));
    }
    Ok(out)
}

/// Replaces the content of file component `name` of a file-system PE.
fn replace_file(raw: &[u8], pe_type: PeType, name: &str, content: &[u8]) -> Result<Vec<u8>> {
    let index = pe_type
        .file_fields()
        .and_then(|f| f.iter().position(|n| *n == name))
        .ok_or(SaipError::Missing("file component"))?;
    replace_component(raw, Tag::context_constructed(index as u32), |t| {
        fs::replace_file_content(t, content)
    })
}

/// OBJECT IDENTIFIER contents (X.690 §8.19) to dotted decimal.
pub(crate) fn oid_to_string(contents: &[u8]) -> Result<String> {
    use std::fmt::Write;
    let bad = SaipError::Invalid("OBJECT IDENTIFIER");
    if contents.is_empty() || contents.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(bad);
    }
    // Written in place: one allocation (a SAIP templateID has ~8 arcs of 1 to 3 digits).
    let mut out = String::with_capacity(3 * contents.len() + 2);
    let mut v: u64 = 0;
    for (i, &b) in contents.iter().enumerate() {
        let starts_arc = i == 0 || contents[i - 1] & 0x80 == 0;
        if starts_arc && b == 0x80 {
            return Err(bad); // non-minimal
        }
        if v > u64::MAX >> 7 {
            return Err(bad);
        }
        v = (v << 7) | (b & 0x7F) as u64;
        if b & 0x80 == 0 {
            // Writing to a String cannot fail.
            let _ = if out.is_empty() {
                let first = (v / 40).min(2);
                write!(out, "{first}.{}", v - first * 40)
            } else {
                write!(out, ".{v}")
            };
            v = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
