//! Pure rules for minors (policy: 未成年人): birth dates and age declarations, age on a given
//! day (China time), and the account standing that decides what an account may do. No I/O.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// Accounts under this age need a guardian's verified consent.
pub const GUARDIAN_AGE: u32 = 14;

/// A calendar date (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl CivilDate {
    /// `YYYY-MM-DD`, a real date.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let date = Self {
            year: y.parse().ok()?,
            month: m.parse().ok()?,
            day: d.parse().ok()?,
        };
        ((1..=12).contains(&date.month)
            && (1..=days_in_month(date.year, date.month)).contains(&date.day))
        .then_some(date)
    }

    /// Today in China (UTC+8), the jurisdiction the policy is written for.
    pub fn today_in_china(now_ms: i64) -> Self {
        let days = (now_ms + 8 * 3_600_000).div_euclid(86_400_000);
        civil_from_days(days)
    }

    /// Completed years from `self` (a birth date) to `today`.
    pub fn age_on(self, today: CivilDate) -> i32 {
        let mut age = today.year - self.year;
        if (today.month, today.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> CivilDate {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    CivilDate { year, month, day }
}

/// An age declaration without a date, for users who will not give one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeBracket {
    Under14,
    From14To17,
    Adult,
}

impl AgeBracket {
    pub fn as_str(self) -> &'static str {
        match self {
            AgeBracket::Under14 => "under_14",
            AgeBracket::From14To17 => "from_14_to_17",
            AgeBracket::Adult => "adult",
        }
    }

    pub fn parse(raw: &str) -> AppResult<Self> {
        [Self::Under14, Self::From14To17, Self::Adult]
            .into_iter()
            .find(|b| b.as_str() == raw)
            .ok_or_else(|| {
                AppError::field("age_bracket", "expected under_14, from_14_to_17 or adult")
            })
    }
}

/// A birth date a user may declare: a real date, not in the future, at most 120 years ago.
pub fn parse_birth_date(raw: &str, now_ms: i64) -> AppResult<CivilDate> {
    let date = CivilDate::parse(raw)
        .ok_or_else(|| AppError::field("birth_date", "expected a real date as YYYY-MM-DD"))?;
    let today = CivilDate::today_in_china(now_ms);
    if date > today || date.age_on(today) > 120 {
        return Err(AppError::field("birth_date", "not a plausible birth date"));
    }
    Ok(date)
}

/// Whether the declared age is under [`GUARDIAN_AGE`]; `None` when nothing is declared.
pub fn is_under_14(
    birth_date: Option<&str>,
    bracket: Option<&str>,
    today: CivilDate,
) -> Option<bool> {
    if let Some(date) = birth_date.and_then(CivilDate::parse) {
        return Some(date.age_on(today) < GUARDIAN_AGE as i32);
    }
    bracket
        .and_then(|b| AgeBracket::parse(b).ok())
        .map(|b| b == AgeBracket::Under14)
}

/// The latest birth date (as `YYYY-MM-DD`) of someone who is 14 or older on `today`: anyone
/// born after it is under 14. Lets SQL compare dates as text.
pub fn latest_birth_date_of_a_14_year_old(today: CivilDate) -> String {
    let year = today.year - GUARDIAN_AGE as i32;
    let day = today.day.min(days_in_month(year, today.month));
    CivilDate {
        year,
        month: today.month,
        day,
    }
    .to_string()
}

pub use crate::domain::Standing;

impl Standing {
    pub fn of(
        birth_date: Option<&str>,
        bracket: Option<&str>,
        guardian_verified: bool,
        today: CivilDate,
    ) -> Self {
        match is_under_14(birth_date, bracket, today) {
            None => Standing::AgeUndeclared,
            Some(true) if !guardian_verified => Standing::AwaitingGuardian,
            Some(_) => Standing::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn d(s: &str) -> CivilDate {
        CivilDate::parse(s).expect(s)
    }

    #[test]
    fn dates_parse_only_when_real() {
        assert_eq!(d("2012-02-29").to_string(), "2012-02-29");
        for bad in [
            "2013-02-29",
            "2012-13-01",
            "2012-00-10",
            "2012-1-01",
            "12-01-01",
            "x",
            "",
        ] {
            assert!(CivilDate::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn china_date_and_age() {
        // 2026-11-29T16:00:00Z is already 2026-11-30 in Beijing.
        assert_eq!(
            CivilDate::today_in_china(1_795_968_000_000),
            d("2026-11-30")
        );
        assert_eq!(CivilDate::today_in_china(0), d("1970-01-01"));
        let today = d("2026-11-29");
        assert_eq!(d("2012-11-29").age_on(today), 14, "the birthday itself");
        assert_eq!(d("2012-11-30").age_on(today), 13, "one day short");
        assert_eq!(is_under_14(Some("2012-11-30"), None, today), Some(true));
        assert_eq!(is_under_14(Some("2012-11-29"), None, today), Some(false));
        assert_eq!(is_under_14(None, Some("under_14"), today), Some(true));
        assert_eq!(is_under_14(None, Some("adult"), today), Some(false));
        assert_eq!(is_under_14(None, None, today), None);
        // The text cutoff agrees with the age rule, leap days included.
        assert_eq!(latest_birth_date_of_a_14_year_old(today), "2012-11-29");
        assert_eq!(
            latest_birth_date_of_a_14_year_old(d("2028-02-29")),
            "2014-02-28"
        );
    }

    #[test]
    fn standing_follows_age_and_guardian() {
        let today = d("2026-11-29");
        assert_eq!(
            Standing::of(None, None, false, today),
            Standing::AgeUndeclared
        );
        assert_eq!(
            Standing::of(Some("2015-01-01"), None, false, today),
            Standing::AwaitingGuardian
        );
        assert_eq!(
            Standing::of(Some("2015-01-01"), None, true, today),
            Standing::Full
        );
        assert_eq!(
            Standing::of(Some("1990-01-01"), None, false, today),
            Standing::Full
        );
        assert_eq!(
            Standing::AwaitingGuardian
                .require_full()
                .map_err(|e| e.code),
            Err(ErrorCode::GuardianRequired)
        );
        assert_eq!(
            Standing::AgeUndeclared.require_full().map_err(|e| e.code),
            Err(ErrorCode::AgeRequired)
        );
    }

    #[test]
    fn implausible_birth_dates_are_refused() {
        let now = 1_795_968_000_000;
        assert!(parse_birth_date("2030-01-01", now).is_err());
        assert!(parse_birth_date("1880-01-01", now).is_err());
        assert!(parse_birth_date("2000-02-30", now).is_err());
        assert!(parse_birth_date("2000-02-29", now).is_ok());
    }
}
