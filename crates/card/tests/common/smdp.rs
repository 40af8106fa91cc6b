//! A minimal test-only SM-DP+ signing with the GSMA SGP.26 test keys (DPauth / DPpb, NIST
//! P-256) and binding profile packages with the `bsp` crate, plus the LPA-side steps that drive
//! a card through AuthenticateServer, PrepareDownload and LoadBoundProfilePackage.

use card::testing::SeededRng;
use pki::{Certificate, Curve, PrivateKey, PublicKey};
use rsp::es10b::*;
use rsp::es8p::*;
use rsp::{tags, Asn1, Signed, TransactionId};
use tlv::{Tag, Writer};

use super::*;

pub const EID: [u8; 16] = [
    0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x51, 0x23, 0x45, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x35,
];
pub const SMDP_ADDRESS: &str = "testsmdpplus1.example.com";

pub struct Smdp {
    pub auth_sk: PrivateKey,
    pub auth_cert: Vec<u8>,
    pub pb_sk: PrivateKey,
    pub pb_cert: Vec<u8>,
    pub ci_pkid: Vec<u8>,
    pub txid: TransactionId,
}

impl Smdp {
    pub fn sgp26() -> Smdp {
        let ci =
            Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap();
        Smdp {
            auth_sk: PrivateKey::from_pem(&read_str("sgp26/DPauth/SK_S_SM_DPauth_ECDSA_NIST.pem"))
                .unwrap(),
            auth_cert: read("sgp26/DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der"),
            pb_sk: PrivateKey::from_pem(&read_str("sgp26/DPpb/SK_S_SM_DPpb_ECDSA_NIST.pem"))
                .unwrap(),
            pb_cert: read("sgp26/DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der"),
            ci_pkid: ci.subject_key_id().unwrap().to_vec(),
            txid: TransactionId::new(hex("0123456789ABCDEF0123456789ABCDEF")).unwrap(),
        }
    }

    pub fn authenticate_server_request(&self, euicc_challenge: [u8; 16]) -> Vec<u8> {
        let signed = Signed::new(ServerSigned1 {
            transaction_id: self.txid.clone(),
            euicc_challenge,
            server_address: SMDP_ADDRESS.into(),
            server_challenge: [0x5C; 16],
        });
        let sig = self.auth_sk.sign(signed.raw());
        AuthenticateServerRequest {
            server_signed1: signed,
            server_signature1: sig.to_vec(),
            euicc_ci_pkid_to_be_used: self.ci_pkid.clone(),
            server_certificate: self.auth_cert.clone(),
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id: Some("TS48-TEST".into()),
                device_info: DeviceInfo {
                    tac: hex("35290611"),
                    device_capabilities: Default::default(),
                    imei: None,
                },
            }),
        }
        .encode()
    }

    /// smdpSignature2 over smdpSigned2 || '5F37' euiccSignature1 (SGP.22 §5.6.2 / §5.7.5).
    pub fn prepare_download_request(&self, euicc_signature1: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let signed = Signed::new(SmdpSigned2 {
            transaction_id: self.txid.clone(),
            cc_required_flag: false,
            bpp_euicc_otpk: None,
        });
        let mut data = signed.raw().to_vec();
        tlv::write_tlv(tags::SIGNATURE, euicc_signature1, &mut data);
        let sig = self.pb_sk.sign(&data).to_vec();
        let req = PrepareDownloadRequest {
            smdp_signed2: signed,
            smdp_signature2: sig.clone(),
            hash_cc: None,
            smdp_certificate: self.pb_cert.clone(),
        };
        (req.encode(), sig)
    }

    /// Binds `package` for the eUICC one-time key `euicc_otpk` (SGP.22 §2.5.4, Annex G).
    pub fn bind(
        &self,
        eid: &[u8; 16],
        euicc_otpk: &[u8],
        metadata: &StoreMetadataRequest,
        package: &[u8],
        ppk: bool,
    ) -> Vec<u8> {
        let ot = PrivateKey::generate(Curve::NistP256, &mut SeededRng::new(b"smdp ot"));
        let shs = ot
            .ecka(&PublicKey::from_sec1(Curve::NistP256, euicc_otpk).unwrap())
            .unwrap();
        let host_id = b"simkit-test".to_vec();
        let keys = bsp::derive_session_keys(&shs[..], 0x88, 16, &host_id, eid).unwrap();
        let isc_signed = Signed::new(InitialiseSecureChannelSigned {
            remote_op_id: 1,
            transaction_id: self.txid.clone(),
            control_ref_template: ControlRefTemplate {
                key_type: 0x88,
                key_len: 16,
                host_id,
            },
            smdp_otpk: ot.public_key().to_uncompressed(),
        });
        let smdp_sign = self
            .pb_sk
            .sign(&InitialiseSecureChannelRequest::data_to_sign(
                isc_signed.raw(),
                euicc_otpk,
            ))
            .to_vec();
        let isc = InitialiseSecureChannelRequest {
            signed: isc_signed,
            smdp_sign,
        }
        .encode();
        let mut b = bsp::Bsp::new(&keys);
        let s87 = b
            .encrypt_and_mac(0x87, &ConfigureIsdpRequest::default().encode())
            .unwrap();
        let s88 = b.mac_only(0x88, &metadata.encode()).unwrap();
        let mut second87 = None;
        if ppk {
            let (enc, mac, mcv) = ([0x11u8; 16], [0x22u8; 16], [0x33u8; 16]);
            let rsk = ReplaceSessionKeysRequest {
                initial_mac_chaining_value: mcv.to_vec(),
                ppk_enc: enc.to_vec(),
                ppk_cmac: mac.to_vec(),
            };
            second87 = Some(b.encrypt_and_mac(0x87, &rsk.encode()).unwrap());
            b.replace_keys(&enc, &mac, &mcv);
        }
        let s86 = b.encrypt_and_mac(0x86, package).unwrap();
        let mut w = Writer::new();
        w.nested(Tag(0xBF36), |w| {
            w.raw(&isc);
            for (tag, segs) in [
                (0xA0, Some(s87)),
                (0xA1, Some(s88)),
                (0xA2, second87),
                (0xA3, Some(s86)),
            ] {
                if let Some(segs) = segs {
                    w.nested(Tag(tag), |w| {
                        for s in &segs {
                            w.raw(s);
                        }
                    });
                }
            }
        });
        w.into_vec()
    }
}

