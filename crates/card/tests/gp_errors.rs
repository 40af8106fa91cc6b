//! GlobalPlatform bad-input cases, each with its status word, and "nothing half done": the
//! container's state is compared before and after every refused command.

mod gp_common;

use apdu::{Command, StatusWord};
use card::gp::GpState;
use card::{CardState, Protocol};
use gp::commands::{self, Install};
use gp::SecurityLevel;
use gp_common::*;

const APP_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];

/// The GP state without the things a refused command may legitimately change (the key sets'
/// sequence and try counters).
fn content(state: &GpState) -> GpState {
    let mut s = state.clone();
    s.isd_keys = card::gp::default_isd_keys();
    for a in &mut s.apps {
        if let Some(sd) = a.sd.as_mut() {
            sd.keys = card::gp::default_isd_keys();
        }
    }
    s
}

#[test]
fn wrong_host_cryptogram_then_blocked_key_set() {
    let mut card = new_card(CardState::new());
    let tries = card.state().gp.config.auth_tries;
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    for left in (0..tries).rev() {
        let (hs, rsp) = host.initialize_update(test_keys(), None).unwrap();
        let (_, mut ext, _) = hs.authenticate(&rsp, SecurityLevel::C_MAC).unwrap();
        ext.data[0] ^= 0x01; // host cryptogram
        assert_eq!(host.raw(&ext).sw, StatusWord::WARNING_NVM_CHANGED, "6300");
        let set = &host.card.state().gp.isd_keys.sets[0];
        assert_eq!(set.tries_left, left);
    }
    // Blocked: INITIALIZE UPDATE with this key set answers 6983, even with the right keys.
    assert_eq!(
        host.open(test_keys(), SecurityLevel::C_MAC),
        Err(StatusWord::AUTH_METHOD_BLOCKED)
    );
    // The block persists across a power cycle.
    host.card.power_off();
    host.select(&GP_ISD_AID);
    assert_eq!(
        host.open(test_keys(), SecurityLevel::C_MAC),
        Err(StatusWord::AUTH_METHOD_BLOCKED)
    );
}

#[test]
fn a_successful_authentication_restores_the_tries() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    let (hs, rsp) = host.initialize_update(test_keys(), None).unwrap();
    let (_, mut ext, _) = hs.authenticate(&rsp, SecurityLevel::C_MAC).unwrap();
    let n = ext.data.len();
    ext.data[n - 1] ^= 0x01; // the C-MAC of EXTERNAL AUTHENTICATE
    assert_eq!(host.raw(&ext).sw, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    let max = host.card.state().gp.config.auth_tries;
    assert_eq!(host.card.state().gp.isd_keys.sets[0].tries_left, max - 1);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    assert_eq!(host.card.state().gp.isd_keys.sets[0].tries_left, max);
    // EXTERNAL AUTHENTICATE without INITIALIZE UPDATE: 6985.
    let (hs, rsp) = host.initialize_update(test_keys(), None).unwrap();
    let (_, ext, _) = hs.authenticate(&rsp, SecurityLevel::C_MAC).unwrap();
    assert_eq!(host.raw(&ext).sw, StatusWord::OK);
    assert_eq!(host.raw(&ext).sw, StatusWord::CONDITIONS_NOT_SATISFIED);
    // Unknown KVN: 6A88.
    host.select(&GP_ISD_AID);
    assert_eq!(
        host.open_with(test_keys(), Some(0x55), SecurityLevel::C_MAC),
        Err(StatusWord::REFERENCED_DATA_NOT_FOUND)
    );
}

