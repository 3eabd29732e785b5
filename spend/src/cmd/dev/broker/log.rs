//! The broker's log on disk, under `<data-dir>/kafka`.
//!
//! A new data directory gets tansu's SlateDB engine over the local file system
//! (`kafka/slate/`): an LSM tree whose write-ahead log is a file per flush. tansu commits each
//! produced batch, whole and as the client sent it, in one SlateDB transaction and answers only
//! once that commit is durable, i.e. once the WAL file holding it is written; offset commits go the
//! same way. So an acknowledged row survives a SIGKILL of the process. As with an unreplicated
//! Kafka broker at its default flush settings, a power loss may still lose what the operating
//! system had not yet written back, because the files are not fsynced.
//!
//! A data directory from an earlier spend has its log in a libSQL (SQLite) file, `kafka/log.db`,
//! which tansu's libSQL engine keeps serving, so nothing it accepted is stranded. The libSQL engine
//! stores each record as a row of its own and costs about ten times the CPU per record (see
//! docs/ARCHITECTURE.md); `rm -r <data-dir>/kafka` once everything in it is rewarded moves such a
//! directory to the SlateDB log.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use slatedb::config::{GarbageCollectorDirectoryOptions, GarbageCollectorOptions};
use slatedb::db_cache::foyer::{FoyerCache, FoyerCacheOptions};
use slatedb::db_cache::SplitCache;
use slatedb::object_store::local::LocalFileSystem;
use slatedb::{Db, Settings};
use tansu_storage::slate::Engine;
use tansu_storage::StorageContainer;
use url::Url;

use super::serial::SerialWrites;
use super::time_index::TimeIndex;

/// The file of a log written by an earlier spend.
const SQLITE_FILE: &str = "log.db";
/// The directory of the SlateDB log.
const SLATE_DIR: &str = "slate";

/// Where the log is, and in which engine.
pub(super) enum Log {
    Slate(PathBuf),
    Sqlite(Url),
}

/// An open log.
pub(super) enum Opened {
    Slate {
        storage: SerialWrites<Engine>,
        db: Arc<Db>,
    },
    Sqlite(StorageContainer),
}

impl Log {
    /// The SlateDB log, unless the directory holds an earlier spend's SQLite log.
    pub(super) fn choose(log_dir: &Path) -> anyhow::Result<Log> {
        let sqlite = log_dir.join(SQLITE_FILE);
        if sqlite.exists() {
            tracing::info!(
                file = %sqlite.display(),
                "the Kafka log of this data directory is an earlier spend's SQLite file: serving it as it is"
            );
            return Ok(Log::Sqlite(storage_url(&sqlite)?));
        }
        Ok(Log::Slate(log_dir.join(SLATE_DIR)))
    }

    pub(super) async fn open(self, cluster: &str, advertised: Url) -> anyhow::Result<Opened> {
        match self {
            Log::Slate(dir) => {
                let db = Arc::new(open_slate(&dir).await?);
                let engine = Engine::builder()
                    .cluster(cluster)
                    .node(tansu_broker::NODE_ID)
                    .advertised_listener(advertised)
                    .db(db.clone())
                    .build();
                Ok(Opened::Slate {
                    storage: SerialWrites::new(engine).with_time_index(TimeIndex::new(db.clone())),
                    db,
                })
            }
            Log::Sqlite(url) => StorageContainer::builder()
                .cluster_id(cluster.to_owned())
                .node_id(tansu_broker::NODE_ID)
                .advertised_listener(advertised)
                .schema_registry(None)
                .lake_house(None)
                .storage(url)
                .silent(true)
                .build()
                .await
                .map(Opened::Sqlite)
                .map_err(|e| anyhow::anyhow!("open the broker's log: {e:?}")),
        }
    }
}

/// Opens (or creates) the SlateDB log in `dir`.
pub(super) async fn open_slate(dir: &Path) -> anyhow::Result<Db> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("create the broker's log {}", dir.display()))?;
    let files = LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("open the broker's log {}", dir.display()))?;
    Db::builder("log", Arc::new(files))
        .with_settings(slate_settings())
        .with_memory_cache(Arc::new(
            SplitCache::new()
                .with_block_cache(Some(Arc::new(cache(BLOCK_CACHE_BYTES))))
                .with_meta_cache(Some(Arc::new(cache(META_CACHE_BYTES))))
                .build(),
        ))
        .build()
        .await
        .with_context(|| format!("open the broker's log {}", dir.display()))
}

