//! File-system profile elements created from templates (PE-MF, PE-USIM, PE-TELECOM, ...):
//! SAIP §8.3. Each is `SEQUENCE { header [0] PEHeader, templateID [1] OID, <file> [n] File, ... }`.

use tlv::{Reader, Tag, Tlv};

use crate::header::PeHeader;
use crate::{oid_to_string, Result, SaipError};

/// `Fcp` (SAIP §8.3.2, coding per ETSI TS 102 222): the fields this crate names, each kept as
/// its raw value. Unknown fields are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fcp {
    /// `[2]` fileDescriptor (file descriptor byte, data coding, record length ...).
    pub file_descriptor: Option<Vec<u8>>,
    /// `[3]` fileID.
    pub file_id: Option<[u8; 2]>,
    /// `[4]` dfName (ADF AID).
    pub df_name: Option<Vec<u8>>,
    /// `[10]` lcsi (DEFAULT '05').
    pub lcsi: Option<u8>,
    /// `[11]` securityAttributesReferenced.
    pub security_attributes_referenced: Option<Vec<u8>>,
    /// `[0]` efFileSize (big-endian, minimal).
    pub ef_file_size: Option<Vec<u8>>,
    /// `[PRIVATE 6]` pinStatusTemplateDO.
    pub pin_status_template: Option<Vec<u8>>,
    /// `[8]` shortEFID (0 or 1 byte).
    pub short_ef_id: Option<Vec<u8>>,
    /// `[5]` proprietaryEFInfo, raw contents.
    pub proprietary_ef_info: Option<Vec<u8>>,
    /// `[PRIVATE 7]` linkPath.
    pub link_path: Option<Vec<u8>>,
}

impl Fcp {
    pub(crate) fn decode(contents: &[u8]) -> Result<Fcp> {
        Fcp::decode_with(contents, true)
    }

    /// With `keep` false, the same checks as [`Fcp::decode`] but the byte-string fields are
    /// left `None` (no copies: see [`crate::ProfilePackage::check`]).
    pub(crate) fn decode_with(contents: &[u8], keep: bool) -> Result<Fcp> {
        let mut fcp = Fcp::default();
        for t in tlv::iter(contents) {
            let t = t?;
            // Copied only for the fields kept (not for fileID, lcsi or unknown tags).
            let v = || keep.then(|| t.value.to_vec());
            match t.tag.0 {
                0x82 => fcp.file_descriptor = v(),
                0x83 => {
                    fcp.file_id = Some(
                        t.value
                            .try_into()
                            .map_err(|_| SaipError::Invalid("fileID is not 2 bytes"))?,
                    )
                }
                0x84 => fcp.df_name = v(),
                0x8A => match t.value {
                    [b] => fcp.lcsi = Some(*b),
                    _ => return Err(SaipError::Invalid("lcsi is not 1 byte")),
                },
                0x8B => fcp.security_attributes_referenced = v(),
                0x80 => fcp.ef_file_size = v(),
                0xC6 => fcp.pin_status_template = v(),
                0x88 => fcp.short_ef_id = v(),
                0xA5 => fcp.proprietary_ef_info = v(),
                0xC7 => fcp.link_path = v(),
                _ => {}
            }
        }
        Ok(fcp)
    }

    /// efFileSize as a number.
    pub fn file_size(&self) -> Option<usize> {
        let s = self.ef_file_size.as_ref()?;
        (s.len() <= 4).then(|| s.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize))
    }
}

/// One entry of `File ::= SEQUENCE OF CHOICE { doNotCreate [0] NULL, fileDescriptor [1] Fcp,
/// fillFileOffset [2] UInt16, fillFileContent [3] OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileItem {
    DoNotCreate,
    Descriptor(Fcp),
    /// Skip this many bytes from the current position.
    FillOffset(u16),
    /// Write these bytes at the current position.
    FillContent(Vec<u8>),
}

pub(crate) const TAG_DO_NOT_CREATE: Tag = Tag::context(0);
pub(crate) const TAG_FCP: Tag = Tag::context_constructed(1);
pub(crate) const TAG_FILL_OFFSET: Tag = Tag::context(2);
pub(crate) const TAG_FILL_CONTENT: Tag = Tag::context(3);

/// A `File` of a template PE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Component number within the PE (its context tag).
    pub component: u32,
    /// ASN.1 component name, e.g. `ef-imsi`, when known.
    pub name: Option<&'static str>,
    pub items: Vec<FileItem>,
}

