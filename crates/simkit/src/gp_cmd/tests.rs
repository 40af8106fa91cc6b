//! `simkit gp` against a scripted security domain built on the `gp` crate's card side
//! ([`gp::CardSecureChannel`]): the host handshake, SCP02/SCP03 selection, wrapped commands,
//! GET STATUS continuation and legacy fallback, PUT KEY with KCV checks, and the option
//! parsing.

use super::*;
use apdu::{Response, TransportError};
use clap::Parser;
use gp::commands::GetStatus;
use gp::{CardConfig, CardSecureChannel, SequenceCounter};

/// A security domain: one secure channel, key sets, a registry, and a log of the plain
/// commands it processed.
struct MockSd {
    chan: CardSecureChannel,
    keys: Vec<(KeySet, SequenceCounter)>,
    config: CardConfig,
    announce: bool,
    registry: Vec<RegistryEntry>,
    /// GET STATUS answers one entry at a time with 6310.
    paged: bool,
    /// Refuses the 'E3' format (legacy only).
    legacy_only: bool,
    /// Answers PUT KEY with wrong KCVs.
    bad_kcv: bool,
    next_entry: usize,
    log: Vec<Command>,
}

impl MockSd {
    fn scp03() -> MockSd {
        MockSd {
            chan: CardSecureChannel::new(),
            keys: vec![(
                KeySet::aes(0x30, &DEFAULT_KEY, &DEFAULT_KEY, &DEFAULT_KEY).unwrap(),
                SequenceCounter::scp03(0).unwrap(),
            )],
            config: CardConfig {
                aid: ISD_AID.to_vec(),
                kdd: [0x11; 10],
                scp: Scp::scp03(0x70).unwrap(),
            },
            announce: true,
            registry: vec![
                RegistryEntry {
                    aid: ISD_AID.to_vec(),
                    life_cycle: 0x0F,
                    privileges: vec![0x9E, 0x00, 0x00],
                    ..RegistryEntry::default()
                },
                RegistryEntry {
                    aid: hex::decode("A0000000041010AA").unwrap(),
                    life_cycle: 0x07,
                    privileges: vec![0x00],
                    load_file_aid: Some(hex::decode("A0000000041010").unwrap()),
                    associated_sd: Some(ISD_AID.to_vec()),
                    ..RegistryEntry::default()
                },
                RegistryEntry {
                    aid: hex::decode("A0000000041011AA").unwrap(),
                    life_cycle: 0x83,
                    privileges: vec![0x80, 0x40, 0x00],
                    ..RegistryEntry::default()
                },
            ],
            paged: false,
            legacy_only: false,
            bad_kcv: false,
            next_entry: 0,
            log: Vec::new(),
        }
    }

    fn scp02() -> MockSd {
        let mut sd = MockSd::scp03();
        sd.keys = vec![(
            KeySet::des(0x20, &DEFAULT_KEY, &DEFAULT_KEY, &DEFAULT_KEY).unwrap(),
            SequenceCounter::scp02(5),
        )];
        sd.config.scp = Scp::scp02(0x15).unwrap();
        sd.announce = false;
        sd
    }

    fn fci(&self) -> Vec<u8> {
        let mut w = tlv::Writer::new();
        w.nested(tlv::Tag(0x6F), |w| {
            w.put(tlv::Tag(0x84), &ISD_AID);
            w.nested(tlv::Tag(0xA5), |w| {
                if self.announce {
                    w.nested(tlv::Tag(0x73), |w| {
                        w.nested(tlv::Tag(0x64), |w| {
                            w.put(tlv::Tag(0x06), &self.config.scp.oid());
                        });
                    });
                }
            });
        });
        w.into_vec()
    }

