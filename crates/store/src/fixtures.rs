//! Realistic letters and users for tests and benches (feature `test-support`).
//!
//! The unit tree: 深圳市公安局 (1) → 南山分局 (10) → 南头派出所 (100), 蛇口派出所 (101);
//! 福田分局 (20) → 园岭派出所 (200). Letters arrive at the 南山 desk (10).
use chrono::{DateTime, NaiveDateTime, Utc};
use jsjb_core::letter::{Category, Channel, LetterId, LetterState};
use jsjb_core::org::{Role, Tier, Unit, UnitId, UserId};
use jsjb_core::workflow::{Actor, EventPayload, LetterStatus};
use jsjb_proto::{AttachmentMeta, Change, EventRecord, LetterRecord, Me, SyncPage, Writer};

use crate::ActionContext;

/// A China Standard Time wall-clock time, "2026-03-02 09:00" or with seconds.
pub fn cst(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .expect("a time like 2026-03-02 09:00");
    naive
        .and_local_timezone(jsjb_core::CST)
        .single()
        .expect("UTC+8 is unambiguous")
        .with_timezone(&Utc)
}

pub const CITY: UnitId = UnitId(1);
pub const NANSHAN: UnitId = UnitId(10);
pub const NANTOU: UnitId = UnitId(100);
pub const SHEKOU: UnitId = UnitId(101);
pub const FUTIAN: UnitId = UnitId(20);
pub const YUANLING: UnitId = UnitId(200);

pub fn units() -> Vec<Unit> {
    let unit = |id: UnitId, parent: Option<UnitId>, tier: Tier, name: &str| Unit {
        id,
        parent,
        tier,
        name: name.to_owned(),
        active: true,
    };
    vec![
        unit(CITY, None, Tier::City, "深圳市公安局"),
        unit(NANSHAN, Some(CITY), Tier::Branch, "南山分局"),
        unit(NANTOU, Some(NANSHAN), Tier::Station, "南头派出所"),
        unit(SHEKOU, Some(NANSHAN), Tier::Station, "蛇口派出所"),
        unit(FUTIAN, Some(CITY), Tier::Branch, "福田分局"),
        unit(YUANLING, Some(FUTIAN), Tier::Station, "园岭派出所"),
    ]
}

fn tier_of(unit: UnitId) -> Tier {
    units()
        .into_iter()
        .find(|u| u.id == unit)
        .map(|u| u.tier)
        .expect("a unit of the fixture tree")
}

/// A signed-in user of `unit` with `roles`.
pub fn me(user: i64, unit: UnitId, roles: &[Role]) -> Me {
    Me {
        user_id: UserId(user),
        username: format!("user{user}"),
        display_name: format!("民警{user}"),
        unit_id: unit,
        roles: roles.to_vec(),
        units: units(),
        must_change_password: false,
        problem_classes: vec!["噪音扰民".to_owned(), "治安隐患".to_owned()],
    }
}

/// 南头派出所's duty officer, user 7.
pub fn officer() -> Me {
    me(7, NANTOU, &[Role::Officer])
}

/// Acting as `me` at `now` from workstation `ws-1`.
pub fn acting(me: &Me, now: DateTime<Utc>) -> ActionContext {
    ActionContext {
        actor: Actor {
            user: me.user_id,
            unit: me.unit_id,
            roles: me.roles.clone(),
        },
        workstation: Some("ws-1".to_owned()),
        now,
    }
}

/// Builds a `LetterRecord` event by event; `build` materialises state, unit, handler and
/// version from the fold, as the server does.
pub struct LetterBuilder {
    record: LetterRecord,
}

impl LetterBuilder {
    /// A letter received at the 南山 desk at `at`.
    pub fn received(id: i64, at: DateTime<Utc>) -> LetterBuilder {
        LetterBuilder {
            record: LetterRecord {
                id: LetterId(id),
                tracking_code: format!("SZ{id:08}"),
                channel: Channel::Web,
                category: Category::Help,
                problem_tags: Vec::new(),
                subject: format!("来信 {id}"),
                body: "请处理。".to_owned(),
                writer: Writer {
                    name: "张三".to_owned(),
                    phone: "13812345678".to_owned(),
                    masked: false,
                },
                received_at: at,
                state: LetterState::Received,
                unit_id: NANSHAN,
                handler_id: None,
                version: 0,
                events: Vec::new(),
                attachments: Vec::new(),
                signed_forms: Vec::new(),
                writer_notices: Vec::new(),
            },
        }
        .event(
            at,
            EventPayload::Received {
                unit: NANSHAN,
                tier: Tier::Branch,
            },
        )
    }

    pub fn subject(mut self, subject: &str) -> Self {
        subject.clone_into(&mut self.record.subject);
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        body.clone_into(&mut self.record.body);
        self
    }

    pub fn writer(mut self, name: &str) -> Self {
        name.clone_into(&mut self.record.writer.name);
        self
    }

    pub fn category(mut self, category: Category) -> Self {
        self.record.category = category;
        self
    }

    pub fn channel(mut self, channel: Channel) -> Self {
        self.record.channel = channel;
        self
    }

    pub fn attachment(mut self, meta: AttachmentMeta) -> Self {
        self.record.attachments.push(meta);
        self
    }

    fn status(&self) -> LetterStatus {
        LetterStatus::from_events(
            self.record.category,
            self.record.events.iter().map(|e| (e.at, &e.payload)),
        )
        .expect("a fixture letter starts with its receipt")
    }

    pub fn event(mut self, at: DateTime<Utc>, payload: EventPayload) -> Self {
        let seq = u32::try_from(self.record.events.len()).expect("few events") + 1;
        self.record.events.push(EventRecord {
            seq,
            at,
            actor_user: None,
            actor_unit: None,
            workstation: None,
            payload,
        });
        self
    }

    /// An event by a user of `unit` (the server records who acted).
    pub fn event_by(
        mut self,
        at: DateTime<Utc>,
        by: (UserId, UnitId),
        payload: EventPayload,
    ) -> Self {
        self = self.event(at, payload);
        if let Some(last) = self.record.events.last_mut() {
            last.actor_user = Some(by.0);
            last.actor_unit = Some(by.1);
        }
        self
    }

    /// Dispatched from the unit holding it to `to` at `at`.
    pub fn dispatch_to(self, to: UnitId, at: DateTime<Utc>) -> Self {
        let from = self.status().unit;
        self.event(
            at,
            EventPayload::Dispatched {
                from,
                to,
                to_tier: tier_of(to),
                note: String::new(),
                ruling: None,
                return_upheld: None,
            },
        )
    }

    pub fn sign_for(self, handler: UserId, at: DateTime<Utc>) -> Self {
        let unit = self.status().unit;
        self.event(at, EventPayload::SignedFor { unit, handler })
    }

    pub fn build(mut self) -> LetterRecord {
        let status = self.status();
        self.record.state = status.state;
        self.record.unit_id = status.unit;
        self.record.handler_id = status.handler;
        self.record.version = status.version;
        self.record
    }
}

/// A sync page of letters, ending at `next_cursor`.
pub fn page(next_cursor: i64, server_time: DateTime<Utc>, changes: Vec<Change>) -> SyncPage {
    SyncPage {
        changes,
        next_cursor,
        has_more: false,
        server_time,
        rules_version: None,
        latest_cursor: None,
    }
}

pub fn upsert(record: LetterRecord) -> Change {
    Change::Letter {
        letter: Box::new(record),
    }
}

pub fn removed(id: i64) -> Change {
    Change::Removed {
        letter_id: LetterId(id),
    }
}
