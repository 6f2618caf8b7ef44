//! One module per command.

pub mod check;
pub mod fetch;
pub mod list;
pub mod probe;
pub mod send;
