//! Slurm's timestamps (`2026-11-29T14:06:29`, local time without a zone) as seconds on one
//! local clock, so a reservation's start can be compared with now and a job's time limit.
//! The commands print them in the zone of their own process, not the controller's (under
//! `TZ=America/New_York` scontrol shows 12:46 where `TZ=UTC` shows 17:46), and yenjob runs
//! them with its own environment, so `now` here is on the same clock wherever the cluster is.

/// Seconds since 1970-01-01T00:00:00 of the same (local) clock; `None` for `Unknown`,
/// `None`, `(null)` or anything else that is no timestamp.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once('T')?;
    let mut d = date.split('-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(str::parse::<i64>);
    let (h, min, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let valid = (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..24).contains(&h)
        && (0..60).contains(&min)
        && (0..=60).contains(&s);
    valid.then(|| days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s)
}

/// The local time now, on the clock `parse_timestamp` reads.
pub fn now() -> i64 {
    // SAFETY: time and localtime_r only write into the values passed.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return t;
        }
        t + tm.tm_gmtoff
    }
}

/// When `seconds` is, said from `now`: `14:06` within the next 20 hours, else
/// `2026-12-01 14:06`.
pub fn when(seconds: i64, now: i64) -> String {
    let of_day = seconds.rem_euclid(86_400);
    let clock = format!("{:02}:{:02}", of_day / 3600, of_day % 3600 / 60);
    if (0..20 * 3600).contains(&(seconds - now)) {
        return clock;
    }
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!("{y}-{m:02}-{d:02} {clock}")
}

/// `14:06 (in 20 min)`: when `seconds` is, and how far ahead of `now`.
pub fn when_and_how_soon(seconds: i64, now: i64) -> String {
    format!("{} (in {})", when(seconds, now), in_words(seconds - now))
}

/// `59 min`, `3 h 20 min`, `2 days`: how far ahead something is.
pub fn in_words(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    match minutes {
        0 => "less than a minute".to_string(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => match m % 60 {
            0 => format!("{} h", m / 60),
            rest => format!("{} h {rest} min", m / 60),
        },
        m => format!("{} days", m / (24 * 60)),
    }
}

/// `2026-11-30T10:14:20`: `seconds` as Slurm prints a timestamp (the inverse of
/// `parse_timestamp`).
pub fn timestamp(seconds: i64) -> String {
    let of_day = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!(
        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The date of a day count since 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_seconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2000-03-01T00:00:01"), Some(951_868_801));
        assert_eq!(
            parse_timestamp("2026-11-29T15:06:29").unwrap()
                - parse_timestamp("2026-11-29T14:06:29").unwrap(),
            3600
        );
        // Across a month and a leap day.
        assert_eq!(
            parse_timestamp("2028-03-01T00:00:00").unwrap()
                - parse_timestamp("2028-02-28T00:00:00").unwrap(),
            2 * 86_400
        );
        for not in [
            "Unknown",
            "None",
            "(null)",
            "2026-13-01T00:00:00",
            "2026-11-29",
        ] {
            assert_eq!(parse_timestamp(not), None, "{not}");
        }
        let now = parse_timestamp("2026-11-29T13:00:00").unwrap();
        let soon = parse_timestamp("2026-11-29T14:06:29").unwrap();
        assert_eq!(when(soon, now), "14:06");
        let later = parse_timestamp("2028-03-01T08:30:00").unwrap();
        assert_eq!(when(later, now), "2028-03-01 08:30");
        assert_eq!(when(now - 60, now), "2026-11-29 12:59");
        assert_eq!(timestamp(soon), "2026-11-29T14:06:29");
        assert_eq!(timestamp(later), "2028-03-01T08:30:00");
        assert_eq!(in_words(59 * 60 + 59), "59 min");
        assert_eq!(in_words(3 * 3600 + 20 * 60), "3 h 20 min");
    }
}
