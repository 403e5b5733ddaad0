//! Shared building blocks of the server-rendered HTML pages (checkout, result, help centre, sandbox):
//! one Korean, phone-first layout and the escaping every interpolated value must go through. Pages work
//! without JavaScript; scripts only add to them.

mod security;

pub use security::SecurityHeaders;
use security::{SCRIPT_HASHES, script_hash};

use poem::Response;
use poem::http::StatusCode;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    out
}

/// `escape`, appended to `out`: runs without a special character are copied whole, which matters
/// for Korean text (every search snippet goes through here).
pub fn escape_into(out: &mut String, text: &str) {
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The special characters are ASCII, so `i` is a character boundary.
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// A JSON value safe to place inside a `<script>` element: `<`, `>` and `&` are written as `\u003c`
/// etc., so no value can close the element or open a comment, and U+2028/9 cannot end a JS line.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Formats a KRW amount the way Korean shops print it: `20,000 원`.
pub fn format_won(amount: i64) -> String {
    format!("{} 원", crate::domain::grouped(amount))
}

/// A stored amount as shoppers and operators read it, in its payment's currency: `20,000 원`,
/// `$12.34` (`Price::text`).
pub fn format_money(currency: crate::domain::Currency, units: i64) -> String {
    crate::domain::Price::new(currency, units).map_or_else(
        |_| format!("{units} {currency}"),
        crate::domain::Price::text,
    )
}

/// A complete HTML page. `body` must already be escaped HTML.
pub struct Page<'a> {
    pub title: &'a str,
    pub body: String,
    /// Extra markup for `<head>` (page-specific scripts or styles), already safe.
    pub head: String,
    /// A notice shown above everything (the sandbox banner).
    pub banner: Option<&'a str>,
    /// The page's own inline scripts: the only ones its Content-Security-Policy lets run.
    scripts: Vec<String>,
}

impl<'a> Page<'a> {
    pub fn new(title: &'a str, body: String) -> Self {
        Self {
            title,
            body,
            head: String::new(),
            banner: None,
            scripts: Vec::new(),
        }
    }

    /// Adds an inline script (the JavaScript itself, without the element). Scripts anywhere else
    /// in the page do not run: the policy names these by hash, so markup that slipped past
    /// escaping cannot add one.
    pub fn with_script(mut self, js: String) -> Self {
        self.scripts.push(js);
        self
    }

    pub fn with_head(mut self, head: String) -> Self {
        self.head = head;
        self
    }

    pub fn with_banner(mut self, banner: &'a str) -> Self {
        self.banner = Some(banner);
        self
    }

    pub fn render(&self) -> String {
        let banner = self
            .banner
            .map(|b| format!("<div class=\"banner\" role=\"note\">{}</div>", escape(b)))
            .unwrap_or_default();
        format!(
            "<!doctype html>\n<html lang=\"ko\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n{head}{scripts}</head>\n<body>\n{banner}\
             <main>\n{body}\n</main>\n</body>\n</html>\n",
            title = escape(self.title),
            head = self.head,
            scripts = self
                .scripts
                .iter()
                .map(|js| format!("<script>{js}</script>\n"))
                .collect::<String>(),
            body = self.body,
        )
    }

