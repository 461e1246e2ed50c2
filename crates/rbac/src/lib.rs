//! Who may do what inside a tenant: the permission catalogue, tenant-scoped roles and
//! memberships (user × tenant × role). Pure: the ports say what it needs from outside.

pub mod error;
pub mod model;
pub mod permissions;
pub mod ports;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;
pub mod view;

pub use error::*;
pub use model::*;
pub use permissions::{CATALOGUE, Permission, PermissionSet};
pub use ports::*;
pub use service::RbacService;
pub use view::{MembershipView, RoleView};
