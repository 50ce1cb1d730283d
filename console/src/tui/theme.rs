//! Styles. State is shown with attributes (reverse video, bold, underline, dim), never
//! with colour alone, so it reads the same on light terminals and under `NO_COLOR` (where
//! crossterm 0.29 drops a colour change *and* any attribute sent with it). Statuses get a
//! colour on top ([`status`]), which `NO_COLOR` removes; the bad ones stay bold.

use ratatui::style::{Color, Modifier, Style};

/// A status cell (`online`, `offline`, `insufficient-resources`, ...): green when all is
/// well, yellow while on the way, red and bold when something needs a person.
pub fn status(label: &str) -> Style {
    match label {
        "online" | "provisioned" | "ok" => Style::new().fg(Color::Green),
        "init" | "pending" | "deleting" | "election-leader-found" => Style::new().fg(Color::Yellow),
        "offline"
        | "leader-offline"
        | "insufficient-resources"
        | "invalid-config"
        | "out-of-storage"
        | "invalid" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new(),
    }
}

/// The selected row or record.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Text that matches the filter.
pub fn matched() -> Style {
    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

/// Context: records shown although they do not match the filter.
pub fn context() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

pub fn header() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn key_hint() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn error() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// The active tab.
pub fn active_tab() -> Style {
    Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
}
