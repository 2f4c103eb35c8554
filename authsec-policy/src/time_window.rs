//! Time windows: days of the week and hours of the day, in a named time zone.
//!
//! The instant of the request ([`PolicyRequest::now`], from the Guard's clock) is converted to
//! the zone's wall-clock time with the tz database, so daylight-saving changes are followed: a
//! window of `08:00-18:00` in `Europe/Paris` opens at 07:00 UTC in winter and 06:00 UTC in
//! summer, and a wall-clock time skipped by a DST jump simply never happens.
//!
//! - `days`: `mon-fri`, `sat,sun`, `mon,wed-fri`, or `*` (every day, the default). Names are the
//!   first three letters, in any case; a range may wrap (`fri-mon`).
//! - `hours`: `HH:MM-HH:MM`, start included and end excluded, `24:00` allowed as an end, or `*`
//!   (all day, the default). A window that crosses midnight (`22:00-06:00`) belongs to the day
//!   it starts on: `fri` + `22:00-06:00` covers Friday 22:00 to Saturday 06:00.
//!
//! ```toml
//! [policies.office_hours]
//! time = { zone = "Europe/Paris", days = "mon-fri", hours = "08:00-18:00" }
//! ```
//!
//! The zone must exist in the tz database (the system's, else the copy built into the binary):
//! an unknown zone is a configuration error at start-up.

use async_trait::async_trait;
use authsec_core::{ConfigError, Denial, Policy, PolicyRequest};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Days and hours in a time zone; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct TimeWindow {
    zone_name: String,
    zone: TimeZone,
    days_spec: String,
    hours_spec: String,
    /// Bit `i` set: day `i` (Monday = 0) is in the window.
    days: u8,
    /// Minutes since midnight, start included.
    start: u16,
    /// Minutes since midnight, end excluded (1..=1440); `end <= start` crosses midnight.
    end: u16,
}

impl PartialEq for TimeWindow {
    fn eq(&self, other: &Self) -> bool {
        self.zone_name == other.zone_name
            && self.days == other.days
            && self.start == other.start
            && self.end == other.end
    }
}

impl TimeWindow {
    /// A window of `days` and `hours` (syntax in the [module documentation](self)) in the IANA
    /// time zone `zone` (`Europe/Paris`, `America/New_York`, `UTC`).
    pub fn new(zone: &str, days: &str, hours: &str) -> Result<Self, ConfigError> {
        let tz = parse_zone(zone).map_err(ConfigError::new)?;
        let day_bits = parse_days(days).map_err(ConfigError::new)?;
        let (start, end) = parse_hours(hours).map_err(ConfigError::new)?;
        Ok(TimeWindow {
            zone_name: zone.to_owned(),
            zone: tz,
            days_spec: days.trim().to_owned(),
            hours_spec: hours.trim().to_owned(),
            days: day_bits,
            start,
            end,
        })
    }

    /// The zone's name.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// Whether the instant `unix_seconds` falls inside the window.
    pub fn contains(&self, unix_seconds: u64) -> bool {
        let Ok(seconds) = i64::try_from(unix_seconds) else {
            return false;
        };
        let Ok(instant) = Timestamp::from_second(seconds) else {
            return false;
        };
        let local = self.zone.to_datetime(instant);
        let day = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let day_in = |d: u8| self.days & (1 << d) != 0;
        if self.start < self.end {
            day_in(day) && (self.start..self.end).contains(&minute)
        } else if minute >= self.start {
            day_in(day)
        } else if minute < self.end {
            // The early-morning part of a window that started the day before.
            day_in((day + 6) % 7)
        } else {
            false
        }
    }

    /// `Ok` inside the window, else `policy_denied` saying when the operation is allowed.
    pub fn check(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        if self.contains(request.now) {
            Ok(())
        } else {
            let days = match self.days_spec.as_str() {
                "" | "*" => "every day",
                spec => spec,
            };
            let hours = match self.hours_spec.as_str() {
                "" | "*" => "at any hour",
                spec => spec,
            };
            Err(Denial::policy_denied(format!(
                "this operation is only allowed {days}, {hours} ({} time)",
                self.zone_name
            )))
        }
    }
}

/// Used on its own as the Guard's policy, a time window applies to every request that reaches
/// check 5.
#[async_trait]
impl Policy for TimeWindow {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        self.check(request)
    }
}

/// Looks a zone up in the tz database.
pub(crate) fn parse_zone(name: &str) -> Result<TimeZone, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("the time zone is empty: give an IANA name such as \"Europe/Paris\"".into());
    }
    TimeZone::get(name).map_err(|_| {
        format!("unknown time zone {name:?}: expected an IANA tz database name such as \"Europe/Paris\" or \"UTC\"")
    })
}

