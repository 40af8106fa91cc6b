//! The sans-I/O core of sending: secure a claimed attempt into a command packet
//! (TS 102 225 §5.1), frame it as submit_sm PDUs (TS 31.115 §4.2, SMPP v3.4 §4.4), and read a
//! PoR (TS 31.115 §4.4) out of a deliver_sm.

use ota::ts102225::{build_command, parse_response, CommandHeader, PorSecurity, ResponsePacket};
use smpp::sms::OtaSubmit;
use smpp::{MessageRef, SmeAddress, SubmitSm};

use crate::error::{Error, Result};
use crate::model::KeySet;
use crate::store::Claimed;

/// Segments of one submission at most (the low octet of the [`MessageRef`]).
pub const MAX_SEGMENTS: usize = 255;

/// The command packet (`CPL .. end`) of a claimed attempt.
pub fn command_packet(c: &Claimed) -> Result<Vec<u8>> {
    let header = CommandHeader {
        spi: c.item.spi,
        kic: c.keys.kic,
        kid: c.keys.kid,
        tar: c.item.tar,
        counter: c.counter,
    };
    Ok(build_command(
        &header,
        &c.keys.security_keys()?,
        &c.item.data,
    )?)
}

/// The client reference of segment `index` of a submission: `submission * 256 + index`
/// (stable across restarts: the submission id is the database's).
pub fn message_ref(submission: i64, index: usize) -> Result<MessageRef> {
    let s = u64::try_from(submission).map_err(|_| Error::invalid("submission", "negative id"))?;
    let i = u64::try_from(index)
        .ok()
        .filter(|i| *i < 256)
        .ok_or_else(|| Error::invalid("segments", "more than 255"))?;
    s.checked_mul(256)
        .and_then(|v| v.checked_add(i))
        .map(MessageRef)
        .ok_or_else(|| Error::invalid("submission", "id too large"))
}

/// The submission id of a client reference.
pub fn submission_of(r: MessageRef) -> i64 {
    i64::try_from(r.0 / 256).unwrap_or(i64::MAX)
}

/// The submit_sm PDUs of a claimed attempt (from `source` to the card's MSISDN, TON
/// international / NPI E.164), each with its client reference.
pub fn submits(c: &Claimed, source: &SmeAddress) -> Result<Vec<(MessageRef, SubmitSm)>> {
    let packet = command_packet(c)?;
    let dest = SmeAddress::new(1, 1, &c.address);
    // Concatenation reference: the low 16 bits of the submission id (TS 23.040 §9.2.3.24.8).
    let concat_ref = (c.submission & 0xFFFF) as u16;
    let sms = OtaSubmit::new(source.clone(), dest).command_packet(&packet, concat_ref)?;
    if sms.len() > MAX_SEGMENTS {
        return Err(Error::invalid("item", "needs more than 255 short messages"));
    }
    sms.into_iter()
        .enumerate()
        .map(|(i, sm)| Ok((message_ref(c.submission, i)?, sm)))
        .collect()
}

/// Parse the PoR user data of a deliver_sm with the card's keys, trying the securities the
/// card may have applied: each of `secured` (from the items' SPI2) and then none (error
/// statuses such as '06' go out unsecured, TS 102 225 §5.2).
pub fn parse_por(ud: &[u8], keys: &KeySet, secured: &[PorSecurity]) -> Result<ResponsePacket> {
    let sk = keys.security_keys()?;
    let mut last = None;
    for sec in secured.iter().chain(std::iter::once(&PorSecurity::NONE)) {
        match parse_response(ud, *sec, keys.kic, keys.kid, &sk) {
            Ok(p) => return Ok(p),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or(Error::invalid("PoR", "no security to try"), Error::Ota))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CatalogueItem;
    use ota::ts102225::{build_response, receive_command, KeyLookup};
    use ota::{CcAlgorithm, CipherAlgorithm, Counter, Kic, Kid, PorStatus, Spi};

    /// pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys (KVN 1, AES-128).
    fn keys() -> KeySet {
        KeySet::new(
            Kic::new(1, CipherAlgorithm::AesCbc),
            &hex::decode("200102030405060708090A0B0C0D0E0F").unwrap(),
            Kid::cc(1, CcAlgorithm::AesCmac),
            &hex::decode("201102030405060708090A0B0C0D0E0F").unwrap(),
        )
        .unwrap()
    }

    fn claimed(data: Vec<u8>) -> Claimed {
        // SPI '16 39': counter higher, ciphered, CC; PoR always, CC, ciphered, via SMS-SUBMIT.
        let spi = Spi::from_bytes([0x16, 0x39]).unwrap();
        Claimed {
            submission: 7,
            job: 1,
            address: "4915550001".into(),
            keys: keys(),
            item: CatalogueItem::new("rfm", [0xB0, 0, 0x10], spi, data).unwrap(),
            counter: Counter::new(5).unwrap(),
            attempt: 1,
        }
    }

    #[test]
    fn packet_opens_on_the_card_and_por_matches() {
        let c = claimed(vec![0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]);
        let src = SmeAddress::new(0, 1, "1234");
        let sms = submits(&c, &src).unwrap();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].0, MessageRef(7 * 256));
        assert_eq!(submission_of(sms[0].0), 7);
        let ud = &sms[0].1.short_message;
        let packet = ota::ts31115::command_from_user_data(ud).unwrap();
        let sk = keys().security_keys().unwrap();
        let acc = receive_command(packet, |_| {
            Ok(KeyLookup {
                keys: sk.clone(),
                stored_counter: Counter::new(4).unwrap(),
            })
        })
        .unwrap();
        assert_eq!(acc.command.data, c.item.data);
        let resp = acc.command.response(PorStatus::PorOk, vec![0x90, 0x00]);
        let por = build_response(
            &resp,
            PorSecurity::from_spi(&c.item.spi),
            c.keys.kic,
            c.keys.kid,
            &sk,
        )
        .unwrap();
        let parsed = parse_por(&por, &c.keys, &[PorSecurity::from_spi(&c.item.spi)]).unwrap();
        assert_eq!(parsed.counter.value(), 5);
        assert_eq!(parsed.tar, [0xB0, 0, 0x10]);
        assert_eq!(parsed.status, PorStatus::PorOk);
        // A stored counter at 5 replays: the card refuses with '02' counter low.
        let rej = receive_command(packet, |_| {
            Ok(KeyLookup {
                keys: sk.clone(),
                stored_counter: Counter::new(5).unwrap(),
            })
        })
        .unwrap_err();
        assert_eq!(rej.status, PorStatus::CounterLow);
    }

    #[test]
    fn long_items_are_concatenated_and_garbage_is_refused() {
        let c = claimed(vec![0x55; 400]);
        let sms = submits(&c, &SmeAddress::new(0, 1, "1234")).unwrap();
        assert!(sms.len() > 1);
        assert_eq!(sms[1].0, MessageRef(7 * 256 + 1));
        assert!(parse_por(&[0x02, 0x71], &keys(), &[]).is_err());
        assert!(parse_por(&[], &keys(), &[]).is_err());
        assert!(message_ref(-1, 0).is_err());
        assert!(message_ref(1, 256).is_err());
    }
}
