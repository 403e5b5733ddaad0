//! Upgrades of a database that already holds payments: the rows written by an earlier schema are put
//! in place as that schema stored them, the remaining migrations run when paydesk starts, and the
//! payments must read back through the API exactly as that earlier paydesk answered.

use migration::{MigratorTrait, sea_orm::ConnectionTrait};
use sea_orm::{Database, DatabaseBackend, Statement, Value as DbValue};
use serde_json::Value;

use crate::approval::payment;
use crate::support::{TEST_SECRET_KEY, TestApp, TestDb, backends};

/// Card payments as paydesk stored and answered them before payment methods had their own details
/// (see the file's `note`).
const CARD_PAYMENTS: &str =
    include_str!("../data/migration/card-payments-before-method-details.json");

/// The last migration the fixture's paydesk had run.
const FIXTURE_SCHEMA: &str = "m20261202_000001_payment_identity";

/// A fixture value as the column's type: the fixture comes from SQLite, which stores times as text
/// and booleans as 0/1, and PostgreSQL wants them typed.
fn column_value(column: &str, value: &Value) -> DbValue {
    let is_time = column.ends_with("_at") || column == "reconcile_after";
    match value {
        Value::Null if is_time => DbValue::TimeDateTimeWithTimeZone(None),
        Value::Null if column == "pending_cancel_amount" => DbValue::BigInt(None),
        Value::Null => DbValue::String(None),
        Value::Number(n) if column == "flagged" => (n.as_i64() == Some(1)).into(),
        Value::Number(n) => n.as_i64().expect("whole numbers").into(),
        Value::String(s) if is_time => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339 times")
                .into()
        }
        Value::String(s) => s.clone().into(),
        other => panic!("unexpected fixture value {other}"),
    }
}

/// Creates the fixture's schema on `db` and fills it with the fixture's rows.
async fn database_as_the_fixture_left_it(db: &TestDb, tables: &Value) {
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    let migrations = migration::Migrator::migrations();
    let upto = migrations
        .iter()
        .position(|m| m.name() == FIXTURE_SCHEMA)
        .expect("the fixture's last migration exists")
        + 1;
    migration::Migrator::up(&conn, Some(upto as u32))
        .await
        .expect("the fixture's schema");
    let backend = conn.get_database_backend();
    for table in ["storefronts", "api_keys", "payments", "payment_events"] {
        for row in tables[table].as_array().expect("rows") {
            // Event ids come from the database's own sequence; their order is kept.
            let columns: Vec<(&String, &Value)> = row
                .as_object()
                .unwrap()
                .iter()
                .filter(|(c, _)| !(table == "payment_events" && c.as_str() == "id"))
                .collect();
            let names: Vec<String> = columns.iter().map(|(c, _)| format!("\"{c}\"")).collect();
            let marks: Vec<String> = (1..=columns.len())
                .map(|n| match backend {
                    DatabaseBackend::Postgres => format!("${n}"),
                    _ => "?".to_string(),
                })
                .collect();
            let sql = format!(
                "INSERT INTO \"{table}\" ({}) VALUES ({})",
                names.join(", "),
                marks.join(", ")
            );
            let values = columns
                .iter()
                .map(|(c, v)| column_value(c, v))
                .collect::<Vec<_>>();
            conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await
                .unwrap_or_else(|e| panic!("fixture row of {table}: {e}"));
        }
    }
    conn.close().await.ok();
}

/// What an answer must keep across the upgrade: all of it but the help suggested for a failure,
/// which comes from the help articles of the day, not from the payment. Times are compared as
/// instants at PostgreSQL's precision (microseconds): the fixture was written on SQLite, which keeps
/// nanoseconds and the offset it was given.
fn comparable(mut answer: Value) -> Value {
    if let Some(failure) = answer.get_mut("failure").and_then(Value::as_object_mut) {
        failure.remove("help");
    }
    as_instants(&mut answer);
    answer
}

fn as_instants(value: &mut Value) {
    use time::format_description::well_known::Rfc3339;
    match value {
        Value::String(s) => {
            if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
                let t = t.to_offset(time::UtcOffset::UTC);
                let t = t.replace_nanosecond(t.microsecond() * 1_000).unwrap();
                *s = t.format(&Rfc3339).unwrap();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(as_instants),
        Value::Object(fields) => fields.values_mut().for_each(as_instants),
        _ => {}
    }
}

#[tokio::test]
async fn card_payments_of_the_earlier_schema_read_back_identically_after_the_upgrade() {
    let fixture: Value = serde_json::from_str(CARD_PAYMENTS).expect("fixture JSON");
    let key = fixture["key"].as_str().unwrap();
    for backend in backends() {
        let db = TestDb::create(backend).await;
        database_as_the_fixture_left_it(&db, &fixture["tables"]).await;
        let url = db.url.clone();
        let app = TestApp::spawn_on(&url, Some(db), &[("secret_key", TEST_SECRET_KEY)]).await;
        let expected = fixture["api"].as_object().unwrap();
        assert_eq!(expected.len(), 8);
        for (id, before) in expected {
            let mut after = payment(&app, key, id).await;
            // Added since: every earlier payment was in won, as the column's default says.
            let currency = after.as_object_mut().unwrap().remove("currency");
            assert_eq!(currency, Some("KRW".into()), "{backend:?}: payment {id}");
            assert_eq!(
                comparable(after),
                comparable(before.clone()),
                "{backend:?}: payment {id} reads back differently after the upgrade"
            );
        }
    }
}
