//! Card content management command codecs (GP CS v2.3.1 §11): INSTALL, LOAD, DELETE,
//! GET STATUS, SET STATUS, GET DATA, PUT KEY. Each builds the command a host sends and parses
//! what a card receives; response codecs cover both directions too.

use apdu::Command;
use tlv::Tag;

use crate::error::{GpError, Result};
use crate::keys::PutKeyData;

pub const CLA_GP: u8 = 0x80;
pub const INS_DELETE: u8 = 0xE4;
pub const INS_INSTALL: u8 = 0xE6;
pub const INS_LOAD: u8 = 0xE8;
pub const INS_PUT_KEY: u8 = 0xD8;
pub const INS_SET_STATUS: u8 = 0xF0;
pub const INS_GET_STATUS: u8 = 0xF2;
pub const INS_GET_DATA: u8 = 0xCA;

/// GET DATA tags of a security domain (GP CS v2.3.1 §11.3.3.1, Table 11-26 and H.x).
pub mod tags {
    pub const ISSUER_IDENTIFICATION_NUMBER: u16 = 0x0042;
    pub const CARD_IMAGE_NUMBER: u16 = 0x0045;
    /// Card Data: card recognition data (`66` / `73`).
    pub const CARD_DATA: u16 = 0x0066;
    /// Card capability information.
    pub const CARD_CAPABILITY_INFORMATION: u16 = 0x0067;
    /// Key Information Template (`E0`).
    pub const KEY_INFORMATION_TEMPLATE: u16 = 0x00E0;
    /// Sequence counter of the default key version number.
    pub const SEQUENCE_COUNTER_DEFAULT_KVN: u16 = 0x00C1;
    pub const CONFIRMATION_COUNTER: u16 = 0x00C2;
    /// Key diversification data.
    pub const KEY_DIVERSIFICATION_DATA: u16 = 0x00CF;
    /// Current security level.
    pub const CURRENT_SECURITY_LEVEL: u16 = 0x00D3;
    /// Card production life cycle data (CPLC).
    pub const CPLC: u16 = 0x9F7F;
    /// Extended card resources information (ETSI TS 102 226 §8.2.1.7.2).
    pub const EXTENDED_CARD_RESOURCES: u16 = 0xFF21;
}

/// Life cycle state codings (GP CS v2.3.1 §11.1.1).
pub mod life_cycle {
    pub const LOAD_FILE_LOADED: u8 = 0x01;
    pub const APP_INSTALLED: u8 = 0x03;
    pub const APP_SELECTABLE: u8 = 0x07;
    pub const SD_PERSONALIZED: u8 = 0x0F;
    pub const APP_LOCKED: u8 = 0x83;
    pub const ISD_OP_READY: u8 = 0x01;
    pub const ISD_INITIALIZED: u8 = 0x07;
    pub const ISD_SECURED: u8 = 0x0F;
    pub const ISD_CARD_LOCKED: u8 = 0x7F;
    pub const ISD_TERMINATED: u8 = 0xFF;
}

fn lv(out: &mut Vec<u8>, v: &[u8]) -> Result<()> {
    out.push(u8::try_from(v.len()).map_err(|_| GpError::WrongLength("LV field over 255 bytes"))?);
    out.extend_from_slice(v);
    Ok(())
}

/// Cursor over length-value fields with one-byte lengths.
struct LvReader<'a>(&'a [u8]);

impl<'a> LvReader<'a> {
    fn take(&mut self) -> Result<&'a [u8]> {
        let (&len, rest) = self
            .0
            .split_first()
            .ok_or(GpError::IncorrectData("LV field missing"))?;
        let len = usize::from(len);
        let v = rest
            .get(..len)
            .ok_or(GpError::IncorrectData("LV field truncated"))?;
        self.0 = &rest[len..];
        Ok(v)
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(GpError::IncorrectData("trailing bytes"))
        }
    }
}

