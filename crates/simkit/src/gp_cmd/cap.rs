//! Load files for `simkit gp install --load`: a CAP file (Java Card VM Specification §6: a ZIP
//! of `*.cap` components under `<package path>/javacard/`), a directory holding the extracted
//! components, or a raw Load File Data Block (the `.ijc` form: the components already
//! concatenated).
//!
//! The Load File Data Block is the components concatenated in the order of JCVM Specification
//! v3.1 §6.3 (Table 6-2, "reference component install order", the order GlobalPlatformPro's
//! `CAPFile` uses too): Header, Directory, Import, Applet, Class, Method, StaticField, Export,
//! ConstantPool, RefLocation, StaticResources, Descriptor. The Debug component is never
//! loaded; the Descriptor is optional for loading and left out with `--skip-descriptor`.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};

use super::zip;

/// Component tags (JCVM §6.1, Table 6-1) and file names.
pub const COMPONENTS: [(u8, &str); 13] = [
    (1, "Header"),
    (2, "Directory"),
    (3, "Applet"),
    (4, "Import"),
    (5, "ConstantPool"),
    (6, "Class"),
    (7, "Method"),
    (8, "StaticField"),
    (9, "RefLocation"),
    (10, "Export"),
    (11, "Descriptor"),
    (12, "Debug"),
    (13, "StaticResources"),
];

/// Install order by tag (JCVM v3.1 §6.3); Debug (12) is never part of a load file.
pub const LOAD_ORDER: [u8; 12] = [1, 2, 4, 3, 6, 7, 8, 10, 5, 9, 13, 11];
const TAG_DESCRIPTOR: u8 = 11;

/// Header component magic (JCVM §6.4).
pub const CAP_MAGIC: [u8; 4] = [0xDE, 0xCA, 0xFF, 0xED];

/// A load file ready for LOAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFile {
    pub package_aid: Vec<u8>,
    /// Package version (major, minor).
    pub version: (u8, u8),
    /// CAP format version (major, minor).
    pub cap_version: (u8, u8),
    /// Applet AIDs from the Applet component.
    pub applets: Vec<Vec<u8>>,
    /// Component tags in the order they were loaded.
    pub components: Vec<u8>,
    /// The Load File Data Block.
    pub lfdb: Vec<u8>,
}

fn tag_of(name: &str) -> Option<u8> {
    let stem = name.rsplit('/').next()?.strip_suffix(".cap")?;
    COMPONENTS
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(stem))
        .map(|(t, _)| *t)
}

/// Splits a concatenation of components (`tag u1, size u2, info[size]`).
fn split_components(bytes: &[u8]) -> Result<Vec<(u8, &[u8])>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let [tag, hi, lo, tail @ ..] = rest else {
            bail!("component header truncated");
        };
        let size = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < size {
            bail!("component {tag} truncated ({size} bytes announced)");
        }
        out.push((*tag, &rest[..size + 3]));
        rest = &tail[size..];
    }
    Ok(out)
}

impl LoadFile {
    /// Reads a CAP file (ZIP), a directory of components, or a raw Load File Data Block.
    pub fn from_path(path: &Path, with_descriptor: bool) -> Result<LoadFile> {
        let components: Vec<(String, Vec<u8>)> = if path.is_dir() {
            let mut found = Vec::new();
            collect_dir(path, &mut found, 0)?;
            found
        } else {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            if bytes.starts_with(b"PK") {
                zip::read_archive(&bytes)
                    .with_context(|| format!("reading the CAP file {}", path.display()))?
                    .into_iter()
                    .map(|e| (e.name, e.data))
                    .collect()
            } else {
                return LoadFile::from_lfdb(bytes)
                    .with_context(|| format!("{}: not a Load File Data Block", path.display()));
            }
        };
        LoadFile::from_components(&components, with_descriptor)
            .with_context(|| format!("building the load file from {}", path.display()))
    }

    /// Builds the Load File Data Block from named component files (`…/Header.cap`, …); other
    /// files (manifest, export files) are ignored. Several packages in one archive are refused.
    pub fn from_components(files: &[(String, Vec<u8>)], with_descriptor: bool) -> Result<LoadFile> {
        let mut by_tag: Vec<(u8, &str, &[u8])> = Vec::new();
        for (name, data) in files {
            let Some(tag) = tag_of(name) else { continue };
            if let Some((_, other, _)) = by_tag.iter().find(|(t, _, _)| *t == tag) {
                bail!(
                    "two {} components ({other} and {name}): one package per CAP file",
                    COMPONENTS
                        .iter()
                        .find(|c| c.0 == tag)
                        .map(|c| c.1)
                        .unwrap_or("?")
                );
            }
            // Each component file is exactly one component with its own tag (JCVM §6.1).
            match split_components(data)?.as_slice() {
                [(t, _)] if *t == tag => {}
                _ => bail!("{name}: not a single component with tag {tag}"),
            }
            by_tag.push((tag, name, data));
        }
        let mut lfdb = Vec::new();
        let mut order = Vec::new();
        for tag in LOAD_ORDER {
            if tag == TAG_DESCRIPTOR && !with_descriptor {
                continue;
            }
            if let Some((_, _, data)) = by_tag.iter().find(|(t, _, _)| *t == tag) {
                lfdb.extend_from_slice(data);
                order.push(tag);
            }
        }
        if !order.contains(&1) {
            bail!("no Header.cap component");
        }
        LoadFile::from_lfdb(lfdb)
    }

