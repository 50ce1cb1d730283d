//! Command output as text: plain-column tables (comfy-table), `Name: value` fields, JSON
//! and YAML. Rendering returns strings; where they go (stdout, a REPL pane, a TUI widget)
//! is the caller's business.

use std::ffi::OsStr;

use comfy_table::{Attribute, Cell, ContentArrangement, presets};

use crate::command::{Block, Body, CommandError, Output, OutputFormat, Report, Table};

/// Text for the two streams: data for stdout, remarks for stderr (one line each).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub stdout: String,
    pub stderr: Vec<String>,
}

/// Colour only on a terminal, never with `NO_COLOR` set (to anything but the empty string)
/// or with `TERM=dumb`.
pub fn color_enabled(is_terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty) && term.is_none_or(|t| t != "dumb")
}

/// Render `output`'s body in `format` (for reports) and its notes; `color` adds bold
/// headers and titles.
pub fn render(
    output: &Output,
    format: OutputFormat,
    color: bool,
) -> Result<Rendered, CommandError> {
    render_fitted(output, format, color, None)
}

/// The width of the terminal stdout is, if it is one: tables are fitted to it. Into a
/// pipe or a file, tables keep every column whole, so tools can cut them.
pub fn stdout_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(columns, _)| usize::from(columns))
        .filter(|&c| c > 0)
}

/// [`render`], with tables fitted to `width` columns when given: low-priority columns
/// dropped (said on stderr) and long cells cut with `…`.
pub fn render_fitted(
    output: &Output,
    format: OutputFormat,
    color: bool,
    width: Option<usize>,
) -> Result<Rendered, CommandError> {
    let mut rendered = Rendered {
        stdout: String::new(),
        stderr: Vec::new(),
    };
    match &output.body {
        Body::Empty => {}
        Body::Message(text) => rendered.stdout = line(text),
        Body::Text(text) => rendered.stdout = text.clone(),
        Body::Json(value) => rendered.stdout = json(value)?,
        Body::Report(report) => match format {
            OutputFormat::Table => {
                let (stdout, stderr) = report_text(report, color, width);
                rendered.stdout = stdout;
                rendered.stderr = stderr;
            }
            OutputFormat::Json => rendered.stdout = json(&report.data)?,
            OutputFormat::Yaml => rendered.stdout = yaml(&report.data)?,
            OutputFormat::Toml => rendered.stdout = toml(&report.data),
        },
    }
    rendered.stderr.extend(output.notes.iter().cloned());
    Ok(rendered)
}

fn line(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

pub fn json(value: &serde_json::Value) -> Result<String, CommandError> {
    serde_json::to_string_pretty(value)
        .map(|text| line(&text))
        .map_err(|source| CommandError::Serialize { source })
}

pub fn yaml(value: &serde_json::Value) -> Result<String, CommandError> {
    serde_norway::to_string(value).map_err(|source| CommandError::Yaml { source })
}

/// TOML has no top-level array and no null: a top-level array (a listing) is put under
/// `items` (`[[items]]`, one table per object), a top-level scalar under `value`, and
/// null values are left out, as serializers leave out an absent `Option`.
pub fn toml(value: &serde_json::Value) -> String {
    let mut doc = toml_edit::DocumentMut::new();
    match value {
        serde_json::Value::Object(fields) => fill_table(doc.as_table_mut(), fields),
        serde_json::Value::Array(_) => insert_item(doc.as_table_mut(), "items", value),
        scalar => insert_item(doc.as_table_mut(), "value", scalar),
    }
    doc.to_string()
}

fn fill_table(table: &mut toml_edit::Table, fields: &serde_json::Map<String, serde_json::Value>) {
    for (key, value) in fields {
        insert_item(table, key, value);
    }
}

/// Objects become `[tables]`, arrays of objects `[[tables]]`, the rest inline values.
fn insert_item(table: &mut toml_edit::Table, key: &str, value: &serde_json::Value) {
    use serde_json::Value as J;
    let item = match value {
        J::Null => return,
        J::Object(fields) => {
            let mut sub = toml_edit::Table::new();
            fill_table(&mut sub, fields);
            toml_edit::Item::Table(sub)
        }
        J::Array(items) if !items.is_empty() && items.iter().all(J::is_object) => {
            let mut tables = toml_edit::ArrayOfTables::new();
            for fields in items.iter().filter_map(J::as_object) {
                let mut sub = toml_edit::Table::new();
                fill_table(&mut sub, fields);
                tables.push(sub);
            }
            toml_edit::Item::ArrayOfTables(tables)
        }
        other => match toml_value(other) {
            Some(value) => toml_edit::Item::Value(value),
            None => return,
        },
    };
    table.insert(key, item);
}

fn toml_value(value: &serde_json::Value) -> Option<toml_edit::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => return None,
        J::Bool(b) => (*b).into(),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            // TOML integers are i64: a larger u64 keeps its digits as a string.
            _ if n.is_u64() => n.to_string().into(),
            (None, Some(f)) => f.into(),
            (None, None) => n.to_string().into(),
        },
        J::String(s) => s.as_str().into(),
        J::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items.iter().filter_map(toml_value) {
                array.push(item);
            }
            toml_edit::Value::Array(array)
        }
        J::Object(fields) => {
            let mut inline = toml_edit::InlineTable::new();
            for (key, value) in fields {
                if let Some(value) = toml_value(value) {
                    inline.insert(key, value);
                }
            }
            toml_edit::Value::InlineTable(inline)
        }
    })
}

