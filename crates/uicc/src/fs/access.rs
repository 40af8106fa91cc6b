//! Access conditions in the referenced-to-expanded format (ETSI TS 102 221 §9.2.7, §9.5;
//! ISO/IEC 7816-4 §9.3.3): the file's '8B' names a record of an EF.ARR; the record holds
//! access rules, each an access mode DO ('80' AM byte or '81'-'8F' command header) followed
//! by security condition DOs ('90' always, '97' never, 'A4' key reference control template
//! with '83' key reference, 'A0' OR / 'AF' AND / 'A7' NOT templates). Several SC DOs after
//! one AM DO are alternatives (OR). A command no rule covers, and any rule the card cannot
//! read, is never granted (3GPP TS 31.102 §4.2.55).

use tlv::Tag;

use super::{NodeId, UiccFs};

/// AM byte bits for EFs (ISO/IEC 7816-4 Table 18; TS 102 221 §9.2.4).
pub const AM_READ: u8 = 0x01;
pub const AM_UPDATE: u8 = 0x02;
pub const AM_DEACTIVATE: u8 = 0x08;
pub const AM_ACTIVATE: u8 = 0x10;

/// The EF.ARR record a file's security attributes reference, as (EF.ARR node, record).
pub fn arr_record(fs: &UiccFs, file: NodeId) -> Option<Vec<u8>> {
    let node = fs.node(file)?;
    let (fid, rec) = match node.security.as_slice() {
        [a, b, rec] => (u16::from_be_bytes([*a, *b]), *rec),
        // FID followed by (SE ID, record) pairs: take SE 01 if present, else the first.
        [a, b, pairs @ ..] if pairs.len() % 2 == 0 && !pairs.is_empty() => {
            let rec = pairs
                .chunks_exact(2)
                .find(|p| p[0] == 0x01)
                .or_else(|| pairs.chunks_exact(2).next())
                .map(|p| p[1])?;
            (u16::from_be_bytes([*a, *b]), rec)
        }
        _ => return None,
    };
    // The search for EF.ARR starts in the DF holding the EF (or at the DF itself) and goes
    // up to the MF; an ADF's parent is the MF.
    let mut dir = if node.body.is_df() {
        Some(file)
    } else {
        node.parent
    };
    let mut hops = 0;
    while let Some(d) = dir {
        if let Some(arr) = fs.child(d, fid) {
            let records = fs.records(arr)?;
            return records.get((rec as usize).checked_sub(1)?).cloned();
        }
        dir = fs.node(d)?.parent;
        hops += 1;
        if hops > 16 {
            break;
        }
    }
    None
}

/// True when the access rule of `file` grants the operation: `am_bit` for AM-byte rules,
/// `ins` for command-header rules; `key_ok` says whether a key reference's condition is
/// met (PIN verified or disabled).
pub fn allowed(
    fs: &UiccFs,
    file: NodeId,
    am_bit: u8,
    ins: u8,
    key_ok: &dyn Fn(u8) -> bool,
) -> bool {
    match arr_record(fs, file) {
        Some(rule) => rule_allows(&rule, am_bit, ins, key_ok),
        None => false,
    }
}

/// Evaluates one EF.ARR record.
pub fn rule_allows(record: &[u8], am_bit: u8, ins: u8, key_ok: &dyn Fn(u8) -> bool) -> bool {
    let mut applies = false;
    for t in tlv::iter(record) {
        // Unused bytes of the record are 'FF' (TS 31.102 §4.2.55).
        let Ok(t) = t else { break };
        match t.tag.0 {
            0xFF | 0x00 => break,
            0x80 => {
                applies = matches!(t.value, [am] if am & 0x80 == 0 && am & am_bit != 0);
            }
            tag @ 0x81..=0x8F => {
                // b4 CLA, b3 INS, b2 P1, b1 P2 present, in that order (ISO/IEC 7816-4 §9.3.3).
                let ins_index = ((tag & 0x08) != 0) as usize;
                applies = tag & 0x04 != 0 && t.value.get(ins_index) == Some(&ins);
            }
            _ if applies && condition(t.tag, t.value, key_ok) => return true,
            _ => {}
        }
    }
    false
}

fn condition(tag: Tag, value: &[u8], key_ok: &dyn Fn(u8) -> bool) -> bool {
    let children = || tlv::iter(value).map_while(|t| t.ok());
    match tag.0 {
        0x90 => true,
        0x97 => false,
        0xA4 => match tlv::find(value, Tag(0x83)) {
            Ok(Some(k)) => matches!(k.value, [r] if key_ok(*r)),
            _ => false,
        },
        0xA0 => children().any(|c| condition(c.tag, c.value, key_ok)),
        0xAF => {
            let mut any = false;
            for c in children() {
                any = true;
                if !condition(c.tag, c.value, key_ok) {
                    return false;
                }
            }
            any
        }
        0xA7 => !children().any(|c| condition(c.tag, c.value, key_ok)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // EF.ARR records of the TS.48 test profile (TS48V2-SAIP2-3-NOBERTLV, ADF.USIM EF.ARR).
    #[test]
    fn ts48_rules() {
        let pin1 = |k: u8| k == 0x01;
        let adm = |k: u8| k == 0x0A;
        let none = |_: u8| false;
        // Record 2: read PIN1; update PIN2 (local 81); admin ADM1.
        let r = h("800101a406830101950108800102a406830181950108800158a40683010a950108ffff");
        assert!(rule_allows(&r, AM_READ, 0xB0, &pin1));
        assert!(!rule_allows(&r, AM_READ, 0xB0, &none));
        assert!(!rule_allows(&r, AM_UPDATE, 0xD6, &pin1));
        assert!(!rule_allows(&r, AM_UPDATE, 0xD6, &adm));
        assert!(rule_allows(&r, AM_DEACTIVATE, 0x04, &adm));
        // Always-readable, ADM-updatable (read '90', update in '5A').
        let r = h("800101900080015aa40683010a950108");
        assert!(rule_allows(&r, AM_READ, 0xB0, &none));
        assert!(rule_allows(&r, AM_UPDATE, 0xD6, &adm));
        assert!(!rule_allows(&r, AM_UPDATE, 0xD6, &pin1));
        // Update: PIN1 OR PIN2 ('A0' template); INCREASE (command DO '84' 32): PIN1.
        let r = h("800101a406830101950108800158a40683010a950108840132a406830101950108800102a010a406830101950108a406830181950108");
        assert!(rule_allows(&r, AM_UPDATE, 0xDC, &pin1));
        assert!(rule_allows(&r, AM_UPDATE, 0xDC, &|k| k == 0x81));
        assert!(!rule_allows(&r, AM_UPDATE, 0xDC, &adm));
        assert!(rule_allows(&r, 0, 0x32, &pin1));
        // Never.
        let r = h("80011a9700");
        assert!(!rule_allows(&r, AM_UPDATE, 0xD6, &|_| true));
        // AND template.
        let r = h("800101af10a406830101950108a40683010a950108");
        assert!(!rule_allows(&r, AM_READ, 0xB0, &pin1));
        assert!(rule_allows(&r, AM_READ, 0xB0, &|k| k == 1 || k == 0x0A));
        // Garbage never grants.
        assert!(!rule_allows(&h("8001"), AM_READ, 0xB0, &|_| true));
        assert!(!rule_allows(&[], AM_READ, 0xB0, &|_| true));
    }
}
