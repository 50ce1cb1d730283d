//! What a command returns: typed output that the CLI, the REPL and the TUI render their
//! own way. Nothing here knows about terminals or output formats.

use serde::Serialize;

use super::error::CommandError;

/// The result of a command that ran.
#[derive(Debug, Default)]
pub struct Output {
    pub body: Body,
    /// Said to the person on stderr: warnings, "no topics found", hints.
    pub notes: Vec<String>,
    /// Parts that failed although the command went on (deleting several topics); the CLI
    /// reports each and exits 1.
    pub failures: Vec<CommandError>,
}

/// The data part of an output, printed on stdout.
#[derive(Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    /// Structured data: tables and fields for people, `data` for `-O json|yaml`.
    Report(Report),
    /// One line for people (`topic "x" created`); never affected by `-O`.
    Message(String),
    /// Text printed as is (completion scripts).
    Text(String),
    /// JSON printed as is, whatever `-O` says (advanced generate/run).
    Json(serde_json::Value),
}

impl Output {
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            body: Body::Message(text.into()),
            ..Self::default()
        }
    }

    pub fn report(report: Report) -> Self {
        Self {
            body: Body::Report(report),
            ..Self::default()
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// Blocks for people and the same facts as data for machines.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub blocks: Vec<Block>,
    pub data: serde_json::Value,
}

/// One piece of a report's human form.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A line introducing what follows (`Partition map:`).
    Title(String),
    /// `Name: value` lines, values aligned.
    Fields(Vec<(String, String)>),
    Table(Table),
    /// Said instead of an empty table (`No topics found`); goes to stderr, so that a
    /// pipe reading stdout sees nothing.
    Empty(String),
}

impl Report {
    /// A listing: one table of `items` built from `columns`, with `data` as what JSON and
    /// YAML print. With no items, `empty` is said instead of a header-only table.
    pub fn listing<T, D: Serialize>(
        columns: &[Column<T>],
        items: &[T],
        data: &D,
        empty: &str,
    ) -> Result<Self, CommandError> {
        let block = if items.is_empty() {
            Block::Empty(empty.to_string())
        } else {
            Block::Table(Table::build(columns, items))
        };
        Ok(Self {
            blocks: vec![block],
            data: to_data(data)?,
        })
    }
}

/// A value as report data.
pub fn to_data<D: Serialize + ?Sized>(data: &D) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(data).map_err(|source| CommandError::Serialize { source })
}

/// Tables are built from the column lists shared with the TUI and the SC's logs.
pub use protocol::sc::table::{Column, Table};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_listing_says_so_instead_of_a_bare_header() {
        const NAMES: &[Column<String>] = &[Column::new("NAME", String::clone)];
        let report = Report::listing(NAMES, &[], &Vec::<u32>::new(), "No items found").unwrap();
        assert_eq!(report.blocks, vec![Block::Empty("No items found".into())]);
        assert_eq!(report.data, serde_json::json!([]));
    }
}
