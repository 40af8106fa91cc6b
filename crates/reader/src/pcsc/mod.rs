//! PC/SC host transport: any reader pcscd knows (a USB reader with a SIM, or the virtual
//! reader of vsmartcard's vpcd with our own card behind it) as an `apdu::CardTransport`.
//!
//! pcsc-lite is loaded at run time (see [`ffi`]): without `libpcsclite.so.1` installed, only
//! these functions fail, with [`PcscError::LibraryMissing`].
//!
//! Codes and their names are pcsc-lite's `PCSC/pcsclite.h` (which takes them from Microsoft's
//! WinSCard documentation).

mod ffi;

use std::ffi::CString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apdu::{CardTransport, TransportError};

pub use ffi::LIBRARY;

// Return codes (pcsclite.h).
pub const SCARD_S_SUCCESS: u32 = 0x0000_0000;
pub const SCARD_E_INVALID_PARAMETER: u32 = 0x8010_0004;
pub const SCARD_E_INSUFFICIENT_BUFFER: u32 = 0x8010_0008;
pub const SCARD_E_UNKNOWN_READER: u32 = 0x8010_0009;
pub const SCARD_E_TIMEOUT: u32 = 0x8010_000A;
pub const SCARD_E_SHARING_VIOLATION: u32 = 0x8010_000B;
pub const SCARD_E_NO_SMARTCARD: u32 = 0x8010_000C;
pub const SCARD_E_READER_UNAVAILABLE: u32 = 0x8010_0017;
pub const SCARD_E_NO_SERVICE: u32 = 0x8010_001D;
pub const SCARD_E_SERVICE_STOPPED: u32 = 0x8010_001E;
pub const SCARD_E_NO_READERS_AVAILABLE: u32 = 0x8010_002E;
pub const SCARD_W_UNRESPONSIVE_CARD: u32 = 0x8010_0066;
pub const SCARD_W_UNPOWERED_CARD: u32 = 0x8010_0067;
pub const SCARD_W_RESET_CARD: u32 = 0x8010_0068;
pub const SCARD_W_REMOVED_CARD: u32 = 0x8010_0069;

