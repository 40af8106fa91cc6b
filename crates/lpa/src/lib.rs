//! The LPA engine (LPAd) of GSMA SGP.22 v2.2.2.
//!
//! * [`Lpa`]: a session with the eUICC's ISD-R over any [`CardTransport`] (a logical channel is
//!   opened and the ISD-R selected on first use, SGP.22 §5.7.2). Every ES10a/b/c function is one
//!   STORE DATA exchange returning the decoded `rsp` type ([`Lpa::eid`], [`Lpa::profiles`],
//!   [`Lpa::enable`], ...). Function results other than `ok` become [`LpaError::Es10`] carrying the
//!   SGP.22 result name (e.g. `profileNotInDisabledState`).
//! * [`Lpa::download`]: the profile download of SGP.22 §3.1.3 (common mutual authentication,
//!   download confirmation, BPP loading per §2.5.5, Profile Installation Result delivery), driving
//!   any [`Es9Transport`] (ES9+ over HTTPS, [`http::HttpTransport`], or an in-process SM-DP+).
//! * [`Lpa::process_notifications`]: delivery of pending notifications (SGP.22 §3.5).
//!
//! The card side is synchronous (`CardTransport`), the ES9+ side is `async` (plain futures, no
//! runtime assumptions beyond what the transport itself needs).

pub mod http;

mod download;
mod es9;
mod notifications;

use apdu::{ApduError, CardTransport, StatusWord, TransportError, ISD_R_AID};
use rsp::es10a::{
    EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse, SetDefaultDpAddressRequest,
    SetDefaultDpAddressResponse, SetDefaultDpAddressResult,
};
use rsp::es10b::{
    CancelSessionRequest, CancelSessionResponse, EuiccInfo1, EuiccInfo2, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccInfo1Request, GetEuiccInfo2Request, GetRatRequest,
    GetRatResponse, ListNotificationRequest, ListNotificationResponse, NotificationSentRequest,
    NotificationSentResponse, ProfilePolicyAuthorisationRule,
};
use rsp::es10c::{
    DeleteProfileRequest, DeleteProfileResponse, DeleteResult, DisableProfileRequest,
    DisableProfileResponse, DisableResult, EnableProfileRequest, EnableProfileResponse,
    EnableResult, EuiccMemoryResetRequest, EuiccMemoryResetResponse, GetEuiccDataRequest,
    GetEuiccDataResponse, ProfileIdentifier, ProfileInfo, ProfileInfoListRequest,
    ProfileInfoListResponse, ResetResult, SetNicknameRequest, SetNicknameResponse,
    SetNicknameResult,
};
use rsp::notification::{BppCommandId, ErrorReason, NotificationMetadata};
use rsp::{Asn1, BitString, CancelSessionReason, Eid, Iccid, Octet16, TransactionId};

pub use download::{default_device_info, hash_confirmation_code, DownloadResult, LoadBppOutcome};
pub use http::{Es9Transport, HttpTransport};
pub use notifications::{NotificationOutcome, NotificationStatus, RetrievedNotification};
/// Profile metadata as the SM-DP+ sends it in ES9+.AuthenticateClient (`StoreMetadataRequest`).
pub use rsp::es8p::ProfileMetadata;

