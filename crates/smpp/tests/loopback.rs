//! The tokio ESME client against the SMSC simulator over 127.0.0.1.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use smpp::client::EsmeClient;
use smpp::sms::OtaSubmit;
use smpp::smsc::{self, ChannelSink, Faults, SmscConfig, SmscHandle, SubmittedMessage};
use smpp::{BindMode, CommandStatus, EsmeConfig, Event, MessageRef, SmeAddress, SubmitSm};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

async fn simulator() -> (SmscHandle, UnboundedReceiver<SubmittedMessage>) {
    let (sink, rx) = ChannelSink::new();
    let h = smsc::start(SmscConfig::new("ota", "secret"), 0, Arc::new(sink))
        .await
        .expect("simulator starts");
    assert!(h.local_addr().ip().is_loopback());
    (h, rx)
}

fn config(mode: BindMode) -> EsmeConfig {
    let mut c = EsmeConfig::new(mode, "ota", "secret");
    c.reconnect_delay = Duration::from_millis(20);
    c.max_reconnect_delay = Duration::from_millis(200);
    c.throttle_backoff = Duration::from_millis(20);
    c.response_timeout = Duration::from_secs(5);
    c
}

fn message(i: u32) -> SubmitSm {
    SubmitSm {
        source: SmeAddress::new(1, 1, "12345"),
        destination: SmeAddress::new(1, 1, "491700000001"),
        esm_class: 0x40,
        protocol_id: 0x7F,
        data_coding: 0xF6,
        short_message: [&[0x02, 0x70, 0x00][..], &i.to_be_bytes()].concat(),
        ..SubmitSm::default()
    }
}

async fn next(client: &mut EsmeClient) -> Event {
    timeout(WAIT, client.next_event())
        .await
        .expect("event in time")
        .expect("client running")
}

async fn wait_bound(client: &mut EsmeClient) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = next(client).await;
        let done = matches!(e, Event::Bound { .. });
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// Submit `n` messages and collect one terminal event per reference.
async fn submit_all(
    client: &mut EsmeClient,
    n: u32,
) -> (Vec<MessageRef>, HashMap<MessageRef, String>, Vec<Event>) {
    let mut refs = Vec::new();
    for i in 0..n {
        refs.push(client.submit(message(i)).await.expect("queued"));
    }
    let mut accepted = HashMap::new();
    let mut others = Vec::new();
    while accepted.len() < refs.len() {
        match next(client).await {
            Event::Accepted {
                reference,
                message_id,
            } => {
                assert!(
                    accepted.insert(reference, message_id).is_none(),
                    "{reference:?} accepted twice"
                );
            }
            Event::Failed { reference, status } => panic!("{reference:?} failed: {status}"),
            e => others.push(e),
        }
    }
    (refs, accepted, others)
}

/// Count what reached the mobile station per user_message_reference.
fn drain_sink(rx: &mut UnboundedReceiver<SubmittedMessage>) -> HashMap<u16, usize> {
    let mut seen = HashMap::new();
    while let Ok(m) = rx.try_recv() {
        let r =
            m.sm.user_message_reference()
                .expect("reference on the wire");
        *seen.entry(r).or_insert(0) += 1;
    }
    seen
}

async fn unbind(mut client: EsmeClient) {
    client.unbind().expect("unbind");
    loop {
        match next(&mut client).await {
            Event::Unbound => break,
            Event::Disconnected { .. } => {}
            e => panic!("unexpected {e:?}"),
        }
    }
    timeout(WAIT, client.join()).await.expect("task ends");
}

#[tokio::test]
async fn bind_transmitter_submit_and_unbind() {
    let (smsc, mut rx) = simulator().await;
    let mut client = EsmeClient::spawn(smsc.local_addr(), config(BindMode::Transmitter));
    let seen = wait_bound(&mut client).await;
    assert_eq!(
        seen.last(),
        Some(&Event::Bound {
            system_id: "simkit-smsc".into()
        })
    );
    let (refs, accepted, _) = submit_all(&mut client, 3).await;
    assert_eq!(accepted.len(), 3);
    let m = rx.try_recv().expect("delivered to the mobile station");
    assert_eq!(m.system_id, "ota");
    assert_eq!(m.sm, {
        let mut sm = message(0);
        sm.set_user_message_reference(refs[0].0 as u16);
        sm
    });
    assert_eq!(accepted.get(&refs[0]), Some(&m.message_id));
    unbind(client).await;
    assert_eq!(smsc.bound_sessions(), 0);
}

