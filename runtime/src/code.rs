//! Support for `code` nodes: the Rust a flow author wrote, compiled into the program.

use crate::error::{Error, ErrorKind};

/// The error type a fallible `code` block may return: anything that displays.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A `code` block's error, as a node error (`validation`: the block rejected its data).
pub fn error(error: BoxError) -> Error {
    Error::new(ErrorKind::Validation, error.to_string()).with_code("code_error")
}
