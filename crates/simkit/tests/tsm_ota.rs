//! The central TSM over the OTA platform, end to end through every role, on SQLite and
//! PostgreSQL (`SIMKIT_TEST_POSTGRES_URL`):
//!
//! SP API (`Tsm::handle`) → TSM engine → RAM bearer (`simkit::tsm_ota`, one expanded-format
//! command packet per command, TS 102 226 §5.2) → the OTA server service
//! (`otasrv::service::OtaService::exchange`: counter allocated in the database, SCP80 packet
//! under the card's OTA keys, TS 102 225) → SMPP submit_sm → the built-in SMSC simulator → the
//! terminal simulator (`modem::net::Modem`) → ENVELOPE SMS-PP download → the virtual card
//! (`card::Card`: SCP80, TAR routing to its ISD or the SP's SSD, RAM) → the PoR by proactive
//! SEND SHORT MESSAGE → SMSC deliver_sm → the OTA server → the R-APDU back to the TSM.
//!
//! The SE is registered with link `ota:MSISDN` under an MNO whose bearer is SCP80-SMS. Keys:
//! the card's factory OTA key set (pySim `Test_SMS_AES128`, `tests/unittests/test_ota.py`) in
//! the OTA platform; the GP test keys 40..4F as the ISD's and a new SSD's initial keys.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use card::gp::native::{GENERIC_MODULE_AID, GENERIC_PACKAGE_AID};
use card::ota::{DEFAULT_KIC, DEFAULT_KID};
use card::routing::GP_ISD_AID;
use card::testing::SeededRng;
use card::{Card, CardIdentity, CardState};
use modem::net::{Modem, ModemConfig, Subscribers};
use modem::{Terminal, TerminalConfig};
use ota::ts23040::Scts;
use otasrv::service::{OtaService, ServiceConfig};
use otasrv::{CardImport, KeySet, OtaStore};
use pki::mint::{TestPki, TestPkiConfig};
use pki::Curve;
use serde_json::{json, Value};
use simkit::tsm_http::LinkConnector;
use simkit::tsm_ota::OtaPlatform;
use smpp::smsc::{self, SmscConfig};
use smpp::{BindMode, EsmeConfig, SmeAddress};
use store::both_backends;
use store::testing::TestDatabase;
use tsm::model::{Bearer, CatalogueEntry, KeySetRecord, Mno, SdKind, Se, Sp};
use tsm::service::{ssd_aid_for, SdRegistration, Tsm, TsmConfig};
use tsm::store::AuditFilter;
use tsm::TsmStore;
use zeroize::Zeroizing;

both_backends!(sp_life_cycle_over_scp80_sms);

const MSISDN: &str = "491700000042";
const MSI: &str = "+491700000042";
const SYSTEM_ID: &str = "simkit-tsm";
const APP: [u8; 7] = [0xF0, 0xA1, 0xA1, 0xA1, 0xA1, 0x01, 0x01];

fn test_keys() -> KeySetRecord {
    let k = hex::decode("404142434445464748494A4B4C4D4E4F").unwrap();
    KeySetRecord {
        scp: 3,
        kvn: 0x30,
        enc: Zeroizing::new(k.clone()),
        mac: Zeroizing::new(k.clone()),
        dek: Zeroizing::new(k),
    }
}

/// A virtual card with the generic applet package preloaded (associated with the ISD).
fn new_card() -> Card {
    let pki = TestPki::generate(
        &TestPkiConfig::new(Curve::NistP256, 1_700_000_000),
        &mut SeededRng::new(b"tsm ota pki"),
    )
    .unwrap();
    let identity = CardIdentity::new(
        pki.euicc.cert.der(),
        pki.eum.cert.der(),
        pki.euicc.key,
        &[pki.ci.cert.der()],
    )
    .unwrap();
    let mut state = CardState::new();
    state
        .gp
        .load_files
        .push(card::testing::preloaded_generic_package(2000));
    Card::new(identity, state, Box::new(SeededRng::new(b"tsm ota card")))
}

async fn call(tsm: &Tsm<store::Database>, sp: &Sp, op: &str, body: Value) -> (u16, Value) {
    let (status, out) = tsm.handle(sp, op, body.to_string().as_bytes(), None).await;
    (status, serde_json::from_str(&out).expect("JSON answer"))
}

fn svc(sp: &Sp) -> Value {
    json!({"msi": MSI, "serviceId": format!("{}-pay", sp.id), "serviceQualifier": "main"})
}

