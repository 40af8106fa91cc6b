//! Packed BCD digit strings (one digit per nibble, 'F' filler), in both nibble orders:
//!
//! * [`Order::HighFirst`]: the first digit in the high nibble, as plain BCD (the SAIP
//!   `ProfileHeader.iccid`, the EID of SGP.02/SGP.22);
//! * [`Order::LowFirst`]: "nibble-swapped", the first digit in the low nibble (EF.ICCID of
//!   ETSI TS 102 221 §13.2, EF.IMSI of 3GPP TS 31.102 §4.2.2, the semi-octets of TS 23.040
//!   §9.1.2.3 addresses and TS 24.008 §10.5.4.7 BCD numbers).
//!
//! [`Alphabet::Decimal`] allows the digits 0-9 only; [`Alphabet::Telephony`] adds the TS 24.008
//! Table 10.5.118 / TS 23.040 §9.1.2.3 values 'A' = `*`, 'B' = `#`, 'C'-'E' = `a`-`c`.

use crate::{Error, Result};

/// The filler nibble.
pub const FILLER: u8 = 0xF;

/// Which nibble of an octet carries the first digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    /// First digit in bits 8-5 (plain BCD).
    HighFirst,
    /// First digit in bits 4-1 (semi-octet / nibble-swapped BCD).
    LowFirst,
}

/// The digits a nibble may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// 0-9.
    Decimal,
    /// 0-9, `*` ('A'), `#` ('B'), `a` ('C'), `b` ('D'), `c` ('E') (TS 24.008 Table 10.5.118).
    Telephony,
}

impl Alphabet {
    /// The character of nibble `n`, `None` for a value outside the alphabet (and the filler).
    pub fn digit_char(self, n: u8) -> Option<char> {
        match (self, n) {
            (_, 0..=9) => Some(char::from(b'0' + n)),
            (Alphabet::Telephony, 0xA) => Some('*'),
            (Alphabet::Telephony, 0xB) => Some('#'),
            (Alphabet::Telephony, 0xC) => Some('a'),
            (Alphabet::Telephony, 0xD) => Some('b'),
            (Alphabet::Telephony, 0xE) => Some('c'),
            _ => None,
        }
    }

    /// The nibble of character `c` (letters in either case), `None` outside the alphabet.
    pub fn digit_value(self, c: char) -> Option<u8> {
        match (self, c) {
            (_, '0'..='9') => Some(c as u8 - b'0'),
            (Alphabet::Telephony, '*') => Some(0xA),
            (Alphabet::Telephony, '#') => Some(0xB),
            (Alphabet::Telephony, 'a' | 'A') => Some(0xC),
            (Alphabet::Telephony, 'b' | 'B') => Some(0xD),
            (Alphabet::Telephony, 'c' | 'C') => Some(0xE),
            _ => None,
        }
    }
}

/// Packs nibbles (each masked to 4 bits) two to an octet; an odd count ends with the filler.
pub fn pack(nibbles: &[u8], order: Order) -> Vec<u8> {
    nibbles
        .chunks(2)
        .map(|pair| {
            let first = pair.first().copied().unwrap_or(FILLER) & 0xF;
            let second = pair.get(1).copied().unwrap_or(FILLER) & 0xF;
            match order {
                Order::HighFirst => (first << 4) | second,
                Order::LowFirst => (second << 4) | first,
            }
        })
        .collect()
}

/// The nibbles of `bytes` in digit order.
pub fn unpack(bytes: &[u8], order: Order) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(move |&b| match order {
        Order::HighFirst => [b >> 4, b & 0xF],
        Order::LowFirst => [b & 0xF, b >> 4],
    })
}

/// Encodes a digit string; an odd number of digits ends with the filler.
pub fn encode(digits: &str, order: Order, alphabet: Alphabet) -> Result<Vec<u8>> {
    let nibbles = digits
        .chars()
        .map(|c| alphabet.digit_value(c))
        .collect::<Option<Vec<u8>>>()
        .ok_or(Error::InvalidValue("BCD digit outside the alphabet"))?;
    Ok(pack(&nibbles, order))
}

/// Decodes the digits up to the first filler nibble; everything after it must be filler too.
pub fn decode(bytes: &[u8], order: Order, alphabet: Alphabet) -> Result<String> {
    let mut out = String::new();
    let mut ended = false;
    for n in unpack(bytes, order) {
        match (n, ended) {
            (FILLER, _) => ended = true,
            (_, false) => out.push(
                alphabet
                    .digit_char(n)
                    .ok_or(Error::InvalidValue("BCD digit outside the alphabet"))?,
            ),
            (_, true) => return Err(Error::InvalidValue("BCD digit after the filler")),
        }
    }
    Ok(out)
}

