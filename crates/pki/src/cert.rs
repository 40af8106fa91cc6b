//! X.509 certificates of the RSP PKI (SGP.22 v2.2.2 §4.5.2), parsed once into the fields the RSP
//! checks need. The exact DER is kept: it is what goes on the wire (e.g. euiccCertificate,
//! serverCertificate) and what the signature covers.

use crate::{oid, Oid, PkiError, PublicKey, RspRole};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tagged};
use tlv::{Tag, Tlv};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints as X509BasicConstraints, CertificatePolicies,
    ExtendedKeyUsage, KeyUsage as X509KeyUsage, NameConstraints, SubjectKeyIdentifier,
};

pub(crate) const EXT_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
pub(crate) const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
pub(crate) const EXT_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
pub(crate) const EXT_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
pub(crate) const EXT_NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
pub(crate) const EXT_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
pub(crate) const EXT_CERT_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
pub(crate) const EXT_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
pub(crate) const EXT_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// A distinguished name, flattened to its attributes in order (string values only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    der: Vec<u8>,
    attrs: Vec<(ObjectIdentifier, String)>,
}

impl Name {
    fn from_x509(name: &x509_cert::name::Name) -> Result<Self, PkiError> {
        let der = name.to_der()?;
        let mut attrs = Vec::new();
        for atv in name.iter() {
            // PrintableString, UTF8String, IA5String, TeletexString carry text we can compare.
            let text = match atv.value.tag() {
                der::Tag::PrintableString
                | der::Tag::Utf8String
                | der::Tag::Ia5String
                | der::Tag::TeletexString => String::from_utf8(atv.value.value().to_vec()).ok(),
                _ => None,
            };
            if let Some(text) = text {
                attrs.push((atv.oid, text));
            }
        }
        Ok(Name { der, attrs })
    }

    /// The DER `Name` (RDNSequence) exactly as in the certificate.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn attributes(&self) -> &[(ObjectIdentifier, String)] {
        &self.attrs
    }

    /// First attribute value of the given type.
    pub fn get(&self, attr: &ObjectIdentifier) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(o, _)| o == attr)
            .map(|(_, v)| v.as_str())
    }

    pub fn common_name(&self) -> Option<&str> {
        self.get(&oid::AT_COMMON_NAME)
    }

    pub fn organization(&self) -> Option<&str> {
        self.get(&oid::AT_ORGANIZATION)
    }

    /// X.520 serialNumber: the EID in an eUICC certificate subject (SGP.22 §4.5.2.1.0.3), the
    /// permitted EID prefix in an EUM name constraint (§4.5.2.1.0.2).
    pub fn serial_number(&self) -> Option<&str> {
        self.get(&oid::AT_SERIAL_NUMBER)
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (o, v)) in self.attrs.iter().enumerate() {
            let key = match *o {
                oid::AT_COMMON_NAME => "CN".to_string(),
                oid::AT_SERIAL_NUMBER => "serialNumber".to_string(),
                oid::AT_COUNTRY => "C".to_string(),
                oid::AT_ORGANIZATION => "O".to_string(),
                oid::AT_ORGANIZATIONAL_UNIT => "OU".to_string(),
                other => other.to_string(),
            };
            write!(f, "{}{key}={v}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// keyUsage bits (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    pub digital_signature: bool,
    pub key_agreement: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

/// basicConstraints (RFC 5280 §4.2.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u8>,
}

/// A parsed RSP X.509 certificate.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    tbs: core::ops::Range<usize>,
    signature: Vec<u8>,
    signature_oid: ObjectIdentifier,
    serial: Vec<u8>,
    issuer: Name,
    subject: Name,
    not_before: u64,
    not_after: u64,
    public_key: PublicKey,
    subject_key_id: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    policies: Vec<ObjectIdentifier>,
    key_usage: Option<KeyUsage>,
    basic_constraints: Option<BasicConstraints>,
    extended_key_usage: Vec<ObjectIdentifier>,
    dns_names: Vec<String>,
    registered_ids: Vec<Oid>,
    permitted_names: Vec<Name>,
    permitted_eins: Vec<String>,
    unknown_critical: Vec<ObjectIdentifier>,
}

impl Certificate {
    /// Parses a DER certificate. Only EC keys on P-256 / brainpoolP256r1 are accepted.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let cert = x509_cert::Certificate::from_der(der)?;
        // Locate the exact TBSCertificate bytes: the signature covers them, not a re-encoding.
        let outer = Tlv::parse_expecting(der, Tag::SEQUENCE)?;
        let tbs_raw = outer.reader().expect(Tag::SEQUENCE)?.raw;
        let start = tbs_raw.as_ptr() as usize - der.as_ptr() as usize;
        let tbs_range = start..start + tbs_raw.len();

