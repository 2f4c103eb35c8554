//! authsec-client's token stores: the file store writes atomically (temp file + rename) with
//! owner-only permissions, and survives a restart; the memory store keeps keys apart.

use std::sync::Arc;

use authsec_client::{FileTokenStore, MemoryTokenStore, TokenSet, TokenStore};

fn tokens(n: usize) -> TokenSet {
    let mut t = TokenSet::new(format!("access-{n}-{}", "x".repeat(2000)));
    t.refresh_token = Some(format!("refresh-{n}"));
    t.expires_at = Some(1_900_000_000);
    t.scope = Some("notes:read".into());
    t
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authsec-client-store-{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn file_store_round_trips_across_instances_and_removes_keys() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("tokens.json");
    let store = FileTokenStore::new(&path);
    assert_eq!(store.load("as r").await.unwrap(), None);
    store.save("as r", &tokens(1)).await.unwrap();
    store.save("as other", &tokens(2)).await.unwrap();
    // A new process reads what the last one wrote.
    let reopened = FileTokenStore::new(&path);
    assert_eq!(reopened.load("as r").await.unwrap(), Some(tokens(1)));
    assert_eq!(reopened.load("as other").await.unwrap(), Some(tokens(2)));
    reopened.remove("as r").await.unwrap();
    assert_eq!(FileTokenStore::new(&path).load("as r").await.unwrap(), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn file_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let path = dir.join("tokens.json");
    let store = FileTokenStore::new(&path);
    store.save("k", &tokens(1)).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Still 0600 after a rewrite, even if someone loosened it in between.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    store.save("k", &tokens(2)).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn file_store_writes_are_atomic_under_concurrent_writers_and_readers() {
    let dir = temp_dir("atomic");
    let path = dir.join("tokens.json");
    let store = Arc::new(FileTokenStore::new(&path));
    store.save("seed", &tokens(0)).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader that must only ever see complete JSON documents.
    let reader = {
        let path = path.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = std::fs::read(&path).expect("the file always exists");
                let parsed: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("never a torn write");
                assert!(parsed.is_object());
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (1..=40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.save(&format!("key {n}"), &tokens(n)).await })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // Every write landed; no temporary file is left behind.
    let reopened = FileTokenStore::new(&path);
    for n in 1..=40 {
        assert_eq!(
            reopened.load(&format!("key {n}")).await.unwrap(),
            Some(tokens(n))
        );
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["tokens.json"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_corrupt_token_file_is_a_clear_error_not_a_panic() {
    let dir = temp_dir("corrupt");
    let path = dir.join("tokens.json");
    std::fs::write(&path, b"{not json").unwrap();
    let error = FileTokenStore::new(&path).load("k").await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("is not a token file (key must be a string at line 1 column 2); delete it to log in again"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn token_debug_output_never_shows_the_tokens() {
    let t = tokens(7);
    let debug = format!("{t:?}");
    assert!(!debug.contains("access-7"), "{debug}");
    assert!(!debug.contains("refresh-7"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[tokio::test]
async fn memory_store_keeps_keys_apart() {
    let store = MemoryTokenStore::new();
    store.save("as1 r", &tokens(1)).await.unwrap();
    store.save("as2 r", &tokens(2)).await.unwrap();
    assert_eq!(store.load("as1 r").await.unwrap(), Some(tokens(1)));
    assert_eq!(store.load("as2 r").await.unwrap(), Some(tokens(2)));
    store.remove("as1 r").await.unwrap();
    assert_eq!(store.load("as1 r").await.unwrap(), None);
}
