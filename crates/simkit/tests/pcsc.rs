//! The virtual card through the real card path: `simkit card serve --vpcd` puts a card file
//! into vsmartcard's virtual reader in pcscd, and `simkit lpa --pcsc` downloads, enables and
//! lists a profile through PC/SC (libpcsclite → pcscd → vpcd → TCP → our card), from an
//! SM-DP+ started in this process as in `lpa_cli.rs`; then reads EF.ICCID and EF.IMSI over
//! PC/SC, switches to a second profile and reads them again. A second test drives the central
//! TSM (pre-personalize, activate, a script in the SSD's secure channel) to a card in vpcd's
//! second slot through the same path.
//!
//! Needs pcscd running with the vsmartcard-vpcd driver (Debian: `pcscd vsmartcard-vpcd`).
//! Runs when `SIMKIT_TEST_PCSC` is set (`.ci/run` sets it and starts pcscd); otherwise it says
//! so and skips, except under CI (`CI` set), where the skip is a failure.
//! `SIMKIT_TEST_VPCD` overrides vpcd's address (default `127.0.0.1:35963`, the reader
//! "Virtual PCD 00 00"), `SIMKIT_TEST_VPCD_TSM` the TSM test's (default `127.0.0.1:35964`,
//! "Virtual PCD 00 01").

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use apdu::{Command, StatusWord};
use reader::pcsc::{Context, Disposition, PcscCard, Share};
use serde_json::{json, Value};
use simkit::config::Config;
use simkit::inventory::{import_with_config, ImportArgs, ProfileClassArg, StoreArgs};
use simkit::serve::{start, RunningServer};
use store::testing::TestDatabase;

/// GSMA TS.48 V2 generic test profile (SAIP 2.1, BER-TLV files), shared/reference/ts48-profiles.
const TS48: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V2-SAIP2-1-BERTLV-UNIQUE.der"
);
const PTYPE: &str = "ts48v2";
const ICCID_START: &str = "8949449999999990023";
const IMSI_START: &str = "001010123456063";
/// The IMSI `smdp import` gives the second profile.
const IMSI_SECOND: &str = "001010123456064";
/// vpcd's first slot: port 35963 (vpcd.h `VPCDPORT`).
const READER: &str = "Virtual PCD 00 00";

