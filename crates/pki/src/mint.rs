//! Minting RSP certificates shaped like the GSMA SGP.26 test PKI: same extensions, criticality,
//! policies, key usages and name constraints as the reference certificates, hand-encoded in DER.
//!
//! Time and serial numbers are parameters and keys come from an injected RNG, so a run is
//! reproducible. [`TestPki::write_to_dir`] is the only file I/O of the crate.

use crate::cert::{
    EXT_AKI, EXT_BASIC_CONSTRAINTS, EXT_CERT_POLICIES, EXT_CRL_DP, EXT_EKU, EXT_KEY_USAGE,
    EXT_NAME_CONSTRAINTS, EXT_SAN, EXT_SKI,
};
use crate::sig::der_uint;
use crate::{oid, Certificate, Curve, Oid, PkiError, PrivateKey, PublicKey, RspRole};
use const_oid::ObjectIdentifier;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use tlv::der::BitString;
use tlv::{Tag, Writer};

const TAG_PRINTABLE_STRING: Tag = Tag(0x13);
const TAG_UTC_TIME: Tag = Tag(0x17);
const TAG_GENERALIZED_TIME: Tag = Tag(0x18);

/// keyUsage bit numbers (RFC 5280 §4.2.1.3).
const KU_DIGITAL_SIGNATURE: usize = 0;
const KU_KEY_CERT_SIGN: usize = 5;
const KU_CRL_SIGN: usize = 6;

/// 9999-12-31T23:59:59Z: "no well-defined expiration date" (RFC 5280 §4.1.2.5), as used for
/// eUICC certificates.
pub const NO_EXPIRY: u64 = 253_402_300_799;

/// Attribute types for minted names. C and serialNumber are PrintableString, the others
/// UTF8String, as in the SGP.26 certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnAttr {
    C,
    O,
    OU,
    CN,
    SerialNumber,
}

/// Which SGP.22 §4.5.2.1.0.x certificate profile to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile<'a> {
    /// CERT.CI.ECDSA (self-signed).
    Ci,
    /// CERT.EUM.ECDSA, permitted to issue eUICC certificates whose EID starts with `eid_prefix`
    /// (nameConstraints directoryName O = subject's O, serialNumber = prefix).
    Eum { eid_prefix: &'a str },
    /// CERT.EUICC.ECDSA (subject carries serialNumber = EID).
    Euicc,
    /// CERT.DPauth.ECDSA.
    DpAuth,
    /// CERT.DPpb.ECDSA.
    DpPb,
    /// CERT.DP.TLS for `dns_name`.
    DpTls { dns_name: &'a str },
}

impl Profile<'_> {
    pub fn role(&self) -> RspRole {
        match self {
            Profile::Ci => RspRole::Ci,
            Profile::Eum { .. } => RspRole::Eum,
            Profile::Euicc => RspRole::Euicc,
            Profile::DpAuth => RspRole::DpAuth,
            Profile::DpPb => RspRole::DpPb,
            Profile::DpTls { .. } => RspRole::DpTls,
        }
    }
}

/// Everything about a certificate to mint except keys.
#[derive(Debug, Clone)]
pub struct CertRequest<'a> {
    pub profile: Profile<'a>,
    pub subject: &'a [(DnAttr, &'a str)],
    /// Unsigned big-endian serial number.
    pub serial: &'a [u8],
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds ([`NO_EXPIRY`] for 99991231235959Z).
    pub not_after: u64,
    /// subjectAltName registeredID (SGP.26: CI 2.999.1, EUM 2.999.5, SM-DP+ 2.999.10).
    pub registered_id: Option<Oid>,
    /// CRL distribution point URIs (one DistributionPoint each).
    pub crl_urls: &'a [&'a str],
}

/// Mints a self-signed CI certificate.
pub fn self_signed_ci(req: &CertRequest<'_>, key: &PrivateKey) -> Result<Certificate, PkiError> {
    if req.profile != Profile::Ci {
        return Err(PkiError::Malformed(
            "self-signed certificates are CI certificates".into(),
        ));
    }
    let subject = encode_name(req.subject);
    let public = key.public_key();
    let ski = key_id(&public);
    build(req, &subject, &subject, &public, &ski, None, key)
}