/// Install parameters (GP CS v2.3.1 Table 11-49): 'C9' application specific parameters
/// (always present, possibly empty) and the optional 'EF' system specific parameters with the
/// volatile ('C7') and non-volatile ('C8') memory quotas and the ETSI TS 102 226 §8.2.1.3.2.1
/// toolkit parameters ('CA').
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallParameters {
    pub application_specific: Vec<u8>,
    pub non_volatile_quota: Option<u32>,
    pub volatile_quota: Option<u32>,
    pub toolkit: Option<Vec<u8>>,
    /// Other data objects inside 'EF', kept as encoded.
    pub other_system: Vec<u8>,
}

fn quota(v: u32) -> Vec<u8> {
    if v <= 0xFFFF {
        (v as u16).to_be_bytes().to_vec()
    } else {
        v.to_be_bytes().to_vec()
    }
}

fn parse_quota(v: &[u8]) -> Result<u32> {
    match v.len() {
        2 | 4 => Ok(v.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))),
        _ => Err(GpError::IncorrectData("memory quota must be 2 or 4 bytes")),
    }
}

impl InstallParameters {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = tlv::encode_tlv(Tag(0xC9), &self.application_specific);
        let mut sys = tlv::Writer::new();
        if let Some(q) = self.non_volatile_quota {
            sys.put(Tag(0xC8), &quota(q));
        }
        if let Some(q) = self.volatile_quota {
            sys.put(Tag(0xC7), &quota(q));
        }
        if let Some(t) = &self.toolkit {
            sys.put(Tag(0xCA), t);
        }
        sys.raw(&self.other_system);
        if !sys.is_empty() {
            tlv::write_tlv(Tag(0xEF), sys.as_bytes(), &mut out);
        }
        out
    }

    pub fn parse(data: &[u8]) -> Result<InstallParameters> {
        let mut p = InstallParameters::default();
        let mut seen_c9 = false;
        for t in tlv::iter(data) {
            let t = t?;
            match t.tag.0 {
                0xC9 => {
                    p.application_specific = t.value.to_vec();
                    seen_c9 = true;
                }
                0xEF => {
                    for s in tlv::iter(t.value) {
                        let s = s?;
                        match s.tag.0 {
                            0xC8 => p.non_volatile_quota = Some(parse_quota(s.value)?),
                            0xC7 => p.volatile_quota = Some(parse_quota(s.value)?),
                            0xCA => p.toolkit = Some(s.value.to_vec()),
                            _ => p.other_system.extend_from_slice(s.raw),
                        }
                    }
                }
                // Other templates ('EA' TS 102 226, 'CF' implicit selection, ...) are not
                // interpreted here.
                _ => {}
            }
        }
        if !seen_c9 {
            return Err(GpError::IncorrectData("install parameters without 'C9'"));
        }
        Ok(p)
    }
}

/// The INSTALL command variants (GP CS v2.3.1 §11.5, Table 11-41 for P1, Tables 11-43..11-48
/// for the data fields). Fields are LV coded; empty means a zero length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// P1 '02'.
    ForLoad {
        load_file_aid: Vec<u8>,
        security_domain_aid: Vec<u8>,
        load_file_data_block_hash: Vec<u8>,
        load_parameters: Vec<u8>,
        load_token: Vec<u8>,
    },
    /// P1 '04', or '0C' with `make_selectable`.
    ForInstall {
        make_selectable: bool,
        load_file_aid: Vec<u8>,
        module_aid: Vec<u8>,
        application_aid: Vec<u8>,
        privileges: Vec<u8>,
        parameters: Vec<u8>,
        token: Vec<u8>,
    },
    /// P1 '08'.
    ForMakeSelectable {
        application_aid: Vec<u8>,
        privileges: Vec<u8>,
        parameters: Vec<u8>,
        token: Vec<u8>,
    },
    /// P1 '10'.
    ForExtradition {
        security_domain_aid: Vec<u8>,
        application_aid: Vec<u8>,
        parameters: Vec<u8>,
        token: Vec<u8>,
    },
    /// P1 '20'.
    ForPersonalization { application_aid: Vec<u8> },
    /// P1 '40'.
    ForRegistryUpdate {
        security_domain_aid: Vec<u8>,
        application_aid: Vec<u8>,
        privileges: Vec<u8>,
        parameters: Vec<u8>,
        token: Vec<u8>,
    },
}

