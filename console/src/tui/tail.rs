//! The live tail: a bounded buffer of records from one topic, the follow/pause state, the
//! filter, and how it all draws.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::client::{ConsumerRecord, Offset};

use super::buffer::Bounded;
use super::filter::{Fields, Filter, Scope};
use super::follow::{Follow, PauseReason, Visible};
use super::format;
use super::theme;

/// Longest value text kept per record for the list (the full value stays in the record).
const PREVIEW_CHARS: usize = 2048;

/// Where a tail starts, as `fluvio consume` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Only new records (`consume`'s default).
    End,
    /// `-B`: from the oldest record.
    Beginning,
    /// `-T N`: the last N records.
    Last(i64),
    /// `--start N`: from absolute offset N.
    Offset(i64),
    /// `-H N`: N records after the beginning.
    FromBeginning(i64),
}

impl Start {
    pub fn offset(self) -> Offset {
        match self {
            Start::End => Offset::End,
            Start::Beginning => Offset::Beginning,
            Start::Last(n) => Offset::FromEnd(n),
            Start::Offset(n) => Offset::Absolute(n),
            Start::FromBeginning(n) => Offset::FromBeginning(n),
        }
    }

    pub fn label(self) -> String {
        match self {
            Start::End => "new records".into(),
            Start::Beginning => "the beginning".into(),
            Start::Last(n) => format!("the last {n}"),
            Start::Offset(n) => format!("offset {n}"),
            Start::FromBeginning(n) => format!("beginning + {n}"),
        }
    }
}

/// What to tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailSource {
    pub topic: String,
    /// `None`: every partition.
    pub partitions: Option<Vec<u32>>,
    pub start: Start,
}

impl TailSource {
    pub fn partitions_label(&self) -> String {
        match &self.partitions {
            None => "all partitions".into(),
            Some(list) if list.len() == 1 => format!("partition {}", list[0]),
            Some(list) => {
                let list: Vec<String> = list.iter().map(ToString::to_string).collect();
                format!("partitions {}", list.join(","))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    Idle,
    Starting,
    Streaming,
    Stopped,
    Ended(Option<String>),
}

/// One record, with the text the list shows and the filter searches.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record: ConsumerRecord,
    key: Option<String>,
    value: String,
    headers: Vec<(String, String)>,
    matches: bool,
}

impl Entry {
    fn new(record: ConsumerRecord, filter: Option<&Filter>) -> Self {
        let mut value = format::preview(&record.value);
        if value.chars().count() > PREVIEW_CHARS {
            value = value.chars().take(PREVIEW_CHARS).collect::<String>() + "…";
        }
        let mut entry = Entry {
            key: record.key.as_deref().map(format::preview),
            value,
            headers: record
                .headers
                .iter()
                .map(|h| (h.key.clone(), format::preview(&h.value)))
                .collect(),
            record,
            matches: true,
        };
        entry.refilter(filter);
        entry
    }

    fn refilter(&mut self, filter: Option<&Filter>) {
        self.matches = filter.is_none_or(|f| {
            f.matches(&Fields {
                key: self.key.as_deref(),
                value: &self.value,
                headers: &self.headers,
            })
        });
    }
}

#[derive(Debug)]
pub struct Tail {
    /// Which tail the records belong to; records of an older one are ignored.
    id: u64,
    source: Option<TailSource>,
    state: StreamState,
    buffer: Bounded<Entry>,
    follow: Follow,
    /// While paused: records from this sequence number on arrived after the pause and stay
    /// out of view (even where the view has room for them) until the cursor reaches them.
    frozen_end: Option<u64>,
    filter: Option<Filter>,
    /// The filter being typed, and the one to go back to on Esc.
    editing: Option<(String, Option<Filter>)>,
    /// Show non-matching records (dimmed) around the matches.
    context: bool,
    wrap: bool,
    timestamps: bool,
}

/// The records the view can show: all of them, or the filter's matches.
struct Shown<'a> {
    buffer: &'a Bounded<Entry>,
    all: bool,
}

impl Shown<'_> {
    fn is_shown(&self, seq: u64) -> bool {
        self.all || self.buffer.get(seq).is_some_and(|e| e.matches)
    }

