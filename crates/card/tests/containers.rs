//! One secure element, several containers: protocol identity per interface, pairing data,
//! the alias registry, routing, isolation, per-interface channel state, the tear-safe pairing
//! store and its authenticated administration command.

mod common;

use apdu::{Response, StatusWord};
use card::pairing::{set_command_data, PairingTable};
use card::routing::{Alias, GP_ISD_AID};
use card::{AliasRegistry, Card, CardState, ContainerId, Interface, Protocol};
use common::*;

const KEY128: [u8; 16] = [0x4B; 16];
const KEY256: [u8; 32] = [0x2C; 32];
/// GetEuiccData requesting the EID (SGP.22 §5.7.20), as one STORE DATA on channel 0.
const GET_EID: &str = "80E2910006BF3E035C015A";
const EID_RESPONSE: &str = "BF3E125A1089049032123451234512345678901235 9000";

const CONTACT: [Protocol; 2] = [Protocol::T0, Protocol::T1];
const OTHERS: [Protocol; 5] = [
    Protocol::SwpTypeA,
    Protocol::SwpTypeB,
    Protocol::HciApduGate,
    Protocol::Spi,
    Protocol::Proprietary,
];

fn sw(resp: &[u8]) -> StatusWord {
    Response::parse(resp).unwrap().sw
}

fn select_cmd(cla: u8, aid: &[u8]) -> Vec<u8> {
    let mut c = vec![cla, 0xA4, 0x04, 0x00, aid.len() as u8];
    c.extend_from_slice(aid);
    c.push(0x00);
    c
}

fn select(card: &mut Card, p: Protocol, aid: &[u8]) -> Response {
    Response::parse(&card.process_on(p, &select_cmd(0x00, aid))).unwrap()
}

/// '84' of an FCI.
fn fci_aid(fci: &[u8]) -> Vec<u8> {
    let t = tlv::Tlv::parse_expecting(fci, tlv::Tag(0x6F)).unwrap();
    tlv::find(t.value, tlv::Tag(0x84))
        .unwrap()
        .unwrap()
        .value
        .to_vec()
}

fn admin_card() -> Card {
    new_card(CardState::with_pairing_admin_key(&KEY128).unwrap())
}

fn set_pairing_apdu(key: &[u8], table: &[u8], counter: u32) -> Vec<u8> {
    let data = set_command_data(key, table, counter).unwrap();
    let mut c = vec![0x80, 0x3A, 0x01, 0x00, data.len() as u8];
    c.extend_from_slice(&data);
    c
}

fn read_pairing(card: &mut Card, p: Protocol) -> Vec<u8> {
    card.process_on(p, &hex("803A000000"))
}

fn snapshot(card: &Card) -> (Vec<u8>, u64) {
    (card.state().to_bytes(), card.state_revision())
}

#[test]
fn common_aid_over_iso7816_3_reaches_the_isdr() {
    for p in CONTACT {
        let mut card = new_card(CardState::new());
        let r = select(&mut card, p, &GP_ISD_AID);
        assert_eq!(r.sw, StatusWord::OK, "{p}");
        // The ISD-R's own FCI: its AID and the SGP.22 ISDRProprietaryApplicationTemplate.
        assert_eq!(fci_aid(&r.data), apdu::ISD_R_AID, "{p}");
        let e0 = tlv::find(&r.data[2..], tlv::Tag(0xE0)).unwrap().unwrap();
        assert_eq!(e0.value, hex("820302 0202"));
        // ES10 STORE DATA works there.
        assert_eq!(card.process_on(p, &hex(GET_EID)), hex(EID_RESPONSE), "{p}");
    }
}

