//! Tests against the GSMA TS.48 generic test profiles in ../shared/reference/ts48-profiles.
//! Expected values were read from the files with `openssl asn1parse -inform der` and decoded by
//! hand (EF.IMSI per TS 31.102 §4.2.2, EF.ICCID per TS 102 221 §13.2); they agree with the
//! TS.48 test subscription (IMSI 001010123456063, K 000102..0F, OPc 0, test algorithm) and with
//! pySim's `saip` personalization facts (header ICCID unswapped, EF.ICCID swapped).

use super::*;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/"
);

/// (file, header minor version, ICCID, mandatory service numbers).
const PROFILES: &[(&str, u8, &str, &[u32])] = &[
    (
        "TS48V1-A-UNIQUE.der",
        1,
        "8949449999999990023",
        &[1, 2, 3, 11, 17],
    ),
    (
        "TS48V2-SAIP2-1-BERTLV-UNIQUE.der",
        1,
        "8949449999999990049",
        &[1, 2, 3, 17, 18],
    ),
    (
        "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der",
        3,
        "8949449999999990015",
        &[1, 2, 3, 17, 21, 22, 23],
    ),
    (
        "TS48V4-SAIP2-3-BERTLV-UNIQUE.der",
        3,
        "8949449999999990122",
        &[1, 2, 3, 17, 18, 21, 22, 23],
    ),
    (
        "TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der",
        3,
        "8949449999999990163",
        &[1, 2, 3, 17, 18, 21, 22, 23],
    ),
];

