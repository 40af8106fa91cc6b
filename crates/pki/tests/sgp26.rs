//! Golden tests against the GSMA SGP.26 test PKI (../shared/reference/sgp26), both curves.

use pki::mint::{self, CertRequest, CertifiedKey, DnAttr, Profile, TestPki, TestPkiConfig};
use pki::{
    verify_dp_certificate, verify_euicc_chain, verify_euicc_chain_cached, Certificate, Curve,
    EumSignatureCache, PkiError, PrivateKey, PublicKey, RspRole,
};
use rand_core::UnwrapErr;

const EID: &str = "89049032123451234512345678901235";
/// 2025-01-01T00:00:00Z: inside every SGP.26 certificate's validity except the expired TLS ones.
const NOW: u64 = 1_735_689_600;

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

fn path(rel: &str) -> String {
    format!(
        "{}/../../../shared/reference/sgp26/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn cert(rel: &str) -> Certificate {
    let der = std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    Certificate::from_der(&der).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn key(rel: &str) -> PrivateKey {
    let pem = std::fs::read_to_string(path(rel)).unwrap();
    PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn tag(curve: Curve) -> &'static str {
    curve.sgp26_tag()
}

struct Sgp26 {
    ci: Certificate,
    eum: Certificate,
    euicc: Certificate,
    dp_auth: Certificate,
    dp_pb: Certificate,
}

fn load(curve: Curve) -> Sgp26 {
    let t = tag(curve);
    Sgp26 {
        ci: cert(&format!("CertificateIssuer/CERT_CI_ECDSA_{t}.der")),
        eum: cert(&format!("EUM/CERT_EUM_ECDSA_{t}.der")),
        euicc: cert(&format!("eUICC/CERT_EUICC_ECDSA_{t}.der")),
        dp_auth: cert(&format!("DPauth/CERT_S_SM_DPauth_ECDSA_{t}.der")),
        dp_pb: cert(&format!("DPpb/CERT_S_SM_DPpb_ECDSA_{t}.der")),
    }
}

#[test]
fn parses_every_sgp26_certificate() {
    let mut n = 0;
    for dir in [
        "CertificateIssuer",
        "EUM",
        "eUICC",
        "DPauth",
        "DPpb",
        "DPtls",
    ] {
        for entry in std::fs::read_dir(path(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "der") {
                let der = std::fs::read(&p).unwrap();
                let c = Certificate::from_der(&der).unwrap_or_else(|e| panic!("{p:?}: {e}"));
                assert_eq!(c.der(), &der[..]);
                assert!(c.unknown_critical_extensions().is_empty(), "{p:?}");
                assert!(c.role().is_some(), "{p:?}");
                n += 1;
            }
        }
    }
    assert!(n >= 17, "only {n} certificates found");
}

#[test]
fn accessors_match_openssl_view() {
    let s = load(Curve::NistP256);
    // Values as printed by `openssl x509 -inform der -text` on the SGP.26 files.
    assert_eq!(
        hex::encode_upper(s.ci.subject_key_id().unwrap()),
        "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
    );
    assert_eq!(
        s.ci.subject().to_string(),
        "CN=Test CI, OU=TESTCERT, O=RSPTEST, C=IT"
    );
    assert_eq!(s.ci.issuer(), s.ci.subject());
    assert_eq!(s.ci.role(), Some(RspRole::Ci));
    assert_eq!(s.ci.registered_id().unwrap().to_string(), "2.999.1");
    let ku = s.ci.key_usage().unwrap();
    assert!(ku.key_cert_sign && ku.crl_sign && !ku.digital_signature);
    assert!(s.ci.basic_constraints().unwrap().ca);

    assert_eq!(s.eum.serial(), &[0x12, 0x34, 0x56, 0x78]);
    assert_eq!(s.eum.authority_key_id(), s.ci.subject_key_id());
    assert_eq!(s.eum.basic_constraints().unwrap().path_len, Some(0));
    assert_eq!(s.eum.permitted_eid_prefixes(), vec!["89049032"]);
    assert_eq!(
        s.eum.permitted_names()[0].organization(),
        Some("RSP Test EUM")
    );
    // notBefore 200401092837Z (UTCTime), notAfter 20540324092837Z (GeneralizedTime).
    assert_eq!(s.eum.not_before(), 1_585_733_317);
    assert_eq!(s.eum.not_after(), 2_657_957_317);

    assert_eq!(s.euicc.subject().serial_number(), Some(EID));
    assert_eq!(s.euicc.serial(), &[0x02, 0, 0, 0, 0, 0, 0, 0, 0x01]);
    assert_eq!(s.euicc.role(), Some(RspRole::Euicc));
    assert_eq!(s.euicc.curve(), Curve::NistP256);

    assert_eq!(s.dp_auth.role(), Some(RspRole::DpAuth));
    assert_eq!(s.dp_auth.registered_id().unwrap().to_string(), "2.999.10");
    assert_eq!(s.dp_auth.serial(), &[0x01, 0x00]);
    assert_eq!(
        load(Curve::BrainpoolP256r1).ci.curve(),
        Curve::BrainpoolP256r1
    );
}

#[test]
fn euicc_chain_validates_on_both_curves() {
    for curve in Curve::ALL {
        let s = load(curve);
        let id = verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &s.euicc, NOW).unwrap();
        assert_eq!(id.eid, EID);
        assert_eq!(id.curve, curve);
        assert_eq!(id.public_key, *s.euicc.public_key());
        assert_eq!(Some(&id.ci_pkid[..]), s.ci.subject_key_id());
        // The eUICC certificate is valid "forever" (notAfter in year 7496): far future still OK.
        assert!(
            verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &s.euicc, 2_600_000_000)
                .is_ok()
        );
    }
}

