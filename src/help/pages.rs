//! The help centre's pages, in Korean, server-rendered in the shared layout: `/help` (search box with
//! results as you type, categories, most-read articles), `/help/search?q=`, `/help/{slug}` (anchored
//! sections with a "링크 복사" button, related articles, a "도움이 되었나요?" form that posts without
//! JavaScript), and `/help/widget.js` for storefronts' own failure pages. Scripts only add to pages
//! that already work without them. Every interpolated value goes through `escape`; snippets arrive
//! escaped from `snippet`.

use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{IntoResponse, Response, Route, get, handler, post};
use serde::Deserialize;
use time::OffsetDateTime;

use super::api::{MAX_COMMENT_CHARS, MAX_QUERY_CHARS};
use super::article::{Article, Audience, CATEGORIES};
use super::center::{HelpCenter, HelpHit};
use crate::app::AppState;
use crate::pages::{Page, escape};
use crate::store::{NewFeedback, NewView, ViewSource};

/// The storefront widget, served as is.
const WIDGET_JS: &str = include_str!("assets/widget.js");
/// Search-as-you-type and the copy buttons of the help pages.
const PAGE_JS: &str = include_str!("assets/help.js");

/// Results on the search page.
const PAGE_HITS: usize = 10;
/// Articles in the "많이 본 도움말" list.
const MOST_READ: usize = 5;

/// Adds the help pages to the site's routes.
pub fn mount(route: Route) -> Route {
    route
        .at("/help", get(home))
        .at("/help/search", get(search_page))
        .at("/help/developers", get(developers))
        .at("/help/widget.js", get(widget_js))
        .at("/help/:slug", get(article_page))
        .at("/help/:slug/feedback", post(feedback_form))
}

/// `url` (`/help/slug#anchor`) with `from` and, if given, the query that led there, so the view is
/// counted as a click; the fragment stays last.
fn tracked(url: &str, from: ViewSource, query: Option<&str>) -> String {
    let (path, fragment) = url.split_once('#').map_or((url, ""), |(p, f)| (p, f));
    let mut out = format!("{path}?from={}", from.as_str());
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.push_str("&q=");
        out.extend(url::form_urlencoded::byte_serialize(q.as_bytes()));
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn hit_list(hits: &[HelpHit], from: ViewSource, query: Option<&str>) -> String {
    let mut out = String::from("<ul class=\"hits\">\n");
    for hit in hits {
        let section = hit
            .section
            .as_deref()
            .map(|s| format!("<div class=\"muted\">{}</div>", escape(s)))
            .unwrap_or_default();
        out.push_str(&format!(
            "<li class=\"hit\"><a href=\"{}\">{}</a>{section}<p class=\"snippet\">{}</p></li>\n",
            escape(&tracked(&hit.url, from, query)),
            escape(&hit.title),
            hit.snippet,
        ));
    }
    out.push_str("</ul>\n");
    out
}

/// The help box of a payment failure page (the checkout's, or any page paydesk renders for an error):
/// the suggested articles, linked so the click is counted.
pub fn render_suggestions(hits: &[HelpHit]) -> String {
    if hits.is_empty() {
        return String::new();
    }
    format!(
        "<section class=\"card help-suggestions\" aria-labelledby=\"help-suggestions\">\n\
         <h2 id=\"help-suggestions\">이렇게 해 보세요</h2>\n{}\
         <p class=\"muted\"><a href=\"/help\">도움말 센터에서 더 찾아보기</a></p>\n</section>",
        hit_list(hits, ViewSource::Suggest, None)
    )
}

fn search_form(query: &str) -> String {
    format!(
        "<form class=\"help-search\" action=\"/help/search\" method=\"get\" role=\"search\">\
         <input type=\"search\" name=\"q\" value=\"{}\" maxlength=\"{MAX_QUERY_CHARS}\" \
         placeholder=\"예: 결제창이 안 떠요, isp 비번\" aria-label=\"도움말 검색\" autocomplete=\"off\" \
         data-typeahead>\
         <button type=\"submit\">검색</button></form>\n\
         <div id=\"live-results\" aria-live=\"polite\"></div>\n",
        escape(query)
    )
}

/// Code and tables in articles keep their lines (a wrapped command or a squeezed table is wrong)
/// and scroll inside their own box, so they never widen a phone's page.
const ARTICLE_STYLE: &str = "<style>.help-article pre,.help-article .table-wrap{max-width:100%;\
overflow-x:auto;-webkit-overflow-scrolling:touch}\
.help-article pre{background:#f0f2f5;border-radius:8px;padding:12px;white-space:pre;overflow-wrap:normal;word-break:normal}\
.help-article table{border-collapse:collapse;min-width:100%}\
.help-article th,.help-article td{border:1px solid #e3e6ea;padding:6px 8px;text-align:left;vertical-align:top}\
.help-article td code,.help-article th code{white-space:nowrap}\
.help-article code,.help-article pre{font-size:14px}</style>\n";

fn page(title: &str, body: String, status: StatusCode) -> Response {
    Page::new(title, body)
        .with_head(ARTICLE_STYLE.to_string())
        .with_script(PAGE_JS.to_string())
        .into_response(status)
}

fn not_found(help: &HelpCenter) -> Response {
    let mut body = String::from(
        "<h1>도움말을 찾을 수 없어요</h1>\n<p class=\"muted\">주소가 바뀌었거나 없는 도움말입니다. \
         검색해 보세요.</p>\n",
    );
    body.push_str(&search_form(""));
    body.push_str(&article_list(
        "많이 찾는 도움말",
        help.popular(Audience::Shopper).take(MOST_READ),
    ));
    page("도움말을 찾을 수 없어요", body, StatusCode::NOT_FOUND)
}

fn article_list<'a>(heading: &str, articles: impl Iterator<Item = &'a Article>) -> String {
    let mut out = format!("<section class=\"card\"><h2>{}</h2><ul>\n", escape(heading));
    for article in articles {
        out.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            escape(&article.url(None)),
            escape(&article.title)
        ));
    }
    out.push_str("</ul></section>\n");
    out
}

