//! ES9+ (LPA ↔ SM-DP+) JSON bodies, SGP.22 §6.5 (HTTPS POST, `Content-Type: application/json`,
//! `X-Admin-Protocol: gsma/rsp/v2.x.y`). Binary fields are base64 (RFC 4648 §4, padded);
//! `transactionId` is a hex string. ASN.1 fields are kept as raw bytes so that signed data passes
//! through unchanged; typed accessors decode them.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::es10b::{
    AuthenticateServerResponse, CancelSessionResponse, EuiccInfo1, PrepareDownloadResponse,
    ServerSigned1, SmdpSigned2,
};
use crate::es8p::{BoundProfilePackage, StoreMetadataRequest};
use crate::notification::PendingNotification;
use crate::{codes::StatusCode, Asn1, Error, Result, Signed, TransactionId};
use tlv::Tag;

/// HTTP paths of the ES9+ functions (SGP.22 §6.5.2).
pub mod path {
    pub const INITIATE_AUTHENTICATION: &str = "/gsma/rsp2/es9plus/initiateAuthentication";
    pub const AUTHENTICATE_CLIENT: &str = "/gsma/rsp2/es9plus/authenticateClient";
    pub const GET_BOUND_PROFILE_PACKAGE: &str = "/gsma/rsp2/es9plus/getBoundProfilePackage";
    pub const HANDLE_NOTIFICATION: &str = "/gsma/rsp2/es9plus/handleNotification";
    pub const CANCEL_SESSION: &str = "/gsma/rsp2/es9plus/cancelSession";
}

/// `X-Admin-Protocol` header name and the value for this version (SGP.22 §6.5.1).
pub const ADMIN_PROTOCOL_HEADER: &str = "X-Admin-Protocol";
pub const ADMIN_PROTOCOL: &str = "gsma/rsp/v2.2.2";
/// Content type of requests and responses (SGP.22 §6.5.1).
pub const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// Serde helpers for base64 byte fields.
pub mod b64 {
    use super::*;

    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

    pub fn encode(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }
    pub fn decode(s: &str) -> std::result::Result<Vec<u8>, base64::DecodeError> {
        ENGINE.decode(s.trim())
    }
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&encode(b))
    }
    /// Decodes the string as the deserializer hands it over (borrowed from the body when it has
    /// no escapes), without first copying it into a `String`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
        struct B64Visitor;
        impl serde::de::Visitor<'_> for B64Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Vec<u8>, E> {
                decode(s).map_err(E::custom)
            }
        }
        d.deserialize_str(B64Visitor)
    }

    /// Appends `b` base64-encoded (padded) to `out`.
    pub fn encode_into(b: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let n = base64::encoded_len(b.len(), true).unwrap_or(0);
        out.resize(start + n, 0);
        // `n` is exactly the padded length: encoding into it cannot fail.
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(b, &mut out[start..])
            .unwrap_or(0);
        out.truncate(start + written);
    }
}

impl Serialize for TransactionId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TransactionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TransactionId::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// `functionExecutionStatus.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    #[serde(rename = "Executed-Success")]
    ExecutedSuccess,
    #[serde(rename = "Executed-WithWarning")]
    ExecutedWithWarning,
    #[serde(rename = "Failed")]
    Failed,
    #[serde(rename = "Expired")]
    Expired,
}

impl ExecutionStatus {
    pub fn is_executed(self) -> bool {
        matches!(self, Self::ExecutedSuccess | Self::ExecutedWithWarning)
    }
}

/// `statusCodeData`: the SGP.22 subject/reason codes of a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCodeData {
    #[serde(rename = "subjectCode")]
    pub subject_code: String,
    #[serde(rename = "reasonCode")]
    pub reason_code: String,
    #[serde(
        rename = "subjectIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_identifier: Option<String>,
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<StatusCode> for StatusCodeData {
    fn from(c: StatusCode) -> Self {
        StatusCodeData {
            subject_code: c.subject.to_string(),
            reason_code: c.reason.to_string(),
            subject_identifier: None,
            message: Some(c.description.to_string()),
        }
    }
}

impl std::fmt::Display for StatusCodeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "subject {} reason {}",
            self.subject_code, self.reason_code
        )?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionExecutionStatus {
    pub status: ExecutionStatus,
    #[serde(
        rename = "statusCodeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code_data: Option<StatusCodeData>,
}

