//! SCP03 known-answer tests, host and card side.
//!
//! Vectors: osmocom pySim, `tests/unittests/test_globalplatform.py` (classes
//! `SCP03_Test_AES{128,192,256}_{11,03,33}` and `SCP03_KCV_Test`). The pySim test runs its
//! steps in order on one session object, so MAC chaining and the encryption counter carry
//! from the EXTERNAL AUTHENTICATE through GET EID to the case 1..4 APDUs; we replay the same
//! order. The card challenges are pseudo-random (i = '70'); they reproduce with the ISD-R AID
//! A0000005591010FFFFFFFF8900000100 and the sequence counter the response reports
//! (Amd D §6.2.2.1), so the card side regenerates each INITIALIZE UPDATE response exactly.

mod common;

use apdu::{Command, Response, StatusWord};
use common::{h, FixedRng};
use gp::*;

const ISD_R_AID: &str = "A0000005591010FFFFFFFF8900000100";
const GET_EID_CMD_PLAIN: &str = "80E2910006BF3E035C015A00";
const GET_EID_RSP_PLAIN: &str = "bf3e125a1089882119900000000000000000000005";
const CASES_PLAIN: [&str; 4] = [
    "80F22002",
    "80ca006600",
    "80F220020a4f0212345c054f9f70c5",
    "80f28002024f0000",
];

