//! Who is asking: Argon2id passwords, sessions in HttpOnly/SameSite=Strict cookies (Secure behind
//! TLS), the per-session CSRF token every form carries, login rate limiting per IP and email.
use super::i18n::Lang;
use super::DashState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tillgate_domain::users::{Session, User};
use tillgate_domain::{new_secret, now_secs};

pub const SESSION_COOKIE: &str = "tg_session";
pub const LOGIN_COOKIE: &str = "tg_login";
pub const LANG_COOKIE: &str = "tg_lang";
const SESSION_SECS: i64 = 12 * 3600;

/// Login attempts allowed per (IP, email) per window.
pub const LOGIN_ATTEMPTS: usize = 5;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// An Argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches a stored hash (false on a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random password for a new user, shown once.
pub fn generate_password() -> String {
    new_secret("pw")
        .trim_start_matches("pw_")
        .chars()
        .take(20)
        .collect()
}

/// SHA-256 of a session token: only this is stored.
pub fn token_hash(token: &str) -> String {
    crate::keys::key_hash(token)
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: always HttpOnly and SameSite=Strict, Secure when served over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: i64, headers: &HeaderMap) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if over_tls(headers) { "; Secure" } else { "" }
    )
}

/// Failed-or-not login attempts per (IP, email) in a sliding window.
#[derive(Default)]
pub struct RateLimiter {
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Counts one attempt; false when the window's allowance is used up.
    pub fn allow(&self, ip: &str, email: &str) -> bool {
        let key = format!("{ip}|{}", email.trim().to_lowercase());
        let now = Instant::now();
        let mut map = self.attempts.lock().expect("rate limiter lock");
        // Forget idle keys so the map cannot grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
        }
        let q = map.entry(key).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            q.pop_front();
        }
        if q.len() >= LOGIN_ATTEMPTS {
            return false;
        }
        q.push_back(now);
        true
    }

    pub fn clear(&self, ip: &str, email: &str) {
        let key = format!("{ip}|{}", email.trim().to_lowercase());
        self.attempts
            .lock()
            .expect("rate limiter lock")
            .remove(&key);
    }
}

/// Creates a session; returns the cookie token (never logged).
pub async fn start_session(s: &DashState, user: &User) -> anyhow::Result<String> {
    let token = new_secret("tgs");
    let now = now_secs();
    s.users
        .create_session(&Session {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            csrf: new_secret("csrf"),
            created: now,
            expires: now + SESSION_SECS,
        })
        .await?;
    Ok(token)
}

/// The signed-in user of a request, with the session's CSRF token and the page language.
pub struct Me {
    pub user: User,
    pub session: Session,
    pub lang: Lang,
    pub ip: String,
}

/// The client address of a request.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `?lang=` when valid.
pub fn query_lang(parts: &Parts) -> Option<Lang> {
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| v.parse().ok())
    })
}

/// The language for a request without a user: `?lang=`, then the cookie, then `Accept-Language`.
pub fn anonymous_lang(parts: &Parts) -> Lang {
    query_lang(parts)
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(|l| l.parse().ok()))
        .unwrap_or_else(|| {
            Lang::negotiate(
                None,
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        })
}

impl FromRequestParts<DashState> for Me {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &DashState) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next: String =
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            // A language asked for in the address is the sign-in page's language too.
            match query_lang(parts) {
                Some(l) => Redirect::to(&format!("/login?next={next}&lang={}", l.code())),
                None => Redirect::to(&format!("/login?next={next}")),
            }
            .into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let found = s
            .users
            .session(&token_hash(&token), now_secs())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "session lookup failed");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            })?;
        let Some((session, mut user)) = found else {
            return Err(to_login());
        };
        // An explicit ?lang= switches and is remembered for the user.
        let lang = match query_lang(parts) {
            Some(l) => {
                if user.lang.as_deref() != Some(l.code()) {
                    let _ = s.users.set_lang(&user.id, l.code()).await;
                    user.lang = Some(l.code().to_owned());
                }
                l
            }
            None => user
                .lang
                .as_deref()
                .and_then(|l| l.parse().ok())
                .unwrap_or_else(|| anonymous_lang(parts)),
        };
        Ok(Me {
            user,
            session,
            lang,
            ip: client_ip(parts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn the_limiter_refuses_the_sixth_attempt_in_a_minute() {
        let l = RateLimiter::default();
        for _ in 0..LOGIN_ATTEMPTS {
            assert!(l.allow("127.0.0.1", "a@b.c"));
        }
        assert!(!l.allow("127.0.0.1", "A@b.c"));
        assert!(
            l.allow("127.0.0.2", "a@b.c"),
            "another IP has its own allowance"
        );
        l.clear("127.0.0.1", "a@b.c");
        assert!(l.allow("127.0.0.1", "a@b.c"));
    }
}
