//! Data survives restarts of the real binary (SQLite by default, PostgreSQL when
//! `QOLLAB_TEST_DATABASE_URL` is set), and SIGTERM stops it cleanly.

use qollab_shared::api::Role;

use crate::common::{PASSWORD, ServerProcess, Storage, TestServer, unique_email};

#[tokio::test]
async fn data_survives_a_restart_of_the_binary() {
    let storage = Storage::fresh().await;
    let first = ServerProcess::spawn(&storage, &[]).await;
    let anon = first.client();
    let email = unique_email("persist");
    let auth = anon
        .register(&email, PASSWORD, "Persistent Pat")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let me = anon.with_token(&auth.access_token);
    let ws = me
        .create_workspace("Survives restarts", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, viewer) = crate::common::user(&anon, "viewer").await;
    me.add_member(ws.id, &viewer.user.email, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = me
        .create_token("cli")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let status = first.terminate().await;
    assert!(
        status.success(),
        "SIGTERM must stop qollab cleanly, got {status}"
    );

    let second = ServerProcess::spawn(&storage, &[]).await;
    let anon = second.client();
    // The JWT secret persisted in the data dir, so old access tokens still verify.
    let me = anon.with_token(&auth.access_token);
    let again = me
        .workspace(ws.id)
        .await
        .unwrap_or_else(|e| panic!("workspace lost in restart: {e}"));
    assert_eq!(again.name, "Survives restarts");
    let members = me.members(ws.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(members.len(), 2);
    anon.login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("login after restart: {e}"));
    anon.with_token(&token.secret)
        .me()
        .await
        .unwrap_or_else(|e| panic!("API token after restart: {e}"));
    anon.refresh(&auth.refresh_token)
        .await
        .unwrap_or_else(|e| panic!("refresh after restart: {e}"));
    let status = second.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn in_process_restart_keeps_data_and_migrations_are_idempotent() {
    let server = TestServer::start().await;
    let anon = server.client();
    let auth = anon
        .register(&unique_email("again"), PASSWORD, "Again")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let storage = server.stop().await;
    let server = TestServer::start_on(storage, |_| {}).await;
    let me = server.client().with_token(&auth.access_token);
    assert_eq!(
        me.me().await.unwrap_or_else(|e| panic!("{e}")).user.id,
        auth.user.id
    );
}

#[tokio::test]
async fn migrate_command_prepares_an_empty_database() {
    let storage = Storage::fresh().await;
    let out = tokio::process::Command::new(crate::common::binary())
        .arg("migrate")
        .env("QOLLAB_DATA_DIR", storage.path())
        .env("QOLLAB_DATABASE_URL", &storage.database_url)
        // Set to nothing (as a compose file does) means not set.
        .env("QOLLAB_JOB_POOL_SIZE", "")
        .env("QOLLAB_REDIS_URL", " ")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrations applied"));
    let bad = tokio::process::Command::new(crate::common::binary())
        .arg("serve")
        .env("QOLLAB_DATA_DIR", storage.path())
        .env("QOLLAB_BIND", "not an address")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("QOLLAB_BIND"),
        "config errors name the variable"
    );
}
