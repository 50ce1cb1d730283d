//! What opens on top of a view: help, a confirmation, one record in full, command output,
//! and the form that starts a tail.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::client::ConsumerRecord;

use super::format;
use super::keymap::{self, Mode};
use super::tail::{Start, TailSource};
use super::theme;

#[derive(Debug)]
pub enum Popup {
    Help {
        under: Mode,
        scroll: usize,
    },
    Confirm {
        question: String,
        line: String,
    },
    Record(RecordView),
    Output {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
    TailSetup(TailForm),
}

impl Popup {
    pub fn mode(&self) -> Mode {
        match self {
            Popup::Help { .. } => Mode::Help,
            Popup::Confirm { .. } => Mode::Confirm,
            Popup::Record(_) => Mode::Record,
            Popup::Output { .. } => Mode::Output,
            Popup::TailSetup(_) => Mode::TailSetup,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, read_only: bool) {
        match self {
            Popup::Help { under, scroll } => {
                let mut lines = Vec::new();
                for (title, entries) in keymap::help(*under, read_only) {
                    lines.push(Line::styled(title, theme::header()));
                    for (keys, what) in entries {
                        lines.push(Line::from(vec![
                            Span::styled(format!("  {keys:<16}"), theme::key_hint()),
                            Span::raw(what),
                        ]));
                    }
                    lines.push(Line::from(""));
                }
                let title = format!(" Help: {} ", mode_title(*under));
                // As large as the help, as far as the terminal allows; what does not fit
                // scrolls, and the bottom border says so.
                let width = lines.iter().map(Line::width).max().unwrap_or(0) + 4;
                let width = u16::try_from(width).unwrap_or(u16::MAX).min(area.width);
                let height = u16::try_from(lines.len() + 2)
                    .unwrap_or(u16::MAX)
                    .min(area.height);
                let rect = Rect {
                    x: area.x + (area.width - width) / 2,
                    y: area.y + (area.height - height) / 2,
                    width,
                    height,
                };
                boxed_in(frame, rect, &title, lines, *scroll, false);
            }
            Popup::Confirm { question, .. } => {
                let lines = vec![
                    Line::from(question.clone()),
                    Line::from(""),
                    Line::from(vec![
                        Span::styled("y", theme::key_hint()),
                        Span::raw(" yes   "),
                        Span::styled("n", theme::key_hint()),
                        Span::raw("/"),
                        Span::styled("Esc", theme::key_hint()),
                        Span::raw(" no"),
                    ]),
                ];
                boxed(frame, area, 60, 30, " Confirm ", lines, 0, true);
            }
            Popup::Record(view) => view.draw(frame, area),
            Popup::Output {
                title,
                lines,
                scroll,
            } => {
                let lines = lines.iter().map(|l| Line::from(l.clone())).collect();
                boxed(
                    frame,
                    area,
                    90,
                    80,
                    &format!(" {title} "),
                    lines,
                    *scroll,
                    false,
                );
            }
            Popup::TailSetup(form) => form.draw(frame, area),
        }
    }

    /// Scroll a scrollable popup by `delta` lines.
    pub fn scroll(&mut self, delta: isize) {
        let scroll = match self {
            Popup::Help { scroll, .. } | Popup::Output { scroll, .. } => scroll,
            Popup::Record(view) => &mut view.scroll,
            _ => return,
        };
        *scroll = scroll.saturating_add_signed(delta);
    }
}

fn mode_title(mode: Mode) -> &'static str {
    match mode {
        Mode::View(view) => view.title(),
        _ => "",
    }
}

/// A centred rectangle of `pct_w`% x `pct_h`% of `area` (at least 3 rows).
pub fn centered(area: Rect, pct_w: u16, pct_h: u16) -> Rect {
    let width = (area.width * pct_w / 100).max(20).min(area.width);
    let height = (area.height * pct_h / 100).max(5).min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[allow(clippy::too_many_arguments)]
fn boxed(
    frame: &mut Frame,
    area: Rect,
    pct_w: u16,
    pct_h: u16,
    title: &str,
    lines: Vec<Line<'_>>,
    scroll: usize,
    wrap: bool,
) {
    boxed_in(
        frame,
        centered(area, pct_w, pct_h),
        title,
        lines,
        scroll,
        wrap,
    );
}

/// A bordered box at `rect`. When the lines do not fit (unwrapped), the bottom border
/// says which are shown and that ↑/↓ scroll.
fn boxed_in(
    frame: &mut Frame,
    rect: Rect,
    title: &str,
    lines: Vec<Line<'_>>,
    scroll: usize,
    wrap: bool,
) {
    let inner_height = rect.height.saturating_sub(2) as usize;
    let total = lines.len();
    // Never scroll past the last page.
    let scroll = scroll.min(total.saturating_sub(inner_height));
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(title.to_string());
    if !wrap && total > inner_height {
        let last = (scroll + inner_height).min(total);
        block = block.title_bottom(format!(
            " lines {}-{last} of {total} · ↑/↓ scroll ",
            scroll + 1
        ));
    }
    let mut paragraph = Paragraph::new(lines)
        .block(block)
        .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0));
    if wrap {
        paragraph = paragraph.wrap(Wrap { trim: false });
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(paragraph, rect);
}

/// One record in full.
#[derive(Debug)]
pub struct RecordView {
    pub record: ConsumerRecord,
    /// Show the value as a hex dump even when it is text.
    pub hex: bool,
    pub scroll: usize,
}

impl RecordView {
    pub fn new(record: ConsumerRecord) -> Self {
        Self {
            record,
            hex: false,
            scroll: 0,
        }
    }

