//! The application: which view is up, what is on top of it, and the components' state.
//! Events come in through [`App::handle`]; anything that needs I/O leaves as an
//! [`Effect`] for the worker; [`App::draw`] only reads.

use std::time::Instant;

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use protocol::sc::table::ConsumerRow;
use protocol::sc::{
    AuthTokenSpec, Metadata, PartitionSpec, PartitionStateSpec, SpuSpec, TopicSpec,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};

use crate::client::ConsumerRecord;
use crate::command::Cli;

use super::TuiOptions;
use super::cmdbar::{self, CommandBar, Request};
use super::keymap::{self, Action, Mode, View};
use super::metrics::TopicMetrics;
use super::popups::{Popup, RecordView, TailForm};
use super::rates::Rates;
use super::tail::{Tail, TailSource};
use super::theme;
use super::views::{self, Cluster, Grid, ListState};

/// Smaller than this, the console only says so.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

/// What happens to the app: input, time, and what the background tasks report.
#[derive(Debug)]
pub enum AppEvent {
    Input(Event),
    /// Once a second: rates are sampled.
    Tick(Instant),
    Objects {
        spus: Vec<Metadata<SpuSpec>>,
        topics: Vec<Metadata<TopicSpec>>,
        partitions: Vec<Metadata<PartitionSpec>>,
    },
    Tokens(Vec<Metadata<AuthTokenSpec>>),
    /// Committed consumer offsets with their lag, polled.
    Consumers(Vec<ConsumerRow>),
    /// Kafka consumer groups (or why they could not be read) and the selected one's
    /// description, polled while the groups view is open.
    Groups(views::GroupsPoll),
    /// A read of the daemon's metrics endpoint (its text, or why it failed), and when.
    Metrics(Instant, Result<String, String>),
    /// Every partition's leader epoch and confirmed in-sync set, from an SC that gives them.
    PartitionStates(Vec<Metadata<PartitionStateSpec>>),
    /// A watch ended: the SC connection is gone.
    Disconnected(String),
    /// The cluster's SCs and which one leads, polled.
    ScCluster(protocol::sc::cluster::ScClusterResponse),
    TailStarted {
        id: u64,
    },
    TailRecord {
        id: u64,
        record: ConsumerRecord,
    },
    TailEnded {
        id: u64,
        error: Option<String>,
    },
    CommandDone {
        line: String,
        outcome: Result<Vec<String>, String>,
    },
}

/// Side effects the app asks for; the worker carries them out and reports back.
#[derive(Debug)]
pub enum Effect {
    StartTail {
        id: u64,
        source: TailSource,
    },
    StopTail,
    RunCommand {
        line: String,
        cli: Box<Cli>,
    },
    /// What the groups view wants read: nothing while it is closed (no Kafka requests
    /// for a view nobody looks at), else the list and the selected group's description.
    FocusGroups(GroupsFocus),
}

/// The groups view's interest, as the worker's group poll follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupsFocus {
    pub open: bool,
    pub selected: Option<String>,
}

/// How long a message stays in the message line.
const MESSAGE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an error stays: longer, it is worth reading.
const ERROR_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// The screen's rows: tabs, body, message line, footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tabs: Rect,
    pub body: Rect,
    pub message: Rect,
    pub footer: Rect,
}

pub fn layout(area: Rect) -> Areas {
    let row = |y: u16, height: u16| Rect {
        x: area.x,
        y,
        width: area.width,
        height,
    };
    let body_height = area.height.saturating_sub(3);
    Areas {
        tabs: row(area.y, 1),
        body: row(area.y + 1, body_height),
        message: row(area.y + 1 + body_height, 1),
        footer: row(area.y + 2 + body_height, 1),
    }
}

pub struct App {
    options: TuiOptions,
    /// Where the SC is, for the title bar.
    sc: String,
    /// "plaintext" or "TLS as PRINCIPAL", shown after the SC's address.
    security: String,
    view: View,
    size: Rect,
    cluster: Cluster,
    rates: Rates,
    spus: ListState,
    topics: ListState,
    partitions: ListState,
    tokens: ListState,
    consumers: ListState,
    groups: ListState,
    /// The last focus sent to the worker, so that only a change is sent.
    groups_focus: GroupsFocus,
    metrics: TopicMetrics,
    metadata_scroll: usize,
    tail: Tail,
    next_tail_id: u64,
    popup: Option<Popup>,
    cmdbar: CommandBar,
    /// The last result or error, in the message line.
    message: Option<(String, bool)>,
    /// The tick that first saw the message; it goes [`MESSAGE_TTL`] (errors
    /// [`ERROR_TTL`]) after.
    message_seen: Option<Instant>,
    /// The REPL's completer, for Tab in the `:` bar; built on first use.
    completer: Option<crate::repl::complete::Completer>,
    disconnected: Option<String>,
    /// With several SCs: the leading SC's address, for the header.
    sc_leader: Option<String>,
    /// The last change of leading SC seen: from, to, when (ms since the epoch).
    failover: Option<(String, String, i64)>,
    effects: Vec<Effect>,
    quit: bool,
}

impl App {
    /// How the connections are secured, for the status line.
    pub fn set_security(&mut self, security: String) {
        self.security = security;
    }

    pub fn new(options: TuiOptions, sc: &str, metrics_addr: String) -> Self {
        Self {
            tail: Tail::new(options.buffer),
            options,
            sc: sc.to_string(),
            security: "plaintext".to_string(),
            view: View::Topics,
            size: Rect::new(0, 0, 80, 24),
            cluster: Cluster::default(),
            rates: Rates::default(),
            spus: ListState::default(),
            topics: ListState::default(),
            partitions: ListState::default(),
            tokens: ListState::default(),
            consumers: ListState::default(),
            groups: ListState::default(),
            groups_focus: GroupsFocus::default(),
            metrics: TopicMetrics::new(metrics_addr),
            metadata_scroll: 0,
            next_tail_id: 0,
            popup: None,
            cmdbar: CommandBar::default(),
            message: None,
            message_seen: None,
            completer: None,
            disconnected: None,
            sc_leader: None,
            failover: None,
            effects: Vec::new(),
            quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn view(&self) -> View {
        self.view
    }

    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }

    pub fn message(&self) -> Option<&(String, bool)> {
        self.message.as_ref()
    }

    /// The side effects asked for since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn set_size(&mut self, size: Rect) {
        self.size = size;
        self.fit_lists();
    }

    /// Where keys go now.
    pub fn mode(&self) -> Mode {
        if let Some(popup) = &self.popup {
            popup.mode()
        } else if self.cmdbar.is_active() {
            Mode::CommandBar
        } else if self.view == View::Tail && self.tail.filter_draft().is_some() {
            Mode::FilterInput
        } else {
            Mode::View(self.view)
        }
    }

    pub fn handle(&mut self, event: AppEvent) {
        self.dispatch(event);
        self.focus_groups();
    }

