//! Indexes for `paydesk purge`: each batch looks up the oldest finished deliveries, settled Noti and
//! expired idempotency keys by time, which without these reads the whole table per batch. Only adds
//! indexes: safe while instances of the previous release still serve (on PostgreSQL an index build
//! blocks writes to its table for the seconds it takes; run it off-peak on a large table).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Status,
    FinishedAt,
}

#[derive(DeriveIden)]
enum InnopayNotis {
    Table,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    ExpiresAt,
}

const DELIVERIES_FINISHED: &str = "idx_webhook_deliveries_finished";
const NOTIS_RECEIVED: &str = "idx_innopay_notis_received";
const IDEMPOTENCY_EXPIRES: &str = "idx_idempotency_keys_expires";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(DELIVERIES_FINISHED)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::FinishedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(NOTIS_RECEIVED)
                    .table(InnopayNotis::Table)
                    .col(InnopayNotis::ReceivedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDEMPOTENCY_EXPIRES)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            (DELIVERIES_FINISHED, WebhookDeliveries::Table.into_iden()),
            (NOTIS_RECEIVED, InnopayNotis::Table.into_iden()),
            (IDEMPOTENCY_EXPIRES, IdempotencyKeys::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
