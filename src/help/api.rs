//! The help JSON API: search, articles, suggestions for a payment error, click and feedback recording
//! (all public: shoppers and the storefront widget call them without an API key), and the analytics
//! report for the content team, behind `PAYDESK_HELP_ANALYTICS_TOKEN`.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde::Serialize;
use time::OffsetDateTime;

use super::article::{Article, Audience, category_label};
use super::center::{HelpCenter, HelpHit};
use super::suggest::SuggestRequest;
use super::{HelpError, invalid};
use crate::api::{DirectJson, ErrorDocs, Errors, Fault, FieldCodes, JsonBody, Timestamp, docs};
use crate::app::AppState;
use crate::config::ExposeSecret;
use crate::domain::{PayMethod, card_company_by_name};
use crate::store::{Counted, NewFeedback, NewView, ViewSource};

/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Longest error message `suggest` reads, in characters.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Longest feedback comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

#[derive(Tags)]
enum HelpTags {
    /// The Korean help knowledge base: search, articles and help for payment errors. Public: no API
    /// key, and CORS-enabled GETs so a storefront's own pages can call them.
    Help,
}

/// A section (or whole article) that answers the query.
#[derive(Object, Serialize)]
#[oai(rename = "HelpHit", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
struct HitBody {
    slug: String,
    title: String,
    /// Section anchor; absent when the hit is the article as a whole.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    anchor: Option<String>,
    /// Section heading; absent when the hit is the article as a whole.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    section: Option<String>,
    /// `/help/{slug}#{anchor}`, relative to this server.
    url: String,
    /// HTML: the text is escaped and matches are wrapped in `<mark>`; safe to insert as HTML.
    snippet: String,
    /// Relevance (BM25); 0 for fallback and rule-based hits.
    score: f32,
}

impl From<HelpHit> for HitBody {
    fn from(hit: HelpHit) -> Self {
        Self {
            slug: hit.slug,
            title: hit.title,
            anchor: hit.anchor,
            section: hit.section,
            url: hit.url,
            snippet: hit.snippet,
            score: hit.score,
        }
    }
}

/// Search results, one hit per article, best first.
#[derive(Object, Serialize)]
#[oai(rename = "HelpSearchResults", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    query: String,
    /// Time spent searching inside paydesk, in microseconds.
    took_micros: u64,
    /// `true` when no article matched and `hits` are the most useful articles instead (never empty).
    fallback: bool,
    hits: Vec<HitBody>,
}

#[derive(ApiResponse)]
enum SearchResponse {
    /// Matching articles, or the fallback list.
    #[oai(status = 200)]
    Ok(DirectJson<SearchBody>),
}

/// A section of an article.
#[derive(Object)]
#[oai(rename = "HelpSection")]
struct SectionBody {
    anchor: String,
    heading: String,
    /// `/help/{slug}#{anchor}`: the permalink support agents paste into tickets.
    url: String,
}

/// A linked article.
#[derive(Object)]
#[oai(rename = "HelpArticleLink")]
struct ArticleLinkBody {
    slug: String,
    title: String,
    url: String,
}

/// A whole article.
#[derive(Object)]
#[oai(rename = "HelpArticle", rename_all = "camelCase")]
struct ArticleBody {
    slug: String,
    title: String,
    summary: String,
    /// Category id, e.g. `isp`.
    category: String,
    /// The category's Korean name.
    category_label: String,
    audience: Vec<Audience>,
    tags: Vec<String>,
    url: String,
    /// The article as HTML (sections as `<h2 id="anchor">`); raw HTML from the source is escaped.
    html: String,
    sections: Vec<SectionBody>,
    related: Vec<ArticleLinkBody>,
}

#[derive(ApiResponse)]
enum ArticleResponse {
    /// The article.
    #[oai(status = 200)]
    Ok(Json<ArticleBody>),
}

