//! The working-day calendar: China's public holidays and the make-up working days (调休).
//!
//! A policy may count a clock in working days instead of calendar time. Which days are
//! working days is decided each year by the State Council (国务院办公厅), so the calendar
//! is data, per year: [`WorkCalendar::china`] holds the published notices, and
//! [`WorkCalendar::with_year`] lets configuration add or replace a year (e.g. when the
//! next notice is published) without a code change.
//!
//! Days are civil days in China Standard Time (UTC+8); the caller converts instants
//! (see `clock::due_time`).
//!
//! **Outside the covered years** there is no holiday data and every Monday–Friday is a
//! working day, every Saturday and Sunday a rest day. [`WorkCalendar::covers`] tells
//! whether a year has data, so a caller can warn before relying on the fallback.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};

/// Why calendar data was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The same day was given both as a holiday and as a make-up working day.
    #[error("{0} is listed both as a holiday and as a make-up working day")]
    HolidayAndMakeupDay(NaiveDate),
    /// A day given for one year lies in another.
    #[error("{date} does not lie in {year}")]
    DateOutsideYear { year: i32, date: NaiveDate },
}

/// How much the calendar knows about one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YearData {
    /// The year's holidays and make-up days as published (or configured).
    Official,
    /// Only the statutory holidays are known; the State Council's notice with the
    /// bridging holidays and make-up days was not available when the data was written.
    Provisional,
}

/// Which days are working days: weekdays, minus holidays, plus make-up working days.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    makeup_days: BTreeSet<NaiveDate>,
    years: BTreeMap<i32, YearData>,
}

impl WorkCalendar {
    /// The built-in calendar of mainland China: 2025 and 2026 from the State Council's
    /// notices, 2027 provisional (statutory holidays only; see the data table below).
    pub fn china() -> WorkCalendar {
        let mut calendar = WorkCalendar::default();
        for year in CHINA {
            calendar.holidays.extend(
                year.holidays
                    .iter()
                    .flat_map(|&(from, to)| days(year.year, from, to)),
            );
            calendar.makeup_days.extend(
                year.makeup_days
                    .iter()
                    .filter_map(|&(m, d)| NaiveDate::from_ymd_opt(year.year, m, d)),
            );
            calendar.years.insert(year.year, year.status);
        }
        calendar
    }

    /// A calendar from data: the holidays and the make-up working days. Every year in
    /// which a day is given counts as covered (official); other years fall back to
    /// plain weekdays.
    pub fn from_days(
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<WorkCalendar, CalendarError> {
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        let makeup_days: BTreeSet<NaiveDate> = makeup_days.into_iter().collect();
        if let Some(&day) = holidays.intersection(&makeup_days).next() {
            return Err(CalendarError::HolidayAndMakeupDay(day));
        }
        let years = holidays
            .iter()
            .chain(&makeup_days)
            .map(|d| (d.year(), YearData::Official))
            .collect();
        Ok(WorkCalendar {
            holidays,
            makeup_days,
            years,
        })
    }

    /// This calendar with `year` replaced by the given data (e.g. a newly published
    /// notice from configuration). The year counts as covered and official afterwards,
    /// even when both lists are empty (a year of plain weekdays, stated as such).
    pub fn with_year(
        mut self,
        year: i32,
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<WorkCalendar, CalendarError> {
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        let makeup_days: BTreeSet<NaiveDate> = makeup_days.into_iter().collect();
        if let Some(&date) = holidays
            .iter()
            .chain(&makeup_days)
            .find(|d| d.year() != year)
        {
            return Err(CalendarError::DateOutsideYear { year, date });
        }
        if let Some(&day) = holidays.intersection(&makeup_days).next() {
            return Err(CalendarError::HolidayAndMakeupDay(day));
        }
        self.holidays.retain(|d| d.year() != year);
        self.makeup_days.retain(|d| d.year() != year);
        self.holidays.extend(holidays);
        self.makeup_days.extend(makeup_days);
        self.years.insert(year, YearData::Official);
        Ok(self)
    }

    /// This calendar with `year` marked provisional (only its statutory holidays are
    /// known); a year not covered is left alone.
    pub fn mark_provisional(mut self, year: i32) -> WorkCalendar {
        if let Some(data) = self.years.get_mut(&year) {
            *data = YearData::Provisional;
        }
        self
    }

    /// Whether `date` is a working day: a make-up working day, or a Monday–Friday that
    /// is not a holiday. Outside the covered years: Monday–Friday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.makeup_days.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Whether `date` is a public holiday (放假日, including the bridging days of a
    /// holiday that fall on weekdays).
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date)
    }

