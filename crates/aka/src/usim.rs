//! The USIM side of AKA (3GPP TS 33.102 §6.3.3) with the SQN management of Annex C.
//!
//! SQN = SEQ || IND with a 5-bit IND (Annex C.1.2). The USIM keeps the highest accepted SEQ for
//! every IND value, `SEQ_MS(i)`, and accepts SQN = SEQ || IND when (Annex C.3.2)
//! `SEQ > SEQ_MS(IND)`, plus, when enabled:
//! * the wrap-around protection of Annex C.2.1: `SEQ - SEQ_MS <= Δ`, where SEQ_MS is the highest
//!   SEQ in the array;
//! * the limited time validity of Annex C.2.2: `SEQ_MS - SEQ <= L`.
//!
//! On acceptance `SEQ_MS(IND) := SEQ`. On failure the USIM answers with
//! AUTS = SQN_MS ⊕ AK* || MAC-S, SQN_MS being the highest accepted SEQ with its IND and
//! MAC-S = f1*(K, SQN_MS, RAND, AMF* = 0000).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::network::RESYNC_AMF;
use crate::{
    array, gsm, sqn_from_bytes, sqn_from_parts, sqn_parts, sqn_to_bytes, AkaAlgorithm, AkaError,
    IND_COUNT, SEQ_MAX,
};

/// SAIP default for `sqnDelta` and `sqnAgeLimit`: '000010000000'H = 2^28 (PE_Definitions 3.3.1).
pub const SAIP_DEFAULT_LIMIT: u64 = 1 << 28;
/// SAIP default `sqnOptions`: '02'H.
pub const SAIP_DEFAULT_SQN_OPTIONS: u8 = 0x02;
/// `sqnOptions` bit b1: check the age limit L (Annex C.2.2). Our reading of SAIP §8.4.1.
pub const SQN_OPTION_AGE_LIMIT: u8 = 0x01;
/// `sqnOptions` bit b2: check Δ (wrap-around protection, Annex C.2.1). Our reading of SAIP §8.4.1.
pub const SQN_OPTION_DELTA: u8 = 0x02;

/// Which freshness limits the USIM applies beyond `SEQ > SEQ_MS(IND)`; values in SEQ units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqnPolicy {
    /// Δ of Annex C.2.1 (`None`: not checked).
    pub delta: Option<u64>,
    /// L of Annex C.2.2 (`None`: not checked).
    pub age_limit: Option<u64>,
}

impl Default for SqnPolicy {
    /// The SAIP defaults: sqnOptions '02' (Δ checked), Δ = 2^28.
    fn default() -> Self {
        SqnPolicy {
            delta: Some(SAIP_DEFAULT_LIMIT),
            age_limit: None,
        }
    }
}

impl SqnPolicy {
    /// From SAIP `sqnOptions`, `sqnDelta` and `sqnAgeLimit` (6 bytes each; absent = default).
    pub fn from_saip(
        options: u8,
        delta: Option<&[u8]>,
        age_limit: Option<&[u8]>,
    ) -> Result<SqnPolicy, AkaError> {
        let limit = |v: Option<&[u8]>, what| -> Result<u64, AkaError> {
            match v {
                None => Ok(SAIP_DEFAULT_LIMIT),
                Some(b) => {
                    let x = sqn_from_bytes(&array::<6>(what, b)?);
                    if x > SEQ_MAX {
                        return Err(AkaError::SqnRange(x));
                    }
                    Ok(x)
                }
            }
        };
        let delta = limit(delta, "sqnDelta")?;
        let age = limit(age_limit, "sqnAgeLimit")?;
        Ok(SqnPolicy {
            delta: (options & SQN_OPTION_DELTA != 0).then_some(delta),
            age_limit: (options & SQN_OPTION_AGE_LIMIT != 0).then_some(age),
        })
    }
}

/// The USIM's persistent SQN state: SEQ_MS(i) for each IND value i (Annex C.3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqnArray {
    seq: [u64; IND_COUNT],
}

impl Default for SqnArray {
    fn default() -> Self {
        SqnArray {
            seq: [0; IND_COUNT],
        }
    }
}

impl SqnArray {
    pub fn new() -> SqnArray {
        SqnArray::default()
    }

