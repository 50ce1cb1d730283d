//! Every key binding of the console, one table per mode. The same tables drive dispatch
//! ([`lookup`]), the footer ([`footer`]) and the `?` overlay ([`help`]), so what the
//! screen says is what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The tabs, in order; `1`..`6` select them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Spus,
    Topics,
    Partitions,
    Tokens,
    Metadata,
    Tail,
    Consumers,
    Metrics,
    Groups,
}

impl View {
    pub const ALL: [View; 9] = [
        View::Spus,
        View::Topics,
        View::Partitions,
        View::Tokens,
        View::Metadata,
        View::Tail,
        View::Consumers,
        View::Metrics,
        View::Groups,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Spus => "SPUs",
            View::Topics => "Topics",
            View::Partitions => "Partitions",
            View::Tokens => "Auth tokens",
            View::Metadata => "Metadata",
            View::Tail => "Tail",
            View::Consumers => "Consumers",
            View::Metrics => "Metrics",
            View::Groups => "Groups",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    pub fn next(self) -> View {
        View::ALL[(self.index() + 1) % View::ALL.len()]
    }

    pub fn prev(self) -> View {
        View::ALL[(self.index() + View::ALL.len() - 1) % View::ALL.len()]
    }
}

/// Where keys go: a view, or whatever is on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    View(View),
    Help,
    Record,
    Output,
    Confirm,
    CommandBar,
    FilterInput,
    TailSetup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    CommandBar,
    NextView,
    PrevView,
    Show(View),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: tail the selected topic or partition, open the selected record.
    Open,
    Delete,
    Pause,
    Filter,
    Context,
    Wrap,
    Timestamps,
    NewTail,
    StopTail,
    ClearTail,
    ToggleHex,
    Close,
    Confirm,
    Submit,
    HistoryPrev,
    HistoryNext,
    NextField,
    PrevField,
    ChoicePrev,
    ChoiceNext,
    DeleteChar,
    /// Esc in a view: clear the message line.
    Dismiss,
    /// Tab in the command bar: complete the word under the cursor.
    Complete,
}

/// One key: a code and the modifiers that must be held (Shift is ignored for characters,
/// which already say whether they are upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    pub const fn char(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    pub fn matches(&self, event: &KeyEvent) -> bool {
        let held = event.modifiers - KeyModifiers::SHIFT;
        let wanted = self.modifiers - KeyModifiers::SHIFT;
        match (self.code, event.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b && held == wanted,
            (a, b) => a == b && held == wanted,
        }
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Backspace => "Bksp".into(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

#[derive(Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    /// What the key does, for the help overlay.
    pub help: &'static str,
    /// A short label for the footer; bindings without one only show in the help.
    pub hint: Option<&'static str>,
    /// Changes the cluster: absent in `--read-only`.
    pub mutating: bool,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(Key::label)
            .collect::<Vec<_>>()
            .join("/")
    }
}

const fn bind(
    keys: &'static [Key],
    action: Action,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        action,
        help,
        hint,
        mutating: false,
    }
}

const fn mutating(mut binding: Binding) -> Binding {
    binding.mutating = true;
    binding
}

use Action as A;

const UP: &[Key] = &[Key::plain(KeyCode::Up), Key::char('k')];
const DOWN: &[Key] = &[Key::plain(KeyCode::Down), Key::char('j')];
const PAGE_UP: &[Key] = &[Key::plain(KeyCode::PageUp), Key::ctrl('b')];
const PAGE_DOWN: &[Key] = &[Key::plain(KeyCode::PageDown), Key::ctrl('f')];
const TOP: &[Key] = &[Key::plain(KeyCode::Home), Key::char('g')];
const BOTTOM: &[Key] = &[Key::plain(KeyCode::End), Key::char('G')];
const ESC: &[Key] = &[Key::plain(KeyCode::Esc)];
const ENTER: &[Key] = &[Key::plain(KeyCode::Enter)];

