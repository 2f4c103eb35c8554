//! Where tokens live between requests and runs: the [`TokenStore`] trait, an in-memory store and
//! a file store (atomic writes, owner-only permissions).
//!
//! Keys are `"<issuer> <resource>"` (CL-MCP-12): a token is never reused for another resource or
//! authorization server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::ClientError;
use crate::token::TokenSet;

/// Storage of token sets by key.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The tokens stored under `key`.
    async fn load(&self, key: &str) -> Result<Option<TokenSet>, ClientError>;
    /// Stores `tokens` under `key`, replacing what was there.
    async fn save(&self, key: &str, tokens: &TokenSet) -> Result<(), ClientError>;
    /// Forgets `key`.
    async fn remove(&self, key: &str) -> Result<(), ClientError>;
}

/// Tokens in memory, for the life of the process.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<BTreeMap<String, TokenSet>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TokenSet>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, key: &str) -> Result<Option<TokenSet>, ClientError> {
        Ok(self.map().get(key).cloned())
    }

    async fn save(&self, key: &str, tokens: &TokenSet) -> Result<(), ClientError> {
        self.map().insert(key.to_owned(), tokens.clone());
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), ClientError> {
        self.map().remove(key);
        Ok(())
    }
}

/// Tokens in one JSON file (`{"<key>": {access_token, refresh_token, expires_at, scope}}`).
///
/// Every write goes to a temporary file in the same directory, created with mode 0600 on unix,
/// then renamed over the file: a reader sees the old or the new content, never a torn one, and
/// no other user can read the tokens. The file is read once, then served from memory.
#[derive(Debug)]
pub struct FileTokenStore {
    path: PathBuf,
    cache: tokio::sync::Mutex<Option<BTreeMap<String, TokenSet>>>,
}

impl FileTokenStore {
    /// A store at `path` (created on first save; its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileTokenStore {
            path: path.into(),
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read(&self) -> Result<BTreeMap<String, TokenSet>, ClientError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Store(format!(
                    "{} is not a token file ({e}); delete it to log in again",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ClientError::Store(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    async fn write(&self, map: &BTreeMap<String, TokenSet>) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec_pretty(map)
            .map_err(|e| ClientError::Store(format!("cannot encode tokens: {e}")))?;
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tokens".into());
        let temp = self.path.with_file_name(format!(
            ".{file_name}.{}.{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let io = |what: &str, e: std::io::Error| {
            ClientError::Store(format!("cannot {what} {}: {e}", self.path.display()))
        };
        let result = async {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut file = options.open(&temp).await.map_err(|e| io("create", e))?;
            use tokio::io::AsyncWriteExt;
            file.write_all(&bytes).await.map_err(|e| io("write", e))?;
            file.sync_all().await.map_err(|e| io("sync", e))?;
            drop(file);
            tokio::fs::rename(&temp, &self.path)
                .await
                .map_err(|e| io("replace", e))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }

    async fn update(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, TokenSet>),
    ) -> Result<(), ClientError> {
        let mut cache = self.cache.lock().await;
        let mut map = match cache.take() {
            Some(map) => map,
            None => self.read().await?,
        };
        change(&mut map);
        let written = self.write(&map).await;
        *cache = Some(map);
        written
    }
}

#[async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self, key: &str) -> Result<Option<TokenSet>, ClientError> {
        let mut cache = self.cache.lock().await;
        if cache.is_none() {
            *cache = Some(self.read().await?);
        }
        Ok(cache.as_ref().and_then(|m| m.get(key).cloned()))
    }

    async fn save(&self, key: &str, tokens: &TokenSet) -> Result<(), ClientError> {
        self.update(|map| {
            map.insert(key.to_owned(), tokens.clone());
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<(), ClientError> {
        self.update(|map| {
            map.remove(key);
        })
        .await
    }
}
