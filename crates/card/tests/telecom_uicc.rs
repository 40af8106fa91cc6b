//! The telecom container's UICC side: the enabled profile's file system answers UICC commands
//! (ETSI TS 102 221 §11, 3GPP TS 31.102) on the interfaces paired with the telecom container,
//! and enabling another profile switches what the modem sees.
//!
//! Expected values come from the GSMA TS.48 generic test profiles in
//! ../shared/reference/ts48-profiles (IMSI 001010123456063, PIN1 "0000" = 30303030FFFFFFFF
//! from their PE-PINCodes) and from the personalisation applied here.

mod common;

use apdu::{Response, StatusWord};
use card::{Card, CardState, ProfileState, Protocol};
use common::smdp::download;
use common::*;

const PIN1: &str = "30303030FFFFFFFF";
const IMSI_B: &str = "001019876543210";
const ICCID_B: &str = "8988211000000000017";

/// Digits of a swapped-nibble BCD string ('F' filler dropped).
fn swapped_bcd(b: &[u8]) -> String {
    b.iter()
        .flat_map(|x| [x & 0x0F, x >> 4])
        .filter(|d| *d != 0x0F)
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// EF.IMSI (TS 31.102 §4.2.2): length byte, then parity nibble and digits.
fn imsi_of(ef: &[u8]) -> String {
    let len = ef[0] as usize;
    swapped_bcd(&ef[1..=len])[1..].to_string()
}

struct Modem<'a> {
    card: &'a mut Card,
    protocol: Protocol,
}

impl Modem<'_> {
    fn tx(&mut self, apdu: &str) -> Response {
        Response::parse(&self.card.process_on(self.protocol, &hex(apdu))).unwrap()
    }

    fn ok(&mut self, apdu: &str) -> Vec<u8> {
        let r = self.tx(apdu);
        assert_eq!(r.sw, StatusWord::OK, "{apdu}");
        r.data
    }

    fn iccid(&mut self) -> String {
        self.ok("00A40004023F00");
        self.ok("00A40004022FE2");
        swapped_bcd(&self.ok("00B000000A"))
    }

    /// ADF.USIM selected by the AID EF.DIR lists, then EF.IMSI (after VERIFY PIN1 if the
    /// access rule asks for it).
    fn imsi(&mut self) -> String {
        self.ok("00A40004023F00");
        self.ok("00A40004022F00");
        let rec = self.ok("00B2010400");
        // '61' { '4F' AID ... } (TS 102 221 §13.1).
        let app = tlv::Tlv::parse(&rec).unwrap().0;
        let aid = tlv::find(app.value, tlv::Tag(0x4F))
            .unwrap()
            .unwrap()
            .value
            .to_vec();
        assert!(aid.starts_with(&hex("A0000000871002")));
        let fcp = self.ok(&format!("00A40404{:02X}{}00", aid.len(), hex::encode(&aid)));
        assert_eq!(fcp[0], 0x62);
        self.ok("00A40004026F07");
        let r = self.tx("00B0000009");
        let data = if r.sw == StatusWord::SECURITY_STATUS_NOT_SATISFIED {
            self.ok(&format!("0020000108{PIN1}"));
            self.ok("00B0000009")
        } else {
            assert_eq!(r.sw, StatusWord::OK);
            r.data
        };
        imsi_of(&data)
    }
}

fn enable(card: &mut Card, ch: u8, iccid: &[u8; 10]) {
    let req = hex(&format!("BF3111A00C5A0A{}810100", hex::encode(iccid)));
    assert_eq!(es10(card, ch, &req), hex("BF3103800100"));
}

fn two_profiles() -> (Card, u8, [u8; 10], [u8; 10]) {
    let a = read("ts48-profiles/TS48V5-SAIP2-3-BERTLV-SUCI-UNIQUE.der");
    let mut pb =
        saip::ProfilePackage::parse(&read("ts48-profiles/TS48V4-SAIP2-3-BERTLV-UNIQUE.der"))
            .unwrap();
    pb.personalize(&saip::Personalization {
        iccid: Some(ICCID_B.into()),
        imsi: Some(IMSI_B.into()),
        ..Default::default()
    })
    .unwrap();
    let b = pb.encode();
    let mut card = new_card(CardState::new());
    let (pir, ch) = download(&mut card, &a, "A");
    assert!(pir.starts_with(&[0xBF, 0x37]));
    download(&mut card, &b, "B");
    let st = card.state();
    assert_eq!(st.profiles.len(), 2);
    // Not built at installation: a profile's UICC is built when the modem-facing interface
    // first uses it.
    assert!(st.uicc.is_empty());
    let (a, b) = (st.profiles[0].iccid, st.profiles[1].iccid);
    (card, ch, a, b)
}