#[test]
fn common_aid_over_other_protocols_reaches_the_gp_isd() {
    for p in OTHERS {
        let mut card = new_card(CardState::new());
        let before = snapshot(&card);
        let r = select(&mut card, p, &GP_ISD_AID);
        assert_eq!(r.sw, StatusWord::OK, "{p}");
        // GP Card Specification v2.3.1 §11.9.3.1: '6F' { '84', 'A5' { '73', '9F65' } }.
        assert_eq!(r.data, card::gp::isd_fci(), "{p}");
        assert_eq!(fci_aid(&r.data), GP_ISD_AID);
        let a5 = tlv::find(&r.data[2..], tlv::Tag(0xA5)).unwrap().unwrap();
        let sdmd = tlv::find(a5.value, tlv::Tag(0x73)).unwrap().unwrap();
        // {globalPlatform 2 2 3 1}: GP Card Specification v2.3.1 card management.
        let cmv = tlv::find(sdmd.value, tlv::Tag(0x60)).unwrap().unwrap();
        assert_eq!(cmv.value, hex("060A2A864886FC6B02020301"));
        assert_eq!(
            tlv::find(a5.value, tlv::Tag(0x9F65))
                .unwrap()
                .unwrap()
                .value,
            [0xFF]
        );
        // The ISD is no ISD-R: an ES10 request is a STORE DATA needing a secure channel.
        assert_eq!(
            sw(&card.process_on(p, &hex(GET_EID))),
            StatusWord::SECURITY_STATUS_NOT_SATISFIED
        );
        // GET DATA Card Data (GP §H.2).
        let cd = card.process_on(p, &hex("80CA006600"));
        assert_eq!(&cd[..cd.len() - 2], card::gp::card_data());
        assert_eq!(sw(&cd), StatusWord::OK);
        assert_eq!(snapshot(&card), before);
    }
}

#[test]
fn non_common_aids_route_the_same_on_every_interface() {
    for p in Protocol::ALL {
        let mut card = new_card(CardState::new());
        let r = select(&mut card, p, &apdu::ISD_R_AID);
        assert_eq!(r.sw, StatusWord::OK, "{p}");
        assert_eq!(fci_aid(&r.data), apdu::ISD_R_AID);
        assert_eq!(card.process_on(p, &hex(GET_EID)), hex(EID_RESPONSE), "{p}");
        // Right-truncated DF name of the ISD-R.
        assert_eq!(
            card.process_on(p, &hex("00A4040C09A0000005591010FFFF")),
            [0x90, 0x00]
        );
        // An AID no container owns.
        assert_eq!(
            select(&mut card, p, &hex("A0000000871002FF")).sw,
            StatusWord::FILE_NOT_FOUND
        );
        // No container exposes a file system without an enabled profile.
        assert_eq!(
            sw(&card.process_on(p, &hex("00A40004023F00"))),
            StatusWord::FILE_NOT_FOUND
        );
    }
}

#[test]
fn unmapped_protocol_fails_closed() {
    let mut card = admin_card();
    // Only T=0 → telecom and SPI → GlobalPlatform.
    let table = hex("A008 80020101 80020602");
    assert_eq!(
        card.process(&set_pairing_apdu(&KEY128, &table, 1)),
        [0x90, 0x00]
    );
    assert_eq!(
        fci_aid(&select(&mut card, Protocol::T0, &GP_ISD_AID).data),
        apdu::ISD_R_AID
    );
    assert_eq!(
        select(&mut card, Protocol::Spi, &GP_ISD_AID).data,
        card::gp::isd_fci()
    );
    for p in [
        Protocol::T1,
        Protocol::SwpTypeA,
        Protocol::SwpTypeB,
        Protocol::HciApduGate,
        Protocol::Proprietary,
    ] {
        assert_eq!(
            select(&mut card, p, &GP_ISD_AID).sw,
            StatusWord::FILE_NOT_FOUND,
            "{p}"
        );
        // Partial common AID too.
        assert_eq!(
            sw(&card.process_on(p, &hex("00A4040005A000000151"))),
            StatusWord::FILE_NOT_FOUND
        );
        // Non-common AIDs still resolve in their container.
        assert_eq!(select(&mut card, p, &apdu::ISD_R_AID).sw, StatusWord::OK);
    }
    // A common-AID selection that fails leaves the channel's previous selection.
    assert_eq!(
        card.process_on(Protocol::T1, &hex(GET_EID)),
        hex(EID_RESPONSE)
    );
}

