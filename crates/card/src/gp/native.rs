//! Native application behaviours. The card runs no Java Card bytecode: an executable load
//! file may be loaded whatever its package, but only modules of these well-known "native
//! packages" can be instantiated (INSTALL [for install] of any other module answers `6A81`,
//! function not supported). The package AIDs use the proprietary `F0` category (ISO/IEC
//! 7816-5 §5.1: unregistered, "F" = proprietary) followed by "SIMKIT" in ASCII:
//!
//! | package AID | module AID | behaviour |
//! |---|---|---|
//! | `F053494D4B495401` | `F053494D4B49540101` | PPSE (EMV Contactless Book B §3.3) |
//! | `F053494D4B495402` | `F053494D4B49540201` | generic applet: keeps its STORE DATA personalization |
//! | `A0000001515350` (built in) | `A000000151535041` | security domain (the GP SSD package AID real cards use) |
//!
//! * **PPSE** (instance AID normally `2PAY.SYS.DDF01`): SELECT answers the FCI
//!   `6F { 84 DF name, A5 { BF0C { 61 {4F AID, 50 label, 87 priority}... } } }` with one '61'
//!   directory entry for each selectable, unlocked instance of the generic applet whose
//!   personalization contains an Application Label ('50'), i.e. the activated contactless
//!   payment applications; '87' is included when personalized.
//! * **Generic applet**: STORE DATA (through its SD, after INSTALL [for personalization])
//!   stores DGIs or BER-TLV objects; SELECT answers `6F { 84 AID, A5 { ... } }` with the stored
//!   BER-TLV objects (or `A5` itself when one was stored); GET DATA P1P2 = tag or DGI returns
//!   the object as stored (`6A88` when absent).

use apdu::{Command, Response, StatusWord};
use tlv::{Tag, Writer};

use super::registry::{life_cycle, AppRecord, DataFormat, HexAid, LoadFileRecord};
use super::GpState;
use crate::routing::GP_ISD_AID;

pub const PPSE_PACKAGE_AID: [u8; 8] = [0xF0, 0x53, 0x49, 0x4D, 0x4B, 0x49, 0x54, 0x01];
pub const PPSE_MODULE_AID: [u8; 9] = [0xF0, 0x53, 0x49, 0x4D, 0x4B, 0x49, 0x54, 0x01, 0x01];
pub const GENERIC_PACKAGE_AID: [u8; 8] = [0xF0, 0x53, 0x49, 0x4D, 0x4B, 0x49, 0x54, 0x02];
pub const GENERIC_MODULE_AID: [u8; 9] = [0xF0, 0x53, 0x49, 0x4D, 0x4B, 0x49, 0x54, 0x02, 0x01];
/// The security domain package, built into the card (GP SSD load file AID as deployed).
pub const SD_PACKAGE_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50];
pub const SD_MODULE_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41];
/// `2PAY.SYS.DDF01`, the PPSE DF name (EMV Contactless Book B §3.3.1).
pub const PPSE_AID: &[u8] = b"2PAY.SYS.DDF01";

/// What an instance does, by the package of its load file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Ppse,
    Generic,
    SecurityDomain,
}

impl Behaviour {
    /// The behaviour of `module` in `package`, if the card has it natively.
    pub fn of(package: &[u8], module: &[u8]) -> Option<Behaviour> {
        match (package, module) {
            (p, m) if p == PPSE_PACKAGE_AID && m == PPSE_MODULE_AID => Some(Behaviour::Ppse),
            (p, m) if p == GENERIC_PACKAGE_AID && m == GENERIC_MODULE_AID => {
                Some(Behaviour::Generic)
            }
            (p, m) if p == SD_PACKAGE_AID && m == SD_MODULE_AID => Some(Behaviour::SecurityDomain),
            _ => None,
        }
    }
}