/// Every code of pcsclite.h with its name and description.
const CODES: &[(u32, &str, &str)] = &[
    (0x8010_0001, "SCARD_F_INTERNAL_ERROR", "an internal consistency check failed"),
    (0x8010_0002, "SCARD_E_CANCELLED", "the action was cancelled by an SCardCancel request"),
    (0x8010_0003, "SCARD_E_INVALID_HANDLE", "the supplied handle was invalid"),
    (0x8010_0004, "SCARD_E_INVALID_PARAMETER", "one or more of the supplied parameters could not be properly interpreted"),
    (0x8010_0005, "SCARD_E_INVALID_TARGET", "registry startup information is missing or invalid"),
    (0x8010_0006, "SCARD_E_NO_MEMORY", "not enough memory available to complete this command"),
    (0x8010_0007, "SCARD_F_WAITED_TOO_LONG", "an internal consistency timer has expired"),
    (0x8010_0008, "SCARD_E_INSUFFICIENT_BUFFER", "the data buffer to receive returned data is too small"),
    (0x8010_0009, "SCARD_E_UNKNOWN_READER", "the specified reader name is not recognized"),
    (0x8010_000A, "SCARD_E_TIMEOUT", "the user-specified timeout value has expired"),
    (0x8010_000B, "SCARD_E_SHARING_VIOLATION", "the smart card cannot be accessed because of other connections outstanding"),
    (0x8010_000C, "SCARD_E_NO_SMARTCARD", "the operation requires a smart card, but no smart card is currently in the device"),
    (0x8010_000D, "SCARD_E_UNKNOWN_CARD", "the specified smart card name is not recognized"),
    (0x8010_000E, "SCARD_E_CANT_DISPOSE", "the system could not dispose of the media in the requested manner"),
    (0x8010_000F, "SCARD_E_PROTO_MISMATCH", "the requested protocols are incompatible with the protocol currently in use with the smart card"),
    (0x8010_0010, "SCARD_E_NOT_READY", "the reader or smart card is not ready to accept commands"),
    (0x8010_0011, "SCARD_E_INVALID_VALUE", "one or more of the supplied parameter values could not be properly interpreted"),
    (0x8010_0012, "SCARD_E_SYSTEM_CANCELLED", "the action was cancelled by the system"),
    (0x8010_0013, "SCARD_F_COMM_ERROR", "an internal communications error has been detected"),
    (0x8010_0014, "SCARD_F_UNKNOWN_ERROR", "an internal error has been detected, but the source is unknown"),
    (0x8010_0015, "SCARD_E_INVALID_ATR", "an ATR obtained from the registry is not a valid ATR string"),
    (0x8010_0016, "SCARD_E_NOT_TRANSACTED", "an attempt was made to end a non-existent transaction"),
    (0x8010_0017, "SCARD_E_READER_UNAVAILABLE", "the specified reader is not currently available for use"),
    (0x8010_0018, "SCARD_P_SHUTDOWN", "the operation has been aborted to allow the server application to exit"),
    (0x8010_0019, "SCARD_E_PCI_TOO_SMALL", "the PCI receive buffer was too small"),
    (0x8010_001A, "SCARD_E_READER_UNSUPPORTED", "the reader driver does not meet minimal requirements for support"),
    (0x8010_001B, "SCARD_E_DUPLICATE_READER", "the reader driver did not produce a unique reader name"),
    (0x8010_001C, "SCARD_E_CARD_UNSUPPORTED", "the smart card does not meet minimal requirements for support"),
    (0x8010_001D, "SCARD_E_NO_SERVICE", "the smart card resource manager (pcscd) is not running"),
    (0x8010_001E, "SCARD_E_SERVICE_STOPPED", "the smart card resource manager has shut down"),
    // pcsc-lite gives SCARD_E_UNSUPPORTED_FEATURE the same value.
    (0x8010_001F, "SCARD_E_UNEXPECTED", "an unexpected card error has occurred"),
    (0x8010_0020, "SCARD_E_ICC_INSTALLATION", "no primary provider can be found for the smart card"),
    (0x8010_0021, "SCARD_E_ICC_CREATEORDER", "the requested order of object creation is not supported"),
    (0x8010_0023, "SCARD_E_DIR_NOT_FOUND", "the identified directory does not exist in the smart card"),
    (0x8010_0024, "SCARD_E_FILE_NOT_FOUND", "the identified file does not exist in the smart card"),
    (0x8010_0025, "SCARD_E_NO_DIR", "the supplied path does not represent a smart card directory"),
    (0x8010_0026, "SCARD_E_NO_FILE", "the supplied path does not represent a smart card file"),
    (0x8010_0027, "SCARD_E_NO_ACCESS", "access is denied to this file"),
    (0x8010_0028, "SCARD_E_WRITE_TOO_MANY", "the smart card does not have enough memory to store the information"),
    (0x8010_0029, "SCARD_E_BAD_SEEK", "there was an error trying to set the smart card file object pointer"),
    (0x8010_002A, "SCARD_E_INVALID_CHV", "the supplied PIN is incorrect"),
    (0x8010_002B, "SCARD_E_UNKNOWN_RES_MNG", "an unrecognized error code was returned from a layered component"),
    (0x8010_002C, "SCARD_E_NO_SUCH_CERTIFICATE", "the requested certificate does not exist"),
    (0x8010_002D, "SCARD_E_CERTIFICATE_UNAVAILABLE", "the requested certificate could not be obtained"),
    (0x8010_002E, "SCARD_E_NO_READERS_AVAILABLE", "cannot find a smart card reader"),
    (0x8010_002F, "SCARD_E_COMM_DATA_LOST", "a communications error with the smart card has been detected"),
    (0x8010_0030, "SCARD_E_NO_KEY_CONTAINER", "the requested key container does not exist on the smart card"),
    (0x8010_0031, "SCARD_E_SERVER_TOO_BUSY", "the smart card resource manager is too busy to complete this operation"),
    (0x8010_0065, "SCARD_W_UNSUPPORTED_CARD", "the reader cannot communicate with the card, due to ATR string configuration conflicts"),
    (0x8010_0066, "SCARD_W_UNRESPONSIVE_CARD", "the smart card is not responding to a reset"),
    (0x8010_0067, "SCARD_W_UNPOWERED_CARD", "power has been removed from the smart card"),
    (0x8010_0068, "SCARD_W_RESET_CARD", "the smart card has been reset, so any shared state information is invalid"),
    (0x8010_0069, "SCARD_W_REMOVED_CARD", "the smart card has been removed"),
    (0x8010_006A, "SCARD_W_SECURITY_VIOLATION", "access was denied because of a security violation"),
    (0x8010_006B, "SCARD_W_WRONG_CHV", "the card cannot be accessed because the wrong PIN was presented"),
    (0x8010_006C, "SCARD_W_CHV_BLOCKED", "the maximum number of PIN entry attempts has been reached"),
    (0x8010_006D, "SCARD_W_EOF", "the end of the smart card file has been reached"),
    (0x8010_006E, "SCARD_W_CANCELLED_BY_USER", "the user pressed Cancel on a smart card selection dialog"),
    (0x8010_006F, "SCARD_W_CARD_NOT_AUTHENTICATED", "no PIN was presented to the smart card"),
];

