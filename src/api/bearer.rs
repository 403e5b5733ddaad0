//! `Authorization: Bearer <token>` checked against a configured token, for the endpoints whose
//! callers are not storefronts (`/metrics`, `/v1/help/analytics`, the sandbox's control API).

use poem::Request;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `None` when the request has no bearer token; else whether it is `expected`.
pub fn bearer_matches(req: &Request, expected: &str) -> Option<bool> {
    let authorization = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    bearer_header_matches(authorization, expected)
}

/// The same for an `Authorization` header's value. Equal-length digests are compared in constant
/// time, so the time taken says nothing about how much of the token matched.
pub fn bearer_header_matches(authorization: Option<&str>, expected: &str) -> Option<bool> {
    let presented = authorization?.strip_prefix("Bearer ")?;
    let (presented, expected) = (
        Sha256::digest(presented.trim().as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    Some(bool::from(presented.as_slice().ct_eq(expected.as_slice())))
}
