//! Remote File Management (ETSI TS 102 226 §6) on the enabled profile's UICC.
//!
//! Each script starts on a fresh selection (the MF current) and a fresh PIN session: the
//! terminal's verified PINs are not inherited. File access conditions are met for the key
//! references the OTA key sets grant ([`RfmAccess`], default ADM1), for PINs verified by a
//! VERIFY PIN inside the same script, and for disabled PINs; with access domain '00'
//! ([`RfmAccess::full`]) every condition is met.
//!
//! TARs 'B00010'..'B0001F' address the USIM's file system (TS 101 220 Annex D; pySim's
//! `test_ota.py` and Onomondo's softsim use 'B00010'/'B00011' that way): the script then starts
//! with the first USIM ADF selected; every other RFM TAR starts at the MF.

use apdu::{Command, Response};
use uicc::{Selection, Uicc, VerifiedPins};

use super::remote::run_commands;
use super::RfmAccess;

/// Runs one RFM script for `tar` on `u`.
pub fn run(u: &mut Uicc, access: &RfmAccess, tar: [u8; 3], commands: &[Command]) -> Vec<Response> {
    let mut sel = Selection::new();
    let mut verified = VerifiedPins::default();
    if tar[0] == 0xB0 && tar[1] == 0x00 && tar[2] & 0xF0 == 0x10 {
        let usim =
            u.fs.adfs()
                .find(|(_, aid)| aid.starts_with(&uicc::USIM_AID_PREFIX))
                .map(|(_, aid)| aid.to_vec());
        if let Some(aid) = usim {
            // SELECT by DF name, no response data (TS 102 221 §11.1.1).
            let select = Command::with_data(0x00, 0xA4, 0x04, 0x0C, aid);
            let all = |_: u8| true;
            let none = |_: &[u8]| Vec::new();
            let sec = uicc::fs::commands::Security {
                key_ok: &all,
                pin_status: &none,
            };
            let _ = u.fs.execute(&sec, &mut sel, &select);
        }
    }
    run_commands(commands, |cmd| {
        let result = match cmd.ins {
            // PIN commands and AUTHENTICATE: the UICC's own handling.
            0x20 | 0x24 | 0x26 | 0x28 | 0x2C | 0x88 => u.execute(&mut verified, &mut sel, cmd),
            _ => {
                let Uicc { fs, pins, .. } = &mut *u;
                let pins = &*pins;
                let v = &verified;
                let key_ok =
                    |k: u8| access.full || access.key_refs.contains(&k) || v.satisfied(pins, k);
                let pin_status = |refs: &[u8]| pins.pin_status(refs);
                let sec = uicc::fs::commands::Security {
                    key_ok: &key_ok,
                    pin_status: &pin_status,
                };
                fs.execute(&sec, &mut sel, cmd)
            }
        };
        match result {
            Ok(r) => Response::new(r.data, r.sw),
            Err(sw) => Response::status(sw),
        }
    })
}
