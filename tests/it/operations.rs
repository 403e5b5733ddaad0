//! What `docs/OPERATIONS.md` tells an operator to do, done: a PostgreSQL backup taken while paydesk
//! serves, restored into an empty database, serves the same payments and takes new ones.

use std::process::Command;

use crate::approval::payment;
use crate::checkout::{demo_key, new_checkout, order};
use crate::support::{Backend, TestApp, TestDb, backends, tempdir};
use crate::webhooks::{cancel, pay};

#[tokio::test]
async fn a_pg_dump_taken_while_serving_restores_to_a_database_that_serves_the_same_payments() {
    if !backends().contains(&Backend::Postgres) {
        eprintln!("SKIPPED: PAYDESK_TEST_POSTGRES_URL is not set");
        return;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let key = demo_key(&app);
    let paid = pay(&app, &key, 30000).await;
    cancel(&app, &key, &paid, Some(5000)).await;
    let before = payment(&app, &key, &paid).await;

    // The documented backup, taken while the instance serves.
    let dir = tempdir();
    let dump = dir.join("paydesk.dump");
    let status = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&app.db_url)
        .status()
        .expect("pg_dump runs");
    assert!(status.success(), "pg_dump failed");
    app.stop().await;

    // The documented restore, into an empty database.
    let restored = TestDb::create(Backend::Postgres).await;
    let status = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname"])
        .arg(&restored.url)
        .arg(&dump)
        .status()
        .expect("pg_restore runs");
    assert!(status.success(), "pg_restore failed");
    let _ = std::fs::remove_dir_all(dir);

    // Same secret key (the test default): the stored merchant keys decrypt, the API key works.
    let url = restored.url.clone();
    let again = TestApp::spawn_on(&url, Some(restored), &[]).await;
    assert_eq!(payment(&again, &key, &paid).await, before);
    let next = new_checkout(&again, &key, &order(1000)).await;
    assert_eq!(next["status"], "ready", "{next}");
    let next_paid = pay(&again, &key, 2000).await;
    assert_eq!(payment(&again, &key, &next_paid).await["status"], "paid");
    again.stop().await;
}
