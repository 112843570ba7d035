//! The pool's web page: one HTML shell, one script and one stylesheet
//! (`master/web/`), embedded in the binary and served by the API. The shell
//! answers every page path (`/`, `/blocks`, `/payments`, `/connect`,
//! `/miners/{address}`); the script routes by path and draws from the JSON
//! API. Assets are gzipped once at first use and sent compressed to clients
//! that accept it; the shell names them with a content hash (`?v=`), so they
//! are cached for a year, while the shell is revalidated by its ETag.

use std::sync::LazyLock;

use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page's sources, as written.
const SHELL: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");

/// What the page may load: only itself (no CDN, no inline script).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Cache time of the hashed assets: a year (a new build names new ones).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file, ready to send.
#[derive(Debug)]
pub struct Asset {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes as written.
    pub plain: Vec<u8>,
    /// The same, gzipped.
    pub gzipped: Vec<u8>,
    /// A strong ETag of the content (quoted).
    pub etag: String,
}

impl Asset {
    fn new(content_type: &'static str, body: String) -> Asset {
        let digest = blake3::hash(body.as_bytes()).to_hex();
        let etag = format!("\"{}\"", &digest.as_str()[..16]);
        let gzipped = gzip(body.as_bytes());
        Asset {
            content_type,
            plain: body.into_bytes(),
            gzipped,
            etag,
        }
    }

    /// The content hash the shell puts in the asset's URL.
    pub fn version(&self) -> &str {
        self.etag.trim_matches('"')
    }

    /// The response to a request with `headers`: 304 when the client holds
    /// this version, else the body (gzipped when accepted).
    fn respond(&self, headers: &HeaderMap, cache_control: &'static str) -> Response {
        let mut response = if fresh(headers, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else if accepts_gzip(headers) {
            let mut response = self.gzipped.clone().into_response();
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        } else {
            self.plain.clone().into_response()
        };
        let out = response.headers_mut();
        out.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        out.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
        out.insert(VARY, HeaderValue::from_static("accept-encoding"));
        out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            out.insert(ETAG, etag);
        }
        response
    }
}

/// The three files of the page.
#[derive(Debug)]
pub struct WebAssets {
    /// `index.html`, with the assets' versions filled in.
    pub shell: Asset,
    /// `app.js`.
    pub script: Asset,
    /// `app.css`.
    pub style: Asset,
}

/// The assets, prepared at first use.
pub static ASSETS: LazyLock<WebAssets> = LazyLock::new(|| {
    let script = Asset::new("text/javascript; charset=utf-8", SCRIPT.to_owned());
    let style = Asset::new("text/css; charset=utf-8", STYLE.to_owned());
    let shell = SHELL
        .replace("{{script_version}}", script.version())
        .replace("{{style_version}}", style.version());
    WebAssets {
        shell: Asset::new("text/html; charset=utf-8", shell),
        script,
        style,
    }
});

/// Every page path: the shell, revalidated on each visit.
pub async fn shell(headers: HeaderMap) -> Response {
    let mut response = ASSETS.shell.respond(&headers, "no-cache");
    let out = response.headers_mut();
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    out.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// `/assets/app.js`.
pub async fn script(headers: HeaderMap) -> Response {
    ASSETS.script.respond(&headers, IMMUTABLE)
}

/// `/assets/app.css`.
pub async fn style(headers: HeaderMap) -> Response {
    ASSETS.style.respond(&headers, IMMUTABLE)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail; on the impossible error, send it plain.
    match encoder.write_all(bytes).and_then(|()| encoder.finish()) {
        Ok(gzipped) => gzipped,
        Err(_) => bytes.to_vec(),
    }
}

/// Whether `Accept-Encoding` allows gzip (a `q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_shell_names_the_hashed_assets() {
        let shell = String::from_utf8(ASSETS.shell.plain.clone()).expect("utf-8");
        assert!(shell.contains(&format!("/assets/app.js?v={}", ASSETS.script.version())));
        assert!(shell.contains(&format!("/assets/app.css?v={}", ASSETS.style.version())));
        assert!(!shell.contains("{{"));
    }

    #[test]
    fn gzipped_assets_inflate_to_the_sources() {
        for asset in [&ASSETS.shell, &ASSETS.script, &ASSETS.style] {
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(asset.gzipped.as_slice())
                .read_to_end(&mut inflated)
                .expect("inflates");
            assert_eq!(inflated, asset.plain);
            assert!(asset.gzipped.len() < asset.plain.len());
        }
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br;q=1.0, GZIP;q=0.5"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "br")])));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_known_etag_is_not_modified() {
        let etag = ASSETS.script.etag.clone();
        let mut map = HeaderMap::new();
        map.insert(IF_NONE_MATCH, HeaderValue::from_str(&etag).expect("ascii"));
        let response = ASSETS.script.respond(&map, IMMUTABLE);
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let response = ASSETS
            .script
            .respond(&headers(&[("if-none-match", "\"other\"")]), IMMUTABLE);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get(CACHE_CONTROL)
                .map(HeaderValue::as_bytes),
            Some(IMMUTABLE.as_bytes())
        );
    }
}
