//! SCP02 known-answer tests, host and card side.
//!
//! Vectors: osmocom pySim, `tests/unittests/test_globalplatform.py` (classes
//! `SCP02_Auth_Test` and `SCP02_Test`): key set KIC/KID/KIK '10 01 02..', '10 11 02..',
//! '10 21 02..', host challenge 40A62C37FA6304F8, the card's INITIALIZE UPDATE response
//! (KVN '70', sequence counter 0001), EXTERNAL AUTHENTICATE at C-MAC, and C-MACed case 1..4
//! APDUs. The card in that trace used a random challenge; the card side replays it through the
//! injected RNG.

mod common;

use apdu::{Command, Response, StatusWord};
use common::{h, CountingRng, FixedRng};
use gp::*;

const HOST_CHALLENGE: &str = "40A62C37FA6304F8";
const INIT_UPDATE_CMD: &str = "805020000840A62C37FA6304F800";
const INIT_UPDATE_RSP: &str = "00000000000000000000700200016B4524ABEE7CF32EA3838BC148F3";
const EXT_AUTH_CMD: &str = "8482010010BA6961667737C5BCEBECE14C7D6A4376";
const CASES: [(&str, &str); 4] = [
    ("80F22002", "84F220020814DB34FA4341DCA8"),
    ("80ca006600", "84CA00660855ED7C5FF069512B00"),
    (
        "80F220020a4f0212345c054f9f70c5",
        "84F22002124F0212345C054F9F70C58FC1B380C4228AF8",
    ),
    ("80f28002024f0000", "84F280020A4F003B95F09317DE6A4E00"),
];

fn keys(kvn: u8) -> KeySet {
    KeySet::des(
        kvn,
        &h("100102030405060708090a0b0c0d0e0f"),
        &h("101102030405060708090a0b0c0d0e0f"),
        &h("102102030405060708090a0b0c0d0e0f"),
    )
    .unwrap()
}

fn cmd(s: &str) -> Command {
    Command::parse(&h(s)).unwrap()
}

fn enc(c: &Command) -> String {
    hex::encode_upper(c.encode().unwrap())
}

#[test]
fn host_side_matches_pysim() {
    let hs = HostHandshake::new(keys(0x20), &h(HOST_CHALLENGE)).unwrap();
    assert_eq!(enc(&hs.initialize_update()), INIT_UPDATE_CMD);
    let (mut session, ext_auth, iu) = hs
        .authenticate(&Response::ok(h(INIT_UPDATE_RSP)), SecurityLevel::C_MAC)
        .unwrap();
    assert_eq!(iu.kvn, 0x70);
    assert_eq!(iu.sequence_counter.as_deref(), Some(&[0x00, 0x01][..]));
    assert_eq!(enc(&ext_auth), EXT_AUTH_CMD);
    for (plain, wrapped) in CASES {
        assert_eq!(enc(&session.wrap_command(&cmd(plain)).unwrap()), wrapped);
    }
}

#[test]
fn host_rejects_wrong_card_cryptogram() {
    // pySim SCP02_Auth_Test.test_mutual_auth_fail_card_cryptogram: last byte set to FF.
    let mut rsp = h(INIT_UPDATE_RSP);
    *rsp.last_mut().unwrap() = 0xFF;
    let hs = HostHandshake::new(keys(0x20), &h(HOST_CHALLENGE)).unwrap();
    let e = hs
        .authenticate(&Response::ok(rsp), SecurityLevel::C_MAC)
        .unwrap_err();
    assert_eq!(e, GpError::CardCryptogram);
}

fn card_session(counter: &mut SequenceCounter) -> (Session, Response) {
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp02(0x15).unwrap(),
    };
    let req = InitializeUpdate::parse(&cmd(INIT_UPDATE_CMD)).unwrap();
    assert_eq!(req.kvn, 0x20);
    // The card answered with its key set '70' (pySim's "ck_3des_70").
    let (hs, rsp) = CardHandshake::initialize_update(
        &req,
        &keys(0x70),
        counter,
        &config,
        &mut FixedRng(h("6B4524ABEE7C")),
    )
    .unwrap();
    let (session, ok) = hs
        .external_authenticate(&cmd(EXT_AUTH_CMD), counter)
        .unwrap();
    assert_eq!(ok.sw, StatusWord::OK);
    (session, rsp)
}

