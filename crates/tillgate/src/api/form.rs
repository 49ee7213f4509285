//! Stripe's form encoding: `a[b][c]=v`, `a[]=v`, `a[0][x]=v` decoded into a JSON tree of strings,
//! with bounds on depth and size so hostile input cannot exhaust the gateway.
use serde_json::{Map, Value};
use tillgate_domain::ApiError;

const MAX_DEPTH: usize = 8;
const MAX_PAIRS: usize = 2000;
const MAX_INDEX: usize = 1000;

fn decode(s: &str) -> Result<String, ApiError> {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::invalid_request("The request body is not valid UTF-8 form data."))
}

/// Splits `a[b][]` into `["a", "b", ""]`.
fn key_path(key: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::invalid_request(format!("Invalid parameter name: {key}"));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut path = vec![head.to_owned()];
    while !rest.is_empty() {
        if !rest.starts_with('[') {
            return Err(bad());
        }
        let end = rest.find(']').ok_or_else(bad)?;
        path.push(rest[1..end].to_owned());
        rest = &rest[end + 1..];
        if path.len() > MAX_DEPTH {
            return Err(ApiError::invalid_request(format!(
                "Parameter {head} is nested too deeply (at most {MAX_DEPTH} levels)."
            )));
        }
    }
    Ok(path)
}

fn insert(node: &mut Value, path: &[String], value: String, full: &str) -> Result<(), ApiError> {
    let conflict = || {
        ApiError::invalid_request(format!(
            "Parameter {full} conflicts with another parameter of the same name."
        ))
    };
    let Some((seg, rest)) = path.split_first() else {
        return Ok(());
    };
    if seg.is_empty() {
        // `a[]`: append to an array.
        if !node.is_array() {
            if node.as_object().is_some_and(|m| m.is_empty()) || node.is_null() {
                *node = Value::Array(Vec::new());
            } else {
                return Err(conflict());
            }
        }
        let arr = node.as_array_mut().ok_or_else(conflict)?;
        if arr.len() >= MAX_INDEX {
            return Err(ApiError::invalid_request(format!(
                "Too many values for {full}."
            )));
        }
        if rest.is_empty() {
            arr.push(Value::String(value));
        } else {
            let mut child = Value::Object(Map::new());
            insert(&mut child, rest, value, full)?;
            arr.push(child);
        }
        return Ok(());
    }
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().ok_or_else(conflict)?;
    if rest.is_empty() {
        match map.get(seg) {
            None => {}
            // `amount=100&amount=10000`: which one was meant is not ours to guess.
            Some(Value::String(_)) => {
                return Err(ApiError::invalid_param(
                    full,
                    format!("Parameter {full} was given more than once."),
                ))
            }
            Some(_) => return Err(conflict()),
        }
        map.insert(seg.clone(), Value::String(value));
        return Ok(());
    }
    let child = map.entry(seg.clone()).or_insert(Value::Null);
    if child.is_string() {
        // `metadata=` followed by `metadata[k]=v`: the nested form wins.
        *child = Value::Null;
    }
    insert(child, rest, value, full)
}

/// Turns objects whose keys are all indices (`0`, `1`, …) into arrays, as Stripe does.
fn arrays(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let numeric = !map.is_empty()
                && map
                    .keys()
                    .all(|k| k.parse::<usize>().is_ok_and(|i| i < MAX_INDEX));
            if numeric {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(0), arrays(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(arrays).collect()),
        other => other,
    }
}

/// Decodes a form body or query string into a JSON object of strings, arrays and objects.
pub fn parse(input: &str) -> Result<Map<String, Value>, ApiError> {
    let mut root = Value::Object(Map::new());
    for (n, pair) in input.split('&').filter(|p| !p.is_empty()).enumerate() {
        if n >= MAX_PAIRS {
            return Err(ApiError::invalid_request(format!(
                "Too many parameters (at most {MAX_PAIRS})."
            )));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k)?;
        let value = decode(v)?;
        let path = key_path(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    // Only what is below a name becomes a list: top-level names that look like indices (`0=a`)
    // stay names, so that they are refused as unknown parameters instead of vanishing.
    match root {
        Value::Object(m) => Ok(m.into_iter().map(|(k, v)| (k, arrays(v))).collect()),
        _ => Ok(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nests_like_stripe() {
        let m = parse("amount=1000&metadata[order]=42&payment_method_types[]=card_present&expand[]=a&expand[]=b&cart[line_items][0][amount]=500&cart[line_items][0][description]=Caf%C3%A9+au+lait&cart[line_items][1][amount]=100").unwrap();
        assert_eq!(m["amount"], "1000");
        assert_eq!(m["metadata"], json!({"order": "42"}));
        assert_eq!(m["payment_method_types"], json!(["card_present"]));
        assert_eq!(m["expand"], json!(["a", "b"]));
        assert_eq!(m["cart"]["line_items"][0]["description"], "Café au lait");
        assert_eq!(m["cart"]["line_items"][1]["amount"], "100");
    }

    #[test]
    fn refuses_hostile_shapes() {
        assert!(parse(&format!("a{}=1", "[x]".repeat(20))).is_err());
        assert!(parse("[x]=1").is_err());
        assert!(parse("a[b=1").is_err());
        assert!(
            parse("a=1&a[b]=2").is_ok(),
            "nested form replaces the flat one"
        );
        assert!(parse("a[b]=1&a[]=2").is_err());
        assert!(parse("%FF=1").is_err());
        assert!(parse("amount=1&amount=2").is_err(), "a scalar given twice");
        assert!(parse("metadata[k]=1&metadata[k]=2").is_err());
        assert_eq!(parse("0=a").unwrap()["0"], "a", "index-like names are kept");
    }

    #[test]
    fn empty_value_is_kept_for_unsetting() {
        let m = parse("metadata=").unwrap();
        assert_eq!(m["metadata"], "");
    }
}
