//! Security headers on every answer, and a Content-Security-Policy on every HTML page. The policy
//! allows this origin, the Innopay payment window's origin (its SDK, frames and forms) and exactly the
//! inline scripts the page declared through `Page::with_script`, by hash: so markup that slipped past
//! escaping cannot run a script, and no page can be framed by another site (clickjacking a "결제하기"
//! button). HTML not built by `Page` (only the API reference at `/docs`, which carries no input) has
//! the scripts it is served with hashed instead.

use std::sync::LazyLock;

use base64::Engine;
use poem::http::HeaderValue;
use poem::http::header::{CONTENT_TYPE, HeaderName};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

/// The internal header by which `Page` tells this middleware its scripts' hashes; never sent out.
pub(super) const SCRIPT_HASHES: &str = "x-paydesk-script-hashes";

/// `'sha256-…'` of one inline script, as a CSP source.
pub(super) fn script_hash(js: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(js.as_bytes()))
    )
}

/// The `<script>` elements without attributes, for HTML not built by `Page`.
static INLINE_SCRIPT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?s)<script>(.*?)</script>").expect("valid pattern"));

pub struct SecurityHeaders {
    /// `https://pg.innopay.co.kr`, or this server's own origin with the built-in sandbox.
    window_origin: String,
}

impl SecurityHeaders {
    /// `sdk_url` is where the payment window's SDK is loaded from.
    pub fn new(sdk_url: &url::Url) -> Self {
        Self {
            window_origin: sdk_url.origin().ascii_serialization(),
        }
    }
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint {
            inner: ep,
            window_origin: self.window_origin.clone(),
        }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    window_origin: String,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let mut response = self.inner.call(req).await?.into_response();
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        );
        let html = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if !html {
            return Ok(response);
        }
        let declared = headers
            .remove(SCRIPT_HASHES)
            .and_then(|v| v.to_str().ok().map(str::to_string));
        let hashes = match declared {
            Some(hashes) => hashes,
            None => {
                let body = response.take_body().into_bytes().await?;
                let hashes = served_script_hashes(&String::from_utf8_lossy(&body));
                response.set_body(Body::from_bytes(body));
                hashes
            }
        };
        let policy = policy(&self.window_origin, &hashes);
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_str(&policy).expect("the policy is ASCII"),
        );
        headers.insert(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        );
        // Checkout and return URLs carry ids and Innopay's query: other sites get the origin only.
        headers.insert(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        Ok(response)
    }
}

fn served_script_hashes(html: &str) -> String {
    INLINE_SCRIPT
        .captures_iter(html)
        .map(|c| script_hash(&c[1]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The policy for one HTML page whose inline scripts have these hashes.
fn policy(window_origin: &str, hashes: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' {window_origin} {hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; \
         frame-src 'self' {window_origin}; form-action 'self' {window_origin}; \
         base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::{SCRIPT_HASHES, policy, served_script_hashes};
    use crate::pages::Page;

    #[test]
    fn a_page_allows_exactly_the_scripts_it_declared() {
        // The body carries a script that slipped past escaping; only the declared one is named.
        let page = Page::new("t", "<script>alert(1)</script>".into())
            .with_script("let a = 2;".into())
            .into_response(poem::http::StatusCode::OK);
        let hashes = page.headers()[SCRIPT_HASHES].to_str().unwrap().to_string();
        // sha256("let a = 2;") and sha256("alert(1)"), base64.
        assert_eq!(
            hashes,
            "'sha256-5yyPedEDd3N1rLc8FBGnmhO44/FSKSVXrrWULzJJRO4='"
        );
        assert!(!hashes.contains("bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI="));
        let csp = policy("https://pg.innopay.co.kr", &hashes);
        let scripts = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert_eq!(
            scripts.trim(),
            "script-src 'self' https://pg.innopay.co.kr 'sha256-5yyPedEDd3N1rLc8FBGnmhO44/FSKSVXrrWULzJJRO4='"
        );
        assert!(csp.ends_with("frame-ancestors 'none'"));
    }

    #[test]
    fn html_served_otherwise_has_its_inline_scripts_hashed() {
        let hashes = served_script_hashes(
            "<script src=\"/x.js\"></script><script>alert(1)</script><script>\nlet a = 2;\n</script>",
        );
        assert_eq!(hashes.matches("'sha256-").count(), 2, "{hashes}");
        assert!(hashes.contains("'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"));
    }
}
