//! The terminal (modem) simulator: the mobile equipment between the network's SMS and the
//! card, sans-I/O, over any [`apdu::CardTransport`].
//!
//! * [`Terminal`]: receives SMS-DELIVER TPDUs, groups concatenated parts (the `ota` crate's
//!   reassembler), and hands (U)SIM data download messages (TP-PID '7F', class 2, 3GPP TS
//!   31.111 §7.1.1) to the card in SMS-PP download ENVELOPEs (`80 C2`, BER-TLV 'D1').
//!   Other SMS are given to the user ([`Output::Received`]).
//! * **Size threshold** ([`TerminalConfig::threshold`], octets of the reassembled message
//!   after the UDHs — the command packet `CPL .. end`): below it every SMS-DELIVER goes to the
//!   card as received, one ENVELOPE each, the standard ME behaviour. At or over it the terminal
//!   asks the card for its SMS-PP capability and re-cuts the still-encrypted command packet
//!   into pieces no larger than the card accepts, each a valid SMS-DELIVER segment: IE '70'
//!   and the concatenation IE in the first piece, the concatenation IE (the original
//!   reference) in the others (TS 31.115 §4.2, TS 23.040 §9.2.3.24.1). The terminal never
//!   deciphers anything; the card reassembles, checks gaps and duplicates, and opens the
//!   packet once it is whole.
//! * **The capability query** ([`toolkit::capability_command`]): GET DATA `80 CA FF 70 00` on
//!   the basic channel; the card answers
//!   `FF70 { 80 02 max packet length, 81 01 max concatenated messages buffered, 82 01 max TP-UD
//!   octets per ENVELOPE }` (our card fills it from its `OtaConfig`). Why this mechanism: TS
//!   102 223 and TS 31.111 give the ME no way to learn the card's SMS-PP reassembly limits —
//!   TERMINAL PROFILE goes the other way (the terminal's capabilities) and the BIP buffer size
//!   of OPEN CHANNEL concerns channels, not SMS-PP download — so a data object read with the
//!   ISO/IEC 7816-4 GET DATA is the least invasive addition. 'FF70' is a constructed
//!   private-class tag (ISO/IEC 7816-4 §5.2.2: class '11' is proprietary) that GlobalPlatform's
//!   GET DATA objects ('0042', '0045', '0066', '00CF', '00E0', '9F7F', ...) and TS 102 226's
//!   'FF21' (extended card resources) leave free. The answer is cached per card session
//!   ([`Terminal::start`] clears it); a card that does not know the tag gets its messages SMS by
//!   SMS.
//! * **The card's answers**: `9000` with data is the PoR (SMS-DELIVER-REPORT user data),
//!   which the terminal sends on as a mobile-originated SMS-SUBMIT to the command's
//!   originator ([`Output::MobileOriginated`]); `91xx` → FETCH, SEND SHORT MESSAGE →
//!   its SMS-SUBMIT goes out as mobile-originated SMS, TERMINAL RESPONSE '00' (other proactive
//!   commands: '30', beyond the terminal's capabilities); `9300` (toolkit busy) → the message
//!   waits for [`Terminal::retry`], RP-ERROR 'D4' after [`TerminalConfig::max_busy_retries`];
//!   any other status ('6Fxx', '6A80', '6700', ...) → RP-ERROR with TP-FCS 'D5' (U)SIM data
//!   download error ([`Output::DownloadFailed`], TS 31.111 §7.1.1.2, TS 23.040 §9.2.3.22).
//!   When the card answers a piece with data before the last one (e.g. PoR '07' for a packet
//!   larger than it holds), the remaining pieces are not sent.
//! * [`Terminal::start`] sends TERMINAL PROFILE ([`toolkit::TERMINAL_PROFILE`], TS 102 223
//!   §5.2): SMS-PP data download and SEND SHORT MESSAGE.
//! * `net` (feature `net`): the tokio adapter between the `smpp` SMSC simulator's mobile-station
//!   sink and the terminal; mobile-originated SMS go back through the simulator as deliver_sm.
//!
//! Messages are delivered to the card one at a time, so the card never holds more than one
//! partial message from this terminal (its announced buffer count is never exceeded).

pub mod error;
#[cfg(feature = "net")]
pub mod net;
pub mod terminal;
pub mod toolkit;

pub use error::{ModemError, Result};
pub use terminal::{failure_cause, MoOrigin, Output, Terminal, TerminalConfig, TerminalStats};
pub use toolkit::CardCapability;