/// The name of a PC/SC return code (`SCARD_E_NO_SERVICE`, ...), if it is one.
pub fn code_name(code: u32) -> Option<&'static str> {
    CODES.iter().find(|c| c.0 == code).map(|c| c.1)
}

fn code_text(code: u32) -> String {
    match CODES.iter().find(|c| c.0 == code) {
        Some((_, name, what)) => format!("{name} (0x{code:08X}): {what}"),
        None => format!("PC/SC error 0x{code:08X}"),
    }
}

// Constants of the calls (pcsclite.h).
const SCARD_SCOPE_SYSTEM: ffi::Dword = 0x0002;
const SCARD_PROTOCOL_T0: ffi::Dword = 0x0001;
const SCARD_PROTOCOL_T1: ffi::Dword = 0x0002;
const SCARD_LEAVE_CARD: ffi::Dword = 0x0000;
const SCARD_RESET_CARD: ffi::Dword = 0x0001;
const SCARD_UNPOWER_CARD: ffi::Dword = 0x0002;
const SCARD_STATE_UNAWARE: ffi::Dword = 0x0000;
const SCARD_STATE_CHANGED: ffi::Dword = 0x0002;
const SCARD_STATE_PRESENT: ffi::Dword = 0x0020;
const SCARD_STATE_EXCLUSIVE: ffi::Dword = 0x0080;
const SCARD_STATE_INUSE: ffi::Dword = 0x0100;
const SCARD_STATE_MUTE: ffi::Dword = 0x0200;
/// `MAX_BUFFER_SIZE_EXTENDED`: 64 KiB of data plus header, Lc, Le and status word.
const MAX_RESPONSE: usize = 4 + 3 + (1 << 16) + 3 + 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcscError {
    #[error(
        "PC/SC is not available: {LIBRARY} could not be loaded ({0}); install pcsc-lite \
         (Debian/Ubuntu: apt-get install libpcsclite1 pcscd)"
    )]
    LibraryMissing(String),
    #[error("{function}: {}{}", code_text(*code), hint(*code))]
    Call { function: &'static str, code: u32 },
    #[error("no PC/SC reader named {0:?} (see `simkit lpa readers`)")]
    NoSuchReader(String),
    #[error("reader name {0:?} matches several readers: {1:?}")]
    AmbiguousReader(String, Vec<String>),
    #[error("no card in any PC/SC reader (readers: {0:?})")]
    NoCardInAnyReader(Vec<String>),
    #[error("no card appeared in {0} within {1:?}")]
    WaitTimeout(String, Duration),
}