/// An article in the list.
#[derive(Object)]
#[oai(rename = "HelpArticleSummary")]
struct ArticleSummaryBody {
    slug: String,
    title: String,
    summary: String,
    category: String,
    audience: Vec<Audience>,
    url: String,
}

#[derive(ApiResponse)]
enum ArticleListResponse {
    /// Every article, in category order.
    #[oai(status = 200)]
    Ok(Json<Vec<ArticleSummaryBody>>),
}

/// Help for a failed payment.
#[derive(Object, Serialize)]
#[oai(rename = "HelpSuggestions", rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
struct SuggestBody {
    took_micros: u64,
    /// Best first: error-pattern matches, then search results for the message, then rules about the
    /// card, amount and device. Never empty.
    hits: Vec<HitBody>,
}

#[derive(ApiResponse)]
enum SuggestResponse {
    /// Suggested articles.
    #[oai(status = 200)]
    Ok(DirectJson<SuggestBody>),
}

/// Where the click happened.
#[derive(Enum, Clone, Copy)]
#[oai(rename = "HelpClickSource", rename_all = "lowercase")]
enum ClickSource {
    Search,
    Suggest,
    Widget,
    Related,
}

impl From<ClickSource> for ViewSource {
    fn from(source: ClickSource) -> Self {
        match source {
            ClickSource::Search => ViewSource::Search,
            ClickSource::Suggest => ViewSource::Suggest,
            ClickSource::Widget => ViewSource::Widget,
            ClickSource::Related => ViewSource::Related,
        }
    }
}

/// A click on a help link shown by your own UI (paydesk's pages record their clicks themselves).
#[derive(Object)]
#[oai(rename = "HelpClick")]
struct ClickRequest {
    slug: String,
    anchor: Option<String>,
    /// The search query or error message the link was shown for, at most 1000 characters.
    #[oai(validator(max_length = 1000))]
    query: Option<String>,
    source: ClickSource,
}

impl FieldCodes for ClickRequest {
    fn field_code(path: &str, fault: Fault) -> Option<&'static str> {
        (path == "query" && fault == Fault::OutOfLimits).then_some("query_too_long")
    }
}

#[derive(ApiResponse)]
enum ClickResponse {
    /// Recorded.
    #[oai(status = 204)]
    Recorded,
}

/// An answer to "도움이 되었나요?".
#[derive(Object)]
#[oai(rename = "HelpFeedback")]
struct FeedbackRequest {
    slug: String,
    /// The section the reader was on, if known.
    anchor: Option<String>,
    helpful: bool,
    /// Optional free text, at most 1000 characters.
    #[oai(validator(max_length = 1000))]
    comment: Option<String>,
}

impl FieldCodes for FeedbackRequest {
    fn field_code(path: &str, fault: Fault) -> Option<&'static str> {
        (path == "comment" && fault == Fault::OutOfLimits).then_some("comment_too_long")
    }
}

#[derive(ApiResponse)]
enum FeedbackResponse {
    /// Recorded.
    #[oai(status = 204)]
    Recorded,
}

/// How often a query was searched.
#[derive(Object)]
#[oai(rename = "HelpQueryCount")]
struct QueryCountBody {
    /// Lower-cased, spaces collapsed.
    query: String,
    searches: i64,
}

/// A count for one article.
#[derive(Object)]
#[oai(rename = "HelpArticleCount")]
struct ArticleCountBody {
    slug: String,
    title: String,
    count: i64,
}

/// Feedback totals of one article.
#[derive(Object)]
#[oai(rename = "HelpFeedbackTotals", rename_all = "camelCase")]
struct FeedbackTotalsBody {
    slug: String,
    title: String,
    helpful: i64,
    not_helpful: i64,
}

/// A feedback comment.
#[derive(Object)]
#[oai(rename = "HelpComment", rename_all = "camelCase")]
struct CommentBody {
    slug: String,
    helpful: bool,
    comment: String,
    created_at: Timestamp,
}

