//! The background: metadata, auth token and partition state watches, the clock, the tail's consumer, and
//! commands from the bar. Each reports to the app over the event channel; nothing here
//! touches app state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::sc::{AuthTokenSpec, Message, MessageType, Metadata, MetadataUpdate, ObjectSpec};
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::client::{Admin, ClientError, ConsumerConfig, Fluvio, MultiStream, WatchStream};
use crate::command::{self, Cli, Context, advised};
use crate::config::{AddrOrigin, ScTarget, TlsSettings};
use crate::render;

use super::app::{AppEvent, Effect, GroupsFocus};
use super::metrics;
use super::tail::TailSource;
use super::views::GroupsPoll;

/// How often rates are sampled.
pub const TICK: Duration = Duration::from_secs(1);

pub struct Worker {
    fluvio: Fluvio,
    /// Where the console's SC address came from: `:` commands report it as theirs.
    origin: AddrOrigin,
    /// The console's TLS settings: `:` commands connect with them too.
    tls: TlsSettings,
    events: Sender<AppEvent>,
    watches: Vec<JoinHandle<()>>,
    tail: Option<JoinHandle<()>>,
    /// What the groups view shows, followed by the group poll.
    groups_focus: tokio::sync::watch::Sender<GroupsFocus>,
}

impl Worker {
    /// Start the watches and the clock. Must run inside a tokio runtime.
    pub fn start(
        fluvio: Fluvio,
        events: Sender<AppEvent>,
        origin: AddrOrigin,
        tls: TlsSettings,
        metrics_addr: String,
        kafka_addr: Option<String>,
    ) -> Self {
        let (groups_focus, focus) = tokio::sync::watch::channel(GroupsFocus::default());
        let mut worker = Self {
            fluvio,
            origin,
            tls,
            events,
            watches: Vec::new(),
            tail: None,
            groups_focus,
        };
        worker.watches.push(tokio::spawn(watch_objects(
            worker.fluvio.clone(),
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(watch_tokens(
            worker.fluvio.clone(),
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(watch_partition_states(
            worker.fluvio.clone(),
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(poll_consumers(
            worker.fluvio.clone(),
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(poll_groups(
            KafkaTarget {
                addr: kafka_addr,
                sc: worker.fluvio.metadata().addr().to_string(),
                tls: worker.fluvio.metadata().tls().clone(),
            },
            focus,
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(poll_metrics(
            metrics_addr,
            worker.events.clone(),
        )));
        worker.watches.push(tokio::spawn(poll_sc_cluster(
            worker.fluvio.metadata().addr().to_string(),
            worker.events.clone(),
        )));
        worker
            .watches
            .push(tokio::spawn(tick(worker.events.clone())));
        worker
    }

    pub fn execute(&mut self, effect: Effect) {
        match effect {
            Effect::StartTail { id, source } => {
                self.stop_tail();
                self.tail = Some(tokio::spawn(tail(
                    self.fluvio.clone(),
                    id,
                    source,
                    self.events.clone(),
                )));
            }
            Effect::StopTail => self.stop_tail(),
            Effect::FocusGroups(focus) => {
                // The poll ends only with the worker; a closed channel is its end too.
                let _ = self.groups_focus.send(focus);
            }
            Effect::RunCommand { line, cli } => {
                // A context per command: its own record writer, connections made as needed.
                let console = ScTarget {
                    addr: self.fluvio.metadata().addr().to_string(),
                    origin: self.origin.clone(),
                    tls: self.tls.clone(),
                };
                tokio::spawn(run_command(line, cli, console, self.events.clone()));
            }
        }
    }

    fn stop_tail(&mut self) {
        if let Some(task) = self.tail.take() {
            // Dropping the stream ends the partition readers at their next record.
            task.abort();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_tail();
        for task in &self.watches {
            task.abort();
        }
    }
}

/// Send the cache's objects now and after every change it sees. While the SC is away the
/// console says so instead; the cache connects again on its own, and the objects of the
/// new connection clear the notice.
async fn watch_objects(fluvio: Fluvio, events: Sender<AppEvent>) {
    let metadata = fluvio.metadata().clone();
    let mut changes = metadata.subscribe();
    loop {
        let event = match metadata.check_connected() {
            Err(why) => AppEvent::Disconnected(advised(&why)),
            Ok(()) => AppEvent::Objects {
                spus: metadata.spus(),
                topics: metadata.topics(),
                partitions: metadata.partitions(),
            },
        };
        if events.send(event).await.is_err() || changes.changed().await.is_err() {
            return;
        }
    }
}

/// How often the consumers view is refreshed: offsets have no watch, so they are asked for.
pub const CONSUMERS_EVERY: Duration = Duration::from_secs(2);

/// Read the committed consumer offsets and their lag now and every [`CONSUMERS_EVERY`].
/// A cluster that cannot say (no `consumer-offset` leader yet, the SC away) keeps the
/// last rows shown; the object watch reports a lost SC.
async fn poll_consumers(fluvio: Fluvio, events: Sender<AppEvent>) {
    let mut every = tokio::time::interval(CONSUMERS_EVERY);
    loop {
        every.tick().await;
        if let Ok(rows) = command::consumer::offset_rows(&fluvio).await
            && events.send(AppEvent::Consumers(rows)).await.is_err()
        {
            return;
        }
    }
}

/// Where the groups view finds a Kafka listener: the one given, else the SC is asked.
struct KafkaTarget {
    addr: Option<String>,
    sc: String,
    tls: crate::client::ClientTls,
}

/// While the groups view is open, read the Kafka consumer groups and the selected one's
/// members and offsets every [`CONSUMERS_EVERY`] and at once when the view opens or the
/// selection moves; failures included: the view says why it has nothing to show.
async fn poll_groups(
    kafka: KafkaTarget,
    mut focus: tokio::sync::watch::Receiver<GroupsFocus>,
    events: Sender<AppEvent>,
) {
    let mut every = tokio::time::interval(CONSUMERS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            changed = focus.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let GroupsFocus { open, selected } = focus.borrow_and_update().clone();
        if !open {
            continue;
        }
        let why =
            |err: crate::client::kafka::KafkaError| command::CommandError::from(err).to_string();
        // Asked each time when not given: the listener named follows SPUs going offline.
        let kafka_addr = match &kafka.addr {
            Some(addr) => Ok(addr.clone()),
            None => command::consumer_group::cluster_kafka_addr(&kafka.sc, &kafka.tls)
                .await
                .map_err(|err| err.to_string()),
        };
        let list = match &kafka_addr {
            Ok(addr) => crate::client::kafka::list_groups(addr).await.map_err(why),
            Err(why) => Err(why.clone()),
        };
        // A group that left the list since it was selected is not asked for.
        let listed = |name: &String| {
            list.as_ref()
                .is_ok_and(|groups| groups.iter().any(|g| &g.group == name))
        };
        let detail = match selected.filter(listed) {
            Some(name) => {
                let addr = kafka_addr.as_deref().unwrap_or_default();
                let described = crate::client::kafka::describe_group(addr, &name)
                    .await
                    .map_err(why);
                Some((name, described))
            }
            None => None,
        };
        if events
            .send(AppEvent::Groups(GroupsPoll { list, detail }))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// How often the header's SC leader is asked for.
pub const SC_CLUSTER_EVERY: Duration = Duration::from_secs(2);

/// Ask which SC leads now and every [`SC_CLUSTER_EVERY`]; an SC without the API, or none
/// reachable, sends nothing (the object watch reports a lost SC).
async fn poll_sc_cluster(addr: String, events: Sender<AppEvent>) {
    let mut every = tokio::time::interval(SC_CLUSTER_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Ok(scs) = Admin::sc_cluster(&addr).await
            && events.send(AppEvent::ScCluster(scs)).await.is_err()
        {
            return;
        }
    }
}

/// Read the daemon's metrics endpoint now and every [`metrics::SCRAPE_EVERY`], failures
/// included: the metrics view says why it has nothing to show.
async fn poll_metrics(addr: String, events: Sender<AppEvent>) {
    let mut every = tokio::time::interval(metrics::SCRAPE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let scraped = metrics::scrape(&addr).await;
        let event = AppEvent::Metrics(std::time::Instant::now(), scraped);
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Follow the auth tokens (the metadata cache does not hold them).
async fn watch_tokens(fluvio: Fluvio, events: Sender<AppEvent>) {
    let open = |admin: Admin| async move { admin.watch::<AuthTokenSpec>().await };
    follow_each_connection(fluvio, events, open, AppEvent::Tokens).await;
}

/// Follow the partitions' leader epochs and in-sync sets. An SC that does not give them
/// ends the watch at once; the columns then show `-`, and nothing else is affected.
async fn watch_partition_states(fluvio: Fluvio, events: Sender<AppEvent>) {
    let open = |admin: Admin| async move { admin.watch_partition_states().await };
    follow_each_connection(fluvio, events, open, AppEvent::PartitionStates).await;
}

/// Follow objects the metadata cache does not hold with a watch of their own, started by
/// `open` on the cache's connection and started again on each new connection the cache
/// makes after the SC comes back (the new watch's first frame replaces what the old one
/// left). A watch that ends waits for that next connection, so an SC that refuses the
/// watch is asked once per connection, not in a loop. A lost SC is reported by
/// [`watch_objects`].
async fn follow_each_connection<S, Open, Opening>(
    fluvio: Fluvio,
    events: Sender<AppEvent>,
    open: Open,
    event: fn(Vec<Metadata<S>>) -> AppEvent,
) where
    S: ObjectSpec,
    Open: Fn(Admin) -> Opening,
    Opening: Future<Output = Result<WatchStream<S>, ClientError>>,
{
    let mut seen = None;
    loop {
        let (connection, admin) = fluvio.metadata().connection_after(seen).await;
        seen = Some(connection);
        let mut stream = match open(admin).await {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(%err, kind = S::LABEL, "no watch on this connection");
                continue;
            }
        };
        let mut objects = Objects::default();
        loop {
            match stream.next().await {
                Ok(update) => {
                    objects.apply(update);
                    if events.send(event(objects.all())).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::debug!(%err, kind = S::LABEL, "the watch ended");
                    break;
                }
            }
        }
    }
}

/// The objects of one watch, as its updates leave them.
struct Objects<S: ObjectSpec> {
    by_name: BTreeMap<String, Metadata<S>>,
    first: bool,
}

impl<S: ObjectSpec> Default for Objects<S> {
    fn default() -> Self {
        Self {
            by_name: BTreeMap::new(),
            first: true,
        }
    }
}

impl<S: ObjectSpec> Objects<S> {
    /// The first frame, or any with a non-empty `all`, replaces everything; then the
    /// changes apply in order.
    fn apply(&mut self, update: MetadataUpdate<S>) {
        if self.first || !update.all.is_empty() {
            self.by_name = update
                .all
                .into_iter()
                .map(|o| (o.name.clone(), o))
                .collect();
            self.first = false;
        }
        for change in update.changes {
            self.change(change);
        }
    }

    fn change(&mut self, change: Message<S>) {
        match change.header {
            MessageType::Update => {
                self.by_name
                    .insert(change.content.name.clone(), change.content);
            }
            MessageType::Delete => {
                self.by_name.remove(&change.content.name);
            }
        }
    }

    fn all(&self) -> Vec<Metadata<S>> {
        self.by_name.values().cloned().collect()
    }
}

async fn tick(events: Sender<AppEvent>) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        if events.send(AppEvent::Tick(Instant::now())).await.is_err() {
            return;
        }
    }
}

async fn tail(fluvio: Fluvio, id: u64, source: TailSource, events: Sender<AppEvent>) {
    let partitions = match &source.partitions {
        Some(list) => Ok(list.clone()),
        None => fluvio
            .partition_count(&source.topic)
            .await
            .map(|n| (0..n).collect()),
    };
    let stream = match partitions {
        Ok(partitions) => {
            MultiStream::start(
                &fluvio,
                &source.topic,
                &partitions,
                source.start.offset(),
                ConsumerConfig::default(),
            )
            .await
        }
        Err(err) => Err(err),
    };
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(err) => {
            let error = Some(advised(&err));
            let _ = events.send(AppEvent::TailEnded { id, error }).await;
            return;
        }
    };
    if events.send(AppEvent::TailStarted { id }).await.is_err() {
        return;
    }
    let error = loop {
        match stream.next().await {
            Some(Ok(record)) => {
                if events
                    .send(AppEvent::TailRecord { id, record })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Some(Err(err)) => break Some(advised(&err)),
            None => break None,
        }
    };
    let _ = events.send(AppEvent::TailEnded { id, error }).await;
}

/// Where a command's streamed records (`consume -d`) go: into its output, not onto the
/// terminal the console is drawing on.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Run a CLI command the way the CLI does, and report its text.
async fn run_command(line: String, cli: Box<Cli>, console: ScTarget, events: Sender<AppEvent>) {
    let cli = *cli;
    // `--sc` on the line talks to that SC instead of the console's.
    let target = match cli.target.sc.clone() {
        Some(addr) => ScTarget {
            addr,
            origin: AddrOrigin::Flag,
            tls: match cli.target.tls.settings() {
                Ok(tls) => tls.unwrap_or_default(),
                Err(_) => TlsSettings::Disabled,
            },
        },
        None => console,
    };
    let records = Captured::default();
    let context = Context::with_record_writer(target, Box::new(records.clone()));
    let format = cli.command.output_format();
    let result = command::execute(cli.command, &context).await;
    let mut lines: Vec<String> = {
        let streamed = records.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&streamed)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let outcome = match result {
        Ok(output) => match render::render(&output, format, false) {
            Ok(rendered) => {
                lines.extend(rendered.stdout.lines().map(str::to_string));
                lines.extend(rendered.stderr);
                lines.extend(output.failures.iter().map(|f| format!("error: {f}")));
                if output.failures.is_empty() {
                    Ok(lines)
                } else {
                    Err(lines.join("\n"))
                }
            }
            Err(err) => Err(err.to_string()),
        },
        Err(err) => Err(err.to_string()),
    };
    let _ = events.send(AppEvent::CommandDone { line, outcome }).await;
}
