//! Profiles, download orders and the pure rules that drive them.
//!
//! Each rule takes an [`OrderCtx`] (a Profile and its order, read inside a
//! storage transaction), mutates it, may append [`OutboxMessage`]s, and
//! returns the function result. The store persists the mutated context and
//! the outbox in the same transaction **whether the rule succeeded or not**:
//! some refusals change state (a retry limit reached puts the Profile in
//! `Error`).
//!
//! Rules implemented (SGP.22 v2.2.2):
//! * One order per Profile. DownloadOrder with an EID links the order to it
//!   (`Linked`); ConfirmOrder may add the EID; the first eUICC that passes
//!   ES9+.AuthenticateClient for an unbound order binds it. A bound order
//!   refuses every other EID (ES2+: 8.1.1/3.10; ES9+: 8.1.1/3.8).
//! * MatchingID: taken from ConfirmOrder, generated when absent
//!   ([`MatchingId::generate`]); a zero-length MatchingID means "no
//!   Activation Code" (SM-DS / default SM-DP+) and then the EID is mandatory
//!   (8.1.1/2.2). MatchingIDs are unique across orders (8.2.6/3.3).
//! * Confirmation Code: only SHA-256(CC) is stored. The eUICC sends
//!   `hashCc = SHA-256(SHA-256(CC) || TransactionID)` (§3.1.3, §5.7.5); each
//!   mismatch counts; at `max_cc_attempts` failures the Profile goes to
//!   `Error` (8.2.7/6.4), before that 8.2.7/3.8.
//! * Download retries: a Profile in `Released` or `Downloaded` can start a
//!   new session (new TransactionID) until it is `Installed` or the order is
//!   cancelled. Each authorised session counts one attempt; the attempt
//!   after `max_download_attempts` puts the Profile in `Error` (8.8.5/6.4).
//!   A failed installation keeps `Downloaded` (retry allowed) unless the
//!   attempts are exhausted. `Confirmed` is not downloadable (8.2/1.2).
//! * Order expiry (optional TTL from DownloadOrder): a download attempt after
//!   expiry puts the Profile in `Error` (8.8.5/4.10).
//! * CancelOrder to `Available` is refused (8.2.1/3.5) once a BPP has left
//!   the SM-DP+ for this order: the ICCID may be on an eUICC.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::codes;
use crate::es2p::{self, notification_point as np, FunctionExecutionStatus};
use crate::ids::{Eid, Iccid, MatchingId, TransactionId};
use crate::outbox::OutboxMessage;
use crate::seal::SealedBlob;
use crate::state::{FinalProfileStatus, ProfileEvent, ProfileState};
use crate::time::UnixMillis;
use crate::{Error, FunctionError, Result};

/// Limits of the order rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPolicy {
    /// Confirmation Code failures allowed before the order ends in Error.
    pub max_cc_attempts: u32,
    /// Download sessions allowed per order.
    pub max_download_attempts: u32,
    /// Lifetime of a download order from DownloadOrder; `None` = no expiry.
    pub order_ttl_ms: Option<u64>,
    /// Lifetime of an RSP session from InitiateAuthentication.
    pub session_ttl_ms: u64,
    /// How long a session stays after its BPP was delivered, waiting for the Profile
    /// Installation Result: the PIR carries no certificate, so only the session's eUICC key can
    /// verify it, and the LPA may deliver it late (SGP.22 §3.5 re-sends notifications).
    pub pir_ttl_ms: u64,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        OrderPolicy {
            max_cc_attempts: 3,
            max_download_attempts: 5,
            order_ttl_ms: None,
            session_ttl_ms: 10 * 60 * 1000,
            pir_ttl_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// A Profile to add to the inventory. The Unprotected Profile Package holds
/// subscriber keys, so it is passed sealed (AAD = [`crate::session::package_aad`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewProfile {
    pub iccid: Iccid,
    pub imsi: Option<String>,
    pub profile_type: String,
    /// Operator allowed to order it (`functionRequesterIdentifier`);
    /// `None` = any authenticated operator.
    pub owner: Option<String>,
    pub package: SealedBlob,
    pub metadata: Value,
}

/// A Profile in the inventory (without its package).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    pub iccid: Iccid,
    pub imsi: Option<String>,
    pub profile_type: String,
    pub owner: Option<String>,
    pub state: ProfileState,
    pub metadata: Value,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// Count of Profiles per type and state (inventory reporting / metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileCount {
    pub profile_type: String,
    pub state: ProfileState,
    pub count: u64,
}

/// The download order of one Profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub iccid: Iccid,
    /// Operator that placed the order; receives the progress callbacks.
    pub requester: String,
    pub eid: Option<Eid>,
    /// `None` before ConfirmOrder, or when confirmed with a zero-length
    /// MatchingID.
    pub matching_id: Option<MatchingId>,
    /// SHA-256(Confirmation Code), when a CC is required.
    pub cc_hash: Option<[u8; 32]>,
    pub smds_address: Option<String>,
    pub cc_failures: u32,
    pub download_attempts: u32,
    /// A BPP for this order has left the SM-DP+ at least once.
    pub bpp_delivered: bool,
    pub created_at: UnixMillis,
    pub expires_at: Option<UnixMillis>,
}

/// A Profile and its order, as read in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCtx {
    pub profile: ProfileRecord,
    pub order: Option<OrderRecord>,
}

/// SHA-256 of a Confirmation Code, the form stored at rest.
pub fn hash_confirmation_code(cc: &str) -> [u8; 32] {
    Sha256::digest(cc.as_bytes()).into()
}

/// `hashCc` expected from the eUICC: SHA-256(SHA-256(CC) || TransactionID)
/// (SGP.22 §3.1.3 "Hashed Confirmation Code", §5.7.5).
pub fn session_cc_hash(cc_hash: &[u8; 32], tid: &TransactionId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(cc_hash);
    h.update(tid.as_bytes());
    h.finalize().into()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn rej(code: crate::StatusCode, msg: impl Into<String>) -> Error {
    Error::rejected(code, msg)
}

fn missing(param: &str) -> Error {
    rej(
        codes::FUNCTION_MANDATORY_MISSING,
        format!("{param} is missing"),
    )
}

fn opt_nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------
// Validated ES2+ inputs
// ---------------------------------------------------------------------------

/// ES2+.DownloadOrder input (§5.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOrderInput {
    pub requester: String,
    pub eid: Option<Eid>,
    pub iccid: Option<Iccid>,
    pub profile_type: Option<String>,
}

