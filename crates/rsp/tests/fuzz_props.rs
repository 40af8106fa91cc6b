//! Property tests: no decoder panics on random, truncated or mutated input.

use base64::Engine;
use proptest::prelude::*;
use rsp::es10a::*;
use rsp::es10b::*;
use rsp::es10c::*;
use rsp::es8p::*;
use rsp::notification::*;
use rsp::Asn1;

fn decode_all(b: &[u8]) {
    macro_rules! try_all {
        ($($t:ty),* $(,)?) => {$( let _ = <$t as Asn1>::decode(b); )*};
    }
    try_all!(
        GetEuiccChallengeRequest,
        GetEuiccChallengeResponse,
        GetEuiccInfo1Request,
        EuiccInfo1,
        GetEuiccInfo2Request,
        EuiccInfo2,
        AuthenticateServerRequest,
        AuthenticateServerResponse,
        ServerSigned1,
        EuiccSigned1,
        SmdpSigned2,
        EuiccSigned2,
        DeviceInfo,
        PrepareDownloadRequest,
        PrepareDownloadResponse,
        CancelSessionRequest,
        CancelSessionResponse,
        EuiccCancelSessionSigned,
        ListNotificationRequest,
        ListNotificationResponse,
        RetrieveNotificationsListRequest,
        RetrieveNotificationsListResponse,
        NotificationSentRequest,
        NotificationSentResponse,
        GetRatRequest,
        GetRatResponse,
        LoadCrlRequest,
        LoadCrlResponse,
        InitialiseSecureChannelRequest,
        ConfigureIsdpRequest,
        StoreMetadataRequest,
        UpdateMetadataRequest,
        ReplaceSessionKeysRequest,
        BoundProfilePackage,
        NotificationMetadata,
        OtherSignedNotification,
        ProfileInstallationResultData,
        ProfileInstallationResult,
        PendingNotification,
        ProfileInfoListRequest,
        ProfileInfoListResponse,
        ProfileInfo,
        EnableProfileRequest,
        EnableProfileResponse,
        DisableProfileRequest,
        DisableProfileResponse,
        DeleteProfileRequest,
        DeleteProfileResponse,
        EuiccMemoryResetRequest,
        EuiccMemoryResetResponse,
        GetEuiccDataRequest,
        GetEuiccDataResponse,
        SetNicknameRequest,
        SetNicknameResponse,
        EuiccConfiguredAddressesRequest,
        EuiccConfiguredAddressesResponse,
        SetDefaultDpAddressRequest,
        SetDefaultDpAddressResponse,
    );
    let _ = segment(b);
    let _ = rsp::activation::ActivationCode::parse(&String::from_utf8_lossy(b));
    let _ = rsp::es9p::from_json::<rsp::es9p::AuthenticateClientResponse>(b);
}

/// The first bytes of the pySim BPP (see golden.rs) as a structured seed.
fn seed() -> Vec<u8> {
    let b64 = include_str!("data/pysim_bpp.b64");
    let bpp = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap();
    let b = BoundProfilePackage::decode(&bpp).unwrap();
    b.initialise_secure_channel_request.encode()
}

/// Wraps `body` in each outer tag the decoders expect, so the fuzzing reaches the inner fields.
const OUTER: &[u32] = &[
    0xBF2E, 0xBF20, 0xBF22, 0xBF38, 0xBF21, 0xBF41, 0xBF28, 0xBF2B, 0xBF30, 0xBF43, 0xBF35, 0xBF23,
    0xBF24, 0xBF25, 0xBF2A, 0xBF26, 0xBF36, 0xBF2F, 0xBF27, 0xBF37, 0xBF2D, 0xE3, 0xBF31, 0xBF32,
    0xBF33, 0xBF34, 0xBF3E, 0xBF29, 0xBF3C, 0xBF3F, 0x30, 0xA0,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        decode_all(&b);
    }

    #[test]
    fn wrapped_random_contents(idx in 0..OUTER.len(), body in proptest::collection::vec(any::<u8>(), 0..120)) {
        let wrapped = tlv::encode_tlv(tlv::Tag(OUTER[idx]), &body);
        decode_all(&wrapped);
    }

    #[test]
    fn mutated_and_truncated_seed(pos in 0usize..200, val: u8, cut in 0usize..200) {
        let mut s = seed();
        let n = s.len();
        s[pos % n] = val;
        decode_all(&s);
        decode_all(&s[..cut % n]);
    }
}
