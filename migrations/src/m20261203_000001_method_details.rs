//! Method details as one typed value: the four card columns become one JSON column,
//! `method_details` (`{"method": "card", ...}`), beside which a virtual account's details and later
//! methods' fit without new columns; `cash_receipt` is added for what a shopper asked and Innopay
//! issued. Innopay's failure codes are stored as `innopay:<code>` from now on, so that paydesk's own
//! codes and Innopay's can never be confused when read back. The column keeps its length (changing a
//! column's type invalidates PostgreSQL's cached plans of running instances), so a stored code keeps
//! its first 32 characters: Innopay's are 4 to 12.
//!
//! A contract step: instances of the previous release read the card columns, so stop them before
//! running it (docs/ARCHITECTURE.md, "Upgrading").

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use serde_json::{Map, Value as Json};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payments {
    Table,
    CardCompanyCode,
    CardCompanyName,
    CardNumber,
    CardQuota,
    MethodDetails,
    CashReceipt,
}

/// The card columns with their former lengths, in the order of the JSON fields they become.
const CARD: [(Payments, &str, &str, u32); 4] = [
    (
        Payments::CardCompanyCode,
        "card_company_code",
        "companyCode",
        4,
    ),
    (
        Payments::CardCompanyName,
        "card_company_name",
        "companyName",
        40,
    ),
    (Payments::CardNumber, "card_number", "number", 40),
    (Payments::CardQuota, "card_quota", "quota", 4),
];

/// paydesk's own failure codes; every other stored code is Innopay's.
const OWN_FAILURE_CODES: &str =
    "'amount_mismatch', 'order_mismatch', 'expired', 'deposit_expired', 'innopay_unreachable'";

async fn run<C: ConnectionTrait>(db: &C, sql: &str, values: Vec<Value>) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        placeholders(backend, sql),
        values,
    ))
    .await
    .map(|_| ())
}

/// `?` as the backend numbers its parameters.
fn placeholders(backend: DatabaseBackend, sql: &str) -> String {
    if backend != DatabaseBackend::Postgres {
        return sql.to_string();
    }
    let mut n = 0;
    sql.chars()
        .map(|c| {
            if c == '?' {
                n += 1;
                format!("${n}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

async fn add_text_column(manager: &SchemaManager<'_>, column: Payments) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Payments::Table)
                .add_column(ColumnDef::new(column).text().null())
                .to_owned(),
        )
        .await
}

async fn drop_column(manager: &SchemaManager<'_>, column: Payments) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Payments::Table)
                .drop_column(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        add_text_column(manager, Payments::MethodDetails).await?;
        add_text_column(manager, Payments::CashReceipt).await?;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT id, card_company_code, card_company_name, card_number, card_quota \
                 FROM payments WHERE card_company_code IS NOT NULL OR card_company_name IS NOT NULL \
                 OR card_number IS NOT NULL OR card_quota IS NOT NULL",
            ))
            .await?;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let mut card = Map::new();
            card.insert("method".into(), "card".into());
            for (_, column, field, _) in CARD {
                let value: Option<String> = row.try_get("", column)?;
                card.insert(field.into(), value.map_or(Json::Null, Json::String));
            }
            run(
                db,
                "UPDATE payments SET method_details = ? WHERE id = ?",
                vec![Json::Object(card).to_string().into(), id.into()],
            )
            .await?;
        }
        run(
            db,
            &format!(
                "UPDATE payments SET failure_code = 'innopay:' || SUBSTR(failure_code, 1, 32) \
                 WHERE failure_code IS NOT NULL AND failure_code NOT LIKE 'innopay:%' \
                 AND failure_code NOT IN ({OWN_FAILURE_CODES})"
            ),
            vec![],
        )
        .await?;
        for (column, _, _, _) in CARD {
            drop_column(manager, column).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Refused before anything changes: the earlier schema has no place for other methods.
        let others = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT id FROM payments WHERE method_details IS NOT NULL \
                 AND method_details NOT LIKE '{\"method\":\"card\"%' LIMIT 10",
            ))
            .await?;
        if !others.is_empty() {
            let ids: Vec<String> = others
                .iter()
                .map(|row| row.try_get("", "id").unwrap_or_default())
                .collect();
            return Err(DbErr::Migration(format!(
                "payments {} are not card payments, which the earlier schema cannot hold",
                ids.join(", ")
            )));
        }
        for (column, _, _, length) in CARD {
            manager
                .alter_table(
                    Table::alter()
                        .table(Payments::Table)
                        .add_column(ColumnDef::new(column).string_len(length).null())
                        .to_owned(),
                )
                .await?;
        }
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT id, method_details FROM payments WHERE method_details IS NOT NULL",
            ))
            .await?;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let text: String = row.try_get("", "method_details")?;
            let details: Json = serde_json::from_str(&text)
                .map_err(|e| DbErr::Migration(format!("payment {id}: method_details: {e}")))?;
            if details["method"] != "card" {
                return Err(DbErr::Migration(format!(
                    "payment {id} is a {} payment, which the earlier schema cannot hold",
                    details["method"]
                )));
            }
            let value = |field: &str| details[field].as_str().map(str::to_string);
            run(
                db,
                "UPDATE payments SET card_company_code = ?, card_company_name = ?, \
                 card_number = ?, card_quota = ? WHERE id = ?",
                vec![
                    value("companyCode").into(),
                    value("companyName").into(),
                    value("number").into(),
                    value("quota").into(),
                    id.into(),
                ],
            )
            .await?;
        }
        run(
            db,
            "UPDATE payments SET failure_code = SUBSTR(failure_code, 9) \
             WHERE failure_code LIKE 'innopay:%'",
            vec![],
        )
        .await?;
        drop_column(manager, Payments::CashReceipt).await?;
        drop_column(manager, Payments::MethodDetails).await
    }
}
