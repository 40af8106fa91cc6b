//! EC key pairs on P-256 / brainpoolP256r1: ECDSA-SHA256 (RFC 6979 deterministic nonces) and
//! ECKA-DH (BSI TR-03111 §4.3.1: the shared secret is the x-coordinate of d·Q).

use crate::{sig, Curve, PkiError};
use bp256::BrainpoolP256r1;
use const_oid::ObjectIdentifier;
use ecdsa::signature::Verifier;
use elliptic_curve::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use elliptic_curve::sec1::ToSec1Point;
use elliptic_curve::Generate;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use tlv::{Tag, Tlv, Writer};
use zeroize::Zeroizing;

type BpPublic = elliptic_curve::PublicKey<BrainpoolP256r1>;
type BpSecret = elliptic_curve::SecretKey<BrainpoolP256r1>;

/// id-ecPublicKey, RFC 5480 §2.1.1.
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// An EC public key on one of the two RSP curves.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Pub);

#[derive(Clone, PartialEq, Eq)]
enum Pub {
    P256(p256::PublicKey),
    Bp256(BpPublic),
}

/// An EC private key on one of the two RSP curves. The scalar is zeroized on drop and never
/// printed.
#[derive(Clone)]
pub struct PrivateKey(Sec);

#[derive(Clone)]
enum Sec {
    P256(p256::SecretKey),
    Bp256(BpSecret),
}

impl PublicKey {
    /// Parses an uncompressed SEC1 point `04 || X || Y` (65 bytes), rejecting points that are not
    /// on `curve`.
    pub fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.len() != 65 || bytes.first() != Some(&0x04) {
            return Err(PkiError::InvalidPoint);
        }
        let inner = match curve {
            Curve::NistP256 => Pub::P256(
                p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| PkiError::InvalidPoint)?,
            ),
            Curve::BrainpoolP256r1 => {
                Pub::Bp256(BpPublic::from_sec1_bytes(bytes).map_err(|_| PkiError::InvalidPoint)?)
            }
        };
        Ok(PublicKey(inner))
    }

    /// Parses a DER SubjectPublicKeyInfo with id-ecPublicKey and a namedCurve parameter.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PkiError> {
        let spki = Tlv::parse_expecting(der, Tag::SEQUENCE)?;
        let mut rd = spki.reader();
        let alg = rd.expect(Tag::SEQUENCE)?;
        let bits = rd.expect(Tag::BIT_STRING)?;
        rd.finish()?;
        let mut ard = alg.reader();
        let alg_oid = oid_from(ard.expect(Tag::OID)?.value)?;
        if alg_oid != OID_EC_PUBLIC_KEY {
            return Err(PkiError::UnsupportedCurve(alg_oid.to_string()));
        }
        let params = ard
            .next()?
            .ok_or_else(|| malformed("EC parameters missing"))?;
        params
            .expect_tag(Tag::OID)
            .map_err(|_| PkiError::UnsupportedCurve("explicit EC parameters".into()))?;
        ard.finish()?;
        let curve_oid = oid_from(params.value)?;
        let curve = Curve::from_oid(&curve_oid)
            .ok_or_else(|| PkiError::UnsupportedCurve(curve_oid.to_string()))?;
        match bits.value.split_first() {
            Some((0, point)) => PublicKey::from_sec1(curve, point),
            _ => Err(PkiError::InvalidPoint),
        }
    }

    /// DER SubjectPublicKeyInfo (id-ecPublicKey, namedCurve, uncompressed point).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut point = vec![0u8];
        point.extend_from_slice(&self.to_uncompressed());
        let mut w = Writer::new();
        w.nested(Tag::SEQUENCE, |w| {
            w.nested(Tag::SEQUENCE, |w| {
                w.put(Tag::OID, OID_EC_PUBLIC_KEY.as_bytes());
                w.put(Tag::OID, self.curve().oid().as_bytes());
            });
            w.put(Tag::BIT_STRING, &point);
        });
        w.into_vec()
    }

    /// Uncompressed SEC1 encoding `04 || X || Y` (65 bytes), as carried e.g. in
    /// otPK.EUICC.ECKA / otPK.DP.ECKA (SGP.22 §5.5).
    pub fn to_uncompressed(&self) -> Vec<u8> {
        match &self.0 {
            Pub::P256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
            Pub::Bp256(k) => k.to_sec1_point(false).as_bytes().to_vec(),
        }
    }

    pub fn curve(&self) -> Curve {
        match self.0 {
            Pub::P256(_) => Curve::NistP256,
            Pub::Bp256(_) => Curve::BrainpoolP256r1,
        }
    }

    /// Verifies an ECDSA-SHA256 signature in TR-03111 plain format (64 bytes `r || s`).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        let bad = |_| PkiError::BadSignature;
        match &self.0 {
            // P-256 through ring's constant-time nistz256 code, several times faster than the
            // generic arithmetic (the SM-DP+ verifies five signatures per download). Same
            // checks: 64-byte r || s with 0 < r, s < n, SHA-256 digest, point on the curve.
            Pub::P256(k) => ring::signature::UnparsedPublicKey::new(
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                k.to_sec1_point(false).as_bytes(),
            )
            .verify(msg, signature)
            .map_err(|_| PkiError::BadSignature),
            Pub::Bp256(k) => {
                let sig =
                    ecdsa::Signature::<BrainpoolP256r1>::from_slice(signature).map_err(bad)?;
                ecdsa::VerifyingKey::<BrainpoolP256r1>::from(k)
                    .verify(msg, &sig)
                    .map_err(bad)
            }
        }
    }

    /// Verifies an ECDSA-SHA256 signature in DER `Ecdsa-Sig-Value` format (X.509).
    pub fn verify_der(&self, msg: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        self.verify(msg, &sig::der_to_plain(signature)?)
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "PublicKey({}, {})",
            self.curve(),
            hex::encode(self.to_uncompressed())
        )
    }
}

