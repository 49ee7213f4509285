//! A signed-in browser for the dashboard tests: a cookie jar over reqwest (no redirects followed,
//! so tests see the 303s and refusals a user would), and helpers to create users and payments.
#![allow(dead_code)]
use crate::support::{spawn_on, TestApp};
use reqwest::redirect::Policy;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tillgate_domain::users::Role;

pub const PASSWORD: &str = "correct horse battery";

pub struct Web {
    pub base: String,
    client: reqwest::Client,
    jar: Mutex<HashMap<String, String>>,
    pub lang: Option<&'static str>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Web {
    pub fn new(app: &TestApp) -> Web {
        Web {
            base: app.base.clone(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            jar: Mutex::default(),
            lang: None,
        }
    }

    fn cookies(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, res: reqwest::Response) -> Page {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            let mut jar = self.jar.lock().unwrap();
            if val.is_empty() {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let mut req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookies());
        if let Some(l) = self.lang {
            req = req.header("accept-language", l);
        }
        let res = req.send().await.expect("GET");
        self.finish(res).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(res).await
    }

    /// The first hidden CSRF token on a page.
    pub fn csrf(body: &str) -> String {
        let at = body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// Signs in through the form; returns the answer to the POST.
    pub async fn login(&self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200);
        let token = Self::csrf(&form.body);
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &token),
                ("next", "/fleet"),
            ],
        )
        .await
    }

    /// The CSRF token of the signed-in session (from any page with a form).
    pub async fn session_csrf(&self) -> String {
        let page = self.get("/fleet").await;
        assert_eq!(page.status, 200, "{}", page.body);
        Self::csrf(&page.body)
    }
}

/// Starts tillgate with fast heartbeats on a fresh database.
pub async fn start() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_on(dir.path().join("t.db"), |c| {
        c.gateway.heartbeat_interval = Duration::from_millis(100);
    })
    .await;
    (app, dir)
}

/// Creates a dashboard user in the default account.
pub async fn user(app: &TestApp, email: &str, role: Role, locations: &[&str]) {
    let url = format!("sqlite://{}", app.db_path.display());
    let store = tillgate::app::open_store(&url).await.unwrap();
    let account = store.ensure_account("default").await.unwrap();
    let users = tillgate::dashboard::open_users(&url).await.unwrap();
    tillgate::dashboard::create_user(
        users.as_ref(),
        &account,
        email,
        role,
        locations.iter().map(|l| l.to_string()).collect(),
        PASSWORD,
    )
    .await
    .unwrap();
}

/// A location with an address; returns its id.
pub async fn location(app: &TestApp, name: &str) -> String {
    let (status, l) = app
        .post(
            "/v1/terminal/locations",
            &[
                ("display_name", name),
                ("address[line1]", "Rosenthaler Straße 40"),
                ("address[city]", "Berlin"),
                ("address[postal_code]", "10178"),
                ("address[country]", "DE"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{l}");
    l["id"].as_str().unwrap().to_owned()
}

/// A simulated reader at a location; returns its id.
pub async fn reader_at(app: &TestApp, label: &str, location: &str) -> String {
    let (status, r) = app
        .post(
            "/v1/terminal/readers",
            &[
                ("registration_code", "simulated-wpe"),
                ("label", label),
                ("location", location),
            ],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

/// A succeeded card payment of `amount` on `reader`; returns the PaymentIntent id.
pub async fn payment(app: &TestApp, reader: &str, amount: i64) -> String {
    let pi = app.intent(amount, &[]).await;
    let (s, r) = app
        .post(
            &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
            &[("payment_intent", pi.as_str())],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .post(
            &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
            &[],
        )
        .await;
    assert_eq!(s, 200, "{r}");
    app.wait_for(&format!("/v1/payment_intents/{pi}"), |v| {
        v["status"] == "succeeded"
    })
    .await;
    pi
}

impl Web {
    /// Opens a server-sent event stream with the session cookie.
    pub async fn stream(&self, path: &str) -> reqwest::Response {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .send()
            .await
            .expect("stream request");
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        res
    }
}