impl Install {
    pub fn p1(&self) -> u8 {
        match self {
            Install::ForLoad { .. } => 0x02,
            Install::ForInstall {
                make_selectable, ..
            } => {
                if *make_selectable {
                    0x0C
                } else {
                    0x04
                }
            }
            Install::ForMakeSelectable { .. } => 0x08,
            Install::ForExtradition { .. } => 0x10,
            Install::ForPersonalization { .. } => 0x20,
            Install::ForRegistryUpdate { .. } => 0x40,
        }
    }

    pub fn encode_data(&self) -> Result<Vec<u8>> {
        let mut d = Vec::new();
        match self {
            Install::ForLoad {
                load_file_aid,
                security_domain_aid,
                load_file_data_block_hash,
                load_parameters,
                load_token,
            } => {
                for f in [
                    load_file_aid,
                    security_domain_aid,
                    load_file_data_block_hash,
                    load_parameters,
                    load_token,
                ] {
                    lv(&mut d, f)?;
                }
            }
            Install::ForInstall {
                load_file_aid,
                module_aid,
                application_aid,
                privileges,
                parameters,
                token,
                ..
            } => {
                for f in [
                    load_file_aid,
                    module_aid,
                    application_aid,
                    privileges,
                    parameters,
                    token,
                ] {
                    lv(&mut d, f)?;
                }
            }
            Install::ForMakeSelectable {
                application_aid,
                privileges,
                parameters,
                token,
            } => {
                for f in [&[][..], &[], application_aid, privileges, parameters, token] {
                    lv(&mut d, f)?;
                }
            }
            Install::ForExtradition {
                security_domain_aid,
                application_aid,
                parameters,
                token,
            } => {
                for f in [
                    security_domain_aid,
                    &[][..],
                    application_aid,
                    &[],
                    parameters,
                    token,
                ] {
                    lv(&mut d, f)?;
                }
            }
            Install::ForPersonalization { application_aid } => {
                for f in [&[][..], &[], application_aid, &[], &[], &[]] {
                    lv(&mut d, f)?;
                }
            }
            Install::ForRegistryUpdate {
                security_domain_aid,
                application_aid,
                privileges,
                parameters,
                token,
            } => {
                for f in [
                    security_domain_aid,
                    &[][..],
                    application_aid,
                    privileges,
                    parameters,
                    token,
                ] {
                    lv(&mut d, f)?;
                }
            }
        }
        Ok(d)
    }

    /// The command (P2 '00', Le '00').
    pub fn command(&self) -> Result<Command> {
        Ok(Command::with_data(CLA_GP, INS_INSTALL, self.p1(), 0x00, self.encode_data()?).le(256))
    }

