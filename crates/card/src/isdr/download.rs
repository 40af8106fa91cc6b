//! ES10b.AuthenticateServer (§5.7.13), PrepareDownload (§5.7.5) and CancelSession (§5.7.14).

use pki::{Certificate, Curve, PkiError, PrivateKey, PublicKey, RspRole};
use rsp::es10b::{
    AuthenticateErrorCode, AuthenticateResponseError, AuthenticateResponseOk,
    AuthenticateServerRequest, AuthenticateServerResponse, CancelSessionError,
    CancelSessionRequest, CancelSessionResponse, CancelSessionResponseOk, DownloadErrorCode,
    EuiccCancelSessionSigned, EuiccSigned1, EuiccSigned2, PrepareDownloadRequest,
    PrepareDownloadResponse, PrepareDownloadResponseError, PrepareDownloadResponseOk,
};
use rsp::{tags, Asn1, Oid, Signed};
use zeroize::Zeroizing;

use super::{decode, Isdr};
use crate::state::{AuthenticatedSession, PreparedSession};
use crate::ApduResult;

impl Isdr<'_> {
    /// Time for certificate checks: the injected clock, or (no trusted clock on the eUICC) the
    /// certificate's own notBefore so that only its validity start is implied.
    fn check_time(&self, cert: &Certificate) -> u64 {
        self.now.unwrap_or_else(|| cert.not_before())
    }

    fn trusted_ci(&self, pkid: &[u8]) -> Option<&Certificate> {
        self.identity
            .trusted_cis
            .iter()
            .find(|c| c.subject_key_id() == Some(pkid))
    }

    pub(super) fn authenticate_server(&mut self, request: &[u8]) -> ApduResult {
        let req: AuthenticateServerRequest = decode(request)?;
        let txid = req.server_signed1.transaction_id.clone();
        let result = self.authenticate_server_inner(&req);
        let response = match result {
            Ok(ok) => AuthenticateServerResponse::Ok(ok),
            Err(code) => AuthenticateServerResponse::Error(AuthenticateResponseError {
                transaction_id: txid,
                authenticate_error_code: code,
            }),
        };
        Ok(response.encode())
    }

    fn authenticate_server_inner(
        &mut self,
        req: &AuthenticateServerRequest,
    ) -> Result<AuthenticateResponseOk, AuthenticateErrorCode> {
        let challenge = match &self.state.session {
            Some(s) => s.euicc_challenge,
            None => return Err(AuthenticateErrorCode::NO_SESSION_CONTEXT),
        };
        // The CI the server wants us to use must be one we verify with.
        let ci = self
            .trusted_ci(&req.euicc_ci_pkid_to_be_used)
            .ok_or(AuthenticateErrorCode::CI_PK_UNKNOWN)?
            .clone();
        let cert = Certificate::from_der(&req.server_certificate).map_err(|e| match e {
            PkiError::UnsupportedCurve(_) => AuthenticateErrorCode::UNSUPPORTED_CURVE,
            _ => AuthenticateErrorCode::INVALID_CERTIFICATE,
        })?;
        // CERT.DPauth.ECDSA, or CERT.DSauth.ECDSA when the server is an SM-DS.
        let role = if cert.role() == Some(RspRole::DsAuth) {
            RspRole::DsAuth
        } else {
            RspRole::DpAuth
        };
        let server_key = pki::verify_dp_certificate(
            std::slice::from_ref(&ci),
            &cert,
            role,
            self.check_time(&cert),
        )
        .map_err(|e| match e {
            PkiError::WrongRole { .. } => AuthenticateErrorCode::INVALID_OID,
            PkiError::UnsupportedCurve(_) | PkiError::CurveMismatch => {
                AuthenticateErrorCode::UNSUPPORTED_CURVE
            }
            PkiError::UnknownCi => AuthenticateErrorCode::CI_PK_UNKNOWN,
            _ => AuthenticateErrorCode::INVALID_CERTIFICATE,
        })?;
        server_key
            .verify(req.server_signed1.raw(), &req.server_signature1)
            .map_err(|_| AuthenticateErrorCode::INVALID_SIGNATURE)?;
        if req.server_signed1.euicc_challenge != challenge {
            return Err(AuthenticateErrorCode::EUICC_CHALLENGE_MISMATCH);
        }

        let signed1 = Signed::new(EuiccSigned1 {
            transaction_id: req.server_signed1.transaction_id.clone(),
            server_address: req.server_signed1.server_address.clone(),
            server_challenge: req.server_signed1.server_challenge,
            euicc_info2: self.euicc_info2(),
            ctx_params1: req.ctx_params1.clone(),
        });
        let euicc_signature1 = self.sign(signed1.raw());
        if let Some(session) = self.state.session.as_mut() {
            session.authenticated = Some(AuthenticatedSession {
                transaction_id: req.server_signed1.transaction_id.as_bytes().to_vec(),
                server_address: req.server_signed1.server_address.clone(),
                ci_pkid: req.euicc_ci_pkid_to_be_used.clone(),
                smdp_oid: cert.registered_id().map(|o| o.as_bytes().to_vec()),
                euicc_signature1: euicc_signature1.clone(),
            });
            session.prepared = None;
        }
        *self.bpp = None;
        Ok(AuthenticateResponseOk {
            euicc_signed1: signed1,
            euicc_signature1,
            euicc_certificate: self.identity.euicc_cert_der.clone(),
            eum_certificate: self.identity.eum_cert_der.clone(),
        })
    }

    pub(super) fn prepare_download(&mut self, request: &[u8]) -> ApduResult {
        let req: PrepareDownloadRequest = decode(request)?;
        let txid = req.smdp_signed2.transaction_id.clone();
        let response = match self.prepare_download_inner(&req) {
            Ok(ok) => PrepareDownloadResponse::Ok(ok),
            Err(code) => PrepareDownloadResponse::Error(PrepareDownloadResponseError {
                transaction_id: txid,
                download_error_code: code,
            }),
        };
        Ok(response.encode())
    }

    fn prepare_download_inner(
        &mut self,
        req: &PrepareDownloadRequest,
    ) -> Result<PrepareDownloadResponseOk, DownloadErrorCode> {
        let auth = self
            .state
            .session
            .as_ref()
            .and_then(|s| s.authenticated.clone())
            .ok_or(DownloadErrorCode::NO_SESSION_CONTEXT)?;
        let ci = self
            .trusted_ci(&auth.ci_pkid)
            .ok_or(DownloadErrorCode::INVALID_CERTIFICATE)?
            .clone();
        let cert = Certificate::from_der(&req.smdp_certificate).map_err(|e| match e {
            PkiError::UnsupportedCurve(_) => DownloadErrorCode::UNSUPPORTED_CURVE,
            _ => DownloadErrorCode::INVALID_CERTIFICATE,
        })?;
        let dppb_key = pki::verify_dp_certificate(
            std::slice::from_ref(&ci),
            &cert,
            RspRole::DpPb,
            self.check_time(&cert),
        )
        .map_err(|e| match e {
            PkiError::UnsupportedCurve(_) | PkiError::CurveMismatch => {
                DownloadErrorCode::UNSUPPORTED_CURVE
            }
            _ => DownloadErrorCode::INVALID_CERTIFICATE,
        })?;
        // CERT.DPpb and CERT.DPauth belong to the same SM-DP+ (same OID).
        let pb_oid = cert.registered_id().map(|o| o.as_bytes().to_vec());
        if pb_oid != auth.smdp_oid {
            return Err(DownloadErrorCode::INVALID_CERTIFICATE);
        }
        // smdpSignature2 covers smdpSigned2 || euiccSignature1 with its tag and length ('5F37').
        let mut signed_data = req.smdp_signed2.raw().to_vec();
        tlv::write_tlv(tags::SIGNATURE, &auth.euicc_signature1, &mut signed_data);
        dppb_key
            .verify(&signed_data, &req.smdp_signature2)
            .map_err(|_| DownloadErrorCode::INVALID_SIGNATURE)?;
        if req.smdp_signed2.transaction_id.as_bytes() != auth.transaction_id.as_slice() {
            return Err(DownloadErrorCode::INVALID_TRANSACTION_ID);
        }
        if req.smdp_signed2.cc_required_flag && req.hash_cc.is_none() {
            return Err(DownloadErrorCode::UNDEFINED_ERROR);
        }

        // One-time key pair on the curve of CERT.DPpb. A retry that names the otPK of an earlier
        // attempt (bppEuiccOtpk) reuses that pair if this session still has it.
        let previous = self.state.session.as_ref().and_then(|s| s.prepared.clone());
        let reuse = match (&req.smdp_signed2.bpp_euicc_otpk, previous) {
            (Some(otpk), Some(p)) if *otpk == p.ot_pk => Some(p),
            _ => None,
        };
        let prepared = match reuse {
            Some(p) => p,
            None => {
                let sk = PrivateKey::generate(cert.curve(), &mut *self.rng);
                PreparedSession {
                    ot_sk: sk.to_scalar().to_vec(),
                    ot_pk: sk.public_key().to_uncompressed(),
                    dppb_cert: req.smdp_certificate.clone(),
                }
            }
        };
        let signed2 = Signed::new(EuiccSigned2 {
            transaction_id: req.smdp_signed2.transaction_id.clone(),
            euicc_otpk: prepared.ot_pk.clone(),
            hash_cc: req.hash_cc,
        });
        // euiccSignature2 covers euiccSigned2 || smdpSignature2 with its tag and length.
        let mut to_sign = signed2.raw().to_vec();
        tlv::write_tlv(tags::SIGNATURE, &req.smdp_signature2, &mut to_sign);
        let euicc_signature2 = self.sign(&to_sign);
        if let Some(session) = self.state.session.as_mut() {
            session.prepared = Some(prepared);
        }
        *self.bpp = None;
        Ok(PrepareDownloadResponseOk {
            euicc_signed2: signed2,
            euicc_signature2,
        })
    }

    pub(super) fn cancel_session(&mut self, request: &[u8]) -> ApduResult {
        let req: CancelSessionRequest = decode(request)?;
        let auth = self
            .state
            .session
            .as_ref()
            .and_then(|s| s.authenticated.clone());
        let response = match auth {
            Some(a) if a.transaction_id == req.transaction_id.as_bytes() => {
                match a.smdp_oid.as_deref().map(Oid::from_contents) {
                    Some(Ok(smdp_oid)) => {
                        let signed = Signed::new(EuiccCancelSessionSigned {
                            transaction_id: req.transaction_id.clone(),
                            smdp_oid,
                            reason: req.reason,
                        });
                        let sig = self.sign(signed.raw());
                        self.state.session = None;
                        *self.bpp = None;
                        CancelSessionResponse::Ok(CancelSessionResponseOk {
                            euicc_cancel_session_signed: signed,
                            euicc_cancel_session_signature: sig,
                        })
                    }
                    _ => CancelSessionResponse::Error(CancelSessionError::UNDEFINED_ERROR),
                }
            }
            _ => CancelSessionResponse::Error(CancelSessionError::INVALID_TRANSACTION_ID),
        };
        Ok(response.encode())
    }
}

/// Rebuilds otSK.EUICC.ECKA from the session.
pub(super) fn ot_private_key(prepared: &PreparedSession, curve: Curve) -> Option<PrivateKey> {
    let scalar = Zeroizing::new(prepared.ot_sk.clone());
    PrivateKey::from_scalar(curve, &scalar).ok()
}

/// PK.DPpb.ECDSA of the session's binding certificate.
pub(super) fn dppb_key(prepared: &PreparedSession) -> Option<(PublicKey, Certificate)> {
    let cert = Certificate::from_der(&prepared.dppb_cert).ok()?;
    Some((cert.public_key().clone(), cert))
}