/// Keys that work in every view.
pub const GLOBAL: &[Binding] = &[
    bind(
        &[Key::char('q'), Key::ctrl('c')],
        A::Quit,
        "quit",
        Some("quit"),
    ),
    bind(&[Key::char('?')], A::Help, "show this help", Some("help")),
    bind(
        &[Key::char(':')],
        A::CommandBar,
        "run a command (any `fluvio` command, `tail TOPIC`, `quit`)",
        Some("command"),
    ),
    bind(&[Key::plain(KeyCode::Tab)], A::NextView, "next view", None),
    bind(
        &[Key::plain(KeyCode::BackTab)],
        A::PrevView,
        "previous view",
        None,
    ),
    bind(&[Key::char('1')], A::Show(View::Spus), "SPUs", None),
    bind(&[Key::char('2')], A::Show(View::Topics), "topics", None),
    bind(
        &[Key::char('3')],
        A::Show(View::Partitions),
        "partitions",
        None,
    ),
    bind(
        &[Key::char('4')],
        A::Show(View::Tokens),
        "auth tokens",
        None,
    ),
    bind(
        &[Key::char('5')],
        A::Show(View::Metadata),
        "metadata dump",
        None,
    ),
    bind(&[Key::char('6')], A::Show(View::Tail), "live tail", None),
    bind(
        &[Key::char('7')],
        A::Show(View::Consumers),
        "consumers: committed offsets and lag",
        None,
    ),
    bind(
        &[Key::char('8')],
        A::Show(View::Metrics),
        "metrics: throughput and produce latency per topic",
        None,
    ),
    bind(
        &[Key::char('9')],
        A::Show(View::Groups),
        "consumer groups: Kafka groups, state, members (:consumer-group describe G)",
        None,
    ),
    bind(ESC, A::Dismiss, "clear the message line", None),
];

const LIST_MOVES: [Binding; 6] = [
    bind(UP, A::Up, "select the row above", None),
    bind(DOWN, A::Down, "select the row below", None),
    bind(PAGE_UP, A::PageUp, "page up", None),
    bind(PAGE_DOWN, A::PageDown, "page down", None),
    bind(TOP, A::Top, "first row", None),
    bind(BOTTOM, A::Bottom, "last row", None),
];

const SPUS: &[Binding] = &LIST_MOVES;

const TOPICS: &[Binding] = &[
    bind(ENTER, A::Open, "tail the selected topic", Some("tail")),
    mutating(bind(
        &[Key::char('d')],
        A::Delete,
        "delete the selected topic (asks first)",
        Some("delete"),
    )),
    LIST_MOVES[0],
    LIST_MOVES[1],
    LIST_MOVES[2],
    LIST_MOVES[3],
    LIST_MOVES[4],
    LIST_MOVES[5],
];

const PARTITIONS: &[Binding] = &[
    bind(ENTER, A::Open, "tail the selected partition", Some("tail")),
    LIST_MOVES[0],
    LIST_MOVES[1],
    LIST_MOVES[2],
    LIST_MOVES[3],
    LIST_MOVES[4],
    LIST_MOVES[5],
];

const TOKENS: &[Binding] = &[
    mutating(bind(
        &[Key::char('d')],
        A::Delete,
        "delete the selected auth token (asks first)",
        Some("delete"),
    )),
    LIST_MOVES[0],
    LIST_MOVES[1],
    LIST_MOVES[2],
    LIST_MOVES[3],
    LIST_MOVES[4],
    LIST_MOVES[5],
];

const CONSUMERS: &[Binding] = &[
    mutating(bind(
        &[Key::char('d')],
        A::Delete,
        "delete the selected consumer's offset for its partition (asks first)",
        Some("delete"),
    )),
    LIST_MOVES[0],
    LIST_MOVES[1],
    LIST_MOVES[2],
    LIST_MOVES[3],
    LIST_MOVES[4],
    LIST_MOVES[5],
];

const METADATA: &[Binding] = &[
    bind(UP, A::Up, "scroll up", None),
    bind(DOWN, A::Down, "scroll down", None),
    bind(PAGE_UP, A::PageUp, "page up", None),
    bind(PAGE_DOWN, A::PageDown, "page down", None),
    bind(TOP, A::Top, "top", None),
    bind(BOTTOM, A::Bottom, "bottom", None),
];

