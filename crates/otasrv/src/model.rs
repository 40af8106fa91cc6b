//! The service's domain: cards and key sets, catalogue items, job states, retry policy.

use std::collections::BTreeMap;

use ota::{CcKey, CipherKey, Kic, Kid, SecurityKeys, Spi};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch (time is injected, never read here).
pub type UnixMillis = i64;

/// One card's SCP80 key set (TS 102 225 §5.1.2, §5.1.3): the KIc and KID octets as they go in
/// the command header (key version + algorithm) and the two keys.
#[derive(Clone)]
pub struct KeySet {
    /// KIc (b8-b5 key version, b4-b1 algorithm).
    pub kic: Kic,
    /// The ciphering key.
    pub kic_key: Zeroizing<Vec<u8>>,
    /// KID (b8-b5 key version, b4-b1 CC algorithm).
    pub kid: Kid,
    /// The CC key.
    pub kid_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kic", &self.kic)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// A key set; checks that KIc/KID code a cipher and a CC algorithm and that the key
    /// lengths fit them.
    pub fn new(kic: Kic, kic_key: &[u8], kid: Kid, kid_key: &[u8]) -> Result<KeySet> {
        let ks = KeySet {
            kic,
            kic_key: Zeroizing::new(kic_key.to_vec()),
            kid,
            kid_key: Zeroizing::new(kid_key.to_vec()),
        };
        ks.security_keys()?;
        Ok(ks)
    }

    /// An AES key set of key version `kvn`: AES-CBC ciphering under `kic_key`, AES-CMAC under
    /// `kid_key` (TS 102 225 §5.1.2, §5.1.3).
    pub fn aes(kvn: u8, kic_key: &[u8], kid_key: &[u8]) -> Result<KeySet> {
        KeySet::new(
            Kic::new(kvn, ota::CipherAlgorithm::AesCbc),
            kic_key,
            Kid::cc(kvn, ota::CcAlgorithm::AesCmac),
            kid_key,
        )
    }

    /// The keys as the `ota` crate uses them.
    pub fn security_keys(&self) -> Result<SecurityKeys> {
        let calg = self
            .kic
            .algorithm()?
            .ok_or_else(|| Error::invalid("KIc", "codes no ciphering algorithm"))?;
        let malg = self
            .kid
            .cc_algorithm()?
            .ok_or_else(|| Error::invalid("KID", "codes no CC algorithm"))?;
        Ok(SecurityKeys {
            cipher: Some(CipherKey::new(calg, &self.kic_key)?),
            cc: Some(CcKey::new(malg, &self.kid_key)?),
            implicit_rc: None,
        })
    }
}

/// A card to import: its MSISDN (the SMS destination), optionally its ICCID, its key set and
/// the counter values the card already stores (per TAR, hex TAR → value).
#[derive(Debug, Clone)]
pub struct CardImport {
    /// MSISDN digits (international, no '+').
    pub address: String,
    /// ICCID, informative.
    pub iccid: Option<String>,
    /// The OTA key set; `None` imports the card without keys (campaigns refuse it).
    pub keys: Option<KeySet>,
    /// Counters already used on the card, per TAR: the next command uses value + 1.
    pub counters: BTreeMap<[u8; 3], u64>,
}

/// Check an MSISDN: 1 to 20 decimal digits (SMPP destination_addr of a TON 1 / NPI 1 address).
pub fn check_address(a: &str) -> Result<()> {
    if a.is_empty() || a.len() > 20 || !a.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            "address",
            format!("{a:?} is not 1-20 digits"),
        ));
    }
    Ok(())
}

/// Check the SPI of a packet the server sends: it must ask for a counter the card checks
/// (replay protection, so each packet is unique) and for a PoR (how the server learns the
/// outcome).
pub fn check_spi(spi: &Spi) -> Result<()> {
    if !spi.counter.is_checked() {
        return Err(Error::invalid(
            "SPI",
            "the counter mode must be 'higher' or 'one higher' (TS 102 225 §5.1.1)",
        ));
    }
    if spi.por != ota::PorRequest::Always {
        return Err(Error::invalid(
            "SPI",
            "a PoR must always be requested (SPI2 b2-b1 = '01')",
        ));
    }
    Ok(())
}

/// The two kinds of catalogue items (GSMA/GP practice for OTA platforms; TS 102 226 §8 for
/// what each TAR reaches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemClass {
    /// Terminal data secured under the card's OTA key set: RFM (TAR 'B00000'..'B0FFFF') or
    /// RAM of the issuer security domain (TAR '000000').
    First,
    /// A service provider's data for a supplementary security domain, already protected under
    /// that SSD's own keys; the server only carries it inside the outer SCP80 packet.
    Second,
}

/// Classify a TAR (ETSI TS 101 220 Annex D: 'B0xxxx' RFM of the UICC, '000000' the ISD; any
/// other TAR addresses an application or SSD, whose TAR is part of its AID, TS 101 220 §6).
pub fn classify_tar(tar: [u8; 3]) -> ItemClass {
    if tar[0] == 0xB0 || tar == [0, 0, 0] {
        ItemClass::First
    } else {
        ItemClass::Second
    }
}

/// A catalogue item: what to send (the secured data of the command packet: remote commands
/// for RFM/RAM in compact or expanded format, or an SP's protected blob), to which TAR, with
/// which SPI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueItem {
    /// Unique name.
    pub name: String,
    /// Target TAR.
    pub tar: [u8; 3],
    /// SPI of the command packets (TS 102 225 §5.1.1).
    pub spi: Spi,
    /// The data secured into the packet.
    pub data: Vec<u8>,
    /// First or second type, from the TAR.
    pub class: ItemClass,
}

