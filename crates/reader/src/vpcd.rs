//! vsmartcard's virtual reader protocol: the card side ("vicc") of the `vpcd` pcscd driver.
//!
//! The protocol, as vsmartcard implements it (virtualsmartcard/src/vpcd/vpcd.c and
//! vpcd.h, `sendToVICC`/`recvFromVICC`, and the reference card loop `VirtualICC.run` in
//! virtualsmartcard/src/vpicc/virtualsmartcard/VirtualSmartcard.py):
//!
//! * Over one TCP connection, each message in either direction is a frame: a 2-byte big-endian
//!   length, then that many bytes.
//! * From the reader, a 1-byte frame is a control message and gets no answer, except GET ATR:
//!   `00` power off, `01` power on, `02` reset, `04` get ATR (answered with a frame holding the
//!   ATR). The reader asks for the ATR whenever pcscd polls for card presence.
//! * Any longer frame is a command APDU, answered with a frame holding the response APDU.
//! * Who connects to whom: by default (`DEVICENAME /dev/null:0x8C7B` in pcscd's
//!   `/etc/reader.conf.d/vpcd`) the reader listens on port 35963 (and 35964 for its second
//!   slot) of every interface (`INADDR_ANY` in vpcd.c `opensock`) and the card connects
//!   ([`Mode::Connect`]). With `DEVICENAME <host>:0x8C7B` ("reversed mode") the reader
//!   connects to the card at host:35963, and the card listens ([`Mode::Listen`]); with host
//!   `127.0.0.1` nothing listens beyond loopback.
//!
//! [`FrameDecoder`] and [`VpcdCard`] are sans-I/O; [`serve_stream`] and [`run`] drive them over
//! blocking sockets.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{CardFault, VirtualCard};

/// vpcd's default port (`VPCDPORT` in vpcd.h); the second slot is the next port.
pub const DEFAULT_PORT: u16 = 35963;
/// The default address of `simkit card serve --vpcd`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";
/// The largest frame payload the 2-byte length can announce.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// Control bytes (vpcd.h `VPCD_CTRL_*`).
pub const CTRL_OFF: u8 = 0x00;
pub const CTRL_ON: u8 = 0x01;
pub const CTRL_RESET: u8 = 0x02;
pub const CTRL_ATR: u8 = 0x04;

/// Response to a command whose response cannot be framed (over 65535 bytes): ISO/IEC 7816-4
/// §5.6 `6F00`, no precise diagnosis.
const SW_NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VpcdError {
    #[error("empty vpcd frame (length 0)")]
    EmptyFrame,
    #[error("unknown vpcd control byte {0:02X}")]
    UnknownControl(u8),
    #[error("vpcd frame payload of {0} bytes exceeds 65535")]
    Oversize(usize),
    #[error("connection closed inside a vpcd frame ({have} of {need} bytes)")]
    Truncated { have: usize, need: usize },
    #[error("vpcd connection {addr}: {message}")]
    Io { addr: String, message: String },
    #[error(transparent)]
    Card(#[from] CardFault),
}

/// One message from the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    PowerOff,
    PowerOn,
    Reset,
    GetAtr,
    Apdu(Vec<u8>),
}

impl Request {
    /// Interprets a frame payload from the reader.
    pub fn parse(payload: &[u8]) -> Result<Request, VpcdError> {
        match payload {
            [] => Err(VpcdError::EmptyFrame),
            [CTRL_OFF] => Ok(Request::PowerOff),
            [CTRL_ON] => Ok(Request::PowerOn),
            [CTRL_RESET] => Ok(Request::Reset),
            [CTRL_ATR] => Ok(Request::GetAtr),
            [other] => Err(VpcdError::UnknownControl(*other)),
            apdu => Ok(Request::Apdu(apdu.to_vec())),
        }
    }

    /// The payload the reader sends for this request.
    pub fn payload(&self) -> Vec<u8> {
        match self {
            Request::PowerOff => vec![CTRL_OFF],
            Request::PowerOn => vec![CTRL_ON],
            Request::Reset => vec![CTRL_RESET],
            Request::GetAtr => vec![CTRL_ATR],
            Request::Apdu(a) => a.clone(),
        }
    }
}