/// The EUM signature cache changes no result: the same identity, and a forged EUM signature
/// is refused every time (a failure is never remembered); the other checks still run.
#[test]
fn eum_signature_cache_gives_the_same_results() {
    for curve in Curve::ALL {
        let s = load(curve);
        let cis = std::slice::from_ref(&s.ci);
        let cache = EumSignatureCache::new();
        let plain = verify_euicc_chain(cis, &s.eum, &s.euicc, NOW).unwrap();
        assert_eq!(
            verify_euicc_chain_cached(cis, &s.eum, &s.euicc, NOW, &cache).unwrap(),
            plain
        );
        assert_eq!(cache.len(), 1);
        assert_eq!(
            verify_euicc_chain_cached(cis, &s.eum, &s.euicc, NOW, &cache).unwrap(),
            plain
        );
        assert_eq!(cache.len(), 1);
        // Validity is still checked with a remembered signature (the SGP.26 EUM's notAfter is
        // before year 7496).
        assert_eq!(
            verify_euicc_chain_cached(cis, &s.eum, &s.euicc, 175_000_000_000, &cache),
            verify_euicc_chain(cis, &s.eum, &s.euicc, 175_000_000_000)
        );

        // The same EUM with its signature's last byte changed.
        let mut der = s.eum.der().to_vec();
        if let Some(last) = der.last_mut() {
            *last ^= 0x01;
        }
        let forged = Certificate::from_der(&der).unwrap();
        let fresh = EumSignatureCache::new();
        for c in [&cache, &fresh] {
            for _ in 0..2 {
                assert_eq!(
                    verify_euicc_chain_cached(cis, &forged, &s.euicc, NOW, c),
                    Err(PkiError::InvalidCertSignature(RspRole::Eum))
                );
            }
        }
        assert_eq!(fresh.len(), 0);
    }
}