    fn process(&mut self, cmd: Command) -> Response {
        let ok = |data: Vec<u8>| Response {
            data,
            sw: StatusWord::OK,
        };
        match cmd.ins {
            0xA4 => {
                self.chan.reset();
                return ok(self.fci());
            }
            0x50 => {
                let keys = self.keys.clone();
                let found = |kvn: u8| {
                    keys.iter()
                        .find(|(k, _)| kvn == 0 || k.kvn() == kvn)
                        .cloned()
                };
                let mut rng = crate::os_rng();
                return match self
                    .chan
                    .initialize_update(&cmd, found, &self.config, &mut rng)
                {
                    Ok((r, counter)) => {
                        if let Some(slot) = self
                            .keys
                            .iter_mut()
                            .find(|(k, _)| cmd.p1 == 0 || k.kvn() == cmd.p1)
                        {
                            slot.1 = counter;
                        }
                        r
                    }
                    Err(e) => CardSecureChannel::error_response(&e),
                };
            }
            0x82 => {
                let mut counter = self
                    .keys
                    .first()
                    .map(|k| k.1)
                    .unwrap_or_else(|| SequenceCounter::scp02(0));
                return self
                    .chan
                    .external_authenticate(&cmd, &mut counter)
                    .unwrap_or_else(|e| CardSecureChannel::error_response(&e));
            }
            _ => {}
        }
        let plain = match self.chan.unwrap_command(&cmd) {
            Ok(c) => c,
            Err(e) => return CardSecureChannel::error_response(&e),
        };
        if self.chan.session().is_none() && plain.ins != 0xCA {
            return Response::status(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        self.log.push(plain.clone());
        let rsp = match plain.ins {
            0xCA => Response::status(StatusWord::REFERENCED_DATA_NOT_FOUND),
            0xF2 => self.get_status(&plain),
            0xD8 => {
                let dek = self.chan.session().map(|s| s.dek().clone());
                let opened = dek.and_then(|dek| {
                    PutKeyData::parse(&plain.data)
                        .and_then(|d| d.open_key_set(&dek).map(|k| (d, k)))
                        .ok()
                });
                match opened {
                    Some((d, k)) => {
                        if plain.p1 != 0 {
                            self.keys.retain(|(s, _)| s.kvn() != plain.p1);
                        }
                        self.keys.push((k, SequenceCounter::scp03(0).unwrap()));
                        let mut r = d.response_data();
                        if self.bad_kcv {
                            r[1] ^= 1;
                        }
                        ok(r)
                    }
                    None => Response::status(StatusWord::INCORRECT_DATA),
                }
            }
            0xE4 if plain.data.last() == Some(&0xEE) => {
                Response::status(StatusWord::REFERENCED_DATA_NOT_FOUND)
            }
            _ => ok(Vec::new()),
        };
        self.chan
            .wrap_response(&rsp)
            .unwrap_or_else(|e| CardSecureChannel::error_response(&e))
    }

    fn get_status(&mut self, cmd: &Command) -> Response {
        let Ok(req) = GetStatus::parse(cmd) else {
            return Response::status(StatusWord::INCORRECT_P1_P2);
        };
        if req.tlv_format && self.legacy_only {
            return Response::status(StatusWord::INCORRECT_P1_P2);
        }
        let wanted: Vec<RegistryEntry> = match req.subset {
            StatusSubset::Isd => self.registry[..1].to_vec(),
            StatusSubset::Applications => self.registry[1..].to_vec(),
            _ => return Response::status(StatusWord::REFERENCED_DATA_NOT_FOUND),
        };
        if !req.next {
            self.next_entry = 0;
        }
        let take = if self.paged { 1 } else { wanted.len() };
        let page: Vec<RegistryEntry> = wanted
            .iter()
            .skip(self.next_entry)
            .take(take)
            .cloned()
            .collect();
        self.next_entry += page.len();
        let data = if req.tlv_format {
            commands::encode_status_tlv(&page)
        } else {
            commands::encode_status_legacy(req.subset, &page).unwrap()
        };
        Response {
            data,
            sw: if self.next_entry < wanted.len() {
                StatusWord(0x6310)
            } else {
                StatusWord::OK
            },
        }
    }
}

impl CardTransport for MockSd {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
        let r = match Command::parse(apdu) {
            Ok(c) => self.process(c),
            Err(e) => Response::status(e.status_word()),
        };
        let mut out = r.data;
        out.extend_from_slice(&r.sw.to_bytes());
        Ok(out)
    }
}

/// Shares the mock so a test can inspect it after the link used it.
struct Shared(std::rc::Rc<std::cell::RefCell<MockSd>>);

impl CardTransport for Shared {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
        self.0.borrow_mut().transmit(apdu)
    }
}

#[derive(clap::Parser)]
struct TestCli {
    #[command(flatten)]
    args: GpArgs,
}

fn parse(args: &[&str]) -> GpArgs {
    let mut v = vec!["gp"];
    v.extend_from_slice(args);
    TestCli::try_parse_from(v).unwrap().args
}

