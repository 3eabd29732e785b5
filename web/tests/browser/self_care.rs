//! The browser test's steps for missions on the card pages and the cardholder's notification
//! settings (issue 13's self-care part).

use anyhow::{bail, ensure, Context, Result};
use fantoccini::Locator;
use serde_json::{json, Value};

use super::Ui;

/// Two purchases at Kopitiam within 7 days: card a2 makes both on 2 May 2024, so it completes.
pub(crate) const COFFEE_MISSION: &str = "Two Kopitiam coffees in 7 days";
/// SGD 10,000 in 30 days: a2 spends less in its window, long over, so it has expired.
pub(crate) const SPEND_MISSION: &str = "Spend SGD 10,000 in 30 days";

/// Creates the two missions on the Freedom program through the API, before the upload.
pub(crate) async fn create_missions(api: &reqwest::Client, url: &str, admin: &str) -> Result<()> {
    let missions = [
        json!({"name": COFFEE_MISSION, "program": "scis_freedom", "start_date": "2024-05-01",
            "window_days": 7, "target": {"count": 2},
            "conditions": [{"field": "merchant", "op": "contains", "value": "kopitiam"}],
            "reward": "3"}),
        json!({"name": SPEND_MISSION, "program": "scis_freedom", "start_date": "2024-05-01",
            "window_days": 30, "target": {"amount_sgd": "10000"}, "conditions": [],
            "reward": "25"}),
    ];
    for m in missions {
        let res = api
            .post(format!("{url}/v1/missions"))
            .bearer_auth(admin)
            .json(&m)
            .send()
            .await?;
        ensure!(res.status().as_u16() == 201, "{}", res.text().await?);
    }
    Ok(())
}

/// The `value` of a `<progress>`, as a number.
async fn bar(ui: &Ui, css: &str) -> Result<u64> {
    let value =
        ui.c.find(Locator::Css(css))
            .await?
            .attr("value")
            .await?
            .context("a progress bar has a value")?;
    Ok(value.parse()?)
}

/// The mission card of `name` in the section, as text, and the id of its bar.
async fn mission_card(ui: &Ui, name: &str) -> Result<(String, String)> {
    for card in
        ui.c.find_all(Locator::Css("#card-missions article.mission"))
            .await?
    {
        let text = card.text().await?;
        if text.contains(name) {
            let progress = card.find(Locator::Css("progress")).await?;
            let id = progress.attr("id").await?.context("the bar has an id")?;
            return Ok((text, id));
        }
    }
    bail!(
        "no mission card for {name:?} in:\n{}",
        ui.text("#card-missions").await?
    )
}

/// On a card page of card a2 (after the upload): a bar per mission, with its status, and the
/// coffee mission's payout in the history. `admin`: names link to the missions' pages.
pub(crate) async fn check_card_missions(ui: &mut Ui, admin: bool, shot: &str) -> Result<()> {
    ui.wait_for("#card-missions").await?;
    let (coffee, coffee_bar) = mission_card(ui, COFFEE_MISSION).await?;
    ensure!(
        coffee.contains("Completed") && coffee.contains("2 of 2 purchases"),
        "{coffee}"
    );
    ensure!(
        coffee.contains("3.00 cashback") && coffee.contains("2024-05-02 – 2024-05-08"),
        "{coffee}"
    );
    ensure!(bar(ui, &format!("#{coffee_bar}")).await? == 100);
    let (spend, spend_bar) = mission_card(ui, SPEND_MISSION).await?;
    ensure!(
        spend.contains("Expired") && spend.contains("SGD"),
        "{spend}"
    );
    let pct = bar(ui, &format!("#{spend_bar}")).await?;
    ensure!((1..100).contains(&pct), "{pct} % of {spend}");
    // The bar is named by its mission and read out in its own measure.
    let progress = ui.c.find(Locator::Css(&format!("#{coffee_bar}"))).await?;
    let labelled_by = progress.attr("aria-labelledby").await?.unwrap_or_default();
    let label = ui.text(&format!("#{labelled_by}")).await?;
    ensure!(label == COFFEE_MISSION, "{label}");
    let value_text = progress.attr("aria-valuetext").await?.unwrap_or_default();
    ensure!(value_text == "2 of 2 purchases", "{value_text}");
    let links =
        ui.c.find_all(Locator::Css("#card-missions h3 a"))
            .await?
            .len();
    ensure!(
        (links > 0) == admin,
        "{links} mission links (admin: {admin})"
    );

    let rewards = ui.text("#rewards").await?;
    let payout = rewards
        .lines()
        .find(|l| l.contains("Mission reward"))
        .with_context(|| format!("a mission payout row in:\n{rewards}"))?;
    ensure!(
        payout.contains(COFFEE_MISSION) && payout.contains("3.00 cashback"),
        "{payout}"
    );
    ui.c.execute(
        "document.getElementById('card-missions').scrollIntoView()",
        vec![],
    )
    .await?;
    ui.shot(shot).await?;
    ui.c.execute("window.scrollTo(0, 0)", vec![]).await?;
    Ok(())
}

