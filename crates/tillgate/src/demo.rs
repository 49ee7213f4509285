//! The demo fleet: two stores and six simulated readers, created once (idempotently) by `--demo`.
use crate::gateway::{store_error, Gateway};
use anyhow::Context;
use tillgate_domain::metadata::Metadata;
use tillgate_domain::objects::{Address, Kind, Location};
use tillgate_domain::store::{Store, Write};
use tillgate_domain::{new_id, now_secs, AccountId};

struct DemoStore {
    name: &'static str,
    address: (&'static str, &'static str, &'static str, &'static str),
    readers: &'static [(&'static str, &'static str)],
}

const DEMO: [DemoStore; 2] = [
    DemoStore {
        name: "Berlin Mitte",
        address: ("Rosenthaler Straße 40", "Berlin", "10178", "DE"),
        readers: &[
            ("Berlin Kasse 1", "simulated-wpe"),
            ("Berlin Kasse 2", "simulated-wpe"),
            ("Berlin Info-Theke", "simulated-s700"),
        ],
    },
    DemoStore {
        name: "Lyon Part-Dieu",
        address: ("17 Rue du Docteur Bouchut", "Lyon", "69003", "FR"),
        readers: &[
            ("Lyon Caisse 1", "simulated-wpe"),
            ("Lyon Caisse 2", "simulated-s700"),
            ("Lyon Caisse mobile", "simulated-s710"),
        ],
    },
];

/// Creates whatever part of the demo fleet is missing in `account`; returns (locations, readers) created.
pub async fn ensure(
    store: &dyn Store,
    gateway: &Gateway,
    account: &AccountId,
) -> anyhow::Result<(usize, usize)> {
    let (mut new_locations, mut new_readers) = (0, 0);
    for demo in &DEMO {
        let existing = store
            .find_by_field(Kind::Location, "display_name", demo.name)
            .await?
            .into_iter()
            .find(|(a, _)| a == account)
            .and_then(|(_, v)| v["id"].as_str().map(str::to_owned));
        let location_id = match existing {
            Some(id) => id,
            None => {
                let (line1, city, postal_code, country) = demo.address;
                let location = Location {
                    id: new_id("tml"),
                    object: "terminal.location".into(),
                    address: Address {
                        line1: Some(line1.into()),
                        city: Some(city.into()),
                        postal_code: Some(postal_code.into()),
                        country: Some(country.into()),
                        ..Default::default()
                    },
                    configuration_overrides: None,
                    display_name: demo.name.into(),
                    livemode: false,
                    metadata: Metadata::default(),
                    created: now_secs(),
                };
                store
                    .commit(vec![Write::put(account, &location).map_err(store_error)?])
                    .await?;
                new_locations += 1;
                location.id
            }
        };
        for (label, code) in demo.readers {
            let exists = store
                .find_by_field(Kind::Reader, "label", label)
                .await?
                .iter()
                .any(|(a, _)| a == account);
            if !exists {
                gateway
                    .register(
                        account,
                        code,
                        Some((*label).to_owned()),
                        Some(location_id.clone()),
                        Metadata::default(),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message.clone()))
                    .with_context(|| format!("registering the demo reader {label}"))?;
                new_readers += 1;
            }
        }
    }
    Ok((new_locations, new_readers))
}