const TAIL: &[Binding] = &[
    bind(
        &[Key::char(' ')],
        A::Pause,
        "pause / resume following",
        Some("pause"),
    ),
    bind(
        &[Key::char('/')],
        A::Filter,
        "filter by key, value or header (k: v: h:)",
        Some("filter"),
    ),
    bind(
        &[Key::char('c')],
        A::Context,
        "keep non-matching records as context",
        Some("context"),
    ),
    bind(&[Key::char('w')], A::Wrap, "wrap long lines", Some("wrap")),
    bind(
        &[Key::char('t')],
        A::Timestamps,
        "show timestamps",
        Some("time"),
    ),
    bind(ENTER, A::Open, "open the selected record", Some("open")),
    bind(
        &[Key::char('n')],
        A::NewTail,
        "tail another topic, partitions or start",
        Some("new"),
    ),
    bind(
        &[Key::char('s')],
        A::StopTail,
        "stop the stream (keeps the records)",
        None,
    ),
    bind(&[Key::char('x')], A::ClearTail, "clear the buffer", None),
    bind(UP, A::Up, "scroll up (pauses)", None),
    bind(DOWN, A::Down, "scroll down (resumes at the bottom)", None),
    bind(PAGE_UP, A::PageUp, "page up (pauses)", None),
    bind(PAGE_DOWN, A::PageDown, "page down", None),
    bind(TOP, A::Top, "oldest record (pauses)", None),
    bind(
        BOTTOM,
        A::Bottom,
        "newest record, follow again",
        Some("follow"),
    ),
];

const HELP: &[Binding] = &[
    bind(
        &[
            Key::plain(KeyCode::Esc),
            Key::char('?'),
            Key::char('q'),
            Key::plain(KeyCode::Enter),
        ],
        A::Close,
        "close the help",
        Some("close"),
    ),
    bind(UP, A::Up, "scroll up", None),
    bind(DOWN, A::Down, "scroll down", None),
];

const RECORD: &[Binding] = &[
    bind(
        &[
            Key::plain(KeyCode::Esc),
            Key::char('q'),
            Key::plain(KeyCode::Enter),
        ],
        A::Close,
        "close the record",
        Some("close"),
    ),
    bind(
        &[Key::char('h')],
        A::ToggleHex,
        "hex dump / decoded value",
        Some("hex"),
    ),
    bind(UP, A::Up, "scroll up", None),
    bind(DOWN, A::Down, "scroll down", None),
    bind(PAGE_UP, A::PageUp, "page up", None),
    bind(PAGE_DOWN, A::PageDown, "page down", None),
];

const OUTPUT: &[Binding] = &[
    bind(
        &[
            Key::plain(KeyCode::Esc),
            Key::char('q'),
            Key::plain(KeyCode::Enter),
        ],
        A::Close,
        "close",
        Some("close"),
    ),
    bind(UP, A::Up, "scroll up", None),
    bind(DOWN, A::Down, "scroll down", None),
    bind(PAGE_UP, A::PageUp, "page up", None),
    bind(PAGE_DOWN, A::PageDown, "page down", None),
];

const CONFIRM: &[Binding] = &[
    bind(&[Key::char('y')], A::Confirm, "yes, do it", Some("yes")),
    bind(
        &[Key::char('n'), Key::plain(KeyCode::Esc)],
        A::Close,
        "no, cancel",
        Some("no"),
    ),
];

const COMMAND_BAR: &[Binding] = &[
    bind(ENTER, A::Submit, "run the command", Some("run")),
    bind(ESC, A::Close, "cancel", Some("cancel")),
    bind(
        &[Key::plain(KeyCode::Tab)],
        A::Complete,
        "complete a command, flag or name",
        Some("complete"),
    ),
    bind(
        &[Key::plain(KeyCode::Up)],
        A::HistoryPrev,
        "previous command",
        Some("history"),
    ),
    bind(
        &[Key::plain(KeyCode::Down)],
        A::HistoryNext,
        "next command",
        None,
    ),
    bind(
        &[Key::plain(KeyCode::Backspace)],
        A::DeleteChar,
        "delete a character",
        None,
    ),
];

