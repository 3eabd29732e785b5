//! `multipart/form-data` bodies (forms with a file), read with `multer`.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};

use crate::layout::UiError;

/// A form's text fields, in order, and its first file.
pub(crate) struct Form {
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) file: Option<(String, Bytes)>,
}

/// The reader of a multipart body.
pub(crate) fn reader(
    headers: &HeaderMap,
    body: Body,
) -> Result<multer::Multipart<'static>, UiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| UiError::BadRequest("the form was not sent as multipart/form-data".into()))?;
    Ok(multer::Multipart::new(body.into_data_stream(), boundary))
}

fn broken(e: multer::Error) -> UiError {
    UiError::BadRequest(format!("the form could not be read: {e}"))
}

/// Reads the whole form; the file is kept in memory and refused above `max_file_bytes`.
pub(crate) async fn collect(
    headers: &HeaderMap,
    body: Body,
    max_file_bytes: usize,
) -> Result<Form, UiError> {
    let mut m = reader(headers, body)?;
    let mut form = Form {
        fields: Vec::new(),
        file: None,
    };
    while let Some(mut field) = m.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or("").to_owned();
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            let mut data = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                if data.len() + chunk.len() > max_file_bytes {
                    return Err(UiError::BadRequest(format!(
                        "the file is larger than {} MB, the limit of this page",
                        max_file_bytes / (1024 * 1024)
                    )));
                }
                data.extend_from_slice(&chunk);
            }
            if form.file.is_none() && !(file_name.is_empty() && data.is_empty()) {
                form.file = Some((file_name, data.freeze()));
            }
        } else {
            let text = field.text().await.map_err(broken)?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}

/// The value of the first field called `name`, or "".
pub(crate) fn value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}
