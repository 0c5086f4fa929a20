//! A first pass over a scenario file that allocates nothing per element: it checks the JSON
//! syntax (naming the line, the column and the field where it breaks) and that arrays appear
//! only where the format has lists. serde would otherwise accept a struct written as an array
//! of its fields in order, and report an empty one as "invalid length 0".

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// The fields whose values are lists, with indices written `[]`. Every array of the format
/// (`Vec` or tuple in `Scenario`) is here; `scenario::tests` holds it against the schema.
pub(super) const LISTS: &[&str] = &[
    "links",
    "tasks",
    "failures",
    "failures[].crash.tasks",
    "dataflow.operators",
    "dataflow.edges",
    "processes.names",
    "processes.graph.edges",
    "processes.graph.edges[]",
    "processes.workload.script.steps",
    "processes.workload.script.on_receive",
    "checkpointing.initiators",
];

/// Where the scan is and where it first failed.
struct Scan<'a> {
    /// The path, as in error messages (`dataflow.operators[2].name`).
    path: String,
    /// The same with indices as `[]`, to look up in [`LISTS`].
    pattern: String,
    /// The innermost path at which an error arose.
    failed_at: &'a RefCell<Option<String>>,
}

impl Scan<'_> {
    fn child(&self, key: &str) -> Scan<'_> {
        let join = |base: &str| {
            if base.is_empty() {
                key.to_string()
            } else {
                format!("{base}.{key}")
            }
        };
        Scan {
            path: join(&self.path),
            pattern: join(&self.pattern),
            failed_at: self.failed_at,
        }
    }

    fn element(&self, i: usize) -> Scan<'_> {
        Scan {
            path: format!("{}[{i}]", self.path),
            pattern: format!("{}[]", self.pattern),
            failed_at: self.failed_at,
        }
    }

    fn fail<E>(&self, e: E) -> E {
        let mut slot = self.failed_at.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.path.clone());
        }
        e
    }
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let failed_at = self.failed_at;
        let path = self.path.clone();
        d.deserialize_any(self).inspect_err(|_| {
            let mut slot = failed_at.borrow_mut();
            if slot.is_none() {
                *slot = Some(path);
            }
        })
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            let key = match map.next_key::<Cow<'de, str>>() {
                Ok(Some(k)) => k,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            };
            map.next_value_seed(self.child(&key))?;
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.path.is_empty() {
            self.failed_at.replace(Some(".".to_string()));
            return Err(de::Error::custom(
                "a scenario is a JSON object with named fields, found an array",
            ));
        }
        if !LISTS.contains(&self.pattern.as_str()) {
            self.failed_at.replace(Some(self.path.clone()));
            return Err(de::Error::custom(
                "expected a JSON object with named fields, found an array",
            ));
        }
        let mut i = 0;
        loop {
            match seq.next_element_seed(self.element(i)) {
                Ok(Some(())) => i += 1,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
}

/// Scans `bytes`; on a problem returns the innermost field path (`.` for the whole file) and
/// serde_json's error.
pub(super) fn scan(bytes: &[u8]) -> Result<(), (String, serde_json::Error)> {
    let failed_at = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Scan {
        path: String::new(),
        pattern: String::new(),
        failed_at: &failed_at,
    };
    let result = seed.deserialize(&mut de).and_then(|()| de.end());
    result.map_err(|e| {
        let path = failed_at
            .into_inner()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".to_string());
        (path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_of_a_syntax_error() {
        let (path, e) = scan(br#"{"dataflow": {"operators": [{"name": "a", "kind": "#).unwrap_err();
        assert_eq!(path, "dataflow.operators[0].kind");
        assert!(e.is_eof());
        let (path, _) = scan(br#"{"network": {"latency": x}}"#).unwrap_err();
        assert_eq!(path, "network.latency");
    }

    /// Collects the path patterns at which the schema allows an array.
    fn arrays(
        schema: &serde_json::Value,
        node: &serde_json::Value,
        at: &str,
        out: &mut Vec<String>,
    ) {
        use serde_json::Value;
        let join = |k: &str| {
            if at.is_empty() {
                k.to_string()
            } else {
                format!("{at}.{k}")
            }
        };
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            arrays(schema, &schema["$defs"][name], at, out);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for alt in node
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                arrays(schema, alt, at, out);
            }
        }
        let is_array = match node.get("type") {
            Some(Value::String(t)) => t == "array",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
            _ => false,
        };
        if is_array && !out.iter().any(|p| p == at) {
            out.push(at.to_string());
        }
        let element = format!("{at}[]");
        for key in ["items", "prefixItems"] {
            match node.get(key) {
                Some(Value::Array(items)) => {
                    for item in items {
                        arrays(schema, item, &element, out);
                    }
                }
                Some(item @ Value::Object(_)) => arrays(schema, item, &element, out),
                _ => {}
            }
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                arrays(schema, v, &join(k), out);
            }
        }
    }

    #[test]
    fn the_lists_are_every_array_of_the_schema() {
        let schema: serde_json::Value =
            serde_json::from_str(&crate::scenario::Scenario::json_schema()).unwrap();
        let mut found = Vec::new();
        arrays(&schema, &schema, "", &mut found);
        found.sort();
        let mut lists: Vec<String> = LISTS.iter().map(|s| s.to_string()).collect();
        lists.sort();
        assert_eq!(found, lists, "update shape::LISTS to the format's arrays");
    }

    #[test]
    fn arrays_only_where_lists_are() {
        assert!(scan(br#"{"links": [], "processes": {"graph": {"edges": [["a", "b"]]}}}"#).is_ok());
        let (path, e) = scan(br#"{"network": []}"#).unwrap_err();
        assert_eq!(path, "network");
        assert!(e.to_string().contains("found an array"));
        let (path, _) = scan(br#"{"dataflow": {"operators": [["a"]]}}"#).unwrap_err();
        assert_eq!(path, "dataflow.operators[0]");
        assert!(scan(b"[]").is_err());
    }
}
