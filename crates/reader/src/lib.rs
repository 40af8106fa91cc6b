//! Card readers, both ways round.
//!
//! * Card side: a virtual card ([`VirtualCard`]) made reachable by real card tools.
//!   * [`vpcd`]: vsmartcard's virtual reader protocol. pcscd with the `vpcd` driver exposes a
//!     reader ("Virtual PCD 00 00") whose card is whatever answers on a TCP socket; any PC/SC
//!     application (pcsc_scan, pySim, lpac, our own `--pcsc` LPA) then talks to our card.
//!   * [`lpac`]: lpac's `stdio` APDU driver (newline-delimited JSON on the child's stdin/stdout).
//! * Host side: [`pcsc`], an `apdu::CardTransport` over PC/SC, with libpcsclite loaded at run
//!   time (nothing to link at build time, so the workspace builds without libpcsclite-dev).
//!
//! The codecs ([`vpcd::FrameDecoder`], [`lpac::parse_line`]) are sans-I/O and never panic on
//! input; the loops around them use blocking `std` I/O.

pub mod lpac;
pub mod pcsc;
pub mod vpcd;

pub use pcsc::PcscError;

/// Failure inside the card (not a status word): e.g. its state could not be persisted. The
/// card answers nothing, as a real card that lost power would not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("card fault: {0}")]
pub struct CardFault(pub String);

/// A card as a reader sees it: contacts that are powered and reset, an ATR, and APDUs.
///
/// Power off, power on and reset behave as on a real card (ISO/IEC 7816-3 §6.2): volatile
/// state (open logical channels, selected applications, pending responses) is lost, persistent
/// state stays.
pub trait VirtualCard {
    /// Cold reset after the contacts are powered; returns the ATR.
    fn power_on(&mut self) -> Result<Vec<u8>, CardFault>;
    /// Deactivation of the contacts (ISO/IEC 7816-3 §6.4).
    fn power_off(&mut self) -> Result<(), CardFault>;
    /// Warm reset; returns the ATR.
    fn reset(&mut self) -> Result<Vec<u8>, CardFault>;
    /// The ATR the card answers a reset with (no reset happens).
    fn atr(&self) -> Vec<u8>;
    /// One command APDU in, the whole response APDU (`data || SW1 SW2`) out.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardFault>;
}

impl<T: VirtualCard + ?Sized> VirtualCard for &mut T {
    fn power_on(&mut self) -> Result<Vec<u8>, CardFault> {
        (**self).power_on()
    }
    fn power_off(&mut self) -> Result<(), CardFault> {
        (**self).power_off()
    }
    fn reset(&mut self) -> Result<Vec<u8>, CardFault> {
        (**self).reset()
    }
    fn atr(&self) -> Vec<u8> {
        (**self).atr()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardFault> {
        (**self).transmit(apdu)
    }
}

/// A [`VirtualCard`] seen through the host-side `apdu::CardTransport` interface (for the
/// `apdu` helpers: MANAGE CHANNEL, SELECT, GET RESPONSE handling).
pub struct AsTransport<'a, C: ?Sized>(pub &'a mut C);

impl<C: VirtualCard + ?Sized> apdu::CardTransport for AsTransport<'_, C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        self.0
            .transmit(apdu)
            .map_err(|e| apdu::TransportError::Other(e.to_string()))
    }
}

#[cfg(test)]
pub(crate) mod testcard {
    //! A tiny scripted card for the loop tests: it counts resets and answers
    //! `00 70 00 00 01` (MANAGE CHANNEL open, ISO/IEC 7816-4 §11.1.2) with the next free
    //! channel, SELECT with `90 00` (or `6A 82` for an AID starting `FF`), and echoes anything
    //! else followed by `90 00`. Opened channels are volatile.

    use super::*;

    #[derive(Default)]
    pub struct EchoCard {
        pub resets: usize,
        pub powered: bool,
        pub channels: Vec<u8>,
        pub transmitted: usize,
        pub fail: bool,
    }

    pub const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

    impl VirtualCard for EchoCard {
        fn power_on(&mut self) -> Result<Vec<u8>, CardFault> {
            self.powered = true;
            self.resets += 1;
            self.channels.clear();
            Ok(ATR.to_vec())
        }
        fn power_off(&mut self) -> Result<(), CardFault> {
            self.powered = false;
            self.channels.clear();
            Ok(())
        }
        fn reset(&mut self) -> Result<Vec<u8>, CardFault> {
            self.power_on()
        }
        fn atr(&self) -> Vec<u8> {
            ATR.to_vec()
        }
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardFault> {
            if self.fail {
                return Err(CardFault("disk full".into()));
            }
            self.transmitted += 1;
            match apdu {
                [0x00, 0x70, 0x00, 0x00, 0x01] => {
                    let ch = (1..20u8).find(|c| !self.channels.contains(c)).unwrap_or(0);
                    self.channels.push(ch);
                    Ok(vec![ch, 0x90, 0x00])
                }
                [_, 0x70, 0x80, ch, ..] => {
                    self.channels.retain(|c| c != ch);
                    Ok(vec![0x90, 0x00])
                }
                [_, 0xA4, 0x04, _, _, 0xFF, ..] => Ok(vec![0x6A, 0x82]),
                [_, 0xA4, 0x04, ..] => Ok(vec![0x90, 0x00]),
                other => {
                    let mut r = other.to_vec();
                    r.extend_from_slice(&[0x90, 0x00]);
                    Ok(r)
                }
            }
        }
    }
}
