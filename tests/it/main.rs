//! irtx integration tests: one binary, a module per feature (STYLE.md, Testing).

mod api;
mod backup;
mod browser;
mod cli;
mod compat;
mod disclosure;
mod faults;
mod federation;
mod gateway;
mod hardening;
mod helpers;
mod import;
mod inbound;
mod interop;
mod invalid;
mod iodef;
mod layering;
mod ledger;
mod mtls;
mod preview;
mod props;
mod rotation;
mod stix;
mod store_faults;
mod taxii;
mod taxii_client;
