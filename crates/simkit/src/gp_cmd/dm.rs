//! Delegated Management on the host side of `simkit gp` (GP CS v2.3.1 §9.2.1.4–§9.2.1.6):
//! tokens signed with the card issuer's key (`--token-key FILE`, a PEM NIST P-256 private key;
//! ECDSA with SHA-256, `r || s`, over the data `gp::dm` defines) and receipts checked with the
//! Receipt key (`--receipt-key HEX`, AES: AES-CMAC).

use std::path::Path;

use anyhow::{Context as _, Result};
use apdu::Command;
use gp::commands::Install;
use gp::dm::{self, Confirmation};
use gp::KeyType;
use serde_json::{json, Value};

use super::Hex;

/// The Delegated Management options of a `simkit gp` run.
#[derive(Default)]
pub struct DmOptions {
    /// The card issuer's token key (signs tokens when given).
    pub token_key: Option<pki::PrivateKey>,
    /// The Receipt key (AES), to verify receipts.
    pub receipt_key: Option<Vec<u8>>,
}

impl DmOptions {
    /// Reads `--token-key FILE` and takes `--receipt-key HEX`.
    pub fn load(token_key: Option<&Path>, receipt_key: Option<&Hex>) -> Result<DmOptions> {
        let token_key = token_key
            .map(|p| -> Result<pki::PrivateKey> {
                let pem = std::fs::read_to_string(p)
                    .with_context(|| format!("reading --token-key {}", p.display()))?;
                let k = pki::PrivateKey::from_pem(&pem)
                    .map_err(|e| super::GpCliError::Usage(format!("--token-key: {e}")))?;
                if k.curve() != pki::Curve::NistP256 {
                    return Err(
                        super::GpCliError::Usage("--token-key must be a P-256 key".into()).into(),
                    );
                }
                Ok(k)
            })
            .transpose()?;
        Ok(DmOptions {
            token_key,
            receipt_key: receipt_key.map(|h| h.0.clone()),
        })
    }

    /// Signs the INSTALL's token when a token key is given (Annex C.4).
    pub fn sign_install(&self, mut install: Install) -> Result<Install> {
        if let Some(k) = &self.token_key {
            let data = install.token_data(0x00)?;
            install.set_token(k.sign(&data).to_vec());
        }
        Ok(install)
    }

    /// Appends a Delete Token when a token key is given (Annex C.4.6).
    pub fn sign_delete(&self, cmd: &mut Command) -> Result<()> {
        if let Some(k) = &self.token_key {
            let (data, _) = dm::delete_token_data(cmd)?;
            dm::add_delete_token(cmd, &k.sign(&data));
        }
        Ok(())
    }

    /// Reads a response that may carry a receipt: `None` for `'00'`; otherwise the receipt as
    /// JSON, verified over `objects` when a receipt key is given (a mismatch is an error).
    pub fn receipt(&self, op: &str, response: &[u8], objects: &[&[u8]]) -> Result<Option<Value>> {
        let Some(c) = Confirmation::parse(response)? else {
            return Ok(None);
        };
        let verified = match &self.receipt_key {
            Some(k) => {
                c.verify(KeyType::Aes, k, objects)
                    .with_context(|| format!("{op} receipt"))?;
                true
            }
            None => false,
        };
        Ok(Some(json!({
            "operation": op,
            "confirmationCounter": c.data.counter,
            "cardUniqueData": hex::encode_upper(&c.data.card_unique_data),
            "receipt": hex::encode_upper(&c.receipt),
            "verified": verified,
        })))
    }
}
