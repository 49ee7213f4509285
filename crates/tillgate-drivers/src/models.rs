//! The reader models a driver drives: what it declares, so the rest of tillgate never keeps its own list.

use serde::{Deserialize, Serialize};

/// One model (device type) a driver drives, and the lowest software version it needs where known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSupport {
    /// The `device_type` the driver reports on a reader; ending in `*`, every device type that starts
    /// with what comes before it (`zvt:*` is every ZVT terminal that names itself).
    pub device_type: String,
    /// The lowest software version the driver works with, when one is known.
    pub min_software_version: Option<String>,
}

impl ModelSupport {
    pub fn new(device_type: &str, min_software_version: Option<&str>) -> Self {
        ModelSupport {
            device_type: device_type.to_owned(),
            min_software_version: min_software_version.map(str::to_owned),
        }
    }

    /// Whether a reader's `device_type` is this model.
    pub fn matches(&self, device_type: &str) -> bool {
        match self.device_type.strip_suffix('*') {
            Some(prefix) => device_type.starts_with(prefix),
            None => self.device_type == device_type,
        }
    }
}