/// What readers searched for and how the articles served them.
#[derive(Object)]
#[oai(rename = "HelpAnalytics", rename_all = "camelCase")]
struct AnalyticsBody {
    since: Timestamp,
    searches: u64,
    /// Searches no article matched (answered with the fallback list).
    fallback_searches: u64,
    top_queries: Vec<QueryCountBody>,
    /// Queries no article matched, most frequent first: what the articles are missing.
    zero_result_queries: Vec<QueryCountBody>,
    /// Article opens from a search result, suggestion, widget or related link.
    clicks: Vec<ArticleCountBody>,
    /// All article opens, including shared links.
    views: Vec<ArticleCountBody>,
    /// Most "not helpful" answers first.
    feedback: Vec<FeedbackTotalsBody>,
    /// Newest first.
    comments: Vec<CommentBody>,
}

#[derive(ApiResponse)]
enum AnalyticsResponse {
    /// The report.
    #[oai(status = 200)]
    Ok(Json<AnalyticsBody>),
}

pub struct HelpApi;

/// Parses an optional, bounded count parameter.
fn bounded(
    value: Option<u32>,
    default: usize,
    max: usize,
    code: &'static str,
    param: &'static str,
) -> Result<usize, HelpError> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max).contains(&(n as usize)) => Ok(n as usize),
        Some(n) => Err(invalid(
            code,
            param,
            format!("`{param}` must be between 1 and {max}, got {n}"),
        )),
    }
}

/// Trims optional text; `None` when blank, an error when longer than `max` characters.
fn text_param(
    value: Option<String>,
    max: usize,
    code: &'static str,
    param: &'static str,
) -> Result<Option<String>, HelpError> {
    let Some(value) = value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(invalid(
            code,
            param,
            format!("`{param}` is longer than {max} characters"),
        ));
    }
    Ok(Some(value))
}

/// The article for `slug`, or 400 naming `param` (for bodies that refer to an article).
fn known_article<'a>(help: &'a HelpCenter, slug: &str) -> Result<&'a Article, HelpError> {
    help.article(slug).ok_or_else(|| {
        invalid(
            "unknown_article",
            "slug",
            format!("there is no help article {slug:?}"),
        )
    })
}

fn known_anchor(article: &Article, anchor: Option<String>) -> Result<Option<String>, HelpError> {
    match anchor.filter(|a| !a.is_empty()) {
        Some(a) if !article.has_anchor(&a) => Err(invalid(
            "unknown_section",
            "anchor",
            format!("{} has no section {a:?}", article.slug),
        )),
        other => Ok(other),
    }
}

/// Checks `Authorization: Bearer <token>` against `PAYDESK_HELP_ANALYTICS_TOKEN`.
fn authorize_analytics(state: &AppState, req: &Request) -> Result<(), HelpError> {
    let Some(token) = &state.config.help_analytics_token else {
        return Err(HelpError::AnalyticsDisabled);
    };
    match crate::api::bearer_matches(req, token.expose_secret()) {
        Some(true) => Ok(()),
        _ => Err(HelpError::AnalyticsUnauthorized),
    }
}

fn title_of(help: &HelpCenter, slug: &str) -> String {
    help.article(slug)
        .map_or_else(|| slug.to_string(), |a| a.title.clone())
}

fn article_counts(help: &HelpCenter, rows: Vec<Counted>) -> Vec<ArticleCountBody> {
    rows.into_iter()
        .map(|row| ArticleCountBody {
            title: title_of(help, &row.key),
            slug: row.key,
            count: row.count,
        })
        .collect()
}

fn query_counts(rows: Vec<Counted>) -> Vec<QueryCountBody> {
    rows.into_iter()
        .map(|row| QueryCountBody {
            query: row.key,
            searches: row.count,
        })
        .collect()
}