#[tokio::test]
async fn thousand_submits_window_and_throttle() {
    let (smsc, mut rx) = simulator().await;
    let mut cfg = config(BindMode::Transceiver);
    cfg.window = 10;
    cfg.max_submits_per_second = Some(500);
    let mut client = EsmeClient::spawn(smsc.local_addr(), cfg);
    wait_bound(&mut client).await;
    let started = tokio::time::Instant::now();
    let (refs, accepted, _) = submit_all(&mut client, 1000).await;
    assert_eq!(accepted.len(), 1000);
    // 1000 submits at no more than 500 in any second need more than one second.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let seen = drain_sink(&mut rx);
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|&n| n == 1));
    for r in &refs {
        assert_eq!(seen.get(&(r.0 as u16)), Some(&1));
    }
    assert_eq!(smsc.stats().submits_accepted, 1000);
    unbind(client).await;
}

#[tokio::test]
async fn rate_limit_spreads_submits_over_time() {
    let (smsc, _rx) = simulator().await;
    let mut cfg = config(BindMode::Transmitter);
    cfg.window = 50;
    cfg.max_submits_per_second = Some(20);
    let mut client = EsmeClient::spawn(smsc.local_addr(), cfg);
    wait_bound(&mut client).await;
    let started = tokio::time::Instant::now();
    let (_, accepted, _) = submit_all(&mut client, 45).await;
    assert_eq!(accepted.len(), 45);
    // 45 messages at 20 per second need the third second.
    assert!(started.elapsed() >= Duration::from_secs(2));
    unbind(client).await;
}

#[tokio::test]
async fn throttled_messages_are_resent() {
    let (smsc, mut rx) = simulator().await;
    smsc.set_faults(Faults {
        throttle_every: Some(3),
        ..Faults::default()
    });
    let mut client = EsmeClient::spawn(smsc.local_addr(), config(BindMode::Transmitter));
    wait_bound(&mut client).await;
    let (_, accepted, others) = submit_all(&mut client, 30).await;
    assert_eq!(accepted.len(), 30);
    let retries = others
        .iter()
        .filter(|e| {
            matches!(e, Event::Retrying { status, .. } if *status == CommandStatus::ESME_RTHROTTLED)
        })
        .count();
    assert!(retries >= 10, "{retries} retries");
    assert_eq!(smsc.stats().submits_throttled as usize, retries);
    let seen = drain_sink(&mut rx);
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|&n| n == 1));
    unbind(client).await;
}

#[tokio::test]
async fn bind_refused_then_accepted_on_retry() {
    let (smsc, _rx) = simulator().await;
    smsc.set_faults(Faults {
        refuse_binds: 2,
        ..Faults::default()
    });
    let mut client = EsmeClient::spawn(smsc.local_addr(), config(BindMode::Transceiver));
    let seen = wait_bound(&mut client).await;
    let refusals = seen
        .iter()
        .filter(|e| {
            matches!(e, Event::BindRejected { status } if *status == CommandStatus::ESME_RBINDFAIL)
        })
        .count();
    assert_eq!(refusals, 2);
    assert_eq!(smsc.stats().binds_refused, 2);
    assert_eq!(smsc.stats().binds_accepted, 1);
    let (_, accepted, _) = submit_all(&mut client, 2).await;
    assert_eq!(accepted.len(), 2);
    unbind(client).await;
}

#[tokio::test]
async fn wrong_password_is_refused_with_rinvpaswd() {
    let (smsc, _rx) = simulator().await;
    let mut cfg = config(BindMode::Transmitter);
    cfg.password = "wrong".into();
    let mut client = EsmeClient::spawn(smsc.local_addr(), cfg);
    assert_eq!(
        next(&mut client).await,
        Event::BindRejected {
            status: CommandStatus::ESME_RINVPASWD
        }
    );
    client.unbind().expect("stop");
    timeout(WAIT, client.join()).await.expect("task ends");
}