#[test]
fn corrupted_pairing_data_blocks_common_aids_only() {
    for flip in [0usize, 3, 9, 20, 40] {
        let mut card = admin_card();
        let mut state = card.state().clone();
        state.pairing.nvm_slots_mut()[0][flip] ^= 0x01;
        // Through the persisted document, as a damaged card file would arrive.
        let state = CardState::from_bytes(&state.to_bytes()).unwrap();
        let rev = card.state_revision();
        card.load_state(state);
        assert_ne!(card.state_revision(), rev);
        assert!(card.state().pairing.table().is_err());
        for p in Protocol::ALL {
            assert_eq!(
                select(&mut card, p, &GP_ISD_AID).sw,
                StatusWord::FILE_NOT_FOUND,
                "{p} byte {flip}"
            );
            assert_eq!(select(&mut card, p, &apdu::ISD_R_AID).sw, StatusWord::OK);
            assert_eq!(card.process_on(p, &hex(GET_EID)), hex(EID_RESPONSE));
        }
        assert_eq!(
            sw(&read_pairing(&mut card, Protocol::T0)),
            StatusWord::MEMORY_FAILURE
        );
        // The administrator can write a fresh table; routing works again.
        let table = PairingTable::default().encode();
        assert_eq!(
            card.process(&set_pairing_apdu(&KEY128, &table, 1)),
            [0x90, 0x00]
        );
        assert_eq!(
            select(&mut card, Protocol::Spi, &GP_ISD_AID).data,
            card::gp::isd_fci()
        );
    }
}

#[test]
fn routing_never_falls_back_to_another_container() {
    let mut card = new_card(CardState::new());
    // A registry whose common AID has a target in the GlobalPlatform container only.
    card.set_aliases(AliasRegistry::new(vec![Alias {
        common: GP_ISD_AID.to_vec(),
        targets: vec![(ContainerId::GlobalPlatform, GP_ISD_AID.to_vec())],
    }]));
    for p in CONTACT {
        assert_eq!(
            select(&mut card, p, &GP_ISD_AID).sw,
            StatusWord::FILE_NOT_FOUND
        );
    }
    assert_eq!(
        select(&mut card, Protocol::Spi, &GP_ISD_AID).sw,
        StatusWord::OK
    );
    // A target that its container does not hold: not found either.
    card.set_aliases(AliasRegistry::new(vec![Alias {
        common: GP_ISD_AID.to_vec(),
        targets: vec![
            (ContainerId::Telecom, GP_ISD_AID.to_vec()),
            (ContainerId::GlobalPlatform, apdu::ISD_R_AID.to_vec()),
        ],
    }]));
    for p in Protocol::ALL {
        assert_eq!(
            select(&mut card, p, &GP_ISD_AID).sw,
            StatusWord::FILE_NOT_FOUND,
            "{p}"
        );
    }
}