/// Decodes exactly `count` digits (semi-octets) from the start of `bytes`, as a length-counted
/// field does (TS 23.040 §9.1.2.5 Address-Length); a filler or a missing octet inside the count
/// is an error.
pub fn decode_count(
    bytes: &[u8],
    order: Order,
    alphabet: Alphabet,
    count: usize,
) -> Result<String> {
    let mut nibbles = unpack(bytes, order);
    (0..count)
        .map(|_| {
            nibbles
                .next()
                .and_then(|n| alphabet.digit_char(n))
                .ok_or(Error::InvalidValue("BCD digit count"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_orders() {
        // TS.48 test profile ICCID: SAIP header 8949449999999990023F, EF.ICCID
        // 989444999999990920F3 (ETSI TS 102 221 §13.2).
        let iccid = "8949449999999990023";
        let header = encode(iccid, Order::HighFirst, Alphabet::Decimal).unwrap();
        assert_eq!(
            header,
            [0x89, 0x49, 0x44, 0x99, 0x99, 0x99, 0x99, 0x90, 0x02, 0x3F]
        );
        let ef = encode(iccid, Order::LowFirst, Alphabet::Decimal).unwrap();
        assert_eq!(
            ef,
            [0x98, 0x94, 0x44, 0x99, 0x99, 0x99, 0x99, 0x09, 0x20, 0xF3]
        );
        assert_eq!(
            decode(&header, Order::HighFirst, Alphabet::Decimal).unwrap(),
            iccid
        );
        assert_eq!(
            decode(&ef, Order::LowFirst, Alphabet::Decimal).unwrap(),
            iccid
        );
        assert_eq!(
            decode(&[0x12, 0xFF, 0xFF], Order::HighFirst, Alphabet::Decimal).unwrap(),
            "12"
        );
        assert_eq!(encode("", Order::LowFirst, Alphabet::Decimal).unwrap(), []);
    }

    #[test]
    fn telephony_alphabet() {
        // TS 23.040 §9.1.2.3 semi-octets: "*#abc1" → A B C D E 1, low nibble first.
        let b = encode("*#abc1", Order::LowFirst, Alphabet::Telephony).unwrap();
        assert_eq!(b, [0xBA, 0xDC, 0x1E]);
        assert_eq!(
            decode(&b, Order::LowFirst, Alphabet::Telephony).unwrap(),
            "*#abc1"
        );
        assert_eq!(
            encode("ABC", Order::LowFirst, Alphabet::Telephony).unwrap(),
            [0xDC, 0xFE]
        );
        assert!(encode("*", Order::LowFirst, Alphabet::Decimal).is_err());
        assert!(decode(&[0xBA], Order::LowFirst, Alphabet::Decimal).is_err());
        assert_eq!(
            decode_count(&[0x21, 0xF3], Order::LowFirst, Alphabet::Telephony, 3).unwrap(),
            "123"
        );
    }

    #[test]
    fn bad_input() {
        assert!(decode(&[0x1F, 0x2F], Order::HighFirst, Alphabet::Decimal).is_err());
        assert!(decode(&[0x1A], Order::HighFirst, Alphabet::Decimal).is_err());
        assert!(encode("12x", Order::HighFirst, Alphabet::Telephony).is_err());
        assert!(decode_count(&[0x21, 0xF3], Order::LowFirst, Alphabet::Decimal, 4).is_err());
        assert!(decode_count(&[0x21], Order::LowFirst, Alphabet::Decimal, 3).is_err());
        assert_eq!(pack(&[1, 2, 3], Order::HighFirst), [0x12, 0x3F]);
        assert_eq!(pack(&[0x1F], Order::LowFirst), [0xFF]);
    }

    proptest::proptest! {
        #[test]
        fn round_trip(digits in "[0-9*#abc]{0,24}", low in proptest::bool::ANY) {
            let order = if low { Order::LowFirst } else { Order::HighFirst };
            let b = encode(&digits, order, Alphabet::Telephony).unwrap();
            proptest::prop_assert_eq!(&decode(&b, order, Alphabet::Telephony).unwrap(), &digits);
            proptest::prop_assert_eq!(
                &decode_count(&b, order, Alphabet::Telephony, digits.len()).unwrap(),
                &digits
            );
        }

        #[test]
        fn decoders_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..12), n in 0usize..30) {
            let _ = decode(&b, Order::HighFirst, Alphabet::Decimal);
            let _ = decode_count(&b, Order::LowFirst, Alphabet::Telephony, n);
        }
    }
}
