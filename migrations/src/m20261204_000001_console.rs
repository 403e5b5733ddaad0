//! The support console's tables: its people (`console_users`), their sessions (only a hash of each
//! session id is stored, so a database dump opens no session), the login throttle counters (in the
//! database so that every instance counts the same attempts), and the append-only audit log (who
//! did what, including notes and resolutions: nothing a person does edits a payment's history).
//! Only adds: safe while instances of the previous release still serve.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ConsoleUsers {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    Storefronts,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConsoleSessions {
    Table,
    IdHash,
    UserId,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum ConsoleThrottle {
    Table,
    Key,
    Failures,
    WindowStartedAt,
    LockedUntil,
}

#[derive(DeriveIden)]
enum ConsoleAudit {
    Table,
    Id,
    At,
    UserId,
    Username,
    Action,
    PaymentId,
    NotiId,
    Detail,
    RemoteAddr,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleUsers::Table)
                    .col(
                        ColumnDef::new(ConsoleUsers::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ConsoleUsers::Username)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(ConsoleUsers::PasswordHash)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConsoleUsers::Role).string().not_null())
                    // Comma-separated storefront ids; empty: every storefront.
                    .col(
                        ColumnDef::new(ConsoleUsers::Storefronts)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConsoleUsers::Disabled).boolean().not_null())
                    .col(
                        ColumnDef::new(ConsoleUsers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleUsers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSessions::Table)
                    .col(
                        ColumnDef::new(ConsoleSessions::IdHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ConsoleSessions::UserId).string().not_null())
                    .col(
                        ColumnDef::new(ConsoleSessions::CsrfToken)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleSessions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleSessions::LastSeenAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_console_sessions_user")
                    .table(ConsoleSessions::Table)
                    .col(ConsoleSessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsoleThrottle::Table)
                    .col(
                        ColumnDef::new(ConsoleThrottle::Key)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ConsoleThrottle::Failures)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleThrottle::WindowStartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleThrottle::LockedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsoleAudit::Table)
                    .col(
                        ColumnDef::new(ConsoleAudit::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ConsoleAudit::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ConsoleAudit::UserId).string().null())
                    .col(ColumnDef::new(ConsoleAudit::Username).string().not_null())
                    .col(ColumnDef::new(ConsoleAudit::Action).string().not_null())
                    .col(ColumnDef::new(ConsoleAudit::PaymentId).string().null())
                    .col(ColumnDef::new(ConsoleAudit::NotiId).big_integer().null())
                    .col(ColumnDef::new(ConsoleAudit::Detail).text().not_null())
                    .col(ColumnDef::new(ConsoleAudit::RemoteAddr).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_console_audit_payment")
                    .table(ConsoleAudit::Table)
                    .col(ConsoleAudit::PaymentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConsoleAudit::Table.into_iden(),
            ConsoleThrottle::Table.into_iden(),
            ConsoleSessions::Table.into_iden(),
            ConsoleUsers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