/// Runs GetEUICCChallenge, AuthenticateServer and PrepareDownload; returns (channel, otPK).
pub fn authenticate_and_prepare(card: &mut card::Card, smdp: &Smdp) -> (u8, Vec<u8>) {
    let ch = open_isdr(card);
    let chal = GetEuiccChallengeResponse::decode(&es10(card, ch, &hex("BF2E00"))).unwrap();
    let resp = AuthenticateServerResponse::decode(&es10(
        card,
        ch,
        &smdp.authenticate_server_request(chal.euicc_challenge),
    ))
    .unwrap();
    let AuthenticateServerResponse::Ok(ok) = resp else {
        panic!("{resp:?}")
    };
    // The SM-DP+ side of ES9+.AuthenticateClient: chain and signature.
    let ci =
        Certificate::from_der(&read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der")).unwrap();
    let eum = Certificate::from_der(&ok.eum_certificate).unwrap();
    let euicc = Certificate::from_der(&ok.euicc_certificate).unwrap();
    let id = pki::verify_euicc_chain(&[ci], &eum, &euicc, euicc.not_before()).unwrap();
    assert_eq!(id.eid, "89049032123451234512345678901235");
    id.public_key
        .verify(ok.euicc_signed1.raw(), &ok.euicc_signature1)
        .unwrap();
    assert_eq!(ok.euicc_signed1.transaction_id, smdp.txid);
    assert_eq!(ok.euicc_signed1.server_challenge, [0x5C; 16]);
    assert_eq!(ok.euicc_signed1.server_address, SMDP_ADDRESS);
    assert_eq!(
        ok.euicc_signed1.ctx_params1.common().matching_id.as_deref(),
        Some("TS48-TEST")
    );

    let (req, smdp_sig2) = smdp.prepare_download_request(&ok.euicc_signature1);
    let resp = PrepareDownloadResponse::decode(&es10(card, ch, &req)).unwrap();
    let PrepareDownloadResponse::Ok(ok2) = resp else {
        panic!("{resp:?}")
    };
    // euiccSignature2 over euiccSigned2 || '5F37' smdpSignature2.
    let mut data = ok2.euicc_signed2.raw().to_vec();
    tlv::write_tlv(tags::SIGNATURE, &smdp_sig2, &mut data);
    id.public_key.verify(&data, &ok2.euicc_signature2).unwrap();
    assert_eq!(ok2.euicc_signed2.euicc_otpk.len(), 65);
    (ch, ok2.euicc_signed2.euicc_otpk.clone())
}

/// Sends the BPP in its SGP.22 §2.5.5 segments; every segment but the last answers nothing.
pub fn load(card: &mut card::Card, ch: u8, bpp: &[u8]) -> Vec<u8> {
    let segments = rsp::es8p::segment(bpp).unwrap();
    let mut last = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        last = es10(card, ch, s);
        if !last.is_empty() {
            assert!(
                i + 1 == segments.len() || last.starts_with(&[0xBF, 0x37]),
                "segment {i}"
            );
            break;
        }
    }
    last
}

/// StoreMetadata for `package` (its own ICCID), test class, install/enable/delete
/// notifications to [`SMDP_ADDRESS`].
pub fn metadata_for(package: &[u8], name: &str) -> StoreMetadataRequest {
    let pp = saip::ProfilePackage::parse(package).unwrap();
    StoreMetadataRequest {
        iccid: pp.iccid().parse().unwrap(),
        service_provider_name: "GSMA TS.48".into(),
        profile_name: name.into(),
        icon_type: None,
        icon: None,
        profile_class: Some(rsp::ProfileClass::TEST),
        notification_configuration_info: None,
        profile_owner: None,
        profile_policy_rules: None,
    }
}

/// A whole download of `package` into `card` over the contact interface; returns the
/// Profile Installation Result and the ISD-R channel it used.
pub fn download(card: &mut card::Card, package: &[u8], name: &str) -> (Vec<u8>, u8) {
    let smdp = Smdp::sgp26();
    let (ch, otpk) = authenticate_and_prepare(card, &smdp);
    let md = metadata_for(package, name);
    let eid = card.identity().eid;
    let bpp = smdp.bind(&eid, &otpk, &md, package, false);
    (load(card, ch, &bpp), ch)
}
