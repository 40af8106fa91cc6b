//! Digit-string codecs for ICCID and IMSI.

use tlv::bcd::{self, Alphabet, Order};

use crate::{Result, SaipError};

/// Validates a string of decimal digits with a length in `min..=max`.
pub(crate) fn check_digits(field: &'static str, s: &str, min: usize, max: usize) -> Result<()> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SaipError::InvalidDigits {
            field,
            reason: "only the digits 0-9 are allowed",
        });
    }
    if s.len() < min || s.len() > max {
        return Err(SaipError::InvalidDigits {
            field,
            reason: "wrong number of digits",
        });
    }
    Ok(())
}

/// ICCID as carried in `ProfileHeader.iccid`: 10 bytes of BCD in reading order (first digit in
/// the high nibble), right-padded with `F` (the TS.48 profiles, e.g. `89 49 44 .. 02 3F`).
pub(crate) fn iccid_header_encode(iccid: &str) -> Result<[u8; 10]> {
    iccid_encode(iccid, Order::HighFirst)
}

fn iccid_encode(iccid: &str, order: Order) -> Result<[u8; 10]> {
    check_digits("ICCID", iccid, 18, 20)?;
    let packed =
        bcd::encode(iccid, order, Alphabet::Decimal).map_err(|_| SaipError::InvalidDigits {
            field: "ICCID",
            reason: "only the digits 0-9 are allowed",
        })?;
    let mut out = [0xFF; 10];
    out.iter_mut().zip(packed).for_each(|(o, b)| *o = b);
    Ok(out)
}

fn iccid_decode(bytes: &[u8], order: Order) -> Result<String> {
    bcd::decode(bytes, order, Alphabet::Decimal)
        .map_err(|_| SaipError::Invalid("ICCID is not BCD with F filler"))
}

pub(crate) fn iccid_header_decode(bytes: &[u8]) -> Result<String> {
    iccid_decode(bytes, Order::HighFirst)
}

/// EF.ICCID content (ETSI TS 102 221 §13.2): 10 bytes of BCD, nibble-swapped (first digit in
/// the low nibble), `F`-padded.
pub(crate) fn iccid_ef_encode(iccid: &str) -> Result<[u8; 10]> {
    iccid_encode(iccid, Order::LowFirst)
}

pub(crate) fn iccid_ef_decode(bytes: &[u8]) -> Result<String> {
    iccid_decode(bytes, Order::LowFirst)
}

/// Size of EF.IMSI (3GPP TS 31.102 §4.2.2): length byte plus 8 bytes.
pub const EF_IMSI_LEN: usize = 9;

/// EF.IMSI content (3GPP TS 31.102 §4.2.2, TS 24.008 §10.5.1.4 mobile identity): byte 1 is the
/// number of following bytes; then nibbles low-first: the identity type `001` with the odd/even
/// indicator in bit 4, the digits, an `F` filler when the digit count is even; unused bytes `FF`.
pub(crate) fn imsi_encode(imsi: &str) -> Result<[u8; EF_IMSI_LEN]> {
    check_digits("IMSI", imsi, 6, 15)?;
    let odd = imsi.len() % 2 == 1;
    let mut nibbles = vec![if odd { 0x9 } else { 0x1 }];
    nibbles.extend(imsi.bytes().map(|b| b - b'0'));
    let packed = bcd::pack(&nibbles, Order::LowFirst);
    let mut out = [0xFF; EF_IMSI_LEN];
    out[0] = packed.len() as u8;
    out.iter_mut().skip(1).zip(packed).for_each(|(o, b)| *o = b);
    Ok(out)
}

pub(crate) fn imsi_decode(content: &[u8]) -> Result<String> {
    let bad = SaipError::Invalid("EF.IMSI content");
    let (&len, rest) = content
        .split_first()
        .ok_or(SaipError::Invalid("EF.IMSI is empty"))?;
    let len = len as usize;
    if !(1..=8).contains(&len) {
        return Err(bad);
    }
    let bytes = rest
        .get(..len)
        .ok_or(SaipError::Invalid("EF.IMSI shorter than its length byte"))?;
    let mut nibbles = bcd::unpack(bytes, Order::LowFirst);
    let first = nibbles
        .next()
        .ok_or(SaipError::Invalid("EF.IMSI content"))?;
    if first & 0x7 != 0x1 {
        return Err(SaipError::Invalid("EF.IMSI identity type is not IMSI"));
    }
    let odd = first & 0x8 != 0;
    let mut digits: Vec<u8> = nibbles.collect();
    if !odd && digits.pop() != Some(0xF) {
        return Err(SaipError::Invalid(
            "EF.IMSI even digit count without F filler",
        ));
    }
    if digits.iter().any(|&d| d > 9) || digits.len() > 15 {
        return Err(SaipError::Invalid("EF.IMSI digits"));
    }
    Ok(digits.iter().map(|&d| (b'0' + d) as char).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imsi_vectors() {
        // TS.48 test profile EF.IMSI (checked by hand against TS 31.102 §4.2.2).
        let ef = hex::decode("080910101032540636").unwrap();
        assert_eq!(imsi_decode(&ef).unwrap(), "001010123456063");
        assert_eq!(imsi_encode("001010123456063").unwrap().to_vec(), ef);
        // Even digit count: 14 digits -> type nibble 1, F filler in the last high nibble.
        let e = imsi_encode("00101012345606").unwrap();
        assert_eq!(hex::encode(e), "0801101010325406f6");
        assert_eq!(imsi_decode(&e).unwrap(), "00101012345606");
        // 6 digits: 4 bytes.
        let e = imsi_encode("262011").unwrap();
        assert_eq!(hex::encode(e), "04212610f1ffffffff");
        assert_eq!(imsi_decode(&e).unwrap(), "262011");
        assert!(imsi_encode("12345").is_err());
        assert!(imsi_encode("1234567890123456").is_err());
        assert!(imsi_encode("00101x").is_err());
        assert!(imsi_decode(&[]).is_err());
        assert!(imsi_decode(&[0x09, 0x09]).is_err());
        assert!(imsi_decode(&hex::decode("080210101032540636").unwrap()).is_err());
    }

    #[test]
    fn iccid_vectors() {
        // TS.48: header 8949449999999990023F, EF.ICCID 989444999999990920F3.
        assert_eq!(
            hex::encode(iccid_header_encode("8949449999999990023").unwrap()),
            "8949449999999990023f"
        );
        assert_eq!(
            hex::encode(iccid_ef_encode("8949449999999990023").unwrap()),
            "989444999999990920f3"
        );
        assert_eq!(
            iccid_header_decode(&hex::decode("8949449999999990023f").unwrap()).unwrap(),
            "8949449999999990023"
        );
        assert_eq!(
            iccid_ef_decode(&hex::decode("989444999999990920f3").unwrap()).unwrap(),
            "8949449999999990023"
        );
        assert_eq!(
            iccid_header_encode("89494499999999900231").unwrap()[9],
            0x31
        );
        assert!(iccid_header_encode("89494499999999900").is_err());
        assert!(iccid_header_encode("8949449999999990023A").is_err());
        assert!(iccid_header_decode(&hex::decode("89f9").unwrap()).is_err());
    }
}
