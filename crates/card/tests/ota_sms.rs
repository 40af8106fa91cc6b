//! The card side of the OTA platform over `Card::process_on(Protocol::T0, ..)`: SMS-PP download
//! ENVELOPEs carrying SCP80 secured packets (built and their PoRs checked with the `ota`
//! crate's server-side API), RFM of the TS.48 profile's file system, RAM to the ISD and to an
//! SSD with data encrypted under the SSD's own DEK, concatenated SMS, the PoR status codes of
//! ETSI TS 102 225 §5.2 table 5, and the PoR as SMS-SUBMIT through SEND SHORT MESSAGE with
//! FETCH / TERMINAL RESPONSE.
//!
//! Keys: the card's default OTA key set (KVN 1, AES-128) is pySim's `Test_SMS_AES128` pair
//! (`tests/unittests/test_ota.py`); the SSD keys are the GP test keys 404142..4F.

mod gp_common;

use apdu::{Command, Response, StatusWord};
use card::ota::proactive::SmsPpDownload;
use card::ota::{DEFAULT_KIC, DEFAULT_KID};
use card::testing::OtaServer;
use card::{Card, CardState, Protocol};
use gp::commands::Install;
use gp::{Dek, PutKeyData};
use gp_common::*;
use ota::ts23040::{Address, Scts, SmsSubmit, UserData};
use ota::ts31115::{command_deliver, command_user_data};
use ota::*;

const RFM_TAR: [u8; 3] = [0xB0, 0x00, 0x00];
const ISD_TAR: [u8; 3] = [0x00, 0x00, 0x00];
/// An SSD whose AID carries its TAR 'C0C1C2' in bytes 13-15.
const SSD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41, 0x00, 0x00, 0x00, 0x01, 0xC0, 0xC1, 0xC2, 0x00,
];
const SSD_TAR: [u8; 3] = [0xC0, 0xC1, 0xC2];
const APP_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x00, 0x99, 0x77, 0x66, 0x01];
const SC_ADDRESS: [u8; 6] = [0x91, 0x94, 0x71, 0x00, 0x00, 0xF1];

/// The OTA server: the card's factory OTA keys and the SMS it sends.
struct Server {
    ota: OtaServer,
    originator: Address,
}

fn server() -> Server {
    Server {
        ota: OtaServer::factory().unwrap(),
        originator: Address::digits(1, 1, "4912345678").unwrap(),
    }
}

fn spi(submit: bool) -> Spi {
    Spi::secured(if submit {
        PorTransport::SmsSubmit
    } else {
        PorTransport::DeliverReport
    })
}

impl Server {
    fn packet(&self, spi: Spi, tar: [u8; 3], counter: u64, data: &[u8]) -> Vec<u8> {
        self.ota.packet(spi, tar, counter, data).unwrap()
    }

    /// The ENVELOPE (SMS-PP download) APDU for one TP-UD.
    fn envelope(&self, ud: UserData) -> Vec<u8> {
        let scts = Scts::new([25, 1, 1, 12, 0, 0], 4);
        let tpdu = command_deliver(self.originator.clone(), scts, ud)
            .encode()
            .unwrap();
        let data = SmsPpDownload::encode(Some(&SC_ADDRESS), &tpdu);
        Command::with_data(0x80, 0xC2, 0x00, 0x00, data)
            .encode()
            .unwrap()
    }

    fn envelopes(&self, packet: &[u8], reference: u16) -> Vec<Vec<u8>> {
        command_user_data(packet, reference)
            .unwrap()
            .into_iter()
            .map(|ud| self.envelope(ud))
            .collect()
    }

    fn por(&self, ud: &[u8], security: PorSecurity) -> ResponsePacket {
        self.ota.por(ud, security).unwrap()
    }
}

fn tx(card: &mut Card, apdu: &[u8]) -> Response {
    Response::parse(&card.process_on(Protocol::T0, apdu)).unwrap()
}

/// One command packet (concatenated SMS when it needs more than one); returns the response
/// to the last ENVELOPE.
fn send(card: &mut Card, s: &Server, spi: Spi, tar: [u8; 3], cntr: u64, data: &[u8]) -> Response {
    let env = s.envelopes(&s.packet(spi, tar, cntr, data), cntr as u16 & 0xFF);
    let (last, first) = env.split_last().unwrap();
    for e in first {
        let r = tx(card, e);
        assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 0));
    }
    tx(card, last)
}