        let tbs = cert.tbs_certificate();
        let signature_oid = cert.signature_algorithm().oid;
        if tbs.signature().oid != signature_oid {
            return Err(PkiError::Malformed("signature algorithm mismatch".into()));
        }
        let signature = cert
            .signature()
            .as_bytes()
            .ok_or_else(|| PkiError::Malformed("signature has unused bits".into()))?
            .to_vec();
        let public_key = PublicKey::from_spki_der(&tbs.subject_public_key_info().to_der()?)?;
        let validity = tbs.validity();

        let mut c = Certificate {
            der: der.to_vec(),
            tbs: tbs_range,
            signature,
            signature_oid,
            serial: tbs.serial_number().as_bytes().to_vec(),
            issuer: Name::from_x509(tbs.issuer())?,
            subject: Name::from_x509(tbs.subject())?,
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            public_key,
            subject_key_id: None,
            authority_key_id: None,
            policies: Vec::new(),
            key_usage: None,
            basic_constraints: None,
            extended_key_usage: Vec::new(),
            dns_names: Vec::new(),
            registered_ids: Vec::new(),
            permitted_names: Vec::new(),
            permitted_eins: Vec::new(),
            unknown_critical: Vec::new(),
        };

        let mut seen: Vec<ObjectIdentifier> = Vec::new();
        for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
            if seen.contains(&ext.extn_id) {
                // RFC 5280 §4.2: a certificate MUST NOT include more than one instance.
                return Err(PkiError::Malformed(format!(
                    "duplicate extension {}",
                    ext.extn_id
                )));
            }
            seen.push(ext.extn_id);
            c.apply_extension(ext.extn_id, ext.critical, ext.extn_value.as_bytes())?;
        }
        Ok(c)
    }

    /// Parses a PEM (`-----BEGIN CERTIFICATE-----`) certificate.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| PkiError::Malformed(format!("PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(PkiError::Malformed(format!("PEM label {label}")));
        }
        Certificate::from_der(&der)
    }

    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
    pub fn to_pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, self.der())
            .unwrap_or_default()
    }

    fn apply_extension(
        &mut self,
        id: ObjectIdentifier,
        critical: bool,
        value: &[u8],
    ) -> Result<(), PkiError> {
        match id {
            EXT_SKI => {
                self.subject_key_id = Some(
                    SubjectKeyIdentifier::from_der(value)?
                        .0
                        .into_bytes()
                        .into_vec(),
                )
            }
            EXT_AKI => {
                self.authority_key_id = AuthorityKeyIdentifier::from_der(value)?
                    .key_identifier
                    .map(|k| k.into_bytes().into_vec());
            }
            EXT_KEY_USAGE => {
                let ku = X509KeyUsage::from_der(value)?;
                self.key_usage = Some(KeyUsage {
                    digital_signature: ku.digital_signature(),
                    key_agreement: ku.key_agreement(),
                    key_cert_sign: ku.key_cert_sign(),
                    crl_sign: ku.crl_sign(),
                });
            }
            EXT_BASIC_CONSTRAINTS => {
                let bc = X509BasicConstraints::from_der(value)?;
                self.basic_constraints = Some(BasicConstraints {
                    ca: bc.ca,
                    path_len: bc.path_len_constraint,
                });
            }
            EXT_CERT_POLICIES => {
                self.policies = CertificatePolicies::from_der(value)?
                    .0
                    .iter()
                    .map(|p| p.policy_identifier)
                    .collect();
            }
            EXT_EKU => self.extended_key_usage = ExtendedKeyUsage::from_der(value)?.0,
            EXT_SAN => {
                // Decoded by hand: registeredID may be an OID like 2.999.10 (see `Oid`).
                let seq = Tlv::parse_expecting(value, Tag::SEQUENCE)?;
                let mut rd = seq.reader();
                while let Some(name) = rd.next()? {
                    if name.tag == Tag::context(2) {
                        let dns = core::str::from_utf8(name.value)
                            .map_err(|_| PkiError::Malformed("dNSName".into()))?;
                        self.dns_names.push(dns.to_string());
                    } else if name.tag == Tag::context(8) {
                        self.registered_ids
                            .push(Oid::from_der_contents(name.value)?);
                    }
                }
            }
            EXT_NAME_CONSTRAINTS => {
                let nc = NameConstraints::from_der(value)?;
                for subtree in nc.permitted_subtrees.unwrap_or_default() {
                    match subtree.base {
                        GeneralName::DirectoryName(n) => {
                            self.permitted_names.push(Name::from_x509(&n)?)
                        }
                        _ if critical => {
                            return Err(PkiError::UnsupportedCriticalExtension(
                                "nameConstraints with non-directoryName subtree".into(),
                            ))
                        }
                        _ => {}
                    }
                }
                if nc.excluded_subtrees.is_some_and(|e| !e.is_empty()) && critical {
                    return Err(PkiError::UnsupportedCriticalExtension(
                        "nameConstraints excludedSubtrees".into(),
                    ));
                }
            }
            oid::PERMITTED_EINS => {
                // SGP.22 v3 §4.5.2.1.0.2: PermittedEins ::= SEQUENCE OF PrintableString
                let seq = Tlv::parse_expecting(value, Tag::SEQUENCE)?;
                let mut rd = seq.reader();
                while let Some(s) = rd.next()? {
                    s.expect_tag(Tag(0x13))?;
                    let ein = core::str::from_utf8(s.value)
                        .map_err(|_| PkiError::Malformed("permittedEins".into()))?;
                    self.permitted_eins.push(ein.to_string());
                }
            }
            EXT_CRL_DP => {}
            other if critical => self.unknown_critical.push(other),
            _ => {}
        }
        Ok(())
    }

    /// The certificate exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The DER TBSCertificate (the signed part).
    pub fn tbs_der(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// Serial number, big-endian two's complement as encoded.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    pub fn subject(&self) -> &Name {
        &self.subject
    }

    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// notBefore, unix seconds.
    pub fn not_before(&self) -> u64 {
        self.not_before
    }

    /// notAfter, unix seconds (99991231235959Z = 253402300799).
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    pub fn curve(&self) -> crate::Curve {
        self.public_key.curve()
    }

    /// subjectKeyIdentifier: for the CI this is the PKID used in euiccCiPKIdListForVerification /
    /// ...ForSigning (SGP.22 §4.5.2.1.0.1).
    pub fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }

    /// authorityKeyIdentifier keyIdentifier.
    pub fn authority_key_id(&self) -> Option<&[u8]> {
        self.authority_key_id.as_deref()
    }

    /// certificatePolicies policy identifiers.
    pub fn policies(&self) -> &[ObjectIdentifier] {
        &self.policies
    }

    /// The RSP role from the first id-rspRole-* policy.
    pub fn role(&self) -> Option<RspRole> {
        self.policies.iter().find_map(RspRole::from_policy_oid)
    }

    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.key_usage
    }

    pub fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.basic_constraints
    }

    pub fn extended_key_usage(&self) -> &[ObjectIdentifier] {
        &self.extended_key_usage
    }

    /// subjectAltName dNSName entries (TLS certificates).
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// subjectAltName registeredID: for CERT.DPauth/DPpb this is the SM-DP+ OID that goes into
    /// smdpOid / dpOid (SGP.22 §4.5.2.1.0.4).
    pub fn registered_id(&self) -> Option<&Oid> {
        self.registered_ids.first()
    }

    /// nameConstraints permittedSubtrees of type directoryName (EUM certificates).
    pub fn permitted_names(&self) -> &[Name] {
        &self.permitted_names
    }

    /// The EID prefixes this (EUM) certificate permits: serialNumber of each permitted
    /// directoryName (SGP.22 v2 §4.5.2.1.0.2) plus the SGP.22 v3 permittedEins extension.
    pub fn permitted_eid_prefixes(&self) -> Vec<&str> {
        self.permitted_names
            .iter()
            .filter_map(Name::serial_number)
            .chain(self.permitted_eins.iter().map(String::as_str))
            .collect()
    }

    /// SGP.22 v3 permittedEins extension entries (EID prefixes).
    pub fn permitted_eins(&self) -> &[String] {
        &self.permitted_eins
    }

    /// Critical extensions this crate does not understand (a validator must reject these).
    pub fn unknown_critical_extensions(&self) -> &[ObjectIdentifier] {
        &self.unknown_critical
    }

    /// The DER ECDSA signature value.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Verifies the certificate's ecdsa-with-SHA256 signature over its TBSCertificate.
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<(), PkiError> {
        if self.signature_oid != oid::ECDSA_WITH_SHA256 {
            return Err(PkiError::UnsupportedAlgorithm(
                self.signature_oid.to_string(),
            ));
        }
        issuer_key.verify_der(self.tbs_der(), &self.signature)
    }

    /// True if `now` (unix seconds) is inside [notBefore, notAfter].
    pub fn is_valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl core::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject.to_string())
            .field("issuer", &self.issuer.to_string())
            .field("serial", &hex::encode(&self.serial))
            .field("role", &self.role())
            .field("curve", &self.curve())
            .finish()
    }
}
