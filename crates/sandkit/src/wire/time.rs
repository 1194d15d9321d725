//! RFC 3339 timestamps without a date library (the wasm build stays small, and
//! `SystemTime::now` panics on wasm32-unknown-unknown anyway: callers pass the time in).

/// Unix milliseconds → `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form JavaScript's `Date` prints.
pub fn format_rfc3339_millis(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// Parses an RFC 3339 date-time (any fraction length, `Z` or `±HH:MM`) into unix milliseconds.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| number(s.get(r)?);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// Parses an HTTP date (RFC 9110 §5.6.7) into unix milliseconds: the IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms a recipient must still
/// accept, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
/// `now_ms` places RFC 850's two-digit year: never more than 50 years ahead.
pub fn parse_http_date_millis(s: &str, now_ms: f64) -> Option<i64> {
    let s = s.trim();
    let (day, month, year, clock) = if let Some((weekday, rest)) = s.split_once(',') {
        if weekday.is_empty() || !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let mut t = rest.split_ascii_whitespace();
        let first = t.next()?;
        let parts = match first.split('-').collect::<Vec<_>>()[..] {
            // RFC 850: `06-Nov-94 08:49:37 GMT`.
            [d, m, y] if y.len() == 2 => {
                let yy = number(y)?;
                // `floor` of the quotient, not `f64::div_euclid`: that one is `fmod`, 3.5 KB of wasm.
                let this_year = (now_ms / 86_400_000.0).floor() as i64;
                let this_year = civil_from_days(this_year).0;
                // The most recent year with these last two digits, unless it is at most
                // 50 years ahead.
                let mut year = this_year - this_year.rem_euclid(100) + yy;
                if year > this_year + 50 {
                    year -= 100;
                }
                (number(d)?, m, year, t.next()?)
            }
            // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`.
            [d] if d.len() == 2 => {
                let m = t.next()?;
                let y = t.next()?;
                if y.len() != 4 {
                    return None;
                }
                (number(d)?, m, number(y)?, t.next()?)
            }
            _ => return None,
        };
        if t.next() != Some("GMT") || t.next().is_some() {
            return None;
        }
        parts
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994`.
        let mut t = s.split_ascii_whitespace();
        let weekday = t.next()?;
        if !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let m = t.next()?;
        let d = t.next()?;
        let clock = t.next()?;
        let y = t.next()?;
        if t.next().is_some() || y.len() != 4 || d.len() > 2 {
            return None;
        }
        (number(d)?, m, number(y)?, clock)
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = clock.split(':');
    let (h, m, sec) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || h.len() != 2 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let (h, m, sec) = (number(h)?, number(m)?, number(sec)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + h * 3600 + m * 60 + sec) * 1000)
}

/// One to four decimal digits (no sign, no spaces), folded directly: a listing reads two
/// timestamps per sandbox, and the general `parse_u64` (prefixes, overflow checks) was a tenth
/// of reading a page.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    s.bytes().try_fold(0, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

// Howard Hinnant's civil-calendar algorithms (public domain), proleptic Gregorian.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month (1–12) and day of the proleptic Gregorian date `z` days after 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_millis(1_729_026_787_311),
            "2024-10-15T21:13:07.311Z"
        );
        assert_eq!(
            format_rfc3339_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_other_forms() {
        for ms in [0, 1_729_026_787_311, 951_782_400_000, 4_102_444_800_123] {
            assert_eq!(parse_rfc3339_millis(&format_rfc3339_millis(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339_millis("2024-10-15T21:13:07Z"),
            Some(1_729_026_787_000)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-10-15T21:13:07.311987654Z"),
            Some(1_729_026_787_311)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-10-15T23:13:07.3+02:00"),
            Some(1_729_026_787_300)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2024-10-15",
            "2024-13-01T00:00:00Z",
            "2024-10-15T21:13:07",
            "2024-10-15T21:13:07.Z",
            "abcd-ef-ghTij:kl:mnZ",
            // Each field is digits only: no sign, no space, no other byte.
            "+024-10-15T21:13:07Z",
            "2024-1 -15T21:13:07Z",
            "2024-10-15T2x:13:07Z",
            "2024-10-15T21:13:0/Z",
            "2024-10-15T21:13:07+0a:00",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_three_http_date_forms() {
        // 1994-11-06T08:49:37Z
        let want = Some(784_111_777_000);
        let now = 1_796_400_000_000.0; // late 2026
        for s in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date_millis(s, now), want, "{s}");
        }
        assert_eq!(
            parse_http_date_millis("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(1_445_412_480_000)
        );
        // A two-digit year lands at most 50 years ahead of now.
        assert_eq!(
            parse_http_date_millis("Thursday, 01-Jan-70 00:00:00 GMT", now),
            Some(days_from_civil(2070, 1, 1) * 86_400_000)
        );
        assert_eq!(
            parse_http_date_millis("Friday, 01-Jan-77 00:00:00 GMT", now),
            Some(days_from_civil(1977, 1, 1) * 86_400_000)
        );
        for bad in [
            "",
            "0",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "1, 06 Nov 1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sün, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date_millis(bad, now), None, "{bad:?}");
        }
    }
}
