//! GlobalPlatform host side for the card tests: a secure channel session (the `gp` crate's
//! host side) over `Card::process_on`, CAP files built from components, and command helpers.
#![allow(dead_code, unused_imports)]

use apdu::{Command, Response, StatusWord};
use card::testing::SeededRng;
use card::{Card, CardState, Protocol};
use gp::commands::{self, Install, InstallParameters};
use gp::{HostHandshake, KeySet, SecurityLevel, Session};

pub use card::gp::native::{
    GENERIC_MODULE_AID, GENERIC_PACKAGE_AID, PPSE_AID, PPSE_MODULE_AID, PPSE_PACKAGE_AID,
    SD_MODULE_AID, SD_PACKAGE_AID,
};
pub use card::routing::GP_ISD_AID;

pub fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// The GP test key `404142...4F` (GP CS default test key).
pub fn test_keys() -> KeySet {
    let k = hex("404142434445464748494A4B4C4D4E4F");
    KeySet::aes(0x30, &k, &k, &k).unwrap()
}

/// A DES key set for SCP02 (KVN 20).
pub fn scp02_keys() -> KeySet {
    KeySet::des(
        0x20,
        &hex("1111111111111111 2222222222222222"),
        &hex("3333333333333333 4444444444444444"),
        &hex("5555555555555555 6666666666666666"),
    )
    .unwrap()
}

