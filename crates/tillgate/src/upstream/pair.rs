//! Pairing a new physical Stripe reader through tillgate: `registration_code=stripe:CODE` (the
//! code the reader shows) registers it at Stripe under the upstream location of the tillgate
//! location it is registered at (created at Stripe on first use), then imports it like the sync.
use super::sync::{reader_of, UpstreamSync, LOCATION_KEY};
use crate::gateway::store_error;
use tillgate_domain::metadata::Metadata;
use tillgate_domain::objects::{Location, Reader};
use tillgate_domain::store::{get_typed, Write};
use tillgate_domain::{AccountId, ApiError};
use tillgate_drivers::stripe::client::form_fields;
use tillgate_drivers::stripe::{CallError, StripeClient};

/// The prefix of a registration code that pairs a reader at Stripe.
pub const PREFIX: &str = "stripe:";

/// An upstream refusal as the error a POS would have had from Stripe itself.
fn upstream_error(e: CallError, param: &str) -> ApiError {
    match e {
        CallError::Api { code, message, .. } => {
            let code = code.unwrap_or_else(|| "upstream_error".into());
            ApiError::invalid(&code, format!("Stripe refused: {message}")).with_param(param)
        }
        CallError::NoAnswer(m) => ApiError::invalid(
            "upstream_unavailable",
            format!("Stripe did not answer ({m}). Retry the request with the same Idempotency-Key; the pairing is idempotent."),
        ),
    }
}

impl UpstreamSync {
    /// Registers the reader showing `code` at Stripe under `location`'s upstream location and
    /// imports it. Idempotent per (location, code): a retry gets the reader the first call made.
    pub async fn pair(
        &self,
        account: &AccountId,
        code: &str,
        label: Option<String>,
        location: Option<String>,
        metadata: Metadata,
    ) -> Result<Reader, ApiError> {
        let code = code.strip_prefix(PREFIX).unwrap_or(code).trim();
        if code.is_empty() || code.len() > 100 {
            return Err(ApiError::invalid_param(
                "registration_code",
                "Pass the pairing code the Stripe reader shows after `stripe:` (e.g. stripe:quick-brown-fox).",
            ));
        }
        let connection = self
            .upstreams
            .get(account)
            .await
            .map_err(|e| ApiError::invalid_request(e.to_string()))?
            .ok_or_else(|| {
                ApiError::invalid(
                    "upstream_missing",
                    "This account has no upstream Stripe connection, so a Stripe reader cannot be paired: add one with `tillgate upstream add --account NAME --provider stripe --api-key-stdin`.",
                )
                .with_param("registration_code")
            })?;
        let location = location.ok_or_else(|| {
            ApiError::invalid_param(
                "location",
                "A Stripe reader is registered at a location: pass the tillgate location it stands in.",
            )
        })?;
        let auth = super::auth_of(&self.master, &connection)
            .map_err(|e| ApiError::invalid_request(e.to_string()))?;
        let client = self.driver.set_upstream(account.as_str(), auth);

        // Serialised with the sync, so the reader is imported once.
        let _guard = self.lock.lock().await;
        let up_location = self.upstream_location(&client, account, &location).await?;
        let mut form = vec![
            ("registration_code".to_owned(), code.to_owned()),
            ("location".to_owned(), up_location),
        ];
        if let Some(l) = &label {
            form.push(("label".to_owned(), l.clone()));
        }
        let key = format!("tillgate-pair-{location}-{code}");
        let r = client
            .post("/v1/terminal/readers", &form, &key)
            .await
            .map_err(|e| upstream_error(e, "registration_code"))?;
        let up = r["id"].as_str().unwrap_or_default().to_owned();
        if let Some(ours) = self.imported(account, &up).await? {
            return Ok(ours);
        }
        // The driver's liveness view learns the new reader now, not at the next sync (a failed
        // read leaves the view as it was: a reader missing from a page counts as deleted).
        if let Ok(page) = client.list_all("/v1/terminal/readers").await {
            self.driver.observe(account.as_str(), &page);
        }
        self.gateway
            .adopt(
                account,
                reader_of(&connection, &r, Some(location), metadata),
            )
            .await
    }

    /// The upstream location of tillgate location `id`, created at Stripe (and noted in the
    /// location's metadata) the first time a reader is paired there.
    async fn upstream_location(
        &self,
        client: &StripeClient,
        account: &AccountId,
        id: &str,
    ) -> Result<String, ApiError> {
        let mut loc = get_typed::<Location>(self.store.as_ref(), account, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("terminal.location", id, "location"))?;
        if let Some(up) = loc.metadata.get(LOCATION_KEY) {
            return Ok(up.clone());
        }
        let mut form = vec![("display_name".to_owned(), loc.display_name.clone())];
        let address = serde_json::to_value(&loc.address).unwrap_or_default();
        let address: serde_json::Map<String, serde_json::Value> = address
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        form_fields("address", &serde_json::Value::Object(address), &mut form);
        let created = client
            .post(
                "/v1/terminal/locations",
                &form,
                &format!("tillgate-location-{id}"),
            )
            .await
            .map_err(|e| upstream_error(e, "location"))?;
        let up = created["id"]
            .as_str()
            .ok_or_else(ApiError::internal)?
            .to_owned();
        loc.metadata.insert(LOCATION_KEY.to_owned(), up.clone());
        self.store
            .commit(vec![Write::put(account, &loc).map_err(store_error)?])
            .await
            .map_err(store_error)?;
        Ok(up)
    }

    /// The tillgate reader imported from upstream reader `up`, if there is one.
    async fn imported(&self, account: &AccountId, up: &str) -> Result<Option<Reader>, ApiError> {
        let all = self
            .store
            .all_of_kind(tillgate_domain::objects::Kind::Reader)
            .await
            .map_err(store_error)?;
        Ok(all
            .into_iter()
            .find(|(a, v)| {
                a == account
                    && v["tillgate"]["driver"] == "stripe"
                    && v["tillgate"]["upstream"]["reader"] == up
            })
            .and_then(|(_, v)| serde_json::from_value(v).ok()))
    }
}
