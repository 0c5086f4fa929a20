//! Values with units, as written in scenario files and on the command line: durations
//! (`"250ms"`), sizes (`"64KiB"`), rates (`"10000/s"`) and bandwidths (`"1GiB/s"`).
//!
//! Parsing is exact integer arithmetic on the decimal digits, so `"1.5ms"` is exactly
//! 1,500,000 ns on every machine.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::Time;

/// Splits `"12.5ms"` into the number and the unit and scales it by the unit's factor exactly.
fn parse_scaled(text: &str, units: &[(&str, u128)], what: &str) -> Result<u128, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "`{text}` is not a {what}: it must start with a number"
        ));
    }
    let factor = units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<&str> = units
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !n.is_empty())
                .collect();
            if unit.is_empty() {
                format!(
                    "`{text}` has no unit; write it with one of {}",
                    names.join(", ")
                )
            } else {
                format!(
                    "`{text}`: unknown unit `{unit}`; expected one of {}",
                    names.join(", ")
                )
            }
        })?;
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
        return Err(format!("`{text}` is not a valid number"));
    }
    let overflow = || format!("`{text}` is too large");
    let int_val: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| overflow())?
    };
    let mut value = int_val.checked_mul(factor).ok_or_else(overflow)?;
    // Each fractional digit contributes digit * factor / 10^k; the remainder must vanish.
    let mut scale: u128 = 1;
    let mut frac_num: u128 = 0;
    for c in frac.chars() {
        scale = scale.checked_mul(10).ok_or_else(overflow)?;
        frac_num = frac_num * 10 + u128::from(c.to_digit(10).expect("digits only"));
    }
    if scale > 1 {
        let scaled = frac_num.checked_mul(factor).ok_or_else(overflow)?;
        if scaled % scale != 0 {
            return Err(format!("`{text}` is finer than the smallest unit"));
        }
        value += scaled / scale;
    }
    Ok(value)
}

macro_rules! unit_type {
    ($(#[$meta:meta])* $name:ident, $what:literal, $pattern:literal, $example:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        write!(f, "a {} written as a string with a unit, such as \"{}\"", $what, $example)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": concat!("A ", $what, " with a unit, for example \"", $example, "\"."),
                    "examples": [$example]
                })
            }
        }
    };
}

const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("min", 60_000_000_000),
];

const SIZE_UNITS: &[(&str, u128)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
];

const BANDWIDTH_UNITS: &[(&str, u128)] = &[
    ("B/s", 1),
    ("KB/s", 1_000),
    ("MB/s", 1_000_000),
    ("GB/s", 1_000_000_000),
    ("KiB/s", 1 << 10),
    ("MiB/s", 1 << 20),
    ("GiB/s", 1 << 30),
    ("Mbit/s", 125_000),
    ("Gbit/s", 125_000_000),
];

fn to_u64(v: u128, text: &str) -> Result<u64, String> {
    u64::try_from(v).map_err(|_| format!("`{text}` is too large"))
}

unit_type!(
    /// A span of simulated time in nanoseconds.
    Duration, "duration", r"^[0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|min)$", "250ms"
);
unit_type!(
    /// A size in bytes.
    ByteSize, "size", r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)$", "64KiB"
);
unit_type!(
    /// Events per second, stored as events per 1000 s so that fractional rates stay exact.
    Rate, "rate", r"^[0-9]+(\.[0-9]+)?\s*[kM]?\s*/\s*(s|ms|us|min)$", "10000/s"
);
unit_type!(
    /// Bytes per second.
    Bandwidth, "bandwidth", r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|KiB|MiB|GiB|Mbit|Gbit)/s$", "1GiB/s"
);

/// The longest duration a scenario may name: 2^53 ns, about 104 days. Sums of a few such
/// values stay far from overflowing the u64 clock.
pub const MAX_DURATION_NS: u64 = 1 << 53;

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ns = to_u64(parse_scaled(s, DURATION_UNITS, "duration")?, s)?;
        if ns > MAX_DURATION_NS {
            return Err(format!(
                "`{s}` is longer than the 104 days snapsim can simulate"
            ));
        }
        Ok(Duration(ns))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let v = self.0;
        for (unit, factor) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
            if v >= factor && v.is_multiple_of(factor) {
                return write!(f, "{}{unit}", v / factor);
            }
        }
        write!(f, "{v}ns")
    }
}

