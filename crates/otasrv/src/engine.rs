//! The sans-I/O core of sending: secure a claimed attempt into a command packet
//! (TS 102 225 §5.1), frame it as submit_sm PDUs (TS 31.115 §4.2, SMPP v3.4 §4.4), and read a
//! PoR (TS 31.115 §4.4) out of a deliver_sm.

use ota::ts102225::{build_command, parse_response, CommandHeader, PorSecurity, ResponsePacket};
use ota::{Counter, Spi};
use smpp::sms::OtaSubmit;
use smpp::{MessageRef, SmeAddress, SubmitSm};

use crate::error::{Error, Result};
use crate::model::KeySet;
use crate::store::Claimed;

/// Segments of one submission at most (the low octet of the [`MessageRef`]).
pub const MAX_SEGMENTS: usize = 255;

/// The top bit of a [`MessageRef`]: set for an interactive exchange's segments, clear for a
/// campaign submission's, so the two reference spaces never meet.
const EXCHANGE_REF_BIT: u64 = 1 << 63;

/// Largest submission or exchange id a client reference can carry (55 bits: 8 bits of
/// segment index below, the space bit above).
const MAX_ORIGIN_ID: u64 = (1 << 55) - 1;

/// Who a command packet belongs to: its client references are derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A campaign attempt: the submission id (the database's, stable across restarts).
    Submission(i64),
    /// An interactive exchange: an id the running service allocates (never persisted).
    Exchange(u64),
}

/// One command packet for one card, its counter already allocated: what a claimed attempt and
/// an interactive exchange both send.
#[derive(Debug, Clone, Copy)]
pub struct PacketOrder<'a> {
    /// Card address (MSISDN).
    pub address: &'a str,
    /// The card's key set.
    pub keys: &'a KeySet,
    /// Target TAR.
    pub tar: [u8; 3],
    /// SPI of the packet.
    pub spi: Spi,
    /// The counter value allocated for this packet.
    pub counter: Counter,
    /// The data to secure.
    pub data: &'a [u8],
}

