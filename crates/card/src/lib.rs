//! A virtual secure element hosting an eUICC (GSMA SGP.22 v2.2.2), sans-I/O.
//!
//! [`Card::process_on`] takes the [`Protocol`] a transport received a command APDU over and the
//! APDU, and returns `response data || SW1 SW2`, exactly what a reader would see on that
//! interface ([`Card::process`]: the contact interface). Inside:
//!
//! * [`interface`]: protocols and interfaces; each interface has its own session state.
//! * [`os`]: the ISO/IEC 7816-4 layer: logical channels 0–19 per interface (MANAGE CHANNEL),
//!   SELECT routed to containers, GET RESPONSE for long responses (`61xx`), STORE DATA block
//!   reassembly per channel.
//! * [`routing`]: containers (telecom, GlobalPlatform), the alias registry, AID routing.
//! * [`pairing`]: protocol → container pairing data, its tear-safe store and the authenticated
//!   administrative commands.
//! * [`gp`]: the GlobalPlatform container: a GP card (Card Specification v2.3.1, Amendment D)
//!   with its ISD, SSDs, load files and native application instances; SCP02/SCP03 secure
//!   channels per logical channel, card content management, memory accounting.
//! * the enabled profile's UICC file system, PINs and USIM AUTHENTICATE (crate `uicc`), kept per
//!   profile in [`CardState::uicc`] and reached through the telecom container.
//! * [`isdr`]: the ISD-R and its ES10a/b/c functions (SGP.22 §5.7), dispatched by request tag,
//!   including the Bound Profile Package installation (§5.7.6, ES8+ §5.5).
//! * [`state`]: the persistent [`CardState`] (profiles, notifications, addresses, RSP session);
//!   changes become visible only when a whole ES10 function completes.
//! * [`identity`]: EID, certificates and SK.EUICC.ECDSA.
//! * [`ota`]: remote management over SMS-PP: ENVELOPE (SMS-PP download), SCP80 secured
//!   packets with the card's OTA keys, RFM/RAM (TS 102 226), PoR, FETCH/TERMINAL RESPONSE.
//!
//! Randomness is injected (a `rand_core::CryptoRng`), and so is time ([`Card::set_time`]); the
//! card reads no files, sockets or clocks. ES10 requests are decoded and responses built with
//! the `rsp` message types (one codec per message).
//!
//! A [`Card`] is itself an `apdu::CardTransport` (in-process reader, for tests and embedding).
//! [`Card::state_revision`] changes whenever the persistent state does, so an edge can save it
//! after exactly those APDUs (simkit's `PersistentCard` does, atomically and sealed).

pub mod gp;
mod hexser;
pub mod identity;
pub mod interface;
pub mod isdr;
pub mod os;
pub mod ota;
pub mod pairing;
pub mod routing;
pub mod state;
pub mod testing;

use apdu::StatusWord;

pub use identity::CardIdentity;
pub use interface::{Interface, Protocol};
pub use os::Card;
pub use pairing::{PairingError, PairingStore, PairingTable};
pub use routing::{AliasRegistry, ContainerId};
pub use state::{CardState, NotificationKind, Profile, ProfileState, StoredNotification};

/// Errors outside the APDU path (APDU-level failures are status words).
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("card state: {0}")]
    State(String),
    #[error("card identity: {0}")]
    Identity(String),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}

/// The injected random number generator.
pub type CardRng = dyn rand_core::CryptoRng + Send;

/// Status word and optional response data of one APDU.
pub(crate) type ApduResult = Result<Vec<u8>, StatusWord>;

#[cfg(test)]
mod tests {
    /// The card moves between threads (e.g. behind a tokio task serving a reader socket).
    #[test]
    fn card_is_send() {
        fn is_send<T: Send>() {}
        is_send::<crate::Card>();
        is_send::<crate::CardState>();
    }
}
