//! SCP03 host ↔ card round trips in modes the pySim vectors do not cover (S16, random
//! challenges, logical channels, diversified keys). Not known-answer tests.

mod common;

use apdu::{Command, Response};
use common::{h, CountingRng};
use gp::*;

fn keys(len: usize) -> KeySet {
    let k: Vec<u8> = (0..len as u8).collect();
    KeySet::aes(0x30, &k, &k, &k).unwrap()
}

fn run(i: u8, level: SecurityLevel, key_len: usize, channel: u8) {
    let mut rng = CountingRng(i ^ level.p1());
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: *b"KDD-012345",
        scp: Scp::scp03(i).unwrap(),
    };
    let mut counter = SequenceCounter::scp03(5).unwrap();
    let s16 = i & 0x01 != 0;
    let hs = HostHandshake::random(keys(key_len), s16, &mut rng)
        .unwrap()
        .channel(channel)
        .unwrap();
    let iu_cmd = hs.initialize_update();
    assert_eq!(apdu::channel_of(iu_cmd.cla), Some(channel));
    let req = InitializeUpdate::parse(&iu_cmd).unwrap();
    let (card_hs, iu) =
        CardHandshake::initialize_update(&req, &keys(key_len), &mut counter, &config, &mut rng)
            .unwrap();
    let expected_len = 10 + 3 + if s16 { 32 } else { 16 } + if i & 0x10 != 0 { 3 } else { 0 };
    assert_eq!(iu.data.len(), expected_len);
    let (mut host, ext_auth, parsed) = hs.authenticate(&iu, level).unwrap();
    assert_eq!(parsed.encode(), iu.data);
    let (mut card, _) = card_hs
        .external_authenticate(&ext_auth, &mut counter)
        .unwrap();
    for plain in [
        "80F22002",
        "80ca006600",
        "80E60C0010000102030405060708090A0B0C0D0E0F",
        "80f28002024f0000",
    ] {
        let mut plain = Command::parse(&h(plain)).unwrap();
        plain.cla = apdu::with_channel(plain.cla, channel).unwrap();
        let wire = host.wrap_command(&plain).unwrap();
        assert_eq!(card.unwrap_command(&wire).unwrap(), plain);
        for rsp in [Response::ok(vec![0x9F, 0x70, 0x01]), Response::ok(vec![])] {
            let wire = card.wrap_response(&rsp).unwrap();
            assert_eq!(host.unwrap_response(&wire).unwrap(), rsp);
        }
    }
}

#[test]
fn all_levels_s8_s16_random_and_pseudo_random() {
    for i in [0x00, 0x10, 0x20, 0x30, 0x60, 0x70, 0x71, 0x61] {
        for level in [
            SecurityLevel::NO_SECURE_MESSAGING,
            SecurityLevel::C_MAC,
            SecurityLevel::C_DEC_C_MAC,
            SecurityLevel::C_MAC_R_MAC,
            SecurityLevel::C_DEC_C_MAC_R_MAC,
            SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC,
        ] {
            if !Scp03Params(i).allows(level) {
                continue;
            }
            for key_len in [16, 24, 32] {
                run(i, level, key_len, 0);
            }
        }
    }
}

#[test]
fn logical_channels() {
    for ch in [1, 3, 4, 19] {
        run(0x70, SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC, 16, ch);
    }
}

#[test]
fn diversified_host_against_card_with_card_keys() {
    let mut rng = CountingRng(9);
    let master = keys(16);
    let kdd = *b"0123456789";
    let card_keys = Diversification::Kdf3.apply(&master, &kdd).unwrap();
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd,
        scp: Scp::scp03(0x70).unwrap(),
    };
    let mut counter = SequenceCounter::scp03(0).unwrap();
    let hs = HostHandshake::random(master.clone(), false, &mut rng)
        .unwrap()
        .diversification(Diversification::Kdf3);
    let req = InitializeUpdate::parse(&hs.initialize_update()).unwrap();
    let (card_hs, iu) =
        CardHandshake::initialize_update(&req, &card_keys, &mut counter, &config, &mut rng)
            .unwrap();
    let (_, ext_auth, _) = hs.clone().authenticate(&iu, SecurityLevel::C_MAC).unwrap();
    card_hs
        .external_authenticate(&ext_auth, &mut counter)
        .unwrap();
    // Without diversification the card cryptogram does not verify.
    let hs = HostHandshake::new(master, hs.host_challenge()).unwrap();
    assert_eq!(
        hs.authenticate(&iu, SecurityLevel::C_MAC).unwrap_err(),
        GpError::CardCryptogram
    );
}

#[test]
fn level_not_allowed_by_i_is_refused() {
    let mut rng = CountingRng(1);
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp03(0x10).unwrap(),
    };
    let mut counter = SequenceCounter::scp03(0).unwrap();
    let hs = HostHandshake::random(keys(16), false, &mut rng).unwrap();
    let req = InitializeUpdate::parse(&hs.initialize_update()).unwrap();
    let (_, iu) =
        CardHandshake::initialize_update(&req, &keys(16), &mut counter, &config, &mut rng).unwrap();
    let e = hs
        .authenticate(&iu, SecurityLevel::C_MAC_R_MAC)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6A86);
    assert!(Scp::scp03(0x40).is_err());
    assert!(Scp::scp03(0x80).is_err());
    assert!(Scp::scp02(0x0A).is_err());
}

