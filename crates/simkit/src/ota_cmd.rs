//! `simkit ota`: the OTA server (crate `otasrv`) — import cards and their SCP80 key sets, add
//! catalogue items, create campaigns, run them through an SMSC over SMPP with a progress bar,
//! show their status (`--json`: counts per state), and serve the same as an HTTP API
//! (loopback by default).
//!
//! Card files are CSV, one card a line: `msisdn[,iccid[,kic,kic_key,kid,kid_key]]` with KIc/KID
//! as the one-octet header codings in hex (e.g. `12` = key version 1, AES-CBC; `12` = KVN 1,
//! AES-CMAC) and the keys in hex; a card without the last four fields has no key set, and a
//! campaign naming it is refused. Target lists are one MSISDN a line.
//!
//! `simkit ota smsc` is a lab SMSC: the SMPP simulator with a terminal simulator per virtual
//! card file, so campaigns and the TSM can reach card files over the air.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use modem::net::{Modem, ModemConfig, Subscribers};
use modem::{Terminal, TerminalConfig};
use ota::ts23040::Scts;
use ota::{Kic, Kid, Spi};
use otasrv::service::{system_clock, OtaService, ServiceConfig};
use otasrv::{CardImport, CatalogueItem, Error as OtaErr, KeySet, OtaStore, RetryPolicy};
use serde::Deserialize;
use serde_json::json;
use smpp::smsc::{self, SmscConfig};
use smpp::{BindMode, EsmeConfig, SmeAddress};
use store::Database;

use crate::card_file::PersistentCard;

/// Default database: an SQLite file next to the SM-DP+ one.
pub const DEFAULT_DATABASE: &str = "sqlite://./simkit-data/ota.db?mode=rwc";

