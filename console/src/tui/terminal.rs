//! The real terminal: raw mode and the alternate screen in, and always out again (on
//! return, on error, and on panic, before the panic message prints); and a thread that
//! reads input.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, MouseEventKind};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use tokio::sync::mpsc::Sender;

use super::app::AppEvent;

/// Set while the console owns the terminal, so the panic hook restores only then.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);

/// The terminal in console mode; dropping it restores the terminal.
pub struct TerminalGuard(());

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<Self> {
        install_panic_hook();
        MOUSE.store(mouse, Ordering::SeqCst);
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard(());
        enable_raw_mode()?;
        let mut out = io::stdout();
        execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Put the terminal back as the shell had it; a no-op when the console is not up.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if MOUSE.load(Ordering::SeqCst) {
        let _ = execute!(out, DisableMouseCapture);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Reads terminal events on its own thread until stopped or the app is gone.
pub struct InputThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl InputThread {
    pub fn spawn(events: Sender<AppEvent>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                // Poll with a timeout so a stop request is seen within 100 ms.
                match event::poll(Duration::from_millis(100)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => return,
                }
                let Ok(event) = event::read() else {
                    return;
                };
                if wanted(&event) && events.blocking_send(AppEvent::Input(event)).is_err() {
                    return;
                }
            }
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }
}

/// Key presses (not releases: some terminals report both), resizes, pastes, and mouse
/// clicks and wheel turns (not every move).
fn wanted(event: &Event) -> bool {
    match event {
        Event::Key(key) => key.kind != KeyEventKind::Release,
        Event::Mouse(mouse) => {
            !matches!(mouse.kind, MouseEventKind::Moved | MouseEventKind::Drag(_))
        }
        Event::Resize(..) | Event::Paste(_) => true,
        Event::FocusGained | Event::FocusLost => false,
    }
}

impl Drop for InputThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
