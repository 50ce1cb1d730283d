//! `fluvio tui`: a full-screen console on the SC, built gitui-style.
//!
//! * Components own their state and handle events; drawing takes `&self` only
//!   ([`app::App`], [`tail::Tail`], [`popups`], [`cmdbar`]).
//! * Background tasks (metadata and auth token watches, the tail's consumer, commands from
//!   the `:` bar) report over one channel ([`app::AppEvent`]); the app asks for I/O by
//!   queueing [`app::Effect`]s that the [`worker::Worker`] carries out.
//! * One keymap table per mode ([`keymap`]) drives dispatch, the footer and the `?` help.
//! * The main loop ([`Session::run`]) is generic over the ratatui backend, so tests drive
//!   the real app on a `TestBackend`.
//!
//! Layout: `app` (state, dispatch, drawing of the frame), `keymap`, `views` (metadata
//! tables), `tail` + `follow` (pause/autoscroll) + `filter` + `buffer` (bounded), `rates`
//! (smoothed produce rates), `format` (timestamps, previews, hex), `popups`, `cmdbar`,
//! `worker`, `terminal` (raw mode, panic hook, input thread), `theme`.

pub mod app;
pub mod buffer;
pub mod cmdbar;
pub mod filter;
pub mod follow;
pub mod format;
pub mod keymap;
pub mod metrics;
pub mod popups;
pub mod rates;
pub mod tail;
pub mod terminal;
pub mod theme;
pub mod views;
pub mod worker;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use tokio::sync::mpsc;

use crate::client::Fluvio;
use crate::command::interactive::DEFAULT_TAIL_BUFFER;

pub use crate::command::interactive::TuiArgs;

pub use app::{App, AppEvent, Effect};
/// The ratatui and crossterm the console is built with, for tests and embedders.
pub use {crossterm, ratatui};

/// How the console behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiOptions {
    pub read_only: bool,
    pub mouse: bool,
    /// Records the tail keeps.
    pub buffer: usize,
    /// Where the SC address came from, for `:version` and errors of `:` commands.
    pub origin: crate::config::AddrOrigin,
    /// The metrics endpoint the metrics view reads; `None`: the SC's host, port 9644.
    pub metrics_addr: Option<String>,
    /// The Kafka listener the groups view asks (`consumer-group --kafka-addr`); `None`:
    /// an online SPU's, as the SC names it.
    pub kafka_addr: Option<String>,
    /// How the console's connections are secured, for `:` commands' own connections.
    pub tls: crate::config::TlsSettings,
}

impl Default for TuiOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            mouse: false,
            buffer: DEFAULT_TAIL_BUFFER,
            // Given a connected client, the embedder chose the address.
            origin: crate::config::AddrOrigin::Flag,
            metrics_addr: None,
            kafka_addr: None,
            tls: crate::config::TlsSettings::Disabled,
        }
    }
}

impl From<&TuiArgs> for TuiOptions {
    fn from(args: &TuiArgs) -> Self {
        Self {
            read_only: args.read_only,
            mouse: args.mouse,
            buffer: args.buffer,
            metrics_addr: args.metrics_addr.clone(),
            kafka_addr: args.kafka_addr.clone(),
            ..TuiOptions::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(
        "the console needs a terminal: stdin and stdout must be a TTY (use the other fluvio commands in scripts)"
    )]
    NotATerminal,
    #[error("terminal error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend's error, as text (its type is the backend's own).
    #[error("cannot draw: {0}")]
    Draw(String),
}

/// Where fluvio-daemon serves its metrics by default: the SC's host, port 9644.
pub fn default_metrics_addr(sc: &str) -> String {
    let host = match sc.rsplit_once(':') {
        Some((host, _)) => host,
        None => sc,
    };
    format!("{host}:9644")
}

/// Events queued between the background tasks and the app. Bounded, so a fast stream
/// waits for the screen instead of filling memory.
const CHANNEL: usize = 4096;
/// Events handled before the screen is drawn again, so a flood of records cannot starve
/// the screen.
const BATCH: usize = 1024;

/// The app, its worker and their channel: what the main loop runs.
pub struct Session {
    app: App,
    worker: worker::Worker,
    events: mpsc::Receiver<AppEvent>,
    sender: mpsc::Sender<AppEvent>,
}

impl Session {
    /// Start the background watches. Must run inside a tokio runtime.
    pub fn start(fluvio: Fluvio, options: TuiOptions) -> Self {
        let (sender, events) = mpsc::channel(CHANNEL);
        let origin = options.origin.clone();
        let tls = options.tls.clone();
        let kafka_addr = options.kafka_addr.clone();
        let metrics_addr = options
            .metrics_addr
            .clone()
            .unwrap_or_else(|| default_metrics_addr(fluvio.admin().addr()));
        let mut app = App::new(options, fluvio.admin().addr(), metrics_addr.clone());
        app.set_security(fluvio.metadata().tls().describe());
        let worker = worker::Worker::start(
            fluvio,
            sender.clone(),
            origin,
            tls,
            metrics_addr,
            kafka_addr,
        );
        Self {
            app,
            worker,
            events,
            sender,
        }
    }

