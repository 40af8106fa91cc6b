//! Interfaces and protocol identifiers.
//!
//! Every command enters the card through an [`Interface`]. The transport that delivers it tags
//! it with the [`Protocol`] it arrived over; the card never derives the protocol from the APDU.
//! Each interface keeps its own logical channels, selections and pending responses, and a
//! response leaves on the interface its command came in on (see [`crate::Card::process_on`]).
//! T=0 and T=1 are the two transmission protocols of the one ISO/IEC 7816-3 contact interface.

use std::fmt;

/// Protocol identifier of a command, set by the transport. The one-byte codes are those of
/// the pairing table (see [`crate::pairing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// ISO/IEC 7816-3 T=0 (character protocol).
    T0,
    /// ISO/IEC 7816-3 T=1 (block protocol).
    T1,
    /// SWP (ETSI TS 102 613) contactless type A (CLT, ISO/IEC 14443-4 type A).
    SwpTypeA,
    /// SWP (ETSI TS 102 613) contactless type B (ISO/IEC 14443-4 type B).
    SwpTypeB,
    /// HCI APDU gate (ETSI TS 102 622 §12, APDU application gate).
    HciApduGate,
    /// SPI (GlobalPlatform/ eSE SPI link).
    Spi,
    /// A proprietary device interface.
    Proprietary,
}

impl Protocol {
    /// Every protocol, in code order.
    pub const ALL: [Protocol; 7] = [
        Protocol::T0,
        Protocol::T1,
        Protocol::SwpTypeA,
        Protocol::SwpTypeB,
        Protocol::HciApduGate,
        Protocol::Spi,
        Protocol::Proprietary,
    ];

    /// The pairing-table code: `01` T=0, `02` T=1, `03` SWP type A, `04` SWP type B,
    /// `05` HCI APDU gate, `06` SPI, `07` proprietary.
    pub fn code(self) -> u8 {
        match self {
            Protocol::T0 => 0x01,
            Protocol::T1 => 0x02,
            Protocol::SwpTypeA => 0x03,
            Protocol::SwpTypeB => 0x04,
            Protocol::HciApduGate => 0x05,
            Protocol::Spi => 0x06,
            Protocol::Proprietary => 0x07,
        }
    }

    pub fn from_code(code: u8) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.code() == code)
    }

    /// True for the ISO/IEC 7816-3 transmission protocols (T=0, T=1).
    pub fn is_iso7816_3(self) -> bool {
        matches!(self, Protocol::T0 | Protocol::T1)
    }

    /// The interface this protocol runs on.
    pub fn interface(self) -> Interface {
        match self {
            Protocol::T0 | Protocol::T1 => Interface::Contact,
            Protocol::SwpTypeA => Interface::SwpTypeA,
            Protocol::SwpTypeB => Interface::SwpTypeB,
            Protocol::HciApduGate => Interface::HciApduGate,
            Protocol::Spi => Interface::Spi,
            Protocol::Proprietary => Interface::Proprietary,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::T0 => "T=0",
            Protocol::T1 => "T=1",
            Protocol::SwpTypeA => "SWP type A",
            Protocol::SwpTypeB => "SWP type B",
            Protocol::HciApduGate => "HCI APDU gate",
            Protocol::Spi => "SPI",
            Protocol::Proprietary => "proprietary",
        })
    }
}

/// A physical/logical interface of the card. Each has its own session state (logical channels
/// 0–19, selections, pending GET RESPONSE data, STORE DATA chains), and its own reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Interface {
    /// ISO/IEC 7816-3 contacts (T=0 or T=1).
    #[default]
    Contact,
    SwpTypeA,
    SwpTypeB,
    HciApduGate,
    Spi,
    Proprietary,
}

impl Interface {
    pub const ALL: [Interface; 6] = [
        Interface::Contact,
        Interface::SwpTypeA,
        Interface::SwpTypeB,
        Interface::HciApduGate,
        Interface::Spi,
        Interface::Proprietary,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Interface::Contact => 0,
            Interface::SwpTypeA => 1,
            Interface::SwpTypeB => 2,
            Interface::HciApduGate => 3,
            Interface::Spi => 4,
            Interface::Proprietary => 5,
        }
    }
}
