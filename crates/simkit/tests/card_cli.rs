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

// ---------------------------------------------------------------------------------------------
// Pairing administration (`simkit card pairing`, `card apdu --protocol`); the command coding is
// in crates/card/src/pairing.rs.

/// SELECT by DF name of the common AID A000000151000000 (GP CS v2.3.1 §H.1.3).
const SELECT_COMMON: &str = "00A4040008A000000151000000";
/// '84' of the GP ISD FCI (the GlobalPlatform container answers the common AID).
const GP_FCI_DF_NAME: &str = "8408A000000151000000";
/// '84' of the ISD-R FCI, AID of SGP.22 §2.2.3 (the telecom container answers it).
const ISDR_FCI_DF_NAME: &str = "8410A0000005591010FFFFFFFF8900000100";

fn fail(args: &[&str]) -> String {
    let out = simkit(args);
    assert!(!out.status.success(), "simkit {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// `card apdu --protocol P --json` of one command: (data, sw).
fn apdu_on(state: &Path, protocol: &str, cmd: &str) -> (String, String) {
    let r = json(&[
        "card",
        "apdu",
        "--state",
        p(state),
        "--protocol",
        protocol,
        cmd,
        "--json",
    ]);
    (
        r[0]["data"].as_str().unwrap().to_string(),
        r[0]["sw"].as_str().unwrap().to_string(),
    )
}

fn show(state: &Path) -> serde_json::Value {
    json(&["card", "pairing", "show", "--card", p(state), "--json"])
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn create_provisions_a_pairing_key_and_keeps_it_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    let created = json(&["card", "create", "--state", p(&state), "--json"]);
    let key_file = dir.path().join("card.pairing.key");
    assert_eq!(created["pairingKeyFile"], p(&key_file));
    assert!(created.get("pairingKey").is_none(), "{created}");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let key = key.trim();
    assert_eq!(key.len(), 32, "AES-128 in hex");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    let info = json(&["card", "info", "--state", p(&state), "--json"]);
    assert_eq!(info["pairingAdminKey"], true);
    assert!(!info.to_string().contains(key));

    // An explicit key, printed only when asked.
    let given = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
    let other = dir.path().join("other");
    let created = json(&[
        "card",
        "create",
        "--state",
        p(&other),
        "--pairing-key",
        given,
        "--show-pairing-key",
        "--json",
    ]);
    assert_eq!(created["pairingKey"], given);
    let text = std::fs::read_to_string(dir.path().join("other.pairing.key")).unwrap();
    assert_eq!(text.trim(), given);
    // A re-creation keeps the key file's key, as it keeps the card file's.
    let again = ok(&["card", "create", "--state", p(&other), "--force"]);
    assert!(!again.contains(given), "{again}");
    let text = std::fs::read_to_string(dir.path().join("other.pairing.key")).unwrap();
    assert_eq!(text.trim(), given);
    // Bad keys are refused before anything is written.
    let bad = dir.path().join("bad");
    let err = fail(&[
        "card",
        "create",
        "--state",
        p(&bad),
        "--pairing-key",
        "0011",
    ]);
    assert!(err.contains("16 or 32 bytes"), "{err}");
    assert!(!bad.exists());
}

#[test]
fn pairing_set_show_route_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    ok(&["card", "create", "--state", p(&state)]);

    // Factory pairing: T=0/T=1 → telecom, everything else → GlobalPlatform.
    let v = show(&state);
    assert_eq!(v["counter"], 0);
    assert_eq!(v["adminKey"], true);
    for (proto, container) in [
        ("t0", "telecom"),
        ("t1", "telecom"),
        ("swp-a", "gp"),
        ("swp-b", "gp"),
        ("hci", "gp"),
        ("spi", "gp"),
        ("proprietary", "gp"),
    ] {
        assert_eq!(v["pairing"][proto], container, "{proto}");
    }
    assert_eq!(
        v["table"],
        "A01C80020101800202018002030280020402800205028002060280020702"
    );
    let text = ok(&["card", "pairing", "show", "--state", p(&state)]);
    assert!(text.contains("counter 0"), "{text}");
    assert!(text.contains("SPI"), "{text}");

    // The common AID on SPI reaches the GP ISD; on T=0 the ISD-R.
    let (data, sw) = apdu_on(&state, "spi", SELECT_COMMON);
    assert_eq!(sw, "9000");
    assert!(data.contains(GP_FCI_DF_NAME), "{data}");
    let (data, sw) = apdu_on(&state, "t0", SELECT_COMMON);
    assert_eq!(sw, "9000");
    assert!(data.contains(ISDR_FCI_DF_NAME), "{data}");

    // Re-pair SPI to telecom and leave the proprietary interface unmapped.
    let set = json(&[
        "card",
        "pairing",
        "set",
        "--card",
        p(&state),
        "--key-file",
        p(&dir.path().join("card.pairing.key")),
        "T0=telecom",
        "T1=telecom",
        "swp-a=gp",
        "swp-b=gp",
        "hci=gp",
        "spi=telecom",
        "--json",
    ]);
    assert_eq!(set["sw"], "9000");
    assert_eq!(set["counter"], 1);

    // A new process (a restart of the card) sees the new pairing.
    let v = show(&state);
    assert_eq!(v["counter"], 1);
    assert_eq!(v["pairing"]["spi"], "telecom");
    assert_eq!(v["pairing"]["swp-a"], "gp");
    assert_eq!(v["pairing"]["proprietary"], serde_json::Value::Null);
    let (data, sw) = apdu_on(&state, "spi", SELECT_COMMON);
    assert_eq!(sw, "9000");
    assert!(data.contains(ISDR_FCI_DF_NAME), "{data}");
    assert!(data.starts_with("6F"), "{data}");
    // Unmapped: the common AID does not route (6A82), it never falls back.
    assert_eq!(apdu_on(&state, "proprietary", SELECT_COMMON).1, "6A82");
    // SWP type A still pairs with the GlobalPlatform container.
    let (data, _) = apdu_on(&state, "swp-a", SELECT_COMMON);
    assert!(data.contains(GP_FCI_DF_NAME), "{data}");

    // The next update takes the next counter by itself (default key file next to the card).
    let set = json(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "spi=gp",
        "t0=telecom",
        "--json",
    ]);
    assert_eq!(set["counter"], 2);
    assert_eq!(set["pairing"]["t1"], serde_json::Value::Null);
    let text = ok(&["card", "pairing", "set", "--state", p(&state), "spi=gp"]);
    assert!(text.contains("9000"), "{text}");
    assert_eq!(show(&state)["counter"], 3);
    // --merge changes only what it names.
    let before = show(&state);
    let set = json(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "--merge",
        "hci=telecom",
        "--json",
    ]);
    assert_eq!(set["counter"], 4);
    assert_eq!(set["pairing"]["hci"], "telecom");
    for proto in ["t0", "t1", "swp-a", "swp-b", "spi", "proprietary"] {
        assert_eq!(set["pairing"][proto], before["pairing"][proto], "{proto}");
    }
}

