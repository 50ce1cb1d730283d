//! Whether the tail follows new records or holds still: the pause / autoscroll state
//! machine.
//!
//! * `Live`: the view shows the newest records as they come.
//! * `Paused`: the view holds still around a cursor record; records keep arriving into the
//!   buffer, out of sight. `space` pauses (reason `User`); scrolling up pauses too (reason
//!   `Scrolled`).
//! * Moving the cursor onto the newest visible record, `End`, or `space` again resumes.
//!
//! The machine only knows sequence numbers; which records are visible (the filter) is
//! asked of a [`Visible`].

/// Which records the view can show, in order.
pub trait Visible {
    /// The first visible sequence number.
    fn first(&self) -> Option<u64>;
    /// The last visible sequence number.
    fn last(&self) -> Option<u64>;
    /// The visible record `delta` steps from `from` (negative: older), stopping at either
    /// end. `from` need not be visible itself (it may have been filtered out or dropped).
    fn step(&self, from: u64, delta: isize) -> Option<u64>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// `space`.
    User,
    /// Scrolled away from the bottom.
    Scrolled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Follow {
    #[default]
    Live,
    Paused {
        /// The selected record: the view shows it and the records before it.
        cursor: u64,
        reason: PauseReason,
    },
}

impl Follow {
    pub fn is_live(self) -> bool {
        matches!(self, Follow::Live)
    }

    /// `space`: pause where the view is now, or resume.
    pub fn toggle(self, visible: &impl Visible) -> Follow {
        match self {
            Follow::Live => Follow::Paused {
                // With nothing to show yet, hold at the start: what arrives stays put.
                cursor: visible.last().unwrap_or(0),
                reason: PauseReason::User,
            },
            Follow::Paused { .. } => Follow::Live,
        }
    }

    /// Move the cursor `delta` records (negative: up, older). Leaving the bottom pauses;
    /// reaching it resumes.
    pub fn scroll(self, delta: isize, visible: &impl Visible) -> Follow {
        let Some(last) = visible.last() else {
            return self;
        };
        let (from, reason) = match self {
            Follow::Live if delta >= 0 => return Follow::Live,
            Follow::Live => (last, PauseReason::Scrolled),
            Follow::Paused { cursor, reason } => (cursor, reason),
        };
        match visible.step(from, delta) {
            Some(cursor) if cursor >= last => Follow::Live,
            Some(cursor) => Follow::Paused { cursor, reason },
            None => self,
        }
    }

    /// `Home`: hold at the oldest record.
    pub fn top(self, visible: &impl Visible) -> Follow {
        match (visible.first(), visible.last()) {
            (Some(first), Some(last)) if first < last => Follow::Paused {
                cursor: first,
                reason: PauseReason::Scrolled,
            },
            _ => self,
        }
    }

    /// `End`: follow again.
    pub fn bottom(self) -> Follow {
        Follow::Live
    }

    /// The record the view is anchored on: the cursor, or the newest when live.
    pub fn anchor(self, visible: &impl Visible) -> Option<u64> {
        match self {
            Follow::Live => visible.last(),
            // The cursor's record may have been dropped or filtered out: the nearest one.
            Follow::Paused { cursor, .. } => visible.step(cursor, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Visible sequence numbers, in order.
    struct Seqs(Vec<u64>);

    impl Visible for Seqs {
        fn first(&self) -> Option<u64> {
            self.0.first().copied()
        }
        fn last(&self) -> Option<u64> {
            self.0.last().copied()
        }
        fn step(&self, from: u64, delta: isize) -> Option<u64> {
            if self.0.is_empty() {
                return None;
            }
            // The nearest visible at or after `from` (or the last), then step.
            let at = self
                .0
                .iter()
                .position(|&s| s >= from)
                .unwrap_or(self.0.len() - 1) as isize;
            let index = (at + delta).clamp(0, self.0.len() as isize - 1);
            Some(self.0[index as usize])
        }
    }

    fn paused(cursor: u64, reason: PauseReason) -> Follow {
        Follow::Paused { cursor, reason }
    }

    #[test]
    fn space_pauses_at_the_bottom_and_resumes() {
        let seqs = Seqs((0..10).collect());
        let state = Follow::Live.toggle(&seqs);
        assert_eq!(state, paused(9, PauseReason::User));
        // New records arrive: the paused state does not move.
        let more = Seqs((0..20).collect());
        assert_eq!(state.anchor(&more), Some(9));
        assert_eq!(Follow::Live.anchor(&more), Some(19));
        assert_eq!(state.toggle(&more), Follow::Live);
    }

    #[test]
    fn scrolling_up_pauses_and_scrolling_to_the_bottom_resumes() {
        let seqs = Seqs((0..10).collect());
        assert_eq!(Follow::Live.scroll(1, &seqs), Follow::Live);
        let up = Follow::Live.scroll(-3, &seqs);
        assert_eq!(up, paused(6, PauseReason::Scrolled));
        let down = up.scroll(2, &seqs);
        assert_eq!(down, paused(8, PauseReason::Scrolled));
        assert_eq!(down.scroll(1, &seqs), Follow::Live);
        // Overshooting the bottom also resumes.
        assert_eq!(up.scroll(100, &seqs), Follow::Live);
        // Scrolling up past the top stops at the top.
        assert_eq!(up.scroll(-100, &seqs), paused(0, PauseReason::Scrolled));
    }

    #[test]
    fn a_user_pause_keeps_its_reason_while_scrolling_and_resumes_at_the_bottom() {
        let seqs = Seqs((0..10).collect());
        let state = Follow::Live.toggle(&seqs).scroll(-2, &seqs);
        assert_eq!(state, paused(7, PauseReason::User));
        // Records arrived meanwhile: the bottom moved, so one step down is not enough.
        let more = Seqs((0..12).collect());
        assert_eq!(state.scroll(2, &more), paused(9, PauseReason::User));
        assert_eq!(state.scroll(4, &more), Follow::Live);
    }

    #[test]
    fn home_and_end() {
        let seqs = Seqs((5..10).collect());
        assert_eq!(Follow::Live.top(&seqs), paused(5, PauseReason::Scrolled));
        assert_eq!(paused(7, PauseReason::User).bottom(), Follow::Live);
        // One record only: the top is the bottom.
        assert_eq!(Follow::Live.top(&Seqs(vec![3])), Follow::Live);
    }

    #[test]
    fn empty_views() {
        let empty = Seqs(vec![]);
        assert_eq!(Follow::Live.scroll(-5, &empty), Follow::Live);
        assert_eq!(Follow::Live.toggle(&empty), paused(0, PauseReason::User));
        assert_eq!(Follow::Live.anchor(&empty), None);
    }

    #[test]
    fn a_cursor_on_a_hidden_or_dropped_record_lands_on_the_nearest_visible() {
        // 0..10 filtered down to the even ones; the cursor sat on 5.
        let evens = Seqs(vec![0, 2, 4, 6, 8]);
        let state = paused(5, PauseReason::Scrolled);
        assert_eq!(state.anchor(&evens), Some(6));
        assert_eq!(state.scroll(-1, &evens), paused(4, PauseReason::Scrolled));
        // Everything up to 20 dropped.
        let later = Seqs((20..30).collect());
        assert_eq!(state.anchor(&later), Some(20));
    }
}
