//! Writes: mod revisions, preconditions, whole-config replacement.

use anyhow::Context;
use serde_json::json;
use spend_store::config_store::{Change, Precondition, Resource, StoreError};

use super::{apply, contents, expected, is_precondition_failed};
use crate::support::{campaign, config, events_until, fx_rate, program, Backend};

pub(crate) async fn crud_keeps_mod_revisions(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let r1 = s
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let got = s.get(Resource::Program, "alpha").await?.context("alpha")?;
    assert_eq!(got.value, program("alpha"));
    assert_eq!(got.mod_revision, r1);
    assert_eq!(
        (got.resource, got.id.as_str()),
        (Resource::Program, "alpha")
    );

    let changed = json!({"id": "alpha", "name": "Alpha Rewards", "unit": "miles"});
    let guard = [Precondition::ModRevision(
        Resource::Program,
        "alpha".into(),
        r1,
    )];
    let r2 = s
        .put(Resource::Program, "alpha", changed.clone(), &guard)
        .await?;
    assert!(r2 > r1);
    let got = s.get(Resource::Program, "alpha").await?.context("alpha")?;
    assert_eq!((got.value, got.mod_revision), (changed, r2));

    let guard = [Precondition::ModRevision(
        Resource::Program,
        "alpha".into(),
        r2,
    )];
    let r3 = s.delete(Resource::Program, "alpha", &guard).await?;
    assert!(r3 > r2);
    assert_eq!(s.get(Resource::Program, "alpha").await?, None);
    assert!(s.list(Resource::Program).await?.is_empty());
    Ok(())
}

pub(crate) async fn list_is_one_resource_ordered_by_id(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    for id in ["gamma", "alpha", "beta"] {
        s.put(Resource::Program, id, program(id), &[]).await?;
    }
    s.put(Resource::FxRate, "USD", fx_rate("USD", "1.35"), &[])
        .await?;
    s.put(Resource::Campaign, "c1", campaign("c1", "alpha", "2"), &[])
        .await?;
    let ids: Vec<_> = s
        .list(Resource::Program)
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, ["alpha", "beta", "gamma"]);
    let fx = s.list(Resource::FxRate).await?;
    assert_eq!(fx.len(), 1);
    assert_eq!(fx[0].value, fx_rate("USD", "1.35"));
    assert!(s.list(Resource::Exclusion).await?.is_empty());
    Ok(())
}

pub(crate) async fn create_twice_is_refused(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let absent = [Precondition::Absent(Resource::Program, "alpha".into())];
    let first = s
        .put(Resource::Program, "alpha", program("alpha"), &absent)
        .await?;
    let again = s
        .put(Resource::Program, "alpha", json!({"other": true}), &absent)
        .await;
    assert!(is_precondition_failed(&again, &absent[0]), "{again:?}");
    let got = s.get(Resource::Program, "alpha").await?.context("alpha")?;
    assert_eq!((got.value, got.mod_revision), (program("alpha"), first));
    Ok(())
}

pub(crate) async fn stale_if_match_is_refused(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let r1 = s
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let r2 = s
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let stale = [Precondition::ModRevision(
        Resource::Program,
        "alpha".into(),
        r1,
    )];
    let put = s
        .put(Resource::Program, "alpha", json!({"lost": 1}), &stale)
        .await;
    assert!(is_precondition_failed(&put, &stale[0]), "{put:?}");
    let delete = s.delete(Resource::Program, "alpha", &stale).await;
    assert!(is_precondition_failed(&delete, &stale[0]), "{delete:?}");
    let got = s.get(Resource::Program, "alpha").await?.context("alpha")?;
    assert_eq!((got.value, got.mod_revision), (program("alpha"), r2));

    // An If-Match on an object that is gone fails too.
    let missing = [Precondition::ModRevision(
        Resource::Program,
        "nope".into(),
        r2,
    )];
    let put = s
        .put(Resource::Program, "nope", program("nope"), &missing)
        .await;
    assert!(is_precondition_failed(&put, &missing[0]), "{put:?}");
    assert_eq!(s.get(Resource::Program, "nope").await?, None);
    Ok(())
}