/// Sends and decodes the PoR from the ENVELOPE response (SMS-DELIVER-REPORT path).
fn send_por(card: &mut Card, s: &Server, tar: [u8; 3], cntr: u64, data: &[u8]) -> ResponsePacket {
    let r = send(card, s, spi(false), tar, cntr, data);
    assert_eq!(r.sw, StatusWord::OK);
    s.por(&r.data, PorSecurity::from_spi(&spi(false)))
}

fn adn_record_len(card: &mut Card) -> usize {
    card::testing::adn_record_len(card).expect("the TS.48 profile has EF.ADN")
}

fn read_adn(card: &mut Card, rec: u8, len: usize) -> Vec<u8> {
    card::testing::read_adn(card, rec, len).expect("READ RECORD of EF.ADN")
}

use card::testing::adn_record as record;

fn c_apdu_tlv(apdu: &[u8]) -> Vec<u8> {
    tlv::encode_tlv(tlv::Tag(0x22), apdu)
}

#[test]
fn rfm_update_record_of_ef_adn_expanded_and_compact() {
    let mut card = ts48_card();
    let s = server();
    let len = adn_record_len(&mut card);
    let rec1 = record(len, "ALICE");
    // Expanded: SELECT DF.TELECOM, SELECT EF.ADN, UPDATE RECORD 1, READ RECORD 1.
    let mut update = vec![0x00, 0xDC, 0x01, 0x04, len as u8];
    update.extend_from_slice(&rec1);
    let mut body = c_apdu_tlv(&hex("00A40004027F10"));
    body.extend(c_apdu_tlv(&hex("00A40004026F3A")));
    body.extend(c_apdu_tlv(&update));
    body.extend(c_apdu_tlv(&[0x00, 0xB2, 0x01, 0x04, len as u8]));
    let script = tlv::encode_tlv(tlv::Tag(0xAA), &body);
    let rev = card.state_revision();
    let por = send_por(&mut card, &s, RFM_TAR, 1, &script);
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.tar, RFM_TAR);
    assert_eq!(por.counter.value(), 1);
    // 'AB' { '80' 01 04, four '23' R-APDUs }.
    let ab = tlv::Tlv::parse_expecting(&por.data, tlv::Tag(0xAB)).unwrap();
    let items: Vec<_> = tlv::iter(ab.value).map(|t| t.unwrap()).collect();
    assert_eq!(items[0].raw, [0x80, 0x01, 0x04]);
    assert_eq!(items.len(), 5);
    assert_eq!(items[1].value[0], 0x61); // SELECT without Le: 61xx
    assert_eq!(items[3].value, [0x90, 0x00]);
    let mut expect = rec1.clone();
    expect.extend_from_slice(&[0x90, 0x00]);
    assert_eq!(items[4].value, expect);
    assert_ne!(card.state_revision(), rev);
    assert_eq!(card.state().ota.counter(RFM_TAR), 1);
    // The terminal sees the update.
    assert_eq!(read_adn(&mut card, 1, len), rec1);

    // Compact: SELECT, SELECT, UPDATE RECORD 2. PoR: 3 commands, last SW 9000, no data.
    let rec2 = record(len, "BOB");
    let mut compact = hex("00A40004027F10 00A40004026F3A");
    compact.extend_from_slice(&[0x00, 0xDC, 0x02, 0x04, len as u8]);
    compact.extend_from_slice(&rec2);
    let por = send_por(&mut card, &s, RFM_TAR, 2, &compact);
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data, [0x03, 0x90, 0x00]);
    assert_eq!(read_adn(&mut card, 2, len), rec2);

    // A failing command stops the script: READ RECORD of a record that does not exist.
    let compact = hex("00A40004027F10 00A40004026F3A 00B2FF0400 00DC010400");
    let por = send_por(&mut card, &s, RFM_TAR, 3, &compact);
    assert_eq!(por.data[0], 3);
    assert_eq!(por.data[1], 0x6A);
    // Without the ADM1 grant, an ADM-protected update is refused (EF.ICCID: update ADM).
    let mut st = card.state().clone();
    st.ota.config.rfm_access.key_refs.clear();
    card.load_state(st);
    let por = send_por(
        &mut card,
        &s,
        RFM_TAR,
        4,
        &hex("00A40004022FE2 00D600000A 00112233445566778899"),
    );
    assert_eq!(por.data[..3], [0x02, 0x69, 0x82]);
}

