//! The sans-I/O terminal core: SMS in, ENVELOPEs to the card, mobile-originated SMS out.

use std::collections::{BTreeMap, VecDeque};

use apdu::{transceive, CardTransport, Command, Response, StatusWord};
use ota::ts23040::{
    Address, Concat, InformationElement, Reassembler, ReportParameters, SmsDeliver,
    SmsDeliverReport, SmsSubmit, UserData, UserDataHeader, IEI_COMMAND_PACKET, MAX_UD_OCTETS,
    PID_SIM_DATA_DOWNLOAD,
};

use crate::error::{ModemError, Result};
use crate::toolkit::{
    capability_command, fetch_command, result, sms_pp_download, terminal_profile_command,
    terminal_response_command, CardCapability, ProactiveCommand, SEND_SHORT_MESSAGE,
};

/// TP-FCS values of the RP-ERROR the terminal reports (3GPP TS 23.040 §9.2.3.22).
pub mod failure_cause {
    /// 'D4' (U)SIM Application Toolkit Busy (TS 31.111 §7.1.1.2: after '9300').
    pub const TOOLKIT_BUSY: u8 = 0xD4;
    /// 'D5' (U)SIM data download error (TS 31.111 §7.1.1.2: any other error status).
    pub const DATA_DOWNLOAD_ERROR: u8 = 0xD5;
    /// 'D3' Memory Capacity Exceeded (the terminal's own reassembly buffers are full).
    pub const MEMORY_CAPACITY_EXCEEDED: u8 = 0xD3;
}

/// Terminal settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    /// Size threshold (octets of the reassembled message after the UDHs, i.e. the command
    /// packet `CPL .. end` for SMS-PP data download). A message at or over it is delivered in
    /// the card's own piece size after a capability query; a smaller one SMS by SMS.
    pub threshold: usize,
    /// Concatenated messages the terminal reassembles at the same time.
    pub max_pending_messages: usize,
    /// TERMINAL PROFILE sent by [`Terminal::start`].
    pub terminal_profile: Vec<u8>,
    /// The service centre address (address data object value: TON/NPI, BCD digits) put in
    /// the SMS-PP download ENVELOPE, if known.
    pub sc_address: Option<Vec<u8>>,
    /// How many times a piece refused with '9300' is offered again ([`Terminal::retry`])
    /// before the message fails with RP-ERROR 'D4'.
    pub max_busy_retries: u32,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            threshold: 3 * MAX_UD_OCTETS,
            max_pending_messages: 8,
            terminal_profile: crate::toolkit::TERMINAL_PROFILE.to_vec(),
            sc_address: None,
            max_busy_retries: 5,
        }
    }
}

/// Why a mobile-originated SMS is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoOrigin {
    /// The card returned its PoR in the ENVELOPE response (SMS-DELIVER-REPORT user data);
    /// the terminal sends it on as SMS-SUBMIT to the command's originator.
    EnvelopeResponse,
    /// The card's proactive SEND SHORT MESSAGE.
    SendShortMessage,
}

/// What the terminal asks its radio side to do or reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this SMS-SUBMIT (mobile-originated).
    MobileOriginated {
        /// The TPDU.
        submit: SmsSubmit,
        /// Why.
        origin: MoOrigin,
    },
    /// An SMS-PP data download failed: the RP-ERROR with its SMS-DELIVER-REPORT.
    DownloadFailed {
        /// The command message's originator.
        originator: Address,
        /// The card's status word (or '9300' after the retries; '9000' when the terminal's own
        /// reassembly buffers were full).
        sw: StatusWord,
        /// The RP-ERROR's SMS-DELIVER-REPORT (TP-FCS in `failure_cause`).
        report: SmsDeliverReport,
    },
    /// An ordinary short message for the user (not a (U)SIM data download), all segments.
    Received(Vec<SmsDeliver>),
}

/// Counters, for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalStats {
    /// ENVELOPE (SMS-PP download) commands sent (retries included).
    pub envelopes: usize,
    /// TP-UD lengths of the ENVELOPEs, in order.
    pub envelope_ud_lens: Vec<usize>,
    /// GET DATA capability queries sent.
    pub capability_queries: usize,
    /// Proactive commands fetched.
    pub fetches: usize,
    /// ENVELOPEs answered '9300'.
    pub busy: usize,
    /// Messages delivered in the card's piece size.
    pub resegmented: usize,
}