#[test]
fn enabled_profile_answers_uicc_commands_and_switches() {
    let (mut card, ch, iccid_a, iccid_b) = two_profiles();
    // No profile enabled: no file system.
    assert_eq!(
        Response::parse(&card.process(&hex("00A40004023F00")))
            .unwrap()
            .sw,
        StatusWord::FILE_NOT_FOUND
    );
    enable(&mut card, ch, &iccid_a);
    for p in [Protocol::T0, Protocol::T1] {
        let mut m = Modem {
            card: &mut card,
            protocol: p,
        };
        assert_eq!(m.iccid(), swapped_bcd(&iccid_a));
        assert_eq!(m.imsi(), "001010123456063");
        // STATUS (CLA 80 F2) in the USIM: the ADF's DF name.
        let st = m.ok("80F2000000");
        assert_eq!(st[0], 0x62);
    }
    // SPI is paired with the GlobalPlatform container: no file system there.
    assert_eq!(
        Response::parse(&card.process_on(Protocol::Spi, &hex("00A40004023F00")))
            .unwrap()
            .sw,
        StatusWord::FILE_NOT_FOUND
    );

    // Switch to B: the modem-facing interface sees B's files and keys.
    enable(&mut card, ch, &iccid_b);
    assert_eq!(card.state().profiles[0].state, ProfileState::Disabled);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    assert_eq!(m.iccid(), ICCID_B);
    assert_eq!(m.imsi(), IMSI_B);
    // And back to A.
    enable(&mut card, ch, &iccid_a);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    assert_eq!(m.iccid(), swapped_bcd(&iccid_a));
    assert_eq!(m.imsi(), "001010123456063");
}

#[test]
fn file_updates_persist_per_profile() {
    let (mut card, ch, iccid_a, iccid_b) = two_profiles();
    enable(&mut card, ch, &iccid_a);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    m.imsi(); // ADF.USIM selected, PIN1 verified if needed
              // EF.LOCI (TS 31.102 §4.2.17, 11 bytes, update: PIN1).
    m.ok("00A40004026F7E");
    let loci = hex("11223344 00F110 0001 FF 01");
    let rev = m.card.state_revision();
    m.ok(&format!("00D600000B{}", hex::encode(&loci)));
    assert_ne!(m.card.state_revision(), rev);
    assert_eq!(m.ok("00B000000B"), loci);
    // Reading changes nothing persistent.
    let rev = m.card.state_revision();
    m.ok("00B000000B");
    assert_eq!(m.card.state_revision(), rev);

    // B does not see A's update; A still has it after a switch and a reload from disk.
    enable(&mut card, ch, &iccid_b);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    m.imsi();
    m.ok("00A40004026F7E");
    assert_ne!(m.ok("00B000000B"), loci);
    enable(&mut card, ch, &iccid_a);
    let state = CardState::from_bytes(&card.state().to_bytes()).unwrap();
    let mut card = new_card(state);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    m.imsi();
    m.ok("00A40004026F7E");
    assert_eq!(m.ok("00B000000B"), loci);
}

#[test]
fn profiles_installed_before_get_their_uicc_lazily() {
    let (card, _, iccid_a, iccid_b) = two_profiles();
    // A card file from before the UICC side existed, profile A enabled: no "uicc" map.
    let mut state = card.state().clone();
    state.uicc.clear();
    state.profiles[0].state = ProfileState::Enabled;
    let state = CardState::from_bytes(&state.to_bytes()).unwrap();
    let mut card = new_card(state.clone());
    let rev = card.state_revision();
    // Built on first use by the modem, as a persistent change.
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    assert_eq!(m.iccid(), swapped_bcd(&iccid_a));
    assert_eq!(card.state().uicc.len(), 1);
    assert_ne!(card.state_revision(), rev);
    // Or by a SELECT by AID (the enabled profile's ADFs are telecom entities): opening the
    // ISD-R builds A's. Enabling B does not build B's; the modem's first read of B does.
    let mut card = new_card(state);
    let ch = open_isdr(&mut card);
    assert_eq!(card.state().uicc.len(), 1);
    enable(&mut card, ch, &iccid_b);
    assert_eq!(card.state().uicc.len(), 1);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    assert_eq!(m.iccid(), swapped_bcd(&iccid_b));
    assert_eq!(card.state().uicc.len(), 2);
}

#[test]
fn deleting_a_profile_removes_its_uicc() {
    let (mut card, ch, iccid_a, iccid_b) = two_profiles();
    // Both UICCs built by use: B, then A (which leaves B disabled, so it can be deleted).
    for iccid in [&iccid_b, &iccid_a] {
        enable(&mut card, ch, iccid);
        let mut m = Modem {
            card: &mut card,
            protocol: Protocol::T0,
        };
        assert_eq!(m.iccid(), swapped_bcd(iccid));
    }
    assert_eq!(card.state().uicc.len(), 2);
    let req = hex(&format!("BF330C5A0A{}", hex::encode(iccid_b)));
    assert_eq!(es10(&mut card, ch, &req), hex("BF3303800100"));
    assert_eq!(card.state().profiles.len(), 1);
    assert_eq!(card.state().uicc.len(), 1);
    assert!(card
        .state()
        .uicc
        .contains_key(&hex::encode_upper(&card.state().profiles[0].isdp_aid)));
}

