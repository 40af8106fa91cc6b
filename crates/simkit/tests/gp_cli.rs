//! `simkit gp` through the built binary against a card file made by `simkit card create`:
//! info, list, and the whole content management cycle (load, install, personalize, select,
//! lock, unlock, delete), key rotation, and the exit codes.
//!
//! The card's GlobalPlatform ISD answers the ISD AID on the interfaces its pairing gives the
//! GlobalPlatform container (by default every non-contact protocol), so these tests talk to
//! it over `gp`'s default interface, SPI; over the contacts the same AID reaches the ISD-R
//! (tested below).

use std::path::Path;
use std::process::Command;

use simkit::gp_cmd::{cap, zip};

mod common;
use common::gp_card::*;

impl Card {
    /// `simkit --json gp --card F ARGS`: (exit code, JSON document).
    fn gp(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--json", "gp", "--card", p(&self.state)];
        all.extend_from_slice(args);
        let out = simkit(&all);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "simkit {all:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), doc)
    }

    fn gp_ok(&self, args: &[&str]) -> serde_json::Value {
        let (code, doc) = self.gp(args);
        assert_eq!(code, 0, "simkit gp {args:?}: {doc}");
        doc
    }

    /// Raw APDUs over SWP A without a secure channel (`simkit card apdu`).
    fn apdu(&self, apdus: &[&str]) -> serde_json::Value {
        let mut all = vec![
            "--json",
            "card",
            "apdu",
            "--state",
            p(&self.state),
            "--protocol",
            "swp-a",
        ];
        all.extend_from_slice(apdus);
        let out = simkit(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn find_app<'a>(list: &'a serde_json::Value, aid: &str) -> Option<&'a serde_json::Value> {
        list["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["aid"] == aid)
    }
}

#[test]
fn info_and_list_of_a_fresh_card() {
    let card = Card::new();
    let info = card.gp_ok(&["info"]);
    assert_eq!(info["sd"], "A000000151000000");
    assert_eq!(info["cardData"]["gpVersion"], "2.3.1");
    assert_eq!(info["cardData"]["scp"][0]["scp"], "03");
    assert_eq!(info["cardData"]["scp"][0]["i"], "70");
    assert_eq!(info["fciScp"]["scp"], "03");
    // The factory key set: KVN 30, three AES-128 keys.
    let keys = info["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k["kvn"] == "30"));
    assert_eq!(keys[0]["components"][0]["type"], "AES");
    assert_eq!(keys[0]["components"][0]["length"], 16);
    assert!(info["cplc"]["raw"].as_str().is_some());

    let list = card.gp_ok(&["list"]);
    assert_eq!(list["channel"]["scp"], "03");
    assert_eq!(list["channel"]["kvn"], "30");
    assert_eq!(list["isd"][0]["aid"], "A000000151000000");
    assert_eq!(list["isd"][0]["state"], "SECURED");
    let privs = list["isd"][0]["privilegeNames"].as_array().unwrap();
    assert!(privs.iter().any(|p| p == "SecurityDomain"));
    assert!(privs.iter().any(|p| p == "CardLock"));

    // The human form names the same things.
    let out = simkit(&[
        "gp",
        "--card",
        p(&card.state),
        "--protocol",
        "swp-a",
        "list",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ISD: A000000151000000 (SECURED)"), "{text}");

    // Over the contacts the ISD AID reaches the ISD-R: a usage error that says so.
    let out = simkit(&["gp", "--card", p(&card.state), "--protocol", "t0", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--protocol"));
}

#[test]
fn wrong_keys_and_refusals_have_their_exit_codes() {
    let card = Card::new();
    let (code, doc) = card.gp(&["--key", "00112233445566778899AABBCCDDEEFF", "list"]);
    assert_eq!(code, 4, "{doc}");
    assert!(
        doc["error"].as_str().unwrap().contains("wrong keys"),
        "{doc}"
    );
    let (code, doc) = card.gp(&["--kvn", "31", "list"]);
    assert_eq!(code, 4, "{doc}");
    // Deleting what is not there: the card's 6A88.
    let (code, doc) = card.gp(&["delete", "A0000000EEEEEE"]);
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["sw"], "6A88");
    // No card given.
    let out = simkit(&["gp", "list"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn install_personalize_select_lock_unlock_delete() {
    let card = Card::new();
    // A CAP file built here: the generic applet's package with placeholder components.
    let pkg = hex::decode(GENERIC_PKG).unwrap();
    let applet = hex::decode(GENERIC_APPLET).unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cap_path = card.dir().join("generic.cap");
    std::fs::write(&cap_path, zip::write_stored(&entries)).unwrap();

    let done = card.gp_ok(&[
        "--sec-level",
        "mac-enc",
        "install",
        "--load",
        p(&cap_path),
        "--hash",
        "--create",
        INSTANCE,
        "--params",
        "00",
    ]);
    assert_eq!(done["loaded"]["packageAid"], GENERIC_PKG);
    assert_eq!(done["installed"]["aid"], INSTANCE);
    let list = card.gp_ok(&["list"]);
    let app = Card::find_app(&list, INSTANCE).expect("instance listed");
    assert_eq!(app["state"], "SELECTABLE");
    assert_eq!(app["loadFile"], GENERIC_PKG);
    let lf = list["loadFiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["aid"] == GENERIC_PKG)
        .expect("load file listed");
    assert_eq!(lf["modules"][0], GENERIC_APPLET);

    // Personalize with an Application Label ('50'), then SELECT shows it in the FCI.
    card.gp_ok(&[
        "store-data",
        "--aid",
        INSTANCE,
        "--ber",
        "--data",
        "500454455354",
    ]);
    let sel = format!("00A404000A{INSTANCE}00");
    let r = card.apdu(&[&sel]);
    let rsp = serde_json::to_string(&r).unwrap();
    assert!(rsp.contains("500454455354"), "{rsp}");
    assert!(rsp.contains("9000"), "{rsp}");

    // Lock: LOCKED in the registry, and SELECT refused; unlock restores it.
    card.gp_ok(&["lock", INSTANCE]);
    let list = card.gp_ok(&["list"]);
    assert_eq!(Card::find_app(&list, INSTANCE).unwrap()["state"], "LOCKED");
    let r = serde_json::to_string(&card.apdu(&[&sel])).unwrap();
    assert!(!r.contains("500454455354"), "{r}");
    card.gp_ok(&["unlock", INSTANCE]);
    let list = card.gp_ok(&["list"]);
    assert_ne!(Card::find_app(&list, INSTANCE).unwrap()["state"], "LOCKED");

    // Delete the load file and its instance.
    card.gp_ok(&["delete", "--deps", GENERIC_PKG]);
    let list = card.gp_ok(&["list"]);
    assert!(Card::find_app(&list, INSTANCE).is_none());
    assert!(!serde_json::to_string(&list).unwrap().contains(GENERIC_PKG));
}

#[test]
fn put_key_rotate_then_only_the_new_keys_work() {
    let card = Card::new();
    let new = "00112233445566778899AABBCCDDEEFF";
    let done = card.gp_ok(&["put-key", "--new-key", new, "--replace", "--rotate"]);
    assert_eq!(done["newKvn"], "30");
    assert_eq!(done["rotated"], true);
    // KCV of an AES key (Amd D §7.2.2): AES(key, 16 x '01'), first three bytes.
    assert_eq!(done["kcv"]["enc"].as_str().unwrap().len(), 6);
    let (code, _) = card.gp(&["list"]);
    assert_eq!(code, 4, "the test keys no longer open the ISD");
    card.gp_ok(&["--key", new, "list"]);
    // A second key set next to it, then APDUs through a channel opened with it.
    card.gp_ok(&[
        "--key",
        new,
        "put-key",
        "--new-key",
        "404142434445464748494A4B4C4D4E4F",
        "--new-kvn",
        "31",
    ]);
    let r = card.gp_ok(&[
        "--kvn",
        "31",
        "--sec-level",
        "mac-enc-rmac",
        "apdu",
        "80CA006600",
    ]);
    assert_eq!(r["channel"]["kvn"], "31");
    assert_eq!(r["responses"][0]["sw"], "9000");
    assert!(r["responses"][0]["response"]
        .as_str()
        .unwrap()
        .starts_with("66"));
}

#[test]
fn scp02_key_set_and_extradition_to_an_ssd() {
    let card = Card::new();
    // A DES key set (KVN 20) next to the AES one; the card uses it with SCP02 i=15.
    let des = "404142434445464748494A4B4C4D4E4F";
    let done = card.gp_ok(&[
        "put-key",
        "--new-type",
        "des",
        "--new-key",
        des,
        "--new-kvn",
        "20",
        "--rotate",
    ]);
    assert_eq!(done["keyType"], "DES");
    assert_eq!(done["verifiedChannel"]["scp"], "02");
    let list = card.gp_ok(&[
        "--scp",
        "02",
        "--kvn",
        "20",
        "--sec-level",
        "mac-enc",
        "list",
    ]);
    assert_eq!(list["channel"]["scp"], "02");
    assert_eq!(list["channel"]["i"], "15");

    // An SSD from the built-in SD package, then a generic applet extradited to it.
    const SSD: &str = "A00000015153504101";
    card.gp_ok(&[
        "install",
        "--package",
        "A0000001515350",
        "--applet",
        "A000000151535041",
        "--create",
        SSD,
        "--privs",
        "SecurityDomain",
    ]);
    let pkg = hex::decode(GENERIC_PKG).unwrap();
    let applet = hex::decode(GENERIC_APPLET).unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let dir = card.dir().join("components");
    std::fs::create_dir_all(&dir).unwrap();
    for (n, d) in &files {
        std::fs::write(dir.join(n.rsplit('/').next().unwrap()), d).unwrap();
    }
    let done = card.gp_ok(&[
        "install",
        "--load",
        p(&dir),
        "--create",
        INSTANCE,
        "--to",
        SSD,
    ]);
    assert_eq!(done["extraditedTo"], SSD);
    let list = card.gp_ok(&["list"]);
    let ssd = Card::find_app(&list, SSD).expect("SSD listed");
    assert_eq!(ssd["kind"], "SD");
    assert_eq!(
        Card::find_app(&list, INSTANCE).unwrap()["associatedSd"],
        SSD
    );
    // The SSD has its own (initial) keys and registry view.
    let sub = card.gp_ok(&["--sdaid", SSD, "list"]);
    assert_eq!(sub["channel"]["scp"], "03");
}

/// vpcd's second slot (port 35964, vpcd.h `VPCDPORT` + 1), so this test never meets
/// `pcsc.rs`'s card in the first one.
const PCSC_READER: &str = "Virtual PCD 00 01";

/// Whether to run the PC/SC test; as in `pcsc.rs`, a failure under CI without
/// `SIMKIT_TEST_PCSC` (which `.ci/run` sets once pcscd with vsmartcard-vpcd is up).
fn pcsc_enabled() -> bool {
    if std::env::var_os("SIMKIT_TEST_PCSC").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "SIMKIT_TEST_PCSC is not set under CI: .ci/run starts pcscd with vsmartcard-vpcd"
    );
    eprintln!("skipping the PC/SC test: set SIMKIT_TEST_PCSC=1 with pcscd and vsmartcard-vpcd");
    false
}

/// A plain command APDU (no secure channel) straight through PC/SC to the card in
/// [`PCSC_READER`], with GET RESPONSE after `61xx` (`apdu::transceive`): (data, SW) in hex.
fn pcsc_plain(apdu_hex: &str) -> (String, String) {
    let ctx = reader::pcsc::Context::establish().expect("SCardEstablishContext");
    let mut card = ctx
        .connect(PCSC_READER, reader::pcsc::Share::Exclusive)
        .expect("SCardConnect");
    let cmd = apdu::Command::parse(&hex::decode(apdu_hex).unwrap()).unwrap();
    let r = apdu::transceive(&mut card, &cmd).expect("SCardTransmit");
    (hex::encode_upper(&r.data), format!("{:04X}", r.sw.0))
}

/// The content management cycle the issue asks of a host-side session over a reader:
/// LOAD + INSTALL a CAP file, personalize (STORE DATA of an Application Label '50'), SELECT
/// (the label in the FCI), lock (SET STATUS: LOCKED, SELECT refused), unlock (SELECT works
/// again), DELETE (gone from GET STATUS). `chan` are the secure channel options (`--scp`,
/// `--kvn`, ...); `scp` is the protocol each command's channel must have used.
fn pcsc_cycle(
    gp: &dyn Fn(&[&str]) -> serde_json::Value,
    chan: &[&str],
    scp: (&str, &str),
    cap_path: &Path,
    label: &str,
) {
    let run = |level: &str, args: &[&str]| -> serde_json::Value {
        let mut all: Vec<&str> = chan.to_vec();
        all.extend_from_slice(&["--sec-level", level]);
        all.extend_from_slice(args);
        let doc = gp(&all);
        assert_eq!(doc["channel"]["scp"], scp.0, "{args:?}: {doc}");
        assert_eq!(doc["channel"]["i"], scp.1, "{args:?}: {doc}");
        doc
    };
    // The strongest level each protocol allows for the load: SCP03 i=70 every protection,
    // SCP02 i=15 C-MAC + C-DECRYPTION (no R-MAC: b6 of "i" is 0, GP CS v2.3.1 Annex E.1.1).
    let strong = if scp.0 == "03" {
        "mac-enc-rmac-renc"
    } else {
        "mac-enc"
    };
    let done = run(
        strong,
        &[
            "install",
            "--load",
            p(cap_path),
            "--hash",
            "--create",
            INSTANCE,
        ],
    );
    assert_eq!(done["loaded"]["packageAid"], GENERIC_PKG, "{done}");
    assert_eq!(done["installed"]["aid"], INSTANCE, "{done}");
    let list = run("mac", &["list"]);
    assert_eq!(
        Card::find_app(&list, INSTANCE).expect("instance listed")["state"],
        "SELECTABLE"
    );

    // Personalize, then a plain SELECT over the reader shows the label in the FCI
    // ('6F' {'84' AID, 'A5' {'50' label}}, crates/card/src/gp/native.rs).
    let label_tlv = format!("50{:02X}{label}", label.len() / 2);
    run(
        strong,
        &[
            "store-data",
            "--aid",
            INSTANCE,
            "--ber",
            "--data",
            &label_tlv,
        ],
    );
    let select = format!("00A404000A{INSTANCE}00");
    let (fci, sw) = pcsc_plain(&select);
    assert_eq!(sw, "9000", "SELECT {INSTANCE}");
    assert!(fci.starts_with("6F"), "{fci}");
    assert!(fci.contains(&format!("840A{INSTANCE}")), "{fci}");
    assert!(fci.contains(&label_tlv), "{fci}");

    // Lock: LOCKED in the registry; the card refuses to select it (GP CS v2.3.1 §5.3: a
    // LOCKED application cannot be selected) with 6A82, application not found.
    let list = run("mac", &["list"]);
    let before = Card::find_app(&list, INSTANCE).unwrap()["state"].clone();
    run("mac", &["lock", INSTANCE]);
    let list = run("mac", &["list"]);
    assert_eq!(Card::find_app(&list, INSTANCE).unwrap()["state"], "LOCKED");
    let (data, sw) = pcsc_plain(&select);
    assert_eq!((data.as_str(), sw.as_str()), ("", "6A82"));

    // Unlock: back to the state it had before the lock (GP CS v2.3.1 §5.3, SET
    // STATUS §11.10), selectable
    // with its personalization.
    run("mac", &["unlock", INSTANCE]);
    let list = run("mac", &["list"]);
    assert_eq!(Card::find_app(&list, INSTANCE).unwrap()["state"], before);
    let (fci, sw) = pcsc_plain(&select);
    assert_eq!(sw, "9000");
    assert!(fci.contains(&label_tlv), "{fci}");

    // Delete the load file with its instance: both gone from GET STATUS, SELECT finds nothing.
    run(strong, &["delete", "--deps", GENERIC_PKG]);
    let list = run("mac", &["list"]);
    assert!(Card::find_app(&list, INSTANCE).is_none(), "{list}");
    assert!(!list.to_string().contains(GENERIC_PKG), "{list}");
    assert_eq!(pcsc_plain(&select).1, "6A82");
}

/// `simkit gp --pcsc=READER` through pcscd and vpcd to `simkit card serve`. The contact
/// protocols are paired with the GlobalPlatform container first, so the ISD AID reaches the
/// GP ISD over the reader. The whole content management cycle runs under SCP03 (the factory
/// AES-128 key set), then a DES key set is put and the cycle runs again under SCP02 i=15 (the
/// "i" this card announces for DES key sets, GpConfig::scp02_i).
#[test]
fn gp_over_pcsc_and_vpcd() {
    if !pcsc_enabled() {
        return;
    }
    let card = Card::new();
    let key_file = card.dir().join("card.simkit.pairing.key");
    let out = simkit(&[
        "card",
        "pairing",
        "set",
        "--card",
        p(&card.state),
        "--key-file",
        p(&key_file),
        "t0=gp",
        "t1=gp",
        "swp-a=gp",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vpcd = std::env::var("SIMKIT_TEST_VPCD_GP").unwrap_or_else(|_| "127.0.0.1:35964".into());
    let reader_state = || -> (bool, serde_json::Value) {
        let out = simkit(&["--json", "lpa", "readers"]);
        let readers: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let present = readers.as_array().is_some_and(|rs| {
            rs.iter()
                .any(|r| r["reader"] == PCSC_READER && r["cardPresent"] == true)
        });
        (present, readers)
    };
    // A card another test served from this vpcd slot a moment ago stays "present" until
    // pcscd's next poll notices its socket closed: wait for that first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reader_state().0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{PCSC_READER} still holds a card"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let serve = Command::new(env!("CARGO_BIN_EXE_simkit"))
        .args(["card", "serve", "--state", p(&card.state), "--vpcd", &vpcd])
        .env("SIMKIT_LOG", "off")
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("simkit card serve");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut serve_guard = Kill(serve);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = serve_guard.0.try_wait() {
            panic!("simkit card serve exited early: {status}");
        }
        let (present, readers) = reader_state();
        if present {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no card in {PCSC_READER}: {readers}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let pcsc = format!("--pcsc={PCSC_READER}");
    let gp = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json", "gp", pcsc.as_str()];
        all.extend_from_slice(args);
        let out = simkit(&all);
        assert!(
            out.status.success(),
            "simkit {all:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let info = gp(&["info"]);
    assert_eq!(info["cardData"]["gpVersion"], "2.3.1");
    let list = gp(&["--sec-level", "mac-enc-rmac", "list"]);
    assert_eq!(list["isd"][0]["state"], "SECURED");
    let pkg = hex::decode(GENERIC_PKG).unwrap();
    let applet = hex::decode(GENERIC_APPLET).unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cap_path = card.dir().join("generic.cap");
    std::fs::write(&cap_path, zip::write_stored(&entries)).unwrap();

    // SCP03 with the factory key set (KVN 30, AES-128).
    pcsc_cycle(&gp, &["--scp", "03"], ("03", "70"), &cap_path, "5343503033");

    // PUT KEY (opened under SCP03, the key values encrypted with its static DEK, Amd D
    // §6.2.8) of a DES key set, KVN 20; --rotate proves it by opening SCP02 with it.
    let des = "404142434445464748494A4B4C4D4E4F";
    let done = gp(&[
        "put-key",
        "--new-type",
        "des",
        "--new-key",
        des,
        "--new-kvn",
        "20",
        "--rotate",
    ]);
    assert_eq!(done["keyType"], "DES", "{done}");
    assert_eq!(done["verifiedChannel"]["scp"], "02", "{done}");
    let info = gp(&["info"]);
    let kvns: Vec<&str> = info["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kvn"].as_str())
        .collect();
    assert!(kvns.contains(&"20") && kvns.contains(&"30"), "{info}");

    // The same cycle under SCP02 i=15 with the DES key set.
    pcsc_cycle(
        &gp,
        &["--scp", "02", "--scp-i", "15", "--kvn", "20", "--key", des],
        ("02", "15"),
        &cap_path,
        "5343503032",
    );
    drop(serve_guard);

    // `simkit bench gp --vpcd` through the same reader once the card has left it: every
    // figure has its PC/SC column.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while reader_state().0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{PCSC_READER} still holds a card"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = bench_gp(&[
        "-n",
        "10",
        &format!("--vpcd={vpcd}"),
        "--reader",
        PCSC_READER,
    ]);
    assert_eq!(r["pcscSkipped"], serde_json::Value::Null, "{r}");
    assert_eq!(r["pcscReader"], PCSC_READER, "{r}");
    for f in r["figures"].as_array().unwrap() {
        assert_eq!(f["pcsc"]["apdus"], 10, "{f}");
        assert!(f["pcsc"]["apdusPerSecond"].as_f64().unwrap() > 0.0, "{f}");
    }
}

/// `simkit bench gp --json ARGS`.
fn bench_gp(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["bench", "gp", "--json"];
    all.extend_from_slice(args);
    let out = simkit(&all);
    assert!(
        out.status.success(),
        "simkit {all:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `simkit bench gp` at a tiny N: the four protocol/level figures, each with its in-process
/// rate and its crypto floor; the PC/SC column only on request. No timing is asserted.
#[test]
fn bench_gp_reports_every_protocol_and_level() {
    let r = bench_gp(&["-n", "8"]);
    assert_eq!(r["apdusPerFigure"], 8, "{r}");
    assert!(
        r["workload"].as_str().unwrap().contains("GET STATUS"),
        "{r}"
    );
    assert_eq!(r["pcscSkipped"], "not requested (--vpcd)", "{r}");
    let figs = r["figures"].as_array().unwrap();
    let got: Vec<(String, String, String)> = figs
        .iter()
        .map(|f| {
            (
                f["scp"].as_str().unwrap().to_string(),
                f["i"].as_str().unwrap().to_string(),
                f["securityLevel"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("03", "70", "01"),
        ("03", "70", "33"),
        ("02", "15", "01"),
        ("02", "15", "03"),
    ];
    assert_eq!(
        got,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    for f in figs {
        assert_eq!(
            f["keys"],
            if f["scp"] == "03" {
                "AES-128"
            } else {
                "3DES (2-key)"
            }
        );
        assert!(f["levelName"].as_str().unwrap().starts_with("C-MAC"), "{f}");
        assert_eq!(f["inProcess"]["apdus"], 8, "{f}");
        assert_eq!(f["floor"]["apdus"], 8, "{f}");
        assert!(f["pcsc"].is_null(), "{f}");
        for part in ["inProcess", "floor"] {
            for k in ["seconds", "apdusPerSecond", "microsecondsPerApdu"] {
                assert!(
                    f[part][k].as_f64().is_some_and(|v| v > 0.0),
                    "{part}.{k}: {f}"
                );
            }
        }
        assert!(f["inProcessOverFloor"].as_f64().unwrap() > 0.0, "{f}");
    }
    // Bad input is a usage error, not a panic.
    let out = simkit(&["bench", "gp", "-n", "0"]);
    assert!(!out.status.success());
}
