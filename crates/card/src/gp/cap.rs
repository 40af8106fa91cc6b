//! The Load File Data Block of a Java Card package: the CAP file components concatenated
//! (GP CS v2.3.1 §C.1 / Java Card VM Specification §6: each component is `tag u1, size u2,
//! info[size]`). The card checks the structure, the Header component (tag 1: magic
//! `DECAFFED`, CAP version, flags, package version and AID) and reads the applet AIDs of the
//! Applet component (tag 3), which become the executable modules of the load file.

use apdu::StatusWord;

/// Component tags (JCVM Specification §6.1 Table 6-1): Header .. Debug.
pub const COMPONENT_HEADER: u8 = 1;
pub const COMPONENT_APPLET: u8 = 3;
const COMPONENT_MAX: u8 = 12;
/// Header component magic (JCVM §6.3).
pub const CAP_MAGIC: [u8; 4] = [0xDE, 0xCA, 0xFF, 0xED];

/// What the card takes from a load file data block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapInfo {
    pub package_aid: Vec<u8>,
    /// Package (major, minor) version.
    pub version: [u8; 2],
    /// Applet AIDs (Applet component), in order.
    pub applets: Vec<Vec<u8>>,
}

/// Parses and checks a load file data block; any structural error is `6A80`.
pub fn parse(lfdb: &[u8]) -> Result<CapInfo, StatusWord> {
    let bad = StatusWord::INCORRECT_DATA;
    let mut rest = lfdb;
    let mut seen = [false; COMPONENT_MAX as usize + 1];
    let mut header: Option<&[u8]> = None;
    let mut applet: Option<&[u8]> = None;
    while let [tag, hi, lo, tail @ ..] = rest {
        let size = usize::from(u16::from_be_bytes([*hi, *lo]));
        let info = tail.get(..size).ok_or(bad)?;
        rest = &tail[size..];
        if *tag == 0 || *tag > COMPONENT_MAX {
            return Err(bad);
        }
        let slot = seen.get_mut(usize::from(*tag)).ok_or(bad)?;
        if *slot {
            return Err(bad);
        }
        *slot = true;
        match *tag {
            COMPONENT_HEADER => header = Some(info),
            COMPONENT_APPLET => applet = Some(info),
            _ if header.is_none() => return Err(bad), // the Header comes first
            _ => {}
        }
    }
    if !rest.is_empty() {
        return Err(bad);
    }
    // Header: magic u4, minor u1, major u1, flags u1, package_info { minor, major, AID_length,
    // AID }.
    let h = header.ok_or(bad)?;
    let [m0, m1, m2, m3, _cap_minor, _cap_major, _flags, pkg_minor, pkg_major, aid_len, tail @ ..] =
        h
    else {
        return Err(bad);
    };
    if [*m0, *m1, *m2, *m3] != CAP_MAGIC {
        return Err(bad);
    }
    let aid_len = usize::from(*aid_len);
    if !(5..=16).contains(&aid_len) {
        return Err(bad);
    }
    let package_aid = tail.get(..aid_len).ok_or(bad)?.to_vec();
    let mut applets = Vec::new();
    if let Some(a) = applet {
        // count u1, then { AID_length u1, AID, install_method_offset u2 }.
        let (&count, mut r) = a.split_first().ok_or(bad)?;
        for _ in 0..count {
            let (&len, t) = r.split_first().ok_or(bad)?;
            let len = usize::from(len);
            if !(5..=16).contains(&len) {
                return Err(bad);
            }
            let aid = t.get(..len).ok_or(bad)?;
            r = t.get(len + 2..).ok_or(bad)?;
            applets.push(aid.to_vec());
        }
        if !r.is_empty() {
            return Err(bad);
        }
    }
    Ok(CapInfo {
        package_aid,
        version: [*pkg_major, *pkg_minor],
        applets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(tag: u8, info: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(info.len() as u16).to_be_bytes());
        v.extend_from_slice(info);
        v
    }

    #[test]
    fn header_and_applets() {
        let pkg = [0xA0, 0, 0, 0, 0x62, 1, 1];
        let mut h = CAP_MAGIC.to_vec();
        h.extend_from_slice(&[0x02, 0x02, 0x00, 0x00, 0x01, pkg.len() as u8]);
        h.extend_from_slice(&pkg);
        let mut a = vec![1, 8];
        a.extend_from_slice(&[0xA0, 0, 0, 0, 0x62, 1, 1, 1, 0x00, 0x10]);
        let mut lfdb = component(1, &h);
        lfdb.extend(component(2, &[0; 4]));
        lfdb.extend(component(3, &a));
        let info = parse(&lfdb).unwrap();
        assert_eq!(info.package_aid, pkg);
        assert_eq!(info.version, [1, 0]);
        assert_eq!(info.applets, vec![vec![0xA0, 0, 0, 0, 0x62, 1, 1, 1]]);
        // Truncated, duplicate component, directory before header, bad magic.
        assert!(parse(&lfdb[..lfdb.len() - 1]).is_err());
        let mut dup = lfdb.clone();
        dup.extend(component(2, &[0; 4]));
        assert!(parse(&dup).is_err());
        let mut first = component(2, &[0; 4]);
        first.extend(component(1, &h));
        assert!(parse(&first).is_err());
        let mut bad = lfdb.clone();
        bad[3] = 0;
        assert!(parse(&bad).is_err());
        assert!(parse(&[]).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    proptest! {
        /// No input makes the Load File Data Block parser panic.
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = super::parse(&data);
        }

        /// Nor the privileges decoder.
        #[test]
        fn privileges_never_panic(data in proptest::collection::vec(any::<u8>(), 0..5)) {
            let _ = super::super::registry::Privileges::decode(&data);
        }
    }
}
