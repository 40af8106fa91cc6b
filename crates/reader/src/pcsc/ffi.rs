//! The only unsafe code of this crate: pcsc-lite's WinSCard API, loaded at run time.
//!
//! `libpcsclite.so.1` is opened with `dlopen` and its functions looked up with `dlsym`, so
//! nothing links against it at build time. glibc exports both (libc.so.6 since 2.34, and
//! Rust's std links libdl on older ones).
//!
//! Types follow pcsc-lite's `PCSC/wintypes.h` and `PCSC/pcsclite.h` on Linux: `DWORD` is
//! `unsigned long` and `LONG` is `long` (8 bytes on LP64), `SCARDCONTEXT` and `SCARDHANDLE`
//! are `LONG`, `SCARD_IO_REQUEST` is `{ unsigned long dwProtocol; unsigned long cbPciLength; }`
//! and `SCARD_READERSTATE` is `{ const char *szReader; void *pvUserData; DWORD
//! dwCurrentState; DWORD dwEventState; DWORD cbAtr; unsigned char rgbAtr[33]; }` (no packing on
//! Linux). macOS' PCSC.framework uses 32-bit types and packing, and is not supported here.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void, CStr, CString};
use std::sync::OnceLock;

pub type Dword = c_ulong;
pub type Long = c_long;
pub type Handle = Long;

/// `MAX_ATR_SIZE`.
pub const MAX_ATR_SIZE: usize = 33;

/// `SCARD_IO_REQUEST`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IoRequest {
    pub protocol: c_ulong,
    pub pci_length: c_ulong,
}

/// `SCARD_READERSTATE`.
#[repr(C)]
#[derive(Debug)]
pub struct ReaderState {
    pub reader: *const c_char,
    pub user_data: *mut c_void,
    pub current_state: Dword,
    pub event_state: Dword,
    pub atr_len: Dword,
    pub atr: [u8; MAX_ATR_SIZE],
}

type EstablishContextFn =
    unsafe extern "C" fn(Dword, *const c_void, *const c_void, *mut Handle) -> Long;
type ReleaseContextFn = unsafe extern "C" fn(Handle) -> Long;
type ListReadersFn = unsafe extern "C" fn(Handle, *const c_char, *mut c_char, *mut Dword) -> Long;
type ConnectFn =
    unsafe extern "C" fn(Handle, *const c_char, Dword, Dword, *mut Handle, *mut Dword) -> Long;
type ReconnectFn = unsafe extern "C" fn(Handle, Dword, Dword, Dword, *mut Dword) -> Long;
type DisconnectFn = unsafe extern "C" fn(Handle, Dword) -> Long;
type StatusFn = unsafe extern "C" fn(
    Handle,
    *mut c_char,
    *mut Dword,
    *mut Dword,
    *mut Dword,
    *mut u8,
    *mut Dword,
) -> Long;
type TransmitFn = unsafe extern "C" fn(
    Handle,
    *const IoRequest,
    *const u8,
    Dword,
    *mut IoRequest,
    *mut u8,
    *mut Dword,
) -> Long;
type GetStatusChangeFn = unsafe extern "C" fn(Handle, Dword, *mut ReaderState, Dword) -> Long;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
}

const RTLD_NOW: c_int = 2;

/// The library's soname (package libpcsclite1 on Debian/Ubuntu, pcsc-lite-libs on Fedora).
pub const LIBRARY: &str = "libpcsclite.so.1";

/// The entry points, resolved once per process; the library is never unloaded.
pub struct Library {
    establish_context: EstablishContextFn,
    release_context: ReleaseContextFn,
    list_readers: ListReadersFn,
    connect: ConnectFn,
    reconnect: ReconnectFn,
    disconnect: DisconnectFn,
    status: StatusFn,
    transmit: TransmitFn,
    get_status_change: GetStatusChangeFn,
}

