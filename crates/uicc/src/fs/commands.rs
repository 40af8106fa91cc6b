//! File commands of ETSI TS 102 221 §11.1: SELECT (§11.1.1), STATUS (§11.1.2), READ BINARY
//! (§11.1.3), UPDATE BINARY (§11.1.4), READ RECORD (§11.1.5), UPDATE RECORD (§11.1.6), SEARCH
//! RECORD (§11.1.7), INCREASE (§11.1.8); status words per §10.2.1.

use apdu::{Command, StatusWord};

use super::access::{self, AM_READ, AM_UPDATE};
use super::{fcp, Body, NodeId, Selection, UiccFs, MF};

/// A response: data and status word (9000, or a warning such as 6282 that comes with data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub data: Vec<u8>,
    pub sw: StatusWord,
}

impl Reply {
    pub fn ok(data: Vec<u8>) -> Reply {
        Reply {
            data,
            sw: StatusWord::OK,
        }
    }
}

/// What the file commands need from the PIN side.
pub struct Security<'a> {
    /// Whether a key reference's access condition is met (verified or disabled).
    pub key_ok: &'a dyn Fn(u8) -> bool,
    /// Key references with their enabled flag, for the FCP's 'C6'.
    pub pin_status: &'a fcp::PinStatusFn<'a>,
}

type Res = Result<Reply, StatusWord>;

/// 6981: command incompatible with file structure.
const INCOMPATIBLE: StatusWord = StatusWord(0x6981);
/// 6283: selected file deactivated (TS 102 221 §10.2.1.2).
const FILE_DEACTIVATED: StatusWord = StatusWord(0x6283);
/// 9850: INCREASE cannot be performed, maximum value reached (TS 102 221 §10.2.1.1).
const MAX_VALUE_REACHED: StatusWord = StatusWord(0x9850);

fn proprietary_class(cla: u8) -> bool {
    apdu::channel::channel_of(cla).is_some() && !apdu::channel::is_interindustry(cla)
}

