//! Which `terminal.configuration` applies to a reader (its location's override, else the account
//! default), and pushing the parts the gateway enforces (heartbeat interval) to the reader actors.
use super::{store_error, Gateway, ReaderRequest};
use crate::gateway::events::Origin;
use std::collections::HashMap;
use std::time::Duration;
use tillgate_domain::objects::{Configuration, Kind, Location};
use tillgate_domain::store::{get_typed, ListQuery, Store};
use tillgate_domain::{AccountId, ApiError};

/// Where the settings of a reader come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    LocationOverride,
    AccountDefault,
    None,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::LocationOverride => "location_override",
            Source::AccountDefault => "account_default",
            Source::None => "none",
        }
    }
}

/// The account's default configuration, if one is marked.
pub async fn account_default(
    store: &dyn Store,
    account: &AccountId,
) -> Result<Option<Configuration>, ApiError> {
    // Accounts have a handful of configurations: the newest 100 are searched.
    let mut q = ListQuery::new(Kind::Configuration);
    q.limit = 100;
    let page = store.list(account, &q).await.map_err(store_error)?;
    Ok(page
        .data
        .into_iter()
        .find(|v| v["is_account_default"] == true)
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// The configuration that applies at a location (or to readers without one).
pub async fn effective(
    store: &dyn Store,
    account: &AccountId,
    location: Option<&str>,
) -> Result<(Source, Option<Configuration>), ApiError> {
    if let Some(loc_id) = location {
        let loc: Option<Location> = get_typed(store, account, loc_id)
            .await
            .map_err(store_error)?;
        if let Some(cfg_id) = loc.and_then(|l| l.configuration_overrides) {
            if let Some(cfg) = get_typed::<Configuration>(store, account, &cfg_id)
                .await
                .map_err(store_error)?
            {
                return Ok((Source::LocationOverride, Some(cfg)));
            }
        }
    }
    match account_default(store, account).await? {
        Some(cfg) => Ok((Source::AccountDefault, Some(cfg))),
        None => Ok((Source::None, None)),
    }
}

/// The effective configuration per (account, location), each looked up once — for work that
/// walks many readers (alerts, schedules, diagnosis, re-applying settings).
#[derive(Default)]
pub struct Effective {
    found: HashMap<(AccountId, Option<String>), Option<Configuration>>,
}

impl Effective {
    pub async fn of(
        &mut self,
        store: &dyn Store,
        account: &AccountId,
        location: Option<&str>,
    ) -> Result<Option<&Configuration>, ApiError> {
        let key = (account.clone(), location.map(str::to_owned));
        if !self.found.contains_key(&key) {
            let (_, cfg) = effective(store, account, location).await?;
            self.found.insert(key.clone(), cfg);
        }
        Ok(self.found.get(&key).and_then(Option::as_ref))
    }
}

impl Gateway {
    /// Re-applies the effective heartbeat interval to every reader of an account (after a
    /// configuration or a location's override changed). Readers without a setting use the
    /// deployment's `--heartbeat-interval`.
    pub async fn reconfigure(&self, account: &AccountId) -> Result<(), ApiError> {
        let store = self.shared().store.clone();
        let mut configs = Effective::default();
        for (reader_id, location) in self.readers_of(account) {
            let cfg = configs
                .of(store.as_ref(), account, location.as_deref())
                .await?
                .cloned();
            self.push_settings(account, &reader_id, cfg.as_ref()).await;
        }
        Ok(())
    }

    /// Applies the effective configuration to one newly registered reader.
    pub async fn configure_new_reader(
        &self,
        account: &AccountId,
        reader_id: &str,
        location: Option<&str>,
    ) -> Result<(), ApiError> {
        let (source, cfg) = effective(self.shared().store.as_ref(), account, location).await?;
        if source != Source::None {
            self.push_settings(account, reader_id, cfg.as_ref()).await;
        }
        Ok(())
    }

    async fn push_settings(
        &self,
        account: &AccountId,
        reader_id: &str,
        cfg: Option<&Configuration>,
    ) {
        let interval = cfg
            .and_then(|c| c.tillgate.heartbeat_interval_ms)
            .map(Duration::from_millis)
            .unwrap_or(self.shared().config.heartbeat_interval);
        // A reader deleted meanwhile is simply skipped.
        let _ = self
            .ask(
                account,
                reader_id,
                ReaderRequest::Reconfigure {
                    heartbeat_interval: interval,
                },
                Origin::default(),
            )
            .await;
    }
}