fn run_mock(sd: MockSd, args: &[&str]) -> (Result<Value>, std::rc::Rc<std::cell::RefCell<MockSd>>) {
    let shared = std::rc::Rc::new(std::cell::RefCell::new(sd));
    let a = parse(args);
    let mut link = GpLink::new(Box::new(Shared(shared.clone())));
    let r = run_on(&mut link, &a.sdaid.0, &a.keys, a.command).map(|(v, _)| v);
    (r, shared)
}

#[test]
fn list_over_scp03_with_continuation() {
    for level in ["mac", "mac-enc", "mac-enc-rmac-renc"] {
        let mut sd = MockSd::scp03();
        sd.paged = true;
        let (r, _) = run_mock(sd, &["--sec-level", level, "list"]);
        let v = r.unwrap();
        assert_eq!(v["channel"]["scp"], "03");
        assert_eq!(v["channel"]["i"], "70");
        assert_eq!(v["channel"]["kvn"], "30");
        assert_eq!(v["isd"][0]["aid"], "A000000151000000");
        assert_eq!(v["isd"][0]["state"], "SECURED");
        assert_eq!(v["isd"][0]["privilegeNames"][1], "CardLock");
        let apps = v["applications"].as_array().unwrap();
        assert_eq!(apps.len(), 2, "6310 continuation collects both");
        assert_eq!(apps[0]["state"], "SELECTABLE");
        assert_eq!(apps[0]["loadFile"], "A0000000041010");
        assert_eq!(apps[1]["kind"], "SD");
        assert_eq!(apps[1]["state"], "LOCKED");
        assert_eq!(apps[1]["privilegeNames"][1], "AuthorizedManagement");
        assert_eq!(v["loadFiles"].as_array().unwrap().len(), 0);
    }
}

#[test]
fn list_legacy_fallback_and_scp02_detection() {
    // The card announces nothing: the INITIALIZE UPDATE answer (SCP02) switches the host to
    // DES keys; the card refuses the 'E3' format, so the legacy format is read.
    let mut sd = MockSd::scp02();
    sd.legacy_only = true;
    let (r, _) = run_mock(sd, &["list"]);
    let v = r.unwrap();
    assert_eq!(v["channel"]["scp"], "02");
    assert_eq!(v["channel"]["i"], "15");
    assert_eq!(v["channel"]["kvn"], "20");
    assert_eq!(v["isd"][0]["privileges"], "9E");
    assert_eq!(v["applications"][1]["lifeCycle"], "83");
    // Forcing SCP03 against it is a secure channel failure.
    let (r, _) = run_mock(MockSd::scp02(), &["--scp", "03", "list"]);
    assert_eq!(exit_code(&r.unwrap_err()), exit::AUTH);
}

#[test]
fn wrong_keys_and_missing_kvn_are_auth_failures() {
    let (r, _) = run_mock(
        MockSd::scp03(),
        &["--key", "00112233445566778899AABBCCDDEEFF", "list"],
    );
    let e = r.unwrap_err();
    assert_eq!(exit_code(&e), exit::AUTH);
    assert!(format!("{e:#}").contains("wrong keys"), "{e:#}");
    let (r, _) = run_mock(MockSd::scp03(), &["--kvn", "31", "list"]);
    let e = r.unwrap_err();
    assert_eq!(exit_code(&e), exit::AUTH);
    assert!(format!("{e:#}").contains("6A88"), "{e:#}");
    // KDF3-diversified keys do not match this card's static keys either.
    let (r, _) = run_mock(MockSd::scp03(), &["--kdf3", "list"]);
    assert_eq!(exit_code(&r.unwrap_err()), exit::AUTH);
}

