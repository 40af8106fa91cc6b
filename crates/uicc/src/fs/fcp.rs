//! The FCP template returned by SELECT and STATUS (ETSI TS 102 221 §11.1.1.3).

use tlv::Tag;

use super::{Body, Node, NodeId, UiccFs};

/// UICC characteristics (TS 102 221 §11.1.1.4.6.1): clock stop allowed, supply voltage
/// classes A, B and C.
const UICC_CHARACTERISTICS: u8 = 0x71;
/// Data coding byte (TS 102 221 §11.1.1.4.3): '21'.
const DATA_CODING: u8 = 0x21;

fn size_bytes(n: usize) -> Vec<u8> {
    // At least two bytes (TS 102 221 §11.1.1.4.1).
    let b = (n as u64).to_be_bytes();
    let first = b.iter().position(|x| *x != 0).unwrap_or(7).min(6);
    b[first..].to_vec()
}

/// The file descriptor '82' value and the file size of an EF (through links).
fn ef_descriptor(fs: &UiccFs, node: &Node, id: NodeId) -> Option<(Vec<u8>, usize)> {
    let sh = if node.shareable { 0x40 } else { 0x00 };
    Some(match &fs.node(fs.resolve(id))?.body {
        Body::Transparent { data } => (vec![sh | 0x01, DATA_CODING], data.len()),
        Body::LinearFixed {
            record_len,
            records,
        } => (
            record_descriptor(sh | 0x02, *record_len, records.len()),
            record_len * records.len(),
        ),
        Body::Cyclic {
            record_len,
            records,
        } => (
            record_descriptor(sh | 0x06, *record_len, records.len()),
            record_len * records.len(),
        ),
        Body::BerTlv { max_size, data } => (
            vec![sh | 0x39, DATA_CODING],
            if *max_size > 0 { *max_size } else { data.len() },
        ),
        _ => return None,
    })
}

fn record_descriptor(fdb: u8, record_len: usize, n: usize) -> Vec<u8> {
    let rl = (record_len as u16).to_be_bytes();
    vec![fdb, DATA_CODING, rl[0], rl[1], n as u8]
}

/// PIN status template DO 'C6' (TS 102 221 §9.5.2): PS_DO '90' with one bit per key
/// reference (b8 of the first byte for the first, 1 = enabled), then a '83' key reference
/// DO per PIN.
pub fn pin_status_template(status: &[(u8, bool)]) -> Vec<u8> {
    let mut ps = vec![0u8; status.len().div_ceil(8).max(1)];
    for (i, (_, enabled)) in status.iter().enumerate() {
        if *enabled {
            if let Some(b) = ps.get_mut(i / 8) {
                *b |= 0x80 >> (i % 8);
            }
        }
    }
    let mut v = Vec::new();
    tlv::write_tlv(Tag(0x90), &ps, &mut v);
    for (r, _) in status {
        tlv::write_tlv(Tag(0x83), &[*r], &mut v);
    }
    v
}

/// Key references to (key reference, PIN enabled), as [`crate::pin::PinStore::pin_status`].
pub type PinStatusFn<'a> = dyn Fn(&[u8]) -> Vec<(u8, bool)> + 'a;

/// The FCP template '62' of file `id`. `pin_status` gives, for a DF's key references, the
/// key reference and whether the PIN is enabled.
pub fn fcp(fs: &UiccFs, id: NodeId, pin_status: &PinStatusFn<'_>) -> Vec<u8> {
    let Some(node) = fs.node(id) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    let target_is_df = fs.node(fs.resolve(id)).is_some_and(|n| n.body.is_df());
    if target_is_df || node.body.is_df() {
        let sh = if node.shareable { 0x40 } else { 0x00 };
        tlv::write_tlv(Tag(0x82), &[sh | 0x38, DATA_CODING], &mut v);
        let aid = match &node.body {
            Body::Adf { aid } => Some(aid),
            _ => None,
        };
        // An ADF is known by its DF name; its FID is a profile-creation artefact.
        if aid.is_none() {
            tlv::write_tlv(Tag(0x83), &node.fid.to_be_bytes(), &mut v);
        }
        if let Some(aid) = aid {
            tlv::write_tlv(Tag(0x84), aid, &mut v);
        }
        if matches!(node.body, Body::Mf) {
            let mut a5 = Vec::new();
            tlv::write_tlv(Tag(0x80), &[UICC_CHARACTERISTICS], &mut a5);
            tlv::write_tlv(Tag(0xA5), &a5, &mut v);
        }
        tlv::write_tlv(Tag(0x8A), &[node.lcsi], &mut v);
        if !node.security.is_empty() {
            tlv::write_tlv(Tag(0x8B), &node.security, &mut v);
        }
        let refs = if node.pin_refs.is_empty() {
            fs.node(fs.resolve(id))
                .map(|n| n.pin_refs.clone())
                .unwrap_or_default()
        } else {
            node.pin_refs.clone()
        };
        tlv::write_tlv(Tag(0xC6), &pin_status_template(&pin_status(&refs)), &mut v);
    } else if let Some((desc, size)) = ef_descriptor(fs, node, id) {
        tlv::write_tlv(Tag(0x82), &desc, &mut v);
        tlv::write_tlv(Tag(0x83), &node.fid.to_be_bytes(), &mut v);
        if let Some(Body::BerTlv { max_size, .. }) = fs.node(fs.resolve(id)).map(|n| &n.body) {
            if *max_size > 0 {
                let mut a5 = Vec::new();
                tlv::write_tlv(Tag(0x86), &size_bytes(*max_size), &mut a5);
                tlv::write_tlv(Tag(0xA5), &a5, &mut v);
            }
        }
        tlv::write_tlv(Tag(0x8A), &[node.lcsi], &mut v);
        if !node.security.is_empty() {
            tlv::write_tlv(Tag(0x8B), &node.security, &mut v);
        }
        tlv::write_tlv(Tag(0x80), &size_bytes(size), &mut v);
        // '88' absent would mean "SFI = low 5 bits of the FID" (TS 102 221 §11.1.1.4.8).
        match node.sfi {
            Some(s) => tlv::write_tlv(Tag(0x88), &[s << 3], &mut v),
            None => tlv::write_tlv(Tag(0x88), &[], &mut v),
        }
    }
    tlv::encode_tlv(Tag(0x62), &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_do() {
        // MF with PIN1 enabled, ADM1 enabled, PIN2 disabled.
        assert_eq!(
            hex::encode(pin_status_template(&[
                (0x01, true),
                (0x81, false),
                (0x0A, true)
            ])),
            "9001a083010183018183010a"
        );
        assert_eq!(size_bytes(9), [0, 9]);
        assert_eq!(size_bytes(0x1234), [0x12, 0x34]);
        assert_eq!(size_bytes(0x012345), [1, 0x23, 0x45]);
    }
}
