//! The tokio adapter: the SMSC simulator's mobile-station sink on one side, the [`Terminal`]
//! on the other. Each short message the simulator accepts becomes the SMS-DELIVER the
//! terminal receives; each mobile-originated SMS-SUBMIT the terminal produces goes back
//! through the simulator as deliver_sm (`SmscHandle::deliver_sms_submit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use apdu::CardTransport;
use ota::ts23040::Scts;
use smpp::smsc::{MobileStation, SmscHandle, SubmittedMessage};
use smpp::{CommandStatus, SmeAddress};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::terminal::{Output, Terminal};

/// A running modem: the terminal behind a lock (to inspect it, or its card), and what it
/// reported.
pub struct Modem<T: CardTransport> {
    terminal: Arc<Mutex<Terminal<T>>>,
    reports: Arc<Mutex<Vec<Report>>>,
    task: JoinHandle<()>,
}

/// What happened to the outputs the terminal produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A terminal output and, for a mobile-originated SMS, the deliver_sm_resp status (or
    /// the error text when it could not be delivered).
    Output {
        /// The output.
        output: Output,
        /// `Ok(command_status)` of the deliver_sm, `Err(reason)`; `Ok(None)` for outputs
        /// that are not sent.
        delivery: Result<Option<smpp::CommandStatus>, String>,
    },
    /// The terminal refused an incoming message.
    Error(String),
}

/// Adapter settings.
pub struct ModemConfig {
    /// The subscriber's MSISDN: source_addr of the mobile-originated deliver_sm.
    pub msisdn: SmeAddress,
    /// The ESME (system_id) the mobile-originated messages go to; `None`: any bound receiver.
    pub esme: Option<String>,
    /// The SMSC time stamp of each SMS-DELIVER (the clock is injected).
    pub scts: Box<dyn Fn() -> Scts + Send>,
    /// How often messages held after '9300' are offered again.
    pub retry_interval: Duration,
}

/// The SMSC simulator's radio side for a set of subscribers: each accepted submit_sm goes to
/// the modem of its destination MSISDN (a leading '+' ignored); a submit_sm for anyone else is
/// refused with ESME_RINVDSTADR, one that makes no SMS-DELIVER (e.g. a `data_coding` the
/// simulator does not convert, [`smpp::sms::tp_dcs`]) with its error status, and one for a
/// modem that stopped with ESME_RSUBMITFAIL.
#[derive(Default)]
pub struct Subscribers(HashMap<String, mpsc::UnboundedSender<SubmittedMessage>>);

impl Subscribers {
    /// Adds a subscriber; its modem serves the returned receiver ([`Modem::spawn`]).
    pub fn add(&mut self, msisdn: &str) -> mpsc::UnboundedReceiver<SubmittedMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0
            .insert(msisdn.trim_start_matches('+').to_string(), tx);
        rx
    }
}

impl MobileStation for Subscribers {
    fn submitted(&self, m: &SubmittedMessage) -> Result<(), CommandStatus> {
        // Refused now rather than acknowledged and dropped.
        m.sms_deliver(Scts([0; 7]))
            .map_err(|e| e.command_status())?;
        match self.0.get(m.sm.destination.addr.trim_start_matches('+')) {
            Some(tx) => tx
                .send(m.clone())
                .map_err(|_| CommandStatus::ESME_RSUBMITFAIL),
            None => Err(CommandStatus::ESME_RINVDSTADR),
        }
    }
}

fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: CardTransport + Send + 'static> Modem<T> {
    /// Starts the terminal session ([`Terminal::start`], TERMINAL PROFILE) and serves
    /// `incoming` (the receiving end of a `smpp::smsc::ChannelSink`) until it closes.
    pub fn spawn(
        mut terminal: Terminal<T>,
        smsc: SmscHandle,
        mut incoming: mpsc::UnboundedReceiver<SubmittedMessage>,
        config: ModemConfig,
    ) -> crate::Result<Modem<T>> {
        terminal.start()?;
        let terminal = Arc::new(Mutex::new(terminal));
        let reports = Arc::new(Mutex::new(Vec::new()));
        let (t, r) = (terminal.clone(), reports.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.retry_interval);
            loop {
                let result = tokio::select! {
                    m = incoming.recv() => match m {
                        Some(m) => {
                            let scts = (config.scts)();
                            match m.sms_deliver(scts) {
                                Ok(d) => lock(&t).receive(d),
                                Err(e) => {
                                    lock(&r).push(Report::Error(e.to_string()));
                                    Ok(())
                                }
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        let mut term = lock(&t);
                        if term.waiting() > 0 { term.retry() } else { Ok(()) }
                    }
                };
                if let Err(e) = result {
                    lock(&r).push(Report::Error(e.to_string()));
                }
                let outputs = lock(&t).drain_outputs();
                for output in outputs {
                    let delivery = match &output {
                        Output::MobileOriginated { submit, .. } => smsc
                            .deliver_sms_submit(config.esme.as_deref(), &config.msisdn, submit)
                            .await
                            .map(Some)
                            .map_err(|e| e.to_string()),
                        _ => Ok(None),
                    };
                    lock(&r).push(Report::Output { output, delivery });
                }
            }
        });
        Ok(Modem {
            terminal,
            reports,
            task,
        })
    }

    /// Runs `f` on the terminal (e.g. to read its stats or its card's state).
    pub fn with_terminal<R>(&self, f: impl FnOnce(&mut Terminal<T>) -> R) -> R {
        f(&mut lock(&self.terminal))
    }

    /// Everything reported so far.
    pub fn reports(&self) -> Vec<Report> {
        lock(&self.reports).clone()
    }

    /// Stops serving.
    pub fn abort(&self) {
        self.task.abort();
    }
}
