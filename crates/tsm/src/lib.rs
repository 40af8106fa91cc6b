//! The central TSM (trusted service manager): one API through which many service providers
//! (SPs) install, personalize, activate, renew and delete their applets on many secure elements
//! (SEs). The SP names the customer by mobile subscription (MSI) and the service by service
//! identifier and qualifier; the TSM resolves the SE, its operator network (MNO) and the
//! GlobalPlatform commands. Vocabulary after the GlobalPlatform System Messaging Specification
//! for Management of Mobile-NFC Services.
//!
//! * [`model`]: SEs and their security domains and key sets, MNOs, SPs, the service catalogue,
//!   service instances and their state machine, conversations, the audit log, the per-SE queue.
//! * [`api`]: the SP API's JSON messages (requests, responses, the error body).
//! * [`error`]: [`TsmError`], each with its HTTP status and error code.
//! * [`store`]: the [`TsmStore`] trait (implemented by the `store` crate on SQLite and
//!   PostgreSQL).
//! * [`engine`]: the GlobalPlatform side, sans-I/O over an [`apdu::CardTransport`]: secure
//!   channel to a security domain, eligibility check, pre-personalization, activation,
//!   lock/unlock, renewal with compensation, deletion, script relay.
//! * [`service`]: the orchestration behind every API operation: authorization, idempotency,
//!   conversations, delivery or per-SE queueing, audit.

pub mod api;
pub mod engine;
pub mod error;
pub mod model;
pub mod service;
pub mod store;

pub use error::{Result, TsmError};
pub use store::TsmStore;
