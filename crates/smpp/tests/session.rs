//! The sans-I/O ESME session driven by hand: exact PDUs out, scripted SMSC answers in, time
//! injected.

use std::time::{Duration, Instant};

use smpp::frame::FrameDecoder;
use smpp::pdu::{command_id, BindResp, SmResp};
use smpp::{
    BindMode, Body, CommandStatus, EsmeConfig, EsmeSession, Event, MessageRef, Pdu, SessionState,
    SmeAddress, SubmitSm,
};

fn sent(s: &mut EsmeSession) -> Vec<Pdu> {
    let mut d = FrameDecoder::default();
    if let Some(b) = s.poll_transmit() {
        d.push(&b);
    }
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().expect("framing") {
        out.push(Pdu::decode(&f).expect("valid PDU"));
    }
    out
}

fn events(s: &mut EsmeSession) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn feed(s: &mut EsmeSession, now: Instant, pdus: &[Pdu]) {
    let bytes: Vec<u8> = pdus.iter().flat_map(|p| p.encode().expect("enc")).collect();
    s.handle_input(now, &bytes);
}

fn ok_resp(req: &Pdu, id: &str) -> Pdu {
    Pdu::new(
        req.sequence_number,
        Body::SubmitSmResp(SmResp {
            message_id: id.to_string(),
        }),
    )
}

fn msg(i: u8) -> SubmitSm {
    SubmitSm {
        destination: SmeAddress::new(1, 1, "4917000000"),
        short_message: vec![i],
        ..SubmitSm::default()
    }
}

fn cfg() -> EsmeConfig {
    let mut c = EsmeConfig::new(BindMode::Transceiver, "ota", "secret");
    c.window = 3;
    c.throttle_backoff = Duration::from_secs(1);
    c.reconnect_delay = Duration::from_secs(2);
    c.response_timeout = Duration::from_secs(5);
    c.enquire_link_interval = Duration::from_secs(30);
    c
}

/// Connect and bind; returns the session bound at `t0`.
fn bound(t0: Instant) -> EsmeSession {
    let mut s = EsmeSession::new(cfg());
    assert!(s.should_connect(t0));
    s.connected(t0);
    let out = sent(&mut s);
    assert_eq!(out.len(), 1);
    let Body::BindTransceiver(b) = &out[0].body else {
        panic!("expected bind_transceiver, got {:?}", out[0]);
    };
    assert_eq!(
        (
            b.system_id.as_str(),
            b.password.as_str(),
            b.interface_version
        ),
        ("ota", "secret", 0x34)
    );
    let resp = Pdu::new(
        out[0].sequence_number,
        Body::BindTransceiverResp(BindResp {
            system_id: "SMSC".into(),
            tlvs: vec![],
        }),
    );
    feed(&mut s, t0, &[resp]);
    assert_eq!(
        events(&mut s),
        vec![Event::Bound {
            system_id: "SMSC".into()
        }]
    );
    assert_eq!(s.state(), SessionState::Bound);
    s
}

#[test]
fn window_limits_outstanding_submits() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let refs: Vec<MessageRef> = (0..5).map(|i| s.submit(msg(i))).collect();
    s.handle_timeout(t0);
    let first = sent(&mut s);
    assert_eq!(first.len(), 3, "window of 3");
    assert_eq!(s.in_flight(), 3);
    // Sequence numbers are distinct and carry the client reference on the wire.
    for (p, r) in first.iter().zip(&refs) {
        let Body::SubmitSm(sm) = &p.body else {
            panic!()
        };
        assert_eq!(sm.user_message_reference(), Some(r.0 as u16));
    }
    // Answering the second (out of order) frees one slot.
    feed(&mut s, t0, &[ok_resp(&first[1], "B")]);
    assert_eq!(
        events(&mut s),
        vec![Event::Accepted {
            reference: refs[1],
            message_id: "B".into()
        }]
    );
    let more = sent(&mut s);
    assert_eq!(more.len(), 1);
    assert_eq!(s.unfinished(), 4);
    // A late duplicate of the same response is ignored.
    feed(&mut s, t0, &[ok_resp(&first[1], "B")]);
    assert!(events(&mut s).is_empty());
}

