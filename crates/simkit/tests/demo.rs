//! `simkit demo` end to end over loopback HTTPS: ES2+ order, ES9+ download through the LPA into
//! a virtual eUICC, enable, notifications. NIST and brainpool RSP keys on SQLite, and NIST on
//! PostgreSQL (in a schema of its own).

use simkit::demo::{run, DemoArgs, DemoReport};
use simkit::pki_cmd::CurveArg;
use sqlx::{AnyConnection, Connection, Executor};

fn args(curve: CurveArg) -> DemoArgs {
    DemoArgs {
        data_dir: None,
        database: None,
        database_schema: None,
        curve,
        package: None,
    }
}

fn check(report: &DemoReport) {
    // The installed profile is the inventory entry's, and the SM-DP+ saw the installation.
    assert_eq!(report.installed_iccid, report.iccid);
    assert_eq!(report.installed_imsi, report.imsi);
    assert_eq!(report.smdp_profile_state, "Installed");
    assert_eq!(report.card_profile_state, "Enabled");
    assert_eq!(report.notifications_delivered, 1);
    let functions: Vec<&str> = report
        .es9_calls
        .iter()
        .map(|c| c.function.as_str())
        .collect();
    assert_eq!(
        functions,
        [
            "initiateAuthentication",
            "authenticateClient",
            "getBoundProfilePackage",
            "handleNotification",
            "handleNotification"
        ]
    );
    assert!(report.activation_code.starts_with("LPA:1$localhost:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_download_nist_sqlite() {
    let report = run(args(CurveArg::Nist), false).await.expect("demo");
    assert_eq!(report.curve, "NIST P-256");
    assert!(report.database.starts_with("sqlite://"));
    check(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_download_brainpool_sqlite() {
    let report = run(args(CurveArg::Brainpool), false).await.expect("demo");
    assert_eq!(report.curve, "brainpoolP256r1");
    check(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_download_nist_postgres() {
    let Ok(url) = std::env::var(store::testing::POSTGRES_URL_VAR) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL must be tested under CI"
        );
        eprintln!(
            "skipping PostgreSQL: {} not set",
            store::testing::POSTGRES_URL_VAR
        );
        return;
    };
    let schema = format!("t_demo_{}", std::process::id());
    let mut a = args(CurveArg::Nist);
    a.database = Some(url.clone());
    a.database_schema = Some(schema.clone());
    let result = run(a, false).await;
    sqlx::any::install_default_drivers();
    let mut c = AnyConnection::connect(&url).await.unwrap();
    c.execute(sqlx::raw_sql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await
    .unwrap();
    let report = result.expect("demo on PostgreSQL");
    assert!(report.database.starts_with("postgres://"));
    check(&report);
}