struct Vector {
    keys: fn() -> KeySet,
    init_upd_cmd: &'static str,
    init_upd_rsp: &'static str,
    ext_auth_cmd: &'static str,
    get_eid_cmd: &'static str,
    get_eid_rsp: &'static str,
    cases: [&'static str; 4],
}

fn aes128() -> KeySet {
    KeySet::aes(
        0x30,
        &h("000102030405060708090a0b0c0d0e0f"),
        &h("101112131415161718191a1b1c1d1e1f"),
        &h("202122232425262728292a2b2c2d2e2f"),
    )
    .unwrap()
}

fn aes192() -> KeySet {
    KeySet::aes(
        0x31,
        &h("000102030405060708090a0b0c0d0e0f0001020304050607"),
        &h("101112131415161718191a1b1c1d1e1f1011121314151617"),
        &h("202122232425262728292a2b2c2d2e2f2021222324252627"),
    )
    .unwrap()
}

fn aes256() -> KeySet {
    KeySet::aes(
        0x32,
        &h("000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f"),
        &h("101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f"),
        &h("202122232425262728292a2b2c2d2e2f202122232425262728292a2b2c2d2e2f"),
    )
    .unwrap()
}

const VECTORS: [Vector; 9] = [
    // SCP03_Test_AES128_11
    Vector {
        keys: aes128,
        init_upd_cmd: "8050300008b13e5f938fc108c400",
        init_upd_rsp: "000000000000000000003003703eb51047495b249f66c484c1d2ef1948000002",
        ext_auth_cmd: "84821100107d5f5826a993ebc89eea24957fa0b3ce",
        get_eid_cmd: "84e291000ebf3e035c015a558d036518a2829700",
        get_eid_rsp: "bf3e125a1089882119900000000000000000000005971be68992dbbdfa",
        cases: [
            "84f220020863a63f8959827fb2",
            "84ca006608a0c6a4a74166f7ce00",
            "84f22002124f0212345c054f9f70c52249b50272656536",
            "84f280020a4f00e91443f6dce6b8ed00",
        ],
    },
    // SCP03_Test_AES128_03
    Vector {
        keys: aes128,
        init_upd_cmd: "80503000088e1552d0513c60f300",
        init_upd_rsp: "0000000000000000000030037030760cd2c47c1dd395065fe5ead8a9d7000001",
        ext_auth_cmd: "8482030010fd4721a14d9b07003c451d2f8ae6bb21",
        get_eid_cmd: "84e2910018ca9c00f6713d79bc8baa642bdff51c3f6a4082d3bd9ad26c00",
        get_eid_rsp: "bf3e125a1089882119900000000000000000000005",
        cases: [
            "84f2200208c9811b11f1264cf1",
            "84ca006608e10ab60b3054798800",
            "84f22002184e2908bdb48b2315a55482e9e936ca122d6ecfae7d17416e",
            "84f28002180dd10a6b6193e5340b9e77d32d5a179cd710ac2773aefb2800",
        ],
    },
    // SCP03_Test_AES128_33
    Vector {
        keys: aes128,
        init_upd_cmd: "8050300008fdf38259a1e0de4400",
        init_upd_rsp: "000000000000000000003003703b1aca81e821f219081cdc01c26b372d000003",
        ext_auth_cmd: "84823300108c36f96bcc00724a4e13ad591d7da3f0",
        get_eid_cmd: "84e2910018267a85dfe4a98fca6fb0527e0dfecce4914e40401433c87f00",
        get_eid_rsp:
            "f3ba2b1013aa6224f5e1c138d71805c569e5439b47576260b75fc021b25097cb2e68f8a0144975b9",
        cases: [
            "84f2200208ac6a59024bed84cc",
            "84ca006608409912ad8fb7aed000",
            "84f22002185f3dafc3ac14c381536a488bf44e06d056df9d74dbd21e5a",
            "84f280021865165105be3373347d0424d4400af2ac393f569ec779389e00",
        ],
    },
    // SCP03_Test_AES192_11
    Vector {
        keys: aes192,
        init_upd_cmd: "80503100087396430b768b085b00",
        init_upd_rsp: "000000000000000000003103708cfc23522ffdbf1e5df5542cac8fd866000003",
        ext_auth_cmd: "84821100102145ed30b146f5db252fb7e624cec244",
        get_eid_cmd: "84e291000ebf3e035c015aff42cf801d14394400",
        get_eid_rsp: "bf3e125a1089882119900000000000000000000005162fbd33e04940a9",
        cases: [
            "84f22002084584e4f6784811ee",
            "84ca006608937776ebe190fa3000",
            "84f22002124f0212345c054f9f70c59a52bddf3040368c",
            "84f280020a4f009804b11411f7393d00",
        ],
    },
    // SCP03_Test_AES192_03
    Vector {
        keys: aes192,
        init_upd_cmd: "805031000869c65da8202bf19f00",
        init_upd_rsp: "00000000000000000000310370b570a67be38446717729d6dd3d2ec5b1000001",
        ext_auth_cmd: "848203001065df4f1a356a887905466516d9e5b7c1",
        get_eid_cmd: "84e2910018d2c6fb477c5d4afe4fd4d21f17eff10d3578ec1774a12a2d00",
        get_eid_rsp: "bf3e125a1089882119900000000000000000000005",
        cases: [
            "84f2200208964e188f0b1bb697",
            "84ca006608f0820035a41d3e1800",
            "84f220021806b076ed452cd1fa84f77f5c08a146aa77a9286757dea791",
            "84f2800218d06527e39222dce091fabdb8e9b898417a67a6852d3577db00",
        ],
    },
    // SCP03_Test_AES192_33
    Vector {
        keys: aes192,
        init_upd_cmd: "80503100089b3f2eef0e8c937400",
        init_upd_rsp: "00000000000000000000310370f6bb305a15bae1a68f79fb08212fbed7000002",
        ext_auth_cmd: "84823300109100bc22d58b45b86a26365ce39ff3cf",
        get_eid_cmd: "84e29100188f7f946c84f70d17994bc6e8791251bb1bb1bf02cf8de58900",
        get_eid_rsp:
            "c05176c1b6f72aae50c32cbee63b0e95998928fd4dfb2be9f27ffde8c8476f5909b4805cc4039599",
        cases: [
            "84f2200208d5d97754b6b3d2ba",
            "84ca006608516c82b8e30adbeb00",
            "84f2200218cc247f4761e6944277a4e0d6e32e44025b1e31537e2fc668",
            "84f2800218ba22b63d509bef5d093b43e5eaed03ed23144ab2d9cb51de00",
        ],
    },
    // SCP03_Test_AES256_11
    Vector {
        keys: aes256,
        init_upd_cmd: "805032000811666d57866c6f5400",
        init_upd_rsp: "0000000000000000000032037053ea8847efa7674e41498a4d66cf0dee000003",
        ext_auth_cmd: "84821100102f2ad190eff2fafc4908996d1cebd310",
        get_eid_cmd: "84e291000ebf3e035c015af4b680372542b59d00",
        get_eid_rsp: "bf3e125a10898821199000000000000000000000058012dd7f01f1c4c1",
        cases: [
            "84f2200208d618b7da68d5fe52",
            "84ca0066088f3e055db23ad5e500",
            "84f22002124f0212345c054f9f70c5b6e15cc42404915e",
            "84f280020a4f00aa124aa74afe7f7500",
        ],
    },
    // SCP03_Test_AES256_03
    Vector {
        keys: aes256,
        init_upd_cmd: "8050320008c6066990fc426e1d00",
        init_upd_rsp: "000000000000000000003203708682cd81bbd8919f2de3f2664581f118000001",
        ext_auth_cmd: "848203001077c493b632edadaf865a1e64acc07ce9",
        get_eid_cmd: "84e29100183ddaa60594963befaada3525b492ede23c2ab2c1ce3afe4400",
        get_eid_rsp: "bf3e125a1089882119900000000000000000000005",
        cases: [
            "84f2200208480ddc8e419da38d",
            "84ca0066083e9d6a6c0b2d732000",
            "84f22002183ebfef2da8b04af2a85f491f299b76973df76ff08a4031be",
            "84f2800218783fff80990f5585b1055010ea95094a26e4a8f1ef4b18e100",
        ],
    },
    // SCP03_Test_AES256_33
    Vector {
        keys: aes256,
        init_upd_cmd: "805032000897b2055fe58599fd00",
        init_upd_rsp: "00000000000000000000320370a8439a22cedf045fa9f1903b2834f26e000002",
        ext_auth_cmd: "8482330010508a0fd959d2e547c6b33154a6be2057",
        get_eid_cmd: "84e29100187a5ef717eaf1e135ae92fe54429d0e465decda65f5fe5aea00",
        get_eid_rsp:
            "ea90dbfa648a67c5eb6abc57f8530b97d0cd5647c5e8732016b55203b078dd2ace7f8bc5d1c1cd99",
        cases: [
            "84f2200208bcc5c17275545d93",
            "84ca00660804806aba9d543bb600",
            "84f2200218717222491556ec81a45f49ce48be33320024801a1c4cb0e0",
            "84f2800218561f105bccd3a1642904b251ccc1228beb80a82370a8637000",
        ],
    },
];

fn cmd(s: &str) -> Command {
    Command::parse(&h(s)).unwrap()
}

fn enc(c: &Command) -> String {
    hex::encode(c.encode().unwrap())
}

#[test]
fn host_side_matches_pysim() {
    for (n, v) in VECTORS.iter().enumerate() {
        let iu_cmd = h(v.init_upd_cmd);
        let host_challenge = &iu_cmd[5..iu_cmd.len() - 1];
        let level = SecurityLevel::from_p1(h(v.ext_auth_cmd)[2]).unwrap();
        let hs = HostHandshake::new((v.keys)(), host_challenge).unwrap();
        assert_eq!(enc(&hs.initialize_update()), v.init_upd_cmd, "vector {n}");
        let (mut session, ext_auth, iu) = hs
            .authenticate(&Response::ok(h(v.init_upd_rsp)), level)
            .unwrap();
        assert_eq!(iu.scp, Scp::scp03(0x70).unwrap());
        assert_eq!(enc(&ext_auth), v.ext_auth_cmd, "vector {n}");
        let wrapped = session.wrap_command(&cmd(GET_EID_CMD_PLAIN)).unwrap();
        assert_eq!(enc(&wrapped), v.get_eid_cmd, "vector {n}");
        let rsp = session
            .unwrap_response(&Response::ok(h(v.get_eid_rsp)))
            .unwrap();
        assert_eq!(hex::encode(&rsp.data), GET_EID_RSP_PLAIN, "vector {n}");
        for (plain, wrapped) in CASES_PLAIN.iter().zip(v.cases) {
            assert_eq!(enc(&session.wrap_command(&cmd(plain)).unwrap()), wrapped);
        }
    }
}

#[test]
fn card_side_matches_pysim() {
    for (n, v) in VECTORS.iter().enumerate() {
        let rsp = h(v.init_upd_rsp);
        let seq = u32::from_be_bytes([0, rsp[29], rsp[30], rsp[31]]);
        let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
        let config = CardConfig {
            aid: h(ISD_R_AID),
            kdd: [0; 10],
            scp: Scp::scp03(0x70).unwrap(),
        };
        let req = InitializeUpdate::parse(&cmd(v.init_upd_cmd)).unwrap();
        let keys = (v.keys)();
        assert_eq!(req.kvn, keys.kvn());
        let (hs, iu_rsp) = CardHandshake::initialize_update(
            &req,
            &keys,
            &mut counter,
            &config,
            &mut FixedRng(vec![]),
        )
        .unwrap();
        assert_eq!(
            hex::encode(iu_rsp.encode()),
            format!("{}9000", v.init_upd_rsp)
        );
        assert_eq!(counter.value(), seq);
        let (mut session, ok) = hs
            .external_authenticate(&cmd(v.ext_auth_cmd), &mut counter)
            .unwrap();
        assert_eq!(ok.sw, StatusWord::OK);
        let plain = session.unwrap_command(&cmd(v.get_eid_cmd)).unwrap();
        assert_eq!(plain, cmd(GET_EID_CMD_PLAIN), "vector {n}");
        let wrapped = session
            .wrap_response(&Response::ok(h(GET_EID_RSP_PLAIN)))
            .unwrap();
        assert_eq!(hex::encode(&wrapped.data), v.get_eid_rsp, "vector {n}");
        for (plain, wrapped) in CASES_PLAIN.iter().zip(v.cases) {
            assert_eq!(session.unwrap_command(&cmd(wrapped)).unwrap(), cmd(plain));
        }
    }
}

#[test]
fn kcv_matches_pysim() {
    // pySim SCP03_KCV_Test.
    let k = aes128();
    assert_eq!(k.kcv(KeyUsage::Enc).unwrap(), [0xC3, 0x52, 0x80]);
    assert_eq!(k.kcv(KeyUsage::Mac).unwrap(), [0x01, 0x38, 0x08]);
    assert_eq!(k.kcv(KeyUsage::Dek).unwrap(), [0x84, 0x0D, 0xE5]);
}

fn open_card_session(v: &Vector) -> Session {
    let rsp = h(v.init_upd_rsp);
    let seq = u32::from_be_bytes([0, rsp[29], rsp[30], rsp[31]]);
    let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
    let config = CardConfig {
        aid: h(ISD_R_AID),
        kdd: [0; 10],
        scp: Scp::scp03(0x70).unwrap(),
    };
    let req = InitializeUpdate::parse(&cmd(v.init_upd_cmd)).unwrap();
    let (hs, _) = CardHandshake::initialize_update(
        &req,
        &(v.keys)(),
        &mut counter,
        &config,
        &mut FixedRng(vec![]),
    )
    .unwrap();
    hs.external_authenticate(&cmd(v.ext_auth_cmd), &mut counter)
        .unwrap()
        .0
}

#[test]
fn card_rejects_tampered_mac_and_closes_session() {
    let v = &VECTORS[2];
    let mut session = open_card_session(v);
    let mut bad = h(v.get_eid_cmd);
    let last = bad.len() - 2;
    bad[last] ^= 1;
    let e = session
        .unwrap_command(&Command::parse(&bad).unwrap())
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6982);
    assert!(session.is_closed());
    // Every further command fails too, even a correct one.
    let e = session.unwrap_command(&cmd(v.get_eid_cmd)).unwrap_err();
    assert_eq!(e.status_word().0, 0x6982);
}

