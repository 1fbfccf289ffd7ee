//! The console's static files, embedded in the binary: the vendored htmx (see
//! `assets/README.md` for its version, SHA-256 and licence), our one stylesheet and our
//! small script (copy buttons, the destroy confirmation). Each is served under a name
//! that carries a hash of its content, so it can be cached for a year; a new build with
//! changed bytes has new names.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("../../assets/console.css");
const JS: &[u8] = include_bytes!("../../assets/console.js");

/// The URL paths of the assets, with their content hashes.
pub struct Names {
    pub htmx: &'static str,
    pub css: &'static str,
    pub js: &'static str,
}

struct Asset {
    path: &'static str,
    etag: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let hash = blake3::hash(bytes).to_hex();
    let short = &hash.as_str()[..12];
    Asset {
        path: Box::leak(format!("/ui/assets/{stem}-{short}.{ext}").into_boxed_str()),
        etag: format!("\"{hash}\""),
        bytes,
        content_type,
    }
}

fn all() -> &'static [Asset; 3] {
    static ALL: OnceLock<[Asset; 3]> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            hashed("htmx", "min.js", HTMX, "text/javascript; charset=utf-8"),
            hashed("console", "css", CSS, "text/css; charset=utf-8"),
            hashed("console", "js", JS, "text/javascript; charset=utf-8"),
        ]
    })
}

/// The asset paths pages link to.
pub fn names() -> Names {
    let [htmx, css, js] = all();
    Names {
        htmx: htmx.path,
        css: css.path,
        js: js.path,
    }
}

/// `GET /ui/assets/{name}`: the asset with a year of caching, or 404.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/ui/assets/{name}");
    let Some(a) = all().iter().find(|a| a.path == path) else {
        return super::error::ConsoleError::NotFound.into_response();
    };
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let etag = HeaderValue::from_str(&a.etag).unwrap_or(HeaderValue::from_static("\"\""));
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == a.etag.as_bytes())
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::CACHE_CONTROL, cache), (header::ETAG, etag)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (header::CACHE_CONTROL, cache),
            (header::ETAG, etag),
        ],
        a.bytes,
    )
        .into_response()
}