    /// From SAIP `sqnInit` (32 six-byte SEQ values without IND); `None` gives all zeros.
    pub fn from_saip(sqn_init: Option<&[Vec<u8>]>) -> Result<SqnArray, AkaError> {
        let mut a = SqnArray::new();
        if let Some(values) = sqn_init {
            if values.len() != IND_COUNT {
                return Err(AkaError::Invalid("sqnInit: it must have 32 entries"));
            }
            for (slot, v) in a.seq.iter_mut().zip(values) {
                let seq = sqn_from_bytes(&array::<6>("sqnInit entry", v)?);
                if seq > SEQ_MAX {
                    return Err(AkaError::SqnRange(seq));
                }
                *slot = seq;
            }
        }
        Ok(a)
    }

    /// SEQ_MS(i) for every IND value.
    pub fn seqs(&self) -> &[u64; IND_COUNT] {
        &self.seq
    }

    /// SQN_MS = SEQ_MS || IND_MS: the highest accepted SEQ with its IND (the lowest such IND when
    /// several hold it).
    pub fn sqn_ms(&self) -> u64 {
        let mut best = (0u64, 0u8);
        for (i, &s) in self.seq.iter().enumerate() {
            if s > best.0 {
                // i < 32, so the cast cannot truncate.
                best = (s, i as u8);
            }
        }
        sqn_from_parts(best.0, best.1).unwrap_or(0)
    }

    /// Whether SQN is fresh under `policy` (Annex C.3.2, C.2.1, C.2.2).
    pub fn is_fresh(&self, sqn: u64, policy: &SqnPolicy) -> bool {
        let (seq, ind) = sqn_parts(sqn);
        let Some(&seq_ind) = self.seq.get(usize::from(ind)) else {
            return false;
        };
        if seq <= seq_ind {
            return false;
        }
        let seq_ms = self.seq.iter().copied().max().unwrap_or(0);
        if let Some(delta) = policy.delta {
            if seq > seq_ms && seq - seq_ms > delta {
                return false;
            }
        }
        if let Some(l) = policy.age_limit {
            if seq_ms > seq && seq_ms - seq > l {
                return false;
            }
        }
        true
    }

    /// Records an accepted SQN: SEQ_MS(IND) := SEQ.
    pub fn accept(&mut self, sqn: u64) {
        let (seq, ind) = sqn_parts(sqn);
        if let Some(slot) = self.seq.get_mut(usize::from(ind)) {
            *slot = seq;
        }
    }
}

/// RES, CK, IK of a successful authentication (wiped on drop).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct UsimKeys {
    pub res: Vec<u8>,
    pub ck: [u8; 16],
    pub ik: [u8; 16],
}

impl std::fmt::Debug for UsimKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsimKeys { <redacted> }")
    }
}

impl UsimKeys {
    /// Kc = c3(CK, IK) (TS 33.102 §6.8.1.2).
    pub fn kc(&self) -> [u8; 8] {
        gsm::c3(&self.ck, &self.ik)
    }
}

/// The outcome of the USIM's checks on (RAND, AUTN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsimOutcome {
    Success(UsimKeys),
    /// SQN not fresh: AUTS = SQN_MS ⊕ AK* || MAC-S.
    SyncFailure {
        auts: [u8; 14],
    },
    /// XMAC ≠ MAC.
    MacFailure,
}

/// SRES and Kc of a GSM-context authentication.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct GsmKeys {
    pub sres: [u8; 4],
    pub kc: [u8; 8],
}

impl std::fmt::Debug for GsmKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GsmKeys")
            .field("sres", &self.sres)
            .field("kc", &"<redacted>")
            .finish()
    }
}

/// TS 33.102 §6.3.3: verifies AUTN (16 bytes) for RAND. On success records SQN in `sqns` and
/// returns RES, CK, IK; the array is unchanged otherwise.
pub fn authenticate<A: AkaAlgorithm + ?Sized>(
    alg: &A,
    sqns: &mut SqnArray,
    policy: &SqnPolicy,
    rand: &[u8; 16],
    autn: &[u8],
) -> Result<UsimOutcome, AkaError> {
    let autn = array::<16>("AUTN", autn)?;
    let out = alg.f2345(rand);
    let mut sqn = [0u8; 6];
    for (i, b) in sqn.iter_mut().enumerate() {
        *b = autn[i] ^ out.ak[i];
    }
    let amf = [autn[6], autn[7]];
    let xmac = alg.f1(rand, &sqn, &amf);
    if !symcrypto::ct_eq(&xmac, &autn[8..16]) {
        return Ok(UsimOutcome::MacFailure);
    }
    let sqn = sqn_from_bytes(&sqn);
    if !sqns.is_fresh(sqn, policy) {
        return Ok(UsimOutcome::SyncFailure {
            auts: auts(alg, rand, sqns.sqn_ms()),
        });
    }
    sqns.accept(sqn);
    Ok(UsimOutcome::Success(UsimKeys {
        res: out.res.clone(),
        ck: out.ck,
        ik: out.ik,
    }))
}

