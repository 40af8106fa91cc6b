//! SMPP v3.4 (SMPP Developers Forum, Issue 1.2) towards the operator's SMSC: the SMS bearer
//! of the OTA server.
//!
//! * [`pdu`]: the PDU codec (header, bind/unbind/submit_sm/deliver_sm/enquire_link and their
//!   responses, generic_nack, TLV optional parameters, unknown TLVs kept).
//! * [`status`]: command_status codes ([`CommandStatus::ESME_ROK`], ...).
//! * [`frame`]: the streaming frame decoder (partial reads, several PDUs per read,
//!   command_length limits → generic_nack ESME_RINVCMDLEN).
//! * [`esme`]: the sans-I/O ESME session (bind, windowed and rate-limited submit_sm,
//!   throttling back-off, enquire_link, deliver_sm, unbind, reconnect without losing a
//!   message, stable client references).
//! * [`sms`]: submit_sm for TS 31.115 secured packets (segments from the `ota` crate) and the
//!   SMSC's mappings to SMS-DELIVER / from SMS-SUBMIT.
//! * `client` (feature `net`): the tokio adapter driving an [`EsmeSession`] over TCP.
//! * `smsc` (feature `net`): an SMSC simulator on 127.0.0.1 with fault injection and a
//!   pluggable mobile-station sink.

pub mod error;
pub mod esme;
pub mod frame;
pub mod pdu;
pub mod sms;
pub mod status;

#[cfg(feature = "net")]
pub mod client;
#[cfg(feature = "net")]
pub mod smsc;

pub use error::{Result, SmppError};
pub use esme::{EsmeConfig, EsmeSession, Event, MessageRef, SessionState};
pub use frame::{FrameDecoder, FramingError};
pub use pdu::{
    Bind, BindMode, BindResp, Body, DeliverSm, Header, Pdu, PduError, SmResp, SmeAddress, SubmitSm,
    Tlv,
};
pub use status::CommandStatus;
