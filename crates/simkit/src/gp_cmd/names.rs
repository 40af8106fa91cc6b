//! Names for GlobalPlatform codes: privileges (GP CS v2.3.1 §11.1.2, Table 11-7 / Table 6-1),
//! life cycle states (§11.1.1, Tables 11-2, 11-4, 11-5), CPLC fields, key types
//! (Table 11-16).

/// Privileges by (byte index, mask, name), GlobalPlatformPro's spelling. Security Domain
/// (b8 of byte 1) is part of the DAP verification codings ('C0', 'C1').
pub const PRIVILEGES: [(usize, u8, &str); 20] = [
    (0, 0x80, "SecurityDomain"),
    (0, 0xC0, "DAPVerification"),
    (0, 0xA0, "DelegatedManagement"),
    (0, 0x10, "CardLock"),
    (0, 0x08, "CardTerminate"),
    (0, 0x04, "CardReset"),
    (0, 0x02, "CVMManagement"),
    (0, 0xC1, "MandatedDAPVerification"),
    (1, 0x80, "TrustedPath"),
    (1, 0x40, "AuthorizedManagement"),
    (1, 0x20, "TokenVerification"),
    (1, 0x10, "GlobalDelete"),
    (1, 0x08, "GlobalLock"),
    (1, 0x04, "GlobalRegistry"),
    (1, 0x02, "FinalApplication"),
    (1, 0x01, "GlobalService"),
    (2, 0x80, "ReceiptGeneration"),
    (2, 0x40, "CipheredLoadFileDataBlock"),
    (2, 0x20, "ContactlessActivation"),
    (2, 0x10, "ContactlessSelfActivation"),
];

/// Aliases accepted on the command line.
const ALIASES: [(&str, &str); 3] = [
    ("DefaultSelected", "CardReset"),
    ("SD", "SecurityDomain"),
    ("PINChange", "CVMManagement"),
];

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The privilege names of a 1- or 3-byte privileges field. Delegated Management and the DAP
/// codings include Security Domain; a name is listed when all its bits are set, and
/// Security Domain itself only when no more specific SD coding explains b8.
pub fn privilege_names(privs: &[u8]) -> Vec<&'static str> {
    let byte = |i: usize| privs.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    for (i, mask, name) in PRIVILEGES {
        if byte(i) & mask == mask {
            out.push(name);
        }
    }
    // 'C1' (mandated DAP) also matches 'C0'; list the stronger one only.
    if out.contains(&"MandatedDAPVerification") {
        out.retain(|n| *n != "DAPVerification");
    }
    out
}

/// Parses `--privs`: names (case and punctuation insensitive) separated by ',', or the
/// privileges in hex (1 or 3 bytes). The result is 1 byte when bytes 2 and 3 are zero.
pub fn parse_privileges(s: &str) -> Result<Vec<u8>, String> {
    let t = s.trim();
    if !t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let v = hex::decode(t).map_err(|e| e.to_string())?;
        return match v.len() {
            1 | 3 => Ok(v),
            _ => Err("privileges in hex are 1 or 3 bytes".into()),
        };
    }
    let mut p = [0u8; 3];
    for part in t.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let mut want = squash(part);
        if let Some((_, to)) = ALIASES.iter().find(|(a, _)| squash(a) == want) {
            want = squash(to);
        }
        let (i, mask, _) = PRIVILEGES
            .iter()
            .find(|(_, _, n)| squash(n) == want)
            .ok_or_else(|| format!("unknown privilege {part:?}"))?;
        p[*i] |= mask;
    }
    Ok(if p[1] == 0 && p[2] == 0 {
        vec![p[0]]
    } else {
        p.to_vec()
    })
}

/// What a registry entry is, for naming its life cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Isd,
    SecurityDomain,
    Application,
    LoadFile,
}

/// Life cycle state names (GP CS v2.3.1 Tables 11-2 card, 11-4 application, 11-5 security
/// domain; load files are LOADED).
pub fn life_cycle_name(kind: EntryKind, lc: u8) -> String {
    let s = match kind {
        EntryKind::Isd => match lc {
            0x01 => "OP_READY",
            0x07 => "INITIALIZED",
            0x0F => "SECURED",
            0x7F => "CARD_LOCKED",
            0xFF => "TERMINATED",
            _ => "",
        },
        EntryKind::LoadFile => match lc {
            0x01 => "LOADED",
            _ => "",
        },
        EntryKind::SecurityDomain | EntryKind::Application => {
            if lc & 0x80 != 0 {
                "LOCKED"
            } else {
                match lc {
                    0x03 => "INSTALLED",
                    0x07 => "SELECTABLE",
                    0x0F if kind == EntryKind::SecurityDomain => "PERSONALIZED",
                    // b3-b1 = 111: an application-specific state (Table 11-4).
                    l if kind == EntryKind::Application && l & 0x07 == 0x07 => {
                        return format!("SELECTABLE (application specific {l:02X})")
                    }
                    _ => "",
                }
            }
        }
    };
    if s.is_empty() {
        format!("{lc:02X}")
    } else {
        s.to_string()
    }
}

