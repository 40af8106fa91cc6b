//! The eUICC's identity: EID, CERT.EUICC.ECDSA, CERT.EUM.ECDSA, SK.EUICC.ECDSA and the CI
//! certificates it trusts (SGP.22 §4.5.2).

use std::fmt;

use pki::{Certificate, PrivateKey};
use tlv::bcd::{Alphabet, Order};

use crate::CardError;

/// Identity material of one eUICC. Build it from the SGP.26 test files or from keys minted
/// with `pki::mint`; the card never reads files itself.
#[derive(Clone)]
pub struct CardIdentity {
    /// EID, 16 bytes (32 decimal digits, one per nibble).
    pub eid: [u8; 16],
    /// CERT.EUICC.ECDSA (DER).
    pub euicc_cert_der: Vec<u8>,
    /// CERT.EUM.ECDSA (DER).
    pub eum_cert_der: Vec<u8>,
    /// SK.EUICC.ECDSA.
    pub euicc_private_key: PrivateKey,
    /// Trusted CI certificates: PK.CI.ECDSA for verification (euiccCiPKIdListForVerification).
    pub trusted_cis: Vec<Certificate>,
    /// subjectKeyIdentifier of the CI that signed the EUM (euiccCiPKIdListForSigning).
    pub signing_ci_pkid: Vec<u8>,
}

impl fmt::Debug for CardIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardIdentity")
            .field("eid", &hex::encode_upper(self.eid))
            .field("trusted_cis", &self.trusted_cis.len())
            .finish_non_exhaustive()
    }
}

impl CardIdentity {
    /// Builds an identity from CERT.EUICC, CERT.EUM, SK.EUICC and the trusted CI certificates
    /// (DER). The EID comes from the eUICC certificate's subject serialNumber (SGP.22 §4.5.2.1.0.3);
    /// the private key must match the certificate's public key.
    pub fn new(
        euicc_cert_der: &[u8],
        eum_cert_der: &[u8],
        euicc_private_key: PrivateKey,
        trusted_ci_ders: &[&[u8]],
    ) -> Result<Self, CardError> {
        let euicc = Certificate::from_der(euicc_cert_der)?;
        let eum = Certificate::from_der(eum_cert_der)?;
        if euicc_private_key.public_key() != *euicc.public_key() {
            return Err(CardError::Identity(
                "SK.EUICC does not match CERT.EUICC".into(),
            ));
        }
        let eid_digits = euicc
            .subject()
            .serial_number()
            .ok_or_else(|| CardError::Identity("CERT.EUICC has no serialNumber (EID)".into()))?;
        let eid = eid_from_digits(eid_digits)?;
        let trusted_cis = trusted_ci_ders
            .iter()
            .map(|d| Certificate::from_der(d).map_err(CardError::from))
            .collect::<Result<Vec<_>, _>>()?;
        if trusted_cis.is_empty() {
            return Err(CardError::Identity("no trusted CI certificate".into()));
        }
        let signing_ci_pkid = eum
            .authority_key_id()
            .ok_or_else(|| CardError::Identity("CERT.EUM has no authorityKeyIdentifier".into()))?
            .to_vec();
        Ok(CardIdentity {
            eid,
            euicc_cert_der: euicc_cert_der.to_vec(),
            eum_cert_der: eum_cert_der.to_vec(),
            euicc_private_key,
            trusted_cis,
            signing_ci_pkid,
        })
    }

    /// The EID as 32 digits.
    pub fn eid_string(&self) -> String {
        hex::encode_upper(self.eid)
    }

    /// subjectKeyIdentifiers of the trusted CIs (euiccCiPKIdListForVerification).
    pub fn ci_pkids_for_verification(&self) -> Vec<Vec<u8>> {
        self.trusted_cis
            .iter()
            .filter_map(|c| c.subject_key_id().map(<[u8]>::to_vec))
            .collect()
    }
}

/// "89049032123451234512345678901235" → 16 bytes, one digit per nibble.
pub fn eid_from_digits(digits: &str) -> Result<[u8; 16], CardError> {
    if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::Identity(format!(
            "EID {digits:?} is not 32 digits"
        )));
    }
    let bytes = tlv::bcd::encode(digits, Order::HighFirst, Alphabet::Decimal)
        .map_err(|e| CardError::Identity(e.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| CardError::Identity("EID length".into()))
}