#[test]
fn dp_certificates_validate_on_both_curves() {
    for curve in Curve::ALL {
        let s = load(curve);
        let cis = [s.ci.clone()];
        assert_eq!(
            &verify_dp_certificate(&cis, &s.dp_auth, RspRole::DpAuth, NOW).unwrap(),
            s.dp_auth.public_key()
        );
        assert_eq!(
            &verify_dp_certificate(&cis, &s.dp_pb, RspRole::DpPb, NOW).unwrap(),
            s.dp_pb.public_key()
        );
        let t = tag(curve);
        let dp2 = cert(&format!("DPauth/CERT_S_SM_DP2auth_ECDSA_{t}.der"));
        assert!(verify_dp_certificate(&cis, &dp2, RspRole::DpAuth, NOW).is_ok());
        // SGP.26 CERT_S_SM_DP_TLS_* was valid 2025-06-30 .. 2026-08-02.
        let tls = cert(&format!("DPtls/CERT_S_SM_DP_TLS_{t}.der"));
        assert!(verify_dp_certificate(&cis, &tls, RspRole::DpTls, 1_767_225_600).is_ok());
        assert_eq!(
            verify_dp_certificate(&cis, &tls, RspRole::DpTls, 1_800_000_000),
            Err(PkiError::Expired(RspRole::DpTls))
        );
    }
}

#[test]
fn both_cis_trusted_picks_the_right_one() {
    let nist = load(Curve::NistP256);
    let brp = load(Curve::BrainpoolP256r1);
    let cis = [nist.ci.clone(), brp.ci.clone()];
    let id = verify_euicc_chain(&cis, &brp.eum, &brp.euicc, NOW).unwrap();
    assert_eq!(Some(&id.ci_pkid[..]), brp.ci.subject_key_id());
}

#[test]
fn rejects_wrong_ci() {
    let nist = load(Curve::NistP256);
    let brp = load(Curve::BrainpoolP256r1);
    assert_eq!(
        verify_euicc_chain(std::slice::from_ref(&brp.ci), &nist.eum, &nist.euicc, NOW),
        Err(PkiError::UnknownCi)
    );
    assert_eq!(
        verify_dp_certificate(
            std::slice::from_ref(&brp.ci),
            &nist.dp_auth,
            RspRole::DpAuth,
            NOW
        ),
        Err(PkiError::UnknownCi)
    );
    assert_eq!(
        verify_euicc_chain(&[], &nist.eum, &nist.euicc, NOW),
        Err(PkiError::UnknownCi)
    );
}

#[test]
fn rejects_tampered_signatures() {
    for curve in Curve::ALL {
        let s = load(curve);
        // Flip a bit in the last byte (inside the signature's s value).
        let mut der = s.euicc.der().to_vec();
        *der.last_mut().unwrap() ^= 0x01;
        let euicc = Certificate::from_der(&der).unwrap();
        assert_eq!(
            verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &euicc, NOW),
            Err(PkiError::InvalidCertSignature(RspRole::Euicc))
        );
        let mut der = s.eum.der().to_vec();
        *der.last_mut().unwrap() ^= 0x01;
        let eum = Certificate::from_der(&der).unwrap();
        assert_eq!(
            verify_euicc_chain(std::slice::from_ref(&s.ci), &eum, &s.euicc, NOW),
            Err(PkiError::InvalidCertSignature(RspRole::Eum))
        );
        // Tamper with the signed part: the EID inside the TBS.
        let mut der = s.euicc.der().to_vec();
        let pos = der
            .windows(EID.len())
            .position(|w| w == EID.as_bytes())
            .unwrap();
        der[pos + 31] = b'6';
        let forged = Certificate::from_der(&der).unwrap();
        assert_eq!(
            verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &forged, NOW),
            Err(PkiError::InvalidCertSignature(RspRole::Euicc))
        );
    }
}

