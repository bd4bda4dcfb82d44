//! The `flaky-fetch` task: fetches a page from a server that times out on
//! the first attempts, for trying retry controllers. A controller such as
//! `transient-retry` provides the `attempt` number; the fetch fails with the
//! transient kind `net.timeout` while `attempt` is below `fail_until` and
//! succeeds from then on.
//!
//! Nothing is fetched (the sandbox has no network): the page is a record of
//! the URL and the attempt that got it, so a flow's results are the same on
//! every run.

use taskbox_sdk::prelude::*;

/// The URL fetched when the flow gives none.
pub const DEFAULT_URL: &str = "https://example.org/";

/// What a successful fetch provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The URL that was fetched.
    pub url: String,
    /// The attempt that fetched it.
    pub attempt: u32,
}

/// Fetches `url` (default `https://example.org/`) on attempt `attempt`.
///
/// Fails with `net.timeout` while `attempt < fail_until`.
#[task(provides = "page")]
fn flaky_fetch(attempt: u32, fail_until: u32, url: Option<String>) -> Result<Page, Failure> {
    let url = url.unwrap_or_else(|| DEFAULT_URL.to_owned());
    if attempt < fail_until {
        return Err(Failure::new(
            "net.timeout",
            format!("attempt {attempt} of fetching {url} timed out"),
        ));
    }
    info(&format!("fetched {url} on attempt {attempt}"));
    Ok(Page { url, attempt })
}
