//! An SMSC simulator for tests and the demo: SMPP v3.4 over TCP on 127.0.0.1 only.
//!
//! It accepts binds (checking system_id and password: ESME_RINVSYSID / ESME_RINVPASWD),
//! answers submit_sm with message_ids, hands each accepted short message (esm_class, UDH
//! and all) to a [`MobileStation`] sink, and sends mobile-originated messages to a bound
//! receiver/transceiver as deliver_sm ([`SmscHandle::deliver`]). [`Faults`] injects
//! throttling (ESME_RTHROTTLED), bind refusals and dropped connections.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{Result, SmppError};
use crate::frame::{FrameDecoder, DEFAULT_MAX_COMMAND_LENGTH};
use crate::pdu::{
    tag, Bind, BindMode, BindResp, Body, DeliverSm, Pdu, SmResp, SmeAddress, SubmitSm, Tlv,
    INTERFACE_VERSION_34,
};
use crate::status::CommandStatus;

/// One short message the SMSC accepted, as the mobile-station side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedMessage {
    /// The submitting ESME's system_id.
    pub system_id: String,
    /// The message_id the SMSC answered with.
    pub message_id: String,
    /// The submit_sm body (esm_class, protocol_id, data_coding, short_message with UDH).
    pub sm: SubmitSm,
}

impl SubmittedMessage {
    /// The TS 23.040 SMS-DELIVER the mobile station receives.
    pub fn sms_deliver(&self, scts: ota::ts23040::Scts) -> Result<ota::ts23040::SmsDeliver> {
        crate::sms::sms_deliver(&self.sm, scts)
    }
}

/// Where accepted short messages go (the terminal simulator's radio side). Returning an
/// error status refuses the submit_sm with it (e.g. ESME_RINVDSTADR for an unknown
/// subscriber).
pub trait MobileStation: Send + Sync + 'static {
    /// Called once per accepted submit_sm, before its submit_sm_resp is sent.
    fn submitted(&self, message: &SubmittedMessage) -> std::result::Result<(), CommandStatus>;
}

/// A [`MobileStation`] that forwards every message into a channel.
#[derive(Debug, Clone)]
pub struct ChannelSink(mpsc::UnboundedSender<SubmittedMessage>);

impl ChannelSink {
    /// The sink and its receiving end.
    pub fn new() -> (ChannelSink, mpsc::UnboundedReceiver<SubmittedMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ChannelSink(tx), rx)
    }
}

impl MobileStation for ChannelSink {
    fn submitted(&self, message: &SubmittedMessage) -> std::result::Result<(), CommandStatus> {
        // A receiver that went away makes the subscriber unreachable.
        self.0
            .send(message.clone())
            .map_err(|_| CommandStatus::ESME_RSUBMITFAIL)
    }
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// The SMSC's system_id in bind responses.
    pub system_id: String,
    /// Accepted (system_id, password) pairs.
    pub accounts: Vec<(String, String)>,
    /// Largest command_length accepted.
    pub max_command_length: u32,
    /// How long [`SmscHandle::deliver`] waits for deliver_sm_resp.
    pub deliver_timeout: Duration,
}

impl SmscConfig {
    /// One account.
    pub fn new(system_id: &str, password: &str) -> SmscConfig {
        SmscConfig {
            system_id: "simkit-smsc".to_string(),
            accounts: vec![(system_id.to_string(), password.to_string())],
            max_command_length: DEFAULT_MAX_COMMAND_LENGTH,
            deliver_timeout: Duration::from_secs(5),
        }
    }
}

/// Fault injection, changeable while running ([`SmscHandle::set_faults`]).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Refuse this many of the next binds (decremented per refusal).
    pub refuse_binds: u32,
    /// The refusal status (ESME_RBINDFAIL when `None`).
    pub bind_refusal: Option<CommandStatus>,
    /// Answer every n-th submit_sm with ESME_RTHROTTLED.
    pub throttle_every: Option<u32>,
    /// Answer submit_sm beyond this many per second (all sessions) with ESME_RTHROTTLED.
    pub max_submits_per_second: Option<u32>,
    /// Answer every submit_sm with this status.
    pub reject_submits: Option<CommandStatus>,
    /// Close a connection when its n-th PDU arrives (that PDU is left unanswered; the
    /// responses to earlier ones are written first).
    pub drop_after_pdus: Option<u32>,
    /// How many connections `drop_after_pdus` applies to (decremented per drop).
    pub drop_connections: u32,
}

/// Counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Binds accepted.
    pub binds_accepted: u64,
    /// Binds refused.
    pub binds_refused: u64,
    /// submit_sm answered ESME_ROK.
    pub submits_accepted: u64,
    /// submit_sm answered ESME_RTHROTTLED.
    pub submits_throttled: u64,
    /// submit_sm refused otherwise.
    pub submits_refused: u64,
    /// enquire_link answered.
    pub enquire_links: u64,
    /// deliver_sm answered by the ESME.
    pub delivers: u64,
    /// Connections dropped by fault injection.
    pub dropped_connections: u64,
}

struct Outbound {
    sm: DeliverSm,
    reply: oneshot::Sender<CommandStatus>,
}

struct BoundSession {
    id: u64,
    system_id: String,
    mode: BindMode,
    tx: mpsc::UnboundedSender<Outbound>,
}

struct Shared {
    cfg: SmscConfig,
    sink: Arc<dyn MobileStation>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    sessions: Mutex<Vec<BoundSession>>,
    submit_times: Mutex<VecDeque<Instant>>,
    submit_count: AtomicU64,
    next_message_id: AtomicU64,
    next_session: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Handle to a running simulator; dropping it does not stop the simulator, [`SmscHandle::stop`]
/// does.
#[derive(Clone)]
pub struct SmscHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for SmscHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Start a simulator on 127.0.0.1:`port` (0 for an ephemeral port).
pub async fn start(cfg: SmscConfig, port: u16, sink: Arc<dyn MobileStation>) -> Result<SmscHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        cfg,
        sink,
        faults: Mutex::new(Faults::default()),
        stats: Mutex::new(Stats::default()),
        sessions: Mutex::new(Vec::new()),
        submit_times: Mutex::new(VecDeque::new()),
        submit_count: AtomicU64::new(0),
        next_message_id: AtomicU64::new(1),
        next_session: AtomicU64::new(1),
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let (sh, st) = (shared.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                a = listener.accept() => {
                    if let Ok((stream, _)) = a {
                        lock(&sh.stats).connections += 1;
                        tokio::spawn(serve(sh.clone(), stream));
                    }
                }
                _ = st.notified() => break,
            }
        }
    });
    Ok(SmscHandle { addr, shared, stop })
}

impl SmscHandle {
    /// The listening address (127.0.0.1).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replace the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Stop accepting connections (open ones run until they close).
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// Number of bound sessions.
    pub fn bound_sessions(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Send a mobile-originated message as deliver_sm to a bound receiver or transceiver
    /// (of `system_id`, or any); returns the deliver_sm_resp command_status.
    pub async fn deliver(&self, system_id: Option<&str>, sm: DeliverSm) -> Result<CommandStatus> {
        let tx = {
            let sessions = lock(&self.shared.sessions);
            sessions
                .iter()
                .find(|s| s.mode.can_receive() && system_id.is_none_or(|id| id == s.system_id))
                .map(|s| s.tx.clone())
                .ok_or(SmppError::State("no bound receiver"))?
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Outbound { sm, reply })
            .map_err(|_| SmppError::Closed)?;
        match tokio::time::timeout(self.shared.cfg.deliver_timeout, rx).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err(SmppError::Closed),
            Err(_) => Err(SmppError::Timeout("deliver_sm_resp")),
        }
    }

    /// Send a mobile station's SMS-SUBMIT from `originator` as deliver_sm.
    pub async fn deliver_sms_submit(
        &self,
        system_id: Option<&str>,
        originator: &SmeAddress,
        submit: &ota::ts23040::SmsSubmit,
    ) -> Result<CommandStatus> {
        let sm = crate::sms::deliver_sm(originator, submit)?;
        self.deliver(system_id, sm).await
    }
}

