//! The help centre's analytics: every search (and whether any article matched), every article view
//! (with the search or suggestion that led to it) and every "도움이 되었나요?" answer, plus the
//! aggregates the content team reads. Rows are only ever appended.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use time::OffsetDateTime;

use super::{Store, StoreError};

mod search {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "help_searches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub query: String,
        /// Lower-cased with runs of whitespace collapsed, so variants of a query count together.
        pub normalized: String,
        pub audience: Option<String>,
        pub source: String,
        pub result_count: i32,
        pub fallback: bool,
        pub took_micros: i64,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod view {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "help_views")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub slug: String,
        pub anchor: Option<String>,
        pub query: Option<String>,
        pub source: String,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod feedback {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "help_feedback")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub slug: String,
        pub anchor: Option<String>,
        pub helpful: bool,
        pub comment: Option<String>,
        pub created_at: TimeDateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How a view reached the article. `Direct` covers shared permalinks and bookmarks; the others are
/// clicks on something paydesk showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewSource {
    Direct,
    Search,
    Suggest,
    Widget,
    Related,
}

impl ViewSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewSource::Direct => "direct",
            ViewSource::Search => "search",
            ViewSource::Suggest => "suggest",
            ViewSource::Widget => "widget",
            ViewSource::Related => "related",
        }
    }
}

/// A search to record; owned, because it is written after its request has ended.
pub struct NewSearch {
    pub query: String,
    pub audience: Option<&'static str>,
    /// `api` or `page`.
    pub source: &'static str,
    /// Articles that matched; 0 when the answer was the fallback list.
    pub result_count: usize,
    pub fallback: bool,
    pub took_micros: u64,
    /// When the search was answered (the row is written later).
    pub at: OffsetDateTime,
}

/// A view of an article to record.
pub struct NewView<'a> {
    pub slug: &'a str,
    pub anchor: Option<&'a str>,
    /// The search or error message that led here, if any.
    pub query: Option<&'a str>,
    pub source: ViewSource,
}

/// A "도움이 되었나요?" answer to record.
pub struct NewFeedback<'a> {
    pub slug: &'a str,
    pub anchor: Option<&'a str>,
    pub helpful: bool,
    pub comment: Option<&'a str>,
}

/// A count per query or per article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub key: String,
    pub count: i64,
}

/// Feedback totals of one article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackTotals {
    pub slug: String,
    pub helpful: i64,
    pub not_helpful: i64,
}

/// A feedback comment, newest first in reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackComment {
    pub slug: String,
    pub helpful: bool,
    pub comment: String,
    pub created_at: OffsetDateTime,
}

/// Everything the content team sees for one period.
#[derive(Clone, Debug)]
pub struct HelpReport {
    pub searches: u64,
    pub fallback_searches: u64,
    pub top_queries: Vec<Counted>,
    /// Queries no article matched (answered with the fallback list): the content team's to-do list.
    pub zero_result_queries: Vec<Counted>,
    /// Views that came from a search result, suggestion, widget or related link, per article.
    pub clicks: Vec<Counted>,
    /// All views per article.
    pub views: Vec<Counted>,
    pub feedback: Vec<FeedbackTotals>,
    pub comments: Vec<FeedbackComment>,
}

/// Collapses case and spacing so `ISP  비번` and `isp 비번` count as one query.
pub fn normalize_query(query: &str) -> String {
    query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The most rows one insert of searches carries: 9 columns each stays far below SQLite's and
/// PostgreSQL's limits on bound parameters.
const MAX_SEARCH_CHUNK: usize = 256;

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Cuts `text` to at most `max` characters, so a long pasted message never fails an insert.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The help analytics repository; get it with `Store::help_analytics`.
pub struct HelpAnalytics<'a> {
    store: &'a Store,
}

impl Store {
    pub fn help_analytics(&self) -> HelpAnalytics<'_> {
        HelpAnalytics { store: self }
    }
}

