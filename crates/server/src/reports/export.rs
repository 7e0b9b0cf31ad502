//! A report as files the bureau opens in its spreadsheets: CSV (UTF-8 with a BOM, so
//! that Excel reads the Chinese; the tables one after another, each under its title)
//! and XLSX (one sheet per table, written by `rust_xlsxwriter`). The headers are in
//! Chinese: these are the bureau's own documents.
//!
//! Both are rendered from the same [`tables`], so the two files always say the same.

use std::collections::BTreeMap;

use jsjb_core::letter::Category;
use jsjb_core::org::{Tier, UnitId, UnitTree, UserId};
use jsjb_core::report::{Rate, RateCounts};
use jsjb_proto::report::{Report, TrendPoint};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// Names for the ids in a report.
pub struct Names<'a> {
    pub tree: &'a UnitTree,
    pub users: &'a BTreeMap<UserId, String>,
}

impl Names<'_> {
    fn unit(&self, id: UnitId) -> String {
        self.tree
            .get(id)
            .map_or_else(|| format!("单位 {}", id.0), |u| u.name.clone())
    }

    fn user(&self, id: UserId) -> String {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("用户 {}", id.0))
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A fraction in [0, 1], shown as a percentage; `None`: nothing to rate (—).
    Rate(Option<f64>),
    Num(f64),
}

/// One table: a CSV section, an XLSX sheet.
pub struct Table {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::City => "市局",
        Tier::Branch => "分局",
        Tier::Station => "派出所",
    }
}

fn category_name(category: Category) -> &'static str {
    match category {
        Category::Suggestion => "意见建议",
        Category::Help => "寻求帮助",
        Category::Complaint => "举报投诉",
        Category::Inquiry => "咨询",
        Category::Thanks => "感谢信",
    }
}

const RATE_HEADER: [&str; 6] = [
    "响应率",
    "及时签收/派发",
    "解决率",
    "按期办结/应办结",
    "满意率",
    "满意/回访",
];

fn rate_cells(c: &RateCounts) -> Vec<Cell> {
    let fraction = |num: u32, den: u32| Cell::Text(format!("{num}/{den}"));
    vec![
        Cell::Rate(c.rate(Rate::Response)),
        fraction(c.signed_on_time, c.dispatched),
        Cell::Rate(c.rate(Rate::Resolution)),
        fraction(c.closed_on_time, c.due),
        Cell::Rate(c.rate(Rate::Satisfaction)),
        fraction(c.satisfied, c.visits),
    ]
}

fn hours(secs: i64) -> Cell {
    Cell::Num((secs as f64 / 360.0).round() / 10.0)
}