    pub fn lines(&self) -> Vec<Line<'static>> {
        let r = &self.record;
        let field = |name: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{name:<11}"), theme::header()),
                Span::raw(value),
            ])
        };
        let mut lines = vec![
            field("partition", r.partition.to_string()),
            field("offset", r.offset.to_string()),
            field("time (UTC)", format::timestamp(r.timestamp)),
            field(
                "key",
                r.key
                    .as_deref()
                    .map_or(format::NO_KEY.to_string(), format::preview),
            ),
        ];
        if r.headers.is_empty() {
            lines.push(field("headers", "(none)".into()));
        } else {
            lines.push(field("headers", String::new()));
            for h in &r.headers {
                lines.push(Line::from(format!(
                    "  {} = {}",
                    h.key,
                    format::preview(&h.value)
                )));
            }
        }
        let (kind, body) = if self.hex {
            (format::ValueKind::Binary, format::hex_dump(&r.value))
        } else {
            format::full_value(&r.value)
        };
        lines.push(field(
            "value",
            format!("{} bytes, shown as {}", r.value.len(), kind.label()),
        ));
        lines.extend(body.into_iter().map(Line::from));
        lines
    }

    fn draw(&self, frame: &mut Frame, area: Rect) {
        let title = format!(
            " Record {}@{} (h: hex, Esc: close) ",
            self.record.partition, self.record.offset
        );
        boxed(frame, area, 90, 85, &title, self.lines(), self.scroll, true);
    }
}

/// The choices of where to start, in the order ←/→ cycle them.
const STARTS: [&str; 5] = [
    "new records (end)",
    "beginning",
    "last N",
    "offset N",
    "beginning + N",
];

/// The tail form: topic, partitions, start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailForm {
    pub topic: String,
    /// `all` or a list such as `0,2`.
    pub partitions: String,
    pub start: usize,
    pub n: String,
    pub field: usize,
    pub error: Option<String>,
}

const FIELDS: usize = 4;

impl TailForm {
    pub fn new(topic: &str, partition: Option<u32>) -> Self {
        Self {
            topic: topic.to_string(),
            partitions: partition.map_or("all".to_string(), |p| p.to_string()),
            start: 2,
            n: "100".into(),
            field: 2,
            error: None,
        }
    }