impl DownloadOrderInput {
    pub fn from_request(req: &es2p::DownloadOrderRequest) -> Result<Self> {
        let iccid = opt_nonempty(&req.iccid).map(Iccid::parse).transpose()?;
        let profile_type = opt_nonempty(&req.profile_type).map(str::to_string);
        if iccid.is_none() && profile_type.is_none() {
            return Err(rej(
                codes::FUNCTION_CONDITIONAL_MISSING,
                "one of iccid or profileType is required",
            ));
        }
        Ok(DownloadOrderInput {
            requester: req.header.function_requester_identifier.clone(),
            eid: opt_nonempty(&req.eid).map(Eid::parse).transpose()?,
            iccid,
            profile_type,
        })
    }
}

/// The MatchingID a ConfirmOrder asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedMatchingId {
    /// Absent in the request: use this freshly generated one.
    Generated(MatchingId),
    /// Provided by the Operator.
    Given(MatchingId),
    /// Zero-length: no Activation Code (SM-DS or default SM-DP+ use).
    Empty,
}

impl RequestedMatchingId {
    pub fn value(&self) -> Option<&MatchingId> {
        match self {
            RequestedMatchingId::Generated(m) | RequestedMatchingId::Given(m) => Some(m),
            RequestedMatchingId::Empty => None,
        }
    }
}

/// ES2+.ConfirmOrder input (§5.3.2). The Confirmation Code is hashed here
/// and never kept in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmOrderInput {
    pub requester: String,
    pub iccid: Iccid,
    pub eid: Option<Eid>,
    pub matching_id: RequestedMatchingId,
    pub cc_hash: Option<[u8; 32]>,
    pub smds_address: Option<String>,
    pub release: bool,
}

impl ConfirmOrderInput {
    /// `generated` is used when the request has no `matchingId`; the caller
    /// makes it with [`MatchingId::generate`] and its injected RNG.
    pub fn from_request(req: &es2p::ConfirmOrderRequest, generated: MatchingId) -> Result<Self> {
        if req.iccid.is_empty() {
            return Err(missing("iccid"));
        }
        let matching_id = match req.matching_id.as_deref() {
            None => RequestedMatchingId::Generated(generated),
            Some("") => RequestedMatchingId::Empty,
            Some(m) => RequestedMatchingId::Given(MatchingId::parse(m)?),
        };
        Ok(ConfirmOrderInput {
            requester: req.header.function_requester_identifier.clone(),
            iccid: Iccid::parse(&req.iccid)?,
            eid: opt_nonempty(&req.eid).map(Eid::parse).transpose()?,
            matching_id,
            cc_hash: opt_nonempty(&req.confirmation_code).map(hash_confirmation_code),
            smds_address: opt_nonempty(&req.smds_address).map(str::to_string),
            release: req.release_flag,
        })
    }
}

/// Result of ConfirmOrder: the response's `eid` and `matchingId` (the I/O
/// edge adds `smdpAddress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmOutcome {
    pub eid: Option<Eid>,
    pub matching_id: Option<MatchingId>,
}

/// ES2+.CancelOrder input (§5.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrderInput {
    pub requester: String,
    pub iccid: Iccid,
    pub eid: Option<Eid>,
    pub matching_id: Option<MatchingId>,
    pub final_status: FinalProfileStatus,
}

impl CancelOrderInput {
    pub fn from_request(req: &es2p::CancelOrderRequest) -> Result<Self> {
        if req.iccid.is_empty() {
            return Err(missing("iccid"));
        }
        let final_status = FinalProfileStatus::parse(&req.final_profile_status_indicator)
            .ok_or_else(|| {
                rej(
                    codes::FUNCTION_INVALID_PARAM,
                    "finalProfileStatusIndicator must be Available or Unavailable",
                )
            })?;
        Ok(CancelOrderInput {
            requester: req.header.function_requester_identifier.clone(),
            iccid: Iccid::parse(&req.iccid)?,
            eid: opt_nonempty(&req.eid).map(Eid::parse).transpose()?,
            matching_id: opt_nonempty(&req.matching_id)
                .map(MatchingId::parse)
                .transpose()?,
            final_status,
        })
    }
}

/// ES2+.ReleaseProfile input (§5.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseProfileInput {
    pub requester: String,
    pub iccid: Iccid,
}

impl ReleaseProfileInput {
    pub fn from_request(req: &es2p::ReleaseProfileRequest) -> Result<Self> {
        if req.iccid.is_empty() {
            return Err(missing("iccid"));
        }
        Ok(ReleaseProfileInput {
            requester: req.header.function_requester_identifier.clone(),
            iccid: Iccid::parse(&req.iccid)?,
        })
    }
}

/// Granted by [`authorize_download`]: what the ES9+ handler needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadAuthorization {
    pub iccid: Iccid,
    pub profile_type: String,
    pub eid: Eid,
    pub matching_id: Option<MatchingId>,
    /// `ccRequiredFlag` of SmdpSigned2 (§5.6.3).
    pub cc_required: bool,
    /// 1-based number of this download attempt.
    pub attempt: u32,
    /// A BPP was already delivered for this order (retry).
    pub bpp_previously_delivered: bool,
    /// The Profile's inventory metadata (source of StoreMetadataRequest), as read under the
    /// same lock: the handler needs no second read of the Profile.
    pub profile_metadata: serde_json::Value,
}

/// A Profile Installation Result received over ES9+.HandleNotification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallResult {
    pub eid: Eid,
    /// `seqNumber` of the notification (dedupe key with the EID).
    pub seq_number: i64,
    pub iccid: Iccid,
    /// `None` on success; the failure mapped to a status code otherwise.
    pub failure: Option<FunctionError>,
    /// The DER ProfileInstallationResult, forwarded as `resultData`.
    pub result_data: Option<Vec<u8>>,
}