/// Mints a certificate for `subject_key`, signed by `issuer_key` under `issuer` (CI or EUM).
/// All keys must be on the issuer's curve (SGP.22 §4.5.2.2).
pub fn issue(
    req: &CertRequest<'_>,
    subject_key: &PublicKey,
    issuer: &Certificate,
    issuer_key: &PrivateKey,
) -> Result<Certificate, PkiError> {
    if req.profile == Profile::Ci {
        return Err(PkiError::Malformed(
            "CI certificates are self-signed".into(),
        ));
    }
    if issuer_key.public_key() != *issuer.public_key() {
        return Err(PkiError::Malformed(
            "issuer key does not match issuer certificate".into(),
        ));
    }
    if subject_key.curve() != issuer.curve() {
        return Err(PkiError::CurveMismatch);
    }
    let aki = issuer.subject_key_id().ok_or_else(|| {
        PkiError::Malformed("issuer certificate has no subjectKeyIdentifier".into())
    })?;
    let ski = key_id(subject_key);
    let subject = encode_name(req.subject);
    build(
        req,
        issuer.subject().der(),
        &subject,
        subject_key,
        &ski,
        Some(aki),
        issuer_key,
    )
}

/// subjectKeyIdentifier: leftmost 160 bits of SHA-256 over the subjectPublicKey bits
/// (RFC 7093 §2, method 1).
pub fn key_id(key: &PublicKey) -> Vec<u8> {
    Sha256::digest(key.to_uncompressed())
        .get(..20)
        .unwrap_or_default()
        .to_vec()
}

fn build(
    req: &CertRequest<'_>,
    issuer_name: &[u8],
    subject_name: &[u8],
    subject_key: &PublicKey,
    ski: &[u8],
    aki: Option<&[u8]>,
    signer: &PrivateKey,
) -> Result<Certificate, PkiError> {
    let extensions = extensions(req, ski, aki)?;
    build_tbs_and_sign(
        req.serial,
        req.not_before,
        req.not_after,
        issuer_name,
        subject_name,
        subject_key,
        &extensions,
        signer,
    )
}

/// Encodes a v3 TBSCertificate with `extensions` (each a DER Extension) and signs it.
#[allow(clippy::too_many_arguments)]
fn build_tbs_and_sign(
    serial: &[u8],
    not_before: u64,
    not_after: u64,
    issuer_name: &[u8],
    subject_name: &[u8],
    subject_key: &PublicKey,
    extensions: &[Vec<u8>],
    signer: &PrivateKey,
) -> Result<Certificate, PkiError> {
    let (nb_tag, nb) = encode_time(not_before)?;
    let (na_tag, na) = encode_time(not_after)?;
    let mut tbs = Writer::new();
    tbs.nested(Tag::SEQUENCE, |w| {
        // version [0] EXPLICIT v3(2)
        w.nested(Tag::context_constructed(0), |w| {
            w.put(Tag::INTEGER, &[2]);
        });
        w.put(Tag::INTEGER, &der_uint(serial));
        put_signature_algorithm(w);
        w.raw(issuer_name);
        w.nested(Tag::SEQUENCE, |w| {
            w.put(nb_tag, &nb);
            w.put(na_tag, &na);
        });
        w.raw(subject_name);
        w.raw(&subject_key.to_spki_der());
        w.nested(Tag::context_constructed(3), |w| {
            w.nested(Tag::SEQUENCE, |w| {
                for ext in extensions {
                    w.raw(ext);
                }
            });
        });
    });
    let tbs = tbs.into_vec();
    let mut signature = vec![0u8];
    signature.extend_from_slice(&signer.sign_der(&tbs));
    let mut cert = Writer::new();
    cert.nested(Tag::SEQUENCE, |w| {
        w.raw(&tbs);
        put_signature_algorithm(w);
        w.put(Tag::BIT_STRING, &signature);
    });
    Certificate::from_der(cert.as_bytes())
}

fn put_signature_algorithm(w: &mut Writer) {
    // ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2).
    w.nested(Tag::SEQUENCE, |w| {
        w.put(Tag::OID, oid::ECDSA_WITH_SHA256.as_bytes());
    });
}

