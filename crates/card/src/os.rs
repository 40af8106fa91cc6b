//! The card OS: ISO/IEC 7816-4 command processing per interface, logical channels, and
//! routing of SELECT to the containers.
//!
//! Every command arrives with the [`Protocol`] its transport tagged it with
//! ([`Card::process_on`]). The protocol's [`Interface`] owns the session state the command works
//! on: logical channels 0–19, what is selected on each, pending GET RESPONSE data and STORE
//! DATA chains. Interfaces never see each other's session state, and a reset of one interface
//! clears only its own ([`Card::reset_interface`]); the persistent [`CardState`] stays.
//!
//! SELECT by AID routes as [`crate::routing`] describes; the selected entity then receives the
//! channel's commands with access to its own container's state only: the ISD-R (telecom) works
//! on a copy of the telecom part of the state, GP entities on [`crate::gp::GpState`]. The pairing
//! commands ([`crate::pairing`]) are OS commands, valid whatever is selected.
//!
//! The telecom container also holds the UICC side of each installed profile
//! ([`CardState::uicc`], a `uicc::Uicc`). The *enabled* profile's one answers the UICC commands
//! (ETSI TS 102 221 §11, 3GPP TS 31.102 §7): SELECT by FID/path (on a channel whose selection
//! is the file system, or whose protocol is paired with the telecom container), SELECT of its
//! ADFs by AID, READ/UPDATE BINARY/RECORD, SEARCH RECORD, STATUS, the PIN commands and
//! AUTHENTICATE, with the file selection kept per channel and the verified PINs per interface.
//! A channel with nothing selected sends these to the paired container's file system, where the
//! MF is implicitly current. Without an enabled profile there is no file system: SELECT by
//! FID answers `6A82`.
//!
//! The card application toolkit commands of the terminal (class '80', basic channel, contact
//! interface): TERMINAL PROFILE, ENVELOPE (SMS-PP download, handed to [`crate::ota`]), FETCH,
//! TERMINAL RESPONSE and GET DATA of the SMS-PP capability ('FF70'); while a proactive command waits, '9000' answers become '91xx'.

use apdu::channel::{channel_of, has_secure_messaging, is_chained, is_interindustry, MAX_CHANNEL};
use apdu::es10::{StoreDataChain, INS_GET_RESPONSE, INS_SELECT, INS_STORE_DATA, ISD_R_AID};
use apdu::{Command, Response, StatusWord};
use tlv::{Tag, Writer};

use crate::gp::{self, GpChannel};
use crate::interface::{Interface, Protocol};
use crate::isdr::{BppLoad, Isdr};
use crate::pairing::{self, AdminFailure, PowerCut, INS_PAIRING_DATA};
use crate::routing::{df_name_matches, AliasRegistry, ContainerId};
use crate::{ApduResult, CardIdentity, CardRng, CardState};
use uicc::{Selection, VerifiedPins};

const INS_MANAGE_CHANNEL: u8 = 0x70;
const INS_ENVELOPE: u8 = 0xC2;
const INS_FETCH: u8 = 0x12;
const INS_TERMINAL_RESPONSE: u8 = 0x14;
const INS_TERMINAL_PROFILE: u8 = 0x10;
const INS_GET_DATA: u8 = 0xCA;
const CHANNELS: usize = MAX_CHANNEL as usize + 1;

/// Entities that can be selected, each in its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    /// The ISD-R (telecom container).
    IsdR,
    /// A GlobalPlatform entity (ISD, SSD or application instance); the channel's
    /// [`GpChannel`] holds which.
    Gp,
    /// The enabled profile's UICC file system (telecom container): an ADF, or the MF/DF/EF
    /// tree, with the channel's [`Selection`].
    Uicc,
}

impl App {
    fn container(self) -> ContainerId {
        match self {
            App::IsdR | App::Uicc => ContainerId::Telecom,
            App::Gp => ContainerId::GlobalPlatform,
        }
    }
}

/// Response data not yet fetched with GET RESPONSE.
#[derive(Debug, Clone)]
struct Pending {
    data: Vec<u8>,
    sw: StatusWord,
}

