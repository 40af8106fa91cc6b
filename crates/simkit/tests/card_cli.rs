//! `simkit card create / info / apdu` through the built binary.

use std::path::Path;
use std::process::{Command, Output};

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");
/// EID of the SGP.26 test eUICC certificate (sgp26/eUICC/CERT_EUICC_ECDSA_*.der).
const SGP26_EID: &str = "89049032123451234512345678901235";

fn simkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simkit"))
        .args(args)
        .env("SIMKIT_LOG", "off")
        .output()
        .expect("running simkit")
}

fn ok(args: &[&str]) -> String {
    let out = simkit(args);
    assert!(
        out.status.success(),
        "simkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn create_fresh_then_info() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.simkit");
    let eid = "89086030202200000022000012345678";
    let created = json(&[
        "card",
        "create",
        "--state",
        p(&state),
        "--curve",
        "brainpool",
        "--eid",
        eid,
        "--json",
    ]);
    assert_eq!(created["eid"], eid);
    assert_eq!(created["curve"], "brainpoolP256r1");
    assert!(dir.path().join("card.simkit.key").exists());

    let info = json(&["card", "info", "--state", p(&state), "--json"]);
    assert_eq!(info["eid"], eid);
    assert_eq!(info["curve"], "brainpoolP256r1");
    assert_eq!(info["rootDsAddress"], "lpa.ds.gsma.com");
    assert_eq!(info["profiles"].as_array().unwrap().len(), 0);
    assert_eq!(info["notifications"].as_array().unwrap().len(), 0);
    assert_eq!(
        info["ciPkidsForVerification"],
        created["ciPkidsForVerification"]
    );
    assert_eq!(
        info["ciPkidsForVerification"][0], info["ciPkidForSigning"],
        "the fresh CI both verifies and signs"
    );
    let text = ok(&["card", "info", "--state", p(&state)]);
    assert!(text.contains(eid), "{text}");
    assert!(text.contains("Profiles: 0"), "{text}");

    // A second create over it is refused without --force.
    let again = simkit(&["card", "create", "--state", p(&state)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

#[test]
fn create_from_sgp26_dir_and_send_apdus() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sgp26");
    let created = json(&[
        "card",
        "create",
        "--state",
        p(&state),
        "--pki",
        &format!("{REF}/sgp26"),
        "--json",
    ]);
    assert_eq!(created["eid"], SGP26_EID);
    assert_eq!(created["curve"], "NIST P-256");
    // Both SGP.26 CIs are trusted, NIST first.
    assert_eq!(
        created["ciPkidsForVerification"].as_array().unwrap().len(),
        2
    );

    // MANAGE CHANNEL open, SELECT ISD-R, ES10c.GetEID, ES10a.SetDefaultDpAddress.
    let set_dp = format!("81E2910012BF3F0F800D{}", hex::encode_upper("smdp.test.net"));
    let r = json(&[
        "card",
        "apdu",
        "--state",
        p(&state),
        "0070000001",
        "01A4040010 A0000005591010FFFFFFFF8900000100",
        "81E2910006BF3E035C015A",
        &set_dp,
        "--json",
    ]);
    let r = r.as_array().unwrap();
    assert_eq!(r[0]["data"], "01");
    assert_eq!(r[0]["sw"], "9000");
    assert_eq!(r[1]["sw"], "9000");
    assert_eq!(r[2]["data"], format!("BF3E125A10{SGP26_EID}"));
    assert_eq!(r[3]["data"], "BF3F03800100");
    // The change survived the process.
    let info = json(&["card", "info", "--state", p(&state), "--json"]);
    assert_eq!(info["defaultDpAddress"], "smdp.test.net");
    // Human output of apdu.
    let text = ok(&["card", "apdu", "--state", p(&state), "00A4040000"]);
    assert!(text.starts_with("> 00A4040000\n< "), "{text}");
}

#[test]
fn create_with_explicit_files_and_new_eid_under_sgp26_eum() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("explicit");
    let created = json(&[
        "card",
        "create",
        "--state",
        p(&state),
        "--euicc-cert",
        &format!("{REF}/sgp26/eUICC/CERT_EUICC_ECDSA_BRP.der"),
        "--euicc-key",
        &format!("{REF}/sgp26/eUICC/SK_EUICC_ECDSA_BRP.pem"),
        "--eum-cert",
        &format!("{REF}/sgp26/EUM/CERT_EUM_ECDSA_BRP.der"),
        "--ci-cert",
        &format!("{REF}/sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der"),
        "--json",
    ]);
    assert_eq!(created["eid"], SGP26_EID);
    assert_eq!(created["curve"], "brainpoolP256r1");

    // A key that does not match the certificate is refused.
    let bad = simkit(&[
        "card",
        "create",
        "--state",
        p(&dir.path().join("bad")),
        "--euicc-cert",
        &format!("{REF}/sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        "--euicc-key",
        &format!("{REF}/sgp26/eUICC/SK_EUICC_ECDSA_BRP.pem"),
        "--eum-cert",
        &format!("{REF}/sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
        "--ci-cert",
        &format!("{REF}/sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der"),
    ]);
    assert!(!bad.status.success());
    assert!(!dir.path().join("bad").exists());

    // A new eUICC certificate under the SGP.26 EUM (its key is published) for another EID
    // within the EUM's permitted prefix 89049032.
    let eid = "89049032000000000000000000000042";
    let minted = json(&[
        "card",
        "create",
        "--state",
        p(&dir.path().join("minted")),
        "--pki",
        &format!("{REF}/sgp26"),
        "--eid",
        eid,
        "--json",
    ]);
    assert_eq!(minted["eid"], eid);
    // Outside the prefix: refused.
    let out = simkit(&[
        "card",
        "create",
        "--state",
        p(&dir.path().join("outside")),
        "--pki",
        &format!("{REF}/sgp26"),
        "--eid",
        "89999999000000000000000000000042",
    ]);
    assert!(!out.status.success());
}

#[test]
fn damaged_file_and_wrong_key_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    ok(&["card", "create", "--state", p(&a)]);
    ok(&["card", "create", "--state", p(&b)]);
    std::fs::copy(dir.path().join("b.key"), dir.path().join("a.key")).unwrap();
    let out = simkit(&["card", "info", "--state", p(&a)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n - 20] ^= 0x80;
    std::fs::write(&b, &bytes).unwrap();
    let out = simkit(&["card", "info", "--state", p(&b)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged"), "{err}");

    let out = simkit(&["card", "info", "--state", p(&dir.path().join("none"))]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let out = simkit(&["card", "apdu", "--state", p(&a), "zz"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not hex"));
}