/// The extensions of each SGP.26 profile, in the SGP.26 order and criticality.
fn extensions(
    req: &CertRequest<'_>,
    ski: &[u8],
    aki: Option<&[u8]>,
) -> Result<Vec<Vec<u8>>, PkiError> {
    let role = req.profile.role();
    let ski_ext = ext(EXT_SKI, false, &tlv::encode_tlv(Tag::OCTET_STRING, ski));
    let aki_ext = aki.map(|id| {
        ext(
            EXT_AKI,
            false,
            &tlv::encode_tlv(Tag::SEQUENCE, &tlv::encode_tlv(Tag::context(0), id)),
        )
    });
    let policy_critical = role != RspRole::DpTls;
    let policies = ext(EXT_CERT_POLICIES, policy_critical, &{
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            w.nested(Tag::SEQUENCE, |w| {
                w.put(Tag::OID, role.policy_oid().as_bytes());
            });
        });
        w.into_vec()
    });
    let key_usage = |bits: &[usize]| {
        ext(
            EXT_KEY_USAGE,
            true,
            &tlv::encode_tlv(Tag::BIT_STRING, &BitString::from_bits(bits).encode()),
        )
    };
    let san = |dns: Option<&str>| -> Option<Vec<u8>> {
        if dns.is_none() && req.registered_id.is_none() {
            return None;
        }
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            if let Some(d) = dns {
                w.put(Tag::context(2), d.as_bytes());
            }
            if let Some(rid) = &req.registered_id {
                w.put(Tag::context(8), rid.as_bytes());
            }
        });
        Some(ext(EXT_SAN, false, w.as_bytes()))
    };
    let crl_dp = (!req.crl_urls.is_empty()).then(|| {
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            for url in req.crl_urls {
                // DistributionPoint { distributionPoint [0] { fullName [0] { URI [6] } } }
                w.nested(Tag::SEQUENCE, |w| {
                    w.nested(Tag::context_constructed(0), |w| {
                        w.nested(Tag::context_constructed(0), |w| {
                            w.put(Tag::context(6), url.as_bytes());
                        });
                    });
                });
            }
        });
        ext(EXT_CRL_DP, false, w.as_bytes())
    });
    let basic_constraints = |path_len: Option<u64>| {
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            w.put(Tag::BOOLEAN, &[0xFF]);
            if let Some(n) = path_len {
                w.put(Tag::INTEGER, &tlv::der::encode_uint(n));
            }
        });
        ext(EXT_BASIC_CONSTRAINTS, true, w.as_bytes())
    };

    let mut out = Vec::new();
    match req.profile {
        Profile::Ci => {
            out.push(ski_ext);
            out.push(basic_constraints(None));
            out.push(policies);
            out.push(key_usage(&[KU_KEY_CERT_SIGN, KU_CRL_SIGN]));
            out.extend(san(None));
            out.extend(crl_dp);
        }
        Profile::Eum { eid_prefix } => {
            if eid_prefix.is_empty() || !eid_prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PkiError::Malformed(format!("EID prefix {eid_prefix:?}")));
            }
            out.extend(aki_ext);
            out.push(ski_ext);
            out.push(key_usage(&[KU_KEY_CERT_SIGN]));
            out.push(policies);
            out.extend(san(None));
            out.push(basic_constraints(Some(0)));
            out.extend(crl_dp);
            // nameConstraints { permittedSubtrees [0] { GeneralSubtree { directoryName [4] Name } } }
            let org = req
                .subject
                .iter()
                .find(|(a, _)| *a == DnAttr::O)
                .map(|(_, v)| *v);
            let mut constraint: Vec<(DnAttr, &str)> =
                org.map(|o| (DnAttr::O, o)).into_iter().collect();
            constraint.push((DnAttr::SerialNumber, eid_prefix));
            let mut w = Writer::new();
            w.nested(Tag::SEQUENCE, |w| {
                w.nested(Tag::context_constructed(0), |w| {
                    w.nested(Tag::SEQUENCE, |w| {
                        w.put(Tag::context_constructed(4), &encode_name(&constraint));
                    });
                });
            });
            out.push(ext(EXT_NAME_CONSTRAINTS, true, w.as_bytes()));
        }
        Profile::Euicc => {
            out.extend(aki_ext);
            out.push(ski_ext);
            out.push(key_usage(&[KU_DIGITAL_SIGNATURE]));
            out.push(policies);
        }
        Profile::DpAuth | Profile::DpPb => {
            out.extend(aki_ext);
            out.push(ski_ext);
            out.extend(san(None));
            out.push(key_usage(&[KU_DIGITAL_SIGNATURE]));
            out.push(policies);
            out.extend(crl_dp);
        }
        Profile::DpTls { dns_name } => {
            if dns_name.is_empty() || !dns_name.is_ascii() {
                return Err(PkiError::Malformed(format!("DNS name {dns_name:?}")));
            }
            out.push(key_usage(&[KU_DIGITAL_SIGNATURE]));
            let mut eku = Writer::new();
            eku.nested(Tag::SEQUENCE, |w| {
                w.put(Tag::OID, oid::KP_SERVER_AUTH.as_bytes());
                w.put(Tag::OID, oid::KP_CLIENT_AUTH.as_bytes());
            });
            out.push(ext(EXT_EKU, true, eku.as_bytes()));
            out.push(policies);
            out.push(ski_ext);
            out.extend(aki_ext);
            out.extend(san(Some(dns_name)));
            out.extend(crl_dp);
        }
    }
    Ok(out)
}

/// Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
fn ext(id: ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag::SEQUENCE, |w| {
        w.put(Tag::OID, id.as_bytes());
        if critical {
            w.put(Tag::BOOLEAN, &[0xFF]);
        }
        w.put(Tag::OCTET_STRING, value);
    });
    w.into_vec()
}

/// RDNSequence with one attribute per RDN, in the given order.
fn encode_name(attrs: &[(DnAttr, &str)]) -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag::SEQUENCE, |w| {
        for (attr, value) in attrs {
            let (oid, tag) = match attr {
                DnAttr::C => (oid::AT_COUNTRY, TAG_PRINTABLE_STRING),
                DnAttr::O => (oid::AT_ORGANIZATION, Tag::UTF8_STRING),
                DnAttr::OU => (oid::AT_ORGANIZATIONAL_UNIT, Tag::UTF8_STRING),
                DnAttr::CN => (oid::AT_COMMON_NAME, Tag::UTF8_STRING),
                DnAttr::SerialNumber => (oid::AT_SERIAL_NUMBER, TAG_PRINTABLE_STRING),
            };
            w.nested(Tag::SET, |w| {
                w.nested(Tag::SEQUENCE, |w| {
                    w.put(Tag::OID, oid.as_bytes());
                    w.put(tag, value.as_bytes());
                });
            });
        }
    });
    w.into_vec()
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
fn encode_time(unix: u64) -> Result<(Tag, Vec<u8>), PkiError> {
    let dt = der::DateTime::from_unix_duration(core::time::Duration::from_secs(unix))?;
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    );
    let year = dt.year();
    Ok(if (1950..2050).contains(&year) {
        (
            TAG_UTC_TIME,
            format!("{:02}{rest}", year % 100).into_bytes(),
        )
    } else {
        (
            TAG_GENERALIZED_TIME,
            format!("{year:04}{rest}").into_bytes(),
        )
    })
}

/// Which plain TLS certificate profile (RFC 5280 / RFC 5246 §7.4.6) to mint. These sit outside
/// the GSMA RSP PKI: SGP.22 §2.6.5 leaves the ES2+ (Operator ↔ SM-DP+) mutual-TLS PKI to the
/// two parties, so Operator CAs and their client certificates are ordinary X.509 without RSP
/// certificate policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProfile {
    /// A CA: basicConstraints cA=TRUE (critical), keyUsage keyCertSign + cRLSign (critical).
    Ca,
    /// A TLS client: keyUsage digitalSignature, extendedKeyUsage id-kp-clientAuth.
    Client,
    /// A TLS server: keyUsage digitalSignature, extendedKeyUsage id-kp-serverAuth.
    Server,
}

/// A plain TLS certificate to mint (see [`TlsProfile`]).
#[derive(Debug, Clone)]
pub struct TlsCertRequest<'a> {
    pub profile: TlsProfile,
    pub subject: &'a [(DnAttr, &'a str)],
    /// Unsigned big-endian serial number.
    pub serial: &'a [u8],
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
    /// subjectAltName dNSName entries.
    pub dns_names: &'a [&'a str],
}