async fn settings_by_api(api: &reqwest::Client, url: &str, customer: &str) -> Result<Value> {
    let res = api
        .get(format!("{url}/v1/me/notifications"))
        .bearer_auth(customer)
        .send()
        .await?;
    ensure!(res.status().is_success(), "{}", res.text().await?);
    Ok(res.json().await?)
}

/// Signed in as the cardholder: the overview sums the settings up; the page shows the defaults,
/// saves a change (made with the keyboard), and explains a refusal without saving it.
pub(crate) async fn notification_settings(
    ui: &mut Ui,
    api: &reqwest::Client,
    url: &str,
    customer: &str,
) -> Result<()> {
    ui.goto("/").await?;
    let summary = ui.text("#notification-summary").await?;
    ensure!(summary.starts_with("Email off"), "{summary}");
    ui.c.find(Locator::LinkText("Notifications"))
        .await?
        .click()
        .await?;
    ui.wait_for("#notification-settings").await?;
    ensure!(ui.h1().await? == "Notification settings");
    let email = ui.c.find(Locator::Css("#email")).await?;
    ensure!(!email.is_selected().await?, "email is off by default");
    ensure!(
        ui.c.find(Locator::Css("#digest-weekly"))
            .await?
            .is_selected()
            .await?,
        "the default digest is weekly"
    );
    ui.shot("notifications-defaults").await?;

    // Space ticks the focused checkbox; the digest is chosen by its label.
    email.send_keys(" ").await?;
    ensure!(email.is_selected().await?, "space ticks the checkbox");
    ui.click("label[for=digest-daily]").await?;
    ui.click("#notification-settings button[type=submit]")
        .await?;
    ui.wait_for(".notice.ok").await?;
    let saved = ui.text(".notice.ok").await?;
    ensure!(
        saved.contains("saved") && saved.contains("daily digest"),
        "{saved}"
    );
    ensure!(
        ui.c.find(Locator::Css("#digest-daily"))
            .await?
            .is_selected()
            .await?
    );
    ensure!(
        settings_by_api(api, url, customer).await? == json!({"email": true, "digest": "daily"})
    );
    ui.shot("notifications-saved").await?;

    // A value the API does not know (as an outdated page might send): refused, named, not saved.
    ui.c.execute(
        "const r = document.getElementById('digest-monthly'); r.value = 'hourly'; r.checked = true;",
        vec![],
    )
    .await?;
    ui.click("#notification-settings button[type=submit]")
        .await?;
    ui.wait_for(".notice.error").await?;
    let refused = ui.text(".notice.error").await?;
    ensure!(refused.contains("Nothing was saved"), "{refused}");
    let field = ui.text("#err-digest").await?;
    ensure!(field.contains("must be one of"), "{field}");
    ensure!(
        settings_by_api(api, url, customer).await? == json!({"email": true, "digest": "daily"})
    );
    ui.shot("notifications-refused").await?;

    ui.goto("/ui/notifications").await?;
    ui.c.set_window_size(390, 844).await?;
    ui.shot("notifications-phone").await?;
    ui.c.set_window_size(1280, 900).await?;
    ui.goto("/").await?;
    let summary = ui.text("#notification-summary").await?;
    ensure!(summary == "Email on · daily digest.", "{summary}");
    Ok(())
}