impl Opened {
    /// Flushes what is in memory and stops the log's background tasks. Not needed for what was
    /// acknowledged (that is on disk already); it saves the next start a replay of the WAL.
    pub(super) async fn close(&self) {
        if let Opened::Slate { db, .. } = self {
            if let Err(e) = db.close().await {
                tracing::warn!(error = %e, "the embedded Kafka broker's log did not close cleanly");
            }
        }
    }
}

/// Memory the log's readers may cache: the rewarder reads what was just written, mostly still
/// in the memtable, so a small cache does.
const BLOCK_CACHE_BYTES: u64 = 32 << 20;
const META_CACHE_BYTES: u64 = 8 << 20;

fn cache(bytes: u64) -> FoyerCache {
    FoyerCache::new_with_opts(FoyerCacheOptions {
        max_capacity: bytes,
        ..FoyerCacheOptions::default()
    })
}

/// SlateDB's settings for a broker on one machine.
/// - `flush_interval` 5 ms: a produce is answered once its WAL file is written, so this bounds
///   the wait of each produce request (SlateDB's 100 ms default is made for object stores).
/// - memtables of 16 MiB and at most 64 MiB not yet in SSTs: bounded memory under a burst.
/// - the garbage collector on (SlateDB leaves it off): WAL files already folded into SSTs, SSTs
///   compacted away and old manifests are deleted after a minute, so the log does not grow by a
///   file per flush for ever.
fn slate_settings() -> Settings {
    let gc = GarbageCollectorDirectoryOptions {
        interval: Some(Duration::from_secs(60)),
        min_age: Duration::from_secs(60),
    };
    Settings {
        flush_interval: Some(Duration::from_millis(5)),
        l0_sst_size_bytes: 16 << 20,
        max_unflushed_bytes: 64 << 20,
        garbage_collector_options: Some(GarbageCollectorOptions {
            manifest_options: Some(gc),
            wal_options: Some(gc),
            compacted_options: Some(gc),
            compactions_options: Some(gc),
        }),
        ..Settings::default()
    }
}

/// The libSQL engine resolves a `sqlite:` URL's path against the working directory (even one
/// that starts with `/`), so the log file is named relative to it.
fn storage_url(file: &Path) -> anyhow::Result<Url> {
    let cwd = std::env::current_dir().context("read the working directory")?;
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        cwd.join(file)
    };
    let mut relative = PathBuf::new();
    for component in cwd.components() {
        if matches!(component, Component::Normal(_)) {
            relative.push("..");
        }
    }
    for component in absolute.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => {}
            other => relative.push(other),
        }
    }
    let text = relative
        .to_str()
        .context("the data directory's path is not UTF-8")?;
    if text.contains(['%', '?', '#']) {
        bail!("the data directory's path may not contain '%', '?' or '#' (the broker names its log file by URL)");
    }
    let url = Url::parse(&format!("sqlite:{text}")).context("the broker's storage URL")?;
    if url.path() != text {
        bail!("the data directory's path {text:?} cannot be named in the broker's storage URL");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_url_names_the_file_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        let url = storage_url(Path::new("/tmp/some dir/kafka/log.db")).unwrap();
        assert_eq!(url.scheme(), "sqlite");
        let resolved = cwd.join(url.path());
        assert_eq!(
            std::fs::canonicalize(
                resolved
                    .parent()
                    .unwrap()
                    .parent()
                    .unwrap()
                    .parent()
                    .unwrap()
            )
            .unwrap(),
            std::fs::canonicalize("/tmp").unwrap()
        );
        assert!(url.path().ends_with("tmp/some dir/kafka/log.db"));
    }

    #[test]
    fn a_path_the_url_cannot_carry_is_refused_clearly() {
        let err = storage_url(Path::new("/tmp/50%/log.db")).unwrap_err();
        assert!(err.to_string().contains("may not contain"), "{err}");
    }
}