impl<'a> PacketOrder<'a> {
    /// The packet of a claimed campaign attempt.
    pub fn of_claimed(c: &'a Claimed) -> PacketOrder<'a> {
        PacketOrder {
            address: &c.address,
            keys: &c.keys,
            tar: c.item.tar,
            spi: c.item.spi,
            counter: c.counter,
            data: &c.item.data,
        }
    }
}

/// The command packet (`CPL .. end`, TS 102 225 §5.1) of an order.
pub fn secure(order: &PacketOrder<'_>) -> Result<Vec<u8>> {
    let header = CommandHeader {
        spi: order.spi,
        kic: order.keys.kic,
        kid: order.keys.kid,
        tar: order.tar,
        counter: order.counter,
    };
    Ok(build_command(
        &header,
        &order.keys.security_keys()?,
        order.data,
    )?)
}

/// The command packet (`CPL .. end`) of a claimed attempt.
pub fn command_packet(c: &Claimed) -> Result<Vec<u8>> {
    secure(&PacketOrder::of_claimed(c))
}

/// The client reference of segment `index` of a packet: `submission * 256 + index` for a
/// campaign submission, `2^63 + exchange * 256 + index` for an exchange. Ids above 2^55 - 1
/// are refused so neither space reaches into the other.
pub fn origin_ref(origin: Origin, index: usize) -> Result<MessageRef> {
    let (id, space, field) = match origin {
        Origin::Submission(s) => (
            u64::try_from(s).map_err(|_| Error::invalid("submission", "negative id"))?,
            0,
            "submission",
        ),
        Origin::Exchange(x) => (x, EXCHANGE_REF_BIT, "exchange"),
    };
    if id > MAX_ORIGIN_ID {
        return Err(Error::invalid(field, "id too large"));
    }
    let i = u64::try_from(index)
        .ok()
        .filter(|i| *i < 256)
        .ok_or_else(|| Error::invalid("segments", "more than 255"))?;
    Ok(MessageRef(space | (id << 8) | i))
}

/// The client reference of segment `index` of a campaign submission:
/// `submission * 256 + index` (stable across restarts: the submission id is the database's).
pub fn message_ref(submission: i64, index: usize) -> Result<MessageRef> {
    origin_ref(Origin::Submission(submission), index)
}

/// Whose segment a client reference is (the inverse of [`origin_ref`]).
pub fn origin_of(r: MessageRef) -> Origin {
    let id = (r.0 & !EXCHANGE_REF_BIT) >> 8;
    if r.0 & EXCHANGE_REF_BIT != 0 {
        Origin::Exchange(id)
    } else {
        // id < 2^55: always fits.
        Origin::Submission(i64::try_from(id).unwrap_or(i64::MAX))
    }
}

/// The submit_sm PDUs of an order (from `source` to the card's MSISDN, TON international /
/// NPI E.164), each with its client reference in `origin`'s space.
pub fn frame(
    order: &PacketOrder<'_>,
    origin: Origin,
    source: &SmeAddress,
) -> Result<Vec<(MessageRef, SubmitSm)>> {
    let packet = secure(order)?;
    let dest = SmeAddress::new(1, 1, order.address);
    // Concatenation reference (TS 23.040 §9.2.3.24.8): the low 16 bits of the submission id,
    // or of the counter for an exchange (unique per card and TAR).
    let concat_ref = match origin {
        Origin::Submission(s) => (s & 0xFFFF) as u16,
        Origin::Exchange(_) => (order.counter.value() & 0xFFFF) as u16,
    };
    let sms = OtaSubmit::new(source.clone(), dest).command_packet(&packet, concat_ref)?;
    if sms.len() > MAX_SEGMENTS {
        return Err(Error::invalid("data", "needs more than 255 short messages"));
    }
    sms.into_iter()
        .enumerate()
        .map(|(i, sm)| Ok((origin_ref(origin, i)?, sm)))
        .collect()
}

/// The submit_sm PDUs of a claimed attempt (see [`frame`]).
pub fn submits(c: &Claimed, source: &SmeAddress) -> Result<Vec<(MessageRef, SubmitSm)>> {
    frame(
        &PacketOrder::of_claimed(c),
        Origin::Submission(c.submission),
        source,
    )
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
    use ota::{Counter, PorStatus, Spi};

    /// pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys (KVN 1, AES-128).
    fn keys() -> KeySet {
        KeySet::aes(
            1,
            &hex::decode("200102030405060708090A0B0C0D0E0F").unwrap(),
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
        assert_eq!(origin_of(sms[0].0), Origin::Submission(7));
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
        assert!(message_ref(1 << 55, 0).is_err());
    }

    #[test]
    fn exchange_references_never_meet_submission_references() {
        let biggest = message_ref((1 << 55) - 1, 255).unwrap();
        let smallest = origin_ref(Origin::Exchange(0), 0).unwrap();
        assert!(biggest.0 < smallest.0);
        assert_eq!(origin_of(biggest), Origin::Submission((1 << 55) - 1));
        let r = origin_ref(Origin::Exchange(7), 3).unwrap();
        assert_eq!(r.0, (1 << 63) | (7 * 256 + 3));
        assert_eq!(origin_of(r), Origin::Exchange(7));
        assert!(origin_ref(Origin::Exchange(1 << 55), 0).is_err());
        // The same order framed as an exchange: same packet, references in the other space.
        let c = claimed(vec![0x55; 400]);
        let src = SmeAddress::new(0, 1, "1234");
        let as_job = submits(&c, &src).unwrap();
        let as_exchange = frame(&PacketOrder::of_claimed(&c), Origin::Exchange(7), &src).unwrap();
        assert_eq!(as_job.len(), as_exchange.len());
        for (i, (r, _)) in as_exchange.iter().enumerate() {
            assert_eq!(origin_of(*r), Origin::Exchange(7));
            assert_eq!(r.0 & 0xFF, i as u64);
        }
    }
}