fn article_body(help: &HelpCenter, article: &Article) -> ArticleBody {
    ArticleBody {
        slug: article.slug.clone(),
        title: article.title.clone(),
        summary: article.summary.clone(),
        category: article.category.clone(),
        category_label: category_label(&article.category).to_string(),
        audience: article.audience.clone(),
        tags: article.tags.clone(),
        url: article.url(None),
        html: article.html(),
        sections: article
            .sections
            .iter()
            .filter_map(|s| {
                Some(SectionBody {
                    anchor: s.anchor.clone()?,
                    heading: s.heading.clone()?,
                    url: article.url(s.anchor.as_deref()),
                })
            })
            .collect(),
        related: article
            .related
            .iter()
            .filter_map(|slug| help.article(slug))
            .map(|r| ArticleLinkBody {
                slug: r.slug.clone(),
                title: r.title.clone(),
                url: r.url(None),
            })
            .collect(),
    }
}

#[OpenApi(tag = "HelpTags::Help")]
impl HelpApi {
    /// Search the help articles
    ///
    /// Korean-aware search: spacing variants (`팝업차단` / `팝업 차단`), particles, synonyms (`비번` →
    /// `비밀번호`) and one-letter typos in Latin words (`ips` → `isp`) all find the right section.
    /// One hit per article, pointing at its best section. When nothing matches, `fallback` is `true`
    /// and the most useful articles are returned instead. Errors: `missing_query`, `query_too_long`,
    /// `invalid_limit` (400, with `param`).
    #[oai(path = "/v1/help/search", method = "get", operation_id = "searchHelp")]
    async fn search(
        &self,
        state: Data<&AppState>,
        /// What the reader typed, at most 200 characters.
        q: Query<Option<String>>,
        /// Who is reading: `shopper` (the default) sees shopper articles only, `developer` developer
        /// articles only, `agent` every article (agent-only ones too), developer articles first
        /// for developer-worded queries.
        audience: Query<Option<Audience>>,
        /// Most hits, 1 to 20 (default 10).
        limit: Query<Option<u32>>,
        /// `true` for keystroke searches of a search-as-you-type box: answered, not recorded in
        /// analytics.
        typeahead: Query<Option<bool>>,
    ) -> Result<SearchResponse, Errors<SearchErrors>> {
        let query = text_param(q.0, MAX_QUERY_CHARS, "query_too_long", "q")?
            .ok_or_else(|| invalid("missing_query", "q", "`q` is required"))?;
        let limit = bounded(limit.0, 10, 20, "invalid_limit", "limit")?;
        let reader = audience.0.unwrap_or_default();
        let results = state.help.current().search(&query, reader, limit);
        if !typeahead.0.unwrap_or(false) {
            state.search_log.record(&results, Some(reader), "api");
        }
        Ok(SearchResponse::Ok(DirectJson(SearchBody {
            query: results.query,
            took_micros: results.took_micros,
            fallback: results.fallback,
            hits: results.hits.into_iter().map(HitBody::from).collect(),
        })))
    }

