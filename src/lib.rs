//! irtx: a federated exchange gateway between incident response teams.
//!
//! One gateway runs per team. It takes the team's ISO/IEC 27035 reports, converts them to
//! STIX 2.1 bundles and IODEF v2 documents, marks them with TLP 2.0, decides per recipient
//! what may leave, signs and pushes it to peer gateways, and imports what peers send.
//!
//! Layers (an arrow means "may use"): `cli -> {config, core}`; the core (`report`, `convert`,
//! `tlp`, `team`, `schema`) is pure: no I/O, no clock, no randomness; time, ids and keys are
//! arguments. A test in `tests/` keeps it so.

pub mod anonymize;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod convert;
pub mod disclosure;
pub mod envelope;
pub mod exchange;
pub mod federation;
pub mod intake;
pub mod keys;
pub mod ledger;
pub mod peer;
pub mod report;
pub mod schema;
pub mod store;
pub mod taxii;
pub mod team;
pub mod telemetry;
pub mod timestamp;
pub mod tlp;

/// The UUIDv5 namespace of every id irtx derives (reports without an id, STIX object ids,
/// IODEF indicator ids). Fixed forever: changing it would change every exchange id.
pub const IRTX_NAMESPACE: uuid::Uuid = uuid::uuid!("6f1c2a4e-93d5-4b7e-a0c8-5d2e7f9b1c34");