/// AUTS = SQN_MS ⊕ AK* || MAC-S with MAC-S = f1*(K, SQN_MS, RAND, AMF* = 0000).
pub fn auts<A: AkaAlgorithm + ?Sized>(alg: &A, rand: &[u8; 16], sqn_ms: u64) -> [u8; 14] {
    let sqn_b = sqn_to_bytes(sqn_ms);
    let ak_star = alg.f5_star(rand);
    let mac_s = alg.f1_star(rand, &sqn_b, &RESYNC_AMF);
    let mut out = [0u8; 14];
    for i in 0..6 {
        out[i] = sqn_b[i] ^ ak_star[i];
    }
    out[6..14].copy_from_slice(&mac_s);
    out
}

/// GSM security context on a USIM (TS 33.102 §6.8.1.2, TS 31.102 §7.1.2.1): RES, CK, IK from
/// RAND alone (no AUTN, no SQN check), then SRES = c2(RES), Kc = c3(CK, IK).
pub fn gsm_authenticate<A: AkaAlgorithm + ?Sized>(alg: &A, rand: &[u8; 16]) -> GsmKeys {
    let out = alg.f2345(rand);
    GsmKeys {
        sres: gsm::c2(&out.res),
        kc: gsm::c3(&out.ck, &out.ik),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_mechanism() {
        let p = SqnPolicy {
            delta: None,
            age_limit: None,
        };
        let mut a = SqnArray::new();
        let s = sqn_from_parts(5, 3).unwrap();
        assert!(a.is_fresh(s, &p));
        a.accept(s);
        assert!(!a.is_fresh(s, &p), "replay");
        // Same SEQ under another IND is fresh (Annex C.3.2).
        assert!(a.is_fresh(sqn_from_parts(5, 4).unwrap(), &p));
        // Lower SEQ under an unused IND is fresh too.
        assert!(a.is_fresh(sqn_from_parts(2, 7).unwrap(), &p));
        assert_eq!(a.sqn_ms(), s);
    }

    #[test]
    fn delta_and_age_limits() {
        let p = SqnPolicy {
            delta: Some(10),
            age_limit: Some(3),
        };
        let mut a = SqnArray::new();
        a.accept(sqn_from_parts(100, 0).unwrap());
        assert!(a.is_fresh(sqn_from_parts(110, 1).unwrap(), &p));
        assert!(!a.is_fresh(sqn_from_parts(111, 1).unwrap(), &p), "beyond Δ");
        assert!(a.is_fresh(sqn_from_parts(97, 1).unwrap(), &p));
        assert!(
            !a.is_fresh(sqn_from_parts(96, 1).unwrap(), &p),
            "older than L"
        );
    }

    #[test]
    fn saip_policy() {
        assert_eq!(
            SqnPolicy::from_saip(SAIP_DEFAULT_SQN_OPTIONS, None, None),
            Ok(SqnPolicy::default())
        );
        let p = SqnPolicy::from_saip(0x03, Some(&[0, 0, 0, 0, 1, 0]), Some(&[0, 0, 0, 0, 0, 9]));
        assert_eq!(
            p,
            Ok(SqnPolicy {
                delta: Some(256),
                age_limit: Some(9)
            })
        );
        assert!(SqnPolicy::from_saip(0x02, Some(&[0; 5]), None).is_err());
        assert!(SqnPolicy::from_saip(0x02, Some(&[0xFF; 6]), None).is_err());
    }

    #[test]
    fn saip_sqn_init() {
        let mut init = vec![vec![0u8; 6]; 32];
        init[4] = vec![0, 0, 0, 0, 0, 7];
        let a = SqnArray::from_saip(Some(&init)).unwrap();
        assert_eq!(a.seqs()[4], 7);
        assert_eq!(a.sqn_ms(), sqn_from_parts(7, 4).unwrap());
        assert!(SqnArray::from_saip(Some(&init[..31])).is_err());
        init[0] = vec![0; 5];
        assert!(SqnArray::from_saip(Some(&init)).is_err());
        assert_eq!(SqnArray::from_saip(None), Ok(SqnArray::new()));
    }

    #[test]
    fn serde_round_trip() {
        let mut a = SqnArray::new();
        a.accept(sqn_from_parts(42, 31).unwrap());
        let json = serde_json::to_string(&a).unwrap();
        let b: SqnArray = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<SqnArray>(r#"{"seq":[1,2]}"#).is_err());
    }
}
