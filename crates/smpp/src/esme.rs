//! The ESME side of an SMPP v3.4 session as a sans-I/O state machine: bind (§4.1), windowed
//! submit_sm (§4.4) matched to submit_sm_resp by sequence_number (§3.2), a submit rate limit,
//! back-off and resend on ESME_RTHROTTLED / ESME_RMSGQFUL, enquire_link keep-alive (§4.11),
//! deliver_sm answered with deliver_sm_resp (§4.6), unbind (§4.2), and reconnect + rebind
//! after a refused or lost bind.
//!
//! Delivery guarantee: a message is *accepted* only when its submit_sm_resp with ESME_ROK
//! arrives ([`Event::Accepted`], with the SMSC's message_id). Every message has a stable
//! [`MessageRef`] chosen on the client side; until accepted or permanently refused it stays
//! in the session (queued or in flight) and is resent after a rebind. It is carried on the wire
//! as user_message_reference (0x0204, low 16 bits) unless the caller set that TLV. When the
//! connection dies after the SMSC accepted a message but before its response arrived, the
//! message is sent again: the SMSC may then hold it twice, which the reference lets a higher
//! layer (or the SMSC) detect.
//!
//! Driving it: call [`EsmeSession::connected`] when a TCP connection is up, feed received
//! octets to [`EsmeSession::handle_input`], write [`EsmeSession::poll_transmit`], take
//! [`EsmeSession::poll_event`], wake at [`EsmeSession::poll_timeout`] and call
//! [`EsmeSession::handle_timeout`]; when [`EsmeSession::close_requested`] is set or the
//! socket fails, close it and call [`EsmeSession::disconnected`]; reconnect when
//! [`EsmeSession::should_connect`] says so. Time comes in as `Instant` parameters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::error::{Result, SmppError};
use crate::frame::{FrameDecoder, DEFAULT_MAX_COMMAND_LENGTH};
use crate::pdu::{
    command_id, Bind, BindMode, Body, DeliverSm, Pdu, SmResp, SubmitSm, INTERFACE_VERSION_34,
};
use crate::status::CommandStatus;

/// Session parameters.
#[derive(Debug, Clone)]
pub struct EsmeConfig {
    /// Transmitter, receiver or transceiver.
    pub bind_mode: BindMode,
    /// system_id (max 15 characters).
    pub system_id: String,
    /// password (max 8 characters).
    pub password: String,
    /// system_type (max 12 characters).
    pub system_type: String,
    /// addr_ton of the bind.
    pub addr_ton: u8,
    /// addr_npi of the bind.
    pub addr_npi: u8,
    /// address_range of the bind.
    pub address_range: String,
    /// Most submit_sm awaiting their response at once (at least 1).
    pub window: usize,
    /// Most submit_sm sent in any one-second interval; `None` for no limit.
    pub max_submits_per_second: Option<u32>,
    /// How long a request may wait for its response before the connection is considered
    /// dead (closed, rebound, unanswered messages resent).
    pub response_timeout: Duration,
    /// Send enquire_link after this long without receiving anything.
    pub enquire_link_interval: Duration,
    /// Pause after ESME_RTHROTTLED / ESME_RMSGQFUL before submitting again.
    pub throttle_backoff: Duration,
    /// First delay before reconnecting after a refused or lost bind; doubled on each failure.
    pub reconnect_delay: Duration,
    /// Upper bound of the reconnect delay.
    pub max_reconnect_delay: Duration,
    /// Largest command_length accepted from the SMSC.
    pub max_command_length: u32,
    /// Put the low 16 bits of the [`MessageRef`] into user_message_reference (0x0204) of
    /// submits that carry none.
    pub set_user_message_reference: bool,
}

