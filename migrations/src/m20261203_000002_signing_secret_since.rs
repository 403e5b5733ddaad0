//! When a storefront's signing secret was issued, so a storefront can tell which secret it holds
//! (`GET /v1/signing-secret`). A storefront never rotated got its secret when it was created; for one
//! rotated before this column existed the time is unknown and stays empty. Only adds: safe while
//! instances of the previous release still serve.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Storefronts {
    Table,
    SigningSecretCreatedAt,
    CreatedAt,
    PreviousSigningSecret,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .add_column(
                        ColumnDef::new(Storefronts::SigningSecretCreatedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Storefronts::Table)
                    .value(
                        Storefronts::SigningSecretCreatedAt,
                        Expr::col(Storefronts::CreatedAt),
                    )
                    .and_where(Expr::col(Storefronts::PreviousSigningSecret).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .drop_column(Storefronts::SigningSecretCreatedAt)
                    .to_owned(),
            )
            .await
    }
}