#[test]
fn containers_are_isolated() {
    let mut state = CardState::with_pairing_admin_key(&KEY256).unwrap();
    state.gp.iin = Some(hex("42018999"));
    let mut card = new_card(state);
    let gp_before = card.state().gp.clone();
    let pairing_before = card.state().pairing.clone();

    // Telecom: ES10 functions over T=1 change telecom objects only.
    select(&mut card, Protocol::T1, &GP_ISD_AID);
    let set_dp = format!("BF3F0F800D{}", hex::encode("smdp.test.net"));
    let r = apdu::es10_exchange(&mut T1(&mut card), 0, &hex(&set_dp)).unwrap();
    assert_eq!(r, hex("BF3F03800100"));
    assert_eq!(
        card.state().default_dp_address.as_deref(),
        Some("smdp.test.net")
    );
    // eUICCMemoryReset: the telecom container forgets; the GP container and the pairing data
    // do not.
    let r = apdu::es10_exchange(&mut T1(&mut card), 0, &hex("BF3404820205A0")).unwrap();
    assert_eq!(r, hex("BF3403800100"));
    assert_eq!(card.state().default_dp_address, None);
    assert_eq!(card.state().gp, gp_before);
    assert_eq!(card.state().pairing, pairing_before);
    // The ISD-R has no access to GlobalPlatform objects.
    for gd in ["80CA004200", "80CA006600", "00CA004200"] {
        assert_eq!(
            sw(&card.process_on(Protocol::T1, &hex(gd))),
            StatusWord::INS_NOT_SUPPORTED
        );
    }

    // GlobalPlatform: over SPI the ISD reads its own objects ...
    select(&mut card, Protocol::Spi, &GP_ISD_AID);
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("80CA004200")),
        hex("4204 42018999 9000")
    );
    assert_eq!(
        sw(&card.process_on(Protocol::Spi, &hex("80CA004500"))),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    // ... and cannot reach telecom objects: ES10 requests (GetEID, SetDefaultDpAddress,
    // MemoryReset) sent to it do nothing.
    let before = snapshot(&card);
    for req in [
        GET_EID.to_string(),
        format!("80E29100{:02X}{set_dp}", set_dp.len() / 2),
    ] {
        assert_eq!(
            sw(&card.process_on(Protocol::Spi, &hex(&req))),
            StatusWord::SECURITY_STATUS_NOT_SATISFIED
        );
    }
    assert_eq!(
        sw(&card.process_on(Protocol::Spi, &hex("80E2910007BF3404820205A0"))),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(snapshot(&card), before);
    // A telecom selection made on another interface is invisible to SPI.
    assert_eq!(
        sw(&card.process_on(Protocol::Spi, &hex("81E2910006BF3E035C015A"))),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
}

/// A transport delivering over T=1.
struct T1<'a>(&'a mut Card);

impl apdu::CardTransport for T1<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        Ok(self.0.process_on(Protocol::T1, apdu))
    }
}

#[test]
fn each_interface_has_its_own_channels() {
    let mut card = new_card(CardState::new());
    // Channel 1 opened on T=1 is not open on SPI; SPI numbers its own channels from 1.
    assert_eq!(
        card.process_on(Protocol::T1, &hex("0070000001")),
        hex("01 9000")
    );
    assert_eq!(
        sw(&card.process_on(
            Protocol::Spi,
            &hex("01A4040C10A0000005591010FFFFFFFF8900000100")
        )),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("0070000001")),
        hex("01 9000")
    );
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("0070000001")),
        hex("02 9000")
    );
    assert_eq!(
        card.process_on(Protocol::T1, &hex("0070000001")),
        hex("02 9000")
    );
    // Closing SPI's channel 2 leaves T=1's channel 2 open.
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("00708002")),
        hex("9000")
    );
    assert_eq!(card.process_on(Protocol::T1, &hex("02708000")), hex("9000"));
    // T=0 and T=1 are protocols of the one contact interface: they share its channels.
    assert_eq!(card.process_on(Protocol::T0, &hex("01708000")), hex("9000"));
    assert_eq!(
        sw(&card.process_on(Protocol::T1, &hex("01708000"))),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
    assert_eq!(Protocol::T0.interface(), Interface::Contact);
    assert_eq!(Protocol::T1.interface(), Interface::Contact);
}

