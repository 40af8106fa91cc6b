//! Delegated Management (GP CS v2.3.1 §9.2.1.4–§9.2.1.6, Annex C.4/C.5): an SSD with the
//! Delegated Management privilege loads, installs, extradites and deletes only with card
//! issuer tokens (ECDSA P-256 / SHA-256 over `P1 P2 Lc' data'`), and the ISD (Receipt
//! Generation) returns AES-CMAC receipts the host verifies with the shared `gp::dm` code.

mod gp_common;

use apdu::{Command, StatusWord};
use card::testing::SeededRng;
use card::CardState;
use card::Protocol;
use gp::commands::{self, Install};
use gp::dm::{self, Confirmation};
use gp::{KeyType, SecurityLevel};
use gp_common::*;

const SSD_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0xDD, 0x00, 0x00, 0x01];
/// The load file: the generic native applet's package (the card runs native behaviours
/// chosen by package AID).
const PKG_AID: [u8; 8] = GENERIC_PACKAGE_AID;
const APP_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0xD1, 0x00, 0x01];
const APP2_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0xD1, 0x00, 0x02];
const RECEIPT_KEY: [u8; 16] = [0x5A; 16];

fn issuer_key() -> pki::PrivateKey {
    pki::PrivateKey::generate(pki::Curve::NistP256, &mut SeededRng::new(b"card issuer"))
}

/// A card whose ISD holds the token key and the receipt key, with a DM SSD (privileges
/// Security Domain + Delegated Management, `A0 00 00`).
fn setup(receipt: bool) -> card::Card {
    let mut card = new_card(CardState::new());
    let mut isd = Host::new(&mut card, Protocol::SwpTypeB);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let point = issuer_key().public_key().to_uncompressed();
    let data = dm::token_key_put_key_data(&point).unwrap();
    let r = isd.send(&commands::put_key_command(0x00, 0x01, &data).unwrap());
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, [0x70]);
    if receipt {
        let dek = isd.session.as_ref().unwrap().dek().clone();
        let data = dm::receipt_key_put_key_data(
            KeyType::Aes,
            &RECEIPT_KEY,
            &dek,
            &mut SeededRng::new(b"rk"),
        )
        .unwrap();
        let r = isd.send(&commands::put_key_command(0x00, 0x01, &data).unwrap());
        assert_eq!(r.sw, StatusWord::OK);
    }
    assert_eq!(
        isd.install(
            &SD_PACKAGE_AID,
            &SD_MODULE_AID,
            &SSD_AID,
            &[0xA0, 0, 0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    drop(isd);
    card
}

fn ssd_host(card: &mut card::Card) -> Host<'_> {
    let mut h = Host::new(card, Protocol::T0);
    assert_eq!(h.select(&SSD_AID).sw, StatusWord::OK);
    h.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    h
}

fn signed(mut i: Install) -> Install {
    let t = issuer_key().sign(&i.token_data(0x00).unwrap());
    i.set_token(t.to_vec());
    i
}

fn install_cmd(aid: &[u8]) -> Install {
    Install::ForInstall {
        make_selectable: true,
        load_file_aid: PKG_AID.to_vec(),
        module_aid: GENERIC_MODULE_AID.to_vec(),
        application_aid: aid.to_vec(),
        privileges: vec![0x00],
        parameters: params(&[]).encode(),
        token: Vec::new(),
    }
}

fn load_install(ssd: &mut Host) -> (Confirmation, Confirmation) {
    let (last, r) = load_install_raw(ssd);
    let load_receipt = Confirmation::parse(&last).unwrap().expect("load receipt");
    let install_receipt = Confirmation::parse(&r).unwrap().expect("install receipt");
    (load_receipt, install_receipt)
}

/// Delegated load and install; the responses to the last LOAD and to the INSTALL.
fn load_install_raw(ssd: &mut Host) -> (Vec<u8>, Vec<u8>) {
    let cap = cap_file(&PKG_AID, &[&GENERIC_MODULE_AID], 40);
    let install = signed(Install::ForLoad {
        load_file_aid: PKG_AID.to_vec(),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: sha256(&cap),
        load_parameters: Vec::new(),
        load_token: Vec::new(),
    });
    let r = ssd.send(&install.command().unwrap());
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, [0x00]);
    let mut last = Vec::new();
    for c in commands::load_commands(&[], &cap, 100).unwrap() {
        let r = ssd.send(&c);
        assert_eq!(r.sw, StatusWord::OK);
        last = r.data;
    }
    let r = ssd.send(&signed(install_cmd(&APP_AID)).command().unwrap());
    assert_eq!(r.sw, StatusWord::OK);
    (last, r.data)
}