    /// Visible sequence numbers from `seq` on, in `dir` (+1 newer, -1 older).
    fn scan(&self, seq: u64, newer: bool) -> impl Iterator<Item = u64> + '_ {
        let (first, end) = (self.buffer.first_seq(), self.buffer.end_seq());
        let seqs: Box<dyn Iterator<Item = u64>> = if newer {
            Box::new(seq.max(first)..end)
        } else if seq < first {
            Box::new(std::iter::empty())
        } else {
            Box::new((first..=seq.min(end.saturating_sub(1))).rev())
        };
        seqs.filter(move |s| self.is_shown(*s))
    }
}

impl Visible for Shown<'_> {
    fn first(&self) -> Option<u64> {
        self.scan(self.buffer.first_seq(), true).next()
    }

    fn last(&self) -> Option<u64> {
        if self.buffer.is_empty() {
            return None;
        }
        self.scan(self.buffer.end_seq() - 1, false).next()
    }

    fn step(&self, from: u64, delta: isize) -> Option<u64> {
        let at = self
            .scan(from, true)
            .next()
            .or_else(|| self.scan(from, false).next())?;
        let moved = if delta >= 0 {
            self.scan(at, true).take(delta as usize + 1).last()
        } else {
            self.scan(at, false).take(delta.unsigned_abs() + 1).last()
        };
        moved.or(Some(at))
    }
}

impl Tail {
    pub fn new(capacity: usize) -> Self {
        Self {
            id: 0,
            source: None,
            state: StreamState::Idle,
            buffer: Bounded::new(capacity),
            follow: Follow::Live,
            frozen_end: None,
            filter: None,
            editing: None,
            context: false,
            wrap: false,
            timestamps: true,
        }
    }

    pub fn source(&self) -> Option<&TailSource> {
        self.source.as_ref()
    }

    pub fn state(&self) -> &StreamState {
        &self.state
    }

    pub fn follow(&self) -> Follow {
        self.follow
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// A new tail replaces the records and drops the filter (it was for the records of the
    /// last tail, and would hide the new one's without a word); display toggles stay.
    pub fn start(&mut self, id: u64, source: TailSource) {
        self.start_keeping_filter(id, source);
        self.editing = None;
        self.filter = None;
    }

    /// A new tail that keeps the filter (`:tail TOPIC --keep-filter`).
    pub fn start_keeping_filter(&mut self, id: u64, source: TailSource) {
        self.id = id;
        self.source = Some(source);
        self.state = StreamState::Starting;
        self.buffer.clear();
        self.set_follow(Follow::Live);
    }

    pub fn stop(&mut self) {
        if matches!(self.state, StreamState::Starting | StreamState::Streaming) {
            self.state = StreamState::Stopped;
        }
    }

    pub fn clear(&mut self) {
        self.buffer.clear();
        self.set_follow(Follow::Live);
    }

    fn set_follow(&mut self, follow: Follow) {
        self.follow = follow;
        self.frozen_end = match follow {
            Follow::Live => None,
            Follow::Paused { cursor, .. } => Some(
                self.frozen_end
                    .unwrap_or(self.buffer.end_seq())
                    .max(cursor + 1),
            ),
        };
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn started(&mut self, id: u64) {
        if id == self.id && self.state == StreamState::Starting {
            self.state = StreamState::Streaming;
        }
    }

    pub fn ended(&mut self, id: u64, error: Option<String>) {
        if id == self.id && self.state != StreamState::Stopped {
            self.state = StreamState::Ended(error);
        }
    }

    pub fn push(&mut self, id: u64, record: ConsumerRecord) {
        if id != self.id || self.state == StreamState::Stopped {
            return;
        }
        self.state = StreamState::Streaming;
        self.buffer.push(Entry::new(record, self.filter.as_ref()));
    }

    fn shown(&self) -> Shown<'_> {
        Shown {
            buffer: &self.buffer,
            all: self.filter.is_none() || self.context,
        }
    }

    pub fn toggle_pause(&mut self) {
        self.set_follow(self.follow.toggle(&self.shown()));
    }

    pub fn scroll(&mut self, delta: isize) {
        self.set_follow(self.follow.scroll(delta, &self.shown()));
    }

    pub fn top(&mut self) {
        self.set_follow(self.follow.top(&self.shown()));
    }

    pub fn bottom(&mut self) {
        self.set_follow(self.follow.bottom());
    }

    pub fn toggle_wrap(&mut self) {
        self.wrap = !self.wrap;
    }

    pub fn toggle_timestamps(&mut self) {
        self.timestamps = !self.timestamps;
    }

    pub fn toggle_context(&mut self) {
        self.context = !self.context;
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// The selected record: the cursor when paused, else the newest shown.
    pub fn selected(&self) -> Option<&ConsumerRecord> {
        let seq = self.follow.anchor(&self.shown())?;
        self.buffer.get(seq).map(|e| &e.record)
    }

    /// Start typing a filter (`/`).
    pub fn edit_filter(&mut self) {
        let text = self
            .filter
            .as_ref()
            .map(|f| f.text.clone())
            .unwrap_or_default();
        self.editing = Some((text, self.filter.clone()));
    }

    pub fn filter_draft(&self) -> Option<&str> {
        self.editing.as_ref().map(|(text, _)| text.as_str())
    }

    /// The draft changed: filter as the person types.
    pub fn set_filter_draft(&mut self, text: String) {
        if let Some((draft, _)) = self.editing.as_mut() {
            *draft = text.clone();
            self.apply_filter(Filter::parse(&text));
        }
    }

    pub fn finish_filter(&mut self, keep: bool) {
        if let Some((_, previous)) = self.editing.take()
            && !keep
        {
            self.apply_filter(previous);
        }
    }

    fn apply_filter(&mut self, filter: Option<Filter>) {
        if filter == self.filter {
            return;
        }
        self.filter = filter;
        for entry in self.buffer.iter_mut() {
            entry.refilter(self.filter.as_ref());
        }
    }

    fn match_count(&self) -> usize {
        self.buffer.iter().filter(|(_, e)| e.matches).count()
    }

    /// Records that arrived since the view was paused (and would show): new ones only,
    /// not the older records below a cursor scrolled up.
    fn unseen(&self) -> u64 {
        match (self.follow, self.frozen_end) {
            (Follow::Paused { .. }, Some(end)) => self.shown().scan(end, true).count() as u64,
            _ => 0,
        }
    }

    /// The status line, the column header, the records; the filter input below them while
    /// it is being typed.
    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        if area.height < 3 {
            return;
        }
        let status = Rect { height: 1, ..area };
        frame.render_widget(Paragraph::new(self.status_line()), status);
        let header = Rect {
            y: area.y + 1,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Line::styled(self.column_header(), theme::header())),
            header,
        );
        let mut list = Rect {
            y: area.y + 2,
            height: area.height - 2,
            ..area
        };
        if let Some(draft) = self.filter_draft() {
            list.height = list.height.saturating_sub(1);
            let input = Rect {
                y: list.y + list.height,
                height: 1,
                ..area
            };
            frame.render_widget(Paragraph::new(format!("/{draft}")), input);
            let x = input.x + 1 + draft.chars().count() as u16;
            frame.set_cursor_position((x.min(input.right().saturating_sub(1)), input.y));
        }
        let lines = self.visible_lines(list.width as usize, list.height as usize);
        frame.render_widget(Paragraph::new(lines), list);
    }

