//! The answer to Create and Delete: a plain status, with no typed buffer around it.

use crate::api::ErrorCode;
use crate::wire_struct;

wire_struct! {
    /// The outcome of a create or delete of the object `name`.
    pub struct Status {
        pub name: String,
        pub error_code: ErrorCode,
        /// Shown by the client for codes it has no wording of its own for.
        pub error_message: Option<String>,
    }
}

impl Status {
    pub fn ok(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            error_code: ErrorCode::None,
            error_message: None,
        }
    }

    pub fn error(name: impl Into<String>, error_code: ErrorCode, message: Option<String>) -> Self {
        Self {
            name: name.into(),
            error_code,
            error_message: message,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.error_code.is_ok()
    }
}