#[test]
fn card_requires_secure_messaging_at_c_mac_level() {
    let v = &VECTORS[0];
    let mut session = open_card_session(v);
    let e = session.unwrap_command(&cmd(GET_EID_CMD_PLAIN)).unwrap_err();
    assert_eq!(e.status_word().0, 0x6982);
    assert!(session.is_closed());
}

#[test]
fn card_rejects_bad_host_cryptogram_with_6300_and_bad_mac_with_6982() {
    let v = &VECTORS[0];
    let rsp = h(v.init_upd_rsp);
    let seq = u32::from_be_bytes([0, rsp[29], rsp[30], rsp[31]]);
    let config = CardConfig {
        aid: h(ISD_R_AID),
        kdd: [0; 10],
        scp: Scp::scp03(0x70).unwrap(),
    };
    let req = InitializeUpdate::parse(&cmd(v.init_upd_cmd)).unwrap();
    let start = |counter: &mut SequenceCounter| {
        CardHandshake::initialize_update(&req, &aes128(), counter, &config, &mut FixedRng(vec![]))
            .unwrap()
            .0
    };
    // Wrong MAC.
    let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
    let mut bad = h(v.ext_auth_cmd);
    let n = bad.len();
    bad[n - 1] ^= 0x01;
    let e = start(&mut counter)
        .external_authenticate(&Command::parse(&bad).unwrap(), &mut counter)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6982);
    // Wrong host cryptogram.
    let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
    let mut bad = h(v.ext_auth_cmd);
    bad[5] ^= 0x01;
    let e = start(&mut counter)
        .external_authenticate(&Command::parse(&bad).unwrap(), &mut counter)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6300);
    // Unsupported P1.
    let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
    let mut bad = h(v.ext_auth_cmd);
    bad[2] = 0x02;
    let e = start(&mut counter)
        .external_authenticate(&Command::parse(&bad).unwrap(), &mut counter)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6A86);
    // Wrong length.
    let mut counter = SequenceCounter::scp03(seq - 1).unwrap();
    let e = start(&mut counter)
        .external_authenticate(&cmd("848211000401020304"), &mut counter)
        .unwrap_err();
    assert_eq!(e.status_word().0, 0x6700);
}