/// pySim `tests/unittests/test_ota.py` `Test_SMS_AES128.test_cmd_aes128_ciphered`: the card
/// opens pySim's command packet (KVN 2, SPI 0619, no counter, TAR B00011, SELECT MF) and
/// answers a PoR that pySim's compact-response layout decodes (1 command, SW 61xx).
#[test]
fn opens_the_pysim_aes128_command_packet() {
    let mut card = ts48_card();
    let mut st = card.state().clone();
    let mut ks = card::ota::default_key_sets().remove(0);
    ks.kvn = 2;
    st.ota.key_sets.push(ks);
    st.ota.config.msl = 0x06; // CC and ciphering, no counter required
    card.load_state(st);
    let packet =
        hex("00281506192222b00011e87cceebb2d93083011ce294f93fc4d8de80da1abae8c37ca3e72ec4432e5058");
    let s = server();
    let mut ud = vec![0x02, 0x70, 0x00];
    ud.extend_from_slice(&packet);
    let r = tx(&mut card, &s.envelope(UserData::eight_bit(ud).unwrap()));
    assert_eq!(r.sw, StatusWord::OK);
    let keys = s.ota.keys.clone();
    let spi = Spi::from_bytes([0x06, 0x19]).unwrap();
    let por = parse_response(
        &r.data,
        PorSecurity::from_spi(&spi),
        Kic(0x22),
        Kid(0x22),
        &keys,
    )
    .unwrap();
    assert_eq!(por.tar, [0xB0, 0x00, 0x11]);
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data[0], 1);
    assert_eq!(por.data[1], 0x61);
}

#[test]
fn ram_get_status_of_the_isd() {
    let mut card = ts48_card();
    let s = server();
    // GET STATUS (ISD, TLV format), then GET RESPONSE for its data.
    let por = send_por(&mut card, &s, ISD_TAR, 1, &hex("80F28002024F00 80C0000000"));
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data[0], 2);
    assert_eq!(por.data[1..3], [0x90, 0x00]);
    let e3 = tlv::Tlv::parse_single(&por.data[3..]).unwrap();
    assert_eq!(e3.tag, tlv::Tag(0xE3));
    let aid = tlv::find(e3.value, tlv::Tag(0x4F)).unwrap().unwrap();
    assert_eq!(aid.value, GP_ISD_AID);
    // Expanded format, indefinite length.
    let mut body = vec![0xAE, 0x80];
    body.extend(c_apdu_tlv(&hex("80F28002024F0000")));
    body.extend_from_slice(&[0x00, 0x00]);
    let por = send_por(&mut card, &s, ISD_TAR, 2, &body);
    assert_eq!(&por.data[..5], &[0xAF, 0x80, 0x80, 0x01, 0x01]);
    assert_eq!(&por.data[por.data.len() - 4..], &[0x90, 0x00, 0x00, 0x00]);
}