#[derive(clap::Args, Debug)]
pub struct OtaArgs {
    /// `sqlite://...` or `postgres://...`.
    #[arg(long, env = "SIMKIT_OTA_DATABASE", default_value = DEFAULT_DATABASE, global = true)]
    pub database: String,
    #[command(subcommand)]
    pub command: OtaCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum OtaCommand {
    /// Cards and key sets.
    #[command(subcommand)]
    Card(CardCmd),
    /// The item catalogue.
    #[command(subcommand)]
    Item(ItemCmd),
    /// Campaigns: create, run, status, list.
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// HTTP API (and, with --smsc, the sending service).
    Serve(ServeArgs),
    /// A lab SMSC: the built-in SMPP v3.4 simulator on loopback with a terminal simulator per
    /// virtual card file behind it (SMS-PP download ENVELOPEs to the card, PoRs back as
    /// mobile-originated SMS), for `ota campaign run --smsc` and `tsm serve --smsc`.
    Smsc(SmscSimArgs),
}

#[derive(clap::Args, Debug)]
pub struct SmscSimArgs {
    /// Port on 127.0.0.1 (0: a free one, printed).
    #[arg(long, default_value_t = 2775)]
    pub port: u16,
    /// An ESME account `SYSTEM_ID[:PASSWORD]` (repeat; default `simkit` and `simkit-tsm`, no
    /// password).
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    /// A subscriber: `MSISDN=CARD_FILE` (repeat). Its card file is saved after every command.
    #[arg(long = "card", required = true)]
    pub cards: Vec<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum CardCmd {
    /// Import (insert or replace) cards from a CSV file.
    Import { file: PathBuf },
}

#[derive(clap::Subcommand, Debug)]
pub enum ItemCmd {
    /// Add an item; it is classified first type (TAR B0xxxx RFM, 000000 RAM ISD) or second
    /// type (any other TAR: an SSD's already protected data) by its TAR.
    Add {
        #[arg(long)]
        name: String,
        /// TAR, 3 octets hex.
        #[arg(long)]
        tar: String,
        /// SPI, 2 octets hex (default 1639: counter higher, ciphered, CC, PoR always with CC,
        /// ciphered, by SMS-SUBMIT).
        #[arg(long, default_value = "1639")]
        spi: String,
        /// The secured data (remote commands or the SP's protected blob), hex.
        #[arg(long)]
        data: String,
    },
    /// List items.
    List,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SmscArgs {
    /// The SMSC (SMPP v3.4).
    #[arg(long)]
    pub smsc: SocketAddr,
    #[arg(long, default_value = "simkit")]
    pub system_id: String,
    #[arg(long, default_value = "")]
    pub password: String,
    /// The OTA server's address (source_addr).
    #[arg(long, default_value = "0000")]
    pub source: String,
    /// submit_sm awaiting their response at once.
    #[arg(long, default_value_t = 50)]
    pub window: usize,
    /// The SMSC's rate: most submit_sm per second.
    #[arg(long)]
    pub rate: Option<u32>,
}

#[derive(clap::Subcommand, Debug)]
pub enum CampaignCmd {
    /// Create a campaign: one job per target card.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        item: String,
        /// File with one MSISDN a line.
        #[arg(long)]
        cards: PathBuf,
        #[arg(long, default_value_t = 3)]
        max_attempts: u32,
        /// Seconds to wait for a PoR.
        #[arg(long, default_value_t = 120)]
        por_timeout: i64,
        /// First back-off in seconds (doubles per attempt).
        #[arg(long, default_value_t = 30)]
        backoff: i64,
    },
    /// Run the sending service until the campaign is finished (progress bar on stderr).
    Run {
        name: String,
        #[command(flatten)]
        smsc: SmscArgs,
    },
    /// Counts per state.
    Status { name: String },
    /// Campaign names.
    List,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Listen address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8091")]
    pub listen: SocketAddr,
    /// Also run the sending service towards this SMSC.
    #[arg(long)]
    pub smsc: Option<SocketAddr>,
    #[arg(long, default_value = "simkit")]
    pub system_id: String,
    #[arg(long, default_value = "")]
    pub password: String,
    #[arg(long, default_value = "0000")]
    pub source: String,
    #[arg(long, default_value_t = 50)]
    pub window: usize,
    #[arg(long)]
    pub rate: Option<u32>,
}

fn hex_arr<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = hex::decode(s.trim()).with_context(|| format!("{what}: not hex"))?;
    <[u8; N]>::try_from(v).map_err(|_| anyhow::anyhow!("{what}: must be {N} octets"))
}

/// Parse a card CSV line (see the module documentation).
pub fn parse_card_line(line: &str) -> Result<CardImport> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    let address = f.first().copied().unwrap_or_default().to_string();
    otasrv::model::check_address(&address)?;
    let iccid = f.get(1).filter(|s| !s.is_empty()).map(|s| s.to_string());
    let keys = match f.len() {
        1 | 2 => None,
        6 => {
            let [kic] = hex_arr::<1>(f[2], "KIc")?;
            let [kid] = hex_arr::<1>(f[4], "KID")?;
            let kic_key = hex::decode(f[3]).context("KIc key: not hex")?;
            let kid_key = hex::decode(f[5]).context("KID key: not hex")?;
            Some(KeySet::new(Kic(kic), &kic_key, Kid(kid), &kid_key)?)
        }
        _ => bail!("expected msisdn[,iccid[,kic,kic_key,kid,kid_key]]"),
    };
    Ok(CardImport {
        address,
        iccid,
        keys,
        counters: BTreeMap::new(),
    })
}

