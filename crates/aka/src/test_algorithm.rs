//! The XOR test algorithm of 3GPP TS 34.108 §8.1.2, run by test USIMs (and selected by SAIP
//! `algorithmID` usim-test-algorithm(3), as in the GSMA TS.48 test profiles).
//!
//! ```text
//! XDOUT = K ⊕ RAND
//! RES   = XDOUT[bits 0 .. n-1]           (n = RES length)
//! CK    = XDOUT[bits 8..127, 0..7]       (XDOUT rotated left by one byte)
//! IK    = XDOUT[bits 16..127, 0..15]     (rotated left by two bytes)
//! AK    = XDOUT[bits 24..71]
//! CDOUT = SQN || AMF
//! MAC   = XDOUT[bits 0..63] ⊕ CDOUT
//! ```
//!
//! TS 34.108 defines no separate f1* and f5*: the test USIM computes MAC-S with f1 and AK for
//! AUTS with f5.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{array, xor_into, AkaAlgorithm, AkaError, Outputs};

/// The test algorithm for one subscriber key K (wiped on drop).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TestAlgorithm {
    k: [u8; 16],
    #[zeroize(skip)]
    res_len: usize,
}

impl std::fmt::Debug for TestAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAlgorithm")
            .field("k", &"<redacted>")
            .field("res_len", &self.res_len)
            .finish()
    }
}

impl TestAlgorithm {
    /// With a 128-bit RES (the whole of XDOUT).
    pub fn new(k: &[u8; 16]) -> TestAlgorithm {
        TestAlgorithm { k: *k, res_len: 16 }
    }

    pub fn from_slice(k: &[u8]) -> Result<TestAlgorithm, AkaError> {
        let k = Zeroizing::new(array::<16>("K", k)?);
        Ok(TestAlgorithm::new(&k))
    }

    /// RES length n in bytes: 4..=16 (32 to 128 bits, TS 34.108 §8.1.2).
    pub fn with_res_len(mut self, n: usize) -> Result<TestAlgorithm, AkaError> {
        if !(4..=16).contains(&n) {
            return Err(AkaError::Length {
                what: "RES",
                expected: "4 to 16",
                got: n,
            });
        }
        self.res_len = n;
        Ok(self)
    }

    fn xdout(&self, rand: &[u8; 16]) -> Zeroizing<[u8; 16]> {
        let mut x = Zeroizing::new(self.k);
        xor_into(&mut x, rand);
        x
    }

    fn mac(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8] {
        let x = self.xdout(rand);
        let mut mac = [0u8; 8];
        mac.copy_from_slice(&x[0..8]);
        let mut cdout = [0u8; 8];
        cdout[0..6].copy_from_slice(sqn);
        cdout[6..8].copy_from_slice(amf);
        xor_into(&mut mac, &cdout);
        mac
    }
}

impl AkaAlgorithm for TestAlgorithm {
    fn f1(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8] {
        self.mac(rand, sqn, amf)
    }

    fn f1_star(&self, rand: &[u8; 16], sqn: &[u8; 6], amf: &[u8; 2]) -> [u8; 8] {
        self.mac(rand, sqn, amf)
    }

    fn f2345(&self, rand: &[u8; 16]) -> Outputs {
        let x = self.xdout(rand);
        let mut ck = [0u8; 16];
        let mut ik = [0u8; 16];
        for i in 0..16 {
            ck[i] = x[(i + 1) % 16];
            ik[i] = x[(i + 2) % 16];
        }
        let mut ak = [0u8; 6];
        ak.copy_from_slice(&x[3..9]);
        Outputs {
            res: x[..self.res_len].to_vec(),
            ck,
            ik,
            ak,
        }
    }

    fn f5_star(&self, rand: &[u8; 16]) -> [u8; 6] {
        let x = self.xdout(rand);
        let mut ak = [0u8; 6];
        ak.copy_from_slice(&x[3..9]);
        ak
    }
}
