//! Fixtures shared by the TSM's integration tests: the in-process virtual card with the
//! generic applet package preloaded, key sets, catalogue entries, a card transport, and a
//! connector over shared cards that can be taken offline.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use apdu::{CardTransport, Command, Response};
use card::gp::native::{GENERIC_MODULE_AID, GENERIC_PACKAGE_AID};
use card::gp::registry::AppRecord;
use card::routing::GP_ISD_AID;
use card::testing::SeededRng;
use card::{Card, CardState, Protocol};
use tsm::api::Step;
use tsm::engine::{
    self, AuditContext, PrePersonalization, Recorder, ScriptTarget, SdAccess, SeChannel,
};
use tsm::model::{AuditEntry, CatalogueEntry, KeySetRecord, Se};
use tsm::service::SeConnector;
use zeroize::Zeroizing;

pub const SSD_A: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x53, 0x0A];
pub const SSD_B: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x53, 0x0B];
pub const APP_A: [u8; 7] = [0xF0, 0xA1, 0xA1, 0xA1, 0xA1, 0x01, 0x01];
pub const APP_B: [u8; 7] = [0xF0, 0xB2, 0xB2, 0xB2, 0xB2, 0x01, 0x01];
/// Size of the preloaded generic package (its Load File Data Block).
pub const PACKAGE_SIZE: u32 = 2000;
/// What the card counts for each registry entry besides its memory (card::gp::APP_OVERHEAD).
pub const OVERHEAD: u32 = card::gp::APP_OVERHEAD;

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

pub const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{REF}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A virtual card (the SGP.26 test eUICC identity; its GP container is what matters here)
/// with the generic applet package preloaded, associated with the ISD.
pub fn new_card(nv_budget: Option<u32>) -> Card {
    let pem = String::from_utf8(read("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap();
    let sk = pki::PrivateKey::from_pem(&pem).unwrap();
    let ci = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let identity = card::CardIdentity::new(
        &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
        sk,
        &[&ci],
    )
    .unwrap();
    let mut state = CardState::new();
    state
        .gp
        .load_files
        .push(card::testing::preloaded_generic_package(PACKAGE_SIZE));
    if let Some(b) = nv_budget {
        state.gp.config.nv_budget = b;
    }
    Card::new(
        identity,
        state,
        Box::new(SeededRng::new(b"tsm engine card")),
    )
}

/// The card over one interface.
pub struct OnCard<'c>(pub &'c mut Card, pub Protocol);

impl CardTransport for OnCard<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        Ok(self.0.process_on(self.1, apdu))
    }
}

pub fn key_set(scp: u8, kvn: u8, enc: &[u8], mac: &[u8], dek: &[u8]) -> KeySetRecord {
    KeySetRecord {
        scp,
        kvn,
        enc: Zeroizing::new(enc.to_vec()),
        mac: Zeroizing::new(mac.to_vec()),
        dek: Zeroizing::new(dek.to_vec()),
    }
}

/// The GP test keys 40..4F (KVN '30', AES): the card's ISD keys and its SSDs' initial keys.
pub fn test_keys() -> KeySetRecord {
    let k = h("404142434445464748494A4B4C4D4E4F");
    key_set(3, 0x30, &k, &k, &k)
}

pub fn isd() -> SdAccess {
    SdAccess {
        aid: GP_ISD_AID.to_vec(),
        keys: test_keys(),
    }
}

/// SP A's temporary SSD keys: AES-128, KVN '30' (SCP03).
pub fn keys_a() -> KeySetRecord {
    key_set(
        3,
        0x30,
        &h("A1A2A3A4A5A6A7A8A9AAABACADAEAFA0"),
        &h("B1B2B3B4B5B6B7B8B9BABBBCBDBEBFB0"),
        &h("C1C2C3C4C5C6C7C8C9CACBCCCDCECFC0"),
    )
}

/// SP B's temporary SSD keys: 3DES, KVN '20' (SCP02).
pub fn keys_b() -> KeySetRecord {
    key_set(
        2,
        0x20,
        &h("1011121314151617 18191A1B1C1D1E1F"),
        &h("2021222324252627 28292A2B2C2D2E2F"),
        &h("3031323334353637 38393A3B3C3D3E3F"),
    )
}

pub fn service(sp: &str, instance: &[u8], version: &str, c9: &[u8], memory: u32) -> CatalogueEntry {
    CatalogueEntry {
        sp_id: sp.into(),
        service_id: format!("{sp}-pay"),
        version: version.into(),
        package_aid: GENERIC_PACKAGE_AID.to_vec(),
        module_aid: GENERIC_MODULE_AID.to_vec(),
        instance_aid: instance.to_vec(),
        memory,
        privileges: vec![0x00],
        install_params: c9.to_vec(),
    }
}

