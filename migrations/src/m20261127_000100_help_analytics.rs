//! Help centre analytics: searches (with how many articles matched), article views (clicks from search
//! results, suggestions and the storefront widget, and direct visits) and "도움이 되었나요?" feedback.
//! Append-only; the content team reads aggregates through `GET /v1/help/analytics`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HelpSearches {
    Table,
    Id,
    Query,
    Normalized,
    Audience,
    Source,
    ResultCount,
    Fallback,
    TookMicros,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HelpViews {
    Table,
    Id,
    Slug,
    Anchor,
    Query,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum HelpFeedback {
    Table,
    Id,
    Slug,
    Anchor,
    Helpful,
    Comment,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HelpSearches::Table)
                    .col(
                        ColumnDef::new(HelpSearches::Id)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(HelpSearches::Query)
                            .string_len(400)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HelpSearches::Normalized)
                            .string_len(400)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HelpSearches::Audience).string_len(16).null())
                    .col(
                        ColumnDef::new(HelpSearches::Source)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HelpSearches::ResultCount)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(HelpSearches::Fallback).boolean().not_null())
                    .col(
                        ColumnDef::new(HelpSearches::TookMicros)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HelpSearches::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HelpViews::Table)
                    .col(
                        ColumnDef::new(HelpViews::Id)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(HelpViews::Slug).string_len(100).not_null())
                    .col(ColumnDef::new(HelpViews::Anchor).string_len(100).null())
                    .col(ColumnDef::new(HelpViews::Query).string_len(400).null())
                    .col(ColumnDef::new(HelpViews::Source).string_len(16).not_null())
                    .col(
                        ColumnDef::new(HelpViews::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HelpFeedback::Table)
                    .col(
                        ColumnDef::new(HelpFeedback::Id)
                            .string_len(40)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(HelpFeedback::Slug)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HelpFeedback::Anchor).string_len(100).null())
                    .col(ColumnDef::new(HelpFeedback::Helpful).boolean().not_null())
                    .col(ColumnDef::new(HelpFeedback::Comment).text().null())
                    .col(
                        ColumnDef::new(HelpFeedback::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Every report reads one period: index the time of each table.
        for (name, table, created_at) in [
            (
                "idx_help_searches_created",
                HelpSearches::Table.into_iden(),
                HelpSearches::CreatedAt.into_iden(),
            ),
            (
                "idx_help_views_created",
                HelpViews::Table.into_iden(),
                HelpViews::CreatedAt.into_iden(),
            ),
            (
                "idx_help_feedback_created",
                HelpFeedback::Table.into_iden(),
                HelpFeedback::CreatedAt.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(created_at)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            HelpFeedback::Table.into_iden(),
            HelpViews::Table.into_iden(),
            HelpSearches::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
