//! `simkit lpa` through the built binary against an SM-DP+ started in this process
//! (`simkit::serve::start`, HTTPS with the PKI it mints, SQLite or, when
//! `SIMKIT_TEST_POSTGRES_URL` is set, PostgreSQL). The card is created with
//! `simkit card create --pki <data dir>/pki`, so card and server share one CI and the LPA
//! needs no trust flags.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use lpa::Es9Transport;
use serde_json::{json, Value};
use simkit::config::Config;
use simkit::inventory::{import_with_config, ImportArgs, ProfileClassArg, StoreArgs};
use simkit::serve::{start, RunningServer};
use smdp::{Iccid, ProfileState, SmdpStore};
use store::testing::TestDatabase;

/// GSMA TS.48 V2 generic test profile (SAIP 2.1, BER-TLV files), shared/reference/ts48-profiles.
const TS48: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V2-SAIP2-1-BERTLV-UNIQUE.der"
);
/// SGP.26 test CI (NIST): not the CI of the server's minted PKI.
const SGP26_CI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der"
);
const PTYPE: &str = "ts48v2";
const ICCID_START: &str = "8949449999999990023";
const IMSI_START: &str = "001010123456063";

use store::both_backends;

both_backends!(download_and_manage);

// ---------------------------------------------------------------------------------------------
// Helpers