/// Errors of the LPA engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpaError {
    /// The ES9+ transport (HTTP/TLS) failed.
    #[error("ES9+ transport: {0}")]
    Transport(String),
    /// The card exchange of `function` failed: a status word other than 9000, or the reader.
    #[error("{function}: {source}")]
    Card {
        function: &'static str,
        #[source]
        source: ApduError,
    },
    /// The response of `function` could not be decoded.
    #[error("{function}: {source}")]
    Decode {
        function: &'static str,
        #[source]
        source: rsp::Error,
    },
    /// The eUICC executed `function` and returned a result other than `ok` (SGP.22 §5.7).
    #[error("{function} failed: {}", result_text(*name, *code))]
    Es10 {
        function: &'static str,
        /// The INTEGER result code.
        code: i64,
        /// Its SGP.22 ASN.1 name (e.g. `profileNotInDisabledState`), when known.
        name: Option<&'static str>,
    },
    /// The SM-DP+ answered with a `Failed` (or `Expired`) function execution status
    /// (SGP.22 §6.5.1.4 subject and reason codes).
    #[error("ES9+ function failed: subject {subject_code} reason {reason_code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Es9 {
        subject_code: String,
        reason_code: String,
        message: Option<String>,
    },
    /// The SM-DP+ answered with an unexpected HTTP status.
    #[error("{function}: unexpected HTTP status {status}")]
    Http { function: &'static str, status: u16 },
    /// The ES9+ response body is not valid JSON for `function` (SGP.22 §6.5).
    #[error("{function}: invalid response body: {detail}")]
    Json {
        function: &'static str,
        detail: String,
    },
    /// The eUICC reported a failed installation in its Profile Installation Result (SGP.22 §5.7.6).
    #[error("profile installation failed: {bpp_command_id} {error_reason}")]
    Installation {
        bpp_command_id: BppCommandId,
        error_reason: ErrorReason,
    },
    /// The activation code does not follow SGP.22 §4.1.
    #[error("activation code: {0}")]
    ActivationCode(#[from] rsp::activation::ActivationCodeError),
    /// The activation code or the SM-DP+ requires a confirmation code and none was given.
    #[error("a confirmation code is required")]
    ConfirmationCodeRequired,
    /// The end user did not confirm the download (SGP.22 §3.1.3.2).
    #[error("download rejected by the end user")]
    Rejected,
    /// A peer broke the protocol (mismatching transaction ID, unexpected response...).
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn result_text(name: Option<&'static str>, code: i64) -> String {
    match name {
        Some(n) => format!("{n}({code})"),
        None => format!("result {code}"),
    }
}

impl LpaError {
    /// The SGP.22 result name of an [`LpaError::Es10`] failure.
    pub fn result_name(&self) -> Option<&'static str> {
        match self {
            LpaError::Es10 { name, .. } => *name,
            _ => None,
        }
    }
    /// The status word of a card failure, if the card answered one.
    pub fn status_word(&self) -> Option<StatusWord> {
        match self {
            LpaError::Card {
                source: ApduError::Status(sw),
                ..
            } => Some(*sw),
            _ => None,
        }
    }
    fn es10(function: &'static str, code: i64, name: Option<&'static str>) -> Self {
        LpaError::Es10 {
            function,
            code,
            name,
        }
    }
}

pub type Result<T> = std::result::Result<T, LpaError>;

/// How the ISD-R is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelMode {
    /// MANAGE CHANNEL open, then SELECT the ISD-R on the new channel (SGP.22 §5.7.2; leaves the
    /// basic channel to the modem). Closed on [`Lpa::close`] or drop.
    #[default]
    Logical,
    /// SELECT the ISD-R on the basic channel (readers and modems without logical channels).
    Basic,
}

/// A session with an eUICC's ISD-R.
pub struct Lpa<T: CardTransport> {
    card: T,
    mode: ChannelMode,
    channel: Option<u8>,
    block_size: usize,
}

impl<T: CardTransport> Lpa<T> {
    /// An LPA over `card` using a logical channel and 255-byte STORE DATA blocks. Nothing is sent
    /// until the first ES10 call.
    pub fn new(card: T) -> Self {
        Lpa {
            card,
            mode: ChannelMode::Logical,
            channel: None,
            block_size: apdu::es10::MAX_BLOCK,
        }
    }

    /// Chooses how the ISD-R is reached (before the first call).
    pub fn with_channel_mode(mut self, mode: ChannelMode) -> Self {
        self.mode = mode;
        self
    }

    /// Uses STORE DATA blocks of at most `size` bytes (1..=255; some modems need 120 or less).
    pub fn with_block_size(mut self, size: usize) -> Self {
        self.block_size = size.clamp(1, apdu::es10::MAX_BLOCK);
        self
    }