#[test]
fn throttled_submit_backs_off_and_resends_the_same_message() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let r = s.submit(msg(7));
    s.handle_timeout(t0);
    let p = sent(&mut s).remove(0);
    let throttled = Pdu {
        command_status: CommandStatus::ESME_RTHROTTLED,
        sequence_number: p.sequence_number,
        body: Body::SubmitSmResp(SmResp::default()),
    };
    feed(&mut s, t0, &[throttled]);
    assert_eq!(
        events(&mut s),
        vec![Event::Retrying {
            reference: r,
            status: CommandStatus::ESME_RTHROTTLED
        }]
    );
    assert!(sent(&mut s).is_empty(), "no resend before the back-off");
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    s.handle_timeout(t0 + Duration::from_millis(999));
    assert!(sent(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(1));
    let again = sent(&mut s).remove(0);
    assert_ne!(again.sequence_number, p.sequence_number);
    assert_eq!(again.body, p.body, "the same message");
    feed(&mut s, t0, &[ok_resp(&again, "X")]);
    assert_eq!(
        events(&mut s),
        vec![Event::Accepted {
            reference: r,
            message_id: "X".into()
        }]
    );
}

#[test]
fn permanent_refusal_fails_the_message_once() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let r = s.submit(msg(1));
    s.handle_timeout(t0);
    let p = sent(&mut s).remove(0);
    feed(
        &mut s,
        t0,
        &[Pdu {
            command_status: CommandStatus::ESME_RINVDSTADR,
            sequence_number: p.sequence_number,
            body: Body::SubmitSmResp(SmResp::default()),
        }],
    );
    assert_eq!(
        events(&mut s),
        vec![Event::Failed {
            reference: r,
            status: CommandStatus::ESME_RINVDSTADR
        }]
    );
    assert_eq!(s.unfinished(), 0);
}

#[test]
fn rate_limit_per_second() {
    let t0 = Instant::now();
    let mut c = cfg();
    c.window = 100;
    c.max_submits_per_second = Some(4);
    let mut s = EsmeSession::new(c);
    s.connected(t0);
    let bind = sent(&mut s).remove(0);
    feed(
        &mut s,
        t0,
        &[Pdu::new(
            bind.sequence_number,
            Body::BindTransceiverResp(BindResp::default()),
        )],
    );
    for i in 0..10 {
        s.submit(msg(i));
    }
    s.handle_timeout(t0);
    assert_eq!(sent(&mut s).len(), 4);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    s.handle_timeout(t0 + Duration::from_millis(500));
    assert!(sent(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(sent(&mut s).len(), 4);
    s.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(sent(&mut s).len(), 2);
}

#[test]
fn lost_connection_requeues_in_flight_messages_in_order() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let refs: Vec<MessageRef> = (0..4).map(|i| s.submit(msg(i))).collect();
    s.handle_timeout(t0);
    let first = sent(&mut s);
    assert_eq!(first.len(), 3);
    // The first is answered, then the connection dies.
    feed(&mut s, t0, &[ok_resp(&first[0], "A")]);
    let _ = sent(&mut s); // the 4th went out too
    s.disconnected(t0);
    let ev = events(&mut s);
    assert_eq!(
        ev.first(),
        Some(&Event::Accepted {
            reference: refs[0],
            message_id: "A".into()
        })
    );
    assert!(matches!(ev.last(), Some(Event::Disconnected { .. })));
    assert_eq!(s.state(), SessionState::Disconnected);
    assert_eq!(s.unfinished(), 3);
    // Reconnect after the delay, rebind, and the three unanswered ones go out again in order.
    assert!(!s.should_connect(t0 + Duration::from_secs(1)));
    let t1 = t0 + Duration::from_secs(2);
    assert!(s.should_connect(t1));
    s.connected(t1);
    let bind = sent(&mut s).remove(0);
    assert_eq!(bind.command_id(), command_id::BIND_TRANSCEIVER);
    feed(
        &mut s,
        t1,
        &[Pdu::new(
            bind.sequence_number,
            Body::BindTransceiverResp(BindResp::default()),
        )],
    );
    let resent = sent(&mut s);
    let bodies: Vec<u8> = resent
        .iter()
        .map(|p| match &p.body {
            Body::SubmitSm(sm) => sm.short_message[0],
            _ => panic!(),
        })
        .collect();
    assert_eq!(bodies, vec![1, 2, 3]);
    feed(
        &mut s,
        t1,
        &resent.iter().map(|p| ok_resp(p, "Z")).collect::<Vec<_>>(),
    );
    let accepted: Vec<MessageRef> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Accepted { reference, .. } => Some(reference),
            _ => None,
        })
        .collect();
    assert_eq!(accepted, refs[1..].to_vec());
    assert_eq!(s.unfinished(), 0);
}