#[test]
fn pairing_refusals_leave_the_table_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    ok(&["card", "create", "--state", p(&state)]);
    let before = show(&state);

    // Another key: 6982, nothing changes.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "000102030405060708090A0B0C0D0E0F\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let args = [
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "--key-file",
        p(&wrong),
        "spi=telecom",
    ];
    let err = fail(&args);
    assert!(err.contains("6982"), "{err}");
    assert!(err.contains("wrong pairing-administration key"), "{err}");
    assert_eq!(show(&state), before);
    // SPI still reaches the GP ISD.
    assert!(apdu_on(&state, "spi", SELECT_COMMON)
        .0
        .contains(GP_FCI_DF_NAME));

    // A key file others can read is refused before anything is sent.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = fail(&args);
        assert!(err.contains("too open"), "{err}");
    }

    // Counter 5 is accepted; 5 again and 4 are replays (6985).
    ok(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "--counter",
        "5",
        "spi=telecom",
    ]);
    let after = show(&state);
    assert_eq!(after["counter"], 5);
    for c in ["5", "4"] {
        let err = fail(&[
            "card",
            "pairing",
            "set",
            "--state",
            p(&state),
            "--counter",
            c,
            "spi=gp",
        ]);
        assert!(err.contains("6985"), "{err}");
        assert!(err.contains("replay"), "{err}");
    }
    assert_eq!(show(&state), after);

    // A table the card rejects (unknown container 03): 6A80, and the counter is not spent.
    let err = fail(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "--table",
        "A004 80020103",
    ]);
    assert!(err.contains("6A80"), "{err}");
    assert!(err.contains("invalid"), "{err}");
    assert_eq!(show(&state), after);

    // Entries the CLI cannot build a table from never reach the card.
    for bad in ["spi", "usb=telecom", "spi=sim"] {
        fail(&["card", "pairing", "set", "--state", p(&state), bad]);
    }
    fail(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "spi=gp",
        "SPI=telecom",
    ]);
    assert_eq!(show(&state), after);
}