fn read_lines(p: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

pub(crate) async fn open(url: &str) -> Result<Database> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .and_then(|r| r.split('?').next())
        .map(Path::new)
    {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    Database::connect(url)
        .await
        .with_context(|| format!("opening {url}"))
}

pub(crate) fn service_config(
    smsc: SocketAddr,
    system_id: &str,
    password: &str,
    source: &str,
    window: usize,
    rate: Option<u32>,
) -> ServiceConfig {
    let mut esme = EsmeConfig::new(BindMode::Transceiver, system_id, password);
    esme.window = window.max(1);
    esme.max_submits_per_second = rate;
    let mut cfg = ServiceConfig::new(smsc, esme);
    cfg.source = SmeAddress::new(0, 1, source);
    cfg
}

/// The SMSC time stamp of now, UTC (TS 23.040 §9.2.3.11).
fn scts_now() -> Scts {
    let (y, [mo, d, h, mi, se]) = smdp::time::UnixMillis(crate::unix_now() as i64 * 1000).utc();
    let f = |v: u32| u8::try_from(v).unwrap_or(0);
    Scts::new(
        [f(y.rem_euclid(100) as u32), f(mo), f(d), f(h), f(mi), f(se)],
        0,
    )
}

/// A terminal report worth telling the lab user (not a download that went well).
fn report_line(r: &modem::net::Report) -> Option<String> {
    use modem::net::Report;
    use modem::Output;
    match r {
        Report::Error(e) => Some(format!("the terminal refused a message: {e}")),
        Report::Output { output, delivery } => match (output, delivery) {
            (_, Err(e)) => Some(format!("a mobile-originated SMS could not be delivered: {e}")),
            (Output::Received(parts), _) => parts.first().map(|d| {
                format!(
                    "an ordinary short message (TP-PID {:02X}, TP-DCS {:02X}), not a (U)SIM data download: that needs TP-PID 7F and a class 2 coding such as F6 (TS 31.111 §7.1.1)",
                    d.pid, d.dcs
                )
            }),
            (Output::DownloadFailed { sw, .. }, _) => {
                Some(format!("SMS-PP download failed: the card answered {:04X}", sw.0))
            }
            (Output::MobileOriginated { .. }, Ok(_)) => None,
        },
    }
}

/// `simkit ota smsc`: runs until Ctrl-C.
async fn lab_smsc(a: &SmscSimArgs, json_out: bool) -> Result<()> {
    let mut cfg = SmscConfig::new("simkit", "");
    cfg.accounts = if a.accounts.is_empty() {
        vec![
            ("simkit".into(), String::new()),
            ("simkit-tsm".into(), String::new()),
        ]
    } else {
        a.accounts
            .iter()
            .map(|acc| match acc.split_once(':') {
                Some((id, pw)) => (id.to_string(), pw.to_string()),
                None => (acc.clone(), String::new()),
            })
            .collect()
    };
    let mut subscribers = Subscribers::default();
    let mut terminals = Vec::new();
    for c in &a.cards {
        let (msisdn, file) = c
            .split_once('=')
            .with_context(|| format!("--card {c}: expected MSISDN=CARD_FILE"))?;
        otasrv::model::check_address(msisdn).with_context(|| format!("--card {c}"))?;
        let card = PersistentCard::open(Path::new(file))
            .with_context(|| format!("opening card file {file}"))?;
        terminals.push((msisdn.to_string(), card, subscribers.add(msisdn)));
    }
    let smsc = smsc::start(cfg, a.port, Arc::new(subscribers))
        .await
        .context("starting the SMSC simulator")?;
    let mut modems = Vec::new();
    for (msisdn, card, incoming) in terminals {
        let modem = Modem::spawn(
            Terminal::new(card, TerminalConfig::default()),
            smsc.clone(),
            incoming,
            ModemConfig {
                msisdn: SmeAddress::new(1, 1, &msisdn),
                esme: None,
                scts: Box::new(scts_now),
                retry_interval: Duration::from_secs(1),
            },
        )
        .with_context(|| format!("terminal {msisdn}: the card refused TERMINAL PROFILE"))?;
        modems.push(modem);
    }
    print(
        json_out,
        json!({ "smsc": smsc.local_addr().to_string(), "subscribers": a.cards.len() }),
        &format!(
            "SMSC simulator on {} (SMPP v3.4), {} subscriber(s)",
            smsc.local_addr(),
            a.cards.len()
        ),
    );
    let _ = std::io::stdout().flush();
    // What the terminals did with messages that were no successful download, on stderr.
    let mut shown = vec![0usize; modems.len()];
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.context("waiting for Ctrl-C")?;
                break;
            }
            _ = tick.tick() => {
                for ((m, seen), card) in modems.iter().zip(&mut shown).zip(&a.cards) {
                    let reports = m.reports();
                    for r in reports.iter().skip(*seen) {
                        if let Some(line) = report_line(r) {
                            eprintln!("{}: {line}", card.split('=').next().unwrap_or(card));
                        }
                    }
                    *seen = reports.len();
                }
            }
        }
    }
    for m in &modems {
        m.abort();
    }
    smsc.stop();
    Ok(())
}