struct Conn {
    shared: Arc<Shared>,
    session_id: u64,
    bound: Option<(String, BindMode)>,
    tx: mpsc::UnboundedSender<Outbound>,
    pending: HashMap<u32, oneshot::Sender<CommandStatus>>,
    next_seq: u32,
    close: bool,
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let drop_at = {
        let mut f = lock(&shared.faults);
        match f.drop_after_pdus {
            Some(n) if f.drop_connections > 0 => {
                f.drop_connections -= 1;
                Some(n)
            }
            _ => None,
        }
    };
    let mut conn = Conn {
        session_id: shared.next_session.fetch_add(1, Ordering::Relaxed),
        shared: shared.clone(),
        bound: None,
        tx,
        pending: HashMap::new(),
        next_seq: 1,
        close: false,
    };
    let mut decoder = FrameDecoder::new(shared.cfg.max_command_length);
    let mut buf = vec![0u8; 16 * 1024];
    let mut pdus: u32 = 0;
    let mut dropping = false;
    while !conn.close && !dropping {
        let mut out = Vec::new();
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                decoder.push(buf.get(..n).unwrap_or_default());
                loop {
                    match decoder.next_frame() {
                        Ok(Some(frame)) => {
                            pdus = pdus.saturating_add(1);
                            if Some(pdus) == drop_at {
                                dropping = true;
                                break;
                            }
                            conn.handle_frame(&frame, &mut out);
                            if conn.close {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            push_pdu(&mut out, &e.reply());
                            conn.close = true;
                            break;
                        }
                    }
                }
            }
            Some(ob) = rx.recv() => {
                let seq = conn.next_seq;
                conn.next_seq = if seq >= 0x7FFF_FFFF { 1 } else { seq + 1 };
                match Pdu::new(seq, Body::DeliverSm(ob.sm)).encode() {
                    Ok(bytes) => {
                        out.extend_from_slice(&bytes);
                        conn.pending.insert(seq, ob.reply);
                    }
                    Err(e) => {
                        let _ = ob.reply.send(e.command_status());
                    }
                }
            }
        }
        if !out.is_empty() && wr.write_all(&out).await.is_err() {
            break;
        }
    }
    conn.unregister();
    if dropping {
        lock(&shared.stats).dropped_connections += 1;
    }
    // Close gracefully: FIN after the responses already written, then drain what the
    // ESME still sends so the kernel does not answer with a reset that could discard them.
    let _ = wr.shutdown().await;
    drain(&mut rd, &mut buf).await;
}

async fn drain(rd: &mut OwnedReadHalf, buf: &mut [u8]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, rd.read(buf)).await {
        if n == 0 {
            break;
        }
    }
}

fn push_pdu(out: &mut Vec<u8>, pdu: &Pdu) {
    if let Ok(b) = pdu.encode() {
        out.extend_from_slice(&b);
    }
}

impl Conn {
    fn unregister(&mut self) {
        let id = self.session_id;
        lock(&self.shared.sessions).retain(|s| s.id != id);
        self.bound = None;
    }

    fn handle_frame(&mut self, frame: &[u8], out: &mut Vec<u8>) {
        let pdu = match Pdu::decode(frame) {
            Ok(p) => p,
            Err(e) => {
                if let Some(r) = e.reply() {
                    push_pdu(out, &r);
                }
                return;
            }
        };
        let seq = pdu.sequence_number;
        match pdu.body {
            Body::BindTransmitter(b) => self.bind(seq, BindMode::Transmitter, b, out),
            Body::BindReceiver(b) => self.bind(seq, BindMode::Receiver, b, out),
            Body::BindTransceiver(b) => self.bind(seq, BindMode::Transceiver, b, out),
            Body::SubmitSm(sm) => {
                let (status, message_id) = self.submit(sm);
                push_pdu(
                    out,
                    &Pdu {
                        command_status: status,
                        sequence_number: seq,
                        body: Body::SubmitSmResp(SmResp { message_id }),
                    },
                );
            }
            Body::DeliverSmResp(_) | Body::GenericNack => {
                if let Some(reply) = self.pending.remove(&seq) {
                    lock(&self.shared.stats).delivers += 1;
                    let _ = reply.send(pdu.command_status);
                }
            }
            Body::EnquireLink => {
                lock(&self.shared.stats).enquire_links += 1;
                push_pdu(out, &Pdu::new(seq, Body::EnquireLinkResp));
            }
            Body::Unbind => {
                push_pdu(out, &Pdu::new(seq, Body::UnbindResp));
                self.unregister();
                self.close = true;
            }
            Body::DeliverSm(_) => {
                push_pdu(
                    out,
                    &Pdu {
                        command_status: CommandStatus::ESME_RINVCMDID,
                        sequence_number: seq,
                        body: Body::DeliverSmResp(SmResp::default()),
                    },
                );
            }
            // Other responses (enquire_link_resp, unbind_resp, ...) need nothing.
            _ => {}
        }
    }