#[test]
fn uicc_selection_is_per_channel_and_per_interface() {
    let (mut card, ch, iccid_a, _) = two_profiles();
    enable(&mut card, ch, &iccid_a);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    // Basic channel in EF.ICCID; a new channel starts at the MF (TS 102 221 §11.1.17).
    m.iccid();
    let n = m.ok("0070000001")[0];
    assert_eq!(
        m.tx(&format!("{:02X}B000000A", n)).sw,
        StatusWord(0x6986) // no current EF
    );
    // The basic channel still reads EF.ICCID.
    assert_eq!(m.ok("00B000000A").len(), 10);
    // A reset of another interface does not disturb it.
    m.card.reset_interface(card::Interface::Spi);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    assert_eq!(m.ok("00B000000A").len(), 10);
    // A contact reset puts the basic channel back at the MF.
    m.card.reset();
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    assert_eq!(m.tx("00B000000A").sw, StatusWord(0x6986));
}

#[test]
fn usim_authenticate_keeps_its_sqn_across_reloads() {
    let (mut card, ch, iccid_a, _) = two_profiles();
    enable(&mut card, ch, &iccid_a);
    // TS.48 profiles use the TS 34.108 §8.1.2 test algorithm with K = 00 01 .. 0F (their
    // PE-AKAParameter); the network side is the `aka` crate.
    let k: Vec<u8> = (0u8..16).collect();
    let net = aka::TestAlgorithm::from_slice(&k).unwrap();
    let rand = [0x5Au8; 16];
    let v = aka::generate_vector(&net, &rand, 64, &[0x80, 0x00]).unwrap();
    let auth = format!(
        "0088008122 10{} 10{} 00",
        hex::encode(rand),
        hex::encode(v.autn)
    );
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T0,
    };
    m.imsi(); // ADF.USIM selected, PIN1 verified if the profile asks for it
    let rev = m.card.state_revision();
    let res = m.ok(&auth);
    // 'DB' RES CK IK (TS 31.102 §7.1.2.1).
    assert_eq!(res[0], 0xDB);
    assert_eq!(&res[2..2 + usize::from(res[1])], &v.xres[..]);
    assert_ne!(m.card.state_revision(), rev, "SQN update is persistent");
    // After a reload from the persisted state the same vector is a replay: 'DC' AUTS.
    let state = CardState::from_bytes(&card.state().to_bytes()).unwrap();
    let mut card = new_card(state);
    let mut m = Modem {
        card: &mut card,
        protocol: Protocol::T1,
    };
    m.imsi();
    let resync = m.ok(&auth);
    assert_eq!(&resync[..2], &[0xDC, 0x0E]);
    assert_eq!(aka::resynchronise(&net, &rand, &resync[2..]), Ok(64));
    // AUTHENTICATE on a channel without the USIM selected (opened from the basic channel:
    // MF, no application): refused.
    let n = m.ok("0070000001")[0];
    let on_n = format!("{:02X}{}", n, &auth[2..]);
    assert_eq!(m.tx(&on_n).sw, StatusWord::CONDITIONS_NOT_SATISFIED);
}

/// Two installed profiles, A enabled; built once for the property test.
fn enabled_state() -> CardState {
    static STATE: std::sync::OnceLock<CardState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(|| {
            let (mut card, ch, iccid_a, _) = two_profiles();
            enable(&mut card, ch, &iccid_a);
            card.state().clone()
        })
        .clone()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Random APDUs, alone or after a valid UICC header, on any protocol, against an enabled
    /// profile: always a status word, never a panic.
    #[test]
    fn random_uicc_commands_never_panic(cmds in proptest::collection::vec(
        (0usize..7, proptest::sample::select(vec![0x00u8, 0x80, 0x01, 0xA0]),
         proptest::sample::select(vec![0xA4u8, 0xB0, 0xB2, 0xD6, 0xDC, 0xA2, 0xF2, 0x20, 0x24,
             0x2C, 0x88, 0x32, 0x70, 0xC0, 0xE2]),
         proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)), 1..12)) {
        let mut card = new_card(enabled_state());
        for (p, cla, ins, body) in cmds {
            let mut apdu = vec![cla, ins];
            apdu.extend_from_slice(&body);
            let r = card.process_on(Protocol::ALL[p], &apdu);
            proptest::prop_assert!(r.len() >= 2);
        }
    }
}