    /// List the help articles
    #[oai(
        path = "/v1/help/articles",
        method = "get",
        operation_id = "listHelpArticles"
    )]
    async fn articles(&self, state: Data<&AppState>) -> ArticleListResponse {
        let help = state.help.current();
        let mut articles: Vec<&Article> = help.articles().iter().collect();
        articles.sort_by_key(|a| {
            super::article::CATEGORIES
                .iter()
                .position(|(id, _)| *id == a.category)
        });
        ArticleListResponse::Ok(Json(
            articles
                .into_iter()
                .map(|a| ArticleSummaryBody {
                    slug: a.slug.clone(),
                    title: a.title.clone(),
                    summary: a.summary.clone(),
                    category: a.category.clone(),
                    audience: a.audience.clone(),
                    url: a.url(None),
                })
                .collect(),
        ))
    }

    /// Get one help article
    ///
    /// The article with its rendered HTML, sections (anchors and permalinks), related articles,
    /// category and audience. Unknown slugs answer 404 `article_not_found`.
    #[oai(
        path = "/v1/help/articles/:slug",
        method = "get",
        operation_id = "getHelpArticle"
    )]
    async fn article(
        &self,
        state: Data<&AppState>,
        slug: poem_openapi::param::Path<String>,
    ) -> Result<ArticleResponse, Errors<ArticleErrors>> {
        let help = state.help.current();
        let article = help
            .article(&slug.0)
            .ok_or_else(|| HelpError::ArticleNotFound(slug.0.clone()))?;
        Ok(ArticleResponse::Ok(Json(article_body(&help, article))))
    }

    /// Suggest help for a payment error
    ///
    /// What the error envelope's `help` and the failure pages show: articles whose error patterns
    /// match the message, then a search for the message, then rules about the payment (an ISP card —
    /// 비씨, 국민, 우리 — at 300,000 won or more needs a certificate; a phone's `User-Agent` brings the
    /// mobile checklist). A card company keeps out the other card family's articles (ISP for 국민,
    /// 비씨; 안심클릭 for 신한, 현대, 롯데, 삼성), and an amount under 300,000 won the certificate article. Errors: `message_too_long`, `code_too_long`, `invalid_pay_method`,
    /// `unknown_card_company`, `invalid_amount`, `invalid_limit` (400, with `param`).
    #[oai(
        path = "/v1/help/suggest",
        method = "get",
        operation_id = "suggestHelp"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn suggest(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The error message shown to the shopper or returned by Innopay.
        message: Query<Option<String>>,
        /// Innopay's result code, e.g. `W003`.
        code: Query<Option<String>>,
        /// `CARD`, `BANK`, `VBANK`, `EPAY`, `OPCARD` or `EBANK`.
        #[oai(name = "payMethod")]
        pay_method: Query<Option<String>>,
        /// Card company code (`01`) or name (`비씨`, `KB국민카드`).
        #[oai(name = "cardCompany")]
        card_company: Query<Option<String>>,
        /// Payment amount in won.
        amount: Query<Option<i64>>,
        /// Most hits, 1 to 10 (default 3).
        limit: Query<Option<u32>>,
        /// Who is reading: `shopper` (the default), `developer` or `agent`, as for search.
        audience: Query<Option<Audience>>,
    ) -> Result<SuggestResponse, Errors<SuggestErrors>> {
        let started = std::time::Instant::now();
        let message = text_param(message.0, MAX_MESSAGE_CHARS, "message_too_long", "message")?;
        let code = text_param(code.0, 100, "code_too_long", "code")?;
        let pay_method = text_param(pay_method.0, 10, "invalid_pay_method", "payMethod")?;
        if let Some(method) = &pay_method
            && method.parse::<PayMethod>().is_err()
        {
            return Err(invalid(
                "invalid_pay_method",
                "payMethod",
                format!("`payMethod` must be one of CARD, BANK, VBANK, EPAY, OPCARD, EBANK, got {method:?}"),
            )
            .into());
        }
        let card_company = text_param(card_company.0, 40, "unknown_card_company", "cardCompany")?;
        if let Some(company) = &card_company
            && card_company_by_name(company).is_none()
        {
            return Err(invalid(
                "unknown_card_company",
                "cardCompany",
                format!("`cardCompany` {company:?} is neither a card company code nor a name"),
            )
            .into());
        }
        if let Some(amount) = amount.0
            && crate::domain::Amount::new(amount).is_err()
        {
            return Err(invalid(
                "invalid_amount",
                "amount",
                format!(
                    "`amount` must be whole won between 0 and {}, got {amount}",
                    crate::domain::Amount::MAX
                ),
            )
            .into());
        }
        let limit = bounded(
            limit.0,
            super::suggest::DEFAULT_SUGGESTIONS,
            10,
            "invalid_limit",
            "limit",
        )?;
        let user_agent = req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let hits = state.help.current().suggest(&SuggestRequest {
            message,
            code,
            pay_method,
            card_company,
            amount: amount.0,
            user_agent,
            limit,
            reader: audience.0.unwrap_or_default(),
        });
        Ok(SuggestResponse::Ok(DirectJson(SuggestBody {
            took_micros: started.elapsed().as_micros() as u64,
            hits: hits.into_iter().map(HitBody::from).collect(),
        })))
    }

    /// Record a click on a help link
    ///
    /// For storefronts and tools that show paydesk's hits in their own UI. Errors: `unknown_article`,
    /// `unknown_section`, `query_too_long` (400, with `param`).
    #[oai(
        path = "/v1/help/clicks",
        method = "post",
        operation_id = "recordHelpClick"
    )]
    async fn click(
        &self,
        state: Data<&AppState>,
        body: JsonBody<ClickRequest>,
    ) -> Result<ClickResponse, Errors<ClickErrors>> {
        let body = body.parse()?;
        let help = state.help.current();
        let article = known_article(&help, &body.slug)?;
        let anchor = known_anchor(article, body.anchor)?;
        let query = text_param(body.query, MAX_MESSAGE_CHARS, "query_too_long", "query")?;
        state
            .store
            .help_analytics()
            .record_view(NewView {
                slug: &article.slug,
                anchor: anchor.as_deref(),
                query: query.as_deref(),
                source: body.source.into(),
            })
            .await
            .map_err(HelpError::from)?;
        Ok(ClickResponse::Recorded)
    }

    /// Answer "도움이 되었나요?"
    ///
    /// Errors: `unknown_article`, `unknown_section`, `comment_too_long` (400, with `param`).
    #[oai(
        path = "/v1/help/feedback",
        method = "post",
        operation_id = "sendHelpFeedback"
    )]
    async fn feedback(
        &self,
        state: Data<&AppState>,
        body: JsonBody<FeedbackRequest>,
    ) -> Result<FeedbackResponse, Errors<FeedbackErrors>> {
        let body = body.parse()?;
        let help = state.help.current();
        let article = known_article(&help, &body.slug)?;
        let anchor = known_anchor(article, body.anchor)?;
        let comment = text_param(
            body.comment,
            MAX_COMMENT_CHARS,
            "comment_too_long",
            "comment",
        )?;
        state
            .store
            .help_analytics()
            .record_feedback(NewFeedback {
                slug: &article.slug,
                anchor: anchor.as_deref(),
                helpful: body.helpful,
                comment: comment.as_deref(),
            })
            .await
            .map_err(HelpError::from)?;
        Ok(FeedbackResponse::Recorded)
    }

    /// Help analytics for the content team
    ///
    /// Top queries, queries no article matched, clicks, views and feedback over the last `days`.
    /// Requires `Authorization: Bearer <PAYDESK_HELP_ANALYTICS_TOKEN>`: 403 `analytics_disabled` when
    /// the token is not configured, 401 `invalid_analytics_token` when it is missing or wrong.
    #[oai(
        path = "/v1/help/analytics",
        method = "get",
        operation_id = "getHelpAnalytics"
    )]
    async fn analytics(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Period in days, 1 to 365 (default 30).
        days: Query<Option<u32>>,
        /// Rows per list, 1 to 100 (default 20).
        limit: Query<Option<u32>>,
    ) -> Result<AnalyticsResponse, Errors<AnalyticsErrors>> {
        authorize_analytics(&state, req)?;
        let days = bounded(days.0, 30, 365, "invalid_days", "days")?;
        let limit = bounded(limit.0, 20, 100, "invalid_limit", "limit")?;
        let since = OffsetDateTime::now_utc() - time::Duration::days(days as i64);
        let report = state
            .store
            .help_analytics()
            .report(since, limit as u64)
            .await
            .map_err(HelpError::from)?;
        let help = state.help.current();
        Ok(AnalyticsResponse::Ok(Json(AnalyticsBody {
            since: since.into(),
            searches: report.searches,
            fallback_searches: report.fallback_searches,
            top_queries: query_counts(report.top_queries),
            zero_result_queries: query_counts(report.zero_result_queries),
            clicks: article_counts(&help, report.clicks),
            views: article_counts(&help, report.views),
            feedback: report
                .feedback
                .into_iter()
                .map(|f| FeedbackTotalsBody {
                    title: title_of(&help, &f.slug),
                    slug: f.slug,
                    helpful: f.helpful,
                    not_helpful: f.not_helpful,
                })
                .collect(),
            comments: report
                .comments
                .into_iter()
                .map(|c| CommentBody {
                    slug: c.slug,
                    helpful: c.helpful,
                    comment: c.comment,
                    created_at: c.created_at.into(),
                })
                .collect(),
        })))
    }
}

