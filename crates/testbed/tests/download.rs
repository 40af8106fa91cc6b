//! End to end through every role, in-process: operator (ES2+ order) → SM-DP+ (ES9+ over its
//! JSON binding) ↔ LPA ↔ virtual eUICC (ES10 over APDUs), on SQLite and on PostgreSQL, with
//! NIST P-256 and brainpoolP256r1 PKIs. The bad-input cases check the SGP.22 status code and that
//! nothing stored changed.

use std::sync::{Arc, Mutex};

use base64::Engine;
use lpa::{Es9Transport, Lpa, LpaError, NotificationStatus};
use pki::Curve;
use rsp::es10c::ProfileIdentifier;
use smdp::order::OrderPolicy;
use smdp::{Iccid, ProfileState, SmdpStore};
use store::testing::TestDatabase;
use testbed::{InProcessEs9, Testbed};

const ADDRESS: &str = "smdp.simkit.test";
/// The TS.48 V2 test profile (GSMA), personalized per test.
const TS48: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V2-SAIP2-1-BERTLV-UNIQUE.der"
);
const ICCID: &str = "8949449999999990023";
const IMSI: &str = "001019990000023";
const TAC: [u8; 4] = [0x35, 0x29, 0x06, 0x11];

async fn testbed(db: &TestDatabase, curve: Curve, policy: OrderPolicy) -> Testbed {
    let pki = testbed::mint_pki(curve, ADDRESS).expect("mint PKI");
    let bed = Testbed::new(db.db.clone(), pki, ADDRESS, policy).expect("testbed");
    let package = std::fs::read(TS48).expect("TS.48 package");
    bed.import_profiles(&package, &[(ICCID.into(), IMSI.into())], "ts48")
        .await
        .expect("import");
    bed
}

fn card(bed: &Testbed) -> card::Card {
    testbed::new_card(&bed.pki, &bed.pki.euicc).expect("card")
}

async fn profile_state(bed: &Testbed) -> ProfileState {
    bed.store()
        .get_profile(&Iccid::parse(ICCID).unwrap())
        .await
        .unwrap()
        .unwrap()
        .state
}

fn es9_code(e: &LpaError) -> (String, String) {
    match e {
        LpaError::Es9 {
            subject_code,
            reason_code,
            ..
        } => (subject_code.clone(), reason_code.clone()),
        other => panic!("expected an ES9+ status code, got {other:?}"),
    }
}

/// A full download, then enable, with notifications delivered back to the SM-DP+.
async fn full_download(db: &TestDatabase, curve: Curve) {
    let bed = testbed(db, curve, OrderPolicy::default()).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    assert_eq!(profile_state(&bed).await, ProfileState::Released);

    let mut card = card(&bed);
    let es9 = bed.in_process();
    let device = lpa::default_device_info(TAC, None);
    let ac = bed.activation_code(&matching_id, false);
    let result = {
        let mut lpa = Lpa::new(&mut card);
        lpa.download(&es9, &ac, None, &device, |_| true)
            .await
            .expect("download")
    };
    assert_eq!(result.iccid.to_string(), ICCID);
    assert!(
        matches!(result.pir_notification, NotificationStatus::Removed),
        "{:?}",
        result.pir_notification
    );
    // handleNotification(PIR) moved the inventory entry to Installed.
    assert_eq!(profile_state(&bed).await, ProfileState::Installed);

    // The card holds the personalized package: ICCID and IMSI of the inventory entry.
    let installed = &card.state().profiles[0];
    assert_eq!(installed.imsi.as_deref(), Some(IMSI));
    let package = saip::ProfilePackage::parse(&installed.package).unwrap();
    assert_eq!(package.iccid(), ICCID);
    assert_eq!(package.imsi().as_deref(), Some(IMSI));

    let mut lpa = Lpa::new(&mut card);
    let profiles = lpa.profiles().unwrap();
    assert_eq!(profiles.len(), 1);
    lpa.enable(ProfileIdentifier::Iccid(result.iccid), false)
        .expect("enable");
    let outcomes = lpa.process_notifications(&es9).await.unwrap();
    assert!(!outcomes.is_empty());
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.status, NotificationStatus::Removed)),
        "{outcomes:?}"
    );
    assert!(lpa.list_notifications().unwrap().is_empty());
    drop(lpa);
}

store::both_backends!(
    download_nist,
    download_brainpool,
    unknown_matching_id,
    eid_not_allowed,
    confirmation_code,
    replayed_transaction,
    unknown_ci_chain,
    tampered_euicc_certificate,
    expired_session,
    tampered_bpp,
    cancelled_sessions,
    two_instances,
);