impl FunctionExecutionStatus {
    pub fn success() -> Self {
        FunctionExecutionStatus {
            status: ExecutionStatus::ExecutedSuccess,
            status_code_data: None,
        }
    }
    pub fn failed(data: impl Into<StatusCodeData>) -> Self {
        FunctionExecutionStatus {
            status: ExecutionStatus::Failed,
            status_code_data: Some(data.into()),
        }
    }
}

/// The response `header` (SGP.22 §6.5.1.3), common to ES9+ and ES2+.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    #[serde(rename = "functionExecutionStatus")]
    pub function_execution_status: FunctionExecutionStatus,
}

impl ResponseHeader {
    pub fn success() -> Self {
        ResponseHeader {
            function_execution_status: FunctionExecutionStatus::success(),
        }
    }
    pub fn failed(data: impl Into<StatusCodeData>) -> Self {
        ResponseHeader {
            function_execution_status: FunctionExecutionStatus::failed(data),
        }
    }
}

/// A response: the header, plus the function's output data when executed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response<T> {
    pub header: ResponseHeader,
    #[serde(flatten)]
    pub body: Option<T>,
}

impl<T> Response<T> {
    pub fn success(body: T) -> Self {
        Response {
            header: ResponseHeader::success(),
            body: Some(body),
        }
    }
    pub fn failed(data: impl Into<StatusCodeData>) -> Self {
        Response {
            header: ResponseHeader::failed(data),
            body: None,
        }
    }
    /// The output data, or the status code data of a failure.
    pub fn into_result(self) -> std::result::Result<T, StatusCodeData> {
        let st = self.header.function_execution_status;
        match (st.status.is_executed(), self.body) {
            (true, Some(b)) => Ok(b),
            _ => Err(st.status_code_data.unwrap_or(StatusCodeData {
                subject_code: String::new(),
                reason_code: String::new(),
                subject_identifier: None,
                message: Some(format!("{:?} without output data", st.status)),
            })),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Response<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = serde_json::Value::deserialize(d)?;
        let header = v
            .get("header")
            .cloned()
            .ok_or_else(|| D::Error::missing_field("header"))?;
        let header: ResponseHeader = serde_json::from_value(header).map_err(D::Error::custom)?;
        let body = if header.function_execution_status.status.is_executed() {
            Some(serde_json::from_value(v).map_err(D::Error::custom)?)
        } else {
            None
        };
        Ok(Response { header, body })
    }
}

/// A success response (`header` with `Executed-Success`, then the output data) parsed without
/// an intermediate `serde_json::Value`: the header first, then, when the function was executed,
/// the output data from the same body (its parser ignores the `header` member). Accepts and
/// refuses exactly what `from_json::<Response<T>>` does.
pub fn response_from_json<T: DeserializeOwned>(body: &[u8]) -> Result<Response<T>> {
    response_from_json_flat(body)
}

/// One pass: the other members are kept as they are in the body (strings borrowed, not
/// copied) and the output data is read from them.
fn response_from_json_flat<T: DeserializeOwned>(body: &[u8]) -> Result<Response<T>> {
    #[derive(Deserialize)]
    struct Flat<T> {
        header: ResponseHeader,
        #[serde(flatten)]
        body: Option<T>,
    }
    let flat: Flat<T> = from_json(body)?;
    let body = match (
        flat.header.function_execution_status.status.is_executed(),
        flat.body,
    ) {
        (true, Some(b)) => Some(b),
        // The output data did not parse (a flattened `Option` hides why): the strict parse
        // reports it.
        (true, None) => Some(from_json(body)?),
        (false, _) => None,
    };
    Ok(Response {
        header: flat.header,
        body,
    })
}

/// Two passes: the header alone, then the output data.
#[cfg(test)]
fn response_from_json_two_pass<T: DeserializeOwned>(body: &[u8]) -> Result<Response<T>> {
    #[derive(Deserialize)]
    struct HeaderOnly {
        header: ResponseHeader,
    }
    let HeaderOnly { header } = from_json(body)?;
    let body = if header.function_execution_status.status.is_executed() {
        Some(from_json(body)?)
    } else {
        None
    };
    Ok(Response { header, body })
}

/// Output data that writes itself as JSON members (`"name":value` pairs, each preceded by a
/// comma), byte for byte what `serde_json` writes for it: the SM-DP+ answers its hot-path
/// functions with [`success_json`], which writes base64 straight into the body instead of
/// building each string and then scanning it for characters to escape.
pub trait JsonMembers {
    fn write_members(&self, out: &mut Vec<u8>);
}

/// `serde_json::to_vec(&Response::success(body))`, written directly (see [`JsonMembers`]).
pub fn success_json<T: JsonMembers>(body: &T) -> Vec<u8> {
    const HEADER: &[u8] = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}"#;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(HEADER);
    body.write_members(&mut out);
    out.push(b'}');
    out
}