    /// Takes a Load File Data Block as given and reads its Header and Applet components.
    pub fn from_lfdb(lfdb: Vec<u8>) -> Result<LoadFile> {
        let parts = split_components(&lfdb)?;
        let mut components = Vec::new();
        let mut header = None;
        let mut applet = None;
        for (tag, comp) in &parts {
            if !(1..=13).contains(tag) || *tag == 12 {
                bail!("component tag {tag} cannot be loaded");
            }
            if components.contains(tag) {
                bail!("component {tag} twice");
            }
            components.push(*tag);
            let info = &comp[3..];
            match tag {
                1 => header = Some(info),
                3 => applet = Some(info),
                _ => {}
            }
        }
        if components.first() != Some(&1) {
            bail!("the Header component must come first");
        }
        // Header (JCVM §6.4): magic u4, minor u1, major u1, flags u1, package_info { minor u1,
        // major u1, AID_length u1, AID }.
        let h = header.ok_or_else(|| anyhow!("no Header component"))?;
        let [m0, m1, m2, m3, cap_minor, cap_major, _flags, minor, major, aid_len, tail @ ..] = h
        else {
            bail!("Header component truncated");
        };
        if [*m0, *m1, *m2, *m3] != CAP_MAGIC {
            bail!("Header component without the DECAFFED magic");
        }
        let aid_len = usize::from(*aid_len);
        if !(5..=16).contains(&aid_len) {
            bail!("package AID length {aid_len} outside 5..16");
        }
        let package_aid = tail
            .get(..aid_len)
            .ok_or_else(|| anyhow!("Header component truncated"))?
            .to_vec();
        // Applet (JCVM §6.5): count u1, { AID_length u1, AID, install_method_offset u2 }.
        let mut applets = Vec::new();
        if let Some(a) = applet {
            let (&count, mut r) = a
                .split_first()
                .ok_or_else(|| anyhow!("empty Applet component"))?;
            for _ in 0..count {
                let (&len, t) = r
                    .split_first()
                    .ok_or_else(|| anyhow!("Applet component truncated"))?;
                let len = usize::from(len);
                if !(5..=16).contains(&len) {
                    bail!("applet AID length {len} outside 5..16");
                }
                let aid = t
                    .get(..len)
                    .ok_or_else(|| anyhow!("Applet component truncated"))?;
                r = t
                    .get(len + 2..)
                    .ok_or_else(|| anyhow!("Applet component truncated"))?;
                applets.push(aid.to_vec());
            }
        }
        Ok(LoadFile {
            package_aid,
            version: (*major, *minor),
            cap_version: (*cap_major, *cap_minor),
            applets,
            components,
            lfdb,
        })
    }
}

fn collect_dir(dir: &Path, out: &mut Vec<(String, Vec<u8>)>, depth: u8) -> Result<()> {
    if depth > 8 {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_dir(&p, out, depth + 1)?;
        } else if tag_of(&p.to_string_lossy()).is_some() {
            let data = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            out.push((p.to_string_lossy().into_owned(), data));
        }
    }
    Ok(())
}

/// A component: tag, u2 size, info.
pub fn component(tag: u8, info: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(info.len() as u16).to_be_bytes());
    v.extend_from_slice(info);
    v
}

