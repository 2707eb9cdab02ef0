//! `type: location`: a map pin with optional name and address.

use super::{js, object, visit_opt, Check, Kind, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A coordinate in decimal degrees: a number, or a string so it can be a template
/// (`"{{ store_lat }}"`). Checked as a number after rendering.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Coordinate(#[schemars(with = "NumberOrString")] pub String);

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum NumberOrString {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        Ok(Coordinate(match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(s) => s,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Latitude in decimal degrees, -90 to 90.
    pub latitude: Coordinate,
    /// Longitude in decimal degrees, -180 to 180.
    pub longitude: Coordinate,
    /// Name of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Street address of the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

fn check_coordinate(c: &mut Check, name: &'static str, value: &str, max: f64) {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (-max..=max).contains(&v) => {}
        _ => c.error(
            &[Seg::K(name)],
            format!("`{value}` is not a {name} in decimal degrees"),
            Some(format!("use a number from -{max} to {max}")),
        ),
    }
}

impl Kind for Location {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        f(&[Seg::K("latitude")], &mut self.latitude.0);
        f(&[Seg::K("longitude")], &mut self.longitude.0);
        visit_opt(f, &[Seg::K("name")], &mut self.name);
        visit_opt(f, &[Seg::K("address")], &mut self.address);
    }

    fn check(&self, c: &mut Check) {
        check_coordinate(c, "latitude", &self.latitude.0, 90.0);
        check_coordinate(c, "longitude", &self.longitude.0, 180.0);
    }

    fn cloud(&self) -> serde_json::Value {
        // Meta's `Message` schema types coordinates as strings.
        let num = |s: &str| Some(serde_json::Value::String(s.trim().to_string()));
        object([
            ("latitude", num(&self.latitude.0)),
            ("longitude", num(&self.longitude.0)),
            ("name", js(&self.name)),
            ("address", js(&self.address)),
        ])
    }
}
