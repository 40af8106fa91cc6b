//! File-structure templates of the TCA "eUICC Profile Package: Interoperable Format Technical
//! Specification" (SAIP v2.3.1 / v3.3.1, Annex A "File Structure Templates Definition", §9 in
//! v2.x), and the commands of PE-GenericFileManagement (SAIP §8.3.4).
//!
//! A template-based profile element (PE-MF, PE-USIM, ...) names its template by OID and lists
//! only the files it changes; everything else (FID, structure, size, SFI, access rule record,
//! default content) comes from the table here. The facts were checked against the spec tables
//! as transcribed in osmocom pySim (`pySim/esim/saip/templates.py`); where pySim repeats a FID
//! by mistake, 3GPP TS 31.102 / TS 31.103 / ETSI TS 102 221 give the FID used here (noted).
//!
//! Every template file is created with LCSI '05' (operational, activated) and the
//! "shareable" bit set (SAIP §8.3.2: Fcp `lcsi` DEFAULT '05'; template files are shareable by
//! default) unless the PE's Fcp says otherwise.
//!
//! Access rules: [`TemplateFile::arr`] is a record number of EF.ARR. Per SAIP §8.3.2 (Fcp
//! `securityAttributesReferenced`) the EF.ARR is `2F06` (under the MF) for the MF, ADFs and
//! files directly under the MF, and `6F06` for every other file.

use tlv::{Reader, Tag};

use crate::fs::Fcp;
use crate::{PeType, Result, SaipError};

/// File type column of the template tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Mf,
    Df,
    Adf,
    /// Transparent EF ("TR").
    Transparent,
    /// Linear fixed EF ("LF").
    LinearFixed,
    /// Cyclic EF ("CY").
    Cyclic,
    /// BER-TLV EF ("BT").
    BerTlv,
}

impl FileType {
    pub fn is_df(self) -> bool {
        matches!(self, FileType::Mf | FileType::Df | FileType::Adf)
    }
    pub fn is_record(self) -> bool {
        matches!(self, FileType::LinearFixed | FileType::Cyclic)
    }
}

/// One row of a template table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateFile {
    /// ASN.1 component name in the PE (`ef-imsi`), as in [`crate::fields`].
    pub name: &'static str,
    /// File ID; `None` where the PE must give it (ADF temporary FID, DF.EAP).
    pub fid: Option<u16>,
    pub file_type: FileType,
    /// Number of records (record EFs), `None` when the PE must give the file size.
    pub records: Option<u16>,
    /// File size (transparent/BER-TLV) or record length (record EFs); `None` when the PE
    /// must give it.
    pub size: Option<u32>,
    /// Record number in EF.ARR (see the module note for which EF.ARR).
    pub arr: u8,
    /// Short file identifier.
    pub sfi: Option<u8>,
    /// Default content ("default value" column). `XX...YY` repeats byte `XX` up to the
    /// length, keeping the suffix `YY`; applied per record for record EFs.
    pub default: Option<&'static str>,
    /// The default value is a repeat pattern (the whole string repeats).
    pub repeat: bool,
    /// Component name of the parent DF within the same template; `None`: the template's base
    /// DF (or, for the base DF itself, the DF the template attaches to).
    pub parent: Option<&'static str>,
    /// "High update activity" (TS 102 222 special file information b8).
    pub high_update: bool,
}

impl TemplateFile {
    /// The record number in EF.ARR with the EF.ARR FID made explicit, as `8B` carries it:
    /// `2F06` for MF, ADF and files directly under the MF, else `6F06` (SAIP §8.3.2).
    pub fn default_arr_fid(&self, directly_under_mf: bool) -> u16 {
        if matches!(self.file_type, FileType::Mf | FileType::Adf) || directly_under_mf {
            0x2F06
        } else {
            0x6F06
        }
    }

    /// The default content of one record (record EFs) or of the file, `len` bytes long.
    pub fn default_content(&self, len: usize) -> Option<Vec<u8>> {
        self.default.map(|p| expand_default(p, self.repeat, len))
    }
}

/// Expands a default-value pattern of the template tables (`00FF...FF`, `FFFFFF0000`) to
/// `len` bytes. Malformed hex digits expand to `FF`.
pub fn expand_default(pattern: &str, repeat: bool, len: usize) -> Vec<u8> {
    let hex = |s: &str| -> Vec<u8> {
        s.as_bytes()
            .chunks(2)
            .map(|c| {
                std::str::from_utf8(c)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(0xFF)
            })
            .collect()
    };
    match pattern.split_once("...") {
        Some((pre, suf)) => {
            let pre = hex(pre);
            let suf = hex(suf);
            let fill = pre.last().copied().unwrap_or(0xFF);
            let mut out = pre;
            let body = len.saturating_sub(suf.len());
            out.resize(body.max(out.len()), fill);
            out.extend_from_slice(&suf);
            out.truncate(len);
            out.resize(len, fill);
            out
        }
        None => {
            let p = hex(pattern);
            if repeat && !p.is_empty() {
                p.iter().copied().cycle().take(len).collect()
            } else {
                let mut out = p;
                out.truncate(len);
                // A fixed default shorter than a larger (PE-given) size: pad with 'FF'.
                out.resize(len, 0xFF);
                out
            }
        }
    }
}

/// Which network access application an ADF template belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Naa {
    Usim,
    Isim,
    Csim,
}

/// Where a template's files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The template's first file is the MF.
    Mf,
    /// The first file is a DF directly under the MF.
    UnderMf,
    /// The first file is a new ADF of this NAA.
    Adf(Naa),
    /// No base DF: the files go into the most recently created ADF of this NAA (optional
    /// templates such as OPT-USIM).
    InAdf(Naa),
    /// The first file is a DF under the most recently created ADF of this NAA.
    UnderAdf(Naa),
}