#[test]
fn bind_refusal_closes_and_backs_off() {
    let t0 = Instant::now();
    let mut s = EsmeSession::new(cfg());
    s.connected(t0);
    let bind = sent(&mut s).remove(0);
    feed(
        &mut s,
        t0,
        &[Pdu {
            command_status: CommandStatus::ESME_RBINDFAIL,
            sequence_number: bind.sequence_number,
            body: Body::BindTransceiverResp(BindResp::default()),
        }],
    );
    assert_eq!(
        events(&mut s),
        vec![Event::BindRejected {
            status: CommandStatus::ESME_RBINDFAIL
        }]
    );
    assert_eq!(s.close_requested(), Some("bind rejected"));
    s.disconnected(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    // The delay doubles on the next failure.
    s.connected(t0 + Duration::from_secs(2));
    s.connect_failed(t0 + Duration::from_secs(2));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(6)));
}

#[test]
fn enquire_link_and_response_timeout() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let t1 = t0 + Duration::from_secs(30);
    s.handle_timeout(t1);
    let el = sent(&mut s).remove(0);
    assert_eq!(el.body, Body::EnquireLink);
    // The SMSC's own enquire_link is answered.
    feed(&mut s, t1, &[Pdu::new(77, Body::EnquireLink)]);
    assert_eq!(sent(&mut s), vec![Pdu::new(77, Body::EnquireLinkResp)]);
    // No enquire_link_resp within the response timeout: the connection is given up.
    s.handle_timeout(t1 + Duration::from_secs(5));
    assert_eq!(s.close_requested(), Some("response timeout"));
}

#[test]
fn deliver_sm_is_answered_and_reported() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let mo = SubmitSm {
        source: SmeAddress::new(1, 1, "4917000000"),
        esm_class: 0x40,
        short_message: vec![0x02, 0x71, 0x00],
        ..SubmitSm::default()
    };
    feed(&mut s, t0, &[Pdu::new(5, Body::DeliverSm(mo.clone()))]);
    assert_eq!(events(&mut s), vec![Event::Deliver(mo)]);
    assert_eq!(
        sent(&mut s),
        vec![Pdu::new(5, Body::DeliverSmResp(SmResp::default()))]
    );
    // Garbage from the SMSC: generic_nack ESME_RINVCMDLEN and the connection is closed.
    s.handle_input(t0, &[0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let nack = sent(&mut s).remove(0);
    assert_eq!(nack.body, Body::GenericNack);
    assert_eq!(nack.command_status, CommandStatus::ESME_RINVCMDLEN);
    assert_eq!(s.close_requested(), Some("unframeable input"));
}

#[test]
fn orderly_unbind_waits_for_the_window() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    let r = s.submit(msg(1));
    s.handle_timeout(t0);
    let p = sent(&mut s).remove(0);
    s.unbind(t0);
    assert!(
        sent(&mut s).is_empty(),
        "unbind waits for the outstanding submit"
    );
    feed(&mut s, t0, &[ok_resp(&p, "M")]);
    let unbind = sent(&mut s).remove(0);
    assert_eq!(unbind.body, Body::Unbind);
    feed(
        &mut s,
        t0,
        &[Pdu::new(unbind.sequence_number, Body::UnbindResp)],
    );
    assert_eq!(
        events(&mut s),
        vec![
            Event::Accepted {
                reference: r,
                message_id: "M".into()
            },
            Event::Unbound
        ]
    );
    assert!(s.is_closed());
}

