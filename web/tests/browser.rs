//! The dashboard in a real browser: headless Chromium driven through WebDriver (chromedriver)
//! against `spend dev` started as a child process, every page reached the way a user reaches it.
//!
//! Needs Debian `chromium` and `chromium-driver` (`scripts/services.sh install` installs them) and
//! the `spend` binary of this workspace (built by `cargo test --workspace`; alone:
//! `cargo build -p spend` first, or point `SPEND_BIN` at one). Without Chromium the test fails
//! under CI (`CI=true`) and is skipped, loudly, elsewhere. Screenshots of every page, and the
//! `chromium --headless --dump-dom` of the overview, go to `target/web-screenshots/`.
//! Missions on the card pages and the cardholder's notification settings: [`self_care`].

#[path = "browser/self_care.rs"]
mod self_care;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use spend_testkit::env::skip_or_fail;
use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;
use spend_testkit::net::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The example card with the Harrods purchase (400.00 GBP = 684.00 SGD, `scis_freedom`).
const CARD: &str = "00000000-0000-4000-8000-0000000000a2";
const OTHER_CARD: &str = "00000000-0000-4000-8000-0000000000a1";
const CAMPAIGN: &str = "Harrods double cashback";
/// Chromium as root in a container: no sandbox, no GPU, nothing fetched in the background.
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