#[test]
fn rejects_expired_and_not_yet_valid() {
    let s = load(Curve::NistP256);
    let cis = [s.ci.clone()];
    // After the EUM's notAfter (2054-03-24).
    assert_eq!(
        verify_euicc_chain(&cis, &s.eum, &s.euicc, 2_700_000_000),
        Err(PkiError::Expired(RspRole::Ci))
    );
    assert_eq!(
        verify_euicc_chain(&cis, &s.eum, &s.euicc, s.eum.not_after() + 1),
        Err(PkiError::Expired(RspRole::Eum))
    );
    assert_eq!(
        verify_dp_certificate(&cis, &s.dp_auth, RspRole::DpAuth, 1_950_000_000),
        Err(PkiError::Expired(RspRole::DpAuth))
    );
    assert_eq!(
        verify_euicc_chain(&cis, &s.eum, &s.euicc, 1_500_000_000),
        Err(PkiError::NotYetValid(RspRole::Ci))
    );
}

#[test]
fn rejects_wrong_role() {
    let s = load(Curve::BrainpoolP256r1);
    let cis = [s.ci.clone()];
    assert_eq!(
        verify_dp_certificate(&cis, &s.dp_auth, RspRole::DpPb, NOW),
        Err(PkiError::WrongRole {
            expected: RspRole::DpPb,
            found: Some(RspRole::DpAuth)
        })
    );
    assert_eq!(
        verify_dp_certificate(&cis, &s.dp_pb, RspRole::DpAuth, NOW),
        Err(PkiError::WrongRole {
            expected: RspRole::DpAuth,
            found: Some(RspRole::DpPb)
        })
    );
    // A DP certificate offered in place of the EUM.
    assert!(matches!(
        verify_euicc_chain(&cis, &s.dp_auth, &s.euicc, NOW),
        Err(PkiError::IssuerMismatch(RspRole::Euicc)) | Err(PkiError::WrongRole { .. })
    ));
    // Non-leaf role requested from verify_dp_certificate.
    assert!(matches!(
        verify_dp_certificate(&cis, &s.eum, RspRole::Eum, NOW),
        Err(PkiError::WrongRole { .. })
    ));
}

#[test]
fn rejects_curve_mismatch() {
    let nist = load(Curve::NistP256);
    let brp = load(Curve::BrainpoolP256r1);
    assert_eq!(
        verify_euicc_chain(std::slice::from_ref(&nist.ci), &nist.eum, &brp.euicc, NOW),
        Err(PkiError::CurveMismatch)
    );
    let k = key("eUICC/SK_EUICC_ECDSA_NIST.pem");
    assert_eq!(k.ecka(brp.euicc.public_key()), Err(PkiError::CurveMismatch));
}

#[test]
fn rejects_eid_outside_permitted_range() {
    // A new eUICC certificate with an EID outside 89049032..., signed by the SGP.26 EUM key.
    for curve in Curve::ALL {
        let t = tag(curve);
        let s = load(curve);
        let eum = CertifiedKey {
            cert: s.eum.clone(),
            key: key(&format!("EUM/SK_EUM_ECDSA_{t}.pem")),
        };
        let bad = mint::mint_euicc(
            &eum,
            "89049033123451234512345678901235",
            &[1],
            NOW,
            mint::NO_EXPIRY,
            &mut rng(),
        )
        .unwrap();
        assert_eq!(
            verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &bad.cert, NOW),
            Err(PkiError::EidOutOfRange(
                "89049033123451234512345678901235".into()
            ))
        );
        // Inside the range: accepted.
        let good = mint::mint_euicc(
            &eum,
            "89049032000000000000000000000042",
            &[2],
            NOW,
            mint::NO_EXPIRY,
            &mut rng(),
        )
        .unwrap();
        let id = verify_euicc_chain(std::slice::from_ref(&s.ci), &s.eum, &good.cert, NOW).unwrap();
        assert_eq!(id.eid, "89049032000000000000000000000042");
        assert_eq!(id.public_key, good.key.public_key());
    }
}