impl Duration {
    /// The duration in simulated nanoseconds.
    pub fn ns(self) -> Time {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        to_u64(parse_scaled(s, SIZE_UNITS, "size")?, s).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let v = self.0;
        for (unit, factor) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if v >= factor && v.is_multiple_of(factor) {
                return write!(f, "{}{unit}", v / factor);
            }
        }
        write!(f, "{v}B")
    }
}

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (count, per) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not a rate; write it as events per unit of time, such as \"10000/s\"")
        })?;
        // Count in milli-events, so "0.5/s" is exact; `k` and `M` multiply by 10^3 and 10^6.
        let milli = parse_scaled(
            count,
            &[("", 1000), ("k", 1_000_000), ("M", 1_000_000_000)],
            "rate",
        )
        .map_err(|_| {
            format!(
                "`{s}` is not a rate: write a count, optionally with k (thousands) or M \
                 (millions), per s, ms, us or min, such as \"10000/s\", \"50k/s\" or \"0.5/ms\""
            )
        })?;
        let per_ns: u128 = match per.trim() {
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            "min" => 60_000_000_000,
            other => {
                return Err(format!(
                    "`{s}`: unknown time unit `{other}`; expected s, ms, us or min"
                ))
            }
        };
        // Events per 1000 s = milli-events per `per` scaled to 1 s.
        let per_ks = milli
            .checked_mul(1_000_000_000)
            .ok_or_else(|| format!("`{s}` is too large"))?
            / per_ns;
        to_u64(per_ks, s).map(Rate)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}/s", self.0 / 1000)
        } else {
            write!(f, "{}.{:03}/s", self.0 / 1000, self.0 % 1000)
        }
    }
}

impl Rate {
    /// The gap between two events at this rate, in nanoseconds (rounded down, at least 1).
    pub fn interval_ns(self) -> Option<Time> {
        if self.0 == 0 {
            None
        } else {
            Some((1_000_000_000_000u128 / u128::from(self.0)).max(1) as Time)
        }
    }

    /// The time of the `k`-th event (from zero) of a steady stream at this rate, exact.
    pub fn nth_event_ns(self, k: u64) -> Time {
        if self.0 == 0 {
            return Time::MAX;
        }
        (u128::from(k) * 1_000_000_000_000u128 / u128::from(self.0)).min(u128::from(Time::MAX))
            as Time
    }
}

impl FromStr for Bandwidth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        to_u64(parse_scaled(s, BANDWIDTH_UNITS, "bandwidth")?, s).map(Bandwidth)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let v = self.0;
        for (unit, factor) in [("GiB/s", 1 << 30), ("MiB/s", 1 << 20), ("KiB/s", 1 << 10)] {
            if v >= factor && v.is_multiple_of(factor) {
                return write!(f, "{}{unit}", v / factor);
            }
        }
        write!(f, "{v}B/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        assert_eq!("250ms".parse::<Duration>().unwrap().ns(), 250_000_000);
        assert_eq!("1.5ms".parse::<Duration>().unwrap().ns(), 1_500_000);
        assert_eq!("2s".parse::<Duration>().unwrap().ns(), 2_000_000_000);
        assert_eq!("7 us".parse::<Duration>().unwrap().ns(), 7_000);
        assert_eq!("0ns".parse::<Duration>().unwrap().ns(), 0);
        assert_eq!("1min".parse::<Duration>().unwrap().ns(), 60_000_000_000);
    }

    #[test]
    fn bad_durations_say_why() {
        for (text, needle) in [
            ("5", "no unit"),
            ("5 parsecs", "unknown unit"),
            ("ms", "start with a number"),
            ("1.2.3ms", "not a valid number"),
            ("0.5ns", "finer than"),
            ("-5ms", "start with a number"),
            ("99999999999999999999s", "too large"),
            ("307445734min", "104 days"),
        ] {
            let err = text.parse::<Duration>().unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn sizes_bandwidths_and_rates() {
        assert_eq!("64KiB".parse::<ByteSize>().unwrap().bytes(), 65_536);
        assert_eq!("1.5KB".parse::<ByteSize>().unwrap().bytes(), 1_500);
        assert_eq!("1GiB/s".parse::<Bandwidth>().unwrap().0, 1 << 30);
        assert_eq!("10Gbit/s".parse::<Bandwidth>().unwrap().0, 1_250_000_000);
        let r: Rate = "10000/s".parse().unwrap();
        assert_eq!(r.interval_ns(), Some(100_000));
        assert_eq!("10/ms".parse::<Rate>().unwrap(), r);
        let half: Rate = "0.5/s".parse().unwrap();
        assert_eq!(half.interval_ns(), Some(2_000_000_000));
        assert_eq!(
            "3/s".parse::<Rate>().unwrap().nth_event_ns(3),
            1_000_000_000
        );
        assert!("10".parse::<Rate>().is_err());
        assert_eq!("50k/s".parse::<Rate>().unwrap(), "50000/s".parse().unwrap());
        assert_eq!(
            "1.5M/min".parse::<Rate>().unwrap(),
            "25000/s".parse().unwrap()
        );
        for bad in ["50x/s", "k/s", "-5/s", "5kk/s"] {
            let err = bad.parse::<Rate>().unwrap_err();
            assert!(
                err.contains("k (thousands)") && !err.contains("kx"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["250ms", "2s", "7us", "13ns"] {
            assert_eq!(s.parse::<Duration>().unwrap().to_string(), s);
        }
        for s in ["64KiB", "100B", "2MiB"] {
            assert_eq!(s.parse::<ByteSize>().unwrap().to_string(), s);
        }
        assert_eq!("2.5/s".parse::<Rate>().unwrap().to_string(), "2.500/s");
    }

    #[test]
    fn deserialises_from_json_strings_only() {
        let d: Duration = serde_json::from_str("\"5ms\"").unwrap();
        assert_eq!(d.ns(), 5_000_000);
        let err = serde_json::from_str::<Duration>("5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("with a unit"), "{err}");
    }
}
