//! What only etcd shows, each on a private etcd process the test kills and restarts: etcd down
//! fails fast with `Unavailable`, a watcher rides out a restart without missing a change, an
//! interrupted replacement leaves the old configuration whole, compaction, transaction limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::FutureExt;
use serde_json::Value;
use spend_store::config_store::{ConfigStore, Resource, StoreError, Versioned};
use spend_store::etcd::{EtcdConfigStore, EtcdOptions};
use spend_store::watch::{watch_config, ConfigUpdate, WatchConfigOptions};
use tokio_util::sync::CancellationToken;

use crate::flaky;
use crate::support::{config, program, unique_prefix, wait, EtcdProcess};

const TIMEOUT: Duration = Duration::from_secs(1);

fn options() -> EtcdOptions {
    EtcdOptions {
        request_timeout: TIMEOUT,
        connect_timeout: TIMEOUT,
        ..EtcdOptions::default()
    }
}

async fn store_on(etcd: &EtcdProcess, options: EtcdOptions) -> anyhow::Result<EtcdConfigStore> {
    Ok(EtcdConfigStore::connect(&etcd.endpoints(), &unique_prefix(), options).await?)
}

/// Retries `call` until etcd answers (the client reconnects on its own after a restart). Only
/// for reads and idempotent writes: a write that timed out may still have been applied.
async fn once_back<T, F: std::future::Future<Output = spend_store::config_store::Result<T>>>(
    mut call: impl FnMut() -> F,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match call().await {
            Ok(done) => return Ok(done),
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn assert_unavailable_in_time<T: std::fmt::Debug>(
    what: &str,
    started: Instant,
    result: spend_store::config_store::Result<T>,
) {
    let took = started.elapsed();
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what} with etcd down: {result:?}"
    );
    assert!(
        took < TIMEOUT + Duration::from_millis(500),
        "{what} took {took:?} to fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_down_fails_fast_with_unavailable() -> anyhow::Result<()> {
    let Some(mut etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    let store = store_on(&etcd, options()).await?;
    let r1 = store
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    assert!(store.ping().await? >= r1);
    etcd.kill();

    let t = Instant::now();
    let ping = store.ping().await;
    assert_unavailable_in_time("ping", t, ping);

    let t = Instant::now();
    let put = store
        .put(Resource::Program, "beta", program("beta"), &[])
        .await;
    assert_unavailable_in_time("put", t, put);
    let t = Instant::now();
    let delete = store.delete(Resource::Program, "alpha", &[]).await;
    assert_unavailable_in_time("delete", t, delete);
    let t = Instant::now();
    let replace = store.replace_all(config("x", 2)).await;
    assert_unavailable_in_time("replace_all", t, replace);
    let t = Instant::now();
    let get = store.get(Resource::Program, "alpha").await;
    assert_unavailable_in_time("get", t, get);
    let t = Instant::now();
    let snapshot = store.snapshot().await;
    assert_unavailable_in_time("snapshot", t, snapshot);
    let t = Instant::now();
    let watch = store.watch(r1).await.map(|_| ());
    assert_unavailable_in_time("watch", t, watch);

    etcd.restart().await?;
    let r2 = once_back(|| store.put(Resource::Program, "beta", program("beta"), &[])).await?;
    assert!(r2 > r1);
    let ids: Vec<_> = store
        .list(Resource::Program)
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(
        ids,
        ["alpha", "beta"],
        "nothing written while down, nothing lost"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_made_while_etcd_is_down_works_once_it_is_up() -> anyhow::Result<()> {
    let Some(mut etcd) = EtcdProcess::prepare()? else {
        return Ok(());
    };
    let store = store_on(&etcd, options()).await?;
    let t = Instant::now();
    let put = store
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await;
    assert_unavailable_in_time("put before etcd started", t, put);

    etcd.restart().await?;
    let r = once_back(|| store.put(Resource::Program, "alpha", program("alpha"), &[])).await?;
    let got = store
        .get(Resource::Program, "alpha")
        .await?
        .context("alpha")?;
    assert_eq!(got.mod_revision, r);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_config_rides_out_an_etcd_restart() -> anyhow::Result<()> {
    let Some(mut etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    // The default deadline: this test is about the watcher, not about failing fast.
    let store = Arc::new(store_on(&etcd, EtcdOptions::default()).await?);
    let mut writes = vec![store.replace_all(config("a", 4)).await?];
    let watch_options = WatchConfigOptions {
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        ..WatchConfigOptions::default()
    };
    let mut watch = watch_config(store.clone(), watch_options, CancellationToken::new());
    let mut updates = watch.updates();
    wait(&watch, writes[0]).await?;
    writes.push(
        store
            .put(Resource::Program, "gamma", program("gamma"), &[])
            .await?,
    );
    writes.push(store.delete(Resource::Campaign, "a-c001", &[]).await?);
    let before = wait(&watch, writes[2]).await?;

    etcd.kill();
    let refused = store
        .put(Resource::Program, "delta", program("delta"), &[])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        watch.latest(),
        Some(before),
        "the last good snapshot stays while etcd is down"
    );

    etcd.restart().await?;
    // Reachable again (a read, so that a retry cannot write twice), then written at once, most
    // likely while the watcher is still waiting to reconnect.
    once_back(|| store.snapshot()).await?;
    writes.push(
        store
            .put(Resource::Program, "delta", program("delta"), &[])
            .await?,
    );
    writes.push(store.replace_all(config("b", 3)).await?);
    writes.push(store.delete(Resource::Program, "beta", &[]).await?);
    writes.push(
        store
            .put(Resource::Campaign, "b-c000", program("x"), &[])
            .await?,
    );
    let last = *writes.last().context("writes")?;

    let after = wait(&watch, last).await?;
    assert_eq!(after.revision, last);
    assert_eq!(after.objects, store.snapshot().await?.objects);

    let mut published = Vec::new();
    let mut applied = Vec::new();
    while let Ok(update) = updates.try_recv() {
        published.push(update.revision());
        if let ConfigUpdate::Applied { event, .. } = update {
            applied.push(event.revision);
        }
    }
    assert!(published.windows(2).all(|w| w[0] < w[1]), "{published:?}");
    assert_eq!(published.first(), Some(&writes[0]));
    assert_eq!(
        applied,
        writes[1..],
        "every change, in order, each as its own event"
    );
    watch.stop().await;
    Ok(())
}

fn by_key(objects: &[Versioned]) -> BTreeMap<(Resource, String), Value> {
    objects
        .iter()
        .map(|v| ((v.resource, v.id.clone()), v.value.clone()))
        .collect()
}

fn as_map(objects: &[(Resource, String, Value)]) -> BTreeMap<(Resource, String), Value> {
    objects
        .iter()
        .map(|(r, id, v)| ((*r, id.clone()), v.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_replace_all_leaves_a_whole_configuration() -> anyhow::Result<()> {
    let Some(mut etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    let store = Arc::new(store_on(&etcd, options()).await?);
    let mut current = config("old", 50);
    store.replace_all(current.clone()).await?;

    // etcd gone before the replacement: refused, the old configuration intact.
    etcd.kill();
    let refused = store.replace_all(config("never", 50)).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    etcd.restart().await?;
    let snap = once_back(|| store.snapshot()).await?;
    assert_eq!(by_key(&snap.objects), as_map(&current));

    // etcd killed while the replacement is under way, at a few different moments: whatever the
    // caller heard, the configuration is one of the two, whole, at one revision.
    for (round, delay_ms) in [0u64, 1, 2, 4, 8, 16].into_iter().enumerate() {
        let next = config(&format!("r{round}"), 50);
        let writer = {
            let store = store.clone();
            let next = next.clone();
            tokio::spawn(async move { store.replace_all(next).await })
        };
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        etcd.kill();
        let heard = writer.await?;
        etcd.restart().await?;
        let snap = once_back(|| store.snapshot()).await?;
        let found = by_key(&snap.objects);
        let revisions: std::collections::BTreeSet<_> =
            snap.objects.iter().map(|v| v.mod_revision).collect();
        assert_eq!(
            revisions.len(),
            1,
            "round {round}: one revision, got {revisions:?}"
        );
        match heard {
            Ok(_) => assert_eq!(found, as_map(&next), "round {round}: acknowledged, so new"),
            Err(StoreError::Unavailable(_)) => assert!(
                found == as_map(&next) || found == as_map(&current),
                "round {round}: a mix of old and new"
            ),
            Err(e) => return Err(e).context(format!("round {round}")),
        }
        if found == as_map(&next) {
            current = next;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_catches_up_after_outage() -> anyhow::Result<()> {
    let Some(etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    let store = Arc::new(store_on(&etcd, options()).await?);
    flaky::watcher_catches_up_after_outage(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_reloads_after_compaction() -> anyhow::Result<()> {
    // Compaction is cluster-wide: never on a shared etcd.
    let Some(etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    let store = Arc::new(store_on(&etcd, options()).await?);
    let endpoints = etcd.endpoints();
    let compact = move |revision| {
        async move {
            let mut client = etcd_client::Client::connect(&endpoints, None).await?;
            client.compact(revision, None).await?;
            Ok(())
        }
        .boxed()
    };
    flaky::watcher_reloads_after_compaction(store, compact).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_all_beyond_one_transaction_is_rejected() -> anyhow::Result<()> {
    // A private etcd, so its --max-txn-ops is the default 128 whatever the shared one uses.
    let Some(etcd) = EtcdProcess::start().await? else {
        return Ok(());
    };
    let store = store_on(&etcd, options()).await?;
    // 4 fixed objects + 124 campaigns: 128 puts, exactly the limit.
    let fits = config("fits", 124);
    let r = store.replace_all(fits.clone()).await?;

    // 125 puts, but also 125 deletions of the objects it drops.
    let too_big = config("big", 121);
    let refused = store.replace_all(too_big.clone()).await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );

    // With the client's limit raised past the server's, etcd itself refuses it the same way.
    let lenient = EtcdConfigStore::connect(
        &etcd.endpoints(),
        store.prefix(),
        EtcdOptions {
            max_txn_ops: 10_000,
            ..options()
        },
    )
    .await?;
    let refused = lenient.replace_all(too_big).await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );

    let snap = store.snapshot().await?;
    assert_eq!(by_key(&snap.objects), as_map(&fits));
    assert!(snap.objects.iter().all(|v| v.mod_revision == r));
    Ok(())
}
