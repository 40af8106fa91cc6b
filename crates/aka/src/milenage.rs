//! MILENAGE (3GPP TS 35.206 §4): the example algorithm set f1, f1*, f2, f3, f4, f5, f5* built on
//! AES-128 (the kernel function E_K).
//!
//! ```text
//! OPc   = OP ⊕ E_K(OP)
//! TEMP  = E_K(RAND ⊕ OPc)
//! IN1   = SQN || AMF || SQN || AMF
//! OUT1  = E_K(TEMP ⊕ rot(IN1 ⊕ OPc, r1) ⊕ c1) ⊕ OPc      f1 = OUT1[0..63], f1* = OUT1[64..127]
//! OUTi  = E_K(rot(TEMP ⊕ OPc, ri) ⊕ ci) ⊕ OPc, i = 2..5
//!         f5 = OUT2[0..47], f2 = OUT2[64..127], f3 = OUT3, f4 = OUT4, f5* = OUT5[0..47]
//! ```

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{array, xor_into, AkaAlgorithm, AkaError, Outputs};

/// The rotation constants r1..r5 (in bits, 0..=127) and the xoring constants c1..c5 (128 bits
/// each). An operator may choose its own (TS 35.206 §4.1); SAIP's `AlgoParameter` carries them as
/// `rotationConstants` (5 bytes) and `xoringConstants` (80 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MilenageConstants {
    pub r: [u8; 5],
    pub c: [[u8; 16]; 5],
}

impl Default for MilenageConstants {
    /// TS 35.206 §4.1: r1 = 64, r2 = 0, r3 = 32, r4 = 64, r5 = 96; c1 = 0, c2 = 1, c3 = 2,
    /// c4 = 4, c5 = 8 (in the least significant bits).
    fn default() -> Self {
        let mut c = [[0u8; 16]; 5];
        c[1][15] = 1;
        c[2][15] = 2;
        c[3][15] = 4;
        c[4][15] = 8;
        MilenageConstants {
            r: [64, 0, 32, 64, 96],
            c,
        }
    }
}

impl MilenageConstants {
    /// From SAIP `rotationConstants` (5 bytes, r1..r5 in bits) and `xoringConstants` (80 bytes,
    /// c1..c5). TS 35.206 §4.1 requires 0 <= r < 128.
    pub fn from_bytes(rotation: &[u8], xoring: &[u8]) -> Result<MilenageConstants, AkaError> {
        let r: [u8; 5] = <[u8; 5]>::try_from(rotation)
            .map_err(|_| AkaError::Constants("rotationConstants must be 5 bytes"))?;
        if r.iter().any(|&x| x > 127) {
            return Err(AkaError::Constants("a rotation constant exceeds 127 bits"));
        }
        if xoring.len() != 80 {
            return Err(AkaError::Constants("xoringConstants must be 80 bytes"));
        }
        let mut c = [[0u8; 16]; 5];
        for (ci, chunk) in c.iter_mut().zip(xoring.chunks_exact(16)) {
            ci.copy_from_slice(chunk);
        }
        Ok(MilenageConstants { r, c })
    }
}

/// MILENAGE for one subscriber: K, OPc and the constants. K and OPc are wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Milenage {
    k: [u8; 16],
    opc: [u8; 16],
    #[zeroize(skip)]
    constants: MilenageConstants,
}

impl std::fmt::Debug for Milenage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Milenage")
            .field("k", &"<redacted>")
            .field("opc", &"<redacted>")
            .field("constants", &self.constants)
            .finish()
    }
}

/// OPc = OP ⊕ E_K(OP) (TS 35.206 §4.1).
pub fn opc_from_op(k: &[u8; 16], op: &[u8; 16]) -> [u8; 16] {
    let mut opc = encrypt(k, op);
    xor_into(&mut opc, op);
    opc
}

fn encrypt(k: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let cipher = Aes128::new(&(*k).into());
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    b.into()
}

/// rot(x, r): cyclic rotation of the 128-bit x by r bit positions towards the most significant
/// bit (TS 35.206 §4.1).
fn rot(x: &[u8; 16], r: u8) -> [u8; 16] {
    u128::from_be_bytes(*x)
        .rotate_left(u32::from(r))
        .to_be_bytes()
}

impl Milenage {
    /// With the default constants.
    pub fn new(k: &[u8; 16], opc: &[u8; 16]) -> Milenage {
        Milenage {
            k: *k,
            opc: *opc,
            constants: MilenageConstants::default(),
        }
    }

    /// From byte slices (K and OPc, 16 bytes each), e.g. straight from a profile package.
    pub fn from_slices(k: &[u8], opc: &[u8]) -> Result<Milenage, AkaError> {
        let k = Zeroizing::new(array::<16>("K", k)?);
        let opc = Zeroizing::new(array::<16>("OPc", opc)?);
        Ok(Milenage::new(&k, &opc))
    }

    /// With OP instead of OPc (OPc is derived).
    pub fn with_op(k: &[u8; 16], op: &[u8; 16]) -> Milenage {
        let opc = Zeroizing::new(opc_from_op(k, op));
        Milenage::new(k, &opc)
    }

