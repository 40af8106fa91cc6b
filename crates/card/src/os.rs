//! The card OS: ISO/IEC 7816-4 command processing, logical channels and application selection.

use apdu::channel::{channel_of, has_secure_messaging, is_chained, is_interindustry, MAX_CHANNEL};
use apdu::es10::{StoreDataChain, INS_GET_RESPONSE, INS_SELECT, INS_STORE_DATA, ISD_R_AID};
use apdu::{Command, Response, StatusWord};
use tlv::{Tag, Writer};

use crate::isdr::{BppLoad, Isdr};
use crate::{ApduResult, CardIdentity, CardRng, CardState};

const INS_MANAGE_CHANNEL: u8 = 0x70;
const CHANNELS: usize = MAX_CHANNEL as usize + 1;

/// The physical/logical interface a command arrives on. Only the contact ISO/IEC 7816
/// interface exists today; further interfaces (e.g. SWP, an OTA transport) get their own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interface {
    #[default]
    Iso7816,
}

/// Applications that can be selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    IsdR,
}

/// Response data not yet fetched with GET RESPONSE.
#[derive(Debug, Clone)]
struct Pending {
    data: Vec<u8>,
    sw: StatusWord,
}

#[derive(Debug, Clone, Default)]
struct Channel {
    selected: Option<App>,
    chain: StoreDataChain,
    pending: Option<Pending>,
}

/// The virtual eUICC. Volatile state (open channels, selections, pending responses, a BPP
/// being loaded) lives here; [`CardState`] is what survives a reset.
pub struct Card {
    identity: CardIdentity,
    state: CardState,
    channels: [Option<Channel>; CHANNELS],
    bpp: Option<BppLoad>,
    rng: Box<CardRng>,
    now: Option<u64>,
    /// Bumped whenever the persistent state changes (see [`Card::state_revision`]).
    revision: u64,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("identity", &self.identity)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// ATR (ISO/IEC 7816-3 §8): direct convention, T=0 and T=1 (`TD1 = 80`, `TD2 = 01`), seven
/// historical bytes (ISO/IEC 7816-4 §8.1.1): category `80`, card service data `31 E0`
/// (application selection by full and partial DF name), card capabilities `73 C0 21 5F`
/// (DF selection by full/partial name; extended Lc/Le; channel numbers assigned by card and
/// interface device; 8 or more logical channels). The last byte is TCK, filled in by [`atr`].
pub const ATR: [u8; 12] = [
    0x3B, 0x87, 0x80, 0x01, 0x80, 0x31, 0xE0, 0x73, 0xC0, 0x21, 0x5F, 0x00,
];

impl Card {
    /// A card with `identity`, its persistent `state` and an injected RNG.
    pub fn new(identity: CardIdentity, state: CardState, rng: Box<CardRng>) -> Card {
        let mut card = Card {
            identity,
            state,
            channels: Default::default(),
            bpp: None,
            rng,
            now: None,
            revision: 0,
        };
        card.reset();
        card
    }

    /// Cold/warm reset: closes every logical channel, drops selections, chains and pending data,
    /// and aborts a BPP being loaded. Returns the ATR.
    pub fn reset(&mut self) -> Vec<u8> {
        self.channels = Default::default();
        self.channels[0] = Some(Channel::default());
        self.bpp = None;
        atr()
    }

    /// Current time (unix seconds) for certificate validity checks, or `None` for a card
    /// without a trusted clock (the default, like real eUICCs): then each certificate is checked
    /// against its own notBefore, i.e. expiry is not enforced.
    pub fn set_time(&mut self, now: Option<u64>) {
        self.now = now;
    }

    pub fn identity(&self) -> &CardIdentity {
        &self.identity
    }

    pub fn state(&self) -> &CardState {
        &self.state
    }

    /// Replaces the persistent state (e.g. loaded from disk) and resets the card. Counts as a
    /// state change for [`Card::state_revision`].
    pub fn load_state(&mut self, state: CardState) {
        self.state = state;
        self.revision = self.revision.wrapping_add(1);
        self.reset();
    }

    /// A counter that changes whenever the persistent [`CardState`] changes: an ES10 function
    /// committed a different state, or [`Card::load_state`] was called. It starts at 0 and means
    /// nothing across card instances; an edge that persists the state compares it before and
    /// after an APDU to know whether to save.
    pub fn state_revision(&self) -> u64 {
        self.revision
    }

