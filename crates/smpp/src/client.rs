//! The tokio edge of the ESME: one task owns an [`EsmeSession`] and a TCP connection to the
//! SMSC, connects and reconnects when the session asks, and passes octets, timers, commands
//! and events between them. All protocol decisions stay in the session.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Result, SmppError};
use crate::esme::{EsmeConfig, EsmeSession, Event, MessageRef};
use crate::pdu::SubmitSm;

enum Command {
    Submit(SubmitSm, oneshot::Sender<MessageRef>),
    SubmitWithReference(MessageRef, SubmitSm, oneshot::Sender<Result<()>>),
    Unbind,
}

/// A running ESME client.
#[derive(Debug)]
pub struct EsmeClient {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<()>,
}

impl EsmeClient {
    /// Start the client task towards the SMSC at `addr`; it connects and binds at once.
    pub fn spawn(addr: SocketAddr, config: EsmeConfig) -> EsmeClient {
        let (ctx, crx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(addr, EsmeSession::new(config), crx, etx));
        EsmeClient {
            commands: ctx,
            events: erx,
            task,
        }
    }

    /// Queue a message; returns its client reference.
    pub async fn submit(&self, sm: SubmitSm) -> Result<MessageRef> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Submit(sm, tx))
            .map_err(|_| SmppError::Closed)?;
        rx.await.map_err(|_| SmppError::Closed)
    }

    /// Queue a message under the caller's reference.
    pub async fn submit_with_reference(&self, reference: MessageRef, sm: SubmitSm) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SubmitWithReference(reference, sm, tx))
            .map_err(|_| SmppError::Closed)?;
        rx.await.map_err(|_| SmppError::Closed)?
    }

    /// The next session event; `None` once the task has ended.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Unbind once the window is empty; the task ends after [`Event::Unbound`].
    pub fn unbind(&self) -> Result<()> {
        self.commands
            .send(Command::Unbind)
            .map_err(|_| SmppError::Closed)
    }

    /// Wait for the task to end (after unbind).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn run(
    addr: SocketAddr,
    mut session: EsmeSession,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut commands_open = true;
    loop {
        if conn.is_none() && session.should_connect(Instant::now()) {
            let timeout = session.config().response_timeout;
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                    session.connected(Instant::now());
                }
                _ => session.connect_failed(Instant::now()),
            }
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
        while let Some(ev) = session.poll_event() {
            let _ = events.send(ev);
        }
        if session.is_closed() && conn.is_none() {
            break;
        }
        let deadline = session.poll_timeout();
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
            Command(Option<Command>),
            Timer,
        }
        let wake = tokio::select! {
            r = reading => Wake::Read(r),
            c = commands.recv(), if commands_open => Wake::Command(c),
            _ = sleep => Wake::Timer,
        };
        let now = Instant::now();
        match wake {
            Wake::Read(Ok(0)) | Wake::Read(Err(_)) => {
                conn = None;
                session.disconnected(now);
            }
            Wake::Read(Ok(n)) => session.handle_input(now, buf.get(..n).unwrap_or_default()),
            Wake::Command(Some(Command::Submit(sm, tx))) => {
                let _ = tx.send(session.submit(sm));
                session.handle_timeout(now);
            }
            Wake::Command(Some(Command::SubmitWithReference(r, sm, tx))) => {
                let _ = tx.send(session.submit_with_reference(r, sm));
                session.handle_timeout(now);
            }
            Wake::Command(Some(Command::Unbind)) => session.unbind(now),
            Wake::Command(None) => {
                // Every handle is gone: finish politely.
                commands_open = false;
                session.unbind(now);
            }
            Wake::Timer => session.handle_timeout(now),
        }
    }
}
