//! PINs and USIM AUTHENTICATE built from the GSMA TS.48 generic test profiles in
//! ../shared/reference/ts48-profiles: PIN1 '0000' (pinAttributes 6: disabled), PIN2 '81' '9999',
//! ADM1 '0A' '55555555', ADM2 '0B' '66666666', PUK1 '11111111', PUK2 '22222222', and the
//! TS 34.108 §8.1.2 test algorithm with K = 000102..0F.

use apdu::{Command, StatusWord};
use uicc::auth::{Algorithm, UsimAuth, SW_MAC_FAILURE};
use uicc::pin::{PinStore, VerifiedPins};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/"
);

const PROFILES: &[&str] = &[
    "TS48V1-A-UNIQUE.der",
    "TS48V2-SAIP2-1-BERTLV-UNIQUE.der",
    "TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der",
    "TS48V4-SAIP2-3-BERTLV-UNIQUE.der",
    "TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der",
];

fn package(name: &str) -> saip::ProfilePackage {
    let der = std::fs::read(format!("{DIR}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    saip::ProfilePackage::parse(&der).unwrap()
}

fn cmd(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Command {
    Command::with_data(0x00, ins, p1, p2, data.to_vec())
}

#[test]
fn ts48_pins() {
    for name in PROFILES {
        let mut pins = PinStore::from_package(&package(name)).unwrap();
        let mut s = VerifiedPins::default();
        assert_eq!(pins.key_refs()[..3], [0x01, 0x0A, 0x0B], "{name}");
        assert!(pins.key_refs().contains(&0x81), "{name}");
        assert_eq!(
            pins.pin_status(&[0x01, 0x81, 0x0A]),
            vec![(0x01, false), (0x81, true), (0x0A, true)],
            "{name}"
        );
        // PIN1 disabled: its condition holds without verification.
        assert!(s.satisfied(&pins, 0x01));
        assert!(!s.satisfied(&pins, 0x0A));
        assert_eq!(pins.tries_left(0x0A), Some(10));
        assert_eq!(
            pins.process(&mut s, &cmd(0x20, 0, 0x0A, b"55555555")),
            Ok(vec![])
        );
        assert!(s.satisfied(&pins, 0x0A));
        // PIN2: 3 tries, then blocked; PUK2 unblocks it.
        let wrong = b"1234\xff\xff\xff\xff";
        for left in [2u8, 1, 0] {
            assert_eq!(
                pins.process(&mut s, &cmd(0x20, 0, 0x81, wrong)),
                Err(StatusWord::retries_left(left)),
                "{name}"
            );
        }
        assert_eq!(
            pins.process(&mut s, &cmd(0x20, 0, 0x81, b"9999\xff\xff\xff\xff")),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        let unblock = [&b"22222222"[..], &b"8888\xff\xff\xff\xff"[..]].concat();
        assert_eq!(
            pins.process(&mut s, &cmd(0x2C, 0, 0x81, &unblock)),
            Ok(vec![])
        );
        assert!(s.satisfied(&pins, 0x81));
        // PIN1 can be enabled with '0000' and is then required.
        assert_eq!(
            pins.process(&mut s, &cmd(0x28, 0, 0x01, b"0000\xff\xff\xff\xff")),
            Ok(vec![])
        );
        assert!(!VerifiedPins::default().satisfied(&pins, 0x01));
        assert_eq!(
            pins.process(&mut VerifiedPins::default(), &cmd(0x20, 0, 0x01, &[])),
            Err(StatusWord(0x63C3))
        );
    }
}

#[test]
fn ts48_usim_authenticate() {
    let k: Vec<u8> = (0u8..16).collect();
    let net = aka::TestAlgorithm::from_slice(&k).unwrap();
    for name in PROFILES {
        let mut usim = UsimAuth::from_package(&package(name)).unwrap().unwrap();
        assert_eq!(usim.algorithm(), Algorithm::TestAlgorithm, "{name}");
        let rand = [0x34u8; 16];
        let v = aka::generate_vector(&net, &rand, 32, &[0x80, 0x00]).unwrap();
        let mut data = vec![0x10];
        data.extend_from_slice(&rand);
        data.push(0x10);
        data.extend_from_slice(&v.autn);
        let resp = usim.process(&cmd(0x88, 0, 0x81, &data)).unwrap();
        assert_eq!(resp[0], 0xDB);
        assert_eq!(&resp[2..2 + usize::from(resp[1])], &v.xres[..]);
        // Replay → DC 0E AUTS; resynchronisation recovers SQN_MS = 32.
        let resp = usim.process(&cmd(0x88, 0, 0x81, &data)).unwrap();
        assert_eq!(&resp[..2], &[0xDC, 0x0E]);
        assert_eq!(aka::resynchronise(&net, &rand, &resp[2..]), Ok(32));
        // Tampered MAC → 9862.
        let mut bad = data.clone();
        bad[33] ^= 1;
        assert_eq!(usim.process(&cmd(0x88, 0, 0x81, &bad)), Err(SW_MAC_FAILURE));
        // GSM context: SRES = c2(RES), Kc = c3(CK, IK).
        let resp = usim.process(&cmd(0x88, 0, 0x80, &data[..17])).unwrap();
        let mut want = vec![0x04];
        want.extend_from_slice(&v.sres());
        want.push(0x08);
        want.extend_from_slice(&v.kc());
        assert_eq!(resp, want);
    }
}

#[test]
fn state_round_trips_through_serde() {
    let pkg = package("TS48V2-SAIP2-1-BERTLV-UNIQUE.der");
    let mut pins = PinStore::from_package(&pkg).unwrap();
    let mut s = VerifiedPins::default();
    let _ = pins.process(&mut s, &cmd(0x20, 0, 0x81, b"1234\xff\xff\xff\xff"));
    let _ = pins.process(&mut s, &cmd(0x28, 0, 0x01, b"0000\xff\xff\xff\xff"));
    let json = serde_json::to_string(&pins).unwrap();
    let back: PinStore = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pins);
    assert_eq!(back.tries_left(0x81), Some(2));
    assert!(back.is_enabled(0x01));
    // Byte strings are hex; Debug never shows them.
    assert!(json.contains(&hex::encode(b"55555555")));
    assert!(!format!("{pins:?}").contains("53, 53, 53"));

    let mut usim = UsimAuth::from_package(&pkg).unwrap().unwrap();
    let net = aka::TestAlgorithm::from_slice(&(0u8..16).collect::<Vec<_>>()).unwrap();
    let rand = [9u8; 16];
    let v = aka::generate_vector(&net, &rand, 0x21, &[0, 0]).unwrap();
    let data = [&[0x10][..], &rand, &[0x10], &v.autn].concat();
    assert_eq!(usim.process(&cmd(0x88, 0, 0x81, &data)).unwrap()[0], 0xDB);
    let json = serde_json::to_string(&usim).unwrap();
    assert!(json.contains("000102030405060708090a0b0c0d0e0f"));
    let mut back: UsimAuth = serde_json::from_str(&json).unwrap();
    assert_eq!(back, usim);
    // The restored SQN array still rejects the replay.
    assert_eq!(
        &back.process(&cmd(0x88, 0, 0x81, &data)).unwrap()[..2],
        &[0xDC, 0x0E]
    );
    assert!(!format!("{usim:?}").contains("0, 1, 2, 3"));
    assert!(serde_json::from_str::<UsimAuth>(&json.replace("0001020304", "zz01020304")).is_err());
}