    /// Tell the worker when the groups view opens, closes or selects another group, so
    /// that the selected group's members and offsets are read right away.
    fn focus_groups(&mut self) {
        let focus = GroupsFocus {
            open: self.view == View::Groups,
            selected: self
                .cluster
                .groups
                .get(self.groups.selected)
                .map(|g| g.group.clone()),
        };
        if focus != self.groups_focus {
            self.groups_focus = focus.clone();
            self.effects.push(Effect::FocusGroups(focus));
        }
    }

    fn dispatch(&mut self, event: AppEvent) {
        match event {
            AppEvent::Input(Event::Key(key)) => self.on_key(key),
            AppEvent::Input(Event::Mouse(mouse)) if self.options.mouse => self.on_mouse(mouse),
            AppEvent::Input(Event::Resize(w, h)) => self.set_size(Rect::new(0, 0, w, h)),
            AppEvent::Input(Event::Paste(text)) => {
                for c in text.chars().filter(|c| !c.is_control()) {
                    self.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
                }
            }
            AppEvent::Input(_) => {}
            AppEvent::Tick(now) => {
                self.expire_message(now);
                let partitions = &self.cluster.partitions;
                self.rates.sample(
                    now,
                    partitions
                        .iter()
                        .map(|p| (p.name.as_str(), p.status.leader.leo)),
                );
            }
            AppEvent::Objects {
                spus,
                topics,
                partitions,
            } => {
                self.cluster.set_objects(spus, topics, partitions);
                self.disconnected = None;
                self.fit_lists();
            }
            AppEvent::Tokens(tokens) => {
                self.cluster.set_tokens(tokens);
                self.fit_lists();
            }
            AppEvent::Consumers(consumers) => {
                self.cluster.set_consumers(consumers);
                self.fit_lists();
            }
            AppEvent::Groups(groups) => {
                self.cluster.set_groups(groups);
                self.fit_lists();
            }
            AppEvent::Metrics(at, scraped) => self.metrics.update(at, scraped),
            AppEvent::PartitionStates(states) => self.cluster.set_partition_states(states),
            AppEvent::Disconnected(why) => self.disconnected = Some(why),
            AppEvent::ScCluster(scs) => self.sc_cluster(&scs),
            AppEvent::TailStarted { id } => self.tail.started(id),
            AppEvent::TailRecord { id, record } => self.tail.push(id, record),
            AppEvent::TailEnded { id, error } => self.tail.ended(id, error),
            AppEvent::CommandDone { line, outcome } => self.command_done(line, outcome),
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        let mode = self.mode();
        match keymap::lookup(mode, &key, self.options.read_only) {
            Some(action) => self.perform(mode, action),
            None if keymap::takes_text(mode) => {
                if let KeyCode::Char(c) = key.code
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                {
                    self.type_char(mode, c);
                }
            }
            None => {}
        }
    }

    fn type_char(&mut self, mode: Mode, c: char) {
        match mode {
            Mode::CommandBar => self.cmdbar.insert(c),
            Mode::FilterInput => {
                let mut draft = self.tail.filter_draft().unwrap_or_default().to_string();
                draft.push(c);
                self.tail.set_filter_draft(draft);
            }
            Mode::TailSetup => {
                if let Some(Popup::TailSetup(form)) = self.popup.as_mut() {
                    form.insert(c);
                }
            }
            _ => {}
        }
    }

    /// Rows of the list in the body (below its header).
    fn list_height(&self) -> usize {
        layout(self.size).body.height.saturating_sub(1).max(1) as usize
    }

    /// Rows of records in the tail (below its status and header lines).
    fn tail_height(&self) -> usize {
        layout(self.size).body.height.saturating_sub(2).max(1) as usize
    }

    fn fit_lists(&mut self) {
        let height = self.list_height();
        self.spus.fit(self.cluster.spus.len(), height);
        self.topics.fit(self.cluster.topics.len(), height);
        self.partitions.fit(self.cluster.partitions.len(), height);
        self.tokens.fit(self.cluster.tokens.len(), height);
        self.consumers.fit(self.cluster.consumers.len(), height);
        let groups = self.cluster.groups.len();
        self.groups.fit(
            groups,
            groups_list_rows(layout(self.size).body.height, groups).into(),
        );
    }

    fn list_mut(&mut self, view: View) -> Option<(&mut ListState, usize)> {
        match view {
            View::Spus => Some((&mut self.spus, self.cluster.spus.len())),
            View::Topics => Some((&mut self.topics, self.cluster.topics.len())),
            View::Partitions => Some((&mut self.partitions, self.cluster.partitions.len())),
            View::Tokens => Some((&mut self.tokens, self.cluster.tokens.len())),
            View::Consumers => Some((&mut self.consumers, self.cluster.consumers.len())),
            View::Groups => Some((&mut self.groups, self.cluster.groups.len())),
            View::Metadata | View::Tail | View::Metrics => None,
        }
    }

    fn perform(&mut self, mode: Mode, action: Action) {
        match mode {
            Mode::View(view) => self.perform_in_view(view, action),
            Mode::Help | Mode::Output | Mode::Record => match action {
                Action::Close => self.popup = None,
                Action::Up => self.scroll_popup(-1),
                Action::Down => self.scroll_popup(1),
                Action::PageUp => self.scroll_popup(-(self.list_height() as isize)),
                Action::PageDown => self.scroll_popup(self.list_height() as isize),
                Action::ToggleHex => {
                    if let Some(Popup::Record(view)) = self.popup.as_mut() {
                        view.hex = !view.hex;
                    }
                }
                _ => {}
            },
            Mode::Confirm => match action {
                Action::Confirm => {
                    if let Some(Popup::Confirm { line, .. }) = self.popup.take() {
                        self.run_line(&line, true);
                    }
                }
                Action::Close => {
                    self.popup = None;
                    self.say("cancelled", false);
                }
                _ => {}
            },
            Mode::CommandBar => match action {
                Action::Submit => {
                    let line = self.cmdbar.submit();
                    self.run_line(&line, false);
                }
                Action::Close => self.cmdbar.close(),
                Action::Complete => self.complete_command(),
                Action::HistoryPrev => self.cmdbar.history_prev(),
                Action::HistoryNext => self.cmdbar.history_next(),
                Action::DeleteChar => self.cmdbar.backspace(),
                _ => {}
            },
            Mode::FilterInput => match action {
                Action::Submit => self.tail.finish_filter(true),
                Action::Close => self.tail.finish_filter(false),
                Action::DeleteChar => {
                    let mut draft = self.tail.filter_draft().unwrap_or_default().to_string();
                    draft.pop();
                    self.tail.set_filter_draft(draft);
                }
                _ => {}
            },
            Mode::TailSetup => {
                let Some(Popup::TailSetup(form)) = self.popup.as_mut() else {
                    return;
                };
                match action {
                    Action::Submit => match form.source() {
                        Ok(source) => {
                            self.popup = None;
                            self.start_tail(source);
                        }
                        Err(problem) => form.error = Some(problem),
                    },
                    Action::Close => self.popup = None,
                    Action::NextField => form.next_field(),
                    Action::PrevField => form.prev_field(),
                    Action::ChoiceNext => form.cycle(true),
                    Action::ChoicePrev => form.cycle(false),
                    Action::DeleteChar => form.backspace(),
                    _ => {}
                }
            }
        }
    }

    fn scroll_popup(&mut self, delta: isize) {
        if let Some(popup) = self.popup.as_mut() {
            popup.scroll(delta);
        }
    }

    fn perform_in_view(&mut self, view: View, action: Action) {
        let page = match view {
            View::Tail => self.tail_height(),
            _ => self.list_height(),
        } as isize;
        match action {
            Action::Quit => self.quit = true,
            Action::Help => {
                self.popup = Some(Popup::Help {
                    under: Mode::View(view),
                    scroll: 0,
                })
            }
            Action::CommandBar => self.cmdbar.open(),
            Action::Dismiss => self.message = None,
            Action::NextView => self.view = view.next(),
            Action::PrevView => self.view = view.prev(),
            Action::Show(target) => self.view = target,
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => {
                let delta = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -page,
                    Action::PageDown => page,
                    Action::Top => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                self.move_in_view(view, action, delta);
            }
            Action::Open => self.open(view),
            Action::Delete => self.delete(view),
            Action::Pause => self.tail.toggle_pause(),
            Action::Filter => self.tail.edit_filter(),
            Action::Context => self.tail.toggle_context(),
            Action::Wrap => self.tail.toggle_wrap(),
            Action::Timestamps => self.tail.toggle_timestamps(),
            Action::NewTail => {
                let form = match self.tail.source() {
                    Some(source) => TailForm::from_source(source),
                    None => TailForm::new(
                        self.selected_topic().map(|t| t.name.as_str()).unwrap_or(""),
                        None,
                    ),
                };
                self.popup = Some(Popup::TailSetup(form));
            }
            Action::StopTail => {
                self.tail.stop();
                self.effects.push(Effect::StopTail);
            }
            Action::ClearTail => self.tail.clear(),
            _ => {}
        }
    }

    fn move_in_view(&mut self, view: View, action: Action, delta: isize) {
        let height = self.list_height();
        match view {
            View::Tail => match action {
                Action::Top => self.tail.top(),
                Action::Bottom => self.tail.bottom(),
                _ => self.tail.scroll(delta),
            },
            View::Metadata => {
                let lines = views::metadata_dump(&self.cluster).len();
                let max = lines.saturating_sub(self.list_height());
                self.metadata_scroll = self.metadata_scroll.saturating_add_signed(delta).min(max);
            }
            _ => {
                if let Some((list, len)) = self.list_mut(view) {
                    list.move_by(delta, len, height);
                }
            }
        }
    }

    fn selected_topic(&self) -> Option<&Metadata<TopicSpec>> {
        self.cluster.topics.get(self.topics.selected)
    }

    fn open(&mut self, view: View) {
        match view {
            View::Topics => {
                if let Some(topic) = self.selected_topic() {
                    self.popup = Some(Popup::TailSetup(TailForm::new(&topic.name, None)));
                }
            }
            View::Partitions => {
                if let Some(p) = self.cluster.partitions.get(self.partitions.selected) {
                    let (topic, n) = views::partition_key(&p.name);
                    self.popup = Some(Popup::TailSetup(TailForm::new(topic, Some(n))));
                }
            }
            View::Tail => {
                if let Some(record) = self.tail.selected() {
                    self.popup = Some(Popup::Record(RecordView::new(record.clone())));
                }
            }
            _ => {}
        }
    }

    fn delete(&mut self, view: View) {
        let line = match view {
            View::Topics => self
                .selected_topic()
                .map(|t| format!("topic delete {}", shell_quote(&t.name))),
            View::Tokens => self
                .cluster
                .tokens
                .get(self.tokens.selected)
                .map(|t| format!("auth-token delete -n {}", shell_quote(&t.name))),
            View::Consumers => self
                .cluster
                .consumers
                .get(self.consumers.selected)
                .map(|c| {
                    format!(
                        "consumer delete {} -t {} -p {}",
                        shell_quote(&c.consumer),
                        shell_quote(&c.topic),
                        c.partition
                    )
                }),
            _ => None,
        };
        if let Some(line) = line {
            self.run_line(&line, false);
        }
    }

    /// Start tailing `source` (a new tail replaces the one running).
    pub fn start_tail(&mut self, source: TailSource) {
        self.next_tail_id += 1;
        let id = self.next_tail_id;
        self.tail.start(id, source.clone());
        self.effects.push(Effect::StartTail { id, source });
        self.view = View::Tail;
    }

    /// Act on a command line (from the bar, or built by a key such as `d`).
    fn run_line(&mut self, line: &str, confirmed: bool) {
        match cmdbar::parse_line(line, self.options.read_only, confirmed) {
            Request::Nothing => {}
            Request::Quit => self.quit = true,
            Request::Help => {
                self.popup = Some(Popup::Help {
                    under: Mode::View(self.view),
                    scroll: 0,
                })
            }
            Request::Show(view) => self.view = view,
            Request::Tail(source) => self.start_tail(source),
            Request::TailKeepingFilter(source) => {
                self.next_tail_id += 1;
                let id = self.next_tail_id;
                self.tail.start_keeping_filter(id, source.clone());
                self.effects.push(Effect::StartTail { id, source });
                self.view = View::Tail;
            }
            Request::Run(cli) => {
                self.say(&format!("running: {line}"), false);
                self.effects.push(Effect::RunCommand {
                    line: line.to_string(),
                    cli,
                });
            }
            Request::Confirm { question, line } => {
                self.popup = Some(Popup::Confirm { question, line })
            }
            Request::Say { text, error } => self.show_text(line, text, error),
        }
    }

    fn command_done(&mut self, line: String, outcome: Result<Vec<String>, String>) {
        match outcome {
            Ok(lines) => match lines.as_slice() {
                [] => self.say(&format!("done: {line}"), false),
                [one] => self.say(one, false),
                _ => {
                    self.message = None;
                    self.popup = Some(Popup::Output {
                        title: format!(":{line}"),
                        lines,
                        scroll: 0,
                    });
                }
            },
            Err(error) => self.show_text(&line, error, true),
        }
    }

    /// One line goes to the message line; more open in a box.
    fn show_text(&mut self, line: &str, text: String, error: bool) {
        let text = text.trim_end();
        if text.lines().count() <= 1 {
            self.say(text, error);
        } else {
            self.message = None;
            self.popup = Some(Popup::Output {
                title: format!(":{line}"),
                lines: text.lines().map(str::to_string).collect(),
                scroll: 0,
            });
        }
    }

    fn say(&mut self, text: &str, error: bool) {
        self.message = Some((text.to_string(), error));
        self.message_seen = None;
    }

    /// A message stays for a while and then goes, so an old `done` or error does not
    /// read as news; Esc clears it sooner.
    fn expire_message(&mut self, now: Instant) {
        let Some((_, error)) = &self.message else {
            return;
        };
        let ttl = if *error { ERROR_TTL } else { MESSAGE_TTL };
        match self.message_seen {
            None => self.message_seen = Some(now),
            Some(seen) if now.saturating_duration_since(seen) >= ttl => {
                self.message = None;
                self.message_seen = None;
            }
            Some(_) => {}
        }
    }

    /// Tab in the `:` bar: the REPL's completion of the word at the end of the line. One
    /// candidate is put in; several complete as far as they agree and are listed in the
    /// message line.
    fn complete_command(&mut self) {
        let completer = self
            .completer
            .get_or_insert_with(crate::repl::complete::Completer::new);
        let line = self.cmdbar.line().to_string();
        let completion = completer.complete(&line, line.len(), &self.cluster);
        let words = completion.words;
        let Some(first) = words.first() else {
            return;
        };
        let head = &line[..completion.start.min(line.len())];
        if words.len() == 1 {
            self.cmdbar
                .set_line(format!("{head}{} ", shell_words::quote(first)));
            return;
        }
        let common = words.iter().fold(first.clone(), |common, word| {
            common
                .chars()
                .zip(word.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let typed = &line[completion.start.min(line.len())..];
        if common.len() > typed.len() {
            self.cmdbar.set_line(format!("{head}{common}"));
        }
        self.say(&words.join("  "), false);
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        let mode = self.mode();
        match mouse.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let (action, delta) = if mouse.kind == MouseEventKind::ScrollUp {
                    (Action::Up, -3)
                } else {
                    (Action::Down, 3)
                };
                match mode {
                    Mode::View(view) => self.move_in_view(view, action, delta),
                    _ => self.scroll_popup(delta),
                }
            }
            MouseEventKind::Down(MouseButton::Left) if matches!(mode, Mode::View(_)) => {
                let areas = layout(self.size);
                if mouse.row == areas.tabs.y {
                    if let Some((view, _, _)) = tab_ranges(compact_tabs(self.size.width))
                        .into_iter()
                        .find(|(_, from, to)| (*from..*to).contains(&mouse.column))
                    {
                        self.view = view;
                    }
                } else if mouse.row > areas.body.y && mouse.row < areas.body.bottom() {
                    let row = (mouse.row - areas.body.y - 1) as usize;
                    let height = self.list_height();
                    if let Some((list, len)) = self.list_mut(self.view)
                        && list.offset + row < len
                    {
                        list.selected = list.offset + row;
                        list.fit(len, height);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let text = format!(
                "Terminal too small ({}x{}); the console needs at least {MIN_WIDTH}x{MIN_HEIGHT}. q quits.",
                area.width, area.height
            );
            frame.render_widget(
                Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        let areas = layout(area);
        self.draw_tabs(frame, areas.tabs);
        match self.view {
            View::Spus => self.draw_grid(
                frame,
                areas.body,
                &views::spus(&self.cluster),
                &self.spus,
                "No SPUs registered.",
            ),
            View::Topics => self.draw_grid(
                frame,
                areas.body,
                &views::topics(&self.cluster),
                &self.topics,
                "No topics. Create one with :topic create NAME",
            ),
            View::Partitions => self.draw_grid(
                frame,
                areas.body,
                &views::partitions(&self.cluster, &self.rates),
                &self.partitions,
                "No partitions.",
            ),
            View::Tokens => self.draw_grid(
                frame,
                areas.body,
                &views::tokens(&self.cluster),
                &self.tokens,
                if self.cluster.tokens_known {
                    "No auth tokens. Create one with :auth-token create"
                } else {
                    "Waiting for the auth token watch…"
                },
            ),
            View::Consumers => self.draw_grid(
                frame,
                areas.body,
                &views::consumers(&self.cluster),
                &self.consumers,
                if self.cluster.consumers_known {
                    "No consumer offsets. Consumers commit with :consume TOPIC --consumer NAME"
                } else {
                    "Reading consumer offsets…"
                },
            ),
            View::Groups => self.draw_groups(frame, areas.body),
            View::Metadata => {
                let lines: Vec<Line> = views::metadata_dump(&self.cluster)
                    .into_iter()
                    .skip(self.metadata_scroll)
                    .map(Line::from)
                    .collect();
                frame.render_widget(Paragraph::new(lines), areas.body);
            }
            View::Tail => self.tail.draw(frame, areas.body),
            View::Metrics => self.metrics.draw(frame, areas.body),
        }
        self.draw_message(frame, areas.message);
        self.draw_footer(frame, areas.footer);
        if let Some(popup) = &self.popup {
            popup.draw(frame, areas.body, self.options.read_only);
        }
    }

    /// Note the leading SC; a different one than before is a failover, marked in the
    /// header. A lone SC (the embedded store) shows nothing extra.
    fn sc_cluster(&mut self, scs: &protocol::sc::cluster::ScClusterResponse) {
        let Some(leader) = scs.leader() else {
            return;
        };
        if scs.members.len() < 2 && self.sc_leader.is_none() {
            return;
        }
        let now = leader.public_addr.clone();
        if let Some(before) = self.sc_leader.as_ref().filter(|b| **b != now) {
            self.failover = Some((before.clone(), now.clone(), leader.leader_since_ms));
        }
        self.sc_leader = Some(now);
    }

    fn draw_tabs(&self, frame: &mut Frame, area: Rect) {
        let mut spans = Vec::new();
        let compact = compact_tabs(area.width);
        for (view, _, _) in tab_ranges(compact) {
            let style = if view == self.view {
                theme::active_tab()
            } else {
                Style::new()
            };
            spans.push(Span::styled(tab_label(view, compact), style));
            spans.push(Span::raw("│"));
        }
        let mut status = format!(" SC {} ({})", self.sc, self.security);
        if let Some(leader) = &self.sc_leader {
            status.push_str(&format!(" leader {leader}"));
        }
        if let Some((from, to, at)) = &self.failover {
            let time = super::format::timestamp(*at);
            let time = time.get(11..19).unwrap_or(&time);
            status.push_str(&format!(" FAILOVER {from}->{to} at {time}"));
        }
        if self.options.read_only {
            status.push_str(" [read-only]");
        }
        if let Some(why) = &self.disconnected {
            status.push_str(&format!(" DISCONNECTED: {why}"));
        }
        spans.push(Span::raw(status));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_grid(
        &self,
        frame: &mut Frame,
        area: Rect,
        grid: &Grid,
        state: &ListState,
        empty: &str,
    ) {
        if grid.rows().is_empty() {
            // Wrapped: a reason with its advice (a flag to pass) is often wider than the
            // terminal.
            frame.render_widget(
                Paragraph::new(empty.to_string()).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        // Columns by priority, as the CLI fits a narrow terminal: detail goes first, whole
        // columns rather than every column cut a little.
        let (fitted, _) = protocol::sc::table::fit(grid, usize::from(area.width));
        let grid = &fitted;
        let mut widths: Vec<u16> = grid
            .header()
            .iter()
            .map(|h| h.chars().count() as u16)
            .collect();
        for row in grid.rows() {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count() as u16);
            }
        }
        let height = area.height.saturating_sub(1) as usize;
        // Status columns are coloured by their value; no other cell is (a topic may be
        // called `offline`).
        let status_columns: Vec<bool> = grid
            .header()
            .iter()
            .map(|h| matches!(h.as_str(), "STATUS" | "RESOLUTION"))
            .collect();
        let rows = grid
            .rows()
            .iter()
            .skip(state.offset)
            .take(height)
            .map(|cells| {
                Row::new(cells.iter().zip(&status_columns).map(|(cell, status)| {
                    let style = if *status {
                        theme::status(cell)
                    } else {
                        Style::new()
                    };
                    ratatui::widgets::Cell::from(cell.clone()).style(style)
                }))
            });
        let table = Table::new(rows, widths.into_iter().map(Constraint::Length))
            .header(Row::new(grid.header().to_vec()).style(theme::header()))
            .column_spacing(2)
            .row_highlight_style(theme::selected());
        let mut table_state =
            TableState::default().with_selected(Some(state.selected.saturating_sub(state.offset)));
        frame.render_stateful_widget(table, area, &mut table_state);
    }

    /// The groups list on top (a third of the body at most, so that the detail fits),
    /// the selected group's members and offsets below it.
    fn draw_groups(&self, frame: &mut Frame, area: Rect) {
        let cluster = &self.cluster;
        let empty = match (&cluster.groups_error, cluster.groups_known) {
            (Some(why), _) => why.clone(),
            (None, true) => {
                "No Kafka consumer groups. A Kafka client with a group.id makes one.".to_string()
            }
            (None, false) => match &self.options.kafka_addr {
                Some(addr) => format!("Asking the Kafka listener at {addr}…"),
                None => "Asking the cluster for a Kafka listener…".to_string(),
            },
        };
        let Some(selected) = cluster.groups.get(self.groups.selected) else {
            return self.draw_grid(frame, area, &views::groups(cluster), &self.groups, &empty);
        };
        let list_height = 1 + groups_list_rows(area.height, cluster.groups.len());
        let list = Rect {
            height: list_height.min(area.height),
            ..area
        };
        self.draw_grid(frame, list, &views::groups(cluster), &self.groups, &empty);
        // A blank line between the list and the detail, so that the detail's first line
        // does not read as another group.
        let top = (list.bottom() + 1).min(area.bottom());
        let detail = Rect {
            y: top,
            height: area.bottom() - top,
            ..area
        };
        let lines: Vec<Line> =
            views::group_detail(cluster, &selected.group, usize::from(area.width))
                .into_iter()
                .map(|line| match line.as_str() {
                    "Members:" | "Offsets:" => Line::styled(line, theme::header()),
                    _ => Line::from(line),
                })
                .collect();
        frame.render_widget(Paragraph::new(lines), detail);
    }

    fn draw_message(&self, frame: &mut Frame, area: Rect) {
        if self.cmdbar.is_active() {
            let line = format!(":{}", self.cmdbar.line());
            let x = area.x + line.chars().count() as u16;
            frame.render_widget(Paragraph::new(line), area);
            frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        } else if let Some((text, error)) = &self.message {
            let line = if *error {
                Line::from(vec![
                    Span::styled("error: ", theme::error()),
                    Span::raw(text.clone()),
                ])
            } else {
                Line::from(text.clone())
            };
            frame.render_widget(Paragraph::new(line), area);
        }
    }

    fn draw_footer(&self, frame: &mut Frame, area: Rect) {
        let mut spans = Vec::new();
        for (key, hint) in keymap::footer(self.mode(), self.options.read_only) {
            spans.push(Span::styled(key, theme::key_hint()));
            spans.push(Span::raw(format!(" {hint}  ")));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }
}

fn tab_label(view: View, compact: bool) -> String {
    let title = match (compact, view) {
        // Nine tabs in 80 columns: four letters each (three for the last).
        (true, View::Topics) => "Tops",
        (true, View::Partitions) => "Part",
        (true, View::Tokens) => "Toks",
        (true, View::Metadata) => "Meta",
        (true, View::Consumers) => "Cons",
        (true, View::Metrics) => "Metr",
        (true, View::Groups) => "Grp",
        _ => view.title(),
    };
    format!(" {} {title} ", view.index() + 1)
}

/// Rows of the groups list in a body `body_height` rows tall: every group while they fit
/// in a third of it, then scrolled, the rest left to the selected group's detail.
fn groups_list_rows(body_height: u16, groups: usize) -> u16 {
    let cap = (body_height / 3).max(3);
    (groups.min(usize::from(cap)) as u16).max(1)
}

/// Short tab titles when the full ones do not fit `width` (80 columns, say): every tab
/// stays visible rather than the last ones cut off.
fn compact_tabs(width: u16) -> bool {
    let full: usize = View::ALL
        .iter()
        .map(|&v| tab_label(v, false).chars().count() + 1)
        .sum();
    full > usize::from(width)
}

/// Each tab and the columns it covers on the tab row.
fn tab_ranges(compact: bool) -> Vec<(View, u16, u16)> {
    let mut x = 0;
    View::ALL
        .iter()
        .map(|&view| {
            let width = tab_label(view, compact).chars().count() as u16;
            let range = (view, x, x + width);
            x += width + 1;
            range
        })
        .collect()
}

/// Quote a name for a command line if it needs it.
fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use protocol::sc::{
        PartitionStatus, ReplicaSpec, SpuResolution, SpuStatus, TopicResolution, TopicStatus,
    };
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Modifier;

    use crate::tui::screen_text;
    use crate::tui::tail::Start;

    fn app(read_only: bool) -> App {
        App::new(
            TuiOptions {
                read_only,
                ..TuiOptions::default()
            },
            "127.0.0.1:9003",
            "127.0.0.1:9644".into(),
        )
    }

    fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) -> String {
        let size = terminal.size().unwrap();
        app.set_size(Rect::new(0, 0, size.width, size.height));
        terminal.draw(|f| app.draw(f)).unwrap();
        screen_text(terminal.backend().buffer())
    }

    fn key(app: &mut App, code: KeyCode) {
        app.handle(AppEvent::Input(Event::Key(KeyEvent::new(
            code,
            KeyModifiers::NONE,
        ))));
    }

    #[test]
    fn the_header_names_the_leading_sc_and_marks_a_failover() {
        use protocol::sc::cluster::{ScClusterResponse, ScMember};
        let scs = |leader: usize| ScClusterResponse {
            backend: "etcd://127.0.0.1:2379/fluvio".into(),
            answered_by: "127.0.0.1:9003".into(),
            members: (0..3)
                .map(|i| ScMember {
                    id: format!("sc{i}"),
                    public_addr: format!("10.0.0.{i}:9003"),
                    private_addr: format!("10.0.0.{i}:9004"),
                    started_ms: 0,
                    leader: i == leader,
                    // 2026-12-05 22:00:01 UTC
                    leader_since_ms: if i == leader { 1_796_508_001_000 } else { 0 },
                })
                .collect(),
            kafka_brokers: Vec::new(),
        };
        let mut lone = app(false);
        let mut ha = app(false);
        let mut terminal = Terminal::new(TestBackend::new(240, 10)).unwrap();
        ha.handle(AppEvent::ScCluster(scs(0)));
        let screen = draw(&mut ha, &mut terminal);
        assert!(screen.contains("leader 10.0.0.0:9003"), "{screen}");
        assert!(!screen.contains("FAILOVER"), "{screen}");
        ha.handle(AppEvent::ScCluster(scs(2)));
        let screen = draw(&mut ha, &mut terminal);
        assert!(screen.contains("leader 10.0.0.2:9003"), "{screen}");
        assert!(
            screen.contains("FAILOVER 10.0.0.0:9003->10.0.0.2:9003 at 22:00:01"),
            "{screen}"
        );

        // A lone SC on its embedded store: the header stays as it was.
        let mut single = scs(0);
        single.members.truncate(1);
        lone.handle(AppEvent::ScCluster(single));
        let screen = draw(&mut lone, &mut terminal);
        assert!(!screen.contains("leader"), "{screen}");
    }

    fn type_line(app: &mut App, text: &str) {
        for c in text.chars() {
            key(app, KeyCode::Char(c));
        }
    }

    fn objects() -> AppEvent {
        let spu = SpuSpec {
            id: 5001,
            ..SpuSpec::default()
        };
        let topic = |name: &str, partitions| {
            let spec = TopicSpec {
                replicas: ReplicaSpec::Computed {
                    partitions,
                    replication_factor: 1,
                    ignore_rack_assignment: false,
                },
                ..TopicSpec::default()
            };
            let status = TopicStatus {
                resolution: TopicResolution::Provisioned,
                ..TopicStatus::default()
            };
            Metadata::new(name, spec, status)
        };
        let partition = |name: &str| {
            let status = PartitionStatus {
                size: 0,
                ..PartitionStatus::default()
            };
            Metadata::new(name, PartitionSpec::default(), status)
        };
        AppEvent::Objects {
            spus: vec![Metadata::new(
                "custom-5001",
                spu,
                SpuStatus {
                    resolution: SpuResolution::Online,
                },
            )],
            topics: vec![topic("orders", 2), topic("audit", 1)],
            partitions: vec![
                partition("orders-0"),
                partition("orders-1"),
                partition("audit-0"),
            ],
        }
    }

    fn record(offset: i64, key: &str, value: &str) -> ConsumerRecord {
        ConsumerRecord {
            partition: 0,
            offset,
            timestamp: 0,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Bytes::copy_from_slice(value.as_bytes()),
            headers: vec![],
        }
    }

    #[test]
    fn a_tiny_terminal_gets_a_message_not_a_panic() {
        for (w, h) in [(39, 24), (80, 9), (10, 3), (1, 1)] {
            let mut app = app(false);
            app.handle(objects());
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            let screen = draw(&mut app, &mut terminal);
            if w >= 30 {
                assert!(
                    screen.starts_with("Terminal too small"),
                    "{w}x{h}: {screen}"
                );
            }
            // Keys still work, and q still quits.
            key(&mut app, KeyCode::Char('6'));
            draw(&mut app, &mut terminal);
            key(&mut app, KeyCode::Char('q'));
            assert!(app.should_quit());
        }
    }

    #[test]
    fn the_topics_view_lists_topics_and_marks_the_selection_in_reverse_video() {
        let mut app = app(false);
        app.handle(objects());
        let mut terminal = Terminal::new(TestBackend::new(60, 10)).unwrap();
        key(&mut app, KeyCode::Down);
        let screen = draw(&mut app, &mut terminal);
        assert_eq!(
            screen,
            [
                " 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Con",
                "NAME    PARTITIONS  REPLICAS  STATUS       REASON",
                "audit   1           1         provisioned  -",
                "orders  2           1         provisioned  -",
                "",
                "",
                "",
                "",
                "",
                "Enter tail  d delete  q quit  ? help  : command",
            ]
            .map(|l| format!("{l}\n"))
            .concat()
        );
        let buffer = terminal.backend().buffer();
        // The second row is selected: reverse video, no colour needed.
        assert!(buffer[(0, 3)].modifier.contains(Modifier::REVERSED));
        assert!(!buffer[(0, 2)].modifier.contains(Modifier::REVERSED));
        assert_eq!(buffer[(0, 3)].fg, ratatui::style::Color::Reset);
        // Resizing re-lays out: a narrower screen cuts the tab row, nothing panics.
        terminal.backend_mut().resize(40, 10);
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("orders"), "{screen}");
    }

    #[test]
    fn help_is_generated_from_the_keymap_and_read_only_hides_deletes() {
        for read_only in [false, true] {
            let mut app = app(read_only);
            app.handle(objects());
            let mut terminal = Terminal::new(TestBackend::new(100, 40)).unwrap();
            key(&mut app, KeyCode::Char('?'));
            let screen = draw(&mut app, &mut terminal);
            assert!(screen.contains("Help: Topics"), "{screen}");
            for binding in keymap::bindings(Mode::View(View::Topics)) {
                assert_eq!(
                    screen.contains(binding.help),
                    !(read_only && binding.mutating),
                    "{}",
                    binding.help
                );
            }
            assert!(screen.contains("General"));
            key(&mut app, KeyCode::Esc);
            assert!(app.popup().is_none());
            // `d` does nothing in read-only mode.
            key(&mut app, KeyCode::Char('d'));
            assert_eq!(app.popup().is_some(), !read_only);
        }
    }

    #[test]
    fn the_consumers_view_shows_offsets_with_lag_and_deletes_one_partition() {
        let mut app = app(false);
        app.handle(objects());
        key(&mut app, KeyCode::Char('7'));
        let mut terminal = Terminal::new(TestBackend::new(80, 10)).unwrap();
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("Reading consumer offsets"), "{screen}");
        let row = |consumer: &str, offset, lag| ConsumerRow {
            consumer: consumer.to_string(),
            topic: "orders".to_string(),
            partition: 1,
            offset,
            lag: Some(lag),
            modified_time: 0,
            last_seen_secs: 75,
        };
        app.handle(AppEvent::Consumers(vec![
            row("audit", 9, 3),
            row("billing", 40, 0),
        ]));
        let screen = draw(&mut app, &mut terminal);
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(
            lines[1].trim_end(),
            "CONSUMER  TOPIC   PARTITION  OFFSET  LAG  LAST-SEEN"
        );
        assert_eq!(
            lines[2].trim_end(),
            "audit     orders  1          9       3    1m 15s"
        );
        assert_eq!(
            lines[3].trim_end(),
            "billing   orders  1          40      0    1m 15s"
        );
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Char('d'));
        match app.popup() {
            Some(Popup::Confirm { line, .. }) => {
                assert_eq!(line, "consumer delete billing -t orders -p 1")
            }
            other => panic!("{other:?}"),
        }
        app.handle(AppEvent::Consumers(Vec::new()));
        key(&mut app, KeyCode::Char('n'));
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("No consumer offsets"), "{screen}");
    }

    #[test]
    fn the_groups_view_lists_kafka_groups_with_the_selected_ones_detail() {
        use crate::client::kafka::{GroupDescription, GroupMember, GroupOffset, TopicPartition};
        let mut app = app(false);
        app.handle(objects());
        key(&mut app, KeyCode::Char('9'));
        // Opening the view asks the worker for the groups.
        assert!(matches!(
            &app.take_effects()[..],
            [Effect::FocusGroups(GroupsFocus {
                open: true,
                selected: None
            })]
        ));
        let mut terminal = Terminal::new(TestBackend::new(80, 16)).unwrap();
        let screen = draw(&mut app, &mut terminal);
        assert!(
            screen.contains("Asking the cluster for a Kafka listener"),
            "{screen}"
        );
        let summary = |group: &str, members| crate::client::kafka::GroupSummary {
            group: group.into(),
            state: "Stable".into(),
            protocol: "range".into(),
            protocol_type: "consumer".into(),
            members,
        };
        app.handle(AppEvent::Groups(views::GroupsPoll {
            list: Ok(vec![summary("g1", 1), summary("g2", 0)]),
            detail: None,
        }));
        // The first group is selected: the worker is asked to describe it.
        assert!(matches!(
            &app.take_effects()[..],
            [Effect::FocusGroups(GroupsFocus { open: true, selected: Some(g) })] if g == "g1"
        ));
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("Reading group g1…"), "{screen}");
        let tp = |partition| TopicPartition {
            topic: "t".into(),
            partition,
        };
        app.handle(AppEvent::Groups(views::GroupsPoll {
            list: Ok(vec![summary("g1", 1), summary("g2", 0)]),
            detail: Some((
                "g1".into(),
                Ok(GroupDescription {
                    group: "g1".into(),
                    state: "Stable".into(),
                    protocol: "range".into(),
                    protocol_type: "consumer".into(),
                    coordinator: 5001,
                    members: vec![GroupMember {
                        member_id: "m-1".into(),
                        client_id: "alice".into(),
                        host: "/127.0.0.1".into(),
                        assignment: vec![tp(0), tp(1)],
                    }],
                    offsets: vec![GroupOffset {
                        topic: "t".into(),
                        partition: 0,
                        committed: 3,
                        log_end: Some(5),
                        lag: Some(2),
                        owner: Some("alice".into()),
                    }],
                }),
            )),
        }));
        let screen = draw(&mut app, &mut terminal);
        let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
        assert_eq!(
            lines[1..14],
            [
                "GROUP  STATE   PROTOCOL  MEMBERS",
                "g1     Stable  range     1",
                "g2     Stable  range     0",
                "",
                "Group g1: Stable, consumer/range, coordinator SPU 5001, 1 member",
                "",
                "Members:",
                "MEMBER-ID  CLIENT-ID  HOST        ASSIGNMENT",
                "m-1        alice      /127.0.0.1  t-0,t-1",
                "",
                "Offsets:",
                "TOPIC  PARTITION  COMMITTED  LOG-END  LAG  CLIENT-ID",
                "t      0          3          5        2    alice",
            ],
            "{screen}"
        );
        // Moving down selects the next group and asks for its detail.
        key(&mut app, KeyCode::Down);
        assert!(matches!(
            &app.take_effects()[..],
            [Effect::FocusGroups(GroupsFocus { open: true, selected: Some(g) })] if g == "g2"
        ));
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("Reading group g2…"), "{screen}");
        app.handle(AppEvent::Groups(views::GroupsPoll {
            list: Err("cannot reach a Kafka listener at 127.0.0.1:9092".into()),
            detail: None,
        }));
        let screen = draw(&mut app, &mut terminal);
        assert!(
            screen.contains("cannot reach a Kafka listener at 127.0.0.1:9092"),
            "{screen}"
        );
        assert!(!screen.contains("g1"), "{screen}");
        app.take_effects();
        // Leaving the view stops the polling.
        key(&mut app, KeyCode::Char('1'));
        assert!(matches!(
            &app.take_effects()[..],
            [Effect::FocusGroups(GroupsFocus {
                open: false,
                selected: None
            })]
        ));
    }

    #[test]
    fn deleting_asks_first_and_read_only_refuses_from_the_bar() {
        let mut app = app(false);
        app.handle(objects());
        key(&mut app, KeyCode::Char('d'));
        match app.popup() {
            Some(Popup::Confirm { question, line }) => {
                assert_eq!(question, "Delete topic 'audit' and all its records?");
                assert_eq!(line, "topic delete audit");
            }
            other => panic!("{other:?}"),
        }
        key(&mut app, KeyCode::Char('n'));
        assert!(app.popup().is_none());
        assert!(app.take_effects().is_empty(), "nothing ran");
        key(&mut app, KeyCode::Char('d'));
        key(&mut app, KeyCode::Char('y'));
        let effects = app.take_effects();
        assert!(
            matches!(&effects[..], [Effect::RunCommand { line, .. }] if line == "topic delete audit"),
            "{effects:?}"
        );

        let mut app = super::tests::app(true);
        key(&mut app, KeyCode::Char(':'));
        type_line(&mut app, "topic delete audit");
        key(&mut app, KeyCode::Enter);
        let (text, error) = app.message().cloned().unwrap();
        assert!(error && text.starts_with("read-only"), "{text}");
        assert!(app.take_effects().is_empty());
    }

    #[test]
    fn command_output_shows_in_the_message_line_or_a_box() {
        let mut app = app(false);
        let mut terminal = Terminal::new(TestBackend::new(60, 12)).unwrap();
        key(&mut app, KeyCode::Char(':'));
        type_line(&mut app, "topic list");
        assert!(draw(&mut app, &mut terminal).contains(":topic list"));
        key(&mut app, KeyCode::Enter);
        assert!(matches!(
            &app.take_effects()[..],
            [Effect::RunCommand { .. }]
        ));
        app.handle(AppEvent::CommandDone {
            line: "topic create x".into(),
            outcome: Ok(vec!["topic \"x\" created".into()]),
        });
        assert!(draw(&mut app, &mut terminal).contains("topic \"x\" created"));
        app.handle(AppEvent::CommandDone {
            line: "topic list".into(),
            outcome: Ok(vec!["NAME  TYPE".into(), "x     computed".into()]),
        });
        let screen = draw(&mut app, &mut terminal);
        assert!(
            screen.contains(":topic list") && screen.contains("x     computed"),
            "{screen}"
        );
        key(&mut app, KeyCode::Esc);
        app.handle(AppEvent::CommandDone {
            line: "topic create x".into(),
            outcome: Err("cannot create topic 'x': exists".into()),
        });
        assert!(draw(&mut app, &mut terminal).contains("error: cannot create topic 'x': exists"));
        // History: ↑ brings the last line back.
        key(&mut app, KeyCode::Char(':'));
        key(&mut app, KeyCode::Up);
        assert!(draw(&mut app, &mut terminal).contains(":topic list"));
    }

    #[test]
    fn the_tail_pauses_filters_and_opens_records() {
        let mut app = app(false);
        let mut terminal = Terminal::new(TestBackend::new(120, 20)).unwrap();
        app.start_tail(TailSource {
            topic: "orders".into(),
            partitions: None,
            start: Start::Beginning,
        });
        let id = match &app.take_effects()[..] {
            [Effect::StartTail { id, .. }] => *id,
            other => panic!("{other:?}"),
        };
        app.handle(AppEvent::TailStarted { id });
        for i in 0..4 {
            let key = if i % 2 == 0 { "even" } else { "odd" };
            app.handle(AppEvent::TailRecord {
                id,
                record: record(i, key, &format!("value-{i}")),
            });
        }
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("LIVE · 4 records"), "{screen}");
        assert!(
            screen.contains("1970-01-01 00:00:00.000 [odd] value-3"),
            "{screen}"
        );

        key(&mut app, KeyCode::Char(' '));
        app.handle(AppEvent::TailRecord {
            id,
            record: record(4, "even", "value-4"),
        });
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("PAUSED (+1 new; End follows)"), "{screen}");
        assert!(!screen.contains("value-4"), "paused: {screen}");
        key(&mut app, KeyCode::End);
        assert!(draw(&mut app, &mut terminal).contains("value-4"));

        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Char('/'));
        type_line(&mut app, "k:odd");
        key(&mut app, KeyCode::Enter);
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("filter k:odd in key: 2 match"), "{screen}");
        assert!(
            screen.contains("[odd] value-3") && !screen.contains("value-4"),
            "{screen}"
        );
        // The match is highlighted with attributes, not colour.
        let row = screen.lines().position(|l| l.contains("value-3")).unwrap() as u16;
        let col = screen
            .lines()
            .nth(row as usize)
            .unwrap()
            .find("odd")
            .unwrap() as u16;
        let cell = &terminal.backend().buffer()[(col, row)];
        assert!(
            cell.modifier
                .contains(Modifier::UNDERLINED | Modifier::BOLD)
        );

        key(&mut app, KeyCode::Char('c'));
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("value-4"), "context: {screen}");

        key(&mut app, KeyCode::Enter);
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("Record 0@4"), "{screen}");
        assert!(screen.contains("shown as text"), "{screen}");
        key(&mut app, KeyCode::Esc);
        // Records of a replaced tail are ignored.
        app.start_tail(TailSource {
            topic: "audit".into(),
            partitions: Some(vec![0]),
            start: Start::End,
        });
        app.handle(AppEvent::TailRecord {
            id,
            record: record(9, "old", "stale"),
        });
        assert!(app.tail().is_empty());
    }

    #[test]
    fn the_buffer_says_when_it_dropped_records() {
        let mut app = App::new(
            TuiOptions {
                buffer: 3,
                ..TuiOptions::default()
            },
            "sc",
            "sc:9644".into(),
        );
        let mut terminal = Terminal::new(TestBackend::new(100, 12)).unwrap();
        app.start_tail(TailSource {
            topic: "t".into(),
            partitions: None,
            start: Start::Beginning,
        });
        for i in 0..5 {
            app.handle(AppEvent::TailRecord {
                id: 1,
                record: record(i, "k", "v"),
            });
        }
        let screen = draw(&mut app, &mut terminal);
        assert!(
            screen.contains("3 records · dropped 2 old records (keeps 3)"),
            "{screen}"
        );
    }

    #[test]
    fn the_tail_form_starts_a_tail_of_the_selected_topic() {
        let mut app = app(false);
        app.handle(objects());
        key(&mut app, KeyCode::Enter);
        assert!(matches!(app.popup(), Some(Popup::TailSetup(_))));
        key(&mut app, KeyCode::Enter);
        match &app.take_effects()[..] {
            [Effect::StartTail { source, .. }] => {
                assert_eq!(source.topic, "audit");
                assert_eq!(source.start, Start::Last(100));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(app.view(), View::Tail);
        // From the partitions view, the tail is of that partition.
        key(&mut app, KeyCode::Char('3'));
        key(&mut app, KeyCode::Down);
        key(&mut app, KeyCode::Enter);
        key(&mut app, KeyCode::Enter);
        match &app.take_effects()[..] {
            [Effect::StartTail { source, .. }] => {
                assert_eq!(source.topic, "orders");
                assert_eq!(source.partitions, Some(vec![0]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partition_rates_and_sparklines_come_from_leo_deltas() {
        let mut app = app(false);
        let mut terminal = Terminal::new(TestBackend::new(120, 10)).unwrap();
        let start = Instant::now();
        for s in 0..4u64 {
            let mut status = PartitionStatus::default();
            status.leader.leo = (s * 20) as i64;
            app.handle(AppEvent::Objects {
                spus: vec![],
                topics: vec![],
                partitions: vec![Metadata::new("t-0", PartitionSpec::default(), status)],
            });
            app.handle(AppEvent::Tick(start + std::time::Duration::from_secs(s)));
        }
        key(&mut app, KeyCode::Char('3'));
        let screen = draw(&mut app, &mut terminal);
        assert!(screen.contains("20.0/s  ███"), "{screen}");
    }

    #[test]
    fn mouse_is_ignored_unless_enabled() {
        use crossterm::event::MouseEvent;
        let click = |column| {
            AppEvent::Input(Event::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row: 0,
                modifiers: KeyModifiers::NONE,
            }))
        };
        let mut off = app(false);
        off.handle(click(1));
        assert_eq!(off.view(), View::Topics);
        let mut on = App::new(
            TuiOptions {
                mouse: true,
                ..TuiOptions::default()
            },
            "sc",
            "sc:9644".into(),
        );
        on.handle(click(1));
        assert_eq!(on.view(), View::Spus);
    }
}
