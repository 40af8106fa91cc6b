//! A complete RSP test bed on one machine: a minted (or given) RSP PKI, an SM-DP+ ES9+ service
//! over a real store with profiles from a TS.48 package, ES2+ orders, virtual eUICCs, and an
//! in-process ES9+ link for the LPA. The end-to-end tests, `simkit demo` and `simkit bench` all
//! build on it, so each exercises the same composition a deployment uses.

use std::sync::Arc;

use card::{Card, CardIdentity, CardState};
use lpa::{Es9Transport, LpaError};
use pki::mint::{CertifiedKey, TestPki, TestPkiConfig};
use pki::Curve;
use rand_core::UnwrapErr;
use smdp::es9p::{DpCredentials, Es9Config, Es9Service};
use smdp::inventory::ProfileTemplate;
use smdp::order::{ConfirmOrderInput, DownloadOrderInput, OrderPolicy, RequestedMatchingId};
use smdp::{Iccid, MatchingId, SmdpStore, SoftwareKeyStore, UnixMillis};
use store::Database;

/// The operator every test-bed order is placed for (ES2+ functionRequesterIdentifier).
pub const OPERATOR: &str = "simkit-operator";
/// hostId of the BSP control reference template.
pub const HOST_ID: &[u8] = b"SIMKIT";

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("PKI: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("SM-DP+: {0}")]
    Smdp(#[from] smdp::Error),
    #[error("{0}")]
    Setup(String),
}

pub type Result<T> = std::result::Result<T, TestbedError>;

/// The operating system's CSPRNG in the form the sans-I/O crates take.
pub fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// Wall-clock time for the SM-DP+.
pub fn now() -> UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    UnixMillis(ms)
}

/// A freshly minted RSP PKI for `curve`, valid from an hour ago, SM-DP+ TLS name `host`.
pub fn mint_pki(curve: Curve, host: &str) -> Result<TestPki> {
    let mut cfg = TestPkiConfig::new(curve, (now().0 / 1000) as u64 - 3600);
    cfg.dp_tls_host = host.to_string();
    Ok(TestPki::generate(&cfg, &mut os_rng())?)
}

/// Mints one more eUICC (certificate for `eid`, under the PKI's EUM).
pub fn mint_euicc(pki: &TestPki, eid: &str) -> Result<CertifiedKey> {
    let serial = eid.as_bytes()[eid.len() - 8..].to_vec();
    let not_before = (now().0 / 1000) as u64 - 3600;
    Ok(pki::mint::mint_euicc(
        &pki.eum,
        eid,
        &serial,
        not_before,
        pki::mint::NO_EXPIRY,
        &mut os_rng(),
    )?)
}

/// A virtual eUICC with the given certificate and key, trusting the PKI's CI, empty.
pub fn new_card(pki: &TestPki, euicc: &CertifiedKey) -> Result<Card> {
    let identity = CardIdentity::new(
        euicc.cert.der(),
        pki.eum.cert.der(),
        euicc.key.clone(),
        &[pki.ci.cert.der()],
    )
    .map_err(|e| TestbedError::Setup(format!("card identity: {e}")))?;
    Ok(Card::new(
        identity,
        CardState::default(),
        Box::new(os_rng()),
    ))
}

/// An SM-DP+ (ES9+ service over `db`) holding the PKI's DPauth/DPpb credentials.
pub struct Testbed {
    pub pki: TestPki,
    pub service: Arc<Es9Service<Database, SoftwareKeyStore>>,
    pub address: String,
    /// The seal master key, for [`Testbed::replica`].
    master_key: zeroize::Zeroizing<[u8; 32]>,
}

impl Testbed {
    /// `address` is the SM-DP+ address of activation codes (host\[:port\]).
    pub fn new(db: Database, pki: TestPki, address: &str, policy: OrderPolicy) -> Result<Self> {
        let master = SoftwareKeyStore::generate_master_key(&mut os_rng());
        let keystore = SoftwareKeyStore::new(master.as_ref())
            .map_err(|e| TestbedError::Setup(e.to_string()))?;
        let config = Es9Config {
            address: address.to_string(),
            credentials: vec![DpCredentials {
                dp_auth: pki.dp_auth.clone(),
                dp_pb: pki.dp_pb.clone(),
            }],
            trusted_cis: vec![pki.ci.cert.clone()],
            policy,
            host_id: HOST_ID.to_vec(),
        };
        let service = Es9Service::new(config, db, keystore).map_err(TestbedError::Setup)?;
        Ok(Testbed {
            pki,
            service: Arc::new(service),
            address: address.to_string(),
            master_key: master,
        })
    }

