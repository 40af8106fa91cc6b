//! A fleet of lightweight simulated cards behind the SMSC simulator ([`smpp::smsc`]), for
//! tests, the demo and the benchmark: each delivered command packet is opened with the
//! card-side API ([`ota::ts102225::receive_command`] with the fleet's keys and that card's
//! stored counter), answered with a PoR ([`ota::ts102225::build_response`]) and sent back as a
//! mobile-originated deliver_sm (SPI2 b6 = 1, TS 31.115 §4.4), retried until an ESME
//! acknowledges it, as an SMSC's store-and-forward does. Every packet is counted by (card
//! address, counter). The PoR's response data can be set ([`SimFleet::set_response_data`]),
//! and a card can be made unreachable ([`SimFleet::set_unreachable`]: its packets are
//! accepted by the SMSC but never reach it, so no PoR comes back).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ota::ts102225::{build_response, receive_command, KeyLookup, PorSecurity};
use ota::{Counter, Kic, Kid, PorStatus, SecurityKeys};
use smpp::smsc::{MobileStation, SmscHandle, SubmittedMessage};
use smpp::{CommandStatus, DeliverSm, SmeAddress};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::model::KeySet;

/// What the fleet has seen.
#[derive(Debug, Default)]
pub struct Radio {
    /// Stored counter per (card, TAR).
    pub counters: HashMap<(String, [u8; 3]), Counter>,
    /// Packets per (card, counter).
    pub seen: HashMap<(String, u64), u32>,
    /// Packets a card refused (bad counter, MAC, ...).
    pub refused: u32,
}

/// The fleet: one key set shared by every card (each card keeps its own counters).
pub struct SimFleet {
    keys: SecurityKeys,
    kic: Kic,
    kid: Kid,
    radio: Mutex<Radio>,
    controls: Mutex<Controls>,
    mo: mpsc::UnboundedSender<DeliverSm>,
}

/// How the fleet behaves (set by tests).
struct Controls {
    /// The additional response data of every PoR '00'.
    response_data: Vec<u8>,
    /// Cards whose packets are lost before reaching them.
    unreachable: HashSet<String>,
}

impl SimFleet {
    /// A fleet answering with `keys`, and the receiving end of its PoRs (pass it to
    /// [`SimFleet::forward`] once the SMSC runs).
    pub fn new(keys: &KeySet) -> Result<(Arc<SimFleet>, mpsc::UnboundedReceiver<DeliverSm>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(SimFleet {
                keys: keys.security_keys()?,
                kic: keys.kic,
                kid: keys.kid,
                radio: Mutex::new(Radio::default()),
                controls: Mutex::new(Controls {
                    // A status word '90 00' (a remote response, TS 102 226 §5.1).
                    response_data: vec![0x90, 0x00],
                    unreachable: HashSet::new(),
                }),
                mo: tx,
            }),
            rx,
        ))
    }

    /// Run the store-and-forward of PoRs through `smsc` (spawns a task).
    pub fn forward(smsc: SmscHandle, mut rx: mpsc::UnboundedReceiver<DeliverSm>) {
        tokio::spawn(async move {
            while let Some(sm) = rx.recv().await {
                let h = smsc.clone();
                tokio::spawn(async move {
                    loop {
                        if let Ok(CommandStatus::ESME_ROK) = h.deliver(None, sm.clone()).await {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                });
            }
        });
    }

    /// The additional response data the cards put in every PoR with status '00' (default
    /// '90 00').
    pub fn set_response_data(&self, data: Vec<u8>) {
        self.controls().response_data = data;
    }

    /// Make a card unreachable (its packets are dropped unseen, no PoR) or reachable again.
    pub fn set_unreachable(&self, address: &str, unreachable: bool) {
        let mut c = self.controls();
        if unreachable {
            c.unreachable.insert(address.to_string());
        } else {
            c.unreachable.remove(address);
        }
    }

    fn controls(&self) -> std::sync::MutexGuard<'_, Controls> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look at what was seen.
    pub fn with_radio<T>(&self, f: impl FnOnce(&Radio) -> T) -> T {
        f(&self.radio.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn answer(&self, m: &SubmittedMessage) -> std::result::Result<Option<Vec<u8>>, CommandStatus> {
        let addr = m.sm.destination.addr.clone();
        let response_data = {
            let c = self.controls();
            if c.unreachable.contains(&addr) {
                return Ok(None);
            }
            c.response_data.clone()
        };
        let packet = ota::ts31115::command_from_user_data(&m.sm.short_message)
            .map_err(|_| CommandStatus::ESME_RSYSERR)?;
        let mut radio = self.radio.lock().unwrap_or_else(|p| p.into_inner());
        let tar = packet
            .get(7..10)
            .and_then(|t| <[u8; 3]>::try_from(t).ok())
            .unwrap_or_default();
        let stored = radio
            .counters
            .get(&(addr.clone(), tar))
            .copied()
            .unwrap_or_default();
        let ud = match receive_command(packet, |_| {
            Ok(KeyLookup {
                keys: self.keys.clone(),
                stored_counter: stored,
            })
        }) {
            Ok(acc) => {
                if let Some(c) = acc.new_counter {
                    radio.counters.insert((addr.clone(), tar), c);
                }
                let h = acc.command.header;
                *radio.seen.entry((addr, h.counter.value())).or_default() += 1;
                let resp = acc.command.response(PorStatus::PorOk, response_data);
                build_response(
                    &resp,
                    PorSecurity::from_spi(&h.spi),
                    self.kic,
                    self.kid,
                    &self.keys,
                )
            }
            Err(rej) => {
                radio.refused += 1;
                let c = rej.counter.map_or(0, |c| c.value());
                *radio.seen.entry((addr, c)).or_default() += 1;
                let Some(p) = rej.response() else {
                    return Ok(None);
                };
                build_response(&p.packet, p.security, self.kic, self.kid, &self.keys)
            }
        };
        ud.map(Some).map_err(|_| CommandStatus::ESME_RSYSERR)
    }
}

impl MobileStation for SimFleet {
    fn submitted(&self, m: &SubmittedMessage) -> std::result::Result<(), CommandStatus> {
        if let Some(ud) = self.answer(m)? {
            let _ = self
                .mo
                .send(por_deliver(&m.sm.destination.addr, &m.sm.source, ud));
        }
        Ok(())
    }
}

/// The PoR as the SMSC hands an MO SMS-SUBMIT to the ESME: TP-PID '7F', 8-bit class 2, UDHI.
pub fn por_deliver(from: &str, to: &SmeAddress, ud: Vec<u8>) -> DeliverSm {
    DeliverSm {
        source: SmeAddress::new(1, 1, from),
        destination: to.clone(),
        esm_class: smpp::pdu::ESM_CLASS_UDHI,
        protocol_id: ota::ts23040::PID_SIM_DATA_DOWNLOAD,
        data_coding: ota::ts23040::DCS_8BIT_CLASS2,
        short_message: ud,
        ..DeliverSm::default()
    }
}