pub fn new_card(state: CardState) -> Card {
    // The GP container needs no identity of its own; reuse the crate's test eUICC.
    let sk = pki::PrivateKey::from_pem(&read_str("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap();
    let ci = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let identity = card::CardIdentity::new(
        &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
        sk,
        &[&ci],
    )
    .unwrap();
    Card::new(identity, state, Box::new(SeededRng::new(b"gp tests")))
}

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{REF}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_str(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

/// One CAP component: tag u1, size u2, info (JCVM Specification §6.1).
pub fn component(tag: u8, info: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(info.len() as u16).to_be_bytes());
    v.extend_from_slice(info);
    v
}

/// A Load File Data Block: Header (tag 1, magic DECAFFED, CAP 2.2, package 1.0 and AID),
/// Directory (tag 2, dummy), Applet (tag 3: the applet AIDs) and a Method component (tag 7)
/// of `code_size` bytes standing in for the bytecode.
pub fn cap_file(package_aid: &[u8], applets: &[&[u8]], code_size: usize) -> Vec<u8> {
    let mut header = vec![0xDE, 0xCA, 0xFF, 0xED, 0x02, 0x02, 0x04, 0x00, 0x01];
    header.push(package_aid.len() as u8);
    header.extend_from_slice(package_aid);
    let mut applet = vec![applets.len() as u8];
    for a in applets {
        applet.push(a.len() as u8);
        applet.extend_from_slice(a);
        applet.extend_from_slice(&[0x00, 0x10]);
    }
    let mut lfdb = component(1, &header);
    lfdb.extend(component(2, &[0u8; 22]));
    if !applets.is_empty() {
        lfdb.extend(component(3, &applet));
    }
    lfdb.extend(component(7, &vec![0x5A; code_size]));
    lfdb
}

/// A host talking to the card over one protocol and logical channel, with an optional
/// secure channel session.
pub struct Host<'a> {
    pub card: &'a mut Card,
    pub protocol: Protocol,
    pub channel: u8,
    pub session: Option<Session>,
    rng: SeededRng,
}

impl<'a> Host<'a> {
    pub fn new(card: &'a mut Card, protocol: Protocol) -> Host<'a> {
        Host {
            card,
            protocol,
            channel: 0,
            session: None,
            rng: SeededRng::new(b"gp host"),
        }
    }

    pub fn cla(&self, cla: u8) -> u8 {
        apdu::with_channel(cla, self.channel).unwrap()
    }

    /// Sends a command as is.
    pub fn raw(&mut self, cmd: &Command) -> Response {
        let bytes = self.card.process_on(self.protocol, &cmd.encode().unwrap());
        Response::parse(&bytes).unwrap()
    }

    pub fn select(&mut self, aid: &[u8]) -> Response {
        self.session = None;
        let cmd = Command::with_data(self.cla(0x00), 0xA4, 0x04, 0x00, aid.to_vec()).le(256);
        self.raw(&cmd)
    }

    /// INITIALIZE UPDATE + EXTERNAL AUTHENTICATE; the card's status word on failure.
    pub fn open(&mut self, keys: KeySet, level: SecurityLevel) -> Result<(), StatusWord> {
        self.open_with(keys, keys_kvn_none(), level)
    }

    /// As [`Host::open`], asking for `kvn` in INITIALIZE UPDATE when given.
    pub fn open_with(
        &mut self,
        keys: KeySet,
        kvn: Option<u8>,
        level: SecurityLevel,
    ) -> Result<(), StatusWord> {
        let (hs, rsp) = self.initialize_update(keys, kvn)?;
        let (session, ext, _) = hs
            .authenticate(&rsp, level)
            .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        let r = self.raw(&ext);
        if r.sw != StatusWord::OK {
            return Err(r.sw);
        }
        self.session = Some(session);
        Ok(())
    }

    pub fn initialize_update(
        &mut self,
        keys: KeySet,
        kvn: Option<u8>,
    ) -> Result<(HostHandshake, Response), StatusWord> {
        self.session = None;
        let is_des = keys.key_type() == gp::KeyType::Des;
        let mut hs = HostHandshake::random(keys, false, &mut self.rng)
            .unwrap()
            .channel(self.channel)
            .unwrap();
        if is_des {
            hs = hs.scp02_i(0x15).unwrap();
        }
        if let Some(k) = kvn {
            hs = hs.kvn(k);
        }
        let rsp = self.raw(&hs.initialize_update());
        if rsp.sw != StatusWord::OK {
            return Err(rsp.sw);
        }
        Ok((hs, rsp))
    }

    /// Sends a command through the session (C-MAC etc. per its level), returns the unwrapped
    /// response (or the raw one for an error status without R-MAC).
    pub fn send(&mut self, cmd: &Command) -> Response {
        let cmd = Command {
            cla: self.cla(cmd.cla),
            ..cmd.clone()
        };
        let Some(s) = self.session.as_mut() else {
            return self.raw(&cmd);
        };
        let wrapped = s.wrap_command(&cmd).unwrap();
        let bytes = self
            .card
            .process_on(self.protocol, &wrapped.encode().unwrap());
        let rsp = Response::parse(&bytes).unwrap();
        let s = self.session.as_mut().unwrap();
        if s.security_level().r_mac() {
            s.unwrap_response(&rsp).unwrap_or(rsp)
        } else {
            rsp
        }
    }

    pub fn sw(&mut self, cmd: &Command) -> StatusWord {
        self.send(cmd).sw
    }

    /// INSTALL [for load] + LOAD in blocks of `block`.
    pub fn load(
        &mut self,
        aid: &[u8],
        sd: &[u8],
        lfdb: &[u8],
        hash: &[u8],
        block: usize,
    ) -> StatusWord {
        self.load_with_daps(aid, sd, lfdb, hash, &[], block)
    }

    pub fn load_with_daps(
        &mut self,
        aid: &[u8],
        sd: &[u8],
        lfdb: &[u8],
        hash: &[u8],
        daps: &[u8],
        block: usize,
    ) -> StatusWord {
        let install = Install::ForLoad {
            load_file_aid: aid.to_vec(),
            security_domain_aid: sd.to_vec(),
            load_file_data_block_hash: hash.to_vec(),
            load_parameters: Vec::new(),
            load_token: Vec::new(),
        };
        let r = self.send(&install.command().unwrap());
        if r.sw != StatusWord::OK {
            return r.sw;
        }
        assert_eq!(r.data, [0x00]);
        for c in commands::load_commands(daps, lfdb, block).unwrap() {
            let r = self.send(&c);
            if r.sw != StatusWord::OK {
                return r.sw;
            }
        }
        StatusWord::OK
    }

    /// INSTALL [for install (and make selectable)].
    pub fn install(
        &mut self,
        package: &[u8],
        module: &[u8],
        aid: &[u8],
        privileges: &[u8],
        params: &InstallParameters,
        selectable: bool,
    ) -> StatusWord {
        let install = Install::ForInstall {
            make_selectable: selectable,
            load_file_aid: package.to_vec(),
            module_aid: module.to_vec(),
            application_aid: aid.to_vec(),
            privileges: privileges.to_vec(),
            parameters: params.encode(),
            token: Vec::new(),
        };
        self.sw(&install.command().unwrap())
    }

    /// STORE DATA blocks (P1 b5-b4 = `format`), the last with b8.
    pub fn store_data(&mut self, format: u8, blocks: &[&[u8]]) -> StatusWord {
        for (i, b) in blocks.iter().enumerate() {
            let last = if i + 1 == blocks.len() { 0x80 } else { 0x00 };
            let cmd = Command::with_data(0x80, 0xE2, last | format, i as u8, b.to_vec());
            let sw = self.sw(&cmd);
            if sw != StatusWord::OK {
                return sw;
            }
        }
        StatusWord::OK
    }
}

fn keys_kvn_none() -> Option<u8> {
    None
}

/// SET STATUS.
pub fn set_status(p1: u8, p2: u8, aid: &[u8]) -> Command {
    commands::SetStatus {
        status_type: p1,
        state: p2,
        aid: aid.to_vec(),
    }
    .command()
}

pub fn delete(aid: &[u8], related: bool) -> Command {
    commands::Delete {
        aid: aid.to_vec(),
        related_objects: related,
    }
    .command()
}

pub fn params(c9: &[u8]) -> InstallParameters {
    InstallParameters {
        application_specific: c9.to_vec(),
        ..InstallParameters::default()
    }
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

/// A card whose TS.48 v4 profile (GSMA TS.48, `../shared/reference`) is installed and enabled,
/// as the OTA tests use it.
pub fn ts48_card() -> Card {
    use card::{Profile, ProfileState};
    let package = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/ts48-profiles/TS48V4-SAIP2-3-BERTLV-UNIQUE.der"
    ))
    .unwrap();
    let mut state = CardState::new();
    state.profiles.push(Profile {
        iccid: [0x98, 0x88, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0],
        isdp_aid: state.next_isdp_aid(),
        state: ProfileState::Enabled,
        metadata: Vec::new(),
        nickname: None,
        dp_proprietary_data: None,
        smdp_oid: None,
        package,
        imsi: None,
    });
    new_card(state)
}

/// [`ts48_card`] with an SSD `ssd_aid` and a generic applet `app_aid` extradited to it, set
/// up through the ISD's SCP03 session (over SWP: the contact pairing gives the ISD-R).
pub fn ts48_card_with_ssd(ssd_aid: &[u8], app_aid: &[u8]) -> Card {
    let mut card = ts48_card();
    let mut isd = Host::new(&mut card, card::Protocol::SwpTypeB);
    isd.select(&GP_ISD_AID);
    isd.open(test_keys(), SecurityLevel::C_MAC).unwrap();
    let sd = isd.install(
        &SD_PACKAGE_AID,
        &SD_MODULE_AID,
        ssd_aid,
        &[0x80, 0, 0],
        &params(&[]),
        true,
    );
    assert_eq!(sd, StatusWord::OK);
    let generic = cap_file(&GENERIC_PACKAGE_AID, &[&GENERIC_MODULE_AID], 10);
    assert_eq!(
        isd.load(&GENERIC_PACKAGE_AID, &[], &generic, &[], 200),
        StatusWord::OK
    );
    let app = isd.install(
        &GENERIC_PACKAGE_AID,
        &GENERIC_MODULE_AID,
        app_aid,
        &[0],
        &params(&[]),
        true,
    );
    assert_eq!(app, StatusWord::OK);
    let ex = Install::ForExtradition {
        security_domain_aid: ssd_aid.to_vec(),
        application_aid: app_aid.to_vec(),
        parameters: Vec::new(),
        token: Vec::new(),
    };
    assert_eq!(isd.sw(&ex.command().unwrap()), StatusWord::OK);
    drop(isd);
    card
}
