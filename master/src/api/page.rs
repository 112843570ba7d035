//! Paging of list endpoints: `?page=&limit=` (1-based pages) or
//! `?offset=&limit=`. The limit defaults to `api.page_size` and is capped at
//! `api.max_page_size`; every list answer carries the total.

use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// The paging parameters of a request, as text so that a malformed value
/// gets a clear 400 instead of the framework's rejection.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<String>,
    /// Items per page.
    pub limit: Option<String>,
    /// Items to skip (instead of `page`).
    pub offset: Option<String>,
}

/// Which items a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageWindow {
    /// Items skipped.
    pub offset: u64,
    /// Items at most.
    pub limit: u64,
}

/// One page of a list, with the paging that produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Paged<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Items in the whole list.
    pub total: u64,
    /// The 1-based page these items are (the page `offset` falls in).
    pub page: u64,
    /// Items per page in force (after the cap).
    pub limit: u64,
    /// Items skipped before this page.
    pub offset: u64,
}

impl PageWindow {
    /// The page answer for `items` out of `total`.
    pub fn paged<T>(self, items: Vec<T>, total: u64) -> Paged<T> {
        Paged {
            items,
            total,
            page: self.offset / self.limit.max(1) + 1,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// Reads the paging of `query` with `default` and `max` items per page.
pub fn window(query: &PageQuery, default: u32, max: u32) -> Result<PageWindow, ApiError> {
    let max = u64::from(max.max(1));
    let limit = match number("limit", query.limit.as_deref())? {
        None => u64::from(default).clamp(1, max),
        Some(0) => {
            return Err(ApiError::BadRequest("limit must be at least 1".to_owned()));
        }
        Some(limit) => limit.min(max),
    };
    let page = number("page", query.page.as_deref())?;
    let offset = number("offset", query.offset.as_deref())?;
    let offset = match (page, offset) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either page or offset, not both".to_owned(),
            ));
        }
        (Some(0), None) => {
            return Err(ApiError::BadRequest("page starts at 1".to_owned()));
        }
        (Some(page), None) => (page - 1)
            .checked_mul(limit)
            .ok_or_else(|| ApiError::BadRequest(format!("page {page} is beyond any list")))?,
        (None, Some(offset)) => offset,
        (None, None) => 0,
    };
    Ok(PageWindow { offset, limit })
}

fn number(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    value.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name} {value:?} is not a whole number: give for example {name}=1"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(page: Option<&str>, limit: Option<&str>, offset: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(str::to_owned),
            limit: limit.map(str::to_owned),
            offset: offset.map(str::to_owned),
        }
    }

    #[test]
    fn defaults_and_caps() {
        let w = window(&query(None, None, None), 50, 500).expect("valid");
        assert_eq!(
            w,
            PageWindow {
                offset: 0,
                limit: 50
            }
        );
        let w = window(&query(None, Some("9999"), None), 50, 500).expect("valid");
        assert_eq!(w.limit, 500);
        let w = window(&query(None, None, None), 50, 20).expect("valid");
        assert_eq!(w.limit, 20, "the default never exceeds the cap");
    }

    #[test]
    fn pages_and_offsets() {
        let w = window(&query(Some("3"), Some("10"), None), 50, 500).expect("valid");
        assert_eq!(
            w,
            PageWindow {
                offset: 20,
                limit: 10
            }
        );
        let w = window(&query(None, Some("10"), Some("25")), 50, 500).expect("valid");
        assert_eq!(
            w,
            PageWindow {
                offset: 25,
                limit: 10
            }
        );
        let paged = w.paged(vec![1, 2], 27);
        assert_eq!((paged.page, paged.total, paged.offset), (3, 27, 25));
        let first = window(&query(Some("1"), None, None), 50, 500).expect("valid");
        assert_eq!(first.paged(Vec::<u8>::new(), 0).page, 1);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            query(Some("0"), None, None),
            query(Some("x"), None, None),
            query(None, Some("0"), None),
            query(None, Some("-1"), None),
            query(Some("1"), None, Some("0")),
            query(Some(&u64::MAX.to_string()), Some("10"), None),
        ] {
            assert!(
                matches!(window(&bad, 50, 500), Err(ApiError::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
