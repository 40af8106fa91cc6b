//! The running OTA server: one tokio task drives an [`EsmeSession`] over TCP towards the SMSC
//! (so the service decides when octets leave: PoRs are persisted before their deliver_sm_resp
//! is written), claims due jobs from the [`OtaStore`], hands their packets to the session
//! (windowed and rate-limited by [`smpp::EsmeConfig`]; ESME_RTHROTTLED backs off; a refused
//! or dropped bind reconnects and rebinds with the unanswered submits kept), records
//! acceptances, refusals and PoRs, and sweeps deadlines.
//!
//! Beside the campaigns, [`OtaService::exchange`] sends one command packet to one card and
//! waits for its PoR (e.g. a central TSM's Remote Application Management command): the
//! request wakes the task at once, goes through the same session and window, and its PoR is
//! handed back to the caller instead of being recorded against a campaign job.
//!
//! Dropping an [`OtaService`] aborts its task at once (a crash, as far as the database is
//! concerned); [`OtaService::shutdown`] unbinds politely first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ota::ts102225::{PorSecurity, ResponsePacket};
use ota::Spi;
use smpp::{EsmeConfig, EsmeSession, Event, SessionState, SmeAddress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::engine::{self, Origin, PacketOrder};
use crate::error::{Error, Result};
use crate::model::{check_address, check_spi, KeySet, UnixMillis};
use crate::store::{OtaStore, PorReport};

/// The clock (milliseconds since the Unix epoch), injected.
pub type Clock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// Service settings.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The SMSC.
    pub smsc: SocketAddr,
    /// Bind (transceiver: PoRs come back as deliver_sm), window, rate limit, back-offs.
    pub esme: EsmeConfig,
    /// The OTA server's address (source_addr of the submits).
    pub source: SmeAddress,
    /// Most jobs claimed per transaction.
    pub claim_batch: u32,
    /// How often to look for due jobs when none were due, and to sweep deadlines.
    pub tick: Duration,
    /// Time.
    pub clock: Clock,
}

impl ServiceConfig {
    /// Defaults around an SMSC address and an ESME configuration.
    pub fn new(smsc: SocketAddr, esme: EsmeConfig) -> ServiceConfig {
        ServiceConfig {
            smsc,
            esme,
            source: SmeAddress::new(0, 1, "0000"),
            claim_batch: 200,
            tick: Duration::from_millis(200),
            clock: system_clock(),
        }
    }
}

/// What the service has seen (for progress output and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Binds accepted.
    pub binds: u64,
    /// Binds refused by the SMSC.
    pub bind_rejections: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Segments accepted by the SMSC.
    pub accepted: u64,
    /// Throttled / queue-full answers.
    pub retried: u64,
    /// PoRs matched.
    pub pors: u64,
    /// deliver_sm that were no PoR or could not be read.
    pub ignored_delivers: u64,
    /// PoRs handed back to [`OtaService::exchange`] callers (not counted in `pors`).
    pub exchange_pors: u64,
    /// The last storage or packet error.
    pub last_error: Option<String>,
}

/// One command packet to one card, answered by its PoR.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The card's address (MSISDN digits).
    pub address: String,
    /// Target TAR (e.g. '000000' for RAM of the ISD).
    pub tar: [u8; 3],
    /// SPI of the packet: the counter must be checked and a PoR always requested
    /// ([`crate::model::check_spi`]).
    pub spi: Spi,
    /// The data secured into the packet (remote commands, TS 102 226).
    pub data: Vec<u8>,
    /// How long to wait for the PoR, from the moment the packet is handed to the SMPP
    /// session.
    pub timeout: Duration,
}

/// What the service task answers an exchange with.
type ExchangeReply = oneshot::Sender<Result<ResponsePacket>>;

/// Exchange requests waiting for the service task; a few suffice (the task takes them at once).
const EXCHANGE_QUEUE: usize = 64;

/// A running service.
pub struct OtaService {
    task: Option<JoinHandle<()>>,
    stop: Arc<tokio::sync::Notify>,
    stats: Arc<Mutex<ServiceStats>>,
    exchanges: mpsc::Sender<(Exchange, ExchangeReply)>,
}

