//! The currency a payment is in (`payments.currency`, goPay `currency`): overseas cards (OPCARD) may be
//! paid in US dollars, and the row's amounts are in that currency's unit (cents for USD). Every row
//! before it is in won, so the column is added not null with `KRW` as its default: safe while
//! instances of the previous release, which write no currency, still serve.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Payments {
    Table,
    Currency,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .add_column(
                        ColumnDef::new(Payments::Currency)
                            .text()
                            .not_null()
                            .default("KRW"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .drop_column(Payments::Currency)
                    .to_owned(),
            )
            .await
    }
}
