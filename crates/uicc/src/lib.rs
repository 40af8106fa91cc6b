//! The UICC side of an enabled profile, sans-I/O: the file system the profile package describes
//! (ETSI TS 102 221, 3GPP TS 31.102), the file and PIN commands, and USIM AUTHENTICATE.
//!
//! * [`fs`]: the file tree, FCP templates, file commands (SELECT, READ/UPDATE BINARY/RECORD,
//!   SEARCH RECORD, STATUS, INCREASE) and access conditions (EF.ARR).
//! * [`pin`]: PINs/PUKs, retry counters and VERIFY/CHANGE/UNBLOCK/DISABLE/ENABLE PIN.
//! * [`auth`]: AUTHENTICATE (TS 31.102 §7.1.2) over the `aka` crate.
//! * [`Uicc`]: all three for one profile, with one command entry point.

pub mod auth;
pub mod fs;
pub mod pin;

use apdu::{Command, StatusWord};
use serde::{Deserialize, Serialize};

pub use fs::{Reply, Selection, UiccFs};
pub use pin::{PinStore, VerifiedPins};

#[derive(Debug, thiserror::Error)]
pub enum UiccError {
    #[error("file system: {0}")]
    Fs(#[from] fs::FsError),
    #[error("PINs: {0}")]
    Pin(pin::PinError),
    #[error("AKA parameters: {0}")]
    Auth(auth::AuthError),
}

/// USIM application identifier prefix: RID A000000087, application code 1002 (ETSI TS
/// 101 220 Annex E, 3GPP TS 31.102 Annex A).
pub const USIM_AID_PREFIX: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02];

/// The persistent UICC state of one profile: file system, PINs and USIM keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uicc {
    pub fs: UiccFs,
    pub pins: PinStore,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usim_auth: Option<auth::UsimAuth>,
}

impl Uicc {
    /// Builds the UICC of a profile package (file system, PINs/PUKs, AKA parameters).
    pub fn from_package(pkg: &saip::ProfilePackage) -> Result<Uicc, UiccError> {
        Ok(Uicc {
            fs: UiccFs::from_package(pkg)?,
            pins: PinStore::from_package(pkg).map_err(UiccError::Pin)?,
            usim_auth: auth::UsimAuth::from_package(pkg).map_err(UiccError::Auth)?,
        })
    }

    /// One command APDU on one logical channel: `session` is the card session's verified
    /// PINs, `sel` the channel's selection. Returns the whole response data (the card OS does
    /// GET RESPONSE / 61xx and the channel number in CLA) or the error status word. A warning
    /// that comes with data (6282 end of file reached, 6283 file deactivated) is returned as
    /// `Ok` with that data; [`Uicc::execute`] keeps the status word.
    pub fn process(
        &mut self,
        session: &mut VerifiedPins,
        sel: &mut Selection,
        cmd: &Command,
    ) -> Result<Vec<u8>, StatusWord> {
        self.execute(session, sel, cmd).map(|r| r.data)
    }

    /// As [`Uicc::process`], keeping the status word of a successful command.
    pub fn execute(
        &mut self,
        session: &mut VerifiedPins,
        sel: &mut Selection,
        cmd: &Command,
    ) -> Result<Reply, StatusWord> {
        let interindustry = apdu::channel::is_interindustry(cmd.cla);
        match cmd.ins {
            // VERIFY, CHANGE, DISABLE, ENABLE, UNBLOCK PIN (TS 102 221 §11.1.9-§11.1.13).
            0x20 | 0x24 | 0x26 | 0x28 | 0x2C => {
                if !interindustry {
                    return Err(StatusWord::CLA_NOT_SUPPORTED);
                }
                self.pins.process(session, cmd).map(Reply::ok)
            }
            // AUTHENTICATE (TS 31.102 §7.1.2) in the USIM: PIN1 (or its disabling) needed.
            0x88 => {
                if !interindustry {
                    return Err(StatusWord::CLA_NOT_SUPPORTED);
                }
                let in_usim = sel.current_adf().is_some_and(|a| {
                    matches!(self.fs.node(a).map(|n| &n.body),
                        Some(fs::Body::Adf { aid }) if aid.starts_with(&USIM_AID_PREFIX))
                });
                let auth = match (&mut self.usim_auth, in_usim) {
                    (Some(a), true) => a,
                    _ => return Err(StatusWord::CONDITIONS_NOT_SATISFIED),
                };
                if !session.satisfied(&self.pins, 0x01) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                auth.process(cmd).map(Reply::ok)
            }
            _ => {
                let pins = &self.pins;
                let verified = &*session;
                let key_ok = |k: u8| verified.satisfied(pins, k);
                let pin_status = |refs: &[u8]| pins.pin_status(refs);
                let sec = fs::commands::Security {
                    key_ok: &key_ok,
                    pin_status: &pin_status,
                };
                self.fs.execute(&sec, sel, cmd)
            }
        }
    }
}
