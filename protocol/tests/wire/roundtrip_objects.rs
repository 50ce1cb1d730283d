//! Every SC metadata object survives encode then decode at the versions we serve.

use proptest::prelude::*;
use protocol::api::ErrorCode;
use protocol::sc::*;
use protocol::{Decode, Encode};

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T, version: i16) {
    let bytes = value.to_bytes(version).expect("encode");
    let decoded = T::from_bytes(&bytes, version).expect("decode");
    assert_eq!(&decoded, value);
}

proptest! {
    #[test]
    fn topic(spec in any::<TopicSpec>(), status in any::<TopicStatus>()) {
        round_trip(&spec, 19);
        round_trip(&status, 19);
    }

    #[test]
    fn partition(spec in any::<PartitionSpec>(), status in any::<PartitionStatus>()) {
        round_trip(&spec, 19);
        round_trip(&status, 19);
    }

    #[test]
    fn spu(spec in any::<SpuSpec>(), status in any::<SpuStatus>(), custom in any::<CustomSpuSpec>(), key in any::<CustomSpuKey>()) {
        round_trip(&spec, 19);
        round_trip(&status, 19);
        round_trip(&custom, 19);
        round_trip(&key, 19);
    }

    #[test]
    fn auth_token(spec in any::<AuthTokenCreate>(), status in any::<AuthTokenStatus>()) {
        round_trip(&spec, 19);
        round_trip(&status, 19);
    }

    #[test]
    fn error_code(code in any::<ErrorCode>()) {
        round_trip(&code, 0);
    }
}