/// Mints a plain TLS certificate for `subject_key`: self-signed when `issuer` is `None` (only
/// for [`TlsProfile::Ca`]), else signed by `issuer` (a CA certificate and its key).
pub fn issue_tls(
    req: &TlsCertRequest<'_>,
    subject_key: &PublicKey,
    issuer: Option<(&Certificate, &PrivateKey)>,
) -> Result<Certificate, PkiError> {
    let subject = encode_name(req.subject);
    let ski = key_id(subject_key);
    let mut exts = vec![ext(
        EXT_SKI,
        false,
        &tlv::encode_tlv(Tag::OCTET_STRING, &ski),
    )];
    let (issuer_name, signer, aki) = match issuer {
        Some((cert, key)) => {
            if key.public_key() != *cert.public_key() {
                return Err(PkiError::Malformed(
                    "issuer key does not match issuer certificate".into(),
                ));
            }
            if cert.basic_constraints().is_none_or(|b| !b.ca) {
                return Err(PkiError::Malformed("issuer is not a CA certificate".into()));
            }
            let aki = cert.subject_key_id().ok_or_else(|| {
                PkiError::Malformed("issuer certificate has no subjectKeyIdentifier".into())
            })?;
            (cert.subject().der().to_vec(), key, Some(aki.to_vec()))
        }
        None if req.profile == TlsProfile::Ca => {
            return Err(PkiError::Malformed(
                "a self-signed TLS CA needs its own private key: use issue_tls_ca".into(),
            ))
        }
        None => {
            return Err(PkiError::Malformed(
                "only CA certificates are self-signed".into(),
            ))
        }
    };
    if let Some(id) = aki {
        exts.push(ext(
            EXT_AKI,
            false,
            &tlv::encode_tlv(Tag::SEQUENCE, &tlv::encode_tlv(Tag::context(0), &id)),
        ));
    }
    exts.extend(tls_extensions(req)?);
    build_tbs_and_sign(
        req.serial,
        req.not_before,
        req.not_after,
        &issuer_name,
        &subject,
        subject_key,
        &exts,
        signer,
    )
}

/// Mints a self-signed TLS CA certificate (profile [`TlsProfile::Ca`]) for `key`.
pub fn issue_tls_ca(req: &TlsCertRequest<'_>, key: &PrivateKey) -> Result<Certificate, PkiError> {
    if req.profile != TlsProfile::Ca {
        return Err(PkiError::Malformed(
            "only CA certificates are self-signed".into(),
        ));
    }
    let subject = encode_name(req.subject);
    let public = key.public_key();
    let ski = key_id(&public);
    let mut exts = vec![ext(
        EXT_SKI,
        false,
        &tlv::encode_tlv(Tag::OCTET_STRING, &ski),
    )];
    exts.extend(tls_extensions(req)?);
    build_tbs_and_sign(
        req.serial,
        req.not_before,
        req.not_after,
        &subject,
        &subject,
        &public,
        &exts,
        key,
    )
}

fn tls_extensions(req: &TlsCertRequest<'_>) -> Result<Vec<Vec<u8>>, PkiError> {
    let key_usage = |bits: &[usize]| {
        ext(
            EXT_KEY_USAGE,
            true,
            &tlv::encode_tlv(Tag::BIT_STRING, &BitString::from_bits(bits).encode()),
        )
    };
    let eku = |purpose: &ObjectIdentifier| {
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            w.put(Tag::OID, purpose.as_bytes());
        });
        ext(EXT_EKU, false, w.as_bytes())
    };
    let mut out = Vec::new();
    match req.profile {
        TlsProfile::Ca => {
            let mut w = Writer::new();
            w.nested(Tag::SEQUENCE, |w| {
                w.put(Tag::BOOLEAN, &[0xFF]);
            });
            out.push(ext(EXT_BASIC_CONSTRAINTS, true, w.as_bytes()));
            out.push(key_usage(&[KU_KEY_CERT_SIGN, KU_CRL_SIGN]));
        }
        TlsProfile::Client => {
            out.push(key_usage(&[KU_DIGITAL_SIGNATURE]));
            out.push(eku(&oid::KP_CLIENT_AUTH));
        }
        TlsProfile::Server => {
            out.push(key_usage(&[KU_DIGITAL_SIGNATURE]));
            out.push(eku(&oid::KP_SERVER_AUTH));
        }
    }
    if !req.dns_names.is_empty() {
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            for d in req.dns_names {
                w.put(Tag::context(2), d.as_bytes());
            }
        });
        for d in req.dns_names {
            if d.is_empty() || !d.is_ascii() {
                return Err(PkiError::Malformed(format!("DNS name {d:?}")));
            }
        }
        out.push(ext(EXT_SAN, false, w.as_bytes()));
    }
    Ok(out)
}