/// What [`install_result`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Same (EID, seqNumber) already processed: nothing done.
    Duplicate,
    Installed,
    /// Installation failed; `retry_allowed` = Profile stays `Downloaded`.
    Failed {
        retry_allowed: bool,
    },
    /// No matching download (unknown ICCID, other EID, wrong state): the
    /// receipt is recorded, nothing else.
    Ignored,
}

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

fn check_owner(profile: &ProfileRecord, requester: &str) -> Result<()> {
    match &profile.owner {
        Some(o) if o != requester => Err(rej(
            codes::ICCID_NOT_ALLOWED,
            "the Profile belongs to another Operator",
        )),
        _ => Ok(()),
    }
}

fn check_requester(order: &OrderRecord, requester: &str) -> Result<()> {
    if order.requester != requester {
        return Err(rej(
            codes::ICCID_NOT_ALLOWED,
            "the download order belongs to another Operator",
        ));
    }
    Ok(())
}

fn transition(profile: &mut ProfileRecord, event: ProfileEvent, now: UnixMillis) -> Result<()> {
    let to = profile.state.apply(event).map_err(|e| {
        rej(
            codes::ICCID_INVALID_TRANSITION,
            format!("Profile is {}: {:?} not allowed", e.from, e.event),
        )
    })?;
    profile.state = to;
    profile.updated_at = now;
    Ok(())
}

/// ES2+.DownloadOrder on a selected Profile (§5.3.1). For a profileType
/// request the store selects an `Available` Profile of that type first.
pub fn download_order(
    ctx: &mut OrderCtx,
    input: &DownloadOrderInput,
    now: UnixMillis,
    policy: &OrderPolicy,
) -> Result<Iccid> {
    check_owner(&ctx.profile, &input.requester)?;
    if let Some(t) = &input.profile_type {
        if *t != ctx.profile.profile_type {
            return Err(rej(
                codes::PROFILE_TYPE_MISMATCH,
                "profileType does not match the Profile identified by the ICCID",
            ));
        }
    }
    if ctx.profile.state != ProfileState::Available || ctx.order.is_some() {
        return Err(rej(
            codes::ICCID_NOT_AVAILABLE,
            "the Profile is not available",
        ));
    }
    transition(
        &mut ctx.profile,
        ProfileEvent::DownloadOrder {
            eid_bound: input.eid.is_some(),
        },
        now,
    )?;
    ctx.order = Some(OrderRecord {
        iccid: ctx.profile.iccid.clone(),
        requester: input.requester.clone(),
        eid: input.eid.clone(),
        matching_id: None,
        cc_hash: None,
        smds_address: None,
        cc_failures: 0,
        download_attempts: 0,
        bpp_delivered: false,
        created_at: now,
        expires_at: policy.order_ttl_ms.map(|t| now.plus_millis(t)),
    });
    Ok(ctx.profile.iccid.clone())
}

/// ES2+.ConfirmOrder (§5.3.2). `matching_id_taken`: the requested MatchingID
/// is already used by another order (looked up by the store).
pub fn confirm_order(
    ctx: &mut OrderCtx,
    input: &ConfirmOrderInput,
    matching_id_taken: bool,
    now: UnixMillis,
) -> Result<ConfirmOutcome> {
    check_owner(&ctx.profile, &input.requester)?;
    let order = match (&mut ctx.order, ctx.profile.state) {
        (Some(o), ProfileState::Allocated | ProfileState::Linked) => o,
        _ => {
            return Err(rej(
                codes::ICCID_INVALID_TRANSITION,
                format!("Profile is {}: no order to confirm", ctx.profile.state),
            ))
        }
    };
    check_requester(order, &input.requester)?;
    let eid = match (&order.eid, &input.eid) {
        (Some(bound), Some(given)) if bound != given => {
            return Err(rej(
                codes::EID_INVALID_ASSOCIATION,
                "a different EID is associated with this ICCID",
            ))
        }
        (bound, given) => bound.clone().or_else(|| given.clone()),
    };
    if eid.is_none()
        && (input.matching_id == RequestedMatchingId::Empty || input.smds_address.is_some())
    {
        return Err(rej(
            codes::EID_MISSING,
            "EID is required with an SM-DS address or a zero-length MatchingID",
        ));
    }
    if matching_id_taken && input.matching_id.value().is_some() {
        return Err(rej(
            codes::MATCHING_ID_IN_USE,
            "conflicting MatchingID value",
        ));
    }
    transition(
        &mut ctx.profile,
        ProfileEvent::ConfirmOrder {
            release: input.release,
        },
        now,
    )?;
    order.eid = eid.clone();
    order.matching_id = input.matching_id.value().cloned();
    order.cc_hash = input.cc_hash;
    order.smds_address = input.smds_address.clone();
    Ok(ConfirmOutcome {
        eid,
        matching_id: order.matching_id.clone(),
    })
}

/// ES2+.CancelOrder (§5.3.3): the order is removed and the Profile set to
/// the requested final state.
pub fn cancel_order(ctx: &mut OrderCtx, input: &CancelOrderInput, now: UnixMillis) -> Result<()> {
    check_owner(&ctx.profile, &input.requester)?;
    let Some(order) = &ctx.order else {
        return Err(rej(
            codes::ICCID_INVALID_TRANSITION,
            format!("Profile is {}: no download order", ctx.profile.state),
        ));
    };
    check_requester(order, &input.requester)?;
    if let (Some(bound), Some(given)) = (&order.eid, &input.eid) {
        if bound != given {
            return Err(rej(
                codes::EID_INVALID_ASSOCIATION,
                "a different EID is associated with this ICCID",
            ));
        }
    }
    if let Some(given) = &input.matching_id {
        if order.matching_id.as_ref() != Some(given) {
            return Err(rej(
                codes::MATCHING_ID_INVALID_ASSOCIATION,
                "a different MatchingID is associated with this ICCID",
            ));
        }
    }
    if input.final_status == FinalProfileStatus::Available && order.bpp_delivered {
        return Err(rej(
            codes::ICCID_INVALID_TRANSITION,
            "a Bound Profile Package was delivered: the Profile cannot return to Available",
        ));
    }
    transition(
        &mut ctx.profile,
        ProfileEvent::Cancel(input.final_status),
        now,
    )?;
    ctx.order = None;
    Ok(())
}