fn hint(code: u32) -> &'static str {
    match code {
        SCARD_E_NO_SERVICE => {
            "; start pcscd (e.g. `pcscd` as root, or `systemctl start pcscd.socket`)"
        }
        SCARD_E_NO_READERS_AVAILABLE => {
            "; connect a reader, or start a virtual one (vsmartcard-vpcd)"
        }
        _ => "",
    }
}

impl PcscError {
    /// The PC/SC return code, for a failed call.
    pub fn code(&self) -> Option<u32> {
        match self {
            PcscError::Call { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<PcscError> for TransportError {
    fn from(e: PcscError) -> Self {
        match e.code() {
            Some(SCARD_E_NO_SMARTCARD | SCARD_W_REMOVED_CARD) => TransportError::NoCard,
            Some(SCARD_W_RESET_CARD | SCARD_W_UNPOWERED_CARD) => TransportError::CardReset,
            Some(SCARD_E_TIMEOUT) => TransportError::Timeout,
            _ => TransportError::Other(e.to_string()),
        }
    }
}

fn lib() -> Result<&'static ffi::Library, PcscError> {
    ffi::library().map_err(PcscError::LibraryMissing)
}

fn call<T>(function: &'static str, r: Result<T, u32>) -> Result<T, PcscError> {
    r.map_err(|code| PcscError::Call { function, code })
}

/// Splits a PC/SC multi-string (`a\0b\0\0`) into its strings.
pub fn parse_multi_string(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .take_while(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// How to share the card with other applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Share {
    #[default]
    Shared,
    Exclusive,
}

/// A reader and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    pub name: String,
    /// A card is in the reader (and answered a reset).
    pub card_present: bool,
    /// Another application holds the card exclusively.
    pub exclusive: bool,
    /// Another application has the card open (shared).
    pub in_use: bool,
    pub atr: Vec<u8>,
    /// The raw `SCARD_STATE_*` bits.
    pub state: u64,
}

struct ContextHandle {
    lib: &'static ffi::Library,
    ctx: ffi::Handle,
}

impl Drop for ContextHandle {
    fn drop(&mut self) {
        let _ = self.lib.release_context(self.ctx);
    }
}

/// A PC/SC context (`SCardEstablishContext`, system scope).
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextHandle>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// Connects to pcscd. Fails with `SCARD_E_NO_SERVICE` when it is not running.
    pub fn establish() -> Result<Context, PcscError> {
        let lib = lib()?;
        let ctx = call(
            "SCardEstablishContext",
            lib.establish_context(SCARD_SCOPE_SYSTEM),
        )?;
        Ok(Context {
            inner: Arc::new(ContextHandle { lib, ctx }),
        })
    }

    fn lib(&self) -> &'static ffi::Library {
        self.inner.lib
    }

    /// The reader names; empty when there is none.
    pub fn readers(&self) -> Result<Vec<String>, PcscError> {
        match self.lib().list_readers(self.inner.ctx) {
            Ok(bytes) => Ok(parse_multi_string(&bytes)),
            Err(SCARD_E_NO_READERS_AVAILABLE) => Ok(Vec::new()),
            Err(code) => Err(PcscError::Call {
                function: "SCardListReaders",
                code,
            }),
        }
    }

    /// The readers with their current state.
    pub fn reader_states(&self) -> Result<Vec<ReaderInfo>, PcscError> {
        let names = self.readers()?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let cnames = names
            .iter()
            .map(|n| CString::new(n.as_str()).map_err(|_| PcscError::NoSuchReader(n.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let query: Vec<_> = cnames
            .iter()
            .map(|c| (c.as_c_str(), SCARD_STATE_UNAWARE))
            .collect();
        let states = call(
            "SCardGetStatusChange",
            self.lib().get_status_change(self.inner.ctx, 0, &query),
        )?;
        Ok(names
            .into_iter()
            .zip(states)
            .map(|(name, (ev, atr))| ReaderInfo {
                name,
                card_present: ev & SCARD_STATE_PRESENT != 0 && ev & SCARD_STATE_MUTE == 0,
                exclusive: ev & SCARD_STATE_EXCLUSIVE != 0,
                in_use: ev & SCARD_STATE_INUSE != 0,
                atr,
                // DWORD is 32 bits wide on 32-bit Linux.
                #[allow(clippy::useless_conversion)]
                state: u64::from(ev),
            })
            .collect())
    }

    /// The reader `wanted` names: an exact name, or a part of exactly one reader's name
    /// (`vpcd`-style names carry slot numbers, e.g. "Virtual PCD 00 00").
    pub fn find_reader(&self, wanted: &str) -> Result<String, PcscError> {
        let names = self.readers()?;
        if let Some(n) = names.iter().find(|n| n.as_str() == wanted) {
            return Ok(n.clone());
        }
        let matches: Vec<String> = names
            .iter()
            .filter(|n| n.to_lowercase().contains(&wanted.to_lowercase()))
            .cloned()
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(PcscError::NoSuchReader(wanted.to_string())),
            _ => Err(PcscError::AmbiguousReader(wanted.to_string(), matches)),
        }
    }

    /// Like [`Context::find_reader`], but when `wanted` matches several readers and exactly
    /// one of them holds a card, that one (vpcd shows two slots, "... 00 00" and "... 00 01").
    pub fn find_card_reader(&self, wanted: &str) -> Result<String, PcscError> {
        match self.find_reader(wanted) {
            Err(PcscError::AmbiguousReader(w, names)) => {
                let with_card: Vec<String> = self
                    .reader_states()?
                    .into_iter()
                    .filter(|r| r.card_present && names.contains(&r.name))
                    .map(|r| r.name)
                    .collect();
                match <[String; 1]>::try_from(with_card) {
                    Ok([one]) => Ok(one),
                    Err(_) => Err(PcscError::AmbiguousReader(w, names)),
                }
            }
            other => other,
        }
    }

    /// The first reader holding a card.
    pub fn first_reader_with_card(&self) -> Result<String, PcscError> {
        let states = self.reader_states()?;
        if states.is_empty() {
            return Err(PcscError::Call {
                function: "SCardListReaders",
                code: SCARD_E_NO_READERS_AVAILABLE,
            });
        }
        states
            .iter()
            .find(|r| r.card_present)
            .map(|r| r.name.clone())
            .ok_or_else(|| {
                PcscError::NoCardInAnyReader(states.into_iter().map(|r| r.name).collect())
            })
    }

    /// Waits until a card is in `reader` (or, with `None`, in any reader) and returns that
    /// reader's name. Readers that appear meanwhile count (pcscd loads hot-plugged readers).
    pub fn wait_for_card(
        &self,
        reader: Option<&str>,
        timeout: Duration,
    ) -> Result<String, PcscError> {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.reader_states()?;
            let hit = states.iter().find(|r| {
                r.card_present
                    && reader.is_none_or(|w| {
                        r.name == w || r.name.to_lowercase().contains(&w.to_lowercase())
                    })
            });
            if let Some(r) = hit {
                return Ok(r.name.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PcscError::WaitTimeout(
                    reader.unwrap_or("any reader").to_string(),
                    timeout,
                ));
            }
            // Block in SCardGetStatusChange until something changes (at most 250 ms, so
            // readers added meanwhile are picked up by the next listing).
            let slice = left.min(Duration::from_millis(250));
            let watched: Vec<CString> = states
                .iter()
                .filter_map(|r| CString::new(r.name.as_str()).ok())
                .collect();
            if watched.is_empty() {
                std::thread::sleep(slice);
                continue;
            }
            let current: Vec<_> = watched
                .iter()
                .zip(&states)
                .map(|(c, r)| {
                    // The state just read, so the call blocks until it changes.
                    let known = ffi::Dword::try_from(r.state).unwrap_or(0) & !SCARD_STATE_CHANGED;
                    (c.as_c_str(), known)
                })
                .collect();
            let ms = ffi::Dword::try_from(slice.as_millis()).unwrap_or(250);
            match self.lib().get_status_change(self.inner.ctx, ms, &current) {
                Ok(_) | Err(SCARD_E_TIMEOUT) => {}
                Err(SCARD_E_UNKNOWN_READER | SCARD_E_READER_UNAVAILABLE) => {
                    std::thread::sleep(slice)
                }
                Err(code) => {
                    return Err(PcscError::Call {
                        function: "SCardGetStatusChange",
                        code,
                    })
                }
            }
        }
    }

    /// Connects to the card in `reader` (T=0 or T=1, whichever the card and reader agree on).
    pub fn connect(&self, reader: &str, share: Share) -> Result<PcscCard, PcscError> {
        let name = CString::new(reader).map_err(|_| PcscError::NoSuchReader(reader.into()))?;
        let share_mode = share_mode(share);
        let (handle, protocol) = call(
            "SCardConnect",
            self.lib().connect(
                self.inner.ctx,
                &name,
                share_mode,
                SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
            ),
        )?;
        let mut card = PcscCard {
            ctx: self.clone(),
            handle,
            protocol,
            share,
            reader: reader.to_string(),
            atr: Vec::new(),
            rx: vec![0u8; MAX_RESPONSE],
            connected: true,
        };
        card.atr = card.status()?.1;
        Ok(card)
    }
}

fn share_mode(share: Share) -> ffi::Dword {
    match share {
        Share::Shared => 0x0002,    // SCARD_SHARE_SHARED
        Share::Exclusive => 0x0001, // SCARD_SHARE_EXCLUSIVE
    }
}

/// How [`PcscCard::reconnect`] and [`PcscCard::disconnect`] leave the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Leave,
    Reset,
    Unpower,
}

impl Disposition {
    fn code(self) -> ffi::Dword {
        match self {
            Disposition::Leave => SCARD_LEAVE_CARD,
            Disposition::Reset => SCARD_RESET_CARD,
            Disposition::Unpower => SCARD_UNPOWER_CARD,
        }
    }
}

/// A connection to the card in one reader.
pub struct PcscCard {
    ctx: Context,
    handle: ffi::Handle,
    protocol: ffi::Dword,
    share: Share,
    reader: String,
    atr: Vec<u8>,
    rx: Vec<u8>,
    connected: bool,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .field("protocol", &self.protocol_name())
            .field("atr", &hex::encode_upper(&self.atr))
            .finish_non_exhaustive()
    }
}

