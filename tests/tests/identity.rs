//! Register, log in, refresh with rotation, log out; personal API tokens.

use crate::common::{PASSWORD, TestServer, assert_error, raw, unique_email};
use reqwest::Method;

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let server = TestServer::start().await;
    let anon = server.client();
    let email = unique_email("ada");

    let reg = anon
        .register(&email.to_uppercase(), PASSWORD, "Ada Lovelace")
        .await
        .unwrap_or_else(|e| panic!("register: {e}"));
    assert_eq!(reg.user.email, email, "emails are stored lower-cased");
    assert_eq!(reg.token_type, "Bearer");

    // Registration creates the personal organization on the free plan.
    let me = anon
        .with_token(&reg.access_token)
        .me()
        .await
        .unwrap_or_else(|e| panic!("me: {e}"));
    assert_eq!(me.user.id, reg.user.id);
    assert_eq!(me.organizations.len(), 1);
    assert!(me.organizations[0].personal);
    assert_eq!(me.organizations[0].plan, qollab_shared::api::Plan::Free);
    assert_eq!(me.organizations[0].quotas.max_qubits, 20);

    let login = anon
        .login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(login.user.id, reg.user.id);
    let wrong = anon.login(&email, "not the password").await;
    assert_eq!(
        wrong.as_ref().err().and_then(|e| e.code()),
        Some("invalid_credentials")
    );
    let unknown = anon.login(&unique_email("nobody"), PASSWORD).await;
    assert_eq!(
        unknown.as_ref().err().and_then(|e| e.code()),
        Some("invalid_credentials")
    );

    // Rotation: the new refresh token works once; the old one is refused, and its
    // reuse ends the session (the rotated token dies with it).
    let r1 = anon
        .refresh(&login.refresh_token)
        .await
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    assert_ne!(r1.refresh_token, login.refresh_token);
    anon.with_token(&r1.access_token)
        .me()
        .await
        .unwrap_or_else(|e| panic!("me with refreshed token: {e}"));
    let reused = anon.refresh(&login.refresh_token).await;
    assert_eq!(
        reused
            .as_ref()
            .err()
            .and_then(|e| e.status())
            .map(|s| s.as_u16()),
        Some(401)
    );
    let after_reuse = anon.refresh(&r1.refresh_token).await;
    assert!(
        after_reuse.is_err(),
        "reuse detection must revoke the whole session"
    );
    let dead_access = anon.with_token(&r1.access_token).me().await;
    assert_eq!(
        dead_access.as_ref().err().and_then(|e| e.code()),
        Some("invalid_token")
    );

    // Logout ends the session: its access token and refresh token stop working, other
    // sessions keep going.
    let s2 = anon
        .login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s3 = anon
        .login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    anon.with_token(&s2.access_token)
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout: {e}"));
    let gone = anon.with_token(&s2.access_token).me().await;
    assert_eq!(
        gone.as_ref().err().and_then(|e| e.code()),
        Some("invalid_token")
    );
    assert!(anon.refresh(&s2.refresh_token).await.is_err());
    anon.with_token(&s3.access_token)
        .me()
        .await
        .unwrap_or_else(|e| panic!("another session must survive a logout: {e}"));
}

#[tokio::test]
async fn api_tokens_authenticate_until_deleted() {
    let server = TestServer::start().await;
    let anon = server.client();
    let reg = anon
        .register(&unique_email("script"), PASSWORD, "Script Runner")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let me = anon.with_token(&reg.access_token);

    let created = me
        .create_token("ci")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created.secret.starts_with("qlb_"));
    assert!(created.secret.starts_with(&created.token.prefix));

    let listed = me.tokens().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.token.id);
    let listed_json = serde_json::to_string(&listed).unwrap_or_default();
    assert!(
        !listed_json.contains(&created.secret),
        "the secret is shown only once"
    );

    let script = anon.with_token(&created.secret);
    let who = script
        .me()
        .await
        .unwrap_or_else(|e| panic!("API token rejected: {e}"));
    assert_eq!(who.user.id, reg.user.id);
    let ws = script
        .create_workspace("made by a script", None)
        .await
        .unwrap_or_else(|e| panic!("API token must work wherever a JWT does: {e}"));
    assert_eq!(ws.created_by, reg.user.id);

    // Someone else cannot delete it; its owner can, and then it stops working.
    let (other, _) = crate::common::user(&anon, "other").await;
    let (status, body) = raw(
        &other,
        Method::DELETE,
        &format!("/api/tokens/{}", created.token.id),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    me.delete_token(created.token.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let revoked = script.me().await;
    assert_eq!(
        revoked.as_ref().err().and_then(|e| e.code()),
        Some("invalid_token")
    );
    assert!(me.tokens().await.unwrap_or_default().is_empty());
}
