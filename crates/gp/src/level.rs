//! Security levels and the secure-messaging class byte coding.

use std::fmt;

use crate::error::{GpError, Result};

/// Security level of a secure channel session, as coded in P1 of EXTERNAL AUTHENTICATE
/// (GP CS v2.3.1 Table E-11 for SCP02, Amd D Table 7-3 for SCP03).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SecurityLevel(u8);

impl SecurityLevel {
    pub const NO_SECURE_MESSAGING: SecurityLevel = SecurityLevel(0x00);
    pub const C_MAC: SecurityLevel = SecurityLevel(0x01);
    pub const C_DEC_C_MAC: SecurityLevel = SecurityLevel(0x03);
    pub const C_MAC_R_MAC: SecurityLevel = SecurityLevel(0x11);
    pub const C_DEC_C_MAC_R_MAC: SecurityLevel = SecurityLevel(0x13);
    pub const C_DEC_R_ENC_C_MAC_R_MAC: SecurityLevel = SecurityLevel(0x33);

    const C_MAC_BIT: u8 = 0x01;
    const C_DEC_BIT: u8 = 0x02;
    const R_MAC_BIT: u8 = 0x10;
    const R_ENC_BIT: u8 = 0x20;

    /// Parses P1 of EXTERNAL AUTHENTICATE; only the combinations the specifications list are
    /// accepted (`6A86` otherwise).
    pub fn from_p1(p1: u8) -> Result<SecurityLevel> {
        match p1 {
            0x00 | 0x01 | 0x03 | 0x11 | 0x13 | 0x33 => Ok(SecurityLevel(p1)),
            _ => Err(GpError::IncorrectP1P2("security level not supported")),
        }
    }

    pub fn p1(self) -> u8 {
        self.0
    }

    pub fn c_mac(self) -> bool {
        self.0 & Self::C_MAC_BIT != 0
    }

    pub fn c_decryption(self) -> bool {
        self.0 & Self::C_DEC_BIT != 0
    }

    pub fn r_mac(self) -> bool {
        self.0 & Self::R_MAC_BIT != 0
    }

    pub fn r_encryption(self) -> bool {
        self.0 & Self::R_ENC_BIT != 0
    }
}

impl fmt::Debug for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecurityLevel({:#04x})", self.0)
    }
}

/// Does `cla` indicate GlobalPlatform secure messaging (GP CS v2.3.1 §11.1.4: bit 3 for
/// channels 0-3, bit 6 for channels 4-19)?
pub(crate) fn has_sm(cla: u8) -> bool {
    match cla {
        0x00..=0x3F | 0x80..=0xBF => cla & 0x04 != 0,
        _ => cla & 0x20 != 0,
    }
}

/// `cla` with the secure messaging indication set.
pub(crate) fn set_sm(cla: u8) -> u8 {
    match cla {
        0x00..=0x3F | 0x80..=0xBF => cla | 0x04,
        _ => cla | 0x20,
    }
}

/// `cla` with the secure messaging indication cleared.
pub(crate) fn clear_sm(cla: u8) -> u8 {
    match cla {
        0x00..=0x3F | 0x80..=0xBF => cla & !0x0C,
        _ => cla & !0x20,
    }
}

/// The class byte that enters the C-MAC (Amd D §6.2.4): logical channel number zero, bit 4
/// cleared, bit 3 set; the proprietary-class bit 8 and the chaining bit 5 are kept.
pub(crate) fn mac_cla(cla: u8) -> u8 {
    (cla & 0x80) | (cla & 0x10) | 0x04
}
