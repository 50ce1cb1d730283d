//! The per-kind message enums of the object API, generated once.
//!
//! Every object API message travels in a typed buffer whose label names the object kind,
//! so a server decodes each message into an enum with one variant per kind it accepts
//! (`ObjectListRequest::Topic`, `ObjectCreateRequest::AuthToken`, ...). Those enums all
//! have the same shape: the kind of a value, encoding under the kind's label, decoding by
//! the label (a label naming a kind the message does not accept is
//! [`DecodeError::UnknownObjectType`](crate::codec::DecodeError::UnknownObjectType)), and a
//! default (the first variant). [`kind_enum!`] writes them from a list of variants, in two
//! forms:
//!
//! * `pub enum ObjectListRequest(ListRequest);`: every object kind carries the same
//!   payload; adds `new(kind, payload)`, `of::<S>(payload)` and `request()`.
//! * `pub enum ObjectCreateRequest: CreateRequest<S: CreatableObject> by wrap_create /
//!   unwrap_create, strategy = "..." { Topic(TopicSpec), ... }`: each kind listed carries
//!   the generic payload for its spec (every object kind when the list is left out and the
//!   line ends in `;`); adds `of::<S>(payload)` and `into_kind::<S>()` through the spec
//!   trait's `wrap_*` and `unwrap_*` functions.
//!
//! With the `arbitrary` feature, each variant's strategy is the function named by
//! `strategy`, so that the enums' generated values stay small (see `metadata::arb`).

/// See the module documentation.
macro_rules! kind_enum {
    // Every kind carries the same payload: a variant for each kind of `ObjectKind::ALL`.
    (
        $(#[$meta:meta])*
        pub enum $name:ident($payload:ty);
    ) => {
        $crate::sc::kind_enum::kind_enum! {
            @same $(#[$meta])* $name($payload)
                { Topic, Partition, Spu, CustomSpu, AuthToken, PartitionState }
        }
    };
    (@same $(#[$meta:meta])* $name:ident($payload:ty) { $($kind:ident),+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
        pub enum $name {
            $($kind($payload),)+
        }

        impl $name {
            /// The message for objects of `kind`.
            pub fn new(kind: $crate::sc::ObjectKind, request: $payload) -> Self {
                match kind {
                    $($crate::sc::ObjectKind::$kind => Self::$kind(request),)+
                }
            }

            /// The message for `S` objects.
            pub fn of<S: $crate::sc::ObjectSpec>(request: $payload) -> Self {
                Self::new(S::KIND, request)
            }

            pub fn kind(&self) -> $crate::sc::ObjectKind {
                match self {
                    $(Self::$kind(_) => $crate::sc::ObjectKind::$kind,)+
                }
            }

            pub fn request(&self) -> &$payload {
                match self {
                    $(Self::$kind(r))|+ => r,
                }
            }
        }

        $crate::sc::kind_enum::kind_enum!(@codec $name { $($kind),+ });
    };

    // Each kind of `ObjectKind::ALL` carries the payload for its spec.
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $payload:ident<S: $bound:ident> by $wrap:ident / $unwrap:ident,
            strategy = $strategy:literal;
    ) => {
        $crate::sc::kind_enum::kind_enum! {
            $(#[$meta])*
            pub enum $name: $payload<S: $bound> by $wrap / $unwrap, strategy = $strategy {
                Topic($crate::sc::TopicSpec),
                Partition($crate::sc::PartitionSpec),
                Spu($crate::sc::SpuSpec),
                CustomSpu($crate::sc::CustomSpuSpec),
                AuthToken($crate::sc::AuthTokenSpec),
                PartitionState($crate::sc::PartitionStateSpec),
            }
        }
    };
    // Each kind listed carries the payload for its spec.
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $payload:ident<S: $bound:ident> by $wrap:ident / $unwrap:ident,
            strategy = $strategy:literal {
            $($kind:ident($spec:ty)),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "arbitrary", derive(proptest_derive::Arbitrary))]
        pub enum $name {
            $(
                $kind(
                    #[cfg_attr(feature = "arbitrary", proptest(strategy = $strategy))]
                    $payload<$spec>,
                ),
            )+
        }

        impl $name {
            /// Wrap a message about `S` objects.
            pub fn of<S: $bound>(payload: $payload<S>) -> Self {
                S::$wrap(payload)
            }

            /// The payload, if the message is about `S` objects; otherwise the message back.
            #[allow(clippy::result_large_err)] // the error is the message handed back
            pub fn into_kind<S: $bound>(self) -> Result<$payload<S>, Self> {
                S::$unwrap(self)
            }

            pub fn kind(&self) -> $crate::sc::ObjectKind {
                match self {
                    $(Self::$kind(_) => $crate::sc::ObjectKind::$kind,)+
                }
            }
        }

        $crate::sc::kind_enum::kind_enum!(@codec $name { $($kind),+ });
    };

    // Default, and the typed buffer: the kind's label, then the payload.
    (@codec $name:ident { $first:ident $(, $kind:ident)* }) => {
        impl Default for $name {
            fn default() -> Self {
                Self::$first(Default::default())
            }
        }

        impl $crate::codec::Encode for $name {
            fn encode(
                &self,
                dst: &mut Vec<u8>,
                version: $crate::codec::Version,
            ) -> Result<(), $crate::codec::EncodeError> {
                let label = self.kind().label();
                match self {
                    Self::$first(p) => $crate::sc::typed::encode_typed(label, p, dst, version),
                    $(Self::$kind(p) => $crate::sc::typed::encode_typed(label, p, dst, version),)*
                }
            }
        }

        impl $crate::codec::Decode for $name {
            fn decode(
                src: &mut $crate::codec::Reader<'_>,
                version: $crate::codec::Version,
            ) -> Result<Self, $crate::codec::DecodeError> {
                $crate::sc::typed::decode_typed(src, version, |label, p| {
                    match $crate::sc::ObjectKind::parse(label)? {
                        $crate::sc::ObjectKind::$first => {
                            Ok(Self::$first($crate::codec::Decode::decode(p, version)?))
                        }
                        $(
                            $crate::sc::ObjectKind::$kind => {
                                Ok(Self::$kind($crate::codec::Decode::decode(p, version)?))
                            }
                        )*
                        // A kind this message does not carry (Create of a Partition).
                        #[allow(unreachable_patterns)]
                        _ => Err($crate::codec::DecodeError::UnknownObjectType(label.to_string())),
                    }
                })
            }
        }
    };
}
pub(crate) use kind_enum;