/// `,"name":"<base64>"`.
fn member_b64(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.reserve(name.len() + 6 + value.len().div_ceil(3) * 4);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":\"");
    b64::encode_into(value, out);
    out.push(b'"');
}

/// `,"transactionId":"<HEX>"`.
fn member_tid(out: &mut Vec<u8>, tid: &TransactionId) {
    out.extend_from_slice(br#","transactionId":""#);
    out.extend_from_slice(tid.to_hex().as_bytes());
    out.push(b'"');
}

impl JsonMembers for Empty {
    fn write_members(&self, _out: &mut Vec<u8>) {}
}

impl JsonMembers for InitiateAuthenticationOk {
    fn write_members(&self, out: &mut Vec<u8>) {
        member_tid(out, &self.transaction_id);
        member_b64(out, "serverSigned1", &self.server_signed1);
        member_b64(out, "serverSignature1", &self.server_signature1);
        member_b64(out, "euiccCiPKIdToBeUsed", &self.euicc_ci_pkid_to_be_used);
        member_b64(out, "serverCertificate", &self.server_certificate);
    }
}

impl JsonMembers for AuthenticateClientOk {
    fn write_members(&self, out: &mut Vec<u8>) {
        member_tid(out, &self.transaction_id);
        member_b64(out, "profileMetadata", &self.profile_metadata);
        member_b64(out, "smdpSigned2", &self.smdp_signed2);
        member_b64(out, "smdpSignature2", &self.smdp_signature2);
        member_b64(out, "smdpCertificate", &self.smdp_certificate);
    }
}

impl JsonMembers for GetBoundProfilePackageOk {
    fn write_members(&self, out: &mut Vec<u8>) {
        member_tid(out, &self.transaction_id);
        member_b64(out, "boundProfilePackage", &self.bound_profile_package);
    }
}

/// Output data of a function that has none (cancelSession).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

fn asn1<T: Asn1>(b: &[u8]) -> Result<T> {
    T::decode(b)
}

// --- initiateAuthentication (SGP.22 §6.5.2.6) -------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiateAuthenticationRequest {
    #[serde(rename = "euiccChallenge", with = "b64")]
    pub euicc_challenge: Vec<u8>,
    /// EUICCInfo1 ('BF20' TLV).
    #[serde(rename = "euiccInfo1", with = "b64")]
    pub euicc_info1: Vec<u8>,
    #[serde(rename = "smdpAddress")]
    pub smdp_address: String,
}