#[test]
fn set_key_initialises_a_card_without_one_only() {
    use simkit::card_file::PersistentCard;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("old");
    // A card file as written before cards had a pairing-administration key.
    let read = |rel: &str| std::fs::read(format!("{REF}/sgp26/{rel}")).unwrap();
    let sk = pki::PrivateKey::from_pem(
        &String::from_utf8(read("eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap(),
    )
    .unwrap();
    let ci = read("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let identity = card::CardIdentity::new(
        &read("eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &read("EUM/CERT_EUM_ECDSA_NIST.der"),
        sk,
        &[&ci],
    )
    .unwrap();
    PersistentCard::create(&state, identity, card::CardState::new(), false).unwrap();
    assert_eq!(show(&state)["adminKey"], false);

    // Without a key the card refuses every update (6982).
    let key_file = dir.path().join("admin.key");
    std::fs::write(&key_file, "00112233445566778899AABBCCDDEEFF\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let set = [
        "card",
        "pairing",
        "set",
        "--state",
        p(&state),
        "--key-file",
        p(&key_file),
        "spi=telecom",
    ];
    let err = fail(&set);
    assert!(err.contains("6982"), "{err}");
    assert!(err.contains("no pairing-administration key"), "{err}");

    // set-key gives it its first key, from the administrator's file.
    let out = json(&[
        "card",
        "pairing",
        "set-key",
        "--card",
        p(&state),
        "--pairing-key-file",
        p(&key_file),
        "--json",
    ]);
    let written = dir.path().join("old.pairing.key");
    assert_eq!(out["pairingKeyFile"], p(&written));
    assert!(out.get("pairingKey").is_none());
    assert_eq!(
        std::fs::read_to_string(&written).unwrap().trim(),
        "00112233445566778899AABBCCDDEEFF"
    );
    #[cfg(unix)]
    assert_eq!(mode(&written), 0o600);
    assert_eq!(show(&state)["adminKey"], true);
    ok(&set);
    assert_eq!(show(&state)["pairing"]["spi"], "telecom");

    // A key, once set, is never replaced.
    let err = fail(&["card", "pairing", "set-key", "--state", p(&state)]);
    assert!(err.contains("already has"), "{err}");
    let err = fail(&[
        "card",
        "pairing",
        "set-key",
        "--state",
        p(&state),
        "--pairing-key",
        "FFEEDDCCBBAA99887766554433221100",
    ]);
    assert!(err.contains("already has"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&written).unwrap().trim(),
        "00112233445566778899AABBCCDDEEFF"
    );
}

#[test]
fn apdu_protocols_have_their_own_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    ok(&["card", "create", "--state", p(&state)]);
    // MANAGE CHANNEL and SELECT on SPI in one power-up; an unknown protocol is refused.
    let r = json(&[
        "card",
        "apdu",
        "--state",
        p(&state),
        "--protocol",
        "spi",
        "0070000001",
        "01A4040008A000000151000000",
        "--json",
    ]);
    assert_eq!(r[0]["data"], "01");
    assert_eq!(r[1]["sw"], "9000");
    assert!(r[1]["data"].as_str().unwrap().contains(GP_FCI_DF_NAME));
    let bad = simkit(&[
        "card",
        "apdu",
        "--state",
        p(&state),
        "--protocol",
        "usb",
        "00",
    ]);
    assert!(!bad.status.success());
}