impl UiccFs {
    /// Executes a file command on this file system for one logical channel. Unknown INS:
    /// 6D00; a known INS in the wrong class: 6E00.
    pub fn execute(&mut self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        let proprietary = proprietary_class(cmd.cla);
        let interindustry = apdu::channel::is_interindustry(cmd.cla);
        match (cmd.ins, proprietary, interindustry) {
            (0xA4, _, true) => self.select(sec, sel, cmd),
            (0xF2, true, _) => self.status(sec, sel, cmd),
            (0xB0, _, true) => self.read_binary(sec, sel, cmd),
            (0xD6, _, true) => self.update_binary(sec, sel, cmd),
            (0xB2, _, true) => self.read_record(sec, sel, cmd),
            (0xDC, _, true) => self.update_record(sec, sel, cmd),
            (0xA2, _, true) => self.search_record(sec, sel, cmd),
            (0x32, true, _) => self.increase(sec, sel, cmd),
            (0xA4 | 0xF2 | 0xB0 | 0xD6 | 0xB2 | 0xDC | 0xA2 | 0x32, _, _) => {
                Err(StatusWord::CLA_NOT_SUPPORTED)
            }
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    fn is_df(&self, id: NodeId) -> bool {
        self.node(self.resolve(id)).is_some_and(|n| n.body.is_df())
    }

    fn parent_of(&self, id: NodeId) -> Option<NodeId> {
        self.node(id)?.parent
    }

    /// SELECT by FID from the current DF (TS 102 221 §8.4.1): the MF, the current ADF
    /// ('7FFF'), the current DF itself, a child of it, its parent, or a DF sibling of it.
    fn select_fid(&self, sel: &Selection, fid: u16) -> Option<NodeId> {
        if fid == 0x3F00 {
            return Some(MF);
        }
        if fid == 0x7FFF {
            return sel.adf;
        }
        let df = sel.df;
        let is_adf = matches!(self.node(df).map(|n| &n.body), Some(Body::Adf { .. }));
        if !is_adf && self.node(df).is_some_and(|n| n.fid == fid) {
            return Some(df);
        }
        if let Some(c) = self.child(df, fid) {
            return Some(c);
        }
        let parent = self.parent_of(df)?;
        if self.node(parent).is_some_and(|n| n.fid == fid) {
            return Some(parent);
        }
        self.child(parent, fid).filter(|c| self.is_df(*c))
    }

    fn select(&mut self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        let p2 = cmd.p2;
        // TS 102 221 Table 11.2: b8 and b6 zero; b5-b3 '001' FCP or '011' no data.
        if p2 & 0xA0 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let want_fcp = match p2 & 0x1C {
            0x04 => true,
            0x0C => false,
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let terminate = p2 & 0x40 != 0;
        let occurrence = p2 & 0x03;
        if (occurrence != 0 || terminate) && cmd.p1 != 0x04 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let data = &cmd.data;
        let fids = |d: &[u8]| -> Vec<u16> {
            d.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        };
        let target = match cmd.p1 {
            0x00 => match data.len() {
                // ISO/IEC 7816-4 §11.1.1: no data selects the MF.
                0 => Some(MF),
                2 => self.select_fid(sel, u16::from_be_bytes([data[0], data[1]])),
                _ => return Err(StatusWord::WRONG_LENGTH),
            },
            0x01 => {
                if data.len() != 2 {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                self.child(sel.df, u16::from_be_bytes([data[0], data[1]]))
                    .filter(|c| self.is_df(*c))
            }
            0x03 => {
                if !data.is_empty() {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                self.parent_of(sel.df)
            }
            0x04 => {
                if data.is_empty() || data.len() > 16 {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                match occurrence {
                    0x00 => self.adf_by_aid(data, None),
                    0x02 => self.adf_by_aid(data, sel.adf),
                    _ => return Err(StatusWord::INCORRECT_P1_P2),
                }
            }
            0x08 | 0x09 => {
                if data.len() < 2 || !data.len().is_multiple_of(2) {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                let path = fids(data);
                let (mut cur, rest) = match (cmd.p1, path.split_first()) {
                    (0x08, Some((0x7FFF, rest))) => match sel.adf {
                        Some(a) => (Some(a), rest),
                        None => (None, rest),
                    },
                    // Tolerate the MF's own ID at the start of a path from the MF.
                    (0x08, Some((0x3F00, rest))) if !rest.is_empty() => (Some(MF), rest),
                    (0x08, _) => (Some(MF), path.as_slice()),
                    _ => (Some(sel.df), path.as_slice()),
                };
                for (i, fid) in rest.iter().enumerate() {
                    let Some(c) = cur else { break };
                    if !self.is_df(c) {
                        cur = None;
                        break;
                    }
                    cur = self.child(c, *fid);
                    if cur.is_some() && i + 1 < rest.len() && !cur.is_some_and(|x| self.is_df(x)) {
                        cur = None;
                    }
                }
                cur
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let target = target.ok_or(StatusWord::FILE_NOT_FOUND)?;
        let node = self.node(target).ok_or(StatusWord::FILE_NOT_FOUND)?;
        let is_adf = matches!(node.body, Body::Adf { .. });
        if terminate {
            // Application session termination (TS 102 221 §11.1.1.2): back to the MF.
            if !is_adf {
                return Err(StatusWord::INCORRECT_P1_P2);
            }
            *sel = Selection::default();
            return Ok(Reply::ok(Vec::new()));
        }
        if self.is_df(target) {
            sel.df = target;
            sel.ef = None;
            if is_adf {
                sel.adf = Some(target);
            }
        } else {
            sel.df = node.parent.unwrap_or(MF);
            sel.ef = Some(target);
        }
        sel.record = None;
        let deactivated = node.lcsi & 0x05 == 0x04;
        let data = if want_fcp {
            fcp::fcp(self, target, sec.pin_status)
        } else {
            Vec::new()
        };
        Ok(Reply {
            data,
            sw: if deactivated {
                FILE_DEACTIVATED
            } else {
                StatusWord::OK
            },
        })
    }

    fn status(&self, sec: &Security<'_>, sel: &Selection, cmd: &Command) -> Res {
        if cmd.p1 > 0x02 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        match cmd.p2 {
            0x00 => Ok(Reply::ok(fcp::fcp(self, sel.df, sec.pin_status))),
            0x01 => {
                let aid = sel.adf.and_then(|a| match &self.node(a)?.body {
                    Body::Adf { aid } => Some(aid.clone()),
                    _ => None,
                });
                Ok(Reply::ok(
                    aid.map(|a| tlv::encode_tlv(tlv::Tag(0x84), &a))
                        .unwrap_or_default(),
                ))
            }
            0x0C => Ok(Reply::ok(Vec::new())),
            _ => Err(StatusWord::INCORRECT_P1_P2),
        }
    }

    /// The EF a command addresses: by SFI (which also makes it the current EF) or the
    /// current EF.
    fn target_ef(&self, sel: &mut Selection, sfi: Option<u8>) -> Result<NodeId, StatusWord> {
        match sfi {
            Some(s) => {
                let ef = self
                    .child_by_sfi(sel.df, s)
                    .ok_or(StatusWord::FILE_NOT_FOUND)?;
                if sel.ef != Some(ef) {
                    sel.ef = Some(ef);
                    sel.record = None;
                }
                Ok(ef)
            }
            None => sel.ef.ok_or(StatusWord::COMMAND_NOT_ALLOWED),
        }
    }

    fn check(&self, sec: &Security<'_>, ef: NodeId, am: u8, ins: u8) -> Result<(), StatusWord> {
        if access::allowed(self, ef, am, ins, sec.key_ok) {
            Ok(())
        } else {
            Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
        }
    }

    /// P1/P2 of READ/UPDATE BINARY: SFI in P1 (b8 = 1, b7-b6 = 0) with offset P2, or a
    /// 15-bit offset (TS 102 221 Table 11.10).
    fn binary_target(
        &self,
        sel: &mut Selection,
        cmd: &Command,
    ) -> Result<(NodeId, usize), StatusWord> {
        if cmd.p1 & 0x80 != 0 {
            if cmd.p1 & 0x60 != 0 || cmd.p1 & 0x1F == 0 || cmd.p1 & 0x1F == 0x1F {
                return Err(StatusWord::INCORRECT_P1_P2);
            }
            Ok((self.target_ef(sel, Some(cmd.p1 & 0x1F))?, cmd.p2 as usize))
        } else {
            let off = ((cmd.p1 as usize) << 8) | cmd.p2 as usize;
            Ok((self.target_ef(sel, None)?, off))
        }
    }

    fn read_binary(&self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let (ef, off) = self.binary_target(sel, cmd)?;
        let Some(Body::Transparent { data }) = self.node(self.resolve(ef)).map(|n| &n.body) else {
            return Err(INCOMPATIBLE);
        };
        self.check(sec, ef, AM_READ, cmd.ins)?;
        if off >= data.len() {
            return Err(StatusWord::WRONG_P1_P2);
        }
        let avail = data.len() - off;
        let ne = cmd.le.unwrap_or(apdu::command::SHORT_MAX_NE);
        let n = ne.min(avail);
        let out = data[off..off + n].to_vec();
        // Le '00' asks for "up to 256"; a larger explicit Le reaches the end of the file.
        let sw = if ne > avail && ne != apdu::command::SHORT_MAX_NE {
            StatusWord::END_OF_FILE
        } else {
            StatusWord::OK
        };
        Ok(Reply { data: out, sw })
    }

    fn update_binary(&mut self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if cmd.data.is_empty() || cmd.le.is_some() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let (ef, off) = self.binary_target(sel, cmd)?;
        let len = match self.node(self.resolve(ef)).map(|n| &n.body) {
            Some(Body::Transparent { data }) => data.len(),
            _ => return Err(INCOMPATIBLE),
        };
        self.check(sec, ef, AM_UPDATE, cmd.ins)?;
        if off >= len {
            return Err(StatusWord::WRONG_P1_P2);
        }
        if off + cmd.data.len() > len {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let target = self.resolve(ef);
        if let Some(Body::Transparent { data }) = self.node_mut(target).map(|n| &mut n.body) {
            data[off..off + cmd.data.len()].copy_from_slice(&cmd.data);
        }
        Ok(Reply::ok(Vec::new()))
    }

    /// SFI in P2 b8-b4 of the record commands (0 = current EF).
    fn record_target(&self, sel: &mut Selection, p2: u8) -> Result<NodeId, StatusWord> {
        match p2 >> 3 {
            0 => self.target_ef(sel, None),
            0x1F => Err(StatusWord::INCORRECT_P1_P2),
            s => self.target_ef(sel, Some(s)),
        }
    }

    /// Record number for READ/UPDATE RECORD modes '02' next, '03' previous, '04' absolute
    /// (P1 = record) or current (P1 = 0); the new record pointer if the mode moves it.
    fn record_number(
        &self,
        sel: &Selection,
        cyclic: bool,
        n: usize,
        p1: u8,
        mode: u8,
    ) -> Result<(usize, bool), StatusWord> {
        match mode {
            0x04 if p1 == 0 => sel
                .record
                .map(|r| (r, false))
                .ok_or(StatusWord::RECORD_NOT_FOUND),
            0x04 => {
                let r = p1 as usize;
                if r > n {
                    return Err(StatusWord::RECORD_NOT_FOUND);
                }
                Ok((r, false))
            }
            0x02 | 0x03 if p1 != 0 => Err(StatusWord::INCORRECT_P1_P2),
            0x02 => match sel.record {
                None => Ok((1, true)),
                Some(r) if r < n => Ok((r + 1, true)),
                Some(_) if cyclic => Ok((1, true)),
                Some(_) => Err(StatusWord::RECORD_NOT_FOUND),
            },
            0x03 => match sel.record {
                None => Ok((n, true)),
                Some(r) if r > 1 => Ok((r - 1, true)),
                Some(_) if cyclic => Ok((n, true)),
                Some(_) => Err(StatusWord::RECORD_NOT_FOUND),
            },
            _ => Err(StatusWord::INCORRECT_P1_P2),
        }
    }

    fn record_shape(&self, ef: NodeId) -> Result<(usize, usize, bool), StatusWord> {
        match self.node(self.resolve(ef)).map(|n| &n.body) {
            Some(Body::LinearFixed {
                record_len,
                records,
            }) => Ok((*record_len, records.len(), false)),
            Some(Body::Cyclic {
                record_len,
                records,
            }) => Ok((*record_len, records.len(), true)),
            _ => Err(INCOMPATIBLE),
        }
    }

    fn read_record(&self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let ef = self.record_target(sel, cmd.p2)?;
        let (rl, n, cyclic) = self.record_shape(ef)?;
        self.check(sec, ef, AM_READ, cmd.ins)?;
        let (r, moves) = self.record_number(sel, cyclic, n, cmd.p1, cmd.p2 & 0x07)?;
        if let Some(ne) = cmd.le {
            // TS 102 221 §7.2.2.3 (T=0): wrong Le gives '6C' with the record length.
            if ne != apdu::command::SHORT_MAX_NE && ne != rl {
                return Err(StatusWord::wrong_le(rl as u8));
            }
        }
        let data = self
            .records(ef)
            .and_then(|rs| rs.get(r - 1))
            .cloned()
            .ok_or(StatusWord::RECORD_NOT_FOUND)?;
        if moves {
            sel.record = Some(r);
        }
        Ok(Reply::ok(data))
    }

    fn update_record(&mut self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if cmd.le.is_some() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let ef = self.record_target(sel, cmd.p2)?;
        let (rl, n, cyclic) = self.record_shape(ef)?;
        self.check(sec, ef, AM_UPDATE, cmd.ins)?;
        if cmd.data.len() != rl {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let mode = cmd.p2 & 0x07;
        let target = self.resolve(ef);
        if cyclic {
            // TS 102 221 §11.1.6: only PREVIOUS for cyclic EFs; the oldest record is
            // overwritten and becomes record 1.
            if mode != 0x03 || cmd.p1 != 0 {
                return Err(StatusWord::INCORRECT_P1_P2);
            }
            if let Some(Body::Cyclic { records, .. }) = self.node_mut(target).map(|n| &mut n.body) {
                records.rotate_right(1);
                if let Some(first) = records.first_mut() {
                    *first = cmd.data.clone();
                }
            }
            sel.record = Some(1);
            return Ok(Reply::ok(Vec::new()));
        }
        let (r, moves) = self.record_number(sel, false, n, cmd.p1, mode)?;
        if let Some(Body::LinearFixed { records, .. }) = self.node_mut(target).map(|n| &mut n.body)
        {
            if let Some(rec) = records.get_mut(r - 1) {
                *rec = cmd.data.clone();
            }
        }
        if moves {
            sel.record = Some(r);
        }
        Ok(Reply::ok(Vec::new()))
    }

    /// SEARCH RECORD (TS 102 221 §11.1.7, ISO/IEC 7816-4 §11.3.7): P2 b3-b1 '100' simple
    /// forward / '101' simple backward search from record P1 (00: the current record, or the
    /// first/last), '110' enhanced search. Enhanced search data: the search indication
    /// (byte 1: b4 0 = byte 2 is an offset, 1 = start after the first occurrence of byte 2's
    /// value; b3-b1 '100' forward / '101' backward from record P1, '110' forward from the
    /// next record / '111' backward from the previous record), then the string. A record
    /// matches when the string occurs in it (from the offset). Returns the matching record
    /// numbers; the record pointer moves to the first match.
    fn search_record(&self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let ef = self.record_target(sel, cmd.p2)?;
        let (_, n, _) = self.record_shape(ef)?;
        self.check(sec, ef, AM_READ, cmd.ins)?;
        enum Start {
            Offset(usize),
            After(u8),
        }
        // (backward, start from the record next to / before the current one)
        let (backward, adjacent, start, pattern) = match cmd.p2 & 0x07 {
            0x04 => (false, false, Start::Offset(0), &cmd.data[..]),
            0x05 => (true, false, Start::Offset(0), &cmd.data[..]),
            0x06 => {
                let [ind, val, pattern @ ..] = &cmd.data[..] else {
                    return Err(StatusWord::WRONG_LENGTH);
                };
                if pattern.is_empty() {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                if ind & 0xF0 != 0 || ind & 0x04 == 0 {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                let start = if ind & 0x08 == 0 {
                    Start::Offset(*val as usize)
                } else {
                    Start::After(*val)
                };
                (ind & 0x01 == 1, ind & 0x02 != 0, start, pattern)
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let first = if adjacent {
            // From the record after (before) the current one; without a current record, from
            // the first (last) record.
            match (sel.record, backward) {
                (None, false) => 1,
                (None, true) => n,
                (Some(r), false) if r < n => r + 1,
                (Some(r), true) if r > 1 => r - 1,
                _ => return Err(StatusWord::RECORD_NOT_FOUND),
            }
        } else {
            match cmd.p1 {
                0 => sel.record.unwrap_or(if backward { n } else { 1 }),
                r if (r as usize) <= n => r as usize,
                _ => return Err(StatusWord::RECORD_NOT_FOUND),
            }
        };
        let order: Vec<usize> = if backward {
            (1..=first).rev().collect()
        } else {
            (first..=n).collect()
        };
        let records = self.records(ef).ok_or(INCOMPATIBLE)?;
        let mut hits = Vec::new();
        for r in order {
            let Some(rec) = records.get(r - 1) else {
                continue;
            };
            let from = match start {
                Start::Offset(o) => o,
                Start::After(v) => match rec.iter().position(|b| *b == v) {
                    Some(p) => p + 1,
                    None => continue,
                },
            };
            let hay = rec.get(from..).unwrap_or(&[]);
            if hay.windows(pattern.len()).any(|w| w == pattern) {
                hits.push(r as u8);
            }
        }
        if let Some(r) = hits.first() {
            sel.record = Some(*r as usize);
        }
        Ok(Reply::ok(hits))
    }

    /// INCREASE (TS 102 221 §11.1.8): adds the value to record 1 of a cyclic EF and writes
    /// the sum as the new record 1; returns the new record followed by the value added.
    fn increase(&mut self, sec: &Security<'_>, sel: &mut Selection, cmd: &Command) -> Res {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let ef = self.target_ef(sel, None)?;
        let (rl, _, cyclic) = self.record_shape(ef)?;
        if !cyclic {
            return Err(INCOMPATIBLE);
        }
        self.check(sec, ef, 0, cmd.ins)?;
        if cmd.data.is_empty() || cmd.data.len() > rl {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let current = self
            .records(ef)
            .and_then(|r| r.first())
            .cloned()
            .ok_or(StatusWord::RECORD_NOT_FOUND)?;
        let mut sum = current;
        if cmd.data.len() > sum.len() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        // Big-endian addition, the value right-aligned on the record.
        let mut carry = 0u16;
        let mut value = cmd.data.iter().rev();
        for byte in sum.iter_mut().rev() {
            let s = *byte as u16 + value.next().map_or(0, |v| *v as u16) + carry;
            *byte = s as u8;
            carry = s >> 8;
        }
        if carry != 0 {
            return Err(MAX_VALUE_REACHED);
        }
        let target = self.resolve(ef);
        if let Some(Body::Cyclic { records, .. }) = self.node_mut(target).map(|n| &mut n.body) {
            records.rotate_right(1);
            if let Some(first) = records.first_mut() {
                *first = sum.clone();
            }
        }
        sel.record = Some(1);
        let mut out = sum;
        out.extend_from_slice(&cmd.data);
        Ok(Reply::ok(out))
    }
}