impl File {
    /// `keep_fcp`: see [`Fcp::decode_with`].
    pub(crate) fn decode(
        component: u32,
        name: Option<&'static str>,
        contents: &[u8],
        keep_fcp: bool,
    ) -> Result<File> {
        let mut items = Vec::new();
        for t in tlv::iter(contents) {
            let t = t?;
            items.push(match t.tag {
                TAG_DO_NOT_CREATE => FileItem::DoNotCreate,
                TAG_FCP => FileItem::Descriptor(Fcp::decode_with(t.value, keep_fcp)?),
                TAG_FILL_OFFSET => {
                    let v = tlv::der::decode_uint(t.value)?;
                    FileItem::FillOffset(
                        u16::try_from(v).map_err(|_| SaipError::Invalid("fillFileOffset"))?,
                    )
                }
                TAG_FILL_CONTENT => FileItem::FillContent(t.value.to_vec()),
                _ => return Err(SaipError::Invalid("unknown File entry")),
            });
        }
        Ok(File {
            component,
            name,
            items,
        })
    }

    /// The file descriptor given in this PE (absent when the template's is used unchanged).
    pub fn fcp(&self) -> Option<&Fcp> {
        self.items.iter().find_map(|i| match i {
            FileItem::Descriptor(f) => Some(f),
            _ => None,
        })
    }

    pub fn do_not_create(&self) -> bool {
        self.items.contains(&FileItem::DoNotCreate)
    }

    /// The content explicitly given by fillFileContent / fillFileOffset (relative skips), as
    /// one byte string from offset 0. Skipped bytes read `FF` here: the template default or
    /// fill pattern is not applied. `None` when the PE gives no content.
    pub fn explicit_content(&self) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        let mut pos = 0usize;
        let mut any = false;
        for item in &self.items {
            match item {
                FileItem::FillOffset(n) => pos += *n as usize,
                FileItem::FillContent(c) => {
                    any = true;
                    if out.len() < pos + c.len() {
                        out.resize(pos + c.len(), 0xFF);
                    }
                    out[pos..pos + c.len()].copy_from_slice(c);
                    pos += c.len();
                }
                _ => {}
            }
        }
        any.then_some(out)
    }
}

/// A file-system PE created from a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSystemPe {
    pub pe_header: PeHeader,
    /// templateID in dotted form, e.g. `2.23.143.1.2.4` (USIM).
    pub template_id: String,
    pub files: Vec<File>,
}

impl FileSystemPe {
    /// `keep_fcp`: see [`Fcp::decode_with`].
    pub(crate) fn decode(
        contents: &[u8],
        names: &'static [&'static str],
        keep_fcp: bool,
    ) -> Result<FileSystemPe> {
        let mut r = Reader::new(contents);
        let pe_header = PeHeader::decode(&r.expect(Tag::context_constructed(0))?)?;
        let template_id = oid_to_string(r.expect(Tag::context(1))?.value)?;
        // At most one File per named component (they are in strictly increasing order):
        // one allocation instead of growing 4, 8, 16, ...
        let mut files = Vec::with_capacity(names.len().min(64));
        let mut last = 1;
        while let Some(t) = r.next()? {
            let n = t.tag.number();
            if t.tag.class() != tlv::Class::Context || !t.tag.is_constructed() || n <= last {
                return Err(SaipError::Invalid(
                    "file component out of order or not a File",
                ));
            }
            last = n;
            files.push(File::decode(
                n,
                names.get(n as usize).copied(),
                t.value,
                keep_fcp,
            )?);
        }
        Ok(FileSystemPe {
            pe_header,
            template_id,
            files,
        })
    }

    /// The file with ASN.1 component name `name` (e.g. `ef-imsi`).
    pub fn file(&self, name: &str) -> Option<&File> {
        self.files.iter().find(|f| f.name == Some(name))
    }
}

/// Re-encodes a `File` with all fillFileContent/fillFileOffset replaced by one fillFileContent
/// holding `content` (the descriptor and doNotCreate entries are kept as they were).
pub(crate) fn replace_file_content(file: &Tlv<'_>, content: &[u8]) -> Result<Vec<u8>> {
    let mut inner = Vec::new();
    for t in tlv::iter(file.value) {
        let t = t?;
        if t.tag != TAG_FILL_CONTENT && t.tag != TAG_FILL_OFFSET {
            inner.extend_from_slice(t.raw);
        }
    }
    tlv::write_tlv(TAG_FILL_CONTENT, content, &mut inner);
    Ok(tlv::encode_tlv(file.tag, &inner))
}