    fn bind(&mut self, seq: u32, mode: BindMode, b: Bind, out: &mut Vec<u8>) {
        let status = if self.bound.is_some() {
            CommandStatus::ESME_RALYBND
        } else {
            let refusal = {
                let mut f = lock(&self.shared.faults);
                if f.refuse_binds > 0 {
                    f.refuse_binds -= 1;
                    Some(f.bind_refusal.unwrap_or(CommandStatus::ESME_RBINDFAIL))
                } else {
                    None
                }
            };
            match refusal {
                Some(s) => s,
                None => match self
                    .shared
                    .cfg
                    .accounts
                    .iter()
                    .find(|(id, _)| *id == b.system_id)
                {
                    None => CommandStatus::ESME_RINVSYSID,
                    Some((_, pw)) if *pw != b.password => CommandStatus::ESME_RINVPASWD,
                    Some(_) => CommandStatus::ESME_ROK,
                },
            }
        };
        let resp = if status.is_ok() {
            self.bound = Some((b.system_id.clone(), mode));
            lock(&self.shared.sessions).push(BoundSession {
                id: self.session_id,
                system_id: b.system_id,
                mode,
                tx: self.tx.clone(),
            });
            lock(&self.shared.stats).binds_accepted += 1;
            BindResp {
                system_id: self.shared.cfg.system_id.clone(),
                // §4.1.2: sc_interface_version tells the ESME the SMSC speaks v3.4.
                tlvs: vec![Tlv::new(tag::SC_INTERFACE_VERSION, [INTERFACE_VERSION_34])],
            }
        } else {
            lock(&self.shared.stats).binds_refused += 1;
            BindResp::default()
        };
        let body = match mode {
            BindMode::Transmitter => Body::BindTransmitterResp(resp),
            BindMode::Receiver => Body::BindReceiverResp(resp),
            BindMode::Transceiver => Body::BindTransceiverResp(resp),
        };
        push_pdu(
            out,
            &Pdu {
                command_status: status,
                sequence_number: seq,
                body,
            },
        );
    }

    fn throttled(&self) -> bool {
        let f = lock(&self.shared.faults).clone();
        let n = self.shared.submit_count.fetch_add(1, Ordering::Relaxed) + 1;
        if f.throttle_every
            .is_some_and(|k| k > 0 && n.is_multiple_of(u64::from(k)))
        {
            return true;
        }
        if let Some(limit) = f.max_submits_per_second {
            let now = Instant::now();
            let mut times = lock(&self.shared.submit_times);
            while times
                .front()
                .is_some_and(|t| *t + Duration::from_secs(1) <= now)
            {
                times.pop_front();
            }
            if times.len() >= limit as usize {
                return true;
            }
            times.push_back(now);
        }
        false
    }

    fn submit(&mut self, sm: SubmitSm) -> (CommandStatus, String) {
        let Some((system_id, mode)) = self.bound.clone() else {
            return (CommandStatus::ESME_RINVBNDSTS, String::new());
        };
        if !mode.can_submit() {
            return (CommandStatus::ESME_RINVBNDSTS, String::new());
        }
        if let Some(s) = lock(&self.shared.faults).reject_submits {
            lock(&self.shared.stats).submits_refused += 1;
            return (s, String::new());
        }
        if self.throttled() {
            lock(&self.shared.stats).submits_throttled += 1;
            return (CommandStatus::ESME_RTHROTTLED, String::new());
        }
        let message_id = format!(
            "{:08X}",
            self.shared.next_message_id.fetch_add(1, Ordering::Relaxed)
        );
        let msg = SubmittedMessage {
            system_id,
            message_id: message_id.clone(),
            sm,
        };
        match self.shared.sink.submitted(&msg) {
            Ok(()) => {
                lock(&self.shared.stats).submits_accepted += 1;
                (CommandStatus::ESME_ROK, message_id)
            }
            Err(s) => {
                lock(&self.shared.stats).submits_refused += 1;
                (s, String::new())
            }
        }
    }
}
