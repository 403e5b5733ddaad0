//! Security headers on every answer, and a Content-Security-Policy on every HTML page. The policy
//! allows this origin, the Innopay payment window's origin (its SDK, frames and forms) and exactly the
//! inline scripts the page itself carries, by hash: so markup that slipped past escaping could not run
//! a script, and no page can be framed by another site (clickjacking a "결제하기" button).

use std::sync::LazyLock;

use base64::Engine;
use poem::http::HeaderValue;
use poem::http::header::{CONTENT_TYPE, HeaderName};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

/// The `<script>` elements without attributes: the pages' own inline scripts.
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
        let body = response.take_body().into_bytes().await?;
        let policy = policy(&self.window_origin, &String::from_utf8_lossy(&body));
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
        response.set_body(Body::from_bytes(body));
        Ok(response)
    }
}

/// The policy for one HTML page.
fn policy(window_origin: &str, html: &str) -> String {
    let hashes: String = INLINE_SCRIPT
        .captures_iter(html)
        .map(|c| {
            let digest = Sha256::digest(c[1].as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' {window_origin}{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; \
         frame-src 'self' {window_origin}; form-action 'self' {window_origin}; \
         base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::policy;

    #[test]
    fn each_inline_script_is_allowed_by_its_hash_and_nothing_else_inline() {
        let page = "<script src=\"https://pg.innopay.co.kr/tpay/js/innopay.js\"></script>\
                    <script>alert(1)</script><p><script>\nlet a = 2;\n</script>";
        let csp = policy("https://pg.innopay.co.kr", page);
        // sha256("alert(1)") and sha256("\nlet a = 2;\n"), base64.
        assert!(
            csp.contains("'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"),
            "{csp}"
        );
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        let scripts = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!scripts.contains("unsafe-inline"), "{scripts}");
        assert!(csp.contains("script-src 'self' https://pg.innopay.co.kr"));
        assert!(csp.ends_with("frame-ancestors 'none'"));
    }
}