const FILTER_INPUT: &[Binding] = &[
    bind(ENTER, A::Submit, "keep the filter", Some("apply")),
    bind(ESC, A::Close, "back to the previous filter", Some("cancel")),
    bind(
        &[Key::plain(KeyCode::Backspace)],
        A::DeleteChar,
        "delete a character",
        None,
    ),
];

const TAIL_SETUP: &[Binding] = &[
    bind(ENTER, A::Submit, "start tailing", Some("start")),
    bind(ESC, A::Close, "cancel", Some("cancel")),
    bind(
        &[Key::plain(KeyCode::Tab), Key::plain(KeyCode::Down)],
        A::NextField,
        "next field",
        Some("field"),
    ),
    bind(
        &[Key::plain(KeyCode::BackTab), Key::plain(KeyCode::Up)],
        A::PrevField,
        "previous field",
        None,
    ),
    bind(
        &[Key::plain(KeyCode::Left)],
        A::ChoicePrev,
        "previous choice",
        Some("choose"),
    ),
    bind(
        &[Key::plain(KeyCode::Right)],
        A::ChoiceNext,
        "next choice",
        None,
    ),
    bind(
        &[Key::plain(KeyCode::Backspace)],
        A::DeleteChar,
        "delete a character",
        None,
    ),
];

/// The bindings of one mode (for a view, without the global ones).
pub fn bindings(mode: Mode) -> &'static [Binding] {
    match mode {
        Mode::View(View::Spus) => SPUS,
        Mode::View(View::Topics) => TOPICS,
        Mode::View(View::Partitions) => PARTITIONS,
        Mode::View(View::Tokens) => TOKENS,
        Mode::View(View::Metadata) => METADATA,
        Mode::View(View::Tail) => TAIL,
        Mode::View(View::Consumers) => CONSUMERS,
        Mode::View(View::Metrics) => &[],
        Mode::View(View::Groups) => &LIST_MOVES,
        Mode::Help => HELP,
        Mode::Record => RECORD,
        Mode::Output => OUTPUT,
        Mode::Confirm => CONFIRM,
        Mode::CommandBar => COMMAND_BAR,
        Mode::FilterInput => FILTER_INPUT,
        Mode::TailSetup => TAIL_SETUP,
    }
}

/// Does this mode take typed text (so unbound characters are input, not ignored)?
pub fn takes_text(mode: Mode) -> bool {
    matches!(mode, Mode::CommandBar | Mode::FilterInput | Mode::TailSetup)
}

fn active(mode: Mode, read_only: bool) -> impl Iterator<Item = &'static Binding> {
    let global: &'static [Binding] = match mode {
        Mode::View(_) => GLOBAL,
        _ => &[],
    };
    bindings(mode)
        .iter()
        .chain(global)
        .filter(move |b| !(read_only && b.mutating))
}

/// The action `key` triggers in `mode`; the mode's own bindings win over the global ones.
pub fn lookup(mode: Mode, key: &KeyEvent, read_only: bool) -> Option<Action> {
    active(mode, read_only)
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
        .map(|b| b.action)
}

/// `key:hint` pairs for the footer, the mode's own first.
pub fn footer(mode: Mode, read_only: bool) -> Vec<(String, &'static str)> {
    active(mode, read_only)
        .filter_map(|b| b.hint.map(|hint| (b.keys[0].label(), hint)))
        .collect()
}