/// `target/` of this build (the test binary is `target/<profile>/deps/browser-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn spend_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SPEND_BIN") {
        return Ok(bin.into());
    }
    let exe = std::env::current_exe()?;
    let bin = exe.ancestors().nth(2).unwrap().join("spend");
    if !bin.exists() {
        bail!(
            "the spend binary is not at {}: build it first (cargo build -p spend) or set SPEND_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// A child process, killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spend(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    // None of the developer's SPEND_* settings (ports, keys, data directory).
    for (k, _) in std::env::vars() {
        if k.starts_with("SPEND_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    c
}

struct Dev {
    _proc: Proc,
    url: String,
    sign_in_link: String,
    data_dir: tempfile::TempDir,
}

/// `spend dev` on a free port and a fresh data directory; waits for the sign-in link it prints
/// and for `/readyz`.
async fn start_dev(bin: &Path, log: &Path) -> Result<Dev> {
    let data_dir = tempfile::tempdir()?;
    let port = free_port();
    let mut child = spend(bin)
        .args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("start spend dev")?;
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if let Some(link) = line.trim().strip_prefix("sign-in link:") {
                let link = link.split_whitespace().next().unwrap_or("").to_owned();
                let _ = tx.send(link);
            }
        }
    });
    let sign_in_link = rx.recv_timeout(Duration::from_secs(120)).with_context(|| {
        format!(
            "spend dev printed no sign-in link:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })?;
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("spend dev never became ready");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Dev {
        _proc: proc,
        url,
        sign_in_link,
        data_dir,
    })
}

async fn start_browser(profile: &Path) -> Result<(Proc, Client)> {
    let port = free_port();
    let driver = Proc(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?,
    );
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1280,900".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": args}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return Ok((driver, c)),
            Err(e) if Instant::now() > deadline => bail!("no WebDriver session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The browser, with the helpers the steps share.
struct Ui {
    c: Client,
    url: String,
    shots: PathBuf,
    n: usize,
}

impl Ui {
    async fn goto(&self, path: &str) -> Result<()> {
        self.c.goto(&format!("{}{path}", self.url)).await?;
        Ok(())
    }

    async fn shot(&mut self, name: &str) -> Result<()> {
        self.n += 1;
        let png = self.c.screenshot().await?;
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.n)), png)?;
        Ok(())
    }

    /// The text of the first element matching `css`. A page that is still being replaced (a
    /// redirect after a form, a reload) can swap the element out between finding and reading
    /// it: that is retried, for up to 10 s.
    async fn text(&self, css: &str) -> Result<String> {
        let mut tries = 0;
        loop {
            let read = async { self.c.find(Locator::Css(css)).await?.text().await };
            match read.await {
                Ok(text) => return Ok(text),
                Err(e) if tries < 100 && is_gone(&e) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn h1(&self) -> Result<String> {
        self.text("h1").await
    }

    async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        Ok(self
            .c
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await?)
    }

    async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let e = self.c.find(Locator::Css(css)).await?;
        e.clear().await?;
        e.send_keys(text).await?;
        Ok(())
    }

    async fn select(&self, css: &str, value: &str) -> Result<()> {
        self.c
            .find(Locator::Css(css))
            .await?
            .select_by_value(value)
            .await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> Result<()> {
        self.c.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    /// Clicks a button that submits a form the plain way and waits until the browser has
    /// replaced the page with the answer: until then the old page (with elements that may
    /// also be on the new one, such as its heading) is still what `find` sees.
    async fn submit(&self, css: &str) -> Result<()> {
        let old = self.c.find(Locator::Css("html")).await?;
        self.click(css).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match old.tag_name().await {
                Err(e) if is_gone(&e) => break,
                Err(e) => return Err(e.into()),
                Ok(_) if Instant::now() > deadline => bail!("{css} did not load a new page"),
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.wait_for("main h1").await?;
        Ok(())
    }

    async fn sign_in(&self, token: &str) -> Result<()> {
        self.goto("/ui/signin").await?;
        self.fill("#token", token).await?;
        self.submit("form.card button[type=submit]").await
    }

    async fn source(&self) -> Result<String> {
        Ok(self.c.source().await?)
    }
}

/// Whether WebDriver answered that an element is no longer in the page, because the page was
/// replaced. ChromeDriver says so in two ways: the standard "stale element reference", or, when
/// the swap happens while it resolves the node, DevTools' "Node with given id does not belong to
/// the document" (seen with Chromium 156).
fn is_gone(e: &fantoccini::error::CmdError) -> bool {
    let text = e.to_string();
    text.contains("stale element") || text.contains("does not belong to the document")
}

/// The campaign of this test: Harrods purchases on Freedom cards earn 2 % more cashback.
async fn fill_campaign(ui: &Ui) -> Result<()> {
    ui.fill("#name", CAMPAIGN).await?;
    ui.select("#program", "scis_freedom").await?;
    ui.select("#kind", "promo").await?;
    ui.fill("#priority", "50").await?;
    ui.fill("#rate", "2").await?;
    ui.select("select[name=cond_field]", "merchant").await?;
    ui.select("select[name=cond_op]", "contains").await?;
    ui.fill("input[name=cond_value]", "harrods").await?;
    Ok(())
}

fn read_token(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .to_owned()
}

/// Is there any full PAN (13–19 digits, maybe spaced) in the page? The example PANs are known.
fn assert_no_full_pan(html: &str, page: &str) {
    for pan in [
        "4111117777777772",
        "4111 1177 7777 7772",
        "4111111111111111",
    ] {
        assert!(!html.contains(pan), "{page} shows a full PAN");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() -> Result<()> {
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        let message = format!(
            "{CHROMIUM} and {CHROMEDRIVER} are needed (Debian chromium, chromium-driver: \
             scripts/services.sh install)"
        );
        skip_or_fail(&format!("the browser test: {message}"));
        return Ok(());
    }
    let bin = spend_bin()?;
    let shots = target_dir().join("web-screenshots");
    std::fs::create_dir_all(&shots)?;
    for old in std::fs::read_dir(&shots)? {
        let path = old?.path();
        if path.extension().is_some_and(|e| e == "png" || e == "html") {
            std::fs::remove_file(path)?;
        }
    }
    let work = tempfile::tempdir()?;
    let dev = start_dev(&bin, &shots.join("spend-dev.log")).await?;
    let (_driver, client) = start_browser(&work.path().join("profile")).await?;
    let mut ui = Ui {
        c: client,
        url: dev.url.clone(),
        shots: shots.clone(),
        n: 0,
    };
    let result = scenario(&mut ui, &dev, &bin).await;
    if result.is_err() {
        let _ = ui.shot("failure").await;
    }
    ui.c.close().await?;
    result?;
    dump_dom(&dev, &shots, work.path()).await
}

async fn scenario(ui: &mut Ui, dev: &Dev, bin: &Path) -> Result<()> {
    let admin = read_token(dev.data_dir.path(), "admin-token");
    let bank = read_token(dev.data_dir.path(), "bank-token");
    let api = reqwest::Client::new();

    // Not signed in: the sign-in page. A bad token is explained.
    ui.goto("/").await?;
    assert!(ui.c.current_url().await?.path().ends_with("/ui/signin"));
    ui.shot("signin").await?;
    ui.sign_in("not-a-token").await?;
    assert!(ui.text(".notice.error").await?.contains("not a token"));

    // Sign in by pasting the admin token, then add the bank token.
    ui.sign_in(&admin).await?;
    assert_eq!(ui.h1().await?, "Overview");
    ui.sign_in(&bank).await?;
    let who = ui.text(".who").await?;
    assert!(who.contains("admin") && who.contains("bank"), "{who}");

    // Dry run: what the draft would pay on the example file, before it is published.
    let csv = Path::new(EXAMPLES)
        .join("transactions.csv")
        .canonicalize()?;
    ui.goto("/ui/dry-run").await?;
    fill_campaign(ui).await?;
    ui.c.find(Locator::Css("#csv"))
        .await?
        .send_keys(&csv.display().to_string())
        .await?;
    ui.click("form.card button[type=submit]").await?;
    ui.wait_for("#dry-run-result").await?;
    let totals = ui.text("#dry-run-totals").await?;
    // The Harrods purchase: 2 % of 684.00 SGD more cashback, and nothing else changes.
    let cashback = totals
        .lines()
        .find(|l| l.starts_with("cashback"))
        .context("a cashback total")?;
    assert!(cashback.ends_with("13.68"), "{totals}");
    assert!(ui.text("#dry-run-rows").await?.contains("draft"));
    ui.shot("dry-run").await?;
    let campaigns: Value = api
        .get(format!("{}/v1/campaigns", dev.url))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    assert!(
        !campaigns.to_string().contains(CAMPAIGN),
        "a dry run publishes nothing"
    );

    // Create a campaign: first with mistakes, each shown beside its field.
    ui.goto("/ui/campaigns/new").await?;
    ui.fill("#name", "").await?;
    ui.fill("#rate", "lots").await?;
    ui.select("select[name=cond_field]", "mcc").await?;
    ui.select("select[name=cond_op]", "in").await?;
    ui.fill("input[name=cond_value]", "abc").await?;
    ui.click("form.card button[type=submit]").await?;
    ui.wait_for(".field-error").await?;
    let name_error = ui.text("#err-name").await?;
    let rate_error = ui.text("#err-rate").await?;
    let condition_error = ui.text(".cond-row[data-row='0'] .field-error").await?;
    assert!(!name_error.is_empty() && !rate_error.is_empty() && !condition_error.is_empty());
    ui.shot("campaign-invalid").await?;
    fill_campaign(ui).await?;
    ui.click("form.card button[type=submit]").await?;
    ui.wait_for(".notice.ok").await?;
    assert!(ui.text(".notice.ok").await?.contains("created"));
    assert!(ui.text("#campaigns").await?.contains(CAMPAIGN));
    ui.shot("campaigns").await?;
    let edit =
        ui.c.find(Locator::LinkText(CAMPAIGN))
            .await?
            .attr("href")
            .await?
            .context("the campaign links to its page")?;
    let campaign_id = edit.rsplit('/').next().unwrap().to_owned();
    // Missions for the card the test looks up, in force before its purchases arrive.
    self_care::create_missions(&api, &dev.url, &admin).await?;

    // Upload the example file: the progress bar reaches 100 % and the report has every row.
    ui.goto("/ui/uploads").await?;
    ui.shot("uploads").await?;
    ui.c.find(Locator::Css("#file"))
        .await?
        .send_keys(&csv.display().to_string())
        .await?;
    ui.click("#upload-form button[type=submit]").await?;
    ui.wait_for("#batch-summary").await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress =
            ui.c.find(Locator::Css("#batch-progress"))
                .await?
                .attr("value")
                .await?;
        let summary = ui.text("#batch-summary").await?;
        if progress.as_deref() == Some("100") && ui.text(".pct").await? == "100 %" {
            assert_eq!(summary, "43 rows, 43 accepted, 0 rejected");
            break;
        }
        if Instant::now() > deadline {
            bail!("the batch never reached 100 %: {summary}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    ui.shot("batch-report").await?;

    // A file with bad rows: the report names each row's line and failing fields, and no PAN.
    ui.goto("/ui/uploads").await?;
    let invalid = Path::new(EXAMPLES).join("invalid.csv").canonicalize()?;
    ui.c.find(Locator::Css("#file"))
        .await?
        .send_keys(&invalid.display().to_string())
        .await?;
    ui.click("#upload-form button[type=submit]").await?;
    ui.wait_for("#row-errors").await?;
    let errors = ui.text("#row-errors").await?;
    assert!(
        errors.contains("not-a-uuid") && errors.contains("id:"),
        "{errors}"
    );
    assert_no_full_pan(&ui.source().await?, "the batch report");
    ui.shot("batch-report-errors").await?;
    ui.goto("/ui/uploads").await?;
    assert!(ui.text("#batches").await?.contains("done"));

    // Look the card up: the reward the new campaign gave, with its config revision.
    ui.goto("/ui/cards").await?;
    ui.fill("#card_id", CARD).await?;
    ui.click("form.card button[type=submit]").await?;
    ui.wait_for("#rewards").await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let rewards = loop {
        let rewards = ui.text("#rewards").await?;
        if rewards.contains(CAMPAIGN) {
            break rewards;
        }
        if Instant::now() > deadline {
            bail!("the card never showed the campaign's reward:\n{rewards}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        ui.c.refresh().await?;
        ui.wait_for("#rewards").await?;
    };
    let row = rewards
        .lines()
        .find(|l| l.contains("Harrods"))
        .context("the Harrods purchase is listed")?;
    // 684.00 SGD: 1 % base (6.84) + the new 2 % promo (13.68).
    assert!(row.contains("20.52 cashback"), "{row}");
    assert!(row.contains(CAMPAIGN), "{row}");
    assert!(ui.text("#monthly").await?.contains("2024-05"));
    assert_no_full_pan(&ui.source().await?, "the card page");
    ui.shot("card").await?;
    self_care::check_card_missions(ui, true, "card-missions").await?;
    ui.c.set_window_size(390, 844).await?;
    ui.shot("card-phone").await?;
    ui.goto("/").await?;
    ui.shot("overview-phone").await?;
    ui.c.set_window_size(1280, 900).await?;
    ui.goto("/").await?;
    ui.shot("overview").await?;

    // A stale edit is refused: the campaign changes elsewhere while the form is open.
    ui.goto(&format!("/ui/campaigns/{campaign_id}")).await?;
    ui.fill("#rate", "3").await?;
    let item = format!("{}/v1/campaigns/{campaign_id}", dev.url);
    let current = api.get(&item).bearer_auth(&admin).send().await?;
    let etag = current.headers()["etag"].to_str()?.to_owned();
    let mut changed: Value = current.json().await?;
    changed["priority"] = json!(60);
    let put = api
        .put(&item)
        .bearer_auth(&admin)
        .header("if-match", etag)
        .json(&changed)
        .send()
        .await?;
    assert!(put.status().is_success(), "{}", put.text().await?);
    ui.click("form.card button[type=submit]").await?;
    ui.wait_for(".conflict").await?;
    assert!(ui
        .text(".conflict")
        .await?
        .contains("changed by someone else"));
    ui.shot("stale-edit").await?;
    let now: Value = api
        .get(&item)
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["rate"], "2", "the stale edit overwrote nothing");
    assert_eq!(now["priority"], 60);

    // A customer sees their own card, and a clear 403 for another.
    let out = spend(bin)
        .args(["token", "--role", "customer", "--card", CARD])
        .args(["--subject", "cardholder-a2", "--data-dir"])
        .arg(dev.data_dir.path())
        .output()?;
    assert!(out.status.success());
    let customer = String::from_utf8(out.stdout)?.trim().to_owned();
    ui.click("form.signout button").await?;
    ui.wait_for("#token").await?;
    ui.sign_in(&customer).await?;
    ui.wait_for("#my-cards").await?;
    assert_eq!(ui.h1().await?, "Your rewards");
    assert!(ui.text("#my-cards").await?.contains(CARD));
    ui.shot("customer-overview").await?;
    ui.click(&format!("#my-cards a[href='/ui/cards/{CARD}']"))
        .await?;
    ui.wait_for("#rewards").await?;
    assert!(ui.text("#rewards").await?.contains("Harrods"));
    assert_no_full_pan(&ui.source().await?, "the customer's card page");
    ui.shot("customer-card").await?;
    self_care::check_card_missions(ui, false, "customer-card-missions").await?;
    self_care::notification_settings(ui, &api, &dev.url, &customer).await?;
    ui.goto(&format!("/ui/cards/{OTHER_CARD}")).await?;
    assert_eq!(ui.h1().await?, "403 — not allowed");
    ui.shot("customer-forbidden").await?;
    ui.goto("/ui/campaigns").await?;
    assert_eq!(ui.h1().await?, "403 — not allowed");
    Ok(())
}

/// `chromium --headless --dump-dom` of `/` after sign-in (through the one-time link printed by
/// `spend dev`): campaigns, uploads and rewards are on it. A second use of the link is refused.
async fn dump_dom(dev: &Dev, shots: &Path, work: &Path) -> Result<()> {
    let out = Command::new(CHROMIUM)
        .args(CHROMIUM_ARGS)
        .arg(format!("--user-data-dir={}", work.join("dump").display()))
        .arg("--dump-dom")
        .arg(&dev.sign_in_link)
        .output()
        .context("run chromium --dump-dom")?;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(shots.join("overview-dump-dom.html"), &dom)?;
    for needle in [
        "<h1>Overview</h1>",
        "overview-campaigns",
        CAMPAIGN,
        "overview-uploads",
        "upload: transactions.csv",
        "overview-rewards",
        CARD,
        "cashback",
    ] {
        assert!(
            dom.contains(needle),
            "the dumped overview lacks {needle:?}:\n{dom}"
        );
    }
    assert_no_full_pan(&dom, "the overview");
    let again = reqwest::get(&dev.sign_in_link).await?;
    assert_eq!(again.status(), reqwest::StatusCode::GONE);
    Ok(())
}