/// ES2+.ReleaseProfile (§5.3.4): `Confirmed -> Released`.
pub fn release_profile(
    ctx: &mut OrderCtx,
    input: &ReleaseProfileInput,
    now: UnixMillis,
) -> Result<()> {
    check_owner(&ctx.profile, &input.requester)?;
    let (Some(order), ProfileState::Confirmed) = (&ctx.order, ctx.profile.state) else {
        return Err(rej(
            codes::ICCID_INVALID_TRANSITION,
            format!("Profile is {}: it cannot be released", ctx.profile.state),
        ));
    };
    check_requester(order, &input.requester)?;
    transition(&mut ctx.profile, ProfileEvent::Release, now)
}

/// Put the Profile in `Error` and report it at `notification_point`.
fn fail(
    ctx: &mut OrderCtx,
    point: u32,
    err: FunctionError,
    now: UnixMillis,
    out: &mut Vec<OutboxMessage>,
) -> Error {
    if ctx.profile.state.apply(ProfileEvent::Failed).is_ok() {
        ctx.profile.state = ProfileState::Error;
        ctx.profile.updated_at = now;
    }
    if let Some(order) = &ctx.order {
        out.push(OutboxMessage::progress(
            &ctx.profile,
            order,
            point,
            FunctionExecutionStatus::failed(&err),
            None,
            now,
        ));
    }
    Error::Rejected(err)
}

fn check_downloadable(ctx: &OrderCtx) -> Result<()> {
    match ctx.profile.state {
        s if s.is_downloadable() => Ok(()),
        ProfileState::Allocated | ProfileState::Linked | ProfileState::Confirmed => Err(rej(
            codes::PROFILE_NOT_RELEASED,
            "Profile has not yet been released",
        )),
        _ => Err(rej(
            codes::MATCHING_ID_REFUSED,
            "MatchingID (AC_Token or EventID) is refused",
        )),
    }
}

/// Eligibility of a new download session after ES9+.AuthenticateClient
/// verified the eUICC (§3.1.3.1, §5.6.3): EID binding, released state,
/// expiry and retry limit. Counts the attempt and binds the EID.
pub fn authorize_download(
    ctx: &mut OrderCtx,
    eid: &Eid,
    now: UnixMillis,
    policy: &OrderPolicy,
    out: &mut Vec<OutboxMessage>,
) -> Result<DownloadAuthorization> {
    let Some(order) = &ctx.order else {
        return Err(rej(codes::MATCHING_ID_REFUSED, "no download order"));
    };
    if let Some(bound) = &order.eid {
        if bound != eid {
            // Not an eligibility failure: another device presented the
            // MatchingID; the order is left untouched.
            return Err(rej(
                codes::EID_REFUSED,
                "EID doesn't match the expected value",
            ));
        }
    }
    check_downloadable(ctx)?;
    if order.expires_at.is_some_and(|exp| now >= exp) {
        let e = FunctionError::new(
            codes::DOWNLOAD_ORDER_EXPIRED,
            "the download order has expired",
        );
        return Err(fail(
            ctx,
            np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
            e,
            now,
            out,
        ));
    }
    if order.download_attempts >= policy.max_download_attempts {
        let e = FunctionError::new(
            codes::DOWNLOAD_RETRIES_EXCEEDED,
            "maximum number of retries for the Profile download order exceeded",
        );
        return Err(fail(
            ctx,
            np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
            e,
            now,
            out,
        ));
    }
    let Some(order) = &mut ctx.order else {
        return Err(rej(codes::MATCHING_ID_REFUSED, "no download order"));
    };
    order.download_attempts += 1;
    order.eid = Some(eid.clone());
    ctx.profile.updated_at = now;
    out.push(OutboxMessage::progress(
        &ctx.profile,
        order,
        np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
        FunctionExecutionStatus::success(),
        None,
        now,
    ));
    Ok(DownloadAuthorization {
        iccid: ctx.profile.iccid.clone(),
        profile_type: ctx.profile.profile_type.clone(),
        eid: eid.clone(),
        matching_id: order.matching_id.clone(),
        cc_required: order.cc_hash.is_some(),
        attempt: order.download_attempts,
        bpp_previously_delivered: order.bpp_delivered,
        profile_metadata: ctx.profile.metadata.clone(),
    })
}

/// An eligibility failure found by the ES9+ handler (device capabilities,
/// PPR, ...): the Profile goes to `Error` and the Operator is told.
pub fn download_failed(
    ctx: &mut OrderCtx,
    notification_point: u32,
    err: FunctionError,
    now: UnixMillis,
    out: &mut Vec<OutboxMessage>,
) -> Result<()> {
    if !ctx.profile.state.is_downloadable() {
        return Err(rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "no download in progress",
        ));
    }
    let _ = fail(ctx, notification_point, err, now, out);
    Ok(())
}

/// Checks before a BPP is built for ES9+.GetBoundProfilePackage (§5.6.2):
/// the order is still downloadable and unexpired, and the Hashed
/// Confirmation Code matches when one is required.
pub fn verify_download_confirmation(
    ctx: &mut OrderCtx,
    tid: &TransactionId,
    hash_cc: Option<&[u8]>,
    now: UnixMillis,
    policy: &OrderPolicy,
    out: &mut Vec<OutboxMessage>,
) -> Result<()> {
    let Some(order) = &ctx.order else {
        return Err(rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "the download order no longer exists",
        ));
    };
    if !ctx.profile.state.is_downloadable() {
        return Err(rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "the download order is no longer active",
        ));
    }
    if order.expires_at.is_some_and(|exp| now >= exp) {
        let e = FunctionError::new(
            codes::DOWNLOAD_ORDER_EXPIRED,
            "the download order has expired",
        );
        return Err(fail(ctx, np::CONFIRMATION_FAILURE, e, now, out));
    }
    let Some(cc_hash) = order.cc_hash else {
        return Ok(());
    };
    let Some(given) = hash_cc else {
        return Err(rej(codes::CC_MISSING, "Confirmation Code is missing"));
    };
    if ct_eq(given, &session_cc_hash(&cc_hash, tid)) {
        return Ok(());
    }
    let Some(order) = &mut ctx.order else {
        return Err(rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "the download order no longer exists",
        ));
    };
    order.cc_failures += 1;
    ctx.profile.updated_at = now;
    if order.cc_failures >= policy.max_cc_attempts {
        let e = FunctionError::new(
            codes::CC_RETRIES_EXCEEDED,
            "maximum number of retries for the Confirmation Code exceeded",
        );
        return Err(fail(ctx, np::CONFIRMATION_FAILURE, e, now, out));
    }
    let e = FunctionError::new(codes::CC_REFUSED, "Confirmation Code is refused");
    out.push(OutboxMessage::progress(
        &ctx.profile,
        order,
        np::CONFIRMATION_FAILURE,
        FunctionExecutionStatus::failed(&e),
        None,
        now,
    ));
    Err(Error::Rejected(e))
}

