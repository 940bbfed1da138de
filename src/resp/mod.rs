//! RESP: writing commands straight into a byte buffer, and parsing replies.

pub mod client;
pub mod command;
pub mod reply;

pub use reply::Reply;