/// `len (2 bytes, big-endian) || payload`.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, VpcdError> {
    let len = u16::try_from(payload.len()).map_err(|_| VpcdError::Oversize(payload.len()))?;
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload (possibly empty), or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let need = self.needed()?;
        if self.buf.len() < need {
            return None;
        }
        let payload = self.buf.get(2..need)?.to_vec();
        self.buf.drain(..need);
        Some(payload)
    }

    /// Total length (header included) of the frame at the head of the buffer, once the header
    /// is there.
    fn needed(&self) -> Option<usize> {
        match self.buf.as_slice() {
            [hi, lo, ..] => Some(2 + usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        }
    }

    /// At end of stream: an error if a frame was cut short.
    pub fn finish(&self) -> Result<(), VpcdError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        Err(VpcdError::Truncated {
            have: self.buf.len(),
            need: self.needed().unwrap_or(2),
        })
    }
}

/// The card side of the protocol: requests in, reply payloads out.
pub struct VpcdCard<C> {
    card: C,
    powered: bool,
}

impl<C: VirtualCard> VpcdCard<C> {
    pub fn new(card: C) -> Self {
        VpcdCard {
            card,
            powered: false,
        }
    }

    pub fn card(&self) -> &C {
        &self.card
    }

    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    pub fn into_inner(self) -> C {
        self.card
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Handles one request; `Some(payload)` is the reply to frame and send back.
    pub fn handle(&mut self, req: &Request) -> Result<Option<Vec<u8>>, CardFault> {
        match req {
            Request::PowerOff => {
                tracing::debug!("vpcd: power off");
                self.card.power_off()?;
                self.powered = false;
                Ok(None)
            }
            Request::PowerOn => {
                tracing::debug!("vpcd: power on");
                self.card.power_on()?;
                self.powered = true;
                Ok(None)
            }
            Request::Reset => {
                tracing::debug!("vpcd: reset");
                self.card.reset()?;
                self.powered = true;
                Ok(None)
            }
            Request::GetAtr => Ok(Some(self.card.atr())),
            Request::Apdu(apdu) => {
                if !self.powered {
                    // pcscd powers the card before any APDU; should one come first anyway, the
                    // card answers after an implicit cold reset.
                    self.card.power_on()?;
                    self.powered = true;
                }
                let mut resp = self.card.transmit(apdu)?;
                tracing::trace!(
                    "vpcd: {} -> {}",
                    hex::encode_upper(apdu),
                    hex::encode_upper(&resp)
                );
                if resp.len() > MAX_PAYLOAD {
                    tracing::warn!(
                        "vpcd: a {}-byte response does not fit a frame; answering 6F00",
                        resp.len()
                    );
                    resp = SW_NO_PRECISE_DIAGNOSIS.to_vec();
                }
                Ok(Some(resp))
            }
        }
    }

    /// The card is gone from the reader (connection lost): it loses power.
    pub fn removed(&mut self) -> Result<(), CardFault> {
        if self.powered {
            self.powered = false;
            self.card.power_off()?;
        }
        Ok(())
    }
}

fn io_err(addr: &str) -> impl Fn(io::Error) -> VpcdError + '_ {
    move |e| VpcdError::Io {
        addr: addr.to_string(),
        message: e.to_string(),
    }
}

/// Serves one connection until the reader closes it. `Ok` on a clean close at a frame
/// boundary; malformed frames (empty, unknown control byte) are logged and skipped, as
/// vsmartcard's own card does.
pub fn serve_stream<S: Read + Write, C: VirtualCard>(
    stream: &mut S,
    card: &mut VpcdCard<C>,
    addr: &str,
) -> Result<(), VpcdError> {
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(addr)(e)),
        };
        if n == 0 {
            return decoder.finish();
        }
        decoder.push(buf.get(..n).unwrap_or_default());
        while let Some(payload) = decoder.next_frame() {
            let req = match Request::parse(&payload) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("vpcd {addr}: {e}; ignored");
                    continue;
                }
            };
            if let Some(reply) = card.handle(&req)? {
                let frame = encode_frame(&reply)?;
                stream.write_all(&frame).map_err(io_err(addr))?;
                stream.flush().map_err(io_err(addr))?;
            }
        }
    }
}