impl CatalogueItem {
    /// An item; the class follows from the TAR. The SPI must pass [`check_spi`].
    pub fn new(name: &str, tar: [u8; 3], spi: Spi, data: Vec<u8>) -> Result<CatalogueItem> {
        if name.is_empty() || name.len() > 64 {
            return Err(Error::invalid("name", "1 to 64 characters"));
        }
        check_spi(&spi)?;
        Ok(CatalogueItem {
            name: name.to_string(),
            tar,
            spi,
            data,
            class: classify_tar(tar),
        })
    }
}

/// Where one card of a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its first attempt.
    Queued,
    /// An attempt's intent is persisted (counter allocated) and the packet handed to the SMPP
    /// link; the SMSC's acceptance is not recorded (yet, or — after a restart — in doubt).
    Submitting,
    /// The SMSC accepted the packet; waiting for the PoR.
    Sent,
    /// PoR '00' received.
    PorOk,
    /// A PoR with an error status received (final).
    PorError,
    /// The last attempt failed (refused, or no PoR in time); another follows after back-off.
    Retrying,
    /// Out of attempts (or the campaign deadline passed) without a PoR.
    Expired,
}

impl JobState {
    /// Every state, in display order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Submitting,
        JobState::Sent,
        JobState::PorOk,
        JobState::PorError,
        JobState::Retrying,
        JobState::Expired,
    ];

    /// The database / JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Submitting => "submitting",
            JobState::Sent => "sent",
            JobState::PorOk => "por_ok",
            JobState::PorError => "por_error",
            JobState::Retrying => "retrying",
            JobState::Expired => "expired",
        }
    }

    /// Parse [`JobState::as_str`].
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|j| j.as_str() == s)
    }

    /// No further transition.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::PorOk | JobState::PorError | JobState::Expired
        )
    }
}

/// Attempts, back-off and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Most attempts (packets) per card.
    pub max_attempts: u32,
    /// Back-off before attempt n+1 is `base_backoff_ms * 2^(n-1)`, capped.
    pub base_backoff_ms: i64,
    /// Back-off cap.
    pub max_backoff_ms: i64,
    /// How long to wait for the PoR after the SMSC accepted the packet.
    pub por_timeout_ms: i64,
    /// How long a submission may stay unconfirmed by the SMSC (and, after a restart, in
    /// doubt) before it counts as lost.
    pub submit_timeout_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_backoff_ms: 30_000,
            max_backoff_ms: 3_600_000,
            por_timeout_ms: 120_000,
            submit_timeout_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt after `attempts` attempts.
    pub fn backoff_ms(&self, attempts: u32) -> i64 {
        let shift = attempts.saturating_sub(1).min(30);
        self.base_backoff_ms
            .saturating_mul(1i64 << shift)
            .min(self.max_backoff_ms)
    }
}

/// Counts per state of one campaign (the JSON status).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignStatus {
    /// Campaign name.
    pub campaign: String,
    /// Catalogue item sent.
    pub item: String,
    /// Number of cards.
    pub total: u64,
    /// Count per [`JobState::as_str`] (every state present).
    pub states: BTreeMap<String, u64>,
    /// Packets submitted so far (all attempts).
    pub packets: u64,
}

impl CampaignStatus {
    /// The count of one state.
    pub fn count(&self, s: JobState) -> u64 {
        self.states.get(s.as_str()).copied().unwrap_or(0)
    }

    /// Cards in a final state.
    pub fn finished(&self) -> u64 {
        JobState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .map(|s| self.count(s))
            .sum()
    }

    /// Every card is in a final state.
    pub fn is_done(&self) -> bool {
        self.finished() == self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ota::{CcAlgorithm, CipherAlgorithm};

    #[test]
    fn classification() {
        assert_eq!(classify_tar([0xB0, 0x00, 0x01]), ItemClass::First);
        assert_eq!(classify_tar([0, 0, 0]), ItemClass::First);
        assert_eq!(classify_tar([0x53, 0x53, 0x44]), ItemClass::Second);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            base_backoff_ms: 100,
            max_backoff_ms: 350,
            ..Default::default()
        };
        assert_eq!(p.backoff_ms(1), 100);
        assert_eq!(p.backoff_ms(2), 200);
        assert_eq!(p.backoff_ms(3), 350);
        assert_eq!(p.backoff_ms(200), 350);
    }

    #[test]
    fn key_set_checks_lengths() {
        let kic = Kic::new(1, CipherAlgorithm::AesCbc);
        let kid = Kid::cc(1, CcAlgorithm::AesCmac);
        assert!(KeySet::new(kic, &[0; 16], kid, &[0; 16]).is_ok());
        assert!(KeySet::new(kic, &[0; 15], kid, &[0; 16]).is_err());
        assert!(matches!(
            KeySet::new(Kic(0x00), &[0; 16], kid, &[0; 16]),
            Err(Error::Invalid { .. }) | Err(Error::Ota(_))
        ));
    }

    #[test]
    fn item_needs_counter_and_por() {
        let mut spi = Spi::from_bytes([0x16, 0x21]).unwrap();
        assert!(CatalogueItem::new("x", [0xB0, 0, 0], spi, vec![1]).is_ok());
        spi.por = ota::PorRequest::OnError;
        assert!(CatalogueItem::new("x", [0xB0, 0, 0], spi, vec![1]).is_err());
        assert!(check_address("4912345").is_ok());
        assert!(check_address("+49").is_err());
    }

    #[test]
    fn states_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
    }
}