impl EsmeConfig {
    /// A configuration with the given bind mode, credentials and working defaults
    /// (window 10, no rate limit, 10 s response timeout, 30 s enquire_link interval).
    pub fn new(bind_mode: BindMode, system_id: &str, password: &str) -> EsmeConfig {
        EsmeConfig {
            bind_mode,
            system_id: system_id.to_string(),
            password: password.to_string(),
            system_type: String::new(),
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            window: 10,
            max_submits_per_second: None,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            throttle_backoff: Duration::from_secs(1),
            reconnect_delay: Duration::from_millis(500),
            max_reconnect_delay: Duration::from_secs(30),
            max_command_length: DEFAULT_MAX_COMMAND_LENGTH,
            set_user_message_reference: true,
        }
    }
}

/// The caller's stable reference for one submitted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageRef(pub u64);

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No connection; [`EsmeSession::should_connect`] tells when to open one.
    Disconnected,
    /// Connected, bind sent.
    Binding,
    /// Bound: submits flow.
    Bound,
    /// [`EsmeSession::unbind`] called: draining the window, then unbind.
    Unbinding,
    /// Unbound on request; the session does not reconnect.
    Closed,
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// bind_*_resp with ESME_ROK.
    Bound {
        /// The SMSC's system_id.
        system_id: String,
    },
    /// The SMSC refused the bind; the session reconnects after its delay.
    BindRejected {
        /// The refusal.
        status: CommandStatus,
    },
    /// submit_sm_resp ESME_ROK: the SMSC accepted the message. Exactly once per reference.
    Accepted {
        /// The client reference.
        reference: MessageRef,
        /// The SMSC's message_id.
        message_id: String,
    },
    /// The message was refused with a permanent error (or could not be encoded). Exactly
    /// once per reference, never together with `Accepted`.
    Failed {
        /// The client reference.
        reference: MessageRef,
        /// The refusal.
        status: CommandStatus,
    },
    /// A transient refusal (throttling, queue full): the message is sent again.
    Retrying {
        /// The client reference.
        reference: MessageRef,
        /// The refusal.
        status: CommandStatus,
    },
    /// A deliver_sm (mobile-originated message or receipt); deliver_sm_resp ESME_ROK has
    /// been queued.
    Deliver(DeliverSm),
    /// The connection ended; unanswered messages go back to the queue.
    Disconnected {
        /// Why.
        reason: &'static str,
    },
    /// Unbound on request ([`EsmeSession::unbind`]); the session is closed.
    Unbound,
}

#[derive(Debug)]
enum Request {
    Bind,
    Submit(MessageRef, SubmitSm),
    EnquireLink,
    Unbind,
}

#[derive(Debug)]
struct Outstanding {
    request: Request,
    deadline: Instant,
}

/// The sans-I/O ESME session.
#[derive(Debug)]
pub struct EsmeSession {
    cfg: EsmeConfig,
    state: SessionState,
    decoder: FrameDecoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    next_seq: u32,
    next_ref: u64,
    queue: VecDeque<(MessageRef, SubmitSm)>,
    known: HashSet<MessageRef>,
    outstanding: HashMap<u32, Outstanding>,
    submits_in_flight: usize,
    sent_times: VecDeque<Instant>,
    pause_until: Option<Instant>,
    last_rx: Option<Instant>,
    connect_at: Option<Instant>,
    backoff: Duration,
    close_reason: Option<&'static str>,
    unbind_wanted: bool,
    connected: bool,
    last_now: Option<Instant>,
}