async fn download_nist(db: &mut TestDatabase) {
    full_download(db, Curve::NistP256).await
}

async fn download_brainpool(db: &mut TestDatabase) {
    full_download(db, Curve::BrainpoolP256r1).await
}

/// 8.2.6/3.8: a matchingId no order has; the ordered profile is untouched.
async fn unknown_matching_id(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    bed.order(ICCID, None, None).await.unwrap();
    let mut card = card(&bed);
    let ac = format!("LPA:1${ADDRESS}$NO-SUCH-ORDER");
    let err = Lpa::new(&mut card)
        .download(
            &bed.in_process(),
            &ac,
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.2.6".into(), "3.8".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
    assert!(card.state().profiles.is_empty());
}

/// 8.1.1/3.8: the order is bound to another EID.
async fn eid_not_allowed(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let other_eid = "89049032123451234512345678901299";
    let matching_id = bed.order(ICCID, Some(other_eid), None).await.unwrap();
    let before = bed
        .store()
        .get_order(&Iccid::parse(ICCID).unwrap())
        .await
        .unwrap();
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(
            &bed.in_process(),
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.1.1".into(), "3.8".into()));
    assert_eq!(
        bed.store()
            .get_order(&Iccid::parse(ICCID).unwrap())
            .await
            .unwrap(),
        before
    );
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
}

/// 8.2.7/3.8 for a wrong confirmation code, 8.2.7/6.4 once the retries are used up (the
/// profile then ends in Error); the right code before that installs.
async fn confirmation_code(db: &TestDatabase) {
    let policy = OrderPolicy {
        max_cc_attempts: 2,
        ..OrderPolicy::default()
    };
    let bed = testbed(db, Curve::NistP256, policy).await;
    let matching_id = bed.order(ICCID, None, Some("1234")).await.unwrap();
    let ac = bed.activation_code(&matching_id, true);
    let device = lpa::default_device_info(TAC, None);
    let mut card = card(&bed);

    let err = Lpa::new(&mut card)
        .download(&bed.in_process(), &ac, Some("9999"), &device, |_| true)
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.2.7".into(), "3.8".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
    assert!(card.state().profiles.is_empty());

    let err = Lpa::new(&mut card)
        .download(&bed.in_process(), &ac, Some("0000"), &device, |_| true)
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.2.7".into(), "6.4".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Error);

    // A fresh order with the right code goes through.
    let bed2 = Testbed::new(
        db.db.clone(),
        bed.pki.clone(),
        ADDRESS,
        OrderPolicy::default(),
    )
    .unwrap();
    let package = std::fs::read(TS48).unwrap();
    bed2.import_profiles(
        &package,
        &[("8949449999999990031".into(), "001019990000031".into())],
        "ts48",
    )
    .await
    .unwrap();
    let mid = bed2
        .order("8949449999999990031", None, Some("1234"))
        .await
        .unwrap();
    let done = Lpa::new(&mut card)
        .download(
            &bed2.in_process(),
            &bed2.activation_code(&mid, true),
            Some("1234"),
            &device,
            |_| true,
        )
        .await
        .expect("download with the right code");
    assert_eq!(done.iccid.to_string(), "8949449999999990031");
}

/// A link that can rewrite requests and responses, and records requests.
#[derive(Clone)]
struct Tamper<F: Fn(&str, &mut serde_json::Value, bool) + Send + Sync + Clone, T = InProcessEs9> {
    inner: T,
    edit: F,
    sent: Arc<Mutex<Vec<(String, Vec<u8>)>>>,
}

impl<F, T> Es9Transport for Tamper<F, T>
where
    F: Fn(&str, &mut serde_json::Value, bool) + Send + Sync + Clone,
    T: Es9Transport + Send + Sync,
{
    async fn post(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        let mut request: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (self.edit)(path, &mut request, true);
        let body = serde_json::to_vec(&request).unwrap();
        self.sent
            .lock()
            .unwrap()
            .push((path.to_string(), body.clone()));
        let (status, reply) = self.inner.post(addr, path, body).await?;
        if status != 200 {
            return Ok((status, reply));
        }
        let mut response: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        (self.edit)(path, &mut response, false);
        Ok((status, serde_json::to_vec(&response).unwrap()))
    }
}

fn tamper<F: Fn(&str, &mut serde_json::Value, bool) + Send + Sync + Clone>(
    bed: &Testbed,
    edit: F,
) -> Tamper<F> {
    Tamper {
        inner: bed.in_process(),
        edit,
        sent: Arc::default(),
    }
}

/// Flips one byte of a base64 field at `offset` from its end.
fn flip(value: &mut serde_json::Value, field: &str, from_end: usize) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(value[field].as_str().unwrap()).unwrap();
    let i = bytes.len() - from_end;
    bytes[i] ^= 0x01;
    value[field] = serde_json::Value::String(b64.encode(bytes));
}

/// `reply` is an ES9+ body whose header says Failed with `subject`/`reason`.
fn assert_failed(reply: &[u8], subject: &str, reason: &str, what: &str) {
    let reply: serde_json::Value = serde_json::from_slice(reply).unwrap();
    let code = &reply["header"]["functionExecutionStatus"];
    assert_eq!(code["status"], "Failed", "{what}");
    assert_eq!(code["statusCodeData"]["subjectCode"], subject, "{what}");
    assert_eq!(code["statusCodeData"]["reasonCode"], reason, "{what}");
}

/// 8.10.1/3.9: replaying a request of a finished session, or the AuthenticateClient of a
/// session that has moved on; nothing changes.
async fn replayed_transaction(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let link = tamper(&bed, |_: &str, _: &mut serde_json::Value, _| {});
    let mut card = card(&bed);
    Lpa::new(&mut card)
        .download(
            &link,
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap();
    let sent = link.sent.lock().unwrap().clone();
    for function in [
        rsp::es9p::path::AUTHENTICATE_CLIENT,
        rsp::es9p::path::GET_BOUND_PROFILE_PACKAGE,
    ] {
        let (_, body) = sent.iter().find(|(p, _)| p == function).unwrap();
        let (status, reply) = bed
            .in_process()
            .post(ADDRESS, function, body.clone())
            .await
            .unwrap();
        assert_eq!(status, 200);
        assert_failed(&reply, "8.10.1", "3.9", function);
    }
    // A re-sent PIR of the finished session is acknowledged (204) and changes nothing.
    let (_, pir) = sent
        .iter()
        .find(|(p, _)| p == rsp::es9p::path::HANDLE_NOTIFICATION)
        .unwrap();
    let (status, _) = bed
        .in_process()
        .post(ADDRESS, rsp::es9p::path::HANDLE_NOTIFICATION, pir.clone())
        .await
        .unwrap();
    assert_eq!(status, 204);
    assert_eq!(profile_state(&bed).await, ProfileState::Installed);
}

/// Each ES9+ function to the instance `route` names (0 or 1), as a load balancer might.
#[derive(Clone)]
struct Balanced {
    instances: [InProcessEs9; 2],
    route: fn(&str) -> usize,
}

impl Es9Transport for Balanced {
    async fn post(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        self.instances[(self.route)(path)]
            .post(addr, path, body)
            .await
    }
}

/// Two SM-DP+ instances on one database, each step of a download at either. Each instance
/// remembers the sessions it wrote: one it remembers in an earlier state is read again from
/// the store (the download completes), and one the other instance finished is refused as the
/// store's copy would be (8.10.1/3.9), changing nothing.
async fn two_instances(db: &TestDatabase) {
    use rsp::es9p::path;
    // A second Profile, downloaded by a second eUICC (EID 89049032 0…07 45).
    const ICCID2: &str = "8949449999999990031";
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let package = std::fs::read(TS48).unwrap();
    bed.import_profiles(
        &package,
        &[(ICCID2.into(), "001019990000031".into())],
        "ts48",
    )
    .await
    .unwrap();
    let second_euicc = testbed::mint_euicc(&bed.pki, "89049032000000000000000000000745").unwrap();
    let device = lpa::default_device_info(TAC, None);
    let download = |iccid: &'static str, mut card: card::Card, route: fn(&str) -> usize| {
        let bed = &bed;
        let device = &device;
        async move {
            let link = Tamper {
                inner: Balanced {
                    instances: [bed.in_process(), bed.replica().unwrap()],
                    route,
                },
                edit: |_: &str, _: &mut serde_json::Value, _| {},
                sent: Arc::default(),
            };
            let matching_id = bed.order(iccid, None, None).await.unwrap();
            Lpa::new(&mut card)
                .download(
                    &link,
                    &bed.activation_code(&matching_id, false),
                    None,
                    device,
                    |_| true,
                )
                .await
                .unwrap();
            link
        }
    };
    let state = |iccid: &'static str| {
        let bed = &bed;
        async move {
            bed.store()
                .get_profile(&Iccid::parse(iccid).unwrap())
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };

    // The first instance asks for the BPP of a session it saw only Initiated.
    download(ICCID, card(&bed), |p| {
        usize::from(p == path::AUTHENTICATE_CLIENT || p == path::HANDLE_NOTIFICATION)
    })
    .await;
    assert_eq!(state(ICCID).await, ProfileState::Installed);

    // The first instance authenticated the eUICC; the second delivered and finished. A replayed
    // GetBoundProfilePackage at the first finds its own copy Authenticated, yet is refused.
    let second_card = testbed::new_card(&bed.pki, &second_euicc).unwrap();
    let link = download(ICCID2, second_card, |p| {
        usize::from(p == path::GET_BOUND_PROFILE_PACKAGE || p == path::HANDLE_NOTIFICATION)
    })
    .await;
    assert_eq!(state(ICCID2).await, ProfileState::Installed);
    let sent = link.sent.lock().unwrap().clone();
    let (_, body) = sent
        .iter()
        .find(|(p, _)| p == path::GET_BOUND_PROFILE_PACKAGE)
        .unwrap();
    let (status, reply) = link.inner.instances[0]
        .post(ADDRESS, path::GET_BOUND_PROFILE_PACKAGE, body.clone())
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_failed(&reply, "8.10.1", "3.9", "replayed GetBoundProfilePackage");
    assert_eq!(state(ICCID2).await, ProfileState::Installed);
}

/// An eUICC from another PKI: 8.8.2/3.1 at InitiateAuthentication (no CI in common), and
/// 8.11.1/3.9 when a chain under another CI is presented in AuthenticateClient.
async fn unknown_ci_chain(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let ac = bed.activation_code(&matching_id, false);
    let device = lpa::default_device_info(TAC, None);
    let rogue = testbed::mint_pki(Curve::NistP256, ADDRESS).unwrap();

    // A card certified under another CI, though it can verify ours.
    let identity = card::CardIdentity::new(
        rogue.euicc.cert.der(),
        rogue.eum.cert.der(),
        rogue.euicc.key.clone(),
        &[bed.pki.ci.cert.der(), rogue.ci.cert.der()],
    )
    .unwrap();
    let mut rogue_card = card::Card::new(
        identity,
        card::CardState::default(),
        Box::new(testbed::os_rng()),
    );
    let err = Lpa::new(&mut rogue_card)
        .download(&bed.in_process(), &ac, None, &device, |_| true)
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.8.2".into(), "3.1".into()));

    // A genuine card whose certificates are replaced in transit by a chain under another CI.
    let (euicc_cert, eum_cert) = (
        rogue.euicc.cert.der().to_vec(),
        rogue.eum.cert.der().to_vec(),
    );
    let link = tamper(
        &bed,
        move |path: &str, v: &mut serde_json::Value, request| {
            if request && path == rsp::es9p::path::AUTHENTICATE_CLIENT {
                let b64 = base64::engine::general_purpose::STANDARD;
                let der = b64
                    .decode(v["authenticateServerResponse"].as_str().unwrap())
                    .unwrap();
                let mut resp =
                    <rsp::es10b::AuthenticateServerResponse as rsp::Asn1>::decode(&der).unwrap();
                let rsp::es10b::AuthenticateServerResponse::Ok(ok) = &mut resp else {
                    panic!("eUICC error")
                };
                ok.euicc_certificate = euicc_cert.clone();
                ok.eum_certificate = eum_cert.clone();
                v["authenticateServerResponse"] =
                    serde_json::Value::String(b64.encode(rsp::Asn1::encode(&resp)));
            }
        },
    );
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(&link, &ac, None, &device, |_| true)
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.11.1".into(), "3.9".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
}

/// 8.1.3/6.1: the eUICC certificate's signature does not verify (altered in transit).
async fn tampered_euicc_certificate(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let link = tamper(&bed, |path: &str, v: &mut serde_json::Value, request| {
        if request && path == rsp::es9p::path::AUTHENTICATE_CLIENT {
            // Flip a byte in the eUICC certificate's signature and re-encode the response.
            let b64 = base64::engine::general_purpose::STANDARD;
            let der = b64
                .decode(v["authenticateServerResponse"].as_str().unwrap())
                .unwrap();
            let mut resp =
                <rsp::es10b::AuthenticateServerResponse as rsp::Asn1>::decode(&der).unwrap();
            let rsp::es10b::AuthenticateServerResponse::Ok(ok) = &mut resp else {
                panic!("eUICC error")
            };
            let n = ok.euicc_certificate.len();
            ok.euicc_certificate[n - 3] ^= 0x01;
            let der = rsp::Asn1::encode(&resp);
            v["authenticateServerResponse"] = serde_json::Value::String(b64.encode(der));
        }
    });
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(
            &link,
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.1.3".into(), "6.1".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
}

/// 8.10.1/3.9: the session expired between InitiateAuthentication and AuthenticateClient.
async fn expired_session(db: &TestDatabase) {
    let policy = OrderPolicy {
        session_ttl_ms: 0,
        ..OrderPolicy::default()
    };
    let bed = testbed(db, Curve::NistP256, policy).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(
            &bed.in_process(),
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(es9_code(&err), ("8.10.1".into(), "3.9".into()));
    assert_eq!(profile_state(&bed).await, ProfileState::Released);
}

/// A BPP altered in transit: the eUICC rejects it (scp03tSecurityError in the PIR), installs
/// nothing, and the SM-DP+ learns the failure from the PIR; the order may be retried.
async fn tampered_bpp(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let link = tamper(&bed, |path: &str, v: &mut serde_json::Value, request| {
        if !request && path == rsp::es9p::path::GET_BOUND_PROFILE_PACKAGE {
            flip(v, "boundProfilePackage", 20); // inside the last '86' segment
        }
    });
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(
            &link,
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .unwrap_err();
    match err {
        LpaError::Installation { error_reason, .. } => {
            assert_eq!(
                error_reason,
                rsp::notification::ErrorReason::SCP03T_SECURITY_ERROR
            )
        }
        other => panic!("expected an installation error, got {other:?}"),
    }
    assert!(card.state().profiles.is_empty());
    // The PIR reached the SM-DP+: the download may be retried with a new session.
    assert_eq!(profile_state(&bed).await, ProfileState::Downloaded);
    let done = Lpa::new(&mut card)
        .download(
            &bed.in_process(),
            &bed.activation_code(&matching_id, false),
            None,
            &lpa::default_device_info(TAC, None),
            |_| true,
        )
        .await
        .expect("retry after a failed installation");
    assert_eq!(done.iccid.to_string(), ICCID);
    assert_eq!(profile_state(&bed).await, ProfileState::Installed);
}

/// ES9+.CancelSession end to end: the end user declines (endUserRejection) and the Profile goes
/// to Error for the operator to decide; a download postponed for its confirmation code keeps
/// the order, which then completes with the code.
async fn cancelled_sessions(db: &TestDatabase) {
    let bed = testbed(db, Curve::NistP256, OrderPolicy::default()).await;
    let device = lpa::default_device_info(TAC, None);
    let matching_id = bed.order(ICCID, None, None).await.unwrap();
    let mut card = card(&bed);
    let err = Lpa::new(&mut card)
        .download(
            &bed.in_process(),
            &bed.activation_code(&matching_id, false),
            None,
            &device,
            |_| false,
        )
        .await
        .unwrap_err();
    assert_eq!(err, LpaError::Rejected);
    assert_eq!(profile_state(&bed).await, ProfileState::Error);
    assert!(
        card.state().session.is_none(),
        "the eUICC ended its session too"
    );

    // Postponed: the SM-DP+ asks for a code the LPA does not have yet.
    let package = std::fs::read(TS48).unwrap();
    let (iccid, imsi) = ("8949449999999990031", "001019990000031");
    bed.import_profiles(&package, &[(iccid.into(), imsi.into())], "ts48")
        .await
        .unwrap();
    let matching_id = bed.order(iccid, None, Some("4321")).await.unwrap();
    // An activation code without the CC flag: the LPA learns of the code from smdpSigned2.
    let ac = bed.activation_code(&matching_id, false);
    let err = Lpa::new(&mut card)
        .download(&bed.in_process(), &ac, None, &device, |_| true)
        .await
        .unwrap_err();
    assert_eq!(err, LpaError::ConfirmationCodeRequired);
    let state = bed
        .store()
        .get_profile(&Iccid::parse(iccid).unwrap())
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, ProfileState::Released);
    let done = Lpa::new(&mut card)
        .download(&bed.in_process(), &ac, Some("4321"), &device, |_| true)
        .await
        .unwrap();
    assert_eq!(done.iccid.to_string(), iccid);
}