#[derive(Debug, Default)]
struct Channel {
    /// The selected entity; `None` after reset: commands then go to the file system of the
    /// container paired with the protocol, where the MF is implicitly selected
    /// (ETSI TS 102 221 §8.4.1 / §11.1.1).
    selected: Option<App>,
    /// Current DF/EF/ADF and record pointer in the enabled profile's file system.
    fs: Selection,
    chain: StoreDataChain,
    pending: Option<Pending>,
    /// GlobalPlatform: the selected entity's AID, secure channel session, LOAD/STORE DATA/
    /// GET STATUS in progress.
    gp: GpChannel,
}

/// Volatile state of one interface.
#[derive(Debug, Default)]
struct Session {
    channels: [Option<Channel>; CHANNELS],
    /// A Bound Profile Package being loaded through the ISD-R on this interface.
    bpp: Option<BppLoad>,
    /// PINs verified in this card session (ETSI TS 102 221 §9.5).
    pins: VerifiedPins,
    /// ISD-P AID (hex) of the profile whose file system the channels' selections refer to.
    uicc_profile: Option<String>,
}

impl Session {
    /// After power-up or reset: only the basic channel is open, nothing is selected.
    fn fresh() -> Session {
        let mut s = Session::default();
        s.channels[0] = Some(Channel::default());
        s
    }

    fn channel_mut(&mut self, ch: usize) -> Option<&mut Channel> {
        self.channels.get_mut(ch).and_then(Option::as_mut)
    }
}