impl InitiateAuthenticationRequest {
    pub fn euicc_info1(&self) -> Result<EuiccInfo1> {
        asn1(&self.euicc_info1)
    }
    pub fn euicc_challenge(&self) -> Result<crate::Octet16> {
        self.euicc_challenge
            .as_slice()
            .try_into()
            .map_err(|_| Error::Json("euiccChallenge is not 16 bytes".into()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiateAuthenticationOk {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// ServerSigned1 ('30' TLV).
    #[serde(rename = "serverSigned1", with = "b64")]
    pub server_signed1: Vec<u8>,
    /// serverSignature1 as its DER TLV (`5F37 40 r||s`), as osmo-smdpp and real LPAs carry it.
    #[serde(rename = "serverSignature1", with = "b64")]
    pub server_signature1: Vec<u8>,
    /// euiccCiPKIdToBeUsed as its DER TLV (`04 14 SKI`).
    #[serde(rename = "euiccCiPKIdToBeUsed", with = "b64")]
    pub euicc_ci_pkid_to_be_used: Vec<u8>,
    /// CERT.DPauth.ECDSA (DER).
    #[serde(rename = "serverCertificate", with = "b64")]
    pub server_certificate: Vec<u8>,
}

impl InitiateAuthenticationOk {
    pub fn server_signed1(&self) -> Result<Signed<ServerSigned1>> {
        Signed::decode(&self.server_signed1)
    }
    /// The r||s value of serverSignature1 (unwrapped from its `5F37` TLV).
    pub fn server_signature1_value(&self) -> Result<Vec<u8>> {
        tlv_value(&self.server_signature1, Tag(0x5F37), "serverSignature1")
    }
    /// The SubjectKeyIdentifier value (unwrapped from its `04` TLV).
    pub fn euicc_ci_pkid_to_be_used_value(&self) -> Result<Vec<u8>> {
        tlv_value(
            &self.euicc_ci_pkid_to_be_used,
            Tag::OCTET_STRING,
            "euiccCiPKIdToBeUsed",
        )
    }
}

/// The value of a field that the JSON binding carries as one complete DER TLV with `tag`.
fn tlv_value(der: &[u8], tag: Tag, ty: &'static str) -> Result<Vec<u8>> {
    tlv::Tlv::parse_expecting(der, tag)
        .map(|t| t.value.to_vec())
        .map_err(|source| Error::Tlv { ty, source })
}

pub type InitiateAuthenticationResponse = Response<InitiateAuthenticationOk>;

// --- authenticateClient (SGP.22 §6.5.2.8) -----------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateClientRequest {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// AuthenticateServerResponse ('BF38' TLV) from the eUICC.
    #[serde(rename = "authenticateServerResponse", with = "b64")]
    pub authenticate_server_response: Vec<u8>,
}

impl AuthenticateClientRequest {
    pub fn authenticate_server_response(&self) -> Result<AuthenticateServerResponse> {
        asn1(&self.authenticate_server_response)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateClientOk {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// StoreMetadataRequest ('BF25' TLV).
    #[serde(rename = "profileMetadata", with = "b64")]
    pub profile_metadata: Vec<u8>,
    /// SmdpSigned2 ('30' TLV).
    #[serde(rename = "smdpSigned2", with = "b64")]
    pub smdp_signed2: Vec<u8>,
    /// smdpSignature2 as its DER TLV (`5F37 40 r||s`).
    #[serde(rename = "smdpSignature2", with = "b64")]
    pub smdp_signature2: Vec<u8>,
    /// CERT.DPpb.ECDSA (DER).
    #[serde(rename = "smdpCertificate", with = "b64")]
    pub smdp_certificate: Vec<u8>,
}

impl AuthenticateClientOk {
    pub fn profile_metadata(&self) -> Result<StoreMetadataRequest> {
        asn1(&self.profile_metadata)
    }
    pub fn smdp_signed2(&self) -> Result<Signed<SmdpSigned2>> {
        Signed::decode(&self.smdp_signed2)
    }
    /// The r||s value of smdpSignature2 (unwrapped from its `5F37` TLV).
    pub fn smdp_signature2_value(&self) -> Result<Vec<u8>> {
        tlv_value(&self.smdp_signature2, Tag(0x5F37), "smdpSignature2")
    }
}

pub type AuthenticateClientResponse = Response<AuthenticateClientOk>;

// --- getBoundProfilePackage (SGP.22 §6.5.2.7) -------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBoundProfilePackageRequest {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// PrepareDownloadResponse ('BF21' TLV) from the eUICC.
    #[serde(rename = "prepareDownloadResponse", with = "b64")]
    pub prepare_download_response: Vec<u8>,
}

impl GetBoundProfilePackageRequest {
    pub fn prepare_download_response(&self) -> Result<PrepareDownloadResponse> {
        asn1(&self.prepare_download_response)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBoundProfilePackageOk {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// BoundProfilePackage ('BF36' TLV).
    #[serde(rename = "boundProfilePackage", with = "b64")]
    pub bound_profile_package: Vec<u8>,
}

impl GetBoundProfilePackageOk {
    pub fn bound_profile_package(&self) -> Result<BoundProfilePackage> {
        asn1(&self.bound_profile_package)
    }
}

pub type GetBoundProfilePackageResponse = Response<GetBoundProfilePackageOk>;

// --- handleNotification (SGP.22 §6.5.2.9): the response is HTTP 204 with no body --------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleNotificationRequest {
    /// PendingNotification ('BF37' or '30' TLV).
    #[serde(rename = "pendingNotification", with = "b64")]
    pub pending_notification: Vec<u8>,
}

impl HandleNotificationRequest {
    pub fn pending_notification(&self) -> Result<PendingNotification> {
        asn1(&self.pending_notification)
    }
}

// --- cancelSession (SGP.22 §6.5.2.10) ---------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelSessionRequest {
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// CancelSessionResponse ('BF41' TLV) from the eUICC.
    #[serde(rename = "cancelSessionResponse", with = "b64")]
    pub cancel_session_response: Vec<u8>,
}

impl CancelSessionRequest {
    pub fn cancel_session_response(&self) -> Result<CancelSessionResponse> {
        asn1(&self.cancel_session_response)
    }
}

pub type CancelSessionResponseEs9 = Response<Empty>;

/// Parses a JSON body into `T`, mapping errors to [`Error::Json`].
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Json(e.to_string()))
}

/// Serializes `T` as a JSON body.
pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod fast_json_tests {
    use super::*;

    fn tid() -> TransactionId {
        TransactionId::from_hex("0123456789abcdef0123456789ABCDEF").unwrap()
    }

    /// Lengths 0..=5 cover every base64 padding case.
    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 37 + 250) as u8).collect()
    }

    #[test]
    fn success_json_is_what_serde_writes() {
        for n in 0..6 {
            let ia = InitiateAuthenticationOk {
                transaction_id: tid(),
                server_signed1: bytes(n),
                server_signature1: bytes(n + 1),
                euicc_ci_pkid_to_be_used: bytes(n + 2),
                server_certificate: bytes(n + 300),
            };
            assert_eq!(success_json(&ia), to_json(&Response::success(ia.clone())));
            let ac = AuthenticateClientOk {
                transaction_id: tid(),
                profile_metadata: bytes(n + 3),
                smdp_signed2: bytes(n),
                smdp_signature2: bytes(66),
                smdp_certificate: bytes(n + 500),
            };
            assert_eq!(success_json(&ac), to_json(&Response::success(ac.clone())));
            let bpp = GetBoundProfilePackageOk {
                transaction_id: tid(),
                bound_profile_package: bytes(n * 4099),
            };
            assert_eq!(success_json(&bpp), to_json(&Response::success(bpp.clone())));
        }
        assert_eq!(
            success_json(&Empty {}),
            to_json(&Response::success(Empty {}))
        );
    }

    #[test]
    fn response_from_json_matches_the_value_path() {
        let bodies: [&[u8]; 9] = [
            br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"transactionId":"0123456789ABCDEF0123456789ABCDEF","boundProfilePackage":"vzYA"}"#,
            // Base64 with a JSON escape (not borrowed from the body) and surrounding blanks.
            br#"{"transactionId":"0123456789ABCDEF0123456789ABCDEF","boundProfilePackage":" vzY\u003d ","header":{"functionExecutionStatus":{"status":"Executed-WithWarning"}}}"#,
            br#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.1","reasonCode":"3.8"}}}}"#,
            br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#,
            br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"transactionId":"0123456789ABCDEF0123456789ABCDEF","boundProfilePackage":"**"}"#,
            br#"{"transactionId":"0123456789ABCDEF0123456789ABCDEF","boundProfilePackage":"vzYA"}"#,
            br#"[1,2]"#,
            br#"{"header":{"functionExecutionStatus":{"status":"Nope"}}}"#,
            br#"{"header":{"functionExecutionStatus":{"status":"Expired"}},"boundProfilePackage":7}"#,
        ];
        for body in bodies {
            let fast = response_from_json::<GetBoundProfilePackageOk>(body);
            let slow = from_json::<Response<GetBoundProfilePackageOk>>(body);
            assert_eq!(
                fast.is_ok(),
                slow.is_ok(),
                "{}",
                String::from_utf8_lossy(body)
            );
            if let (Ok(f), Ok(s)) = (fast, slow) {
                assert_eq!(f, s);
            }
        }
        for body in bodies {
            let a = response_from_json_two_pass::<GetBoundProfilePackageOk>(body);
            let b = response_from_json::<GetBoundProfilePackageOk>(body);
            // Error messages differ between the parsers; outcomes do not.
            assert_eq!(a.ok(), b.ok(), "{}", String::from_utf8_lossy(body));
        }
        let ok = response_from_json::<GetBoundProfilePackageOk>(bodies[1]).unwrap();
        assert_eq!(
            ok.into_result().unwrap().bound_profile_package,
            vec![0xBF, 0x36]
        );
    }

    /// Instruction counts of the parsers (run under callgrind, release):
    /// `cargo test --release -p rsp --lib parse_cost -- --ignored`.
    #[test]
    #[ignore]
    fn parse_cost() {
        let bpp = GetBoundProfilePackageOk {
            transaction_id: tid(),
            bound_profile_package: bytes(12_180),
        };
        let body = success_json(&bpp);
        let which = std::env::var("PARSER").unwrap_or_default();
        for _ in 0..100 {
            let r = match which.as_str() {
                "value" => from_json::<Response<GetBoundProfilePackageOk>>(&body),
                "two" => response_from_json_two_pass(&body),
                _ => response_from_json(&body),
            };
            assert_eq!(r.unwrap().body.unwrap(), bpp);
        }
    }
}