impl Drop for OtaService {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OtaService {
    /// Start the service task.
    pub fn start<S: OtaStore + Clone + 'static>(store: S, cfg: ServiceConfig) -> OtaService {
        let stop = Arc::new(tokio::sync::Notify::new());
        let stats = Arc::new(Mutex::new(ServiceStats::default()));
        let (exchanges, requests) = mpsc::channel(EXCHANGE_QUEUE);
        let task = tokio::spawn(run(store, cfg, stop.clone(), stats.clone(), requests));
        OtaService {
            task: Some(task),
            stop,
            stats,
            exchanges,
        }
    }

    /// Send one command packet to one card and wait for its PoR.
    ///
    /// The card's key set is read from the store and a fresh counter value for (card, TAR) is
    /// allocated and committed before the packet is handed to the SMSC link, so the packet is
    /// unique and sent at most once (see the crate's delivery guarantee); the service never
    /// sends it again. The PoR is returned as parsed, whatever its status: a PoR with an error
    /// status (e.g. '02' counter low) is `Ok`, the caller reads `status` and `data`.
    ///
    /// Errors: [`Error::Invalid`] (address, SPI), [`Error::UnknownCard`],
    /// [`Error::NoKeySet`], [`Error::CounterExhausted`], [`Error::Refused`] (the SMSC refused
    /// the submit permanently), [`Error::NoPor`] (no PoR within `timeout`: the packet may
    /// still reach the card and be executed), [`Error::Stopped`], [`Error::Storage`].
    /// Dropping the future abandons the wait (nothing is sent if the service had not taken
    /// the request yet; a packet already handed over is still sent); the service goes on.
    pub async fn exchange(&self, x: Exchange) -> Result<ResponsePacket> {
        check_address(&x.address)?;
        check_spi(&x.spi)?;
        let (reply, answer) = oneshot::channel();
        self.exchanges
            .send((x, reply))
            .await
            .map_err(|_| Error::Stopped)?;
        // The task drops the reply sender only when it ends.
        answer.await.unwrap_or(Err(Error::Stopped))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ServiceStats {
        lock(&self.stats).clone()
    }

    /// Stop claiming, let the window drain, unbind, and end.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// The PoR an exchange waits for: (card address, TAR, counter).
type PorKey = (String, [u8; 3], u64);

/// An exchange whose packet was handed to the session.
struct Waiter {
    /// Exchange id (its client references' origin).
    id: u64,
    /// When to give up (`None`: a timeout too long to represent).
    deadline: Option<Instant>,
    reply: ExchangeReply,
}

struct Runner<S> {
    store: S,
    cfg: ServiceConfig,
    stats: Arc<Mutex<ServiceStats>>,
    /// Submission → segments not yet accepted.
    pending: HashMap<i64, usize>,
    keys: HashMap<String, KeySet>,
    securities: Vec<PorSecurity>,
    /// Exchanges waiting for their PoR.
    waiting: HashMap<PorKey, Waiter>,
    /// Exchange id → its PoR key (to route a refusal).
    exchange_keys: HashMap<u64, PorKey>,
    /// The next exchange id.
    next_exchange: u64,
}

impl<S: OtaStore> Runner<S> {
    fn error(&self, e: impl std::fmt::Display) {
        lock(&self.stats).last_error = Some(e.to_string());
    }

    fn remember_security(&mut self, s: PorSecurity) {
        if !self.securities.contains(&s) {
            self.securities.push(s);
        }
    }

    /// Start an exchange: keys, counter (committed), packet, submit. Errors go back to the
    /// caller at once; otherwise the caller waits for the PoR, a refusal or the deadline.
    async fn start_exchange(
        &mut self,
        session: &mut EsmeSession,
        x: Exchange,
        reply: ExchangeReply,
    ) {
        if reply.is_closed() {
            // The caller gave up before anything was allocated or sent.
            return;
        }
        match self.submit_exchange(session, &x).await {
            Ok((id, counter)) => {
                let key = (x.address, x.tar, counter);
                let deadline = Instant::now().checked_add(x.timeout);
                self.exchange_keys.insert(id, key.clone());
                self.waiting.insert(
                    key,
                    Waiter {
                        id,
                        deadline,
                        reply,
                    },
                );
            }
            Err(e) => {
                // The caller may have gone: nobody to tell.
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Returns the exchange id and the counter value of the packet handed to the session.
    async fn submit_exchange(
        &mut self,
        session: &mut EsmeSession,
        x: &Exchange,
    ) -> Result<(u64, u64)> {
        let keys = self.store.card_keys(&x.address).await?;
        self.keys.insert(x.address.clone(), keys.clone());
        // Committed before the submit: this (card, TAR, counter) is never built again.
        let counter = self.store.allocate_counter(&x.address, x.tar).await?;
        let id = self.next_exchange;
        self.next_exchange += 1;
        let order = PacketOrder {
            address: &x.address,
            keys: &keys,
            tar: x.tar,
            spi: x.spi,
            counter,
            data: &x.data,
        };
        let sms = engine::frame(&order, Origin::Exchange(id), &self.cfg.source)?;
        self.remember_security(PorSecurity::from_spi(&x.spi));
        for (r, sm) in sms {
            // References are fresh (a new id), so this fails only if the session refuses
            // the PDU; segments already queued still go out, the caller learns of the error.
            session.submit_with_reference(r, sm)?;
        }
        Ok((id, counter.value()))
    }

    fn take_waiter(&mut self, key: &PorKey) -> Option<Waiter> {
        let w = self.waiting.remove(key)?;
        self.exchange_keys.remove(&w.id);
        Some(w)
    }

    /// The SMSC refused a segment of an exchange: fail it.
    fn exchange_refused(&mut self, id: u64, status: smpp::CommandStatus) {
        let Some(key) = self.exchange_keys.get(&id).cloned() else {
            return;
        };
        if let Some(w) = self.take_waiter(&key) {
            let _ = w.reply.send(Err(Error::Refused {
                address: key.0,
                status,
            }));
        }
    }

    /// Answer the exchanges past their deadline with [`Error::NoPor`] and forget those whose
    /// caller is gone.
    fn expire_exchanges(&mut self, now: Instant) {
        let done: Vec<PorKey> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.reply.is_closed() || w.deadline.is_some_and(|d| now >= d))
            .map(|(k, _)| k.clone())
            .collect();
        for key in done {
            if let Some(w) = self.take_waiter(&key) {
                let _ = w.reply.send(Err(Error::NoPor {
                    address: key.0,
                    counter: key.2,
                }));
            }
        }
    }

    /// The earliest exchange deadline.
    fn next_exchange_deadline(&self) -> Option<Instant> {
        self.waiting.values().filter_map(|w| w.deadline).min()
    }

    /// Persist what the session reported. Returns false when storage failed (the caller then
    /// must not write the session's output: unacknowledged PoRs will be delivered again).
    async fn handle_events(&mut self, session: &mut EsmeSession) -> bool {
        let mut accepted = Vec::new();
        let mut failed = Vec::new();
        let mut pors = Vec::new();
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Bound { .. } => lock(&self.stats).binds += 1,
                Event::BindRejected { .. } => lock(&self.stats).bind_rejections += 1,
                Event::Disconnected { .. } => lock(&self.stats).disconnects += 1,
                Event::Unbound => {}
                Event::Retrying { .. } => lock(&self.stats).retried += 1,
                Event::Accepted {
                    reference,
                    message_id,
                } => {
                    lock(&self.stats).accepted += 1;
                    // An exchange waits for its PoR only: its acceptance changes nothing.
                    let Origin::Submission(sub) = engine::origin_of(reference) else {
                        continue;
                    };
                    let done = match self.pending.get_mut(&sub) {
                        Some(left) => {
                            *left = left.saturating_sub(1);
                            *left == 0
                        }
                        None => false,
                    };
                    if done {
                        self.pending.remove(&sub);
                        accepted.push((sub, message_id));
                    }
                }
                Event::Failed { reference, status } => match engine::origin_of(reference) {
                    Origin::Submission(sub) => {
                        if self.pending.remove(&sub).is_some() {
                            failed.push(sub);
                        }
                    }
                    Origin::Exchange(id) => self.exchange_refused(id, status),
                },
                Event::Deliver(dsm) => {
                    let Some(ud) = smpp::sms::por_user_data(&dsm).map(<[u8]>::to_vec) else {
                        lock(&self.stats).ignored_delivers += 1;
                        continue;
                    };
                    let address = dsm.source.addr.trim_start_matches('+').to_string();
                    let keys = match self.keys.get(&address) {
                        Some(k) => k.clone(),
                        None => match self.store.card_keys(&address).await {
                            Ok(k) => {
                                self.keys.insert(address.clone(), k.clone());
                                k
                            }
                            Err(e) => {
                                self.error(e);
                                lock(&self.stats).ignored_delivers += 1;
                                continue;
                            }
                        },
                    };
                    match engine::parse_por(&ud, &keys, &self.securities) {
                        Ok(p) => {
                            let key = (address, p.tar, p.counter.value());
                            if let Some(w) = self.take_waiter(&key) {
                                // Handed over before the deliver_sm_resp goes out; a caller
                                // gone meanwhile simply loses it.
                                lock(&self.stats).exchange_pors += 1;
                                let _ = w.reply.send(Ok(p));
                                continue;
                            }
                            // Not awaited (a campaign's, or a late exchange PoR, which
                            // matches no submission there).
                            pors.push(PorReport {
                                address: key.0,
                                tar: p.tar,
                                counter: p.counter,
                                status: p.status.code(),
                            })
                        }
                        Err(e) => {
                            self.error(e);
                            lock(&self.stats).ignored_delivers += 1;
                        }
                    }
                }
            }
        }
        let now = (self.cfg.clock)();
        let mut ok = true;
        if !accepted.is_empty() {
            if let Err(e) = self.store.submissions_accepted(accepted, now).await {
                self.error(e);
                ok = false;
            }
        }
        for sub in failed {
            if let Err(e) = self.store.submission_failed(sub, now).await {
                self.error(e);
                ok = false;
            }
        }
        if !pors.is_empty() {
            let n = pors.len() as u64;
            match self.store.record_pors(pors, now).await {
                Ok(_) => lock(&self.stats).pors += n,
                Err(e) => {
                    self.error(e);
                    ok = false;
                }
            }
        }
        ok
    }

    /// Claim due jobs and hand their packets to the session. Returns how many were claimed.
    async fn feed(&mut self, session: &mut EsmeSession, room: usize) -> usize {
        let limit = u32::try_from(room)
            .unwrap_or(u32::MAX)
            .min(self.cfg.claim_batch);
        if limit == 0 {
            return 0;
        }
        let now = (self.cfg.clock)();
        let claimed = match self.store.claim(now, limit).await {
            Ok(c) => c,
            Err(e) => {
                self.error(e);
                return 0;
            }
        };
        let n = claimed.len();
        for c in claimed {
            self.remember_security(PorSecurity::from_spi(&c.item.spi));
            self.keys.insert(c.address.clone(), c.keys.clone());
            match engine::submits(&c, &self.cfg.source) {
                Ok(sms) => {
                    self.pending.insert(c.submission, sms.len());
                    for (r, sm) in sms {
                        if let Err(e) = session.submit_with_reference(r, sm) {
                            self.error(e);
                        }
                    }
                }
                Err(e) => {
                    self.error(&e);
                    if let Err(e) = self.store.submission_failed(c.submission, now).await {
                        self.error(e);
                    }
                }
            }
        }
        n
    }
}

async fn run<S: OtaStore>(
    store: S,
    cfg: ServiceConfig,
    stop: Arc<tokio::sync::Notify>,
    stats: Arc<Mutex<ServiceStats>>,
    mut requests: mpsc::Receiver<(Exchange, ExchangeReply)>,
) {
    let mut session = EsmeSession::new(cfg.esme.clone());
    let window = cfg.esme.window.max(1);
    let mut r = Runner {
        store,
        cfg,
        stats,
        pending: HashMap::new(),
        keys: HashMap::new(),
        securities: Vec::new(),
        waiting: HashMap::new(),
        exchange_keys: HashMap::new(),
        next_exchange: 0,
    };
    if let Ok(items) = r.store.list_items().await {
        for i in items {
            r.remember_security(PorSecurity::from_spi(&i.spi));
        }
    }
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut next_claim = Instant::now();
    let mut next_sweep = Instant::now();
    let mut stopping = false;
    let mut requests_open = true;
    loop {
        let now = Instant::now();
        if conn.is_none() && session.should_connect(now) {
            let timeout = session.config().response_timeout;
            match tokio::time::timeout(timeout, TcpStream::connect(r.cfg.smsc)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                    session.connected(Instant::now());
                }
                _ => session.connect_failed(Instant::now()),
            }
        }
        // Persist first, then let the octets (deliver_sm_resp among them) go.
        if !r.handle_events(&mut session).await {
            // Storage failed: drop the connection without acknowledging; the SMSC redelivers.
            conn = None;
            session.disconnected(Instant::now());
            tokio::time::sleep(r.cfg.tick).await;
            continue;
        }
        // Exchanges first: they are not delayed by claiming (nor by its tick).
        r.expire_exchanges(Instant::now());
        let mut started = false;
        while let Ok((x, reply)) = requests.try_recv() {
            if stopping {
                let _ = reply.send(Err(Error::Stopped));
            } else {
                r.start_exchange(&mut session, x, reply).await;
                started = true;
            }
        }
        if started {
            // Let the newly queued segments go out now.
            session.handle_timeout(Instant::now());
        }
        if let Some(bytes) = session.poll_transmit() {
            if let Some(s) = conn.as_mut() {
                if s.write_all(&bytes).await.is_err() {
                    conn = None;
                    session.disconnected(Instant::now());
                }
            }
        }
        if session.close_requested().is_some() {
            if let Some(mut s) = conn.take() {
                let _ = s.shutdown().await;
            }
            session.disconnected(Instant::now());
        }
        if session.is_closed() && conn.is_none() {
            break;
        }
        let now = Instant::now();
        if !stopping && now >= next_sweep {
            if let Err(e) = r.store.sweep((r.cfg.clock)()).await {
                r.error(e);
            }
            next_sweep = now + r.cfg.tick;
        }
        if !stopping && session.state() == SessionState::Bound && now >= next_claim {
            let room = (2 * window).saturating_sub(session.unfinished());
            if room * 2 >= window {
                let want = room.min(r.cfg.claim_batch as usize);
                let got = r.feed(&mut session, want).await;
                if got > 0 {
                    session.handle_timeout(Instant::now());
                }
                if got < want {
                    next_claim = Instant::now() + r.cfg.tick;
                }
                if got > 0 {
                    continue;
                }
            }
        }
        let mut deadline = session.poll_timeout();
        if !stopping {
            let t = if session.state() == SessionState::Bound
                && session.unfinished() * 2 < 2 * window
            {
                next_claim.min(next_sweep)
            } else {
                next_sweep
            };
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        if let Some(t) = r.next_exchange_deadline() {
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        let reading = async {
            match conn.as_mut() {
                Some(s) => s.read(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        enum Wake {
            Read(std::io::Result<usize>),
            Stop,
            Timer,
            Exchange(Option<(Exchange, ExchangeReply)>),
        }
        let wake = tokio::select! {
            res = reading => Wake::Read(res),
            _ = stop.notified(), if !stopping => Wake::Stop,
            req = requests.recv(), if requests_open => Wake::Exchange(req),
            _ = sleep => Wake::Timer,
        };
        let now = Instant::now();
        match wake {
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) => {
                conn = None;
                session.disconnected(now);
            }
            Wake::Read(Ok(n)) => session.handle_input(now, buf.get(..n).unwrap_or_default()),
            Wake::Stop => {
                stopping = true;
                session.unbind(now);
            }
            Wake::Timer => session.handle_timeout(now),
            Wake::Exchange(Some((x, reply))) => {
                if stopping {
                    let _ = reply.send(Err(Error::Stopped));
                } else {
                    r.start_exchange(&mut session, x, reply).await;
                    session.handle_timeout(Instant::now());
                }
            }
            // Every handle is gone (the service is being dropped).
            Wake::Exchange(None) => requests_open = false,
        }
    }
}
