//! RSP (ES9+) download sessions, keyed by TransactionID (SGP.22 §3.1.2,
//! §5.6). A session record holds routing data in clear (state, EID, ICCID,
//! MatchingID, expiry) and every secret (challenges, otSK.DP.ECKA, session
//! keys, ...) only as a [`SealedBlob`] whose AAD is [`session_aad`].

use crate::ids::{Eid, Iccid, MatchingId, TransactionId};
use crate::seal::SealedBlob;
use crate::time::UnixMillis;

/// Progress of an RSP session on the SM-DP+.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// ES9+.InitiateAuthentication answered (§5.6.1).
    Initiated,
    /// ES9+.AuthenticateClient succeeded; the session is bound to an order
    /// (§5.6.3).
    Authenticated,
    /// ES9+.GetBoundProfilePackage delivered the BPP (§5.6.2).
    BppDelivered,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Initiated => "Initiated",
            SessionState::Authenticated => "Authenticated",
            SessionState::BppDelivered => "BppDelivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Initiated" => Some(SessionState::Initiated),
            "Authenticated" => Some(SessionState::Authenticated),
            "BppDelivered" => Some(SessionState::BppDelivered),
            _ => None,
        }
    }
}

/// AAD binding a sealed session blob to its TransactionID.
pub fn session_aad(tid: &TransactionId) -> Vec<u8> {
    let mut aad = b"simkit/session/".to_vec();
    aad.extend_from_slice(tid.as_bytes());
    aad
}

/// AAD binding a sealed Profile Package to its ICCID.
pub fn package_aad(iccid: &Iccid) -> Vec<u8> {
    let mut aad = b"simkit/upp/".to_vec();
    aad.extend_from_slice(iccid.as_str().as_bytes());
    aad
}

/// A session to create at ES9+.InitiateAuthentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub transaction_id: TransactionId,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub sealed: SealedBlob,
}

impl NewSession {
    /// A session starting `now` that lives `ttl_ms`.
    pub fn new(
        transaction_id: TransactionId,
        now: UnixMillis,
        ttl_ms: u64,
        sealed: SealedBlob,
    ) -> Self {
        NewSession {
            transaction_id,
            created_at: now,
            expires_at: now.plus_millis(ttl_ms),
            sealed,
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub transaction_id: TransactionId,
    pub state: SessionState,
    pub eid: Option<Eid>,
    pub iccid: Option<Iccid>,
    pub matching_id: Option<MatchingId>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub sealed: SealedBlob,
}

impl SessionRecord {
    /// Expired sessions are treated as unknown (8.10.1/3.9).
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now >= self.expires_at
    }
}