/// A certificate with its private key.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    pub cert: Certificate,
    pub key: PrivateKey,
}

/// Serial numbers of a [`TestPki`] (unsigned big-endian). Defaults are those of SGP.26.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPkiSerials {
    pub ci: Vec<u8>,
    pub eum: Vec<u8>,
    pub euicc: Vec<u8>,
    pub dp_auth: Vec<u8>,
    pub dp_pb: Vec<u8>,
    pub dp_tls: Vec<u8>,
}

impl Default for TestPkiSerials {
    fn default() -> Self {
        TestPkiSerials {
            ci: vec![0x01],
            eum: vec![0x12, 0x34, 0x56, 0x78],
            euicc: vec![0x02, 0, 0, 0, 0, 0, 0, 0, 0x01],
            dp_auth: vec![0x01, 0x00],
            dp_pb: vec![0x01, 0x01],
            dp_tls: vec![0x09],
        }
    }
}

/// Parameters of a freshly minted test PKI.
#[derive(Debug, Clone)]
pub struct TestPkiConfig {
    pub curve: Curve,
    /// notBefore of every certificate (unix seconds).
    pub not_before: u64,
    /// notAfter of the CI and EUM certificates.
    pub ca_not_after: u64,
    /// notAfter of the DPauth / DPpb certificates.
    pub dp_not_after: u64,
    /// notAfter of the DPtls certificate.
    pub tls_not_after: u64,
    /// notAfter of the eUICC certificate.
    pub euicc_not_after: u64,
    /// EID of the eUICC certificate (32 digits).
    pub eid: String,
    /// EID prefix the EUM may issue (nameConstraints serialNumber).
    pub eid_prefix: String,
    /// Host name of the DPtls certificate.
    pub dp_tls_host: String,
    /// SM-DP+ OID (subjectAltName registeredID of DPauth / DPpb / DPtls).
    pub smdp_oid: Oid,
    pub serials: TestPkiSerials,
}

/// `2.999.n`, the example-OID arc SGP.26 uses for registeredIDs (CI 1, EUM 5, SM-DP+ 10).
fn sgp26_oid(n: u8) -> Oid {
    Oid::example_arc(n)
}

const YEAR: u64 = 365 * 86_400;

impl TestPkiConfig {
    /// SGP.26-like defaults starting at `not_before`: CI/EUM 35 years, DPauth/DPpb 10 years,
    /// DPtls 398 days, eUICC without expiry; EID 89049032123451234512345678901235 under prefix
    /// 89049032; SM-DP+ testsmdpplus1.example.com with OID 2.999.10.
    pub fn new(curve: Curve, not_before: u64) -> Self {
        TestPkiConfig {
            curve,
            not_before,
            ca_not_after: not_before + 35 * YEAR,
            dp_not_after: not_before + 10 * YEAR,
            tls_not_after: not_before + 398 * 86_400,
            euicc_not_after: NO_EXPIRY,
            eid: "89049032123451234512345678901235".into(),
            eid_prefix: "89049032".into(),
            dp_tls_host: "testsmdpplus1.example.com".into(),
            smdp_oid: sgp26_oid(10),
            serials: TestPkiSerials::default(),
        }
    }
}

/// A complete RSP test PKI: CI, EUM, one eUICC, and an SM-DP+ (auth, pb, TLS).
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ci: CertifiedKey,
    pub eum: CertifiedKey,
    pub euicc: CertifiedKey,
    pub dp_auth: CertifiedKey,
    pub dp_pb: CertifiedKey,
    pub dp_tls: CertifiedKey,
}

const CRL_URLS: [&str; 2] = [
    "http://ci.test.example.com/CRL-A.crl",
    "http://ci.test.example.com/CRL-B.crl",
];