    /// The page as a poem response with the given status.
    pub fn into_response(self, status: StatusCode) -> Response {
        Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header(
                SCRIPT_HASHES,
                self.scripts
                    .iter()
                    .map(|js| script_hash(js))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .body(self.render())
    }
}

/// One stylesheet for every page: readable on a 360 px phone, no external fonts or assets.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,'Apple SD Gothic Neo','Noto Sans CJK KR','Noto Sans KR','Malgun Gothic',sans-serif;color:#1f2328;background:#f6f7f9;line-height:1.6;word-break:keep-all;overflow-wrap:anywhere}\
main{max-width:720px;margin:0 auto;padding:16px}\
h1{font-size:1.4rem;margin:.4em 0}h2{font-size:1.15rem;margin:1.4em 0 .4em}\
a{color:#0b57d0}\
.card{background:#fff;border:1px solid #e3e6ea;border-radius:12px;padding:16px;margin:12px 0}\
.banner{background:#fff4ce;color:#5c4400;border-bottom:1px solid #f0d88a;padding:8px 16px;text-align:center;font-size:.9rem}\
.amount{font-size:1.5rem;font-weight:700}\
.muted{color:#59636e;font-size:.9rem}\
button,.button{display:inline-block;min-height:44px;padding:10px 18px;border:0;border-radius:10px;background:#0b57d0;color:#fff;font-size:1rem;text-decoration:none;cursor:pointer}\
button.secondary,.button.secondary{background:#e8eaed;color:#1f2328}\
input,select{font-size:1rem;min-height:44px;padding:8px 10px;border:1px solid #c9ced4;border-radius:8px;width:100%}\
.error{background:#fdecea;border:1px solid #f5c2bd;color:#7a1c12;border-radius:10px;padding:12px}\
.ok{background:#e7f5ec;border:1px solid #b7e0c4;color:#185c2e;border-radius:10px;padding:12px}\
mark{background:#ffe48a;padding:0 1px}\
textarea{font:inherit;font-size:1rem;padding:8px 10px;border:1px solid #c9ced4;border-radius:8px;width:100%}\
.help-search{display:flex;gap:8px;margin:12px 0}.help-search input{flex:1}\
.hits{list-style:none;padding:0;margin:8px 0}.hit{background:#fff;border:1px solid #e3e6ea;border-radius:12px;padding:12px 16px;margin:8px 0}\
.hit>a{font-weight:600}.snippet{margin:4px 0 0;color:#3d444d;font-size:.95rem}\
.notice{background:#eef4ff;border:1px solid #c6d8fb;border-radius:10px;padding:12px}\
.crumbs{font-size:.9rem;color:#59636e}.summary{font-size:1.05rem;color:#3d444d}\
.toc ol{margin:0;padding-left:1.2em}.help-section{scroll-margin-top:12px}\
h2 .anchor{color:#8c959f;text-decoration:none;font-weight:400}.copy-link{min-height:36px;padding:6px 12px;font-size:.9rem}\
.actions{display:flex;gap:8px;margin-top:8px;flex-wrap:wrap}\
.next{display:flex;flex-direction:column;gap:8px;margin:20px 0}.next .button{text-align:center}\
.methods{border:1px solid #e3e6ea}.methods legend{font-weight:600;padding:0 4px}\
.method{display:flex;align-items:center;gap:10px;min-height:48px;padding:8px 4px;border-top:1px solid #eef0f2;cursor:pointer}\
.method:first-of-type{border-top:0}.method input{width:22px;height:22px;min-height:0;margin:0;flex:none}\
.progress{display:flex;align-items:center;gap:12px}\
.spinner{flex:none;width:28px;height:28px;border:3px solid #c6d8fb;border-top-color:#0b57d0;border-radius:50%;animation:spin 1s linear infinite}\
@keyframes spin{to{transform:rotate(360deg)}}@media (prefers-reduced-motion:reduce){.spinner{animation:none}}\
.steps{margin:8px 0 0;padding-left:1.2em}.steps .done{color:#185c2e}.steps .now{font-weight:600}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px}dt{color:#59636e}dd{margin:0}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let value = serde_json::json!({"name": "</script><!-- & \u{2028}"});
        let text = script_json(&value);
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains('&'),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn formats_won_with_thousands_separators() {
        assert_eq!(format_won(20000), "20,000 원");
        assert_eq!(format_won(300000), "300,000 원");
        assert_eq!(format_won(999), "999 원");
        assert_eq!(format_won(1234567), "1,234,567 원");
        assert_eq!(format_won(0), "0 원");
    }
}
