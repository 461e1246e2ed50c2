//! The `tenantry` service: configuration, the composition root, and the operator commands.
//! No business rules live here.

pub mod cli;
pub mod commands;
pub mod wiring;