    /// Processes one command APDU on the default interface.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.process_on(Interface::Iso7816, apdu)
    }

    /// Processes one command APDU received on `interface`; returns `data || SW1 SW2`.
    pub fn process_on(&mut self, interface: Interface, apdu: &[u8]) -> Vec<u8> {
        match interface {
            Interface::Iso7816 => self.dispatch(apdu).encode(),
        }
    }

    fn dispatch(&mut self, raw: &[u8]) -> Response {
        let cmd = match Command::parse(raw) {
            Ok(c) => c,
            Err(e) => return Response::status(e.status_word()),
        };
        // ISO/IEC 7816-4 §5.4.1: classes without channel coding (RFU, 'A0', 'FF') are refused.
        let Some(ch) = channel_of(cmd.cla) else {
            return Response::status(StatusWord::CLA_NOT_SUPPORTED);
        };
        if has_secure_messaging(cmd.cla) {
            return Response::status(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        if is_chained(cmd.cla) {
            return Response::status(StatusWord::CHAINING_NOT_SUPPORTED);
        }
        let ch = ch as usize;
        if self.channels.get(ch).is_none_or(Option::is_none) {
            return Response::status(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED);
        }
        if cmd.ins == INS_GET_RESPONSE {
            return self.get_response(ch, &cmd);
        }
        // Any other command discards data not yet fetched.
        if let Some(c) = self.channel_mut(ch) {
            c.pending = None;
        }
        let result = match cmd.ins {
            INS_MANAGE_CHANNEL => self.manage_channel(ch, &cmd),
            INS_SELECT => self.select(ch, &cmd),
            INS_STORE_DATA => self.store_data(ch, &cmd),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        };
        match result {
            Ok(data) => self.deliver(ch, data, StatusWord::OK, cmd.le),
            Err(sw) => Response::status(sw),
        }
    }

    fn channel_mut(&mut self, ch: usize) -> Option<&mut Channel> {
        self.channels.get_mut(ch).and_then(Option::as_mut)
    }

    /// Returns at most Ne bytes (256 when Le is absent); the rest waits for GET RESPONSE and the
    /// response ends `61xx` (ISO/IEC 7816-4 §5.3.4).
    fn deliver(
        &mut self,
        ch: usize,
        mut data: Vec<u8>,
        sw: StatusWord,
        le: Option<usize>,
    ) -> Response {
        let max = le.unwrap_or(256).max(1);
        if data.len() <= max {
            return Response::new(data, sw);
        }
        let rest = data.split_off(max);
        let more = rest.len().min(256) as u8; // 256 or more is coded 00
        if let Some(c) = self.channel_mut(ch) {
            c.pending = Some(Pending { data: rest, sw });
        }
        Response::new(data, StatusWord::bytes_available(more))
    }

    /// GET RESPONSE (ISO/IEC 7816-4 §11.7.1), accepted in the interindustry and the proprietary
    /// class (lpac sends `8X C0`).
    fn get_response(&mut self, ch: usize, cmd: &Command) -> Response {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Response::status(StatusWord::INCORRECT_P1_P2);
        }
        if !cmd.data.is_empty() {
            return Response::status(StatusWord::WRONG_LENGTH);
        }
        let Some(pending) = self.channel_mut(ch).and_then(|c| c.pending.take()) else {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        self.deliver(ch, pending.data, pending.sw, cmd.le)
    }

    /// MANAGE CHANNEL (ISO/IEC 7816-4 §11.1.2).
    fn manage_channel(&mut self, ch: usize, cmd: &Command) -> ApduResult {
        if !is_interindustry(cmd.cla) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        match cmd.p1 {
            // Open: P2 = 00 lets the card choose; P2 = 1..19 names the channel.
            0x00 => {
                let target = match cmd.p2 {
                    0 => (1..CHANNELS)
                        .find(|&n| self.channels[n].is_none())
                        .ok_or(StatusWord::FUNCTION_NOT_SUPPORTED)?,
                    n if (n as usize) < CHANNELS => {
                        if self.channels[n as usize].is_some() {
                            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
                        }
                        n as usize
                    }
                    _ => return Err(StatusWord::INCORRECT_P1_P2),
                };
                // Opened from the basic channel: default selection (none); from another
                // channel: that channel's selection is inherited.
                let selected = if ch == 0 {
                    None
                } else {
                    self.channels[ch].as_ref().and_then(|c| c.selected)
                };
                self.channels[target] = Some(Channel {
                    selected,
                    ..Channel::default()
                });
                Ok(if cmd.p2 == 0 {
                    vec![target as u8]
                } else {
                    Vec::new()
                })
            }
            // Close: P2 = 00 closes the channel the command is sent on.
            0x80 => {
                let target = if cmd.p2 == 0 { ch } else { cmd.p2 as usize };
                if target == 0 || target >= CHANNELS {
                    return Err(StatusWord::INCORRECT_P1_P2);
                }
                if self.channels[target].take().is_none() {
                    return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
                }
                Ok(Vec::new())
            }
            _ => Err(StatusWord::INCORRECT_P1_P2),
        }
    }

    /// SELECT (ISO/IEC 7816-4 §11.2.2). Only selection by DF name (AID) is supported; the ISD-R
    /// answers with its FCI.
    fn select(&mut self, ch: usize, cmd: &Command) -> ApduResult {
        match cmd.p1 {
            0x04 => {}
            // Selection by file identifier or path: no file system is exposed yet.
            0x00..=0x03 | 0x08 | 0x09 => return Err(StatusWord::FILE_NOT_FOUND),
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        }
        // P2: b2-b1 occurrence (00 first/only, 10 next), b4-b3 response (00 FCI, 01 FCP,
        // 10 FMD, 11 none); other bits RFU.
        if cmd.p2 & !0x0E != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if cmd.data.is_empty() || cmd.data.len() > 16 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        // Full or right-truncated (partial) DF name; there is a single ISD-R, so "next
        // occurrence" never finds another one.
        let matches = cmd.data.len() >= 5 && ISD_R_AID.starts_with(&cmd.data);
        if !matches || cmd.p2 & 0x02 != 0 {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        let c = self
            .channel_mut(ch)
            .ok_or(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
        c.selected = Some(App::IsdR);
        c.chain.reset();
        Ok(if cmd.p2 & 0x0C == 0x0C {
            Vec::new()
        } else {
            isdr_fci()
        })
    }

    /// STORE DATA (GlobalPlatform CS §11.11) carrying ES10 requests to the ISD-R (SGP.22 §5.7.2).
    fn store_data(&mut self, ch: usize, cmd: &Command) -> ApduResult {
        if is_interindustry(cmd.cla) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        let c = self
            .channel_mut(ch)
            .ok_or(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
        if c.selected != Some(App::IsdR) {
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        let Some(request) = c.chain.push(cmd.p1, cmd.p2, &cmd.data)? else {
            return Ok(Vec::new());
        };
        // Function-level atomicity: the function works on a copy that is committed only when
        // it completes (error responses included; a status word error discards it).
        let mut work = self.state.clone();
        let result = Isdr {
            identity: &self.identity,
            state: &mut work,
            bpp: &mut self.bpp,
            rng: &mut *self.rng,
            now: self.now,
        }
        .handle(&request);
        if result.is_ok() && work != self.state {
            self.state = work;
            self.revision = self.revision.wrapping_add(1);
        }
        result
    }
}

/// The card as its own in-process reader: each `transmit` is one [`Card::process`] on the
/// contact interface. Never fails.
impl apdu::CardTransport for Card {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        Ok(self.process(apdu))
    }
}

/// The ATR with its check byte.
pub fn atr() -> Vec<u8> {
    let mut atr = ATR.to_vec();
    // TCK: XOR of T0..the last historical byte is zero (ISO/IEC 7816-3 §8.2.5).
    let tck = atr[1..atr.len() - 1].iter().fold(0u8, |a, b| a ^ b);
    if let Some(last) = atr.last_mut() {
        *last = tck;
    }
    atr
}

/// FCI of the ISD-R: GlobalPlatform FCI template ('6F' with '84' AID and 'A5' proprietary data
/// carrying '9F65', the maximum command data length) plus the SGP.22 §2.4.4
/// ISDRProprietaryApplicationTemplate ('E0' { '82' svn }) inside '6F', as pySim decodes it.
fn isdr_fci() -> Vec<u8> {
    let mut w = Writer::new();
    w.nested(Tag(0x6F), |w| {
        w.put(Tag(0x84), &ISD_R_AID);
        w.nested(Tag(0xA5), |w| {
            w.put(Tag(0x9F65), &[0xFF]);
        });
        w.nested(Tag(0xE0), |w| {
            w.put(Tag(0x82), &crate::isdr::SVN);
        });
    });
    w.into_vec()
}