impl TestPki {
    /// Mints a fresh CI and everything below it.
    pub fn generate<R: CryptoRng + ?Sized>(
        cfg: &TestPkiConfig,
        rng: &mut R,
    ) -> Result<Self, PkiError> {
        let key = PrivateKey::generate(cfg.curve, rng);
        let req = CertRequest {
            profile: Profile::Ci,
            subject: &[
                (DnAttr::CN, "Test CI"),
                (DnAttr::OU, "SIMKIT"),
                (DnAttr::O, "RSPTEST"),
                (DnAttr::C, "IT"),
            ],
            serial: &cfg.serials.ci,
            not_before: cfg.not_before,
            not_after: cfg.ca_not_after,
            registered_id: Some(sgp26_oid(1)),
            crl_urls: &CRL_URLS,
        };
        let cert = self_signed_ci(&req, &key)?;
        TestPki::generate_under_ci(CertifiedKey { cert, key }, cfg, rng)
    }

    /// Mints EUM, eUICC and SM-DP+ certificates under an existing CI (e.g. the SGP.26 test CI
    /// and its published private key), so they chain to a root real LPAs and eUICCs trust.
    pub fn generate_under_ci<R: CryptoRng + ?Sized>(
        ci: CertifiedKey,
        cfg: &TestPkiConfig,
        rng: &mut R,
    ) -> Result<Self, PkiError> {
        if ci.cert.curve() != cfg.curve {
            return Err(PkiError::CurveMismatch);
        }
        let s = &cfg.serials;
        let eum_key = PrivateKey::generate(cfg.curve, rng);
        let eum_subject = [
            (DnAttr::C, "ES"),
            (DnAttr::O, "RSP Test EUM"),
            (DnAttr::CN, "EUM Test"),
        ];
        let eum_req = CertRequest {
            profile: Profile::Eum {
                eid_prefix: &cfg.eid_prefix,
            },
            subject: &eum_subject,
            serial: &s.eum,
            not_before: cfg.not_before,
            not_after: cfg.ca_not_after,
            registered_id: Some(sgp26_oid(5)),
            crl_urls: &CRL_URLS[1..],
        };
        let eum = CertifiedKey {
            cert: issue(&eum_req, &eum_key.public_key(), &ci.cert, &ci.key)?,
            key: eum_key,
        };

        let euicc = mint_euicc(
            &eum,
            &cfg.eid,
            &s.euicc,
            cfg.not_before,
            cfg.euicc_not_after,
            rng,
        )?;

        let dp = |profile: Profile<'_>,
                  serial: &[u8],
                  subject: &[(DnAttr, &str)],
                  not_after,
                  rng: &mut R| {
            let key = PrivateKey::generate(cfg.curve, rng);
            let req = CertRequest {
                profile,
                subject,
                serial,
                not_before: cfg.not_before,
                not_after,
                registered_id: Some(cfg.smdp_oid.clone()),
                crl_urls: &CRL_URLS,
            };
            issue(&req, &key.public_key(), &ci.cert, &ci.key).map(|cert| CertifiedKey { cert, key })
        };
        let dp_subject = [(DnAttr::O, "ACME"), (DnAttr::CN, "TEST SM-DP+")];
        let dp_auth = dp(
            Profile::DpAuth,
            &s.dp_auth,
            &dp_subject,
            cfg.dp_not_after,
            rng,
        )?;
        let dp_pb = dp(Profile::DpPb, &s.dp_pb, &dp_subject, cfg.dp_not_after, rng)?;
        let tls_subject = [(DnAttr::O, "ACME"), (DnAttr::CN, cfg.dp_tls_host.as_str())];
        let dp_tls = dp(
            Profile::DpTls {
                dns_name: &cfg.dp_tls_host,
            },
            &s.dp_tls,
            &tls_subject,
            cfg.tls_not_after,
            rng,
        )?;
        Ok(TestPki {
            ci,
            eum,
            euicc,
            dp_auth,
            dp_pb,
            dp_tls,
        })
    }

    /// Writes `CERT_*.der` certificates and `SK_*.pem` (PKCS#8) keys named as in SGP.26, e.g.
    /// `CERT_CI_ECDSA_NIST.der`, `SK_S_SM_DPauth_ECDSA_BRP.pem`, `CERT_S_SM_DP_TLS_NIST.der`.
    /// Key files are created with mode 0600 on Unix.
    pub fn write_to_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        let tag = self.ci.cert.curve().sgp26_tag();
        let items = [
            ("CI_ECDSA", &self.ci),
            ("EUM_ECDSA", &self.eum),
            ("EUICC_ECDSA", &self.euicc),
            ("S_SM_DPauth_ECDSA", &self.dp_auth),
            ("S_SM_DPpb_ECDSA", &self.dp_pb),
            ("S_SM_DP_TLS", &self.dp_tls),
        ];
        for (name, ck) in items {
            std::fs::write(dir.join(format!("CERT_{name}_{tag}.der")), ck.cert.der())?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(dir.join(format!("SK_{name}_{tag}.pem")))?;
            f.write_all(ck.key.to_pkcs8_pem().as_bytes())?;
        }
        Ok(())
    }
}