pub(crate) async fn concurrent_if_match_has_one_winner(b: &Backend) -> anyhow::Result<()> {
    let r1 = b
        .store
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let store = b.store.clone();
            tokio::spawn(async move {
                let guard = [Precondition::ModRevision(
                    Resource::Program,
                    "alpha".into(),
                    r1,
                )];
                let value = json!({"id": "alpha", "name": format!("writer {i}"), "unit": "miles"});
                (
                    i,
                    store.put(Resource::Program, "alpha", value, &guard).await,
                )
            })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        let (i, result) = writer.await?;
        match result {
            Ok(revision) => winners.push((i, revision)),
            Err(StoreError::PreconditionFailed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let (i, revision) = winners[0];
    let got = b
        .store
        .get(Resource::Program, "alpha")
        .await?
        .context("alpha")?;
    assert_eq!(got.mod_revision, revision);
    assert_eq!(got.value["name"], json!(format!("writer {i}")));
    Ok(())
}

pub(crate) async fn exists_on_missing_program_writes_nothing(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let before = s.snapshot().await?;
    let mut events = s.watch(before.revision).await?;
    let guard = [
        Precondition::Exists(Resource::Program, "nope".into()),
        Precondition::Absent(Resource::Campaign, "c1".into()),
    ];
    let put = s
        .put(
            Resource::Campaign,
            "c1",
            campaign("c1", "nope", "2"),
            &guard,
        )
        .await;
    assert!(is_precondition_failed(&put, &guard[0]), "{put:?}");
    assert_eq!(s.get(Resource::Campaign, "c1").await?, None);

    // With the program there, the same write goes through.
    s.put(Resource::Program, "nope", program("nope"), &[])
        .await?;
    let written = s
        .put(
            Resource::Campaign,
            "c1",
            campaign("c1", "nope", "2"),
            &guard,
        )
        .await?;
    // The failed write left no event behind: the next two are the program and the campaign.
    let seen = events_until(&mut events, written).await?;
    assert_eq!(seen.len(), 2, "{seen:?}");
    if b.exclusive {
        assert_eq!(written, before.revision + 2);
    }
    Ok(())
}

pub(crate) async fn first_failing_precondition_is_reported(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let r = s
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    s.put(Resource::Campaign, "c1", campaign("c1", "alpha", "2"), &[])
        .await?;
    let guard = [
        Precondition::Exists(Resource::Program, "alpha".into()),
        Precondition::ModRevision(Resource::Program, "alpha".into(), r),
        Precondition::Absent(Resource::Campaign, "c1".into()),
        Precondition::Exists(Resource::Program, "nope".into()),
    ];
    let put = s.put(Resource::Campaign, "c1", json!({}), &guard).await;
    assert!(is_precondition_failed(&put, &guard[2]), "{put:?}");
    let delete = s.delete(Resource::Campaign, "c1", &guard[3..]).await;
    assert!(is_precondition_failed(&delete, &guard[3]), "{delete:?}");
    assert!(s.get(Resource::Campaign, "c1").await?.is_some());
    Ok(())
}

pub(crate) async fn delete_of_missing_object_changes_nothing(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let r = s
        .put(Resource::Program, "alpha", program("alpha"), &[])
        .await?;
    let exists = [Precondition::Exists(Resource::Program, "nope".into())];
    let refused = s.delete(Resource::Program, "nope", &exists).await;
    assert!(is_precondition_failed(&refused, &exists[0]), "{refused:?}");
    let unguarded = s.delete(Resource::Program, "nope", &[]).await?;
    assert!(unguarded >= r);
    if b.exclusive {
        assert_eq!(unguarded, r, "a delete of nothing makes no revision");
    }
    Ok(())
}

pub(crate) async fn replace_all_is_one_atomic_event(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let old = config("old", 5);
    let r_old = s.replace_all(old.clone()).await?;
    let snap = s.snapshot().await?;
    assert_eq!(contents(&snap.objects), expected(&old));
    assert!(snap.objects.iter().all(|v| v.mod_revision == r_old));

    let mut events = s.watch(r_old).await?;
    let mut new = config("new", 3);
    new.push((Resource::Program, "gamma".into(), program("gamma")));
    let r_new = s.replace_all(new.clone()).await?;
    assert!(r_new > r_old);

    let snap = s.snapshot().await?;
    assert_eq!(contents(&snap.objects), expected(&new));
    assert!(snap.objects.iter().all(|v| v.mod_revision == r_new));

    let seen = events_until(&mut events, r_new).await?;
    assert_eq!(
        seen.len(),
        1,
        "one event for the whole replacement: {seen:?}"
    );
    assert_eq!(seen[0].revision, r_new);
    let mut state = expected(&old);
    apply(&mut state, &seen[0]);
    assert_eq!(state, expected(&new));
    // Every old object not kept is deleted, then every new one put, at one revision.
    let removed = expected(&old)
        .into_keys()
        .filter(|key| !expected(&new).contains_key(key))
        .count();
    assert_eq!(removed, 6);
    let deletes = seen[0]
        .changes
        .iter()
        .take_while(|c| matches!(c, Change::Delete { .. }))
        .count();
    assert_eq!(deletes, removed);
    assert_eq!(seen[0].changes.len(), removed + new.len());
    for change in &seen[0].changes[deletes..] {
        let Change::Put(v) = change else {
            anyhow::bail!("a delete after a put: {change:?}");
        };
        assert_eq!(v.mod_revision, r_new);
    }
    Ok(())
}

pub(crate) async fn replace_all_refuses_duplicates(b: &Backend) -> anyhow::Result<()> {
    let s = &b.store;
    let old = config("old", 2);
    s.replace_all(old.clone()).await?;
    let mut twice = config("new", 2);
    twice.push((Resource::Program, "alpha".into(), program("alpha")));
    let refused = s.replace_all(twice).await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(contents(&s.snapshot().await?.objects), expected(&old));
    Ok(())
}

pub(crate) async fn none_written_since_sees_later_writes_of_the_resource_only(
    b: &Backend,
) -> anyhow::Result<()> {
    let s = &b.store;
    for id in ["alpha", "beta", "gamma", "delta"] {
        s.put(Resource::Program, id, program(id), &[]).await?;
    }
    s.put(Resource::Campaign, "c1", campaign("c1", "alpha", "2"), &[])
        .await?;
    let read_at = s.snapshot().await?.revision;
    let unchanged = [Precondition::NoneWrittenSince(Resource::Campaign, read_at)];

    // Writes to other resources do not count.
    s.put(Resource::FxRate, "USD", fx_rate("USD", "1.35"), &[])
        .await?;
    s.delete(Resource::Program, "beta", &unchanged).await?;
    // Nor do deletions of the resource's objects.
    s.delete(Resource::Campaign, "c1", &[]).await?;
    s.delete(Resource::Program, "gamma", &unchanged).await?;

    // A campaign written after the read does.
    s.put(Resource::Campaign, "c2", campaign("c2", "alpha", "3"), &[])
        .await?;
    let refused = s.delete(Resource::Program, "alpha", &unchanged).await;
    assert!(
        is_precondition_failed(&refused, &unchanged[0]),
        "{refused:?}"
    );
    assert!(s.get(Resource::Program, "alpha").await?.is_some());
    // Replacing one does too.
    let read_at = s.snapshot().await?.revision;
    s.put(Resource::Campaign, "c2", campaign("c2", "alpha", "4"), &[])
        .await?;
    let stale = [Precondition::NoneWrittenSince(Resource::Campaign, read_at)];
    let refused = s.delete(Resource::Program, "delta", &stale).await;
    assert!(is_precondition_failed(&refused, &stale[0]), "{refused:?}");

    // A resource with no objects at all has had nothing written.
    let none = [Precondition::NoneWrittenSince(Resource::Exclusion, 0)];
    s.delete(Resource::Program, "delta", &none).await?;
    assert!(s.get(Resource::Program, "delta").await?.is_none());
    Ok(())
}