/// The loaded library, or why it could not be loaded.
pub fn library() -> Result<&'static Library, String> {
    static LIB: OnceLock<Result<Library, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libc, valid until the
    // next dl* call on this thread; it is copied out at once.
    unsafe {
        let e = dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

fn load() -> Result<Library, String> {
    let name = CString::new(LIBRARY).map_err(|e| e.to_string())?;
    // SAFETY: `name` is a valid NUL-terminated string; dlopen has no other preconditions.
    // Loading runs the library's initializers, which pcsc-lite's are safe to run.
    let handle = unsafe { dlopen(name.as_ptr(), RTLD_NOW) };
    if handle.is_null() {
        return Err(last_dl_error());
    }
    macro_rules! sym {
        ($name:literal, $ty:ty) => {{
            let cname = CString::new($name).map_err(|e| e.to_string())?;
            // SAFETY: `handle` is a live dlopen handle (never closed) and `cname` is
            // NUL-terminated.
            let p = unsafe { dlsym(handle, cname.as_ptr()) };
            if p.is_null() {
                return Err(format!("{}: symbol {} missing", LIBRARY, $name));
            }
            // SAFETY: the symbol is pcsc-lite's function of that name, whose C prototype
            // (winscard.h) the function-pointer type reproduces with the Linux type sizes.
            unsafe { std::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    Ok(Library {
        establish_context: sym!("SCardEstablishContext", EstablishContextFn),
        release_context: sym!("SCardReleaseContext", ReleaseContextFn),
        list_readers: sym!("SCardListReaders", ListReadersFn),
        connect: sym!("SCardConnect", ConnectFn),
        reconnect: sym!("SCardReconnect", ReconnectFn),
        disconnect: sym!("SCardDisconnect", DisconnectFn),
        status: sym!("SCardStatus", StatusFn),
        transmit: sym!("SCardTransmit", TransmitFn),
        get_status_change: sym!("SCardGetStatusChange", GetStatusChangeFn),
    })
}

/// A return code as the unsigned 32-bit value the headers define (`LONG` is sign-extended
/// where `long` is 32 bits wide). A non-zero value never reads as success, even if only its
/// upper bits are set.
fn rc(v: Long) -> u32 {
    match v as u32 {
        0 if v != 0 => u32::MAX,
        code => code,
    }
}

impl Library {
    pub fn establish_context(&self, scope: Dword) -> Result<Handle, u32> {
        let mut ctx: Handle = 0;
        // SAFETY: the reserved pointers may be NULL; `ctx` is a valid out pointer.
        let r = unsafe {
            (self.establish_context)(scope, std::ptr::null(), std::ptr::null(), &mut ctx)
        };
        ok(r).map(|()| ctx)
    }

    pub fn release_context(&self, ctx: Handle) -> Result<(), u32> {
        // SAFETY: plain value argument; an invalid handle is reported as an error code.
        ok(unsafe { (self.release_context)(ctx) })
    }

    /// The reader multi-string (`name\0name\0\0`), as bytes.
    pub fn list_readers(&self, ctx: Handle) -> Result<Vec<u8>, u32> {
        // Readers may appear between the two calls: retry on a too-small buffer.
        for _ in 0..4 {
            let mut len: Dword = 0;
            // SAFETY: a NULL buffer asks for the needed length only; `len` is a valid out
            // pointer; NULL groups means all readers.
            let r = unsafe {
                (self.list_readers)(ctx, std::ptr::null(), std::ptr::null_mut(), &mut len)
            };
            ok(r)?;
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0).max(1)];
            let mut len2 = Dword::try_from(buf.len()).unwrap_or(0);
            // SAFETY: `buf` is writable for `len2` bytes, and pcsc-lite writes at most `len2`
            // bytes (it fails with SCARD_E_INSUFFICIENT_BUFFER otherwise).
            let r = unsafe {
                (self.list_readers)(ctx, std::ptr::null(), buf.as_mut_ptr().cast(), &mut len2)
            };
            match ok(r) {
                Ok(()) => {
                    buf.truncate(usize::try_from(len2).unwrap_or(0).min(buf.len()));
                    return Ok(buf);
                }
                Err(super::SCARD_E_INSUFFICIENT_BUFFER) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(super::SCARD_E_INSUFFICIENT_BUFFER)
    }

    /// `(card handle, active protocol)`.
    pub fn connect(
        &self,
        ctx: Handle,
        reader: &CStr,
        share: Dword,
        protocols: Dword,
    ) -> Result<(Handle, Dword), u32> {
        let mut card: Handle = 0;
        let mut active: Dword = 0;
        // SAFETY: `reader` is NUL-terminated and outlives the call; out pointers are valid.
        let r = unsafe {
            (self.connect)(
                ctx,
                reader.as_ptr(),
                share,
                protocols,
                &mut card,
                &mut active,
            )
        };
        ok(r).map(|()| (card, active))
    }

    pub fn reconnect(
        &self,
        card: Handle,
        share: Dword,
        protocols: Dword,
        init: Dword,
    ) -> Result<Dword, u32> {
        let mut active: Dword = 0;
        // SAFETY: value arguments and a valid out pointer.
        let r = unsafe { (self.reconnect)(card, share, protocols, init, &mut active) };
        ok(r).map(|()| active)
    }

    pub fn disconnect(&self, card: Handle, disposition: Dword) -> Result<(), u32> {
        // SAFETY: value arguments only.
        ok(unsafe { (self.disconnect)(card, disposition) })
    }

    /// `(state, protocol, ATR)`.
    pub fn status(&self, card: Handle) -> Result<(Dword, Dword, Vec<u8>), u32> {
        let mut state: Dword = 0;
        let mut protocol: Dword = 0;
        let mut atr = [0u8; MAX_ATR_SIZE];
        let mut atr_len = Dword::try_from(atr.len()).unwrap_or(0);
        let mut name_len: Dword = 0;
        // SAFETY: a NULL reader-name buffer with a length pointer asks for the length only;
        // `atr` is writable for `atr_len` bytes; other out pointers are valid.
        let r = unsafe {
            (self.status)(
                card,
                std::ptr::null_mut(),
                &mut name_len,
                &mut state,
                &mut protocol,
                atr.as_mut_ptr(),
                &mut atr_len,
            )
        };
        ok(r)?;
        let n = usize::try_from(atr_len).unwrap_or(0).min(atr.len());
        Ok((state, protocol, atr.get(..n).unwrap_or_default().to_vec()))
    }

    /// Sends `apdu` with the PCI of `protocol`; the response is written into `rx`, and its
    /// length returned.
    pub fn transmit(
        &self,
        card: Handle,
        protocol: Dword,
        apdu: &[u8],
        rx: &mut [u8],
    ) -> Result<usize, u32> {
        let pci = IoRequest {
            protocol,
            pci_length: std::mem::size_of::<IoRequest>() as c_ulong,
        };
        let send_len = Dword::try_from(apdu.len()).map_err(|_| super::SCARD_E_INVALID_PARAMETER)?;
        let mut rx_len = Dword::try_from(rx.len()).unwrap_or(0);
        // SAFETY: `pci` and `apdu` are readable, `rx` is writable for `rx_len` bytes (pcsc-lite
        // fails with SCARD_E_INSUFFICIENT_BUFFER rather than write more); the receive PCI may
        // be NULL.
        let r = unsafe {
            (self.transmit)(
                card,
                &pci,
                apdu.as_ptr(),
                send_len,
                std::ptr::null_mut(),
                rx.as_mut_ptr(),
                &mut rx_len,
            )
        };
        ok(r)?;
        Ok(usize::try_from(rx_len).unwrap_or(0).min(rx.len()))
    }

    /// One `SCardGetStatusChange` over `readers` with their `current` states; returns each
    /// reader's `(event state, ATR)`.
    pub fn get_status_change(
        &self,
        ctx: Handle,
        timeout_ms: Dword,
        readers: &[(&CStr, Dword)],
    ) -> Result<Vec<(Dword, Vec<u8>)>, u32> {
        let mut states: Vec<ReaderState> = readers
            .iter()
            .map(|(name, current)| ReaderState {
                reader: name.as_ptr(),
                user_data: std::ptr::null_mut(),
                current_state: *current,
                event_state: 0,
                atr_len: 0,
                atr: [0; MAX_ATR_SIZE],
            })
            .collect();
        let count = Dword::try_from(states.len()).map_err(|_| super::SCARD_E_INVALID_PARAMETER)?;
        // SAFETY: `states` holds `count` initialized SCARD_READERSTATE structures whose reader
        // names (borrowed from `readers`) outlive the call; pcsc-lite writes only inside them.
        let r = unsafe { (self.get_status_change)(ctx, timeout_ms, states.as_mut_ptr(), count) };
        ok(r)?;
        Ok(states
            .iter()
            .map(|s| {
                let n = usize::try_from(s.atr_len).unwrap_or(0).min(MAX_ATR_SIZE);
                (s.event_state, s.atr.get(..n).unwrap_or_default().to_vec())
            })
            .collect())
    }
}

fn ok(r: Long) -> Result<(), u32> {
    match rc(r) {
        0 => Ok(()),
        e => Err(e),
    }
}