/// The virtual secure element. Volatile state (per-interface sessions) lives here;
/// [`CardState`] is what survives a reset.
pub struct Card {
    identity: CardIdentity,
    state: CardState,
    sessions: [Session; Interface::ALL.len()],
    aliases: AliasRegistry,
    rng: Box<CardRng>,
    now: Option<u64>,
    /// Armed fault injection: NVM programming operations left before power is lost.
    power_cut: PowerCut,
    /// Bumped whenever the persistent state changes (see [`Card::state_revision`]).
    revision: u64,
    /// Volatile OTA state of the contact interface (concatenated SMS being reassembled,
    /// proactive commands waiting for FETCH / TERMINAL RESPONSE).
    ota: crate::ota::OtaSession,
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
        let ota = crate::ota::OtaSession::new(state.ota.config.max_pending_messages);
        Card {
            identity,
            state,
            sessions: std::array::from_fn(|_| Session::fresh()),
            aliases: AliasRegistry::default(),
            rng,
            now: None,
            power_cut: PowerCut::default(),
            revision: 0,
            ota,
        }
    }

    /// Cold/warm reset of the contact interface: closes its logical channels, drops its
    /// selections, chains and pending data, and aborts a BPP being loaded over it. Other
    /// interfaces are untouched. Returns the ATR.
    pub fn reset(&mut self) -> Vec<u8> {
        self.reset_interface(Interface::Contact);
        atr()
    }

    /// Power-off or reset of one interface: its session state only.
    pub fn reset_interface(&mut self, interface: Interface) {
        if let Some(s) = self.sessions.get_mut(interface.index()) {
            *s = Session::fresh();
        }
        if interface == Interface::Contact {
            self.ota = crate::ota::OtaSession::new(self.state.ota.config.max_pending_messages);
        }
    }

    /// Power-off of the whole card: every interface's session state.
    pub fn power_off(&mut self) {
        for i in Interface::ALL {
            self.reset_interface(i);
        }
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

    /// The alias registry (common AID → real AID per container).
    pub fn aliases(&self) -> &AliasRegistry {
        &self.aliases
    }

    /// Replaces the alias registry (card configuration; not part of the persistent state).
    pub fn set_aliases(&mut self, aliases: AliasRegistry) {
        self.aliases = aliases;
    }

    /// Replaces the persistent state (e.g. loaded from disk) and powers the card off (every
    /// interface). Counts as a state change for [`Card::state_revision`].
    pub fn load_state(&mut self, state: CardState) {
        self.state = state;
        self.revision = self.revision.wrapping_add(1);
        self.power_off();
    }

    /// A counter that changes whenever the persistent [`CardState`] changes: an ES10 function
    /// committed a different state, the pairing data changed, or [`Card::load_state`] was
    /// called. It starts at 0 and means nothing across card instances; an edge that persists
    /// the state compares it before and after an APDU to know whether to save.
    pub fn state_revision(&self) -> u64 {
        self.revision
    }

    /// Fault injection for tests: power is lost after `operations` further NVM programming
    /// operations (modelled for the pairing data: one per byte programmed, one for the counter
    /// word, one for a slot erase). The command during which it happens gets no response (an
    /// empty vector) and every interface is powered off; what was programmed stays.
    pub fn inject_power_loss(&mut self, operations: usize) {
        self.power_cut = PowerCut(Some(operations));
    }

    /// Processes one command APDU on the contact interface (T=0, the protocol the ATR
    /// offers first and the default without PPS, ISO/IEC 7816-3 §6.3.1).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.process_on(Protocol::T0, apdu)
    }

    /// Processes one command APDU that the transport received over `protocol`; returns
    /// `data || SW1 SW2` for that same interface. Empty only after an injected power loss.
    pub fn process_on(&mut self, protocol: Protocol, apdu: &[u8]) -> Vec<u8> {
        let mut lost = false;
        let mut resp = self.dispatch(protocol, apdu, &mut lost);
        // ETSI TS 102 221 §10.2.1.1: '91xx' instead of '9000' while a proactive command waits
        // for FETCH (the terminal's interface only).
        if protocol.is_iso7816_3() && resp.sw == StatusWord::OK {
            if let Some(n) = self.ota.next_proactive_len() {
                resp.sw = StatusWord::new(0x91, n.min(255) as u8);
            }
        }
        if lost {
            self.power_off();
            return Vec::new();
        }
        resp.encode()
    }

    fn session(&mut self, protocol: Protocol) -> &mut Session {
        // `Interface::index` covers every interface: the array has one session each.
        let i = protocol.interface().index();
        &mut self.sessions[i]
    }

    fn channel_mut(&mut self, protocol: Protocol, ch: usize) -> Option<&mut Channel> {
        self.session(protocol).channel_mut(ch)
    }

    fn dispatch(&mut self, protocol: Protocol, raw: &[u8], lost: &mut bool) -> Response {
        let cmd = match Command::parse(raw) {
            Ok(c) => c,
            Err(e) => return Response::status(e.status_word()),
        };
        // ISO/IEC 7816-4 §5.4.1: classes without channel coding (RFU, 'A0', 'FF') are refused.
        let Some(ch) = channel_of(cmd.cla) else {
            return Response::status(StatusWord::CLA_NOT_SUPPORTED);
        };
        // Secure messaging (GP CS v2.3.1 §11.1.4): only a GlobalPlatform security domain
        // selected on the channel unwraps it.
        if has_secure_messaging(cmd.cla)
            && !self
                .channel_mut(protocol, ch as usize)
                .is_some_and(|c| c.selected == Some(App::Gp))
        {
            return Response::status(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        if is_chained(cmd.cla) {
            return Response::status(StatusWord::CHAINING_NOT_SUPPORTED);
        }
        let ch = ch as usize;
        if self.channel_mut(protocol, ch).is_none() {
            return Response::status(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED);
        }
        if cmd.ins == INS_GET_RESPONSE {
            return self.get_response(protocol, ch, &cmd);
        }
        // Card application toolkit (ETSI TS 102 221 §10.1.3, TS 102 223): ENVELOPE, FETCH and
        // TERMINAL RESPONSE, class '80' on the basic channel of the contact interface.
        if cmd.cla == 0x80 && ch == 0 && protocol.is_iso7816_3() {
            match cmd.ins {
                INS_ENVELOPE => {
                    if let Some(c) = self.channel_mut(protocol, ch) {
                        c.pending = None;
                    }
                    let r = self.ota_envelope(&cmd);
                    return self.deliver(protocol, ch, r.data, r.sw, cmd.le);
                }
                INS_FETCH => return crate::ota::proactive::fetch(&mut self.ota, &cmd),
                INS_TERMINAL_RESPONSE => {
                    return crate::ota::proactive::terminal_response(&mut self.ota, &cmd)
                }
                // TS 102 221 §11.2.1 / TS 102 223 §5.2: the terminal's capabilities.
                INS_TERMINAL_PROFILE => {
                    if cmd.p1 != 0 || cmd.p2 != 0 {
                        return Response::status(StatusWord::INCORRECT_P1_P2);
                    }
                    self.ota.terminal_profile = Some(cmd.data.clone());
                    return Response::ok(Vec::new());
                }
                // The SMS-PP capability data object (see `crate::ota::TAG_SMS_PP_CAPABILITY`);
                // other GET DATA tags go to the selected application.
                INS_GET_DATA
                    if u16::from_be_bytes([cmd.p1, cmd.p2])
                        == crate::ota::TAG_SMS_PP_CAPABILITY =>
                {
                    if !cmd.data.is_empty() {
                        return Response::status(StatusWord::WRONG_LENGTH);
                    }
                    let data = crate::ota::sms_pp_capability(&self.state.ota.config);
                    return self.deliver(protocol, ch, data, StatusWord::OK, cmd.le);
                }
                _ => {}
            }
        }
        // Any other command discards data not yet fetched.
        if let Some(c) = self.channel_mut(protocol, ch) {
            c.pending = None;
        }
        let ok = |r: ApduResult| r.map(|d| (d, StatusWord::OK));
        let result = match cmd.ins {
            INS_MANAGE_CHANNEL => ok(self.manage_channel(protocol, ch, &cmd)),
            INS_SELECT => self.select(protocol, ch, &cmd),
            // Reserved by the OS in every class (no ISO/GP/ETSI instruction uses it).
            INS_PAIRING_DATA => ok(self.pairing_command(&cmd, lost)),
            _ => self.for_selected(protocol, ch, &cmd),
        };
        match result {
            Ok((data, sw)) => self.deliver(protocol, ch, data, sw, cmd.le),
            Err(sw) => Response::status(sw),
        }
    }

    /// Returns at most Ne bytes (256 when Le is absent); the rest waits for GET RESPONSE and the
    /// response ends `61xx` (ISO/IEC 7816-4 §5.3.4).
    fn deliver(
        &mut self,
        protocol: Protocol,
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
        if let Some(c) = self.channel_mut(protocol, ch) {
            c.pending = Some(Pending { data: rest, sw });
        }
        Response::new(data, StatusWord::bytes_available(more))
    }

    /// GET RESPONSE (ISO/IEC 7816-4 §11.7.1), accepted in the interindustry and the proprietary
    /// class (lpac sends `8X C0`). Only the interface and channel that produced the data get it.
    fn get_response(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> Response {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Response::status(StatusWord::INCORRECT_P1_P2);
        }
        if !cmd.data.is_empty() {
            return Response::status(StatusWord::WRONG_LENGTH);
        }
        let Some(pending) = self
            .channel_mut(protocol, ch)
            .and_then(|c| c.pending.take())
        else {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        };
        self.deliver(protocol, ch, pending.data, pending.sw, cmd.le)
    }

    /// MANAGE CHANNEL (ISO/IEC 7816-4 §11.1.2), on the command's interface only.
    fn manage_channel(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> ApduResult {
        if !is_interindustry(cmd.cla) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let channels = &mut self.session(protocol).channels;
        match cmd.p1 {
            // Open: P2 = 00 lets the card choose; P2 = 1..19 names the channel.
            0x00 => {
                let target = match cmd.p2 {
                    0 => (1..CHANNELS)
                        .find(|&n| channels[n].is_none())
                        .ok_or(StatusWord::FUNCTION_NOT_SUPPORTED)?,
                    n if (n as usize) < CHANNELS => {
                        if channels[n as usize].is_some() {
                            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
                        }
                        n as usize
                    }
                    _ => return Err(StatusWord::INCORRECT_P1_P2),
                };
                // Opened from the basic channel: default selection (none); from another
                // channel: that channel's selection is inherited.
                // In the file system: the MF from the basic channel, the originating channel's
                // current DF/EF otherwise (ETSI TS 102 221 §11.1.17).
                // A GP selection is inherited without its secure channel session.
                let (selected, fs, gp_aid) = if ch == 0 {
                    (None, Selection::new(), Vec::new())
                } else {
                    channels[ch]
                        .as_ref()
                        .map(|c| (c.selected, c.fs.clone(), c.gp.selected().to_vec()))
                        .unwrap_or_default()
                };
                channels[target] = Some(Channel {
                    selected,
                    fs,
                    gp: GpChannel::selecting(&gp_aid),
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
                if channels[target].take().is_none() {
                    return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
                }
                Ok(Vec::new())
            }
            _ => Err(StatusWord::INCORRECT_P1_P2),
        }
    }

    /// SELECT (ISO/IEC 7816-4 §11.2.2). By DF name (AID): routed to a container (see
    /// [`crate::routing`]); the ISD-R and GP entities answer with their FCI, an ADF of the
    /// enabled profile through the UICC file system. By file identifier or path: the file system
    /// of the channel's container when it has the file system selected, otherwise of the
    /// container paired with the protocol (only the telecom container has one).
    fn select(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> Outcome {
        match cmd.p1 {
            0x04 => {}
            0x00..=0x03 | 0x08 | 0x09 => {
                let in_fs = self
                    .channel_mut(protocol, ch)
                    .is_some_and(|c| c.selected == Some(App::Uicc));
                let container = if in_fs {
                    Some(ContainerId::Telecom)
                } else {
                    self.paired_container(protocol)
                };
                return match container {
                    Some(ContainerId::Telecom) => self.uicc_command(protocol, ch, cmd),
                    _ => Err(StatusWord::FILE_NOT_FOUND),
                };
            }
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        }
        // P2 bits no SELECT by DF name uses, in ISO/IEC 7816-4 §11.2.2 or ETSI TS 102 221
        // §11.1.1 (b8, b6, b5: RFU).
        if cmd.p2 & 0xB0 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if cmd.data.is_empty() || cmd.data.len() > 16 {
            return Err(StatusWord::WRONG_LENGTH);
        }
        // The enabled profile's ADFs are among the telecom container's entities.
        self.enabled_uicc();
        let (app, real) = self.route_aid(protocol, &cmd.data)?;
        if app == App::Uicc {
            // The file system checks P2 (ETSI TS 102 221 §11.1.1) and occurrences itself.
            return self.uicc_command(protocol, ch, cmd);
        }
        // P2: b2-b1 occurrence (00 first/only, 10 next), b4-b3 response (00 FCI, 01 FCP,
        // 10 FMD, 11 none); other bits RFU.
        if cmd.p2 & !0x0E != 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        // Each entity has one AID, so "next occurrence" never finds another one.
        if cmd.p2 & 0x02 != 0 {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        // SELECT ends any GP secure channel session and operation on the channel (GP CS
        // v2.3.1 §10.2.3); a GP entity is known by its full AID.
        let gp_aid = match app {
            App::Gp => self
                .state
                .gp
                .selectable(&real)
                .ok_or(StatusWord::FILE_NOT_FOUND)?,
            _ => Vec::new(),
        };
        let c = self
            .channel_mut(protocol, ch)
            .ok_or(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
        c.selected = Some(app);
        c.chain.reset();
        c.gp = GpChannel::selecting(&gp_aid);
        if cmd.p2 & 0x0C == 0x0C {
            return Ok((Vec::new(), StatusWord::OK));
        }
        let fci = match app {
            App::Gp => gp::fci(&self.state.gp, &gp_aid),
            App::IsdR | App::Uicc => isdr_fci(),
        };
        Ok((fci, StatusWord::OK))
    }

    /// The container paired with `protocol`; `None` when unmapped or when the pairing data
    /// fails its integrity check (fail closed).
    fn paired_container(&self, protocol: Protocol) -> Option<ContainerId> {
        self.state.pairing.table().ok()?.container_for(protocol)
    }

    /// Resolves a DF name: common AIDs through pairing and alias, any other AID in the
    /// container that owns it. Never falls back to another container.
    fn route_aid(&self, protocol: Protocol, df_name: &[u8]) -> Result<(App, Vec<u8>), StatusWord> {
        if let Some(alias) = self.aliases.common_for(df_name) {
            // Fail closed: pairing data that does not verify, an unmapped protocol or a
            // container without this alias all answer "not found".
            let table = self
                .state
                .pairing
                .table()
                .map_err(|_| StatusWord::FILE_NOT_FOUND)?;
            let container = table
                .container_for(protocol)
                .ok_or(StatusWord::FILE_NOT_FOUND)?;
            let real = alias.target(container).ok_or(StatusWord::FILE_NOT_FOUND)?;
            return self
                .entity(container, real)
                .map(|a| (a, real.to_vec()))
                .ok_or(StatusWord::FILE_NOT_FOUND);
        }
        ContainerId::ALL
            .into_iter()
            .find_map(|c| self.entity(c, df_name))
            .map(|a| (a, df_name.to_vec()))
            .ok_or(StatusWord::FILE_NOT_FOUND)
    }

    /// The entity `df_name` selects inside `container` (and only there).
    fn entity(&self, container: ContainerId, df_name: &[u8]) -> Option<App> {
        let found = match container {
            ContainerId::Telecom => {
                if df_name_matches(&ISD_R_AID, df_name) {
                    Some(App::IsdR)
                } else {
                    // An ADF of the enabled profile (full or right-truncated DF name).
                    let exact_or_rid = df_name.len() >= 5;
                    self.state
                        .enabled_profile()
                        .and_then(|p| self.state.uicc.get(&hex::encode_upper(&p.isdp_aid)))
                        .and_then(|u| u.fs.adf_by_aid(df_name, None))
                        .filter(|_| exact_or_rid)
                        .map(|_| App::Uicc)
                }
            }
            // The ISD, SSDs and application instances that may be selected now.
            ContainerId::GlobalPlatform => self.state.gp.selectable(df_name).map(|_| App::Gp),
        };
        debug_assert!(found.is_none_or(|a| a.container() == container));
        found
    }

    /// A command for whatever the channel has selected.
    fn for_selected(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> Outcome {
        let selected = self
            .channel_mut(protocol, ch)
            .ok_or(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)?
            .selected;
        // STORE DATA is a GlobalPlatform (proprietary class) command.
        if cmd.ins == INS_STORE_DATA && is_interindustry(cmd.cla) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        let ok = |r: ApduResult| r.map(|d| (d, StatusWord::OK));
        match selected {
            Some(App::IsdR) if cmd.ins == INS_STORE_DATA => ok(self.store_data(protocol, ch, cmd)),
            Some(App::IsdR) => Err(StatusWord::INS_NOT_SUPPORTED),
            Some(App::Gp) => Ok(self.gp_command(protocol, ch, cmd)),
            Some(App::Uicc) => self.uicc_command(protocol, ch, cmd),
            // The implicitly selected MF of the paired container's file system.
            None => match self.paired_container(protocol) {
                Some(ContainerId::Telecom) => self.uicc_command(protocol, ch, cmd),
                _ => Err(StatusWord::INS_NOT_SUPPORTED),
            },
        }
    }

    /// A command for the GP entity selected on the channel. The GP container sees its own
    /// state only and keeps it consistent itself (see [`crate::gp`]); a change is a state change.
    fn gp_command(
        &mut self,
        protocol: Protocol,
        ch: usize,
        cmd: &Command,
    ) -> (Vec<u8>, StatusWord) {
        let session = &mut self.sessions[protocol.interface().index()];
        let Some(c) = session.channel_mut(ch) else {
            return (Vec::new(), StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED);
        };
        let before = self.state.gp.clone();
        let rsp = gp::Container {
            state: &mut self.state.gp,
            chan: &mut c.gp,
            rng: &mut *self.rng,
        }
        .handle(cmd);
        if self.state.gp != before {
            self.revision = self.revision.wrapping_add(1);
        }
        (rsp.data, rsp.sw)
    }

    /// READ/SET PAIRING DATA. The store is updated on success, or as far as it was programmed
    /// when power is lost; a refusal leaves it untouched.
    fn pairing_command(&mut self, cmd: &Command, lost: &mut bool) -> ApduResult {
        let mut work = self.state.pairing.clone();
        let result = pairing::handle(&mut work, cmd, &mut self.power_cut);
        let commit = match result {
            Ok(_) => true,
            Err(AdminFailure::PowerLoss) => {
                *lost = true;
                self.power_cut = PowerCut::default();
                true
            }
            Err(AdminFailure::Sw(_)) => false,
        };
        if commit && work != self.state.pairing {
            self.state.pairing = work;
            self.revision = self.revision.wrapping_add(1);
        }
        match result {
            Ok(data) => Ok(data),
            Err(AdminFailure::Sw(sw)) => Err(sw),
            Err(AdminFailure::PowerLoss) => Err(StatusWord::MEMORY_FAILURE),
        }
    }

    /// STORE DATA (GlobalPlatform CS §11.11) carrying ES10 requests to the ISD-R (SGP.22 §5.7.2).
    fn store_data(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> ApduResult {
        let session = &mut self.sessions[protocol.interface().index()];
        let c = session
            .channel_mut(ch)
            .ok_or(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED)?;
        let Some(request) = c.chain.push(cmd.p1, cmd.p2, &cmd.data)? else {
            return Ok(Vec::new());
        };
        // A BPP segment runs on the state itself: it either fails with a status word before
        // touching anything, or succeeds and whatever it changed is committed anyway (see
        // `isdr::is_bpp_segment`). Most segments only buffer data in the volatile `BppLoad`;
        // copying and comparing the whole state for each of them cost more than the segment.
        if crate::isdr::is_bpp_segment(&request) {
            let fingerprint = |s: &CardState| {
                (
                    s.profiles.len(),
                    s.notifications.len(),
                    s.last_seq_number,
                    s.session.is_some(),
                )
            };
            let before = fingerprint(&self.state);
            let result = Isdr {
                identity: &self.identity,
                state: &mut self.state,
                bpp: &mut session.bpp,
                rng: &mut *self.rng,
                now: self.now,
            }
            .handle(&request);
            let changed =
                matches!(&result, Ok(r) if !r.is_empty()) || fingerprint(&self.state) != before;
            if changed {
                sync_uicc(&mut self.state);
                self.revision = self.revision.wrapping_add(1);
            }
            return result;
        }
        // Function-level atomicity: the function works on a copy that is committed only when
        // it completes (error responses included; a status word error discards it).
        let mut work = self.state.clone();
        let result = Isdr {
            identity: &self.identity,
            state: &mut work,
            bpp: &mut session.bpp,
            rng: &mut *self.rng,
            now: self.now,
        }
        .handle(&request);
        // Isolation: the ISD-R commits the telecom container's state only; whatever it might
        // have done to another container's objects is discarded. The committed objects move
        // into the working copy (no second clone); the state keeps the working copy's, which
        // are equal unless the ISD-R changed them, and then the working copy is committed.
        std::mem::swap(&mut work.gp, &mut self.state.gp);
        std::mem::swap(&mut work.pairing, &mut self.state.pairing);
        if result.is_ok() && work != self.state {
            sync_uicc(&mut work);
            self.state = work;
            self.revision = self.revision.wrapping_add(1);
        } else {
            // Nothing to commit: the committed objects go back.
            std::mem::swap(&mut work.gp, &mut self.state.gp);
            std::mem::swap(&mut work.pairing, &mut self.state.pairing);
        }
        result
    }

    /// Key of the enabled profile's UICC, building it from the package on first use. `None`
    /// without an enabled profile, or when its package does not build.
    fn enabled_uicc(&mut self) -> Option<String> {
        let p = self.state.enabled_profile()?;
        let key = hex::encode_upper(&p.isdp_aid);
        if !self.state.uicc.contains_key(&key) {
            let built = build_uicc(&p.package)?;
            self.state.uicc.insert(key.clone(), built);
            self.revision = self.revision.wrapping_add(1);
        }
        Some(key)
    }

    /// A UICC command (ETSI TS 102 221 §11, 3GPP TS 31.102 §7) for the enabled profile's file
    /// system on channel `ch`. Enabling another profile is seen by the interface as a fresh
    /// card session: every channel's file selection back to the MF, PIN verifications cleared.
    /// Changes to files, PIN counters or SQNs are persistent state changes.
    fn uicc_command(&mut self, protocol: Protocol, ch: usize, cmd: &Command) -> Outcome {
        let Some(key) = self.enabled_uicc() else {
            return Err(if cmd.ins == INS_SELECT {
                StatusWord::FILE_NOT_FOUND
            } else {
                StatusWord::INS_NOT_SUPPORTED
            });
        };
        let session = &mut self.sessions[protocol.interface().index()];
        if session.uicc_profile.as_ref() != Some(&key) {
            for c in session.channels.iter_mut().flatten() {
                c.fs = Selection::new();
                if c.selected == Some(App::Uicc) {
                    c.selected = None;
                }
            }
            session.pins = VerifiedPins::default();
            session.uicc_profile = Some(key.clone());
        }
        let (Some(u), Some(Some(c))) =
            (self.state.uicc.get_mut(&key), session.channels.get_mut(ch))
        else {
            return Err(StatusWord::LOGICAL_CHANNEL_NOT_SUPPORTED);
        };
        // Commands that cannot change persistent data skip the before/after comparison.
        let read_only = matches!(cmd.ins, INS_SELECT | 0xB0 | 0xB2 | 0xF2 | 0xA2);
        let before = (!read_only).then(|| u.clone());
        let result = u.execute(&mut session.pins, &mut c.fs, cmd);
        if before.is_some_and(|b| b != *u) {
            self.revision = self.revision.wrapping_add(1);
        }
        if cmd.ins == INS_SELECT && result.is_ok() {
            c.selected = Some(App::Uicc);
            c.chain.reset();
        }
        result.map(|r| (r.data, r.sw))
    }
}

impl Card {
    /// Whether a proactive command waits for FETCH or for its TERMINAL RESPONSE.
    pub fn proactive_pending(&self) -> bool {
        self.ota.proactive_pending()
    }

    /// The volatile OTA state (reassembly, proactive commands).
    pub fn ota_session(&self) -> &crate::ota::OtaSession {
        &self.ota
    }

    /// ENVELOPE (SMS-PP download): the OTA layer with its own state, the enabled profile's
    /// UICC for RFM and the GP container for RAM, each through [`crate::ota::Applications`].
    fn ota_envelope(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Response::status(StatusWord::INCORRECT_P1_P2);
        }
        let key = self.enabled_uicc();
        let before = (
            self.state.ota.clone(),
            self.state.gp.clone(),
            key.as_ref().and_then(|k| self.state.uicc.get(k).cloned()),
        );
        let CardState { ota, gp, uicc, .. } = &mut self.state;
        let access = ota.config.rfm_access.clone();
        let mut apps = OtaApps {
            uicc: key.as_ref().and_then(|k| uicc.get_mut(k)),
            gp,
            rng: &mut *self.rng,
            access,
        };
        let result = crate::ota::envelope(ota, &mut self.ota, &mut apps, &cmd.data);
        let after_uicc = key.as_ref().and_then(|k| self.state.uicc.get(k));
        if before.0 != self.state.ota
            || before.1 != self.state.gp
            || before.2.as_ref() != after_uicc
        {
            self.revision = self.revision.wrapping_add(1);
        }
        crate::ota::envelope_response(result)
    }
}

/// What remote commands reach: the enabled profile's UICC (RFM) and the GP container (RAM).
struct OtaApps<'a> {
    uicc: Option<&'a mut uicc::Uicc>,
    gp: &'a mut gp::GpState,
    rng: &'a mut CardRng,
    access: crate::ota::RfmAccess,
}

impl crate::ota::Applications for OtaApps<'_> {
    fn has_file_system(&self) -> bool {
        self.uicc.is_some()
    }

    fn security_domains(&self) -> Vec<Vec<u8>> {
        let mut v = vec![crate::routing::GP_ISD_AID.to_vec()];
        v.extend(
            self.gp
                .apps
                .iter()
                .filter(|a| a.is_sd() && self.gp.selectable(&a.aid).is_some())
                .map(|a| a.aid.clone()),
        );
        v
    }

    fn run(&mut self, target: &crate::ota::Target, commands: &[Command]) -> Vec<Response> {
        match target {
            crate::ota::Target::Rfm { tar } => match self.uicc.as_deref_mut() {
                Some(u) => crate::ota::rfm::run(u, &self.access, *tar, commands),
                None => vec![Response::status(StatusWord::CONDITIONS_NOT_SATISFIED)],
            },
            crate::ota::Target::Ram { sd } => gp::ram_script(self.gp, sd, self.rng, |exec| {
                crate::ota::remote::run_commands(commands, |c| exec(c))
            }),
        }
    }
}

/// Builds the UICC side of a profile package.
fn build_uicc(package: &[u8]) -> Option<uicc::Uicc> {
    let pkg = saip::ProfilePackage::parse(package).ok()?;
    uicc::Uicc::from_package(&pkg).ok()
}

/// Keeps the UICC map in step with the profiles after an ISD-R function: a deleted profile
/// loses its UICC. An installed profile's UICC is built from its package when the modem-facing
/// interface first uses it ([`Card::enabled_uicc`]), so a download does not pay for a file
/// system that may never be enabled.
fn sync_uicc(state: &mut CardState) {
    let keys: Vec<String> = state
        .profiles
        .iter()
        .map(|p| hex::encode_upper(&p.isdp_aid))
        .collect();
    state.uicc.retain(|k, _| keys.contains(k));
}

/// Response data and status word of a successful command, or the error status word.
type Outcome = Result<(Vec<u8>, StatusWord), StatusWord>;

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
