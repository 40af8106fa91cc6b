//! `simkit bench download` through the built binary at a tiny N: every download completes and
//! the JSON report carries its fields. No timing is asserted (speed is for the benchmark).

use std::process::Command;

use serde_json::Value;

/// `simkit ARGS` with the environment's data directory and database left out: its JSON report.
fn run_json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_simkit"))
        .args(args)
        .env_remove("SIMKIT_DATA_DIR")
        .env_remove("SIMKIT_DATABASE_URL")
        .output()
        .expect("run simkit");
    assert!(
        out.status.success(),
        "simkit {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn bench(extra: &[&str]) -> Value {
    let mut args = vec![
        "bench",
        "download",
        "-n",
        "4",
        "-c",
        "2",
        "--floor-iterations",
        "10",
        "--json",
    ];
    args.extend_from_slice(extra);
    run_json(&args)
}

fn check(r: &Value) {
    assert_eq!(r["downloads"], 4);
    assert_eq!(r["succeeded"], 4, "{r:#}");
    assert_eq!(r["failed"], 0);
    // The SM-DP+ saw every Profile Installation Result.
    assert_eq!(r["installed"], 4);
    assert_eq!(r["concurrency"], 2);
    for key in [
        "wall_seconds",
        "downloads_per_second",
        "download_p50_ms",
        "download_p99_ms",
        "server_cpu_per_download_ms",
        "client_cpu_per_download_ms",
        "server_cpu_over_floor",
        "crypto_bound_downloads_per_second",
    ] {
        assert!(
            r[key].as_f64().is_some_and(|v| v >= 0.0),
            "{key}: {}",
            r[key]
        );
    }
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "initiateAuthentication",
            "authenticateClient",
            "getBoundProfilePackage",
            "handleNotification"
        ]
    );
    for s in r["steps"].as_array().unwrap() {
        assert_eq!(s["count"], 4);
        assert!(s["p99_ms"].as_f64().unwrap() >= s["p50_ms"].as_f64().unwrap());
    }
    let floor = &r["crypto_floor"];
    // Ten asymmetric operations per side per download (SGP.22 §3.1.2, §3.1.3).
    assert_eq!(floor["server_ops"].as_array().unwrap().len(), 10);
    assert_eq!(floor["card_ops"].as_array().unwrap().len(), 10);
    assert!(floor["server_ms"].as_f64().unwrap() > 0.0);
    assert!(floor["server_bsp_ms"].as_f64().unwrap() > 0.0);
    assert!(r["machine"]["nproc"].as_u64().unwrap() >= 1);
}

#[test]
fn nist_over_https() {
    let r = bench(&[]);
    check(&r);
    assert_eq!(r["transport"], "HTTPS");
    assert_eq!(r["curve"], "NIST P-256");
    assert_eq!(r["database"], "SQLite");
}

#[test]
fn brainpool_over_plain_http() {
    let r = bench(&[
        "--curve",
        "brainpool",
        "--plain-http",
        "--reuse-connections",
    ]);
    check(&r);
    assert_eq!(r["transport"], "HTTP");
    assert_eq!(r["curve"], "brainpoolP256r1");
}

/// `simkit bench tsm` at a tiny size, all three parts (HTTPS API, in-process API,
/// ProcessScript directly and over SCP80/SMS): every call succeeds and the report carries its
/// figures and floors. No timing is asserted.
#[test]
fn tsm_bench_runs_every_part() {
    let r = run_json(&[
        "bench",
        "tsm",
        "--ses",
        "2",
        "-c",
        "2",
        "--requests",
        "20",
        "--scripts",
        "6",
        "--ota-scripts",
        "6",
        "--json",
    ]);
    assert_eq!(r["database"], "sqlite");
    for (part, n) in [
        (&r["api"]["https"], 20),
        (&r["api"]["figures"], 20),
        (&r["processScript"]["figures"], 6),
        (&r["processScriptOverSms"]["figures"], 6),
    ] {
        assert_eq!(part["count"], n, "{r:#}");
        assert!(part["perSecond"].as_f64().unwrap() > 0.0, "{r:#}");
    }
    assert!(r["processScript"]["floorMsEach"].as_f64().unwrap() > 0.0);
    assert!(r["processScriptOverSms"]["floorMsEach"].as_f64().unwrap() > 0.0);
}
