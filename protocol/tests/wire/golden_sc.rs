//! Every SC frame of every capture (and the ApiVersions frames of the SPU side) decodes
//! with the SC types and re-encodes to the identical bytes. Responses are also checked
//! against the reference server's own one-line description in the log.

use crate::common;

use std::collections::BTreeMap;

use common::{CapturedFrame, Role};
use protocol::Encode;
use protocol::api::versions::parse_semver;
use protocol::api::{
    ApiVersionsResponse, ErrorCode, encode_request_frame, encode_response_frame, sc_keys, spu_keys,
};
use protocol::sc::*;

/// The reference server's description of a frame: for a response the text after `len=N`
/// on its own line, for a request the line after its HEX line.
fn description(log: &[String], frame: &CapturedFrame) -> String {
    if frame.is_request {
        log.get(frame.line + 1)
            .map(|l| {
                l.trim()
                    .split_once(' ')
                    .map_or("", |(_time, desc)| desc)
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    } else {
        let line = &log[frame.line - 1];
        let after_len = &line[line.find("len=").expect("len=")..];
        after_len
            .split_once(' ')
            .map(|(_, d)| d.trim().to_string())
            .unwrap_or_default()
    }
}

fn read_log(name: &str) -> Vec<String> {
    std::fs::read_to_string(common::data_path(name))
        .expect("log")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Decode a request frame with the SC decoder and check it re-encodes identically.
fn request_round_trip(name: &str, frame: &CapturedFrame) -> ScRequest {
    let (header, request) = ScRequest::decode_frame(frame.body())
        .unwrap_or_else(|e| panic!("{name}:{}: request does not decode: {e}", frame.line));
    assert_eq!(header.api_key, frame.api_key);
    assert_eq!(header.api_version, frame.api_version);
    assert_eq!(header.correlation_id, frame.correlation_id);
    assert_eq!(request.api_key(), header.api_key);
    let bytes = encode_request_frame(&header, &request).expect("encode");
    assert_eq!(
        bytes, frame.bytes,
        "{name}:{}: request re-encoding",
        frame.line
    );
    let again = request
        .to_frame(header.api_version, header.correlation_id, &header.client_id)
        .expect("encode");
    assert_eq!(
        again, frame.bytes,
        "{name}:{}: ScRequest::to_frame",
        frame.line
    );
    request
}

/// Decode a response frame as the answer to its request and check it re-encodes
/// identically.
fn response_round_trip(name: &str, frame: &CapturedFrame) -> ScResponse {
    let (correlation_id, response) =
        ScResponse::decode_frame(frame.body(), frame.api_key, frame.api_version)
            .unwrap_or_else(|e| panic!("{name}:{}: response does not decode: {e}", frame.line));
    assert_eq!(correlation_id, frame.correlation_id);
    assert_eq!(response.api_key(), frame.api_key);
    let bytes = encode_response_frame(correlation_id, &response, frame.api_version).unwrap();
    assert_eq!(
        bytes, frame.bytes,
        "{name}:{}: response re-encoding",
        frame.line
    );
    assert_eq!(
        response
            .to_frame(correlation_id, frame.api_version)
            .unwrap(),
        frame.bytes
    );
    response
}

/// Check a decoded request against the reference server's description of it.
fn check_request_description(name: &str, frame: &CapturedFrame, request: &ScRequest, desc: &str) {
    let at = format!("{name}:{}: {desc}", frame.line);
    match request {
        ScRequest::ApiVersions(r) => {
            assert!(desc.starts_with("ApiVersionsRequest"), "{at}");
            assert!(
                desc.contains(&format!(
                    "client_version={} os={} arch={}",
                    r.client_version, r.client_os, r.client_arch
                )),
                "{at}"
            );
        }
        ScRequest::Watch(r) => {
            let expected = format!(
                "WatchRequest ty={} epoch={} summary={}",
                r.kind().label(),
                r.request().epoch,
                if r.request().summary { "True" } else { "False" }
            );
            assert_eq!(desc, expected, "{at}");
        }
        ScRequest::List(r) => {
            let filters: Vec<String> = r
                .request()
                .filters
                .iter()
                .map(|f| format!("'{}'", f.name))
                .collect();
            let expected = format!(
                "ListRequest ty={} filters=[{}] summary={} system={}",
                r.kind().label(),
                filters.join(", "),
                py_bool(r.request().summary),
                py_bool(r.request().system)
            );
            assert_eq!(desc, expected, "{at}");
        }
        ScRequest::Create(r) => {
            let ObjectCreateRequest::Topic(create) = r else {
                panic!("{at}: the client only creates topics");
            };
            assert!(
                desc.starts_with(&format!(
                    "CreateRequest ty=Topic name={} dry_run={} timeout=None",
                    create.name,
                    py_bool(create.dry_run)
                )),
                "{at}"
            );
            assert_eq!(create.timeout, None, "{at}");
            let ReplicaSpec::Computed {
                partitions,
                replication_factor,
                ignore_rack_assignment,
            } = create.spec.replicas
            else {
                panic!("{at}: expected computed replicas");
            };
            assert!(
                desc.contains(&format!(
                    "'replicas': ('computed', {partitions}, {replication_factor}, {})",
                    py_bool(ignore_rack_assignment)
                )),
                "{at}"
            );
            assert!(
                desc.contains(&format!(
                    "'compression_type': {}",
                    create.spec.compression_type.tag()
                )),
                "{at}"
            );
            assert!(desc.ends_with("trailing=0"), "{at}");
        }
        ScRequest::Delete(r) => {
            let ObjectDeleteRequest::Topic(delete) = r else {
                panic!("{at}: the client only deletes topics");
            };
            let expected = format!(
                "DeleteRequest ty=Topic key={} force={}",
                delete.key,
                py_bool(delete.force)
            );
            assert_eq!(desc, expected, "{at}");
        }
        ScRequest::Update(_) => panic!("{at}: the captured client sends no updates"),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Check a decoded SC response against the reference server's description of it.
fn check_response_description(
    name: &str,
    frame: &CapturedFrame,
    response: &ScResponse,
    desc: &str,
) {
    let at = format!("{name}:{}: {desc}", frame.line);
    let expected = match response {
        ScResponse::ApiVersions(_) => "ApiVersionsResponse".to_string(),
        ScResponse::Create(status) | ScResponse::Delete(status) | ScResponse::Update(status) => {
            let code = match &status.error_code {
                ErrorCode::None => "ok".to_string(),
                other => format!("{other:?}"),
            };
            format!("Status({code})")
        }
        ScResponse::List(list) => format!("ListResponse({} n={})", list.kind().label(), list.len()),
        ScResponse::Watch(watch) => {
            let (changes, all) = watch_counts(watch);
            let what = if all > 0 || changes == 0 {
                format!("all={all}")
            } else {
                format!("changes={changes}")
            };
            format!("WatchResponse({} {what})", watch.kind().label())
        }
    };
    assert_eq!(desc, expected, "{at}");
}

fn watch_counts(watch: &ObjectWatchResponse) -> (usize, usize) {
    match watch {
        ObjectWatchResponse::Topic(u) => (u.changes.len(), u.all.len()),
        ObjectWatchResponse::Partition(u) => (u.changes.len(), u.all.len()),
        ObjectWatchResponse::Spu(u) => (u.changes.len(), u.all.len()),
        ObjectWatchResponse::CustomSpu(u) => (u.changes.len(), u.all.len()),
        ObjectWatchResponse::AuthToken(u) => (u.changes.len(), u.all.len()),
        ObjectWatchResponse::PartitionState(u) => (u.changes.len(), u.all.len()),
    }
}

/// What an ApiVersions response in the captures is, if it is not our own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Oddity {
    /// exp_badsemver: platform "foo".
    BadSemver,
    /// exp_oldplatform: platform "0.8.9", below the client's minimum 0.9.0.
    OldPlatform,
    /// exp_nowatch: Watch (1004) missing from the SC table.
    NoWatch,
    /// exp_spuomit: an SPU that lists no api keys at all.
    SpuOmitsAll,
}

fn classify_api_versions(role: Role, response: &ApiVersionsResponse) -> Option<Oddity> {
    let ours = match role {
        Role::Sc => ApiVersionsResponse::sc(),
        Role::Spu => ApiVersionsResponse::reference_spu(),
    };
    if *response == ours {
        return None;
    }
    assert_eq!(response.error_code, ErrorCode::None);
    match role {
        Role::Sc if response.platform_version == "foo" => {
            assert_eq!(response.api_keys, ours.api_keys);
            assert_eq!(response.platform_semver(), None);
            Some(Oddity::BadSemver)
        }
        Role::Sc if response.platform_version == "0.8.9" => {
            assert_eq!(response.api_keys, ours.api_keys);
            let semver = response.platform_semver().expect("valid semver");
            assert_eq!(semver, (0, 8, 9));
            let minimum = parse_semver("0.9.0").unwrap();
            assert!(semver < minimum, "older than the client's minimum");
            Some(Oddity::OldPlatform)
        }
        Role::Sc if response.lookup(sc_keys::WATCH).is_none() => {
            assert_eq!(response.platform_semver(), Some((0, 17, 3)));
            assert_eq!(response.negotiate(sc_keys::WATCH, 15, 19), None);
            let others: Vec<_> = ours
                .api_keys
                .iter()
                .filter(|k| k.api_key as u16 != sc_keys::WATCH)
                .cloned()
                .collect();
            assert_eq!(response.api_keys, others);
            Some(Oddity::NoWatch)
        }
        Role::Spu if response.api_keys.is_empty() => {
            assert_eq!(response.platform_version, "0.17.3");
            // Without StreamFetch listed the client falls back to the legacy v17 layout.
            assert_eq!(response.negotiate(spu_keys::STREAM_FETCH, 23, 24), None);
            Some(Oddity::SpuOmitsAll)
        }
        _ => panic!("unexpected ApiVersions response from the {role:?}: {response:?}"),
    }
}

fn expected_oddities(log: &str) -> Vec<Oddity> {
    match log {
        "exp_badsemver.log" => vec![Oddity::BadSemver],
        "exp_oldplatform.log" => vec![Oddity::OldPlatform],
        "exp_nowatch.log" => vec![Oddity::NoWatch],
        "exp_spuomit.log" => vec![Oddity::SpuOmitsAll],
        _ => vec![],
    }
}

#[derive(Default, Debug)]
struct Counts {
    requests: usize,
    responses: usize,
    spu_api_versions: usize,
}

#[test]
fn every_sc_frame_of_every_capture_round_trips() {
    let logs = common::all_logs();
    assert!(logs.len() >= 19, "capture logs: {logs:?}");
    let mut total = Counts::default();
    for name in &logs {
        let text = read_log(name);
        let mut oddities = Vec::new();
        let mut counts = Counts::default();
        for frame in common::load(name) {
            let desc = description(&text, &frame);
            let sc_side = frame.role == Role::Sc || frame.api_key == 18;
            if !sc_side {
                continue;
            }
            if frame.is_request {
                let request = request_round_trip(name, &frame);
                check_request_description(name, &frame, &request, &desc);
                counts.requests += 1;
            } else {
                let response = response_round_trip(name, &frame);
                if frame.role == Role::Sc {
                    check_response_description(name, &frame, &response, &desc);
                }
                if let ScResponse::ApiVersions(versions) = &response {
                    if frame.role == Role::Spu {
                        counts.spu_api_versions += 1;
                    }
                    oddities.extend(classify_api_versions(frame.role, versions));
                }
                counts.responses += 1;
            }
        }
        oddities.sort();
        oddities.dedup();
        assert_eq!(oddities, expected_oddities(name), "{name}");
        assert!(
            counts.requests > 0 && counts.responses > 0,
            "{name}: {counts:?}"
        );
        total.requests += counts.requests;
        total.responses += counts.responses;
        total.spu_api_versions += counts.spu_api_versions;
    }
    assert!(total.spu_api_versions > 0);
    assert!(total.requests > 200, "{total:?}");
    assert!(total.responses > 200, "{total:?}");
}

/// The frames of one connection (peer) of the main session, requests and responses.
fn main_session() -> Vec<CapturedFrame> {
    common::load("official-client-session.log")
}

fn sc_responses(frames: &[CapturedFrame]) -> Vec<(CapturedFrame, ScResponse)> {
    frames
        .iter()
        .filter(|f| f.role == Role::Sc && !f.is_request)
        .map(|f| (f.clone(), response_round_trip("main", f)))
        .collect()
}

fn sc_requests(frames: &[CapturedFrame]) -> Vec<(CapturedFrame, ScRequest)> {
    frames
        .iter()
        .filter(|f| f.role == Role::Sc && f.is_request)
        .map(|f| (f.clone(), request_round_trip("main", f)))
        .collect()
}

#[test]
fn main_session_handshake() {
    let frames = main_session();
    let first_sc = frames
        .iter()
        .find(|f| f.role == Role::Sc && !f.is_request)
        .unwrap();
    assert_eq!(
        first_sc.bytes,
        encode_response_frame(1, &ApiVersionsResponse::sc(), 2).unwrap()
    );
    let first_spu = frames
        .iter()
        .find(|f| f.role == Role::Spu && !f.is_request)
        .unwrap();
    assert_eq!(first_spu.api_key, 18);
    assert_eq!(
        first_spu.bytes,
        encode_response_frame(1, &ApiVersionsResponse::reference_spu(), 2).unwrap()
    );
    let (_, request) = &sc_requests(&frames)[0];
    let ScRequest::ApiVersions(request) = request else {
        panic!("first request is ApiVersions");
    };
    assert_eq!(
        *request,
        protocol::api::ApiVersionsRequest::official_client()
    );
}

#[test]
fn main_session_create_list_delete() {
    let frames = main_session();
    let requests = sc_requests(&frames);
    let creates: Vec<&CreateRequest<TopicSpec>> = requests
        .iter()
        .filter_map(|(_, r)| match r {
            ScRequest::Create(ObjectCreateRequest::Topic(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(creates.len(), 2, "create, then the duplicate create");
    let demo = creates[0];
    assert_eq!(demo.name, "demo");
    assert!(!demo.dry_run);
    assert_eq!(demo.timeout, None);
    assert_eq!(
        demo.spec.replicas,
        ReplicaSpec::Computed {
            partitions: 1,
            replication_factor: 1,
            ignore_rack_assignment: true
        }
    );
    assert_eq!(demo.spec.cleanup_policy, None);
    assert_eq!(demo.spec.storage, None);
    assert_eq!(demo.spec.compression_type, CompressionAlgorithm::Any);
    assert_eq!(demo.spec.deduplication, None);
    assert!(!demo.spec.system);
    assert_eq!(creates[1], demo);

    let lists: Vec<&ObjectListRequest> = requests
        .iter()
        .filter_map(|(_, r)| match r {
            ScRequest::List(l) => Some(l),
            _ => None,
        })
        .collect();
    assert_eq!(lists[0].kind(), ObjectKind::Topic);
    assert!(lists[0].request().filters.is_empty());
    assert_eq!(
        lists[1].request().filters,
        vec![ListFilter {
            name: "demo".into()
        }]
    );
    assert!(lists[1].request().matches("demo"));
    assert!(!lists[1].request().matches("other"));
    assert_eq!(lists[2].kind(), ObjectKind::Partition);

    let deletes: Vec<&DeleteRequest<TopicSpec>> = requests
        .iter()
        .filter_map(|(_, r)| match r {
            ScRequest::Delete(ObjectDeleteRequest::Topic(d)) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(deletes.len(), 2, "delete, then delete of the missing topic");
    assert!(deletes.iter().all(|d| d.key == "demo" && !d.force));

    let statuses: Vec<(u16, Status)> = sc_responses(&frames)
        .into_iter()
        .filter_map(|(f, r)| match r {
            ScResponse::Create(s) | ScResponse::Delete(s) => Some((f.api_key, s)),
            _ => None,
        })
        .collect();
    let summary: Vec<(u16, &str, ErrorCode)> = statuses
        .iter()
        .map(|(k, s)| (*k, s.name.as_str(), s.error_code.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (sc_keys::CREATE, "demo", ErrorCode::None),
            (sc_keys::CREATE, "demo", ErrorCode::TopicAlreadyExists),
            (sc_keys::DELETE, "demo", ErrorCode::None),
            (sc_keys::DELETE, "demo", ErrorCode::TopicNotFound),
        ]
    );
    assert!(statuses.iter().all(|(_, s)| s.error_message.is_none()));
    assert_eq!(
        statuses[0].1.to_bytes(19).unwrap(),
        [0, 4, b'd', b'e', b'm', b'o', 0, 0, 0]
    );

    // The list responses: "demo" twice, its partition, then nothing after the delete.
    let lists: Vec<ObjectListResponse> = sc_responses(&frames)
        .into_iter()
        .filter_map(|(_, r)| match r {
            ScResponse::List(l) => Some(l),
            _ => None,
        })
        .collect();
    let topics = lists[0].clone().into_kind::<TopicSpec>().unwrap();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].name, "demo");
    assert_eq!(
        topics[0].spec, demo.spec,
        "the server echoes the created spec"
    );
    assert_eq!(topics[0].status.resolution, TopicResolution::Provisioned);
    assert_eq!(
        topics[0].status.replica_map,
        BTreeMap::from([(0, vec![5001])])
    );
    let partitions = lists[2].clone().into_kind::<PartitionSpec>().unwrap();
    assert_eq!(partitions[0].name, "demo-0");
    assert!(lists[2].clone().into_kind::<TopicSpec>().is_err());
    assert!(lists.last().unwrap().is_empty());
}

#[test]
fn main_session_watch_streams() {
    let frames = main_session();
    let responses = sc_responses(&frames);
    let watches: Vec<ObjectWatchResponse> = responses
        .iter()
        .filter_map(|(_, r)| match r {
            ScResponse::Watch(w) => Some(w.clone()),
            _ => None,
        })
        .collect();

    // The SPU snapshot: one custom SPU 5001 reachable at 127.0.0.1:19005.
    let spu = watches[0].clone().into_kind::<SpuSpec>().unwrap();
    assert_eq!(spu.epoch, 1);
    assert!(spu.changes.is_empty());
    assert_eq!(spu.all.len(), 1);
    assert_eq!(spu.all[0].name, "5001");
    assert_eq!(spu.all[0].spec.id, 5001);
    assert_eq!(spu.all[0].spec.spu_type, SpuType::Custom);
    assert_eq!(spu.all[0].spec.public_endpoint.addr(), "127.0.0.1:19005");
    assert_eq!(spu.all[0].status.resolution, SpuResolution::Online);

    // Empty cluster: empty Partition and Topic snapshots.
    let empty = watches[1].clone().into_kind::<PartitionSpec>().unwrap();
    assert_eq!(empty, MetadataUpdate::snapshot(1, vec![]));

    // After the create: the first Partition change names "demo-0", led by 5001.
    let first_partition_change = watches
        .iter()
        .filter_map(|w| w.clone().into_kind::<PartitionSpec>().ok())
        .find(|u| !u.changes.is_empty())
        .unwrap();
    let message = &first_partition_change.changes[0];
    assert_eq!(message.header, MessageType::Update);
    assert_eq!(message.content.name, "demo-0");
    assert_eq!(
        parse_partition_name(&message.content.name),
        Some(("demo", 0))
    );
    assert_eq!(message.content.spec.leader, 5001);
    assert_eq!(message.content.spec.replicas, vec![5001]);
    assert_eq!(
        message.content.status.resolution,
        PartitionResolution::Online
    );
    assert_eq!(message.content.status.leader.spu, 5001);
    assert_eq!(message.content.status.size, -2);

    let first_topic_change = watches
        .iter()
        .filter_map(|w| w.clone().into_kind::<TopicSpec>().ok())
        .find(|u| !u.changes.is_empty())
        .unwrap();
    assert_eq!(first_topic_change.changes[0].header, MessageType::Update);
    assert_eq!(first_topic_change.changes[0].content.name, "demo");
    assert_eq!(
        first_topic_change.changes[0]
            .content
            .spec
            .replicas
            .partition_count(),
        1
    );

    // After the delete, every watcher gets DELETE messages for the topic and partition.
    let deletes: Vec<(ObjectKind, String)> = watches
        .iter()
        .flat_map(|w| match w {
            ObjectWatchResponse::Topic(u) => u
                .changes
                .iter()
                .filter(|m| m.header == MessageType::Delete)
                .map(|m| (ObjectKind::Topic, m.content.name.clone()))
                .collect::<Vec<_>>(),
            ObjectWatchResponse::Partition(u) => u
                .changes
                .iter()
                .filter(|m| m.header == MessageType::Delete)
                .map(|m| (ObjectKind::Partition, m.content.name.clone()))
                .collect(),
            _ => vec![],
        })
        .collect();
    assert!(deletes.contains(&(ObjectKind::Topic, "demo".into())));
    assert!(deletes.contains(&(ObjectKind::Partition, "demo-0".into())));
    assert_eq!(deletes.len(), 6, "3 watchers of each kind: {deletes:?}");
}

#[test]
fn spec_capture_topic_with_retention_storage_gzip() {
    let frames = common::load("exp_spec.log");
    let two = sc_requests(&frames)
        .into_iter()
        .find_map(|(_, r)| match r {
            ScRequest::Create(ObjectCreateRequest::Topic(c)) if c.name == "two" => Some(c),
            _ => None,
        })
        .expect("create of \"two\"");
    assert_eq!(two.spec.replicas.partition_count(), 2);
    assert_eq!(two.spec.cleanup_policy.unwrap().retention_secs(), 3600);
    let storage = two.spec.storage.clone().unwrap();
    assert_eq!(storage.segment_size, Some(1 << 20));
    assert_eq!(storage.max_partition_size, Some(10 << 20));
    assert_eq!(two.spec.compression_type, CompressionAlgorithm::Gzip);
}