#[tokio::test]
async fn connection_dropped_mid_window_every_message_accepted_once() {
    let (smsc, mut rx) = simulator().await;
    // Three connections die on their 17th PDU (bind + 15 submits answered, the 17th not).
    smsc.set_faults(Faults {
        drop_after_pdus: Some(17),
        drop_connections: 3,
        ..Faults::default()
    });
    let mut cfg = config(BindMode::Transceiver);
    cfg.window = 10;
    let mut client = EsmeClient::spawn(smsc.local_addr(), cfg);
    let (refs, accepted, others) = submit_all(&mut client, 200).await;
    assert_eq!(accepted.len(), 200);
    let drops = others
        .iter()
        .filter(|e| matches!(e, Event::Disconnected { .. }))
        .count();
    assert_eq!(drops, 3);
    assert_eq!(smsc.stats().dropped_connections, 3);
    let seen = drain_sink(&mut rx);
    for r in &refs {
        assert_eq!(seen.get(&(r.0 as u16)), Some(&1), "{r:?}");
    }
    assert_eq!(seen.len(), 200);
    // The message_ids are the SMSC's, one per message.
    let mut ids: Vec<&String> = accepted.values().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    unbind(client).await;
}

#[tokio::test]
async fn deliver_sm_round_trip_with_ota_segments() {
    let (smsc, mut rx) = simulator().await;
    let mut client = EsmeClient::spawn(smsc.local_addr(), config(BindMode::Transceiver));
    wait_bound(&mut client).await;

    // A 300-octet command packet becomes three concatenated SMS (TS 31.115 §4.2).
    let packet: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    let ota = OtaSubmit::new(
        SmeAddress::new(1, 1, "12345"),
        SmeAddress::new(1, 1, "491700000001"),
    );
    let submits = ota.command_packet(&packet, 0x42).expect("segments");
    assert_eq!(submits.len(), 3);
    for sm in submits {
        client.submit(sm).await.expect("queued");
    }
    let mut uds = Vec::new();
    while uds.len() < 3 {
        if let Event::Accepted { .. } = next(&mut client).await {
            let m = timeout(WAIT, rx.recv())
                .await
                .expect("in time")
                .expect("sink");
            let deliver = m
                .sms_deliver(ota::ts23040::Scts::new([25, 1, 1, 12, 0, 0], 4))
                .expect("SMS-DELIVER");
            assert!(deliver.udhi);
            assert_eq!((deliver.pid, deliver.dcs), (0x7F, 0xF6));
            uds.push(deliver.user_data);
        }
    }
    assert_eq!(
        ota::ts31115::command_from_segments(&uds).expect("reassembles"),
        packet
    );

    // The card's PoR comes back as an SMS-SUBMIT (SPI2 b6 = 1) and reaches the ESME as
    // deliver_sm with esm_class 0x40.
    let por = [
        0x02, 0x71, 0x00, 0x00, 0x0A, 0xB0, 0x00, 0x10, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
    ];
    let submit = ota::ts31115::por_submit(
        ota::ts23040::Address::digits(1, 1, "12345").expect("address"),
        7,
        por.to_vec(),
    )
    .expect("SMS-SUBMIT");
    let status = smsc
        .deliver_sms_submit(Some("ota"), &SmeAddress::new(1, 1, "491700000001"), &submit)
        .await
        .expect("deliver_sm_resp");
    assert_eq!(status, CommandStatus::ESME_ROK);
    let Event::Deliver(sm) = next(&mut client).await else {
        panic!("expected a deliver_sm");
    };
    assert_eq!(sm.source.addr, "491700000001");
    assert_eq!(sm.destination.addr, "12345");
    assert_eq!(smpp::sms::por_user_data(&sm), Some(&por[..]));
    assert_eq!(smsc.stats().delivers, 1);
    unbind(client).await;
}

#[tokio::test]
async fn transmitter_gets_no_deliveries() {
    let (smsc, _rx) = simulator().await;
    let mut client = EsmeClient::spawn(smsc.local_addr(), config(BindMode::Transmitter));
    wait_bound(&mut client).await;
    let err = smsc
        .deliver(None, SubmitSm::default())
        .await
        .expect_err("no receiver bound");
    assert_eq!(err.command_status(), CommandStatus::ESME_RINVBNDSTS);
    unbind(client).await;
}

#[tokio::test]
async fn enquire_link_keeps_the_link() {
    let (smsc, _rx) = simulator().await;
    let mut cfg = config(BindMode::Transceiver);
    cfg.enquire_link_interval = Duration::from_millis(50);
    let mut client = EsmeClient::spawn(smsc.local_addr(), cfg);
    wait_bound(&mut client).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let n = smsc.stats().enquire_links;
    assert!(n >= 3, "{n} enquire_links");
    // The link still works.
    let (_, accepted, others) = submit_all(&mut client, 1).await;
    assert_eq!(accepted.len(), 1);
    assert!(others.is_empty(), "{others:?}");
    unbind(client).await;
}