    /// Whether `date` is a make-up working day (调休上班日).
    pub fn is_makeup_day(&self, date: NaiveDate) -> bool {
        self.makeup_days.contains(&date)
    }

    /// Whether the calendar has holiday data for `year` (official or provisional).
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// What the calendar knows about `year`; `None` when the year is not covered.
    pub fn year_data(&self, year: i32) -> Option<YearData> {
        self.years.get(&year).copied()
    }

    /// The covered years, in order.
    pub fn covered_years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }
}

/// The inclusive run of days `from..=to` in `year`, given as (month, day).
fn days(year: i32, from: MonthDay, to: MonthDay) -> impl Iterator<Item = NaiveDate> {
    let from = NaiveDate::from_ymd_opt(year, from.0, from.1);
    let to = NaiveDate::from_ymd_opt(year, to.0, to.1);
    let run = match (from, to) {
        (Some(from), Some(to)) => Some(from.iter_days().take_while(move |d| *d <= to)),
        _ => None,
    };
    run.into_iter().flatten()
}

/// A (month, day) within a notice's year.
type MonthDay = (u32, u32);

/// One year of holiday data, as a State Council notice states it.
pub(crate) struct YearNotice {
    pub(crate) year: i32,
    pub(crate) status: YearData,
    /// Inclusive runs of days off, as (month, day) pairs.
    pub(crate) holidays: &'static [(MonthDay, MonthDay)],
    /// Weekend days that are working days (调休上班), as (month, day).
    pub(crate) makeup_days: &'static [MonthDay],
}

