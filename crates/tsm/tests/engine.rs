//! The engine's GlobalPlatform flows against the in-process virtual card (`card` crate): its
//! GP container accepts SSD creation from the built-in SD package, PUT KEY, INSTALL in all
//! variants, SET STATUS, DELETE, GET STATUS and GET DATA 'FF21' as GP CS v2.3.1 describes.
//! Every assertion is checked on the card's state, not only on what the engine reports.

use apdu::{CardTransport, Command, Response, StatusWord};
use card::gp::native::GENERIC_PACKAGE_AID;
use card::routing::GP_ISD_AID;
use card::testing::SeededRng;
use card::{Card, Protocol};
use gp::{HostHandshake, KeySet, PutKeyData, SecurityLevel};
use tsm::engine::{
    self, AuditContext, PrePersonalization, Recorder, ScriptTarget, SdAccess, SSD_PACKAGE_AID,
};
use tsm::TsmError;

mod common;
use common::*;

#[test]
fn two_sps_lifecycle_on_one_card() {
    let mut card = new_card(None);
    let svc_a = service("bank", &APP_A, "1", &h("01"), 512);
    let svc_b = service("transit", &APP_B, "1", &h("0B"), 256);

    // PrePersonalize for both SPs: SSD (SCP03 for A, SCP02 for B), instance, extradition.
    let r = pre_personalize(&mut card, &SSD_A, &keys_a(), &svc_a);
    assert!(r.error.is_none(), "{:?}", r);
    assert!(r.ssd_created && r.remaining.is_empty());
    assert_eq!(
        names(&r.steps),
        [
            "eligibility:done",
            "createSsd:done",
            "putKeys:done",
            "install:done",
            "extradite:done"
        ]
    );
    let r = pre_personalize(&mut card, &SSD_B, &keys_b(), &svc_b);
    assert!(r.error.is_none(), "{:?}", r);
    for (ssd, inst, kvn) in [(SSD_A, &APP_A[..], 0x30), (SSD_B, &APP_B[..], 0x20)] {
        let sd = app(&card, &ssd).unwrap();
        assert_eq!(sd.load_file_aid, SSD_PACKAGE_AID);
        assert_eq!(sd.life_cycle, 0x07, "SSD selectable");
        let sets = &sd.sd.as_ref().unwrap().keys.sets;
        assert_eq!(sets.len(), 1, "the initial key set was replaced");
        assert_eq!(sets[0].keys.kvn(), kvn);
        let a = app(&card, inst).unwrap();
        assert_eq!(a.life_cycle, 0x03, "INSTALLED, not selectable yet");
        assert_eq!(a.associated_sd, ssd, "extradited to the SP's SSD");
    }
    assert_eq!(app(&card, &APP_A).unwrap().install_parameters, [0x01]);
    assert_eq!(app(&card, &APP_A).unwrap().nv_quota, 512);
    // The temporary keys are the SSD's: the initial (test) keys no longer open it.
    let ssd_a_initial = SdAccess {
        aid: SSD_A.to_vec(),
        keys: test_keys(),
    };
    let e = script(&mut card, ScriptTarget::Keys(&ssd_a_initial), &[]).unwrap_err();
    assert!(matches!(e, TsmError::SecureChannel(_)), "{e}");

    // Personalization by each SP under its own SSD keys (SCP03 with R-MAC, SCP02).
    let sd_a = SdAccess {
        aid: SSD_A.to_vec(),
        keys: keys_a(),
    };
    let sd_b = SdAccess {
        aid: SSD_B.to_vec(),
        keys: keys_b(),
    };
    let (r, audit) = on(&mut card, |rec| {
        engine::process_script(
            rec,
            ScriptTarget::Keys(&sd_a),
            &perso_commands(&APP_A, &h(LABEL_A)),
            &mut rng(),
        )
    });
    let r = r.unwrap();
    assert_eq!(r.responses, ["009000", "9000"]);
    assert!(r.failed.is_empty());
    // Recorded as sent: SELECT, the handshake, then the commands wrapped (CLA '84').
    assert_eq!(audit.len(), 5);
    assert!(audit.iter().all(|e| e.sd_aid == SSD_A));
    assert_eq!(audit[3].command[..2], [0x84, 0xE6]);
    assert_eq!(audit[4].command[..2], [0x84, 0xE2]);
    // R-MAC (SCP03 i = '70'): the raw answer carries 8 MAC bytes that the engine removed.
    assert_eq!(audit[4].response.len(), 8 + 2);
    let r = script(
        &mut card,
        ScriptTarget::Keys(&sd_b),
        &perso_commands(&APP_B, &h(LABEL_B)),
    )
    .unwrap();
    assert_eq!(r.responses, ["009000", "9000"]);
    assert_eq!(app(&card, &APP_A).unwrap().data[0].value, h("42414E4B41"));
    assert_eq!(
        app(&card, &APP_B).unwrap().data[0].value,
        h("5452414E534954")
    );

    // SP B's SSD cannot touch SP A's instance; the script stops at the first failure.
    let cmds = [
        gp::commands::get_data_command(gp::commands::tags::CARD_DATA),
        gp::commands::Delete {
            aid: APP_A.to_vec(),
            related_objects: false,
        }
        .command(),
        gp::commands::get_data_command(gp::commands::tags::CARD_DATA),
    ];
    let r = script(&mut card, ScriptTarget::Keys(&sd_b), &cmds).unwrap();
    assert_eq!(r.responses.len(), 2, "the third command is not sent");
    assert!(r.responses[0].ends_with("9000"));
    assert_eq!(r.responses[1], "6982");
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].index, 1);
    assert_eq!(r.failed[0].sw, "6982");
    assert_eq!(
        r.failed[0].command,
        hex::encode_upper(cmds[1].encode().unwrap())
    );
    assert!(app(&card, &APP_A).is_some());

    // Activation: INSTALL [for make selectable]; the terminal now selects the applet.
    assert_eq!(select_t0(&mut card, &APP_A).sw, StatusWord::FILE_NOT_FOUND);
    let r = on(&mut card, |rec| {
        engine::activate(rec, &isd(), &APP_A, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(names(&r.steps), ["makeSelectable:done"]);
    assert_eq!(app(&card, &APP_A).unwrap().life_cycle, 0x07);
    let fci = select_t0(&mut card, &APP_A);
    assert_eq!(fci.sw, StatusWord::OK);
    assert!(
        fci.data.windows(7).any(|w| w == h(LABEL_A)),
        "{}",
        hex::encode(&fci.data)
    );
    // A SELECT inside a Keys script goes to the applet in clear, and so do the commands after.
    let get_label = Command::new(0x80, 0xCA, 0x00, 0x50).le(256);
    let r = script(
        &mut card,
        ScriptTarget::Keys(&sd_a),
        &[apdu::select_command(0, &APP_A).unwrap(), get_label],
    )
    .unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(r.responses[1], format!("{}9000", LABEL_A.replace(' ', "")));

    // Lock and unlock (SET STATUS '40' '80' / '00').
    let r = on(&mut card, |rec| {
        engine::set_locked(rec, &isd(), &APP_A, true, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(names(&r.steps), ["lock:done"]);
    assert_eq!(app(&card, &APP_A).unwrap().life_cycle, 0x87);
    assert_eq!(select_t0(&mut card, &APP_A).sw, StatusWord::FILE_NOT_FOUND);
    // Locking twice: the card refuses (6985), reported with its status word.
    let r = on(&mut card, |rec| {
        engine::set_locked(rec, &isd(), &APP_A, true, &mut rng())
    })
    .0;
    assert_eq!(
        r.error.as_ref().and_then(TsmError::sw),
        Some(StatusWord::CONDITIONS_NOT_SATISFIED)
    );
    assert_eq!(r.steps[0].sw.as_deref(), Some("6985"));
    let r = on(&mut card, |rec| {
        engine::set_locked(rec, &isd(), &APP_A, false, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(names(&r.steps), ["unlock:done"]);
    assert_eq!(app(&card, &APP_A).unwrap().life_cycle, 0x07);

    // Renewal to version 2 (same preloaded package, new parameters): the old instance and
    // its personalization go, the new one is selectable in the SP's SSD.
    let svc_a2 = service("bank", &APP_A, "2", &h("02"), 768);
    let r = on(&mut card, |rec| {
        engine::renew(rec, &isd(), &SSD_A, &svc_a, &svc_a2, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    assert!(!r.compensated);
    assert_eq!(
        names(&r.steps),
        [
            "delete:done",
            "eligibility:done",
            "install:done",
            "extradite:done"
        ]
    );
    let a = app(&card, &APP_A).unwrap();
    assert_eq!(a.install_parameters, [0x02]);
    assert_eq!(a.nv_quota, 768);
    assert_eq!(a.life_cycle, 0x07);
    assert_eq!(a.associated_sd, SSD_A);
    assert!(
        a.data.is_empty(),
        "the old personalization went with the old instance"
    );

    // Eligibility refuses a second instance with the same AID.
    let (r, audit) = on(&mut card, |rec| {
        engine::check_eligibility(rec, &isd(), &svc_b, &mut rng())
    });
    let e = r.unwrap_err();
    assert_eq!(
        e,
        TsmError::NotEligible(format!(
            "instance {} already on the SE",
            hex::encode_upper(APP_B)
        ))
    );
    assert!(
        audit.iter().all(|e| e.command[1] != 0xE6),
        "nothing installed"
    );

    // Deletion of SP A's service: the instance only.
    let before_b = app(&card, &APP_B).unwrap();
    let r = on(&mut card, |rec| {
        engine::delete_service(rec, &isd(), &APP_A, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(names(&r.steps), ["delete:done"]);
    assert!(app(&card, &APP_A).is_none());
    assert!(app(&card, &SSD_A).is_some(), "the SSD stays");
    assert!(
        card.state().gp.load_file(&GENERIC_PACKAGE_AID).is_some(),
        "the package stays"
    );
    assert_eq!(
        app(&card, &APP_B).unwrap(),
        before_b,
        "SP B's content is untouched"
    );
    assert!(app(&card, &SSD_B).is_some());
    // Deleting again: already absent counts as deleted.
    let r = on(&mut card, |rec| {
        engine::delete_service(rec, &isd(), &APP_A, &mut rng())
    })
    .0;
    assert!(r.error.is_none());
    assert!(r.steps[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("was not on the SE"));

    // What SP B's SSD sees through GET STATUS: its own instance, personalized, nothing else.
    let gs = gp::commands::GetStatus::all(gp::commands::StatusSubset::Applications).command();
    let r = script(&mut card, ScriptTarget::Keys(&sd_b), &[gs]).unwrap();
    let raw = h(&r.responses[0]);
    let (data, sw) = raw.split_at(raw.len() - 2);
    assert_eq!(sw, [0x90, 0x00]);
    let entries = gp::commands::parse_status_tlv(data).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].aid, APP_B);
    assert_eq!(entries[0].life_cycle, 0x03);
}

#[test]
fn eligibility_failures_create_nothing() {
    // 2000 bytes of package in a 4096-byte budget: 2096 free.
    let mut card = new_card(Some(4096));
    let big = service("bank", &APP_A, "1", &[], 3000);
    let (r, audit) = on(&mut card, |rec| {
        engine::check_eligibility(rec, &isd(), &big, &mut rng())
    });
    assert_eq!(
        r.unwrap_err(),
        TsmError::NotEligible("insufficient memory: the service needs 3000 bytes".into())
    );
    assert!(!audit.is_empty() && audit.iter().all(|e| e.sd_aid == GP_ISD_AID));

    let r = pre_personalize(&mut card, &SSD_A, &keys_a(), &big);
    assert_eq!(
        r.error,
        Some(TsmError::NotEligible(
            "insufficient memory: the service needs 3000 bytes".into()
        ))
    );
    assert_eq!(names(&r.steps), ["eligibility:failed"]);
    assert!(r.steps[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("needs 3000 bytes"));
    assert!(!r.ssd_created && r.remaining.is_empty());
    assert!(card.state().gp.apps.is_empty(), "no SSD, no instance");

    let mut missing = service("bank", &APP_A, "1", &[], 10);
    missing.package_aid = h("F0DEADBEEF01");
    let r = pre_personalize(&mut card, &SSD_A, &keys_a(), &missing);
    assert_eq!(
        r.error,
        Some(TsmError::NotEligible(
            "package F0DEADBEEF01 not on the SE".into()
        ))
    );
    assert!(card.state().gp.apps.is_empty());

    // What fits, fits: 2096 free is enough for 100 + the SSD and instance entries.
    let small = service("bank", &APP_A, "1", &[], 100);
    let r = pre_personalize(&mut card, &SSD_A, &keys_a(), &small);
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(
        card.state().gp.free_memory(),
        u64::from(4096 - PACKAGE_SIZE - 2 * OVERHEAD - 100)
    );
}

#[test]
fn pre_personalize_failures_are_compensated() {
    let mut card = new_card(None);
    let svc = service("bank", &APP_A, "1", &[], 64);
    // The SSD's initial keys are not what the SE data says (KVN '31'): PUT KEY cannot run,
    // the new SSD is deleted again.
    let manager = isd();
    let wrong_initial = key_set(3, 0x31, &[0x40; 16], &[0x40; 16], &[0x40; 16]);
    let keys = keys_a();
    let plan = PrePersonalization {
        manager: &manager,
        ssd_aid: &SSD_A,
        create_ssd: true,
        ssd_initial_keys: &wrong_initial,
        ssd_keys: &keys,
        service: &svc,
    };
    let r = on(&mut card, |rec| {
        engine::pre_personalize(rec, &plan, &mut rng())
    })
    .0;
    assert!(matches!(r.error, Some(TsmError::SecureChannel(_))), "{r:?}");
    assert_eq!(
        names(&r.steps),
        [
            "eligibility:done",
            "createSsd:done",
            "putKeys:failed",
            "compensate:createSsd:done"
        ]
    );
    assert!(!r.ssd_created && r.remaining.is_empty());
    assert!(card.state().gp.apps.is_empty());

    // The SSD is said to exist but does not: the extradition fails (6A88), the instance is
    // deleted again.
    let plan = PrePersonalization {
        create_ssd: false,
        ssd_initial_keys: &keys,
        ..plan
    };
    let r = on(&mut card, |rec| {
        engine::pre_personalize(rec, &plan, &mut rng())
    })
    .0;
    assert_eq!(
        r.error.as_ref().and_then(TsmError::sw),
        Some(StatusWord::REFERENCED_DATA_NOT_FOUND)
    );
    assert_eq!(
        names(&r.steps),
        [
            "eligibility:done",
            "install:done",
            "extradite:failed",
            "compensate:install:done"
        ]
    );
    assert_eq!(r.steps[2].sw.as_deref(), Some("6A88"));
    assert!(card.state().gp.apps.is_empty());
}

#[test]
fn renew_failure_is_compensated() {
    // 4096 - 2000 (package) = 2096 free: the SSD and v1 (200) fit, v2 (3000) does not.
    let mut card = new_card(Some(4096));
    let v1 = service("bank", &APP_A, "1", &h("01"), 200);
    let r = pre_personalize(&mut card, &SSD_A, &keys_a(), &v1);
    assert!(r.error.is_none(), "{r:?}");
    let r = on(&mut card, |rec| {
        engine::activate(rec, &isd(), &APP_A, &mut rng())
    })
    .0;
    assert!(r.error.is_none(), "{r:?}");
    let v2 = service("bank", &APP_A, "2", &h("02"), 3000);
    let r = on(&mut card, |rec| {
        engine::renew(rec, &isd(), &SSD_A, &v1, &v2, &mut rng())
    })
    .0;
    assert!(
        matches!(&r.error, Some(TsmError::NotEligible(m)) if m.starts_with("insufficient memory")),
        "{r:?}"
    );
    assert!(r.compensated);
    assert_eq!(
        names(&r.steps),
        [
            "delete:done",
            "eligibility:failed",
            "compensate:delete:done",
            "compensate:delete:done"
        ]
    );
    // Version 1 is back in the SP's SSD, INSTALLED (the SP personalizes and activates again).
    let a = app(&card, &APP_A).unwrap();
    assert_eq!(a.install_parameters, [0x01]);
    assert_eq!(a.nv_quota, 200);
    assert_eq!(a.life_cycle, 0x03);
    assert_eq!(a.associated_sd, SSD_A);
}

#[test]
fn pre_protected_relay_with_sp_rotated_keys() {
    let mut card = new_card(None);
    let svc = service("bank", &APP_A, "1", &[], 64);
    assert!(pre_personalize(&mut card, &SSD_A, &keys_a(), &svc)
        .error
        .is_none());
    let temp = SdAccess {
        aid: SSD_A.to_vec(),
        keys: keys_a(),
    };
    // The SP rotates the temporary keys (KVN '30') to its own (KVN '31') through a script
    // the TSM protects; the key data is encrypted under the SSD's static DEK (SCP03, Amd D
    // §6.2.8), which the SP knows from the temporary key set.
    let sp_keys = KeySet::aes(0x31, &[0x51; 16], &[0x52; 16], &[0x53; 16]).unwrap();
    let dek = gp::Dek::aes(&keys_a().dek).unwrap();
    let data = PutKeyData::for_key_set(&sp_keys, &dek, &mut rng()).unwrap();
    let put = gp::commands::put_key_command(0x30, 0x01, &data).unwrap();
    let r = script(&mut card, ScriptTarget::Keys(&temp), &[put]).unwrap();
    let mut expect = hex::encode_upper(data.response_data());
    expect.push_str("9000");
    assert_eq!(r.responses, [expect]);
    // The TSM's keys no longer open the SSD.
    let e = script(&mut card, ScriptTarget::Keys(&temp), &[]).unwrap_err();
    assert!(matches!(e, TsmError::SecureChannel(_)), "{e}");

    // The SP runs its own SCP03 handshake through two relayed scripts.
    let mut sp_rng = SeededRng::new(b"the SP's own host");
    let hs = HostHandshake::random(sp_keys, false, &mut sp_rng)
        .unwrap()
        .expect_aid(&SSD_A);
    let iu = hs.initialize_update();
    let (r, audit) = on(&mut card, |rec| {
        engine::process_script(
            rec,
            ScriptTarget::PreProtected {
                aid: &SSD_A,
                select: true,
            },
            std::slice::from_ref(&iu),
            &mut rng(),
        )
    });
    let r = r.unwrap();
    assert!(r.failed.is_empty());
    // Relayed byte for byte after the SELECT of the SD.
    assert_eq!(audit.len(), 2);
    assert_eq!(
        audit[0].command,
        apdu::select_command(0, &SSD_A).unwrap().encode().unwrap()
    );
    assert_eq!(audit[1].command, iu.encode().unwrap());
    assert!(audit.iter().all(|e| e.sd_aid == SSD_A));
    let iu_rsp = Response::parse(&h(&r.responses[0])).unwrap();
    let (mut session, ext_auth, _) = hs
        .authenticate(&iu_rsp, SecurityLevel::C_DEC_C_MAC_R_MAC)
        .unwrap();
    let [install, store] = perso_commands(&APP_A, &h(LABEL_A)).try_into().unwrap();
    let wrapped = session.wrap_command(&install).unwrap();
    let (r, audit) = on(&mut card, |rec| {
        engine::process_script(
            rec,
            ScriptTarget::PreProtected {
                aid: &SSD_A,
                select: false,
            },
            &[ext_auth.clone(), wrapped.clone()],
            &mut rng(),
        )
    });
    let r = r.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(r.responses[0], "9000");
    assert_eq!(audit[1].command, wrapped.encode().unwrap());
    // The answer is relayed with its R-MAC; the SP removes it.
    let answer = session
        .unwrap_response(&Response::parse(&h(&r.responses[1])).unwrap())
        .unwrap();
    assert_eq!((answer.data, answer.sw), (vec![0x00], StatusWord::OK));
    let wrapped = session.wrap_command(&store).unwrap();
    let r = script(
        &mut card,
        ScriptTarget::PreProtected {
            aid: &SSD_A,
            select: false,
        },
        &[wrapped],
    )
    .unwrap();
    let answer = session
        .unwrap_response(&Response::parse(&h(&r.responses[0])).unwrap())
        .unwrap();
    assert_eq!(answer.sw, StatusWord::OK);
    assert_eq!(app(&card, &APP_A).unwrap().data[0].value, h("42414E4B41"));
    // A relayed command the card refuses is reported like any other.
    let r = script(
        &mut card,
        ScriptTarget::PreProtected {
            aid: &SSD_A,
            select: true,
        },
        &[Command::new(0x80, 0xF2, 0x40, 0x02).le(256)],
    )
    .unwrap();
    assert_eq!(r.failed[0].sw, "6982", "GET STATUS without a session");
}

/// A transport answering as a T=0 card does for case-4 commands (ISO/IEC 7816-3 §12.2):
/// response data is announced with '61xx' and fetched with GET RESPONSE.
struct T0Split<'c> {
    card: &'c mut Card,
    pending: Vec<u8>,
}

impl CardTransport for T0Split<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        if apdu.len() >= 4 && apdu[1] == 0xC0 && !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        let r = self.card.process_on(Protocol::SwpTypeA, apdu);
        if r.len() > 2 && r.len() - 2 <= 256 {
            let n = (r.len() - 2) as u8; // 256 → '00'
            self.pending = r;
            return Ok(vec![0x61, n]);
        }
        Ok(r)
    }
}

#[test]
fn get_response_completes_61xx() {
    let mut card = new_card(None);
    let svc = service("bank", &APP_A, "1", &[], 64);
    assert!(pre_personalize(&mut card, &SSD_A, &keys_a(), &svc)
        .error
        .is_none());
    let sd_a = SdAccess {
        aid: SSD_A.to_vec(),
        keys: keys_a(),
    };
    let gs = gp::commands::GetStatus::all(gp::commands::StatusSubset::Applications).command();
    let mut t = T0Split {
        card: &mut card,
        pending: Vec::new(),
    };
    let ctx = AuditContext {
        se_id: "se-1".into(),
        sp_id: None,
        conversation_id: None,
        operation: "ProcessScript".into(),
        now: 0,
    };
    let mut rec = Recorder::new(&mut t, ctx);
    let r = engine::process_script(&mut rec, ScriptTarget::Keys(&sd_a), &[gs], &mut rng()).unwrap();
    let audit = rec.into_entries();
    assert!(r.failed.is_empty(), "{r:?}");
    // Unwrapped (R-MAC checked over the reassembled answer) and parsed.
    let raw = h(&r.responses[0]);
    assert_eq!(raw[raw.len() - 2..], [0x90, 0x00]);
    let entries = gp::commands::parse_status_tlv(&raw[..raw.len() - 2]).unwrap();
    assert_eq!(entries[0].aid, APP_A);
    // SELECT, INITIALIZE UPDATE and GET STATUS each needed a GET RESPONSE, recorded too.
    let gr = audit.iter().filter(|e| e.command[1] == 0xC0).count();
    assert_eq!(gr, 3, "{audit:?}");
}

/// A RAM bearer stand-in: records (SD, C-APDU) and answers from a script of R-APDUs.
struct FakeRam {
    sent: Vec<(Vec<u8>, Vec<u8>)>,
    answers: std::collections::VecDeque<Vec<u8>>,
}

impl engine::RamTransport for FakeRam {
    fn run_script(
        &mut self,
        sd_aid: &[u8],
        c_apdus: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, apdu::TransportError> {
        let mut out = Vec::new();
        for c in c_apdus {
            self.sent.push((sd_aid.to_vec(), c.to_vec()));
            let r = self.answers.pop_front().unwrap_or_else(|| vec![0x6F, 0x00]);
            let ok = r.ends_with(&[0x90, 0x00]);
            out.push(r);
            if !ok {
                break;
            }
        }
        Ok(out)
    }
}

fn package_entry() -> Vec<u8> {
    use card::gp::native::GENERIC_MODULE_AID;
    let mut body = tlv::encode_tlv(tlv::Tag(0x4F), &GENERIC_PACKAGE_AID);
    body.extend(tlv::encode_tlv(tlv::Tag(0x9F70), &[0x01]));
    body.extend(tlv::encode_tlv(tlv::Tag(0x84), &GENERIC_MODULE_AID));
    let mut r = tlv::encode_tlv(tlv::Tag(0xE3), &body);
    r.extend([0x90, 0x00]);
    r
}

fn ram_ctx() -> AuditContext {
    AuditContext {
        se_id: "se-1".into(),
        sp_id: Some("sp".into()),
        conversation_id: None,
        operation: "Test".into(),
        now: 1_700_000_000_000,
    }
}

/// Over RAM (ETSI TS 102 226 §8) the bearer addresses the SD and secures the commands: the
/// engine sends neither SELECT nor INITIALIZE UPDATE, and each command goes to the SD it is
/// for (the ISD for content management).
#[test]
fn ram_bearer_sends_plain_commands_to_the_sd() {
    let mut ram = engine::SeChannel::Ram(Box::new(FakeRam {
        sent: Vec::new(),
        // DELETE answers '00' (GP CS v2.3.1 §11.2.3) and 9000.
        answers: [vec![0x00, 0x90, 0x00]].into(),
    }));
    let mut rec = Recorder::over(&mut ram, ram_ctx());
    assert!(rec.is_ram());
    let r = engine::delete_service(&mut rec, &isd(), &APP_A, &mut rng());
    assert!(r.error.is_none(), "{r:?}");
    let audit = rec.into_entries();
    assert_eq!(audit.len(), 1, "one command, no SELECT, no handshake");
    assert_eq!(audit[0].sd_aid, GP_ISD_AID.to_vec());
    assert_eq!(audit[0].command[..2], [0x80, 0xE4], "DELETE in clear");
    let engine::SeChannel::Ram(_) = ram else {
        unreachable!()
    };

    // A SELECT in an SP script is refused before anything is sent.
    let mut ram = engine::SeChannel::Ram(Box::new(FakeRam {
        sent: Vec::new(),
        answers: Default::default(),
    }));
    let mut rec = Recorder::over(&mut ram, ram_ctx());
    let select = apdu::select_command(0, &APP_A).unwrap();
    let e = engine::process_script(
        &mut rec,
        ScriptTarget::Keys(&isd()),
        &[Command::new(0x80, 0xCA, 0x00, 0x66), select],
        &mut rng(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "malformedRequest", "{e}");
    assert!(rec.into_entries().is_empty());

    // TARs (TS 101 220 Annex D and §6): the ISD '000000', another SD bytes 13-15 of its AID.
    assert_eq!(engine::tar_of(&GP_ISD_AID, &GP_ISD_AID), Some([0, 0, 0]));
    let ssd = h("A0000001515353 0102030405060708");
    assert_eq!(engine::tar_of(&ssd, &GP_ISD_AID), Some([0x06, 0x07, 0x08]));
    assert_eq!(
        engine::tar_of(&SSD_A, &GP_ISD_AID),
        None,
        "8-byte AID has no TAR"
    );
}

/// PUT KEY over RAM needs the SD's static key encryption key: an AES key set's Key-DEK
/// (Amd D §6.2.8). A DES (SCP02) key set has none outside a GP session: refused as not
/// supported, and the SSD the flow created is deleted again.
#[test]
fn ram_put_key_into_a_des_keyed_ssd_is_refused_and_compensated() {
    let mut ram = engine::SeChannel::Ram(Box::new(FakeRam {
        sent: Vec::new(),
        answers: [
            // GET DATA 'FF21' (extended card resources, ETSI TS 102 226 §8.2.1.7.2):
            // '81' apps, '82' NVM, '83' RAM.
            h("FF21 0C 8102 0010 8204 00010000 8202 1000 9000"),
            // GET STATUS '10' (load files and modules): the package with its module
            // (GP CS v2.3.1 §11.4.3.1: 'E3' { '4F' AID, '9F70' life cycle, '84' module }).
            package_entry(),
            // GET STATUS '40' (applications): none.
            vec![0x6A, 0x88],
            // INSTALL [for install and make selectable] of the SSD.
            vec![0x00, 0x90, 0x00],
            // DELETE of the SSD (compensation).
            vec![0x00, 0x90, 0x00],
        ]
        .into(),
    }));
    let mut rec = Recorder::over(&mut ram, ram_ctx());
    let des_initial = keys_b();
    let manager = isd();
    let svc = service("bank", &APP_A, "1", &h("01"), 512);
    let ssd = h("A0000001515353 0102030405060708");
    let plan = PrePersonalization {
        manager: &manager,
        ssd_aid: &ssd,
        create_ssd: true,
        ssd_initial_keys: &des_initial,
        ssd_keys: &keys_a(),
        service: &svc,
    };
    let r = engine::pre_personalize(&mut rec, &plan, &mut rng());
    let e = r.error.as_ref().expect("refused");
    assert_eq!(e.code(), "notSupported", "{e}");
    assert_eq!(
        names(&r.steps),
        [
            "eligibility:done",
            "createSsd:done",
            "putKeys:failed",
            "compensate:createSsd:done"
        ],
        "{r:?}"
    );
    assert!(!r.ssd_created && r.remaining.is_empty());
}