/// The BPP left the SM-DP+ (§5.6.2): `Released -> Downloaded` (or a retry
/// in `Downloaded`).
pub fn bpp_delivered(
    ctx: &mut OrderCtx,
    now: UnixMillis,
    out: &mut Vec<OutboxMessage>,
) -> Result<()> {
    if ctx.order.is_none() {
        return Err(rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "the download order no longer exists",
        ));
    }
    transition(&mut ctx.profile, ProfileEvent::BppDelivered, now).map_err(|_| {
        rej(
            codes::TRANSACTION_ID_UNKNOWN,
            "the download order is no longer active",
        )
    })?;
    if let Some(order) = &mut ctx.order {
        order.bpp_delivered = true;
        out.push(OutboxMessage::progress(
            &ctx.profile,
            order,
            np::BPP_DOWNLOAD,
            FunctionExecutionStatus::success(),
            None,
            now,
        ));
    }
    Ok(())
}

/// A Profile Installation Result for this Profile (§3.1.3.3, §5.6.4).
/// Receipt dedupe is done by the store before calling this.
pub fn install_result(
    ctx: &mut OrderCtx,
    result: &InstallResult,
    now: UnixMillis,
    policy: &OrderPolicy,
    out: &mut Vec<OutboxMessage>,
) -> InstallOutcome {
    let Some(order) = &ctx.order else {
        return InstallOutcome::Ignored;
    };
    if ctx.profile.state != ProfileState::Downloaded || order.eid.as_ref() != Some(&result.eid) {
        return InstallOutcome::Ignored;
    }
    let data = result.result_data.as_ref().map(|d| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(d)
    });
    let (status, outcome) = match &result.failure {
        None => {
            ctx.profile.state = ProfileState::Installed;
            (
                FunctionExecutionStatus::success(),
                InstallOutcome::Installed,
            )
        }
        Some(err) => {
            let retry_allowed = order.download_attempts < policy.max_download_attempts;
            if !retry_allowed {
                ctx.profile.state = ProfileState::Error;
            }
            (
                FunctionExecutionStatus::failed(err),
                InstallOutcome::Failed { retry_allowed },
            )
        }
    };
    ctx.profile.updated_at = now;
    out.push(OutboxMessage::progress(
        &ctx.profile,
        order,
        np::BPP_INSTALLATION,
        status,
        data,
        now,
    ));
    outcome
}