/// One message on its way to the card.
#[derive(Debug, Clone)]
struct Delivery {
    originator: Address,
    pieces: VecDeque<SmsDeliver>,
    busy_retries: u32,
}

/// Capability cache state for this card session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capability {
    Unknown,
    Known(CardCapability),
    /// The card does not answer the query: deliver SMS by SMS.
    Unsupported,
}

type Key = (Vec<u8>, u16, bool);

/// The terminal: one card, its toolkit session, SMS reception.
#[derive(Debug)]
pub struct Terminal<T: CardTransport> {
    card: T,
    config: TerminalConfig,
    capability: Capability,
    reassembler: Reassembler<Vec<u8>>,
    parts: BTreeMap<Key, Vec<SmsDeliver>>,
    queue: VecDeque<Delivery>,
    outputs: VecDeque<Output>,
    message_reference: u8,
    stats: TerminalStats,
}

fn address_key(a: &Address) -> Vec<u8> {
    let mut v = Vec::new();
    // A decoded address always encodes.
    let _ = a.encode(&mut v);
    v
}

/// TS 31.111 §7.1.1: (U)SIM data download is TP-PID '7F' with message class 2 (TS 23.038
/// §4: the '1111' group with bits 1-0 = '10', or general data coding '0x' with bit 4 set and
/// bits 1-0 = '10').
fn is_data_download(d: &SmsDeliver) -> bool {
    d.pid == PID_SIM_DATA_DOWNLOAD
        && (d.dcs & 0xF3 == 0xF2 || (d.dcs & 0x80 == 0 && d.dcs & 0x13 == 0x12))
}

fn concat_of(d: &SmsDeliver) -> Result<Option<Concat>> {
    if !d.udhi {
        return Ok(None);
    }
    let (h, _) = UserDataHeader::decode(&d.user_data.octets)?;
    Ok(h.concat()?)
}

fn payload_len(d: &SmsDeliver) -> usize {
    d.user_data
        .split_header(d.udhi)
        .map(|(_, p)| p.len())
        .unwrap_or(d.user_data.octets.len())
}

impl<T: CardTransport> Terminal<T> {
    /// A terminal in front of `card`. Call [`Terminal::start`] once the card is powered.
    pub fn new(card: T, config: TerminalConfig) -> Terminal<T> {
        Terminal {
            card,
            reassembler: Reassembler::new(config.max_pending_messages),
            config,
            capability: Capability::Unknown,
            parts: BTreeMap::new(),
            queue: VecDeque::new(),
            outputs: VecDeque::new(),
            message_reference: 0,
            stats: TerminalStats::default(),
        }
    }

    /// The card (e.g. to inspect a virtual card in tests).
    pub fn card(&self) -> &T {
        &self.card
    }

    /// The card, mutably.
    pub fn card_mut(&mut self) -> &mut T {
        &mut self.card
    }

