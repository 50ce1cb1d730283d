//! Parsers for human-typed values: durations (`7d`), sizes (`1GiB`), token secrets and
//! `HOST:PORT` addresses. Each returns a message that says what was wrong and what is
//! accepted; clap puts it after "invalid value 'X' for '--flag'".

/// A duration in whole seconds: `3600`, `3600s`, `30m`, `1h`, `7d`, `2w`, or a sum such as
/// `1h30m` or `1d 12h`.
pub fn duration_secs(text: &str) -> Result<u64, String> {
    const HELP: &str = "use a number with a unit s, m, h, d or w, e.g. 7d, 1h30m or 3600";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {HELP}"));
    }
    if let Ok(secs) = text.parse::<u64>() {
        return nonzero(secs, HELP);
    }
    let total = sum_of_units(text, HELP, |unit| match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => Some(1),
        "m" | "min" | "mins" | "minute" | "minutes" => Some(60),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(3600),
        "d" | "day" | "days" => Some(86_400),
        "w" | "week" | "weeks" => Some(604_800),
        _ => None,
    })?;
    nonzero(total, HELP)
}

/// `text` as a sum of numbers with units (`1h30m`, `1d 12h`), each unit's size given by
/// `scale` (lowercase unit in, `None` for an unknown unit).
fn sum_of_units(text: &str, help: &str, scale: fn(&str) -> Option<u64>) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!("'{text}' is not a duration; {help}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("'{text}' is too long a duration"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("'{text}' has a number without a unit; {help}"));
        }
        let size = scale(&unit.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown unit '{unit}' in '{text}'; {help}"))?;
        total = number
            .checked_mul(size)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("'{text}' is too long a duration"))?;
    }
    Ok(total)
}

fn nonzero(secs: u64, help: &str) -> Result<u64, String> {
    if secs == 0 {
        Err(format!("a duration of zero keeps nothing; {help}"))
    } else {
        Ok(secs)
    }
}

/// A topic's retention time, which travels as u32 seconds (about 136 years).
pub fn retention_secs(text: &str) -> Result<u32, String> {
    let secs = duration_secs(text)?;
    u32::try_from(secs)
        .map_err(|_| format!("'{text}' is longer than the maximum of {} s", u32::MAX))
}

/// A short wait such as a producer's linger: `150ms`, `2s`, `1m`, a sum such as `1s500ms`,
/// or a plain number of milliseconds (what `--linger` took before units, so old scripts
/// keep their meaning). Zero is allowed: send at once.
pub fn millis_duration(text: &str) -> Result<std::time::Duration, String> {
    const HELP: &str = "use milliseconds or a number with a unit ms, s, m or h, e.g. 150ms or 2s";
    let text = text.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_millis(ms));
    }
    if text.is_empty() {
        return Err(format!("empty duration; {HELP}"));
    }
    let total = sum_of_units(text, HELP, |unit| match unit {
        "ms" | "msec" | "msecs" | "millis" => Some(1),
        "s" | "sec" | "secs" | "second" | "seconds" => Some(1000),
        "m" | "min" | "mins" | "minute" | "minutes" => Some(60_000),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(3_600_000),
        _ => None,
    })?;
    Ok(std::time::Duration::from_millis(total))
}