/// The help overlay's sections: a title and `(keys, what they do)` lines.
pub fn help(mode: Mode, read_only: bool) -> Vec<(String, Vec<(String, &'static str)>)> {
    let lines = |table: &'static [Binding]| -> Vec<(String, &'static str)> {
        table
            .iter()
            .filter(|b| !(read_only && b.mutating))
            .map(|b| (b.keys_label(), b.help))
            .collect()
    };
    let mut sections = Vec::new();
    if let Mode::View(view) = mode {
        sections.push((view.title().to_string(), lines(bindings(mode))));
        if view == View::Tail {
            sections.push(("Filter input".to_string(), lines(FILTER_INPUT)));
        }
        sections.push(("General".to_string(), lines(GLOBAL)));
        sections.push(("Command bar".to_string(), lines(COMMAND_BAR)));
    } else {
        sections.push(("Keys".to_string(), lines(bindings(mode))));
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn view_keys_win_over_global_ones_and_global_ones_work_everywhere() {
        let tail = Mode::View(View::Tail);
        assert_eq!(
            lookup(tail, &press(KeyCode::Char(' ')), false),
            Some(A::Pause)
        );
        assert_eq!(
            lookup(tail, &press(KeyCode::Char('q')), false),
            Some(A::Quit)
        );
        assert_eq!(
            lookup(Mode::View(View::Spus), &press(KeyCode::Char('3')), false),
            Some(A::Show(View::Partitions))
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            lookup(tail, &ctrl_c, false),
            Some(A::Quit),
            "not `c` (context)"
        );
        assert_eq!(
            lookup(tail, &press(KeyCode::Char('c')), false),
            Some(A::Context)
        );
        // Shifted letters arrive with SHIFT held.
        let shift_g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(tail, &shift_g, false), Some(A::Bottom));
        // Popups do not fall through to the global keys.
        assert_eq!(lookup(Mode::Help, &press(KeyCode::Char('1')), false), None);
        assert_eq!(
            lookup(Mode::Confirm, &press(KeyCode::Char('y')), false),
            Some(A::Confirm)
        );
    }

    #[test]
    fn read_only_drops_mutating_keys_from_dispatch_footer_and_help() {
        let topics = Mode::View(View::Topics);
        let d = press(KeyCode::Char('d'));
        assert_eq!(lookup(topics, &d, false), Some(A::Delete));
        assert_eq!(lookup(topics, &d, true), None);
        assert!(footer(topics, false).iter().any(|(_, h)| *h == "delete"));
        assert!(!footer(topics, true).iter().any(|(_, h)| *h == "delete"));
        let help_text = |ro| format!("{:?}", help(topics, ro));
        assert!(help_text(false).contains("delete the selected topic"));
        assert!(!help_text(true).contains("delete the selected topic"));
    }

    #[test]
    fn every_binding_is_in_the_help_and_every_hint_in_the_footer() {
        for view in View::ALL {
            let mode = Mode::View(view);
            let sections = help(mode, false);
            let documented: Vec<&str> = sections
                .iter()
                .flat_map(|(_, lines)| lines.iter().map(|(_, h)| *h))
                .collect();
            for binding in bindings(mode).iter().chain(GLOBAL) {
                assert!(
                    documented.contains(&binding.help),
                    "{view:?}: {}",
                    binding.help
                );
                // Each binding's keys dispatch to it (unless shadowed by the view's own).
                for key in binding.keys {
                    let event = KeyEvent::new(key.code, key.modifiers);
                    let found = lookup(mode, &event, false);
                    let shadowed = bindings(mode)
                        .iter()
                        .any(|b| b.action != binding.action && b.keys.contains(key));
                    assert!(
                        found == Some(binding.action) || shadowed,
                        "{view:?} {key:?}"
                    );
                }
            }
            let hints: Vec<&str> = footer(mode, false).iter().map(|(_, h)| *h).collect();
            for binding in bindings(mode).iter().chain(GLOBAL) {
                if let Some(hint) = binding.hint {
                    assert!(hints.contains(&hint), "{view:?}: {hint}");
                }
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        for mode in View::ALL.map(Mode::View).into_iter().chain([
            Mode::Help,
            Mode::Record,
            Mode::Output,
            Mode::Confirm,
            Mode::CommandBar,
            Mode::FilterInput,
            Mode::TailSetup,
        ]) {
            let keys: Vec<&Key> = bindings(mode).iter().flat_map(|b| b.keys).collect();
            for (i, a) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(a), "{mode:?}: {a:?} twice");
            }
        }
    }

    #[test]
    fn labels() {
        assert_eq!(Key::ctrl('c').label(), "Ctrl-c");
        assert_eq!(Key::char(' ').label(), "Space");
        assert_eq!(TAIL[9].keys_label(), "↑/k");
        assert_eq!(View::Spus.prev(), View::Groups);
        assert_eq!(View::Tail.next(), View::Consumers);
        assert_eq!(View::Consumers.next(), View::Metrics);
        assert_eq!(View::Metrics.next(), View::Groups);
        assert_eq!(View::Groups.next(), View::Spus);
    }
}