/// Key type names (GP CS v2.3.1 Table 11-16).
pub fn key_type_name(t: u8) -> String {
    match t {
        0x80 => "DES".into(),
        0x81 => "3DES-CBC (reserved)".into(),
        0x82 => "DES-ECB".into(),
        0x83 => "DES-CBC".into(),
        0x84 => "TLS-PSK".into(),
        0x85 => "DES-CBC-MAC".into(),
        0x88 => "AES".into(),
        0x90 => "HMAC-SHA1".into(),
        0x91 => "HMAC-SHA1-160".into(),
        0xA0 => "RSA public e".into(),
        0xA1 => "RSA public N".into(),
        0xA2 => "RSA private N".into(),
        0xA3 => "RSA private d".into(),
        0xA4..=0xA8 => "RSA private CRT".into(),
        0xB0..=0xB9 => "ECC".into(),
        0xFF => "extended".into(),
        t => format!("{t:02X}"),
    }
}

/// Card Production Life Cycle data ('9F7F', 42 bytes; the layout of the Visa GlobalPlatform
/// Card Implementation Requirements, as GlobalPlatformPro's `CPLC` decodes it): field names
/// and lengths.
pub const CPLC_FIELDS: [(&str, usize); 18] = [
    ("ICFabricator", 2),
    ("ICType", 2),
    ("OperatingSystemID", 2),
    ("OperatingSystemReleaseDate", 2),
    ("OperatingSystemReleaseLevel", 2),
    ("ICFabricationDate", 2),
    ("ICSerialNumber", 4),
    ("ICBatchIdentifier", 2),
    ("ICModuleFabricator", 2),
    ("ICModulePackagingDate", 2),
    ("ICCManufacturer", 2),
    ("ICEmbeddingDate", 2),
    ("ICPrePersonalizer", 2),
    ("ICPrePersonalizationEquipmentDate", 2),
    ("ICPrePersonalizationEquipmentID", 4),
    ("ICPersonalizer", 2),
    ("ICPersonalizationDate", 2),
    ("ICPersonalizationEquipmentID", 4),
];

/// Decodes CPLC (the value of '9F7F', or the whole TLV). Dates are YDDD (last digit of the
/// year, day of the year); they are shown as given.
pub fn decode_cplc(data: &[u8]) -> Option<Vec<(&'static str, String)>> {
    let value = match data {
        [0x9F, 0x7F, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => data,
    };
    if value.len() < 42 {
        return None;
    }
    let mut at = 0;
    let mut out = Vec::new();
    for (name, len) in CPLC_FIELDS {
        out.push((name, hex::encode_upper(&value[at..at + len])));
        at += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_round_trip() {
        assert_eq!(parse_privileges("SecurityDomain").unwrap(), [0x80]);
        assert_eq!(
            parse_privileges("security-domain, card_lock,DefaultSelected").unwrap(),
            [0x94]
        );
        assert_eq!(
            parse_privileges("SecurityDomain,AuthorizedManagement").unwrap(),
            [0x80, 0x40, 0x00]
        );
        assert_eq!(
            parse_privileges("ContactlessActivation").unwrap(),
            [0x00, 0x00, 0x20]
        );
        assert_eq!(parse_privileges("9E").unwrap(), [0x9E]);
        assert_eq!(parse_privileges("").unwrap(), [0x00]);
        assert!(parse_privileges("Superuser").is_err());
        assert!(parse_privileges("9E00").is_err());
        // ISD privileges '9E' (SD, card lock, card terminate, card reset, CVM management).
        assert_eq!(
            privilege_names(&[0x9E]),
            [
                "SecurityDomain",
                "CardLock",
                "CardTerminate",
                "CardReset",
                "CVMManagement"
            ]
        );
        assert_eq!(
            privilege_names(&[0xC1, 0x00, 0x00]),
            ["SecurityDomain", "MandatedDAPVerification"]
        );
        assert_eq!(
            privilege_names(&[0xA0]),
            ["SecurityDomain", "DelegatedManagement"]
        );
    }

    #[test]
    fn life_cycles() {
        assert_eq!(life_cycle_name(EntryKind::Isd, 0x0F), "SECURED");
        assert_eq!(life_cycle_name(EntryKind::Application, 0x83), "LOCKED");
        assert_eq!(
            life_cycle_name(EntryKind::SecurityDomain, 0x0F),
            "PERSONALIZED"
        );
        assert_eq!(
            life_cycle_name(EntryKind::Application, 0x0F),
            "SELECTABLE (application specific 0F)"
        );
        assert_eq!(life_cycle_name(EntryKind::LoadFile, 0x01), "LOADED");
        assert_eq!(life_cycle_name(EntryKind::LoadFile, 0x42), "42");
    }

    #[test]
    fn cplc() {
        let mut v = vec![0x9F, 0x7F, 42];
        v.extend(0..42u8);
        let f = decode_cplc(&v).unwrap();
        assert_eq!(f[0], ("ICFabricator", "0001".to_string()));
        assert_eq!(f[6], ("ICSerialNumber", "0C0D0E0F".to_string()));
        assert_eq!(
            f[17],
            ("ICPersonalizationEquipmentID", "26272829".to_string())
        );
        assert!(decode_cplc(&v[..20]).is_none());
    }
}