#[test]
fn sgp26_private_keys_match_certificates() {
    let pairs = [
        (
            "CertificateIssuer/SK_CI_ECDSA",
            "CertificateIssuer/CERT_CI_ECDSA",
        ),
        ("EUM/SK_EUM_ECDSA", "EUM/CERT_EUM_ECDSA"),
        ("eUICC/SK_EUICC_ECDSA", "eUICC/CERT_EUICC_ECDSA"),
        (
            "DPauth/SK_S_SM_DPauth_ECDSA",
            "DPauth/CERT_S_SM_DPauth_ECDSA",
        ),
        (
            "DPauth/SK_S_SM_DP2auth_ECDSA",
            "DPauth/CERT_S_SM_DP2auth_ECDSA",
        ),
        ("DPpb/SK_S_SM_DPpb_ECDSA", "DPpb/CERT_S_SM_DPpb_ECDSA"),
        ("DPpb/SK_S_SM_DP2pb_ECDSA", "DPpb/CERT_S_SM_DP2pb_ECDSA"),
        ("DPtls/SK_S_SM_DP_TLS", "DPtls/CERT_S_SM_DP_TLS"),
    ];
    for curve in Curve::ALL {
        for (sk, crt) in pairs {
            let t = tag(curve);
            let k = key(&format!("{sk}_{t}.pem"));
            let c = cert(&format!("{crt}_{t}.der"));
            assert_eq!(k.curve(), curve, "{sk}");
            assert_eq!(k.public_key(), *c.public_key(), "{sk}");
            // And the PK_*.pem SubjectPublicKeyInfo files agree too (where present).
            let pk_path = path(&format!("{}_{t}.pem", crt.replace("CERT_", "PK_")));
            if let Ok(pem) = std::fs::read_to_string(&pk_path) {
                let (_, der) = der::pem::decode_vec(pem.trim().as_bytes()).unwrap();
                assert_eq!(
                    PublicKey::from_spki_der(&der).unwrap(),
                    k.public_key(),
                    "{pk_path}"
                );
            }
            // Signing with the key verifies under the certificate.
            let sig = k.sign(b"SGP.22 euiccSigned1");
            c.public_key().verify(b"SGP.22 euiccSigned1", &sig).unwrap();
        }
    }
}

#[test]
fn pem_round_trip_pkcs8() {
    for curve in Curve::ALL {
        let k = key(&format!("EUM/SK_EUM_ECDSA_{}.pem", tag(curve)));
        let pem = k.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(*back.to_scalar(), *k.to_scalar());
    }
    assert!(
        PrivateKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
            .is_err()
    );
    assert!(PrivateKey::from_pem(
        "-----BEGIN EC PRIVATE KEY-----\n!!!\n-----END EC PRIVATE KEY-----"
    )
    .is_err());
}

#[test]
fn minted_pki_validates_like_sgp26() {
    for curve in Curve::ALL {
        let cfg = TestPkiConfig::new(curve, NOW - 86_400);
        let pki = TestPki::generate(&cfg, &mut rng()).unwrap();
        let cis = [pki.ci.cert.clone()];
        let id = verify_euicc_chain(&cis, &pki.eum.cert, &pki.euicc.cert, NOW).unwrap();
        assert_eq!(id.eid, EID);
        assert_eq!(id.curve, curve);
        assert_eq!(pki.euicc.cert.not_after(), mint::NO_EXPIRY);
        verify_dp_certificate(&cis, &pki.dp_auth.cert, RspRole::DpAuth, NOW).unwrap();
        verify_dp_certificate(&cis, &pki.dp_pb.cert, RspRole::DpPb, NOW).unwrap();
        verify_dp_certificate(&cis, &pki.dp_tls.cert, RspRole::DpTls, NOW).unwrap();
        assert_eq!(
            verify_dp_certificate(&cis, &pki.dp_auth.cert, RspRole::DpPb, NOW),
            Err(PkiError::WrongRole {
                expected: RspRole::DpPb,
                found: Some(RspRole::DpAuth)
            })
        );
        // The GSMA CI does not vouch for it.
        let gsma = load(curve).ci;
        assert_eq!(
            verify_euicc_chain(&[gsma], &pki.eum.cert, &pki.euicc.cert, NOW),
            Err(PkiError::UnknownCi)
        );
        // Same extension profile as SGP.26.
        let s = load(curve);
        for (mine, theirs) in [
            (&pki.ci.cert, &s.ci),
            (&pki.eum.cert, &s.eum),
            (&pki.euicc.cert, &s.euicc),
            (&pki.dp_auth.cert, &s.dp_auth),
            (&pki.dp_pb.cert, &s.dp_pb),
        ] {
            assert_eq!(mine.role(), theirs.role());
            assert_eq!(mine.key_usage(), theirs.key_usage());
            assert_eq!(mine.basic_constraints(), theirs.basic_constraints());
            assert_eq!(
                mine.permitted_eid_prefixes(),
                theirs.permitted_eid_prefixes()
            );
            assert_eq!(mine.registered_id(), theirs.registered_id());
        }
        assert_eq!(pki.euicc.cert.subject().der(), s.euicc.subject().der());
        assert_eq!(pki.eum.cert.permitted_names(), s.eum.permitted_names());
    }
}