#[test]
fn ram_to_an_ssd_with_data_encrypted_under_its_dek() {
    let mut card = ts48_card_with_ssd(&SSD_AID, &APP_AID);
    let s = server();
    // The service provider's side: STORE DATA (BER-TLV '50' label, exactly one AES block)
    // encrypted under the SSD's DEK, and a PUT KEY of a new key set under the same DEK.
    let ssd_dek = Dek::aes(test_keys().dek().expose()).unwrap();
    let plain = hex("500E 4F544153534420504552534F2121"); // "OTASSD PERSO!!"
    assert_eq!(plain.len(), 16);
    let enc = ssd_dek.encrypt(&plain).unwrap();
    let k = hex("00112233445566778899AABBCCDDEEFF");
    let new_keys = gp::KeySet::aes(0x31, &k, &k, &k).unwrap();
    let mut rng = card::testing::SeededRng::new(b"sp");
    let put_key = PutKeyData::for_key_set(&new_keys, &ssd_dek, &mut rng).unwrap();
    let perso = Install::ForPersonalization {
        application_aid: APP_AID.to_vec(),
    }
    .command()
    .unwrap();
    let mut store = vec![0x80, 0xE2, 0x80 | 0x60 | 0x10, 0x00, enc.len() as u8];
    store.extend_from_slice(&enc);
    let mut body = c_apdu_tlv(&perso.encode().unwrap());
    body.extend(c_apdu_tlv(&store));
    body.extend(c_apdu_tlv(
        &gp::commands::put_key_command(0x00, 0x01, &put_key)
            .unwrap()
            .encode()
            .unwrap(),
    ));
    let script = tlv::encode_tlv(tlv::Tag(0xAA), &body);
    // What the telecom side opens (the SCP80 payload) holds only the ciphertext.
    assert!(!script.windows(plain.len()).any(|w| w == plain.as_slice()));
    assert!(!script.windows(k.len()).any(|w| w == k.as_slice()));

    let gp_before = serde_json::to_string(&card.state().gp).unwrap();
    let por = send_por(&mut card, &s, SSD_TAR, 1, &script);
    assert_eq!(por.status, PorStatus::PorOk);
    let ab = tlv::Tlv::parse_expecting(&por.data, tlv::Tag(0xAB)).unwrap();
    let items: Vec<_> = tlv::iter(ab.value).map(|t| t.unwrap()).collect();
    assert_eq!(
        items[0].raw,
        [0x80, 0x01, 0x03],
        "{}",
        hex::encode(&por.data)
    );
    assert_eq!(items[2].value, [0x90, 0x00]);
    // The applet is personalized with the plaintext only the GP container could recover.
    let app = card.state().gp.app(&APP_AID).unwrap();
    assert_eq!(app.data_object(0x50).unwrap().value, plain[2..]);
    // The SSD now has the new key set (KVN 31).
    assert!(card.state().gp.keys(&SSD_AID).unwrap().find(0x31).is_some());

    // Isolation, structurally: the OTA state holds no GP key, the GP state no OTA key.
    let ota_json = serde_json::to_string(&card.state().ota)
        .unwrap()
        .to_uppercase();
    let gp_json = serde_json::to_string(&card.state().gp)
        .unwrap()
        .to_uppercase();
    assert_ne!(gp_before.to_uppercase(), gp_json);
    for gp_key in [
        "404142434445464748494A4B4C4D4E4F",
        "00112233445566778899AABBCCDDEEFF",
    ] {
        assert!(!ota_json.contains(gp_key));
    }
    for ota_key in [
        hex::encode_upper(DEFAULT_KIC),
        hex::encode_upper(DEFAULT_KID),
    ] {
        assert!(!gp_json.contains(&ota_key));
    }
    // An unknown SSD TAR is unknown.
    let por = send(&mut card, &s, spi(false), [0xC0, 0xC1, 0xC3], 1, &script);
    let por = s.por(&por.data, PorSecurity::NONE);
    assert_eq!(por.status, PorStatus::TarUnknown);
}

/// A script big enough for three concatenated SMS: UPDATE RECORD of ADN records 1..n.
fn long_script(len: usize, count: u8) -> Vec<u8> {
    let mut body = c_apdu_tlv(&hex("00A40004027F10"));
    body.extend(c_apdu_tlv(&hex("00A40004026F3A")));
    for i in 1..=count {
        let mut u = vec![0x00, 0xDC, i, 0x04, len as u8];
        u.extend_from_slice(&record(len, &format!("N{i}")));
        body.extend(c_apdu_tlv(&u));
    }
    tlv::encode_tlv(tlv::Tag(0xAA), &body)
}

fn three_segments(card: &mut Card, s: &Server, cntr: u64) -> (Vec<Vec<u8>>, usize, u8) {
    let len = adn_record_len(card);
    for count in 1..=10u8 {
        let envs = s.envelopes(
            &s.packet(spi(false), RFM_TAR, cntr, &long_script(len, count)),
            7,
        );
        if envs.len() == 3 {
            return (envs, len, count);
        }
    }
    panic!("no three-segment script");
}