#[test]
fn mac_failure_closes_the_session() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let cmd = commands::GetStatus::all(commands::StatusSubset::Isd).command();
    assert_eq!(host.sw(&cmd), StatusWord::OK);
    // A corrupted C-MAC: 6982 ...
    let mut wrapped = host.session.as_mut().unwrap().wrap_command(&cmd).unwrap();
    let n = wrapped.data.len();
    wrapped.data[n - 1] ^= 0x80;
    assert_eq!(
        host.raw(&wrapped).sw,
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // ... and the session is over: the next correctly wrapped command is refused too, as is
    // the command without secure messaging.
    assert_eq!(host.sw(&cmd), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    host.session = None;
    assert_eq!(host.sw(&cmd), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    // A new session works.
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    assert_eq!(host.sw(&cmd), StatusWord::OK);
    // SELECT ends the session as well.
    host.select(&GP_ISD_AID);
    assert_eq!(host.sw(&cmd), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn commands_below_their_security_level() {
    let mut card = new_card(CardState::new());
    let before = card.state().gp.clone();
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    let lfdb = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    // No session at all.
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &lfdb, &[], 200),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // An authenticated session without secure messaging (level '00').
    host.open(test_keys(), SecurityLevel::NO_SECURE_MESSAGING)
        .unwrap();
    for cmd in [
        Install::ForPersonalization {
            application_aid: APP_AID.to_vec(),
        }
        .command()
        .unwrap(),
        delete(&APP_AID, false),
        set_status(0x80, 0x7F, &[]),
        commands::GetStatus::all(commands::StatusSubset::Isd).command(),
        Command::with_data(0x80, 0xE2, 0x90, 0x00, hex("4201AA")),
    ] {
        assert_eq!(
            host.sw(&cmd),
            StatusWord::SECURITY_STATUS_NOT_SATISFIED,
            "{cmd:?}"
        );
    }
    // GET DATA needs no secure channel.
    assert_eq!(host.sw(&commands::get_data_command(0x0066)), StatusWord::OK);
    assert_eq!(content(&host.card.state().gp), content(&before));
}

#[test]
fn malformed_data_is_6a80_and_changes_nothing() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::Spi);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let lfdb = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &lfdb, &[], 200),
        StatusWord::OK
    );
    let before = content(&host.card.state().gp);
    let cases: Vec<(Command, StatusWord)> = vec![
        // DELETE with a truncated '4F'.
        (
            Command::with_data(0x80, 0xE4, 0x00, 0x00, hex("4F 08 A000")),
            StatusWord::INCORRECT_DATA,
        ),
        // INSTALL [for install]: LV fields running past the data.
        (
            Command::with_data(0x80, 0xE6, 0x0C, 0x00, hex("08 F053494D4B495402 09")),
            StatusWord::INCORRECT_DATA,
        ),
        // Install parameters without 'C9'.
        (
            Install::ForInstall {
                make_selectable: true,
                load_file_aid: GENERIC_PACKAGE_AID.to_vec(),
                module_aid: GENERIC_MODULE_AID.to_vec(),
                application_aid: APP_AID.to_vec(),
                privileges: vec![0],
                parameters: hex("EF 04 C8 02 0100"),
                token: Vec::new(),
            }
            .command()
            .unwrap(),
            StatusWord::INCORRECT_DATA,
        ),
        // Malformed install parameters TLV.
        (
            Install::ForInstall {
                make_selectable: true,
                load_file_aid: GENERIC_PACKAGE_AID.to_vec(),
                module_aid: GENERIC_MODULE_AID.to_vec(),
                application_aid: APP_AID.to_vec(),
                privileges: vec![0],
                parameters: hex("C9 05 01"),
                token: Vec::new(),
            }
            .command()
            .unwrap(),
            StatusWord::INCORRECT_DATA,
        ),
        // Two-byte privileges.
        (
            Install::ForInstall {
                make_selectable: true,
                load_file_aid: GENERIC_PACKAGE_AID.to_vec(),
                module_aid: GENERIC_MODULE_AID.to_vec(),
                application_aid: APP_AID.to_vec(),
                privileges: vec![0, 0],
                parameters: hex("C9 00"),
                token: Vec::new(),
            }
            .command()
            .unwrap(),
            StatusWord::INCORRECT_DATA,
        ),
        // Unknown module: 6A88; a module of a non-native package: 6A81.
        (
            Install::ForInstall {
                make_selectable: true,
                load_file_aid: GENERIC_PACKAGE_AID.to_vec(),
                module_aid: hex("F053494D4B49540299"),
                application_aid: APP_AID.to_vec(),
                privileges: vec![0],
                parameters: hex("C9 00"),
                token: Vec::new(),
            }
            .command()
            .unwrap(),
            StatusWord::REFERENCED_DATA_NOT_FOUND,
        ),
        // LOAD without INSTALL [for load]: 6985.
        (
            Command::with_data(0x80, 0xE8, 0x80, 0x00, hex("C4 00")),
            StatusWord::CONDITIONS_NOT_SATISFIED,
        ),
    ];
    for (cmd, expected) in cases {
        assert_eq!(host.sw(&cmd), expected, "{cmd:?}");
        assert_eq!(content(&host.card.state().gp), before, "{cmd:?}");
    }
    // STORE DATA with a malformed TLV (after INSTALL [for personalization]).
    assert_eq!(
        host.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    let installed = content(&host.card.state().gp);
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    };
    assert_eq!(host.sw(&perso.command().unwrap()), StatusWord::OK);
    assert_eq!(
        host.store_data(0x10, &[&hex("50 05 AABB")]),
        StatusWord::INCORRECT_DATA
    );
    // A chain whose second block is out of sequence: 6A86, nothing stored.
    assert_eq!(
        host.sw(&Command::with_data(0x80, 0xE2, 0x10, 0x00, hex("5002"))),
        StatusWord::OK
    );
    assert_eq!(
        host.sw(&Command::with_data(0x80, 0xE2, 0x90, 0x02, hex("AABB"))),
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(content(&host.card.state().gp), installed);
    // LOAD: CAP whose Header names another package, broken component structure, wrong hash,
    // out-of-sequence block: refused, no partial load file.
    let other = cap_file(&hex("A0000000990002"), &[], 10);
    assert_eq!(
        host.load(&hex("A0000000990001"), &[], &other, &[], 200),
        StatusWord::INCORRECT_DATA
    );
    let mut broken = cap_file(&hex("A0000000990001"), &[], 10);
    broken.pop();
    assert_eq!(
        host.load(&hex("A0000000990001"), &[], &broken, &[], 200),
        StatusWord::INCORRECT_DATA
    );
    let good = cap_file(&hex("A0000000990001"), &[], 10);
    assert_eq!(
        host.load(&hex("A0000000990001"), &[], &good, &[0x11; 32], 200),
        StatusWord::INCORRECT_DATA
    );
    // A hash of no SHA length (GP CS §C.2): refused.
    assert_eq!(
        host.load(&hex("A0000000990001"), &[], &good, &[0x11; 24], 200),
        StatusWord::INCORRECT_DATA
    );
    let install = Install::ForLoad {
        load_file_aid: hex("A0000000990001"),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: Vec::new(),
        load_parameters: Vec::new(),
        load_token: Vec::new(),
    };
    assert_eq!(host.sw(&install.command().unwrap()), StatusWord::OK);
    let blocks = commands::load_commands(&[], &good, 16).unwrap();
    assert_eq!(host.sw(&blocks[0]), StatusWord::OK);
    assert_eq!(host.sw(&blocks[2]), StatusWord::INCORRECT_P1_P2);
    assert_eq!(host.sw(&blocks[1]), StatusWord::CONDITIONS_NOT_SATISFIED);
    assert_eq!(content(&host.card.state().gp), installed);
    // Deleting an object others depend on: 6985.
    assert_eq!(
        host.sw(&delete(&GENERIC_PACKAGE_AID, false)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(
        host.sw(&delete(&GP_ISD_AID, false)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(
        host.sw(&delete(&SD_PACKAGE_AID, false)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    assert_eq!(content(&host.card.state().gp), installed);
    // Secure messaging to an application is not supported (6882).
    host.select(&APP_AID);
    assert_eq!(
        host.raw(&Command::new(0x84, 0xCA, 0x00, 0x50)).sw,
        StatusWord::SECURE_MESSAGING_NOT_SUPPORTED
    );
}

#[test]
fn beyond_free_memory_is_6a84_and_changes_nothing() {
    let mut state = CardState::new();
    state.gp.config.nv_budget = 2000;
    let mut card = new_card(state);
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let before = content(&host.card.state().gp);
    // A load file larger than the budget: 6A84 during LOAD, nothing kept.
    let big = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 2500);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &big, &[], 200),
        StatusWord::NOT_ENOUGH_MEMORY
    );
    assert_eq!(content(&host.card.state().gp), before);
    // Load parameters announcing too much code: 6A84 at INSTALL [for load].
    let install = Install::ForLoad {
        load_file_aid: GENERIC_PACKAGE_AID.to_vec(),
        security_domain_aid: Vec::new(),
        load_file_data_block_hash: Vec::new(),
        load_parameters: hex("EF 04 C6 02 2000"),
        load_token: Vec::new(),
    };
    assert_eq!(
        host.sw(&install.command().unwrap()),
        StatusWord::NOT_ENOUGH_MEMORY
    );
    // A small load file fits; an instance with a large quota ('C8') does not.
    let small = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 100);
    assert_eq!(
        host.load(&GENERIC_PACKAGE_AID, &[], &small, &[], 200),
        StatusWord::OK
    );
    let loaded = content(&host.card.state().gp);
    let mut p = params(&[]);
    p.non_volatile_quota = Some(4000);
    assert_eq!(
        host.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0],
            &p,
            true
        ),
        StatusWord::NOT_ENOUGH_MEMORY
    );
    assert_eq!(content(&host.card.state().gp), loaded);
    // Installed without quota, personalization beyond the budget: 6A84.
    assert_eq!(
        host.install(
            &GENERIC_PACKAGE_AID,
            &GENERIC_MODULE_AID,
            &APP_AID,
            &[0],
            &params(&[]),
            true
        ),
        StatusWord::OK
    );
    let installed = content(&host.card.state().gp);
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    };
    assert_eq!(host.sw(&perso.command().unwrap()), StatusWord::OK);
    let mut blob = hex("DF01 82 0700");
    blob.extend(vec![0xEE; 0x700]);
    let blocks: Vec<&[u8]> = blob.chunks(200).collect();
    assert_eq!(
        host.store_data(0x10, &blocks),
        StatusWord::NOT_ENOUGH_MEMORY
    );
    assert_eq!(content(&host.card.state().gp), installed);
    // GET DATA 'FF21' reports the free memory.
    let r = host.send(&commands::get_data_command(0xFF21));
    let free = host.card.state().gp.free_memory() as u32;
    assert!(r
        .data
        .windows(6)
        .any(|w| w == [&[0x82, 0x04][..], &free.to_be_bytes()].concat()));
}