    /// A form for the tail that runs now, to change one thing.
    pub fn from_source(source: &TailSource) -> Self {
        let (start, n) = match source.start {
            Start::End => (0, 100),
            Start::Beginning => (1, 100),
            Start::Last(n) => (2, n),
            Start::Offset(n) => (3, n),
            Start::FromBeginning(n) => (4, n),
        };
        Self {
            topic: source.topic.clone(),
            partitions: source.partitions.as_ref().map_or("all".into(), |list| {
                list.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            start,
            n: n.to_string(),
            field: 0,
            error: None,
        }
    }

    pub fn next_field(&mut self) {
        self.field = (self.field + 1) % FIELDS;
    }

    pub fn prev_field(&mut self) {
        self.field = (self.field + FIELDS - 1) % FIELDS;
    }

    pub fn cycle(&mut self, forward: bool) {
        if self.field == 2 {
            self.start = if forward {
                (self.start + 1) % STARTS.len()
            } else {
                (self.start + STARTS.len() - 1) % STARTS.len()
            };
        }
    }

    fn text_field(&mut self) -> Option<&mut String> {
        match self.field {
            0 => Some(&mut self.topic),
            1 => Some(&mut self.partitions),
            3 => Some(&mut self.n),
            _ => None,
        }
    }

    pub fn insert(&mut self, c: char) {
        if let Some(text) = self.text_field() {
            text.push(c);
        }
    }

    pub fn backspace(&mut self) {
        if let Some(text) = self.text_field() {
            text.pop();
        }
    }

    /// What the form says to tail, or what is wrong with it.
    pub fn source(&self) -> Result<TailSource, String> {
        let topic = self.topic.trim();
        if topic.is_empty() {
            return Err("which topic?".into());
        }
        let partitions = match self.partitions.trim() {
            "" | "all" | "*" => None,
            list => {
                let mut parsed = Vec::new();
                for part in list.split(',') {
                    parsed.push(part.trim().parse::<u32>().map_err(|_| {
                        format!("partitions: '{part}' is not a number; use `all` or e.g. 0,2")
                    })?);
                }
                parsed.sort_unstable();
                parsed.dedup();
                Some(parsed)
            }
        };
        let n = || {
            self.n
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("N: '{}' is not a number of records or an offset", self.n))
        };
        let start = match self.start {
            0 => Start::End,
            1 => Start::Beginning,
            2 => Start::Last(n()?),
            3 => Start::Offset(n()?),
            _ => Start::FromBeginning(n()?),
        };
        Ok(TailSource {
            topic: topic.to_string(),
            partitions,
            start,
        })
    }

    fn draw(&self, frame: &mut Frame, area: Rect) {
        let start_label = STARTS[self.start];
        let fields = [
            ("Topic", self.topic.clone()),
            ("Partitions", self.partitions.clone()),
            ("Start", format!("◀ {start_label} ▶")),
            ("N", self.n.clone()),
        ];
        let mut lines = Vec::new();
        for (i, (name, value)) in fields.into_iter().enumerate() {
            let style = if i == self.field {
                theme::selected()
            } else {
                ratatui::style::Style::new()
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{name:<12}"), theme::header()),
                Span::styled(value, style),
            ]));
        }
        lines.push(Line::from(""));
        if let Some(error) = &self.error {
            lines.push(Line::styled(error.clone(), theme::error()));
        }
        lines.push(Line::from(
            "Tab/↓ next field · ←/→ choose start · Enter start · Esc cancel",
        ));
        boxed(frame, area, 60, 40, " Tail ", lines, 0, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_form_reads_like_consume_flags() {
        let mut form = TailForm::new("orders", Some(2));
        assert_eq!(
            form.source(),
            Ok(TailSource {
                topic: "orders".into(),
                partitions: Some(vec![2]),
                start: Start::Last(100),
            })
        );
        form.field = 1;
        form.backspace();
        for c in "0, 3,0".chars() {
            form.insert(c);
        }
        form.next_field();
        form.cycle(true);
        assert_eq!(form.source().unwrap().partitions, Some(vec![0, 3]));
        assert_eq!(form.source().unwrap().start, Start::Offset(100));
        form.cycle(false);
        form.cycle(false);
        assert_eq!(form.source().unwrap().start, Start::Beginning);
        form.partitions = "x".into();
        assert!(form.source().unwrap_err().contains("'x' is not a number"));
        // Round trip through a running tail's source.
        let source = TailSource {
            topic: "t".into(),
            partitions: None,
            start: Start::FromBeginning(5),
        };
        assert_eq!(TailForm::from_source(&source).source(), Ok(source));
    }

    #[test]
    fn a_binary_record_opens_as_hex_and_json_pretty_prints() {
        let record = ConsumerRecord {
            partition: 1,
            offset: 42,
            timestamp: 0,
            key: None,
            value: Bytes::from_static(&[0, 159, 146, 150]),
            headers: vec![],
        };
        let text: Vec<String> = RecordView::new(record.clone())
            .lines()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            text.contains(&"value      4 bytes, shown as binary".to_string()),
            "{text:?}"
        );
        assert!(text.last().unwrap().starts_with("00000000  00 9f 92 96"));
        let mut json = RecordView::new(ConsumerRecord {
            value: Bytes::from_static(br#"{"a":1}"#),
            ..record
        });
        let text: Vec<String> = json.lines().iter().map(ToString::to_string).collect();
        assert!(text.contains(&"  \"a\": 1".to_string()), "{text:?}");
        json.hex = true;
        let text: Vec<String> = json.lines().iter().map(ToString::to_string).collect();
        assert!(text.last().unwrap().contains("|{\"a\":1}|"), "{text:?}");
    }
}
