//! The PC/SC side of the CLI: `simkit lpa --pcsc [READER]` and `simkit lpa readers`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use reader::pcsc::{Context, PcscCard, Share};
use serde_json::{json, Value};

/// Connects to the card in `reader` (a reader name or a unique part of one), or with an empty
/// `reader` to the first reader holding a card. The connection is exclusive for the LPA's
/// session, as lpac's PC/SC driver does.
pub fn open(reader: &str) -> Result<PcscCard> {
    let ctx = Context::establish()?;
    let name = if reader.is_empty() {
        ctx.first_reader_with_card()?
    } else {
        ctx.find_card_reader(reader)?
    };
    let card = ctx
        .connect(&name, Share::Exclusive)
        .with_context(|| format!("connecting to the card in {name:?}"))?;
    tracing::info!(
        "PC/SC: {name}, {}, ATR {}",
        card.protocol_name(),
        hex::encode_upper(card.atr())
    );
    Ok(card)
}

/// Waits up to `timeout` for a card in `reader` (any reader when empty); returns its name.
pub fn wait_for_card(reader: &str, timeout: Duration) -> Result<String> {
    let ctx = Context::establish()?;
    let wanted = (!reader.is_empty()).then_some(reader);
    Ok(ctx.wait_for_card(wanted, timeout)?)
}

/// The readers pcscd knows, as JSON.
pub fn readers_json() -> Result<Value> {
    let ctx = Context::establish()?;
    Ok(Value::Array(
        ctx.reader_states()?
            .into_iter()
            .map(|r| {
                json!({
                    "reader": r.name,
                    "cardPresent": r.card_present,
                    "atr": (!r.atr.is_empty()).then(|| hex::encode_upper(&r.atr)),
                    "exclusive": r.exclusive,
                    "inUse": r.in_use,
                })
            })
            .collect(),
    ))
}

pub fn render_readers(v: &Value) {
    let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        println!("No PC/SC readers");
        return;
    }
    for r in list {
        let name = r["reader"].as_str().unwrap_or("?");
        match r["atr"].as_str() {
            Some(atr) if r["cardPresent"] == true => {
                let busy = if r["exclusive"] == true {
                    " (in exclusive use)"
                } else {
                    ""
                };
                println!("{name}: card, ATR {atr}{busy}")
            }
            _ => println!("{name}: no card"),
        }
    }
}
