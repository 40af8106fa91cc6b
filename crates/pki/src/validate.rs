//! RSP certificate path validation (SGP.22 v2.2.2 §4.5.2.2), pure: the caller supplies the
//! trusted CI certificates and the current time.

use crate::{oid, Certificate, Curve, PkiError, PublicKey, RspRole};

/// What a verified eUICC certificate chain establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccIdentity {
    /// The EID (32 decimal digits) from the eUICC certificate's subject serialNumber.
    pub eid: String,
    /// PK.EUICC.ECDSA.
    pub public_key: PublicKey,
    /// subjectKeyIdentifier of the CI the chain ends in.
    pub ci_pkid: Vec<u8>,
    pub curve: Curve,
}

/// Verifies CERT.EUICC.ECDSA ← CERT.EUM.ECDSA ← one of `trusted_cis` at time `now` (unix seconds).
///
/// Checks: the CI is trusted (matched by the EUM's authorityKeyIdentifier), signatures, issuer
/// names and key identifiers, policies (roles), keyUsage / basicConstraints, unknown critical
/// extensions, validity of all three certificates, one curve throughout, and that the EID lies
/// in the EUM's permitted range (nameConstraints / permittedEins).
pub fn verify_euicc_chain(
    trusted_cis: &[Certificate],
    eum: &Certificate,
    euicc: &Certificate,
    now: u64,
) -> Result<EuiccIdentity, PkiError> {
    euicc_chain(trusted_cis, eum, euicc, now, None)
}

/// Remembers which EUM certificates were found signed by which CI, so a server that sees the
/// same few EUMs on every download checks that signature once. Only the signature is
/// remembered: validity dates, roles, key usage, names and the eUICC certificate are checked
/// on every call. Keyed by the exact bytes of (CI public key, EUM certificate DER), compared
/// in full (hashing a ~600-byte certificate with SHA-256 on every request cost more than the
/// lookup needs); bounded (it starts over when full).
#[derive(Debug, Default)]
pub struct EumSignatureCache {
    verified: std::sync::Mutex<std::collections::HashSet<Vec<u8>>>,
}

/// Entries [`EumSignatureCache`] keeps before starting over (EUMs are few; this bounds memory
/// against a peer sending many distinct ones).
const EUM_CACHE_ENTRIES: usize = 1024;

impl EumSignatureCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// `len(PK.CI) || PK.CI || EUM certificate DER`: unambiguous, compared in full.
    fn key(eum: &Certificate, ci: &Certificate) -> Vec<u8> {
        let ci_key = ci.public_key().to_uncompressed();
        let mut k = Vec::with_capacity(4 + ci_key.len() + eum.der().len());
        k.extend_from_slice(&(ci_key.len() as u32).to_be_bytes());
        k.extend_from_slice(&ci_key);
        k.extend_from_slice(eum.der());
        k
    }

    /// The EUM's signature by `ci`: remembered, or verified now (and remembered if valid).
    fn check(&self, eum: &Certificate, ci: &Certificate) -> Result<(), PkiError> {
        let key = Self::key(eum, ci);
        let known = |v: &std::collections::HashSet<Vec<u8>>| v.contains(&key);
        if self.verified.lock().map(|v| known(&v)).unwrap_or(false) {
            return Ok(());
        }
        check_issued_by(eum, ci, RspRole::Eum)?;
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= EUM_CACHE_ENTRIES {
                v.clear();
            }
            v.insert(key);
        }
        Ok(())
    }

    /// How many EUM signatures are remembered.
    pub fn len(&self) -> usize {
        self.verified.lock().map(|v| v.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`verify_euicc_chain`] with the EUM's signature by the CI checked through `cache`: every
/// other check runs as in [`verify_euicc_chain`], and the result is the same.
pub fn verify_euicc_chain_cached(
    trusted_cis: &[Certificate],
    eum: &Certificate,
    euicc: &Certificate,
    now: u64,
    cache: &EumSignatureCache,
) -> Result<EuiccIdentity, PkiError> {
    euicc_chain(trusted_cis, eum, euicc, now, Some(cache))
}

fn euicc_chain(
    trusted_cis: &[Certificate],
    eum: &Certificate,
    euicc: &Certificate,
    now: u64,
    cache: Option<&EumSignatureCache>,
) -> Result<EuiccIdentity, PkiError> {
    let ci = find_ci(trusted_cis, eum)?;
    check_ca(ci, RspRole::Ci, now)?;
    if eum.curve() != ci.curve() || euicc.curve() != ci.curve() {
        return Err(PkiError::CurveMismatch);
    }

    match cache {
        Some(cache) => {
            check_names(eum, ci, RspRole::Eum)?;
            cache.check(eum, ci)?;
        }
        None => check_issued_by(eum, ci, RspRole::Eum)?,
    }
    check_ca(eum, RspRole::Eum, now)?;

    check_issued_by(euicc, eum, RspRole::Euicc)?;
    check_end_entity(euicc, RspRole::Euicc, now)?;

    let eid = euicc
        .subject()
        .serial_number()
        .ok_or_else(|| PkiError::Malformed("eUICC certificate without EID".into()))?;
    if eid.len() != 32 || !eid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PkiError::Malformed(format!("EID {eid:?} is not 32 digits")));
    }
    check_eid_permitted(eum, euicc, eid)?;

    Ok(EuiccIdentity {
        eid: eid.to_string(),
        public_key: euicc.public_key().clone(),
        ci_pkid: ci.subject_key_id().unwrap_or_default().to_vec(),
        curve: euicc.curve(),
    })
}

