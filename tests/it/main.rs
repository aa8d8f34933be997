//! irtx integration tests: one binary, a module per feature (STYLE.md, Testing).

mod cli;
mod disclosure;
mod federation;
mod gateway;
mod inbound;
mod helpers;
mod invalid;
mod iodef;
mod layering;
mod props;
mod stix;