    /// The underlying transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.card
    }

    /// The logical channel in use, once opened.
    pub fn channel(&self) -> Option<u8> {
        self.channel
    }

    /// Closes the logical channel (if one is open). Further calls reopen it.
    pub fn close(&mut self) -> Result<()> {
        match self.channel.take() {
            Some(ch) if ch != 0 => {
                apdu::close_channel(&mut self.card, ch).map_err(|source| LpaError::Card {
                    function: "MANAGE CHANNEL close",
                    source,
                })
            }
            _ => Ok(()),
        }
    }

    /// Opens the channel and selects the ISD-R if not done yet.
    fn open(&mut self) -> Result<u8> {
        if let Some(ch) = self.channel {
            return Ok(ch);
        }
        let ch = match self.mode {
            ChannelMode::Logical => {
                apdu::open_channel(&mut self.card).map_err(|source| LpaError::Card {
                    function: "MANAGE CHANNEL open",
                    source,
                })?
            }
            ChannelMode::Basic => 0,
        };
        if let Err(source) = apdu::select_aid(&mut self.card, ch, &ISD_R_AID) {
            if ch != 0 {
                let _ = apdu::close_channel(&mut self.card, ch);
            }
            return Err(LpaError::Card {
                function: "SELECT ISD-R",
                source,
            });
        }
        self.channel = Some(ch);
        Ok(ch)
    }

    /// One ES10 function call (SGP.22 §5.7.2): `request` (a complete DER request TLV) as a chain
    /// of STORE DATA blocks to the ISD-R; returns the eUICC's response (possibly empty).
    pub fn es10_raw(&mut self, function: &'static str, request: &[u8]) -> Result<Vec<u8>> {
        let ch = self.open()?;
        let card_err = |source| LpaError::Card { function, source };
        let blocks =
            apdu::store_data_blocks_sized(ch, request, self.block_size).map_err(card_err)?;
        let mut out = Vec::new();
        for block in &blocks {
            let resp = match apdu::transceive(&mut self.card, block) {
                Ok(r) => r,
                Err(e) => {
                    if matches!(
                        e,
                        ApduError::Transport(TransportError::CardReset | TransportError::NoCard)
                    ) {
                        // The card lost its channels; reopen on the next call.
                        self.channel = None;
                    }
                    return Err(card_err(e));
                }
            };
            if resp.sw != StatusWord::OK {
                return Err(card_err(ApduError::Status(resp.sw)));
            }
            out.extend_from_slice(&resp.data);
        }
        Ok(out)
    }

    /// One ES10 call with typed request and response; also returns the response bytes as received.
    fn call_raw<R: Asn1>(
        &mut self,
        function: &'static str,
        request: &impl Asn1,
    ) -> Result<(Vec<u8>, R)> {
        let raw = self.es10_raw(function, &request.encode())?;
        let resp = R::decode(&raw).map_err(|source| LpaError::Decode { function, source })?;
        Ok((raw, resp))
    }

    fn call<R: Asn1>(&mut self, function: &'static str, request: &impl Asn1) -> Result<R> {
        self.call_raw(function, request).map(|(_, r)| r)
    }

    // --- ES10c (SGP.22 §5.7.15–§5.7.21) ------------------------------------------------------

    /// ES10c.GetEID (§5.7.20).
    pub fn eid(&mut self) -> Result<Eid> {
        let r: GetEuiccDataResponse = self.call("GetEID", &GetEuiccDataRequest::default())?;
        Ok(r.eid)
    }

    /// ES10c.GetProfilesInfo (§5.7.15) for all profiles, all fields.
    pub fn profiles(&mut self) -> Result<Vec<ProfileInfo>> {
        self.profiles_matching(&ProfileInfoListRequest::default())
    }

    /// ES10c.GetProfilesInfo with search criteria and/or a tag list.
    pub fn profiles_matching(
        &mut self,
        request: &ProfileInfoListRequest,
    ) -> Result<Vec<ProfileInfo>> {
        match self.call("GetProfilesInfo", request)? {
            ProfileInfoListResponse::Ok(list) => Ok(list),
            ProfileInfoListResponse::Error(e) => {
                Err(LpaError::es10("GetProfilesInfo", e.0, e.name()))
            }
        }
    }

    /// ES10c.EnableProfile (§5.7.16).
    pub fn enable(&mut self, profile: ProfileIdentifier, refresh: bool) -> Result<()> {
        let req = EnableProfileRequest {
            profile_identifier: profile,
            refresh_flag: refresh,
        };
        let r: EnableProfileResponse = self.call("EnableProfile", &req)?;
        match r.result {
            EnableResult::OK => Ok(()),
            e => Err(LpaError::es10("EnableProfile", e.0, e.name())),
        }
    }

    /// ES10c.DisableProfile (§5.7.17).
    pub fn disable(&mut self, profile: ProfileIdentifier, refresh: bool) -> Result<()> {
        let req = DisableProfileRequest {
            profile_identifier: profile,
            refresh_flag: refresh,
        };
        let r: DisableProfileResponse = self.call("DisableProfile", &req)?;
        match r.result {
            DisableResult::OK => Ok(()),
            e => Err(LpaError::es10("DisableProfile", e.0, e.name())),
        }
    }

    /// ES10c.DeleteProfile (§5.7.18).
    pub fn delete(&mut self, profile: ProfileIdentifier) -> Result<()> {
        let r: DeleteProfileResponse =
            self.call("DeleteProfile", &DeleteProfileRequest(profile))?;
        match r.result {
            DeleteResult::OK => Ok(()),
            e => Err(LpaError::es10("DeleteProfile", e.0, e.name())),
        }
    }

    /// ES10c.SetNickname (§5.7.21).
    pub fn set_nickname(&mut self, iccid: Iccid, nickname: &str) -> Result<()> {
        let req = SetNicknameRequest {
            iccid,
            profile_nickname: nickname.to_string(),
        };
        let r: SetNicknameResponse = self.call("SetNickname", &req)?;
        match r.result {
            SetNicknameResult::OK => Ok(()),
            e => Err(LpaError::es10("SetNickname", e.0, e.name())),
        }
    }

    /// ES10c.eUICCMemoryReset (§5.7.19); `options` bits per [`rsp::es10c::reset_options`].
    pub fn memory_reset(&mut self, options: BitString) -> Result<()> {
        let r: EuiccMemoryResetResponse = self.call(
            "eUICCMemoryReset",
            &EuiccMemoryResetRequest {
                reset_options: options,
            },
        )?;
        match r.result {
            ResetResult::OK => Ok(()),
            e => Err(LpaError::es10("eUICCMemoryReset", e.0, e.name())),
        }
    }

    // --- ES10a (SGP.22 §5.7.3–§5.7.4) --------------------------------------------------------

    /// ES10a.GetEuiccConfiguredAddresses (§5.7.3).
    pub fn configured_addresses(&mut self) -> Result<EuiccConfiguredAddressesResponse> {
        self.call(
            "GetEuiccConfiguredAddresses",
            &EuiccConfiguredAddressesRequest,
        )
    }

    /// ES10a.SetDefaultDpAddress (§5.7.4); an empty address removes it.
    pub fn set_default_dp_address(&mut self, address: &str) -> Result<()> {
        let req = SetDefaultDpAddressRequest {
            default_dp_address: address.to_string(),
        };
        let r: SetDefaultDpAddressResponse = self.call("SetDefaultDpAddress", &req)?;
        match r.result {
            SetDefaultDpAddressResult::OK => Ok(()),
            e => Err(LpaError::es10("SetDefaultDpAddress", e.0, e.name())),
        }
    }

    // --- ES10b (SGP.22 §5.7.5–§5.7.14) -------------------------------------------------------

    /// ES10b.GetEUICCChallenge (§5.7.7).
    pub fn challenge(&mut self) -> Result<Octet16> {
        let r: GetEuiccChallengeResponse =
            self.call("GetEUICCChallenge", &GetEuiccChallengeRequest)?;
        Ok(r.euicc_challenge)
    }

    /// ES10b.GetEUICCInfo, EUICCInfo1 (§5.7.8).
    pub fn euicc_info1(&mut self) -> Result<EuiccInfo1> {
        self.call("GetEUICCInfo1", &GetEuiccInfo1Request)
    }

    /// EUICCInfo1 as the eUICC encoded it (forwarded unchanged to the SM-DP+).
    fn euicc_info1_raw(&mut self) -> Result<Vec<u8>> {
        self.call_raw::<EuiccInfo1>("GetEUICCInfo1", &GetEuiccInfo1Request)
            .map(|(raw, _)| raw)
    }

    /// ES10b.GetEUICCInfo, EUICCInfo2 (§5.7.8).
    pub fn euicc_info2(&mut self) -> Result<EuiccInfo2> {
        self.call("GetEUICCInfo2", &GetEuiccInfo2Request)
    }

    /// ES10b.GetRAT (§5.7.4): the Rules Authorisation Table.
    pub fn rat(&mut self) -> Result<Vec<ProfilePolicyAuthorisationRule>> {
        let r: GetRatResponse = self.call("GetRAT", &GetRatRequest)?;
        Ok(r.rat)
    }

    /// ES10b.ListNotification (§5.7.9), all events.
    pub fn list_notifications(&mut self) -> Result<Vec<NotificationMetadata>> {
        match self.call("ListNotification", &ListNotificationRequest::default())? {
            ListNotificationResponse::List(l) => Ok(l),
            ListNotificationResponse::Error(e) => Err(LpaError::es10(
                "ListNotification",
                e,
                (e == 127).then_some("undefinedError"),
            )),
        }
    }

    /// ES10b.RemoveNotificationFromList (§5.7.11).
    pub fn remove_notification(&mut self, seq_number: i64) -> Result<()> {
        let r: NotificationSentResponse = self.call(
            "RemoveNotificationFromList",
            &NotificationSentRequest { seq_number },
        )?;
        match r.delete_notification_status {
            rsp::es10b::DeleteNotificationStatus::OK => Ok(()),
            e => Err(LpaError::es10("RemoveNotificationFromList", e.0, e.name())),
        }
    }

    /// ES10b.CancelSession (§5.7.14). Returns the eUICC's response (signed when `Ok`), to be
    /// forwarded with ES9+.CancelSession.
    pub fn cancel_session(
        &mut self,
        transaction_id: &TransactionId,
        reason: CancelSessionReason,
    ) -> Result<CancelSessionResponse> {
        self.cancel_session_raw(transaction_id, reason)
            .map(|(_, r)| r)
    }

    fn cancel_session_raw(
        &mut self,
        transaction_id: &TransactionId,
        reason: CancelSessionReason,
    ) -> Result<(Vec<u8>, CancelSessionResponse)> {
        let req = CancelSessionRequest {
            transaction_id: transaction_id.clone(),
            reason,
        };
        self.call_raw("CancelSession", &req)
    }
}

impl<T: CardTransport> Drop for Lpa<T> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SendCard;
    impl CardTransport for SendCard {
        fn transmit(&mut self, _: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
            Err(TransportError::NoCard)
        }
    }

    fn assert_send<F: std::future::Future + Send>(_: F) {}

    /// The download and notification futures can be spawned on a multi-threaded runtime.
    #[test]
    fn futures_are_send() {
        let mut lpa = Lpa::new(SendCard);
        let es9 = HttpTransport::new(&[], true).unwrap();
        let device = default_device_info([0x35, 0x29, 0x06, 0x11], None);
        assert_send(lpa.download(&es9, "1$a.example$x", None, &device, |_| true));
        assert_send(lpa.process_notifications(&es9));
    }
}
