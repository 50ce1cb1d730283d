//! How record contents read on screen: timestamps, one-line previews, and the full view
//! (text, pretty JSON, or a hex dump).

use bytes::Bytes;

pub use crate::command::consume::NO_KEY;

/// `2026-05-01 12:00:00.123` (UTC) for milliseconds since the epoch; `-` when unset.
pub fn timestamp(ms: i64) -> String {
    if ms < 0 {
        return "-".to_string();
    }
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Bytes as one line: text with control characters made visible, or, for binary, its
/// size and first bytes in hex.
pub fn preview(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => one_line(text),
        Err(_) => {
            let head: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
            let more = if bytes.len() > 16 { " …" } else { "" };
            format!("<{} bytes binary> {}{more}", bytes.len(), head.join(" "))
        }
    }
}

/// Text on one line: newlines as `↵`, tabs as spaces, other control characters as `·`.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' => ' ',
            c if c.is_control() => '·',
            c => c,
        })
        .collect()
}

/// How a value is shown in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Json,
    Text,
    Binary,
}

impl ValueKind {
    pub fn label(self) -> &'static str {
        match self {
            ValueKind::Json => "JSON",
            ValueKind::Text => "text",
            ValueKind::Binary => "binary",
        }
    }
}

/// The value in full: JSON objects and arrays pretty-printed, other UTF-8 as it is, the
/// rest as a hex dump.
pub fn full_value(bytes: &Bytes) -> (ValueKind, Vec<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let trimmed = text.trim_start();
            if (trimmed.starts_with('{') || trimmed.starts_with('['))
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
                && let Ok(pretty) = serde_json::to_string_pretty(&value)
            {
                return (
                    ValueKind::Json,
                    pretty.lines().map(str::to_string).collect(),
                );
            }
            let lines = text
                .split('\n')
                .map(|line| line.replace('\t', "    ").chars().map(visible).collect())
                .collect();
            (ValueKind::Text, lines)
        }
        Err(_) => (ValueKind::Binary, hex_dump(bytes)),
    }
}

fn visible(c: char) -> char {
    if c.is_control() { '·' } else { c }
}

/// `00000000  48 65 6c 6c 6f 0a 00 ff  ...  |Hello...|`, 16 bytes a line.
pub fn hex_dump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut hex = String::with_capacity(16 * 3 + 1);
            for (j, b) in chunk.iter().enumerate() {
                if j == 8 {
                    hex.push(' ');
                }
                hex.push_str(&format!("{b:02x} "));
            }
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {hex:<49} |{ascii}|", i * 16)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(timestamp(1_767_225_599_999), "2025-12-31 23:59:59.999");
        assert_eq!(timestamp(-1), "-");
    }

    #[test]
    fn previews() {
        assert_eq!(preview(b"a\nb\tc\x07"), "a↵b c·");
        assert_eq!(preview(&[0xff, 0x00]), "<2 bytes binary> ff 00");
        let long = [0xffu8; 20];
        assert!(preview(&long).ends_with(" …"));
    }

    #[test]
    fn full_values() {
        let (kind, lines) = full_value(&Bytes::from_static(br#"{"a":1,"b":[true]}"#));
        assert_eq!(kind, ValueKind::Json);
        assert_eq!(lines[0], "{");
        assert_eq!(lines[1], "  \"a\": 1,");
        let (kind, lines) = full_value(&Bytes::from_static(b"hello\nworld"));
        assert_eq!(kind, ValueKind::Text);
        assert_eq!(lines, vec!["hello", "world"]);
        // Not valid JSON, though it looks like it: text.
        let (kind, _) = full_value(&Bytes::from_static(b"{oops"));
        assert_eq!(kind, ValueKind::Text);
        let (kind, lines) = full_value(&Bytes::from_static(b"Hi\x00\xff"));
        assert_eq!(kind, ValueKind::Binary);
        assert_eq!(lines.len(), 1);
    }

    #[test]
    fn hex_dumps() {
        let bytes: Vec<u8> = (0..20).collect();
        let dump = hex_dump(&bytes);
        assert_eq!(dump.len(), 2);
        assert_eq!(
            dump[0],
            "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
        );
        assert!(dump[1].starts_with("00000010  10 11 12 13 "));
        assert!(dump[1].ends_with("|....|"));
        assert_eq!(hex_dump(b"Hi")[0].len(), dump[0].len() - 14);
    }
}