/// A size in bytes: `1048576`, `512B`, `512KiB`, `10MB`, `1GiB`, `1.5GiB`. Decimal units
/// (KB, MB, GB, TB, or K, M, G, T) are powers of 1000; binary ones (KiB, Ki, ...) of 1024.
pub fn size_bytes(text: &str) -> Result<u64, String> {
    const HELP: &str =
        "use bytes or a number with a unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 1GiB";
    let text = text.trim();
    let number_len = text.len()
        - text
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .len();
    let (number, unit) = text.split_at(number_len);
    if number.is_empty() {
        return Err(format!("'{text}' is not a size; {HELP}"));
    }
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        other => return Err(format!("unknown unit '{other}' in '{text}'; {HELP}")),
    };
    let bytes = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale)),
        Some((whole, fraction)) => {
            if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
                return Err(format!("'{text}' is not a size; {HELP}"));
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole
                    .parse()
                    .map_err(|_| format!("'{text}' is too large"))?
            };
            // Exact decimal arithmetic on the fraction's digits, rounded down to a byte.
            let digits = fraction.len().min(12) as u32;
            let fraction: u64 = if digits == 0 {
                0
            } else {
                fraction[..digits as usize]
                    .parse()
                    .map_err(|_| format!("'{text}' is not a size; {HELP}"))?
            };
            let part = (u128::from(fraction) * u128::from(scale)) / 10u128.pow(digits);
            whole
                .checked_mul(scale)
                .and_then(|w| w.checked_add(part as u64))
        }
    };
    bytes.ok_or_else(|| format!("'{text}' is too large"))
}

/// A segment size, which travels as u32 bytes.
pub fn segment_size(text: &str) -> Result<u32, String> {
    let bytes = size_bytes(text)?;
    if bytes == 0 {
        return Err("a segment size of zero cannot hold a record".to_string());
    }
    u32::try_from(bytes).map_err(|_| {
        format!(
            "'{text}' is more than the largest segment size, 4GiB - 1 byte ({} bytes)",
            u32::MAX
        )
    })
}

/// A partition size limit; zero would delete everything.
pub fn partition_size(text: &str) -> Result<u64, String> {
    match size_bytes(text)? {
        0 => Err("a maximum partition size of zero keeps nothing".to_string()),
        bytes => Ok(bytes),
    }
}

/// The length of an auth token secret.
pub const SECRET_LEN: usize = 16;