#[test]
fn host_rejects_bad_card_cryptogram_and_bad_rmac() {
    let v = &VECTORS[0];
    let iu_cmd = h(v.init_upd_cmd);
    let hs = HostHandshake::new(aes128(), &iu_cmd[5..13]).unwrap();
    let mut rsp = h(v.init_upd_rsp);
    rsp[28] ^= 0xFF;
    let e = hs
        .clone()
        .authenticate(&Response::ok(rsp), SecurityLevel::C_MAC)
        .unwrap_err();
    assert_eq!(e, GpError::CardCryptogram);
    // Error status words pass through without R-MAC (Amd D §6.2.5); a bad R-MAC is refused.
    let (mut s, _, _) = hs
        .authenticate(&Response::ok(h(v.init_upd_rsp)), SecurityLevel::C_MAC_R_MAC)
        .unwrap();
    s.wrap_command(&cmd(GET_EID_CMD_PLAIN)).unwrap();
    let err_sw = Response::status(StatusWord::new(0x6A, 0x88));
    assert_eq!(s.unwrap_response(&err_sw).unwrap(), err_sw);
    let mut bad = h(v.get_eid_rsp);
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(
        s.unwrap_response(&Response::ok(bad)).unwrap_err(),
        GpError::ResponseMac
    );
    assert!(s.unwrap_response(&Response::ok(vec![1, 2])).is_err());
}