/// One file-structure template.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// templateID, dotted.
    pub oid: &'static str,
    /// The profile element type that uses this template.
    pub pe_type: PeType,
    /// Spec clause (SAIP v3.3.1 Annex A / v2.3.1 §9).
    pub clause: &'static str,
    /// "Created by default": every file is created unless the PE says doNotCreate;
    /// otherwise only the files the PE lists are created.
    pub created_by_default: bool,
    pub base: Base,
    /// The table, in parts (shared parts between template versions).
    pub parts: &'static [&'static [TemplateFile]],
}

impl Template {
    pub fn files(&self) -> impl Iterator<Item = &'static TemplateFile> {
        self.parts.iter().flat_map(|p| p.iter())
    }

    pub fn file(&self, name: &str) -> Option<&'static TemplateFile> {
        self.files().find(|f| f.name == name)
    }
}

/// The template with this OID (dotted), if this crate knows it.
pub fn by_oid(oid: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.oid == oid)
}

// Row constructors (keep the tables one line per file, as in the spec).
const fn row(
    name: &'static str,
    fid: u16,
    file_type: FileType,
    records: Option<u16>,
    size: Option<u32>,
    arr: u8,
) -> TemplateFile {
    TemplateFile {
        name,
        fid: Some(fid),
        file_type,
        records,
        size,
        arr,
        sfi: None,
        default: None,
        repeat: false,
        parent: None,
        high_update: false,
    }
}
const fn df(name: &'static str, fid: u16) -> TemplateFile {
    row(name, fid, FileType::Df, None, None, 14)
}
const fn tr(name: &'static str, fid: u16, size: u32, arr: u8) -> TemplateFile {
    row(name, fid, FileType::Transparent, None, Some(size), arr)
}
/// Transparent EF whose size the PE gives.
const fn tr_(name: &'static str, fid: u16, arr: u8) -> TemplateFile {
    row(name, fid, FileType::Transparent, None, None, arr)
}
const fn lf(name: &'static str, fid: u16, records: u16, len: u32, arr: u8) -> TemplateFile {
    row(
        name,
        fid,
        FileType::LinearFixed,
        Some(records),
        Some(len),
        arr,
    )
}
/// Linear fixed EF whose size (and maybe record length) the PE gives.
const fn lf_(name: &'static str, fid: u16, len: Option<u32>, arr: u8) -> TemplateFile {
    row(name, fid, FileType::LinearFixed, None, len, arr)
}
const fn cy(name: &'static str, fid: u16, records: Option<u16>, len: u32, arr: u8) -> TemplateFile {
    row(name, fid, FileType::Cyclic, records, Some(len), arr)
}
const fn bt(name: &'static str, fid: u16, arr: u8) -> TemplateFile {
    row(name, fid, FileType::BerTlv, None, None, arr)
}

impl TemplateFile {
    const fn sfi(mut self, sfi: u8) -> Self {
        self.sfi = Some(sfi);
        self
    }
    const fn def(mut self, pattern: &'static str) -> Self {
        self.default = Some(pattern);
        self
    }
    const fn rep(mut self, pattern: &'static str) -> Self {
        self.default = Some(pattern);
        self.repeat = true;
        self
    }
    const fn under(mut self, parent: &'static str) -> Self {
        self.parent = Some(parent);
        self
    }
    const fn high(mut self) -> Self {
        self.high_update = true;
        self
    }
}

use FileType::{Adf, Mf};

/// SAIP Annex A, "Files at MF" (template 2.23.143.1.2.1). EF.ICCID is '2FE2' (TS 102 221
/// §13.2).
const MF_FILES: &[TemplateFile] = &[
    row("mf", 0x3F00, Mf, None, None, 14),
    tr("ef-pl", 0x2F05, 2, 1).sfi(0x05).def("FF...FF"),
    tr("ef-iccid", 0x2FE2, 10, 11),
    lf_("ef-dir", 0x2F00, None, 10).sfi(0x1E),
    lf_("ef-arr", 0x2F06, None, 10),
    tr("ef-umpc", 0x2F08, 5, 10).sfi(0x08),
];

/// "Files at DF.CD" (2.23.143.1.2.2); EF.ICON is the first of '6F40'..'6F7E'.
const CD_FILES: &[TemplateFile] = &[
    df("df-cd", 0x7F11),
    tr_("ef-launchpad", 0x6F01, 2),
    tr_("ef-icon", 0x6F40, 2),
];

/// DF.TELECOM, first part (2.23.143.1.2.3 and .3.2).
const TELECOM_HEAD: &[TemplateFile] = &[
    df("df-telecom", 0x7F10),
    lf_("ef-arr", 0x6F06, None, 10),
    lf_("ef-rma", 0x6F53, None, 3),
    tr("ef-sume", 0x6F54, 22, 3),
    lf("ef-ice-dn", 0x6FE0, 50, 24, 9).def("FF...FF"),
    lf_("ef-ice-ff", 0x6FE1, None, 9).def("FF...FF"),
    lf_("ef-psismsc", 0x6FE5, None, 5),
    df("df-graphics", 0x5F50),
    lf_("ef-img", 0x4F20, None, 2)
        .def("00FF...FF")
        .under("df-graphics"),
    tr_("ef-iidf", 0x4F40, 2)
        .def("FF...FF")
        .under("df-graphics"),
    bt("ef-ice-graphics", 0x4F21, 9).under("df-graphics"),
    tr_("ef-launch-scws", 0x4F01, 10).under("df-graphics"),
    tr_("ef-icon", 0x4F80, 10).under("df-graphics"),
];