struct SearchErrors;
struct ArticleErrors;
struct SuggestErrors;
struct ClickErrors;
struct FeedbackErrors;
struct AnalyticsErrors;

impl ErrorDocs for SearchErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[(
        400,
        "`missing_query` (no `q`), `query_too_long`, `invalid_limit` (outside 1 to 20), \
             `invalid_parameter` (an unknown `audience`); `error.param` names it.",
    )];
}

impl ErrorDocs for ArticleErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        docs::BAD_ID,
        (404, "`article_not_found`: no help article has this slug."),
    ];
}

impl ErrorDocs for SuggestErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[(
        400,
        "`message_too_long`, `code_too_long`, `invalid_pay_method`, `unknown_card_company`, \
             `invalid_amount`, `invalid_limit`, `invalid_parameter`; `error.param` names it.",
    )];
}

impl ErrorDocs for ClickErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`unknown_article`, `unknown_section`, `query_too_long`, `invalid_body`; `error.param` \
             names the field.",
        ),
        docs::PAYLOAD_TOO_LARGE,
        docs::UNSUPPORTED_MEDIA_TYPE,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for FeedbackErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`unknown_article`, `unknown_section`, `comment_too_long`, `invalid_body`; `error.param` \
             names the field.",
        ),
        docs::PAYLOAD_TOO_LARGE,
        docs::UNSUPPORTED_MEDIA_TYPE,
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

