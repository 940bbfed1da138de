//! RESP: writing commands straight into a byte buffer, and parsing replies (bounded). The
//! connections they travel on are in the connection layer (`net`), above this one.

pub mod command;
pub mod reply;

pub use reply::Reply;