async fn sp_life_cycle_over_scp80_sms(h: &mut TestDatabase) {
    // The radio side: SMSC simulator and the subscriber's terminal with its card.
    let mut radio = Subscribers::default();
    let rx = radio.add(MSISDN);
    let smsc = smsc::start(SmscConfig::new(SYSTEM_ID, "secret"), 0, Arc::new(radio))
        .await
        .unwrap();
    let modem = Modem::spawn(
        Terminal::new(new_card(), TerminalConfig::default()),
        smsc.clone(),
        rx,
        ModemConfig {
            msisdn: SmeAddress::new(1, 1, MSISDN),
            esme: Some(SYSTEM_ID.into()),
            scts: Box::new(|| Scts::new([26, 11, 22, 12, 0, 0], 4)),
            retry_interval: Duration::from_millis(20),
        },
    )
    .unwrap();

    // The OTA platform: the card's OTA keys, the sending service.
    let keys = KeySet::aes(1, &DEFAULT_KIC, &DEFAULT_KID).unwrap();
    h.db.import_cards(vec![CardImport {
        address: MSISDN.into(),
        iccid: None,
        keys: Some(keys),
        counters: BTreeMap::new(),
    }])
    .await
    .unwrap();
    let esme = EsmeConfig::new(BindMode::Transceiver, SYSTEM_ID, "secret");
    let service = OtaService::start(h.db.clone(), ServiceConfig::new(smsc.local_addr(), esme));
    let platform = Arc::new(OtaPlatform::new(
        service,
        tokio::runtime::Handle::current(),
        Duration::from_secs(30),
    ));
    let connector = Arc::new(LinkConnector::default());
    connector.set_ota(platform);

    // The TSM: MNO (SCP80-SMS), SP, SE linked to the OTA platform, the catalogue.
    let clock = Arc::new(AtomicI64::new(otasrv::service::system_clock()()));
    let c = clock.clone();
    let tsm = Tsm::new(
        h.db.clone(),
        Arc::new(seal::SoftwareKeyStore::new(&[9u8; 32]).unwrap()),
        connector,
        Arc::new(|| Box::new(rand_core::UnwrapErr(getrandom::SysRng))),
        Arc::new(move || c.load(Ordering::SeqCst)),
        TsmConfig::default(),
    );
    let store = tsm.store();
    store
        .put_mno(Mno {
            id: "mno-sms".into(),
            name: "SMS operator".into(),
            bearer: Bearer::Scp80Sms,
        })
        .await
        .unwrap();
    let sp = Sp {
        id: "bank".into(),
        name: "Bank".into(),
        cert_subject: "bank-client".into(),
    };
    store.put_sp(sp.clone()).await.unwrap();
    let se = Se {
        se_id: "se-ota".into(),
        mno_id: "mno-sms".into(),
        se_type: "UICC".into(),
        profile_id: "p1".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "EAL4+".into(),
        cert_expiry: "2030-01-01".into(),
        isd_aid: GP_ISD_AID.to_vec(),
        link: format!("ota:{MSISDN}"),
        ssd_initial_keys: None,
    };
    let isd = SdRegistration {
        aid: GP_ISD_AID.to_vec(),
        kind: SdKind::Isd,
        sp_id: None,
        keys: Some(test_keys()),
    };
    tsm.register_se(se.clone(), Some(test_keys()), vec![MSI.into()], vec![isd])
        .await
        .unwrap();
    tsm.register_service(CatalogueEntry {
        sp_id: sp.id.clone(),
        service_id: "bank-pay".into(),
        version: "1".into(),
        package_aid: GENERIC_PACKAGE_AID.to_vec(),
        module_aid: GENERIC_MODULE_AID.to_vec(),
        instance_aid: APP.to_vec(),
        memory: 300,
        privileges: vec![0x00],
        install_params: hex::decode("C9020101").unwrap(),
    })
    .await
    .unwrap();
    let ssd = ssd_aid_for(&sp.id);
    let card_app = |aid: &[u8]| modem.with_terminal(|t| t.card().state().gp.app(aid).cloned());

    // PrePersonalize: SSD created over RAM to the ISD (TAR '000000'), its keys replaced over
    // RAM to the SSD's TAR (PUT KEY under its static DEK), the instance installed and
    // extradited.
    let (s, r) = call(&tsm, &sp, "PrePersonalize", svc(&sp)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["state"], "INSTALLED", "{r}");
    let instance = card_app(&APP).expect("instance on the card");
    assert_eq!(instance.associated_sd, ssd, "extradited to the SP's SSD");
    assert!(card_app(&ssd).is_some(), "SSD on the card");

    // The SP personalizes under its SSD, over the same bearer.
    let (s, conv) = call(
        &tsm,
        &sp,
        "ManageCommunication",
        json!({"action": "start", "seId": "se-ota", "msi": MSI}),
    )
    .await;
    assert_eq!(s, 200, "{conv}");
    assert_eq!(conv["bearer"], "SCP80-SMS");
    assert_eq!(
        conv["maxScriptSize"], 1024,
        "one packet per script over SMS"
    );
    let id = conv["conversationId"].as_str().unwrap().to_string();
    let install = gp::commands::Install::ForPersonalization {
        application_aid: APP.to_vec(),
    }
    .command()
    .unwrap();
    // STORE DATA P1 '90': last block, BER-TLV (GP CS v2.3.1 Table 11-89): '50' label "BANK".
    let store_data =
        apdu::Command::with_data(0x80, 0xE2, 0x90, 0x00, hex::decode("500442414E4B").unwrap());
    let cmds: Vec<String> = [install, store_data]
        .iter()
        .map(|c| hex::encode(c.encode().unwrap()))
        .collect();
    let (s, r) = call(
        &tsm,
        &sp,
        "ProcessScript",
        json!({"conversationId": id, "commands": cmds}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");
    // Over RAM each command goes with Le (a later packet cannot GET RESPONSE): INSTALL
    // answers its '00' (GP CS v2.3.1 §11.5.3).
    assert_eq!(r["responses"], json!(["009000", "9000"]), "{r}");
    assert_eq!(
        card_app(&APP)
            .unwrap()
            .data_object(0x50)
            .map(|d| d.value.clone()),
        Some(b"BANK".to_vec()),
        "personalized under the SSD"
    );
    // The card stops at the first failing command of a script (TS 102 226 §5.2.1): GET DATA
    // of a tag the SSD does not have, then a command that never runs.
    let (s, r) = call(
        &tsm,
        &sp,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["80CA00FE00", "80CA006600"]}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["responses"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["failed"][0]["index"], 0, "{r}");
    assert_eq!(r["failed"][0]["sw"], "6A88", "{r}");
    // A SELECT has no place in a RAM script: refused before anything is sent.
    let (s, r) = call(
        &tsm,
        &sp,
        "ProcessScript",
        json!({"conversationId": id, "commands": ["00A4040007F0A1A1A1A10101"]}),
    )
    .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("malformedRequest")),
        "{r}"
    );

    // Activate, then delete.
    let (s, r) = call(&tsm, &sp, "ActivateService", svc(&sp)).await;
    assert_eq!((s, r["state"].as_str()), (200, Some("ACTIVE")), "{r}");
    assert_eq!(card_app(&APP).unwrap().life_cycle, 0x07, "SELECTABLE");
    let (s, r) = call(&tsm, &sp, "DeleteService", svc(&sp)).await;
    assert_eq!(s, 200, "{r}");
    assert!(card_app(&APP).is_none(), "instance deleted");
    assert!(card_app(&ssd).is_some(), "the SP's SSD stays");

    // The audit log holds every command as sent over the air: RAM needs no SELECT and no
    // GP secure channel handshake.
    let audit = store.audit(AuditFilter::default()).await.unwrap();
    assert!(audit.len() >= 8, "{}", audit.len());
    for e in &audit {
        assert_ne!(e.command.get(1), Some(&0xA4), "no SELECT over RAM");
        assert_ne!(
            e.command.get(1),
            Some(&0x50),
            "no INITIALIZE UPDATE over RAM"
        );
    }
    // Every command is recorded; the one the card never reached has no response.
    let unanswered: Vec<_> = audit.iter().filter(|e| e.response.is_empty()).collect();
    assert_eq!(unanswered.len(), 1, "{unanswered:?}");
    assert_eq!(unanswered[0].command, hex::decode("80CA006600").unwrap());

    // An SE whose card the OTA platform has no keys for: the first command cannot be sent,
    // the flow stops with 503 and says why; nothing is queued.
    let mut lost = se.clone();
    lost.se_id = "se-lost".into();
    lost.link = "ota:491700000099".into();
    tsm.register_se(
        lost,
        Some(test_keys()),
        vec!["+491700000099".into()],
        vec![SdRegistration {
            aid: GP_ISD_AID.to_vec(),
            kind: SdKind::Isd,
            sp_id: None,
            keys: Some(test_keys()),
        }],
    )
    .await
    .unwrap();
    let body = json!({"msi": "+491700000099", "serviceId": "bank-pay", "serviceQualifier": "main"});
    let (s, r) = call(&tsm, &sp, "PrePersonalize", body).await;
    assert_eq!((s, r["code"].as_str()), (503, Some("seUnreachable")), "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("491700000099"),
        "{r}"
    );
    assert!(store.pending("se-lost").await.unwrap().is_empty());

    // An MNO whose bearer is SCP81: not implemented, refused with 501 and nothing queued.
    store
        .put_mno(Mno {
            id: "mno-sms".into(),
            name: "SMS operator".into(),
            bearer: Bearer::Scp81Https,
        })
        .await
        .unwrap();
    let (s, r) = call(&tsm, &sp, "PrePersonalize", svc(&sp)).await;
    assert_eq!((s, r["code"].as_str()), (501, Some("notSupported")), "{r}");
    assert!(store.pending("se-ota").await.unwrap().is_empty());
    modem.abort();
}