fn registered(card: &mut card::Card, aid: &[u8]) -> Option<Vec<u8>> {
    card.state()
        .gp
        .app(aid)
        .map(|a| a.associated_sd.clone())
        .or_else(|| {
            card.state()
                .gp
                .load_file(aid)
                .map(|f| f.associated_sd.clone())
        })
}

#[test]
fn load_and_install_with_tokens_return_verifiable_receipts() {
    let mut card = setup(true);
    let mut ssd = ssd_host(&mut card);
    let (load, install) = load_install(&mut ssd);
    // Confirmation counter 1 then 2; the receipts verify over the operation's AIDs.
    assert_eq!(load.data.counter, 1);
    assert_eq!(install.data.counter, 2);
    assert_eq!(load.receipt.len(), 16);
    load.verify(KeyType::Aes, &RECEIPT_KEY, &[&PKG_AID, &SSD_AID])
        .unwrap();
    install
        .verify(KeyType::Aes, &RECEIPT_KEY, &[&PKG_AID, &APP_AID])
        .unwrap();
    // Wrong key or wrong objects: no match.
    assert!(load
        .verify(KeyType::Aes, &[0u8; 16], &[&PKG_AID, &SSD_AID])
        .is_err());
    assert!(install
        .verify(KeyType::Aes, &RECEIPT_KEY, &[&PKG_AID, &APP2_AID])
        .is_err());
    drop(ssd);
    assert_eq!(registered(&mut card, &PKG_AID), Some(SSD_AID.to_vec()));
    assert_eq!(registered(&mut card, &APP_AID), Some(SSD_AID.to_vec()));
    assert_eq!(card.state().gp.confirmation_counter, 2);
}