async fn simkit(args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_simkit"));
    cmd.args(args)
        .env("SIMKIT_LOG", "off")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("SIMKIT_") && k != "SIMKIT_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.output().await.expect("running simkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn ok(args: &[&str]) -> String {
    let out = simkit(args).await;
    assert!(
        out.status.success(),
        "simkit {args:?} failed ({:?}): {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

async fn ok_json(args: &[&str]) -> Value {
    let out = ok(args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Runs a command that must fail with `code`; returns (stdout, stderr).
async fn fails(args: &[&str], code: i32) -> (String, String) {
    let out = simkit(args).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "simkit {args:?}: stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

struct Env {
    _dir: tempfile::TempDir,
    server: RunningServer,
    card: PathBuf,
    pki: PathBuf,
}

impl Env {
    /// `simkit lpa --card <card> <args...>`.
    fn lpa<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["lpa", "--card", p(&self.card)];
        v.extend_from_slice(args);
        v
    }
}

/// An HTTPS SM-DP+ on 127.0.0.1 (addressed as `localhost:<port>`) with `count` TS.48 V2
/// profiles, and a card created from the server's minted PKI.
async fn setup(t: &TestDatabase, count: u32) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(t.opts.url.clone()),
        database_schema: t.opts.pg_schema.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        plain_http: false,
        ..Default::default()
    };
    cfg.outbox.enabled = false;
    let args = ImportArgs {
        package: PathBuf::from(TS48),
        count,
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
    let server = start(cfg).await.expect("SM-DP+ start");
    assert!(server.base_url.starts_with("https://"));

    let pki = dir.path().join("pki");
    let card = dir.path().join("card.simkit");
    ok(&["card", "create", "--state", p(&card), "--pki", p(&pki)]).await;
    Env {
        _dir: dir,
        server,
        card,
        pki,
    }
}

/// POSTs an ES2+ request over HTTPS, trusting only the server's CI.
async fn es2(server: &RunningServer, path: &str, body: Value) -> Value {
    let http = lpa::http::HttpTransport::new(&server.trusted_ci_der, false).unwrap();
    let (status, body) = http
        .post(
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
}

/// ES2+.DownloadOrder by Profile Type, then ConfirmOrder with releaseFlag: (ICCID, activation
/// code).
async fn order(server: &RunningServer) -> (String, String) {
    let header = json!({"functionRequesterIdentifier": "MNO1", "functionCallIdentifier": "c1"});
    let v = es2(
        server,
        smdp::es2p::PATH_DOWNLOAD_ORDER,
        json!({"header": header, "profileType": PTYPE}),
    )
    .await;
    let iccid = v["iccid"].as_str().unwrap().to_string();
    let v = es2(
        server,
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

async fn inventory_state(server: &RunningServer, iccid: &str) -> ProfileState {
    server
        .database
        .get_profile(&Iccid::parse(iccid).unwrap())
        .await
        .unwrap()
        .expect("profile")
        .state
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Download with no trust flag, then list, nickname, enable, notifications, disable, delete;
/// every command is a new process on the same card file.
async fn download_and_manage(t: &TestDatabase) {
    let env = setup(t, 1).await;
    let (iccid, ac) = order(&env.server).await;
    assert_eq!(
        inventory_state(&env.server, &iccid).await,
        ProfileState::Released
    );

    let d = ok_json(&env.lpa(&["--json", "download", "--activation-code", &ac, "--yes"])).await;
    assert_eq!(d["iccid"], iccid.as_str(), "{d}");
    assert_eq!(d["profileName"], "TS.48 V2");
    assert_eq!(d["serviceProviderName"], "Test SP");
    assert_eq!(d["profileClass"], "operational");
    let aid = d["isdpAid"].as_str().unwrap().to_string();
    assert_eq!(aid.len(), 32, "ISD-P AID {aid}");
    assert_eq!(d["pirNotification"]["status"], "removed", "{d}");
    // The PIR reached the SM-DP+ (ES9+.HandleNotification).
    assert_eq!(
        inventory_state(&env.server, &iccid).await,
        ProfileState::Installed
    );

    // A second process reads the saved card file: the profile is there, disabled.
    let list = ok_json(&env.lpa(&["list", "--json"])).await;
    let profiles = list.as_array().unwrap();
    assert_eq!(profiles.len(), 1, "{list}");
    assert_eq!(profiles[0]["iccid"], iccid.as_str());
    assert_eq!(profiles[0]["isdpAid"], aid.as_str());
    assert_eq!(profiles[0]["state"], "disabled");
    assert_eq!(profiles[0]["profileName"], "TS.48 V2");
    assert_eq!(profiles[0]["nickname"], Value::Null);

    ok(&env.lpa(&["nickname", &iccid, "Work"])).await;
    ok(&env.lpa(&["enable", &iccid])).await;
    let human = ok(&env.lpa(&["list"])).await;
    let line = human
        .lines()
        .find(|l| l.starts_with(&iccid))
        .unwrap_or_default();
    assert!(line.contains("enabled") && line.contains("Work"), "{human}");

    // The eUICC refuses to enable it twice: exit code 4 with the ES10c result name.
    let (_, err) = fails(&env.lpa(&["enable", &iccid]), 4).await;
    assert!(err.contains("profileNotInDisabledState"), "{err}");
    let (out, _) = fails(&env.lpa(&["--json", "delete", &iccid]), 4).await;
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["error"]["resultName"], "profileNotInDisabledState", "{e}");
    assert_eq!(e["error"]["exitCode"], 4);

    // The enable notification goes to the SM-DP+ and leaves the card.
    let pending = ok_json(&env.lpa(&["notifications", "list", "--json"])).await;
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["operation"], "enable");
    assert_eq!(pending[0]["iccid"], iccid.as_str());
    assert_eq!(pending[0]["address"], env.server.smdp_address.as_str());
    let done = ok_json(&env.lpa(&["notifications", "process", "--json"])).await;
    let done = done["notifications"].as_array().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["status"], "removed", "{done:?}");
    let pending = ok_json(&env.lpa(&["notifications", "list", "--json"])).await;
    assert_eq!(pending, json!([]));

    // Disable by ISD-P AID, delete by ICCID.
    ok(&env.lpa(&["disable", &aid])).await;
    assert_eq!(
        ok_json(&env.lpa(&["list", "--json"])).await[0]["state"],
        "disabled"
    );
    ok(&env.lpa(&["delete", &iccid])).await;
    assert_eq!(ok_json(&env.lpa(&["list", "--json"])).await, json!([]));
    let out = ok(&env.lpa(&["notifications", "process"])).await;
    assert_eq!(out.matches("delivered, removed").count(), 2, "{out}");

    let info = ok_json(&env.lpa(&["info", "--json"])).await;
    let card = ok_json(&["card", "info", "--json", "--state", p(&env.card)]).await;
    assert_eq!(info["eid"], card["eid"]);
    assert_eq!(info["svn"], "2.2.2");
    assert_eq!(
        info["ciPkidsForVerification"],
        card["ciPkidsForVerification"]
    );
    assert!(
        info["freeNonVolatileMemory"].as_u64().unwrap() > 0,
        "{info}"
    );
    let eid = ok(&env.lpa(&["eid"])).await;
    assert_eq!(eid.trim(), card["eid"].as_str().unwrap());
    env.server.shutdown().await;
}

/// The refusals and error exit codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_exit_codes() {
    let t = TestDatabase::sqlite().await;
    let env = setup(&t, 1).await;
    let (_, ac) = order(&env.server).await;
    let before = std::fs::read(&env.card).unwrap();

    // No --yes and no terminal: refused before anything happens.
    let (_, err) = fails(&env.lpa(&["download", "--activation-code", &ac]), 2).await;
    assert!(err.contains("--yes"), "{err}");
    // Plain HTTP needs --allow-http.
    let http = format!("http://{}", env.server.addr);
    let (_, err) = fails(
        &env.lpa(&["download", "--smdp", &http, "--matching-id", "X", "--yes"]),
        2,
    )
    .await;
    assert!(err.contains("--allow-http"), "{err}");
    assert_eq!(std::fs::read(&env.card).unwrap(), before, "card untouched");
    // Usage errors are clap's: exit 2.
    fails(&env.lpa(&["enable", "not-a-profile"]), 2).await;
    fails(&env.lpa(&["memory-reset"]), 2).await;

    // An unknown matchingId: the SM-DP+ answers 8.2.6/3.8 (SGP.22 §6.5.2.8), exit code 3. The
    // trust anchor given explicitly is the server's own CI.
    let ci = env.pki.join("CERT_CI_ECDSA_NIST.der");
    let bad_ac = format!("LPA:1${}$UNKNOWN-MATCHING-ID", env.server.smdp_address);
    let args = [
        "--trust",
        p(&ci),
        "download",
        "--activation-code",
        &bad_ac,
        "--yes",
    ];
    let (_, err) = fails(&env.lpa(&args), 3).await;
    assert!(err.contains("8.2.6/3.8"), "{err}");
    assert!(
        err.contains("Matching ID") && err.contains("Refused"),
        "{err}"
    );
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let (out, _) = fails(&env.lpa(&json_args), 3).await;
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["error"]["subjectCode"], "8.2.6", "{e}");
    assert_eq!(e["error"]["reasonCode"], "3.8");
    assert_eq!(e["error"]["subjectName"], "Matching ID");
    assert_eq!(e["error"]["exitCode"], 3);
    assert_eq!(ok_json(&env.lpa(&["list", "--json"])).await, json!([]));

    // A TLS trust anchor that did not issue the server certificate: a transport error (1).
    let (_, err) = fails(
        &env.lpa(&[
            "--trust",
            SGP26_CI,
            "download",
            "--activation-code",
            &ac,
            "--yes",
        ]),
        1,
    )
    .await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // eUICC refusals: exit code 4 with the ES10c result name.
    let (_, err) = fails(&env.lpa(&["enable", ICCID_START]), 4).await;
    assert!(err.contains("iccidOrAidNotFound"), "{err}");

    // The real order is still usable after all this.
    let d = ok_json(&env.lpa(&["--json", "download", "--activation-code", &ac, "--yes"])).await;
    assert_eq!(d["pirNotification"]["status"], "removed");

    // Default SM-DP+ address and memory reset.
    ok(&env.lpa(&["set-default-dp", "smdp.example.com"])).await;
    let info = ok_json(&env.lpa(&["info", "--json"])).await;
    assert_eq!(info["defaultDpAddress"], "smdp.example.com");
    let r = ok_json(&env.lpa(&["--json", "memory-reset", "--operational", "--default-dp"])).await;
    assert_eq!(
        r["resetOptions"],
        json!(["deleteOperationalProfiles", "resetDefaultSmdpAddress"])
    );
    assert_eq!(ok_json(&env.lpa(&["list", "--json"])).await, json!([]));
    let info = ok_json(&env.lpa(&["info", "--json"])).await;
    assert_eq!(info["defaultDpAddress"], Value::Null, "{info}");
    // No default address and no activation code: nothing to download from.
    let (_, err) = fails(&env.lpa(&["download", "--yes"]), 2).await;
    assert!(err.contains("default SM-DP+"), "{err}");

    env.server.shutdown().await;
    t.finish().await;
}