    /// A second SM-DP+ instance on the same database, configuration and seal key, as another
    /// process behind the same load balancer would be; it shares no memory with the first.
    pub fn replica(&self) -> Result<InProcessEs9> {
        let keystore = SoftwareKeyStore::new(self.master_key.as_ref())
            .map_err(|e| TestbedError::Setup(e.to_string()))?;
        let service = Es9Service::new(
            self.service.config().clone(),
            self.store().clone(),
            keystore,
        )
        .map_err(TestbedError::Setup)?;
        Ok(InProcessEs9 {
            service: Arc::new(service),
        })
    }

    pub fn store(&self) -> &Database {
        self.service.store()
    }

    /// Personalizes `package` for each (ICCID, IMSI) with fresh K/OPc and adds the profiles to
    /// the inventory as Available.
    pub async fn import_profiles(
        &self,
        package: &[u8],
        profiles: &[(String, String)],
        profile_type: &str,
    ) -> Result<()> {
        let metadata = serde_json::json!({
            "serviceProviderName": "simkit",
            "profileName": format!("simkit test {profile_type}"),
            "profileClass": "operational",
        });
        let template = ProfileTemplate::new(package, Some(profile_type.to_string()), metadata)
            .map_err(|e| TestbedError::Setup(e.to_string()))?;
        let mut batch = Vec::with_capacity(profiles.len());
        for (iccid, imsi) in profiles {
            let prepared = template
                .prepare(iccid, imsi, self.service.keystore(), &mut os_rng())
                .map_err(|e| TestbedError::Setup(e.to_string()))?;
            batch.push(prepared.profile);
        }
        self.store().insert_profiles(batch, now()).await?;
        Ok(())
    }

    /// ES2+ DownloadOrder + ConfirmOrder (released) for `iccid`; returns the matchingId.
    pub async fn order(
        &self,
        iccid: &str,
        eid: Option<&str>,
        confirmation_code: Option<&str>,
    ) -> Result<MatchingId> {
        let iccid = Iccid::parse(iccid).map_err(|e| TestbedError::Setup(e.to_string()))?;
        let eid = eid
            .map(smdp::Eid::parse)
            .transpose()
            .map_err(|e| TestbedError::Setup(e.to_string()))?;
        let policy = self.service.config().policy;
        self.store()
            .download_order(
                DownloadOrderInput {
                    requester: OPERATOR.into(),
                    eid: eid.clone(),
                    iccid: Some(iccid.clone()),
                    profile_type: None,
                },
                now(),
                policy,
            )
            .await?;
        let outcome = self
            .store()
            .confirm_order(
                ConfirmOrderInput {
                    requester: OPERATOR.into(),
                    iccid,
                    eid,
                    matching_id: RequestedMatchingId::Generated(
                        MatchingId::generate(&mut os_rng()),
                    ),
                    cc_hash: confirmation_code.map(smdp::order::hash_confirmation_code),
                    smds_address: None,
                    release: true,
                },
                now(),
            )
            .await?;
        outcome
            .matching_id
            .ok_or_else(|| TestbedError::Setup("no matchingId".into()))
    }

    /// The activation code for `matching_id` (SGP.22 §4.1), with the CC-required flag if asked.
    pub fn activation_code(&self, matching_id: &MatchingId, cc_required: bool) -> String {
        let flag = if cc_required { "$$1" } else { "" };
        format!("LPA:1${}${}{}", self.address, matching_id.as_str(), flag)
    }

    /// An ES9+ link to this SM-DP+ that calls it in-process (no HTTP).
    pub fn in_process(&self) -> InProcessEs9 {
        InProcessEs9 {
            service: self.service.clone(),
        }
    }
}

/// [`Es9Transport`] straight into an [`Es9Service`], with the same JSON bodies as over HTTP.
#[derive(Clone)]
pub struct InProcessEs9 {
    service: Arc<Es9Service<Database, SoftwareKeyStore>>,
}

impl Es9Transport for InProcessEs9 {
    async fn post(
        &self,
        smdp_address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> std::result::Result<(u16, Vec<u8>), LpaError> {
        if !smdp_address.eq_ignore_ascii_case(&self.service.config().address) {
            return Err(LpaError::Transport(format!("no SM-DP+ at {smdp_address}")));
        }
        let reply = self
            .service
            .dispatch(path, &body, now(), &mut os_rng())
            .await;
        Ok((reply.status, reply.body))
    }
}
