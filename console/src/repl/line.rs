//! What a REPL line says before any command sees it: its words (split like `sh` splits
//! them: single and double quotes, backslashes, `#` comments), whether it is finished or
//! continues on the next line, the words before the cursor for completion, and whether it
//! carries a secret that must stay out of the history file.
//!
//! [`split`] uses `shell-words` for the words a command runs with; [`scan`] is a small
//! scanner with the same rules that also keeps where each word starts, which completion
//! needs. A test checks that the two agree.

use std::ops::Range;

/// The line cannot be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("a quote is not closed; close it, or escape it with a backslash")]
    OpenQuote,
}

/// The words of `line`, quotes removed, comments dropped. Empty for a blank or comment line.
pub fn split(line: &str) -> Result<Vec<String>, LineError> {
    shell_words::split(line).map_err(|_| LineError::OpenQuote)
}

/// Is `text` a whole statement? Not while a quote is open or the text ends in an
/// unescaped backslash: then the statement goes on on the next line.
pub fn is_complete(text: &str) -> bool {
    let scan = scan(text);
    scan.open_quote.is_none() && !scan.trailing_backslash
}

/// One word found by [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with its quotes and escapes resolved.
    pub text: String,
    /// Where the word is in the line, quotes included.
    pub span: Range<usize>,
}

/// What [`scan`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub words: Vec<Word>,
    /// The quote character still open at the end, if any.
    pub open_quote: Option<char>,
    /// The text ends in a backslash that escapes nothing: the line continues.
    pub trailing_backslash: bool,
    /// The text ends inside a comment.
    pub in_comment: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Between,
    Word,
    /// A backslash that starts a word.
    StartBackslash,
    /// A backslash inside a word.
    WordBackslash,
    Single,
    Double,
    DoubleBackslash,
    Comment,
}

/// Split `text` into words with their positions, following the rules `shell-words` uses
/// (those of `sh` without expansions): `#` starts a comment only at the start of a word.
pub fn scan(text: &str) -> Scan {
    let mut scan = Scan::default();
    let mut state = State::Between;
    let mut word = String::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        state = match (state, c) {
            (State::Comment, '\n') => State::Between,
            (State::Comment, _) => State::Comment,
            (State::Between, ' ' | '\t' | '\n') => State::Between,
            (State::Between, c) => {
                start = i;
                match c {
                    '#' => State::Comment,
                    '\'' => State::Single,
                    '"' => State::Double,
                    '\\' => State::StartBackslash,
                    c => {
                        word.push(c);
                        State::Word
                    }
                }
            }
            (State::Word, ' ' | '\t' | '\n') => {
                scan.words.push(Word {
                    text: std::mem::take(&mut word),
                    span: start..i,
                });
                State::Between
            }
            (State::Word, '\'') => State::Single,
            (State::Word, '"') => State::Double,
            (State::Word, '\\') => State::WordBackslash,
            // A backslash before a newline joins the lines.
            (State::StartBackslash, '\n') => State::Between,
            (State::WordBackslash, '\n') => State::Word,
            (State::Word | State::StartBackslash | State::WordBackslash, c) => {
                word.push(c);
                State::Word
            }
            (State::Single, '\'') => State::Word,
            (State::Single, c) => {
                word.push(c);
                State::Single
            }
            (State::Double, '"') => State::Word,
            (State::Double, '\\') => State::DoubleBackslash,
            (State::Double, c) => {
                word.push(c);
                State::Double
            }
            (State::DoubleBackslash, c) => {
                match c {
                    '\n' => {}
                    '$' | '`' | '"' | '\\' => word.push(c),
                    c => {
                        word.push('\\');
                        word.push(c);
                    }
                }
                State::Double
            }
        };
    }
    match state {
        State::Between => {}
        State::Comment => scan.in_comment = true,
        State::Word => scan.words.push(Word {
            text: word,
            span: start..text.len(),
        }),
        State::StartBackslash | State::WordBackslash => {
            scan.trailing_backslash = true;
            scan.words.push(Word {
                text: word,
                span: start..text.len(),
            });
        }
        State::Single | State::Double | State::DoubleBackslash => {
            scan.open_quote = Some(if state == State::Single { '\'' } else { '"' });
            scan.words.push(Word {
                text: word,
                span: start..text.len(),
            });
        }
    }
    scan
}

/// The words before the cursor, for completion: those finished, and the one being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    pub done: Vec<String>,
    /// The word under the cursor so far (quotes resolved); empty after a space.
    pub current: String,
    /// Where the word under the cursor starts: completion replaces from here.
    pub start: usize,
    /// The cursor is in a comment: nothing to complete.
    pub in_comment: bool,
}

/// Split `line` up to `pos` into finished words and the word under the cursor.
pub fn prefix(line: &str, pos: usize) -> Prefix {
    let pos = floor_char_boundary(line, pos);
    let head = &line[..pos];
    let mut scan = scan(head);
    let ends_in_word = scan
        .words
        .last()
        .is_some_and(|w| w.span.end == pos && !scan.in_comment);
    let (current, start) = if ends_in_word {
        let word = scan.words.pop().expect("checked above");
        (word.text, word.span.start)
    } else {
        (String::new(), pos)
    };
    Prefix {
        done: scan.words.into_iter().map(|w| w.text).collect(),
        current,
        start,
        in_comment: scan.in_comment,
    }
}

