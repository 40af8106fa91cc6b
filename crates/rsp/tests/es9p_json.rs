//! ES9+ JSON bodies (SGP.22 §6.5.2): exact field names, base64/hex coding, header handling.

use rsp::codes;
use rsp::es10b::{EuiccInfo1, GetEuiccChallengeResponse};
use rsp::es9p::*;
use rsp::{Asn1, TransactionId, Version};
use serde_json::{json, Value};

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    v: Value,
) -> T {
    let parsed: T = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        v,
        "re-serialized JSON differs"
    );
    let again: T = from_json(&to_json(&parsed)).unwrap();
    assert_eq!(again, parsed);
    parsed
}

#[test]
fn initiate_authentication() {
    // EUICCInfo1 with the GSMA test CI key id; challenge as in an LPA trace.
    let info1 = EuiccInfo1 {
        svn: Version::new(2, 2, 2),
        ci_pkid_list_for_verification: vec![hex::decode(
            "f54172bdf98a95d65cbeb88a38a1c11d800a85c3",
        )
        .unwrap()],
        ci_pkid_list_for_signing: vec![
            hex::decode("f54172bdf98a95d65cbeb88a38a1c11d800a85c3").unwrap()
        ],
    };
    let info1_b64 = b64::encode(&info1.encode());
    assert_eq!(
        info1_b64,
        "vyA1ggMCAgKpFgQU9UFyvfmKldZcvriKOKHBHYAKhcOqFgQU9UFyvfmKldZcvriKOKHBHYAKhcM="
    );
    let req: InitiateAuthenticationRequest = roundtrip(json!({
        "euiccChallenge": "ESIzRFVmd4iZqrvM3e7/AA==",
        "euiccInfo1": info1_b64,
        "smdpAddress": "testsmdpplus1.example.com"
    }));
    assert_eq!(req.euicc_challenge().unwrap()[0], 0x11);
    assert_eq!(req.euicc_info1().unwrap(), info1);

    let ok: InitiateAuthenticationResponse = roundtrip(json!({
        "header": {"functionExecutionStatus": {"status": "Executed-Success"}},
        "transactionId": "0123456789ABCDEF0123456789ABCDEF",
        "serverSigned1": "MAA=",
        "serverSignature1": "XzdAAA==",
        "euiccCiPKIdToBeUsed": "9UFyvfmKldZcvriKOKHBHYAKhcM=",
        "serverCertificate": "MAA="
    }));
    let body = ok.clone().into_result().unwrap();
    assert_eq!(
        body.transaction_id,
        TransactionId::from_hex("0123456789abcdef0123456789abcdef").unwrap()
    );
    assert_eq!(body.server_signed1, vec![0x30, 0x00]);
    // A ServerSigned1 of `30 00` lacks mandatory fields.
    assert!(body.server_signed1().is_err());
}

#[test]
fn failed_header_and_codes() {
    // SGP.22 §6.5.1.3 header with statusCodeData; 8.10.1/3.9 = TransactionId Unknown (§6.5.2.7).
    let v = json!({
        "header": {"functionExecutionStatus": {
            "status": "Failed",
            "statusCodeData": {"subjectCode": "8.10.1", "reasonCode": "3.9",
                               "message": "The RSP session identified by the TransactionID is unknown"}
        }}
    });
    let r: GetBoundProfilePackageResponse = roundtrip(v.clone());
    assert!(r.body.is_none());
    let err = r.into_result().unwrap_err();
    assert_eq!(err.subject_code, codes::subject::TRANSACTION_ID);
    assert_eq!(err.reason_code, codes::reason::UNKNOWN);
    let built: GetBoundProfilePackageResponse =
        Response::failed(codes::es9p::TRANSACTION_ID_UNKNOWN);
    assert_eq!(serde_json::to_value(&built).unwrap(), v);
    assert_eq!(
        codes::reason::name("6.4"),
        Some("Maximum number of retries exceeded")
    );
    assert_eq!(codes::subject::name("8.2.6"), Some("Matching ID"));
    assert_eq!(
        codes::es9p::CONFIRMATION_CODE_RETRIES_EXCEEDED.reason,
        "6.4"
    );
    assert_eq!(codes::es9p::INVALID_SMDP_OID.reason, "3.10");

    // Success without output data is rejected as a body error; unknown status is a JSON error.
    assert!(from_json::<GetBoundProfilePackageResponse>(
        br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#
    )
    .is_err());
    assert!(from_json::<GetBoundProfilePackageResponse>(
        br#"{"header":{"functionExecutionStatus":{"status":"Done"}}}"#
    )
    .is_err());
    assert!(from_json::<GetBoundProfilePackageResponse>(br#"{}"#).is_err());
}

#[test]
fn other_functions() {
    let ac: AuthenticateClientRequest = roundtrip(json!({
        "transactionId": "01",
        "authenticateServerResponse": "vzgDgQEB"
    }));
    assert!(ac.authenticate_server_response().is_err());
    let _: AuthenticateClientResponse = roundtrip(json!({
        "header": {"functionExecutionStatus": {"status": "Executed-Success"}},
        "transactionId": "01",
        "profileMetadata": "vyUA",
        "smdpSigned2": "MAA=",
        "smdpSignature2": "XzcA",
        "smdpCertificate": "MAA="
    }));
    let g: GetBoundProfilePackageRequest = roundtrip(json!({
        "transactionId": "A1B2",
        "prepareDownloadResponse": "vyEA"
    }));
    assert_eq!(g.transaction_id.as_bytes(), &[0xA1, 0xB2]);
    let _: GetBoundProfilePackageResponse = roundtrip(json!({
        "header": {"functionExecutionStatus": {"status": "Executed-Success"}},
        "transactionId": "A1B2",
        "boundProfilePackage": "vzYA"
    }));
    let _: HandleNotificationRequest = roundtrip(json!({"pendingNotification": "vzcA"}));
    let _: CancelSessionRequest =
        roundtrip(json!({"transactionId": "A1B2", "cancelSessionResponse": "v0EDgQEF"}));
    let cs: CancelSessionResponseEs9 =
        roundtrip(json!({"header": {"functionExecutionStatus": {"status": "Executed-Success"}}}));
    assert!(cs.into_result().is_ok());

    // Bad base64 / hex / oversize transaction ID.
    assert!(from_json::<HandleNotificationRequest>(br#"{"pendingNotification":"**"}"#).is_err());
    assert!(from_json::<CancelSessionRequest>(
        br#"{"transactionId":"XYZ","cancelSessionResponse":""}"#
    )
    .is_err());
    assert!(from_json::<CancelSessionRequest>(
        br#"{"transactionId":"000102030405060708090A0B0C0D0E0F10","cancelSessionResponse":""}"#
    )
    .is_err());
    // Unknown fields (later versions) are ignored.
    let r: HandleNotificationRequest =
        from_json(br#"{"pendingNotification":"vzcA","x":1}"#).unwrap();
    assert_eq!(r.pending_notification, vec![0xBF, 0x37, 0x00]);
    let _ = GetEuiccChallengeResponse {
        euicc_challenge: [0; 16],
    };
}