#[test]
fn card_side_matches_pysim() {
    let mut counter = SequenceCounter::scp02(1);
    let (mut session, rsp) = card_session(&mut counter);
    assert_eq!(hex::encode_upper(&rsp.data), INIT_UPDATE_RSP);
    // SCP02 increments the counter on successful EXTERNAL AUTHENTICATE.
    assert_eq!(counter.value(), 2);
    for (plain, wrapped) in CASES {
        assert_eq!(session.unwrap_command(&cmd(wrapped)).unwrap(), cmd(plain));
    }
}

#[test]
fn card_rejects_bad_c_mac_and_closes() {
    let mut counter = SequenceCounter::scp02(1);
    let (mut session, _) = card_session(&mut counter);
    let mut bad = h(CASES[0].1);
    let n = bad.len();
    bad[n - 1] ^= 0x80;
    let e = session
        .unwrap_command(&Command::parse(&bad).unwrap())
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6982);
    assert!(session.is_closed());
}

#[test]
fn card_refuses_host_cryptogram_and_exhausted_counter() {
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp02(0x15).unwrap(),
    };
    let req = InitializeUpdate::parse(&cmd(INIT_UPDATE_CMD)).unwrap();
    let mut counter = SequenceCounter::scp02(1);
    let (hs, _) = CardHandshake::initialize_update(
        &req,
        &keys(0x70),
        &mut counter,
        &config,
        &mut FixedRng(h("6B4524ABEE7C")),
    )
    .unwrap();
    let mut bad = h(EXT_AUTH_CMD);
    bad[6] ^= 1;
    let e = hs
        .external_authenticate(&Command::parse(&bad).unwrap(), &mut counter)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6300);
    assert_eq!(counter.value(), 1);

    let mut counter = SequenceCounter::scp02(0xFFFF);
    let e = CardHandshake::initialize_update(
        &req,
        &keys(0x70),
        &mut counter,
        &config,
        &mut FixedRng(vec![]),
    )
    .unwrap_err();
    assert_eq!(e.status_word().0, 0x6985);
}

#[test]
fn session_keys_match_globalplatformpro() {
    // GlobalPlatformPro library/src/test/java/pro/javacard/gp/test/TestPlaintextKeys.java,
    // testSessionKeys_SCP02: static keys 404142..4F, sequence counter 0000, session keys
    // identified by their 3DES KCVs.
    let k = h("404142434445464748494A4B4C4D4E4F");
    let set = KeySet::des(0x20, &k, &k, &k).unwrap();
    let sk = Scp02SessionKeys::derive(&set, [0, 0]).unwrap();
    let kcv3 = |key: SecretKey| hex::encode_upper(kcv(KeyType::Des, key.expose()).unwrap());
    assert_eq!(kcv3(sk.s_enc()), "F2DCDD");
    assert_eq!(kcv3(sk.c_mac()), "5FCC69");
    assert_eq!(kcv3(sk.r_mac()), "9F749A");
    // testKeyEncryption_SCP02: key 404142..4F under the session DEK, 3DES-ECB.
    let dek = sk.dek().unwrap();
    assert_eq!(
        hex::encode_upper(dek.encrypt(&k).unwrap()),
        "EFBEE6C6D99D7B70BDE9D7E927F020AF"
    );
}

