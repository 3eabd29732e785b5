//! What only the embedded store shows: it survives a restart, and its event log is compacted.

use std::sync::Arc;

use anyhow::Context;
use futures::FutureExt;
use spend_store::config_store::{ConfigStore, Resource, StoreError};
use spend_store::embedded::EmbeddedConfigStore;

use crate::flaky;
use crate::support::{config, events_until, program};

#[tokio::test]
async fn reopen_keeps_objects_revision_and_events() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut revisions = Vec::new();
    let before = {
        let store = EmbeddedConfigStore::open(dir.path())?;
        revisions.push(store.replace_all(config("a", 3)).await?);
        revisions.push(
            store
                .put(Resource::Program, "gamma", program("gamma"), &[])
                .await?,
        );
        revisions.push(store.delete(Resource::Program, "alpha", &[]).await?);
        store.snapshot().await?
    };
    assert_eq!(revisions, [1, 2, 3]);
    assert_eq!(before.revision, 3);

    let store = EmbeddedConfigStore::open(dir.path())?;
    assert_eq!(store.snapshot().await?, before);
    let mut events = store.watch(0).await?;
    let replayed = events_until(&mut events, 3).await?;
    let replayed: Vec<_> = replayed.iter().map(|e| e.revision).collect();
    assert_eq!(replayed, revisions);
    let next = store
        .put(Resource::Program, "delta", program("delta"), &[])
        .await?;
    assert_eq!(next, 4, "revisions carry on where they stopped");
    assert_eq!(events_until(&mut events, 4).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_second_open_of_the_same_dir_is_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let _first = EmbeddedConfigStore::open(dir.path())?;
    let second = EmbeddedConfigStore::open(dir.path());
    assert!(
        matches!(second, Err(StoreError::Unavailable(_))),
        "{:?}",
        second.err()
    );
    Ok(())
}

#[tokio::test]
async fn dropping_the_store_ends_its_watches_and_frees_the_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedConfigStore::open(dir.path())?;
    let mut events = store.watch(0).await?;
    drop(store);
    let ended = futures::StreamExt::next(&mut events).await;
    assert!(
        matches!(ended, Some(Err(StoreError::Unavailable(_)))),
        "{ended:?}"
    );
    EmbeddedConfigStore::open(dir.path()).context("reopen while a watch stream is alive")?;
    Ok(())
}

#[tokio::test]
async fn old_events_are_compacted_beyond_the_retention() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedConfigStore::open_with_retention(dir.path(), 3)?;
    for i in 0..5 {
        store
            .put(Resource::Program, &format!("p{i}"), program("p"), &[])
            .await?;
    }
    // Revisions 3, 4 and 5 are kept: a watch after 2 works, one after 1 does not.
    let mut kept = store.watch(2).await?;
    assert_eq!(events_until(&mut kept, 5).await?.len(), 3);
    let gone = store.watch(1).await.err();
    assert!(matches!(gone, Some(StoreError::Compacted(2))), "{gone:?}");
    Ok(())
}

#[tokio::test]
async fn watcher_catches_up_after_outage() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedConfigStore::open(dir.path())?);
    flaky::watcher_catches_up_after_outage(store).await
}

#[tokio::test]
async fn watcher_reloads_after_compaction() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(EmbeddedConfigStore::open(dir.path())?);
    let compactor = store.clone();
    let compact = move |revision| async move { Ok(compactor.compact(revision).await?) }.boxed();
    flaky::watcher_reloads_after_compaction(store as Arc<dyn ConfigStore>, compact).await
}
