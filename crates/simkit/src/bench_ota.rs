//! `simkit bench ota`: OTA server throughput, each figure beside its crypto floor measured in
//! the same run.
//!
//! 1. Secured packets per second: `ota::build_command` (server) + `ota::receive_command`
//!    (card: parse, decipher, verify the CC, counter check) for a 7-octet RFM command, with AES
//!    (AES-CBC + AES-CMAC) and 3DES (2-key 3DES-CBC + 3DES CBC-MAC). Floor: the same ciphering
//!    and CC over the same octets, called directly (encrypt + decrypt + 2 × CC).
//! 2. Campaign throughput in cards per second: a campaign over `--cards` simulated cards run by
//!    the OTA service against the built-in SMSC simulator (loopback SMPP), the store on
//!    `--database` (default: an SQLite file in a temporary directory; pass a `postgres://` URL
//!    for PostgreSQL). Floor: the per-card crypto alone (command build + card receive + PoR
//!    build + PoR parse), single-threaded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ota::ts102225::{
    build_command, build_response, parse_response, receive_command, CommandHeader, KeyLookup,
    PorSecurity,
};
use ota::{CcAlgorithm, CipherAlgorithm, Counter, Kic, Kid, PorStatus, Spi};
use otasrv::service::{system_clock, OtaService, ServiceConfig};
use otasrv::sim::SimFleet;
use otasrv::{CardImport, CatalogueItem, KeySet, OtaStore, RetryPolicy};
use serde_json::json;
use smpp::smsc::{self, SmscConfig};
use smpp::{BindMode, EsmeConfig, SmeAddress};

#[derive(clap::Args, Debug, Clone)]
pub struct OtaBenchArgs {
    /// Packets per crypto measurement.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    pub packets: u32,
    /// Cards in the campaign.
    #[arg(long, default_value_t = 5_000)]
    pub cards: u32,
    /// Database for the campaign (`sqlite://...` or `postgres://...`; the OTA tables must be
    /// empty of a campaign named `bench`).
    #[arg(long)]
    pub database: Option<String>,
    /// SMPP window.
    #[arg(long, default_value_t = 200)]
    pub window: usize,
}

/// RFM SELECT MF, compact format (TS 102 226 §5.1.1).
const DATA: [u8; 7] = [0xA0, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00];
const TAR: [u8; 3] = [0xB0, 0x00, 0x10];

fn key_set(aes: bool) -> Result<KeySet> {
    // AES: pySim tests/unittests/test_ota.py `Test_SMS_AES128` keys; 3DES: a fixed test key.
    Ok(if aes {
        KeySet::aes(
            1,
            &hex::decode("200102030405060708090A0B0C0D0E0F")?,
            &hex::decode("201102030405060708090A0B0C0D0E0F")?,
        )?
    } else {
        KeySet::new(
            Kic::new(1, CipherAlgorithm::TripleDes2Key),
            &hex::decode("000102030405060708090A0B0C0D0E0F")?,
            Kid::cc(1, CcAlgorithm::TripleDes2Key),
            &hex::decode("101112131415161718191A1B1C1D1E1F")?,
        )?
    })
}

