//! One produce request per leader for many partitions' batches.
//!
//! A producer sends at most one request per partition at a time (order within a partition
//! depends on it), so spread over many partitions it used to send many small requests: at
//! 1000 partitions one or two 16 KiB batches each, some 60 times the requests one partition
//! needs for the same bytes, each costing a frame, a system call and wake-ups on both ends.
//! Here a partition's request becomes an entry queued for its leader. Senders take every
//! queued entry (up to the request size) into one produce request; at most
//! [`MAX_IN_FLIGHT`] are out per leader, so entries queued while they travel go together
//! in the next one, and a lone entry leaves at once. A partition still has at most one
//! entry queued or in flight, and each entry gets exactly its own answer back: the SPU
//! answers a request's entries one for one, in order. Produce with `ReadCommitted` is not
//! gathered (see [`Gather::send`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use protocol::api::spu_keys;
use protocol::record::RecordSet;
use protocol::sc::SpuId;
use protocol::spu::{
    ApiRequest, Isolation, PartitionProduceData, PartitionProduceResponse, ProduceRequest,
    TopicProduceData,
};
use tokio::sync::oneshot;

use super::error::{ClientError, Peer};
use super::socket::Socket;

/// Gathered requests out at once per leader (Kafka's producer allows 5 per connection).
pub(crate) const MAX_IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<PartitionProduceResponse, ClientError>>;

/// One partition's batches, laid end to end, waiting for a request.
struct Entry {
    partition: u32,
    records: Bytes,
    reply: Reply,
}

/// What waits for one leader, and how many senders work for it.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Entry>,
    /// The newest connection an entry came with: a sender uses it for all it takes.
    socket: Option<Socket>,
    senders: usize,
}

impl Queue {
    /// Queue an entry; true when a sender should start for it (fewer than the limit run).
    fn push(&mut self, entry: Entry) -> bool {
        self.waiting.push_back(entry);
        if self.senders < MAX_IN_FLIGHT {
            self.senders += 1;
            true
        } else {
            false
        }
    }

    /// The oldest entry alone, for a sender that keeps its count.
    fn take_one(&mut self) -> Option<Entry> {
        self.waiting.pop_front()
    }

    /// The oldest entries that fit in `max_bytes` (at least one), or `None` when nothing
    /// waits, in which case the sender asking stops.
    fn take(&mut self, max_bytes: usize) -> Option<Vec<Entry>> {
        if self.waiting.is_empty() {
            self.senders -= 1;
            return None;
        }
        let mut taken = Vec::new();
        let mut bytes = 0;
        while let Some(next) = self.waiting.front() {
            if !taken.is_empty() && bytes + next.records.len() > max_bytes {
                break;
            }
            bytes += next.records.len();
            taken.extend(self.waiting.pop_front());
        }
        Some(taken)
    }
}

/// The queues of one producer, by leader. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Gather {
    shared: Arc<Shared>,
}

struct Shared {
    topic: String,
    isolation: Isolation,
    timeout_ms: i32,
    max_request_bytes: usize,
    leaders: Mutex<HashMap<SpuId, Queue>>,
}