#[test]
fn a_reset_touches_its_own_interface_only() {
    let mut card = new_card(CardState::new());
    // ISD-R on the contact interface, channel 3; GP ISD on the APDU gate, channel 0.
    card.process_on(Protocol::T1, &hex("00700003"));
    card.process_on(Protocol::T1, &select_cmd(0x03, &apdu::ISD_R_AID));
    select(&mut card, Protocol::HciApduGate, &GP_ISD_AID);
    select(&mut card, Protocol::SwpTypeB, &GP_ISD_AID);
    // Reset of the SWP type B interface: the others keep their state.
    card.reset_interface(Interface::SwpTypeB);
    assert_eq!(
        sw(&card.process_on(Protocol::SwpTypeB, &hex("80CA006600"))),
        StatusWord::INS_NOT_SUPPORTED
    );
    assert_eq!(
        card.process_on(Protocol::T1, &hex("83E2910006BF3E035C015A")),
        hex(EID_RESPONSE)
    );
    assert_eq!(
        sw(&card.process_on(Protocol::HciApduGate, &hex("80CA006600"))),
        StatusWord::OK
    );
    // Reset of the contact interface (the ATR): its channel 3 is gone; the gate is untouched.
    let rev = card.state_revision();
    let state = card.state().clone();
    assert_eq!(card.reset()[0], 0x3B);
    assert_eq!(
        sw(&card.process_on(Protocol::T1, &hex("83E2910006BF3E035C015A"))),
        StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&card.process_on(Protocol::HciApduGate, &hex("80CA006600"))),
        StatusWord::OK
    );
    // Persistent state stays.
    assert_eq!(card.state(), &state);
    assert_eq!(card.state_revision(), rev);
}

#[test]
fn responses_leave_on_their_own_interface() {
    let mut card = new_card(CardState::new());
    select(&mut card, Protocol::T1, &apdu::ISD_R_AID);
    select(&mut card, Protocol::Spi, &apdu::ISD_R_AID);
    // EUICCInfo2 with Le = 16 over T=1: 16 bytes and 61xx.
    let first =
        Response::parse(&card.process_on(Protocol::T1, &hex("80E2910003BF220010"))).unwrap();
    assert_eq!(first.data.len(), 16);
    let more = first.sw.more_data().expect("61xx") as u8;
    // The same channel number on SPI has nothing pending.
    assert_eq!(
        sw(&card.process_on(Protocol::Spi, &[0x00, 0xC0, 0x00, 0x00, more])),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
    // T=1 still gets its data.
    let rest =
        Response::parse(&card.process_on(Protocol::T1, &[0x00, 0xC0, 0x00, 0x00, more])).unwrap();
    assert_eq!(rest.sw, StatusWord::OK);
    let mut all = first.data;
    all.extend_from_slice(&rest.data);
    assert!(all.starts_with(&[0xBF, 0x22]));
    // A STORE DATA chain on one interface is not continued by another.
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("80E2110002BF3E")),
        hex("9000")
    );
    assert_eq!(
        sw(&card.process_on(Protocol::T1, &hex("80E29101 02035C"))),
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(
        card.process_on(Protocol::Spi, &hex("80E21101 02035C")),
        hex("9000")
    );
    let r = card.process_on(Protocol::Spi, &hex("80E29102 02015A"));
    assert_eq!(r, hex(EID_RESPONSE));
}