impl ErrorDocs for AnalyticsErrors {
    const ERRORS: &'static [(u16, &'static str)] = &[
        (
            400,
            "`invalid_days` (outside 1 to 365) or `invalid_parameter`.",
        ),
        (
            401,
            "`invalid_analytics_token`: no `Authorization: Bearer` or not the configured token.",
        ),
        (
            403,
            "`analytics_disabled`: this server has no `PAYDESK_HELP_ANALYTICS_TOKEN`.",
        ),
        docs::INTERNAL,
        docs::DATABASE_UNAVAILABLE,
    ];
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;

    use super::*;

    fn hit(anchor: Option<&str>) -> HitBody {
        HitBody {
            slug: "popup-blocked".into(),
            title: "결제창이 뜨지 않아요".into(),
            anchor: anchor.map(str::to_string),
            section: anchor.map(|_| "팝업 차단 해제".to_string()),
            url: "/help/popup-blocked".into(),
            snippet: "<mark>팝업</mark> \"차단\"".into(),
            score: 1.5,
        }
    }

    /// `DirectJson` writes with serde what the document describes from poem-openapi's derive: both
    /// must agree on every field name and on leaving out absent sections.
    #[test]
    fn search_and_suggest_bodies_write_the_json_their_schema_describes() {
        let search = SearchBody {
            query: "팝업 차단".into(),
            took_micros: 42,
            fallback: false,
            hits: vec![hit(Some("unblock-popups")), hit(None)],
        };
        assert_eq!(serde_json::to_value(&search).ok(), search.to_json());
        let suggest = SuggestBody {
            took_micros: 7,
            hits: vec![hit(None)],
        };
        assert_eq!(serde_json::to_value(&suggest).ok(), suggest.to_json());
    }
}
