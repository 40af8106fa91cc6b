//! Building the tree from a profile package (SAIP v3.3.1 §8.3: template-based PEs, §8.3.4
//! PE-GenericFileManagement; file creation parameters per ETSI TS 102 222 §6.3).

use saip::template::{self, Base, FileType, GfmCommand, Naa, TemplateFile};
use saip::{Fcp, FileItem, FileSystemPe, PeType, ProfileElement, ProfilePackage};
use tlv::Tag;

use super::{Body, Node, NodeId, UiccFs, MF};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsError {
    #[error("profile element: {0}")]
    Saip(#[from] saip::SaipError),
    #[error("TLV: {0}")]
    Tlv(#[from] tlv::Error),
    #[error("unknown file-structure template {0}")]
    UnknownTemplate(String),
    #[error("template {template} has no file {name}")]
    UnknownComponent { template: String, name: String },
    #[error("the profile package has no PE-MF before other file-system elements")]
    NoMf,
    #[error("no ADF for {0} before an element that needs it")]
    NoAdf(&'static str),
    #[error("{0}: parent DF not created")]
    NoParent(String),
    #[error("{0}: {1}")]
    BadFile(String, &'static str),
    #[error("file path {0} not found")]
    PathNotFound(String),
    #[error("the file system exceeds {MAX_TOTAL} bytes")]
    TooLarge,
    #[error("duplicate file ID {fid:04X} in {parent}")]
    Duplicate { fid: u16, parent: String },
}

type Result<T> = std::result::Result<T, FsError>;

/// Largest transparent or BER-TLV EF (the FCP codes sizes on two bytes in practice).
pub const MAX_FILE_SIZE: usize = 0xFFFF;
/// Largest total of file contents one profile may create (a package comes from the network:
/// its sizes must not exhaust memory).
pub const MAX_TOTAL: usize = 4 * 1024 * 1024;

/// Everything that describes a file before it is created.
struct Spec {
    name: String,
    fid: Option<u16>,
    file_type: FileType,
    record_len: Option<usize>,
    records: Option<usize>,
    size: Option<usize>,
    sfi: Option<u8>,
    security: Vec<u8>,
    lcsi: u8,
    shareable: bool,
    pin_refs: Vec<u8>,
    aid: Option<Vec<u8>>,
    /// (pattern, repeat) from TS 102 222 proprietary 'C1'/'C2'.
    fill: Option<(Vec<u8>, bool)>,
    template: Option<&'static TemplateFile>,
    link: Option<Vec<u8>>,
}

fn bad(name: &str, why: &'static str) -> FsError {
    FsError::BadFile(name.to_string(), why)
}

fn be_number(b: &[u8]) -> Option<usize> {
    (b.len() <= 4).then(|| b.iter().fold(0usize, |a, x| (a << 8) | *x as usize))
}

/// Key references of a pinStatusTemplateDO: either TS 102 221 'C6' contents ('90' PS_DO,
/// '83' key references) or, as SAIP profiles carry it, the key references one per byte.
pub(crate) fn pin_refs_of(v: &[u8]) -> Vec<u8> {
    if v.first() == Some(&0x90) {
        let refs: Option<Vec<u8>> = tlv::iter(v)
            .map(|t| t.ok())
            .collect::<Option<Vec<_>>>()
            .map(|ts| {
                ts.iter()
                    .filter(|t| t.tag == Tag(0x83))
                    .filter_map(|t| t.value.first().copied())
                    .collect()
            });
        if let Some(r) = refs {
            return r;
        }
    }
    v.to_vec()
}

impl Spec {
    /// Merges a template row and the PE's Fcp (Fcp fields override the template, SAIP §8.3.3).
    fn new(
        tpl: Option<&'static TemplateFile>,
        fcp: Option<&Fcp>,
        name: String,
        directly_under_mf: bool,
    ) -> Result<Spec> {
        let mut s = Spec {
            name,
            fid: tpl.and_then(|t| t.fid),
            file_type: tpl.map(|t| t.file_type).unwrap_or(FileType::Transparent),
            record_len: None,
            records: None,
            size: None,
            sfi: tpl.and_then(|t| t.sfi),
            security: Vec::new(),
            lcsi: 0x05,
            shareable: true,
            pin_refs: Vec::new(),
            aid: None,
            fill: None,
            template: tpl,
            link: None,
        };
        if let Some(t) = tpl {
            if t.file_type.is_record() {
                s.record_len = t.size.map(|x| x as usize);
                s.records = t.records.map(|x| x as usize);
            } else {
                s.size = t.size.map(|x| x as usize);
            }
            let fid = t.default_arr_fid(directly_under_mf).to_be_bytes();
            s.security = vec![fid[0], fid[1], t.arr];
        }
        let Some(fcp) = fcp else {
            if tpl.is_none() {
                return Err(bad(&s.name, "no file descriptor"));
            }
            return Ok(s);
        };
        if let Some(fd) = &fcp.file_descriptor {
            let fdb = *fd.first().ok_or(bad(&s.name, "empty file descriptor"))?;
            s.shareable = fdb & 0x40 != 0;
            // TS 102 221 §11.1.1.4.3 Table 11.5: b6-b4 '111' DF or BER-TLV EF.
            let ft = if fdb & 0x38 == 0x38 {
                if fdb & 0x07 == 0x01 {
                    FileType::BerTlv
                } else {
                    FileType::Df
                }
            } else {
                match fdb & 0x07 {
                    0x01 => FileType::Transparent,
                    0x02 => FileType::LinearFixed,
                    0x06 => FileType::Cyclic,
                    _ => return Err(bad(&s.name, "unsupported EF structure")),
                }
            };
            // The template distinguishes MF/ADF, the descriptor only says "DF".
            if !(ft == FileType::Df && s.file_type.is_df()) {
                if ft.is_record() != s.file_type.is_record() {
                    s.records = None;
                    s.size = None;
                }
                s.file_type = ft;
            }
            match fd.get(2..) {
                Some([hi, lo, rest @ ..]) if ft.is_record() => {
                    s.record_len = Some(u16::from_be_bytes([*hi, *lo]) as usize);
                    if let [n] = rest {
                        s.records = Some(*n as usize);
                    }
                }
                Some([len]) if ft.is_record() => s.record_len = Some(*len as usize),
                _ => {}
            }
        }
        if let Some(fid) = fcp.file_id {
            s.fid = Some(u16::from_be_bytes(fid));
        }
        if let Some(aid) = &fcp.df_name {
            s.aid = Some(aid.clone());
        }
        if let Some(l) = fcp.lcsi {
            s.lcsi = l;
        }
        if let Some(sa) = &fcp.security_attributes_referenced {
            s.security = match sa.as_slice() {
                [rec] => {
                    let fid = match tpl {
                        Some(t) => t.default_arr_fid(directly_under_mf),
                        None if directly_under_mf => 0x2F06,
                        None => 0x6F06,
                    }
                    .to_be_bytes();
                    vec![fid[0], fid[1], *rec]
                }
                other => other.to_vec(),
            };
        }
        if let Some(size) = &fcp.ef_file_size {
            let n = be_number(size).ok_or(bad(&s.name, "efFileSize"))?;
            if s.file_type.is_record() {
                let rl = s
                    .record_len
                    .filter(|l| *l > 0)
                    .ok_or(bad(&s.name, "record length"))?;
                if n % rl != 0 {
                    return Err(bad(
                        &s.name,
                        "file size is not a multiple of the record length",
                    ));
                }
                s.records = Some(n / rl);
            } else {
                s.size = Some(n);
            }
        }
        if let Some(p) = &fcp.pin_status_template {
            s.pin_refs = pin_refs_of(p);
        }
        if let Some(sfi) = &fcp.short_ef_id {
            // SAIP §8.3.2: empty = no SFI; one byte: SFI in b8-b4.
            s.sfi = sfi.first().map(|b| b >> 3).filter(|v| *v != 0);
        } else if tpl.is_none() && !s.file_type.is_df() {
            // Files created by GenericFileManagement: SFI from the FID.
            s.sfi = s.fid.map(|f| (f & 0x1F) as u8).filter(|v| *v != 0);
        }
        if let Some(p) = &fcp.proprietary_ef_info {
            for t in tlv::iter(p) {
                let t = t?;
                match t.tag.0 {
                    0xC1 => s.fill = Some((t.value.to_vec(), false)),
                    0xC2 => s.fill = Some((t.value.to_vec(), true)),
                    0x86 => s.size = be_number(t.value),
                    _ => {}
                }
            }
        }
        if let Some(l) = &fcp.link_path {
            if !l.is_empty() {
                s.link = Some(l.clone());
            }
        }
        Ok(s)
    }

    /// ETSI TS 102 222 §6.3.2.2.2: a fill pattern's last byte repeats to the end, a repeat
    /// pattern repeats whole; both per record for record EFs. Otherwise the template default
    /// (SAIP Annex A), otherwise 'FF'.
    fn initial_unit(&self, len: usize) -> Vec<u8> {
        if let Some((p, repeat)) = &self.fill {
            if p.is_empty() {
                return vec![0xFF; len];
            }
            if *repeat {
                return p.iter().copied().cycle().take(len).collect();
            }
            let mut v: Vec<u8> = p.iter().copied().take(len).collect();
            let last = p.last().copied().unwrap_or(0xFF);
            v.resize(len, last);
            return v;
        }
        self.template
            .and_then(|t| t.default_content(len))
            .unwrap_or_else(|| vec![0xFF; len])
    }

    fn body(&self) -> Result<Body> {
        Ok(match self.file_type {
            FileType::Mf => Body::Mf,
            FileType::Df => Body::Df,
            FileType::Adf => Body::Adf {
                aid: self
                    .aid
                    .clone()
                    .ok_or(bad(&self.name, "ADF without dfName"))?,
            },
            FileType::Transparent => {
                let size = self
                    .size
                    .filter(|s| *s <= MAX_FILE_SIZE)
                    .ok_or(bad(&self.name, "no or bad file size"))?;
                Body::Transparent {
                    data: self.initial_unit(size),
                }
            }
            FileType::LinearFixed | FileType::Cyclic => {
                let rl = self
                    .record_len
                    .filter(|l| (1..=255).contains(l))
                    .ok_or(bad(&self.name, "no or bad record length"))?;
                let n = self
                    .records
                    .filter(|n| (1..=254).contains(n))
                    .ok_or(bad(&self.name, "no or bad number of records"))?;
                let records = vec![self.initial_unit(rl); n];
                if self.file_type == FileType::Cyclic {
                    Body::Cyclic {
                        record_len: rl,
                        records,
                    }
                } else {
                    Body::LinearFixed {
                        record_len: rl,
                        records,
                    }
                }
            }
            FileType::BerTlv => Body::BerTlv {
                max_size: self.size.unwrap_or(0).min(MAX_FILE_SIZE),
                data: Vec::new(),
            },
        })
    }
}

struct Builder {
    fs: UiccFs,
    /// Bytes of content created so far.
    total: usize,
    adfs: Vec<(Naa, NodeId)>,
    links: Vec<(NodeId, Vec<u8>)>,
}

fn path_u16(p: &[u8]) -> Vec<u16> {
    p.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

impl Builder {
    fn create(&mut self, parent: Option<NodeId>, spec: &Spec) -> Result<NodeId> {
        let id = self.fs.nodes.len();
        let body = if spec.link.is_some() {
            Body::Link { target: id }
        } else {
            spec.body()?
        };
        let fid = match (spec.fid, spec.file_type) {
            (Some(f), _) => f,
            (None, FileType::Mf) => 0x3F00,
            (None, _) => return Err(bad(&spec.name, "no file ID")),
        };
        self.total += match &body {
            Body::Transparent { data } => data.len(),
            Body::LinearFixed {
                record_len,
                records,
            }
            | Body::Cyclic {
                record_len,
                records,
            } => record_len * records.len(),
            Body::BerTlv { max_size, .. } => *max_size,
            _ => 16,
        };
        if self.total > MAX_TOTAL {
            return Err(FsError::TooLarge);
        }
        let is_adf = matches!(body, Body::Adf { .. });
        if let Some(p) = parent {
            let clash = if is_adf {
                self.fs.adfs().any(|(a, _)| self.fs.nodes[a].fid == fid)
            } else {
                self.fs.child(p, fid).is_some()
            };
            if clash {
                return Err(FsError::Duplicate {
                    fid,
                    parent: format!("{:04X?}", self.fs.path_of(p)),
                });
            }
        }
        self.fs.nodes.push(Node {
            fid,
            parent,
            children: Vec::new(),
            body,
            sfi: if spec.file_type.is_df() {
                None
            } else {
                spec.sfi
            },
            lcsi: spec.lcsi,
            shareable: spec.shareable,
            security: spec.security.clone(),
            pin_refs: if spec.file_type.is_df() {
                spec.pin_refs.clone()
            } else {
                Vec::new()
            },
            name: Some(spec.name.clone()),
        });
        if let (Some(p), false) = (parent, is_adf) {
            let p = self.fs.resolve(p);
            if let Some(n) = self.fs.nodes.get_mut(p) {
                n.children.push(id);
            }
        }
        if let Some(l) = &spec.link {
            self.links.push((id, l.clone()));
        }
        Ok(id)
    }

    /// Writes `data` at flat offset `pos` of EF `id` (records concatenated).
    fn write(&mut self, id: NodeId, pos: usize, data: &[u8]) -> Result<()> {
        let id = self.fs.resolve(id);
        let node = self
            .fs
            .nodes
            .get_mut(id)
            .ok_or(FsError::BadFile(String::new(), "no file"))?;
        let name = node.name.clone().unwrap_or_default();
        let end = pos
            .checked_add(data.len())
            .ok_or(bad(&name, "content offset"))?;
        match &mut node.body {
            Body::Transparent { data: d } => {
                d.get_mut(pos..end)
                    .ok_or(bad(&name, "content beyond the end of the file"))?
                    .copy_from_slice(data);
            }
            Body::BerTlv { data: d, max_size } => {
                let limit = if *max_size == 0 {
                    MAX_FILE_SIZE
                } else {
                    *max_size
                };
                if end > limit {
                    return Err(bad(&name, "content beyond the maximum file size"));
                }
                if d.len() < end {
                    d.resize(end, 0xFF);
                }
                d[pos..end].copy_from_slice(data);
            }
            Body::LinearFixed {
                record_len,
                records,
            }
            | Body::Cyclic {
                record_len,
                records,
            } => {
                let rl = *record_len;
                if end > rl * records.len() {
                    return Err(bad(&name, "content beyond the end of the file"));
                }
                for (i, b) in data.iter().enumerate() {
                    let off = pos + i;
                    if let Some(slot) = records.get_mut(off / rl).and_then(|r| r.get_mut(off % rl))
                    {
                        *slot = *b;
                    }
                }
            }
            _ => return Err(bad(&name, "content for a DF")),
        }
        Ok(())
    }

    /// Applies fillFileContent / fillFileOffset (relative skips) in order.
    fn fill(&mut self, id: NodeId, items: &[FileItem]) -> Result<()> {
        let mut pos = 0usize;
        for item in items {
            match item {
                FileItem::FillOffset(n) => pos += *n as usize,
                FileItem::FillContent(c) => {
                    self.write(id, pos, c)?;
                    pos += c.len();
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn last_adf(&self, naa: Naa) -> Result<NodeId> {
        self.adfs
            .iter()
            .rev()
            .find(|(n, _)| *n == naa)
            .map(|(_, id)| *id)
            .ok_or(FsError::NoAdf(match naa {
                Naa::Usim => "USIM",
                Naa::Isim => "ISIM",
                Naa::Csim => "CSIM",
            }))
    }

    fn template_pe(&mut self, pe_type: PeType, pe: &FileSystemPe) -> Result<()> {
        let Some(tpl) = template::by_oid(&pe.template_id) else {
            return match pe_type {
                PeType::Csim => self.descriptor_only_pe(pe, Some(Naa::Csim)),
                PeType::OptCsim => self.descriptor_only_pe(pe, None),
                _ => Err(FsError::UnknownTemplate(pe.template_id.clone())),
            };
        };
        if tpl.base != Base::Mf && self.fs.nodes.is_empty() {
            return Err(FsError::NoMf);
        }
        for f in &pe.files {
            let known = f.name.is_some_and(|n| tpl.file(n).is_some());
            if !known {
                return Err(FsError::UnknownComponent {
                    template: tpl.oid.to_string(),
                    name: f
                        .name
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("[{}]", f.component)),
                });
            }
        }
        let in_adf = match tpl.base {
            Base::InAdf(naa) | Base::UnderAdf(naa) => Some(self.last_adf(naa)?),
            _ => None,
        };
        let mut created: Vec<(&'static str, NodeId)> = Vec::new();
        for (i, tf) in tpl.files().enumerate() {
            let pe_file = pe.file(tf.name);
            let is_base = i == 0 && tf.file_type.is_df();
            // SAIP §8.3.2 File: doNotCreate has no effect in the MF template.
            if pe_file.is_some_and(|f| f.do_not_create()) && tpl.base != Base::Mf {
                continue;
            }
            if pe_file.is_none() && !tpl.created_by_default && !is_base {
                continue;
            }
            let parent = if is_base {
                match tpl.base {
                    Base::Mf => None,
                    Base::UnderMf | Base::Adf(_) => Some(MF),
                    Base::UnderAdf(_) | Base::InAdf(_) => in_adf,
                }
            } else if let Some(p) = tf.parent {
                let found = created.iter().find(|(n, _)| *n == p).map(|(_, id)| *id);
                Some(found.ok_or_else(|| FsError::NoParent(tf.name.to_string()))?)
            } else if let Some(adf) = in_adf.filter(|_| matches!(tpl.base, Base::InAdf(_))) {
                Some(adf)
            } else {
                Some(created.first().map(|(_, id)| *id).ok_or(FsError::NoMf)?)
            };
            let under_mf = parent == Some(MF);
            let spec = Spec::new(
                Some(tf),
                pe_file.and_then(|f| f.fcp()),
                tf.name.to_string(),
                under_mf,
            )?;
            if tf.file_type == FileType::Mf && !self.fs.nodes.is_empty() {
                return Err(bad("mf", "a second PE-MF"));
            }
            let id = self.create(parent, &spec)?;
            if let Some(f) = pe_file {
                self.fill(id, &f.items)?;
            }
            if let Base::Adf(naa) = tpl.base {
                if is_base {
                    self.adfs.push((naa, id));
                }
            }
            created.push((tf.name, id));
        }
        Ok(())
    }

    /// A PE whose template this crate does not hold (ADF.CSIM 2.23.143.1.2.10, OPT-CSIM
    /// 2.23.143.1.2.11): files are created from the PE's own descriptors, in the new ADF
    /// (`adf` = the NAA of the PE's first component) or in the last ADF.CSIM. A file whose
    /// size neither the descriptor nor the content gives is not created.
    fn descriptor_only_pe(&mut self, pe: &FileSystemPe, adf: Option<Naa>) -> Result<()> {
        if self.fs.nodes.is_empty() {
            return Err(FsError::NoMf);
        }
        let mut files = pe.files.iter();
        let dir = match adf {
            Some(naa) => {
                let Some(first) = files.next() else {
                    return Ok(());
                };
                let name = first.name.unwrap_or("adf").to_string();
                let mut spec = Spec::new(None, first.fcp(), name, true)?;
                spec.file_type = FileType::Adf;
                let id = self.create(Some(MF), &spec)?;
                self.adfs.push((naa, id));
                id
            }
            None => self.last_adf(Naa::Csim)?,
        };
        for f in files {
            if f.do_not_create() {
                continue;
            }
            let Some(fcp) = f.fcp() else { continue };
            let name = f.name.unwrap_or("file").to_string();
            let mut spec = Spec::new(None, Some(fcp), name, false)?;
            let content_len = f.explicit_content().map(|c| c.len());
            if spec.file_type.is_record() {
                if spec.records.is_none() {
                    spec.records = content_len
                        .zip(spec.record_len)
                        .filter(|(_, rl)| *rl > 0)
                        .map(|(c, rl)| c.div_ceil(rl));
                }
                if spec.records.is_none() && spec.link.is_none() {
                    continue;
                }
            } else if spec.size.is_none() && spec.file_type == FileType::Transparent {
                spec.size = content_len;
                if spec.size.is_none() && spec.link.is_none() {
                    continue;
                }
            }
            let id = self.create(Some(dir), &spec)?;
            self.fill(id, &f.items)?;
        }
        Ok(())
    }

    fn gfm_pe(&mut self, raw: &[u8]) -> Result<()> {
        if self.fs.nodes.is_empty() {
            return Err(FsError::NoMf);
        }
        let elem = tlv::Tlv::parse_single(raw)?;
        let cmds = template::decode_gfm(elem.value)?;
        let mut cur_df = MF;
        let mut cur_file: Option<(NodeId, usize)> = None;
        for cmd in cmds {
            match cmd {
                GfmCommand::FilePath(p) => {
                    let id = self
                        .fs
                        .find_path(&path_u16(&p))
                        .ok_or_else(|| FsError::PathNotFound(hex::encode_upper(&p)))?;
                    if self.fs.nodes[self.fs.resolve(id)].body.is_df() {
                        cur_df = id;
                        cur_file = None;
                    } else {
                        cur_df = self.fs.nodes[id].parent.unwrap_or(MF);
                        cur_file = Some((id, 0));
                    }
                }
                GfmCommand::CreateFcp(fcp) => {
                    let name = format!(
                        "{}/{}",
                        hex::encode_upper(
                            self.fs
                                .path_of(cur_df)
                                .iter()
                                .flat_map(|f| f.to_be_bytes())
                                .collect::<Vec<u8>>()
                        ),
                        fcp.file_id.map(hex::encode_upper).unwrap_or_default()
                    );
                    let spec = Spec::new(None, Some(&fcp), name, cur_df == MF)?;
                    if spec.file_type == FileType::Df && spec.aid.is_some() {
                        return Err(bad(&spec.name, "ADF creation by GenericFileManagement"));
                    }
                    if fcp.file_descriptor.is_none() {
                        return Err(bad(&spec.name, "createFCP without fileDescriptor"));
                    }
                    let id = self.create(Some(cur_df), &spec)?;
                    cur_file = (!spec.file_type.is_df()).then_some((id, 0));
                }
                GfmCommand::FillOffset(n) => match &mut cur_file {
                    Some((_, pos)) => *pos += n as usize,
                    None => {
                        return Err(bad("GenericFileManagement", "fillFileOffset without file"))
                    }
                },
                GfmCommand::FillContent(c) => match cur_file {
                    Some((id, pos)) => {
                        self.write(id, pos, &c)?;
                        cur_file = Some((id, pos + c.len()));
                    }
                    None => {
                        return Err(bad("GenericFileManagement", "fillFileContent without file"))
                    }
                },
            }
        }
        Ok(())
    }

    fn resolve_links(&mut self) -> Result<()> {
        for (id, path) in std::mem::take(&mut self.links) {
            let target = self
                .fs
                .find_path(&path_u16(&path))
                .filter(|t| *t != id)
                .ok_or_else(|| FsError::PathNotFound(hex::encode_upper(&path)))?;
            if let Some(n) = self.fs.nodes.get_mut(id) {
                n.body = Body::Link { target };
            }
        }
        // Reject link chains that end in a loop.
        for id in 0..self.fs.nodes.len() {
            let r = self.fs.resolve(id);
            if matches!(self.fs.nodes[r].body, Body::Link { .. }) {
                return Err(bad("linkPath", "link loop"));
            }
        }
        Ok(())
    }

    /// EF.DIR (TS 102 221 §13.1): an application template '61' { '4F' AID } for every ADF
    /// the profile did not list, written into the first free record.
    fn ef_dir(&mut self) {
        let Some(dir) = self.fs.child(MF, 0x2F00) else {
            return;
        };
        let aids: Vec<Vec<u8>> = self.fs.adfs().map(|(_, a)| a.to_vec()).collect();
        let dir = self.fs.resolve(dir);
        let Some(Node {
            body:
                Body::LinearFixed {
                    record_len,
                    records,
                },
            ..
        }) = self.fs.nodes.get_mut(dir)
        else {
            return;
        };
        for aid in aids {
            let listed = records.iter().any(|r| {
                tlv::Tlv::parse(r)
                    .ok()
                    .filter(|(t, _)| t.tag == Tag(0x61))
                    .and_then(|(t, _)| tlv::find(t.value, Tag(0x4F)).ok().flatten())
                    .is_some_and(|a| a.value == aid.as_slice())
            });
            let mut entry = Vec::new();
            tlv::write_tlv(Tag(0x4F), &aid, &mut entry);
            let entry = tlv::encode_tlv(Tag(0x61), &entry);
            if listed || entry.len() > *record_len {
                continue;
            }
            if let Some(free) = records.iter_mut().find(|r| r.iter().all(|b| *b == 0xFF)) {
                free[..entry.len()].copy_from_slice(&entry);
            }
        }
    }
}

impl UiccFs {
    /// Builds the file system of a profile package: every file-system PE and every
    /// PE-GenericFileManagement, in package order, then link files and EF.DIR.
    pub fn from_package(pkg: &ProfilePackage) -> std::result::Result<UiccFs, FsError> {
        let mut b = Builder {
            fs: UiccFs { nodes: Vec::new() },
            adfs: Vec::new(),
            links: Vec::new(),
            total: 0,
        };
        for e in pkg.elements() {
            match e {
                ProfileElement::FileSystem { pe_type, fs, .. } => b.template_pe(*pe_type, fs)?,
                ProfileElement::Other {
                    pe_type: PeType::GenericFileManagement,
                    raw,
                } => b.gfm_pe(raw)?,
                _ => {}
            }
        }
        if b.fs.nodes.is_empty() {
            return Err(FsError::NoMf);
        }
        b.resolve_links()?;
        b.ef_dir();
        Ok(b.fs)
    }
}