impl Gather {
    pub(crate) fn new(
        topic: String,
        isolation: Isolation,
        timeout_ms: i32,
        max_request_bytes: usize,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                topic,
                isolation,
                timeout_ms,
                max_request_bytes,
                leaders: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Send `records` to `partition` at `leader` (over `socket` or a newer connection to
    /// it) in the next request to that leader, and return the SPU's answer for it.
    pub(crate) async fn send(
        &self,
        leader: SpuId,
        socket: Socket,
        partition: u32,
        records: Bytes,
    ) -> Result<PartitionProduceResponse, ClientError> {
        let (reply, answer) = oneshot::channel();
        let entry = Entry {
            partition,
            records,
            reply,
        };
        if self.shared.isolation == Isolation::ReadCommitted {
            // The SPU answers a request's entries one after another, each once the
            // replicas have it, so gathered entries would wait for each other's
            // replication: each goes alone, as many at once as there are partitions.
            self.shared.send_request(&socket, vec![entry]).await;
            return answer.await.unwrap_or(Err(ClientError::ProducerStopped));
        }
        let (start, alone) = {
            let mut leaders = self.shared.lock();
            let queue = leaders.entry(leader).or_default();
            queue.socket = Some(socket.clone());
            // Nothing else out or waiting for this leader (one partition, or a quiet
            // moment): this entry goes at once, from the caller's own task.
            let alone = queue.senders == 0 && queue.waiting.is_empty();
            (queue.push(entry), alone)
        };
        if alone {
            // The sender just counted is this task: it takes what waits (this entry, and
            // any queued since) and hands on to a spawned sender if more came meanwhile.
            let taken = self
                .shared
                .lock()
                .get_mut(&leader)
                .and_then(|q| q.take_one());
            if let Some(entry) = taken {
                self.shared.send_request(&socket, vec![entry]).await;
            }
            let more = {
                let mut leaders = self.shared.lock();
                leaders.get_mut(&leader).is_some_and(|q| {
                    if q.waiting.is_empty() {
                        q.senders -= 1;
                        false
                    } else {
                        true
                    }
                })
            };
            if more {
                tokio::spawn(Arc::clone(&self.shared).sender(leader));
            }
        } else if start {
            tokio::spawn(Arc::clone(&self.shared).sender(leader));
        }
        // A sender answers every entry it takes; the runtime going away is the only way
        // to lose one.
        answer.await.unwrap_or(Err(ClientError::ProducerStopped))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SpuId, Queue>> {
        self.leaders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Send what waits for `leader`, request after request, until nothing does.
    async fn sender(self: Arc<Self>, leader: SpuId) {
        loop {
            let (socket, entries) = {
                let mut leaders = self.lock();
                let Some(queue) = leaders.get_mut(&leader) else {
                    return;
                };
                match queue.take(self.max_request_bytes) {
                    Some(entries) => (queue.socket.clone(), entries),
                    None => {
                        if queue.senders == 0 {
                            leaders.remove(&leader);
                        }
                        return;
                    }
                }
            };
            let Some(socket) = socket else { return };
            self.send_request(&socket, entries).await;
        }
    }

    /// One produce request with every entry, each answered with its own result.
    async fn send_request(&self, socket: &Socket, entries: Vec<Entry>) {
        let request = ProduceRequest {
            transactional_id: None,
            isolation: self.isolation,
            timeout_ms: self.timeout_ms,
            topics: vec![TopicProduceData {
                name: self.topic.clone(),
                partitions: entries
                    .iter()
                    .map(|e| PartitionProduceData {
                        partition_index: e.partition,
                        records: RecordSet::new(e.records.clone()),
                    })
                    .collect(),
            }],
            smartmodules: Vec::new(),
        };
        let version = ProduceRequest::VERSION;
        // The batches go out as they are, not copied into the frame.
        let frame = |header: &_| request.encode_frame_parts(header);
        let result = match socket
            .request_parts(spu_keys::PRODUCE, version, frame)
            .await
        {
            Ok(reply) => ProduceRequest::decode_response(&reply, version).map_err(|source| {
                ClientError::BadResponse {
                    peer: Peer::Spu,
                    addr: socket.addr().to_string(),
                    source,
                }
            }),
            Err(err) => Err(err),
        };
        drop(request);
        let answers = result.and_then(|response| {
            let answers: Vec<PartitionProduceResponse> = response
                .responses
                .into_iter()
                .flat_map(|topic| topic.partitions)
                .collect();
            if answers.len() == entries.len() {
                Ok(answers)
            } else {
                Err(ClientError::UnexpectedResponse {
                    peer: Peer::Spu,
                    addr: socket.addr().to_string(),
                    what: format!(
                        "{} produce results for {} partitions' batches",
                        answers.len(),
                        entries.len()
                    ),
                })
            }
        });
        match answers {
            Ok(answers) => {
                for (entry, answer) in entries.into_iter().zip(answers) {
                    let _ = entry.reply.send(Ok(answer));
                }
            }
            Err(err) => {
                for entry in entries {
                    let _ = entry.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        partition: u32,
        len: usize,
    ) -> (
        Entry,
        oneshot::Receiver<Result<PartitionProduceResponse, ClientError>>,
    ) {
        let (reply, rx) = oneshot::channel();
        let entry = Entry {
            partition,
            records: Bytes::from(vec![0u8; len]),
            reply,
        };
        (entry, rx)
    }

    #[test]
    fn entries_queued_while_senders_are_busy_leave_together() {
        let mut queue = Queue::default();
        let mut receivers = Vec::new();
        // The first entries each start a sender, up to the limit; they leave alone.
        for p in 0..MAX_IN_FLIGHT as u32 {
            let (e, rx) = entry(p, 100);
            receivers.push(rx);
            assert!(queue.push(e));
            let alone = queue.take(1 << 20).unwrap();
            assert_eq!(alone.len(), 1);
            assert_eq!(alone[0].partition, p);
        }
        // With every sender busy, later entries wait and start none...
        for p in 10..20 {
            let (e, rx) = entry(p, 100);
            receivers.push(rx);
            assert!(!queue.push(e));
        }
        // ...and the next request takes them all, in order, up to the request size.
        let next = queue.take(550).unwrap();
        let partitions: Vec<u32> = next.iter().map(|e| e.partition).collect();
        assert_eq!(partitions, [10, 11, 12, 13, 14]);
        let rest = queue.take(1 << 20).unwrap();
        assert_eq!(rest.len(), 5);
        // Nothing left: each sender stops, and the count of running ones goes to zero.
        for left in (0..MAX_IN_FLIGHT).rev() {
            assert!(queue.take(1 << 20).is_none());
            assert_eq!(queue.senders, left);
        }
    }

    #[test]
    fn an_entry_larger_than_a_request_still_goes_alone() {
        let mut queue = Queue::default();
        let (big, _rx1) = entry(1, 5000);
        let (small, _rx2) = entry(2, 10);
        queue.push(big);
        queue.push(small);
        let first = queue.take(1000).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].partition, 1);
        assert_eq!(queue.take(1000).unwrap()[0].partition, 2);
    }
}