#[test]
fn minted_under_gsma_test_ci() {
    for curve in Curve::ALL {
        let t = tag(curve);
        let s = load(curve);
        let ci = CertifiedKey {
            cert: s.ci.clone(),
            key: key(&format!("CertificateIssuer/SK_CI_ECDSA_{t}.pem")),
        };
        let mut cfg = TestPkiConfig::new(curve, NOW);
        cfg.eid = "89049032999999999999999999999999".into();
        let pki = TestPki::generate_under_ci(ci, &cfg, &mut rng()).unwrap();
        let cis = [s.ci.clone()];
        let id = verify_euicc_chain(&cis, &pki.eum.cert, &pki.euicc.cert, NOW + 10).unwrap();
        assert_eq!(id.eid, cfg.eid);
        verify_dp_certificate(&cis, &pki.dp_tls.cert, RspRole::DpTls, NOW + 10).unwrap();
        // The freshly minted TLS certificate replaces the expired SGP.26 one.
        assert!(pki.dp_tls.cert.is_valid_at(NOW + 300 * 86_400));
        // Wrong curve CI is refused.
        assert!(TestPki::generate_under_ci(
            CertifiedKey {
                cert: s.ci.clone(),
                key: key(&format!("CertificateIssuer/SK_CI_ECDSA_{t}.pem"))
            },
            &TestPkiConfig::new(
                if curve == Curve::NistP256 {
                    Curve::BrainpoolP256r1
                } else {
                    Curve::NistP256
                },
                NOW
            ),
            &mut rng()
        )
        .is_err());
    }
}

#[test]
fn minted_dp_tls_has_san_and_eku() {
    let s = load(Curve::NistP256);
    let ci_key = key("CertificateIssuer/SK_CI_ECDSA_NIST.pem");
    let tls_key = PrivateKey::generate(Curve::NistP256, &mut rng());
    let req = CertRequest {
        profile: Profile::DpTls {
            dns_name: "smdp.simkit.test",
        },
        subject: &[(DnAttr::O, "simkit"), (DnAttr::CN, "smdp.simkit.test")],
        serial: &[0x42],
        not_before: NOW,
        not_after: NOW + 398 * 86_400,
        registered_id: Some("2.999.10".parse().unwrap()),
        crl_urls: &[],
    };
    let c = mint::issue(&req, &tls_key.public_key(), &s.ci, &ci_key).unwrap();
    assert_eq!(c.dns_names(), &["smdp.simkit.test".to_string()]);
    assert_eq!(
        c.extended_key_usage(),
        &[pki::oid::KP_SERVER_AUTH, pki::oid::KP_CLIENT_AUTH]
    );
    assert_eq!(c.role(), Some(RspRole::DpTls));
    assert_eq!(c.serial(), &[0x42]);
    assert_eq!(c.not_before(), NOW);
    assert!(c.key_usage().unwrap().digital_signature);
    verify_dp_certificate(std::slice::from_ref(&s.ci), &c, RspRole::DpTls, NOW + 1).unwrap();
    // A DPauth certificate is not a TLS certificate.
    assert!(
        verify_dp_certificate(std::slice::from_ref(&s.ci), &s.dp_auth, RspRole::DpTls, NOW)
            .is_err()
    );
    // Issuer key must match issuer certificate; curves must match.
    let other = PrivateKey::generate(Curve::NistP256, &mut rng());
    assert!(mint::issue(&req, &tls_key.public_key(), &s.ci, &other).is_err());
    let brp_key = PrivateKey::generate(Curve::BrainpoolP256r1, &mut rng());
    assert_eq!(
        mint::issue(&req, &brp_key.public_key(), &s.ci, &ci_key),
        Err(PkiError::CurveMismatch)
    );
}

