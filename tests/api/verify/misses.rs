//! Cache misses are looked up in batches (`verify::lookup`): a burst of keys
//! an instance has not seen yet shares statements, and each request still
//! gets the answer for its own key.

use super::*;

#[tokio::test]
async fn a_burst_of_first_seen_keys_gets_each_its_own_answer_in_fewer_statements() {
    let Setup { app, admin, token } = setup().await;
    let mut ours = Vec::new();
    for _ in 0..40 {
        ours.push(create_key(&admin, json!({})).await);
    }
    let revoked = create_key(&admin, json!({})).await;
    revoke(&admin, &revoked.id).await;
    // Keys of another workspace: "not found" to this workspace's token, even
    // when they share a statement with its own keys.
    admin.ok("create_workspace", &[("name", "Other")]).await;
    let mut theirs = Vec::new();
    for _ in 0..10 {
        theirs.push(create_key(&admin, json!({})).await);
    }
    let unknown: Vec<SecretKey> = (0..20)
        .map(|_| SecretKey::generate("kw", Environment::Live))
        .collect();

    // A second instance on the same store has seen none of them: every one is a miss.
    let fresh = spawn_second_instance(&app).await;
    let before = metrics(&fresh).await;
    let mut presented: Vec<(&str, Option<&str>, &str)> = Vec::new();
    for key in &ours {
        presented.push((&key.secret, Some(&key.id), "valid"));
    }
    presented.push((&revoked.secret, None, "REVOKED"));
    for key in &theirs {
        presented.push((&key.secret, None, "NOT_FOUND"));
    }
    for key in &unknown {
        presented.push((key.expose(), None, "NOT_FOUND"));
    }
    let answers = futures::future::join_all(
        presented
            .iter()
            .map(|(secret, _, _)| verify_key(&fresh, &token, secret)),
    )
    .await;
    for ((_, id, expected), (status, body)) in presented.iter().zip(&answers) {
        match id {
            Some(id) => {
                assert_eq!(*status, StatusCode::OK, "{body}");
                assert_eq!(body["key_id"], *id, "each request gets its own key");
            }
            None => assert_eq!(code(body), *expected, "{body}"),
        }
    }

    let after = metrics(&fresh).await;
    let grew = |series: &str| after.value(series) - before.value(series);
    let misses = grew("keyward_verify_cache_total{result=\"miss\"}");
    let statements = grew("keyward_verify_store_lookups_total");
    assert_eq!(misses, presented.len() as f64);
    assert!(
        statements >= 1.0 && statements < misses,
        "{statements} statements for {misses} concurrent misses"
    );
}

#[tokio::test]
async fn a_lookup_that_fails_answers_unavailable_and_the_next_one_works() {
    let Setup { app, admin, token } = setup().await;
    let CreatedKey { secret, id } = create_key(&admin, json!({})).await;
    let fresh = spawn_second_instance(&app).await;
    // The table the lookup reads is gone for a moment: the store cannot answer.
    sqlx::query("ALTER TABLE api_keys RENAME TO api_keys_away")
        .execute(app.db.pool())
        .await
        .unwrap();
    let (status, body) = verify_key(&fresh, &token, &secret).await;
    sqlx::query("ALTER TABLE api_keys_away RENAME TO api_keys")
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "UNAVAILABLE");
    // Nothing was remembered from the failure: the key is found now.
    let (status, body) = verify_key(&fresh, &token, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key_id"], id.as_str());
}