fn load(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn k_ts48() -> Vec<u8> {
    (0u8..16).collect()
}

#[test]
fn parses_all_ts48_profiles() {
    for &(name, minor, iccid, services) in PROFILES {
        let der = load(name);
        let p = ProfilePackage::parse(&der).unwrap();
        let summary = ProfilePackage::check(&der).unwrap();
        assert_eq!(summary.iccid, iccid, "{name}");
        assert!(summary.imsi.is_some(), "{name}");
        assert_eq!(summary.imsi, p.imsi(), "{name}");
        let h = p.header();
        assert_eq!((h.major_version, h.minor_version), (2, minor), "{name}");
        assert_eq!(p.profile_type(), Some("GSMA Generic eUICC Test Profile"));
        assert!(p.iccid().starts_with("8949449999"));
        assert_eq!(p.iccid(), iccid, "{name}");
        assert_eq!(p.ef_iccid().as_deref(), Some(iccid), "{name}");
        assert_eq!(
            h.mandatory_services
                .iter()
                .map(|s| s.number)
                .collect::<Vec<_>>(),
            services
        );
        assert_eq!(h.mandatory_services[0].name, Some("usim"));
        assert!(h
            .mandatory_services
            .iter()
            .any(|s| s.name == Some("usim-test-algorithm")));
        assert_eq!(h.mandatory_gfste[0], "2.23.143.1.2.1");
        assert!(h.mandatory_gfste.contains(&"2.23.143.1.2.4".to_string()));

        assert_eq!(p.imsi().as_deref(), Some("001010123456063"), "{name}");

        // Two AKA elements (USIM and ISIM), both with the XOR test algorithm.
        assert_eq!(p.akas().count(), 2);
        for aka in p.akas() {
            let algo = aka.algo().unwrap();
            assert_eq!(algo.algorithm, AlgorithmId::UsimTestAlgorithm);
            assert_eq!(algo.algorithm_options, 0x02);
            assert_eq!(algo.key, k_ts48());
            assert_eq!(algo.opc, vec![0; 16]);
            assert_eq!(algo.rotation_constants, None);
            assert_eq!(
                algo.rotation_constants_or_default(),
                vec![0x40, 0, 0x20, 0x40, 0x60]
            );
            assert_eq!(aka.sqn_options_or_default(), 0x02);
        }
        assert_eq!(p.aka().unwrap().pe_header.identification, 0x0B);

        // Element order of the TS.48 packages: header, MF first, end last.
        let types: Vec<PeType> = p.elements().iter().map(|e| e.pe_type()).collect();
        assert_eq!(types[0], PeType::Header);
        assert_eq!(types[1], PeType::Mf);
        assert_eq!(*types.last().unwrap(), PeType::End);
        assert!(types.contains(&PeType::Usim) && types.contains(&PeType::SecurityDomain));

        // USIM file system: ADF.USIM AID and EF.IMSI descriptor.
        let usim = p.file_systems(PeType::Usim).next().unwrap();
        assert_eq!(usim.template_id, "2.23.143.1.2.4");
        let adf = usim.file("adf-usim").unwrap().fcp().unwrap();
        assert_eq!(
            adf.df_name.as_deref(),
            Some(&hex::decode("a0000000871002ff49ff0589").unwrap()[..])
        );
        let imsi_fcp = usim.file("ef-imsi").unwrap().fcp().unwrap();
        assert_eq!(imsi_fcp.file_id, Some([0x6F, 0x07]));
        assert_eq!(imsi_fcp.file_descriptor.as_deref(), Some(&[0x41, 0x21][..]));
        // The size comes from the USIM template (TS.48 does not override it).
        assert_eq!(imsi_fcp.file_size(), None);

        // Byte-exact round trip.
        assert_eq!(p.encode(), der, "{name}");
    }
}

#[test]
fn element_tags_follow_the_choice_numbering() {
    assert_eq!(PeType::Header.tag(), Tag(0xA0));
    assert_eq!(PeType::AkaParameter.tag(), Tag(0xA4));
    assert_eq!(PeType::End.tag(), Tag(0xAA));
    assert_eq!(PeType::Mf.tag(), Tag(0xB0));
    assert_eq!(PeType::Usim.tag(), Tag(0xB3));
    assert_eq!(PeType::Df5gProse.tag(), Tag(0xBF1F));
    assert_eq!(PeType::OptIot.tag(), Tag(0xBF21));
    for n in 0..40 {
        assert_eq!(PeType::from_number(n).number(), n);
    }
    assert_eq!(fields::USIM[3], "ef-imsi");
    assert_eq!(fields::MF[4], "ef-iccid");
}

#[test]
fn personalization_round_trip() {
    for &(name, ..) in PROFILES {
        let der = load(name);
        let original = ProfilePackage::parse(&der).unwrap();
        let mut p = original.clone();
        let k: Vec<u8> = (0x10u8..0x20).collect();
        let opc: Vec<u8> = (0xA0u8..0xB0).collect();
        p.personalize(&Personalization {
            iccid: Some("8949449999999990999".into()),
            imsi: Some("26201987654321".into()),
            k: Some(k.clone().into()),
            opc: Some(opc.clone().into()),
        })
        .unwrap();
        let encoded = p.encode();
        let q = ProfilePackage::parse(&encoded).unwrap();
        assert_eq!(q.iccid(), "8949449999999990999");
        assert_eq!(
            q.header().iccid_raw.to_vec(),
            hex::decode("8949449999999990999f").unwrap()
        );
        assert_eq!(q.ef_iccid().as_deref(), Some("8949449999999990999"));
        assert_eq!(q.imsi().as_deref(), Some("26201987654321"));
        for aka in q.akas() {
            assert_eq!(aka.algo().unwrap().key, k);
            assert_eq!(aka.algo().unwrap().opc, opc);
        }
        // Unmodified elements are byte-identical; modified ones differ only where expected.
        assert_eq!(q.elements().len(), original.elements().len());
        for (a, b) in original.elements().iter().zip(q.elements()) {
            assert_eq!(a.pe_type(), b.pe_type());
            match a.pe_type() {
                PeType::Header | PeType::Mf | PeType::Usim | PeType::AkaParameter => {
                    assert_ne!(a.raw(), b.raw())
                }
                _ => assert_eq!(a.raw(), b.raw(), "{name}: {:?} changed", a.pe_type()),
            }
        }
        // Inside the USIM, every file but EF.IMSI is unchanged, and EF.IMSI keeps its FCP.
        let (u0, u1) = (
            original.file_systems(PeType::Usim).next().unwrap(),
            q.file_systems(PeType::Usim).next().unwrap(),
        );
        for (f0, f1) in u0.files.iter().zip(&u1.files) {
            if f0.name == Some("ef-imsi") {
                assert_eq!(f0.fcp(), f1.fcp());
                assert_eq!(
                    f1.explicit_content().unwrap(),
                    hex::decode("0821261089674523f1").unwrap()
                );
            } else {
                assert_eq!(f0, f1);
            }
        }
        // Other header fields survive.
        assert_eq!(
            q.header().mandatory_gfste,
            original.header().mandatory_gfste
        );
        assert_eq!(q.profile_type(), original.profile_type());
        // Personalizing back restores the original values (not necessarily the original bytes).
        let mut r = q.clone();
        r.personalize(&Personalization {
            imsi: Some("001010123456063".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.imsi().as_deref(), Some("001010123456063"));
        assert_eq!(r.iccid(), "8949449999999990999");
    }
}

#[test]
fn personalization_validation_changes_nothing() {
    let der = load(PROFILES[4].0);
    let mut p = ProfilePackage::parse(&der).unwrap();
    let bad = [
        Personalization {
            iccid: Some("89494499".into()),
            ..Default::default()
        },
        Personalization {
            iccid: Some("894944999999999002X".into()),
            ..Default::default()
        },
        Personalization {
            imsi: Some("0010101234560631".into()),
            ..Default::default()
        },
        Personalization {
            imsi: Some("00101-".into()),
            ..Default::default()
        },
        Personalization {
            k: Some(vec![0; 15].into()),
            ..Default::default()
        },
        Personalization {
            opc: Some(vec![0; 8].into()),
            ..Default::default()
        },
        // A valid ICCID with an invalid IMSI: nothing is applied.
        Personalization {
            iccid: Some("8949449999999990999".into()),
            imsi: Some("1".into()),
            ..Default::default()
        },
    ];
    for b in &bad {
        assert!(p.personalize(b).is_err(), "{b:?}");
        assert_eq!(p.encode(), der);
    }
    let dbg = format!(
        "{:?}",
        Personalization {
            k: Some(vec![0x42; 16].into()),
            ..Default::default()
        }
    );
    assert!(dbg.contains("redacted") && !dbg.contains("66"));
}

#[test]
fn secrets_are_redacted_in_debug() {
    let p = ProfilePackage::parse(&load(PROFILES[0].0)).unwrap();
    let dbg = format!("{:?}", p.aka().unwrap());
    assert!(dbg.contains("redacted") && !dbg.contains("[0, 1, 2, 3"));
}

#[test]
fn malformed_packages() {
    let der = load(PROFILES[1].0);
    assert_eq!(
        ProfilePackage::parse(&[]),
        Err(SaipError::Missing("ProfileHeader"))
    );
    // Not a context-specific constructed tag.
    let mut bad = der.clone();
    bad[0] = 0x30;
    assert_eq!(
        ProfilePackage::parse(&bad),
        Err(SaipError::BadElementTag(Tag(0x30)))
    );
    // Header not first: drop the header element.
    let first = Tlv::parse(&der).unwrap().0.raw.len();
    assert!(ProfilePackage::parse(&der[first..]).is_err());
    // Two headers.
    let mut twice = der[..first].to_vec();
    twice.extend_from_slice(&der);
    assert!(ProfilePackage::parse(&twice).is_err());
    // Header ICCID of the wrong size: A0 .. 83 0A -> 83 09 breaks the header.
    let pos = der.windows(2).position(|w| w == [0x83, 0x0A]).unwrap();
    let mut short = der.clone();
    short[pos + 1] = 0x09;
    assert!(ProfilePackage::parse(&short).is_err());
    // Every truncation that does not fall on an element boundary is an error.
    let mut boundaries = vec![0];
    let mut rest = &der[..];
    while !rest.is_empty() {
        let (t, r) = Tlv::parse(rest).unwrap();
        boundaries.push(boundaries.last().unwrap() + t.raw.len());
        rest = r;
    }
    for cut in 0..der.len() {
        let r = ProfilePackage::parse(&der[..cut]);
        if boundaries.contains(&cut) && cut > 0 {
            assert!(r.is_ok(), "cut {cut}");
        } else {
            assert!(r.is_err(), "cut {cut}");
        }
    }
}

#[test]
fn oid_decoding() {
    assert_eq!(
        oid_to_string(&hex::decode("67810f010204").unwrap()).unwrap(),
        "2.23.143.1.2.4"
    );
    assert_eq!(
        oid_to_string(&hex::decode("2a864886f70d").unwrap()).unwrap(),
        "1.2.840.113549"
    );
    // X.690 (02/2021) §8.19.5 example: {joint-iso-itu-t 999 3} is 88 37 03.
    assert_eq!(oid_to_string(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
    // A single subidentifier (two arcs).
    assert_eq!(oid_to_string(&[0x00]).unwrap(), "0.0");
    assert!(oid_to_string(&[]).is_err());
    assert!(oid_to_string(&[0x81]).is_err());
    assert!(oid_to_string(&[0x2a, 0x80, 0x01]).is_err());
}

proptest::proptest! {
    #[test]
    fn corrupted_packages_never_panic(pos in 0usize..12257, byte: u8, cut in 0usize..12257) {
        let mut der = load(PROFILES[1].0);
        let pos = pos % der.len();
        der[pos] = byte;
        let _ = ProfilePackage::parse(&der);
        let _ = ProfilePackage::parse(&der[..cut.min(der.len())]);
    }

    /// `check` accepts exactly what `parse` accepts, with the same error and the same ICCID
    /// and IMSI.
    #[test]
    fn check_agrees_with_parse(pos in 0usize..12257, byte: u8, cut in 0usize..12257, which in 0usize..2) {
        let mut der = load(PROFILES[which].0);
        let pos = pos % der.len();
        der[pos] = byte;
        for input in [&der[..], &der[..cut.min(der.len())]] {
            match (ProfilePackage::parse(input), ProfilePackage::check(input)) {
                (Ok(p), Ok(s)) => {
                    proptest::prop_assert_eq!(s.iccid, p.iccid().to_string());
                    proptest::prop_assert_eq!(s.imsi, p.imsi());
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => proptest::prop_assert!(false, "parse {:?} but check {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        let _ = ProfilePackage::parse(&bytes);
        let mut with_header = load(PROFILES[0].0)[..140].to_vec();
        with_header.extend_from_slice(&bytes);
        if let Ok(p) = ProfilePackage::parse(&with_header) {
            let _ = (p.imsi(), p.ef_iccid(), p.encode());
        }
    }

    #[test]
    fn imsi_round_trip(imsi in "[0-9]{6,15}") {
        let e = bcd::imsi_encode(&imsi).unwrap();
        proptest::prop_assert_eq!(bcd::imsi_decode(&e).unwrap(), imsi);
    }

    #[test]
    fn iccid_round_trip(iccid in "[0-9]{18,20}") {
        proptest::prop_assert_eq!(bcd::iccid_header_decode(&bcd::iccid_header_encode(&iccid).unwrap()).unwrap(), iccid.clone());
        proptest::prop_assert_eq!(bcd::iccid_ef_decode(&bcd::iccid_ef_encode(&iccid).unwrap()).unwrap(), iccid);
    }
}
