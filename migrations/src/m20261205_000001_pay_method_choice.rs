//! The methods a shopper may choose from: a storefront's allowed methods (`storefronts.pay_methods`,
//! empty for every method paydesk takes) and the ones a checkout offers when it names several
//! (`payments.offered_pay_methods`; empty for a checkout of one method, whose `pay_method` says
//! it). Both hold method codes joined by commas (`CARD,EPAY`), read back as `domain::PayMethods`.
//! Only adds nullable columns: safe while instances of the previous release still serve.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Storefronts {
    Table,
    PayMethods,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    OfferedPayMethods,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .add_column(ColumnDef::new(Storefronts::PayMethods).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .add_column(ColumnDef::new(Payments::OfferedPayMethods).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .drop_column(Payments::OfferedPayMethods)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Storefronts::Table)
                    .drop_column(Storefronts::PayMethods)
                    .to_owned(),
            )
            .await
    }
}
