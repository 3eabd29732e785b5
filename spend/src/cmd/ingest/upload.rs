//! `spend upload`: a client that streams a CSV file to the ingestor with a progress bar and prints
//! the batch summary.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::io::AsyncReadExt;

/// `spend upload`.
#[derive(clap::Args, Debug)]
pub(crate) struct UploadArgs {
    /// The transactions CSV file.
    file: PathBuf,
    /// The ingestor's base URL.
    #[arg(long, env = "SPEND_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token with role `bank`.
    #[arg(long, env = "SPEND_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the answer as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// The HTTP status and JSON answer of an upload.
pub(crate) struct Uploaded {
    pub(crate) status: u16,
    pub(crate) answer: Value,
}

/// Streams `file` to `POST {url}/v1/batches`, showing bytes and rows sent on `progress`.
pub(crate) async fn upload_file(
    url: &str,
    token: Option<&str>,
    file: &Path,
    progress: ProgressBar,
) -> anyhow::Result<Uploaded> {
    let input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("open {}", file.display()))?;
    let size = input.metadata().await?.len();
    progress.set_length(size);
    let counter = progress.clone();
    let mut lines = 0u64;
    let chunks = futures::stream::unfold(Some(input), |input| async move {
        let mut input = input?;
        let mut buf = vec![0u8; 256 * 1024];
        match input.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(input)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let body = reqwest::Body::wrap_stream(futures::StreamExt::map(chunks, move |chunk| {
        if let Ok(bytes) = &chunk {
            lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            counter.inc(bytes.len() as u64);
            counter.set_message(format!("{} rows sent", lines.saturating_sub(1)));
        }
        chunk
    }));
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/batches", url.trim_end_matches('/')))
        .header("content-type", "text/csv")
        .header("content-length", size)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("upload to {url}"))?;
    progress.set_message("waiting for kafka's acknowledgements");
    let status = response.status().as_u16();
    let text = response.text().await.context("read the answer")?;
    progress.finish_and_clear();
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Uploaded { status, answer })
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Uploads a CSV file and prints the batch summary; fails unless the answer is 200.
pub(crate) fn upload(args: UploadArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    let uploaded = runtime.block_on(upload_file(
        &args.url,
        args.token.as_deref(),
        &args.file,
        progress_bar(args.quiet),
    ))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.json {
        writeln!(out, "{}", uploaded.answer)?;
    } else {
        print_answer(&mut out, &uploaded)?;
    }
    out.flush()?;
    if uploaded.status == 200 {
        Ok(())
    } else {
        Err(anyhow!("the upload was refused: HTTP {}", uploaded.status))
    }
}

fn print_answer(out: &mut impl Write, uploaded: &Uploaded) -> std::io::Result<()> {
    let a = &uploaded.answer;
    // A failed batch carries its state as the one detail.
    let batch = if uploaded.status == 200 {
        a
    } else {
        writeln!(
            out,
            "HTTP {}: {}",
            uploaded.status,
            a["error"].as_str().unwrap_or("(no error message)")
        )?;
        &a["details"][0]
    };
    if batch.get("batch_id").is_none() {
        return Ok(());
    }
    writeln!(
        out,
        "batch {}: {} rows, {} accepted, {} rejected",
        batch["batch_id"].as_str().unwrap_or("?"),
        batch["rows"],
        batch["accepted"],
        batch["rejected"]
    )?;
    let errors = batch["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !errors.is_empty() {
        let shown = if batch["rejected"].as_u64() > Some(errors.len() as u64) {
            format!(" (the first {})", errors.len())
        } else {
            String::new()
        };
        writeln!(out, "rejected rows{shown}:")?;
        for e in errors {
            let fields: Vec<&str> = e["fields"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            writeln!(
                out,
                "  line {:>8}  {:<36}  {}",
                e["line"].as_u64().unwrap_or(0),
                e["id"].as_str().unwrap_or(""),
                fields.join(", ")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_lists_the_rejected_rows() {
        let uploaded = Uploaded {
            status: 200,
            answer: serde_json::json!({"batch_id": "b", "rows": 3, "accepted": 1, "rejected": 2,
                "errors": [{"line": 3, "id": "x", "fields": ["mcc", "amount"]}]}),
        };
        let mut out = Vec::new();
        print_answer(&mut out, &uploaded).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("batch b: 3 rows, 1 accepted, 2 rejected\n"),
            "{text}"
        );
        assert!(text.contains("rejected rows (the first 1):"), "{text}");
        assert!(text.contains("line        3  x"), "{text}");
        assert!(text.trim_end().ends_with("mcc, amount"), "{text}");

        let failed = Uploaded {
            status: 422,
            answer: serde_json::json!({"error": "the file is refused from line 1: header",
                "details": [{"batch_id": "b", "rows": 0, "accepted": 0, "rejected": 0, "errors": []}]}),
        };
        let mut out = Vec::new();
        print_answer(&mut out, &failed).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP 422: the file is refused from line 1"),
            "{text}"
        );
        assert!(text.contains("batch b: 0 rows"), "{text}");
    }
}