    /// Parses an INSTALL command (b8 of P1, "more INSTALL commands", is ignored).
    pub fn parse(cmd: &Command) -> Result<Install> {
        if cmd.ins != INS_INSTALL {
            return Err(GpError::IncorrectData("not INSTALL"));
        }
        let mut r = LvReader(&cmd.data);
        let mut six = || -> Result<[Vec<u8>; 6]> {
            let mut out: [Vec<u8>; 6] = Default::default();
            for o in out.iter_mut() {
                *o = r.take()?.to_vec();
            }
            Ok(out)
        };
        let install = match cmd.p1 & 0x7F {
            0x02 => {
                let mut f: [Vec<u8>; 5] = Default::default();
                for o in f.iter_mut() {
                    *o = r.take()?.to_vec();
                }
                let [load_file_aid, security_domain_aid, load_file_data_block_hash, load_parameters, load_token] =
                    f;
                Install::ForLoad {
                    load_file_aid,
                    security_domain_aid,
                    load_file_data_block_hash,
                    load_parameters,
                    load_token,
                }
            }
            p1 @ (0x04 | 0x0C) => {
                let [load_file_aid, module_aid, application_aid, privileges, parameters, token] =
                    six()?;
                Install::ForInstall {
                    make_selectable: p1 == 0x0C,
                    load_file_aid,
                    module_aid,
                    application_aid,
                    privileges,
                    parameters,
                    token,
                }
            }
            0x08 => {
                let [_, _, application_aid, privileges, parameters, token] = six()?;
                Install::ForMakeSelectable {
                    application_aid,
                    privileges,
                    parameters,
                    token,
                }
            }
            0x10 => {
                let [security_domain_aid, _, application_aid, _, parameters, token] = six()?;
                Install::ForExtradition {
                    security_domain_aid,
                    application_aid,
                    parameters,
                    token,
                }
            }
            0x20 => {
                let [_, _, application_aid, _, _, _] = six()?;
                Install::ForPersonalization { application_aid }
            }
            0x40 => {
                let [security_domain_aid, _, application_aid, privileges, parameters, token] =
                    six()?;
                Install::ForRegistryUpdate {
                    security_domain_aid,
                    application_aid,
                    privileges,
                    parameters,
                    token,
                }
            }
            _ => return Err(GpError::IncorrectP1P2("INSTALL P1")),
        };
        r.finish()?;
        Ok(install)
    }
}

/// LOAD commands for a load file (GP CS v2.3.1 §11.6): the optional DAP blocks ('E2' TLVs, as
/// encoded) and the Load File Data Block in a 'C4' TLV, split into blocks of `block_size`;
/// P1 '80' marks the last block, P2 numbers the blocks from '00'.
pub fn load_commands(
    dap_blocks: &[u8],
    load_file_data_block: &[u8],
    block_size: usize,
) -> Result<Vec<Command>> {
    if block_size == 0 || block_size > 255 {
        return Err(GpError::WrongLength("LOAD block size must be 1..=255"));
    }
    let mut all = dap_blocks.to_vec();
    tlv::write_tlv(Tag(0xC4), load_file_data_block, &mut all);
    let n = all.len().div_ceil(block_size);
    if n > 256 {
        return Err(GpError::WrongLength(
            "load file needs more than 256 LOAD blocks",
        ));
    }
    Ok(all
        .chunks(block_size)
        .enumerate()
        .map(|(i, chunk)| {
            let p1 = if i + 1 == n { 0x80 } else { 0x00 };
            Command::with_data(CLA_GP, INS_LOAD, p1, i as u8, chunk.to_vec()).le(256)
        })
        .collect())
}

/// A load file as the card reassembles it from LOAD blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFile {
    /// The 'E2' DAP blocks, as encoded.
    pub dap_blocks: Vec<u8>,
    /// The value of 'C4'.
    pub load_file_data_block: Vec<u8>,
}

/// Card side: collects LOAD blocks in sequence.
#[derive(Debug, Clone, Default)]
pub struct LoadAssembler {
    next_block: u16,
    data: Vec<u8>,
}

impl LoadAssembler {
    pub fn new() -> LoadAssembler {
        LoadAssembler::default()
    }