/// A TCP stream that acknowledges every segment at once (`TCP_QUICKACK`, re-armed after each
/// read because Linux clears it). vsmartcard releases before 2023 (Debian 12's 3.3+dfsg)
/// send a frame's length and its payload in two `send` calls without `TCP_NODELAY`: Nagle
/// holds the payload back until the length is acknowledged, and a delayed ACK would add up to
/// 40 ms to every APDU.
struct QuickAck<'a>(&'a mut TcpStream);

impl Read for QuickAck<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::TcpStreamExt;
            let _ = self.0.set_quickack(true);
        }
        Ok(n)
    }
}

impl Write for QuickAck<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Who opens the TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Connect to the reader (vpcd's default configuration), e.g. `127.0.0.1:35963`.
    Connect(String),
    /// Listen for the reader (vpcd's reversed mode), e.g. `127.0.0.1:35963`.
    Listen(String),
}

impl Mode {
    pub fn addr(&self) -> &str {
        match self {
            Mode::Connect(a) | Mode::Listen(a) => a,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// After the reader goes away (pcscd restarted), wait for it again; otherwise return.
    pub reconnect: bool,
    /// Pause between connection attempts.
    pub retry_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reconnect: true,
            retry_interval: Duration::from_millis(500),
        }
    }
}

/// Ends a running [`run`] from another thread.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    inner: Arc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    flag: AtomicBool,
    current: Mutex<Option<TcpStream>>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks [`run`] to return; closes the current connection (the card leaves the reader).
    pub fn stop(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        if let Ok(guard) = self.inner.current.lock() {
            if let Some(s) = guard.as_ref() {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    fn set_current(&self, s: Option<&TcpStream>) {
        if let Ok(mut guard) = self.inner.current.lock() {
            *guard = s.and_then(|s| s.try_clone().ok());
        }
        // A stop that raced with the connection still closes it.
        if self.is_stopped() {
            if let Some(s) = s {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// Sleeps `d`, waking early on stop. Returns whether stopped.
    fn sleep(&self, d: Duration) -> bool {
        let step = Duration::from_millis(20);
        let mut left = d;
        while !left.is_zero() {
            if self.is_stopped() {
                return true;
            }
            let s = left.min(step);
            std::thread::sleep(s);
            left -= s;
        }
        self.is_stopped()
    }
}

/// Events worth telling the user about (the CLI prints them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Waiting for the reader at this address.
    Waiting(String),
    /// Connected to the reader (the card is in the reader).
    Connected(String),
    /// The reader closed the connection or it failed (the card left the reader).
    Disconnected { addr: String, error: Option<String> },
}

/// Serves `card` to vpcd in `mode` until stopped, or (without `reconnect`) until the first
/// connection ends. A card fault ends it with an error: the state could not be kept, so
/// carrying on would answer from a card that has lost data.
pub fn run<C: VirtualCard>(
    mode: &Mode,
    card: &mut VpcdCard<C>,
    opts: &Options,
    stop: &Stop,
    events: &mut dyn FnMut(Event),
) -> Result<(), VpcdError> {
    let addr = mode.addr().to_string();
    let listener = match mode {
        Mode::Listen(a) => {
            let l = TcpListener::bind(a).map_err(io_err(a))?;
            l.set_nonblocking(true).map_err(io_err(a))?;
            Some(l)
        }
        Mode::Connect(_) => None,
    };
    let mut announced = false;
    loop {
        if stop.is_stopped() {
            return Ok(());
        }
        let conn = match &listener {
            Some(l) => match l.accept() {
                Ok((s, _peer)) => s.set_nonblocking(false).map(|_| s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !announced {
                        events(Event::Waiting(addr.clone()));
                        announced = true;
                    }
                    if stop.sleep(Duration::from_millis(20)) {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => Err(e),
            },
            None => TcpStream::connect(&addr),
        };
        let mut stream = match conn {
            Ok(s) => s,
            Err(e) => {
                if !opts.reconnect {
                    return Err(io_err(&addr)(e));
                }
                if !announced {
                    events(Event::Waiting(addr.clone()));
                    announced = true;
                }
                if stop.sleep(opts.retry_interval) {
                    return Ok(());
                }
                continue;
            }
        };
        announced = false;
        // One small frame per APDU each way: send without Nagle delay.
        let _ = stream.set_nodelay(true);
        stop.set_current(Some(&stream));
        events(Event::Connected(addr.clone()));
        let result = serve_stream(&mut QuickAck(&mut stream), card, &addr);
        stop.set_current(None);
        card.removed()?;
        match result {
            Err(VpcdError::Card(f)) => return Err(VpcdError::Card(f)),
            r => {
                events(Event::Disconnected {
                    addr: addr.clone(),
                    error: r.as_ref().err().map(|e| e.to_string()),
                });
                if !opts.reconnect || stop.is_stopped() {
                    return if stop.is_stopped() { Ok(()) } else { r };
                }
            }
        }
        if stop.sleep(opts.retry_interval) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcard::{EchoCard, ATR};

    #[test]
    fn frames_encode_big_endian() {
        assert_eq!(encode_frame(&[0x01]).unwrap(), [0x00, 0x01, 0x01]);
        assert_eq!(encode_frame(&[]).unwrap(), [0x00, 0x00]);
        let big = vec![0xAB; 0x0102];
        let f = encode_frame(&big).unwrap();
        assert_eq!(&f[..2], &[0x01, 0x02]);
        assert_eq!(f.len(), 2 + 0x0102);
        assert_eq!(encode_frame(&vec![0; 65535]).unwrap().len(), 65537);
        assert_eq!(
            encode_frame(&vec![0; 65536]),
            Err(VpcdError::Oversize(65536))
        );
    }

    #[test]
    fn decoder_reassembles_split_and_joined_frames() {
        let mut d = FrameDecoder::new();
        // GET ATR, power on, then SELECT MF `00 A4 00 00 02 3F 00` delivered byte by byte.
        let mut wire = Vec::new();
        wire.extend(encode_frame(&[CTRL_ATR]).unwrap());
        wire.extend(encode_frame(&[CTRL_ON]).unwrap());
        let apdu = [0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
        wire.extend(encode_frame(&apdu).unwrap());
        let mut got = Vec::new();
        for b in &wire {
            d.push(&[*b]);
            while let Some(f) = d.next_frame() {
                got.push(Request::parse(&f).unwrap());
            }
        }
        assert_eq!(
            got,
            [
                Request::GetAtr,
                Request::PowerOn,
                Request::Apdu(apdu.to_vec())
            ]
        );
        assert_eq!(d.finish(), Ok(()));
        // All at once.
        d.push(&wire);
        assert_eq!(d.next_frame().unwrap(), [CTRL_ATR]);
        assert_eq!(d.next_frame().unwrap(), [CTRL_ON]);
        assert_eq!(d.next_frame().unwrap(), apdu);
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn truncated_zero_and_unknown_frames() {
        let mut d = FrameDecoder::new();
        d.push(&[0x00]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.finish(), Err(VpcdError::Truncated { have: 1, need: 2 }));
        d.push(&[0x05, 0x00, 0xA4]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.finish(), Err(VpcdError::Truncated { have: 4, need: 7 }));

        let mut d = FrameDecoder::new();
        d.push(&[0x00, 0x00, 0x00, 0x01, 0x03]);
        let empty = d.next_frame().unwrap();
        assert_eq!(Request::parse(&empty), Err(VpcdError::EmptyFrame));
        let unknown = d.next_frame().unwrap();
        assert_eq!(Request::parse(&unknown), Err(VpcdError::UnknownControl(3)));
        // A maximal announced length just waits for more bytes.
        d.push(&[0xFF, 0xFF, 0x00]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(
            d.finish(),
            Err(VpcdError::Truncated {
                have: 3,
                need: 65537
            })
        );
        for r in [
            Request::PowerOff,
            Request::PowerOn,
            Request::Reset,
            Request::GetAtr,
            Request::Apdu(vec![0x80, 0xCA, 0x00, 0xFE]),
        ] {
            assert_eq!(Request::parse(&r.payload()).unwrap(), r);
        }
    }

    /// An in-memory connection: reads from `input`, collects writes.
    struct Pipe {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Pipe {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            // Deliver at most 3 bytes per read, to exercise reassembly.
            let n = b.len().min(3);
            self.input.read(&mut b[..n])
        }
    }

    impl Write for Pipe {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pipe(reqs: &[&[u8]]) -> Pipe {
        let mut input = Vec::new();
        for r in reqs {
            input.extend(encode_frame(r).unwrap());
        }
        Pipe {
            input: io::Cursor::new(input),
            output: Vec::new(),
        }
    }

    fn replies(out: &[u8]) -> Vec<Vec<u8>> {
        let mut d = FrameDecoder::new();
        d.push(out);
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    #[test]
    fn a_session_like_pcscd_runs_it() {
        // What pcscd does through vpcd when a card appears and an application uses it:
        // presence poll (GET ATR), power on, GET ATR, APDUs; then power off and a reset.
        let mut p = pipe(&[
            &[CTRL_ATR],
            &[CTRL_ON],
            &[CTRL_ATR],
            &[0x00, 0x70, 0x00, 0x00, 0x01],
            &[0x00, 0x70, 0x00, 0x00, 0x01],
            &[],
            &[0x07],
            &[CTRL_OFF],
            &[CTRL_ON],
            &[0x00, 0x70, 0x00, 0x00, 0x01],
            &[CTRL_RESET],
            &[0x00, 0x70, 0x00, 0x00, 0x01],
        ]);
        let mut card = VpcdCard::new(EchoCard::default());
        serve_stream(&mut p, &mut card, "test").unwrap();
        let r = replies(&p.output);
        assert_eq!(
            r,
            vec![
                ATR.to_vec(),
                ATR.to_vec(),
                vec![1, 0x90, 0x00],
                vec![2, 0x90, 0x00],
                // Power cycle and reset close the channels: channel 1 again.
                vec![1, 0x90, 0x00],
                vec![1, 0x90, 0x00],
            ]
        );
        assert_eq!(card.card().resets, 3);
        assert!(card.is_powered());
        card.removed().unwrap();
        assert!(!card.card().powered);
    }

    #[test]
    fn truncated_stream_and_card_fault_end_the_connection() {
        let mut p = pipe(&[&[CTRL_ON]]);
        p.input
            .get_mut()
            .extend_from_slice(&[0x00, 0x05, 0x00, 0xA4]);
        let mut card = VpcdCard::new(EchoCard::default());
        assert_eq!(
            serve_stream(&mut p, &mut card, "t"),
            Err(VpcdError::Truncated { have: 4, need: 7 })
        );

        let mut p = pipe(&[&[CTRL_ON], &[0x00, 0xB0, 0x00, 0x00, 0x00]]);
        let mut card = VpcdCard::new(EchoCard {
            fail: true,
            ..Default::default()
        });
        assert!(matches!(
            serve_stream(&mut p, &mut card, "t"),
            Err(VpcdError::Card(_))
        ));
        assert!(p.output.is_empty(), "no answer after a card fault");
    }

    #[test]
    fn apdu_before_power_on_gets_a_fresh_card() {
        let mut p = pipe(&[&[0x00, 0x70, 0x00, 0x00, 0x01]]);
        let mut card = VpcdCard::new(EchoCard::default());
        serve_stream(&mut p, &mut card, "t").unwrap();
        assert_eq!(replies(&p.output), vec![vec![1, 0x90, 0x00]]);
        assert_eq!(card.card().resets, 1);
    }

    /// Plays vpcd over real loopback sockets in both modes, including a reconnect.
    #[test]
    fn loopback_both_modes_and_reconnect() {
        fn exchange(s: &mut TcpStream, payload: &[u8], answered: bool) -> Option<Vec<u8>> {
            s.write_all(&encode_frame(payload).unwrap()).unwrap();
            if !answered {
                return None;
            }
            let mut hdr = [0u8; 2];
            s.read_exact(&mut hdr).unwrap();
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(hdr))];
            s.read_exact(&mut body).unwrap();
            Some(body)
        }

        // Reversed mode: the card listens, "vpcd" connects twice.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let stop = Stop::new();
        let (mode, s2) = (Mode::Listen(addr.clone()), stop.clone());
        let server = std::thread::spawn(move || {
            let mut card = VpcdCard::new(EchoCard::default());
            let mut events = Vec::new();
            let r = run(
                &mode,
                &mut card,
                &Options {
                    reconnect: true,
                    retry_interval: Duration::from_millis(10),
                },
                &s2,
                &mut |e| events.push(e),
            );
            (r, card.into_inner(), events)
        });
        let connect = || {
            for _ in 0..200 {
                if let Ok(s) = TcpStream::connect(&addr) {
                    return s;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("card never listened");
        };
        for _ in 0..2 {
            let mut s = connect();
            assert_eq!(exchange(&mut s, &[CTRL_ATR], true).unwrap(), ATR);
            exchange(&mut s, &[CTRL_ON], false);
            let r = exchange(&mut s, &[0x00, 0x70, 0x00, 0x00, 0x01], true).unwrap();
            // Each connection is a new insertion: channels start over.
            assert_eq!(r, [1, 0x90, 0x00]);
        }
        stop.stop();
        let (r, card, events) = server.join().unwrap();
        assert_eq!(r, Ok(()));
        assert_eq!(card.resets, 2);
        assert!(events.contains(&Event::Connected(addr.clone())));

        // Normal mode: "vpcd" listens, the card connects; without reconnect, run returns when
        // the reader closes.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let mode = Mode::Connect(addr.clone());
        let server = std::thread::spawn(move || {
            let mut card = VpcdCard::new(EchoCard::default());
            let r = run(
                &mode,
                &mut card,
                &Options {
                    reconnect: false,
                    retry_interval: Duration::from_millis(10),
                },
                &Stop::new(),
                &mut |_| {},
            );
            (r, card.into_inner())
        });
        let (mut s, _) = l.accept().unwrap();
        exchange(&mut s, &[CTRL_ON], false);
        let r = exchange(&mut s, &[0x80, 0xCA, 0x9F, 0x7F, 0x00], true).unwrap();
        assert_eq!(r, [0x80, 0xCA, 0x9F, 0x7F, 0x00, 0x90, 0x00]);
        drop(s);
        let (r, card) = server.join().unwrap();
        assert_eq!(r, Ok(()));
        assert!(!card.powered, "the card lost power when it left the reader");

        // Nothing listening and no reconnect: a clear error naming the address.
        drop(l);
        let e = run(
            &Mode::Connect(addr.clone()),
            &mut VpcdCard::new(EchoCard::default()),
            &Options {
                reconnect: false,
                retry_interval: Duration::from_millis(10),
            },
            &Stop::new(),
            &mut |_| {},
        );
        match e {
            Err(VpcdError::Io { addr: a, .. }) => assert_eq!(a, addr),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any byte stream, cut anywhere: the decoder never panics, and frames it yields
        /// re-encode to a prefix of the stream.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                cut in 0usize..600) {
            let mut d = FrameDecoder::new();
            let cut = cut.min(bytes.len());
            d.push(&bytes[..cut]);
            let mut out = Vec::new();
            while let Some(f) = d.next_frame() {
                out.extend(encode_frame(&f).unwrap());
                let _ = Request::parse(&f);
            }
            d.push(&bytes[cut..]);
            while let Some(f) = d.next_frame() {
                out.extend(encode_frame(&f).unwrap());
            }
            prop_assert!(bytes.starts_with(&out));
            let _ = d.finish();
        }
    }
}