#[test]
fn bad_initialize_update_input() {
    // Host challenge of 7 bytes: 6700.
    let c = Command::parse(&h("80503000070102030405060700")).unwrap();
    assert_eq!(
        InitializeUpdate::parse(&c).unwrap_err().status_word().0,
        0x6700
    );
    // S16 card, S8 host challenge.
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp03(0x71).unwrap(),
    };
    let c = Command::parse(&h("8050300008010203040506070800")).unwrap();
    let req = InitializeUpdate::parse(&c).unwrap();
    let mut counter = SequenceCounter::scp03(0).unwrap();
    let e = CardHandshake::initialize_update(
        &req,
        &keys(16),
        &mut counter,
        &config,
        &mut CountingRng(0),
    )
    .unwrap_err();
    assert_eq!(e.status_word().0, 0x6700);
    // DES keys for an SCP03 domain: referenced data not found.
    let des = KeySet::des(0x30, &[1; 16], &[2; 16], &[3; 16]).unwrap();
    let config = CardConfig {
        scp: Scp::scp03(0x70).unwrap(),
        ..config
    };
    let e =
        CardHandshake::initialize_update(&req, &des, &mut counter, &config, &mut CountingRng(0))
            .unwrap_err();
    assert_eq!(e.status_word().0, 0x6A88);
    // Truncated / garbage responses never panic.
    for n in 0..48 {
        let _ = InitUpdateResponse::parse(&vec![0x03; n]);
        let _ = InitUpdateResponse::parse(&vec![0x02; n]);
    }
}

#[test]
fn card_secure_channel_state_machine() {
    use apdu::StatusWord;
    let mut rng = CountingRng(4);
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp03(0x70).unwrap(),
    };
    let mut stored = SequenceCounter::scp03(0).unwrap();
    let mut sc = CardSecureChannel::new();
    // EXTERNAL AUTHENTICATE first: 6985.
    let ext = Command::parse(&h("848201001000000000000000000000000000000000")).unwrap();
    let e = sc.external_authenticate(&ext, &mut stored).unwrap_err();
    assert_eq!(e.status_word(), StatusWord::CONDITIONS_NOT_SATISFIED);
    // Unknown KVN: 6A88.
    let hs = HostHandshake::random(keys(16), false, &mut rng).unwrap();
    let e = sc
        .initialize_update(&hs.initialize_update(), |_| None, &config, &mut rng)
        .unwrap_err();
    assert_eq!(e.status_word(), StatusWord::REFERENCED_DATA_NOT_FOUND);
    // A secure messaging command without a session: 6982.
    let sm = Command::parse(&h("84F22002080102030405060708")).unwrap();
    assert_eq!(
        sc.unwrap_command(&sm).unwrap_err().status_word(),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // Full session.
    let (iu, counter) = sc
        .initialize_update(
            &hs.initialize_update(),
            |kvn| (kvn == 0x30).then(|| (keys(16), stored)),
            &config,
            &mut rng,
        )
        .unwrap();
    stored = counter;
    assert_eq!(stored.value(), 1);
    let (mut host, ext, _) = hs.authenticate(&iu, SecurityLevel::C_MAC_R_MAC).unwrap();
    sc.external_authenticate(&ext, &mut stored).unwrap();
    assert!(sc.session().is_some());
    let plain = Command::parse(&h("80F22000024F0000")).unwrap();
    let wire = host.wrap_command(&plain).unwrap();
    assert_eq!(sc.unwrap_command(&wire).unwrap(), plain);
    let rsp = sc
        .wrap_response(&apdu::Response::ok(vec![0xE3, 0x00]))
        .unwrap();
    assert_eq!(host.unwrap_response(&rsp).unwrap().data, vec![0xE3, 0x00]);
    // Replaying the same wrapped command fails the MAC chain and ends the session.
    assert!(sc.unwrap_command(&wire).is_err());
    assert!(sc.session().is_none());
}

#[test]
fn scp_oid_round_trip() {
    // '64' { '06' 2A864886FC6B040370 }: SCP03 i = '70', as crates/card's ISD advertises it.
    let scp = Scp::from_oid(&h("2A864886FC6B040370")).unwrap();
    assert_eq!(scp, Scp::scp03(0x70).unwrap());
    assert_eq!(scp.oid(), h("2A864886FC6B040370"));
    assert_eq!(
        Scp::from_oid(&h("2A864886FC6B040255")).unwrap(),
        Scp::scp02(0x55).unwrap()
    );
    assert!(Scp::from_oid(&h("2A864886FC6B0401")).is_err());
    assert!(Scp::from_oid(&h("2A864886FC6B040280")).is_err());
}
