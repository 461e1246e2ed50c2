//! The tenancy domain: tenants, their domains, their lifecycle, their branding, and how a
//! request's host or header names a tenant. Pure: the ports say what it needs from outside.

pub mod domain_service;
pub mod domains;
pub mod error;
pub mod model;
pub mod ports;
pub mod resolution;
pub mod security;
pub mod service;
pub mod smtp;
#[cfg(feature = "testing")]
pub mod testing;
pub mod view;

pub use domain_service::{DomainConfig, DomainService, TokenSource};
pub use domains::*;
pub use error::*;
pub use model::*;
pub use ports::*;
pub use resolution::{HostClass, TenantRef, classify_host};
pub use security::*;
pub use service::{SettingsService, TenantService};
pub use smtp::*;
pub use view::{BrandingView, DomainView, SmtpSettingsView, TenantSettingsView};
