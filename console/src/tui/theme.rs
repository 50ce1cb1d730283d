//! Styles. State is shown with attributes only (reverse video, bold, underline, dim), never
//! with colour alone, so it reads the same on light terminals and under `NO_COLOR` (where
//! crossterm 0.29 drops a colour change *and* any attribute sent with it).

use ratatui::style::{Modifier, Style};

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