impl PrivateKey {
    /// Generates a fresh key pair with the injected RNG.
    pub fn generate<R: CryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Self {
        PrivateKey(match curve {
            Curve::NistP256 => Sec::P256(p256::SecretKey::generate_from_rng(rng)),
            Curve::BrainpoolP256r1 => Sec::Bp256(BpSecret::generate_from_rng(rng)),
        })
    }

    /// Builds a key from its 32-byte big-endian scalar (1 ≤ d < n).
    pub fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self, PkiError> {
        if scalar.len() != 32 {
            return Err(PkiError::InvalidKey);
        }
        Ok(PrivateKey(match curve {
            Curve::NistP256 => {
                Sec::P256(p256::SecretKey::from_slice(scalar).map_err(|_| PkiError::InvalidKey)?)
            }
            Curve::BrainpoolP256r1 => {
                Sec::Bp256(BpSecret::from_slice(scalar).map_err(|_| PkiError::InvalidKey)?)
            }
        }))
    }

    /// The 32-byte big-endian scalar.
    pub fn to_scalar(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.0 {
            Sec::P256(k) => out.copy_from_slice(&Zeroizing::new(k.to_bytes())),
            Sec::Bp256(k) => out.copy_from_slice(&Zeroizing::new(k.to_bytes())),
        }
        out
    }