    fn status_line(&self) -> Line<'static> {
        let mut spans = Vec::new();
        let Some(source) = &self.source else {
            return Line::from(
                "No tail. Press Enter on a topic (view 2) or a partition (view 3), or type :tail TOPIC",
            );
        };
        spans.push(Span::styled(format!("{} ", source.topic), theme::header()));
        spans.push(Span::raw(format!(
            "{} from {} · ",
            source.partitions_label(),
            source.start.label()
        )));
        let state = match (&self.state, self.follow) {
            (StreamState::Ended(Some(error)), _) => format!("ENDED: {error}"),
            (StreamState::Ended(None), _) => "ENDED".into(),
            (StreamState::Stopped, _) => "STOPPED".into(),
            (StreamState::Starting, _) => "connecting…".into(),
            (_, Follow::Live) => "LIVE".into(),
            (_, Follow::Paused { reason, .. }) => {
                let why = match reason {
                    PauseReason::User => "PAUSED",
                    PauseReason::Scrolled => "SCROLLED",
                };
                format!("{why} (+{} new; End follows)", self.unseen())
            }
        };
        spans.push(Span::styled(state, theme::key_hint()));
        spans.push(Span::raw(format!(" · {} records", self.buffer.len())));
        if let Some(filter) = &self.filter {
            spans.push(Span::raw(format!(
                " · filter {} in {}: {} match",
                filter.text,
                filter.scope.label(),
                self.match_count()
            )));
            if self.context {
                spans.push(Span::raw(", with context"));
            }
        }
        if self.buffer.dropped() > 0 {
            spans.push(Span::raw(format!(
                " · dropped {} old records (keeps {})",
                self.buffer.dropped(),
                self.buffer.capacity()
            )));
        }
        if self.wrap {
            spans.push(Span::raw(" · wrap"));
        }
        Line::from(spans)
    }

    fn column_header(&self) -> String {
        let time = if self.timestamps {
            format!("{:<24}", "TIME (UTC)")
        } else {
            String::new()
        };
        format!(
            "{:>4} {:>8}  {time}[KEY] VALUE  {{HEADERS}}",
            "PART", "OFFSET"
        )
    }

    /// The lines of the records in view: from the anchor up until the area is full, then,
    /// if that reached the oldest record, on down below the anchor.
    fn visible_lines(&self, width: usize, height: usize) -> Vec<Line<'static>> {
        let shown = self.shown();
        let Some(anchor) = self.follow.anchor(&shown) else {
            let note = match (&self.source, &self.state) {
                (Some(_), StreamState::Starting | StreamState::Streaming) => "waiting for records…",
                (Some(_), _) => "no records",
                (None, _) => "",
            };
            return vec![Line::from(note)];
        };
        let cursor = match self.follow {
            Follow::Live => None,
            Follow::Paused { .. } => Some(anchor),
        };
        let render = |seq: u64| -> Vec<Line<'static>> {
            self.buffer
                .get(seq)
                .map(|entry| self.entry_lines(entry, width, cursor == Some(seq)))
                .unwrap_or_default()
        };
        let mut above: Vec<Vec<Line<'static>>> = Vec::new();
        let mut used = 0;
        for seq in shown.scan(anchor, false) {
            if used >= height {
                break;
            }
            let lines = render(seq);
            used += lines.len();
            above.push(lines);
        }
        let mut lines: Vec<Line<'static>> = above.into_iter().rev().flatten().collect();
        if lines.len() > height {
            lines.drain(..lines.len() - height);
        }
        let end = self.frozen_end.unwrap_or(u64::MAX);
        for seq in shown.scan(anchor + 1, true).take_while(|seq| *seq < end) {
            if lines.len() >= height {
                break;
            }
            lines.extend(render(seq));
        }
        lines.truncate(height);
        lines
    }

    fn entry_lines(&self, entry: &Entry, width: usize, selected: bool) -> Vec<Line<'static>> {
        let base = if selected {
            theme::selected()
        } else if !entry.matches {
            theme::context()
        } else {
            Style::new()
        };
        let mut spans = vec![Span::styled(
            format!("{:>4} {:>8}  ", entry.record.partition, entry.record.offset),
            base,
        )];
        if self.timestamps {
            spans.push(Span::styled(
                format!("{:<24}", format::timestamp(entry.record.timestamp)),
                base,
            ));
        }
        // Every record shows its key as `consume -k` does, and a missing key as `[null]`
        // (the official CLI's word), so `[]`, an empty key, stays distinguishable.
        spans.push(Span::styled("[", base));
        match &entry.key {
            Some(key) => self.highlighted(&mut spans, key, Scope::Key, base),
            None => spans.push(Span::styled(format::NO_KEY, base)),
        }
        spans.push(Span::styled("] ", base));
        self.highlighted(&mut spans, &entry.value, Scope::Value, base);
        if !entry.headers.is_empty() {
            spans.push(Span::styled("  {", base));
            for (i, (k, v)) in entry.headers.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(", ", base));
                }
                self.highlighted(&mut spans, k, Scope::Header, base);
                spans.push(Span::styled("=", base));
                self.highlighted(&mut spans, v, Scope::Header, base);
            }
            spans.push(Span::styled("}", base));
        }
        if self.wrap {
            wrap(spans, width.max(1))
        } else {
            vec![Line::from(spans).style(base)]
        }
    }

    /// `text` as spans, its filter matches highlighted.
    fn highlighted(&self, spans: &mut Vec<Span<'static>>, text: &str, field: Scope, base: Style) {
        let ranges = match &self.filter {
            Some(filter) if filter.searches(field) => filter.ranges(text),
            _ => Vec::new(),
        };
        let mut at = 0;
        for (start, end) in ranges {
            if start > at {
                spans.push(Span::styled(text[at..start].to_string(), base));
            }
            spans.push(Span::styled(
                text[start..end].to_string(),
                base.patch(theme::matched()),
            ));
            at = end;
        }
        if at < text.len() {
            spans.push(Span::styled(text[at..].to_string(), base));
        }
    }
}

