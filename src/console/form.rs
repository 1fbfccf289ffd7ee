//! Form bodies: `application/x-www-form-urlencoded` or `multipart/form-data` (file
//! fields), as ordered name/value pairs. A file part is read as UTF-8 text (keys,
//! config files); anything else is refused.
//!
//! **Invariant:** values are held in [`Zeroizing`] strings (they may be secrets) and no
//! error repeats a value.

use super::error::ConsoleError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use zeroize::Zeroizing;

/// A submitted form.
#[derive(Default)]
pub struct Form {
    pairs: Vec<(String, Zeroizing<String>)>,
}

impl Form {
    /// A form of these pairs (tests, re-rendering).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v)))
                .collect(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, when not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|s| !s.is_empty())
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|_| ConsoleError::BadRequest("cannot read the form".into()))?;
            let bytes = Zeroizing::new(bytes.to_vec());
            let pairs = form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect();
            return Ok(Form { pairs });
        }
        let mut mp = Multipart::from_request(req, state)
            .await
            .map_err(|_| ConsoleError::BadRequest("cannot read the form".into()))?;
        let mut pairs = Vec::new();
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|_| ConsoleError::BadRequest("cannot read the form".into()))?
        {
            let name = field.name().unwrap_or_default().to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|_| ConsoleError::BadRequest("cannot read the form".into()))?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                ConsoleError::BadRequest(format!(
                    "{} must be a text file (UTF-8)",
                    name.chars().take(64).collect::<String>()
                ))
            })?;
            pairs.push((name, Zeroizing::new(text)));
        }
        Ok(Form { pairs })
    }
}