#[test]
fn put_key_rotate_and_kcv_check() {
    let new = "000102030405060708090A0B0C0D0E0F";
    let (r, sd) = run_mock(
        MockSd::scp03(),
        &[
            "--sec-level",
            "mac-enc",
            "put-key",
            "--new-key",
            new,
            "--new-kvn",
            "31",
            "--rotate",
        ],
    );
    let v = r.unwrap();
    assert_eq!(v["newKvn"], "31");
    assert_eq!(v["rotated"], true);
    assert_eq!(v["verifiedChannel"]["kvn"], "31");
    // KCV of an AES key: the first 3 bytes of AES(key, 16 x '01') (Amd D §7.2.2).
    let expect = gp::kcv(KeyType::Aes, &hex::decode(new).unwrap()).unwrap();
    assert_eq!(v["kcv"]["enc"], hex::encode_upper(expect));
    assert_eq!(sd.borrow().keys.len(), 2);
    let put = sd
        .borrow()
        .log
        .iter()
        .find(|c| c.ins == 0xD8)
        .cloned()
        .unwrap();
    assert_eq!((put.p1, put.p2), (0x00, 0x81));

    // Replacing the channel's own key set: P1 = its KVN, the new set keeps it.
    let (r, sd) = run_mock(
        MockSd::scp03(),
        &["put-key", "--new-key", new, "--replace", "--rotate"],
    );
    let v = r.unwrap();
    assert_eq!(v["newKvn"], "30");
    assert_eq!(v["replaced"], "30");
    assert_eq!(sd.borrow().keys.len(), 1);

    // A card that reports other KCVs: exit code 4.
    let mut bad = MockSd::scp03();
    bad.bad_kcv = true;
    let (r, _) = run_mock(bad, &["put-key", "--new-key", new, "--new-kvn", "31"]);
    let e = r.unwrap_err();
    assert_eq!(exit_code(&e), exit::AUTH);
    assert!(format!("{e:#}").contains("KCV"), "{e:#}");
    // Without a KVN to put: a usage error.
    let (r, _) = run_mock(MockSd::scp03(), &["put-key", "--new-key", new]);
    assert_eq!(exit_code(&r.unwrap_err()), exit::USAGE);
}

#[test]
fn install_load_blocks_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = hex::decode("D276000118AA").unwrap();
    let applet = hex::decode("D276000118AA01").unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let comp_dir = dir.path().join("cap");
    std::fs::create_dir_all(&comp_dir).unwrap();
    for (n, d) in &files {
        std::fs::write(comp_dir.join(n.rsplit('/').next().unwrap()), d).unwrap();
    }
    let (r, sd) = run_mock(
        MockSd::scp03(),
        &[
            "--sec-level",
            "mac-enc",
            "install",
            "--load",
            comp_dir.to_str().unwrap(),
            "--hash",
            "--install",
            "--create",
            "D276000118AA0102",
            "--privs",
            "CardReset",
            "--params",
            "0102",
            "--block-size",
            "16",
        ],
    );
    let v = r.unwrap();
    assert_eq!(v["loaded"]["packageAid"], "D276000118AA");
    assert_eq!(v["installed"]["aid"], "D276000118AA0102");
    assert_eq!(v["installed"]["privilegeNames"][0], "CardReset");
    let log = sd.borrow().log.clone();
    // INSTALL [for load] with the SHA-256 hash.
    let for_load = Install::parse(&log[0]).unwrap();
    let Install::ForLoad {
        load_file_aid,
        security_domain_aid,
        load_file_data_block_hash,
        ..
    } = for_load
    else {
        panic!("{for_load:?}")
    };
    assert_eq!(load_file_aid, pkg);
    assert_eq!(security_domain_aid, ISD_AID);
    assert_eq!(load_file_data_block_hash.len(), 32);
    // LOAD blocks numbered from 0, the last with P1 '80', reassembling 'C4' LFDB.
    let loads: Vec<&Command> = log.iter().filter(|c| c.ins == 0xE8).collect();
    assert!(loads.len() > 2);
    let mut asm = commands::LoadAssembler::default();
    let mut done = None;
    for (i, c) in loads.iter().enumerate() {
        assert_eq!(usize::from(c.p2), i);
        assert!(c.data.len() <= 16);
        done = asm.push(c).unwrap();
    }
    let lf = done.unwrap();
    assert_eq!(lf.load_file_data_block[..3], [0x01, 0x00, 16]);
    let last = log.iter().rfind(|c| c.ins == 0xE6).unwrap();
    assert_eq!(last.p1, 0x0C);
    let Install::ForInstall {
        module_aid,
        application_aid,
        privileges,
        parameters,
        ..
    } = Install::parse(last).unwrap()
    else {
        panic!()
    };
    assert_eq!(module_aid, applet);
    assert_eq!(application_aid, hex::decode("D276000118AA0102").unwrap());
    assert_eq!(privileges, [0x04]);
    assert_eq!(parameters, [0xC9, 0x02, 0x01, 0x02]);
}