    /// Adds one LOAD command; returns the load file after the last block. A block out of
    /// sequence is `6A86`.
    pub fn push(&mut self, cmd: &Command) -> Result<Option<LoadFile>> {
        if cmd.ins != INS_LOAD {
            return Err(GpError::IncorrectData("not LOAD"));
        }
        if u16::from(cmd.p2) != self.next_block || cmd.p1 & 0x7F != 0 {
            return Err(GpError::IncorrectP1P2("LOAD block out of sequence"));
        }
        self.data.extend_from_slice(&cmd.data);
        self.next_block += 1;
        if cmd.p1 & 0x80 == 0 {
            return Ok(None);
        }
        let mut dap_blocks = Vec::new();
        let mut lfdb = None;
        for t in tlv::iter(&self.data) {
            let t = t?;
            match t.tag.0 {
                0xE2 if lfdb.is_none() => dap_blocks.extend_from_slice(t.raw),
                0xC4 if lfdb.is_none() => lfdb = Some(t.value.to_vec()),
                _ => return Err(GpError::IncorrectData("unexpected object in load file")),
            }
        }
        let load_file_data_block = lfdb.ok_or(GpError::IncorrectData("load file without 'C4'"))?;
        *self = LoadAssembler::default();
        Ok(Some(LoadFile {
            dap_blocks,
            load_file_data_block,
        }))
    }
}

/// DELETE (GP CS v2.3.1 §11.2): '4F' AID; P2 '80' also deletes related objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub aid: Vec<u8>,
    pub related_objects: bool,
}

impl Delete {
    pub fn command(&self) -> Command {
        let p2 = if self.related_objects { 0x80 } else { 0x00 };
        Command::with_data(
            CLA_GP,
            INS_DELETE,
            0x00,
            p2,
            tlv::encode_tlv(Tag(0x4F), &self.aid),
        )
        .le(256)
    }

    pub fn parse(cmd: &Command) -> Result<Delete> {
        if cmd.ins != INS_DELETE {
            return Err(GpError::IncorrectData("not DELETE"));
        }
        let related_objects = match cmd.p2 {
            0x00 => false,
            0x80 => true,
            _ => return Err(GpError::IncorrectP1P2("DELETE P2")),
        };
        let aid = tlv::find(&cmd.data, Tag(0x4F))?
            .ok_or(GpError::IncorrectData("DELETE without '4F'"))?;
        if !(5..=16).contains(&aid.value.len()) {
            return Err(GpError::IncorrectData("AID length"));
        }
        Ok(Delete {
            aid: aid.value.to_vec(),
            related_objects,
        })
    }
}

/// GET STATUS P1 (GP CS v2.3.1 Table 11-33).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusSubset {
    /// '80': the Issuer Security Domain.
    Isd,
    /// '40': applications, including security domains.
    Applications,
    /// '20': executable load files.
    LoadFiles,
    /// '10': executable load files and their executable modules.
    LoadFilesAndModules,
}

impl StatusSubset {
    pub fn p1(self) -> u8 {
        match self {
            StatusSubset::Isd => 0x80,
            StatusSubset::Applications => 0x40,
            StatusSubset::LoadFiles => 0x20,
            StatusSubset::LoadFilesAndModules => 0x10,
        }
    }

    pub fn from_p1(p1: u8) -> Result<StatusSubset> {
        match p1 {
            0x80 => Ok(StatusSubset::Isd),
            0x40 => Ok(StatusSubset::Applications),
            0x20 => Ok(StatusSubset::LoadFiles),
            0x10 => Ok(StatusSubset::LoadFilesAndModules),
            _ => Err(GpError::IncorrectP1P2("GET STATUS P1")),
        }
    }
}

/// GET STATUS (GP CS v2.3.1 §11.4): P2 b1 = next occurrence, b2 = 'E3' TLV format (else the
/// deprecated legacy format); data '4F' AID search qualifier (empty: all), optional '5C' tag
/// list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetStatus {
    pub subset: StatusSubset,
    pub next: bool,
    pub tlv_format: bool,
    pub aid: Vec<u8>,
    pub tag_list: Option<Vec<u8>>,
}

impl GetStatus {
    /// All entries of `subset`, TLV format.
    pub fn all(subset: StatusSubset) -> GetStatus {
        GetStatus {
            subset,
            next: false,
            tlv_format: true,
            aid: Vec::new(),
            tag_list: None,
        }
    }

    pub fn p2(&self) -> u8 {
        (if self.tlv_format { 0x02 } else { 0x00 }) | u8::from(self.next)
    }