#[test]
fn minted_certificates_are_accepted_by_openssl_layout() {
    // Structural golden check: the minted EUM nameConstraints extension value is byte-identical
    // to SGP.26's (same O and prefix), and the minted eUICC subject is byte-identical too.
    let s = load(Curve::NistP256);
    let cfg = TestPkiConfig::new(Curve::NistP256, NOW);
    let pki = TestPki::generate(&cfg, &mut rng()).unwrap();
    let nc = hex::decode(
        "3032A030302EA42C302A31153013060355040A0C0C52535020546573742045554D3111300F060355040513083839303439303332",
    )
    .unwrap();
    assert!(pki.eum.cert.der().windows(nc.len()).any(|w| w == nc));
    assert!(s.eum.der().windows(nc.len()).any(|w| w == nc));
}

#[test]
fn write_to_dir_writes_sgp26_names() {
    let dir = std::env::temp_dir().join(format!("pki-test-{}", std::process::id()));
    let pki =
        TestPki::generate(&TestPkiConfig::new(Curve::BrainpoolP256r1, NOW), &mut rng()).unwrap();
    pki.write_to_dir(&dir).unwrap();
    let c =
        Certificate::from_der(&std::fs::read(dir.join("CERT_S_SM_DPauth_ECDSA_BRP.der")).unwrap())
            .unwrap();
    assert_eq!(c, pki.dp_auth.cert);
    let k =
        PrivateKey::from_pem(&std::fs::read_to_string(dir.join("SK_EUICC_ECDSA_BRP.pem")).unwrap())
            .unwrap();
    assert_eq!(k.public_key(), pki.euicc.key.public_key());
    assert!(dir.join("CERT_S_SM_DP_TLS_BRP.der").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupted_certificates_never_panic() {
    for rel in [
        "eUICC/CERT_EUICC_ECDSA_BRP.der",
        "EUM/CERT_EUM_ECDSA_NIST.der",
        "DPtls/CERT_S_SM_DP_TLS_NIST.der",
    ] {
        let der = std::fs::read(path(rel)).unwrap();
        for len in 0..der.len() {
            assert!(Certificate::from_der(&der[..len]).is_err());
        }
        for i in 0..der.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut d = der.clone();
                d[i] ^= mask;
                // Must not panic; if it parses, the chain checks must not panic either.
                if let Ok(c) = Certificate::from_der(&d) {
                    let _ = c.verify_signed_by(c.public_key());
                    let _ = c.permitted_eid_prefixes();
                }
            }
        }
    }
}

#[test]
fn certificate_from_pem() {
    let pem = std::fs::read_to_string(path("CertificateIssuer/CERT_CI_ECDSA_NIST.pem")).unwrap();
    let c = Certificate::from_pem(&pem).unwrap();
    assert_eq!(c, load(Curve::NistP256).ci);
    // Self-signed: the CI verifies under its own key.
    c.verify_signed_by(c.public_key()).unwrap();
}
