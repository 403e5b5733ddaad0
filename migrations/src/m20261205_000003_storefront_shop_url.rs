//! A storefront's own address (`shop_url`), where paydesk's shopper pages send a shopper "back to
//! the shop" when the checkout has no success or fail URL for it. Nullable: storefronts created
//! before it have none until an operator sets it. Only adds: safe while the previous release serves.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Storefronts {
    Table,
    ShopUrl,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .add_column(ColumnDef::new(Storefronts::ShopUrl).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .drop_column(Storefronts::ShopUrl)
                    .to_owned(),
            )
            .await
    }
}
