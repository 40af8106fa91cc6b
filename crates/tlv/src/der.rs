//! Contents-octet codecs for the ASN.1 universal types (X.690 §8.2–8.6), used under whatever
//! tag (universal or IMPLICIT context tag) the enclosing type assigns.

use crate::{Error, Result};

/// INTEGER contents for a non-negative value, minimal two's complement (X.690 §8.3).
pub fn encode_uint(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut out = Vec::with_capacity(9 - skip);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// INTEGER contents for a signed value, minimal two's complement.
pub fn encode_int(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// Decodes INTEGER contents into an `i64`.
pub fn decode_int(contents: &[u8]) -> Result<i64> {
    if contents.is_empty() || contents.len() > 8 {
        return Err(Error::InvalidValue("INTEGER"));
    }
    let neg = contents[0] & 0x80 != 0;
    let mut v: i64 = if neg { -1 } else { 0 };
    for &b in contents {
        v = (v << 8) | b as i64;
    }
    Ok(v)
}

/// Decodes INTEGER contents that must be non-negative and fit a `u64`.
pub fn decode_uint(contents: &[u8]) -> Result<u64> {
    let c = match contents {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => contents,
    };
    if c.is_empty() || c.len() > 8 || (contents.len() == c.len() && c[0] & 0x80 != 0) {
        return Err(Error::InvalidValue("unsigned INTEGER"));
    }
    Ok(c.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// BOOLEAN contents (DER: FF for TRUE).
pub fn encode_bool(value: bool) -> [u8; 1] {
    [if value { 0xFF } else { 0x00 }]
}

pub fn decode_bool(contents: &[u8]) -> Result<bool> {
    match contents {
        [0] => Ok(false),
        [_] => Ok(true),
        _ => Err(Error::InvalidValue("BOOLEAN")),
    }
}

/// NULL contents must be empty.
pub fn decode_null(contents: &[u8]) -> Result<()> {
    if contents.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidValue("NULL"))
    }
}

/// UTF8String contents.
pub fn decode_utf8(contents: &[u8]) -> Result<String> {
    String::from_utf8(contents.to_vec()).map_err(|_| Error::InvalidValue("UTF8String"))
}

/// A named-bit BIT STRING (X.690 §8.6, DER §11.2.2: trailing zero bits removed).
/// Bit 0 is the most significant bit of the first octet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BitString {
    pub bytes: Vec<u8>,
    pub unused_bits: u8,
}

impl BitString {
    /// A BIT STRING with the given named bits set, DER-minimal.
    pub fn from_bits(bits: &[usize]) -> Self {
        let Some(&max) = bits.iter().max() else {
            return BitString::default();
        };
        let mut bytes = vec![0u8; max / 8 + 1];
        for &b in bits {
            bytes[b / 8] |= 0x80 >> (b % 8);
        }
        let unused = (7 - (max % 8)) as u8;
        BitString {
            bytes,
            unused_bits: unused,
        }
    }

    pub fn is_set(&self, bit: usize) -> bool {
        self.bytes
            .get(bit / 8)
            .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 1);
        out.push(self.unused_bits);
        out.extend_from_slice(&self.bytes);
        out
    }

    pub fn decode(contents: &[u8]) -> Result<Self> {
        let (&unused, bytes) = contents
            .split_first()
            .ok_or(Error::InvalidValue("BIT STRING"))?;
        if unused > 7 || (bytes.is_empty() && unused != 0) {
            return Err(Error::InvalidValue("BIT STRING"));
        }
        Ok(BitString {
            bytes: bytes.to_vec(),
            unused_bits: unused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        // X.690 §8.3 examples.
        assert_eq!(encode_uint(0), vec![0x00]);
        assert_eq!(encode_uint(127), vec![0x7F]);
        assert_eq!(encode_uint(128), vec![0x00, 0x80]);
        assert_eq!(encode_uint(256), vec![0x01, 0x00]);
        assert_eq!(encode_int(-128), vec![0x80]);
        assert_eq!(encode_int(-129), vec![0xFF, 0x7F]);
        for v in [0i64, 1, -1, 127, 128, -128, -129, 65535, i64::MAX, i64::MIN] {
            assert_eq!(decode_int(&encode_int(v)).unwrap(), v);
        }
        for v in [0u64, 1, 127, 128, 255, 256, u64::MAX] {
            assert_eq!(decode_uint(&encode_uint(v)).unwrap(), v);
        }
        assert!(decode_uint(&[0x80]).is_err());
        assert!(decode_int(&[]).is_err());
    }

    #[test]
    fn bit_strings() {
        // SGP.22 PprIds: ppr1 is bit 1 -> 03 02 06 40? bits {1}: byte 0x40, 6 unused bits.
        let b = BitString::from_bits(&[1]);
        assert_eq!(b.encode(), vec![0x06, 0x40]);
        assert!(b.is_set(1) && !b.is_set(0) && !b.is_set(9));
        assert_eq!(BitString::decode(&b.encode()).unwrap(), b);
        assert_eq!(BitString::from_bits(&[]).encode(), vec![0x00]);
        assert!(BitString::decode(&[8, 0]).is_err());
    }
}