#[handler]
async fn home(Data(state): Data<&AppState>) -> Response {
    let help = state.help.current();
    let since = OffsetDateTime::now_utc() - time::Duration::days(30);
    let viewed = match state
        .store
        .help_analytics()
        .most_viewed(since, MOST_READ as u64)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the most viewed help articles");
            Vec::new()
        }
    };
    // Most viewed first; until enough people have read, the most linked-to articles fill the list.
    let mut most_read: Vec<&Article> = viewed
        .iter()
        .filter_map(|row| help.article(&row.key))
        .filter(|a| Audience::Shopper.sees(&a.audience))
        .collect();
    for article in help.popular(Audience::Shopper) {
        if most_read.len() >= MOST_READ {
            break;
        }
        if !most_read.iter().any(|a| a.slug == article.slug) {
            most_read.push(article);
        }
    }
    let mut body = String::from(
        "<h1>도움말 센터</h1>\n<p class=\"muted\">결제가 안 될 때 궁금한 점을 입력해 보세요. \
         띄어쓰기나 맞춤법이 조금 달라도 찾아 드려요.</p>\n",
    );
    body.push_str(&search_form(""));
    body.push_str(&article_list("많이 본 도움말", most_read.into_iter()));
    body.push_str("<h2>분류별 도움말</h2>\n");
    for (id, label) in CATEGORIES {
        let mut articles = help
            .articles()
            .iter()
            .filter(|a| a.category == id && Audience::Shopper.sees(&a.audience))
            .peekable();
        if articles.peek().is_none() {
            continue;
        }
        body.push_str(&format!(
            "<section class=\"card\" id=\"cat-{id}\"><h3>{}</h3><ul>\n",
            escape(label)
        ));
        for article in articles {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a><div class=\"muted\">{}</div></li>\n",
                escape(&article.url(None)),
                escape(&article.title),
                escape(&article.summary)
            ));
        }
        body.push_str("</ul></section>\n");
    }
    body.push_str(
        "<p class=\"muted\"><a href=\"/help/developers\">가맹점 개발자 문서</a>는 따로 모아 두었습니다.</p>\n",
    );
    page("도움말 센터", body, StatusCode::OK)
}