#[test]
fn caller_references_are_kept_and_unique() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    s.submit_with_reference(MessageRef(1000), msg(1))
        .expect("queued");
    assert!(s.submit_with_reference(MessageRef(1000), msg(2)).is_err());
    let unfinished = s.unfinished_messages();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].0, MessageRef(1000));
    assert_eq!(unfinished[0].1.user_message_reference(), Some(1000));
}

#[test]
fn unbind_from_the_smsc_reconnects() {
    let t0 = Instant::now();
    let mut s = bound(t0);
    feed(&mut s, t0, &[Pdu::new(9, Body::Unbind)]);
    assert_eq!(sent(&mut s), vec![Pdu::new(9, Body::UnbindResp)]);
    assert_eq!(s.close_requested(), Some("unbind from the SMSC"));
    s.disconnected(t0);
    assert_eq!(
        events(&mut s),
        vec![Event::Disconnected {
            reason: "unbind from the SMSC"
        }]
    );
    assert!(!s.is_closed());
    assert!(s.should_connect(t0 + Duration::from_secs(2)));
}

proptest::proptest! {
    /// Against a scripted SMSC that accepts, throttles, reports a full queue, stays silent or
    /// drops the connection mid-window, every message ends accepted exactly once, with the
    /// message_id the SMSC gave in the response that got through.
    #[test]
    fn every_message_accepted_exactly_once(
        n in 1u8..40,
        window in 1usize..8,
        script in proptest::collection::vec(0u8..10, 0..300),
    ) {
        let mut c = cfg();
        c.window = window;
        c.max_reconnect_delay = Duration::from_secs(2);
        let mut s = EsmeSession::new(c);
        let refs: Vec<MessageRef> = (0..n).map(|i| s.submit(msg(i))).collect();
        let mut script = script.into_iter();
        let mut t = Instant::now();
        let mut issued = 0u32;
        let mut given: std::collections::HashMap<MessageRef, String> = Default::default();
        let mut accepted: std::collections::HashMap<MessageRef, String> = Default::default();
        for _ in 0..20_000 {
            if s.unfinished() == 0 {
                break;
            }
            if s.should_connect(t) {
                s.connected(t);
            }
            let mut answers = Vec::new();
            let mut dropped = false;
            for p in sent(&mut s) {
                match &p.body {
                    Body::BindTransceiver(_) => answers.push(Pdu::new(
                        p.sequence_number,
                        Body::BindTransceiverResp(BindResp::default()),
                    )),
                    Body::SubmitSm(sm) if !dropped => {
                        let status = match script.next().unwrap_or(0) {
                            6 => CommandStatus::ESME_RTHROTTLED,
                            7 => CommandStatus::ESME_RMSGQFUL,
                            8 => {
                                dropped = true;
                                continue;
                            }
                            9 => continue, // silence: the response timeout fires
                            _ => CommandStatus::ESME_ROK,
                        };
                        let mut resp = ok_resp(&p, "");
                        resp.command_status = status;
                        if status.is_ok() {
                            issued += 1;
                            let id = format!("M{issued}");
                            let r = refs[usize::from(sm.short_message[0])];
                            given.insert(r, id.clone());
                            resp.body = Body::SubmitSmResp(SmResp { message_id: id });
                        }
                        answers.push(resp);
                    }
                    Body::EnquireLink => answers.push(Pdu::new(p.sequence_number, Body::EnquireLinkResp)),
                    _ => {}
                }
            }
            feed(&mut s, t, &answers);
            for e in events(&mut s) {
                match e {
                    Event::Accepted { reference, message_id } => {
                        proptest::prop_assert!(accepted.insert(reference, message_id).is_none());
                    }
                    Event::Failed { reference, status } => {
                        proptest::prop_assert!(false, "{reference:?} failed: {status}");
                    }
                    _ => {}
                }
            }
            if dropped || s.close_requested().is_some() {
                s.disconnected(t);
            }
            t += Duration::from_millis(500);
            s.handle_timeout(t);
        }
        proptest::prop_assert_eq!(s.unfinished(), 0);
        proptest::prop_assert_eq!(accepted.len(), usize::from(n));
        // The SMSC accepted each message exactly once (nothing was answered twice).
        proptest::prop_assert_eq!(issued, u32::from(n));
        proptest::prop_assert_eq!(accepted, given);
    }
}