/// Verifies an SM-DP+ (or SM-DS) certificate issued directly by one of `trusted_cis` for `role`
/// (e.g. [`RspRole::DpAuth`], [`RspRole::DpPb`], [`RspRole::DpTls`]) and returns its public key.
/// TLS roles must also carry extendedKeyUsage id-kp-serverAuth.
pub fn verify_dp_certificate(
    trusted_cis: &[Certificate],
    cert: &Certificate,
    role: RspRole,
    now: u64,
) -> Result<PublicKey, PkiError> {
    if role.is_ca() || role == RspRole::Euicc {
        return Err(PkiError::WrongRole {
            expected: role,
            found: cert.role(),
        });
    }
    let ci = find_ci(trusted_cis, cert)?;
    check_ca(ci, RspRole::Ci, now)?;
    if cert.curve() != ci.curve() {
        return Err(PkiError::CurveMismatch);
    }
    check_issued_by(cert, ci, role)?;
    check_end_entity(cert, role, now)?;
    if role.is_tls() && !cert.extended_key_usage().contains(&oid::KP_SERVER_AUTH) {
        return Err(PkiError::KeyUsage(role));
    }
    Ok(cert.public_key().clone())
}

/// The trusted CI whose subjectKeyIdentifier equals the certificate's authorityKeyIdentifier
/// (SGP.22 §4.5.2.2: path building by SKI/AKI).
fn find_ci<'a>(
    trusted: &'a [Certificate],
    cert: &Certificate,
) -> Result<&'a Certificate, PkiError> {
    let aki = cert.authority_key_id().ok_or(PkiError::UnknownCi)?;
    trusted
        .iter()
        .find(|ci| ci.subject_key_id() == Some(aki))
        .ok_or(PkiError::UnknownCi)
}

/// `cert` (playing `role`) chains to `issuer`: key identifier, issuer name and signature.
/// The issuer name and key identifier of `cert` are those of `issuer`.
fn check_names(cert: &Certificate, issuer: &Certificate, role: RspRole) -> Result<(), PkiError> {
    if cert.authority_key_id().is_none()
        || cert.authority_key_id() != issuer.subject_key_id()
        || cert.issuer().der() != issuer.subject().der()
    {
        return Err(PkiError::IssuerMismatch(role));
    }
    Ok(())
}

fn check_issued_by(
    cert: &Certificate,
    issuer: &Certificate,
    role: RspRole,
) -> Result<(), PkiError> {
    check_names(cert, issuer, role)?;
    cert.verify_signed_by(issuer.public_key())
        .map_err(|e| match e {
            PkiError::UnsupportedAlgorithm(a) => PkiError::UnsupportedAlgorithm(a),
            _ => PkiError::InvalidCertSignature(role),
        })
}

fn check_common(cert: &Certificate, role: RspRole, now: u64) -> Result<(), PkiError> {
    if let Some(ext) = cert.unknown_critical_extensions().first() {
        return Err(PkiError::UnsupportedCriticalExtension(ext.to_string()));
    }
    let found = cert.role();
    if found != Some(role) {
        return Err(PkiError::WrongRole {
            expected: role,
            found,
        });
    }
    if now < cert.not_before() {
        return Err(PkiError::NotYetValid(role));
    }
    if now > cert.not_after() {
        return Err(PkiError::Expired(role));
    }
    Ok(())
}

/// CI / EUM: keyCertSign and basicConstraints cA=TRUE (SGP.22 §4.5.2.1.0.1, §4.5.2.1.0.2).
fn check_ca(cert: &Certificate, role: RspRole, now: u64) -> Result<(), PkiError> {
    check_common(cert, role, now)?;
    let ku_ok = cert.key_usage().is_some_and(|k| k.key_cert_sign);
    let bc_ok = cert.basic_constraints().is_some_and(|b| b.ca);
    if !ku_ok || !bc_ok {
        return Err(PkiError::KeyUsage(role));
    }
    Ok(())
}

/// End entities: digitalSignature, and not a CA.
fn check_end_entity(cert: &Certificate, role: RspRole, now: u64) -> Result<(), PkiError> {
    check_common(cert, role, now)?;
    let ku_ok = cert
        .key_usage()
        .is_some_and(|k| k.digital_signature && !k.key_cert_sign);
    let not_ca = cert.basic_constraints().is_none_or(|b| !b.ca);
    if !ku_ok || !not_ca {
        return Err(PkiError::KeyUsage(role));
    }
    Ok(())
}

/// SGP.22 §4.5.2.1.0.2 / §4.5.2.2: the EUM's nameConstraints permit a directoryName
/// (O = EUM organisation, serialNumber = EID prefix / IIN); the eUICC subject must carry the same
/// organisation and an EID starting with that prefix. SGP.22 v3 EUMs may instead list prefixes
/// in the permittedEins extension. An EUM certificate with neither is rejected.
fn check_eid_permitted(eum: &Certificate, euicc: &Certificate, eid: &str) -> Result<(), PkiError> {
    let subject = euicc.subject();
    let by_name = eum.permitted_names().iter().any(|c| {
        !c.attributes().is_empty()
            && c.attributes().iter().all(|(attr, value)| {
                if *attr == oid::AT_SERIAL_NUMBER {
                    eid.starts_with(value.as_str())
                } else {
                    subject.get(attr) == Some(value.as_str())
                }
            })
    });
    let by_eins = eum
        .permitted_eins()
        .iter()
        .any(|p| eid.starts_with(p.as_str()));
    if by_name || by_eins {
        Ok(())
    } else {
        Err(PkiError::EidOutOfRange(eid.to_string()))
    }
}
