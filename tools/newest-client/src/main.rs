//! Drives the newest official Rust client (the `fluvio` crate 0.50.1) against a cluster, as
//! `capture.sh` does for the capture in protocol/tests/data/newest-client:
//! admin, keyed produce, a stream from the beginning, and consumer offsets.
use fluvio::consumer::ConsumerStream;
use fluvio::consumer::{ConsumerConfigExtBuilder, OffsetManagementStrategy};
use fluvio::metadata::partition::PartitionSpec;
use fluvio::metadata::spu::SpuSpec;
use fluvio::metadata::topic::TopicSpec;
use fluvio::{Fluvio, FluvioClusterConfig, Offset, RecordKey};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = &args[1];
    let topic = &args[2];
    let phases = args
        .get(3)
        .cloned()
        .unwrap_or("admin,produce,consume,smartmodule,offsets".into());
    let has = |p: &str| phases.split(',').any(|x| x == p);
    let fluvio = Fluvio::connect_with_config(&FluvioClusterConfig::new(addr.clone())).await?;
    let admin = fluvio.admin().await;
    if has("admin") {
        admin
            .create(topic.clone(), false, TopicSpec::new_computed(2, 1, None))
            .await?;
        let topics = admin.all::<TopicSpec>().await?;
        let mut names: Vec<_> = topics.iter().map(|t| t.name.clone()).collect();
        names.sort();
        println!("topics: {names:?}");
        let parts = admin.all::<PartitionSpec>().await?;
        println!(
            "partitions: {}",
            parts
                .iter()
                .filter(|p| p.name.starts_with(topic.as_str()))
                .count()
        );
        let spus = admin.all::<SpuSpec>().await?;
        println!(
            "spus: {:?}",
            spus.iter().map(|s| s.spec.id).collect::<Vec<_>>()
        );
    }
    if has("grow") {
        // Update (1006): one more partition, placed by the SC.
        admin
            .update::<TopicSpec>(
                topic.clone(),
                fluvio::metadata::topic::UpdateTopicAction::AddPartition(
                    fluvio::metadata::topic::AddPartition { count: 1 },
                ),
            )
            .await?;
        let parts = admin.all::<PartitionSpec>().await?;
        println!(
            "partitions after add-partition: {}",
            parts
                .iter()
                .filter(|p| p.name.starts_with(&format!("{topic}-")))
                .count()
        );
    }
    if has("produce") {
        let producer = fluvio.topic_producer(topic.clone()).await?;
        for i in 0..10 {
            producer.send(format!("k{i}"), format!("v{i}")).await?;
        }
        for i in 10..14 {
            producer.send(RecordKey::NULL, format!("v{i}")).await?;
        }
        producer.flush().await?;
        println!("produced: 14");
    }
    if has("consume") {
        let mut got = Vec::new();
        let partitions = admin
            .all::<PartitionSpec>()
            .await?
            .iter()
            .filter(|p| p.name.starts_with(&format!("{topic}-")))
            .count() as u32;
        for p in 0..partitions {
            let consumer = fluvio
                .consumer_with_config(
                    ConsumerConfigExtBuilder::default()
                        .topic(topic.clone())
                        .partition(p)
                        .offset_start(Offset::beginning())
                        .disable_continuous(true)
                        .build()?,
                )
                .await?;
            let mut stream = consumer;
            while let Some(r) = stream.next().await {
                let r = r?;
                got.push(String::from_utf8_lossy(r.value()).to_string());
            }
        }
        got.sort();
        println!("consumed: {} {:?}", got.len(), got);
    }
    if has("smartmodule") {
        // A named SmartModule invocation (SPU API v25): this cluster runs none, so the
        // answer is an error, but the request must be read to the end.
        let invocation = fluvio::SmartModuleInvocation {
            wasm: fluvio::SmartModuleInvocationWasm::Predefined("my-filter".into()),
            kind: fluvio::SmartModuleKind::Filter,
            params: std::collections::BTreeMap::from([("k".to_string(), "v".to_string())]).into(),
            name: Some("my-filter".into()),
        };
        let result = fluvio
            .consumer_with_config(
                ConsumerConfigExtBuilder::default()
                    .topic(topic.clone())
                    .partition(0)
                    .offset_start(Offset::beginning())
                    .disable_continuous(true)
                    .smartmodule(vec![invocation])
                    .build()?,
            )
            .await;
        match result {
            Ok(mut stream) => match stream.next().await {
                Some(Ok(r)) => println!("smartmodule: record {}", r.offset()),
                Some(Err(e)) => println!("smartmodule: error {e:?}"),
                None => println!("smartmodule: end"),
            },
            Err(e) => println!("smartmodule: refused {e}"),
        }
    }
    if has("offsets") {
        let mut stream = fluvio
            .consumer_with_config(
                ConsumerConfigExtBuilder::default()
                    .topic(topic.clone())
                    .partition(0)
                    .offset_consumer("rust-c1".to_string())
                    .offset_start(Offset::beginning())
                    .offset_strategy(OffsetManagementStrategy::Manual)
                    .build()?,
            )
            .await?;
        let mut n = 0;
        let mut last = -1;
        while n < 3 {
            match stream.next().await {
                Some(Ok(r)) => {
                    n += 1;
                    last = r.offset();
                }
                Some(Err(e)) => anyhow::bail!("stream: {e}"),
                None => break,
            }
        }
        stream.offset_commit().await?;
        stream.offset_flush().await?;
        println!("committed: {last}");
        drop(stream);
        let offsets = fluvio.consumer_offsets().await?;
        for o in &offsets {
            println!(
                "offset: {} {} {} {}",
                o.consumer_id, o.topic, o.partition, o.offset
            );
        }
        fluvio
            .delete_consumer_offset("rust-c1", (topic.clone(), 0))
            .await?;
        println!("after delete: {}", fluvio.consumer_offsets().await?.len());
    }
    if has("admin") {
        admin.delete::<TopicSpec>(topic.clone()).await?;
        println!("deleted");
    }
    Ok(())
}
