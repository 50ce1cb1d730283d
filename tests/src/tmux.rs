//! Drive a program in a real terminal: a tmux server of our own (its own socket, killed
//! when dropped), one session, keys in, the screen's text out, polled with a deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long [`Tmux::wait_for`] waits for the screen to show something.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// Run `shell_command` (through `sh -c`) in a new `width`×`height` terminal.
    pub fn start(name: &str, width: u16, height: u16, shell_command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("fluvio-{name}-{}", std::process::id()),
            session: name.to_string(),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            shell_command,
        ]);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys as `tmux send-keys` names them: text, `Enter`, `Up`, `Tab`, `C-c`, `C-d`.
    pub fn send_keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Type `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
    }

    /// The visible screen as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
    }

    /// The screen once `ready` says so; panics with the screen after [`SCREEN_TIMEOUT`].
    #[track_caller]
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The last line of `screen` with text on it, without trailing spaces.
pub fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// `path` quoted for `sh`.
pub fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