#[test]
fn concatenated_script_out_of_order_applied_once() {
    let mut card = ts48_card();
    let s = server();
    let (envs, len, count) = three_segments(&mut card, &s, 5);
    let before = read_adn(&mut card, 1, len);
    // Segments 3, 1: nothing yet (9000, no data); 2 completes the packet.
    for i in [2, 0] {
        let r = tx(&mut card, &envs[i]);
        assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 0));
        assert_eq!(read_adn(&mut card, 1, len), before);
    }
    assert_eq!(card.ota_session().pending_messages(), 1);
    let r = tx(&mut card, &envs[1]);
    assert_eq!(r.sw, StatusWord::OK);
    let por = s.por(&r.data, PorSecurity::from_spi(&spi(false)));
    assert_eq!(por.status, PorStatus::PorOk);
    let ab = tlv::Tlv::parse_expecting(&por.data, tlv::Tag(0xAB)).unwrap();
    assert_eq!(&ab.value[..3], &[0x80, 0x01, count + 2]);
    assert_eq!(
        read_adn(&mut card, count, len),
        record(len, &format!("N{count}"))
    );
    assert_eq!(card.ota_session().pending_messages(), 0);

    // The same three segments again: a replay, refused with '02' CNTR low.
    tx(&mut card, &hex("00A40004023F00"));
    let rev = card.state_revision();
    assert_eq!(tx(&mut card, &envs[0]).data.len(), 0);
    assert_eq!(tx(&mut card, &envs[2]).data.len(), 0);
    let r = tx(&mut card, &envs[1]);
    let por = s.por(&r.data, PorSecurity::from_spi(&spi(false)));
    assert_eq!(por.status, PorStatus::CounterLow);
    assert_eq!(card.state_revision(), rev);
}

#[test]
fn duplicate_missing_and_conflicting_segments() {
    let mut card = ts48_card();
    let s = server();
    let (envs, len, _) = three_segments(&mut card, &s, 1);
    let before = read_adn(&mut card, 1, len);
    // Segment 1 twice (an exact duplicate is ignored), segment 3; segment 2 missing.
    for i in [0, 0, 2] {
        let r = tx(&mut card, &envs[i]);
        assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 0));
    }
    assert_eq!(card.ota_session().pending_messages(), 1);
    assert_eq!(read_adn(&mut card, 1, len), before);
    // Segment 1 with other content under the same reference: the message is dropped.
    let (other, _, _) = three_segments(&mut card, &s, 2);
    assert_eq!(
        tx(&mut card, &other[0]).sw,
        StatusWord::NO_PRECISE_DIAGNOSIS
    );
    assert_eq!(card.ota_session().pending_messages(), 0);
    // Segment 2 alone now starts a new (incomplete) message: nothing is applied.
    assert_eq!(tx(&mut card, &envs[1]).data.len(), 0);
    assert_eq!(read_adn(&mut card, 1, len), before);
    // A packet larger than the card's reassembly limit: PoR '07'.
    let mut st = card.state().clone();
    st.ota.config.max_packet_len = 200;
    card.load_state(st);
    let (envs, _, _) = three_segments(&mut card, &s, 3);
    let mut last = Response::status(StatusWord::OK);
    for e in &envs {
        last = tx(&mut card, e);
        if !last.data.is_empty() {
            break;
        }
    }
    let por = s.por(&last.data, PorSecurity::from_spi(&spi(false)));
    assert_eq!(por.status, PorStatus::InsufficientMemory);
}

