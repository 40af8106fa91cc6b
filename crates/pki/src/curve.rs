use const_oid::ObjectIdentifier;

/// The two curves every SGP.22 eUICC supports (SGP.22 §2.6.5: NIST P-256 and brainpoolP256r1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 / secp256r1 / prime256v1 (FIPS 186-4).
    NistP256,
    /// brainpoolP256r1 (RFC 5639).
    BrainpoolP256r1,
}

/// prime256v1, RFC 5480 §2.1.1.1.
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// brainpoolP256r1, RFC 5639 §4.1.
const OID_BP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7");

impl Curve {
    /// Both curves, NIST first.
    pub const ALL: [Curve; 2] = [Curve::NistP256, Curve::BrainpoolP256r1];

    /// The namedCurve OID used in SubjectPublicKeyInfo / ECParameters.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::NistP256 => OID_P256,
            Curve::BrainpoolP256r1 => OID_BP256R1,
        }
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
        if *oid == OID_P256 {
            Some(Curve::NistP256)
        } else if *oid == OID_BP256R1 {
            Some(Curve::BrainpoolP256r1)
        } else {
            None
        }
    }

    /// Short tag used in SGP.26 file names (`NIST` / `BRP`).
    pub const fn sgp26_tag(self) -> &'static str {
        match self {
            Curve::NistP256 => "NIST",
            Curve::BrainpoolP256r1 => "BRP",
        }
    }
}

impl core::fmt::Display for Curve {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Curve::NistP256 => "NIST P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        })
    }
}
