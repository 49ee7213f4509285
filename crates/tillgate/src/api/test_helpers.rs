//! `/v1/test_helpers/terminal/readers/{id}/…`: tap a test card on a simulated reader, and make it
//! fail like a real one (power, cable, IP, radio, reboot — tillgate extensions).
use super::error::ApiResult;
use super::params::Params;
use super::{Account, AppState, Caller};
use crate::gateway::ReaderRequest;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tillgate_domain::cards::DEFAULT_TEST_CARD;
use tillgate_domain::ApiError;
use tillgate_drivers::{PresentedCard, SimChange};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/test_helpers/terminal/readers/{id}/present_payment_method",
            post(present),
        )
        .route(
            "/test_helpers/terminal/readers/{id}/{change}",
            post(simulate),
        )
}

/// `power_off`, `power_on`, `link_down`, `link_up`, `change_ip`, `set_signal`, `reboot`.
async fn simulate(
    State(s): State<AppState>,
    Account(acct): Account,
    Path((id, change)): Path<(String, String)>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    let change = match change.as_str() {
        "power_off" => SimChange::PowerOff,
        "power_on" => SimChange::PowerOn,
        "link_down" => SimChange::LinkDown,
        "link_up" => SimChange::LinkUp,
        "reboot" => SimChange::Reboot,
        "change_ip" => {
            p.allow(&["ip_address"])?;
            let ip = p.req_str("ip_address")?;
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(ApiError::invalid_param(
                    "ip_address",
                    format!("'{ip}' is not an IPv4 or IPv6 address."),
                )
                .into());
            }
            SimChange::ChangeIp(ip.to_owned())
        }
        "set_signal" => {
            p.allow(&["rssi_dbm", "loss", "latency_ms"])?;
            let rssi_dbm = p
                .int("rssi_dbm")?
                .map(|r| {
                    i32::try_from(r)
                        .ok()
                        .filter(|r| (-120..=0).contains(r))
                        .ok_or_else(|| {
                            ApiError::invalid_param(
                                "rssi_dbm",
                                "rssi_dbm must be between -120 and 0.",
                            )
                        })
                })
                .transpose()?;
            let loss = match p.str("loss")? {
                None => None,
                Some(l) => Some(
                    l.parse::<f64>()
                        .ok()
                        .filter(|l| (0.0..=1.0).contains(l))
                        .ok_or_else(|| {
                            ApiError::invalid_param(
                                "loss",
                                "loss must be a number between 0 and 1.",
                            )
                        })?,
                ),
            };
            let latency_ms = p
                .int("latency_ms")?
                .map(|l| {
                    u64::try_from(l)
                        .ok()
                        .filter(|l| *l <= 60_000)
                        .ok_or_else(|| {
                            ApiError::invalid_param(
                                "latency_ms",
                                "latency_ms must be between 0 and 60000.",
                            )
                        })
                })
                .transpose()?;
            if rssi_dbm.is_none() && loss.is_none() && latency_ms.is_none() {
                return Err(ApiError::invalid_request(
                    "set_signal needs at least one of rssi_dbm, loss, latency_ms.",
                )
                .into());
            }
            SimChange::SetSignal {
                rssi_dbm,
                loss,
                latency_ms,
            }
        }
        other => {
            return Err(ApiError::unknown_route(
                "POST",
                &format!("/v1/test_helpers/terminal/readers/{id}/{other}"),
            )
            .into())
        }
    };
    if !matches!(change, SimChange::ChangeIp(_) | SimChange::SetSignal { .. }) {
        p.allow(&[])?;
    }
    Ok(Json(
        s.gateway
            .ask(&acct, &id, ReaderRequest::Simulate { change }, caller.0)
            .await?,
    ))
}

async fn present(
    State(s): State<AppState>,
    Account(acct): Account,
    Path(id): Path<String>,
    caller: Caller,
    p: Params,
) -> ApiResult<Json<Value>> {
    p.allow(&["type", "card_present", "interac_present", "amount_tip"])?;
    let kind = p.str("type")?.unwrap_or("card_present");
    if kind != "card_present" && kind != "interac_present" {
        return Err(ApiError::invalid_param(
            "type",
            "type must be card_present or interac_present.",
        )
        .into());
    }
    let tip = p.int("amount_tip")?.unwrap_or(0);
    if tip < 0 {
        return Err(
            ApiError::invalid_param("amount_tip", "amount_tip must be zero or more.").into(),
        );
    }
    let card = p.object(kind)?;
    let field = |name: &str| card.and_then(|c| c.get(name)).and_then(Value::as_str);
    let number = field("number")
        .unwrap_or(DEFAULT_TEST_CARD)
        .replace(' ', "");
    let exp_month = field("exp_month")
        .map(|m| {
            m.parse::<u32>()
                .map_err(|_| ApiError::invalid_integer(&format!("{kind}[exp_month]")))
        })
        .transpose()?
        .unwrap_or(12);
    let exp_year = field("exp_year")
        .map(|y| {
            y.parse::<u32>()
                .map_err(|_| ApiError::invalid_integer(&format!("{kind}[exp_year]")))
        })
        .transpose()?
        .unwrap_or(2034);
    let req = ReaderRequest::Present {
        card: PresentedCard {
            number,
            exp_month,
            exp_year,
            tip,
        },
    };
    Ok(Json(s.gateway.ask(&acct, &id, req, caller.0).await?))
}
