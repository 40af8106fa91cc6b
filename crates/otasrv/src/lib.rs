//! The OTA server service (ETSI TS 102 225 / 3GPP TS 31.115 over SMPP v3.4).
//!
//! * [`model`]: cards and their SCP80 key sets ([`KeySet`]), the item catalogue
//!   ([`CatalogueItem`], classified by target into first-type items — terminal data under the
//!   card's OTA keys: RFM `B0xxxx`, RAM of the ISD `000000` — and second-type items — a
//!   service provider's data for an SSD, already protected under the SSD's keys, carried
//!   inside the outer SCP80 packet), campaigns and the per-card job states, the retry policy.
//! * [`store`]: the [`OtaStore`] trait (implemented by the `store` crate on SQLite and
//!   PostgreSQL). Counters are allocated in the database atomically, so a counter value is
//!   never used twice, whatever the concurrency.
//! * [`engine`]: the pure parts of sending (secure an item for one card, frame it as
//!   submit_sm PDUs, match a PoR from a deliver_sm).
//! * [`sim`]: a fleet of simulated cards behind the SMSC simulator (tests, demo, benchmark).
//! * [`service`]: the tokio runner: drives an [`smpp::EsmeSession`] over TCP, claims due
//!   jobs, persists every step, matches PoRs; and serves interactive single-card exchanges
//!   ([`service::OtaService::exchange`]: one command packet, answered by its PoR).
//!
//! ## Delivery guarantee (what a restart may and may not do)
//!
//! Each attempt at a card is a *submission*: one fresh counter value (allocated atomically in
//! the database) and one [`smpp::MessageRef`] per segment derived from the submission id. The
//! submission row (job, card, TAR, counter, state `submitting`) is committed **before** the
//! submit_sm is handed to the SMPP session. Consequently:
//!
//! 1. A command packet — identified by (card address, TAR, counter) — is handed to the SMSC
//!    link at most once, ever: a submission is never re-submitted, neither after a rebind
//!    (the service does not replay unanswered submits itself; the session's own resend after a
//!    lost connection is of the same PDU and may reach the SMSC twice only if the SMSC
//!    accepted the first without its response arriving, see [`smpp::esme`]) nor after a
//!    restart: a `submitting` row found on restart is *in doubt* and is only ever resolved by
//!    its PoR (matched by card address, TAR and counter) or by its deadline.
//! 2. A job whose submission got no PoR by the deadline (PoR timeout after acceptance, or the
//!    submit timeout for an in-doubt submission) is retried with back-off as a *new* packet with
//!    a *new* counter, up to the retry budget, then `expired`. So the card may receive the
//!    same command twice only when a PoR was lost or late beyond the deadline — the normal OTA
//!    at-least-once contract — never the same packet twice.
//! 3. A PoR is persisted before its deliver_sm_resp is written: a crash in between makes the
//!    SMSC deliver it again (matching is idempotent), so no PoR is lost.
//! 4. An interactive exchange ([`service::OtaService::exchange`]) keeps guarantee 1: its
//!    counter value is allocated and committed ([`OtaStore::allocate_counter`]) before its
//!    packet is handed to the SMPP session, under client references of their own (top bit
//!    set, see [`engine::origin_ref`]) that never meet a submission's, and the service never
//!    sends it again — not on a timeout, a refusal or a restart. Exchanges are not persisted:
//!    their outcome goes to the waiting caller only, so a PoR arriving after the caller's
//!    timeout ([`Error::NoPor`]: the packet may still have been executed) or after a restart
//!    is lost to the caller (it is offered to [`OtaStore::record_pors`], where it matches no
//!    submission). A caller that retries sends a *new* packet with a *new* counter, as in 2.

pub mod engine;
pub mod error;
pub mod model;
pub mod service;
pub mod sim;
pub mod store;

pub use error::{Error, Result};
pub use model::{
    classify_tar, CampaignStatus, CardImport, CatalogueItem, ItemClass, JobState, KeySet,
    RetryPolicy,
};
pub use store::{Claimed, OtaStore, PorMatch, PorReport, SubmissionRecord};