/// Runs `f` with a recorder over the card (SWP: the interface the GP ISD is paired with).
pub fn on<T>(card: &mut Card, f: impl FnOnce(&mut Recorder<'_>) -> T) -> (T, Vec<AuditEntry>) {
    on_protocol(card, Protocol::SwpTypeA, f)
}

pub fn on_protocol<T>(
    card: &mut Card,
    protocol: Protocol,
    f: impl FnOnce(&mut Recorder<'_>) -> T,
) -> (T, Vec<AuditEntry>) {
    let mut t = OnCard(card, protocol);
    let ctx = AuditContext {
        se_id: "se-1".into(),
        sp_id: Some("sp".into()),
        conversation_id: None,
        operation: "Test".into(),
        now: 1_700_000_000_000,
    };
    let mut rec = Recorder::new(&mut t, ctx);
    let out = f(&mut rec);
    (out, rec.into_entries())
}

pub fn rng() -> SeededRng {
    SeededRng::new(b"tsm engine host")
}

pub fn app(card: &Card, aid: &[u8]) -> Option<AppRecord> {
    card.state().gp.app(aid).cloned()
}

pub fn names(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| format!("{}:{}", s.name, s.outcome))
        .collect()
}

pub fn pre_personalize(
    card: &mut Card,
    ssd: &[u8],
    keys: &KeySetRecord,
    svc: &CatalogueEntry,
) -> engine::FlowReport {
    let manager = isd();
    let initial = test_keys();
    let plan = PrePersonalization {
        manager: &manager,
        ssd_aid: ssd,
        create_ssd: true,
        ssd_initial_keys: &initial,
        ssd_keys: keys,
        service: svc,
    };
    on(card, |rec| engine::pre_personalize(rec, &plan, &mut rng())).0
}

pub fn script(
    card: &mut Card,
    target: ScriptTarget<'_>,
    cmds: &[Command],
) -> tsm::Result<tsm::api::ProcessScriptResponse> {
    on(card, |rec| {
        engine::process_script(rec, target, cmds, &mut rng())
    })
    .0
}

/// INSTALL [for personalization] of `aid` and one STORE DATA block (BER-TLV, last).
pub fn perso_commands(aid: &[u8], tlv: &[u8]) -> Vec<Command> {
    let install = gp::commands::Install::ForPersonalization {
        application_aid: aid.to_vec(),
    }
    .command()
    .unwrap();
    // STORE DATA P1 '90': last block, BER-TLV (GP CS v2.3.1 Table 11-89).
    let store = Command::with_data(0x80, 0xE2, 0x90, 0x00, tlv.to_vec());
    vec![install, store]
}

/// SELECT of an application by AID on the contact interface, as a terminal would.
pub fn select_t0(card: &mut Card, aid: &[u8]) -> Response {
    let cmd = apdu::select_command(0, aid).unwrap();
    Response::parse(&card.process_on(Protocol::T0, &cmd.encode().unwrap())).unwrap()
}

pub const LABEL_A: &str = "50 05 42414E4B41"; // '50' Application Label "BANKA"
pub const LABEL_B: &str = "50 07 5452414E534954"; // "TRANSIT"

/// A virtual card shared between the test and the TSM, reachable while `online`.
#[derive(Clone)]
pub struct SharedCard {
    pub card: Arc<Mutex<Card>>,
    pub online: Arc<AtomicBool>,
}

impl SharedCard {
    pub fn new(card: Card) -> SharedCard {
        SharedCard {
            card: Arc::new(Mutex::new(card)),
            online: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn set_online(&self, on: bool) {
        self.online.store(on, Ordering::SeqCst);
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Card) -> T) -> T {
        f(&mut self.card.lock().unwrap())
    }
}

/// The shared card over SWP (the interface paired with the GP container).
struct SharedTransport(Arc<Mutex<Card>>);

impl CardTransport for SharedTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        Ok(self.0.lock().unwrap().process_on(Protocol::SwpTypeA, apdu))
    }
}

/// Connects SEs by their `link` to shared virtual cards.
#[derive(Default)]
pub struct Cards(pub Mutex<HashMap<String, SharedCard>>);

impl Cards {
    pub fn add(&self, link: &str, card: SharedCard) {
        self.0.lock().unwrap().insert(link.to_string(), card);
    }
}

impl SeConnector for Cards {
    fn connect(&self, se: &Se) -> tsm::Result<Option<SeChannel>> {
        let cards = self.0.lock().unwrap();
        Ok(cards
            .get(&se.link)
            .filter(|c| c.online.load(Ordering::SeqCst))
            .map(|c| SeChannel::Direct(Box::new(SharedTransport(c.card.clone())))))
    }
}