/// Render a progress bar line.
pub fn progress_line(st: &otasrv::CampaignStatus) -> String {
    const W: u64 = 30;
    let done = st.finished();
    let filled = (done * W).checked_div(st.total).unwrap_or(W);
    let bar: String = (0..W).map(|i| if i < filled { '#' } else { '.' }).collect();
    format!(
        "[{bar}] {done}/{} ok {} err {} expired {} in flight {} retrying {}",
        st.total,
        st.count(otasrv::JobState::PorOk),
        st.count(otasrv::JobState::PorError),
        st.count(otasrv::JobState::Expired),
        st.count(otasrv::JobState::Submitting) + st.count(otasrv::JobState::Sent),
        st.count(otasrv::JobState::Retrying),
    )
}

/// `simkit ota ...`.
pub fn run(args: OtaArgs, json_out: bool) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args, json_out))
}

async fn run_async(args: OtaArgs, json_out: bool) -> Result<()> {
    // The lab SMSC needs no database.
    let db = match &args.command {
        OtaCommand::Smsc(a) => return lab_smsc(a, json_out).await,
        _ => open(&args.database).await?,
    };
    match args.command {
        OtaCommand::Smsc(_) => {}
        OtaCommand::Card(CardCmd::Import { file }) => {
            let cards = read_lines(&file)?
                .iter()
                .enumerate()
                .map(|(i, l)| parse_card_line(l).with_context(|| format!("line {}", i + 1)))
                .collect::<Result<Vec<_>>>()?;
            let n = db.import_cards(cards).await?;
            print(
                json_out,
                json!({ "imported": n }),
                &format!("imported {n} cards"),
            );
        }
        OtaCommand::Item(ItemCmd::Add {
            name,
            tar,
            spi,
            data,
        }) => {
            let item = CatalogueItem::new(
                &name,
                hex_arr::<3>(&tar, "TAR")?,
                Spi::from_bytes(hex_arr::<2>(&spi, "SPI")?)?,
                hex::decode(data.trim()).context("data: not hex")?,
            )?;
            let class = item.class;
            db.put_item(item).await?;
            print(
                json_out,
                json!({ "item": name, "class": class }),
                &format!("added {name} ({class:?} type)"),
            );
        }
        OtaCommand::Item(ItemCmd::List) => {
            let items = db.list_items().await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&items_json(&items))?);
            } else {
                for i in items {
                    println!(
                        "{}\tTAR {}\tSPI {}\t{:?}\t{} octets",
                        i.name,
                        hex::encode_upper(i.tar),
                        hex::encode_upper(i.spi.to_bytes()),
                        i.class,
                        i.data.len()
                    );
                }
            }
        }
        OtaCommand::Campaign(CampaignCmd::Create {
            name,
            item,
            cards,
            max_attempts,
            por_timeout,
            backoff,
        }) => {
            let policy = RetryPolicy {
                max_attempts,
                por_timeout_ms: por_timeout.saturating_mul(1000),
                base_backoff_ms: backoff.saturating_mul(1000),
                ..RetryPolicy::default()
            };
            let n = db
                .create_campaign(&name, &item, read_lines(&cards)?, policy, system_clock()())
                .await?;
            print(
                json_out,
                json!({ "campaign": name, "cards": n }),
                &format!("campaign {name}: {n} cards queued"),
            );
        }
        OtaCommand::Campaign(CampaignCmd::Run { name, smsc }) => {
            db.campaign_status(&name).await?;
            let cfg = service_config(
                smsc.smsc,
                &smsc.system_id,
                &smsc.password,
                &smsc.source,
                smsc.window,
                smsc.rate,
            );
            let svc = OtaService::start(db.clone(), cfg);
            let mut stderr = std::io::stderr();
            let st = loop {
                let st = db.campaign_status(&name).await?;
                if !json_out {
                    let _ = write!(stderr, "\r{}", progress_line(&st));
                    let _ = stderr.flush();
                }
                if st.is_done() {
                    break st;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            if !json_out {
                let _ = writeln!(stderr);
            }
            let stats = svc.stats();
            svc.shutdown().await;
            if let Some(e) = stats.last_error {
                eprintln!("last error: {e}");
            }
            print(json_out, serde_json::to_value(&st)?, &progress_line(&st));
        }
        OtaCommand::Campaign(CampaignCmd::Status { name }) => {
            let st = db.campaign_status(&name).await?;
            print(json_out, serde_json::to_value(&st)?, &progress_line(&st));
        }
        OtaCommand::Campaign(CampaignCmd::List) => {
            let names = db.list_campaigns().await?;
            print(json_out, json!(names), &names.join("\n"));
        }
        OtaCommand::Serve(a) => {
            let _svc = a.smsc.map(|smsc| {
                OtaService::start(
                    db.clone(),
                    service_config(smsc, &a.system_id, &a.password, &a.source, a.window, a.rate),
                )
            });
            let listener = tokio::net::TcpListener::bind(a.listen).await?;
            eprintln!("OTA API on http://{}", listener.local_addr()?);
            axum::serve(listener, router(db)).await?;
        }
    }
    Ok(())
}