/// An auth token secret: exactly 16 characters, each a lowercase letter or a digit.
pub fn secret(text: &str) -> Result<String, String> {
    let len = text.chars().count();
    if len != SECRET_LEN {
        return Err(format!(
            "the secret has {len} characters; it must have exactly {SECRET_LEN} from [a-z0-9] (or use -g to generate one)"
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Err(format!(
            "the secret contains '{bad}'; use only lowercase letters a-z and digits 0-9 (or -g to generate one)"
        ));
    }
    Ok(text.to_string())
}

/// A fresh secret: 16 characters drawn uniformly from [a-z0-9].
pub fn generate_secret() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut secret = String::with_capacity(SECRET_LEN);
    let mut buf = [0u8; 64];
    while secret.len() < SECRET_LEN {
        getrandom::fill(&mut buf)?;
        for byte in buf {
            // 252 = 7 * 36: rejecting the top values keeps every character equally likely.
            if byte < 252 && secret.len() < SECRET_LEN {
                secret.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(secret)
}

/// `HOST:PORT`, split.
/// [`host_port`], keeping the address as typed (a profile stores it so).
pub fn host_port_text(text: &str) -> Result<String, String> {
    host_port(text).map(|_| text.to_string())
}

pub fn host_port(text: &str) -> Result<(String, u16), String> {
    let bad = || format!("'{text}' is not HOST:PORT (e.g. 127.0.0.1:9010 or spu-1.local:9005)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(format!(
            "'{text}' has port 0; name the port the server listens on"
        ));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        use std::time::Duration;
        assert_eq!(millis_duration("150"), Ok(Duration::from_millis(150)));
        assert_eq!(millis_duration("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(millis_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(millis_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(millis_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(millis_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "ms", "5x", "5 parsecs", "-1"] {
            let err = millis_duration(bad).unwrap_err();
            assert!(err.contains("150ms"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("3600"), Ok(3600));
        assert_eq!(duration_secs("3600s"), Ok(3600));
        assert_eq!(duration_secs("30m"), Ok(1800));
        assert_eq!(duration_secs("1h"), Ok(3600));
        assert_eq!(duration_secs("7d"), Ok(604_800));
        assert_eq!(duration_secs("2w"), Ok(1_209_600));
        assert_eq!(duration_secs("1h30m"), Ok(5400));
        assert_eq!(duration_secs("1d 12h"), Ok(129_600));
        assert_eq!(duration_secs("10 minutes"), Ok(600));
        assert_eq!(duration_secs("1H"), Ok(3600));
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        for (input, expect) in [
            ("", "empty duration"),
            ("7x", "unknown unit 'x'"),
            ("h", "is not a duration"),
            ("1h30", "number without a unit"),
            ("0", "zero"),
            ("0d", "zero"),
            ("-5s", "is not a duration"),
            ("99999999999999999999w", "too long"),
        ] {
            let err = duration_secs(input).unwrap_err();
            assert!(err.contains(expect), "{input}: {err}");
        }
        assert!(retention_secs("500000d").unwrap_err().contains("maximum"));
        assert_eq!(retention_secs("7d"), Ok(604_800));
    }

    #[test]
    fn sizes() {
        assert_eq!(size_bytes("512"), Ok(512));
        assert_eq!(size_bytes("512B"), Ok(512));
        assert_eq!(size_bytes("512KiB"), Ok(512 * 1024));
        assert_eq!(size_bytes("10MB"), Ok(10_000_000));
        assert_eq!(size_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(size_bytes("10GiB"), Ok(10 << 30));
        assert_eq!(size_bytes("1gib"), Ok(1 << 30));
        assert_eq!(size_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(size_bytes("1.5KiB"), Ok(1536));
        assert_eq!(size_bytes("0.5k"), Ok(500));
        assert_eq!(size_bytes("2Ti"), Ok(2 << 40));
    }

    #[test]
    fn bad_sizes_say_what_is_accepted() {
        for (input, expect) in [
            ("", "is not a size"),
            ("GiB", "is not a size"),
            ("10XB", "unknown unit 'xb'"),
            ("1.2.3MB", "is not a size"),
            ("99999999999TiB", "too large"),
            ("-1", "is not a size"),
        ] {
            let err = size_bytes(input).unwrap_err();
            assert!(err.contains(expect), "{input}: {err}");
            if expect != "too large" {
                assert!(err.contains("GiB"), "says what is accepted: {err}");
            }
        }
        assert!(
            segment_size("4GiB")
                .unwrap_err()
                .contains("largest segment size")
        );
        assert_eq!(segment_size("1GiB"), Ok(1 << 30));
        assert!(segment_size("0").is_err());
        assert!(partition_size("0").is_err());
        assert_eq!(partition_size("10GiB"), Ok(10 << 30));
    }

    #[test]
    fn secrets() {
        assert_eq!(
            secret("abcdefgh12345678"),
            Ok("abcdefgh12345678".to_string())
        );
        let short = secret("abc").unwrap_err();
        assert!(
            short.contains("has 3 characters") && short.contains("exactly 16"),
            "{short}"
        );
        let upper = secret("ABCDEFGH12345678").unwrap_err();
        assert!(upper.contains("contains 'A'"), "{upper}");
        let symbol = secret("abwqr-?h*&Hafasd").unwrap_err();
        assert!(symbol.contains("contains '-'"), "{symbol}");
        assert!(secret("abcdefgh1234567é").is_err());
    }

    #[test]
    fn generated_secrets_pass_the_rules_and_differ() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(secret(&a), Ok(a.clone()));
        assert_eq!(secret(&b), Ok(b.clone()));
        assert_ne!(a, b);
    }

    #[test]
    fn addresses() {
        assert_eq!(host_port("127.0.0.1:9010"), Ok(("127.0.0.1".into(), 9010)));
        assert_eq!(host_port("spu.local:1"), Ok(("spu.local".into(), 1)));
        assert_eq!(host_port("[::1]:9005"), Ok(("::1".into(), 9005)));
        for bad in ["nohost", ":9000", "h:x", "h:70000", "h:0"] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }
}
