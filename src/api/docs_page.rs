//! The API reference at `/docs` and the quickstart at `/docs/quickstart`. poem-openapi's own Swagger
//! UI page has no viewport meta (a phone lays it out at 980 px), is titled "Swagger UI" and inlines
//! its 1 MB bundle in a `<script charset=...>` that the Content-Security-Policy does not hash, so this
//! page replaces it: the same bundled Swagger UI assets (taken from poem-openapi's page at start-up,
//! nothing fetched from a CDN or at run time) served as files from this origin, which `script-src
//! 'self'` allows, a phone-sized layout, and a link to the quickstart.
//!
//! The quickstart is `docs/QUICKSTART.md` compiled in and rendered with pulldown-cmark, so the page a
//! running server shows always matches that binary's API (a link to a repository could show a newer
//! or older version, and needs the network).

use poem::endpoint::make_sync;
use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use poem::web::Html;
use poem::{Endpoint, IntoResponse, Response, Route};

const QUICKSTART_MD: &str = include_str!("../../docs/QUICKSTART.md");

/// Where the quickstart is served (linked from the reference page).
pub const QUICKSTART_PATH: &str = "/docs/quickstart";

/// Starts Swagger UI on the served document; a file, not inline, so the CSP needs no hash for it.
const INIT_JS: &str = r#"window.addEventListener('load', function () {
  SwaggerUIBundle({
    dom_id: '#ui',
    url: '/openapi.json',
    deepLinking: true,
    filter: false,
  });
});
"#;

/// Swagger UI assumes a desktop width; these let it wrap and scroll inside its own boxes instead.
const PHONE_CSS: &str = r#"
html, body { margin: 0; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.paydesk-bar { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline;
  padding: 12px 16px; background: #1b2a3a; color: #fff; font-size: 16px; }
.paydesk-bar strong { font-size: 18px; }
.paydesk-bar a { color: #9fd2ff; font-weight: 600; }
.swagger-ui .wrapper { padding: 0 12px; box-sizing: border-box; max-width: 100%; }
.swagger-ui .information-container, .swagger-ui .info { margin: 16px 0; }
.swagger-ui .info .title { font-size: 28px; word-break: break-word; }
.swagger-ui .info .title small { vertical-align: middle; }
.swagger-ui .scheme-container { padding: 12px 0; }
.swagger-ui .scheme-container .schemes { flex-wrap: wrap; }
.swagger-ui select { max-width: 100%; }
.swagger-ui .opblock-tag { flex-wrap: wrap; word-break: break-word; }
.swagger-ui .opblock .opblock-summary { flex-wrap: wrap; }
.swagger-ui .opblock .opblock-summary-path,
.swagger-ui .opblock .opblock-summary-path__deprecated,
.swagger-ui .opblock .opblock-summary-description { min-width: 0; word-break: break-all; flex-shrink: 1; }
.swagger-ui .opblock .opblock-summary-control { min-width: 0; flex-wrap: wrap; }
.swagger-ui pre, .swagger-ui .highlight-code, .swagger-ui .model-box, .swagger-ui .table-container,
.swagger-ui .responses-inner, .swagger-ui .markdown { max-width: 100%; overflow-x: auto; }
.swagger-ui table { display: block; max-width: 100%; overflow-x: auto; }
.swagger-ui .markdown code, .swagger-ui .renderedMarkdown code { word-break: break-word; white-space: normal; }
"#;

/// The reference page. No inline script: the CSP allows scripts from this origin only.
fn reference_html() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paydesk API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<style>{PHONE_CSS}</style>
</head>
<body>
<header class="paydesk-bar"><strong>paydesk API</strong>
<a id="quickstart-link" href="{QUICKSTART_PATH}">Quickstart: a test payment in ten minutes</a></header>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#
    )
}

fn quickstart_html() -> String {
    let parser =
        pulldown_cmark::Parser::new_ext(QUICKSTART_MD, pulldown_cmark::Options::ENABLE_TABLES);
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, parser);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paydesk quickstart</title>
<style>
body {{ margin: 0 auto; max-width: 46rem; padding: 16px; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b2a3a; }}
pre {{ overflow-x: auto; background: #f4f6f8; padding: 12px; border-radius: 6px; font-size: 14px; }}
code {{ font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; word-break: break-word; }}
pre code {{ word-break: normal; }}
a {{ color: #0b5cad; }}
</style>
</head>
<body>
<p><a href="/docs">← paydesk API reference</a></p>
{body}
</body>
</html>
"#
    )
}

/// The part of `html` between `start` and the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .map(|i| i + start.len())
        .expect("poem-openapi's Swagger UI page has its assets inline");
    let to = html[from..].find(end).expect("the inline asset ends") + from;
    &html[from..to]
}

fn asset(content_type: &'static str, body: String) -> impl Endpoint + 'static {
    make_sync(move |_| {
        Response::builder()
            .header(CONTENT_TYPE, content_type)
            // The assets change only with the binary; an hour spares phones the 1 MB on each visit.
            .header(CACHE_CONTROL, "public, max-age=3600")
            .body(body.clone())
            .into_response()
    })
}

/// The routes nested at `/docs`, given poem-openapi's Swagger UI page (`swagger_ui_html()`), whose
/// inline stylesheet and bundle are served here as files.
pub fn routes(swagger_ui_html: &str) -> Route {
    let css = between(swagger_ui_html, r#"<style charset="UTF-8">"#, "</style>").to_string();
    let js = between(swagger_ui_html, r#"<script charset="UTF-8">"#, "</script>").to_string();
    let page = reference_html();
    let quickstart = quickstart_html();
    Route::new()
        .at("/", make_sync(move |_| Html(page.clone())))
        .at("/quickstart", make_sync(move |_| Html(quickstart.clone())))
        .at("/swagger-ui.css", asset("text/css; charset=utf-8", css))
        .at(
            "/swagger-ui-bundle.js",
            asset("text/javascript; charset=utf-8", js),
        )
        .at(
            "/init.js",
            asset("text/javascript; charset=utf-8", INIT_JS.to_string()),
        )
}

#[cfg(test)]
mod tests {
    use super::{between, routes};

    #[test]
    fn the_bundled_assets_are_found_in_poem_openapis_page() {
        let html = poem_openapi::OpenApiService::new((), "t", "1").swagger_ui_html();
        let css = between(&html, r#"<style charset="UTF-8">"#, "</style>");
        let js = between(&html, r#"<script charset="UTF-8">"#, "</script>");
        assert!(css.contains(".swagger-ui"), "{:.100}", css);
        assert!(js.contains("SwaggerUIBundle") && js.len() > 100_000);
        let _ = routes(&html);
    }
}