/// DF.PHONEBOOK and its files (Annex A DF.PHONEBOOK under DF.TELECOM, and template
/// 2.23.143.1.2.6 under ADF.USIM). Ranged files ('4F38'..'4F3F' EF.EXT1, ...) take the first
/// FID; a PE can name only one file per component.
const PHONEBOOK_FILES: &[TemplateFile] = &[
    df("df-phonebook", 0x5F3A),
    lf_("ef-pbr", 0x4F30, None, 2).under("df-phonebook"),
    lf_("ef-ext1", 0x4F38, Some(13), 5)
        .def("00FF...FF")
        .under("df-phonebook"),
    lf_("ef-aas", 0x4F40, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-gas", 0x4F48, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    tr("ef-psc", 0x4F22, 4, 5)
        .def("00000000")
        .under("df-phonebook"),
    tr("ef-cc", 0x4F23, 2, 5)
        .def("0000")
        .under("df-phonebook")
        .high(),
    tr("ef-puid", 0x4F24, 2, 5)
        .def("0000")
        .under("df-phonebook")
        .high(),
    lf_("ef-iap", 0x4F50, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-adn", 0x4F58, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-pbc", 0x4F60, Some(2), 5)
        .def("00...00")
        .under("df-phonebook"),
    lf_("ef-anr", 0x4F68, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-puri", 0x4F70, None, 5).under("df-phonebook"),
    lf_("ef-email", 0x4F78, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-sne", 0x4F80, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
    lf_("ef-uid", 0x4F88, Some(2), 5)
        .def("0000")
        .under("df-phonebook"),
    lf_("ef-grp", 0x4F90, None, 5)
        .def("00...00")
        .under("df-phonebook"),
    lf_("ef-ccp1", 0x4F98, None, 5)
        .def("FF...FF")
        .under("df-phonebook"),
];

/// DF.MULTIMEDIA and DF.MMSS. EF.MMSSMODE is taken as '4F22', the FID after EF.MLPL '4F20'
/// and EF.MSPL '4F21' (pySim's template table repeats '4F21'; not checked against the spec
/// table).
const TELECOM_MM: &[TemplateFile] = &[
    df("df-multimedia", 0x5F3B),
    bt("ef-mml", 0x4F47, 5).under("df-multimedia"),
    bt("ef-mmdf", 0x4F48, 5).under("df-multimedia"),
    df("df-mmss", 0x5F3C),
    tr_("ef-mlpl", 0x4F20, 2).sfi(0x01).under("df-mmss"),
    tr_("ef-mspl", 0x4F21, 2).sfi(0x02).under("df-mmss"),
    tr("ef-mmssmode", 0x4F22, 1, 2).sfi(0x03).under("df-mmss"),
];

/// DF.MCS and DF.V2X, added by template 2.23.143.1.2.3.2.
const TELECOM_V2_TAIL: &[TemplateFile] = &[
    df("df-mcs", 0x5F3D),
    tr_("ef-mst", 0x4F01, 2).sfi(0x01).under("df-mcs"),
    bt("ef-mcs-config", 0x4F02, 2).sfi(0x02).under("df-mcs"),
    df("df-v2x", 0x5F3E),
    tr_("ef-vst", 0x4F01, 2).sfi(0x01).under("df-v2x"),
    bt("ef-v2x-config", 0x4F02, 2).sfi(0x02).under("df-v2x"),
    tr_("ef-v2xp-pc5", 0x4F03, 2).under("df-v2x"),
    tr_("ef-v2xp-Uu", 0x4F04, 2).under("df-v2x"),
];

/// ADF.USIM mandatory files up to EF.HPPLMN (2.23.143.1.2.4 and .4.2).
const USIM_HEAD: &[TemplateFile] = &[
    TemplateFile {
        fid: None,
        ..row("adf-usim", 0, Adf, None, None, 14)
    },
    tr("ef-imsi", 0x6F07, 9, 2).sfi(0x07),
    lf_("ef-arr", 0x6F06, None, 10).sfi(0x17),
    tr("ef-keys", 0x6F08, 33, 5)
        .sfi(0x08)
        .def("07FF...FF")
        .high(),
    tr("ef-keysPS", 0x6F09, 33, 5)
        .sfi(0x09)
        .def("07FF...FF")
        .high(),
    tr("ef-hpplmn", 0x6F31, 1, 2).sfi(0x12).def("0A"),
];
/// EF.UST: 14 bytes in template 2.4, 17 bytes in 2.4.2.
const USIM_UST_V1: &[TemplateFile] = &[tr("ef-ust", 0x6F38, 14, 2).sfi(0x04)];
const USIM_UST_V2: &[TemplateFile] = &[tr("ef-ust", 0x6F38, 17, 2).sfi(0x04)];
const USIM_TAIL: &[TemplateFile] = &[
    lf("ef-fdn", 0x6F3B, 20, 26, 8).def("FF...FF"),
    lf("ef-sms", 0x6F3C, 10, 176, 5).def("00FF...FF"),
    lf("ef-smsp", 0x6F42, 1, 38, 5).def("FF...FF"),
    tr("ef-smss", 0x6F43, 2, 5).def("FFFF"),
    tr("ef-spn", 0x6F46, 17, 10),
    tr("ef-est", 0x6F56, 1, 8).sfi(0x05),
    tr("ef-start-hfn", 0x6F5B, 6, 5)
        .sfi(0x0F)
        .def("F00000F00000")
        .high(),
    tr("ef-threshold", 0x6F5C, 3, 2).sfi(0x10).def("FFFFFF"),
    tr("ef-psloci", 0x6F73, 14, 5)
        .sfi(0x0C)
        .def("FFFFFFFFFFFFFFFFFFFF0000FF01")
        .high(),
    tr("ef-acc", 0x6F78, 2, 2).sfi(0x06),
    tr("ef-fplmn", 0x6F7B, 12, 5).sfi(0x0D).def("FF...FF"),
    tr("ef-loci", 0x6F7E, 11, 5)
        .sfi(0x0B)
        .def("FFFFFFFFFFFFFF0000FF01")
        .high(),
    tr("ef-ad", 0x6FAD, 4, 10).sfi(0x03).def("00000002"),
    lf("ef-ecc", 0x6FB7, 1, 4, 10).sfi(0x01),
    tr("ef-netpar", 0x6FC4, 128, 5).def("FF...FF").high(),
    tr("ef-epsloci", 0x6FE3, 18, 5)
        .sfi(0x1E)
        .def("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000001")
        .high(),
    lf("ef-epsnsc", 0x6FE4, 1, 80, 5)
        .sfi(0x18)
        .def("FF...FF")
        .high(),
];

/// Optional files at ADF.USIM, template 2.23.143.1.2.5. EF.EXT7 is '6FCC' (pySim
/// `ts_31_102.py`; its template table repeats EF.CFIS '6FCB'); component `ef-ial` is '6FF0'
/// (EF.IWL in pySim's table).
const OPT_USIM_V1: &[TemplateFile] = &[
    tr("ef-li", 0x6F05, 6, 1).sfi(0x02).def("FF...FF"),
    tr("ef-acmax", 0x6F37, 3, 5).def("000000"),
    cy("ef-acm", 0x6F39, Some(1), 3, 7).def("000000").high(),
    tr("ef-gid1", 0x6F3E, 8, 2),
    tr("ef-gid2", 0x6F3F, 8, 2),
    lf("ef-msisdn", 0x6F40, 1, 24, 2).def("FF...FF"),
    tr("ef-puct", 0x6F41, 5, 5).def("FFFFFF0000"),
    tr("ef-cbmi", 0x6F45, 10, 5).def("FF...FF"),
    tr("ef-cbmid", 0x6F48, 10, 2).sfi(0x0E).def("FF...FF"),
    lf("ef-sdn", 0x6F49, 10, 24, 2).def("FF...FF"),
    lf("ef-ext2", 0x6F4B, 10, 13, 8).def("00FF...FF"),
    lf("ef-ext3", 0x6F4C, 10, 13, 2).def("00FF...FF"),
    tr("ef-cbmir", 0x6F50, 20, 5).def("FF...FF"),
    tr("ef-plmnwact", 0x6F60, 40, 5).sfi(0x0A).rep("FFFFFF0000"),
    tr("ef-oplmnwact", 0x6F61, 40, 2)
        .sfi(0x11)
        .rep("FFFFFF0000"),
    tr("ef-hplmnwact", 0x6F62, 5, 2).sfi(0x13).rep("FFFFFF0000"),
    tr("ef-dck", 0x6F2C, 16, 5).def("FF...FF"),
    tr("ef-cnl", 0x6F32, 30, 2).def("FF...FF"),
    lf("ef-smsr", 0x6F47, 10, 30, 5).def("00FF...FF"),
    lf("ef-bdn", 0x6F4D, 10, 25, 8).def("FF...FF"),
    lf("ef-ext5", 0x6F4E, 10, 13, 5).def("00FF...FF"),
    lf("ef-ccp2", 0x6F4F, 5, 15, 5).sfi(0x16).def("FF...FF"),
    lf("ef-ext4", 0x6F55, 10, 13, 8).def("00FF...FF"),
    tr("ef-acl", 0x6F57, 101, 8).def("00FF...FF"),
    lf("ef-cmi", 0x6F58, 10, 11, 2).def("FF...FF"),
    cy("ef-ici", 0x6F80, Some(20), 38, 5)
        .sfi(0x14)
        .def("FF...FF0000000001FFFF")
        .high(),
    cy("ef-oci", 0x6F81, Some(20), 37, 5)
        .sfi(0x15)
        .def("FF...FF00000001FFFF")
        .high(),
    cy("ef-ict", 0x6F82, Some(1), 3, 7).def("000000").high(),
    cy("ef-oct", 0x6F83, Some(1), 3, 7).def("000000").high(),
    tr("ef-vgcs", 0x6FB1, 20, 2),
    tr("ef-vgcss", 0x6FB2, 7, 5),
    tr("ef-vbs", 0x6FB3, 20, 2),
    tr("ef-vbss", 0x6FB4, 7, 5),
    tr("ef-emlpp", 0x6FB5, 2, 2),
    tr("ef-aaem", 0x6FB6, 1, 5).def("00"),
    tr("ef-hiddenkey", 0x6FC3, 4, 5).def("FF...FF"),
    lf("ef-pnn", 0x6FC5, 10, 16, 10).sfi(0x19),
    lf("ef-opl", 0x6FC6, 5, 8, 10).sfi(0x1A),
    lf("ef-mbdn", 0x6FC7, 3, 24, 5),
    lf("ef-ext6", 0x6FC8, 10, 13, 5).def("00FF...FF"),
    lf("ef-mbi", 0x6FC9, 10, 5, 5),
    lf("ef-mwis", 0x6FCA, 10, 6, 5).def("00...00").high(),
    lf("ef-cfis", 0x6FCB, 10, 16, 5).def("0100FF...FF"),
    lf("ef-ext7", 0x6FCC, 10, 13, 5).def("00FF...FF"),
    tr("ef-spdi", 0x6FCD, 17, 2).sfi(0x1B),
    lf("ef-mmsn", 0x6FCE, 10, 6, 5).def("000000FF...FF"),
    lf("ef-ext8", 0x6FCF, 10, 13, 5).def("00FF...FF"),
    tr("ef-mmsicp", 0x6FD0, 100, 2).def("FF...FF"),
    lf_("ef-mmsup", 0x6FD1, None, 5).def("FF...FF"),
    tr("ef-mmsucp", 0x6FD2, 100, 5).def("FF...FF"),
    lf("ef-nia", 0x6FD3, 5, 11, 2).def("FF...FF"),
    tr_("ef-vgcsca", 0x6FD4, 2).def("00...00"),
    tr_("ef-vbsca", 0x6FD5, 2).def("00...00"),
    tr_("ef-gbabp", 0x6FD6, 5).def("FF...FF"),
    lf_("ef-msk", 0x6FD7, None, 2).def("FF...FF").high(),
    lf_("ef-muk", 0x6FD8, None, 2).def("FF...FF"),
    tr("ef-ehplmn", 0x6FD9, 15, 2).sfi(0x1D).def("FF...FF"),
    lf_("ef-gbanl", 0x6FDA, None, 2).def("FF...FF"),
    tr("ef-ehplmnpi", 0x6FDB, 1, 2).def("00"),
    tr("ef-lrplmnsi", 0x6FDC, 1, 2).def("00"),
    lf_("ef-nafkca", 0x6FDD, None, 2).def("FF...FF"),
    tr_("ef-spni", 0x6FDE, 10).def("00FF...FF"),
    lf_("ef-pnni", 0x6FDF, None, 10).def("00FF...FF"),
    lf_("ef-ncp-ip", 0x6FE2, None, 2),
    tr("ef-ufc", 0x6FE6, 30, 10)
        .def("801E60C01E900080040000000000000000F0000000004000000000000080"),
    tr("ef-nasconfig", 0x6FE8, 18, 2),
    lf_("ef-uicciari", 0x6FE7, None, 2),
    tr_("ef-pws", 0x6FEC, 10),
    lf_("ef-fdnuri", 0x6FED, None, 8).def("FF...FF"),
    lf_("ef-bdnuri", 0x6FEE, None, 8).def("FF...FF"),
    lf_("ef-sdnuri", 0x6FEF, None, 2).def("FF...FF"),
    lf_("ef-ial", 0x6FF0, None, 3).def("FF...FF"),
    row("ef-ips", 0x6FF1, FileType::Cyclic, None, Some(4), 10)
        .def("FF...FF")
        .high(),
    lf_("ef-ipd", 0x6FF2, None, 3).def("FF...FF").high(),
];
/// Added by template 2.23.143.1.2.5.2. EF.MudMidCfgData is '6FFE' (TS 31.102/31.103, pySim
/// `ts_31_103_shared.py`; its template table repeats '6FFD').
const OPT_USIM_V2: &[TemplateFile] = &[
    tr_("ef-epdgid", 0x6FF3, 2),
    tr_("ef-epdgselection", 0x6FF4, 2),
    tr_("ef-epdgidem", 0x6FF5, 2),
    tr_("ef-epdgselectionem", 0x6FF6, 2),
    tr("ef-frompreferred", 0x6FF7, 1, 2).def("00"),
    bt("ef-imsconfigdata", 0x6FF8, 2),
    tr("ef-3gpppsdataoff", 0x6FF9, 4, 2),
    lf_("ef-3gpppsdataoffservicelist", 0x6FFA, None, 2),
    bt("ef-xcapconfigdata", 0x6FFC, 2),
    tr_("ef-earfcnlist", 0x6FFD, 10),
    bt("ef-mudmidconfigdata", 0x6FFE, 2),
];
/// Added by template 2.23.143.1.2.5.3 (SAIP v3.3.1 §A.5.2.3).
const OPT_USIM_V3: &[TemplateFile] = &[tr("ef-eaka", 0x6F01, 1, 3)];

/// DF.GSM-ACCESS under ADF.USIM (2.23.143.1.2.7).
const GSM_ACCESS_FILES: &[TemplateFile] = &[
    df("df-gsm-access", 0x5F3B),
    tr("ef-kc", 0x4F20, 9, 5).sfi(0x01).def("FF...FF07").high(),
    tr("ef-kcgprs", 0x4F52, 9, 5)
        .sfi(0x02)
        .def("FF...FF07")
        .high(),
    tr("ef-cpbcch", 0x4F63, 10, 5).def("FF...FF").high(),
    tr("ef-invscan", 0x4F64, 1, 2).def("00"),
];

/// ADF.ISIM mandatory files (2.23.143.1.2.8).
const ISIM_FILES: &[TemplateFile] = &[
    TemplateFile {
        fid: None,
        ..row("adf-isim", 0, Adf, None, None, 14)
    },
    tr_("ef-impi", 0x6F02, 2).sfi(0x02),
    row("ef-impu", 0x6F04, FileType::LinearFixed, Some(1), None, 2).sfi(0x04),
    tr_("ef-domain", 0x6F03, 2).sfi(0x05),
    tr("ef-ist", 0x6F07, 14, 2).sfi(0x07),
    tr("ef-ad", 0x6FAD, 3, 10).sfi(0x03).def("000000"),
    lf_("ef-arr", 0x6F06, None, 10).sfi(0x06),
];

/// Optional files at ADF.ISIM (2.23.143.1.2.9).
const OPT_ISIM_V1: &[TemplateFile] = &[
    row("ef-pcscf", 0x6F09, FileType::LinearFixed, Some(1), None, 2),
    lf("ef-sms", 0x6F3C, 10, 176, 5).def("00FF...FF"),
    lf("ef-smsp", 0x6F42, 1, 38, 5).def("FF...FF"),
    tr("ef-smss", 0x6F43, 2, 5).def("FFFF"),
    lf("ef-smsr", 0x6F47, 10, 30, 5).def("00FF...FF"),
    tr_("ef-gbabp", 0x6FD5, 5).def("FF...FF"),
    lf_("ef-gbanl", 0x6FD7, None, 2).def("FF...FF"),
    lf_("ef-nafkca", 0x6FDD, None, 2).def("FF...FF"),
    lf_("ef-uicciari", 0x6FE7, None, 2),
];
/// Added by 2.23.143.1.2.9.2. EF.MuDMiDConfigData is '6FFE' (3GPP TS 31.103, pySim
/// `ts_31_103_shared.py`; its template table repeats '6FFA').
const OPT_ISIM_V2: &[TemplateFile] = &[
    tr("ef-frompreferred", 0x6FF7, 1, 2).def("00"),
    bt("ef-imsconfigdata", 0x6FF8, 2),
    bt("ef-xcapconfigdata", 0x6FFC, 2),
    lf_("ef-webrtcuri", 0x6FFA, None, 2),
    bt("ef-mudmidconfigdata", 0x6FFE, 2),
];

/// DF.EAP (2.23.143.1.2.12); its FID is given by the PE.
const EAP_FILES: &[TemplateFile] = &[
    TemplateFile {
        fid: None,
        ..df("df-eap", 0)
    },
    tr_("ef-eapkeys", 0x4F01, 2).high(),
    tr("ef-eapstatus", 0x4F02, 1, 2).def("00").high(),
    tr_("ef-puid", 0x4F03, 2),
    tr_("ef-ps", 0x4F04, 5).def("FF...FF").high(),
    tr_("ef-curid", 0x4F20, 5).def("FF...FF").high(),
    tr_("ef-reid", 0x4F21, 5),
    tr_("ef-realm", 0x4F22, 5),
];

/// DF.5GS under ADF.USIM (2.23.143.1.2.13, .13.2, .13.3, .13.4). DF.5GS is '5FC0' (TS
/// 31.102 §4.4.11, as pySim's `ts_31_102.py` card model has it; its template table writes
/// '6FC0').
const DF5GS_HEAD: &[TemplateFile] = &[
    df("df-df-5gs", 0x5FC0),
    tr("ef-5gs3gpploci", 0x4F01, 20, 5)
        .sfi(0x01)
        .def("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000001")
        .high(),
    tr("ef-5gsn3gpploci", 0x4F02, 20, 5)
        .sfi(0x02)
        .def("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000001")
        .high(),
];
const DF5GS_NSC_1X57: &[TemplateFile] = &[
    lf("ef-5gs3gppnsc", 0x4F03, 1, 57, 5)
        .sfi(0x03)
        .def("FF...FF")
        .high(),
    lf("ef-5gsn3gppnsc", 0x4F04, 1, 57, 5)
        .sfi(0x04)
        .def("FF...FF")
        .high(),
];
const DF5GS_NSC_2X62: &[TemplateFile] = &[
    lf("ef-5gs3gppnsc", 0x4F03, 2, 62, 5)
        .sfi(0x03)
        .def("FF...FF")
        .high(),
    lf("ef-5gsn3gppnsc", 0x4F04, 2, 62, 5)
        .sfi(0x04)
        .def("FF...FF")
        .high(),
];
const DF5GS_MID: &[TemplateFile] = &[
    tr("ef-5gauthkeys", 0x4F05, 110, 5).sfi(0x05).high(),
    tr("ef-uac-aic", 0x4F06, 4, 2).sfi(0x06),
    tr_("ef-suci-calc-info", 0x4F07, 2).sfi(0x07).def("FF...FF"),
    lf_("ef-opl5g", 0x4F08, Some(10), 10)
        .sfi(0x08)
        .def("FF...FF"),
    tr_("ef-supinai", 0x4F09, 2).sfi(0x09),
];
const DF5GS_RI_V1: &[TemplateFile] = &[tr("ef-routing-indicator", 0x4F0A, 4, 2)
    .sfi(0x0A)
    .def("F0FFFFFF")];
const DF5GS_RI_V4: &[TemplateFile] = &[tr("ef-routing-indicator", 0x4F0A, 4, 2)
    .sfi(0x0A)
    .def("F0FF0000")];
const DF5GS_V2: &[TemplateFile] = &[
    bt("ef-ursp", 0x4F0B, 2),
    tr("ef-tn3gppsnn", 0x4F0C, 1, 2).sfi(0x0C).def("00"),
];
const DF5GS_V4: &[TemplateFile] = &[
    tr("ef-cag", 0x4F0D, 2, 2).sfi(0x0D),
    tr_("ef-sor-cmci", 0x4F0E, 2).sfi(0x0E),
    tr("ef-dri", 0x4F0F, 7, 2).sfi(0x0F),
    tr("ef-5gsedrx", 0x4F10, 2, 2).sfi(0x10),
    tr("ef-5gnswo-conf", 0x4F11, 1, 2).sfi(0x11),
    tr("ef-mchpplmn", 0x4F15, 1, 2).sfi(0x15),
    tr("ef-kausf-derivation", 0x4F16, 1, 2).sfi(0x16),
];

/// DF.SAIP under ADF.USIM (2.23.143.1.2.14); '5FD0' (pySim `ts_31_102.py`; its template
/// table writes '6FD0').
const DF_SAIP_FILES: &[TemplateFile] = &[
    df("df-df-saip", 0x5FD0),
    tr_("ef-suci-calc-info-usim", 0x4F01, 3).def("FF...FF"),
];

/// DF.SNPN under ADF.USIM (2.23.143.1.2.15).
const DF_SNPN_FILES: &[TemplateFile] =
    &[df("df-df-snpn", 0x5FE0), tr("ef-pws-snpn", 0x4F01, 1, 10)];

/// DF.5G_ProSe under ADF.USIM (2.23.143.1.2.16).
const DF_5GPROSE_FILES: &[TemplateFile] = &[
    df("df-df-5g-prose", 0x5FF0),
    tr("ef-5g-prose-st", 0x4F01, 1, 2).sfi(0x01),
    tr("ef-5g-prose-dd", 0x4F02, 26, 2).sfi(0x02),
    tr("ef-5g-prose-dc", 0x4F03, 12, 2).sfi(0x03),
    tr("ef-5g-prose-u2nru", 0x4F04, 32, 2).sfi(0x04),
    tr("ef-5g-prose-ru", 0x4F05, 29, 2).sfi(0x05),
    tr("ef-5g-prose-uir", 0x4F06, 32, 2).sfi(0x06),
];

const fn t(
    oid: &'static str,
    pe_type: PeType,
    clause: &'static str,
    created_by_default: bool,
    base: Base,
    parts: &'static [&'static [TemplateFile]],
) -> Template {
    Template {
        oid,
        pe_type,
        clause,
        created_by_default,
        base,
        parts,
    }
}

/// Every template this crate knows. (CSIM, OPT-CSIM, IoT and OPT-IoT are not included.)
pub static TEMPLATES: &[Template] = &[
    t(
        "2.23.143.1.2.1",
        PeType::Mf,
        "A.2 MF",
        true,
        Base::Mf,
        &[MF_FILES],
    ),
    t(
        "2.23.143.1.2.2",
        PeType::Cd,
        "A.3 DF.CD",
        false,
        Base::UnderMf,
        &[CD_FILES],
    ),
    t(
        "2.23.143.1.2.3",
        PeType::Telecom,
        "A.4 DF.TELECOM (v2.3.1)",
        false,
        Base::UnderMf,
        &[TELECOM_HEAD, PHONEBOOK_FILES, TELECOM_MM],
    ),
    t(
        "2.23.143.1.2.3.2",
        PeType::Telecom,
        "A.4 DF.TELECOM",
        false,
        Base::UnderMf,
        &[TELECOM_HEAD, PHONEBOOK_FILES, TELECOM_MM, TELECOM_V2_TAIL],
    ),
    t(
        "2.23.143.1.2.4",
        PeType::Usim,
        "A.5.1 ADF.USIM (v2.3.1)",
        true,
        Base::Adf(Naa::Usim),
        &[USIM_HEAD, USIM_UST_V1, USIM_TAIL],
    ),
    t(
        "2.23.143.1.2.4.2",
        PeType::Usim,
        "A.5.1 ADF.USIM",
        true,
        Base::Adf(Naa::Usim),
        &[USIM_HEAD, USIM_UST_V2, USIM_TAIL],
    ),
    t(
        "2.23.143.1.2.5",
        PeType::OptUsim,
        "A.5.2 optional ADF.USIM (v2.3.1)",
        false,
        Base::InAdf(Naa::Usim),
        &[OPT_USIM_V1],
    ),
    t(
        "2.23.143.1.2.5.2",
        PeType::OptUsim,
        "A.5.2 optional ADF.USIM",
        false,
        Base::InAdf(Naa::Usim),
        &[OPT_USIM_V1, OPT_USIM_V2],
    ),
    t(
        "2.23.143.1.2.5.3",
        PeType::OptUsim,
        "A.5.2.3 optional ADF.USIM",
        false,
        Base::InAdf(Naa::Usim),
        &[OPT_USIM_V1, OPT_USIM_V2, OPT_USIM_V3],
    ),
    t(
        "2.23.143.1.2.6",
        PeType::Phonebook,
        "A.5.3 DF.PHONEBOOK",
        false,
        Base::UnderAdf(Naa::Usim),
        &[PHONEBOOK_FILES],
    ),
    t(
        "2.23.143.1.2.7",
        PeType::GsmAccess,
        "A.5.4 DF.GSM-ACCESS",
        false,
        Base::UnderAdf(Naa::Usim),
        &[GSM_ACCESS_FILES],
    ),
    t(
        "2.23.143.1.2.8",
        PeType::Isim,
        "A.6.1 ADF.ISIM",
        true,
        Base::Adf(Naa::Isim),
        &[ISIM_FILES],
    ),
    t(
        "2.23.143.1.2.9",
        PeType::OptIsim,
        "A.6.2 optional ADF.ISIM (v2.3.1)",
        false,
        Base::InAdf(Naa::Isim),
        &[OPT_ISIM_V1],
    ),
    t(
        "2.23.143.1.2.9.2",
        PeType::OptIsim,
        "A.6.2 optional ADF.ISIM",
        false,
        Base::InAdf(Naa::Isim),
        &[OPT_ISIM_V1, OPT_ISIM_V2],
    ),
    t(
        "2.23.143.1.2.12",
        PeType::Eap,
        "A.8 DF.EAP",
        false,
        Base::UnderAdf(Naa::Usim),
        &[EAP_FILES],
    ),
    t(
        "2.23.143.1.2.13",
        PeType::Df5gs,
        "A.5.11 DF.5GS (v2.3.1)",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF5GS_HEAD, DF5GS_NSC_1X57, DF5GS_MID, DF5GS_RI_V1],
    ),
    t(
        "2.23.143.1.2.13.2",
        PeType::Df5gs,
        "A.5.11.2 DF.5GS",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF5GS_HEAD, DF5GS_NSC_1X57, DF5GS_MID, DF5GS_RI_V1, DF5GS_V2],
    ),
    t(
        "2.23.143.1.2.13.3",
        PeType::Df5gs,
        "A.5.11.3 DF.5GS",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF5GS_HEAD, DF5GS_NSC_2X62, DF5GS_MID, DF5GS_RI_V1, DF5GS_V2],
    ),
    t(
        "2.23.143.1.2.13.4",
        PeType::Df5gs,
        "A.5.11.4 DF.5GS",
        false,
        Base::UnderAdf(Naa::Usim),
        &[
            DF5GS_HEAD,
            DF5GS_NSC_2X62,
            DF5GS_MID,
            DF5GS_RI_V4,
            DF5GS_V2,
            DF5GS_V4,
        ],
    ),
    t(
        "2.23.143.1.2.14",
        PeType::DfSaip,
        "A.5.12 DF.SAIP",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF_SAIP_FILES],
    ),
    t(
        "2.23.143.1.2.15",
        PeType::DfSnpn,
        "A.5.13 DF.SNPN",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF_SNPN_FILES],
    ),
    t(
        "2.23.143.1.2.16",
        PeType::Df5gProse,
        "A.5.14 DF.5G_ProSe",
        false,
        Base::UnderAdf(Naa::Usim),
        &[DF_5GPROSE_FILES],
    ),
];