#[test]
fn por_status_codes() {
    let mut card = ts48_card();
    let s = server();
    let select = hex("00A40004023F00");
    assert_eq!(
        send_por(&mut card, &s, RFM_TAR, 10, &select).status,
        PorStatus::PorOk
    );
    // Replayed counter: '02', the counter stays.
    let por = send_por(&mut card, &s, RFM_TAR, 10, &select);
    assert_eq!(por.status, PorStatus::CounterLow);
    assert_eq!(por.counter.value(), 10);
    assert_eq!(card.state().ota.counter(RFM_TAR), 10);
    // Wrong KID key: '01'.
    let mut bad = server();
    bad.ota.keys.cc = Some(CcKey::new(CcAlgorithm::AesCmac, &[0x55; 16]).unwrap());
    let r = send(&mut card, &bad, spi(false), RFM_TAR, 11, &select);
    let por = s.por(&r.data, PorSecurity::from_spi(&spi(false)));
    assert_eq!(por.status, PorStatus::IntegrityFailed);
    assert_eq!(card.state().ota.counter(RFM_TAR), 10);
    // Unknown TAR: '09', unsecured.
    let r = send(&mut card, &s, spi(false), [0xC1, 0x00, 0x00], 11, &select);
    assert_eq!(
        s.por(&r.data, PorSecurity::NONE).status,
        PorStatus::TarUnknown
    );
    // Below the minimum security level (no ciphering): '0A'.
    let mut weak = spi(false);
    weak.ciphering = false;
    let r = send(&mut card, &s, weak, RFM_TAR, 12, &select);
    let sec = PorSecurity::for_status(&weak, PorStatus::InsufficientSecurityLevel);
    assert_eq!(
        s.por(&r.data, sec).status,
        PorStatus::InsufficientSecurityLevel
    );
    // PoR only on error: none for a good packet.
    let mut on_error = spi(false);
    on_error.por = PorRequest::OnError;
    let r = send(&mut card, &s, on_error, RFM_TAR, 13, &select);
    assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 0));
    // Not a (U)SIM data download (PID '00'): the ENVELOPE is refused.
    let tpdu = ota::ts23040::SmsDeliver {
        pid: 0x00,
        ..command_deliver(
            s.originator.clone(),
            Scts::new([25, 1, 1, 0, 0, 0], 0),
            UserData::eight_bit(vec![0x02, 0x70, 0x00, 0x00]).unwrap(),
        )
    }
    .encode()
    .unwrap();
    let env = Command::with_data(0x80, 0xC2, 0, 0, SmsPpDownload::encode(None, &tpdu));
    assert_eq!(
        tx(&mut card, &env.encode().unwrap()).sw,
        StatusWord::INCORRECT_DATA
    );
    // Malformed ENVELOPE data.
    assert_eq!(
        tx(&mut card, &hex("80C2000003D10100")).sw,
        StatusWord::INCORRECT_DATA
    );
}