impl EsmeSession {
    /// A disconnected session that wants to connect at once.
    pub fn new(cfg: EsmeConfig) -> EsmeSession {
        let backoff = cfg.reconnect_delay;
        let max_len = cfg.max_command_length;
        EsmeSession {
            cfg,
            state: SessionState::Disconnected,
            decoder: FrameDecoder::new(max_len),
            out: Vec::new(),
            events: VecDeque::new(),
            next_seq: 1,
            next_ref: 1,
            queue: VecDeque::new(),
            known: HashSet::new(),
            outstanding: HashMap::new(),
            submits_in_flight: 0,
            sent_times: VecDeque::new(),
            pause_until: None,
            last_rx: None,
            connect_at: None,
            backoff,
            close_reason: None,
            unbind_wanted: false,
            connected: false,
            last_now: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EsmeConfig {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Messages not yet accepted or failed (queued and in flight).
    pub fn unfinished(&self) -> usize {
        self.known.len()
    }

    /// submit_sm awaiting their response.
    pub fn in_flight(&self) -> usize {
        self.submits_in_flight
    }

    /// Queue a message under the next free reference. It is sent on the next
    /// [`EsmeSession::handle_timeout`] or input once bound.
    pub fn submit(&mut self, sm: SubmitSm) -> MessageRef {
        while self.known.contains(&MessageRef(self.next_ref)) {
            self.next_ref += 1;
        }
        let r = MessageRef(self.next_ref);
        self.next_ref += 1;
        self.enqueue(r, sm);
        r
    }

    /// Queue a message under the caller's own reference (e.g. one restored from storage).
    pub fn submit_with_reference(&mut self, reference: MessageRef, sm: SubmitSm) -> Result<()> {
        if self.known.contains(&reference) {
            return Err(SmppError::DuplicateReference(reference.0));
        }
        self.enqueue(reference, sm);
        Ok(())
    }

    fn enqueue(&mut self, r: MessageRef, mut sm: SubmitSm) {
        if self.cfg.set_user_message_reference && sm.user_message_reference().is_none() {
            sm.set_user_message_reference(r.0 as u16);
        }
        self.known.insert(r);
        self.queue.push_back((r, sm));
    }

    /// Messages not yet accepted or failed, in flight first, for persisting.
    pub fn unfinished_messages(&self) -> Vec<(MessageRef, SubmitSm)> {
        let mut v: Vec<(MessageRef, SubmitSm)> = self
            .outstanding
            .values()
            .filter_map(|o| match &o.request {
                Request::Submit(r, sm) => Some((*r, sm.clone())),
                _ => None,
            })
            .collect();
        v.sort_by_key(|(r, _)| *r);
        v.extend(self.queue.iter().cloned());
        v
    }

    /// Whether the caller should open a connection now.
    pub fn should_connect(&self, now: Instant) -> bool {
        self.state == SessionState::Disconnected
            && !self.connected
            && self.connect_at.is_none_or(|t| now >= t)
    }

    /// Whether the session has ended (unbound on request).
    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Set when the session wants the connection closed (after its pending output is
    /// written).
    pub fn close_requested(&self) -> Option<&'static str> {
        self.close_reason
    }

    /// A connection is up: send the bind.
    pub fn connected(&mut self, now: Instant) {
        self.last_now = Some(now);
        if self.state == SessionState::Closed {
            self.close_reason = Some("session closed");
            return;
        }
        self.connected = true;
        self.decoder = FrameDecoder::new(self.cfg.max_command_length);
        self.out.clear();
        self.close_reason = None;
        self.last_rx = Some(now);
        self.state = SessionState::Binding;
        let bind = Bind {
            system_id: self.cfg.system_id.clone(),
            password: self.cfg.password.clone(),
            system_type: self.cfg.system_type.clone(),
            interface_version: INTERFACE_VERSION_34,
            addr_ton: self.cfg.addr_ton,
            addr_npi: self.cfg.addr_npi,
            address_range: self.cfg.address_range.clone(),
        };
        let body = Body::bind(self.cfg.bind_mode, bind);
        if self.send_request(now, Request::Bind, body).is_err() {
            // The configured credentials do not fit their fields: nothing will ever bind.
            self.events.push_back(Event::BindRejected {
                status: CommandStatus::ESME_RBINDFAIL,
            });
            self.state = SessionState::Closed;
            self.close_reason = Some("bind parameters cannot be encoded");
        }
    }

    /// Opening a connection failed.
    pub fn connect_failed(&mut self, now: Instant) {
        self.connected = true;
        self.disconnected_with(now, "connect failed");
    }

    /// The connection is gone (closed by either side or failed): unanswered messages go
    /// back to the front of the queue, a reconnect is scheduled unless unbound on request.
    pub fn disconnected(&mut self, now: Instant) {
        let reason = self.close_reason.unwrap_or("connection lost");
        self.disconnected_with(now, reason);
    }

    fn disconnected_with(&mut self, now: Instant, reason: &'static str) {
        self.last_now = Some(now);
        if !self.connected {
            return;
        }
        self.connected = false;
        let mut back: Vec<(MessageRef, SubmitSm)> = self
            .outstanding
            .drain()
            .filter_map(|(_, o)| match o.request {
                Request::Submit(r, sm) => Some((r, sm)),
                _ => None,
            })
            .collect();
        back.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
        for m in back {
            self.queue.push_front(m);
        }
        self.submits_in_flight = 0;
        self.out.clear();
        self.close_reason = None;
        self.events.push_back(Event::Disconnected { reason });
        if matches!(self.state, SessionState::Closed | SessionState::Unbinding) {
            self.state = SessionState::Closed;
            return;
        }
        self.state = SessionState::Disconnected;
        self.connect_at = Some(now + self.backoff);
        self.backoff = (self.backoff * 2).min(self.cfg.max_reconnect_delay);
    }

    /// Start an orderly unbind: no new submits; once the window is empty, unbind.
    pub fn unbind(&mut self, now: Instant) {
        self.unbind_wanted = true;
        match self.state {
            SessionState::Bound => {
                self.state = SessionState::Unbinding;
                self.maybe_send_unbind(now);
            }
            SessionState::Disconnected | SessionState::Binding => {
                self.state = SessionState::Closed;
                if self.connected {
                    self.close_reason = Some("unbind requested");
                }
            }
            SessionState::Unbinding | SessionState::Closed => {}
        }
    }

    fn maybe_send_unbind(&mut self, now: Instant) {
        let unbind_sent = self
            .outstanding
            .values()
            .any(|o| matches!(o.request, Request::Unbind));
        if self.state == SessionState::Unbinding && self.submits_in_flight == 0 && !unbind_sent {
            let _ = self.send_request(now, Request::Unbind, Body::Unbind);
        }
    }

    /// Octets to write to the connection, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`EsmeSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut take = |x: Instant| t = Some(t.map_or(x, |y| y.min(x)));
        match self.state {
            SessionState::Disconnected if !self.connected => {
                if let Some(c) = self.connect_at {
                    take(c);
                }
            }
            SessionState::Closed | SessionState::Disconnected => {}
            SessionState::Binding | SessionState::Bound | SessionState::Unbinding => {
                if let Some(d) = self.outstanding.values().map(|o| o.deadline).min() {
                    take(d);
                }
                if self.state == SessionState::Bound && self.close_reason.is_none() {
                    if let Some(last) = self.last_rx {
                        take(last + self.cfg.enquire_link_interval);
                    }
                    if !self.queue.is_empty() && self.submits_in_flight < self.cfg.window.max(1) {
                        if let Some(at) = self.next_submit_at() {
                            take(at);
                        }
                    }
                }
            }
        }
        t
    }

    /// Earliest time the rate limit and throttle back-off allow the next submit.
    fn next_submit_at(&self) -> Option<Instant> {
        let mut at = self.pause_until;
        if let Some(limit) = self.cfg.max_submits_per_second {
            if self.sent_times.len() >= limit.max(1) as usize {
                if let Some(oldest) = self.sent_times.front() {
                    let free = *oldest + Duration::from_secs(1);
                    at = Some(at.map_or(free, |a| a.max(free)));
                }
            }
        }
        // Nothing holds the next submit back: it is due at the last time seen.
        at.or(self.last_now)
    }

    /// Timers: response timeouts, enquire_link, rate limit and back-off.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        if !matches!(
            self.state,
            SessionState::Binding | SessionState::Bound | SessionState::Unbinding
        ) || self.close_reason.is_some()
        {
            return;
        }
        if self.outstanding.values().any(|o| o.deadline <= now) {
            if self.state == SessionState::Unbinding
                && self
                    .outstanding
                    .values()
                    .all(|o| matches!(o.request, Request::Unbind))
            {
                self.state = SessionState::Closed;
                self.events.push_back(Event::Unbound);
                self.close_reason = Some("unbind_resp timed out");
                return;
            }
            self.close_reason = Some("response timeout");
            return;
        }
        if self.state == SessionState::Bound {
            let idle = self
                .last_rx
                .is_some_and(|l| now >= l + self.cfg.enquire_link_interval);
            let pending = self
                .outstanding
                .values()
                .any(|o| matches!(o.request, Request::EnquireLink));
            if idle && !pending {
                let _ = self.send_request(now, Request::EnquireLink, Body::EnquireLink);
            }
        }
        self.pump(now);
    }