/// One command of `PE-GenericFileManagement` (SAIP §8.3.4):
/// `FileManagement ::= SEQUENCE OF CHOICE { filePath [0] OCTET STRING, createFCP
/// [APPLICATION 2] Fcp, fillFileOffset UInt16, fillFileContent [1] OCTET STRING }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GfmCommand {
    /// Select a DF (or EF) by path from the MF, FIDs concatenated (ADFs by their temporary
    /// FID); empty = the MF.
    FilePath(Vec<u8>),
    /// Create a file in the current DF.
    CreateFcp(Fcp),
    /// Skip bytes of the current file.
    FillOffset(u16),
    /// Write bytes into the current file at the current position.
    FillContent(Vec<u8>),
}

const TAG_FILE_PATH: Tag = Tag::context(0);
const TAG_CREATE_FCP: Tag = Tag::application_constructed(2);
const TAG_FILL_CONTENT: Tag = Tag::context(1);

/// Decodes the contents of a `PE-GenericFileManagement` element (the element's value: header
/// `[0]`, then `fileManagementCMD [1] SEQUENCE OF FileManagement`), flattened in order.
pub fn decode_gfm(contents: &[u8]) -> Result<Vec<GfmCommand>> {
    let mut r = Reader::new(contents);
    r.expect(Tag::context_constructed(0))?;
    let cmds = r.expect(Tag::context_constructed(1))?;
    let mut out = Vec::new();
    for fm in tlv::iter(cmds.value) {
        let fm = fm?;
        if fm.tag != Tag::SEQUENCE {
            return Err(SaipError::Invalid("FileManagement is not a SEQUENCE"));
        }
        for item in tlv::iter(fm.value) {
            let item = item?;
            out.push(match item.tag {
                TAG_FILE_PATH => {
                    if item.value.len() % 2 != 0 || item.value.len() > 8 {
                        return Err(SaipError::Invalid("filePath"));
                    }
                    GfmCommand::FilePath(item.value.to_vec())
                }
                TAG_CREATE_FCP => GfmCommand::CreateFcp(Fcp::decode(item.value)?),
                Tag::INTEGER => {
                    let v = tlv::der::decode_uint(item.value)?;
                    GfmCommand::FillOffset(
                        u16::try_from(v).map_err(|_| SaipError::Invalid("fillFileOffset"))?,
                    )
                }
                TAG_FILL_CONTENT => GfmCommand::FillContent(item.value.to_vec()),
                _ => return Err(SaipError::Invalid("unknown FileManagement command")),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_name_is_in_the_pe_definition() {
        for t in TEMPLATES {
            let names = t.pe_type.file_fields().expect("file-system PE");
            for f in t.files() {
                assert!(names.contains(&f.name), "{} {}", t.oid, f.name);
                if let Some(p) = f.parent {
                    assert!(t.file(p).is_some_and(|d| d.file_type.is_df()), "{}", f.name);
                }
                if let Some(d) = f.default {
                    let n = f.size.unwrap_or(8) as usize;
                    assert_eq!(expand_default(d, f.repeat, n).len(), n);
                }
            }
            let first = t.files().next().expect("non-empty");
            match t.base {
                Base::Mf => assert_eq!(first.file_type, FileType::Mf),
                Base::Adf(_) => assert_eq!(first.file_type, FileType::Adf),
                Base::UnderMf | Base::UnderAdf(_) => assert_eq!(first.file_type, FileType::Df),
                Base::InAdf(_) => assert!(!first.file_type.is_df()),
            }
        }
    }

    #[test]
    fn oids_are_unique() {
        for (i, a) in TEMPLATES.iter().enumerate() {
            assert!(
                TEMPLATES[i + 1..].iter().all(|b| b.oid != a.oid),
                "{}",
                a.oid
            );
        }
    }

    // Known values from SAIP Annex A (ADF.USIM, Files at MF).
    #[test]
    fn known_rows() {
        let usim = by_oid("2.23.143.1.2.4.2").unwrap();
        let imsi = usim.file("ef-imsi").unwrap();
        assert_eq!(
            (imsi.fid, imsi.size, imsi.sfi, imsi.arr),
            (Some(0x6F07), Some(9), Some(7), 2)
        );
        assert_eq!(usim.file("ef-ust").unwrap().size, Some(17));
        assert_eq!(
            by_oid("2.23.143.1.2.4")
                .unwrap()
                .file("ef-ust")
                .unwrap()
                .size,
            Some(14)
        );
        let loci = usim.file("ef-loci").unwrap();
        assert_eq!(
            loci.default_content(11).unwrap(),
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0xFF, 1]
        );
        let mf = by_oid("2.23.143.1.2.1").unwrap();
        assert_eq!(mf.file("ef-iccid").unwrap().fid, Some(0x2FE2));
        assert_eq!(mf.file("ef-dir").unwrap().sfi, Some(0x1E));
    }

    #[test]
    fn patterns() {
        assert_eq!(expand_default("00FF...FF", false, 4), [0, 0xFF, 0xFF, 0xFF]);
        assert_eq!(expand_default("FF...FF07", false, 4), [0xFF, 0xFF, 0xFF, 7]);
        assert_eq!(expand_default("00...00", false, 2), [0, 0]);
        assert_eq!(
            expand_default("FFFFFF0000", true, 12),
            [0xFF, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF]
        );
        assert_eq!(expand_default("0A", false, 1), [0x0A]);
        assert_eq!(expand_default("FF...FF07", false, 1), [0xFF]);
    }
}