/// A report for people: stdout text, and the "nothing found" remarks for stderr.
pub fn report_text(report: &Report, color: bool, width: Option<usize>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut remarks = Vec::new();
    for block in &report.blocks {
        match block {
            Block::Title(title) => {
                out.push_str(&styled(title, color));
                out.push('\n');
            }
            Block::Fields(fields) => out.push_str(&fields_text(fields, color)),
            Block::Table(table) => match width {
                Some(width) => {
                    let (fitted, dropped) = protocol::sc::table::fit(table, width);
                    out.push_str(&table_text(&fitted, color));
                    if !dropped.is_empty() {
                        remarks.push(format!(
                            "note: left out to fit the terminal: {} (-O json shows every field)",
                            dropped.join(", ")
                        ));
                    }
                }
                None => out.push_str(&table_text(table, color)),
            },
            Block::Empty(remark) => remarks.push(remark.clone()),
        }
    }
    (out, remarks)
}

fn styled(text: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("\x1b[1m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// `Name: value` lines with the values aligned.
pub fn fields_text(fields: &[(String, String)], color: bool) -> String {
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in fields {
        let label = format!("{key}:");
        let pad = " ".repeat(width - label.chars().count());
        out.push_str(&format!("{}{pad}  {value}\n", styled(&label, color)));
    }
    out
}

/// Columns without borders, left-aligned, two spaces apart; the header bold with colour.
/// Never wrapped to the terminal's width, so every row stays one line that tools can cut.
pub fn table_text(table: &Table, color: bool) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(presets::NOTHING);
    // The caller decided about colour; comfy-table must not look at the terminal itself.
    t.force_no_tty();
    if color {
        t.enforce_styling();
        t.style_text_only();
    }
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(table.header().iter().map(|h| {
        let cell = Cell::new(h);
        if color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for row in table.rows() {
        t.add_row(row.iter().map(Cell::new));
    }
    let last = table.header().len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    let mut text = t.trim_fmt();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Column;

    struct Row(&'static str, &'static str, &'static str);

    const COLUMNS: &[Column<Row>] = &[
        Column::new("NAME", |r| r.0.into()),
        Column::new("STATUS", |r| r.1.into()),
        Column::new("REASON", |r| r.2.into()),
    ];

    fn sample() -> Table {
        Table::build(
            COLUMNS,
            &[
                Row("a-long-topic-name", "provisioned", ""),
                Row("b", "insufficient-resources", "need 1 more SPU"),
            ],
        )
    }

    #[test]
    fn tables_are_plain_aligned_columns() {
        let text = table_text(&sample(), false);
        assert_eq!(
            text,
            "NAME               STATUS                  REASON\n\
             a-long-topic-name  provisioned             -\n\
             b                  insufficient-resources  need 1 more SPU\n"
        );
    }

    #[test]
    fn every_cell_starts_under_its_header() {
        let text = table_text(&sample(), false);
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let starts: Vec<usize> = ["NAME", "STATUS", "REASON"]
            .iter()
            .map(|h| header.find(h).unwrap())
            .collect();
        for line in lines {
            for start in &starts {
                let before = &line[..*start];
                assert!(before.is_empty() || before.ends_with(' '), "{line}");
                assert!(!line[*start..].starts_with(' '), "{line}");
            }
        }
    }

    #[test]
    fn colour_is_only_bold_headers_and_only_when_asked() {
        let plain = table_text(&sample(), false);
        assert!(!plain.contains('\x1b'));
        let colored = table_text(&sample(), true);
        assert!(colored.contains("\x1b[1m"), "{colored:?}");
        assert_eq!(strip_ansi(&colored), plain);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn colour_rules() {
        let none = None;
        assert!(color_enabled(true, none, Some(OsStr::new("xterm"))));
        assert!(!color_enabled(false, none, none));
        assert!(!color_enabled(true, Some(OsStr::new("1")), none));
        assert!(color_enabled(true, Some(OsStr::new("")), none));
        assert!(!color_enabled(true, none, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn reports_in_each_format() {
        let report = Report {
            blocks: vec![
                Block::Title("topics:".into()),
                Block::Fields(vec![
                    ("Name".into(), "t".into()),
                    ("Partition Count".into(), "2".into()),
                ]),
                Block::Table(sample()),
            ],
            data: serde_json::json!([{"name": "t", "partitions": 2, "reason": "yes: no"}]),
        };
        let output = Output::report(report).with_note("note: hello");
        let table = render(&output, OutputFormat::Table, false).unwrap();
        assert!(
            table
                .stdout
                .starts_with("topics:\nName:             t\nPartition Count:  2\nNAME")
        );
        assert_eq!(table.stderr, ["note: hello"]);
        let json_text = render(&output, OutputFormat::Json, false).unwrap().stdout;
        let back: serde_json::Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(back[0]["partitions"], 2);
        let yaml_text = render(&output, OutputFormat::Yaml, false).unwrap().stdout;
        let back: serde_json::Value = serde_norway::from_str(&yaml_text).unwrap();
        assert_eq!(back[0]["reason"], "yes: no");
        let toml_text = render(&output, OutputFormat::Toml, false).unwrap().stdout;
        assert_eq!(
            toml_text,
            "[[items]]\nname = \"t\"\npartitions = 2\nreason = \"yes: no\"\n"
        );
    }

    #[test]
    fn toml_has_no_null_and_nests_tables() {
        let value = serde_json::json!({
            "name": "t",
            "gone": null,
            "spec": {"replicas": [5001, 5002], "size": u64::MAX, "ratio": 0.5},
            "parts": [{"id": 0}, {"id": 1}],
        });
        let text = toml(&value);
        let back: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(back["name"].as_str(), Some("t"));
        assert!(!back.contains_key("gone"), "{text}");
        assert_eq!(back["spec"]["replicas"].as_array().unwrap().len(), 2);
        assert_eq!(back["spec"]["size"].as_str(), Some("18446744073709551615"));
        assert_eq!(back["parts"][1]["id"].as_integer(), Some(1));
        assert_eq!(toml(&serde_json::json!([])), "items = []\n");
    }

    #[test]
    fn an_empty_listing_prints_nothing_on_stdout_in_table_format() {
        let report = Report {
            blocks: vec![Block::Empty("No topics found".into())],
            data: serde_json::json!([]),
        };
        let output = Output::report(report);
        let table = render(&output, OutputFormat::Table, false).unwrap();
        assert_eq!(table.stdout, "");
        assert_eq!(table.stderr, ["No topics found"]);
        let json = render(&output, OutputFormat::Json, false).unwrap();
        assert_eq!(json.stdout, "[]\n");
        assert!(json.stderr.is_empty());
    }
}
