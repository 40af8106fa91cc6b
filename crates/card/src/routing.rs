//! Containers, the alias registry and AID routing.
//!
//! The card hosts isolated containers ([`ContainerId`]): the telecom container (ISD-R, the
//! ISD-Ps and the enabled profile's UICC file system) and the GlobalPlatform container (its
//! ISD, SSDs and application instances). A SELECT by AID resolves as follows:
//!
//! 1. A *common AID* (one listed in the [`AliasRegistry`], e.g. `A000000151000000`) goes
//!    `pairing[protocol] → container → alias → entity`. An unmapped protocol, pairing data that
//!    fails its integrity check, or a container without an alias for it: `6A82`. Routing never
//!    falls back to another container.
//! 2. Any other AID resolves in the container that owns it, whatever the protocol.
//!
//! GlobalPlatform entities are selectable only in a life cycle state that allows it (GP CS
//! v2.3.1 §5.3: not INSTALLED, not LOCKED; nothing but the ISD while the card is
//! CARD_LOCKED): otherwise SELECT answers `6A82`, as for an unknown AID.

use serde::{Deserialize, Serialize};

/// The GlobalPlatform ISD AID (GP Card Specification v2.3.1 §H.1.3, `A000000151000000`); also
/// the common AID that reaches the ISD-R on the ISO/IEC 7816-3 protocols.
pub const GP_ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

/// A container. The one-byte codes are those of the pairing table (see [`crate::pairing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerId {
    /// The telecom container: ISD-R, ISD-Ps, the UICC/USIM of the enabled profile. Code `01`.
    Telecom,
    /// The GlobalPlatform container: ISD and SSDs. Code `02`.
    GlobalPlatform,
}

impl ContainerId {
    pub const ALL: [ContainerId; 2] = [ContainerId::Telecom, ContainerId::GlobalPlatform];

    pub fn code(self) -> u8 {
        match self {
            ContainerId::Telecom => 0x01,
            ContainerId::GlobalPlatform => 0x02,
        }
    }

    pub fn from_code(code: u8) -> Option<ContainerId> {
        ContainerId::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// One common AID and the real AID it stands for in each container that has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub common: Vec<u8>,
    pub targets: Vec<(ContainerId, Vec<u8>)>,
}

/// Maps common AIDs to a real AID in each container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRegistry {
    aliases: Vec<Alias>,
}

impl Default for AliasRegistry {
    /// `A000000151000000`: the GP ISD in the GlobalPlatform container, the ISD-R
    /// (`A0000005591010FFFFFFFF8900000100`, SGP.22 §2.2.3) in the telecom container.
    fn default() -> Self {
        AliasRegistry {
            aliases: vec![Alias {
                common: GP_ISD_AID.to_vec(),
                targets: vec![
                    (ContainerId::Telecom, apdu::ISD_R_AID.to_vec()),
                    (ContainerId::GlobalPlatform, GP_ISD_AID.to_vec()),
                ],
            }],
        }
    }
}

impl AliasRegistry {
    /// A registry with exactly `aliases` (no defaults).
    pub fn new(aliases: Vec<Alias>) -> Self {
        AliasRegistry { aliases }
    }

    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    /// The common AID `df_name` designates: an exact match, or a right-truncated (partial) DF
    /// name of at least 5 bytes (ISO/IEC 7816-4 §11.2.2, the RID).
    pub fn common_for(&self, df_name: &[u8]) -> Option<&Alias> {
        self.aliases
            .iter()
            .find(|a| a.common == df_name)
            .or_else(|| {
                self.aliases
                    .iter()
                    .find(|a| df_name.len() >= 5 && a.common.starts_with(df_name))
            })
    }
}

impl Alias {
    /// The real AID in `container`, if it has one.
    pub fn target(&self, container: ContainerId) -> Option<&[u8]> {
        self.targets
            .iter()
            .find(|(c, _)| *c == container)
            .map(|(_, aid)| aid.as_slice())
    }
}

/// True when `df_name` selects `aid`: equal, or a right-truncated DF name of at least 5 bytes.
pub(crate) fn df_name_matches(aid: &[u8], df_name: &[u8]) -> bool {
    aid == df_name || (df_name.len() >= 5 && aid.starts_with(df_name))
}