fn with_rates(mut head: Vec<&'static str>) -> Vec<&'static str> {
    head.extend(RATE_HEADER);
    head
}

fn trend(title: &'static str, points: &[TrendPoint]) -> Table {
    Table {
        title,
        header: with_rates(vec!["起始日", "来信数"]),
        rows: points
            .iter()
            .map(|p| {
                let mut row = vec![Cell::Text(p.start.clone()), Cell::Int(p.letters.into())];
                row.extend(rate_cells(&p.counts));
                row
            })
            .collect(),
    }
}

/// The report's tables, in the order of the screen.
pub fn tables(report: &Report, names: &Names<'_>) -> Vec<Table> {
    let period = Table {
        title: "报表",
        header: vec!["项目", "值"],
        rows: vec![
            vec![
                Cell::Text("单位".to_owned()),
                Cell::Text(names.unit(report.unit_id)),
            ],
            vec![
                Cell::Text("起(含)".to_owned()),
                Cell::Text(report.from.with_timezone(&jsjb_core::CST).to_rfc3339()),
            ],
            vec![
                Cell::Text("止(不含)".to_owned()),
                Cell::Text(report.to.with_timezone(&jsjb_core::CST).to_rfc3339()),
            ],
            vec![
                Cell::Text("统计时间".to_owned()),
                Cell::Text(
                    report
                        .server_time
                        .with_timezone(&jsjb_core::CST)
                        .to_rfc3339(),
                ),
            ],
            vec![
                Cell::Text("来信数".to_owned()),
                Cell::Int(report.letters.into()),
            ],
            vec![
                Cell::Text("响应率".to_owned()),
                Cell::Rate(report.total.rate(Rate::Response)),
            ],
            vec![
                Cell::Text("解决率".to_owned()),
                Cell::Rate(report.total.rate(Rate::Resolution)),
            ],
            vec![
                Cell::Text("满意率".to_owned()),
                Cell::Rate(report.total.rate(Rate::Satisfaction)),
            ],
        ],
    };
    let mut unit_header = with_rates(vec!["单位", "层级"]);
    unit_header.extend([
        "响应率(含下级)",
        "解决率(含下级)",
        "满意率(含下级)",
        "超时",
        "留存时长(小时)",
        "留存件数",
    ]);
    let units = Table {
        title: "单位三率",
        header: unit_header,
        rows: report
            .units
            .iter()
            .map(|u| {
                let tier = names.tree.get(u.unit_id).map_or("", |x| tier_name(x.tier));
                let mut row = vec![
                    Cell::Text(names.unit(u.unit_id)),
                    Cell::Text(tier.to_owned()),
                ];
                row.extend(rate_cells(&u.counts));
                row.extend([
                    Cell::Rate(u.subtree.rate(Rate::Response)),
                    Cell::Rate(u.subtree.rate(Rate::Resolution)),
                    Cell::Rate(u.subtree.rate(Rate::Satisfaction)),
                    Cell::Int(u.overdue.into()),
                    hours(u.held_secs),
                    Cell::Int(u.letters_held.into()),
                ]);
                row
            })
            .collect(),
    };
    let officers = Table {
        title: "民警三率",
        header: with_rates(vec!["民警", "单位"]),
        rows: report
            .officers
            .iter()
            .map(|o| {
                let mut row = vec![
                    Cell::Text(names.user(o.user_id)),
                    Cell::Text(o.unit_id.map(|u| names.unit(u)).unwrap_or_default()),
                ];
                row.extend(rate_cells(&o.counts));
                row
            })
            .collect(),
    };
    let categories = Table {
        title: "类别",
        header: with_rates(vec!["类别", "来信数"]),
        rows: report
            .by_category
            .iter()
            .map(|c| {
                let mut row = vec![
                    Cell::Text(category_name(c.key).to_owned()),
                    Cell::Int(c.count.into()),
                ];
                row.extend(rate_cells(&c.counts));
                row
            })
            .collect(),
    };
    let ranking = Table {
        title: "排名",
        header: with_rates(vec!["名次", "单位", "得分"]),
        rows: report
            .ranking
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.rank
                        .map_or(Cell::Text("—".to_owned()), |n| Cell::Int(n.into())),
                    Cell::Text(names.unit(r.unit_id)),
                    r.score.map_or(Cell::Text("—".to_owned()), Cell::Num),
                ];
                row.extend(rate_cells(&r.counts));
                row
            })
            .collect(),
    };
    let tiers = Table {
        title: "层级",
        header: vec!["层级", "超时", "留存时长(小时)", "留存件数"],
        rows: report
            .tiers
            .iter()
            .map(|t| {
                vec![
                    Cell::Text(tier_name(t.tier).to_owned()),
                    Cell::Int(t.overdue.into()),
                    hours(t.held_secs),
                    Cell::Int(t.letters_held.into()),
                ]
            })
            .collect(),
    };
    let hotspots = Table {
        title: "热点",
        header: vec!["问题类别", "辖区", "来信数"],
        rows: report
            .hotspots
            .iter()
            .map(|h| {
                vec![
                    Cell::Text(h.problem.clone()),
                    Cell::Text(names.unit(h.unit_id)),
                    Cell::Int(h.count.into()),
                ]
            })
            .collect(),
    };
    vec![
        period,
        units,
        officers,
        categories,
        trend("周趋势", &report.weekly),
        trend("月趋势", &report.monthly),
        ranking,
        tiers,
        hotspots,
    ]
}

fn csv_field(text: &str) -> String {
    // A leading =, +, - or @ would be read as a formula by a spreadsheet.
    let guarded = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => csv_field(t),
        Cell::Int(n) => n.to_string(),
        Cell::Rate(Some(r)) => format!("{:.1}%", r * 100.0),
        Cell::Rate(None) => "—".to_owned(),
        Cell::Num(x) => format!("{x}"),
    }
}

/// The report as CSV: each table under its title, a blank line between them.
pub fn csv(report: &Report, names: &Names<'_>) -> String {
    let mut out = String::from("\u{feff}");
    for table in tables(report, names) {
        out.push_str(&csv_field(table.title));
        out.push_str("\r\n");
        let header: Vec<String> = table.header.iter().map(|h| csv_field(h)).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for row in &table.rows {
            let cells: Vec<String> = row.iter().map(cell_text).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
    }
    out
}

/// The report as an XLSX workbook, one sheet per table.
pub fn xlsx(report: &Report, names: &Names<'_>) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let percent = Format::new().set_num_format("0.0%");
    for table in tables(report, names) {
        let sheet = workbook.add_worksheet();
        sheet.set_name(table.title)?;
        for (c, head) in table.header.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            sheet.write_string_with_format(0, c, *head, &bold)?;
            sheet.set_column_width(c, 14)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
            for (c, cell) in row.iter().enumerate() {
                let c = u16::try_from(c).unwrap_or(u16::MAX);
                match cell {
                    Cell::Text(t) => {
                        sheet.write_string(r, c, t)?;
                    }
                    Cell::Int(n) => {
                        sheet.write_number(r, c, *n as f64)?;
                    }
                    Cell::Rate(Some(x)) => {
                        sheet.write_number_with_format(r, c, *x, &percent)?;
                    }
                    Cell::Rate(None) => {
                        sheet.write_string(r, c, "—")?;
                    }
                    Cell::Num(x) => {
                        sheet.write_number(r, c, *x)?;
                    }
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    workbook.save_to_buffer()
}

/// `三率报表-2026-03-01-2026-03-31.csv` (the period's CST days, the last one included).
pub fn file_name(report: &Report, ext: &str) -> String {
    let day = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&jsjb_core::CST).date_naive().to_string()
    };
    let last = report.to - chrono::Duration::microseconds(1);
    // ASCII only: the header value must be plain; the desktop names the saved file.
    format!("report-{}-{}.{ext}", day(report.from), day(last))
}