/// The load files in ROM: the security domain package, associated with the ISD.
pub fn builtin_load_files() -> Vec<LoadFileRecord> {
    vec![LoadFileRecord {
        aid: SD_PACKAGE_AID.to_vec(),
        version: vec![0x01, 0x00],
        modules: vec![HexAid(SD_MODULE_AID.to_vec())],
        associated_sd: GP_ISD_AID.to_vec(),
        size: 0,
        builtin: true,
    }]
}

/// FCI proprietary objects a generic applet returns on SELECT when personalized.
const FCI_TAGS: [u32; 7] = [0x50, 0x87, 0x5F2D, 0x9F11, 0x9F12, 0x9F38, 0xBF0C];

/// SELECT response of an application instance.
pub fn fci(state: &GpState, app: &AppRecord) -> Vec<u8> {
    let behaviour = Behaviour::of(&app.load_file_aid, &app.module_aid);
    let mut w = Writer::new();
    w.nested(Tag(0x6F), |w| {
        w.put(Tag(0x84), &app.aid);
        match behaviour {
            Some(Behaviour::Ppse) => {
                w.nested(Tag(0xA5), |w| {
                    w.nested(Tag(0xBF0C), |w| {
                        for entry in ppse_entries(state) {
                            w.raw(&entry);
                        }
                    });
                });
            }
            _ => {
                if let Some(a5) = app
                    .data_object(0xA5)
                    .filter(|d| d.format == DataFormat::Tlv)
                {
                    w.put(Tag(0xA5), &a5.value);
                } else {
                    let objs: Vec<_> = app
                        .data
                        .iter()
                        .filter(|d| d.format == DataFormat::Tlv && FCI_TAGS.contains(&d.tag))
                        .collect();
                    if !objs.is_empty() {
                        w.nested(Tag(0xA5), |w| {
                            for d in objs {
                                w.put(Tag(d.tag), &d.value);
                            }
                        });
                    }
                }
            }
        }
    });
    w.into_vec()
}

/// Directory entries ('61', EMV Contactless Book B §3.3.1 Table 3-3) of the activated
/// contactless payment applications.
fn ppse_entries(state: &GpState) -> Vec<Vec<u8>> {
    state
        .apps
        .iter()
        .filter(|a| {
            life_cycle::is_selectable(a.life_cycle)
                && Behaviour::of(&a.load_file_aid, &a.module_aid) == Some(Behaviour::Generic)
        })
        .filter_map(|a| {
            let label = a.data_object(0x50)?;
            let mut w = Writer::new();
            w.nested(Tag(0x61), |w| {
                w.put(Tag(0x4F), &a.aid);
                w.put(Tag(0x50), &label.value);
                if let Some(p) = a.data_object(0x87) {
                    w.put(Tag(0x87), &p.value);
                }
            });
            Some(w.into_vec())
        })
        .collect()
}

/// A command for a selected application instance (not a security domain).
pub fn command(_state: &GpState, app: &AppRecord, cmd: &Command) -> Response {
    if apdu::channel::has_secure_messaging(cmd.cla) {
        return Response::status(StatusWord::SECURE_MESSAGING_NOT_SUPPORTED);
    }
    match (Behaviour::of(&app.load_file_aid, &app.module_aid), cmd.ins) {
        // GET DATA (ISO/IEC 7816-4 §11.4.3 / GP §11.3): P1 P2 = tag or DGI.
        (Some(Behaviour::Generic), 0xCA) => {
            if !cmd.data.is_empty() {
                return Response::status(StatusWord::WRONG_LENGTH);
            }
            let tag = u32::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
            match app.data_object(tag) {
                Some(d) => Response::ok(d.encode()),
                None => Response::status(StatusWord::REFERENCED_DATA_NOT_FOUND),
            }
        }
        // Personalization goes through the security domain's secure channel.
        (_, 0xE2) => Response::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
        _ => Response::status(StatusWord::INS_NOT_SUPPORTED),
    }
}