#[test]
fn store_data_lock_delete_apdu() {
    let (r, sd) = run_mock(
        MockSd::scp03(),
        &[
            "store-data",
            "--aid",
            "D276000118AA0102",
            "--dgi",
            "--data",
            "01010401020304",
        ],
    );
    assert_eq!(r.unwrap()["blocks"], 1);
    let log = sd.borrow().log.clone();
    assert_eq!((log[0].ins, log[0].p1), (0xE6, 0x20));
    assert_eq!((log[1].ins, log[1].p1, log[1].p2), (0xE2, 0x88, 0x00));

    let (r, sd) = run_mock(MockSd::scp03(), &["lock", "D276000118AA0102"]);
    r.unwrap();
    let c = sd.borrow().log[0].clone();
    assert_eq!((c.ins, c.p1, c.p2), (0xF0, 0x40, 0x80));
    let (r, sd) = run_mock(MockSd::scp03(), &["unlock-card"]);
    r.unwrap();
    let c = sd.borrow().log[0].clone();
    assert_eq!((c.ins, c.p1, c.p2, c.data.len()), (0xF0, 0x80, 0x0F, 0));

    let (r, sd) = run_mock(MockSd::scp03(), &["delete", "--deps", "D276000118AA"]);
    assert_eq!(r.unwrap()["deps"], true);
    let c = sd.borrow().log[0].clone();
    assert_eq!((c.ins, c.p2), (0xE4, 0x80));
    // The card's refusal: exit code 3 with its status word.
    let (r, _) = run_mock(MockSd::scp03(), &["delete", "A0000000EE"]);
    let e = r.unwrap_err();
    assert_eq!(exit_code(&e), exit::CARD_REFUSED);
    assert!(format!("{e}").contains("6A88"), "{e}");

    let (r, _) = run_mock(
        MockSd::scp03(),
        &[
            "--sec-level",
            "mac-rmac",
            "apdu",
            "80CA006600",
            "80F28002024F0000",
        ],
    );
    let v = r.unwrap();
    assert_eq!(v["responses"][0]["sw"], "6A88");
    assert_eq!(v["responses"][1]["sw"], "9000");
    assert!(v["responses"][1]["response"]
        .as_str()
        .unwrap()
        .starts_with("E3"));
}

#[test]
fn option_parsing() {
    let a = parse(&[
        "--key-enc",
        "404142434445464748494A4B4C4D4E4F",
        "--key",
        "00112233445566778899AABBCCDDEEFF",
        "--key-ver",
        "30",
        "--scp",
        "SCP02",
        "--scp-i",
        "55",
        "--sec-level",
        "mac-enc",
        "--emv",
        "--sdaid",
        "A000000151000001",
        "list",
    ]);
    let p = a.keys.channel_params();
    assert_eq!(p.enc, DEFAULT_KEY);
    assert_eq!(
        p.mac,
        hex::decode("00112233445566778899AABBCCDDEEFF").unwrap()
    );
    assert_eq!(p.kvn, 0x30);
    assert_eq!(p.scp, Some(0x02));
    assert_eq!(p.scp_i, Some(0x55));
    assert_eq!(p.level, SecurityLevel::C_DEC_C_MAC);
    assert_eq!(p.diversification, Diversification::EmvCps11);
    assert_eq!(a.sdaid.0, hex::decode("A000000151000001").unwrap());
    // Defaults: test keys, KVN 00, C-MAC, the ISD.
    let d = parse(&["info"]);
    let p = d.keys.channel_params();
    assert_eq!((p.kvn, p.scp, p.level), (0, None, SecurityLevel::C_MAC));
    assert_eq!(p.dek, DEFAULT_KEY);
    assert_eq!(d.sdaid.0, ISD_AID);
    // Refusals.
    let bad = |args: &[&str]| {
        let mut v = vec!["gp"];
        v.extend_from_slice(args);
        TestCli::try_parse_from(v).is_err()
    };
    assert!(bad(&["--emv", "--kdf3", "list"]));
    assert!(bad(&["--key", "0011", "list"]));
    assert!(bad(&["--kvn", "80", "list"]));
    assert!(bad(&["--scp", "04", "list"]));
    assert!(bad(&["--sdaid", "A000", "list"]));
    assert!(bad(&["delete", "XYZ"]));
    assert!(bad(&[
        "store-data",
        "--aid",
        "A000000151",
        "--data",
        "01",
        "--dgi",
        "--ber"
    ]));
    assert!(bad(&["install", "--privs", "Superuser"]));
    assert!(bad(&["--card", "x", "--pcsc", "list"]));
    assert_eq!(parse_kvn("0x7F").unwrap(), 0x7F);
    assert_eq!(
        parse_hex("80 CA:00 66").unwrap().0,
        [0x80, 0xCA, 0x00, 0x66]
    );
}
