//! Conversion functions for the GSM security context (3GPP TS 33.102 §6.8.1.2): a USIM in a GSM
//! context, or a VLR/SGSN serving a GSM subscriber from a UMTS vector, derives SRES from RES (c2)
//! and Kc from CK and IK (c3).

/// c2: SRES = XRES*1 ⊕ XRES*2 ⊕ XRES*3 ⊕ XRES*4, where XRES* is RES padded with zeros to 128
/// bits and XRES*i are its 32-bit blocks. A RES longer than 16 bytes is not a valid RES; only its
/// first 16 bytes are used.
pub fn c2(res: &[u8]) -> [u8; 4] {
    let mut sres = [0u8; 4];
    for (i, b) in res.iter().take(16).enumerate() {
        sres[i % 4] ^= b;
    }
    sres
}

/// c3: Kc = CK1 ⊕ CK2 ⊕ IK1 ⊕ IK2, the 64-bit halves of CK and IK.
pub fn c3(ck: &[u8; 16], ik: &[u8; 16]) -> [u8; 8] {
    let mut kc = [0u8; 8];
    for i in 0..8 {
        kc[i] = ck[i] ^ ck[i + 8] ^ ik[i] ^ ik[i + 8];
    }
    kc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2_pads_short_res() {
        assert_eq!(c2(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        assert_eq!(c2(&[1, 2, 3, 4, 1, 2]), [0, 0, 3, 4]);
        assert_eq!(c2(&[]), [0; 4]);
    }

    #[test]
    fn c3_folds_halves() {
        let mut ck = [0u8; 16];
        ck[0] = 0xF0;
        ck[8] = 0x0F;
        let mut ik = [0u8; 16];
        ik[7] = 0x55;
        assert_eq!(c3(&ck, &ik), [0xFF, 0, 0, 0, 0, 0, 0, 0x55]);
    }
}