    fn next_sequence(&mut self) -> u32 {
        // §3.2: sequence_number ranges over 0x00000001..=0x7FFFFFFF.
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn send_request(&mut self, now: Instant, request: Request, body: Body) -> Result<u32> {
        let seq = self.next_sequence();
        let bytes = Pdu::new(seq, body).encode()?;
        self.out.extend_from_slice(&bytes);
        if matches!(request, Request::Submit(..)) {
            self.submits_in_flight += 1;
        }
        self.outstanding.insert(
            seq,
            Outstanding {
                request,
                deadline: now + self.cfg.response_timeout,
            },
        );
        Ok(seq)
    }

    fn send_pdu(&mut self, pdu: &Pdu) {
        if let Ok(bytes) = pdu.encode() {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Send queued submits while the window, the rate limit and the back-off allow.
    fn pump(&mut self, now: Instant) {
        if self.state != SessionState::Bound || self.close_reason.is_some() {
            return;
        }
        if self.pause_until.is_some_and(|p| now < p) {
            return;
        }
        self.pause_until = None;
        while self.submits_in_flight < self.cfg.window.max(1) {
            if let Some(limit) = self.cfg.max_submits_per_second {
                while self
                    .sent_times
                    .front()
                    .is_some_and(|t| *t + Duration::from_secs(1) <= now)
                {
                    self.sent_times.pop_front();
                }
                if self.sent_times.len() >= limit.max(1) as usize {
                    break;
                }
            }
            let Some((r, sm)) = self.queue.pop_front() else {
                break;
            };
            match self.send_request(now, Request::Submit(r, sm.clone()), Body::SubmitSm(sm)) {
                Ok(_) => {
                    if self.cfg.max_submits_per_second.is_some() {
                        self.sent_times.push_back(now);
                    }
                }
                Err(e) => {
                    self.known.remove(&r);
                    self.events.push_back(Event::Failed {
                        reference: r,
                        status: e.command_status(),
                    });
                }
            }
        }
    }

    /// Octets received from the SMSC.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.last_now = Some(now);
        if !self.connected {
            return;
        }
        self.decoder.push(bytes);
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    self.last_rx = Some(now);
                    match Pdu::decode(&frame) {
                        Ok(pdu) => self.handle_pdu(now, pdu),
                        Err(e) => {
                            if let Some(reply) = e.reply() {
                                self.send_pdu(&reply);
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.send_pdu(&e.reply());
                    self.close_reason = Some("unframeable input");
                    break;
                }
            }
        }
        self.pump(now);
    }

    fn handle_pdu(&mut self, now: Instant, pdu: Pdu) {
        if pdu.is_response() {
            self.handle_response(now, pdu);
            return;
        }
        match &pdu.body {
            Body::EnquireLink => {
                self.send_pdu(&Pdu::new(pdu.sequence_number, Body::EnquireLinkResp))
            }
            Body::DeliverSm(sm) => {
                let allowed = matches!(self.state, SessionState::Bound | SessionState::Unbinding)
                    && self.cfg.bind_mode.can_receive();
                let status = if allowed {
                    self.events.push_back(Event::Deliver(sm.clone()));
                    CommandStatus::ESME_ROK
                } else {
                    CommandStatus::ESME_RINVBNDSTS
                };
                let resp = Pdu {
                    command_status: status,
                    sequence_number: pdu.sequence_number,
                    body: Body::DeliverSmResp(SmResp::default()),
                };
                self.send_pdu(&resp);
            }
            Body::Unbind => {
                // §4.2: the SMSC ends the session; answer, then close. Reconnect unless we
                // were unbinding ourselves.
                self.send_pdu(&Pdu::new(pdu.sequence_number, Body::UnbindResp));
                if self.state == SessionState::Unbinding {
                    self.state = SessionState::Closed;
                    self.events.push_back(Event::Unbound);
                }
                self.close_reason = Some("unbind from the SMSC");
            }
            _ => {
                // A request an SMSC does not send to an ESME (bind, submit_sm, ...).
                if let Some(resp) = pdu.response(CommandStatus::ESME_RINVCMDID) {
                    self.send_pdu(&resp);
                } else {
                    self.send_pdu(&Pdu::generic_nack(
                        pdu.sequence_number,
                        CommandStatus::ESME_RINVCMDID,
                    ));
                }
            }
        }
    }

    fn handle_response(&mut self, now: Instant, pdu: Pdu) {
        let Some(o) = self.outstanding.remove(&pdu.sequence_number) else {
            return; // late or unknown response: ignored
        };
        let status = pdu.command_status;
        match o.request {
            Request::Bind => {
                if status.is_ok() && pdu.command_id() == bind_response_id(self.cfg.bind_mode) {
                    let system_id = match pdu.body {
                        Body::BindReceiverResp(r)
                        | Body::BindTransmitterResp(r)
                        | Body::BindTransceiverResp(r) => r.system_id,
                        _ => String::new(),
                    };
                    self.state = if self.unbind_wanted {
                        SessionState::Unbinding
                    } else {
                        SessionState::Bound
                    };
                    self.backoff = self.cfg.reconnect_delay;
                    self.events.push_back(Event::Bound { system_id });
                    self.maybe_send_unbind(now);
                } else {
                    let status = if status.is_ok() {
                        CommandStatus::ESME_RBINDFAIL
                    } else {
                        status
                    };
                    self.events.push_back(Event::BindRejected { status });
                    self.close_reason = Some("bind rejected");
                }
            }
            Request::Submit(r, sm) => {
                self.submits_in_flight = self.submits_in_flight.saturating_sub(1);
                let message_id = match pdu.body {
                    Body::SubmitSmResp(resp) => Some(resp.message_id),
                    _ => None,
                };
                match message_id {
                    Some(message_id) if status.is_ok() => {
                        self.known.remove(&r);
                        self.events.push_back(Event::Accepted {
                            reference: r,
                            message_id,
                        });
                    }
                    _ if status == CommandStatus::ESME_RINVBNDSTS => {
                        // The SMSC no longer considers us bound: rebind, then resend.
                        self.queue.push_front((r, sm));
                        self.close_reason = Some("SMSC reports incorrect bind status");
                    }
                    _ if status.is_transient() => {
                        self.queue.push_front((r, sm));
                        self.pause_until = Some(now + self.cfg.throttle_backoff);
                        self.events.push_back(Event::Retrying {
                            reference: r,
                            status,
                        });
                    }
                    _ => {
                        let status = if status.is_ok() {
                            CommandStatus::ESME_RSYSERR // ESME_ROK on a generic_nack
                        } else {
                            status
                        };
                        self.known.remove(&r);
                        self.events.push_back(Event::Failed {
                            reference: r,
                            status,
                        });
                    }
                }
                self.maybe_send_unbind(now);
            }
            Request::EnquireLink => {}
            Request::Unbind => {
                self.state = SessionState::Closed;
                self.events.push_back(Event::Unbound);
                self.close_reason = Some("unbound");
            }
        }
    }
}

/// The command_id a bind response must have for a bind of `mode`.
pub fn bind_response_id(mode: BindMode) -> u32 {
    Body::bind(mode, Bind::default()).command_id() | command_id::RESPONSE_BIT
}