/// Whether to run; panics under CI without `SIMKIT_TEST_PCSC`.
fn enabled() -> bool {
    if std::env::var_os("SIMKIT_TEST_PCSC").is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "SIMKIT_TEST_PCSC is not set under CI: .ci/run starts pcscd with vsmartcard-vpcd \
             and sets it"
        );
    }
    eprintln!(
        "skipping the PC/SC test: set SIMKIT_TEST_PCSC=1 with pcscd and vsmartcard-vpcd running"
    );
    false
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn simkit_cmd(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_simkit"));
    cmd.args(args)
        .env("SIMKIT_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("SIMKIT_") && k != "SIMKIT_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

async fn run(args: &[&str]) -> Output {
    simkit_cmd(args).output().await.expect("running simkit")
}

async fn ok(args: &[&str]) -> String {
    let out = run(args).await;
    assert!(
        out.status.success(),
        "simkit {args:?} failed ({:?}): {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

async fn ok_json(args: &[&str]) -> Value {
    let out = ok(args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// An HTTPS SM-DP+ on 127.0.0.1 with two TS.48 V2 profiles (as `lpa_cli.rs` sets it up).
async fn smdp(t: &TestDatabase, dir: &Path) -> RunningServer {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(t.opts.url.clone()),
        database_schema: t.opts.pg_schema.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        plain_http: false,
        ..Default::default()
    };
    cfg.outbox.enabled = false;
    let args = ImportArgs {
        package: TS48.into(),
        count: 2,
        iccid_start: ICCID_START.into(),
        imsi_start: IMSI_START.into(),
        profile_type: Some(PTYPE.into()),
        owner: None,
        service_provider_name: "Test SP".into(),
        profile_name: Some("TS.48 V2".into()),
        profile_class: ProfileClassArg::Operational,
        keys_out: None,
        store: StoreArgs {
            config: None,
            data_dir: None,
            database: None,
        },
    };
    import_with_config(&cfg, &args).await.expect("import");
    start(cfg).await.expect("SM-DP+ start")
}

/// ES2+ DownloadOrder + ConfirmOrder(releaseFlag): (ICCID, activation code).
async fn order(server: &RunningServer) -> (String, String) {
    let http = lpa::http::HttpTransport::new(&server.trusted_ci_der, false).unwrap();
    let header = json!({"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "c1"});
    let post = async |path: &str, body: Value| -> Value {
        let (status, body) = lpa::Es9Transport::post(
            &http,
            &server.smdp_address,
            path,
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .expect("ES2+ over HTTPS");
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["header"]["functionExecutionStatus"]["status"], "Executed-Success",
            "{path}: {v}"
        );
        v
    };
    let v = post(
        smdp::es2p::PATH_DOWNLOAD_ORDER,
        json!({"header": header, "profileType": PTYPE}),
    )
    .await;
    let iccid = v["iccid"].as_str().unwrap().to_string();
    let v = post(
        smdp::es2p::PATH_CONFIRM_ORDER,
        json!({"header": header, "iccid": iccid, "releaseFlag": true}),
    )
    .await;
    let ac = format!(
        "LPA:1${}${}",
        v["smdpAddress"].as_str().unwrap(),
        v["matchingId"].as_str().unwrap()
    );
    (iccid, ac)
}

/// Waits until `reader` shows no card: a card another test served from the same vpcd slot a
/// moment ago stays "present" until pcscd's next poll notices its socket closed, and a new
/// card that connects before then would meet the old card's state (SCARD_E_NOT_TRANSACTED).
fn wait_until_empty(ctx: &Context, reader: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states = ctx.reader_states().expect("PC/SC reader states");
        let present = states.iter().any(|r| r.name == reader && r.card_present);
        if !present {
            return;
        }
        assert!(Instant::now() < deadline, "{reader} still holds a card");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the reader holds a card (PC/SC, `SCardGetStatusChange`).
fn wait_for_card(ctx: &Context, serve: &mut tokio::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = serve.try_wait() {
            panic!("simkit card serve exited early: {status}");
        }
        match ctx.wait_for_card(Some(READER), Duration::from_millis(500)) {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("no card in {READER}: {e}"),
            Err(_) => {}
        }
    }
}

/// SELECT by file ID (P2 `04`: return the FCP, ETSI TS 102 221 §11.1.1), or by DF name
/// (P1 `04`), then READ BINARY of the whole file (§11.1.3), over PC/SC.
fn read_binary(c: &mut PcscCard, path: &[(u8, &[u8])]) -> Vec<u8> {
    for (p1, id) in path {
        let sel = Command::with_data(0x00, 0xA4, *p1, 0x04, id.to_vec()).le(256);
        let r = apdu::transceive(c, &sel).unwrap();
        assert_eq!(r.sw, StatusWord::OK, "SELECT {}", hex::encode_upper(id));
    }
    let r = apdu::transceive(c, &Command::new(0x00, 0xB0, 0x00, 0x00).le(256)).unwrap();
    assert_eq!(r.sw, StatusWord::OK, "READ BINARY");
    r.data
}

/// Swapped-nibble BCD digits (EF.ICCID, TS 102 221 §13.2; EF.IMSI digits, TS 31.102 §4.2.2),
/// up to the first `F` filler.
fn swapped_digits(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| [b & 0x0F, b >> 4])
        .take_while(|d| *d <= 9)
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// (ICCID from EF.ICCID `3F00/2FE2`, IMSI from EF.IMSI `ADF.USIM/6F07`) of the enabled
/// profile, after a warm reset (what a device does on the REFRESH of a profile switch).
fn read_iccid_imsi(ctx: &Context) -> (String, String) {
    let mut c = ctx.connect(READER, Share::Exclusive).unwrap();
    c.reconnect(Disposition::Reset).unwrap();
    let ef_iccid = read_binary(&mut c, &[(0x00, &[0x3F, 0x00]), (0x00, &[0x2F, 0xE2])]);
    // ADF.USIM by partial DF name: the 3GPP RID and USIM application code (TS 101 220 §4.1).
    let usim_aid: &[u8] = &[0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];
    let ef_imsi = read_binary(&mut c, &[(0x04, usim_aid), (0x00, &[0x6F, 0x07])]);
    c.disconnect(Disposition::Leave).unwrap();
    // EF.IMSI: length byte, then the digits after the parity nibble.
    let imsi = match ef_imsi.as_slice() {
        [len, rest @ ..] => {
            let n = usize::from(*len).min(rest.len());
            swapped_digits(&rest[..n])
                .get(1..)
                .unwrap_or_default()
                .to_string()
        }
        [] => String::new(),
    };
    (swapped_digits(&ef_iccid), imsi)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lpa_over_pcsc_through_vpcd() {
    if !enabled() {
        return;
    }
    let vpcd = std::env::var("SIMKIT_TEST_VPCD").unwrap_or_else(|_| "127.0.0.1:35963".into());
    let ctx = Context::establish().expect("pcscd (is it running?)");
    let readers = ctx.reader_states().unwrap();
    let slot = readers
        .iter()
        .find(|r| r.name == READER)
        .unwrap_or_else(|| panic!("no reader {READER:?} (vsmartcard-vpcd): {readers:?}"));
    assert!(
        !slot.card_present,
        "{READER} already holds a card (another `simkit card serve`?)"
    );

    let t = TestDatabase::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let server = smdp(&t, dir.path()).await;
    let pki = dir.path().join("pki");
    let card = dir.path().join("card.simkit");
    ok(&["card", "create", "--state", p(&card), "--pki", p(&pki)]).await;
    let eid = ok_json(&["--json", "card", "info", "--state", p(&card)]).await["eid"]
        .as_str()
        .unwrap()
        .to_string();
    let trust = dir.path().join("ci.der");
    std::fs::write(&trust, &server.trusted_ci_der[0]).unwrap();

    // The card enters the reader.
    wait_until_empty(&ctx, READER);
    let mut serve = simkit_cmd(&["card", "serve", "--state", p(&card), "--vpcd", &vpcd])
        .stderr(Stdio::null())
        .spawn()
        .expect("simkit card serve");
    wait_for_card(&ctx, &mut serve);
    let readers = ok_json(&["--json", "lpa", "readers"]).await;
    let ours = readers
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reader"] == READER)
        .cloned()
        .unwrap_or_default();
    assert_eq!(ours["cardPresent"], true, "{readers}");
    // The ATR of the virtual card (crates/card: T=0/T=1, historical bytes 80 31 E0 73 C0 21 5F).
    assert_eq!(ours["atr"], hex::encode_upper(card::os::atr()), "{readers}");

    // `simkit lpa --pcsc=READER --trust CI <args>`.
    let trust_arg = p(&trust).to_string();
    let lpa = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["lpa", &format!("--pcsc={READER}"), "--trust", &trust_arg]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };

    // The EID through PC/SC is the card file's.
    let got = ok_json(&strs(&lpa(&["--json", "eid"]))).await;
    assert_eq!(got["eid"], eid.as_str());

    // Download, enable, list: every APDU through pcscd and vpcd.
    let (iccid, ac) = order(&server).await;
    let d = ok_json(&strs(&lpa(&[
        "--json",
        "download",
        "--yes",
        "--activation-code",
        &ac,
    ])))
    .await;
    assert_eq!(d["iccid"], iccid.as_str(), "{d}");
    assert_eq!(d["profileName"], "TS.48 V2");
    assert_eq!(d["pirNotification"]["status"], "removed", "{d}");

    ok(&strs(&lpa(&["enable", &iccid]))).await;
    let list = ok_json(&strs(&lpa(&["--json", "list"]))).await;
    let profiles = list.as_array().unwrap();
    assert_eq!(profiles.len(), 1, "{list}");
    assert_eq!(profiles[0]["iccid"], iccid.as_str());
    assert_eq!(profiles[0]["state"], "enabled");
    assert_eq!(profiles[0]["serviceProviderName"], "Test SP");
    let human = ok(&strs(&lpa(&["list"]))).await;
    assert!(
        human
            .lines()
            .any(|l| l.starts_with(&iccid) && l.contains("enabled")),
        "{human}"
    );

    // A reset through PC/SC reaches the card: the logical channel opened before it is gone,
    // the profile (persistent) stays.
    {
        let mut c = ctx.connect(READER, Share::Exclusive).unwrap();
        // MANAGE CHANNEL open (ISO/IEC 7816-4 §11.1.2): the card assigns channel 1.
        assert_eq!(
            c.send(&[0x00, 0x70, 0x00, 0x00, 0x01]).unwrap(),
            [1, 0x90, 0x00]
        );
        assert_eq!(
            c.send(&[0x00, 0x70, 0x00, 0x00, 0x01]).unwrap(),
            [2, 0x90, 0x00]
        );
        c.reconnect(Disposition::Reset).unwrap();
        assert_eq!(c.atr(), card::os::atr());
        assert_eq!(
            c.send(&[0x00, 0x70, 0x00, 0x00, 0x01]).unwrap(),
            [1, 0x90, 0x00]
        );
        c.reconnect(Disposition::Unpower).unwrap();
        assert_eq!(
            c.send(&[0x00, 0x70, 0x00, 0x00, 0x01]).unwrap(),
            [1, 0x90, 0x00]
        );
        c.disconnect(Disposition::Leave).unwrap();
    }

    // The enabled profile's files through PC/SC: EF.ICCID and the USIM's EF.IMSI.
    let first = read_iccid_imsi(&ctx);
    assert_eq!(first, (iccid.clone(), IMSI_START.to_string()));

    // A second profile, then a switch to it: the files follow the enabled profile.
    let (iccid2, ac2) = order(&server).await;
    assert_ne!(iccid2, iccid);
    let d = ok_json(&strs(&lpa(&[
        "--json",
        "download",
        "--yes",
        "--activation-code",
        &ac2,
    ])))
    .await;
    assert_eq!(d["iccid"], iccid2.as_str(), "{d}");
    ok(&strs(&lpa(&["enable", &iccid2]))).await;
    let second = read_iccid_imsi(&ctx);
    assert_eq!(second.0, iccid2);
    assert_eq!(second.1, IMSI_SECOND);
    ok(&strs(&lpa(&["enable", &iccid]))).await;
    assert_eq!(read_iccid_imsi(&ctx), first);

    // The card file holds what happened over PC/SC.
    let info = ok_json(&["--json", "card", "info", "--state", p(&card)]).await;
    let profiles = info["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "{info}");
    let enabled: Vec<_> = profiles
        .iter()
        .filter(|p| p["state"] == "enabled")
        .map(|p| p["iccid"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(enabled, [iccid.as_str()], "{info}");

    // The card leaves the reader when serve stops.
    serve.kill().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ctx
        .reader_states()
        .unwrap()
        .iter()
        .any(|r| r.name == READER && r.card_present)
    {
        assert!(Instant::now() < deadline, "the card stayed in {READER}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown().await;
    t.finish().await;
}

/// vpcd's second slot (port 35964): the TSM test runs beside the LPA test.
const TSM_READER: &str = "Virtual PCD 00 01";

/// The central TSM through the real card path: an SP's PrePersonalize, ActivateService and a
/// ProcessScript in the SSD's secure channel reach the virtual card through libpcsclite →
/// pcscd → vpcd → `simkit card serve`, and the card file shows the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsm_over_pcsc_through_vpcd() {
    use simkit::tsm_http::LinkConnector;
    use tsm::model::{Bearer, CatalogueEntry, KeySetRecord, Mno, SdKind, Se, Sp};
    use tsm::service::{SdRegistration, TsmConfig};
    use tsm::TsmStore;

    if !enabled() {
        return;
    }
    let vpcd = std::env::var("SIMKIT_TEST_VPCD_TSM").unwrap_or_else(|_| "127.0.0.1:35964".into());
    let ctx = Context::establish().expect("pcscd (is it running?)");
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("se.simkit");
    let pki = dir.path().join("pki");
    ok(&["pki", "mint", "--out", p(&pki)]).await;
    ok(&["card", "create", "--state", p(&card), "--pki", p(&pki)]).await;
    // The operator preloads the generic applet's package (a CAP file built here).
    let (pkg, module) = (
        card::gp::native::GENERIC_PACKAGE_AID,
        card::gp::native::GENERIC_MODULE_AID,
    );
    let files = simkit::gp_cmd::cap::minimal_cap_components(&pkg, &[&module]);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cap = dir.path().join("generic.cap");
    std::fs::write(&cap, simkit::gp_cmd::zip::write_stored(&entries)).unwrap();
    ok(&[
        "gp",
        "--card",
        p(&card),
        "--protocol",
        "spi",
        "install",
        "--load",
        p(&cap),
    ])
    .await;
    // The GP container on the contact interface: the reader is a contact (T=1) slot.
    ok(&[
        "card",
        "pairing",
        "set",
        "--state",
        p(&card),
        "--merge",
        "t0=gp",
        "t1=gp",
    ])
    .await;
    wait_until_empty(&ctx, TSM_READER);
    let mut serve = simkit_cmd(&["card", "serve", "--state", p(&card), "--vpcd", &vpcd])
        .stderr(Stdio::null())
        .spawn()
        .expect("simkit card serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ctx
        .wait_for_card(Some(TSM_READER), Duration::from_millis(500))
        .is_err()
    {
        assert!(Instant::now() < deadline, "no card in {TSM_READER}");
        assert!(serve.try_wait().unwrap().is_none(), "card serve exited");
    }

    let t = TestDatabase::sqlite().await;
    let tsm = simkit::tsm_cmd::new_service(
        t.db.clone(),
        std::sync::Arc::new(seal::SoftwareKeyStore::new(&[3u8; 32]).unwrap()),
        std::sync::Arc::new(LinkConnector::new(
            card::Protocol::T1,
            Duration::from_secs(60),
        )),
        TsmConfig::default(),
    );
    let store = tsm.store();
    store
        .put_mno(Mno {
            id: "mno".into(),
            name: "MNO".into(),
            bearer: Bearer::Direct,
        })
        .await
        .unwrap();
    let sp = Sp {
        id: "bank".into(),
        name: "Bank".into(),
        cert_subject: "bank".into(),
    };
    store.put_sp(sp.clone()).await.unwrap();
    let k = card::gp::GP_TEST_KEY.to_vec();
    let keys = || KeySetRecord {
        scp: 3,
        kvn: card::gp::DEFAULT_KVN,
        enc: k.clone().into(),
        mac: k.clone().into(),
        dek: k.clone().into(),
    };
    let isd = card::routing::GP_ISD_AID.to_vec();
    let se = Se {
        se_id: "se-pcsc".into(),
        mno_id: "mno".into(),
        se_type: "UICC".into(),
        profile_id: "p".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "-".into(),
        cert_expiry: "2031-01-01".into(),
        isd_aid: isd.clone(),
        link: format!("pcsc:{TSM_READER}"),
        ssd_initial_keys: None,
    };
    let sd = SdRegistration {
        aid: isd.clone(),
        kind: SdKind::Isd,
        sp_id: None,
        keys: Some(keys()),
    };
    tsm.register_se(se, Some(keys()), vec!["+15550001".into()], vec![sd])
        .await
        .unwrap();
    let instance = [0xF0, 0x42, 0x41, 0x4E, 0x4B, 0x01];
    tsm.register_service(CatalogueEntry {
        sp_id: "bank".into(),
        service_id: "pay".into(),
        version: "1".into(),
        package_aid: pkg.to_vec(),
        module_aid: module.to_vec(),
        instance_aid: instance.to_vec(),
        memory: 128,
        privileges: vec![0x00],
        install_params: vec![],
    })
    .await
    .unwrap();

    let svc = json!({"msi": "+15550001", "serviceId": "pay", "serviceQualifier": "main"});
    let call = |op: &'static str, body: Value| {
        let (tsm, sp) = (&tsm, &sp);
        async move {
            let (s, out) = tsm.handle(sp, op, body.to_string().as_bytes(), None).await;
            (s, serde_json::from_str::<Value>(&out).unwrap())
        }
    };
    let (s, r) = call("PrePersonalize", svc.clone()).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("INSTALLED")), "{r}");
    let (s, r) = call("ActivateService", svc.clone()).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("ACTIVE")), "{r}");
    let (s, conv) = call(
        "ManageCommunication",
        json!({"action": "start", "seId": "se-pcsc", "msi": "+15550001"}),
    )
    .await;
    assert_eq!(s, 200, "{conv}");
    let (s, r) = call(
        "ProcessScript",
        json!({"conversationId": conv["conversationId"], "commands": ["80CA00E000"]}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["responses"][0].as_str().unwrap().ends_with("9000"), "{r}");
    let audit = store.audit(Default::default()).await.unwrap();
    assert!(
        audit.len() > 10,
        "every APDU went through PC/SC and was recorded"
    );

    // The card leaves the reader; its file shows the SP's SSD and the selectable instance.
    serve.kill().await.unwrap();
    let list = ok_json(&["--json", "gp", "--card", p(&card), "list"]).await;
    let text = list.to_string();
    assert!(
        text.contains(&hex::encode_upper(tsm::service::ssd_aid_for("bank"))),
        "{list}"
    );
    assert!(text.contains(&hex::encode_upper(instance)), "{list}");
    t.finish().await;
}
