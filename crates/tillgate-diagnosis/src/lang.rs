//! The languages diagnosis texts come in, and how a request picks one (`lang` param, `Accept-Language`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A language the catalogue, evidence and remedies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Zh];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Zh => "zh",
        }
    }

    /// Picks the language from an explicit `lang` parameter first, then the `Accept-Language` header,
    /// else English.
    pub fn negotiate(param: Option<&str>, accept_language: Option<&str>) -> Lang {
        param
            .and_then(|p| p.parse().ok())
            .or_else(|| accept_language.and_then(Lang::from_accept_language))
            .unwrap_or_default()
    }

    /// The best supported language of an `Accept-Language` header, honouring q-values
    /// (`fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5`). `None` when nothing supported is acceptable.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (pos, item) in header.split(',').enumerate() {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if q <= 0.0 || tag.is_empty() {
                continue;
            }
            let lang = if tag == "*" {
                Some(Lang::En)
            } else {
                tag.parse().ok()
            };
            let Some(lang) = lang else { continue };
            // Higher q wins; on a tie the earlier entry wins.
            let better = match best {
                None => true,
                Some((bq, _, _)) => q > bq,
            };
            if better {
                best = Some((q, pos, lang));
            }
        }
        best.map(|(_, _, l)| l)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Parses a language tag (`de`, `de-AT`, `zh-Hans-CN`, `FR`); region and script are ignored.
impl FromStr for Lang {
    type Err = UnknownLang;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let primary = s.trim().split(['-', '_']).next().unwrap_or("");
        match primary.to_ascii_lowercase().as_str() {
            "en" => Ok(Lang::En),
            "de" => Ok(Lang::De),
            "fr" => Ok(Lang::Fr),
            "zh" => Ok(Lang::Zh),
            _ => Err(UnknownLang(s.to_string())),
        }
    }
}

/// A language tag tillgate has no texts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLang(pub String);

impl fmt::Display for UnknownLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported language {:?} (use en, de, fr or zh)",
            self.0
        )
    }
}

impl std::error::Error for UnknownLang {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_with_regions_parse() {
        assert_eq!("de-AT".parse::<Lang>(), Ok(Lang::De));
        assert_eq!("zh-Hans-CN".parse::<Lang>(), Ok(Lang::Zh));
        assert_eq!("FR".parse::<Lang>(), Ok(Lang::Fr));
        assert!("es".parse::<Lang>().is_err());
    }

    #[test]
    fn accept_language_honours_q_values() {
        assert_eq!(
            Lang::from_accept_language("es;q=1, fr;q=0.4, de;q=0.7"),
            Some(Lang::De)
        );
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_accept_language("es, it"), None);
        assert_eq!(
            Lang::from_accept_language("de;q=0, *;q=0.1"),
            Some(Lang::En)
        );
    }

    #[test]
    fn explicit_param_beats_header() {
        assert_eq!(Lang::negotiate(Some("fr"), Some("de")), Lang::Fr);
        assert_eq!(Lang::negotiate(Some("xx"), Some("de")), Lang::De);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }
}
