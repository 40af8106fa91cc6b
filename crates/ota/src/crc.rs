//! Redundancy checks of ETSI TS 102 225 §5.1.3.2 (KID for RC).
//!
//! TS 102 225 takes both CRCs from ISO/IEC 13239 (the HDLC frame check sequence):
//! * CRC-16: generator x^16 + x^12 + x^5 + 1 ('1021'), register preset to 'FFFF', bits
//!   processed least significant first (reflected), result ones-complemented ('FFFF' final
//!   XOR). This is the catalogued CRC-16/IBM-SDLC; check value over "123456789" is
//!   '906E'.
//! * CRC-32: generator '04C11DB7', preset 'FFFFFFFF', reflected, ones-complemented. This is
//!   the catalogued CRC-32 (ISO-HDLC, as in zlib/pySim `zlib.crc32`); check value 'CBF43926'.
//!
//! The RC is placed in the packet most significant octet first (pySim `pySim/ota.py` writes
//! the CRC-32 with `to_bytes(4, 'big')`).

const CRC16_POLY_REFLECTED: u16 = 0x8408; // '1021' bit-reversed
const CRC32_POLY_REFLECTED: u32 = 0xEDB8_8320; // '04C11DB7' bit-reversed

/// CRC-16 of ISO/IEC 13239 over `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC16_POLY_REFLECTED
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// CRC-32 of ISO/IEC 13239 over `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CRC32_POLY_REFLECTED
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    // Check values of the CRC catalogue (CRC-16/IBM-SDLC and CRC-32/ISO-HDLC) over the ASCII
    // string "123456789".
    #[test]
    fn check_values() {
        assert_eq!(crc16(b"123456789"), 0x906E);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc16(b""), 0x0000);
        assert_eq!(crc32(b""), 0x0000_0000);
    }
}