/// The developer articles, apart from the shoppers' help centre (which never lists them).
#[handler]
async fn developers(Data(state): Data<&AppState>) -> Response {
    let help = state.help.current();
    let mut body = String::from(
        "<nav class=\"crumbs\"><a href=\"/help\">도움말 센터</a></nav>\n<h1>가맹점 개발자 문서</h1>\n\
         <p class=\"muted\">Innopay 결제창과 paydesk API를 연동하는 개발자를 위한 문서입니다. \
         API: <a href=\"/docs\">/docs</a>, 검색: <code>/v1/help/search?audience=developer</code>.</p>\n",
    );
    body.push_str(&article_list(
        "개발자 문서",
        help.articles()
            .iter()
            .filter(|a| Audience::Developer.sees(&a.audience)),
    ));
    page("가맹점 개발자 문서", body, StatusCode::OK)
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
}

#[handler]
async fn search_page(Data(state): Data<&AppState>, Query(params): Query<SearchParams>) -> Response {
    let query: String = params
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    if query.is_empty() {
        return Redirect::see_other("/help").into_response();
    }
    let results = state
        .help
        .current()
        .search(&query, Audience::Shopper, PAGE_HITS);
    state
        .search_log
        .record(&results, Some(Audience::Shopper), "page");
    let mut body = format!("<h1>‘{}’ 검색 결과</h1>\n", escape(&query));
    body.push_str(&search_form(&query));
    if results.fallback {
        body.push_str(&format!(
            "<p class=\"notice\">‘{}’에 맞는 도움말을 찾지 못했어요. 많이 찾는 도움말을 보여 드려요. \
             다른 말로 검색해 보세요.</p>\n",
            escape(&query)
        ));
    }
    body.push_str(&hit_list(&results.hits, ViewSource::Search, Some(&query)));
    body.push_str("<p><a href=\"/help\">도움말 센터 처음으로</a></p>\n");
    page(&format!("{query} - 도움말 검색"), body, StatusCode::OK)
}

#[derive(Deserialize)]
struct ArticleParams {
    from: Option<String>,
    q: Option<String>,
    feedback: Option<String>,
}

fn view_source(from: Option<&str>) -> ViewSource {
    match from {
        Some("search") => ViewSource::Search,
        Some("suggest") => ViewSource::Suggest,
        Some("widget") => ViewSource::Widget,
        Some("related") => ViewSource::Related,
        _ => ViewSource::Direct,
    }
}

#[handler]
async fn article_page(
    Data(state): Data<&AppState>,
    Path(slug): Path<String>,
    Query(params): Query<ArticleParams>,
) -> Response {
    let help = state.help.current();
    let Some(article) = help.article(&slug) else {
        return not_found(&help);
    };
    let query: Option<String> = params
        .q
        .map(|q| q.trim().chars().take(MAX_QUERY_CHARS).collect());
    super::log_unrecorded(
        state
            .store
            .help_analytics()
            .record_view(NewView {
                slug: &article.slug,
                anchor: None,
                query: query.as_deref().filter(|q| !q.is_empty()),
                source: view_source(params.from.as_deref()),
            })
            .await,
    );
    let thanks = params.feedback.as_deref() == Some("thanks");
    page(
        &article.title,
        article_body(&help, article, &state.public_url, thanks),
        StatusCode::OK,
    )
}

