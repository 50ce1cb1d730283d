//! What a listener allows one peer and everyone together: connections in total and per
//! peer address, the deadlines a frame has to arrive by, and the memory all frames being
//! received may hold at once. Without these, one address opening a thousand idle
//! connections, or announcing huge frames and sending them a byte a second, takes a port
//! (or the process's memory) away from everyone else.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync;

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// 1000 clients on one machine (a benchmark host, or many applications behind one NAT
/// address), each with a connection of its own, are a legitimate load (issue #23: 500
/// producers and 500 consumers); 1024 serves them and an admin besides, while one address
/// still cannot take more than a quarter of a listener's [`DEFAULT_MAX_CONNECTIONS`].
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 1024;
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FRAME_MEMORY: usize = 512 * 1024 * 1024;

/// Frames up to this size are not charged to the [`FrameMemory`] budget and never wait for
/// it: they fit in the read buffer every connection has anyway (its first read), so they
/// cost nothing the connection limits do not already bound. This keeps an admin's
/// requests, SPU heartbeats and small produces flowing while large frames queue.
pub const UNCOUNTED_FRAME_BYTES: usize = 8 * 1024;

/// The limits of one listener. The [`FrameMemory`] inside is shared: clones of one
/// `ListenerLimits` (or of its `frame_memory`) draw from the same budget.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Connections served at once from one peer IP address.
    pub max_connections_per_peer: usize,
    /// How long a frame may take to arrive whole once its first byte has come.
    pub frame_timeout: Duration,
    /// How long a new connection may take to send its first whole frame.
    pub first_frame_timeout: Duration,
    pub frame_memory: FrameMemory,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            first_frame_timeout: DEFAULT_FIRST_FRAME_TIMEOUT,
            frame_memory: FrameMemory::new(DEFAULT_FRAME_MEMORY),
        }
    }
}

/// Why a new connection was closed as soon as it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    #[error("the listener already serves {limit} connections (--max-connections)")]
    Total { limit: usize },
    #[error("{peer} already has {limit} connections open (--max-connections-per-peer)")]
    PerPeer { peer: IpAddr, limit: usize },
}

/// Open connections of one listener, in total and per peer address.
#[derive(Debug)]
pub struct ConnectionLimits {
    total: usize,
    per_peer: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    pub fn new(total: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            total: total.max(1),
            per_peer: per_peer.max(1),
            open: Mutex::new(OpenConnections::default()),
        })
    }

    fn open(&self) -> MutexGuard<'_, OpenConnections> {
        // The counts stay consistent whatever panicked while holding the lock: every
        // update is a single step.
        sync::lock(&self.open)
    }

    /// Count a connection from `peer`, or say which limit it would break. The slot gives
    /// the connection back when dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionSlot, ConnectionRefused> {
        // An IPv4 client reaching a dual-stack socket is the same peer as over IPv4.
        let peer = peer.to_canonical();
        let mut open = self.open();
        if open.total >= self.total {
            return Err(ConnectionRefused::Total { limit: self.total });
        }
        let from_peer = open.by_peer.entry(peer).or_insert(0);
        if *from_peer >= self.per_peer {
            return Err(ConnectionRefused::PerPeer {
                peer,
                limit: self.per_peer,
            });
        }
        *from_peer += 1;
        open.total += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            peer,
        })
    }

    /// Connections open now: in total and from `peer`.
    pub fn count(&self, peer: IpAddr) -> (usize, usize) {
        let open = self.open();
        let from_peer = open.by_peer.get(&peer.to_canonical()).copied();
        (open.total, from_peer.unwrap_or(0))
    }

    /// Peer addresses with connections open (entries of gone peers are removed).
    pub fn peers(&self) -> usize {
        self.open().by_peer.len()
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    peer: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open();
        open.total = open.total.saturating_sub(1);
        if let Some(from_peer) = open.by_peer.get_mut(&self.peer) {
            *from_peer -= 1;
            if *from_peer == 0 {
                // Forget the address: a flood from ever new addresses must not grow the map.
                open.by_peer.remove(&self.peer);
            }
        }
    }
}