#[test]
fn por_by_send_short_message_with_fetch_and_terminal_response() {
    let mut card = ts48_card();
    let s = server();
    let r = send(&mut card, &s, spi(true), RFM_TAR, 1, &hex("00A40004023F00"));
    assert_eq!(r.data.len(), 0);
    assert_eq!(r.sw.sw1(), 0x91);
    let len = r.sw.sw2();
    assert!(card.proactive_pending());
    // Toolkit busy while the proactive command is pending.
    let busy = send(&mut card, &s, spi(true), RFM_TAR, 2, &hex("00A40004023F00"));
    assert_eq!(busy.sw, StatusWord(0x9300));
    // Any other command's 9000 becomes 91xx.
    assert_eq!(tx(&mut card, &hex("00A40004023F00")).sw.sw1(), 0x91);

    let f = tx(&mut card, &[0x80, 0x12, 0x00, 0x00, len]);
    assert_eq!(f.sw, StatusWord::OK);
    assert_eq!(f.data.len(), usize::from(len));
    let d0 = tlv::Tlv::parse_expecting(&f.data, tlv::Tag(0xD0)).unwrap();
    let get = |t: u32| {
        tlv::find(d0.value, tlv::Tag(t))
            .unwrap()
            .unwrap()
            .value
            .to_vec()
    };
    assert_eq!(get(0x81), [0x01, 0x13, 0x00]);
    assert_eq!(get(0x82), [0x81, 0x83]);
    assert_eq!(get(0x06), SC_ADDRESS);
    let submit = SmsSubmit::decode(&get(0x8B)).unwrap();
    assert_eq!(submit.destination_address, s.originator);
    assert_eq!(submit.pid, 0x7F);
    let por = s.por(&submit.user_data.octets, PorSecurity::from_spi(&spi(true)));
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data[..2], [0x01, 0x61]);

    // TERMINAL RESPONSE: wrong command details refused, the right one accepted.
    assert_eq!(
        tx(&mut card, &hex("801400000C 810301130182028281830100")).sw,
        StatusWord::INCORRECT_DATA
    );
    let tr = tx(&mut card, &hex("801400000C 810301130082028281830100"));
    assert_eq!(tr.sw, StatusWord::OK);
    assert!(!card.proactive_pending());
    let result = card.ota_session().last_terminal_result().unwrap();
    assert!(result.is_success());
    // Nothing left to fetch.
    assert_eq!(
        tx(&mut card, &hex("8012000010")).sw,
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn old_card_files_load_with_default_ota_keys() {
    let card = ts48_card();
    let mut json: serde_json::Value = serde_json::from_slice(&card.state().to_bytes()).unwrap();
    json.as_object_mut().unwrap().remove("ota");
    let st = CardState::from_bytes(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(st.ota, card::ota::OtaState::default());
    assert_eq!(st.ota.key_sets[0].kvn, 1);
    // And the state round-trips with counters.
    let mut st2 = st.clone();
    st2.ota.counters.insert("B00000".into(), 7);
    assert_eq!(CardState::from_bytes(&st2.to_bytes()).unwrap(), st2);
    // Debug never shows OTA keys.
    assert!(!format!("{:?}", st2.ota).contains("2001020304"));
}

/// No ENVELOPE, however malformed, panics the card: random data inside 'D1', random TPDUs,
/// random secured packets in a valid SMS-PP download.
#[test]
fn malformed_envelopes_never_panic() {
    use proptest::prelude::*;
    let card = std::cell::RefCell::new(ts48_card());
    let s = server();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 96,
        ..Default::default()
    });
    let strategy = (proptest::collection::vec(any::<u8>(), 0..200), 0u8..3);
    runner
        .run(&strategy, |(bytes, kind)| {
            let data = match kind {
                0 => bytes.clone(),
                1 => SmsPpDownload::encode(None, &bytes),
                _ => {
                    let mut ud = vec![0x02, 0x70, 0x00];
                    ud.extend_from_slice(&bytes[..bytes.len().min(130)]);
                    return {
                        let env = s.envelope(UserData::eight_bit(ud).unwrap());
                        let r = card.borrow_mut().process_on(Protocol::T0, &env);
                        prop_assert!(r.len() >= 2);
                        Ok(())
                    };
                }
            };
            if data.len() <= 255 {
                let apdu = Command::with_data(0x80, 0xC2, 0, 0, data).encode().unwrap();
                let r = card.borrow_mut().process_on(Protocol::T0, &apdu);
                prop_assert!(r.len() >= 2);
            }
            Ok(())
        })
        .unwrap();
}

/// pySim `tests/unittests/test_ota.py` `Test_SMS_3DES.test_cmd_3des_ciphered`: 2-key 3DES
/// key set KVN 3 (KIC3/KID3 of that test), SPI '0419' (ciphered, no CC), TAR B00000, SELECT MF.
/// The card (MSL lowered to "ciphering") opens it and secures its PoR with the 3DES CC.
#[test]
fn opens_the_pysim_3des_command_packet() {
    let kic3 = hex("C21DD66ACAC13CB3BC8B331B24AFB57B");
    let kid3 = hex("12110C78E678C25408233076AA033615");
    let mut card = ts48_card();
    let mut st = card.state().clone();
    st.ota.key_sets.push(card::ota::OtaKeySet {
        kvn: 3,
        kic: card::ota::OtaKey {
            algorithm: CipherAlgorithm::TripleDes2Key,
            key: kic3.clone(),
        },
        kid: card::ota::OtaKey {
            algorithm: CcAlgorithm::TripleDes2Key,
            key: kid3.clone(),
        },
    });
    st.ota.config.msl = 0x04;
    card.load_state(st);
    let mut ud = vec![0x02, 0x70, 0x00];
    ud.extend(hex("00180d04193535b00000e3ec80a849b554421276af3883927c20"));
    let s = server();
    let r = tx(&mut card, &s.envelope(UserData::eight_bit(ud).unwrap()));
    assert_eq!(r.sw, StatusWord::OK);
    let keys = SecurityKeys {
        cipher: Some(CipherKey::new(CipherAlgorithm::TripleDes2Key, &kic3).unwrap()),
        cc: Some(CcKey::new(CcAlgorithm::TripleDes2Key, &kid3).unwrap()),
        implicit_rc: None,
    };
    let spi = Spi::from_bytes([0x04, 0x19]).unwrap();
    let por = parse_response(
        &r.data,
        PorSecurity::from_spi(&spi),
        Kic(0x35),
        Kid(0x35),
        &keys,
    )
    .unwrap();
    assert_eq!(por.tar, RFM_TAR);
    assert_eq!(por.status, PorStatus::PorOk);
    // One command executed; our UICC refuses SELECT with P2 '00' (TS 102 221 §11.1.1 has
    // no FCI response), so the script's single status word is that refusal.
    assert_eq!(por.data.len(), 3);
    assert_eq!(por.data[0], 1);
}

