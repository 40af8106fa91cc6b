//! The running OTA server: one tokio task drives an [`EsmeSession`] over TCP towards the SMSC
//! (so the service decides when octets leave: PoRs are persisted before their deliver_sm_resp
//! is written), claims due jobs from the [`OtaStore`], hands their packets to the session
//! (windowed and rate-limited by [`smpp::EsmeConfig`]; ESME_RTHROTTLED backs off; a refused
//! or dropped bind reconnects and rebinds with the unanswered submits kept), records
//! acceptances, refusals and PoRs, and sweeps deadlines.
//!
//! Dropping an [`OtaService`] aborts its task at once (a crash, as far as the database is
//! concerned); [`OtaService::shutdown`] unbinds politely first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ota::ts102225::PorSecurity;
use smpp::{EsmeConfig, EsmeSession, Event, SessionState, SmeAddress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::engine;
use crate::model::{KeySet, UnixMillis};
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
    /// The last storage or packet error.
    pub last_error: Option<String>,
}

/// A running service.
pub struct OtaService {
    task: Option<JoinHandle<()>>,
    stop: Arc<tokio::sync::Notify>,
    stats: Arc<Mutex<ServiceStats>>,
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
        let task = tokio::spawn(run(store, cfg, stop.clone(), stats.clone()));
        OtaService {
            task: Some(task),
            stop,
            stats,
        }
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

struct Runner<S> {
    store: S,
    cfg: ServiceConfig,
    stats: Arc<Mutex<ServiceStats>>,
    /// Submission → segments not yet accepted.
    pending: HashMap<i64, usize>,
    keys: HashMap<String, KeySet>,
    securities: Vec<PorSecurity>,
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
                    let sub = engine::submission_of(reference);
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
                Event::Failed { reference, .. } => {
                    let sub = engine::submission_of(reference);
                    if self.pending.remove(&sub).is_some() {
                        failed.push(sub);
                    }
                }
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
                        Ok(p) => pors.push(PorReport {
                            address,
                            tar: p.tar,
                            counter: p.counter,
                            status: p.status.code(),
                        }),
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
        }
        let wake = tokio::select! {
            res = reading => Wake::Read(res),
            _ = stop.notified(), if !stopping => Wake::Stop,
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
        }
    }
}