/// The bytes that frames being received may hold across every connection of the process.
/// A frame reserves its size when its length prefix arrives and gives it back when its
/// [`MemoryPermit`] is dropped (after its request was handled). While the budget is spent,
/// the next large frame waits, unread, in the socket.
#[derive(Clone)]
pub struct FrameMemory {
    free: Arc<Semaphore>,
    budget: usize,
}

impl fmt::Debug for FrameMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameMemory")
            .field("budget", &self.budget)
            .field("available", &self.available())
            .finish()
    }
}

impl FrameMemory {
    pub fn new(budget: usize) -> Self {
        let budget = budget.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            free: Arc::new(Semaphore::new(budget)),
            budget,
        }
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.free.available_permits()
    }

    /// Reserve `size` bytes for a frame, waiting while others hold the budget. Waiters are
    /// served in order, so a large frame is not passed over for ever by smaller ones.
    /// A frame is never asked to wait for more than the whole budget (it would wait for
    /// ever); readers refuse such frames as too large before getting here.
    pub async fn reserve(&self, size: usize) -> MemoryPermit {
        if size <= UNCOUNTED_FRAME_BYTES {
            return MemoryPermit::default();
        }
        let bytes = size.min(self.budget).min(u32::MAX as usize) as u32;
        // The semaphore is never closed, so acquiring fails only in theory; a frame then
        // goes uncounted rather than the connection failing.
        MemoryPermit(self.free.clone().acquire_many_owned(bytes).await.ok())
    }
}

/// Frame bytes held against the [`FrameMemory`] budget; given back on drop.
#[derive(Debug, Default)]
pub struct MemoryPermit(Option<OwnedSemaphorePermit>);

impl MemoryPermit {
    /// Bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

/// At most one log line per period; the lines left out are counted and reported with the
/// next one, so a flood shows in the log without filling it.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be logged now.
    pub fn allow(&self) -> Option<u64> {
        let mut state = sync::lock(&self.state);
        let (last, suppressed) = &mut *state;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.every) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }
}

/// Parse a duration flag: `30s`, `500ms`, `2m`, `1h`, or bare seconds (`30`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: &[(&str, u64)] = &[
        ("ms", 1),
        ("", 1_000),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
    ];
    let hint = "expected a whole number with an optional unit: 500ms, 30s, 2m, 1h (bare numbers are seconds)";
    let millis = parse_with_unit(text, "duration", UNITS, hint)?;
    if millis == 0 {
        return Err(format!(
            "invalid duration {:?}: must be more than zero",
            text.trim()
        ));
    }
    Ok(Duration::from_millis(millis))
}

/// Parse a size flag: bytes (`536870912`) or with a binary unit (`512KiB`, `512MiB`,
/// `1GiB`; `K`, `M`, `G` mean the same).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("B", 1),
        ("K", 1 << 10),
        ("KiB", 1 << 10),
        ("M", 1 << 20),
        ("MiB", 1 << 20),
        ("G", 1 << 30),
        ("GiB", 1 << 30),
    ];
    let hint = "expected a whole number of bytes with an optional unit: KiB, MiB, GiB";
    let bytes = parse_with_unit(text, "size", UNITS, hint)?;
    usize::try_from(bytes).map_err(|_| format!("invalid size {:?}: too large", text.trim()))
}

/// A whole number followed by one of `units` (name, multiplier), multiplied out.
/// `kind` and `hint` word the errors.
fn parse_with_unit(
    text: &str,
    kind: &str,
    units: &[(&str, u64)],
    hint: &str,
) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!("invalid {kind} {text:?}: {hint}"));
    }
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid {kind} {text:?}: {number} is too large"))?;
    let unit = unit.trim();
    let Some(&(_, multiplier)) = units.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "invalid {kind} {text:?}: unknown unit {unit:?}; {hint}"
        ));
    };
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("invalid {kind} {text:?}: too large"))
}