fn print(json_out: bool, v: serde_json::Value, text: &str) {
    if json_out {
        println!("{v}");
    } else {
        println!("{text}");
    }
}

fn items_json(items: &[CatalogueItem]) -> serde_json::Value {
    json!(items
        .iter()
        .map(|i| json!({
            "name": i.name,
            "tar": hex::encode_upper(i.tar),
            "spi": hex::encode_upper(i.spi.to_bytes()),
            "class": i.class,
            "data": hex::encode_upper(&i.data),
        }))
        .collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// HTTP API
// ---------------------------------------------------------------------------

type ApiResult =
    std::result::Result<Json<serde_json::Value>, (StatusCode, Json<serde_json::Value>)>;

fn api_err(e: impl Into<anyhow::Error>) -> (StatusCode, Json<serde_json::Value>) {
    let e: anyhow::Error = e.into();
    let status = match e.downcast_ref::<OtaErr>() {
        Some(OtaErr::UnknownCampaign(_) | OtaErr::UnknownItem(_) | OtaErr::UnknownCard(_)) => {
            StatusCode::NOT_FOUND
        }
        Some(OtaErr::Duplicate(_)) => StatusCode::CONFLICT,
        Some(OtaErr::NoKeySet(_) | OtaErr::Invalid { .. } | OtaErr::Ota(_)) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
        None => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({ "error": format!("{e:#}") })))
}

#[derive(Deserialize)]
struct CardsBody {
    /// CSV lines as in card files.
    cards: Vec<String>,
}

#[derive(Deserialize)]
struct ItemBody {
    name: String,
    tar: String,
    #[serde(default = "default_spi")]
    spi: String,
    data: String,
}

fn default_spi() -> String {
    "1639".into()
}

#[derive(Deserialize)]
struct CampaignBody {
    name: String,
    item: String,
    cards: Vec<String>,
    #[serde(default)]
    policy: Option<RetryPolicy>,
}

/// The HTTP API: `POST /ota/cards`, `GET|POST /ota/items`, `GET|POST /ota/campaigns`,
/// `GET /ota/campaigns/{name}` (counts per state).
pub fn router(db: Database) -> Router {
    Router::new()
        .route("/ota/cards", post(post_cards))
        .route("/ota/items", get(get_items).post(post_item))
        .route("/ota/campaigns", get(get_campaigns).post(post_campaign))
        .route("/ota/campaigns/{name}", get(get_campaign))
        .with_state(db)
}

async fn post_cards(State(db): State<Database>, Json(b): Json<CardsBody>) -> ApiResult {
    let cards = b
        .cards
        .iter()
        .map(|l| parse_card_line(l))
        .collect::<Result<Vec<_>>>()
        .map_err(api_err)?;
    let n = db.import_cards(cards).await.map_err(api_err)?;
    Ok(Json(json!({ "imported": n })))
}

async fn get_items(State(db): State<Database>) -> ApiResult {
    let items = db.list_items().await.map_err(api_err)?;
    Ok(Json(items_json(&items)))
}

async fn post_item(State(db): State<Database>, Json(b): Json<ItemBody>) -> ApiResult {
    let item = (|| -> Result<CatalogueItem> {
        Ok(CatalogueItem::new(
            &b.name,
            hex_arr::<3>(&b.tar, "TAR")?,
            Spi::from_bytes(hex_arr::<2>(&b.spi, "SPI")?)?,
            hex::decode(b.data.trim()).context("data: not hex")?,
        )?)
    })()
    .map_err(api_err)?;
    let class = item.class;
    db.put_item(item).await.map_err(api_err)?;
    Ok(Json(json!({ "item": b.name, "class": class })))
}

async fn get_campaigns(State(db): State<Database>) -> ApiResult {
    Ok(Json(json!(db.list_campaigns().await.map_err(api_err)?)))
}

async fn post_campaign(State(db): State<Database>, Json(b): Json<CampaignBody>) -> ApiResult {
    let n = db
        .create_campaign(
            &b.name,
            &b.item,
            b.cards,
            b.policy.unwrap_or_default(),
            system_clock()(),
        )
        .await
        .map_err(api_err)?;
    Ok(Json(json!({ "campaign": b.name, "cards": n })))
}

async fn get_campaign(State(db): State<Database>, UrlPath(name): UrlPath<String>) -> ApiResult {
    let st = db.campaign_status(&name).await.map_err(api_err)?;
    Ok(Json(serde_json::to_value(st).map_err(api_err)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_lines() {
        let c = parse_card_line(
            "4917000001,8949000000000000001,12,200102030405060708090A0B0C0D0E0F,12,201102030405060708090A0B0C0D0E0F",
        )
        .unwrap();
        assert!(c.keys.is_some());
        assert!(parse_card_line("4917000001").unwrap().keys.is_none());
        assert!(parse_card_line("4917000001,,12,00,12").is_err());
        assert!(parse_card_line("49x").is_err());
        assert!(parse_card_line("4917000001,,12,0011,12,00").is_err());
    }

    async fn http(
        addr: SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let code: u16 = out[9..12].parse().unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default();
        (
            code,
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The HTTP API and `simkit ota campaign run` against the SMSC simulator with simulated
    /// cards: a keyless card is refused with a clear error, the campaign ends PoR OK.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn api_and_campaign_run() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("ota.db").display());
        let db = open(&url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(db)).await });
        let keys = "12,200102030405060708090A0B0C0D0E0F,12,201102030405060708090A0B0C0D0E0F";
        let cards =
            format!(r#"{{"cards": ["4917000001,,{keys}", "4917000002,,{keys}", "4917000003"]}}"#);
        assert_eq!(http(addr, "POST", "/ota/cards", &cards).await.0, 200);
        let (code, v) = http(
            addr,
            "POST",
            "/ota/items",
            r#"{"name": "sel", "tar": "B00010", "data": "A0A40000023F00"}"#,
        )
        .await;
        assert_eq!((code, v["class"].as_str()), (200, Some("first")));
        let (code, v) = http(
            addr,
            "POST",
            "/ota/campaigns",
            r#"{"name": "bad", "item": "sel", "cards": ["4917000001", "4917000003"]}"#,
        )
        .await;
        assert_eq!(code, 422);
        assert!(v["error"]
            .as_str()
            .unwrap()
            .contains("4917000003 has no OTA key set"));
        let (code, _) = http(
            addr,
            "POST",
            "/ota/campaigns",
            r#"{"name": "c", "item": "sel", "cards": ["4917000001", "4917000002"]}"#,
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(http(addr, "GET", "/ota/campaigns/nope", "").await.0, 404);
        let (_, v) = http(addr, "GET", "/ota/campaigns/c", "").await;
        assert_eq!(v["states"]["queued"], 2);

        let ks = parse_card_line(&format!("4917000001,,{keys}"))
            .unwrap()
            .keys
            .unwrap();
        let (fleet, mo) = otasrv::sim::SimFleet::new(&ks).unwrap();
        let smsc = smpp::smsc::start(smpp::smsc::SmscConfig::new("simkit", "pw"), 0, fleet)
            .await
            .unwrap();
        otasrv::sim::SimFleet::forward(smsc.clone(), mo);
        let args = OtaArgs {
            database: url,
            command: OtaCommand::Campaign(CampaignCmd::Run {
                name: "c".into(),
                smsc: SmscArgs {
                    smsc: smsc.local_addr(),
                    system_id: "simkit".into(),
                    password: "pw".into(),
                    source: "1234".into(),
                    window: 10,
                    rate: Some(100),
                },
            }),
        };
        tokio::time::timeout(Duration::from_secs(30), run_async(args, true))
            .await
            .unwrap()
            .unwrap();
        let (_, v) = http(addr, "GET", "/ota/campaigns/c", "").await;
        assert_eq!(v["states"]["por_ok"], 2, "{v}");
        assert_eq!(v["packets"], 2);
    }
}
