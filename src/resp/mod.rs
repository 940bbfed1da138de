//! RESP: writing commands straight into a byte buffer, parsing replies, and the connection
//! they travel on (TCP or TLS).

pub mod client;
pub mod command;
pub mod reply;
pub mod transport;

pub use reply::Reply;
