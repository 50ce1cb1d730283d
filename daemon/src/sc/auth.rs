//! Auth tokens: how an external SPU proves it may join.
//!
//! A token has a name, a type (which SPUs it admits), an SPU id range and a 16-character
//! `[a-z0-9]` secret. The SC keeps only an argon2id hash of the secret (older stores'
//! salted SHA-256 digests are wrapped in argon2id when loaded). The admission decision is
//! a pure function, tested without I/O; the slow hash is checked before it, off the async
//! runtime, and an unknown token name costs the same hash as a wrong secret.

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

/// The argon2id cost of a stored secret: the OWASP minimum (19 MiB, 2 passes, 1 lane),
/// some tens of milliseconds per SPU join; a stolen metadata store then costs an attacker
/// that much per guess. The cost is stored in each hash, so raising it later keeps
/// existing tokens valid.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;

fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None)
        .expect("argon2 parameters are valid constants");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// argon2id of `secret` with a fresh salt, as a PHC string (`$argon2id$v=19$m=...`).
fn argon2_hash(secret: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 hashes any input with valid parameters")
        .to_string()
}

/// Does `secret` match the PHC string `phc`? A malformed `phc` matches nothing.
fn argon2_verify(phc: &str, secret: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        // The verifier compares in constant time.
        Ok(parsed) => argon2().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// The stored form of a secret. New secrets are stored as argon2id; the other forms are
/// what older versions stored, read so that their tokens keep working, and upgraded by
/// [`SecretHash::upgraded`] when the store loads.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretHash {
    /// argon2id of the secret (PHC string, salt and cost included).
    Argon2 { argon2: String },
    /// A token first stored as salted SHA-256, upgraded without knowing the secret:
    /// argon2id over that SHA-256 digest. Verifying recomputes the digest, then argon2.
    Sha256Argon2 { salt: String, argon2_sha256: String },
    /// Legacy: a random salt and SHA-256(salt || secret), hex-encoded. Fast to guess;
    /// never written any more.
    Sha256 { salt: String, hash: String },
    /// Legacy: the secret itself. Never written any more.
    Plain(String),
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
    /// Hash a new secret (slow on purpose: run it off the async runtime's threads).
    pub fn new(secret: &str) -> Self {
        SecretHash::Argon2 {
            argon2: argon2_hash(secret),
        }
    }

    /// Does `secret` match? Compared in time independent of where they differ.
    pub fn verify(&self, secret: &str) -> bool {
        match self {
            SecretHash::Argon2 { argon2 } => argon2_verify(argon2, secret),
            SecretHash::Sha256Argon2 {
                salt,
                argon2_sha256,
            } => argon2_verify(argon2_sha256, &digest(salt, secret)),
            SecretHash::Sha256 { salt, hash } => {
                constant_time_eq(digest(salt, secret).as_bytes(), hash.as_bytes())
            }
            SecretHash::Plain(plain) => constant_time_eq(plain.as_bytes(), secret.as_bytes()),
        }
    }

    /// A legacy form upgraded to a slow hash (`None`: already slow). Needs no secret:
    /// a plain secret is hashed, a SHA-256 digest is wrapped in argon2id.
    pub fn upgraded(&self) -> Option<SecretHash> {
        match self {
            SecretHash::Argon2 { .. } | SecretHash::Sha256Argon2 { .. } => None,
            SecretHash::Sha256 { salt, hash } => Some(SecretHash::Sha256Argon2 {
                salt: salt.clone(),
                argon2_sha256: argon2_hash(hash),
            }),
            SecretHash::Plain(plain) => Some(SecretHash::new(plain)),
        }
    }

    /// Spend the time a verification of a real token would, for a name that has none,
    /// so that timing does not tell unknown names from wrong secrets.
    pub fn verify_dummy(secret: &str) -> bool {
        static DUMMY: std::sync::OnceLock<SecretHash> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| SecretHash::new(&generate_secret()));
        let _ = dummy.verify(secret);
        false
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
    /// An unknown name and a wrong secret get the same answer: telling them apart would
    /// let a prober learn which token names exist.
    #[error(
        "auth token '{name}' was refused: no token of that name exists, or its secret is wrong"
    )]
    BadToken { name: String },
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

