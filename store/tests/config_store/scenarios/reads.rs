//! Reads and watches: snapshots, event streams, the self-healing watch.

use anyhow::Context;
use serde_json::Value;
use spend_store::config_store::{Change, Resource};
use spend_store::watch::{watch_config, ConfigUpdate, WatchConfigOptions};
use tokio_util::sync::CancellationToken;

use super::{apply, contents};
use crate::support::{campaign, config, events_until, exclusion, fx_rate, program, wait, Backend};

pub(crate) async fn watch_delivers_every_later_event_in_order(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let start = s.snapshot().await?;
    let mut live = s.watch(start.revision).await?;

    let mut revisions = Vec::new();
    revisions.push(
        s.put(Resource::Program, "alpha", program("alpha"), &[])
            .await?,
    );
    revisions.push(
        s.put(Resource::FxRate, "USD", fx_rate("USD", "1.35"), &[])
            .await?,
    );
    let mid = *revisions.last().context("a write")?;
    revisions.push(
        s.put(Resource::Campaign, "c1", campaign("c1", "alpha", "2"), &[])
            .await?,
    );
    revisions.push(
        s.put(Resource::Exclusion, "e1", exclusion("e1"), &[])
            .await?,
    );
    revisions.push(s.delete(Resource::FxRate, "USD", &[]).await?);
    revisions.push(s.replace_all(config("all", 2)).await?);
    revisions.push(
        s.put(
            Resource::Campaign,
            "all-c000",
            campaign("x", "beta", "3"),
            &[],
        )
        .await?,
    );
    let last = *revisions.last().context("a write")?;
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    if b.exclusive {
        let contiguous: Vec<_> = (1..=revisions.len() as i64)
            .map(|i| start.revision + i)
            .collect();
        assert_eq!(revisions, contiguous, "one revision per write");
    }

    // Live, from before the writes: exactly those writes, in order, ending where the store is.
    let seen = events_until(&mut live, last).await?;
    let seen_revisions: Vec<_> = seen.iter().map(|e| e.revision).collect();
    assert_eq!(seen_revisions, revisions);
    let mut state = contents(&start.objects);
    for event in &seen {
        apply(&mut state, event);
    }
    assert_eq!(state, contents(&s.snapshot().await?.objects));

    // Replayed, from a revision in the past: the same events after it.
    let mut replay = s.watch(mid).await?;
    let replayed = events_until(&mut replay, last).await?;
    assert_eq!(replayed, seen[2..].to_vec());

    // From the present: nothing old, then what comes next.
    let mut fresh = s.watch(last).await?;
    let next = s.delete(Resource::Exclusion, "all-ex", &[]).await?;
    let seen = events_until(&mut fresh, next).await?;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].changes,
        [Change::Delete {
            resource: Resource::Exclusion,
            id: "all-ex".into()
        }]
    );
    Ok(())
}

pub(crate) async fn snapshot_is_at_latest_revision(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let empty = s.snapshot().await?;
    assert!(empty.objects.is_empty());
    s.put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let last = s
        .put(Resource::Program, "beta", program("beta"), &[])
        .await?;
    let snap = s.snapshot().await?;
    assert!(snap.revision >= last);
    if b.exclusive {
        assert_eq!(snap.revision, last);
    }
    let alpha = s.get(Resource::Program, "alpha").await?.context("alpha")?;
    let beta = s.get(Resource::Program, "beta").await?.context("beta")?;
    assert_eq!(snap.objects, vec![alpha, beta]);
    Ok(())
}

pub(crate) async fn snapshot_orders_by_resource_then_id(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    s.replace_all(config("z", 3)).await?;
    let snap = s.snapshot().await?;
    let keys: Vec<_> = snap
        .objects
        .iter()
        .map(|v| (v.resource.as_str(), v.id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    Ok(())
}

pub(crate) async fn decimals_round_trip_exactly(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let text = r#"{"big":123456789012345678901234567890,"currency":"JPY","rate":0.009123456789012345678901}"#;
    let value: Value = serde_json::from_str(text)?;
    s.put(Resource::FxRate, "JPY", value, &[]).await?;
    let got = s.get(Resource::FxRate, "JPY").await?.context("JPY")?;
    assert_eq!(serde_json::to_string(&got.value)?, text);
    Ok(())
}

pub(crate) async fn watch_config_follows_every_change(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    s.put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let mut watch = watch_config(
        s.clone(),
        WatchConfigOptions::default(),
        CancellationToken::new(),
    );
    let mut updates = watch.updates();
    // Any first snapshot: a shared etcd's revision moves with other tests, not with this prefix.
    let first = wait(&watch, 0).await?;
    assert_eq!(first.objects.len(), 1);

    let mut revisions = vec![
        s.put(Resource::Program, "beta", program("beta"), &[])
            .await?,
    ];
    revisions.push(s.replace_all(config("w", 3)).await?);
    revisions.push(s.delete(Resource::Program, "beta", &[]).await?);
    let last = *revisions.last().context("a write")?;
    let published = wait(&watch, last).await?;
    assert_eq!(published.revision, last);
    assert_eq!(
        contents(&published.objects),
        contents(&s.snapshot().await?.objects)
    );
    assert_eq!(
        published.objects,
        s.snapshot().await?.objects,
        "mod revisions too"
    );

    let mut applied = Vec::new();
    let mut published_revisions = Vec::new();
    while let Ok(update) = updates.try_recv() {
        published_revisions.push(update.revision());
        if let ConfigUpdate::Applied { event, .. } = update {
            applied.push(event.revision);
        }
    }
    assert!(
        published_revisions.windows(2).all(|w| w[0] < w[1]),
        "{published_revisions:?}"
    );
    assert_eq!(applied, revisions);
    watch.stop().await;
    Ok(())
}

/// Every store is empty at first: a scenario starting from nothing sees only its own objects.
pub(crate) async fn starts_empty(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    assert!(s.snapshot().await?.objects.is_empty());
    assert_eq!(s.get(Resource::Program, "alpha").await?, None);
    Ok(())
}
