//! Projects and their tasks: the seeds' work-management resource, and the second example of
//! a tenant-owned resource (a parent and children, a reference to a member).

pub mod error;
pub mod model;
pub mod ports;
pub mod service;
pub mod view;

pub use error::*;
pub use model::*;
pub use ports::*;
pub use service::ProjectService;
pub use view::{ProjectView, TaskView};