/// The built-in data.
///
/// - 2025: 国务院办公厅关于2025年部分节假日安排的通知, 国办发明电〔2024〕12号
///   (2024-11-12), the first under the revised 全国年节及纪念日放假办法 (2024-11).
/// - 2026: 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04, Xinhua).
/// - 2027: **provisional.** The notice for 2027 could not be found when this was
///   written (it is usually published in November of the year before). Only the
///   statutory holidays of the 放假办法 are encoded, on their 2027 dates: 元旦 1 Jan;
///   春节 除夕–初三 5–8 Feb (正月初一 = 6 Feb); 清明 5 Apr; 劳动节 1–2 May;
///   端午 9 Jun; 中秋 15 Sep; 国庆 1–3 Oct. No bridging days and no make-up working
///   days are invented: replace the year with [`WorkCalendar::with_year`] (and update
///   this table) once the notice is out.
pub(crate) const CHINA: &[YearNotice] = &[
    YearNotice {
        year: 2025,
        status: YearData::Official,
        holidays: &[
            ((1, 1), (1, 1)),   // 元旦: 1月1日（周三）放假1天，不调休
            ((1, 28), (2, 4)),  // 春节: 1月28日（除夕）至2月4日（初七），共8天
            ((4, 4), (4, 6)),   // 清明节: 4月4日至6日
            ((5, 1), (5, 5)),   // 劳动节: 5月1日至5日
            ((5, 31), (6, 2)),  // 端午节: 5月31日至6月2日
            ((10, 1), (10, 8)), // 国庆节、中秋节: 10月1日至8日，共8天
        ],
        // 1月26日（周日）、2月8日（周六）、4月27日（周日）、9月28日（周日）、10月11日（周六）上班
        makeup_days: &[(1, 26), (2, 8), (4, 27), (9, 28), (10, 11)],
    },
    YearNotice {
        year: 2026,
        status: YearData::Official,
        holidays: &[
            ((1, 1), (1, 3)),   // 元旦: 1月1日（周四）至3日（周六）
            ((2, 15), (2, 23)), // 春节: 2月15日（腊月二十八）至23日（正月初七），共9天
            ((4, 4), (4, 6)),   // 清明节: 4月4日至6日
            ((5, 1), (5, 5)),   // 劳动节: 5月1日至5日
            ((6, 19), (6, 21)), // 端午节: 6月19日至21日
            ((9, 25), (9, 27)), // 中秋节: 9月25日至27日
            ((10, 1), (10, 7)), // 国庆节: 10月1日至7日
        ],
        // 1月4日（周日）、2月14日（周六）、2月28日（周六）、5月9日（周六）、
        // 9月20日（周日）、10月10日（周六）上班
        makeup_days: &[(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)],
    },
    YearNotice {
        year: 2027,
        status: YearData::Provisional,
        holidays: &[
            ((1, 1), (1, 1)),   // 元旦
            ((2, 5), (2, 8)),   // 春节: 除夕、正月初一至初三
            ((4, 5), (4, 5)),   // 清明节
            ((5, 1), (5, 2)),   // 劳动节
            ((6, 9), (6, 9)),   // 端午节
            ((9, 15), (9, 15)), // 中秋节
            ((10, 1), (10, 3)), // 国庆节
        ],
        makeup_days: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a valid date")
    }

    #[test]
    fn built_in_data_is_valid() {
        for year in CHINA {
            for &((fm, fd), (tm, td)) in year.holidays {
                let from = NaiveDate::from_ymd_opt(year.year, fm, fd).expect("valid start");
                let to = NaiveDate::from_ymd_opt(year.year, tm, td).expect("valid end");
                assert!(from <= to, "{from} after {to}");
            }
            for &(m, d) in year.makeup_days {
                let day = NaiveDate::from_ymd_opt(year.year, m, d).expect("valid make-up day");
                // A make-up day is always a weekend day: otherwise it would change nothing.
                assert!(
                    matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
                    "{day} is a weekday"
                );
            }
        }
        let china = WorkCalendar::china();
        let rebuilt = WorkCalendar::from_days(
            china.holidays.iter().copied(),
            china.makeup_days.iter().copied(),
        )
        .expect("no day is both a holiday and a make-up day");
        assert_eq!(rebuilt.holidays, china.holidays);
    }

    #[test]
    fn holiday_counts_match_the_notices() {
        let china = WorkCalendar::china();
        let count = |year: i32| china.holidays.iter().filter(|d| d.year() == year).count();
        // 2025: 1 + 8 + 3 + 5 + 3 + 8; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
        assert_eq!(count(2025), 28);
        assert_eq!(count(2026), 33);
        assert_eq!(
            china
                .makeup_days
                .iter()
                .filter(|d| d.year() == 2025)
                .count(),
            5
        );
        assert_eq!(
            china
                .makeup_days
                .iter()
                .filter(|d| d.year() == 2026)
                .count(),
            6
        );
    }

    #[test]
    fn with_year_rejects_foreign_and_conflicting_days() {
        let base = WorkCalendar::china();
        assert_eq!(
            base.clone().with_year(2027, [date("2028-01-01")], []),
            Err(CalendarError::DateOutsideYear {
                year: 2027,
                date: date("2028-01-01")
            })
        );
        assert_eq!(
            base.with_year(2027, [date("2027-02-06")], [date("2027-02-06")]),
            Err(CalendarError::HolidayAndMakeupDay(date("2027-02-06")))
        );
    }
}
