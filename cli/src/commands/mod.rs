//! One module per command.

pub mod check;
pub mod list;
pub mod send;