/// Host and card in one loop at every SCP02 security level (round trip, no published vector
/// for C-DECRYPTION and R-MAC).
#[test]
fn host_card_round_trip_all_levels() {
    for (i, level) in [
        (0x15, SecurityLevel::C_MAC),
        (0x55, SecurityLevel::C_DEC_C_MAC),
        (0x35, SecurityLevel::C_MAC_R_MAC),
        (0x35, SecurityLevel::C_DEC_C_MAC_R_MAC),
        (0x15, SecurityLevel::NO_SECURE_MESSAGING),
    ] {
        let mut rng = CountingRng(i);
        let config = CardConfig {
            aid: h("A000000151000000"),
            kdd: *b"0123456789",
            scp: Scp::scp02(i).unwrap(),
        };
        let mut counter = SequenceCounter::scp02(0x41);
        let hs = HostHandshake::random(keys(0x21), false, &mut rng)
            .unwrap()
            .scp02_i(i)
            .unwrap();
        let req = InitializeUpdate::parse(&hs.initialize_update()).unwrap();
        let (card_hs, iu) =
            CardHandshake::initialize_update(&req, &keys(0x21), &mut counter, &config, &mut rng)
                .unwrap();
        let (mut host, ext_auth, _) = hs.authenticate(&iu, level).unwrap();
        let (mut card, _) = card_hs
            .external_authenticate(&ext_auth, &mut counter)
            .unwrap();
        for plain in [
            "80F22002",
            "80ca006600",
            "80E60C0003010203",
            "80f28002024f0000",
        ] {
            let plain = cmd(plain);
            let wire = host.wrap_command(&plain).unwrap();
            assert_eq!(card.unwrap_command(&wire).unwrap(), plain);
            let rsp = Response::ok(vec![0x9F, 0x70, 0x01, 0x07]);
            let wire = card.wrap_response(&rsp).unwrap();
            assert_eq!(host.unwrap_response(&wire).unwrap(), rsp);
        }
        assert_eq!(counter.value(), 0x42);
    }
}

/// A hardware-captured SCP02 i=55 handshake: an NXP JCOP 4 P71 (J3R150) driven by
/// GlobalPlatformPro v25.10.20 (`gp -l -d`), as published in a public SCP02 test suite
/// (`hardware_vector_jcop_p71_scp02`). The card sent the card cryptogram below in its
/// INITIALIZE UPDATE response (sequence counter 001C, card challenge 3A58BF1253D5) and accepted
/// the EXTERNAL AUTHENTICATE with 9000.
#[test]
fn jcop_capture_cryptograms_and_external_authenticate() {
    let keys = KeySet::des(
        0x01,
        &h("90379A3E7116D455E55F9398736A01CA"),
        &h("473F36161A7F7F60CC3A766EA4BE5247"),
        &h("D3749ED4FF42FD58B39EEB562B017CD9"),
    )
    .unwrap();
    let host = h("2572AE5C04A7C329");
    let seq = [0x00, 0x1C];
    let card = h("3A58BF1253D5");
    let session = Scp02SessionKeys::derive(&keys, seq).unwrap();
    assert_eq!(
        hex::encode_upper(session.card_cryptogram(&host, seq, &card).unwrap()),
        "BC5D5979580A581F"
    );
    assert_eq!(
        hex::encode_upper(session.host_cryptogram(&host, seq, &card).unwrap()),
        "079F403962F6CA28"
    );

    // The same exchange through the host handshake: INITIALIZE UPDATE response =
    // key diversification data (10) || key info (KVN 01, SCP 02) || seq || card challenge ||
    // card cryptogram.
    let mut rsp = vec![0u8; 10];
    rsp.extend_from_slice(&[0x01, 0x02]);
    rsp.extend_from_slice(&seq);
    rsp.extend_from_slice(&card);
    rsp.extend_from_slice(&h("BC5D5979580A581F"));
    rsp.extend_from_slice(&[0x90, 0x00]);
    let handshake = HostHandshake::new(keys, &host)
        .unwrap()
        .scp02_i(0x55)
        .unwrap();
    let (_, ext_auth, _) = handshake
        .authenticate(&Response::parse(&rsp).unwrap(), SecurityLevel::C_MAC)
        .unwrap();
    assert_eq!(
        hex::encode_upper(ext_auth.encode().unwrap()),
        "8482010010079F403962F6CA28D06BD84078D9E3C2"
    );
}