#[test]
fn pairing_admin_command() {
    for key in [&KEY128[..], &KEY256[..]] {
        let mut card = new_card(CardState::with_pairing_admin_key(key).unwrap());
        // Factory table and counter 0.
        let read = read_pairing(&mut card, Protocol::Spi);
        let default = PairingTable::default().encode();
        assert_eq!(
            read[..read.len() - 2],
            [&default[..], &[0, 0, 0, 0]].concat()
        );
        assert_eq!(sw(&read), StatusWord::OK);

        // Good MAC: SPI → telecom, T=0 → GlobalPlatform, T=1 unmapped.
        let table = hex("A008 80020601 80020102");
        let rev = card.state_revision();
        assert_eq!(
            card.process_on(Protocol::SwpTypeA, &set_pairing_apdu(key, &table, 7)),
            hex("9000")
        );
        assert_ne!(card.state_revision(), rev);
        let read = read_pairing(&mut card, Protocol::T1);
        assert_eq!(
            read,
            [
                &hex("A008 80020102 80020601")[..],
                &[0, 0, 0, 7],
                &[0x90, 0]
            ]
            .concat()
        );
        assert_eq!(
            fci_aid(&select(&mut card, Protocol::Spi, &GP_ISD_AID).data),
            apdu::ISD_R_AID
        );
        assert_eq!(
            select(&mut card, Protocol::T0, &GP_ISD_AID).data,
            card::gp::isd_fci()
        );
        assert_eq!(
            select(&mut card, Protocol::T1, &GP_ISD_AID).sw,
            StatusWord::FILE_NOT_FOUND
        );
        // Persisted and reloaded: the same table.
        let reloaded = CardState::from_bytes(&card.state().to_bytes()).unwrap();
        assert_eq!(&reloaded, card.state());

        let before = snapshot(&card);
        let refuse = |card: &mut Card, apdu: &[u8], expect: StatusWord| {
            assert_eq!(
                sw(&card.process_on(Protocol::T0, apdu)),
                expect,
                "{}",
                hex::encode(apdu)
            );
            assert_eq!(snapshot(card), before);
        };
        let good = PairingTable::default().encode();
        // Bad MAC: a flipped MAC bit, a flipped data bit, the wrong key.
        let mut bad = set_pairing_apdu(key, &good, 8);
        *bad.last_mut().unwrap() ^= 1;
        refuse(&mut card, &bad, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        let mut bad = set_pairing_apdu(key, &good, 8);
        bad[8] ^= 1;
        refuse(&mut card, &bad, StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        refuse(
            &mut card,
            &set_pairing_apdu(&[0x11; 16], &good, 8),
            StatusWord::SECURITY_STATUS_NOT_SATISFIED,
        );
        // Replay of the accepted command, and an older counter.
        refuse(
            &mut card,
            &set_pairing_apdu(key, &table, 7),
            StatusWord::CONDITIONS_NOT_SATISFIED,
        );
        refuse(
            &mut card,
            &set_pairing_apdu(key, &good, 6),
            StatusWord::CONDITIONS_NOT_SATISFIED,
        );
        // Invalid tables, correctly MACed with a fresh counter: unknown container, duplicate
        // protocol, unknown protocol, malformed.
        for t in [
            "A004 80020103",
            "A008 80020101 80020102",
            "A004 80020901",
            "A003 800101",
            "A104 80020101",
            "A004 80020101 9000",
        ] {
            refuse(
                &mut card,
                &set_pairing_apdu(key, &hex(t), 8),
                StatusWord::INCORRECT_DATA,
            );
        }
        // Coding errors.
        refuse(
            &mut card,
            &hex("803A010004 01020304"),
            StatusWord::WRONG_LENGTH,
        );
        refuse(&mut card, &hex("803A000001 00"), StatusWord::WRONG_LENGTH);
        refuse(&mut card, &hex("803A020000"), StatusWord::INCORRECT_P1_P2);
        refuse(&mut card, &hex("803A000100"), StatusWord::INCORRECT_P1_P2);
        let mut ii = set_pairing_apdu(key, &good, 8);
        ii[0] = 0x00;
        refuse(&mut card, &ii, StatusWord::CLA_NOT_SUPPORTED);
        // The command works on any open channel (CLA 81, C1 = channel 5).
        assert_eq!(card.process_on(Protocol::T0, &hex("00700005")), hex("9000"));
        let mut on5 = set_pairing_apdu(key, &good, 8);
        on5[0] = 0xC1;
        assert_eq!(card.process_on(Protocol::T0, &on5), hex("9000"));
        assert_eq!(
            read_pairing(&mut card, Protocol::T0),
            [&good[..], &[0, 0, 0, 8], &[0x90, 0]].concat()
        );
    }
    // A card created without an administration key refuses every update.
    let mut card = new_card(CardState::new());
    let before = snapshot(&card);
    assert_eq!(
        sw(&card.process(&set_pairing_apdu(
            &KEY128,
            &PairingTable::default().encode(),
            1
        ))),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(snapshot(&card), before);
}

#[test]
fn torn_pairing_update_leaves_old_or_new() {
    let old = PairingTable::default();
    let new = PairingTable::new([
        (Protocol::T0, ContainerId::GlobalPlatform),
        (Protocol::Spi, ContainerId::Telecom),
    ])
    .unwrap();
    let apdu = set_pairing_apdu(&KEY128, &new.encode(), 1);
    let mut saw = (false, false);
    let mut complete_at = None;
    for cut in 0..200 {
        let mut card = admin_card();
        let rev = card.state_revision();
        card.inject_power_loss(cut);
        let resp = card.process_on(Protocol::T1, &apdu);
        if resp == [0x90, 0x00] {
            complete_at = Some(cut);
            break;
        }
        assert!(resp.is_empty(), "cut {cut}: no response after power loss");
        // Programmed bytes persist (the edge saves them) and count as a change.
        assert_eq!(card.state_revision() != rev, cut > 0, "cut {cut}");
        // Power back: through the persisted document into a fresh card.
        let state = CardState::from_bytes(&card.state().to_bytes()).unwrap();
        let mut card = new_card(state);
        card.reset();
        let table = card
            .state()
            .pairing
            .table()
            .expect("a valid table after every cut");
        assert!(table == old || table == new, "cut {cut}: {table:?}");
        let on_t0 = select(&mut card, Protocol::T0, &GP_ISD_AID);
        if table == new {
            saw.1 = true;
            assert_eq!(on_t0.data, card::gp::isd_fci(), "cut {cut}");
        } else {
            saw.0 = true;
            assert_eq!(fci_aid(&on_t0.data), apdu::ISD_R_AID, "cut {cut}");
            // The counter was written first: the torn command can not be replayed later.
            if cut >= 1 {
                assert_eq!(card.state().pairing.admin_counter(), 1);
            }
        }
    }
    // Every byte position was cut, both outcomes occurred, and the uncut update completes.
    let n = complete_at.expect("the update completes with enough power");
    let record_len = 2 + 4 + 2 + new.encode().len() + 32;
    assert_eq!(n, 1 + record_len + 1);
    assert!(saw.0 && saw.1);
}

#[test]
fn bad_input_changes_nothing() {
    for p in Protocol::ALL {
        let mut card = admin_card();
        select(&mut card, p, &apdu::ISD_R_AID);
        card.process_on(p, &hex("00700001"));
        let before = snapshot(&card);
        for (apdu, expect) in [
            ("", StatusWord::WRONG_LENGTH),
            ("80", StatusWord::WRONG_LENGTH),
            ("80E291", StatusWord::WRONG_LENGTH),
            // Lc says 5, 4 bytes follow; Lc 2 with 4 bytes and no valid Le.
            ("80E2910005BF2E0000", StatusWord::WRONG_LENGTH),
            ("80E2910002BF2E0000", StatusWord::WRONG_LENGTH),
            // Extended length misused: '00' + one byte; extended Lc 0000; extended Lc with a
            // short Le.
            ("80E291000001", StatusWord::WRONG_LENGTH),
            ("80E29100000000BF", StatusWord::WRONG_LENGTH),
            ("80E29100000003BF2E0000", StatusWord::WRONG_LENGTH),
            // Unknown classes and instructions.
            ("A0A40000023F00", StatusWord::CLA_NOT_SUPPORTED),
            ("20A4040000", StatusWord::CLA_NOT_SUPPORTED),
            ("FFA4040000", StatusWord::CLA_NOT_SUPPORTED),
            ("0010000000", StatusWord::INS_NOT_SUPPORTED),
            ("80F2400000", StatusWord::INS_NOT_SUPPORTED),
            // Channels that are not open (2, 4, 19) and MANAGE CHANNEL beyond 19.
            (
                "82E2910003BF2E00",
                StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED,
            ),
            ("40A4040000", StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED),
            (
                "CFE2910003BF2E00",
                StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED,
            ),
            ("00700014", StatusWord::INCORRECT_P1_P2),
            ("00708014", StatusWord::INCORRECT_P1_P2),
            ("00708002", StatusWord::REFERENCED_DATA_NOT_FOUND),
            // Secure messaging and chaining indicated in CLA.
            (
                "84E2910003BF2E00",
                StatusWord::SECURE_MESSAGING_NOT_SUPPORTED,
            ),
            ("10A4040002A000", StatusWord::CHAINING_NOT_SUPPORTED),
            // SELECT with bad P1/P2 or length.
            ("00A4770002AAAA", StatusWord::INCORRECT_P1_P2),
            ("00A4041002A000", StatusWord::INCORRECT_P1_P2),
            (
                "00A4040011A0000005591010FFFFFFFF890000010000",
                StatusWord::WRONG_LENGTH,
            ),
        ] {
            assert_eq!(sw(&card.process_on(p, &hex(apdu))), expect, "{p} {apdu}");
            assert_eq!(snapshot(&card), before, "{p} {apdu}");
        }
        // The session is intact: channel 0 still has the ISD-R, channel 1 is still open.
        assert_eq!(card.process_on(p, &hex(GET_EID)), hex(EID_RESPONSE), "{p}");
        assert_eq!(card.process_on(p, &hex("01708000")), hex("9000"), "{p}");
    }
}

#[test]
fn old_card_files_load_with_factory_pairing() {
    // A version-1 document written before containers existed: no "gp", no "pairing".
    let doc = r#"{"version":1,"profiles":[],"notifications":[],"last_seq_number":0,
        "default_dp_address":null,"root_ds_address":"lpa.ds.gsma.com","session":null}"#;
    let state = CardState::from_bytes(doc.as_bytes()).unwrap();
    assert_eq!(state.pairing.table().unwrap(), PairingTable::default());
    assert!(!state.pairing.has_admin_key());
    assert_eq!(state.gp, card::gp::GpState::default());
    let mut card = new_card(state);
    assert_eq!(
        fci_aid(&select(&mut card, Protocol::T0, &GP_ISD_AID).data),
        apdu::ISD_R_AID
    );
    assert_eq!(
        select(&mut card, Protocol::Spi, &GP_ISD_AID).data,
        card::gp::isd_fci()
    );
    // Re-saved, the new fields are written and read back; the key never shows in Debug.
    let with_key = CardState::with_pairing_admin_key(&KEY128).unwrap();
    let bytes = with_key.to_bytes();
    assert_eq!(CardState::from_bytes(&bytes).unwrap(), with_key);
    assert!(!format!("{with_key:?}").contains("4B4B"));
    assert!(CardState::with_pairing_admin_key(&[0; 15]).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    /// Any APDU on any protocol gets a status word; the card never panics.
    #[test]
    fn random_apdus_on_random_protocols_never_panic(cmds in proptest::collection::vec(
        (0usize..7, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)), 1..10)) {
        let mut card = admin_card();
        select(&mut card, Protocol::Spi, &GP_ISD_AID);
        select(&mut card, Protocol::T1, &GP_ISD_AID);
        for (p, a) in cmds {
            let r = card.process_on(Protocol::ALL[p], &a);
            proptest::prop_assert!(r.len() >= 2);
        }
    }

    /// Random pairing admin payloads never panic and never change the state unless the MAC
    /// verifies.
    #[test]
    fn random_pairing_commands_never_panic(p1 in 0u8..3, data in proptest::collection::vec(
        proptest::prelude::any::<u8>(), 0..120)) {
        let mut card = admin_card();
        let before = snapshot(&card);
        let mut c = vec![0x80, 0x3A, p1, 0x00];
        if !data.is_empty() {
            c.push(data.len() as u8);
            c.extend_from_slice(&data);
        }
        let r = card.process(&c);
        proptest::prop_assert!(r.len() >= 2);
        if p1 != 0 {
            proptest::prop_assert_eq!(snapshot(&card), before);
        }
    }
}