#[test]
fn bad_missing_or_foreign_tokens_are_refused_and_change_nothing() {
    let mut card = setup(true);
    let mut ssd = ssd_host(&mut card);
    load_install(&mut ssd);
    drop(ssd);
    let before = card.state().gp.clone();
    let mut ssd = ssd_host(&mut card);
    // Missing token.
    assert_eq!(
        ssd.sw(&install_cmd(&APP2_AID).command().unwrap()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // Corrupted token.
    let mut bad = signed(install_cmd(&APP2_AID));
    let mut t = bad.token().to_vec();
    t[10] ^= 0x01;
    bad.set_token(t);
    assert_eq!(
        ssd.sw(&bad.command().unwrap()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // A token issued for another AID.
    let other = signed(install_cmd(&APP_AID));
    let mut moved = install_cmd(&APP2_AID);
    moved.set_token(other.token().to_vec());
    assert_eq!(
        ssd.sw(&moved.command().unwrap()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // A token signed by someone else.
    let mut forged = install_cmd(&APP2_AID);
    let rogue = pki::PrivateKey::generate(pki::Curve::NistP256, &mut SeededRng::new(b"rogue"));
    forged.set_token(rogue.sign(&forged.token_data(0).unwrap()).to_vec());
    assert_eq!(
        ssd.sw(&forged.command().unwrap()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // DELETE without a Delete Token.
    assert_eq!(
        ssd.sw(&delete(&APP_AID, false)),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // Load Token of a different load file.
    let lt = signed(Install::ForLoad {
        load_file_aid: hex("A000000099D200"),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: vec![0x11; 32],
        load_parameters: Vec::new(),
        load_token: Vec::new(),
    });
    let mut wrong = Install::ForLoad {
        load_file_aid: hex("A000000099D300"),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: vec![0x11; 32],
        load_parameters: Vec::new(),
        load_token: Vec::new(),
    };
    wrong.set_token(lt.token().to_vec());
    assert_eq!(
        ssd.sw(&wrong.command().unwrap()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // A valid Load Token without the Load File Data Block Hash it must cover: 6A80.
    let no_hash = signed(Install::ForLoad {
        load_file_aid: hex("A000000099D200"),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: Vec::new(),
        load_parameters: Vec::new(),
        load_token: Vec::new(),
    });
    assert_eq!(
        ssd.sw(&no_hash.command().unwrap()),
        StatusWord::INCORRECT_DATA
    );
    drop(ssd);
    // Registry and counter unchanged (only the SSD's SCP03 sequence counter moved).
    let after = &card.state().gp;
    assert_eq!(after.apps.len(), before.apps.len());
    assert_eq!(after.load_files, before.load_files);
    assert_eq!(after.confirmation_counter, before.confirmation_counter);
    for (a, b) in after.apps.iter().zip(&before.apps) {
        assert_eq!(
            (&a.aid, a.life_cycle, &a.associated_sd),
            (&b.aid, b.life_cycle, &b.associated_sd)
        );
    }
}

fn signed_delete(aid: &[u8], related: bool) -> Command {
    let mut cmd = delete(aid, related);
    let (data, _) = dm::delete_token_data(&cmd).unwrap();
    dm::add_delete_token(&mut cmd, &issuer_key().sign(&data));
    cmd
}

#[test]
fn delete_and_extradition_with_tokens_increment_the_counter() {
    let mut card = setup(true);
    let mut ssd = ssd_host(&mut card);
    load_install(&mut ssd);
    // Extradite the app to the ISD with an Extradition Token.
    let ex = signed(Install::ForExtradition {
        security_domain_aid: GP_ISD_AID.to_vec(),
        application_aid: APP_AID.to_vec(),
        parameters: Vec::new(),
        token: Vec::new(),
    });
    let r = ssd.send(&ex.command().unwrap());
    assert_eq!(r.sw, StatusWord::OK);
    let c = Confirmation::parse(&r.data).unwrap().unwrap();
    assert_eq!(c.data.counter, 3);
    c.verify(
        KeyType::Aes,
        &RECEIPT_KEY,
        &[&SSD_AID, &APP_AID, &GP_ISD_AID],
    )
    .unwrap();
    // A Delete Token for the load file (and its, now foreign, instance is the ISD's: P2 '80'
    // would remove it too; the SSD deletes the file with related objects).
    let r = ssd.send(&signed_delete(&PKG_AID, true));
    assert_eq!(r.sw, StatusWord::OK);
    let c = Confirmation::parse(&r.data).unwrap().unwrap();
    assert_eq!(c.data.counter, 4);
    c.verify(KeyType::Aes, &RECEIPT_KEY, &[&PKG_AID]).unwrap();
    // A Delete Token for another AID does not delete this one.
    drop(ssd);
    assert_eq!(registered(&mut card, &PKG_AID), None);
    assert_eq!(registered(&mut card, &APP_AID), None);
    assert_eq!(card.state().gp.confirmation_counter, 4);
}

#[test]
fn delete_token_bound_to_its_aid() {
    let mut card = setup(true);
    let mut ssd = ssd_host(&mut card);
    load_install(&mut ssd);
    let mut cmd = delete(&APP_AID, false);
    let foreign = signed_delete(&APP2_AID, false);
    let (_, token) = dm::delete_token_data(&foreign).unwrap();
    dm::add_delete_token(&mut cmd, &token.unwrap());
    assert_eq!(ssd.sw(&cmd), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    let r = ssd.send(&signed_delete(&APP_AID, false));
    assert_eq!(r.sw, StatusWord::OK);
    drop(ssd);
    assert_eq!(registered(&mut card, &APP_AID), None);
    assert_eq!(registered(&mut card, &PKG_AID), Some(SSD_AID.to_vec()));
}

#[test]
fn without_receipt_key_the_response_is_00() {
    let mut card = setup(false);
    let mut ssd = ssd_host(&mut card);
    // The token is checked before the objects: no load file yet is 6A88.
    let r = ssd.send(&signed(install_cmd(&APP2_AID)).command().unwrap());
    assert_eq!(r.sw, StatusWord::REFERENCED_DATA_NOT_FOUND);
    let (load, install) = load_install_raw(&mut ssd);
    assert_eq!(load, [0x00]);
    assert_eq!(install, [0x00]);
    drop(ssd);
    assert_eq!(registered(&mut card, &APP_AID), Some(SSD_AID.to_vec()));
    assert_eq!(card.state().gp.confirmation_counter, 0);
}

#[test]
fn token_and_receipt_keys_only_on_the_isd() {
    let mut card = setup(true);
    let mut ssd = ssd_host(&mut card);
    let point = issuer_key().public_key().to_uncompressed();
    let data = dm::token_key_put_key_data(&point).unwrap();
    assert_eq!(
        ssd.sw(&commands::put_key_command(0x00, 0x01, &data).unwrap()),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    drop(ssd);
    let mut isd = Host::new(&mut card, Protocol::SwpTypeB);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    // Already present: P1 '00' is 6A80; replacing (P1 '70') works.
    assert_eq!(
        isd.sw(&commands::put_key_command(0x00, 0x01, &data).unwrap()),
        StatusWord::INCORRECT_DATA
    );
    assert_eq!(
        isd.sw(&commands::put_key_command(0x70, 0x01, &data).unwrap()),
        StatusWord::OK
    );
    // Not a point on P-256.
    let mut bad = data.clone();
    bad.components[0].ciphered[64] ^= 1;
    assert_eq!(
        isd.sw(&commands::put_key_command(0x70, 0x01, &bad).unwrap()),
        StatusWord::INCORRECT_DATA
    );
}