#[test]
fn ram_tar_from_the_registry_configuration() {
    let mut card = ts48_card_with_ssd(&SSD_AID, &APP_AID);
    let mut st = card.state().clone();
    st.ota
        .config
        .ram_tars
        .insert("ABCDEF".into(), hex::encode_upper(SSD_AID));
    card.load_state(st);
    let s = server();
    // GET STATUS of applications through the SSD: it sees its own applet only.
    let por = send_por(
        &mut card,
        &s,
        [0xAB, 0xCD, 0xEF],
        1,
        &hex("80F24002024F00 80C0000000"),
    );
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data[..3], [0x02, 0x90, 0x00]);
    let e3 = tlv::Tlv::parse_single(&por.data[3..]).unwrap();
    let aid = tlv::find(e3.value, tlv::Tag(0x4F)).unwrap().unwrap();
    assert_eq!(aid.value, APP_AID);
    // The counter is per TAR: the SSD's own TAR still starts from zero.
    assert_eq!(card.state().ota.counter(SSD_TAR), 0);
    assert_eq!(card.state().ota.counter([0xAB, 0xCD, 0xEF]), 1);
}

/// TAR 'B00011' (USIM RFM): the script starts in ADF.USIM, so EF.IMSI (6F07) is selected by
/// its FID directly. TS.48 IMSI 001010123456063 (EF.IMSI, TS 31.102 §4.2.2).
#[test]
fn rfm_usim_tar_starts_in_adf_usim() {
    let mut card = ts48_card();
    let s = server();
    let por = send_por(
        &mut card,
        &s,
        [0xB0, 0x00, 0x11],
        1,
        &hex("00A40004026F07 00B0000009"),
    );
    assert_eq!(por.status, PorStatus::PorOk);
    assert_eq!(por.data[..3], [0x02, 0x90, 0x00]);
    assert_eq!(por.data[3..], hex("080910101032540636"));
    // The UICC TAR starts at the MF: 6F07 is not there.
    let por = send_por(&mut card, &s, RFM_TAR, 1, &hex("00A40004026F07"));
    assert_eq!(por.data, [0x01, 0x6A, 0x82]);
}

/// The terminal's side of the toolkit session: TERMINAL PROFILE is kept, GET DATA 'FF70'
/// reports the SMS-PP capability from the OTA configuration, and an ENVELOPE whose TP-UD is
/// longer than the announced piece size is refused with '6700'.
#[test]
fn terminal_profile_and_sms_pp_capability() {
    let mut card = ts48_card();
    let r = tx(&mut card, &hex("801000000403000001"));
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(
        card.ota_session().terminal_profile(),
        Some(&hex("03000001")[..])
    );
    // FF70 { 80 02 0800, 81 01 04, 82 01 8C }: 2048 octets, 4 messages, 140 octets per piece.
    let r = tx(&mut card, &hex("80CAFF7000"));
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, hex("FF700A 80020800 810104 82018C"));
    // Another GET DATA tag still goes to the selected application (no toolkit answer).
    assert_ne!(tx(&mut card, &hex("80CAFF7100")).data, r.data);
    let mut st = card.state().clone();
    st.ota.config.max_segment_ud = 40;
    st.ota.config.max_packet_len = 300;
    card.load_state(st);
    assert_eq!(
        tx(&mut card, &hex("80CAFF7000")).data,
        hex("FF700A 8002012C 810104 820128")
    );
    let s = server();
    let envs = s.envelopes(&s.packet(spi(false), RFM_TAR, 1, &hex("00A40004023F00")), 1);
    assert_eq!(envs.len(), 1);
    assert_eq!(tx(&mut card, &envs[0]).sw, StatusWord::WRONG_LENGTH);
    assert_eq!(card.state().ota.counter(RFM_TAR), 0);
}
