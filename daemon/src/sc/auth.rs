//! Auth tokens: how an external SPU proves it may join.
//!
//! A token has a name, a type (which SPUs it admits), an SPU id range and a 16-character
//! `[a-z0-9]` secret. The SC keeps only a salted SHA-256 of the secret and compares in
//! constant time. The admission decision is a pure function, tested without I/O.

use std::fmt;

use protocol::sc::{AuthTokenSpec, SpuId, SpuType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const SECRET_LEN: usize = 16;
const SALT_LEN: usize = 16;

/// Is `secret` a valid token secret (16 characters from `[a-z0-9]`)?
pub fn is_valid_secret(secret: &str) -> bool {
    secret.len() == SECRET_LEN
        && secret
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A fresh random secret, for operators who do not bring their own.
pub fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut raw = [0u8; SECRET_LEN];
    fill_random(&mut raw);
    // 256 is not a multiple of 36; the bias this leaves is irrelevant next to 82 bits.
    raw.iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn fill_random(buf: &mut [u8]) {
    // The OS generator only fails on broken systems; there is no safe fallback.
    getrandom::fill(buf).expect("the operating system's random generator is unavailable");
}

/// The stored form of a secret: a random salt and SHA-256(salt || secret), hex-encoded.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHash {
    salt: String,
    hash: String,
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(salt: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(secret.as_bytes());
    hex(&hasher.finalize())
}

impl SecretHash {
    pub fn new(secret: &str) -> Self {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt);
        let salt = hex(&salt);
        let hash = digest(&salt, secret);
        Self { salt, hash }
    }

    /// Does `secret` match, compared in time independent of where they differ?
    pub fn verify(&self, secret: &str) -> bool {
        constant_time_eq(digest(&self.salt, secret).as_bytes(), self.hash.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Why an SPU was refused. The text goes back to the SPU and into both logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("SPU {id} is not registered; register it as a custom SPU first")]
    NotRegistered { id: SpuId },
    #[error("SPU {id} is already online")]
    AlreadyOnline { id: SpuId },
    #[error(
        "SPU {id} presented no auth token, and the SC requires one: start the SPU with \
         --token-name NAME --token-secret-file FILE (a token made with `fluvio auth-token \
         create` whose SPU range holds {id}), or start the SC with --allow-unauthenticated-spus"
    )]
    NoToken { id: SpuId },
    #[error("auth token '{name}' does not exist")]
    UnknownToken { name: String },
    #[error("wrong secret for auth token '{name}'")]
    WrongSecret { name: String },
    #[error("SPU id {id} is outside the range {min}..={max} of auth token '{name}'")]
    OutOfRange {
        id: SpuId,
        name: String,
        min: SpuId,
        max: SpuId,
    },
    #[error("auth token '{name}' is for {token_type} SPUs, not {spu_type} ones")]
    WrongType {
        name: String,
        token_type: &'static str,
        spu_type: &'static str,
    },
}

/// The token an SPU presented, as found in the store (if it exists).
pub struct PresentedToken<'a> {
    pub name: &'a str,
    pub secret: &'a str,
    pub stored: Option<(&'a AuthTokenSpec, &'a SecretHash)>,
}

/// Check a presented token against an SPU id and type.
pub fn check_token(
    id: SpuId,
    spu_type: SpuType,
    token: Option<PresentedToken<'_>>,
) -> Result<(), Rejection> {
    let token = token.ok_or(Rejection::NoToken { id })?;
    let (spec, hash) = token.stored.ok_or_else(|| Rejection::UnknownToken {
        name: token.name.to_string(),
    })?;
    if !hash.verify(token.secret) {
        return Err(Rejection::WrongSecret {
            name: token.name.to_string(),
        });
    }
    if id < spec.min_spu || id > spec.max_spu {
        return Err(Rejection::OutOfRange {
            id,
            name: token.name.to_string(),
            min: spec.min_spu,
            max: spec.max_spu,
        });
    }
    if !spec.token_type.admits(spu_type) {
        return Err(Rejection::WrongType {
            name: token.name.to_string(),
            token_type: spec.token_type.label(),
            spu_type: spu_type.label(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::TokenType;

    fn spec(token_type: TokenType, min: SpuId, max: SpuId) -> AuthTokenSpec {
        AuthTokenSpec {
            token_type,
            min_spu: min,
            max_spu: max,
        }
    }

    #[test]
    fn secrets_are_salted_and_verified() {
        let a = SecretHash::new("abcdefgh12345678");
        let b = SecretHash::new("abcdefgh12345678");
        assert_ne!(a, b, "two hashes of one secret differ by salt");
        assert!(a.verify("abcdefgh12345678"));
        assert!(!a.verify("abcdefgh12345679"));
        assert!(!a.verify(""));
        assert!(!format!("{a:?}").contains(&a.hash));
    }

    #[test]
    fn generated_secrets_are_valid() {
        let s = generate_secret();
        assert!(is_valid_secret(&s), "{s}");
        assert_ne!(s, generate_secret());
        assert!(!is_valid_secret("abwqr-?h*&Hafasd"));
        assert!(!is_valid_secret("short"));
        assert!(!is_valid_secret("ABCDEFGH12345678"));
    }

    #[test]
    fn token_checks() {
        let hash = SecretHash::new("abcdefgh12345678");
        let custom = spec(TokenType::Custom, 5000, 5010);
        let present = |name, secret, stored| {
            Some(PresentedToken {
                name,
                secret,
                stored,
            })
        };

        assert_eq!(
            check_token(
                5002,
                SpuType::Custom,
                present("t", "abcdefgh12345678", Some((&custom, &hash)))
            ),
            Ok(())
        );
        assert_eq!(
            check_token(5002, SpuType::Custom, None),
            Err(Rejection::NoToken { id: 5002 })
        );
        assert!(matches!(
            check_token(
                5002,
                SpuType::Custom,
                present("t", "abcdefgh12345678", None)
            ),
            Err(Rejection::UnknownToken { .. })
        ));
        assert!(matches!(
            check_token(
                5002,
                SpuType::Custom,
                present("t", "wrongsecret00000", Some((&custom, &hash)))
            ),
            Err(Rejection::WrongSecret { .. })
        ));
        assert!(matches!(
            check_token(
                6000,
                SpuType::Custom,
                present("t", "abcdefgh12345678", Some((&custom, &hash)))
            ),
            Err(Rejection::OutOfRange {
                min: 5000,
                max: 5010,
                ..
            })
        ));
        assert!(matches!(
            check_token(
                5002,
                SpuType::Managed,
                present("t", "abcdefgh12345678", Some((&custom, &hash)))
            ),
            Err(Rejection::WrongType { .. })
        ));
        let any = spec(TokenType::Any, 5000, 5000);
        assert_eq!(
            check_token(
                5000,
                SpuType::Custom,
                present("t", "abcdefgh12345678", Some((&any, &hash)))
            ),
            Ok(())
        );
    }
}
