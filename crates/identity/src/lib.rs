//! The identity domain: platform-wide users, their credentials, sessions (access and refresh
//! tokens) and the login throttle. Pure: the ports say what it needs from outside.

pub mod api_keys;
pub mod erasure;
pub mod error;
pub mod invitations;
pub mod mfa;
pub mod model;
pub mod ports;
pub mod revocation;
pub mod scim;
pub mod service;
pub mod sso;
#[cfg(feature = "testing")]
pub mod testing;
pub mod view;

pub use api_keys::*;
pub use erasure::{EraseError, Erased, ErasureRepository, ErasureService};
pub use error::*;
pub use invitations::*;
pub use mfa::{MfaStatus, RECOVERY_CODES, SecondFactor};
pub use model::*;
pub use ports::*;
pub use revocation::RevokedSessions;
pub use scim::*;
pub use service::{AuthPolicy, AuthService};
pub use sso::*;
pub use view::{ApiKeyView, InvitationView, ScimTokenView, ScimUserView, SsoProviderView};
