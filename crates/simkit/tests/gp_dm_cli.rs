//! `simkit gp` Delegated Management through the built binary (GP CS v2.3.1 §9.2.1.4–§9.2.1.6):
//! `put-dm-keys` loads the card issuer's token key (public part) and the Receipt key into the
//! ISD; an SSD with Delegated Management then loads, installs and deletes with tokens signed
//! by `--token-key`, and the receipts verify with `--receipt-key`.

use simkit::gp_cmd::{cap, zip};

mod common;
use common::gp_card::*;

/// The built-in SD package and module.
const SD_PKG: &str = "A0000001515350";
const SD_MODULE: &str = "A000000151535041";
const SSD: &str = "A000000151535041DD";
const RECEIPT_KEY: &str = "0102030405060708090A0B0C0D0E0F10";

impl Card {
    fn gp(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let mut all = vec!["--json", "gp", "--card", p(&self.state)];
        all.extend_from_slice(args);
        let out = simkit(&all);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code().unwrap_or(-1),
            doc,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn gp_ok(&self, args: &[&str]) -> serde_json::Value {
        let (code, doc, err) = self.gp(args);
        assert_eq!(code, 0, "simkit gp {args:?}: {doc} {err}");
        doc
    }

    fn has_app(&self, aid: &str) -> bool {
        let list = self.gp_ok(&["list"]);
        list["applications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["aid"] == aid)
    }

    fn key_file(&self, name: &str, seed: &[u8]) -> String {
        let k = pki::PrivateKey::generate(
            pki::Curve::NistP256,
            &mut card::testing::SeededRng::new(seed),
        );
        let path = self.dir().join(name);
        std::fs::write(&path, k.to_pkcs8_pem().as_bytes()).unwrap();
        p(&path).to_string()
    }
}

#[test]
fn delegated_load_install_delete_with_tokens_and_receipts() {
    let card = Card::new();
    let issuer = card.key_file("issuer.pem", b"issuer");
    let rogue = card.key_file("rogue.pem", b"rogue");
    let done = card.gp_ok(&[
        "put-dm-keys",
        "--token-key",
        &issuer,
        "--receipt-key",
        RECEIPT_KEY,
    ]);
    assert_eq!(done["tokenKeyKvn"], "70");
    assert_eq!(done["receiptKeyKvn"], "71");
    // An SSD with Security Domain + Delegated Management ('A0').
    card.gp_ok(&[
        "install",
        "--package",
        SD_PKG,
        "--applet",
        SD_MODULE,
        "--create",
        SSD,
        "--privs",
        "A00000",
    ]);
    let pkg = hex::decode(GENERIC_PKG).unwrap();
    let applet = hex::decode(GENERIC_APPLET).unwrap();
    let files = cap::minimal_cap_components(&pkg, &[&applet]);
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let cap_path = card.dir().join("generic.cap");
    std::fs::write(&cap_path, zip::write_stored(&entries)).unwrap();
    let install = |key: &str| {
        card.gp(&[
            "--sdaid",
            SSD,
            "--token-key",
            key,
            "--receipt-key",
            RECEIPT_KEY,
            "install",
            "--load",
            p(&cap_path),
            "--hash",
            "--create",
            INSTANCE,
        ])
    };
    // Tokens from another key: refused (6982), nothing loaded.
    let (code, _, err) = install(&rogue);
    assert_ne!(code, 0);
    assert!(err.contains("6982"), "{err}");
    assert!(!card.has_app(INSTANCE));
    // The issuer's tokens: loaded and installed, two verified receipts.
    let (code, doc, err) = install(&issuer);
    assert_eq!(code, 0, "{doc} {err}");
    let receipts = doc["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 2);
    assert_eq!(receipts[0]["operation"], "load");
    assert_eq!(receipts[0]["confirmationCounter"], 1);
    assert_eq!(receipts[1]["operation"], "install");
    assert_eq!(receipts[1]["confirmationCounter"], 2);
    assert!(receipts.iter().all(|r| r["verified"] == true));
    assert!(card.has_app(INSTANCE));
    // DELETE without a token: refused.
    let (code, _, _) = card.gp(&["--sdaid", SSD, "delete", INSTANCE]);
    assert_ne!(code, 0);
    assert!(card.has_app(INSTANCE));
    // A receipt that does not verify under a wrong receipt key is an error.
    let (code, _, err) = card.gp(&[
        "--sdaid",
        SSD,
        "--token-key",
        &issuer,
        "--receipt-key",
        "00000000000000000000000000000000",
        "delete",
        INSTANCE,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("receipt"), "{err}");
    // (The card did delete it; the host only could not verify the receipt.)
    assert!(!card.has_app(INSTANCE));
    let doc = card.gp_ok(&[
        "--sdaid",
        SSD,
        "--token-key",
        &issuer,
        "--receipt-key",
        RECEIPT_KEY,
        "delete",
        GENERIC_PKG,
    ]);
    assert_eq!(doc["receipts"][0]["confirmationCounter"], 4);
    assert_eq!(doc["receipts"][0]["verified"], true);
}