    /// Reads a PEM private key: SEC1 `EC PRIVATE KEY` (optionally preceded by an
    /// `EC PARAMETERS` block, as in the SGP.26 files) or PKCS#8 `PRIVATE KEY`, on either curve.
    /// The curve comes from the key's own parameters.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        for label in ["EC PRIVATE KEY", "PRIVATE KEY"] {
            let Some(block) = pem_block(pem, label) else {
                continue;
            };
            let (_, der) = der::pem::decode_vec(block.as_bytes())
                .map_err(|e| PkiError::Malformed(format!("PEM: {e}")))?;
            let der = Zeroizing::new(der);
            return if label == "PRIVATE KEY" {
                PrivateKey::from_pkcs8_der(&der)
            } else {
                PrivateKey::from_sec1_der(&der)
            };
        }
        Err(malformed("no EC PRIVATE KEY or PRIVATE KEY PEM block"))
    }

    /// SEC1 `ECPrivateKey` DER (RFC 5915) carrying its namedCurve parameter.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, PkiError> {
        // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING,
        //                             parameters [0] ECParameters OPTIONAL, publicKey [1] ... }
        let seq = Tlv::parse_expecting(der, Tag::SEQUENCE)?;
        let mut rd = seq.reader();
        rd.expect(Tag::INTEGER)?;
        rd.expect(Tag::OCTET_STRING)?;
        let params = rd
            .optional(Tag::context_constructed(0))?
            .ok_or_else(|| malformed("SEC1 key without curve parameters"))?;
        let oid = oid_from(Tlv::parse_expecting(params.value, Tag::OID)?.value)?;
        let key_err = |_| PkiError::InvalidKey;
        Ok(PrivateKey(match curve_of(&oid)? {
            Curve::NistP256 => Sec::P256(p256::SecretKey::from_sec1_der(der).map_err(key_err)?),
            Curve::BrainpoolP256r1 => Sec::Bp256(BpSecret::from_sec1_der(der).map_err(key_err)?),
        }))
    }

    /// PKCS#8 `PrivateKeyInfo` DER (RFC 5208 / RFC 5915 §3).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let seq = Tlv::parse_expecting(der, Tag::SEQUENCE)?;
        let mut rd = seq.reader();
        rd.expect(Tag::INTEGER)?;
        let alg = rd.expect(Tag::SEQUENCE)?;
        let mut ard = alg.reader();
        let alg_oid = oid_from(ard.expect(Tag::OID)?.value)?;
        if alg_oid != OID_EC_PUBLIC_KEY {
            return Err(PkiError::UnsupportedCurve(alg_oid.to_string()));
        }
        let oid = oid_from(ard.expect(Tag::OID)?.value)?;
        let key_err = |_| PkiError::InvalidKey;
        Ok(PrivateKey(match curve_of(&oid)? {
            Curve::NistP256 => Sec::P256(p256::SecretKey::from_pkcs8_der(der).map_err(key_err)?),
            Curve::BrainpoolP256r1 => Sec::Bp256(BpSecret::from_pkcs8_der(der).map_err(key_err)?),
        }))
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), LF line endings.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let pem = match &self.0 {
            Sec::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            Sec::Bp256(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        // Encoding a valid in-memory key cannot fail (fixed-size fields only).
        pem.unwrap_or_default()
    }

    pub fn curve(&self) -> Curve {
        match self.0 {
            Sec::P256(_) => Curve::NistP256,
            Sec::Bp256(_) => Curve::BrainpoolP256r1,
        }
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            Sec::P256(k) => Pub::P256(k.public_key()),
            Sec::Bp256(k) => Pub::Bp256(k.public_key()),
        })
    }

    /// ECDSA with SHA-256 over `msg`, deterministic nonce (RFC 6979), returned in BSI TR-03111
    /// plain format `r || s` as used in the SGP.22 messages (e.g. euiccSignature1, serverSignature1).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        // The RFC 6979 signature `ecdsa::SigningKey::sign` gives (same digest, same nonce, no
        // added data), computed from the scalar alone: building a SigningKey would first derive
        // the public key, one more scalar multiplication per signature.
        let z = Sha256::digest(msg);
        match &self.0 {
            Sec::P256(k) => {
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, Sha256>(
                    &k.to_nonzero_scalar(),
                    &z,
                    &[],
                );
                sig.to_bytes().into()
            }
            Sec::Bp256(k) => {
                let (sig, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<BrainpoolP256r1, Sha256>(
                    &k.to_nonzero_scalar(),
                    &z,
                    &[],
                );
                sig.to_bytes().into()
            }
        }
    }

    /// ECDSA with SHA-256, DER `Ecdsa-Sig-Value` (the X.509 signature format).
    pub fn sign_der(&self, msg: &[u8]) -> Vec<u8> {
        let plain = self.sign(msg);
        // 64 bytes in, so the conversion cannot fail.
        sig::plain_to_der(&plain).unwrap_or_default()
    }

    /// ECKA-DH (BSI TR-03111 §4.3.1, SGP.22 §2.6.6): the shared secret ShS is the x-coordinate of
    /// d·Q_peer. The peer key must be on the same curve; its point was validated when parsed.
    pub fn ecka(&self, peer: &PublicKey) -> Result<Zeroizing<[u8; 32]>, PkiError> {
        let mut out = Zeroizing::new([0u8; 32]);
        match (&self.0, &peer.0) {
            (Sec::P256(d), Pub::P256(q)) => {
                let ss = elliptic_curve::ecdh::diffie_hellman(d.to_nonzero_scalar(), q.as_affine());
                out.copy_from_slice(ss.raw_secret_bytes());
            }
            (Sec::Bp256(d), Pub::Bp256(q)) => {
                let ss = elliptic_curve::ecdh::diffie_hellman(d.to_nonzero_scalar(), q.as_affine());
                out.copy_from_slice(ss.raw_secret_bytes());
            }
            _ => return Err(PkiError::CurveMismatch),
        }
        Ok(out)
    }
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.curve())
    }
}

/// Finds `-----BEGIN {label}-----` ... `-----END {label}-----` in a text holding several blocks.
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    text.get(start..stop)
}

pub(crate) fn oid_from(bytes: &[u8]) -> Result<ObjectIdentifier, PkiError> {
    ObjectIdentifier::from_bytes(bytes).map_err(|e| PkiError::Malformed(format!("OID: {e}")))
}

fn curve_of(oid: &ObjectIdentifier) -> Result<Curve, PkiError> {
    Curve::from_oid(oid).ok_or_else(|| PkiError::UnsupportedCurve(oid.to_string()))
}

fn malformed(what: &str) -> PkiError {
    PkiError::Malformed(what.to_string())
}