/// Break spans into lines of at most `width` columns, keeping each piece's style.
fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    let mut style = Style::new();
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = Span::raw(c.to_string()).width();
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                lines.push(Line::from(std::mem::take(&mut current)).style(style));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, span.style));
        }
        style = span.style;
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(Line::from(current).style(style));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use protocol::record::RecordHeader;

    fn record(offset: i64, key: Option<&str>, value: &str) -> ConsumerRecord {
        ConsumerRecord {
            partition: 0,
            offset,
            timestamp: -1,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Bytes::copy_from_slice(value.as_bytes()),
            headers: vec![],
        }
    }

    fn tail_with(n: i64) -> Tail {
        let mut tail = Tail::new(100);
        tail.start(
            1,
            TailSource {
                topic: "t".into(),
                partitions: None,
                start: Start::Beginning,
            },
        );
        for i in 0..n {
            let key = if i % 2 == 0 { "even" } else { "odd" };
            tail.push(1, record(i, Some(key), &format!("value {i}")));
        }
        tail
    }

    #[test]
    fn records_of_an_older_tail_are_ignored() {
        let mut tail = tail_with(3);
        tail.push(0, record(99, None, "stale"));
        assert_eq!(tail.len(), 3);
        tail.stop();
        tail.push(1, record(3, None, "after stop"));
        assert_eq!(tail.len(), 3);
        assert_eq!(tail.state(), &StreamState::Stopped);
    }

    #[test]
    fn the_filter_narrows_what_shows_and_scrolling_follows_it() {
        let mut tail = tail_with(10);
        tail.edit_filter();
        tail.set_filter_draft("k:odd".into());
        tail.finish_filter(true);
        assert_eq!(tail.selected().map(|r| r.offset), Some(9));
        tail.scroll(-1);
        assert_eq!(
            tail.selected().map(|r| r.offset),
            Some(7),
            "skips the even ones"
        );
        tail.toggle_context();
        tail.scroll(-1);
        assert_eq!(
            tail.selected().map(|r| r.offset),
            Some(6),
            "context shows them"
        );
        // Esc while editing goes back to the previous filter.
        tail.edit_filter();
        tail.set_filter_draft("v:value 3".into());
        assert_eq!(tail.match_count(), 1);
        tail.finish_filter(false);
        assert_eq!(tail.filter().map(|f| f.text.as_str()), Some("k:odd"));
        assert_eq!(tail.match_count(), 5);
    }

    #[test]
    fn pausing_holds_the_view_while_records_arrive() {
        let mut tail = tail_with(5);
        tail.toggle_pause();
        for i in 5..8 {
            tail.push(1, record(i, None, "new"));
        }
        assert_eq!(tail.selected().map(|r| r.offset), Some(4));
        assert_eq!(tail.unseen(), 3);
        let lines = tail.visible_lines(80, 3);
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert!(text[2].contains("value 4"), "{text:?}");
        tail.bottom();
        assert_eq!(tail.selected().map(|r| r.offset), Some(7));
        // Scrolled up three records: those are not new; two arriving after are.
        tail.scroll(-3);
        assert_eq!(tail.unseen(), 0);
        for i in 8..10 {
            tail.push(1, record(i, None, "newer"));
        }
        assert_eq!(tail.unseen(), 2);
    }

    #[test]
    fn lines_fill_from_the_top_when_there_are_few() {
        let mut tail = tail_with(3);
        tail.top();
        let text: Vec<String> = tail
            .visible_lines(80, 5)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(text.len(), 3);
        assert!(
            text[0].contains("value 0") && text[2].contains("value 2"),
            "{text:?}"
        );
    }

    #[test]
    fn wrapping_splits_by_width_and_keeps_styles() {
        let lines = wrap(
            vec![Span::raw("abcd"), Span::styled("efg", theme::matched())],
            3,
        );
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(text, vec!["abc", "def", "g"]);
        assert_eq!(lines[1].spans[1].style, theme::matched());
        assert_eq!(wrap(vec![], 5).len(), 1);
    }

    #[test]
    fn headers_are_searched_and_shown() {
        let mut tail = tail_with(0);
        let mut r = record(0, None, "v");
        r.headers = vec![RecordHeader {
            key: "trace".into(),
            value: Bytes::from_static(b"abc"),
        }];
        tail.push(1, r);
        tail.edit_filter();
        tail.set_filter_draft("h:abc".into());
        assert_eq!(tail.match_count(), 1);
        let line = tail.visible_lines(80, 1)[0].to_string();
        assert!(line.ends_with("v  {trace=abc}"), "{line}");
    }
}