fn spi() -> Result<Spi> {
    // Counter higher, ciphered, CC; PoR always, CC, ciphered, by SMS-SUBMIT.
    Ok(Spi::from_bytes([0x16, 0x39])?)
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// build_command + receive_command per second, and the floor.
fn packets(aes: bool, n: u32) -> Result<(f64, f64)> {
    let ks = key_set(aes)?;
    let sk = ks.security_keys()?;
    let spi = spi()?;
    let t = Instant::now();
    for i in 1..=u64::from(n) {
        let header = CommandHeader {
            spi,
            kic: ks.kic,
            kid: ks.kid,
            tar: TAR,
            counter: Counter::new(i)?,
        };
        let p = build_command(&header, &sk, &DATA)?;
        let stored = Counter::new(i - 1)?;
        if receive_command(&p, |_| {
            Ok(KeyLookup {
                keys: sk.clone(),
                stored_counter: stored,
            })
        })
        .is_err()
        {
            bail!("the card refused a benchmark packet");
        }
    }
    let full = rate(u64::from(n), t.elapsed());
    // Floor: the same primitives over the same lengths (ciphered part and CC input).
    let cipher = sk
        .cipher
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no cipher"))?;
    let cc = sk.cc.clone().ok_or_else(|| anyhow::anyhow!("no CC key"))?;
    let block = cipher.block_size();
    let ciphered_len = (6 + 8 + DATA.len()).div_ceil(block) * block;
    let mac_input = vec![0x11u8; 10 + 6 + DATA.len()];
    let t = Instant::now();
    for _ in 0..n {
        let mut buf = vec![0x22u8; ciphered_len];
        cipher.encrypt(&mut buf)?;
        cipher.decrypt(&mut buf)?;
        let a = cc.compute(&mac_input, 8)?;
        let b = cc.compute(&mac_input, 8)?;
        std::hint::black_box((a, b, buf));
    }
    Ok((full, rate(u64::from(n), t.elapsed())))
}

/// Per-card crypto of a campaign (command + card + PoR both ways), cards per second.
pub fn card_floor(n: u32) -> Result<f64> {
    let ks = key_set(true)?;
    let sk = ks.security_keys()?;
    let spi = spi()?;
    let sec = PorSecurity::from_spi(&spi);
    let t = Instant::now();
    for i in 1..=u64::from(n) {
        let header = CommandHeader {
            spi,
            kic: ks.kic,
            kid: ks.kid,
            tar: TAR,
            counter: Counter::new(i)?,
        };
        let p = build_command(&header, &sk, &DATA)?;
        let acc = receive_command(&p, |_| {
            Ok(KeyLookup {
                keys: sk.clone(),
                stored_counter: Counter::default(),
            })
        })
        .map_err(|r| anyhow::anyhow!("refused: {}", r.error))?;
        let resp = acc.command.response(PorStatus::PorOk, vec![0x90, 0x00]);
        let ud = build_response(&resp, sec, ks.kic, ks.kid, &sk)?;
        std::hint::black_box(parse_response(&ud, sec, ks.kic, ks.kid, &sk)?);
    }
    Ok(rate(u64::from(n), t.elapsed()))
}

async fn campaign(args: &OtaBenchArgs) -> Result<(f64, String)> {
    let dir = tempfile::tempdir()?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("ota.db").display()));
    let db = store::Database::connect(&url).await?;
    let ks = key_set(true)?;
    let addrs: Vec<String> = (0..args.cards).map(|n| format!("4918{n:07}")).collect();
    db.import_cards(
        addrs
            .iter()
            .map(|a| CardImport {
                address: a.clone(),
                iccid: None,
                keys: Some(ks.clone()),
                counters: BTreeMap::new(),
            })
            .collect(),
    )
    .await?;
    let tag = system_clock()();
    let item_name = format!("bench-{tag}");
    db.put_item(CatalogueItem::new(&item_name, TAR, spi()?, DATA.to_vec())?)
        .await?;
    let (fleet, mo) = SimFleet::new(&ks)?;
    let smsc = smsc::start(SmscConfig::new("bench", "bench"), 0, fleet).await?;
    SimFleet::forward(smsc.clone(), mo);
    let mut esme = EsmeConfig::new(BindMode::Transceiver, "bench", "bench");
    esme.window = args.window.max(1);
    let mut cfg = ServiceConfig::new(smsc.local_addr(), esme);
    cfg.source = SmeAddress::new(0, 1, "1234");
    cfg.tick = Duration::from_millis(20);
    let t = Instant::now();
    db.create_campaign(&item_name, &item_name, addrs, RetryPolicy::default(), tag)
        .await?;
    let svc = OtaService::start(db.clone(), cfg);
    loop {
        let st = db.campaign_status(&item_name).await?;
        if st.is_done() {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!("campaign did not finish in 10 minutes: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = t.elapsed();
    svc.shutdown().await;
    smsc.stop();
    let backend = format!("{:?}", db.backend());
    db.close().await;
    Ok((rate(u64::from(args.cards), took), backend))
}

/// `simkit bench ota`.
pub fn run(args: OtaBenchArgs, json_out: bool) -> Result<()> {
    let (aes, aes_floor) = packets(true, args.packets)?;
    let (des, des_floor) = packets(false, args.packets)?;
    let card_floor = card_floor(args.packets)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (cards, backend) = rt.block_on(campaign(&args))?;
    if json_out {
        println!(
            "{}",
            json!({
                "packets_per_second": { "aes": aes, "aes_floor": aes_floor,
                                        "3des": des, "3des_floor": des_floor },
                "campaign": { "cards": args.cards, "backend": backend,
                              "cards_per_second": cards, "crypto_floor": card_floor },
            })
        );
    } else {
        println!("secured packets built + verified per second (single thread):");
        println!("  AES-128 (CBC + CMAC)   {aes:>10.0}/s   crypto floor {aes_floor:>10.0}/s");
        println!("  3DES (2-key CBC + MAC) {des:>10.0}/s   crypto floor {des_floor:>10.0}/s");
        println!(
            "campaign over {} cards ({backend}, SMSC simulator over loopback SMPP):",
            args.cards
        );
        println!("  {cards:>10.0} cards/s   crypto floor {card_floor:>10.0} cards/s");
    }
    Ok(())
}