/// Raise the soft limit on open files to the hard limit, so the connection limits are
/// reachable and not cut short by `EMFILE` at accept. Returns the soft limit now in force.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(raised.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn durations_take_units_or_bare_seconds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 3 s "), Ok(Duration::from_secs(3)));
        for bad in [
            "",
            "s",
            "-1s",
            "1.5s",
            "10x",
            "0",
            "0ms",
            "99999999999999999999s",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.starts_with("invalid duration"), "{bad:?}: {err}");
        }
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("500ms, 30s, 2m")
        );
        assert!(parse_duration("0").unwrap_err().contains("more than zero"));
    }

    #[test]
    fn sizes_take_binary_units_or_bare_bytes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        for bad in ["", "MiB", "1.5MiB", "12 parsecs", "-4"] {
            let err = parse_bytes(bad).unwrap_err();
            assert!(err.starts_with("invalid size"), "{bad:?}: {err}");
        }
        assert!(
            parse_bytes("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn a_peer_gets_its_share_and_others_still_get_in() {
        let limits = ConnectionLimits::new(5, 2);
        let a1 = limits.admit(ip(2)).unwrap();
        let _a2 = limits.admit(ip(2)).unwrap();
        assert_eq!(
            limits.admit(ip(2)).unwrap_err(),
            ConnectionRefused::PerPeer {
                peer: ip(2),
                limit: 2
            }
        );
        // Another address is not held back by the first one's flood.
        let _b1 = limits.admit(ip(3)).unwrap();
        assert_eq!(limits.count(ip(2)), (3, 2));
        // A closed connection frees its peer's place.
        drop(a1);
        assert_eq!(limits.count(ip(2)), (2, 1));
        let _a3 = limits.admit(ip(2)).unwrap();
        let refused = limits.admit(ip(2)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "127.0.0.2 already has 2 connections open (--max-connections-per-peer)"
        );
    }

    #[test]
    fn the_total_limit_holds_across_peers_and_gone_peers_are_forgotten() {
        let limits = ConnectionLimits::new(3, 2);
        let slots: Vec<_> = (1..=3).map(|i| limits.admit(ip(i)).unwrap()).collect();
        assert_eq!(
            limits.admit(ip(9)).unwrap_err(),
            ConnectionRefused::Total { limit: 3 }
        );
        assert_eq!(limits.peers(), 3);
        drop(slots);
        assert_eq!(limits.count(ip(1)), (0, 0));
        assert_eq!(limits.peers(), 0, "no entry left per gone peer");
        assert!(limits.admit(ip(9)).is_ok());
    }

    #[test]
    fn an_ipv4_peer_over_ipv6_counts_as_the_same_peer() {
        let limits = ConnectionLimits::new(10, 1);
        let _v4 = limits.admit(ip(2)).unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert!(matches!(
            limits.admit(mapped),
            Err(ConnectionRefused::PerPeer { .. })
        ));
    }

    #[test]
    fn the_log_throttle_counts_what_it_leaves_out() {
        let throttle = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        let quick = LogThrottle::new(Duration::ZERO);
        assert_eq!(quick.allow(), Some(0));
        assert_eq!(quick.allow(), Some(0));
    }

    #[tokio::test]
    async fn small_frames_are_not_charged_and_large_ones_are() {
        let memory = FrameMemory::new(100_000);
        let small = memory.reserve(UNCOUNTED_FRAME_BYTES).await;
        assert_eq!((small.bytes(), memory.available()), (0, 100_000));
        let large = memory.reserve(60_000).await;
        assert_eq!((large.bytes(), memory.available()), (60_000, 40_000));
        drop(large);
        assert_eq!(memory.available(), 100_000);
    }

    #[tokio::test]
    async fn a_frame_larger_than_what_is_left_gets_it_all_once_others_let_go() {
        let memory = FrameMemory::new(100_000);
        let first = memory.reserve(70_000).await;
        let waiting = tokio::spawn({
            let memory = memory.clone();
            async move { memory.reserve(90_000).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "90000 bytes are not free yet");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("granted once the first frame is gone")
            .unwrap();
        assert_eq!(second.bytes(), 90_000);
        // More than the whole budget never waits for ever: it is capped at the budget.
        drop(second);
        assert_eq!(memory.reserve(1_000_000).await.bytes(), 100_000);
    }

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let soft = raise_open_files_limit().unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_open_files_limit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