    pub fn command(&self) -> Command {
        let mut w = tlv::Writer::new();
        w.put(Tag(0x4F), &self.aid);
        w.put_opt(Tag(0x5C), self.tag_list.as_deref());
        Command::with_data(
            CLA_GP,
            INS_GET_STATUS,
            self.subset.p1(),
            self.p2(),
            w.into_vec(),
        )
        .le(256)
    }

    pub fn parse(cmd: &Command) -> Result<GetStatus> {
        if cmd.ins != INS_GET_STATUS {
            return Err(GpError::IncorrectData("not GET STATUS"));
        }
        let subset = StatusSubset::from_p1(cmd.p1)?;
        if cmd.p2 & !0x03 != 0 {
            return Err(GpError::IncorrectP1P2("GET STATUS P2"));
        }
        let aid = tlv::find(&cmd.data, Tag(0x4F))?
            .ok_or(GpError::IncorrectData("GET STATUS without '4F'"))?;
        let tag_list = tlv::find(&cmd.data, Tag(0x5C))?.map(|t| t.value.to_vec());
        Ok(GetStatus {
            subset,
            next: cmd.p2 & 0x01 != 0,
            tlv_format: cmd.p2 & 0x02 != 0,
            aid: aid.value.to_vec(),
            tag_list,
        })
    }
}

/// One GP registry entry as GET STATUS reports it ('E3', GP CS v2.3.1 Table 11-36).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryEntry {
    /// '4F'.
    pub aid: Vec<u8>,
    /// '9F70' life cycle state.
    pub life_cycle: u8,
    /// 'C5' privileges (1 or 3 bytes); empty for load files.
    pub privileges: Vec<u8>,
    /// 'C4' executable load file AID.
    pub load_file_aid: Option<Vec<u8>>,
    /// 'CE' executable load file version number.
    pub load_file_version: Option<Vec<u8>>,
    /// '84' executable module AIDs.
    pub modules: Vec<Vec<u8>>,
    /// 'CC' associated security domain AID.
    pub associated_sd: Option<Vec<u8>>,
}

impl RegistryEntry {
    fn encode_tlv(&self, out: &mut Vec<u8>) {
        let mut w = tlv::Writer::new();
        w.put(Tag(0x4F), &self.aid);
        w.put(Tag(0x9F70), &[self.life_cycle]);
        if !self.privileges.is_empty() {
            w.put(Tag(0xC5), &self.privileges);
        }
        w.put_opt(Tag(0xC4), self.load_file_aid.as_deref());
        w.put_opt(Tag(0xCE), self.load_file_version.as_deref());
        for m in &self.modules {
            w.put(Tag(0x84), m);
        }
        w.put_opt(Tag(0xCC), self.associated_sd.as_deref());
        tlv::write_tlv(Tag(0xE3), w.as_bytes(), out);
    }
}

/// Encodes GET STATUS response data in the 'E3' format.
pub fn encode_status_tlv(entries: &[RegistryEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        e.encode_tlv(&mut out);
    }
    out
}

/// Parses GET STATUS response data in the 'E3' format; unknown tags inside 'E3' are skipped.
pub fn parse_status_tlv(data: &[u8]) -> Result<Vec<RegistryEntry>> {
    let mut out = Vec::new();
    for t in tlv::iter(data) {
        let t = t?;
        t.expect_tag(Tag(0xE3))?;
        let mut e = RegistryEntry::default();
        let mut have_aid = false;
        for f in tlv::iter(t.value) {
            let f = f?;
            match f.tag.0 {
                0x4F => {
                    e.aid = f.value.to_vec();
                    have_aid = true;
                }
                0x9F70 => {
                    e.life_cycle = *f
                        .value
                        .first()
                        .ok_or(GpError::IncorrectData("empty life cycle state"))?
                }
                0xC5 => e.privileges = f.value.to_vec(),
                0xC4 => e.load_file_aid = Some(f.value.to_vec()),
                0xCE => e.load_file_version = Some(f.value.to_vec()),
                0x84 => e.modules.push(f.value.to_vec()),
                0xCC => e.associated_sd = Some(f.value.to_vec()),
                _ => {}
            }
        }
        if !have_aid {
            return Err(GpError::IncorrectData("'E3' without '4F'"));
        }
        out.push(e);
    }
    Ok(out)
}

