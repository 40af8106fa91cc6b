//! COMPACT-TLV (ISO/IEC 7816-4 §8.1.1.2.x, as used in ATR historical bytes): one octet whose
//! high nibble is the tag number and low nibble the length, followed by the value.

use crate::{Error, Result};

/// One COMPACT-TLV object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactTlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Decodes a sequence of COMPACT-TLV objects.
pub fn parse(mut input: &[u8]) -> Result<Vec<CompactTlv<'_>>> {
    let mut out = Vec::new();
    while let Some((&head, rest)) = input.split_first() {
        let len = (head & 0x0F) as usize;
        let value = rest
            .get(..len)
            .ok_or(Error::Truncated("compact-TLV value"))?;
        out.push(CompactTlv {
            tag: head >> 4,
            value,
        });
        input = &rest[len..];
    }
    Ok(out)
}

/// Appends one COMPACT-TLV object; the value is at most 15 bytes and the tag at most 15.
pub fn write(tag: u8, value: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if tag > 0x0F || value.len() > 0x0F {
        return Err(Error::InvalidValue("compact-TLV tag or length"));
    }
    out.push((tag << 4) | value.len() as u8);
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        // Card capabilities (tag 7, ISO 7816-4 §12.1.1.13) and card issuer data (tag 4).
        let mut out = vec![];
        write(7, &[0x80, 0x00, 0x00], &mut out).unwrap();
        write(4, &[], &mut out).unwrap();
        assert_eq!(out, [0x73, 0x80, 0x00, 0x00, 0x40]);
        let objs = parse(&out).unwrap();
        assert_eq!(
            objs[0],
            CompactTlv {
                tag: 7,
                value: &[0x80, 0, 0]
            }
        );
        assert_eq!(objs[1].tag, 4);
        assert!(parse(&[0x73, 0x80]).is_err());
    }
}