    /// Replaces the constants.
    pub fn with_constants(mut self, constants: MilenageConstants) -> Milenage {
        self.constants = constants;
        self
    }

    pub fn constants(&self) -> &MilenageConstants {
        &self.constants
    }

    /// OPc (secret; handle with care).
    pub fn opc(&self) -> &[u8; 16] {
        &self.opc
    }

    fn cipher(&self) -> Aes128 {
        Aes128::new(&self.k.into())
    }

    fn e(cipher: &Aes128, block: &[u8; 16]) -> [u8; 16] {
        let mut b = (*block).into();
        cipher.encrypt_block(&mut b);
        b.into()
    }

    /// TEMP = E_K(RAND ⊕ OPc).
    fn temp(&self, cipher: &Aes128, rand: &[u8; 16]) -> Zeroizing<[u8; 16]> {
        let mut x = Zeroizing::new(*rand);
        xor_into(&mut x, &self.opc);
        Zeroizing::new(Self::e(cipher, &x))
    }

    /// OUT1 (f1 || f1*).
    fn out1(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> Zeroizing<[u8; 16]> {
        let cipher = self.cipher();
        let temp = self.temp(&cipher, rand);
        let mut in1 = Zeroizing::new([0u8; 16]);
        in1[0..6].copy_from_slice(sqn);
        in1[6..8].copy_from_slice(amf);
        in1[8..14].copy_from_slice(sqn);
        in1[14..16].copy_from_slice(amf);
        xor_into(&mut in1, &self.opc);
        let mut x = Zeroizing::new(rot(&in1, self.constants.r[0]));
        xor_into(&mut x, &temp);
        xor_into(&mut x, &self.constants.c[0]);
        let mut out = Zeroizing::new(Self::e(&cipher, &x));
        xor_into(&mut out, &self.opc);
        out
    }

    /// OUTi for i = 2..=5 (index 1..=4 into the constants).
    fn out(&self, cipher: &Aes128, temp: &[u8; 16], i: usize) -> Zeroizing<[u8; 16]> {
        let mut x = Zeroizing::new(*temp);
        xor_into(&mut x, &self.opc);
        let mut y = Zeroizing::new(rot(&x, self.constants.r[i]));
        xor_into(&mut y, &self.constants.c[i]);
        let mut out = Zeroizing::new(Self::e(cipher, &y));
        xor_into(&mut out, &self.opc);
        out
    }
}

impl AkaAlgorithm for Milenage {
    fn f1(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8] {
        let out = self.out1(rand, sqn, amf);
        let mut mac = [0u8; 8];
        mac.copy_from_slice(&out[0..8]);
        mac
    }

    fn f1_star(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8] {
        let out = self.out1(rand, sqn, amf);
        let mut mac = [0u8; 8];
        mac.copy_from_slice(&out[8..16]);
        mac
    }

    fn f2345(&self, rand: &[u8; 16]) -> Outputs {
        let cipher = self.cipher();
        let temp = self.temp(&cipher, rand);
        let out2 = self.out(&cipher, &temp, 1);
        let out3 = self.out(&cipher, &temp, 2);
        let out4 = self.out(&cipher, &temp, 3);
        let mut ak = [0u8; 6];
        ak.copy_from_slice(&out2[0..6]);
        Outputs {
            res: out2[8..16].to_vec(),
            ck: *out3,
            ik: *out4,
            ak,
        }
    }

    fn f5_star(&self, rand: &[u8; 16]) -> [u8; 6] {
        let cipher = self.cipher();
        let temp = self.temp(&cipher, rand);
        let out5 = self.out(&cipher, &temp, 4);
        let mut ak = [0u8; 6];
        ak.copy_from_slice(&out5[0..6]);
        ak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_moves_towards_msb() {
        let mut x = [0u8; 16];
        x[15] = 1;
        let r = rot(&x, 8);
        assert_eq!(r[14], 1);
        assert_eq!(rot(&x, 0), x);
        let mut top = [0u8; 16];
        top[0] = 0x80;
        assert_eq!(rot(&top, 1), x);
    }

    #[test]
    fn constants_from_bytes() {
        let mut xoring = [0u8; 80];
        xoring[31] = 1;
        xoring[47] = 2;
        xoring[63] = 4;
        xoring[79] = 8;
        let c = MilenageConstants::from_bytes(&[0x40, 0x00, 0x20, 0x40, 0x60], &xoring);
        assert_eq!(c, Ok(MilenageConstants::default()));
        assert!(MilenageConstants::from_bytes(&[0x80, 0, 0, 0, 0], &xoring).is_err());
        assert!(MilenageConstants::from_bytes(&[0; 4], &xoring).is_err());
        assert!(MilenageConstants::from_bytes(&[0; 5], &xoring[1..]).is_err());
    }

    #[test]
    fn debug_redacts_keys() {
        let m = Milenage::new(&[0xAB; 16], &[0xCD; 16]);
        let s = format!("{m:?}");
        assert!(!s.contains("171") && !s.to_lowercase().contains("ab, "));
        assert!(s.contains("<redacted>"));
    }
}