    /// The settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &TerminalStats {
        &self.stats
    }

    /// Messages waiting for the card (after '9300').
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// All outputs so far.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.outputs.drain(..).collect()
    }

    /// Starts a card session (TS 102 223 §5.2): sends TERMINAL PROFILE, forgets the cached
    /// capability, and serves any proactive command the card already has.
    pub fn start(&mut self) -> Result<()> {
        self.capability = Capability::Unknown;
        let r = self.send(&terminal_profile_command(&self.config.terminal_profile))?;
        match r.sw.sw1() {
            0x90 => Ok(()),
            0x91 => self.proactive_session(r.sw.sw2()),
            _ => Err(ModemError::Card {
                command: "TERMINAL PROFILE",
                sw: r.sw,
            }),
        }
    }

    /// The card's SMS-PP capability, queried once per card session with GET DATA
    /// `80 CA FF 70` (see the crate documentation); `None` when the card does not offer it.
    pub fn capability(&mut self) -> Result<Option<CardCapability>> {
        match self.capability {
            Capability::Known(c) => return Ok(Some(c)),
            Capability::Unsupported => return Ok(None),
            Capability::Unknown => {}
        }
        self.stats.capability_queries += 1;
        let r = self.send(&capability_command())?;
        self.capability = match (r.sw.sw1(), CardCapability::parse(&r.data)) {
            (0x90 | 0x91, Ok(c)) => Capability::Known(c),
            _ => Capability::Unsupported,
        };
        if r.sw.sw1() == 0x91 {
            self.proactive_session(r.sw.sw2())?;
        }
        Ok(match self.capability {
            Capability::Known(c) => Some(c),
            _ => None,
        })
    }

    /// One SMS-DELIVER TPDU from the network.
    pub fn receive_tpdu(&mut self, tpdu: &[u8]) -> Result<()> {
        let d = SmsDeliver::decode(tpdu)?;
        self.receive(d)
    }

    /// One SMS-DELIVER from the network: concatenated parts are grouped until the message is
    /// whole, then the message goes to the card (data download) or to the user.
    pub fn receive(&mut self, d: SmsDeliver) -> Result<()> {
        let Some(c) = concat_of(&d)? else {
            return self.dispatch(vec![d]);
        };
        let key = (address_key(&d.originating_address), c.reference, c.wide);
        match self
            .reassembler
            .push(key.0.clone(), c, d.user_data.octets.clone())
        {
            Ok(None) => {
                let parts = self.parts.entry(key).or_default();
                if !parts
                    .iter()
                    .any(|p| concat_of(p).ok().flatten().map(|x| x.seq) == Some(c.seq))
                {
                    parts.push(d);
                }
                Ok(())
            }
            Ok(Some(_)) => {
                let mut parts = self.parts.remove(&key).unwrap_or_default();
                parts.retain(|p| concat_of(p).ok().flatten().map(|x| x.seq) != Some(c.seq));
                parts.push(d);
                parts.sort_by_key(|p| concat_of(p).ok().flatten().map(|x| x.seq));
                self.dispatch(parts)
            }
            Err(ota::OtaError::InsufficientMemory(_)) => {
                if is_data_download(&d) {
                    self.fail(
                        d.originating_address.clone(),
                        StatusWord::OK,
                        failure_cause::MEMORY_CAPACITY_EXCEEDED,
                    );
                }
                Err(ModemError::BuffersFull)
            }
            Err(e) => {
                // A conflicting segment: the whole message is dropped (TS 23.040 leaves
                // the handling of inconsistent concatenation to the receiver).
                self.reassembler.discard(&key.0, key.1, key.2);
                self.parts.remove(&key);
                Err(e.into())
            }
        }
    }

    /// Incomplete concatenated messages held.
    pub fn pending_messages(&self) -> usize {
        self.reassembler.pending()
    }

    /// A whole message (segments in order).
    fn dispatch(&mut self, parts: Vec<SmsDeliver>) -> Result<()> {
        let Some(first) = parts.first() else {
            return Ok(());
        };
        if !is_data_download(first) {
            self.outputs.push_back(Output::Received(parts));
            return Ok(());
        }
        let originator = first.originating_address.clone();
        let size: usize = parts.iter().map(payload_len).sum();
        let mut pieces: VecDeque<SmsDeliver> = parts.clone().into();
        if size >= self.config.threshold {
            if let Some(cap) = self.capability()? {
                if let Some(p) = resegment(&parts, cap.max_segment_ud)? {
                    self.stats.resegmented += 1;
                    pieces = p.into();
                }
            }
        }
        self.queue.push_back(Delivery {
            originator,
            pieces,
            busy_retries: 0,
        });
        self.run_queue()
    }

    /// Offers the messages held after '9300' again (call it from the adapter's timer, or
    /// after the card's proactive session ended).
    pub fn retry(&mut self) -> Result<()> {
        self.run_queue()
    }

    fn run_queue(&mut self) -> Result<()> {
        while let Some(mut delivery) = self.queue.pop_front() {
            match self.deliver(&mut delivery)? {
                Step::Done => {}
                Step::Busy => {
                    delivery.busy_retries += 1;
                    if delivery.busy_retries > self.config.max_busy_retries {
                        self.fail(
                            delivery.originator,
                            StatusWord(0x9300),
                            failure_cause::TOOLKIT_BUSY,
                        );
                        continue;
                    }
                    self.queue.push_front(delivery);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// ENVELOPEs the pieces of one message in order until the card answers with data or an
    /// error (the message is then finished on the card's side) or all are accepted.
    fn deliver(&mut self, delivery: &mut Delivery) -> Result<Step> {
        while let Some(piece) = delivery.pieces.front() {
            let tpdu = piece.encode()?;
            let ud_len = piece.user_data.octets.len();
            let cmd = sms_pp_download(self.config.sc_address.as_deref(), &tpdu);
            self.stats.envelopes += 1;
            self.stats.envelope_ud_lens.push(ud_len);
            let r = self.send(&cmd)?;
            match r.sw.sw1() {
                0x90 | 0x91 => {
                    delivery.pieces.pop_front();
                    let has_data = !r.data.is_empty();
                    if has_data {
                        // The PoR (SMS-DELIVER-REPORT user data, TS 31.115 §4.3): the
                        // terminal returns it as SMS-SUBMIT to the originator.
                        self.por_submit(&delivery.originator, &r.data)?;
                    }
                    if r.sw.sw1() == 0x91 {
                        self.proactive_session(r.sw.sw2())?;
                    }
                    if has_data {
                        // The card has finished this message (e.g. PoR '07').
                        delivery.pieces.clear();
                    }
                }
                // TS 102 221 §10.2.1.1 / TS 31.111 §7.1.1.2: toolkit busy.
                0x93 => {
                    self.stats.busy += 1;
                    return Ok(Step::Busy);
                }
                _ => {
                    self.fail(
                        delivery.originator.clone(),
                        r.sw,
                        failure_cause::DATA_DOWNLOAD_ERROR,
                    );
                    delivery.pieces.clear();
                }
            }
        }
        Ok(Step::Done)
    }

    fn fail(&mut self, originator: Address, sw: StatusWord, cause: u8) {
        self.outputs.push_back(Output::DownloadFailed {
            originator,
            sw,
            report: SmsDeliverReport {
                failure_cause: Some(cause),
                udhi: false,
                parameters: ReportParameters::default(),
            },
        });
    }

    fn next_mr(&mut self) -> u8 {
        // TS 23.040 §9.2.3.6: TP-MR increments per SMS-SUBMIT.
        let mr = self.message_reference;
        self.message_reference = self.message_reference.wrapping_add(1);
        mr
    }

    fn por_submit(&mut self, originator: &Address, por_ud: &[u8]) -> Result<()> {
        let uds = if por_ud.len() <= MAX_UD_OCTETS {
            vec![por_ud.to_vec()]
        } else {
            let reference = u16::from(self.message_reference);
            ota::ts31115::response_user_data(por_ud, reference)?
                .into_iter()
                .map(|u| u.octets)
                .collect()
        };
        for ud in uds {
            let mr = self.next_mr();
            let submit = ota::ts31115::por_submit(originator.clone(), mr, ud)?;
            self.outputs.push_back(Output::MobileOriginated {
                submit,
                origin: MoOrigin::EnvelopeResponse,
            });
        }
        Ok(())
    }

    /// FETCH / TERMINAL RESPONSE until the card has no proactive command left.
    fn proactive_session(&mut self, mut len: u8) -> Result<()> {
        // Bounded: a card that keeps announcing commands cannot hold the terminal forever.
        for _ in 0..64 {
            let f = self.send(&fetch_command(len))?;
            if f.sw != StatusWord::OK && f.sw.sw1() != 0x91 {
                return Err(ModemError::Card {
                    command: "FETCH",
                    sw: f.sw,
                });
            }
            self.stats.fetches += 1;
            // Without its command details a command cannot be answered.
            let cmd = ProactiveCommand::parse(&f.data)?;
            let general = self.perform(&cmd);
            let r = self.send(&terminal_response_command(cmd.details, general))?;
            match r.sw.sw1() {
                0x90 => return Ok(()),
                0x91 => len = r.sw.sw2(),
                _ => {
                    return Err(ModemError::Card {
                        command: "TERMINAL RESPONSE",
                        sw: r.sw,
                    })
                }
            }
        }
        Ok(())
    }

    /// Performs one proactive command; returns the TERMINAL RESPONSE general result.
    fn perform(&mut self, cmd: &ProactiveCommand) -> u8 {
        if cmd.kind() != SEND_SHORT_MESSAGE {
            return result::BEYOND_CAPABILITIES;
        }
        // Qualifier b1 = 1: packing by the terminal, which this terminal does not do
        // (TS 102 223 §8.6); the card's PoR is 8-bit data anyway.
        if cmd.details[2] & 0x01 != 0 {
            return result::BEYOND_CAPABILITIES;
        }
        let Some(Ok(mut submit)) = cmd.tpdu.as_deref().map(SmsSubmit::decode) else {
            return result::DATA_NOT_UNDERSTOOD;
        };
        // TS 102 223 §6.4.10: the terminal sets TP-MR.
        submit.message_reference = self.next_mr();
        self.outputs.push_back(Output::MobileOriginated {
            submit,
            origin: MoOrigin::SendShortMessage,
        });
        result::PERFORMED
    }

    fn send(&mut self, cmd: &Command) -> Result<Response> {
        Ok(transceive(&mut self.card, cmd)?)
    }
}

enum Step {
    Done,
    Busy,
}

/// The pieces of a TS 31.115 command packet in the card's piece size `max_ud` (TP-UD octets,
/// UDH included): the first carries IE '70' and the concatenation IE, the others only the
/// concatenation IE (TS 31.115 §4.2, TS 23.040 §9.2.3.24.1), with the original reference.
/// `None` when the message is no command packet (it then goes SMS by SMS).
fn resegment(parts: &[SmsDeliver], max_ud: usize) -> Result<Option<Vec<SmsDeliver>>> {
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    let uds: Vec<UserData> = parts.iter().map(|p| p.user_data.clone()).collect();
    let packet = match concat_of(first)? {
        Some(_) => match ota::ts31115::command_from_segments(&uds) {
            Ok(p) => p,
            Err(_) => return Ok(None),
        },
        None => match ota::ts31115::command_from_user_data(&first.user_data.octets) {
            Ok(p) => p.to_vec(),
            Err(_) => return Ok(None),
        },
    };
    let (reference, wide) = match concat_of(first)? {
        Some(c) => (c.reference, c.wide),
        None => (0, false),
    };
    let concat_len = if wide { 6 } else { 5 };
    // UDHL + IE '70' (2) + concatenation IE in the first piece; UDHL + IE in the others.
    let first_room = max_ud.saturating_sub(1 + 2 + concat_len);
    let other_room = max_ud.saturating_sub(1 + concat_len);
    if first_room == 0 || other_room == 0 {
        return Err(ModemError::Malformed("piece size too small"));
    }
    let rest = packet.len().saturating_sub(first_room);
    let total = u8::try_from(1 + rest.div_ceil(other_room))
        .map_err(|_| ota::OtaError::TooLong("more than 255 pieces"))?;
    let (head, mut tail) = packet.split_at(first_room.min(packet.len()));
    let mut out = Vec::with_capacity(usize::from(total));
    for seq in 1..=total {
        let concat = Concat {
            reference,
            wide,
            total,
            seq,
        }
        .to_ie();
        let (ies, chunk) = if seq == 1 {
            (
                vec![InformationElement::new(IEI_COMMAND_PACKET, &[]), concat],
                head,
            )
        } else {
            let (c, t) = tail.split_at(other_room.min(tail.len()));
            tail = t;
            (vec![concat], c)
        };
        out.push(SmsDeliver {
            udhi: true,
            user_data: UserData::with_header(&UserDataHeader::new(ies), chunk)?,
            ..first.clone()
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ota::ts23040::Scts;

    fn deliver(ud: UserData) -> SmsDeliver {
        ota::ts31115::command_deliver(
            Address::digits(1, 1, "4912345678").unwrap(),
            Scts::new([25, 1, 1, 0, 0, 0], 0),
            ud,
        )
    }

    #[test]
    fn resegment_keeps_the_packet_and_the_piece_size() {
        let packet: Vec<u8> = (0..400u16).map(|i| i as u8).collect();
        let parts: Vec<SmsDeliver> = ota::ts31115::command_user_data(&packet, 7)
            .unwrap()
            .into_iter()
            .map(deliver)
            .collect();
        assert_eq!(parts.len(), 3);
        let pieces = resegment(&parts, 60).unwrap().unwrap();
        assert!(pieces.iter().all(|p| p.user_data.octets.len() <= 60));
        // 400 octets: 52 in the first piece, 54 in each other → 1 + ceil(348/54) = 8.
        assert_eq!(pieces.len(), 8);
        let uds: Vec<UserData> = pieces.iter().map(|p| p.user_data.clone()).collect();
        assert_eq!(ota::ts31115::command_from_segments(&uds).unwrap(), packet);
        assert_eq!(concat_of(&pieces[3]).unwrap().unwrap().reference, 7);
        // Not a command packet (no IE '70'): left as it is.
        let plain = deliver(UserData::eight_bit(vec![0x00, 0x01]).unwrap());
        let plain = SmsDeliver {
            udhi: false,
            ..plain
        };
        assert_eq!(resegment(&[plain], 60).unwrap(), None);
        // A piece size that leaves no room is refused.
        assert!(resegment(&parts, 8).is_err());
    }
}