impl PcscCard {
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The ATR read when connecting (or reconnecting).
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// "T=0" or "T=1".
    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            SCARD_PROTOCOL_T0 => "T=0",
            SCARD_PROTOCOL_T1 => "T=1",
            _ => "?",
        }
    }

    /// `SCardStatus`: (state bits, ATR).
    pub fn status(&self) -> Result<(u64, Vec<u8>), PcscError> {
        let (state, _proto, atr) = call("SCardStatus", self.ctx.lib().status(self.handle))?;
        // DWORD is 32 bits wide on 32-bit Linux.
        #[allow(clippy::useless_conversion)]
        Ok((u64::from(state), atr))
    }

    /// `SCardReconnect`: e.g. after `SCARD_W_RESET_CARD`, or to reset the card
    /// ([`Disposition::Reset`]) or power-cycle it ([`Disposition::Unpower`]).
    pub fn reconnect(&mut self, init: Disposition) -> Result<(), PcscError> {
        self.protocol = call(
            "SCardReconnect",
            self.ctx.lib().reconnect(
                self.handle,
                share_mode(self.share),
                SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                init.code(),
            ),
        )?;
        self.atr = self.status()?.1;
        Ok(())
    }

    /// `SCardDisconnect`.
    pub fn disconnect(mut self, disposition: Disposition) -> Result<(), PcscError> {
        self.connected = false;
        call(
            "SCardDisconnect",
            self.ctx.lib().disconnect(self.handle, disposition.code()),
        )
    }

    /// `SCardTransmit` with the PCI of the active protocol; the whole response APDU.
    pub fn send(&mut self, apdu: &[u8]) -> Result<Vec<u8>, PcscError> {
        let n = call(
            "SCardTransmit",
            self.ctx
                .lib()
                .transmit(self.handle, self.protocol, apdu, &mut self.rx),
        )?;
        Ok(self.rx.get(..n).unwrap_or_default().to_vec())
    }
}

