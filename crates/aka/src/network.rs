//! The HE/AuC side of AKA (3GPP TS 33.102 §6.3.2, §6.3.5): authentication vectors and
//! resynchronisation. The caller supplies RAND (from its RNG) and SQN (from its own SQN
//! management, e.g. [`crate::next_seq`]).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{array, gsm, sqn_from_bytes, sqn_to_bytes, AkaAlgorithm, AkaError, SQN_MAX};

/// AMF* of the resynchronisation MAC: a dummy all-zero AMF (TS 33.102 §6.3.3).
pub const RESYNC_AMF: [u8; 2] = [0, 0];

/// A UMTS authentication vector: RAND, XRES, CK, IK, AUTN (TS 33.102 §6.3.2). Wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AuthVector {
    pub rand: [u8; 16],
    pub xres: Vec<u8>,
    pub ck: [u8; 16],
    pub ik: [u8; 16],
    /// AUTN = SQN ⊕ AK || AMF || MAC-A.
    pub autn: [u8; 16],
}

impl std::fmt::Debug for AuthVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthVector")
            .field("rand", &self.rand)
            .field("autn", &self.autn)
            .field("xres", &"<redacted>")
            .field("ck", &"<redacted>")
            .field("ik", &"<redacted>")
            .finish()
    }
}

impl AuthVector {
    /// SRES for the GSM context (c2).
    pub fn sres(&self) -> [u8; 4] {
        gsm::c2(&self.xres)
    }

    /// Kc for the GSM context (c3).
    pub fn kc(&self) -> [u8; 8] {
        gsm::c3(&self.ck, &self.ik)
    }
}

/// Generates a vector for SQN (48 bits) and AMF with the given RAND.
pub fn generate_vector<A: AkaAlgorithm + ?Sized>(
    alg: &A,
    rand: &[u8; 16],
    sqn: u64,
    amf: &[u8; 2],
) -> Result<AuthVector, AkaError> {
    if sqn > SQN_MAX {
        return Err(AkaError::SqnRange(sqn));
    }
    let sqn_b = sqn_to_bytes(sqn);
    let mac = alg.f1(rand, &sqn_b, amf);
    let out = alg.f2345(rand);
    let mut autn = [0u8; 16];
    for (i, b) in autn[0..6].iter_mut().enumerate() {
        *b = sqn_b[i] ^ out.ak[i];
    }
    autn[6..8].copy_from_slice(amf);
    autn[8..16].copy_from_slice(&mac);
    Ok(AuthVector {
        rand: *rand,
        xres: out.res.clone(),
        ck: out.ck,
        ik: out.ik,
        autn,
    })
}

/// Resynchronisation (TS 33.102 §6.3.5): from the RAND of the rejected vector and the 14-byte
/// AUTS = SQN_MS ⊕ AK* || MAC-S, recovers SQN_MS after verifying MAC-S = f1*(K, SQN_MS, RAND,
/// AMF* = 0000). Fails with [`AkaError::MacS`] when MAC-S does not verify.
pub fn resynchronise<A: AkaAlgorithm + ?Sized>(
    alg: &A,
    rand: &[u8; 16],
    auts: &[u8],
) -> Result<u64, AkaError> {
    let auts = array::<14>("AUTS", auts)?;
    let ak_star = alg.f5_star(rand);
    let mut sqn_ms = [0u8; 6];
    for (i, b) in sqn_ms.iter_mut().enumerate() {
        *b = auts[i] ^ ak_star[i];
    }
    let xmac_s = alg.f1_star(rand, &sqn_ms, &RESYNC_AMF);
    if !symcrypto::ct_eq(&xmac_s, &auts[6..14]) {
        return Err(AkaError::MacS);
    }
    Ok(sqn_from_bytes(&sqn_ms))
}
