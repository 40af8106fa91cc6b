//! ECDSA signature encodings: BSI TR-03111 §5.2.1 plain `r || s` (used inside the SGP.22 ASN.1
//! messages, SGP.22 §2.6.5 via GlobalPlatform Card Spec Amendment E) and the X.509 / RFC 3279
//! `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.

use crate::PkiError;
use tlv::{Tag, Tlv, Writer};

/// Converts a DER `Ecdsa-Sig-Value` into the 64-byte TR-03111 plain format (256-bit curves).
pub fn der_to_plain(der: &[u8]) -> Result<[u8; 64], PkiError> {
    let bad = || PkiError::BadSignature;
    let seq = Tlv::parse_expecting(der, Tag::SEQUENCE).map_err(|_| bad())?;
    let mut rd = seq.reader();
    let r = rd.expect(Tag::INTEGER).map_err(|_| bad())?;
    let s = rd.expect(Tag::INTEGER).map_err(|_| bad())?;
    rd.finish().map_err(|_| bad())?;
    let mut out = [0u8; 64];
    put_unsigned(r.value, &mut out[..32]).ok_or_else(bad)?;
    put_unsigned(s.value, &mut out[32..]).ok_or_else(bad)?;
    Ok(out)
}

/// Converts a 64-byte TR-03111 plain signature into DER `Ecdsa-Sig-Value`.
pub fn plain_to_der(plain: &[u8]) -> Result<Vec<u8>, PkiError> {
    if plain.len() != 64 {
        return Err(PkiError::BadSignature);
    }
    let (r, s) = plain.split_at(32);
    let mut w = Writer::new();
    w.nested(Tag::SEQUENCE, |w| {
        w.put(Tag::INTEGER, &der_uint(r));
        w.put(Tag::INTEGER, &der_uint(s));
    });
    Ok(w.into_vec())
}

/// Minimal positive DER INTEGER contents for an unsigned big-endian magnitude.
pub(crate) fn der_uint(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[start..];
    let mut out = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

/// Writes a non-negative DER INTEGER into a fixed-width big-endian field.
fn put_unsigned(contents: &[u8], out: &mut [u8]) -> Option<()> {
    // Negative numbers are not valid r/s values.
    if contents.first()? & 0x80 != 0 {
        return None;
    }
    let start = contents
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(contents.len());
    let digits = &contents[start..];
    let offset = out.len().checked_sub(digits.len())?;
    out[offset..].copy_from_slice(digits);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_leading_zero_and_high_bit() {
        let mut plain = [0u8; 64];
        plain[0] = 0x00;
        plain[1] = 0x7f;
        plain[31] = 1;
        plain[32] = 0x80;
        plain[63] = 2;
        let der = plain_to_der(&plain).unwrap();
        // r loses its leading zero (31 bytes), s needs a 0x00 pad (33 bytes).
        assert_eq!(&der[..4], &[0x30, 2 + 31 + 2 + 33, 0x02, 31]);
        assert_eq!(der_to_plain(&der).unwrap(), plain);
    }

    #[test]
    fn rejects_garbage() {
        assert!(der_to_plain(&[]).is_err());
        assert!(der_to_plain(&[0x30, 0x00]).is_err());
        assert!(der_to_plain(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]).is_err());
        // 33-byte magnitude does not fit.
        let mut big = vec![0x30, 0x26, 0x02, 0x21, 0x01];
        big.extend_from_slice(&[0u8; 32]);
        big.extend_from_slice(&[0x02, 0x01, 0x01]);
        assert!(der_to_plain(&big).is_err());
        assert!(plain_to_der(&[0u8; 63]).is_err());
    }
}
