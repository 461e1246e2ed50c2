//! The `tenantry` service: configuration, the composition root, and the operator commands.
//! No business rules live here.

mod archives;
pub mod cli;
pub mod commands;
pub mod wiring;
