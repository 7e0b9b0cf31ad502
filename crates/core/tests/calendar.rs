//! The working-day calendar: the State Council's data, spot-checked, and calendars
//! built from configuration.

use chrono::NaiveDate;
use jsjb_core::calendar::{CalendarError, WorkCalendar, YearData};
use rstest::rstest;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a YYYY-MM-DD date")
}

#[rstest]
// 2025 (国办发明电〔2024〕12号)
#[case("2025-01-01", false, "元旦, Wednesday")]
#[case("2025-01-02", true, "元旦 is one day, no 调休")]
#[case("2025-01-26", true, "Sunday, 调休 before Spring Festival")]
#[case("2025-01-27", true, "Monday before 除夕")]
#[case("2025-01-28", false, "除夕, Tuesday")]
#[case("2025-02-04", false, "正月初七, Tuesday")]
#[case("2025-02-05", true, "first day back")]
#[case("2025-02-08", true, "Saturday, 调休 after Spring Festival")]
#[case("2025-04-04", false, "清明, Friday")]
#[case("2025-04-27", true, "Sunday, 调休 before Labour Day")]
#[case("2025-05-05", false, "Labour Day holiday, Monday")]
#[case("2025-06-02", false, "端午, Monday")]
#[case("2025-09-28", true, "Sunday, 调休 before National Day")]
#[case("2025-10-01", false, "国庆")]
#[case("2025-10-08", false, "国庆·中秋, Wednesday")]
#[case("2025-10-09", true, "first day back")]
#[case("2025-10-11", true, "Saturday, 调休 after National Day")]
#[case("2025-03-01", false, "an ordinary Saturday")]
#[case("2025-03-03", true, "an ordinary Monday")]
// 2026 (国务院办公厅, 2025-11-04)
#[case("2026-01-02", false, "元旦 holiday, Friday")]
#[case("2026-01-04", true, "Sunday, 调休 after 元旦")]
#[case("2026-02-14", true, "Saturday, 调休 before Spring Festival")]
#[case("2026-02-16", false, "除夕, Monday")]
#[case("2026-02-23", false, "正月初七, Monday")]
#[case("2026-02-24", true, "first day back")]
#[case("2026-02-28", true, "Saturday, 调休 after Spring Festival")]
#[case("2026-04-06", false, "清明 holiday, Monday")]
#[case("2026-05-05", false, "Labour Day holiday, Tuesday")]
#[case("2026-05-09", true, "Saturday, 调休 after Labour Day")]
#[case("2026-06-19", false, "端午, Friday")]
#[case("2026-09-20", true, "Sunday, 调休 before National Day")]
#[case("2026-09-25", false, "中秋, Friday")]
#[case("2026-10-07", false, "National Day holiday, Wednesday")]
#[case("2026-10-10", true, "Saturday, 调休 after National Day")]
// 2027: provisional, statutory holidays only
#[case("2027-01-01", false, "元旦, Friday")]
#[case("2027-02-05", false, "除夕, Friday")]
#[case("2027-02-08", false, "正月初三, Monday")]
#[case("2027-04-05", false, "清明, Monday")]
#[case("2027-06-09", false, "端午, Wednesday")]
#[case("2027-09-15", false, "中秋, Wednesday")]
#[case("2027-10-01", false, "国庆, Friday")]
fn china_working_days(#[case] day: &str, #[case] working: bool, #[case] why: &str) {
    assert_eq!(
        WorkCalendar::china().is_working_day(date(day)),
        working,
        "{day}: {why}"
    );
}

#[test]
fn holidays_and_makeup_days_are_told_apart() {
    let china = WorkCalendar::china();
    assert!(china.is_makeup_day(date("2025-01-26")));
    assert!(!china.is_holiday(date("2025-01-26")));
    assert!(china.is_holiday(date("2025-10-01")));
    assert!(!china.is_makeup_day(date("2025-10-01")));
    assert!(
        !china.is_holiday(date("2025-03-01")),
        "a weekend is not a holiday"
    );
}

#[rstest]
#[case(2024, false, None)]
#[case(2025, true, Some(YearData::Official))]
#[case(2026, true, Some(YearData::Official))]
#[case(2027, true, Some(YearData::Provisional))]
#[case(2028, false, None)]
fn coverage(#[case] year: i32, #[case] covered: bool, #[case] data: Option<YearData>) {
    let china = WorkCalendar::china();
    assert_eq!(china.covers(year), covered);
    assert_eq!(china.year_data(year), data);
}

#[rstest]
#[case("2030-01-01", true, "a Tuesday; 元旦 2030 is not in the data")]
#[case("2030-01-05", false, "a Saturday")]
#[case("2024-10-01", true, "a Tuesday; 2024 is not in the data")]
fn outside_the_covered_years_weekdays_work(
    #[case] day: &str,
    #[case] working: bool,
    #[case] why: &str,
) {
    assert_eq!(
        WorkCalendar::china().is_working_day(date(day)),
        working,
        "{day}: {why}"
    );
}

#[test]
fn a_calendar_from_configuration() {
    // A made-up year, to show the shape: a Friday off, the Saturday after worked.
    let calendar = WorkCalendar::from_days([date("2031-05-02")], [date("2031-05-03")])
        .expect("consistent data");
    assert!(calendar.covers(2031));
    assert!(!calendar.covers(2025), "no built-in data is mixed in");
    assert!(!calendar.is_working_day(date("2031-05-02")));
    assert!(calendar.is_working_day(date("2031-05-03")));
    assert!(
        calendar.is_working_day(date("2025-10-01")),
        "plain weekdays outside its years"
    );
}

#[test]
fn conflicting_configuration_is_rejected() {
    assert_eq!(
        WorkCalendar::from_days([date("2031-05-03")], [date("2031-05-03")]),
        Err(CalendarError::HolidayAndMakeupDay(date("2031-05-03")))
    );
}

#[test]
fn a_year_can_be_replaced_when_its_notice_is_published() {
    // Hypothetical data for the test, NOT the real 2027 notice.
    let calendar = WorkCalendar::china()
        .with_year(2027, [date("2027-02-09")], [date("2027-02-20")])
        .expect("consistent data");
    assert_eq!(calendar.year_data(2027), Some(YearData::Official));
    assert!(
        calendar.is_working_day(date("2027-02-05")),
        "the provisional data is gone"
    );
    assert!(!calendar.is_working_day(date("2027-02-09")));
    assert!(
        calendar.is_working_day(date("2027-02-20")),
        "a Saturday made a working day"
    );
    assert!(
        calendar.is_working_day(date("2026-02-14")),
        "other years are kept"
    );
    assert!(
        !calendar.is_working_day(date("2026-02-16")),
        "other years are kept"
    );
}