    /// Where input (and anything else) can be sent to the app.
    pub fn sender(&self) -> mpsc::Sender<AppEvent> {
        self.sender.clone()
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Handle one event and carry out the effects it asked for.
    pub fn handle(&mut self, event: AppEvent) {
        self.app.handle(event);
        for effect in self.app.take_effects() {
            self.worker.execute(effect);
        }
    }

    /// Draw the app; the app learns the terminal's size first.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), TuiError> {
        let size = terminal
            .size()
            .map_err(|err| TuiError::Draw(err.to_string()))?;
        self.app
            .set_size(ratatui::layout::Rect::new(0, 0, size.width, size.height));
        terminal
            .draw(|frame| self.app.draw(frame))
            .map_err(|err| TuiError::Draw(err.to_string()))?;
        Ok(())
    }

    /// Draw, wait for events, handle them, until the app quits.
    pub async fn run<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), TuiError> {
        while !self.app.should_quit() {
            self.draw(terminal)?;
            let Some(event) = self.events.recv().await else {
                break;
            };
            self.handle(event);
            // Take what else is queued before drawing again.
            for _ in 0..BATCH {
                if self.app.should_quit() {
                    break;
                }
                match self.events.try_recv() {
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                }
            }
        }
        Ok(())
    }

    /// Press a key (for tests): handle it and draw.
    pub fn press<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        key: crossterm::event::KeyEvent,
    ) -> Result<(), TuiError> {
        self.handle(AppEvent::Input(crossterm::event::Event::Key(key)));
        self.draw(terminal)
    }

    /// Handle background events and redraw until `ready` holds for the screen's text, or
    /// `timeout` passes. The screen's text either way.
    pub async fn wait_until<B: Backend + BufferBackend>(
        &mut self,
        terminal: &mut Terminal<B>,
        timeout: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.draw(terminal).map_err(|err| err.to_string())?;
            let screen = screen_text(terminal.backend().buffer());
            if ready(&screen) {
                return Ok(screen);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(screen);
            }
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => self.handle(event),
                Ok(None) => return Err(screen),
                Err(_) => {}
            }
        }
    }
}

/// A backend whose screen can be read back (the test backend).
pub trait BufferBackend {
    fn buffer(&self) -> &Buffer;
}

impl BufferBackend for ratatui::backend::TestBackend {
    fn buffer(&self) -> &Buffer {
        ratatui::backend::TestBackend::buffer(self)
    }
}

/// The text on screen, one line per row, trailing spaces trimmed.
pub fn screen_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut text = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            line.push_str(buffer[(x, y)].symbol());
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Run the console on this process's terminal until the person quits.
pub async fn run(fluvio: Fluvio, options: TuiOptions) -> Result<(), TuiError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let guard = terminal::TerminalGuard::enter(options.mouse)?;
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = Terminal::new(backend)?;
    terminal.clear()?;
    let mut session = Session::start(fluvio, options);
    let input = terminal::InputThread::spawn(session.sender());
    let result = session.run(&mut terminal).await;
    drop(input);
    drop(session);
    drop(guard);
    result
}

/// `fluvio tui`: connect to `target`, run, and give the exit code; errors are printed
/// the way the CLI prints them.
pub async fn run_cli(
    args: &TuiArgs,
    target: &crate::config::ScTarget,
    env: &crate::frontend::Env,
    err: &mut dyn std::io::Write,
) -> u8 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        let _ = writeln!(err, "error: {}", TuiError::NotATerminal);
        return crate::frontend::EXIT_FAILED;
    }
    let connected = match target.tls.build() {
        Ok(tls) => Fluvio::connect_with(&target.addr, &tls)
            .await
            .map_err(crate::command::CommandError::from),
        Err(error) => Err(error.into()),
    };
    let fluvio = match connected {
        Ok(fluvio) => fluvio,
        Err(error) => {
            crate::frontend::print_error(&error, Some(target), env, err);
            return crate::frontend::EXIT_FAILED;
        }
    };
    let options = TuiOptions {
        origin: target.origin.clone(),
        tls: target.tls.clone(),
        ..TuiOptions::from(args)
    };
    match run(fluvio, options).await {
        Ok(()) => crate::frontend::EXIT_OK,
        Err(error) => {
            let _ = writeln!(err, "error: {error}");
            crate::frontend::EXIT_FAILED
        }
    }
}