impl Drop for PcscCard {
    fn drop(&mut self) {
        if self.connected {
            let _ = self.ctx.lib().disconnect(self.handle, SCARD_LEAVE_CARD);
        }
    }
}

impl CardTransport for PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.send(apdu).map_err(TransportError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_strings() {
        // pcsc-lite's reader list: each name NUL-terminated, the list ends with a second NUL.
        assert_eq!(
            parse_multi_string(b"Virtual PCD 00 00\0Virtual PCD 00 01\0\0"),
            ["Virtual PCD 00 00", "Virtual PCD 00 01"]
        );
        assert_eq!(parse_multi_string(b"\0"), Vec::<String>::new());
        assert_eq!(parse_multi_string(b""), Vec::<String>::new());
        // Missing final NULs (a truncated buffer) still yields the names.
        assert_eq!(parse_multi_string(b"A\0B"), ["A", "B"]);
    }

    #[test]
    fn error_messages_name_the_codes() {
        let e = PcscError::Call {
            function: "SCardEstablishContext",
            code: SCARD_E_NO_SERVICE,
        };
        let s = e.to_string();
        assert!(s.contains("SCARD_E_NO_SERVICE (0x8010001D)"), "{s}");
        assert!(s.contains("start pcscd"), "{s}");
        assert_eq!(code_name(0x8010_0069), Some("SCARD_W_REMOVED_CARD"));
        assert_eq!(code_name(0x8010_002E), Some("SCARD_E_NO_READERS_AVAILABLE"));
        assert_eq!(code_name(0x1234), None);
        assert!(PcscError::Call {
            function: "f",
            code: 0x1234
        }
        .to_string()
        .contains("0x00001234"));
        assert_eq!(
            TransportError::from(PcscError::Call {
                function: "SCardTransmit",
                code: SCARD_W_REMOVED_CARD
            }),
            TransportError::NoCard
        );
        assert_eq!(
            TransportError::from(PcscError::Call {
                function: "SCardTransmit",
                code: SCARD_W_RESET_CARD
            }),
            TransportError::CardReset
        );
        let m =
            PcscError::LibraryMissing("libpcsclite.so.1: cannot open shared object file".into());
        assert!(m.to_string().contains("apt-get install libpcsclite1"));
        // Codes are unique.
        for (i, a) in CODES.iter().enumerate() {
            assert!(
                CODES[i + 1..].iter().all(|b| b.0 != a.0 && b.1 != a.1),
                "{}",
                a.1
            );
        }
    }

    #[test]
    fn ffi_layout_matches_pcsclite_on_lp64() {
        // pcsclite.h on Linux x86_64/aarch64: two unsigned longs; pointer, pointer, three
        // DWORDs, 33 bytes, padded to 8.
        if std::mem::size_of::<std::ffi::c_ulong>() == 8 {
            assert_eq!(std::mem::size_of::<ffi::IoRequest>(), 16);
            assert_eq!(
                std::mem::size_of::<ffi::ReaderState>(),
                8 + 8 + 8 * 3 + 33 + 7
            );
        }
    }
}