fn floor_char_boundary(text: &str, pos: usize) -> usize {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

/// Does this line carry a secret (an auth token's, or any `--secret`)? Such lines are
/// never written to the history file. Errs on the side of "yes": any short-flag cluster
/// with an `s` on an `auth-token` line counts.
pub fn carries_secret(line: &str) -> bool {
    let words = split(line).unwrap_or_else(|_| {
        // An unfinished line still gets checked, word by rough word.
        line.split_whitespace().map(str::to_string).collect()
    });
    let long_secret = |w: &str| {
        let name = w.split('=').next().unwrap_or(w);
        name.starts_with("--") && name.contains("secret")
    };
    if words.iter().any(|w| long_secret(w)) {
        return true;
    }
    let on_auth_token = words.iter().any(|w| w == "auth-token");
    on_auth_token
        && words.iter().any(|w| {
            // `-s X`, `-sX`, `-gs X`: a letter may be a flag or part of a value; count it.
            w.len() > 1 && w.starts_with('-') && !w.starts_with("--") && w.contains('s')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap()
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(words("topic list"), ["topic", "list"]);
        assert_eq!(
            words(r#"produce t --key "a b" -f 'my file'"#),
            ["produce", "t", "--key", "a b", "-f", "my file"]
        );
        assert_eq!(words(r"consume a\ b"), ["consume", "a b"]);
        assert_eq!(words(r#"x "say \"hi\"""#), ["x", r#"say "hi""#]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(split("topic create 'x"), Err(LineError::OpenQuote));
    }

    #[test]
    fn comments_start_a_word_and_respect_quotes() {
        assert_eq!(words("# a comment"), Vec::<String>::new());
        assert_eq!(words("# don't split me"), Vec::<String>::new());
        assert_eq!(words("topic list # every one"), ["topic", "list"]);
        assert_eq!(words("topic list #every one"), ["topic", "list"]);
        assert_eq!(words("x 'a # b'"), ["x", "a # b"]);
        assert_eq!(words(r#"x "a # b" # c"#), ["x", "a # b"]);
        assert_eq!(
            words("x a#b"),
            ["x", "a#b"],
            "# inside a word is a character"
        );
        assert_eq!(words(r"x \#b"), ["x", "#b"]);
    }

    #[test]
    fn open_quotes_and_trailing_backslashes_continue_the_statement() {
        assert!(is_complete("topic list"));
        assert!(is_complete(""));
        assert!(is_complete("# it's a comment"));
        assert!(is_complete("x 'a' \"b\""));
        assert!(!is_complete("produce t --key 'a"));
        assert!(!is_complete("produce t --key \"a"));
        assert!(!is_complete("produce t --key \"a\\\""));
        assert!(!is_complete("topic create a \\"));
        assert!(is_complete("topic create a \\\\"));
        // Continued statements split as one.
        let joined = "topic create a \\\n-p 2";
        assert!(is_complete(joined));
        assert_eq!(words(joined), ["topic", "create", "a", "-p", "2"]);
        let joined = "x 'a\nb'";
        assert!(is_complete(joined));
        assert_eq!(words(joined), ["x", "a\nb"]);
    }

    #[test]
    fn the_scanner_agrees_with_shell_words() {
        for text in [
            "topic list",
            "  topic   create  a -p 3  ",
            r#"produce t --key "a b" -f 'my file'"#,
            r"a\ b c\\d",
            r#""x\"y" 'z\' w"#,
            r#"a"b"'c'd"#,
            "x # y 'z",
            "x a#b #c",
            "a \\\nb",
            "a\\\nb",
            "'a\nb' c",
            "\"a\\\nb\"",
            "\"a\\$b\\q\"",
            "",
            "#",
        ] {
            let scanned: Vec<String> = scan(text).words.into_iter().map(|w| w.text).collect();
            assert_eq!(scanned, words(text), "{text:?}");
        }
    }

    #[test]
    fn prefix_is_the_words_before_the_cursor() {
        let p = prefix("topic describe my", 17);
        assert_eq!(p.done, ["topic", "describe"]);
        assert_eq!((p.current.as_str(), p.start), ("my", 15));
        let p = prefix("topic describe ", 15);
        assert_eq!(p.done, ["topic", "describe"]);
        assert_eq!((p.current.as_str(), p.start), ("", 15));
        let p = prefix("consume 'my t", 13);
        assert_eq!(p.done, ["consume"]);
        assert_eq!((p.current.as_str(), p.start), ("my t", 8));
        let p = prefix("topic list # com", 16);
        assert!(p.in_comment);
        // The cursor in the middle: only what is before it counts.
        let p = prefix("topic describe abc", 8);
        assert_eq!(p.done, ["topic"]);
        assert_eq!((p.current.as_str(), p.start), ("de", 6));
        let p = prefix("", 0);
        assert!(p.done.is_empty() && p.current.is_empty());
    }

    #[test]
    fn secrets_are_recognised() {
        for line in [
            "auth-token create -n a -s 0123456789abcdef -m 1 -x 2",
            "auth-token create -n a --secret 0123456789abcdef -m 1 -x 2",
            "auth-token create -n a --secret=0123456789abcdef -m 1 -x 2",
            "auth-token create -n a -s0123456789abcdef -m 1 -x 2",
            "--sc h:1 auth-token create -n a -s 0123456789abcdef",
            "auth-token create -n a -s '0123456789abcdef",
            "spu register --id 7 --token-secret abc",
        ] {
            assert!(carries_secret(line), "{line}");
        }
        for line in [
            "auth-token create -n a -g -m 1 -x 2",
            "auth-token list",
            "auth-token delete -n sekrit",
            "topic create s -p 2",
            "consume -s t",
            "topic list",
        ] {
            assert!(!carries_secret(line), "{line}");
        }
    }
}