#[test]
fn sessions_are_per_logical_channel_and_interface() {
    let mut card = new_card(CardState::new());
    let mut ch0 = Host::new(&mut card, Protocol::SwpTypeA);
    ch0.select(&GP_ISD_AID);
    ch0.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let status = commands::GetStatus::all(commands::StatusSubset::Isd).command();
    assert_eq!(ch0.sw(&status), StatusWord::OK);
    // Channel 1 of the same interface: the ISD selected there has no session.
    let r = ch0.raw(&apdu::channel::open_channel_command());
    assert_eq!(r.data, [0x01]);
    let session = ch0.session.take();
    ch0.channel = 1;
    ch0.select(&GP_ISD_AID);
    assert_eq!(ch0.sw(&status), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    // Another interface neither.
    drop(ch0);
    let mut other = Host::new(&mut card, Protocol::SwpTypeB);
    other.select(&GP_ISD_AID);
    assert_eq!(other.sw(&status), StatusWord::SECURITY_STATUS_NOT_SATISFIED);
    drop(other);
    // Channel 0's session is still open.
    let mut ch0 = Host::new(&mut card, Protocol::SwpTypeA);
    ch0.session = session;
    assert_eq!(ch0.sw(&status), StatusWord::OK);
}

#[test]
fn put_key_errors_and_isd_store_data() {
    let mut card = new_card(CardState::new());
    let mut host = Host::new(&mut card, Protocol::SwpTypeA);
    host.select(&GP_ISD_AID);
    host.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let before = host.card.state().gp.clone();
    let dek = host.session.as_ref().unwrap().dek().clone();
    let mut rng = card::testing::SeededRng::new(b"put key errors");
    let k = hex("000102030405060708090A0B0C0D0E0F");
    let keys = gp::KeySet::aes(0x31, &k, &k, &k).unwrap();
    let mut data = gp::PutKeyData::for_key_set(&keys, &dek, &mut rng).unwrap();
    // Wrong KCV: 6A80.
    data.components[1].kcv[0] ^= 0xFF;
    let cmd = commands::put_key_command(0x00, 0x01, &data).unwrap();
    assert_eq!(host.sw(&cmd), StatusWord::INCORRECT_DATA);
    data.components[1].kcv[0] ^= 0xFF;
    // Replacing a KVN that does not exist: 6A88; adding an existing one: 6A80.
    let cmd = commands::put_key_command(0x45, 0x01, &data).unwrap();
    assert_eq!(host.sw(&cmd), StatusWord::REFERENCED_DATA_NOT_FOUND);
    let same = gp::PutKeyData::for_key_set(&test_keys(), &dek, &mut rng).unwrap();
    let cmd = commands::put_key_command(0x00, 0x01, &same).unwrap();
    assert_eq!(host.sw(&cmd), StatusWord::INCORRECT_DATA);
    // Truncated key data: 6A80.
    let mut raw = commands::put_key_command(0x00, 0x01, &data).unwrap();
    raw.data.truncate(10);
    assert_eq!(host.sw(&raw), StatusWord::INCORRECT_DATA);
    assert_eq!(host.card.state().gp.isd_keys, before.isd_keys);
    // Added: both key sets listed in the Key Information Template.
    let cmd = commands::put_key_command(0x00, 0x01, &data).unwrap();
    assert_eq!(host.sw(&cmd), StatusWord::OK);
    let r = host.send(&commands::get_data_command(0x00E0));
    let info = commands::parse_key_information(&r.data).unwrap();
    assert_eq!(info.len(), 6);
    assert_eq!(info[3].kvn, 0x31);
    // STORE DATA to the ISD itself: IIN and CIN (BER-TLV), then GET DATA.
    assert_eq!(
        host.store_data(0x10, &[&hex("42 03 123456 45 02 ABCD")]),
        StatusWord::OK
    );
    let r = host.send(&commands::get_data_command(0x0042));
    assert_eq!(r.data, hex("42 03 123456"));
    assert_eq!(
        host.store_data(0x10, &[&hex("5F20 01 00")]),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
}
