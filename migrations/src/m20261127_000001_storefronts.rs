//! Storefronts (the tenants) and their API keys.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Storefronts {
    Table,
    Id,
    Name,
    Mode,
    InnopayMid,
    MerchantKey,
    CancelPassword,
    WebhookUrl,
    WebhookSecret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    StorefrontId,
    Prefix,
    KeyHash,
    Mode,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Storefronts::Table)
                    .col(
                        ColumnDef::new(Storefronts::Id)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Storefronts::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Storefronts::Mode).string_len(8).not_null())
                    .col(
                        ColumnDef::new(Storefronts::InnopayMid)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Storefronts::MerchantKey).text().not_null())
                    .col(
                        ColumnDef::new(Storefronts::CancelPassword)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Storefronts::WebhookUrl).text().null())
                    .col(ColumnDef::new(Storefronts::WebhookSecret).text().null())
                    .col(
                        ColumnDef::new(Storefronts::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Storefronts::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(
                        ColumnDef::new(ApiKeys::Id)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ApiKeys::StorefrontId)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiKeys::Prefix).string_len(24).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::KeyHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(ApiKeys::Mode).string_len(8).not_null())
                    .col(
                        ColumnDef::new(ApiKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiKeys::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::StorefrontId)
                            .to(Storefronts::Table, Storefronts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_storefront")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::StorefrontId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Storefronts::Table).to_owned())
            .await
    }
}