/// `mon-fri`, `sat,sun`, `*` → a bit set (Monday = bit 0).
pub(crate) fn parse_days(spec: &str) -> Result<u8, String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "*" {
        return Ok(0x7f);
    }
    let day = |name: &str| -> Result<u8, String> {
        let lower = name.trim().to_ascii_lowercase();
        DAY_NAMES
            .iter()
            .position(|d| *d == lower)
            .map(|i| i as u8)
            .ok_or_else(|| {
                format!("invalid days {spec:?}: {name:?} is not a day (use mon, tue, wed, thu, fri, sat, sun)")
            })
    };
    let mut bits = 0u8;
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    bits |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => bits |= 1 << day(part)?,
        }
    }
    Ok(bits)
}

/// `08:00-18:00`, `22:00-06:00`, `*` → (start, end) in minutes.
pub(crate) fn parse_hours(spec: &str) -> Result<(u16, u16), String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "*" {
        return Ok((0, MINUTES_PER_DAY));
    }
    let invalid =
        || format!("invalid hours {spec:?}: expected HH:MM-HH:MM such as \"08:00-18:00\"");
    let (from, to) = spec.split_once('-').ok_or_else(invalid)?;
    let time = |text: &str| -> Option<u16> {
        let (h, m) = text.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (
        time(from).ok_or_else(invalid)?,
        time(to).ok_or_else(invalid)?,
    );
    if start == MINUTES_PER_DAY {
        return Err(format!(
            "invalid hours {spec:?}: a window cannot start at 24:00"
        ));
    }
    if start == end {
        return Err(format!(
            "invalid hours {spec:?}: the window is empty (use \"*\" or \"00:00-24:00\" for all day)"
        ));
    }
    Ok((start, end.min(MINUTES_PER_DAY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-03-28 00:00:00 UTC, a Friday.
    const FRI_2025_03_28: u64 = 1_743_120_000;
    const HOUR: u64 = 3600;

    #[test]
    fn days_and_hours_parse_and_name_mistakes() {
        assert_eq!(parse_days("mon-fri").unwrap(), 0b0011111);
        assert_eq!(parse_days("Sat,SUN").unwrap(), 0b1100000);
        assert_eq!(parse_days("fri-mon").unwrap(), 0b1110001);
        assert_eq!(parse_days("*").unwrap(), 0x7f);
        assert_eq!(
            parse_days("mon-fry").unwrap_err(),
            "invalid days \"mon-fry\": \"fry\" is not a day (use mon, tue, wed, thu, fri, sat, sun)"
        );
        assert_eq!(parse_hours("08:00-18:30").unwrap(), (480, 1110));
        assert_eq!(parse_hours("22:00-24:00").unwrap(), (1320, 1440));
        assert_eq!(
            parse_hours("8-18").unwrap_err(),
            "invalid hours \"8-18\": expected HH:MM-HH:MM such as \"08:00-18:00\""
        );
        assert!(parse_hours("09:00-09:00").is_err());
        assert!(parse_hours("24:00-01:00").is_err());
        assert_eq!(
            parse_zone("Mars/Olympus_Mons").unwrap_err(),
            "unknown time zone \"Mars/Olympus_Mons\": expected an IANA tz database name such as \"Europe/Paris\" or \"UTC\""
        );
    }

    #[test]
    fn utc_window_includes_start_and_excludes_end() {
        let window = TimeWindow::new("UTC", "fri", "08:00-18:00").unwrap();
        assert!(!window.contains(FRI_2025_03_28 + 8 * HOUR - 1));
        assert!(window.contains(FRI_2025_03_28 + 8 * HOUR));
        assert!(window.contains(FRI_2025_03_28 + 18 * HOUR - 1));
        assert!(!window.contains(FRI_2025_03_28 + 18 * HOUR));
        // Saturday, same hours.
        assert!(!window.contains(FRI_2025_03_28 + 24 * HOUR + 9 * HOUR));
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_starts() {
        let window = TimeWindow::new("UTC", "fri", "22:00-06:00").unwrap();
        assert!(window.contains(FRI_2025_03_28 + 23 * HOUR)); // Fri 23:00
        assert!(window.contains(FRI_2025_03_28 + 29 * HOUR)); // Sat 05:00
        assert!(!window.contains(FRI_2025_03_28 + 30 * HOUR)); // Sat 06:00
        assert!(!window.contains(FRI_2025_03_28 + 5 * HOUR)); // Fri 05:00 (Thursday's night)
    }

    #[test]
    fn denials_say_when_the_operation_is_allowed() {
        let who = crate::testing::principal(serde_json::json!({"sub":"a"}));
        let noon = PolicyRequest::new(&who, FRI_2025_03_28 + 12 * HOUR);
        let weekend = TimeWindow::new("UTC", "sat-sun", "*").unwrap();
        assert_eq!(
            weekend.check(&noon).unwrap_err().description(),
            "this operation is only allowed sat-sun, at any hour (UTC time)"
        );
        let nights = TimeWindow::new("UTC", "*", "22:00-06:00").unwrap();
        assert_eq!(
            nights.check(&noon).unwrap_err().description(),
            "this operation is only allowed every day, 22:00-06:00 (UTC time)"
        );
        assert_eq!(
            nights.check(&PolicyRequest::new(&who, FRI_2025_03_28 + 23 * HOUR)),
            Ok(())
        );
    }
}
