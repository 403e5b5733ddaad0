//! The page size every list route of the API accepts: `limit`, 1 to 100, default 20.

use super::error::ApiError;

/// Most items one list call returns.
pub const MAX_PAGE: u32 = 100;

/// A `limit` outside 1 to `MAX_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidLimit;

/// The page size asked for, or the default.
pub fn page_limit(limit: Option<u32>) -> Result<u64, InvalidLimit> {
    let limit = limit.unwrap_or(20);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(u64::from(limit))
    } else {
        Err(InvalidLimit)
    }
}

impl From<InvalidLimit> for ApiError {
    fn from(_: InvalidLimit) -> Self {
        ApiError::invalid(
            "invalid_limit",
            "limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )
    }
}
