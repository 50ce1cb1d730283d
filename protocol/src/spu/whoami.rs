//! WhoAmI (api key 1092, v0): ours, not Fluvio's. Which principal the SPU takes this
//! connection for, and whether an authorization policy is in force, so that a client
//! refused with `PermissionDenied` (whose answers carry no text) can say who was refused.
//! Like VerifyReplica (1090) it sits clear of Fluvio's keys and is not advertised.
//!
//! ```text
//! request   (empty)
//! response  principal string, roles Vec<string>, enforcing bool
//! ```

use crate::wire_struct;

wire_struct! {
    /// No fields: the connection itself is the question.
    pub struct WhoAmIRequest {
    }
}

wire_struct! {
    pub struct WhoAmIResponse {
        /// The principal's name (`local-admin`, `anonymous`, or a certificate's CN).
        pub principal: String,
        /// Its roles (the certificate's organisational units).
        pub roles: Vec<String>,
        /// Whether the SPU enforces an authorization policy (without one, everything is
        /// allowed to everyone).
        pub enforcing: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Decode, Encode, Reader};

    #[test]
    fn round_trips() {
        let response = WhoAmIResponse {
            principal: "reader".into(),
            roles: vec!["ops".into()],
            enforcing: true,
        };
        let bytes = response.to_bytes(0).unwrap();
        let back = WhoAmIResponse::decode(&mut Reader::new(&bytes), 0).unwrap();
        assert_eq!(back, response);
        assert!(WhoAmIRequest {}.to_bytes(0).unwrap().is_empty());
    }
}