/// Mints an eUICC certificate (and key) for `eid` under an EUM, SGP.26-style subject
/// `C=ES, O=<EUM's O>, serialNumber=EID, CN=Test eUICC`.
pub fn mint_euicc<R: CryptoRng + ?Sized>(
    eum: &CertifiedKey,
    eid: &str,
    serial: &[u8],
    not_before: u64,
    not_after: u64,
    rng: &mut R,
) -> Result<CertifiedKey, PkiError> {
    if eid.len() != 32 || !eid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PkiError::Malformed(format!("EID {eid:?} is not 32 digits")));
    }
    let key = PrivateKey::generate(eum.cert.curve(), rng);
    let org = eum.cert.subject().organization().unwrap_or("RSP Test EUM");
    let subject = [
        (DnAttr::C, "ES"),
        (DnAttr::O, org),
        (DnAttr::SerialNumber, eid),
        (DnAttr::CN, "Test eUICC"),
    ];
    let req = CertRequest {
        profile: Profile::Euicc,
        subject: &subject,
        serial,
        not_before,
        not_after,
        registered_id: None,
        crl_urls: &[],
    };
    let cert = issue(&req, &key.public_key(), &eum.cert, &eum.key)?;
    Ok(CertifiedKey { cert, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    #[test]
    fn tls_ca_and_client() {
        let mut rng = rng();
        let ca_key = PrivateKey::generate(Curve::NistP256, &mut rng);
        let ca_req = TlsCertRequest {
            profile: TlsProfile::Ca,
            subject: &[(DnAttr::O, "MNO1"), (DnAttr::CN, "MNO1 ES2+ CA")],
            serial: &[1],
            not_before: 1_700_000_000,
            not_after: 1_800_000_000,
            dns_names: &[],
        };
        let ca = issue_tls_ca(&ca_req, &ca_key).unwrap();
        assert_eq!(ca.basic_constraints().map(|b| b.ca), Some(true));
        assert_eq!(ca.subject().common_name(), Some("MNO1 ES2+ CA"));
        ca.verify_signed_by(ca.public_key()).unwrap();
        assert!(ca.role().is_none());
        assert!(ca.to_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(Certificate::from_pem(&ca.to_pem()).unwrap(), ca);

        let leaf_key = PrivateKey::generate(Curve::NistP256, &mut rng);
        let req = TlsCertRequest {
            profile: TlsProfile::Client,
            subject: &[(DnAttr::CN, "MNO1")],
            serial: &[2],
            dns_names: &["mno1.example"],
            ..ca_req.clone()
        };
        let leaf = issue_tls(&req, &leaf_key.public_key(), Some((&ca, &ca_key))).unwrap();
        leaf.verify_signed_by(ca.public_key()).unwrap();
        assert_eq!(leaf.extended_key_usage(), &[oid::KP_CLIENT_AUTH]);
        assert_eq!(leaf.dns_names(), &["mno1.example".to_string()]);
        assert_eq!(leaf.authority_key_id(), ca.subject_key_id());
        assert!(leaf.basic_constraints().is_none());

        // A leaf cannot issue, a CA is not issued without a key, the key must match.
        assert!(issue_tls(&req, &leaf_key.public_key(), Some((&leaf, &leaf_key))).is_err());
        assert!(issue_tls(&req, &leaf_key.public_key(), None).is_err());
        assert!(issue_tls(&req, &leaf_key.public_key(), Some((&ca, &leaf_key))).is_err());
        assert!(issue_tls_ca(&req, &leaf_key).is_err());
        let bad = TlsCertRequest {
            dns_names: &[""],
            ..req.clone()
        };
        assert!(issue_tls(&bad, &leaf_key.public_key(), Some((&ca, &ca_key))).is_err());
    }
}
