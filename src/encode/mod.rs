//! Writers fed by format visitors: JSON (inspect) and RESP commands (convert, load).

pub mod json;
pub mod text;
