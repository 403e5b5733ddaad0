//! `Authorization: Bearer <token>` checked against a configured token, for the operator and content
//! team endpoints that are not storefront API keys (`/metrics`, `/v1/help/analytics`).

use poem::Request;
use sha2::{Digest, Sha256};

/// `None` when the request has no bearer token; else whether it is `expected`. Digests are compared,
/// so the time taken does not depend on how much of the token matched.
pub fn bearer_matches(req: &Request, expected: &str) -> Option<bool> {
    let presented = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    Some(Sha256::digest(presented.trim().as_bytes()) == Sha256::digest(expected.as_bytes()))
}