/// Encodes GET STATUS response data in the legacy format (GP CS v2.3.1 Tables 11-37/11-38):
/// per entry length, AID, life cycle state, privileges (one byte); with
/// [`StatusSubset::LoadFilesAndModules`] also the number of modules and each length + AID.
pub fn encode_status_legacy(subset: StatusSubset, entries: &[RegistryEntry]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        lv(&mut out, &e.aid)?;
        out.push(e.life_cycle);
        out.push(e.privileges.first().copied().unwrap_or(0));
        if subset == StatusSubset::LoadFilesAndModules {
            out.push(u8::try_from(e.modules.len()).map_err(|_| GpError::WrongLength("modules"))?);
            for m in &e.modules {
                lv(&mut out, m)?;
            }
        }
    }
    Ok(out)
}

/// Parses GET STATUS response data in the legacy format.
pub fn parse_status_legacy(subset: StatusSubset, data: &[u8]) -> Result<Vec<RegistryEntry>> {
    let mut r = LvReader(data);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let aid = r.take()?.to_vec();
        let [lcs, privileges, rest @ ..] = r.0 else {
            return Err(GpError::IncorrectData("legacy GET STATUS entry truncated"));
        };
        let mut e = RegistryEntry {
            aid,
            life_cycle: *lcs,
            privileges: vec![*privileges],
            ..RegistryEntry::default()
        };
        r.0 = rest;
        if subset == StatusSubset::LoadFilesAndModules {
            let (&n, rest) =
                r.0.split_first()
                    .ok_or(GpError::IncorrectData("module count missing"))?;
            r.0 = rest;
            for _ in 0..n {
                e.modules.push(r.take()?.to_vec());
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// SET STATUS (GP CS v2.3.1 §11.10): P1 status type ('80' ISD, '40' application or SD,
/// '60' SD and its associated applications), P2 the new state, data the AID (empty for the
/// ISD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatus {
    pub status_type: u8,
    pub state: u8,
    pub aid: Vec<u8>,
}

impl SetStatus {
    pub fn command(&self) -> Command {
        Command::with_data(
            CLA_GP,
            INS_SET_STATUS,
            self.status_type,
            self.state,
            self.aid.clone(),
        )
    }

    pub fn parse(cmd: &Command) -> Result<SetStatus> {
        if cmd.ins != INS_SET_STATUS {
            return Err(GpError::IncorrectData("not SET STATUS"));
        }
        if !matches!(cmd.p1, 0x80 | 0x40 | 0x60) {
            return Err(GpError::IncorrectP1P2("SET STATUS P1"));
        }
        if cmd.p1 != 0x80 && !(5..=16).contains(&cmd.data.len()) {
            return Err(GpError::IncorrectData("AID length"));
        }
        Ok(SetStatus {
            status_type: cmd.p1,
            state: cmd.p2,
            aid: cmd.data.clone(),
        })
    }
}

/// GET DATA for a tag (P1 P2 = tag, Le '00').
pub fn get_data_command(tag: u16) -> Command {
    let [p1, p2] = tag.to_be_bytes();
    Command::new(CLA_GP, INS_GET_DATA, p1, p2).le(256)
}

/// One entry of the Key Information Template ('E0' / 'C0', GP CS v2.3.1 §11.3.3.1, Tables
/// 11-29 and 11-30): key id, KVN, then (key type, key length) components. The extended format
/// (first key type byte 'FF') codes each type as 'FF' + type, each length on two bytes, and
/// ends with the key usage and key access, each length-prefixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInformation {
    pub key_id: u8,
    pub kvn: u8,
    pub components: Vec<(u8, u16)>,
    /// `Some` in the extended format: (key usage, key access), each possibly empty.
    pub extended: Option<(Vec<u8>, Vec<u8>)>,
}

impl KeyInformation {
    fn encode_value(&self) -> Result<Vec<u8>> {
        let mut v = vec![self.key_id, self.kvn];
        match &self.extended {
            None => {
                for (t, l) in &self.components {
                    v.push(*t);
                    v.push(u8::try_from(*l).map_err(|_| GpError::WrongLength("key length"))?);
                }
            }
            Some((usage, access)) => {
                for (t, l) in &self.components {
                    v.extend_from_slice(&[0xFF, *t]);
                    v.extend_from_slice(&l.to_be_bytes());
                }
                lv(&mut v, usage)?;
                lv(&mut v, access)?;
            }
        }
        Ok(v)
    }

    fn parse_value(value: &[u8]) -> Result<KeyInformation> {
        let short = GpError::IncorrectData("key information truncated");
        let [key_id, kvn, rest @ ..] = value else {
            return Err(short);
        };
        let mut info = KeyInformation {
            key_id: *key_id,
            kvn: *kvn,
            components: Vec::new(),
            extended: None,
        };
        if rest.first() != Some(&0xFF) {
            if rest.is_empty() || rest.len() % 2 != 0 {
                return Err(short);
            }
            info.components = rest
                .chunks_exact(2)
                .map(|c| (c[0], u16::from(c[1])))
                .collect();
            return Ok(info);
        }
        let mut r = rest;
        loop {
            // The tail is key usage (LV) then key access (LV).
            if let [ul, tail @ ..] = r {
                let ul = usize::from(*ul);
                if let Some([al, access @ ..]) = tail.get(ul..) {
                    if access.len() == usize::from(*al) && !info.components.is_empty() {
                        info.extended = Some((tail[..ul].to_vec(), access.to_vec()));
                        return Ok(info);
                    }
                }
            }
            let (t, l, n) = match r {
                [0xFF, t, hi, lo, ..] => (*t, u16::from_be_bytes([*hi, *lo]), 4),
                [t, hi, lo, ..] => (*t, u16::from_be_bytes([*hi, *lo]), 3),
                _ => return Err(short),
            };
            info.components.push((t, l));
            r = &r[n..];
        }
    }
}

/// Encodes the Key Information Template ('E0').
pub fn encode_key_information(keys: &[KeyInformation]) -> Result<Vec<u8>> {
    let mut w = tlv::Writer::new();
    for k in keys {
        w.put(Tag(0xC0), &k.encode_value()?);
    }
    Ok(tlv::encode_tlv(Tag(0xE0), w.as_bytes()))
}

/// Parses the Key Information Template ('E0'), basic and extended formats.
pub fn parse_key_information(data: &[u8]) -> Result<Vec<KeyInformation>> {
    let e0 = tlv::Tlv::parse_expecting(data, Tag(0xE0))?;
    let mut out = Vec::new();
    for t in tlv::iter(e0.value) {
        let t = t?;
        t.expect_tag(Tag(0xC0))?;
        out.push(KeyInformation::parse_value(t.value)?);
    }
    Ok(out)
}

/// PUT KEY (GP CS v2.3.1 §11.8): P1 = KVN being replaced ('00' adds a new key set), P2 = the
/// first key identifier, with b8 set when several keys follow.
pub fn put_key_command(replace_kvn: u8, first_key_id: u8, data: &PutKeyData) -> Result<Command> {
    if replace_kvn & 0x80 != 0 || first_key_id & 0x80 != 0 {
        return Err(GpError::IncorrectP1P2(
            "PUT KEY KVN/key id must be below '80'",
        ));
    }
    let p2 = first_key_id | if data.components.len() > 1 { 0x80 } else { 0 };
    Ok(Command::with_data(CLA_GP, INS_PUT_KEY, replace_kvn, p2, data.encode()?).le(256))
}