/// An installed Profile was deleted: retire its ICCID.
pub fn retire(ctx: &mut OrderCtx, now: UnixMillis) -> Result<()> {
    transition(&mut ctx.profile, ProfileEvent::Retire, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::es2p::{ExecutionStatus, RequestHeader};

    const EID1: &str = "89049032123451234512345678901235";
    const EID2: &str = "89049032123451234512345678901236";
    const ICCID: &str = "8944500102198304826";

    fn now(t: i64) -> UnixMillis {
        UnixMillis(t)
    }

    fn ctx() -> OrderCtx {
        OrderCtx {
            profile: ProfileRecord {
                iccid: Iccid::parse(ICCID).unwrap(),
                imsi: Some("001010000000001".into()),
                profile_type: "Test".into(),
                owner: None,
                state: ProfileState::Available,
                metadata: Value::Null,
                created_at: now(0),
                updated_at: now(0),
            },
            order: None,
        }
    }

    fn hdr(req: &str) -> RequestHeader {
        RequestHeader {
            function_requester_identifier: req.into(),
            function_call_identifier: "1".into(),
        }
    }

    fn dl(eid: Option<&str>) -> DownloadOrderInput {
        DownloadOrderInput {
            requester: "MNO".into(),
            eid: eid.map(|e| Eid::parse(e).unwrap()),
            iccid: Some(Iccid::parse(ICCID).unwrap()),
            profile_type: None,
        }
    }

    fn confirm(
        eid: Option<&str>,
        mid: RequestedMatchingId,
        cc: Option<&str>,
        release: bool,
    ) -> ConfirmOrderInput {
        ConfirmOrderInput {
            requester: "MNO".into(),
            iccid: Iccid::parse(ICCID).unwrap(),
            eid: eid.map(|e| Eid::parse(e).unwrap()),
            matching_id: mid,
            cc_hash: cc.map(hash_confirmation_code),
            smds_address: None,
            release,
        }
    }

    fn mid(s: &str) -> MatchingId {
        MatchingId::parse(s).unwrap()
    }

    fn code(e: Error) -> crate::StatusCode {
        e.status_code()
    }

    fn released(cc: Option<&str>) -> OrderCtx {
        let mut c = ctx();
        let p = OrderPolicy::default();
        download_order(&mut c, &dl(None), now(1), &p).unwrap();
        confirm_order(
            &mut c,
            &confirm(None, RequestedMatchingId::Given(mid("AB-1")), cc, true),
            false,
            now(2),
        )
        .unwrap();
        c
    }

    #[test]
    fn happy_path() {
        let p = OrderPolicy::default();
        let mut c = ctx();
        let mut out = vec![];
        assert_eq!(
            download_order(&mut c, &dl(Some(EID1)), now(1), &p)
                .unwrap()
                .as_str(),
            ICCID
        );
        assert_eq!(c.profile.state, ProfileState::Linked);
        let r = confirm_order(
            &mut c,
            &confirm(
                None,
                RequestedMatchingId::Generated(mid("GEN")),
                Some("1234"),
                false,
            ),
            false,
            now(2),
        )
        .unwrap();
        assert_eq!(r.eid.unwrap().as_str(), EID1);
        assert_eq!(r.matching_id.unwrap().as_str(), "GEN");
        assert_eq!(c.profile.state, ProfileState::Confirmed);
        let ri = ReleaseProfileInput {
            requester: "MNO".into(),
            iccid: c.profile.iccid.clone(),
        };
        release_profile(&mut c, &ri, now(3)).unwrap();
        assert_eq!(c.profile.state, ProfileState::Released);

        let eid = Eid::parse(EID1).unwrap();
        let a = authorize_download(&mut c, &eid, now(4), &p, &mut out).unwrap();
        assert!(a.cc_required);
        assert_eq!(a.attempt, 1);
        let tid = TransactionId::new(&[1, 2, 3, 4]).unwrap();
        let hcc = session_cc_hash(&hash_confirmation_code("1234"), &tid);
        verify_download_confirmation(&mut c, &tid, Some(&hcc), now(5), &p, &mut out).unwrap();
        bpp_delivered(&mut c, now(6), &mut out).unwrap();
        assert_eq!(c.profile.state, ProfileState::Downloaded);
        let ir = InstallResult {
            eid,
            seq_number: 1,
            iccid: c.profile.iccid.clone(),
            failure: None,
            result_data: Some(vec![0xBF, 0x37, 0x00]),
        };
        assert_eq!(
            install_result(&mut c, &ir, now(7), &p, &mut out),
            InstallOutcome::Installed
        );
        assert_eq!(c.profile.state, ProfileState::Installed);

        let points: Vec<u32> = out.iter().map(|m| m.body.notification_point_id).collect();
        assert_eq!(points, vec![1, 3, 4]);
        assert!(out.iter().all(|m| m.target == "MNO"
            && m.body.notification_point_status.status == ExecutionStatus::ExecutedSuccess));
        assert_eq!(out[2].body.result_data.as_deref(), Some("vzcA"));
    }

    #[test]
    fn session_cc_hash_matches_definition() {
        // SHA-256(SHA-256("12345678") || 0x01020304), computed independently
        // with Python hashlib (the construction of SGP.22 §3.1.3 as used by
        // pySim contrib/es9p_client.py).
        let tid = TransactionId::new(&[1, 2, 3, 4]).unwrap();
        let h = session_cc_hash(&hash_confirmation_code("12345678"), &tid);
        assert_eq!(hex::encode(h), EXPECTED_HCC);
    }
    const EXPECTED_HCC: &str = "cb65a69663d0c949a87addaf32006fef7a0d7ec4e1948eaf7886db7710014389";

    #[test]
    fn download_order_refusals() {
        let p = OrderPolicy::default();
        let mut c = ctx();
        c.profile.owner = Some("OTHER".into());
        assert_eq!(
            code(download_order(&mut c, &dl(None), now(1), &p).unwrap_err()),
            codes::ICCID_NOT_ALLOWED
        );
        let mut c = ctx();
        let mut i = dl(None);
        i.profile_type = Some("Other".into());
        assert_eq!(
            code(download_order(&mut c, &i, now(1), &p).unwrap_err()),
            codes::PROFILE_TYPE_MISMATCH
        );
        let mut c = ctx();
        download_order(&mut c, &dl(None), now(1), &p).unwrap();
        assert_eq!(
            code(download_order(&mut c, &dl(None), now(1), &p).unwrap_err()),
            codes::ICCID_NOT_AVAILABLE
        );
        assert_eq!(c.profile.state, ProfileState::Allocated);

        let req = es2p::DownloadOrderRequest {
            header: hdr("MNO"),
            eid: None,
            iccid: None,
            profile_type: Some(String::new()),
        };
        assert_eq!(
            code(DownloadOrderInput::from_request(&req).unwrap_err()),
            codes::FUNCTION_CONDITIONAL_MISSING
        );
        let req = es2p::DownloadOrderRequest {
            header: hdr("MNO"),
            eid: Some("12".into()),
            iccid: Some(ICCID.into()),
            profile_type: None,
        };
        assert_eq!(
            code(DownloadOrderInput::from_request(&req).unwrap_err()),
            codes::FUNCTION_INVALID_PARAM
        );
    }

    #[test]
    fn order_ttl_sets_expiry() {
        let p = OrderPolicy {
            order_ttl_ms: Some(1000),
            ..Default::default()
        };
        let mut c = ctx();
        download_order(&mut c, &dl(None), now(5), &p).unwrap();
        assert_eq!(c.order.as_ref().unwrap().expires_at, Some(now(1005)));
    }

    #[test]
    fn confirm_refusals() {
        let p = OrderPolicy::default();
        // No order.
        let mut c = ctx();
        assert_eq!(
            code(
                confirm_order(
                    &mut c,
                    &confirm(None, RequestedMatchingId::Empty, None, true),
                    false,
                    now(1)
                )
                .unwrap_err()
            ),
            codes::ICCID_INVALID_TRANSITION
        );
        // EID binding.
        let mut c = ctx();
        download_order(&mut c, &dl(Some(EID1)), now(1), &p).unwrap();
        assert_eq!(
            code(
                confirm_order(
                    &mut c,
                    &confirm(Some(EID2), RequestedMatchingId::Empty, None, true),
                    false,
                    now(2)
                )
                .unwrap_err()
            ),
            codes::EID_INVALID_ASSOCIATION
        );
        assert_eq!(c.profile.state, ProfileState::Linked);
        // Empty MatchingID needs an EID.
        let mut c = ctx();
        download_order(&mut c, &dl(None), now(1), &p).unwrap();
        assert_eq!(
            code(
                confirm_order(
                    &mut c,
                    &confirm(None, RequestedMatchingId::Empty, None, true),
                    false,
                    now(2)
                )
                .unwrap_err()
            ),
            codes::EID_MISSING
        );
        // SM-DS address needs an EID.
        let mut i = confirm(None, RequestedMatchingId::Given(mid("X")), None, true);
        i.smds_address = Some("smds.example".into());
        assert_eq!(
            code(confirm_order(&mut c, &i, false, now(2)).unwrap_err()),
            codes::EID_MISSING
        );
        // MatchingID conflict.
        assert_eq!(
            code(
                confirm_order(
                    &mut c,
                    &confirm(None, RequestedMatchingId::Given(mid("X")), None, true),
                    true,
                    now(2)
                )
                .unwrap_err()
            ),
            codes::MATCHING_ID_IN_USE
        );
        // Another operator.
        let mut i = confirm(None, RequestedMatchingId::Given(mid("X")), None, true);
        i.requester = "EVIL".into();
        assert_eq!(
            code(confirm_order(&mut c, &i, false, now(2)).unwrap_err()),
            codes::ICCID_NOT_ALLOWED
        );
        // Empty MatchingID with an EID works and binds it.
        let r = confirm_order(
            &mut c,
            &confirm(Some(EID2), RequestedMatchingId::Empty, None, true),
            false,
            now(2),
        )
        .unwrap();
        assert_eq!(r.matching_id, None);
        assert_eq!(
            c.order.as_ref().unwrap().eid.as_ref().unwrap().as_str(),
            EID2
        );
        // Confirming twice is an invalid transition.
        assert_eq!(
            code(
                confirm_order(
                    &mut c,
                    &confirm(None, RequestedMatchingId::Empty, None, true),
                    false,
                    now(2)
                )
                .unwrap_err()
            ),
            codes::ICCID_INVALID_TRANSITION
        );
    }

    #[test]
    fn confirm_input_parsing() {
        let mut req = es2p::ConfirmOrderRequest {
            header: hdr("MNO"),
            iccid: ICCID.into(),
            eid: None,
            matching_id: None,
            confirmation_code: Some("1234".into()),
            smds_address: None,
            release_flag: true,
        };
        let i = ConfirmOrderInput::from_request(&req, mid("GEN")).unwrap();
        assert_eq!(i.matching_id, RequestedMatchingId::Generated(mid("GEN")));
        assert_eq!(i.cc_hash, Some(hash_confirmation_code("1234")));
        req.matching_id = Some(String::new());
        assert_eq!(
            ConfirmOrderInput::from_request(&req, mid("GEN"))
                .unwrap()
                .matching_id,
            RequestedMatchingId::Empty
        );
        req.matching_id = Some("a$b".into());
        assert!(ConfirmOrderInput::from_request(&req, mid("GEN")).is_err());
    }

    #[test]
    fn cancel_rules() {
        let p = OrderPolicy::default();
        let mut c = released(None);
        let mut i = CancelOrderInput {
            requester: "MNO".into(),
            iccid: c.profile.iccid.clone(),
            eid: None,
            matching_id: Some(mid("WRONG")),
            final_status: FinalProfileStatus::Available,
        };
        assert_eq!(
            code(cancel_order(&mut c, &i, now(3)).unwrap_err()),
            codes::MATCHING_ID_INVALID_ASSOCIATION
        );
        i.matching_id = Some(mid("AB-1"));
        cancel_order(&mut c, &i, now(3)).unwrap();
        assert_eq!(c.profile.state, ProfileState::Available);
        assert!(c.order.is_none());
        // Nothing left to cancel.
        assert_eq!(
            code(cancel_order(&mut c, &i, now(3)).unwrap_err()),
            codes::ICCID_INVALID_TRANSITION
        );

        // After a BPP was delivered only Unavailable is allowed.
        let mut c = released(None);
        let eid = Eid::parse(EID1).unwrap();
        let mut out = vec![];
        authorize_download(&mut c, &eid, now(3), &p, &mut out).unwrap();
        bpp_delivered(&mut c, now(4), &mut out).unwrap();
        let mut i = CancelOrderInput {
            requester: "MNO".into(),
            iccid: c.profile.iccid.clone(),
            eid: Some(Eid::parse(EID2).unwrap()),
            matching_id: None,
            final_status: FinalProfileStatus::Available,
        };
        assert_eq!(
            code(cancel_order(&mut c, &i, now(5)).unwrap_err()),
            codes::EID_INVALID_ASSOCIATION
        );
        i.eid = None;
        assert_eq!(
            code(cancel_order(&mut c, &i, now(5)).unwrap_err()),
            codes::ICCID_INVALID_TRANSITION
        );
        i.final_status = FinalProfileStatus::Unavailable;
        cancel_order(&mut c, &i, now(5)).unwrap();
        assert_eq!(c.profile.state, ProfileState::Unavailable);
    }

    #[test]
    fn release_rules() {
        let mut c = released(None);
        let i = ReleaseProfileInput {
            requester: "MNO".into(),
            iccid: c.profile.iccid.clone(),
        };
        assert_eq!(
            code(release_profile(&mut c, &i, now(3)).unwrap_err()),
            codes::ICCID_INVALID_TRANSITION
        );
        let mut c = ctx();
        assert_eq!(
            code(release_profile(&mut c, &i, now(3)).unwrap_err()),
            codes::ICCID_INVALID_TRANSITION
        );
    }

    #[test]
    fn authorize_rules() {
        let p = OrderPolicy {
            max_download_attempts: 2,
            ..Default::default()
        };
        let e1 = Eid::parse(EID1).unwrap();
        let e2 = Eid::parse(EID2).unwrap();
        let mut out = vec![];
        // Not released yet.
        let mut c = ctx();
        download_order(&mut c, &dl(None), now(1), &p).unwrap();
        confirm_order(
            &mut c,
            &confirm(None, RequestedMatchingId::Given(mid("M")), None, false),
            false,
            now(2),
        )
        .unwrap();
        assert_eq!(
            code(authorize_download(&mut c, &e1, now(3), &p, &mut out).unwrap_err()),
            codes::PROFILE_NOT_RELEASED
        );
        // First EID binds; another EID is refused without changing state.
        let mut c = released(None);
        authorize_download(&mut c, &e1, now(3), &p, &mut out).unwrap();
        assert_eq!(
            code(authorize_download(&mut c, &e2, now(3), &p, &mut out).unwrap_err()),
            codes::EID_REFUSED
        );
        assert_eq!(c.profile.state, ProfileState::Released);
        // Retry limit.
        assert_eq!(
            authorize_download(&mut c, &e1, now(4), &p, &mut out)
                .unwrap()
                .attempt,
            2
        );
        out.clear();
        assert_eq!(
            code(authorize_download(&mut c, &e1, now(5), &p, &mut out).unwrap_err()),
            codes::DOWNLOAD_RETRIES_EXCEEDED
        );
        assert_eq!(c.profile.state, ProfileState::Error);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].body.notification_point_status.status,
            ExecutionStatus::Failed
        );
        assert_eq!(
            out[0]
                .body
                .notification_point_status
                .status_code_data
                .as_ref()
                .unwrap()
                .subject_code,
            "8.8.5"
        );
        // Error state is refused as a MatchingID refusal.
        assert_eq!(
            code(authorize_download(&mut c, &e1, now(5), &p, &mut out).unwrap_err()),
            codes::MATCHING_ID_REFUSED
        );
    }

    #[test]
    fn expiry() {
        let p = OrderPolicy {
            order_ttl_ms: Some(100),
            ..Default::default()
        };
        let mut c = ctx();
        download_order(&mut c, &dl(None), now(0), &p).unwrap();
        confirm_order(
            &mut c,
            &confirm(None, RequestedMatchingId::Given(mid("M")), None, true),
            false,
            now(1),
        )
        .unwrap();
        let mut out = vec![];
        let e = authorize_download(&mut c, &Eid::parse(EID1).unwrap(), now(100), &p, &mut out)
            .unwrap_err();
        assert_eq!(code(e), codes::DOWNLOAD_ORDER_EXPIRED);
        assert_eq!(c.profile.state, ProfileState::Error);
    }

    #[test]
    fn confirmation_code_retries() {
        let p = OrderPolicy {
            max_cc_attempts: 3,
            ..Default::default()
        };
        let mut c = released(Some("1234"));
        let mut out = vec![];
        authorize_download(&mut c, &Eid::parse(EID1).unwrap(), now(3), &p, &mut out).unwrap();
        out.clear();
        let tid = TransactionId::new(&[9; 16]).unwrap();
        assert_eq!(
            code(
                verify_download_confirmation(&mut c, &tid, None, now(4), &p, &mut out).unwrap_err()
            ),
            codes::CC_MISSING
        );
        let wrong = session_cc_hash(&hash_confirmation_code("9999"), &tid);
        // Hash of the right CC but for another TransactionID is wrong too.
        let other_tid = session_cc_hash(
            &hash_confirmation_code("1234"),
            &TransactionId::new(&[8; 16]).unwrap(),
        );
        assert_eq!(
            code(
                verify_download_confirmation(&mut c, &tid, Some(&wrong), now(4), &p, &mut out)
                    .unwrap_err()
            ),
            codes::CC_REFUSED
        );
        assert_eq!(
            code(
                verify_download_confirmation(&mut c, &tid, Some(&other_tid), now(4), &p, &mut out)
                    .unwrap_err()
            ),
            codes::CC_REFUSED
        );
        assert_eq!(c.profile.state, ProfileState::Released);
        assert_eq!(
            code(
                verify_download_confirmation(
                    &mut c,
                    &tid,
                    Some(&wrong[..31]),
                    now(4),
                    &p,
                    &mut out
                )
                .unwrap_err()
            ),
            codes::CC_RETRIES_EXCEEDED
        );
        assert_eq!(c.profile.state, ProfileState::Error);
        assert_eq!(c.order.as_ref().unwrap().cc_failures, 3);
        let points: Vec<(u32, String)> = out
            .iter()
            .map(|m| {
                (
                    m.body.notification_point_id,
                    m.body
                        .notification_point_status
                        .status_code_data
                        .as_ref()
                        .unwrap()
                        .reason_code
                        .clone(),
                )
            })
            .collect();
        assert_eq!(
            points,
            vec![(2, "3.8".into()), (2, "3.8".into()), (2, "6.4".into())]
        );
    }

    #[test]
    fn install_failure_and_retry() {
        let p = OrderPolicy {
            max_download_attempts: 2,
            ..Default::default()
        };
        let e1 = Eid::parse(EID1).unwrap();
        let mut c = released(None);
        let mut out = vec![];
        authorize_download(&mut c, &e1, now(3), &p, &mut out).unwrap();
        bpp_delivered(&mut c, now(4), &mut out).unwrap();
        let fail = InstallResult {
            eid: e1.clone(),
            seq_number: 1,
            iccid: c.profile.iccid.clone(),
            failure: Some(FunctionError::new(
                codes::PROVIDER_EXECUTION_ERROR,
                "install failed",
            )),
            result_data: None,
        };
        assert_eq!(
            install_result(&mut c, &fail, now(5), &p, &mut out),
            InstallOutcome::Failed {
                retry_allowed: true
            }
        );
        assert_eq!(c.profile.state, ProfileState::Downloaded);
        // Retry from Downloaded.
        let a = authorize_download(&mut c, &e1, now(6), &p, &mut out).unwrap();
        assert!(a.bpp_previously_delivered);
        bpp_delivered(&mut c, now(7), &mut out).unwrap();
        assert_eq!(
            install_result(&mut c, &fail, now(8), &p, &mut out),
            InstallOutcome::Failed {
                retry_allowed: false
            }
        );
        assert_eq!(c.profile.state, ProfileState::Error);
        // A result from another EID is ignored.
        let mut c = released(None);
        authorize_download(&mut c, &e1, now(3), &p, &mut out).unwrap();
        bpp_delivered(&mut c, now(4), &mut out).unwrap();
        let mut other = fail.clone();
        other.eid = Eid::parse(EID2).unwrap();
        assert_eq!(
            install_result(&mut c, &other, now(5), &p, &mut out),
            InstallOutcome::Ignored
        );
        assert_eq!(c.profile.state, ProfileState::Downloaded);
    }

    #[test]
    fn eligibility_failure() {
        let mut c = released(None);
        let mut out = vec![];
        download_failed(
            &mut c,
            np::ELIGIBILITY_AND_RETRY_LIMIT_CHECK,
            FunctionError::new(codes::PROFILE_TYPE_UNAVAILABLE, "x"),
            now(3),
            &mut out,
        )
        .unwrap();
        assert_eq!(c.profile.state, ProfileState::Error);
        assert_eq!(out.len(), 1);
        assert!(download_failed(
            &mut c,
            1,
            FunctionError::new(codes::PROFILE_TYPE_UNAVAILABLE, "x"),
            now(3),
            &mut out
        )
        .is_err());
    }
}
