//! Reading a CSV object from S3 (or anything that speaks its API: MinIO, moto, s3s).
//!
//! The client speaks plain HTTP only: no TLS stack is compiled in, so the endpoint is explicit
//! (`http://…`), requests are path-style when asked (`force_path_style`, what MinIO and moto
//! expect) and the credentials are static. An object is read as a stream; when the stream breaks
//! it is reopened where it stopped with a `Range` request pinned to the object's `ETag`, up to
//! [`MAX_RESUMES`] times, so a long read survives a dropped connection but never mixes versions.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
pub use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::batch::ChunkSource;

/// How many times one object read is resumed after its stream broke.
pub const MAX_RESUMES: u32 = 3;

/// Where S3 is and how to sign for it.
#[derive(Clone)]
pub struct S3Settings {
    /// `http://host:port`.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `http://endpoint/bucket/key` rather than `http://bucket.endpoint/key`.
    pub force_path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("force_path_style", &self.force_path_style)
            .finish()
    }
}

/// Why an S3 client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum S3SetupError {
    #[error(
        "s3 endpoint {0:?} is not a plain http url: this build speaks http only \
         (MinIO, moto, or a TLS-terminating proxy in front of S3)"
    )]
    NotHttp(String),
}

/// Builds the client. Nothing is contacted here.
pub fn client(settings: &S3Settings) -> Result<Client, S3SetupError> {
    if !settings.endpoint.starts_with("http://") {
        return Err(S3SetupError::NotHttp(settings.endpoint.clone()));
    }
    let credentials = Credentials::new(
        &settings.access_key_id,
        &settings.secret_access_key,
        None,
        None,
        "spend-static",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .credentials_provider(credentials)
        .endpoint_url(&settings.endpoint)
        .force_path_style(settings.force_path_style)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Ok(Client::from_conf(config))
}

/// Why an object cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3Error {
    #[error("no such bucket or object")]
    NotFound,
    #[error("access to the object is denied")]
    Denied,
    #[error("the object changed while it was read")]
    Changed,
    #[error("s3 unavailable: {0}")]
    Unavailable(String),
}

fn classify<E>(err: SdkError<E, HttpResponse>) -> S3Error
where
    E: std::error::Error + 'static,
{
    match err.raw_response().map(|r| r.status().as_u16()) {
        Some(404) => S3Error::NotFound,
        Some(403) => S3Error::Denied,
        Some(412) => S3Error::Changed,
        _ => S3Error::Unavailable(DisplayErrorContext(&err).to_string()),
    }
}

/// An object about to be read.
#[derive(Clone, Debug)]
pub(crate) struct S3Object {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) size: u64,
    etag: Option<String>,
}

/// Looks the object up: its size and version.
pub(crate) async fn head(client: &Client, bucket: &str, key: &str) -> Result<S3Object, S3Error> {
    let out = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(classify)?;
    Ok(S3Object {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        etag: out.e_tag().map(str::to_owned),
    })
}

/// Streams an object's bytes, resuming after a broken stream.
pub(crate) struct ObjectReader {
    client: Client,
    object: S3Object,
    pos: u64,
    body: Option<ByteStream>,
    resumes_left: u32,
}

impl ObjectReader {
    pub(crate) fn new(client: Client, object: S3Object) -> Self {
        ObjectReader {
            client,
            object,
            pos: 0,
            body: None,
            resumes_left: MAX_RESUMES,
        }
    }

    async fn open(&self) -> Result<ByteStream, S3Error> {
        let mut get = self
            .client
            .get_object()
            .bucket(&self.object.bucket)
            .key(&self.object.key);
        if let Some(etag) = &self.object.etag {
            get = get.if_match(etag);
        }
        if self.pos > 0 {
            get = get.range(format!("bytes={}-", self.pos));
        }
        Ok(get.send().await.map_err(classify)?.body)
    }

    /// A broken stream: resume if allowed, else the error to report.
    fn broke(&mut self, why: String) -> Result<(), String> {
        self.body = None;
        if self.resumes_left == 0 {
            return Err(why);
        }
        self.resumes_left -= 1;
        tracing::warn!(
            bucket = %self.object.bucket,
            key = %self.object.key,
            at = self.pos,
            error = %why,
            "s3 read broke off; resuming"
        );
        Ok(())
    }
}

impl ChunkSource for ObjectReader {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
        loop {
            if self.pos >= self.object.size {
                return None;
            }
            let body = match &mut self.body {
                Some(body) => body,
                None => match self.open().await {
                    Ok(body) => self.body.insert(body),
                    Err(e @ S3Error::Unavailable(_)) => {
                        if let Err(why) = self.broke(e.to_string()) {
                            return Some(Err(why));
                        }
                        continue;
                    }
                    Err(e) => return Some(Err(e.to_string())),
                },
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    // Never read past the size the object had when the batch started.
                    let room = self.object.size - self.pos;
                    let chunk = if chunk.len() as u64 > room {
                        chunk.slice(..room as usize)
                    } else {
                        chunk
                    };
                    self.pos += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => {
                    if let Err(why) = self.broke(DisplayErrorContext(&e).to_string()) {
                        return Some(Err(why));
                    }
                }
                None => {
                    let why = format!(
                        "the object ended at byte {} of {}",
                        self.pos, self.object.size
                    );
                    if let Err(why) = self.broke(why) {
                        return Some(Err(why));
                    }
                }
            }
        }
    }
}
