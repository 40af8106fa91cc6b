//! `simkit serve --print-config`, `simkit smdp import` and `simkit smdp status` through the built
//! binary (SQLite in a temporary data directory).

use std::process::{Command, Output};

/// GSMA TS.48 v4 generic test profile (shared/reference/ts48-profiles).
const TS48: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V4-SAIP2-3-BERTLV-UNIQUE.der"
);

fn simkit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simkit"));
    cmd.args(args).env("SIMKIT_LOG", "off");
    // The test must not depend on the caller's SIMKIT_* settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("SIMKIT_") && k != "SIMKIT_LOG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running simkit")
}

fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = simkit(args, env);
    assert!(
        out.status.success(),
        "simkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn print_config_layers_file_env_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("simkit.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\n[policy]\nmax_cc_attempts = 9\n[callbacks]\nMNO1 = \"http://127.0.0.1:7000\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = ok(
        &[
            "serve",
            "--print-config",
            "--config",
            file.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[
            ("SIMKIT_LISTEN", "127.0.0.1:9443"),
            ("SIMKIT_MAX_DOWNLOAD_ATTEMPTS", "2"),
        ],
    );
    let v: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!(v["listen"].as_str(), Some("127.0.0.1:9443"), "{out}");
    assert_eq!(v["public_address"].as_str(), Some("localhost:9443"));
    assert_eq!(v["policy"]["max_cc_attempts"].as_integer(), Some(9));
    assert_eq!(v["policy"]["max_download_attempts"].as_integer(), Some(2));
    assert_eq!(
        v["callbacks"]["MNO1"].as_str(),
        Some("http://127.0.0.1:7000")
    );
    let db = format!("sqlite://{}/smdp.db?mode=rwc", data.display());
    assert_eq!(v["database_url"].as_str(), Some(db.as_str()));
    // Printing the configuration creates nothing.
    assert!(!data.exists());

    // A bad value is an error with a non-zero exit code.
    let out = simkit(
        &["serve", "--print-config"],
        &[("SIMKIT_LISTEN", "nowhere")],
    );
    assert!(!out.status.success());
}

#[test]
fn import_then_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = ok(
        &[
            "--json",
            "smdp",
            "import",
            "--data-dir",
            data,
            "--package",
            TS48,
            "--count",
            "3",
            "--iccid-start",
            "8949449999999990023",
            "--imsi-start",
            "001010123456063",
            "--profile-type",
            "ts48",
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 3);
    assert_eq!(v["lastIccid"], "8949449999999990049");
    assert_eq!(v["lastImsi"], "001010123456065");
    assert!(dir.path().join("smdp.db").exists());
    assert!(dir.path().join("master.key").exists());

    let out = ok(&["--json", "smdp", "status", "--data-dir", data], &[]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{"profileType": "ts48", "state": "Available", "count": 3}])
    );
    let text = ok(&["smdp", "status", "--data-dir", data], &[]);
    assert!(
        text.contains("ts48") && text.contains("Available") && text.contains('3'),
        "{text}"
    );

    // A wrong check digit is refused before anything is written.
    let out = simkit(
        &[
            "smdp",
            "import",
            "--data-dir",
            data,
            "--package",
            TS48,
            "--iccid-start",
            "8949449999999990024",
            "--imsi-start",
            "001010123456063",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("check digit should be 3"));
}
