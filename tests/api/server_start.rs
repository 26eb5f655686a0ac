//! Starting a server must not stall pages that other servers in the same
//! process are rendering (leptos-rs/leptos#4773: listing the routes sets a
//! process-wide flag that leaves any resource first polled meanwhile pending
//! for ever). The tests themselves run many servers in one process.

use crate::common::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn pages_render_while_other_servers_start() {
    let app = spawn_app().await;
    let admin = admin(&app).await;
    let renders = async {
        for _ in 0..40 {
            let page = admin.get("/settings/audit-log").await;
            assert_eq!(page.status(), StatusCode::OK);
            let html = page.text().await.expect("the page is sent to its end");
            // The table is drawn only once the page's resource has resolved.
            assert!(html.contains("audit-table"), "{html}");
        }
    };
    // On SQLite whatever DATABASE_URL says: what stalls is route listing, not
    // the store, and eight servers' pools on PostgreSQL (65 connections, kept
    // until the test ends) would leave the test beside this one too few of its 100.
    let starts = async {
        for _ in 0..8 {
            spawn_sqlite_app_with(&[]).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(renders, starts)
    })
    .await
    .expect("every page finished rendering while servers started");
}
