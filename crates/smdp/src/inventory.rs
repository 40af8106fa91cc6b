//! Profile inventory preparation (sans-I/O): an unprotected profile package (TCA SAIP) as a
//! template, personalized per profile with its ICCID, IMSI and fresh K/OPc, sealed for storage
//! as a [`NewProfile`]. ICCIDs carry the Luhn check digit of ITU-T E.118 / ISO/IEC 7812-1.

use rand_core::CryptoRng;
use saip::{AlgorithmId, Personalization, ProfilePackage};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::ids::Iccid;
use crate::order::NewProfile;
use crate::seal::KeyStore;
use crate::session::package_aad;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("profile package: {0}")]
    Package(#[from] saip::SaipError),
    #[error("the package header has no profileType: give one")]
    NoProfileType,
    #[error("{0}")]
    Numbering(String),
    #[error("sealing: {0}")]
    Seal(#[from] crate::seal::SealError),
}

/// The Luhn check digit for `body` (decimal digits), or `None` if `body` is not all digits.
pub fn luhn_check_digit(body: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in body.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(c - b'0');
        // Double every second digit from the right, starting with the rightmost body digit.
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// `value + n` in decimal with the same number of digits, or `None` on overflow.
fn add_fixed_width(value: &str, n: u64) -> Option<String> {
    let v: u128 = value.parse().ok()?;
    let s = format!(
        "{:0width$}",
        v.checked_add(u128::from(n))?,
        width = value.len()
    );
    (s.len() == value.len()).then_some(s)
}

/// `count` consecutive ICCIDs from `start` (19 or 20 digits with a valid check digit), each
/// with its own check digit.
pub fn iccid_sequence(start: &str, count: u32) -> Result<Vec<String>, InventoryError> {
    let numbering = InventoryError::Numbering;
    if !(19..=20).contains(&start.len()) || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(numbering(
            "the first ICCID must be 19 or 20 decimal digits".into(),
        ));
    }
    let (body, check) = start.split_at(start.len() - 1);
    let expected = luhn_check_digit(body).unwrap_or(0);
    if check != expected.to_string() {
        return Err(numbering(format!(
            "ICCID {start}: the Luhn check digit should be {expected}"
        )));
    }
    (0..u64::from(count))
        .map(|i| {
            let b = add_fixed_width(body, i).ok_or_else(|| {
                numbering(format!("the ICCID range overflows after {i} profiles"))
            })?;
            let c = luhn_check_digit(&b).unwrap_or(0);
            Ok(format!("{b}{c}"))
        })
        .collect()
}

/// `count` consecutive IMSIs from `start`; MCC and the first two MNC digits never change.
pub fn imsi_sequence(start: &str, count: u32) -> Result<Vec<String>, InventoryError> {
    let numbering = InventoryError::Numbering;
    if !(6..=15).contains(&start.len()) || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(numbering(
            "the first IMSI must be 6 to 15 decimal digits".into(),
        ));
    }
    let out = (0..u64::from(count))
        .map(|i| {
            add_fixed_width(start, i).ok_or_else(|| numbering("the IMSI range overflows".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(last) = out.last() {
        if last.get(..5) != start.get(..5) {
            return Err(numbering(format!(
                "IMSI range {start} + {count} would change the MCC/MNC"
            )));
        }
    }
    Ok(out)
}

/// A profile ready for [`crate::SmdpStore::insert_profiles`], with the subscriber keys it was
/// personalized with (for the operator's HSS/AuC; empty when the package has no AKA element).
pub struct PreparedProfile {
    pub profile: NewProfile,
    pub k: Zeroizing<Vec<u8>>,
    pub opc: Zeroizing<Vec<u8>>,
}

/// A template package and the inventory attributes its profiles share.
#[derive(Clone)]
pub struct ProfileTemplate {
    package: ProfilePackage,
    pub profile_type: String,
    pub owner: Option<String>,
    /// The metadata the SM-DP+ turns into the StoreMetadataRequest: `serviceProviderName`,
    /// `profileName`, `profileClass` ("operational", "test" or "provisioning").
    pub metadata: Value,
}

impl ProfileTemplate {
    /// `profile_type` defaults to the package header's profileType.
    pub fn new(
        package_der: &[u8],
        profile_type: Option<String>,
        metadata: Value,
    ) -> Result<Self, InventoryError> {
        let package = ProfilePackage::parse(package_der)?;
        let profile_type = match (profile_type, package.profile_type()) {
            (Some(t), _) => t,
            (None, Some(t)) if !t.is_empty() => t.to_string(),
            _ => return Err(InventoryError::NoProfileType),
        };
        Ok(ProfileTemplate {
            package,
            profile_type,
            owner: None,
            metadata,
        })
    }

    /// The AKA algorithm of the template, if it has one.
    fn algorithm(&self) -> Option<AlgorithmId> {
        self.package
            .aka()
            .and_then(|a| a.algo())
            .map(|a| a.algorithm)
    }

    /// Personalizes one copy (ICCID in the header and EF.ICCID, IMSI in EF.IMSI, fresh K/OPc in
    /// the AKA parameters) and seals it under [`package_aad`] of its ICCID.
    pub fn prepare(
        &self,
        iccid: &str,
        imsi: &str,
        keystore: &impl KeyStore,
        rng: &mut impl CryptoRng,
    ) -> Result<PreparedProfile, InventoryError> {
        let algo = self.algorithm();
        // TUAK uses a 256-bit TOPc (TS 35.231), Milenage a 128-bit OPc (TS 35.206); K is 128 bits.
        let opc_len = match algo {
            Some(AlgorithmId::Tuak) => 32,
            Some(_) => 16,
            None => 0,
        };
        let mut k = Zeroizing::new(vec![0u8; if algo.is_some() { 16 } else { 0 }]);
        let mut opc = Zeroizing::new(vec![0u8; opc_len]);
        rng.fill_bytes(&mut k);
        rng.fill_bytes(&mut opc);
        let mut package = self.package.clone();
        package.personalize(&Personalization {
            iccid: Some(iccid.to_string()),
            imsi: Some(imsi.to_string()),
            k: algo.map(|_| k.clone()),
            opc: algo.map(|_| opc.clone()),
        })?;
        let upp = Zeroizing::new(package.encode());
        let id = Iccid::parse(iccid).map_err(|e| InventoryError::Numbering(e.to_string()))?;
        let sealed = keystore.seal(&package_aad(&id), &upp, rng)?;
        Ok(PreparedProfile {
            profile: NewProfile {
                iccid: id,
                imsi: Some(imsi.to_string()),
                profile_type: self.profile_type.clone(),
                owner: self.owner.clone(),
                package: sealed,
                metadata: self.metadata.clone(),
            },
            k,
            opc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        // ISO/IEC 7812-1 Annex B example: 7992739871 -> 3.
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert_eq!(luhn_check_digit("79927x"), None);
        // The TS.48 test profile ICCID 8949449999999990023 carries a valid check digit.
        assert_eq!(luhn_check_digit("894944999999999002"), Some(3));
    }

    #[test]
    fn sequences() {
        let iccids = iccid_sequence("8949449999999990023", 3).unwrap();
        assert_eq!(iccids[0], "8949449999999990023");
        assert!(iccids.iter().all(|i| {
            let (b, c) = i.split_at(i.len() - 1);
            luhn_check_digit(b).unwrap().to_string() == c
        }));
        assert!(iccid_sequence("8949449999999990024", 1).is_err());
        assert!(iccid_sequence("99999999999999999997", 3).is_err());
        assert_eq!(
            imsi_sequence("001010000000009", 2).unwrap(),
            ["001010000000009", "001010000000010"]
        );
        assert!(imsi_sequence("001019999999999", 2).is_err());
        assert!(imsi_sequence("12345", 1).is_err());
    }
}