/// A minimal CAP: Header (CAP format 2.2, package version 1.0, `package_aid`), Directory,
/// Import, Applet (`applets`, install method offset 0), Class, Method, StaticField,
/// ConstantPool, RefLocation, Descriptor, each with a placeholder body. Enough for a card that
/// registers load files and modules; no Java Card VM could link it.
pub fn minimal_cap_components(package_aid: &[u8], applets: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
    let mut header = CAP_MAGIC.to_vec();
    header.extend_from_slice(&[0x02, 0x02, 0x00, 0x00, 0x01, package_aid.len() as u8]);
    header.extend_from_slice(package_aid);
    let mut applet = vec![applets.len() as u8];
    for a in applets {
        applet.push(a.len() as u8);
        applet.extend_from_slice(a);
        applet.extend_from_slice(&[0x00, 0x00]);
    }
    let mut out = vec![("Header".to_string(), component(1, &header))];
    if !applets.is_empty() {
        out.push(("Applet".to_string(), component(3, &applet)));
    }
    for (tag, name) in [
        (2u8, "Directory"),
        (4, "Import"),
        (5, "ConstantPool"),
        (6, "Class"),
        (7, "Method"),
        (8, "StaticField"),
        (9, "RefLocation"),
        (11, "Descriptor"),
        (12, "Debug"),
    ] {
        out.push((name.to_string(), component(tag, &[tag; 4])));
    }
    out.into_iter()
        .map(|(n, d)| (format!("com/example/test/javacard/{n}.cap"), d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKG: [u8; 7] = [0xD2, 0x76, 0x00, 0x01, 0x18, 0x00, 0x01];
    const APPLET: [u8; 8] = [0xD2, 0x76, 0x00, 0x01, 0x18, 0x00, 0x01, 0x01];

    #[test]
    fn components_in_install_order() {
        let files = minimal_cap_components(&PKG, &[&APPLET]);
        let lf = LoadFile::from_components(&files, true).unwrap();
        assert_eq!(lf.package_aid, PKG);
        assert_eq!(lf.version, (1, 0));
        assert_eq!(lf.cap_version, (2, 2));
        assert_eq!(lf.applets, vec![APPLET.to_vec()]);
        // Header, Directory, Import, Applet, Class, Method, StaticField, ConstantPool,
        // RefLocation, Descriptor; no Debug (and no Export in this package).
        assert_eq!(lf.components, [1, 2, 4, 3, 6, 7, 8, 5, 9, 11]);
        assert_eq!(&lf.lfdb[..3], &[1, 0, 17]);
        let expected_len: usize = files
            .iter()
            .filter(|(n, _)| !n.ends_with("Debug.cap"))
            .map(|(_, d)| d.len())
            .sum();
        assert_eq!(lf.lfdb.len(), expected_len);
        let without = LoadFile::from_components(&files, false).unwrap();
        assert_eq!(without.components, [1, 2, 4, 3, 6, 7, 8, 5, 9]);
        // The raw LFDB reads back the same.
        let again = LoadFile::from_lfdb(lf.lfdb.clone()).unwrap();
        assert_eq!(again, lf);
    }

    #[test]
    fn zip_and_directory_sources() {
        let files = minimal_cap_components(&PKG, &[&APPLET]);
        let mut entries: Vec<(&str, &[u8])> =
            vec![("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")];
        entries.extend(files.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("test.cap");
        std::fs::write(&cap, zip::write_stored(&entries)).unwrap();
        let from_zip = LoadFile::from_path(&cap, true).unwrap();
        let comp_dir = dir.path().join("extracted/com/example/test/javacard");
        std::fs::create_dir_all(&comp_dir).unwrap();
        for (n, d) in &files {
            std::fs::write(comp_dir.join(n.rsplit('/').next().unwrap()), d).unwrap();
        }
        let from_dir = LoadFile::from_path(&dir.path().join("extracted"), true).unwrap();
        assert_eq!(from_zip, from_dir);
        let ijc = dir.path().join("test.ijc");
        std::fs::write(&ijc, &from_zip.lfdb).unwrap();
        assert_eq!(LoadFile::from_path(&ijc, true).unwrap(), from_zip);
    }

    #[test]
    fn bad_load_files() {
        let files = minimal_cap_components(&PKG, &[&APPLET]);
        // No header.
        let no_header: Vec<_> = files
            .iter()
            .filter(|(n, _)| !n.ends_with("Header.cap"))
            .cloned()
            .collect();
        assert!(LoadFile::from_components(&no_header, true).is_err());
        // A component file with the wrong tag.
        let mut wrong = files.clone();
        wrong[0].1[0] = 2;
        assert!(LoadFile::from_components(&wrong, true).is_err());
        // Bad magic, truncated LFDB, Debug in an LFDB, garbage.
        let lf = LoadFile::from_components(&files, true).unwrap();
        let mut bad = lf.lfdb.clone();
        bad[3] = 0;
        assert!(LoadFile::from_lfdb(bad).is_err());
        assert!(LoadFile::from_lfdb(lf.lfdb[..lf.lfdb.len() - 1].to_vec()).is_err());
        let mut dbg = lf.lfdb.clone();
        dbg.extend(component(12, &[0]));
        assert!(LoadFile::from_lfdb(dbg).is_err());
        assert!(LoadFile::from_lfdb(vec![0x01]).is_err());
        assert!(LoadFile::from_lfdb(vec![]).is_err());
    }
}
