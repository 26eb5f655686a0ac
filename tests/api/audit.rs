//! The audit log records each foundation action in the same transaction, refuses
//! edits, and pages by keyset without skipping or repeating entries.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn each_foundation_action_writes_its_entry() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let bob = member(&app, &admin, "bob@example.com", "viewer").await;
    let bob_id = user_id_of(&app, "bob@example.com").await;
    admin
        .ok(
            "change_member_role",
            &[("user_id", &bob_id), ("role", "developer")],
        )
        .await;
    invite(&admin, "carol@example.com", "viewer").await;
    let invite_id = admin.ok("load_members", &[]).await["invites"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin
        .ok("revoke_invite", &[("invite_id", &invite_id)])
        .await;
    bob.ok("sign_out", &[]).await;
    let (status, _) = bob
        .rpc(
            "sign_in",
            &[
                ("email", "bob@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    bob.ok(
        "sign_in",
        &[("email", "bob@example.com"), ("password", PASSWORD)],
    )
    .await;
    admin.ok("remove_member", &[("user_id", &bob_id)]).await;

    assert_eq!(
        audit_actions(&app).await,
        [
            "user.setup",
            "member.invited",
            "member.joined",
            "member.role_changed",
            "member.invited",
            "member.invite_revoked",
            "user.signed_out",
            "user.sign_in_failed",
            "user.signed_in",
            "member.removed",
        ]
    );
    let page = admin.ok("load_audit_page", &[]).await;
    let sentences: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(sentences.first(), Some(&"member.removed"));
    let role_change = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert!(
        role_change["changes"]
            .as_str()
            .unwrap()
            .contains("developer")
    );
    assert_eq!(role_change["actor"], "Ana Diaz");
    assert_eq!(role_change["user_agent"], "keyward-tests/1.0");
    assert_eq!(role_change["ip"], "127.0.0.1");
}

#[tokio::test]
async fn no_secret_reaches_the_audit_log() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let token = invite(&admin, "bob@example.com", "viewer").await;
    let setup = app.setup_link.clone().unwrap();
    let rows: Vec<(Option<String>, Option<String>, String)> =
        sqlx::query_as("SELECT changes, target_label, actor_label FROM audit_entries")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    for (changes, target, actor) in rows {
        let text = format!("{changes:?} {target:?} {actor}");
        assert!(!text.contains(&token));
        assert!(!text.contains(PASSWORD));
        assert!(!text.contains(setup.split_once("token=").unwrap().1));
    }
}

#[tokio::test]
async fn the_store_refuses_to_update_or_delete_entries() {
    let app = spawn_app().await;
    admin(&app).await;
    let update = sqlx::query("UPDATE audit_entries SET actor_label = 'someone else'")
        .execute(app.db.pool())
        .await;
    assert!(update.is_err(), "UPDATE must be refused");
    let delete = sqlx::query("DELETE FROM audit_entries")
        .execute(app.db.pool())
        .await;
    assert!(delete.is_err(), "DELETE must be refused");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_entries WHERE actor_label = 'Ana Diaz'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn keyset_pages_cover_every_entry_once_even_while_new_ones_arrive() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    for n in 0..60 {
        invite(&admin, &format!("person{n}@example.com"), "viewer").await;
    }
    // 1 setup + 60 invites = 61 entries: two pages of 50 and 11.
    let first = admin.ok("load_audit_page", &[]).await;
    assert_eq!(first["entries"].as_array().unwrap().len(), 50);
    assert!(first["newer"].is_null());
    invite(&admin, "latecomer@example.com", "viewer").await;
    let older = first["older"].as_i64().expect("an older page").to_string();
    let second = admin.ok("load_audit_page", &[("before", &older)]).await;
    assert_eq!(second["entries"].as_array().unwrap().len(), 11);
    assert!(second["older"].is_null());

    let ids = |page: &Value| -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen = ids(&first);
    seen.extend(ids(&second));
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 61);

    // Back to newer from the second page: exactly the first page again, and
    // a further newer page holding the entry that arrived meanwhile.
    let newer = second["newer"].as_i64().expect("a newer page").to_string();
    let back = admin.ok("load_audit_page", &[("after", &newer)]).await;
    assert_eq!(ids(&back), ids(&first));
    let newest = back["newer"]
        .as_i64()
        .expect("the latecomer's page")
        .to_string();
    let top = admin.ok("load_audit_page", &[("after", &newest)]).await;
    assert_eq!(top["entries"].as_array().unwrap().len(), 1);
    assert_eq!(top["entries"][0]["target"], "latecomer@example.com");
}
