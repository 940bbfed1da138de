//! Writers fed by format visitors: JSON for `inspect` ([`json`]), and the small text
//! encoders they share ([`text`]: JSON strings, base64, doubles). RESP commands are written
//! by [`crate::resp::command`] and by the converter (`convert`), above this layer.

pub mod json;
pub mod text;
