//! Shared test fixtures: the GSMA SGP.26 test eUICC (NIST P-256) and an in-process transport.
#![allow(dead_code, unused_imports)]

pub mod smdp;

use apdu::{CardTransport, TransportError};
use card::testing::SeededRng;
use card::{Card, CardIdentity, CardState};

pub const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{REF}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn read_str(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

/// SGP.26 eUICC `89049032123451234512345678901235` with CERT.EUICC/EUM (NIST) and both test CIs.
pub fn sgp26_identity() -> CardIdentity {
    let sk = pki::PrivateKey::from_pem(&read_str("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap();
    let ci_nist = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let ci_brp = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der");
    CardIdentity::new(
        &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
        sk,
        &[&ci_nist, &ci_brp],
    )
    .unwrap()
}

pub fn new_card(state: CardState) -> Card {
    Card::new(
        sgp26_identity(),
        state,
        Box::new(SeededRng::new(b"card tests")),
    )
}

/// A reader in front of the card: the LPA-side helpers of the `apdu` crate drive it.
pub struct Link<'a>(pub &'a mut Card);

impl CardTransport for Link<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.process(apdu))
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Opens a channel and selects the ISD-R on it, as an LPA does.
pub fn open_isdr(card: &mut Card) -> u8 {
    let mut link = Link(card);
    let ch = apdu::open_channel(&mut link).unwrap();
    apdu::select_aid(&mut link, ch, &apdu::ISD_R_AID).unwrap();
    ch
}

pub fn es10(card: &mut Card, ch: u8, request: &[u8]) -> Vec<u8> {
    apdu::es10_exchange(&mut Link(card), ch, request).unwrap()
}