impl HelpAnalytics<'_> {
    /// Records `searches` in one transaction.
    pub async fn record_searches(&self, searches: &[NewSearch]) -> Result<(), StoreError> {
        // Every row count is a statement of its own in each pooled connection's prepared-statement
        // cache (and, on PostgreSQL, in the server's memory): inserting in chunks whose sizes are
        // powers of two keeps those to nine shapes instead of one per batch size.
        let txn = self.store.db().begin().await?;
        let mut rest = searches;
        while !rest.is_empty() {
            let size = (1usize << rest.len().ilog2()).min(MAX_SEARCH_CHUNK);
            let (chunk, tail) = rest.split_at(size);
            Self::insert_searches(&txn, chunk).await?;
            rest = tail;
        }
        txn.commit().await?;
        Ok(())
    }

    async fn insert_searches(
        txn: &DatabaseTransaction,
        searches: &[NewSearch],
    ) -> Result<(), StoreError> {
        let rows = searches.iter().map(|s| search::ActiveModel {
            id: Set(new_id()),
            query: Set(clip(&s.query, 400)),
            normalized: Set(clip(&normalize_query(&s.query), 400)),
            audience: Set(s.audience.map(str::to_string)),
            source: Set(s.source.to_string()),
            result_count: Set(i32::try_from(s.result_count).unwrap_or(i32::MAX)),
            fallback: Set(s.fallback),
            took_micros: Set(i64::try_from(s.took_micros).unwrap_or(i64::MAX)),
            created_at: Set(s.at),
        });
        search::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
        Ok(())
    }

    pub async fn record_view(&self, v: NewView<'_>) -> Result<(), StoreError> {
        let row = view::ActiveModel {
            id: Set(new_id()),
            slug: Set(clip(v.slug, 100)),
            anchor: Set(v.anchor.map(|a| clip(a, 100))),
            query: Set(v.query.map(|q| clip(q, 400))),
            source: Set(v.source.as_str().to_string()),
            created_at: Set(self.store.now()),
        };
        view::Entity::insert(row)
            .exec_without_returning(self.store.db())
            .await?;
        Ok(())
    }

    pub async fn record_feedback(&self, f: NewFeedback<'_>) -> Result<(), StoreError> {
        let row = feedback::ActiveModel {
            id: Set(new_id()),
            slug: Set(clip(f.slug, 100)),
            anchor: Set(f.anchor.map(|a| clip(a, 100))),
            helpful: Set(f.helpful),
            comment: Set(f.comment.map(|c| clip(c, 1000))),
            created_at: Set(self.store.now()),
        };
        feedback::Entity::insert(row)
            .exec_without_returning(self.store.db())
            .await?;
        Ok(())
    }

    /// The most viewed articles since `since`, most first.
    pub async fn most_viewed(
        &self,
        since: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Counted>, StoreError> {
        self.views_by_slug(since, false, limit).await
    }

    /// Views per article; with `clicks_only`, only those that came from something paydesk showed.
    async fn views_by_slug(
        &self,
        since: OffsetDateTime,
        clicks_only: bool,
        limit: u64,
    ) -> Result<Vec<Counted>, StoreError> {
        let mut query = view::Entity::find()
            .select_only()
            .column(view::Column::Slug)
            .column_as(Expr::col(view::Column::Id).count(), "n")
            .filter(view::Column::CreatedAt.gte(since));
        if clicks_only {
            query = query.filter(view::Column::Source.ne(ViewSource::Direct.as_str()));
        }
        let rows: Vec<(String, i64)> = query
            .group_by(view::Column::Slug)
            .order_by_desc(Expr::col(view::Column::Id).count())
            .order_by_asc(view::Column::Slug)
            .limit(limit)
            .into_tuple()
            .all(self.store.db())
            .await?;
        Ok(counted(rows))
    }

    /// Searches per normalized query; with `fallback_only`, only those no article matched.
    async fn queries(
        &self,
        since: OffsetDateTime,
        fallback_only: bool,
        limit: u64,
    ) -> Result<Vec<Counted>, StoreError> {
        let mut query = search::Entity::find()
            .select_only()
            .column(search::Column::Normalized)
            .column_as(Expr::col(search::Column::Id).count(), "n")
            .filter(search::Column::CreatedAt.gte(since));
        if fallback_only {
            query = query.filter(search::Column::Fallback.eq(true));
        }
        let rows: Vec<(String, i64)> = query
            .group_by(search::Column::Normalized)
            .order_by_desc(Expr::col(search::Column::Id).count())
            .order_by_asc(search::Column::Normalized)
            .limit(limit)
            .into_tuple()
            .all(self.store.db())
            .await?;
        Ok(counted(rows))
    }

    /// The content team's report for everything since `since`; each list holds at most `limit` rows.
    pub async fn report(
        &self,
        since: OffsetDateTime,
        limit: u64,
    ) -> Result<HelpReport, StoreError> {
        let db = self.store.db();
        let searches = search::Entity::find()
            .filter(search::Column::CreatedAt.gte(since))
            .count(db)
            .await?;
        let fallback_searches = search::Entity::find()
            .filter(search::Column::CreatedAt.gte(since))
            .filter(search::Column::Fallback.eq(true))
            .count(db)
            .await?;
        let answers: Vec<(String, bool, i64)> = feedback::Entity::find()
            .select_only()
            .column(feedback::Column::Slug)
            .column(feedback::Column::Helpful)
            .column_as(Expr::col(feedback::Column::Id).count(), "n")
            .filter(feedback::Column::CreatedAt.gte(since))
            .group_by(feedback::Column::Slug)
            .group_by(feedback::Column::Helpful)
            .order_by_asc(feedback::Column::Slug)
            .into_tuple()
            .all(db)
            .await?;
        let mut feedback: Vec<FeedbackTotals> = Vec::new();
        for (slug, helpful, n) in answers {
            if feedback.last().is_none_or(|f| f.slug != slug) {
                feedback.push(FeedbackTotals {
                    slug,
                    helpful: 0,
                    not_helpful: 0,
                });
            }
            let totals = feedback.last_mut().expect("pushed above");
            if helpful {
                totals.helpful += n;
            } else {
                totals.not_helpful += n;
            }
        }
        // Articles with the most "no" answers first: those need the content team.
        feedback.sort_by(|a, b| b.not_helpful.cmp(&a.not_helpful).then(a.slug.cmp(&b.slug)));
        feedback.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let comments = feedback::Entity::find()
            .filter(feedback::Column::CreatedAt.gte(since))
            .filter(feedback::Column::Comment.is_not_null())
            .order_by_desc(feedback::Column::CreatedAt)
            .limit(limit)
            .all(db)
            .await?
            .into_iter()
            .map(|row| FeedbackComment {
                slug: row.slug,
                helpful: row.helpful,
                comment: row.comment.unwrap_or_default(),
                created_at: row.created_at,
            })
            .collect();
        Ok(HelpReport {
            searches,
            fallback_searches,
            top_queries: self.queries(since, false, limit).await?,
            zero_result_queries: self.queries(since, true, limit).await?,
            clicks: self.views_by_slug(since, true, limit).await?,
            views: self.views_by_slug(since, false, limit).await?,
            feedback,
            comments,
        })
    }
}

fn counted(rows: Vec<(String, i64)>) -> Vec<Counted> {
    rows.into_iter()
        .map(|(key, count)| Counted { key, count })
        .collect()
}
