//! GlobalPlatform card content management, sans-I/O: the secure channel protocols SCP02
//! (GP Card Specification v2.3.1 Annex E) and SCP03 (Amendment D), on the host side and on the
//! card side with one shared implementation, plus key sets, key check values and the PUT KEY
//! data field.
//!
//! * [`HostHandshake`] builds INITIALIZE UPDATE, checks the card cryptogram and builds
//!   EXTERNAL AUTHENTICATE; [`CardHandshake`] answers both.
//! * Both yield a [`Session`]: the host calls [`Session::wrap_command`] /
//!   [`Session::unwrap_response`], the card [`Session::unwrap_command`] /
//!   [`Session::wrap_response`].
//! * [`CardSecureChannel`]: the card's per-channel state machine around [`CardHandshake`] and
//!   [`Session`] (6985 / 6A88 / 6982 handling), for a security domain container.
//! * [`keys`]: [`KeySet`], [`kcv`], [`Dek`], [`PutKeyData`]; [`Diversification`] of master keys
//!   (VISA2, EMV CPS 1.1, KDF3); [`SequenceCounter`] for the card.
//! * [`commands`]: INSTALL (all variants) and install parameters, LOAD (split and reassemble),
//!   DELETE, GET STATUS ('E3' and legacy responses), SET STATUS, GET DATA tags and the Key
//!   Information Template, PUT KEY.
//! * [`dm`]: Delegated Management token data and receipts (GP CS Annex C.4, C.5).
//!
//! Randomness is injected (`rand_core::CryptoRng`); key material is zeroized on drop and never
//! printed by `Debug`.

pub mod card;
pub mod commands;
pub mod counter;
pub mod diversify;
pub mod dm;
pub mod error;
pub mod host;
pub mod keys;
pub mod level;
pub mod scp02;
pub mod scp03;
pub mod session;

pub use card::CardSecureChannel;
pub use counter::SequenceCounter;
pub use diversify::Diversification;
pub use error::{GpError, Result};
pub use keys::{kcv, Dek, KeyComponent, KeySet, KeyType, KeyUsage, PutKeyData, SecretKey};
pub use level::SecurityLevel;
pub use scp02::{Scp02Params, Scp02SessionKeys};
pub use scp03::{Scp03Params, Scp03SessionKeys};
pub use session::{
    CardConfig, CardHandshake, HostHandshake, InitUpdateResponse, InitializeUpdate, Scp, Session,
};