#[test]
fn pseudo_random_counter_exhaustion_refuses_initialize_update() {
    let v = &VECTORS[0];
    let mut counter = SequenceCounter::scp03(0xFF_FFFF).unwrap();
    let config = CardConfig {
        aid: h(ISD_R_AID),
        kdd: [0; 10],
        scp: Scp::scp03(0x70).unwrap(),
    };
    let req = InitializeUpdate::parse(&cmd(v.init_upd_cmd)).unwrap();
    let e = CardHandshake::initialize_update(
        &req,
        &aes128(),
        &mut counter,
        &config,
        &mut FixedRng(vec![]),
    )
    .unwrap_err();
    assert_eq!(e.status_word().0, 0x6985);
}

#[test]
fn host_checks_pseudo_random_challenge_against_aid() {
    for v in &VECTORS {
        let iu_cmd = h(v.init_upd_cmd);
        let ok = HostHandshake::new((v.keys)(), &iu_cmd[5..13])
            .unwrap()
            .expect_aid(&h(ISD_R_AID));
        ok.authenticate(&Response::ok(h(v.init_upd_rsp)), SecurityLevel::C_MAC)
            .unwrap();
        let wrong = HostHandshake::new((v.keys)(), &iu_cmd[5..13])
            .unwrap()
            .expect_aid(&h("A000000151000000"));
        let e = wrong
            .authenticate(&Response::ok(h(v.init_upd_rsp)), SecurityLevel::C_MAC)
            .unwrap_err();
        assert_eq!(e, GpError::CardChallenge);
    }
}