fn article_body(help: &HelpCenter, article: &Article, public_url: &str, thanks: bool) -> String {
    let mut body = format!(
        "<nav class=\"crumbs\"><a href=\"/help\">도움말 센터</a> › <a href=\"/help#cat-{}\">{}</a></nav>\n\
         <article class=\"help-article\">\n<h1>{}</h1>\n<p class=\"summary\">{}</p>\n",
        escape(&article.category),
        escape(super::article::category_label(&article.category)),
        escape(&article.title),
        escape(&article.summary),
    );
    let toc: Vec<String> = article
        .sections
        .iter()
        .filter_map(|s| {
            Some(format!(
                "<li><a href=\"#{}\">{}</a></li>",
                escape(s.anchor.as_deref()?),
                escape(s.heading.as_deref()?)
            ))
        })
        .collect();
    if toc.len() > 1 {
        body.push_str(&format!(
            "<nav class=\"toc card\" aria-label=\"목차\"><ol>{}</ol></nav>\n",
            toc.join("")
        ));
    }
    for section in &article.sections {
        if let (Some(anchor), Some(heading)) = (&section.anchor, &section.heading) {
            let permalink = format!("{public_url}{}", article.url(Some(anchor)));
            body.push_str(&format!(
                "<section class=\"help-section\" aria-labelledby=\"{a}\">\n\
                 <h2 id=\"{a}\">{h} <a class=\"anchor\" href=\"#{a}\" aria-label=\"이 부분 링크\">#</a></h2>\n\
                 <button type=\"button\" class=\"copy-link secondary\" data-copy=\"{p}\" hidden>링크 복사</button>\n",
                a = escape(anchor),
                h = escape(heading),
                p = escape(&permalink),
            ));
            body.push_str(&section.html);
            body.push_str("</section>\n");
        } else {
            body.push_str(&section.html);
        }
    }
    body.push_str("</article>\n");
    let related: Vec<&Article> = article
        .related
        .iter()
        .filter_map(|s| help.article(s))
        .collect();
    if !related.is_empty() {
        body.push_str("<section class=\"card related\"><h2>함께 보면 좋은 도움말</h2><ul>\n");
        for r in related {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                escape(&tracked(&r.url(None), ViewSource::Related, None)),
                escape(&r.title)
            ));
        }
        body.push_str("</ul></section>\n");
    }
    if thanks {
        body.push_str(
            "<p class=\"ok\" id=\"feedback\" role=\"status\">의견을 보내 주셔서 감사합니다. \
             도움말을 고치는 데 쓰겠습니다.</p>\n",
        );
    } else {
        body.push_str(&format!(
            "<form class=\"card feedback\" id=\"feedback\" method=\"post\" action=\"/help/{}/feedback\">\n\
             <h2>도움이 되었나요?</h2>\n\
             <label for=\"comment\" class=\"muted\">더 알려 주실 내용 (선택)</label>\n\
             <textarea id=\"comment\" name=\"comment\" rows=\"3\" maxlength=\"{MAX_COMMENT_CHARS}\"></textarea>\n\
             <div class=\"actions\"><button type=\"submit\" name=\"helpful\" value=\"yes\">네, 해결됐어요</button> \
             <button type=\"submit\" name=\"helpful\" value=\"no\" class=\"secondary\">아니요</button></div>\n\
             </form>\n",
            escape(&article.slug)
        ));
    }
    body
}

#[derive(Deserialize)]
struct FeedbackFields {
    helpful: Option<String>,
    comment: Option<String>,
}

fn feedback_failed(article: &Article, advice: &str, status: StatusCode) -> Response {
    let body = format!(
        "<h1>의견을 보내지 못했어요</h1>\n<p>{}</p>\n<p><a href=\"{}#feedback\">도움말로 돌아가기</a></p>\n",
        escape(advice),
        escape(&article.url(None))
    );
    page("의견을 보내지 못했어요", body, status)
}

#[handler]
async fn feedback_form(
    Data(state): Data<&AppState>,
    Path(slug): Path<String>,
    Form(fields): Form<FeedbackFields>,
) -> Response {
    let help = state.help.current();
    let Some(article) = help.article(&slug) else {
        return not_found(&help);
    };
    let helpful = match fields.helpful.as_deref() {
        Some("yes") => true,
        Some("no") => false,
        _ => {
            return feedback_failed(
                article,
                "‘네’ 또는 ‘아니요’를 눌러 주세요.",
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let comment: Option<String> = fields
        .comment
        .map(|c| c.trim().chars().take(MAX_COMMENT_CHARS).collect::<String>())
        .filter(|c| !c.is_empty());
    let recorded = state
        .store
        .help_analytics()
        .record_feedback(NewFeedback {
            slug: &article.slug,
            anchor: None,
            helpful,
            comment: comment.as_deref(),
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "cannot record help feedback");
        return feedback_failed(
            article,
            "잠시 후 다시 시도해 주세요.",
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    // Post/redirect/get: reloading the thank-you page does not send the answer twice.
    Redirect::see_other(format!("/help/{}?feedback=thanks#feedback", article.slug)).into_response()
}

#[handler]
fn widget_js() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header("cache-control", "public, max-age=300")
        .header("access-control-allow-origin", "*")
        .body(WIDGET_JS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracked_links_keep_the_fragment_last() {
        assert_eq!(
            tracked(
                "/help/isp-password#reset-steps",
                ViewSource::Search,
                Some("isp 비번 & 분실")
            ),
            "/help/isp-password?from=search&q=isp+%EB%B9%84%EB%B2%88+%26+%EB%B6%84%EC%8B%A4#reset-steps"
        );
        assert_eq!(
            tracked("/help/a", ViewSource::Related, None),
            "/help/a?from=related"
        );
    }
}