/// The token an SPU presented: its name, whether its secret matched the stored hash
/// (checked beforehand with [`SecretHash::verify`], or [`SecretHash::verify_dummy`] for
/// an unknown name), and the token's spec if it exists.
pub struct PresentedToken<'a> {
    pub name: &'a str,
    pub secret_matches: bool,
    pub stored: Option<&'a AuthTokenSpec>,
}

/// Check a presented token against an SPU id and type.
pub fn check_token(
    id: SpuId,
    spu_type: SpuType,
    token: Option<PresentedToken<'_>>,
) -> Result<(), Rejection> {
    let token = token.ok_or(Rejection::NoToken { id })?;
    let bad = || Rejection::BadToken {
        name: token.name.to_string(),
    };
    let spec = token.stored.ok_or_else(bad)?;
    if !token.secret_matches {
        return Err(bad());
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
        let SecretHash::Argon2 { argon2 } = &a else {
            panic!("new secrets are argon2id: {a:?}");
        };
        assert!(argon2.starts_with("$argon2id$"), "{argon2}");
        assert!(!format!("{a:?}").contains(argon2.as_str()));
        assert!(!SecretHash::verify_dummy("abcdefgh12345678"));
    }

    #[test]
    fn stored_forms_of_older_versions_are_read_and_upgraded() {
        // What the SC stored before argon2: {"salt", "hash"} with SHA-256(salt || secret).
        let salt = "00112233445566778899aabbccddeeff";
        let legacy_json = format!(
            r#"{{"salt":"{salt}","hash":"{}"}}"#,
            digest(salt, "abcdefgh12345678")
        );
        let legacy: SecretHash = serde_json::from_str(&legacy_json).unwrap();
        assert!(matches!(legacy, SecretHash::Sha256 { .. }));
        assert!(legacy.verify("abcdefgh12345678"));
        let upgraded = legacy.upgraded().expect("SHA-256 is upgraded");
        assert!(matches!(upgraded, SecretHash::Sha256Argon2 { .. }));
        assert!(upgraded.verify("abcdefgh12345678"));
        assert!(!upgraded.verify("abcdefgh12345679"));
        assert_eq!(upgraded.upgraded(), None, "already slow");
        // The upgraded form survives a round trip through the store's JSON.
        let again: SecretHash =
            serde_json::from_str(&serde_json::to_string(&upgraded).unwrap()).unwrap();
        assert_eq!(again, upgraded);

        let plain: SecretHash = serde_json::from_str(r#""abcdefgh12345678""#).unwrap();
        assert!(plain.verify("abcdefgh12345678"));
        let upgraded = plain.upgraded().unwrap();
        assert!(matches!(upgraded, SecretHash::Argon2 { .. }));
        assert!(upgraded.verify("abcdefgh12345678"));
        let fresh = SecretHash::new("abcdefgh12345678");
        let again: SecretHash =
            serde_json::from_str(&serde_json::to_string(&fresh).unwrap()).unwrap();
        assert_eq!(again, fresh);
        assert_eq!(fresh.upgraded(), None);
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
        let custom = spec(TokenType::Custom, 5000, 5010);
        let present = |name, secret_matches, stored| {
            Some(PresentedToken {
                name,
                secret_matches,
                stored,
            })
        };

        assert_eq!(
            check_token(5002, SpuType::Custom, present("t", true, Some(&custom))),
            Ok(())
        );
        assert_eq!(
            check_token(5002, SpuType::Custom, None),
            Err(Rejection::NoToken { id: 5002 })
        );
        // An unknown name and a wrong secret are the same refusal, word for word.
        let unknown = check_token(5002, SpuType::Custom, present("t", false, None));
        let wrong = check_token(5002, SpuType::Custom, present("t", false, Some(&custom)));
        assert_eq!(unknown, Err(Rejection::BadToken { name: "t".into() }));
        assert_eq!(unknown, wrong);
        assert!(matches!(
            check_token(6000, SpuType::Custom, present("t", true, Some(&custom))),
            Err(Rejection::OutOfRange {
                min: 5000,
                max: 5010,
                ..
            })
        ));
        assert!(matches!(
            check_token(5002, SpuType::Managed, present("t", true, Some(&custom))),
            Err(Rejection::WrongType { .. })
        ));
        let any = spec(TokenType::Any, 5000, 5000);
        assert_eq!(
            check_token(5000, SpuType::Custom, present("t", true, Some(&any))),
            Ok(())
        );
    }
}
